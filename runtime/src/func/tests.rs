//! Unit tests of the call path and the transition side, small enough for Miri, which checks the
//! `unsafe` reads of views and function words:
//! `cargo +nightly miri test -p livepatch-runtime func::`.

use std::sync::{Arc, Condvar, Mutex};
use std::time::Duration;

use super::{FuncDesc, FuncSlot, Replacement};
use crate::{ObjectDesc, ObjectName, PatchDesc, Runtime};

type Step = fn(&Park) -> u32;

/// Where a thread waits inside a function until told to go on.
#[derive(Default)]
struct Park {
    hold: bool,
    state: Mutex<(bool, bool)>,
    changed: Condvar,
}

impl Park {
    fn visit(&self) {
        if !self.hold {
            return;
        }
        let mut state = self.state.lock().unwrap();
        state.0 = true;
        self.changed.notify_all();
        while !state.1 {
            state = self.changed.wait(state).unwrap();
        }
    }

    fn wait_inside(&self) {
        let mut state = self.state.lock().unwrap();
        while !state.0 {
            state = self.changed.wait(state).unwrap();
        }
    }

    fn release(&self) {
        self.state.lock().unwrap().1 = true;
        self.changed.notify_all();
    }
}

static OUTER: FuncSlot<Step> = FuncSlot::new("outer", ObjectName::Program, |p| {
    p.visit();
    10 + inner()
});
static INNER: FuncSlot<fn() -> u32> = FuncSlot::new("inner", ObjectName::Program, || 1);
static OUTER_NEW: Replacement<Step> = Replacement::new(&OUTER, |p| {
    p.visit();
    20 + inner()
});
static INNER_NEW: Replacement<fn() -> u32> = Replacement::new(&INNER, || 2);
static FUNCS: [FuncDesc; 2] = [FuncDesc::new(&OUTER_NEW), FuncDesc::new(&INNER_NEW)];
static OBJECTS: [ObjectDesc; 1] = [ObjectDesc::program().functions(&FUNCS)];
static PATCH: PatchDesc = PatchDesc::new("p").objects(&OBJECTS);

fn outer(p: &Park) -> u32 {
    OUTER.call(|f| f(p))
}

fn inner() -> u32 {
    INNER.call(|f| f())
}

#[test]
fn calls_follow_the_patch_through_a_transition_held_open_by_a_thread() {
    let free = Park::default();
    assert_eq!(outer(&free), 11);

    let held = Arc::new(Park {
        hold: true,
        ..Park::default()
    });
    let inside = Arc::clone(&held);
    let thread = std::thread::spawn(move || outer(&inside));
    held.wait_inside();

    let rt = Runtime::new();
    rt.enable(&PATCH).unwrap();
    assert!(rt.transition().is_some());
    // This thread is outside both functions: switched, it runs the new code of both.
    assert_eq!(outer(&free), 22);
    held.release();
    // The held thread entered the old outer: it keeps the old inner.
    assert_eq!(thread.join().unwrap(), 11);
    rt.wait_transition(Duration::from_secs(60)).unwrap();
    assert_eq!(outer(&free), 22);

    rt.disable("p").unwrap();
    rt.wait_transition(Duration::from_secs(60)).unwrap();
    assert_eq!(outer(&free), 11);
    // Enabling again reuses the interned views of the settled states.
    rt.enable(&PATCH).unwrap();
    rt.wait_transition(Duration::from_secs(60)).unwrap();
    assert_eq!(outer(&free), 22);
    rt.disable("p").unwrap();
    rt.wait_transition(Duration::from_secs(60)).unwrap();
}

/// A stack entry a switcher reads before the thread wrote it is the 0 every stack starts with:
/// it names no function, and nothing is read through it.
#[test]
fn an_unwritten_stack_entry_is_no_changed_function() {
    assert!(!super::slot::is_changed(0, 0, 1));
}
