//! The kernel's "busy target" callback selftests (`test-callbacks.sh`), ported: a thread parked
//! inside a function the patch replaces holds the patching transition open; objects load and
//! unload meanwhile; disabling the patch reverses the transition. Expected logs are the kernel's,
//! line for line, with the simulated objects' own init and exit lines.

mod common;

use std::sync::Arc;

use common::assert_log;
use common::gate::{Gate, spawn_logged};
use common::selftest::SelfTest;
use livepatch::prelude::*;
use livepatch::{
    CallbackContext, FuncDesc, FuncSlot, ObjectName, ObjectState, Replacement, TransitionPhase,
};
use livepatch::{ObjectDesc, PatchDesc};

const BUSY: &str = "test_klp_callbacks_busy";
const MOD: &str = "test_klp_callbacks_mod";
const DEMO: &str = "test_klp_callbacks_demo";

/// What the demo patch's callbacks print about an object, as the kernel's `callback_info`.
fn describe(cx: &CallbackContext<'_>) -> String {
    match cx.object() {
        ObjectName::Program => "vmlinux".to_owned(),
        ObjectName::Named(name) => {
            let state = match cx.object_state() {
                ObjectState::Coming => "[MODULE_STATE_COMING] Full formed, running module_init",
                ObjectState::Live => "[MODULE_STATE_LIVE] Normal state",
                ObjectState::Going => "[MODULE_STATE_GOING] Going away",
            };
            format!("{name} -> {state}")
        }
    }
}

fn pre_patch_callback(cx: &mut PrePatch<'_>) -> Result<(), CallbackError> {
    tracing::info!(target: "test_klp_callbacks_demo", "pre_patch_callback: {}", describe(cx));
    Ok(())
}

fn post_patch_callback(cx: &mut PostPatch<'_>) {
    tracing::info!(target: "test_klp_callbacks_demo", "post_patch_callback: {}", describe(cx));
}

fn pre_unpatch_callback(cx: &mut PreUnpatch<'_>) {
    tracing::info!(target: "test_klp_callbacks_demo", "pre_unpatch_callback: {}", describe(cx));
}

fn post_unpatch_callback(cx: &mut PostUnpatch<'_>) {
    tracing::info!(target: "test_klp_callbacks_demo", "post_unpatch_callback: {}", describe(cx));
}

const fn demo_object(object: ObjectDesc) -> ObjectDesc {
    object
        .pre_patch(pre_patch_callback)
        .post_patch(post_patch_callback)
        .pre_unpatch(pre_unpatch_callback)
        .post_unpatch(post_unpatch_callback)
}

type WorkFn = fn(&Gate);

/// The busy object's work function, which parks at the gate; and the demo patch that replaces it.
/// Each test gets its own copy, so that tests running at once never share a function.
macro_rules! busy_and_demo {
    ($module:ident) => {
        mod $module {
            use super::*;

            fn busymod_work_func(gate: &Gate) {
                tracing::info!(
                    target: "test_klp_callbacks_busy",
                    "busymod_work_func, sleeping {} seconds ...",
                    gate.sleep_secs()
                );
                gate.visit();
                tracing::info!(target: "test_klp_callbacks_busy", "busymod_work_func exit");
            }

            fn patched_work_func(_gate: &Gate) {
                tracing::info!(target: "test_klp_callbacks_demo", "patched_work_func");
            }

            pub static WORK: FuncSlot<WorkFn> =
                FuncSlot::new("busymod_work_func", ObjectName::Named(BUSY), busymod_work_func);
            static PATCHED: Replacement<WorkFn> = Replacement::new(&WORK, patched_work_func);
            static FUNCS: [FuncDesc; 1] = [FuncDesc::new(&PATCHED)];
            static OBJECTS: [ObjectDesc; 3] = [
                demo_object(ObjectDesc::program()),
                demo_object(ObjectDesc::named(MOD)),
                demo_object(ObjectDesc::named(BUSY)).functions(&FUNCS),
            ];
            pub static PATCH: PatchDesc = PatchDesc::new(DEMO).objects(&OBJECTS);

            pub fn work(gate: &Gate) {
                WORK.call(|f| f(gate))
            }
        }
    };
}

/// The busy object: loading it starts a worker thread inside its work function, which stays
/// there while the gate is closed.
struct BusyModule {
    gate: Arc<Gate>,
    worker: std::thread::JoinHandle<()>,
}

fn load_busy(t: &SelfTest, work: fn(&Gate), gate: Arc<Gate>) -> BusyModule {
    t.log.push(format!(
        "% modprobe {BUSY} sleep_secs={}",
        gate.sleep_secs()
    ));
    t.rt.load_object(BUSY).unwrap();
    t.log.push(format!("{BUSY}: {BUSY}_init"));
    let inside = Arc::clone(&gate);
    let worker = spawn_logged(&t.log, move || work(&inside));
    if gate.sleep_secs() > 0 {
        gate.wait_inside(1);
    } else {
        // "give busymod_work_func() a chance to run": wait until it has run.
        common::gate::eventually("the worker finishes", || worker.is_finished());
    }
    BusyModule { gate, worker }
}

fn unload_busy(t: &SelfTest, busy: BusyModule) {
    t.log.push(format!("% rmmod {BUSY}"));
    busy.gate.release();
    busy.worker.join().unwrap();
    t.log.push(format!("{BUSY}: {BUSY}_exit"));
    t.rt.unload_object(BUSY).unwrap();
}

busy_and_demo!(busy_target_module);

#[test]
fn busy_target_module() {
    use busy_target_module::{PATCH, work};
    let t = SelfTest::new();
    t.run(|t| {
        let busy = load_busy(t, work, Gate::closed());
        t.load_lp_nowait(&PATCH);
        // The worker sits in the function the patch replaces: the transition stays open.
        let transition = t.rt.transition().unwrap();
        assert_eq!(transition.patch, DEMO);
        assert_eq!(transition.phase, TransitionPhase::Started);
        let states: Vec<_> =
            t.rt.thread_states()
                .into_iter()
                .filter(|s| s.thread == busy.worker.thread().id())
                .map(|s| s.state)
                .collect();
        assert_eq!(states, [0]);
        t.load_mod(MOD);
        t.unload_mod(MOD);
        t.disable_lp(DEMO);
        t.unload_lp(DEMO);
        unload_busy(t, busy);
    });
    assert_log(
        &t.log.lines(),
        "
        % modprobe test_klp_callbacks_busy sleep_secs=10
        test_klp_callbacks_busy: test_klp_callbacks_busy_init
        test_klp_callbacks_busy: busymod_work_func, sleeping 10 seconds ...
        % modprobe test_klp_callbacks_demo
        livepatch: enabling patch 'test_klp_callbacks_demo'
        livepatch: 'test_klp_callbacks_demo': initializing patching transition
        test_klp_callbacks_demo: pre_patch_callback: vmlinux
        test_klp_callbacks_demo: pre_patch_callback: test_klp_callbacks_busy -> [MODULE_STATE_LIVE] Normal state
        livepatch: 'test_klp_callbacks_demo': starting patching transition
        % modprobe test_klp_callbacks_mod
        livepatch: applying patch 'test_klp_callbacks_demo' to loading module 'test_klp_callbacks_mod'
        test_klp_callbacks_demo: pre_patch_callback: test_klp_callbacks_mod -> [MODULE_STATE_COMING] Full formed, running module_init
        test_klp_callbacks_mod: test_klp_callbacks_mod_init
        % rmmod test_klp_callbacks_mod
        test_klp_callbacks_mod: test_klp_callbacks_mod_exit
        livepatch: reverting patch 'test_klp_callbacks_demo' on unloading module 'test_klp_callbacks_mod'
        test_klp_callbacks_demo: post_unpatch_callback: test_klp_callbacks_mod -> [MODULE_STATE_GOING] Going away
        % echo 0 > /sys/kernel/livepatch/test_klp_callbacks_demo/enabled
        livepatch: 'test_klp_callbacks_demo': reversing transition from patching to unpatching
        livepatch: 'test_klp_callbacks_demo': starting unpatching transition
        livepatch: 'test_klp_callbacks_demo': completing unpatching transition
        test_klp_callbacks_demo: post_unpatch_callback: vmlinux
        test_klp_callbacks_demo: post_unpatch_callback: test_klp_callbacks_busy -> [MODULE_STATE_LIVE] Normal state
        livepatch: 'test_klp_callbacks_demo': unpatching complete
        % rmmod test_klp_callbacks_demo
        % rmmod test_klp_callbacks_busy
        test_klp_callbacks_busy: busymod_work_func exit
        test_klp_callbacks_busy: test_klp_callbacks_busy_exit
        ",
    );
}

busy_and_demo!(multiple_target_modules);

#[test]
fn multiple_target_modules() {
    use multiple_target_modules::{PATCH, work};
    let t = SelfTest::new();
    t.run(|t| {
        // The worker leaves its function at once ("sleep_secs=0").
        let busy = load_busy(t, work, Gate::open());
        t.load_lp(&PATCH);
        t.load_mod(MOD);
        t.unload_mod(MOD);
        t.disable_lp(DEMO);
        t.unload_lp(DEMO);
        t.log.push(format!("% rmmod {BUSY}"));
        busy.worker.join().unwrap();
        t.log.push(format!("{BUSY}: {BUSY}_exit"));
        t.rt.unload_object(BUSY).unwrap();
    });
    assert_log(
        &t.log.lines(),
        "
        % modprobe test_klp_callbacks_busy sleep_secs=0
        test_klp_callbacks_busy: test_klp_callbacks_busy_init
        test_klp_callbacks_busy: busymod_work_func, sleeping 0 seconds ...
        test_klp_callbacks_busy: busymod_work_func exit
        % modprobe test_klp_callbacks_demo
        livepatch: enabling patch 'test_klp_callbacks_demo'
        livepatch: 'test_klp_callbacks_demo': initializing patching transition
        test_klp_callbacks_demo: pre_patch_callback: vmlinux
        test_klp_callbacks_demo: pre_patch_callback: test_klp_callbacks_busy -> [MODULE_STATE_LIVE] Normal state
        livepatch: 'test_klp_callbacks_demo': starting patching transition
        livepatch: 'test_klp_callbacks_demo': completing patching transition
        test_klp_callbacks_demo: post_patch_callback: vmlinux
        test_klp_callbacks_demo: post_patch_callback: test_klp_callbacks_busy -> [MODULE_STATE_LIVE] Normal state
        livepatch: 'test_klp_callbacks_demo': patching complete
        % modprobe test_klp_callbacks_mod
        livepatch: applying patch 'test_klp_callbacks_demo' to loading module 'test_klp_callbacks_mod'
        test_klp_callbacks_demo: pre_patch_callback: test_klp_callbacks_mod -> [MODULE_STATE_COMING] Full formed, running module_init
        test_klp_callbacks_demo: post_patch_callback: test_klp_callbacks_mod -> [MODULE_STATE_COMING] Full formed, running module_init
        test_klp_callbacks_mod: test_klp_callbacks_mod_init
        % rmmod test_klp_callbacks_mod
        test_klp_callbacks_mod: test_klp_callbacks_mod_exit
        test_klp_callbacks_demo: pre_unpatch_callback: test_klp_callbacks_mod -> [MODULE_STATE_GOING] Going away
        livepatch: reverting patch 'test_klp_callbacks_demo' on unloading module 'test_klp_callbacks_mod'
        test_klp_callbacks_demo: post_unpatch_callback: test_klp_callbacks_mod -> [MODULE_STATE_GOING] Going away
        % echo 0 > /sys/kernel/livepatch/test_klp_callbacks_demo/enabled
        livepatch: 'test_klp_callbacks_demo': initializing unpatching transition
        test_klp_callbacks_demo: pre_unpatch_callback: vmlinux
        test_klp_callbacks_demo: pre_unpatch_callback: test_klp_callbacks_busy -> [MODULE_STATE_LIVE] Normal state
        livepatch: 'test_klp_callbacks_demo': starting unpatching transition
        livepatch: 'test_klp_callbacks_demo': completing unpatching transition
        test_klp_callbacks_demo: post_unpatch_callback: vmlinux
        test_klp_callbacks_demo: post_unpatch_callback: test_klp_callbacks_busy -> [MODULE_STATE_LIVE] Normal state
        livepatch: 'test_klp_callbacks_demo': unpatching complete
        % rmmod test_klp_callbacks_demo
        % rmmod test_klp_callbacks_busy
        test_klp_callbacks_busy: test_klp_callbacks_busy_exit
        ",
    );
}

busy_and_demo!(completes_when_the_thread_leaves);

#[test]
fn the_patching_transition_completes_once_the_busy_thread_leaves() {
    use completes_when_the_thread_leaves::{PATCH, work};
    let t = SelfTest::new();
    t.run(|t| {
        let busy = load_busy(t, work, Gate::closed());
        t.load_lp_nowait(&PATCH);
        t.load_mod(MOD);
        // post_patch of the object loaded during the transition waits for its completion.
        assert!(t.rt.transition().is_some());
        t.log.push("% (the busy worker finishes its work)");
        busy.gate.release();
        busy.worker.join().unwrap();
        t.wait_transition();
        // Later calls run the patched function.
        work(&Gate::open());
        t.disable_lp(DEMO);
    });
    assert_log(
        &t.log.lines(),
        "
        % modprobe test_klp_callbacks_busy sleep_secs=10
        test_klp_callbacks_busy: test_klp_callbacks_busy_init
        test_klp_callbacks_busy: busymod_work_func, sleeping 10 seconds ...
        % modprobe test_klp_callbacks_demo
        livepatch: enabling patch 'test_klp_callbacks_demo'
        livepatch: 'test_klp_callbacks_demo': initializing patching transition
        test_klp_callbacks_demo: pre_patch_callback: vmlinux
        test_klp_callbacks_demo: pre_patch_callback: test_klp_callbacks_busy -> [MODULE_STATE_LIVE] Normal state
        livepatch: 'test_klp_callbacks_demo': starting patching transition
        % modprobe test_klp_callbacks_mod
        livepatch: applying patch 'test_klp_callbacks_demo' to loading module 'test_klp_callbacks_mod'
        test_klp_callbacks_demo: pre_patch_callback: test_klp_callbacks_mod -> [MODULE_STATE_COMING] Full formed, running module_init
        test_klp_callbacks_mod: test_klp_callbacks_mod_init
        % (the busy worker finishes its work)
        test_klp_callbacks_busy: busymod_work_func exit
        livepatch: 'test_klp_callbacks_demo': completing patching transition
        test_klp_callbacks_demo: post_patch_callback: vmlinux
        test_klp_callbacks_demo: post_patch_callback: test_klp_callbacks_mod -> [MODULE_STATE_LIVE] Normal state
        test_klp_callbacks_demo: post_patch_callback: test_klp_callbacks_busy -> [MODULE_STATE_LIVE] Normal state
        livepatch: 'test_klp_callbacks_demo': patching complete
        test_klp_callbacks_demo: patched_work_func
        % echo 0 > /sys/kernel/livepatch/test_klp_callbacks_demo/enabled
        livepatch: 'test_klp_callbacks_demo': initializing unpatching transition
        test_klp_callbacks_demo: pre_unpatch_callback: vmlinux
        test_klp_callbacks_demo: pre_unpatch_callback: test_klp_callbacks_mod -> [MODULE_STATE_LIVE] Normal state
        test_klp_callbacks_demo: pre_unpatch_callback: test_klp_callbacks_busy -> [MODULE_STATE_LIVE] Normal state
        livepatch: 'test_klp_callbacks_demo': starting unpatching transition
        livepatch: 'test_klp_callbacks_demo': completing unpatching transition
        test_klp_callbacks_demo: post_unpatch_callback: vmlinux
        test_klp_callbacks_demo: post_unpatch_callback: test_klp_callbacks_mod -> [MODULE_STATE_LIVE] Normal state
        test_klp_callbacks_demo: post_unpatch_callback: test_klp_callbacks_busy -> [MODULE_STATE_LIVE] Normal state
        livepatch: 'test_klp_callbacks_demo': unpatching complete
        ",
    );
}
