//! SPEC §5–§7 with functions: replacement stacks, atomic replace and its nops, reversal in both
//! directions, force, busy errors, objects loading and unloading during a transition, and which
//! threads do and do not hold a transition back.

mod common;

use std::sync::Arc;

use common::gate::{Gate, eventually, spawn_logged};
use common::selftest::SelfTest;
use common::{assert_log, leak, record, slice};
use livepatch::prelude::*;
use livepatch::{
    DescriptorError, EnableError, ErrorKind, FuncDesc, FuncSlot, ObjectName, Replacement,
    SetEnabledError, TransitionError, TransitionPhase, TransitionTarget,
};
use livepatch::{ObjectDesc, PatchDesc, StateHandle};

type Labeled = fn(&Gate) -> &'static str;

/// Two patchable functions `f` and `g` of `$object`, each with replacements `A`, `B` and `R`
/// that return their own name (and park at the gate, like the originals). Each test gets its own
/// functions, so tests running at once never share one.
macro_rules! functions {
    ($module:ident, $object:expr) => {
        #[allow(dead_code, reason = "each test uses some of the functions")]
        mod $module {
            use super::*;

            macro_rules! function {
                ($name:ident, $slot:ident, $a:ident, $b:ident, $r:ident) => {
                    pub static $slot: FuncSlot<Labeled> =
                        FuncSlot::new(stringify!($name), $object, |gate| {
                            gate.visit();
                            "original"
                        });
                    pub fn $name(gate: &Gate) -> &'static str {
                        $slot.call(|f| f(gate))
                    }
                    pub static $a: Replacement<Labeled> = Replacement::new(&$slot, |gate| {
                        gate.visit();
                        "A"
                    });
                    pub static $b: Replacement<Labeled> = Replacement::new(&$slot, |gate| {
                        gate.visit();
                        "B"
                    });
                    pub static $r: Replacement<Labeled> = Replacement::new(&$slot, |gate| {
                        gate.visit();
                        "R"
                    });
                };
            }
            function!(f, F, FA, FB, FR);
            function!(g, G, GA, GB, GR);
        }
    };
}

/// A patch of `object` with these replacements and logging callbacks.
fn patch(
    name: &'static str,
    replace: bool,
    object: ObjectDesc,
    funcs: Vec<&'static Replacement<Labeled>>,
) -> &'static PatchDesc {
    let funcs: Vec<FuncDesc> = funcs.into_iter().map(FuncDesc::new).collect();
    let object = record::all(object).functions(slice(funcs));
    leak(
        PatchDesc::new(name)
            .replace(replace)
            .objects(slice(vec![object])),
    )
}

fn program_patch(
    name: &'static str,
    funcs: Vec<&'static Replacement<Labeled>>,
) -> &'static PatchDesc {
    patch(name, false, ObjectDesc::program(), funcs)
}

/// Parks a thread inside `call` and returns it once it is there.
fn park_in(
    log: &livepatch::Dmesg,
    call: fn(&Gate) -> &'static str,
) -> (Arc<Gate>, std::thread::JoinHandle<&'static str>) {
    let gate = Gate::closed();
    let inside = Arc::clone(&gate);
    let thread = spawn_logged(log, move || call(&inside));
    gate.wait_inside(1);
    (gate, thread)
}

fn open() -> Arc<Gate> {
    Gate::open()
}

functions!(stacks, ObjectName::Program);

#[test]
fn the_newest_patch_wins_and_disabling_one_falls_back_to_the_next_older() {
    use stacks::*;
    let t = SelfTest::new();
    assert_eq!(f(&open()), "original");
    t.load_lp(program_patch("a", vec![&FA, &GA]));
    assert_eq!((f(&open()), g(&open())), ("A", "A"));
    t.load_lp(program_patch("b", vec![&FB]));
    assert_eq!((f(&open()), g(&open())), ("B", "A"));
    // Disabling the patch in the middle changes nothing visible: b still wins for f.
    t.disable_lp("a");
    assert_eq!((f(&open()), g(&open())), ("B", "original"));
    t.load_lp(program_patch("a", vec![&FA, &GA]));
    assert_eq!((f(&open()), g(&open())), ("A", "A"));
    t.disable_lp("a");
    assert_eq!((f(&open()), g(&open())), ("B", "original"));
    t.disable_lp("b");
    assert_eq!((f(&open()), g(&open())), ("original", "original"));
}

functions!(replace_nops, ObjectName::Program);

#[test]
fn a_replace_patch_restores_what_only_older_patches_replaced() {
    use replace_nops::*;
    let t = SelfTest::new();
    t.load_lp(program_patch("a", vec![&FA, &GA]));
    t.load_lp(program_patch("b", vec![&FB]));
    // r replaces only g: f goes back to the original, with no patch left that replaces it.
    t.load_lp(patch("r", true, ObjectDesc::program(), vec![&GR]));
    assert_eq!((f(&open()), g(&open())), ("original", "R"));
    let names: Vec<_> = t.rt.patches().iter().map(|p| p.name).collect();
    assert_eq!(names, ["r"]);
    t.disable_lp("r");
    assert_eq!((f(&open()), g(&open())), ("original", "original"));
}

functions!(replace_reversed, ObjectName::Program);

#[test]
fn reversing_a_replace_leaves_the_replaced_patches_enabled_and_untouched() {
    use replace_reversed::*;
    let t = SelfTest::new();
    t.load_lp(program_patch("a", vec![&FA, &GA]));
    // A thread inside f (running A's code) holds the replace's transition open.
    let (gate, parked) = park_in(&t.log, f);
    t.run(|t| {
        t.log.take();
        t.load_lp_nowait(patch("r", true, ObjectDesc::program(), vec![&GR]));
        // The parked thread has not switched: it still sees the old code everywhere.
        t.disable_lp("r");
    });
    assert_log(
        &t.log.lines(),
        "
        % modprobe r
        livepatch: enabling patch 'r'
        livepatch: 'r': initializing patching transition
        test: r: pre_patch: vmlinux
        livepatch: 'r': starting patching transition
        % echo 0 > /sys/kernel/livepatch/r/enabled
        livepatch: 'r': reversing transition from patching to unpatching
        livepatch: 'r': starting unpatching transition
        livepatch: 'r': completing unpatching transition
        test: r: post_unpatch: vmlinux (Reversed)
        livepatch: 'r': unpatching complete
        ",
    );
    gate.release();
    assert_eq!(parked.join().unwrap(), "A");
    let names: Vec<_> = t.rt.patches().iter().map(|p| (p.name, p.enabled)).collect();
    assert_eq!(names, [("a", true)]);
    assert_eq!((f(&open()), g(&open())), ("A", "A"));
}

functions!(disable_reversed, ObjectName::Program);

#[test]
fn reversing_a_disable_runs_post_patch_again_and_no_pre_unpatch() {
    use disable_reversed::*;
    let t = SelfTest::new();
    t.load_lp(program_patch("p", vec![&FA]));
    let (gate, parked) = park_in(&t.log, f);
    t.run(|t| {
        t.log.take();
        t.disable_lp_nowait("p");
        assert_eq!(
            t.rt.transition().map(|s| (s.target, s.phase)),
            Some((TransitionTarget::Unpatched, TransitionPhase::Started))
        );
        assert!(!t.rt.patch("p").unwrap().enabled);
        t.log.push("% echo 1 > /sys/kernel/livepatch/p/enabled");
        t.rt.set_enabled("p", true).unwrap();
        t.wait_transition();
    });
    assert_log(
        &t.log.lines(),
        "
        % echo 0 > /sys/kernel/livepatch/p/enabled
        livepatch: 'p': initializing unpatching transition
        test: p: pre_unpatch: vmlinux
        livepatch: 'p': starting unpatching transition
        % echo 1 > /sys/kernel/livepatch/p/enabled
        livepatch: 'p': reversing transition from unpatching to patching
        livepatch: 'p': starting patching transition
        livepatch: 'p': completing patching transition
        test: p: post_patch: vmlinux
        livepatch: 'p': patching complete
        ",
    );
    gate.release();
    assert_eq!(parked.join().unwrap(), "A");
    assert!(t.rt.patch("p").unwrap().enabled);
    assert_eq!(f(&open()), "A");
}

functions!(reversed_twice, ObjectName::Program);

#[test]
fn a_transition_can_be_reversed_again_and_again() {
    use reversed_twice::*;
    let t = SelfTest::new();
    // One thread inside the original f holds patching back...
    let (old_gate, old) = park_in(&t.log, f);
    t.run(|t| {
        t.load_lp_nowait(program_patch("p", vec![&FA]));
        // ...and one that starts during the transition (so it is switched) and enters the new f
        // holds unpatching back.
        let (new_gate, new) = park_in(&t.log, f);
        t.disable_lp_nowait("p");
        t.log.push("% echo 1 > /sys/kernel/livepatch/p/enabled");
        t.rt.set_enabled("p", true).unwrap();
        t.disable_lp_nowait("p");
        assert!(t.rt.transition().is_some());
        old_gate.release();
        new_gate.release();
        assert_eq!(old.join().unwrap(), "original");
        assert_eq!(new.join().unwrap(), "A");
        t.wait_transition();
    });
    assert_log(
        &t.log.lines(),
        "
        % modprobe p
        livepatch: enabling patch 'p'
        livepatch: 'p': initializing patching transition
        test: p: pre_patch: vmlinux
        livepatch: 'p': starting patching transition
        % echo 0 > /sys/kernel/livepatch/p/enabled
        livepatch: 'p': reversing transition from patching to unpatching
        livepatch: 'p': starting unpatching transition
        % echo 1 > /sys/kernel/livepatch/p/enabled
        livepatch: 'p': reversing transition from unpatching to patching
        livepatch: 'p': starting patching transition
        % echo 0 > /sys/kernel/livepatch/p/enabled
        livepatch: 'p': reversing transition from patching to unpatching
        livepatch: 'p': starting unpatching transition
        livepatch: 'p': completing unpatching transition
        test: p: post_unpatch: vmlinux (Reversed)
        livepatch: 'p': unpatching complete
        ",
    );
    assert_eq!(f(&open()), "original");
}

functions!(forced, ObjectName::Program);

#[test]
fn force_switches_every_thread_and_marks_nothing_when_patching() {
    use forced::*;
    let t = SelfTest::new();
    t.load_lp(program_patch("old", vec![&GA]));
    let (gate, parked) = park_in(&t.log, f);
    t.run(|t| {
        t.log.take();
        t.load_lp_nowait(program_patch("p", vec![&FA]));
        t.log.push("% echo 1 > /sys/kernel/livepatch/p/force");
        t.rt.force().unwrap();
    });
    assert_log(
        &t.log.lines(),
        "
        % modprobe p
        livepatch: enabling patch 'p'
        livepatch: 'p': initializing patching transition
        test: p: pre_patch: vmlinux
        livepatch: 'p': starting patching transition
        % echo 1 > /sys/kernel/livepatch/p/force
        livepatch: forcing remaining tasks to the patched state
        livepatch: 'p': completing patching transition
        test: p: post_patch: vmlinux
        livepatch: 'p': patching complete
        ",
    );
    // A patching transition of a patch that replaces nothing: no thread can run code of a patch
    // that leaves the list, so the kernel marks nothing.
    let forced: Vec<_> = t.rt.patches().iter().map(|p| (p.name, p.forced)).collect();
    assert_eq!(forced, [("old", false), ("p", false)]);
    assert!(t.rt.forced_patches().is_empty());
    assert_eq!(t.rt.force(), Err(TransitionError::NoTransition));
    gate.release();
    // The forced thread already ran the original it had entered.
    assert_eq!(parked.join().unwrap(), "original");
    assert_eq!(f(&open()), "A");
}

functions!(forced_unpatch, ObjectName::Program);

#[test]
fn a_forced_unpatch_marks_only_the_patch_in_transition() {
    use forced_unpatch::*;
    let t = SelfTest::new();
    t.load_lp(program_patch("a", vec![&FA]));
    t.load_lp(program_patch("b", vec![&GB]));
    let (gate, parked) = park_in(&t.log, f);
    t.disable_lp_nowait("a");
    t.rt.force().unwrap();
    let forced: Vec<_> = t.rt.patches().iter().map(|p| (p.name, p.forced)).collect();
    assert_eq!(forced, [("b", false)]);
    assert_eq!(t.rt.forced_patches(), ["a"]);
    gate.release();
    // The parked thread had entered `a`'s code, and finishes it.
    assert_eq!(parked.join().unwrap(), "A");
    assert_eq!((f(&open()), g(&open())), ("original", "B"));
}

functions!(forced_replace, ObjectName::Program);

#[test]
fn a_forced_replace_marks_every_patch_it_replaces() {
    use forced_replace::*;
    let t = SelfTest::new();
    t.load_lp(program_patch("a", vec![&FA]));
    t.load_lp(program_patch("b", vec![&GB]));
    let (gate, parked) = park_in(&t.log, f);
    t.load_lp_nowait(patch("r", true, ObjectDesc::program(), vec![&FR]));
    t.rt.force().unwrap();
    let forced: Vec<_> = t.rt.patches().iter().map(|p| (p.name, p.forced)).collect();
    assert_eq!(forced, [("r", false)]);
    assert_eq!(t.rt.forced_patches(), ["a", "b"]);
    gate.release();
    assert_eq!(parked.join().unwrap(), "A");
    // `g` had no replacement in `r`: its nop restored the original.
    assert_eq!((f(&open()), g(&open())), ("R", "original"));
}

functions!(forced_reversal, ObjectName::Program);

#[test]
fn a_forced_reversal_of_a_replace_patch_marks_only_that_patch() {
    use forced_reversal::*;
    let t = SelfTest::new();
    t.load_lp(program_patch("a2", vec![&GA]));
    let (old_gate, old_side) = park_in(&t.log, g);
    t.load_lp_nowait(patch("r2", true, ObjectDesc::program(), vec![&GR]));
    // A thread that first runs patchable code during the transition takes its target side, and
    // then holds the reversal back from inside the new code.
    let (new_gate, new_side) = park_in(&t.log, g);
    t.disable_lp_nowait("r2");
    t.rt.force().unwrap();
    let forced: Vec<_> = t.rt.patches().iter().map(|p| (p.name, p.forced)).collect();
    assert_eq!(forced, [("a2", false)]);
    assert_eq!(t.rt.forced_patches(), ["r2"]);
    old_gate.release();
    new_gate.release();
    assert_eq!(old_side.join().unwrap(), "A");
    assert_eq!(new_side.join().unwrap(), "R");
    assert_eq!(g(&open()), "A");
}

functions!(endless_wait, ObjectName::Program);

#[test]
fn waiting_without_a_bound_waits_for_the_transition() {
    use endless_wait::*;
    let t = SelfTest::new();
    assert_eq!(t.rt.wait_transition(std::time::Duration::MAX), Ok(()));
    let (gate, parked) = park_in(&t.log, f);
    t.load_lp_nowait(program_patch("slow", vec![&FA]));
    let releaser = std::thread::spawn(move || {
        std::thread::sleep(std::time::Duration::from_millis(20));
        gate.release();
    });
    assert_eq!(t.rt.wait_transition(std::time::Duration::MAX), Ok(()));
    assert!(t.rt.transition().is_none());
    assert_eq!(parked.join().unwrap(), "original");
    releaser.join().unwrap();
    assert_eq!(f(&open()), "A");
}

functions!(busy_errors, ObjectName::Program);

#[test]
fn enable_and_disable_are_busy_while_a_transition_runs() {
    use busy_errors::*;
    let t = SelfTest::new();
    t.load_lp(program_patch("first", vec![&GA]));
    let (gate, parked) = park_in(&t.log, f);
    t.load_lp_nowait(program_patch("p", vec![&FA]));
    let other = program_patch("other", vec![]);
    let err = t.run(|t| {
        t.log.take();
        t.rt.enable(other).unwrap_err()
    });
    assert!(matches!(
        err,
        EnableError::Busy {
            patch: "other",
            in_transition: "p"
        }
    ));
    assert_eq!(
        err.to_string(),
        "patch 'p' is in transition; wait for it to complete, then enable 'other'"
    );
    let enable_err = err;
    let err = t.run(|t| t.rt.disable("first").unwrap_err());
    assert_eq!(
        err,
        SetEnabledError::Busy {
            patch: "first",
            in_transition: "p"
        }
    );
    // One kind for both operations' busy errors.
    assert_eq!(
        (enable_err.kind(), err.kind()),
        (ErrorKind::Busy, ErrorKind::Busy)
    );
    // Busy errors print nothing and change nothing.
    assert_eq!(t.log.lines(), Vec::<String>::new());
    let err =
        t.rt.wait_transition(std::time::Duration::from_millis(20))
            .unwrap_err();
    assert!(matches!(err, TransitionError::TimedOut { patch: "p", .. }));
    assert_eq!(err.kind(), ErrorKind::TimedOut);
    gate.release();
    parked.join().unwrap();
    t.wait_transition();
    assert_eq!(f(&open()), "A");
}

functions!(unchanged, ObjectName::Program);

#[test]
fn threads_inside_unchanged_functions_or_outside_patchable_code_never_block() {
    use unchanged::*;
    let t = SelfTest::new();
    // One thread parked inside g, which the patch does not change...
    let (in_g, parked_in_g) = park_in(&t.log, g);
    // ...one that ran f and now waits on a lock, outside any patchable function...
    let lock = Arc::new(std::sync::Mutex::new(()));
    let held = lock.lock().unwrap();
    let waiter_lock = Arc::clone(&lock);
    let ran_f = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let ran = Arc::clone(&ran_f);
    let waiter = std::thread::spawn(move || {
        f(&Gate::open());
        ran.store(true, std::sync::atomic::Ordering::SeqCst);
        drop(waiter_lock.lock().unwrap());
    });
    eventually("the waiter ran f", || {
        ran_f.load(std::sync::atomic::Ordering::SeqCst)
    });
    // ...and this thread, which never ran patchable code.
    t.rt.enable(program_patch("p", vec![&FA])).unwrap();
    assert_eq!(t.rt.transition(), None, "the enable completed at once");
    assert_eq!(f(&open()), "A");
    drop(held);
    waiter.join().unwrap();
    in_g.release();
    assert_eq!(parked_in_g.join().unwrap(), "original");
}

functions!(consistency, ObjectName::Program);

#[test]
fn an_unswitched_thread_keeps_the_old_code_of_every_function_of_the_transition() {
    use consistency::*;
    let t = SelfTest::new();
    // The thread parks inside f; once released it calls g, which the same patch replaces.
    let gate = Gate::closed();
    let inside = Arc::clone(&gate);
    let thread = std::thread::spawn(move || {
        let outer = f(&inside);
        (outer, g(&Gate::open()))
    });
    gate.wait_inside(1);
    t.load_lp_nowait(program_patch("p", vec![&FA, &GA]));
    // A new thread is switched: it runs the new code of both.
    let fresh = std::thread::spawn(|| (f(&Gate::open()), g(&Gate::open())));
    assert_eq!(fresh.join().unwrap(), ("A", "A"));
    // The parked thread entered f before the patch: it must get the old g too. It is inside f,
    // which blocks its switch.
    let states: Vec<_> =
        t.rt.thread_states()
            .into_iter()
            .filter(|s| s.thread == thread.thread().id())
            .map(|s| (s.state, s.inside))
            .collect();
    assert_eq!(states, [(0, vec!["f"])]);
    gate.release();
    assert_eq!(thread.join().unwrap(), ("original", "original"));
    t.wait_transition();
    assert_eq!((f(&open()), g(&open())), ("A", "A"));
    assert!(t.rt.thread_states().iter().all(|s| s.state == -1));
}

functions!(loading_while_unpatching, ObjectName::Named("net"));

#[test]
fn an_object_loading_during_an_unpatching_transition_gets_post_unpatch_at_completion() {
    use loading_while_unpatching::*;
    let t = SelfTest::new();
    t.rt.load_object("net").unwrap();
    let p = patch("p", false, ObjectDesc::named("net"), vec![&FA]);
    t.load_lp(p);
    let (gate, parked) = park_in(&t.log, f);
    t.run(|t| {
        t.log.take();
        t.disable_lp_nowait("p");
        t.rt.unload_object("net").unwrap();
        t.rt.load_object("net").unwrap();
        gate.release();
        assert_eq!(parked.join().unwrap(), "A");
        t.wait_transition();
    });
    assert_log(
        &t.log.lines(),
        "
        % echo 0 > /sys/kernel/livepatch/p/enabled
        livepatch: 'p': initializing unpatching transition
        test: p: pre_unpatch: net
        livepatch: 'p': starting unpatching transition
        livepatch: reverting patch 'p' on unloading module 'net'
        test: p: post_unpatch: net (ObjectUnloaded)
        livepatch: applying patch 'p' to loading module 'net'
        test: p: pre_patch: net
        livepatch: 'p': completing unpatching transition
        test: p: post_unpatch: net (Disabled)
        livepatch: 'p': unpatching complete
        ",
    );
    assert_eq!(f(&open()), "original");
}

functions!(other_runtime, ObjectName::Program);

#[test]
fn patching_fails_when_another_runtime_is_changing_the_function() {
    use other_runtime::*;
    let first = SelfTest::new();
    let (gate, parked) = park_in(&first.log, f);
    first.load_lp_nowait(program_patch("first", vec![&FA]));
    let t = SelfTest::new();
    let p = leak(PatchDesc::new("second").objects(slice(vec![
        record::all(ObjectDesc::named("net")),
        record::all(ObjectDesc::program()).functions(slice(vec![FuncDesc::new(&FB)])),
    ])));
    t.rt.load_object("net").unwrap();
    let err = t.run(|t| t.rt.enable(p).unwrap_err());
    assert_eq!(
        err.to_string(),
        "patch 'second' could not patch object 'vmlinux': function 'f' is in transition in \
         another runtime; wait for that transition to complete"
    );
    assert_eq!(err.kind(), ErrorKind::FunctionBusy);
    // Object k's pre_patch succeeded, so it gets post_unpatch too.
    assert_log(
        &t.log.lines(),
        "
        livepatch: enabling patch 'second'
        livepatch: 'second': initializing patching transition
        test: second: pre_patch: net
        test: second: pre_patch: vmlinux
        livepatch: failed to patch object 'vmlinux'
        livepatch: failed to enable patch 'second'
        livepatch: 'second': canceling patching transition, going to unpatch
        livepatch: 'second': completing unpatching transition
        test: second: post_unpatch: net (Cancelled)
        test: second: post_unpatch: vmlinux (Cancelled)
        livepatch: 'second': unpatching complete
        ",
    );
    assert!(t.rt.patches().is_empty());
    gate.release();
    parked.join().unwrap();
    first.wait_transition();
    assert_eq!(f(&open()), "A");
}

functions!(bad_descriptors, ObjectName::Named("net"));

#[test]
fn functions_listed_under_the_wrong_object_or_twice_are_refused() {
    use bad_descriptors::*;
    let t = SelfTest::new();
    let wrong = leak(PatchDesc::new("wrong").objects(slice(vec![
        ObjectDesc::program().functions(slice(vec![FuncDesc::new(&FA)])),
    ])));
    let err = t.rt.enable(wrong).unwrap_err();
    assert!(matches!(
        err,
        EnableError::InvalidDescriptor(DescriptorError::FunctionInWrongObject {
            patch: "wrong",
            function: "f",
            listed: ObjectName::Program,
            belongs: ObjectName::Named("net"),
        })
    ));
    assert_eq!(
        err.to_string(),
        "patch 'wrong' lists function 'f' under object 'vmlinux', but it belongs to object \
         'net'; move it to that object's entry"
    );
    let twice = patch(
        "twice",
        false,
        ObjectDesc::named("net"),
        vec![&GA, &FA, &GB],
    );
    let err = t.rt.enable(twice).unwrap_err();
    assert_eq!(
        err.to_string(),
        "patch 'twice' replaces function 'g' twice; keep one replacement"
    );
    assert!(t.rt.patches().is_empty());
}

functions!(vmlinux_slots, ObjectName::Named("vmlinux"));

#[test]
fn a_function_of_an_object_that_can_never_load_is_refused() {
    use vmlinux_slots::*;
    let t = SelfTest::new();
    // Listed under the program: the slot's object is a named `vmlinux`, which no load can
    // bring, not the program.
    let listed = leak(PatchDesc::new("listed").objects(slice(vec![
        ObjectDesc::program().functions(slice(vec![FuncDesc::new(&FA)])),
    ])));
    let err = t.rt.enable(listed).unwrap_err();
    assert!(matches!(
        err,
        EnableError::InvalidDescriptor(DescriptorError::FunctionOfUnloadableObject {
            patch: "listed",
            function: "f",
            object: "vmlinux",
        })
    ));
    assert_eq!(
        err.to_string(),
        "patch 'listed' replaces function 'f', whose slot belongs to object 'vmlinux', which can \
         never be loaded: declare the slot with ObjectName::Program for the program itself, and \
         a non-empty name other than 'vmlinux' for any other object"
    );
    assert!(t.rt.patches().is_empty());
    assert_eq!(f(&open()), "original");
}

functions!(loading_busy, ObjectName::Named("net"));

#[test]
fn loading_an_object_whose_function_another_runtime_is_changing_is_refused() {
    use loading_busy::*;
    // Runtime `first` holds f of "net" in transition (a thread is parked inside it).
    let first = SelfTest::new();
    first.rt.load_object("net").unwrap();
    let (gate, parked) = park_in(&first.log, f);
    first.load_lp_nowait(patch("first", false, ObjectDesc::named("net"), vec![&FA]));
    // Runtime `t` has a patch for f enabled, waiting for "net" to load.
    let t = SelfTest::new();
    t.load_lp(patch("p", false, ObjectDesc::named("net"), vec![&FB]));
    let err = t.run(|t| {
        t.log.take();
        t.rt.load_object("net").unwrap_err()
    });
    assert_eq!(
        err.to_string(),
        "patch 'p' could not be applied to object 'net': function 'f' is in transition in \
         another runtime"
    );
    assert_eq!(err.kind(), ErrorKind::FunctionBusy);
    assert_log(
        &t.log.lines(),
        "
        livepatch: applying patch 'p' to loading module 'net'
        test: p: pre_patch: net
        livepatch: failed to apply patch 'p' to module 'net'
        test: p: post_unpatch: net (LoadRefused)
        livepatch: patch 'p' failed for module 'net', refusing to load module 'net'
        ",
    );
    assert!(!t.rt.is_object_loaded("net"));
    gate.release();
    assert_eq!(parked.join().unwrap(), "original");
    first.wait_transition();
    assert_eq!(f(&open()), "A");
}

functions!(force_reentered, ObjectName::Program);

#[test]
fn force_and_wait_from_a_callback_are_refused() {
    use force_reentered::*;
    static RT: std::sync::LazyLock<Runtime> = std::sync::LazyLock::new(Runtime::new);
    fn reenter(_: &mut PostPatch<'_>) {
        assert_eq!(
            RT.force(),
            Err(TransitionError::Reentered(
                livepatch::Reentered::OwnCallback
            ))
        );
        assert_eq!(
            RT.wait_transition(std::time::Duration::from_millis(1)),
            Err(TransitionError::Reentered(
                livepatch::Reentered::OwnCallback
            ))
        );
        tracing::info!(target: "test", "refused");
    }
    let p = leak(PatchDesc::new("p").objects(slice(vec![
        ObjectDesc::program()
            .post_patch(reenter)
            .functions(slice(vec![FuncDesc::new(&FA)])),
    ])));
    let log = livepatch::Dmesg::new();
    log.capture(|| RT.enable(p).unwrap());
    assert!(
        log.lines().contains(&"test: refused".to_owned()),
        "{:?}",
        log.lines()
    );
    assert_eq!(f(&open()), "A");
}

functions!(guard, ObjectName::Program);

#[test]
fn patched_code_sees_the_previous_state_only_while_the_transition_runs() {
    use guard::*;
    const STATE: StateHandle<u32> = StateHandle::new(4, 1);
    fn store(cx: &mut PrePatch<'_>) -> Result<(), CallbackError> {
        if let Some(mut s) = cx.state(STATE) {
            s.set(41);
        }
        Ok(())
    }
    let t = SelfTest::new();
    let old = leak(
        PatchDesc::new("old")
            .states(slice(vec![STATE.desc()]))
            .objects(slice(vec![ObjectDesc::program().pre_patch(store)])),
    );
    t.load_lp(old);
    assert!(matches!(
        t.rt.with_transition(|_| ()),
        Err(TransitionError::NoTransition)
    ));
    let (gate, parked) = park_in(&t.log, f);
    let new = leak(
        PatchDesc::new("new")
            .states(slice(vec![STATE.desc()]))
            .objects(slice(vec![
                ObjectDesc::program().functions(slice(vec![FuncDesc::new(&FA)])),
            ])),
    );
    t.load_lp_nowait(new);
    let seen =
        t.rt.with_transition(|tr| {
            let prev = tr
                .prev_state(STATE)
                .map(|p| (p.patch_name(), p.data::<u32>().ok().flatten().copied()));
            (tr.patch_name(), tr.target(), prev)
        })
        .unwrap();
    assert_eq!(
        seen,
        ("new", TransitionTarget::Patched, Some(("old", Some(41))))
    );
    gate.release();
    parked.join().unwrap();
    t.wait_transition();
}

functions!(later_object, ObjectName::Named("net"));

#[test]
fn functions_of_an_object_are_replaced_when_it_loads_and_restored_when_it_unloads() {
    use later_object::*;
    let t = SelfTest::new();
    t.load_lp(patch("p", false, ObjectDesc::named("net"), vec![&FA, &GA]));
    // "net" is not loaded: nothing of it is patched yet.
    assert_eq!((f(&open()), g(&open())), ("original", "original"));
    assert!(!t.rt.patch("p").unwrap().objects[0].patched);
    t.rt.load_object("net").unwrap();
    assert_eq!((f(&open()), g(&open())), ("A", "A"));
    assert!(t.rt.patch("p").unwrap().objects[0].patched);
    t.rt.unload_object("net").unwrap();
    assert_eq!((f(&open()), g(&open())), ("original", "original"));
    t.disable_lp("p");
}

functions!(levels, ObjectName::Program);

/// The levels SPEC §4 gives. The kernel prints the lines SPEC calls info with `pr_notice`
/// (`<5>`); `tracing` has no level between info and warn, so they come out as `<6>`.
#[test]
fn every_message_has_the_level_the_spec_gives() {
    use levels::*;
    let t = SelfTest::with_log(livepatch::Dmesg::new().levels());
    let refuse = leak(PatchDesc::new("refused").objects(slice(vec![
        ObjectDesc::program().pre_patch(record::failing_pre_patch),
    ])));
    let net = patch("net_patch", false, ObjectDesc::named("net"), vec![]);
    let net_refusing = leak(PatchDesc::new("net_refusing").objects(slice(vec![
        ObjectDesc::named("net").pre_patch(record::failing_pre_patch),
    ])));
    let cumulative = leak(
        PatchDesc::new("cumulative")
            .replace(true)
            .states(slice(vec![])),
    );
    let stateful =
        leak(PatchDesc::new("stateful").states(slice(vec![StateHandle::<()>::new(1, 1).desc()])));
    t.run(|t| {
        t.rt.enable(refuse).unwrap_err();
        t.rt.enable(stateful).unwrap();
        t.rt.enable(cumulative).unwrap_err();
        t.rt.enable(net).unwrap();
        t.rt.load_object("net").unwrap();
        t.rt.unload_object("net").unwrap();
        t.rt.enable(net_refusing).unwrap();
        t.rt.load_object("net").unwrap_err();
        // One thread in the old f and one in the new f hold both directions open.
        let (old_gate, old) = park_in(&t.log, f);
        t.rt.enable(program_patch("p", vec![&FA])).unwrap();
        let (new_gate, new) = park_in(&t.log, f);
        t.rt.disable("p").unwrap();
        t.rt.set_enabled("p", true).unwrap();
        t.rt.force().unwrap();
        old_gate.release();
        new_gate.release();
        assert_eq!(
            (old.join().unwrap(), new.join().unwrap()),
            ("original", "A")
        );
    });
    let lines: Vec<_> = t
        .log
        .lines()
        .into_iter()
        .filter(|l| l.contains("livepatch:"))
        .collect();
    assert_log(
        &lines,
        "
        <6>livepatch: enabling patch 'refused'
        <7>livepatch: 'refused': initializing patching transition
        <4>livepatch: pre-patch callback failed for object 'vmlinux'
        <4>livepatch: failed to enable patch 'refused'
        <7>livepatch: 'refused': canceling patching transition, going to unpatch
        <7>livepatch: 'refused': completing unpatching transition
        <6>livepatch: 'refused': unpatching complete
        <6>livepatch: enabling patch 'stateful'
        <7>livepatch: 'stateful': initializing patching transition
        <6>livepatch: 'stateful': starting patching transition
        <7>livepatch: 'stateful': completing patching transition
        <6>livepatch: 'stateful': patching complete
        <3>livepatch: Livepatch patch (cumulative) is not compatible with the already installed livepatches.
        <6>livepatch: enabling patch 'net_patch'
        <7>livepatch: 'net_patch': initializing patching transition
        <6>livepatch: 'net_patch': starting patching transition
        <7>livepatch: 'net_patch': completing patching transition
        <6>livepatch: 'net_patch': patching complete
        <6>livepatch: applying patch 'net_patch' to loading module 'net'
        <6>livepatch: reverting patch 'net_patch' on unloading module 'net'
        <6>livepatch: enabling patch 'net_refusing'
        <7>livepatch: 'net_refusing': initializing patching transition
        <6>livepatch: 'net_refusing': starting patching transition
        <7>livepatch: 'net_refusing': completing patching transition
        <6>livepatch: 'net_refusing': patching complete
        <6>livepatch: applying patch 'net_patch' to loading module 'net'
        <6>livepatch: applying patch 'net_refusing' to loading module 'net'
        <4>livepatch: pre-patch callback failed for object 'net'
        <4>livepatch: patch 'net_refusing' failed for module 'net', refusing to load module 'net'
        <6>livepatch: reverting patch 'net_patch' on unloading module 'net'
        <6>livepatch: enabling patch 'p'
        <7>livepatch: 'p': initializing patching transition
        <6>livepatch: 'p': starting patching transition
        <7>livepatch: 'p': reversing transition from patching to unpatching
        <6>livepatch: 'p': starting unpatching transition
        <7>livepatch: 'p': reversing transition from unpatching to patching
        <6>livepatch: 'p': starting patching transition
        <4>livepatch: forcing remaining tasks to the patched state
        <7>livepatch: 'p': completing patching transition
        <6>livepatch: 'p': patching complete
        ",
    );
}

functions!(dropped, ObjectName::Program);

#[test]
fn a_dropped_runtime_takes_its_patches_functions_with_it_even_mid_transition() {
    use dropped::*;
    {
        let t = SelfTest::new();
        t.load_lp(program_patch("settled", vec![&GA]));
        assert_eq!(g(&open()), "A");
    }
    assert_eq!(g(&open()), "original");
    let (gate, parked) = {
        let t = SelfTest::new();
        let (gate, parked) = park_in(&t.log, f);
        t.load_lp_nowait(program_patch("open", vec![&FA]));
        assert!(t.rt.transition().is_some());
        (gate, parked)
    };
    // The transition's lane is free again and no function is left in transition.
    assert_eq!(f(&open()), "original");
    gate.release();
    assert_eq!(parked.join().unwrap(), "original");
    let t = SelfTest::new();
    t.load_lp(program_patch("after", vec![&FA]));
    assert_eq!(f(&open()), "A");
}

functions!(newcomer_program, ObjectName::Program);
functions!(newcomer_net, ObjectName::Named("net"));

/// What a thread started in the middle of the enable ran: `f` of the program, then `g` of `net`.
static NEWCOMER_RAN: std::sync::Mutex<Option<(&str, &str)>> = std::sync::Mutex::new(None);

/// `net`'s `pre_patch` runs after the program's functions are published and before `net`'s are:
/// a thread making its first patchable call here sees `f` in transition and `g` not yet.
fn start_a_newcomer(_: &mut PrePatch<'_>) -> Result<(), CallbackError> {
    let ran = std::thread::spawn(|| (newcomer_program::f(&open()), newcomer_net::g(&open())));
    *NEWCOMER_RAN.lock().unwrap() = Some(ran.join().unwrap());
    Ok(())
}

#[test]
fn a_thread_that_starts_while_the_functions_are_published_runs_the_old_code_of_all() {
    let t = SelfTest::new();
    t.rt.load_object("net").unwrap();
    let p = leak(PatchDesc::new("p").objects(slice(vec![
        ObjectDesc::program().functions(slice(vec![FuncDesc::new(&newcomer_program::FA)])),
        ObjectDesc::named("net")
            .pre_patch(start_a_newcomer)
            .functions(slice(vec![FuncDesc::new(&newcomer_net::GA)])),
    ])));
    t.rt.enable(p).unwrap();
    assert_eq!(
        *NEWCOMER_RAN.lock().unwrap(),
        Some(("original", "original"))
    );
    t.wait_transition();
    assert_eq!(
        (newcomer_program::f(&open()), newcomer_net::g(&open())),
        ("A", "A")
    );
}
