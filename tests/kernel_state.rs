//! The kernel's system-state selftest (`test-state.sh`) ported to the descriptor API: the same
//! three patches (state id 1; versions 1, 2 and 2; all cumulative), the same four scenarios, and
//! the kernel's expected log, line for line.

mod common;

use std::cell::Cell;

use common::{Counted, Harness, assert_log};
use livepatch::CallbackContext;
use livepatch::prelude::*;

const CONSOLE_LOGLEVEL_STATE: u64 = 1;
const CONSOLE_LOGLEVEL_DEFAULT: i32 = 7;
const CONSOLE_LOGLEVEL_STATE_CHANGE: i32 = 8;

thread_local! {
    /// The "system state" the patches modify; each test runs on its own thread.
    static CONSOLE_LOGLEVEL: Cell<i32> = const { Cell::new(CONSOLE_LOGLEVEL_DEFAULT) };
}

/// The data of the loglevel state: the level to restore.
pub struct SavedLoglevel {
    level: i32,
    _counted: Counted,
}

/// One test patch. `AWARE_OF_PREVIOUS` patches (versions 2) check for a previous patch's state
/// and take it over instead of allocating their own.
macro_rules! state_patch {
    ($module:ident, $name:literal, version = $version:literal, aware_of_previous = $aware:literal) => {
        mod $module {
            use super::*;

            const AWARE_OF_PREVIOUS: bool = $aware;
            pub const LOGLEVEL: StateHandle<SavedLoglevel> =
                StateHandle::new(CONSOLE_LOGLEVEL_STATE, $version);
            static STATES: [StateDesc; 1] = [LOGLEVEL.desc()];
            static OBJECTS: [ObjectDesc; 1] = [ObjectDesc::program()
                .pre_patch(pre_patch_callback)
                .post_patch(post_patch_callback)
                .pre_unpatch(pre_unpatch_callback)
                .post_unpatch(post_unpatch_callback)];
            pub static PATCH: PatchDesc = PatchDesc::new($name)
                .replace(true)
                .states(&STATES)
                .objects(&OBJECTS);

            fn has_previous(cx: &CallbackContext<'_>) -> bool {
                AWARE_OF_PREVIOUS && cx.prev_state(LOGLEVEL).is_some()
            }

            fn pre_patch_callback(cx: &mut PrePatch<'_>) -> Result<(), CallbackError> {
                tracing::info!(target: $name, "pre_patch_callback: {}", cx.object());
                if has_previous(cx) {
                    tracing::info!(
                        target: $name,
                        "allocate_loglevel_state: space to store console_loglevel already allocated"
                    );
                    return Ok(());
                }
                let mut state = cx
                    .state(LOGLEVEL)
                    .ok_or_else(|| CallbackError::new("the patch lacks its loglevel state"))?;
                state.set(SavedLoglevel {
                    level: 0,
                    _counted: Counted::new(),
                });
                tracing::info!(
                    target: $name,
                    "allocate_loglevel_state: allocating space to store console_loglevel"
                );
                Ok(())
            }

            fn post_patch_callback(cx: &mut PostPatch<'_>) {
                tracing::info!(target: $name, "post_patch_callback: {}", cx.object());
                if has_previous(cx) {
                    tracing::info!(
                        target: $name,
                        "fix_console_loglevel: taking over the console_loglevel change"
                    );
                    if let Err(e) = cx.take_over(LOGLEVEL) {
                        tracing::error!(target: $name, "{e}");
                    }
                    return;
                }
                tracing::info!(target: $name, "fix_console_loglevel: fixing console_loglevel");
                if let Some(saved) = cx.state(LOGLEVEL).as_mut().and_then(|s| s.data_mut()) {
                    saved.level = CONSOLE_LOGLEVEL.get();
                }
                CONSOLE_LOGLEVEL.set(CONSOLE_LOGLEVEL_STATE_CHANGE);
            }

            fn pre_unpatch_callback(cx: &mut PreUnpatch<'_>) {
                tracing::info!(target: $name, "pre_unpatch_callback: {}", cx.object());
                tracing::info!(target: $name, "restore_console_loglevel: restoring console_loglevel");
                if let Some(saved) = cx.state(LOGLEVEL).as_ref().and_then(|s| s.data()) {
                    CONSOLE_LOGLEVEL.set(saved.level);
                }
            }

            fn post_unpatch_callback(cx: &mut PostUnpatch<'_>) {
                tracing::info!(target: $name, "post_unpatch_callback: {}", cx.object());
                if has_previous(cx) {
                    tracing::info!(
                        target: $name,
                        "free_loglevel_state: keeping space to store console_loglevel"
                    );
                    return;
                }
                tracing::info!(
                    target: $name,
                    "free_loglevel_state: freeing space for the stored console_loglevel"
                );
                drop(cx.state(LOGLEVEL).and_then(|mut s| s.take()));
            }
        }
    };
}

state_patch!(klp_state, "test_klp_state", version = 1, aware_of_previous = false);
state_patch!(klp_state2, "test_klp_state2", version = 2, aware_of_previous = true);
state_patch!(klp_state3, "test_klp_state3", version = 2, aware_of_previous = true);

/// After every scenario: the original log level is back and the one allocation was dropped once.
fn assert_restored_and_freed() {
    assert_eq!(CONSOLE_LOGLEVEL.get(), CONSOLE_LOGLEVEL_DEFAULT);
    assert_eq!(Counted::counts(), (1, 1));
}

#[test]
fn system_state_modification() {
    let h = Harness::new();
    h.run(|h| {
        h.load_lp(&klp_state::PATCH);
        assert_eq!(CONSOLE_LOGLEVEL.get(), CONSOLE_LOGLEVEL_STATE_CHANGE);
        h.disable_lp("test_klp_state");
        h.unload_lp("test_klp_state");
    });
    assert_log(
        &h.log.lines(),
        "
        % modprobe test_klp_state
        livepatch: enabling patch 'test_klp_state'
        livepatch: 'test_klp_state': initializing patching transition
        test_klp_state: pre_patch_callback: vmlinux
        test_klp_state: allocate_loglevel_state: allocating space to store console_loglevel
        livepatch: 'test_klp_state': starting patching transition
        livepatch: 'test_klp_state': completing patching transition
        test_klp_state: post_patch_callback: vmlinux
        test_klp_state: fix_console_loglevel: fixing console_loglevel
        livepatch: 'test_klp_state': patching complete
        % echo 0 > /sys/kernel/livepatch/test_klp_state/enabled
        livepatch: 'test_klp_state': initializing unpatching transition
        test_klp_state: pre_unpatch_callback: vmlinux
        test_klp_state: restore_console_loglevel: restoring console_loglevel
        livepatch: 'test_klp_state': starting unpatching transition
        livepatch: 'test_klp_state': completing unpatching transition
        test_klp_state: post_unpatch_callback: vmlinux
        test_klp_state: free_loglevel_state: freeing space for the stored console_loglevel
        livepatch: 'test_klp_state': unpatching complete
        % rmmod test_klp_state
        ",
    );
    assert_restored_and_freed();
}

#[test]
fn taking_over_system_state_modification() {
    let h = Harness::new();
    h.run(|h| {
        h.load_lp(&klp_state::PATCH);
        h.load_lp(&klp_state2::PATCH);
        // The replaced patch left the list; its data now belongs to the new one.
        let patches = h.rt.patches();
        assert_eq!(patches.len(), 1);
        assert_eq!(patches[0].name, "test_klp_state2");
        assert!(patches[0].states[0].has_data);
        assert_eq!(Counted::counts(), (1, 0));
        h.unload_lp("test_klp_state");
        h.disable_lp("test_klp_state2");
        h.unload_lp("test_klp_state2");
    });
    assert_log(
        &h.log.lines(),
        "
        % modprobe test_klp_state
        livepatch: enabling patch 'test_klp_state'
        livepatch: 'test_klp_state': initializing patching transition
        test_klp_state: pre_patch_callback: vmlinux
        test_klp_state: allocate_loglevel_state: allocating space to store console_loglevel
        livepatch: 'test_klp_state': starting patching transition
        livepatch: 'test_klp_state': completing patching transition
        test_klp_state: post_patch_callback: vmlinux
        test_klp_state: fix_console_loglevel: fixing console_loglevel
        livepatch: 'test_klp_state': patching complete
        % modprobe test_klp_state2
        livepatch: enabling patch 'test_klp_state2'
        livepatch: 'test_klp_state2': initializing patching transition
        test_klp_state2: pre_patch_callback: vmlinux
        test_klp_state2: allocate_loglevel_state: space to store console_loglevel already allocated
        livepatch: 'test_klp_state2': starting patching transition
        livepatch: 'test_klp_state2': completing patching transition
        test_klp_state2: post_patch_callback: vmlinux
        test_klp_state2: fix_console_loglevel: taking over the console_loglevel change
        livepatch: 'test_klp_state2': patching complete
        % rmmod test_klp_state
        % echo 0 > /sys/kernel/livepatch/test_klp_state2/enabled
        livepatch: 'test_klp_state2': initializing unpatching transition
        test_klp_state2: pre_unpatch_callback: vmlinux
        test_klp_state2: restore_console_loglevel: restoring console_loglevel
        livepatch: 'test_klp_state2': starting unpatching transition
        livepatch: 'test_klp_state2': completing unpatching transition
        test_klp_state2: post_unpatch_callback: vmlinux
        test_klp_state2: free_loglevel_state: freeing space for the stored console_loglevel
        livepatch: 'test_klp_state2': unpatching complete
        % rmmod test_klp_state2
        ",
    );
    assert_restored_and_freed();
}

#[test]
fn compatible_cumulative_livepatches() {
    let h = Harness::new();
    h.run(|h| {
        h.load_lp(&klp_state2::PATCH);
        h.load_lp(&klp_state3::PATCH);
        h.unload_lp("test_klp_state2");
        h.load_lp(&klp_state2::PATCH);
        h.disable_lp("test_klp_state2");
        h.unload_lp("test_klp_state2");
        h.unload_lp("test_klp_state3");
    });
    assert_log(
        &h.log.lines(),
        "
        % modprobe test_klp_state2
        livepatch: enabling patch 'test_klp_state2'
        livepatch: 'test_klp_state2': initializing patching transition
        test_klp_state2: pre_patch_callback: vmlinux
        test_klp_state2: allocate_loglevel_state: allocating space to store console_loglevel
        livepatch: 'test_klp_state2': starting patching transition
        livepatch: 'test_klp_state2': completing patching transition
        test_klp_state2: post_patch_callback: vmlinux
        test_klp_state2: fix_console_loglevel: fixing console_loglevel
        livepatch: 'test_klp_state2': patching complete
        % modprobe test_klp_state3
        livepatch: enabling patch 'test_klp_state3'
        livepatch: 'test_klp_state3': initializing patching transition
        test_klp_state3: pre_patch_callback: vmlinux
        test_klp_state3: allocate_loglevel_state: space to store console_loglevel already allocated
        livepatch: 'test_klp_state3': starting patching transition
        livepatch: 'test_klp_state3': completing patching transition
        test_klp_state3: post_patch_callback: vmlinux
        test_klp_state3: fix_console_loglevel: taking over the console_loglevel change
        livepatch: 'test_klp_state3': patching complete
        % rmmod test_klp_state2
        % modprobe test_klp_state2
        livepatch: enabling patch 'test_klp_state2'
        livepatch: 'test_klp_state2': initializing patching transition
        test_klp_state2: pre_patch_callback: vmlinux
        test_klp_state2: allocate_loglevel_state: space to store console_loglevel already allocated
        livepatch: 'test_klp_state2': starting patching transition
        livepatch: 'test_klp_state2': completing patching transition
        test_klp_state2: post_patch_callback: vmlinux
        test_klp_state2: fix_console_loglevel: taking over the console_loglevel change
        livepatch: 'test_klp_state2': patching complete
        % echo 0 > /sys/kernel/livepatch/test_klp_state2/enabled
        livepatch: 'test_klp_state2': initializing unpatching transition
        test_klp_state2: pre_unpatch_callback: vmlinux
        test_klp_state2: restore_console_loglevel: restoring console_loglevel
        livepatch: 'test_klp_state2': starting unpatching transition
        livepatch: 'test_klp_state2': completing unpatching transition
        test_klp_state2: post_unpatch_callback: vmlinux
        test_klp_state2: free_loglevel_state: freeing space for the stored console_loglevel
        livepatch: 'test_klp_state2': unpatching complete
        % rmmod test_klp_state2
        % rmmod test_klp_state3
        ",
    );
    assert_restored_and_freed();
}

#[test]
fn incompatible_cumulative_livepatches() {
    let h = Harness::new();
    h.run(|h| {
        h.load_lp(&klp_state2::PATCH);
        h.load_failing_mod(&klp_state::PATCH);
        h.disable_lp("test_klp_state2");
        h.unload_lp("test_klp_state2");
    });
    assert_log(
        &h.log.lines(),
        "
        % modprobe test_klp_state2
        livepatch: enabling patch 'test_klp_state2'
        livepatch: 'test_klp_state2': initializing patching transition
        test_klp_state2: pre_patch_callback: vmlinux
        test_klp_state2: allocate_loglevel_state: allocating space to store console_loglevel
        livepatch: 'test_klp_state2': starting patching transition
        livepatch: 'test_klp_state2': completing patching transition
        test_klp_state2: post_patch_callback: vmlinux
        test_klp_state2: fix_console_loglevel: fixing console_loglevel
        livepatch: 'test_klp_state2': patching complete
        % modprobe test_klp_state
        livepatch: Livepatch patch (test_klp_state) is not compatible with the already installed livepatches.
        modprobe: ERROR: could not insert 'test_klp_state': Invalid argument
        % echo 0 > /sys/kernel/livepatch/test_klp_state2/enabled
        livepatch: 'test_klp_state2': initializing unpatching transition
        test_klp_state2: pre_unpatch_callback: vmlinux
        test_klp_state2: restore_console_loglevel: restoring console_loglevel
        livepatch: 'test_klp_state2': starting unpatching transition
        livepatch: 'test_klp_state2': completing unpatching transition
        test_klp_state2: post_unpatch_callback: vmlinux
        test_klp_state2: free_loglevel_state: freeing space for the stored console_loglevel
        livepatch: 'test_klp_state2': unpatching complete
        % rmmod test_klp_state2
        ",
    );
    assert_restored_and_freed();
}
