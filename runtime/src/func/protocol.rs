//! The switch protocol of the per-thread consistency model, as pure logic over atomics: what a
//! thread does when it enters and leaves a patchable function, and what a transition does to
//! switch it. No statics, no thread-locals, no `unsafe`: the same file is compiled against
//! `loom`'s atomics in the model checker (`tests/loom.rs` of this crate).
//!
//! The handshake (see `CONSISTENCY.md` in the project's shared notes): a thread records every
//! patchable function it enters on its own stack with plain stores, and only looks at shared
//! switching state when the function is in transition. The switcher raises the thread's
//! `switching` count, issues a process-wide barrier, and only then reads the thread's stack. Either
//! the thread's push is visible to that read, or the thread's later look at `switching` sees the
//! raised count and waits for the decision.

use super::sync::{AtomicU32, AtomicU64, AtomicUsize, Ordering, fence};
pub(crate) use super::sync::{LANES, MAX_DEPTH};

/// A thread's patch state in one lane: the transition's generation and whether the thread runs
/// the patched side. Generations start at 1, so 0 means "never set".
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ThreadState {
    /// The generation of the transition this state belongs to.
    pub generation: u64,
    /// Whether the thread runs the patched variant of the transition's functions.
    pub patched: bool,
}

impl ThreadState {
    /// Packs the state into one word.
    pub fn pack(self) -> u64 {
        self.generation << 1 | u64::from(self.patched)
    }

    /// Unpacks a word made by [`ThreadState::pack`].
    pub fn unpack(word: u64) -> Self {
        ThreadState {
            generation: word >> 1,
            patched: word & 1 == 1,
        }
    }

    /// The state of a thread that registers while `control`'s transition runs; it has no
    /// patchable frame yet.
    ///
    /// Once the transition has started, every function it changes is published, so the thread
    /// starts switched. Before that, the functions are still being published one by one: a
    /// thread at the target would run the new variant of a function already published and the
    /// old code of one not published yet. So it takes the side the transition leaves, as every
    /// other thread does then, and switches later like them.
    pub fn newcomer(control: LaneControl) -> Self {
        ThreadState {
            generation: control.generation,
            patched: if control.started {
                control.target_patched
            } else {
                !control.target_patched
            },
        }
    }
}

/// A lane's control word: which transition runs in it, whether threads may switch yet, and the
/// target.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LaneControl {
    /// The transition's generation; 0 when the lane is idle.
    pub generation: u64,
    /// Whether every function of the transition is published, so threads may switch.
    pub started: bool,
    /// Whether the transition heads to the patched state. Turned around only once started.
    pub target_patched: bool,
}

impl LaneControl {
    /// An idle lane.
    pub const IDLE: LaneControl = LaneControl {
        generation: 0,
        started: false,
        target_patched: false,
    };

    /// Packs the control into one word.
    pub fn pack(self) -> u64 {
        self.generation << 2 | u64::from(self.started) << 1 | u64::from(self.target_patched)
    }

    /// Unpacks a word made by [`LaneControl::pack`].
    pub fn unpack(word: u64) -> Self {
        LaneControl {
            generation: word >> 2,
            started: word & 2 != 0,
            target_patched: word & 1 != 0,
        }
    }
}

/// The part of a thread's record that the protocol needs.
pub struct ThreadCore {
    /// Ids of the patchable functions the thread is inside, outermost first.
    stack: [AtomicUsize; MAX_DEPTH],
    /// How many patchable frames the thread is inside (may exceed `MAX_DEPTH`).
    depth: AtomicUsize,
    /// The thread's state in each lane.
    states: [AtomicU64; LANES],
    /// How many switchers are deciding about this thread right now.
    switching: AtomicU32,
}

impl Default for ThreadCore {
    fn default() -> Self {
        ThreadCore {
            stack: std::array::from_fn(|_| AtomicUsize::new(0)),
            depth: AtomicUsize::new(0),
            states: std::array::from_fn(|_| AtomicU64::new(0)),
            switching: AtomicU32::new(0),
        }
    }
}

impl ThreadCore {
    /// Records entry into function `id`, and returns the depth before it, for the matching
    /// [`ThreadCore::pop`]. Called by the owning thread only: plain stores.
    #[inline]
    pub fn push(&self, id: usize) -> usize {
        let depth = self.depth.load(Ordering::Relaxed);
        if let Some(slot) = self.stack.get(depth) {
            slot.store(id, Ordering::Relaxed);
        }
        self.depth.store(depth + 1, Ordering::Relaxed);
        depth
    }

    /// Records leaving the innermost function, entered by the `push` that returned `depth`.
    /// Called by the owning thread only.
    ///
    /// The depth is restored from the caller's copy rather than read again: a call loop would
    /// otherwise chain two store-to-load round trips through the depth word per call.
    #[inline]
    pub fn pop(&self, depth: usize) {
        self.depth.store(depth, Ordering::Relaxed);
    }

    /// The ids of the functions the thread is inside, outermost first, as far as the stack
    /// records them (a thread deeper than `MAX_DEPTH` has more). Read from another thread, a
    /// snapshot that may be out of date as soon as it is taken.
    pub fn stack_ids(&self) -> Vec<usize> {
        let depth = self.depth.load(Ordering::Relaxed).min(MAX_DEPTH);
        self.stack[..depth]
            .iter()
            .map(|id| id.load(Ordering::Relaxed))
            .filter(|&id| id != 0)
            .collect()
    }

    /// Whether any function for which `changed` holds is on the stack, or the stack is too deep
    /// to tell.
    pub fn blocked_by(&self, changed: &dyn Fn(usize) -> bool) -> bool {
        let depth = self.depth.load(Ordering::Relaxed);
        if depth > MAX_DEPTH {
            return true;
        }
        self.stack[..depth]
            .iter()
            .any(|id| changed(id.load(Ordering::Relaxed)))
    }

    /// The thread's state in `lane`.
    pub fn state(&self, lane: usize) -> ThreadState {
        ThreadState::unpack(self.states[lane].load(Ordering::Acquire))
    }

    /// Sets the thread's state in `lane` (transition side: start, force, registration).
    pub fn set_state(&self, lane: usize, state: ThreadState) {
        self.states[lane].store(state.pack(), Ordering::Release);
    }

    /// Slow path of a call into a function in transition `generation` of `lane`: waits while a
    /// switcher is deciding about this thread, then answers whether the thread runs the patched
    /// variant. `None` means the thread's state belongs to another transition: the caller read a
    /// stale function word and must read it again.
    pub fn runs_patched(&self, lane: usize, generation: u64, wait: &dyn Fn()) -> Option<bool> {
        while self.switching.load(Ordering::Acquire) != 0 {
            wait();
        }
        let state = self.state(lane);
        (state.generation == generation).then_some(state.patched)
    }

    /// The thread switches itself to the target of the lane's transition, if that transition
    /// has started, is the one of `generation`, and none of its functions is on the stack.
    /// `current` reads the lane's control again. Returns whether this call switched the thread.
    ///
    /// A switch decided on a control word that a reversal has since turned around must not land:
    /// the switcher may already have counted this thread as switched to the new target and be
    /// completing the transition. So after its compare-and-swap the thread looks at the control
    /// again and takes the switch back if the target moved. Each side writes, fences, then reads
    /// what the other wrote (the switcher: the control, then the thread's state), so either the
    /// thread sees the reversal or the switcher sees the switch.
    pub fn try_switch_self(
        &self,
        lane: usize,
        control: LaneControl,
        current: &dyn Fn() -> LaneControl,
        changed: &dyn Fn(usize) -> bool,
    ) -> bool {
        if !control.started || control.generation == 0 {
            return false;
        }
        let from = ThreadState {
            generation: control.generation,
            patched: !control.target_patched,
        };
        let to = ThreadState {
            generation: control.generation,
            patched: control.target_patched,
        };
        if self.blocked_by(changed) {
            return false;
        }
        // Tagged with the generation, so an attempt that started in an older transition cannot
        // land in a newer one.
        if self.states[lane]
            .compare_exchange(from.pack(), to.pack(), Ordering::SeqCst, Ordering::Relaxed)
            .is_err()
        {
            return false;
        }
        fence(Ordering::SeqCst);
        if current() == control {
            return true;
        }
        // Nothing ran between the switch and here, so taking it back is invisible to this
        // thread; if the switcher has set the state meanwhile, its value stands.
        let _ = self.states[lane].compare_exchange(
            to.pack(),
            from.pack(),
            Ordering::SeqCst,
            Ordering::Relaxed,
        );
        false
    }
}

/// Switches every thread of `threads` that is not at the target yet and whose stack holds none
/// of the changed functions. `barrier` must make every other thread's earlier stores visible
/// (a process-wide memory barrier). Returns how many threads are still not switched.
pub fn switch_threads(
    threads: &[&ThreadCore],
    lane: usize,
    control: LaneControl,
    changed: &dyn Fn(usize) -> bool,
    barrier: &dyn Fn(),
    wake: &dyn Fn(usize),
) -> usize {
    let target = ThreadState {
        generation: control.generation,
        patched: control.target_patched,
    };
    // Pairs with the fence in `try_switch_self`: the control this switcher (or a reversal before
    // it) wrote is visible to a thread switching itself, or that thread's switch is visible here.
    fence(Ordering::SeqCst);
    let pending: Vec<usize> = (0..threads.len())
        .filter(|&i| threads[i].state(lane) != target)
        .collect();
    if pending.is_empty() {
        return 0;
    }
    for &i in &pending {
        threads[i].switching.fetch_add(1, Ordering::SeqCst);
    }
    barrier();
    let mut remaining = 0;
    for &i in &pending {
        let thread = threads[i];
        if thread.blocked_by(changed) {
            remaining += 1;
        } else {
            thread.set_state(lane, target);
        }
        thread.switching.fetch_sub(1, Ordering::Release);
        wake(i);
    }
    remaining
}
