//! The kernel's system-state selftest (`test-state.sh`), with its three patches written with
//! `#[livepatch]`: `test_klp_state` (state 1, version 1) and `test_klp_state2`/`test_klp_state3`
//! (state 1, version 2, aware of a previous patch's state), all cumulative. The log of each of the
//! four scenarios is compared with the kernel's expected log, line for line.

use std::cell::Cell;

use livepatch::PatchDesc;
use livepatch::prelude::*;
use livepatch::{Dmesg, EnableError, ObjectName};

/// The kernel's default console log level.
const DEFAULT_LOGLEVEL: i32 = 7;
/// The level the patches set (`CONSOLE_LOGLEVEL_MOTORMOUTH`).
const MOTORMOUTH: i32 = 15;

thread_local! {
    /// The system state the patches modify. Callbacks run on the thread that enables or disables,
    /// and each test runs on its own thread, so tests do not see each other's level.
    static CONSOLE_LOGLEVEL: Cell<i32> = const { Cell::new(DEFAULT_LOGLEVEL) };
}

fn console_loglevel() -> i32 {
    CONSOLE_LOGLEVEL.get()
}

fn set_console_loglevel(level: i32) {
    CONSOLE_LOGLEVEL.set(level);
}

/// The data of the log level state: the level to restore on disable.
pub struct SavedLoglevel(i32);

/// Version 1: knows nothing of a previous patch's state.
#[livepatch(
    replace,
    states = [
        /// The console log level, raised while the patch is enabled.
        CONSOLE_LOGLEVEL_STATE { id: 1, version: 1, data: SavedLoglevel },
    ],
)]
pub mod test_klp_state {
    use super::*;

    #[pre_patch]
    fn pre_patch_callback(cx: &mut PrePatch<'_>) -> Result<(), CallbackError> {
        tracing::info!(target: "test_klp_state", "pre_patch_callback: {}", cx.object());
        let Some(mut state) = cx.state(CONSOLE_LOGLEVEL_STATE) else {
            return Err(CallbackError::new("the patch declares no log level state"));
        };
        state.set(SavedLoglevel(0));
        tracing::info!(
            target: "test_klp_state",
            "allocate_loglevel_state: allocating space to store console_loglevel"
        );
        Ok(())
    }

    #[post_patch]
    fn post_patch_callback(cx: &mut PostPatch<'_>) {
        tracing::info!(target: "test_klp_state", "post_patch_callback: {}", cx.object());
        let Some(mut state) = cx.state(CONSOLE_LOGLEVEL_STATE) else {
            return;
        };
        tracing::info!(target: "test_klp_state", "fix_console_loglevel: fixing console_loglevel");
        state.set(SavedLoglevel(console_loglevel()));
        set_console_loglevel(MOTORMOUTH);
    }

    #[pre_unpatch]
    fn pre_unpatch_callback(cx: &mut PreUnpatch<'_>) {
        tracing::info!(target: "test_klp_state", "pre_unpatch_callback: {}", cx.object());
        let Some(state) = cx.state(CONSOLE_LOGLEVEL_STATE) else {
            return;
        };
        tracing::info!(
            target: "test_klp_state",
            "restore_console_loglevel: restoring console_loglevel"
        );
        if let Some(saved) = state.data() {
            set_console_loglevel(saved.0);
        }
    }

    #[post_unpatch]
    fn post_unpatch_callback(cx: &mut PostUnpatch<'_>) {
        tracing::info!(target: "test_klp_state", "post_unpatch_callback: {}", cx.object());
        let Some(mut state) = cx.state(CONSOLE_LOGLEVEL_STATE) else {
            return;
        };
        tracing::info!(
            target: "test_klp_state",
            "free_loglevel_state: freeing space for the stored console_loglevel"
        );
        if state.take().is_none() {
            tracing::error!(target: "test_klp_state", "free_loglevel_state: nothing to free");
        }
    }
}

/// Version 2, which takes over a previous patch's state; the kernel builds `test_klp_state3` from
/// the same source as `test_klp_state2`, and so do we.
macro_rules! state_aware_patch {
    ($module:ident, $follows:ident) => {
        /// Version 2: takes over the log level change of a previous patch.
        #[livepatch(
            replace,
            follows = [super::$follows],
            states = [
                /// The console log level, raised while the patch is enabled.
                CONSOLE_LOGLEVEL_STATE { id: 1, version: 2, data: SavedLoglevel },
            ],
        )]
        pub mod $module {
            use super::*;

            const TARGET: &str = stringify!($module);

            #[pre_patch]
            fn pre_patch_callback(cx: &mut PrePatch<'_>) -> Result<(), CallbackError> {
                tracing::info!(target: TARGET, "pre_patch_callback: {}", cx.object());
                if cx.prev_state(CONSOLE_LOGLEVEL_STATE).is_some() {
                    tracing::info!(
                        target: TARGET,
                        "allocate_loglevel_state: space to store console_loglevel already allocated"
                    );
                    return Ok(());
                }
                let Some(mut state) = cx.state(CONSOLE_LOGLEVEL_STATE) else {
                    return Err(CallbackError::new("the patch declares no log level state"));
                };
                state.set(SavedLoglevel(0));
                tracing::info!(
                    target: TARGET,
                    "allocate_loglevel_state: allocating space to store console_loglevel"
                );
                Ok(())
            }

            #[post_patch]
            fn post_patch_callback(cx: &mut PostPatch<'_>) {
                tracing::info!(target: TARGET, "post_patch_callback: {}", cx.object());
                if cx.state(CONSOLE_LOGLEVEL_STATE).is_none() {
                    return;
                }
                if cx.prev_state(CONSOLE_LOGLEVEL_STATE).is_some() {
                    tracing::info!(
                        target: TARGET,
                        "fix_console_loglevel: taking over the console_loglevel change"
                    );
                    if let Err(error) = cx.take_over(CONSOLE_LOGLEVEL_STATE) {
                        tracing::error!(target: TARGET, "take over failed: {error}");
                    }
                    return;
                }
                tracing::info!(target: TARGET, "fix_console_loglevel: fixing console_loglevel");
                if let Some(mut state) = cx.state(CONSOLE_LOGLEVEL_STATE) {
                    state.set(SavedLoglevel(console_loglevel()));
                }
                set_console_loglevel(MOTORMOUTH);
            }

            #[pre_unpatch]
            fn pre_unpatch_callback(cx: &mut PreUnpatch<'_>) {
                tracing::info!(target: TARGET, "pre_unpatch_callback: {}", cx.object());
                if cx.prev_state(CONSOLE_LOGLEVEL_STATE).is_some() {
                    tracing::info!(
                        target: TARGET,
                        "restore_console_loglevel: passing the console_loglevel change back to \
                         the old livepatch"
                    );
                    return;
                }
                let Some(state) = cx.state(CONSOLE_LOGLEVEL_STATE) else {
                    return;
                };
                tracing::info!(
                    target: TARGET,
                    "restore_console_loglevel: restoring console_loglevel"
                );
                if let Some(saved) = state.data() {
                    set_console_loglevel(saved.0);
                }
            }

            #[post_unpatch]
            fn post_unpatch_callback(cx: &mut PostUnpatch<'_>) {
                tracing::info!(target: TARGET, "post_unpatch_callback: {}", cx.object());
                if cx.prev_state(CONSOLE_LOGLEVEL_STATE).is_some() {
                    tracing::info!(
                        target: TARGET,
                        "free_loglevel_state: keeping space to store console_loglevel"
                    );
                    return;
                }
                let Some(mut state) = cx.state(CONSOLE_LOGLEVEL_STATE) else {
                    return;
                };
                tracing::info!(
                    target: TARGET,
                    "free_loglevel_state: freeing space for the stored console_loglevel"
                );
                if state.take().is_none() {
            tracing::error!(target: "test_klp_state", "free_loglevel_state: nothing to free");
        }
            }
        }
    };
}

state_aware_patch!(test_klp_state2, test_klp_state);
state_aware_patch!(test_klp_state3, test_klp_state2);

/// The shell side of the selftest: each command is logged as `% command`, then run.
struct Shell {
    runtime: Runtime,
    log: Dmesg,
}

impl Shell {
    fn new() -> Self {
        set_console_loglevel(DEFAULT_LOGLEVEL);
        Shell {
            runtime: Runtime::new(),
            log: Dmesg::new(),
        }
    }

    fn modprobe(&self, patch: &'static PatchDesc) -> Result<(), EnableError> {
        self.log.push(format!("% modprobe {}", patch.name()));
        let result = self.log.capture(|| self.runtime.enable(patch));
        if result.is_err() {
            self.log.push(format!(
                "modprobe: ERROR: could not insert '{}': Invalid argument",
                patch.name()
            ));
        }
        result
    }

    fn disable(&self, name: &str) {
        self.log
            .push(format!("% echo 0 > /sys/kernel/livepatch/{name}/enabled"));
        let result = self.log.capture(|| self.runtime.disable(name));
        assert_eq!(result, Ok(()), "disabling {name}");
    }

    /// Removing a patch that has left the list does nothing but print the command.
    fn rmmod(&self, name: &str) {
        assert!(
            self.runtime.patch(name).is_none(),
            "{name} is still on the list"
        );
        self.log.push(format!("% rmmod {name}"));
    }

    fn enabled(&self) -> Vec<String> {
        self.runtime
            .patches()
            .into_iter()
            .map(|p| p.name.to_string())
            .collect()
    }
}

/// The kernel's expected lines for enabling `name`: `prev` says whether a previous patch's state
/// is there to take over.
fn enable_lines(name: &str, prev: bool) -> Vec<String> {
    let (allocate, fix) = if prev {
        (
            "allocate_loglevel_state: space to store console_loglevel already allocated",
            "fix_console_loglevel: taking over the console_loglevel change",
        )
    } else {
        (
            "allocate_loglevel_state: allocating space to store console_loglevel",
            "fix_console_loglevel: fixing console_loglevel",
        )
    };
    vec![
        format!("% modprobe {name}"),
        format!("livepatch: enabling patch '{name}'"),
        format!("livepatch: '{name}': initializing patching transition"),
        format!("{name}: pre_patch_callback: vmlinux"),
        format!("{name}: {allocate}"),
        format!("livepatch: '{name}': starting patching transition"),
        format!("livepatch: '{name}': completing patching transition"),
        format!("{name}: post_patch_callback: vmlinux"),
        format!("{name}: {fix}"),
        format!("livepatch: '{name}': patching complete"),
    ]
}

/// The kernel's expected lines for disabling `name` when no earlier patch is on the list.
fn disable_lines(name: &str) -> Vec<String> {
    vec![
        format!("% echo 0 > /sys/kernel/livepatch/{name}/enabled"),
        format!("livepatch: '{name}': initializing unpatching transition"),
        format!("{name}: pre_unpatch_callback: vmlinux"),
        format!("{name}: restore_console_loglevel: restoring console_loglevel"),
        format!("livepatch: '{name}': starting unpatching transition"),
        format!("livepatch: '{name}': completing unpatching transition"),
        format!("{name}: post_unpatch_callback: vmlinux"),
        format!("{name}: free_loglevel_state: freeing space for the stored console_loglevel"),
        format!("livepatch: '{name}': unpatching complete"),
    ]
}

fn rmmod_line(name: &str) -> Vec<String> {
    vec![format!("% rmmod {name}")]
}

#[test]
fn system_state_modification() {
    let sh = Shell::new();
    sh.modprobe(&test_klp_state::PATCH).unwrap();
    assert_eq!(console_loglevel(), MOTORMOUTH);
    sh.disable("test_klp_state");
    assert_eq!(console_loglevel(), DEFAULT_LOGLEVEL);
    sh.rmmod("test_klp_state");

    let expected = [
        enable_lines("test_klp_state", false),
        disable_lines("test_klp_state"),
        rmmod_line("test_klp_state"),
    ]
    .concat();
    assert_eq!(sh.log.lines(), expected);
}

#[test]
fn taking_over_system_state_modification() {
    let sh = Shell::new();
    sh.modprobe(&test_klp_state::PATCH).unwrap();
    sh.modprobe(&test_klp_state2::PATCH).unwrap();
    assert_eq!(sh.enabled(), ["test_klp_state2"]);
    assert_eq!(console_loglevel(), MOTORMOUTH);
    sh.rmmod("test_klp_state");
    sh.disable("test_klp_state2");
    assert_eq!(console_loglevel(), DEFAULT_LOGLEVEL);
    sh.rmmod("test_klp_state2");

    let expected = [
        enable_lines("test_klp_state", false),
        enable_lines("test_klp_state2", true),
        rmmod_line("test_klp_state"),
        disable_lines("test_klp_state2"),
        rmmod_line("test_klp_state2"),
    ]
    .concat();
    assert_eq!(sh.log.lines(), expected);
}

#[test]
fn compatible_cumulative_livepatches() {
    let sh = Shell::new();
    sh.modprobe(&test_klp_state2::PATCH).unwrap();
    sh.modprobe(&test_klp_state3::PATCH).unwrap();
    assert_eq!(sh.enabled(), ["test_klp_state3"]);
    sh.rmmod("test_klp_state2");
    // A downgrade to the same version of the state is allowed, and takes the state over again.
    sh.modprobe(&test_klp_state2::PATCH).unwrap();
    assert_eq!(sh.enabled(), ["test_klp_state2"]);
    assert_eq!(console_loglevel(), MOTORMOUTH);
    sh.disable("test_klp_state2");
    assert_eq!(console_loglevel(), DEFAULT_LOGLEVEL);
    sh.rmmod("test_klp_state2");
    sh.rmmod("test_klp_state3");

    let expected = [
        enable_lines("test_klp_state2", false),
        enable_lines("test_klp_state3", true),
        rmmod_line("test_klp_state2"),
        enable_lines("test_klp_state2", true),
        disable_lines("test_klp_state2"),
        rmmod_line("test_klp_state2"),
        rmmod_line("test_klp_state3"),
    ]
    .concat();
    assert_eq!(sh.log.lines(), expected);
}

#[test]
fn incompatible_cumulative_livepatches() {
    let sh = Shell::new();
    sh.modprobe(&test_klp_state2::PATCH).unwrap();
    let error = sh.modprobe(&test_klp_state::PATCH).unwrap_err();
    match &error {
        EnableError::Incompatible { patch, conflicts } => {
            assert_eq!(*patch, "test_klp_state");
            assert_eq!(conflicts.len(), 1);
            assert_eq!(conflicts[0].id, 1);
            assert_eq!(conflicts[0].installed_patch, "test_klp_state2");
            assert_eq!(conflicts[0].installed_version, 2);
        }
        other => panic!("expected an incompatibility, got {other:?}"),
    }
    assert_eq!(sh.enabled(), ["test_klp_state2"]);
    assert_eq!(console_loglevel(), MOTORMOUTH);
    sh.disable("test_klp_state2");
    assert_eq!(console_loglevel(), DEFAULT_LOGLEVEL);
    sh.rmmod("test_klp_state2");

    let expected = [
        enable_lines("test_klp_state2", false),
        vec![
            "% modprobe test_klp_state".to_owned(),
            "livepatch: Livepatch patch (test_klp_state) is not compatible with the already \
             installed livepatches."
                .to_owned(),
            "modprobe: ERROR: could not insert 'test_klp_state': Invalid argument".to_owned(),
        ],
        disable_lines("test_klp_state2"),
        rmmod_line("test_klp_state2"),
    ]
    .concat();
    assert_eq!(sh.log.lines(), expected);
}

/// The descriptors the macro generated are the kernel's test patches.
#[test]
fn generated_descriptors() {
    for (patch, version) in [
        (&test_klp_state::PATCH, 1),
        (&test_klp_state2::PATCH, 2),
        (&test_klp_state3::PATCH, 2),
    ] {
        assert!(patch.is_replace());
        let states: Vec<(u64, u32)> = patch
            .state_descs()
            .iter()
            .map(|s| (s.id(), s.version()))
            .collect();
        assert_eq!(states, [(1, version)], "{}", patch.name());
        assert_eq!(
            patch.state_descs()[0].data_type().name(),
            std::any::type_name::<SavedLoglevel>()
        );
        let objects: Vec<_> = patch.object_descs().iter().map(|o| o.name()).collect();
        assert_eq!(objects, [ObjectName::Program], "{}", patch.name());
    }
    assert_eq!(test_klp_state3::PATCH.name(), "test_klp_state3");
    assert_eq!(test_klp_state::CONSOLE_LOGLEVEL_STATE.id(), 1);
    assert_eq!(test_klp_state2::CONSOLE_LOGLEVEL_STATE.version(), 2);
}
