//! A loom model of the switch protocol between a thread calling patchable functions and a
//! transition switching it (SPEC §7): whatever the interleaving, a thread that calls an outer
//! function which calls an inner one, both changed by one transition, runs either the old code of
//! both or the new code of both, and once it has run new code it never runs old code again.
//!
//! Run with: `RUSTFLAGS="--cfg loom" cargo test -p livepatch-runtime --test loom --release`.
//! `membarrier` cannot be modelled; as the protocol's notes say, it is modelled as a `SeqCst`
//! fence on both sides.

#![cfg(loom)]

/// What `protocol.rs` is written against, here with loom's atomics and small sizes.
mod sync {
    pub use loom::sync::atomic::{AtomicU32, AtomicU64, AtomicUsize, Ordering, fence};
    pub const MAX_DEPTH: usize = 4;
    pub const LANES: usize = 1;
}

#[allow(dead_code)]
#[path = "../src/func/protocol.rs"]
mod protocol;

use loom::sync::atomic::{AtomicU64, AtomicUsize, Ordering, fence};
use loom::sync::{Arc, Mutex};
use protocol::{LaneControl, ThreadCore, ThreadState, switch_threads};

const IN_TRANSITION: usize = 1;
/// Function words: the settled old code, the transition (both variants), the settled new code.
const OLD: usize = 2;
const TRANSITION: usize = 4 | IN_TRANSITION;
const NEW: usize = 8;

const OUTER: usize = 1;
const INNER: usize = 2;
const GENERATION: u64 = 1;

struct Model {
    thread: ThreadCore,
    /// Whether the thread is in the registry, under the registry's lock: a transition switches
    /// the threads it finds there.
    registered: Mutex<bool>,
    outer: AtomicUsize,
    inner: AtomicUsize,
    control: AtomicU64,
}

impl Model {
    fn word(&self, id: usize) -> &AtomicUsize {
        if id == OUTER {
            &self.outer
        } else {
            &self.inner
        }
    }

    fn changed(&self, id: usize) -> bool {
        self.word(id).load(Ordering::Acquire) & IN_TRANSITION != 0
    }

    /// One call of function `id` by the model thread: returns whether it ran the new code, and
    /// runs `body` inside it.
    fn call(&self, id: usize, body: impl FnOnce() -> Option<bool>) -> (bool, Option<bool>) {
        let depth = self.thread.push(id);
        fence(Ordering::SeqCst); // membarrier's half on the call path
        let mut word = self.word(id).load(Ordering::Acquire);
        let mut slow = false;
        let new = loop {
            if word & IN_TRANSITION == 0 {
                break word == NEW;
            }
            slow = true;
            match self
                .thread
                .runs_patched(0, GENERATION, &loom::thread::yield_now)
            {
                Some(patched) => break patched,
                None => word = self.word(id).load(Ordering::Acquire),
            }
        };
        let inner = body();
        self.thread.pop(depth);
        if slow {
            let control = LaneControl::unpack(self.control.load(Ordering::Acquire));
            if control.generation == GENERATION {
                self.thread.try_switch_self(
                    0,
                    control,
                    &|| LaneControl::unpack(self.control.load(Ordering::Acquire)),
                    &|id| self.changed(id),
                );
            }
        }
        (new, inner)
    }

    /// The model thread's calls: the outer function, which calls the inner one, twice. Returns
    /// whether each function ran its new code, in call order.
    fn call_twice(&self) -> Vec<bool> {
        let mut seen = Vec::new();
        for _ in 0..2 {
            let (outer, inner) = self.call(OUTER, || Some(self.call(INNER, || None).0));
            seen.push(outer);
            seen.push(inner.unwrap_or(outer));
        }
        seen
    }

    /// The transition side after the lane is taken: every function published in transition,
    /// only then the start, one round of switching, and completion if it switched the thread.
    fn run_transition(&self) {
        self.outer.store(TRANSITION, Ordering::Release);
        self.inner.store(TRANSITION, Ordering::Release);
        let started = LaneControl {
            generation: GENERATION,
            started: true,
            target_patched: true,
        };
        self.control.store(started.pack(), Ordering::Release);
        let threads: Vec<&ThreadCore> = match *self.registered.lock().unwrap() {
            true => vec![&self.thread],
            false => Vec::new(),
        };
        let barrier = || fence(Ordering::SeqCst); // membarrier's half on the switcher
        let remaining = switch_threads(
            &threads,
            0,
            started,
            &|id| self.changed(id),
            &barrier,
            &|_| {},
        );
        if remaining == 0 {
            // Completion: the final words, the lane idle; thread states are not reset.
            self.outer.store(NEW, Ordering::Release);
            self.inner.store(NEW, Ordering::Release);
            self.control
                .store(LaneControl::IDLE.pack(), Ordering::Release);
        }
    }
}

/// Every interleaving with up to this many preemptions; more gives the same answer, slower.
const PREEMPTIONS: usize = 3;

#[test]
fn a_thread_never_mixes_old_and_new_functions_of_one_transition() {
    let mut builder = loom::model::Builder::new();
    builder.preemption_bound = Some(PREEMPTIONS);
    builder.check(|| {
        let model = Arc::new(Model {
            thread: ThreadCore::default(),
            registered: Mutex::new(true),
            outer: AtomicUsize::new(OLD),
            inner: AtomicUsize::new(OLD),
            control: AtomicU64::new(LaneControl::IDLE.pack()),
        });
        // The transition's start: the thread in the initial state...
        model.thread.set_state(
            0,
            ThreadState {
                generation: GENERATION,
                patched: false,
            },
        );
        let caller = {
            let model = Arc::clone(&model);
            loom::thread::spawn(move || model.call_twice())
        };
        model.run_transition();
        assert_consistent(&caller.join().unwrap());
    });
}

#[test]
fn a_thread_registering_while_the_functions_are_published_never_mixes() {
    let mut builder = loom::model::Builder::new();
    builder.preemption_bound = Some(PREEMPTIONS);
    builder.check(|| {
        // The lane is taken (under the registry's lock, before the thread registers), and the
        // functions are not published yet.
        let model = Arc::new(Model {
            thread: ThreadCore::default(),
            registered: Mutex::new(false),
            outer: AtomicUsize::new(OLD),
            inner: AtomicUsize::new(OLD),
            control: AtomicU64::new(
                LaneControl {
                    generation: GENERATION,
                    started: false,
                    target_patched: true,
                }
                .pack(),
            ),
        });
        let caller = {
            let model = Arc::clone(&model);
            loom::thread::spawn(move || {
                // Registration, under the registry's lock: the thread's first state comes from
                // the lane's control.
                let mut registered = model.registered.lock().unwrap();
                let control = LaneControl::unpack(model.control.load(Ordering::Acquire));
                if control.generation != 0 {
                    model.thread.set_state(0, ThreadState::newcomer(control));
                }
                *registered = true;
                drop(registered);
                model.call_twice()
            })
        };
        model.run_transition();
        assert_consistent(&caller.join().unwrap());
    });
}

/// Two calls of the outer function: whether each function ran its new code, in call order.
fn assert_consistent(seen: &[bool]) {
    assert!(
        seen[0] == seen[1] && seen[2] == seen[3],
        "the thread mixed old and new code in one call: {seen:?}"
    );
    assert!(
        seen.windows(2).all(|w| w[0] <= w[1]),
        "the thread ran old code after new code: {seen:?}"
    );
}

#[test]
fn a_switch_attempt_of_an_older_transition_cannot_land_in_a_newer_one() {
    // A thread decided to switch itself in transition 1 but was delayed until transition 2 had
    // already put it in its initial state: the generation tag makes the late attempt fail.
    // (The attempt is ordered after the new state on purpose: loom does not keep one
    // modification order between a read-modify-write and later loads, tokio-rs/loom#282.)
    loom::model(|| {
        let thread = Arc::new(ThreadCore::default());
        let old = LaneControl {
            generation: 1,
            started: true,
            target_patched: true,
        };
        let next = ThreadState {
            generation: 2,
            patched: false,
        };
        thread.set_state(
            0,
            ThreadState {
                generation: 1,
                patched: false,
            },
        );
        let late = {
            let thread = Arc::clone(&thread);
            loom::thread::spawn(move || {
                while thread.state(0) != next {
                    loom::thread::yield_now();
                }
                thread.try_switch_self(0, old, &|| old, &|_| false)
            })
        };
        thread.set_state(0, next);
        assert!(
            !late.join().unwrap(),
            "an old switch landed in a new transition"
        );
    });
}
