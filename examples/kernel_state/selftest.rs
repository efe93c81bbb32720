//! The kernel's system-state selftest (`test-state.sh`) in Rust: the three test patches
//! (console log level state, id 1; versions 1, 2 and 2; all cumulative), a driver that runs them
//! the way the selftest's shell functions do, and the four scenarios.
//!
//! Shared by the `kernel_state` example and the `kernel_state` integration test.

#![allow(dead_code)]

use std::cell::Cell;

use livepatch::prelude::*;
use livepatch::{CallbackContext, Dmesg, EnableError};
use livepatch::{ObjectDesc, PatchDesc, StateDesc, StateHandle};

/// A runtime with its own kernel log, driven like the kernel selftests drive theirs.
pub struct SelfTest {
    pub rt: Runtime,
    pub log: Dmesg,
}

impl Default for SelfTest {
    fn default() -> Self {
        Self::new()
    }
}

impl SelfTest {
    /// A fresh runtime and an empty log.
    pub fn new() -> Self {
        Self::with_log(Dmesg::new())
    }

    /// A fresh runtime logging into `log`.
    pub fn with_log(log: Dmesg) -> Self {
        SelfTest {
            rt: Runtime::new(),
            log,
        }
    }

    /// Runs `f` with this log capturing every event of the current thread.
    pub fn run<R>(&self, f: impl FnOnce(&Self) -> R) -> R {
        self.log.capture(|| f(self))
    }

    /// `modprobe`: enables a patch that must enable, and waits for its transition.
    pub fn load_lp(&self, patch: &'static PatchDesc) {
        self.load_lp_nowait(patch);
        self.wait_transition();
    }

    /// `modprobe` without waiting for the transition to complete.
    pub fn load_lp_nowait(&self, patch: &'static PatchDesc) {
        self.log.push(format!("% modprobe {}", patch.name()));
        if let Err(e) = self.rt.enable(patch) {
            panic!("enabling {}: {e}", patch.name());
        }
    }

    /// Waits (generously) for the transition in progress to complete.
    pub fn wait_transition(&self) {
        if let Err(e) = self.rt.wait_transition(std::time::Duration::from_secs(30)) {
            panic!("{e}");
        }
    }

    /// `modprobe` of a patch that the runtime must refuse as incompatible.
    pub fn load_failing_mod(&self, patch: &'static PatchDesc) {
        self.log.push(format!("% modprobe {}", patch.name()));
        match self.rt.enable(patch) {
            Err(EnableError::Incompatible { .. }) => self.log.push(format!(
                "modprobe: ERROR: could not insert '{}': Invalid argument",
                patch.name()
            )),
            other => panic!("expected an incompatibility error, got {other:?}"),
        }
    }

    /// `echo 0 > .../enabled`, then waits for the transition.
    pub fn disable_lp(&self, name: &str) {
        self.disable_lp_nowait(name);
        self.wait_transition();
    }

    /// `echo 0 > .../enabled` without waiting.
    pub fn disable_lp_nowait(&self, name: &str) {
        self.log
            .push(format!("% echo 0 > /sys/kernel/livepatch/{name}/enabled"));
        if let Err(e) = self.rt.disable(name) {
            panic!("disabling {name}: {e}");
        }
    }

    /// `modprobe` of an ordinary object, which prints its init line once loaded.
    pub fn load_mod(&self, name: &str) {
        self.log.push(format!("% modprobe {name}"));
        if let Err(e) = self.rt.load_object(name) {
            panic!("loading {name}: {e}");
        }
        self.log.push(format!("{name}: {name}_init"));
    }

    /// `rmmod` of an ordinary object, which prints its exit line before it goes.
    pub fn unload_mod(&self, name: &str) {
        self.log.push(format!("% rmmod {name}"));
        self.log.push(format!("{name}: {name}_exit"));
        if let Err(e) = self.rt.unload_object(name) {
            panic!("unloading {name}: {e}");
        }
    }

    /// `rmmod`: the patch must have left the list.
    pub fn unload_lp(&self, name: &str) {
        self.log.push(format!("% rmmod {name}"));
        assert!(
            self.rt.patch(name).is_none(),
            "{name} is still on the list: {:?}",
            self.rt.patches()
        );
    }
}

const CONSOLE_LOGLEVEL_STATE: u64 = 1;
/// The log level before any patch.
pub const CONSOLE_LOGLEVEL_DEFAULT: i32 = 7;
/// The log level the patches set.
pub const CONSOLE_LOGLEVEL_STATE_CHANGE: i32 = 8;

thread_local! {
    /// The "system state" the patches modify; each test runs on its own thread.
    static CONSOLE_LOGLEVEL: Cell<i32> = const { Cell::new(CONSOLE_LOGLEVEL_DEFAULT) };
}

/// The data of the loglevel state: the level to restore.
pub struct SavedLoglevel {
    level: i32,
    _allocation: Allocation,
}

thread_local! {
    static ALLOCATED: Cell<usize> = const { Cell::new(0) };
    static FREED: Cell<usize> = const { Cell::new(0) };
}

/// Counts allocations and frees of the state data on this thread (the runtime drops data on the
/// thread that calls it).
struct Allocation;

impl Allocation {
    fn new() -> Self {
        ALLOCATED.set(ALLOCATED.get() + 1);
        Allocation
    }
}

impl Drop for Allocation {
    fn drop(&mut self) {
        FREED.set(FREED.get() + 1);
    }
}

/// How many `SavedLoglevel`s this thread allocated and freed so far.
pub fn allocations() -> (usize, usize) {
    (ALLOCATED.get(), FREED.get())
}

/// The current console log level of this thread's simulated system.
pub fn console_loglevel() -> i32 {
    CONSOLE_LOGLEVEL.get()
}

/// One test patch. `AWARE_OF_PREVIOUS` patches (versions 2) check for a previous patch's state
/// and take it over instead of allocating their own.
macro_rules! state_patch {
    ($module:ident, $name:literal, version = $version:literal, aware_of_previous = $aware:literal) => {
        pub mod $module {
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
                    _allocation: Allocation::new(),
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

state_patch!(
    klp_state,
    "test_klp_state",
    version = 1,
    aware_of_previous = false
);
state_patch!(
    klp_state2,
    "test_klp_state2",
    version = 2,
    aware_of_previous = true
);
state_patch!(
    klp_state3,
    "test_klp_state3",
    version = 2,
    aware_of_previous = true
);

/// A scenario: a sequence of selftest steps.
pub type Scenario = fn(&SelfTest);

/// The scenarios of `test-state.sh`, by their titles.
pub const SCENARIOS: [(&str, Scenario); 4] = [
    ("system state modification", system_state_modification),
    ("taking over system state modification", taking_over),
    ("compatible cumulative livepatches", compatible_cumulative),
    (
        "incompatible cumulative livepatches",
        incompatible_cumulative,
    ),
];

/// Loading and removing a patch that modifies the system state.
pub fn system_state_modification(t: &SelfTest) {
    t.load_lp(&klp_state::PATCH);
    t.disable_lp("test_klp_state");
    t.unload_lp("test_klp_state");
}

/// A cumulative patch takes over the system state change of the one it replaces.
pub fn taking_over(t: &SelfTest) {
    t.load_lp(&klp_state::PATCH);
    t.load_lp(&klp_state2::PATCH);
    t.unload_lp("test_klp_state");
    t.disable_lp("test_klp_state2");
    t.unload_lp("test_klp_state2");
}

/// Cumulative patches of the same state version replace each other in both directions.
pub fn compatible_cumulative(t: &SelfTest) {
    t.load_lp(&klp_state2::PATCH);
    t.load_lp(&klp_state3::PATCH);
    t.unload_lp("test_klp_state2");
    t.load_lp(&klp_state2::PATCH);
    t.disable_lp("test_klp_state2");
    t.unload_lp("test_klp_state2");
    t.unload_lp("test_klp_state3");
}

/// A cumulative patch with a lower state version is refused.
pub fn incompatible_cumulative(t: &SelfTest) {
    t.load_lp(&klp_state2::PATCH);
    t.load_failing_mod(&klp_state::PATCH);
    t.disable_lp("test_klp_state2");
    t.unload_lp("test_klp_state2");
}
