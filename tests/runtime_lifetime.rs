//! A runtime's lifetime and its locks: once `drop(Runtime)` returns nothing of that runtime runs
//! any more, and two runtimes whose callbacks call into each other refuse instead of hanging.

mod common;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::gate::{Gate, PATIENCE};
use livepatch::prelude::*;
use livepatch::{EnableError, FuncDesc, FuncSlot, ObjectName, Reentered, Replacement};
use livepatch::{ObjectDesc, PatchDesc};

type Labeled = fn(&Gate) -> &'static str;

static WORK: FuncSlot<Labeled> = FuncSlot::new("work", ObjectName::Program, |gate| {
    gate.visit();
    "original"
});
static WORK_FIX: Replacement<Labeled> = Replacement::new(&WORK, |gate| {
    gate.visit();
    "fixed"
});
static FUNCS: [FuncDesc; 1] = [FuncDesc::new(&WORK_FIX)];

fn work(gate: &Gate) -> &'static str {
    WORK.call(|f| f(gate))
}

/// Where the slow `post_patch` reports that it started.
static STARTED: Mutex<Option<mpsc::Sender<()>>> = Mutex::new(None);
/// How many slow `post_patch` calls finished.
static FINISHED: AtomicUsize = AtomicUsize::new(0);

fn slow_post_patch(_: &mut PostPatch<'_>) {
    if let Some(started) = STARTED.lock().unwrap().as_ref() {
        started.send(()).unwrap();
    }
    std::thread::sleep(Duration::from_millis(50));
    FINISHED.fetch_add(1, Ordering::SeqCst);
}

static OBJECTS: [ObjectDesc; 1] = [ObjectDesc::program()
    .post_patch(slow_post_patch)
    .functions(&FUNCS)];
static SLOW: PatchDesc = PatchDesc::new("slow").objects(&OBJECTS);

/// One test at a time uses `WORK` and the counters.
static SERIAL: Mutex<()> = Mutex::new(());

/// A thread parked inside `work`, so that the enable needs the driver thread to complete.
fn park_in_work() -> (Arc<Gate>, std::thread::JoinHandle<&'static str>) {
    let gate = Gate::closed();
    let inside = Arc::clone(&gate);
    let thread = std::thread::spawn(move || work(&inside));
    gate.wait_inside(1);
    (gate, thread)
}

#[test]
fn drop_waits_for_a_driver_that_is_completing_a_transition() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let (started, reports) = mpsc::channel();
    *STARTED.lock().unwrap() = Some(started);
    let before = FINISHED.load(Ordering::SeqCst);
    let rt = Runtime::new();
    let (gate, parked) = park_in_work();
    rt.enable(&SLOW).unwrap();
    assert!(rt.transition().is_some());
    gate.release();
    assert_eq!(parked.join().unwrap(), "original");
    // The driver completes the transition and is now inside `post_patch`.
    reports.recv_timeout(PATIENCE).unwrap();
    drop(rt);
    assert_eq!(FINISHED.load(Ordering::SeqCst), before + 1);
    assert_eq!(work(&Gate::open()), "original");
    *STARTED.lock().unwrap() = None;
}

#[test]
fn a_transition_still_open_at_drop_never_completes() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let before = FINISHED.load(Ordering::SeqCst);
    let rt = Runtime::new();
    let (gate, parked) = park_in_work();
    rt.enable(&SLOW).unwrap();
    drop(rt);
    gate.release();
    assert_eq!(parked.join().unwrap(), "original");
    assert_eq!(work(&Gate::open()), "original");
    // Every driver was joined by `drop`: no `post_patch` can run any more.
    assert_eq!(FINISHED.load(Ordering::SeqCst), before);
}

/// Two runtimes whose `pre_patch` each enable a patch on the other, from two threads at once.
mod crossed {
    use super::*;

    pub static X: std::sync::OnceLock<Runtime> = std::sync::OnceLock::new();
    pub static Y: std::sync::OnceLock<Runtime> = std::sync::OnceLock::new();
    /// Both `pre_patch` callbacks wait here, so that each holds its runtime when it calls the
    /// other.
    pub static BOTH_INSIDE: std::sync::Barrier = std::sync::Barrier::new(2);
    pub static ANSWERS: Mutex<Vec<(&'static str, Result<(), EnableError>)>> =
        Mutex::new(Vec::new());

    static EMPTY: [ObjectDesc; 1] = [ObjectDesc::program()];
    pub static INNER_X: PatchDesc = PatchDesc::new("inner-x").objects(&EMPTY);
    pub static INNER_Y: PatchDesc = PatchDesc::new("inner-y").objects(&EMPTY);

    fn x_pre_patch(_: &mut PrePatch<'_>) -> Result<(), CallbackError> {
        BOTH_INSIDE.wait();
        let answer = Y.get().unwrap().enable(&INNER_Y);
        ANSWERS.lock().unwrap().push(("x calls y", answer));
        Ok(())
    }

    fn y_pre_patch(_: &mut PrePatch<'_>) -> Result<(), CallbackError> {
        BOTH_INSIDE.wait();
        let answer = X.get().unwrap().enable(&INNER_X);
        ANSWERS.lock().unwrap().push(("y calls x", answer));
        Ok(())
    }

    static X_OBJECTS: [ObjectDesc; 1] = [ObjectDesc::program().pre_patch(x_pre_patch)];
    static Y_OBJECTS: [ObjectDesc; 1] = [ObjectDesc::program().pre_patch(y_pre_patch)];
    pub static OUTER_X: PatchDesc = PatchDesc::new("outer-x").objects(&X_OBJECTS);
    pub static OUTER_Y: PatchDesc = PatchDesc::new("outer-y").objects(&Y_OBJECTS);
}

#[test]
fn callbacks_of_two_runtimes_calling_each_other_are_refused_not_deadlocked() {
    use crossed::*;
    X.get_or_init(Runtime::new);
    Y.get_or_init(Runtime::new);
    let (done, finished) = mpsc::channel();
    for (rt, patch) in [(&X, &OUTER_X), (&Y, &OUTER_Y)] {
        let done = done.clone();
        std::thread::spawn(move || {
            let result = rt.get().unwrap().enable(patch);
            done.send(result).unwrap();
        });
    }
    for _ in 0..2 {
        // A deadlock would leave both threads blocked: the bound makes the test fail instead.
        let result = finished.recv_timeout(PATIENCE).unwrap();
        assert!(result.is_ok(), "{result:?}");
    }
    let answers = std::mem::take(&mut *ANSWERS.lock().unwrap());
    // Exactly one of the two calls closes the cycle and is refused; the other waits for the
    // refused side's operation to end, and then succeeds.
    let refused: Vec<_> = answers
        .iter()
        .filter_map(|(_, answer)| answer.as_ref().err())
        .collect();
    assert_eq!(refused.len(), 1, "{answers:?}");
    assert!(matches!(
        refused[0],
        EnableError::Reentered(Reentered::Deadlock)
    ));
    assert_eq!(
        refused[0].to_string(),
        "the runtime is held by a thread that is waiting for a runtime this thread holds: \
         waiting would never end; do the work after the callback returns"
    );
    let names = |rt: &Runtime| rt.patches().iter().map(|p| p.name).collect::<Vec<_>>();
    let (x, y) = (names(X.get().unwrap()), names(Y.get().unwrap()));
    let enabled = x.len() + y.len();
    assert_eq!(enabled, 3, "{x:?} {y:?}");
    assert!(x.contains(&"outer-x") && y.contains(&"outer-y"));
}
