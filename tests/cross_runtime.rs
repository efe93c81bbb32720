//! SPEC §7 across runtimes: two runtimes that patch the same functions never make a thread mix
//! old and new code of one transition. Whatever one runtime does to a function (dropping, a
//! disable, unloading an object, the nops of a replace patch) while another runtime's transition
//! changes it, the threads of that transition keep running one side of it; an operation that
//! would need a second transition on the function is refused instead.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use common::gate::{Gate, PATIENCE};
use livepatch::prelude::*;
use livepatch::{EnableError, FuncDesc, FuncSlot, ObjectName, Replacement, SetEnabledError};
use livepatch::{ObjectDesc, PatchDesc};

type Outer = fn(&Gate) -> (&'static str, &'static str);
type Inner = fn() -> &'static str;

/// The object entry for `name`.
const fn object_desc(name: ObjectName) -> ObjectDesc {
    match name {
        ObjectName::Program => ObjectDesc::program(),
        ObjectName::Named(name) => ObjectDesc::named(name),
    }
}

/// Functions `outer` (which parks at the gate, then calls `inner`) and `inner` of `$object`, with
/// runtime X's fix of `inner` and runtime Y's fix of both. Each test gets its own.
macro_rules! functions {
    ($module:ident, $object:expr) => {
        #[allow(dead_code, reason = "each test uses some of the items")]
        mod $module {
            use super::*;

            pub static OUTER: FuncSlot<Outer> = FuncSlot::new("outer", $object, |gate| {
                gate.visit();
                ("outer", inner())
            });
            pub static INNER: FuncSlot<Inner> = FuncSlot::new("inner", $object, || "original");
            pub fn outer(gate: &Gate) -> (&'static str, &'static str) {
                OUTER.call(|f| f(gate))
            }
            pub fn inner() -> &'static str {
                INNER.call(|f| f())
            }
            static X_INNER: Replacement<Inner> = Replacement::new(&INNER, || "X");
            static Y_OUTER: Replacement<Outer> = Replacement::new(&OUTER, |gate| {
                gate.visit();
                ("Y", inner())
            });
            static Y_INNER: Replacement<Inner> = Replacement::new(&INNER, || "Y");
            static X_FUNCS: [FuncDesc; 1] = [FuncDesc::new(&X_INNER)];
            static Y_FUNCS: [FuncDesc; 2] = [FuncDesc::new(&Y_OUTER), FuncDesc::new(&Y_INNER)];
            static X_OBJECTS: [ObjectDesc; 1] = [object_desc($object).functions(&X_FUNCS)];
            static Y_OBJECTS: [ObjectDesc; 1] = [object_desc($object).functions(&Y_FUNCS)];
            pub static X: PatchDesc = PatchDesc::new("x").objects(&X_OBJECTS);
            pub static Y: PatchDesc = PatchDesc::new("y").objects(&Y_OBJECTS);
            /// A replace patch of runtime X that replaces nothing: its nop restores `inner`.
            pub static X_REPLACE: PatchDesc = PatchDesc::new("x-replace")
                .replace(true)
                .objects(&X_NOP_OBJECTS);
            static X_NOP_OBJECTS: [ObjectDesc; 1] = [object_desc($object)];
        }
    };
}

/// X has fixed `inner`; a thread is parked inside the original `outer`; Y's patch of both is
/// in transition, held open by that thread.
fn setup(
    x_patch: &'static PatchDesc,
    y_patch: &'static PatchDesc,
    outer: fn(&Gate) -> (&'static str, &'static str),
    prepare: impl Fn(&Runtime),
) -> (
    Runtime,
    Runtime,
    Arc<Gate>,
    std::thread::JoinHandle<(&'static str, &'static str)>,
) {
    let (x, y) = (Runtime::new(), Runtime::new());
    prepare(&x);
    prepare(&y);
    x.enable(x_patch).unwrap();
    x.wait_transition(PATIENCE).unwrap();
    let gate = Gate::closed();
    let inside = Arc::clone(&gate);
    let parked = std::thread::spawn(move || outer(&inside));
    gate.wait_inside(1);
    y.enable(y_patch).unwrap();
    assert_eq!(y.transition().map(|t| t.patch), Some("y"));
    (x, y, gate, parked)
}

functions!(dropped, ObjectName::Program);

#[test]
fn dropping_a_runtime_keeps_the_other_runtimes_transition_whole() {
    use dropped::*;
    let (x, y, gate, parked) = setup(&X, &Y, outer, |_| {});
    drop(x);
    gate.release();
    // The parked thread has not switched to Y's code: it runs the code below Y's patch, which
    // is the original now that X is gone, and never Y's `inner` under the old `outer`.
    assert_eq!(parked.join().unwrap(), ("outer", "original"));
    y.wait_transition(PATIENCE).unwrap();
    assert_eq!(outer(&Gate::open()), ("Y", "Y"));
}

functions!(disabled, ObjectName::Program);

#[test]
fn a_disable_of_a_function_in_another_runtimes_transition_is_refused() {
    use disabled::*;
    let (x, y, gate, parked) = setup(&X, &Y, outer, |_| {});
    let err = x.disable("x").unwrap_err();
    assert_eq!(
        err,
        SetEnabledError::FunctionBusy {
            patch: "x",
            function: "inner",
        }
    );
    assert_eq!(
        err.to_string(),
        "patch 'x' cannot start unpatching: function 'inner' is in transition in another \
         runtime; wait for that transition to complete, then disable 'x'"
    );
    assert!(x.patch("x").is_some_and(|p| p.enabled && !p.transition));
    gate.release();
    assert_eq!(parked.join().unwrap(), ("outer", "X"));
    y.wait_transition(PATIENCE).unwrap();
    assert_eq!(outer(&Gate::open()), ("Y", "Y"));
    // Once Y's transition is over, X's disable goes through; Y's fix stays on top.
    x.disable("x").unwrap();
    x.wait_transition(PATIENCE).unwrap();
    assert!(x.patches().is_empty());
    assert_eq!(outer(&Gate::open()), ("Y", "Y"));
}

functions!(replaced, ObjectName::Program);

#[test]
fn a_replace_patch_whose_nop_would_change_a_function_in_another_runtimes_transition_is_refused() {
    use replaced::*;
    let (x, y, gate, parked) = setup(&X, &Y, outer, |_| {});
    let err = x.enable(&X_REPLACE).unwrap_err();
    assert!(matches!(
        err,
        EnableError::PatchFailed {
            patch: "x-replace",
            object: ObjectName::Program,
            function: "inner",
        }
    ));
    assert_eq!(
        err.to_string(),
        "patch 'x-replace' could not patch object 'vmlinux': function 'inner' is in transition \
         in another runtime; wait for that transition to complete"
    );
    assert_eq!(
        x.patches().iter().map(|p| p.name).collect::<Vec<_>>(),
        ["x"]
    );
    gate.release();
    assert_eq!(parked.join().unwrap(), ("outer", "X"));
    y.wait_transition(PATIENCE).unwrap();
    // Afterwards the replace patch goes through: its nop sits under Y's fix.
    x.enable(&X_REPLACE).unwrap();
    x.wait_transition(PATIENCE).unwrap();
    assert_eq!(
        x.patches().iter().map(|p| p.name).collect::<Vec<_>>(),
        ["x-replace"]
    );
    assert_eq!(outer(&Gate::open()), ("Y", "Y"));
    y.disable("y").unwrap();
    y.wait_transition(PATIENCE).unwrap();
    assert_eq!(outer(&Gate::open()), ("outer", "original"));
}

functions!(unloaded, ObjectName::Named("net"));

#[test]
fn unloading_an_object_keeps_the_other_runtimes_transition_whole() {
    use unloaded::*;
    let (x, y, gate, parked) = setup(&X, &Y, outer, |rt| rt.load_object("net").unwrap());
    x.unload_object("net").unwrap();
    gate.release();
    assert_eq!(parked.join().unwrap(), ("outer", "original"));
    y.wait_transition(PATIENCE).unwrap();
    assert_eq!(outer(&Gate::open()), ("Y", "Y"));
    y.unload_object("net").unwrap();
    assert_eq!(outer(&Gate::open()), ("outer", "original"));
}

functions!(stressed, ObjectName::Program);

/// Every pair a call of `outer` may return. Y's threads run one side of Y's transition: the
/// original `outer` with the `inner` below Y's fix, or both of Y's. X's fix of `inner` is one
/// function, any side of which is consistent, and lies above Y's when X enabled it later.
/// Never seen: the original `outer` with Y's `inner`, or Y's `outer` with the original `inner`.
fn consistent(pair: (&str, &str)) -> bool {
    matches!(
        pair,
        ("outer", "original") | ("outer", "X") | ("Y", "Y") | ("Y", "X")
    )
}

#[test]
fn two_runtimes_sharing_functions_under_load_never_mix_a_transition() {
    use stressed::*;
    const WORKERS: usize = 3;
    const ROUNDS: usize = 3000;
    let stop = Arc::new(AtomicBool::new(false));
    let workers: Vec<_> = (0..WORKERS)
        .map(|_| {
            let stop = Arc::clone(&stop);
            std::thread::spawn(move || {
                let gate = Gate::open();
                let (mut calls, mut mixed) = (0u64, Vec::new());
                while !stop.load(Ordering::Relaxed) {
                    let pair = outer(&gate);
                    calls += 1;
                    if !consistent(pair) && mixed.len() < 10 {
                        mixed.push(pair);
                    }
                }
                (calls, mixed)
            })
        })
        .collect();
    let mut x = Runtime::new();
    let y = Runtime::new();
    let short = Duration::from_millis(2);
    for round in 0..ROUNDS {
        // Errors are expected here (busy functions, a patch already on or off): the rule under
        // test is what the workers see.
        match round % 6 {
            0 => drop(x.enable(&X)),
            1 => drop(y.enable(&Y)),
            2 => drop(x.disable("x")),
            3 => drop(y.disable("y")),
            4 => drop(x.wait_transition(short)),
            _ => {
                if round % 12 == 5 {
                    // Dropped in the middle of whatever it was doing.
                    x = Runtime::new();
                } else {
                    drop(y.wait_transition(short));
                }
            }
        }
    }
    stop.store(true, Ordering::Relaxed);
    for worker in workers {
        let (calls, mixed) = worker.join().unwrap();
        assert!(calls > 0);
        assert_eq!(mixed, Vec::<(&str, &str)>::new());
    }
    drop(x);
    y.wait_transition(PATIENCE).unwrap();
}
