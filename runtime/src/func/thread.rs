//! Threads that run patchable code: their records, the process-wide registry of them, and the
//! lanes in which transitions of different runtimes switch them independently.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread::{self, Thread};

use super::barrier;
use super::current;
use super::protocol::{LANES, LaneControl, ThreadCore, ThreadState};

/// One thread's record: the protocol's part, plus what the transition side needs to wake it.
pub(crate) struct Record {
    pub(crate) core: ThreadCore,
    pub(crate) thread: Thread,
    /// Whether this thread's calls must fence (no `membarrier`): a copy of the process-wide
    /// answer, kept where the call path already looks.
    pub(crate) fence_on_call: AtomicBool,
}

/// Every registered thread. Taken on a thread's first patchable call and at its exit, and by
/// transitions when they set or switch threads; never on the call path.
static REGISTRY: Mutex<Vec<Arc<Record>>> = Mutex::new(Vec::new());

fn registry() -> std::sync::MutexGuard<'static, Vec<Arc<Record>>> {
    REGISTRY.lock().unwrap_or_else(PoisonError::into_inner)
}

/// A thread's handle on its own record; dropping it (at thread exit) unregisters the thread.
struct Local(Arc<Record>);

impl Local {
    fn register() -> Self {
        barrier::init();
        let record = Arc::new(Record {
            core: ThreadCore::default(),
            thread: thread::current(),
            fence_on_call: AtomicBool::new(false),
        });
        let mut threads = registry();
        // Read under the registry's lock, which `fence_on_every_call` holds while it updates the
        // registered threads.
        record
            .fence_on_call
            .store(!barrier::uses_membarrier(), Ordering::SeqCst);
        for (lane, control) in lanes().iter().enumerate() {
            let control = LaneControl::unpack(control.load(Ordering::Acquire));
            if control.generation != 0 {
                record.core.set_state(lane, ThreadState::newcomer(control));
            }
        }
        threads.push(Arc::clone(&record));
        Local(record)
    }
}

impl Drop for Local {
    fn drop(&mut self) {
        // Before the record can go: a later call in this thread's teardown finds no record.
        current::set(std::ptr::null());
        registry().retain(|r| !Arc::ptr_eq(r, &self.0));
    }
}

thread_local! {
    static LOCAL: Local = Local::register();
}

/// Runs `f` once with the current thread's record, registering the thread on first use, or
/// with `None` while the thread is being torn down and its record is gone.
#[inline]
pub(crate) fn with_record<R>(f: impl FnOnce(Option<&Record>) -> R) -> R {
    let record = current::get();
    if record.is_null() {
        return with_record_slow(f);
    }
    // SAFETY: the word holds this thread's own record, set by `with_record_slow` from the
    // `Local` this thread owns, which keeps the record alive and clears the word in its `Drop`
    // before releasing it. Only this thread sets its word.
    f(Some(unsafe { &*record }))
}

/// [`with_record`] on a thread whose word is not set: registers the thread and sets the word,
/// or finds the thread torn down.
#[cold]
#[inline(never)]
fn with_record_slow<R>(f: impl FnOnce(Option<&Record>) -> R) -> R {
    let mut f = Some(f);
    let recorded = LOCAL.try_with(|local| {
        current::set(Arc::as_ptr(&local.0));
        f.take().map(|f| f(Some(&local.0)))
    });
    match (recorded, f) {
        (Ok(Some(result)), _) => result,
        (_, Some(f)) => f(None),
        (_, None) => unreachable!("`f` ran and returned"),
    }
}

/// Makes every registered thread fence on each call, when `membarrier` stopped working.
pub(crate) fn fence_on_every_call() {
    for record in registry().iter() {
        record.fence_on_call.store(true, Ordering::SeqCst);
    }
}

/// The registered threads, for a transition to set or switch.
pub(crate) fn threads() -> Vec<Arc<Record>> {
    registry().clone()
}

// ---- lanes -----------------------------------------------------------------------------------

fn lanes() -> &'static [AtomicU64; LANES] {
    static LANE_CONTROLS: [AtomicU64; LANES] = [const { AtomicU64::new(0) }; LANES];
    &LANE_CONTROLS
}

/// The thread that drives each lane's transition to completion, woken when a thread switches
/// itself.
static DRIVERS: Mutex<[Option<Thread>; LANES]> = Mutex::new([const { None }; LANES]);

static NEXT_GENERATION: AtomicU64 = AtomicU64::new(1);

/// The control word of `lane`.
pub(crate) fn control(lane: usize) -> LaneControl {
    LaneControl::unpack(lanes()[lane].load(Ordering::Acquire))
}

fn set_control(lane: usize, control: LaneControl) {
    lanes()[lane].store(control.pack(), Ordering::Release);
}

/// A lane held by one transition; released when dropped.
#[derive(Debug)]
pub(crate) struct Lane {
    index: usize,
    generation: u64,
}

impl Lane {
    /// Takes a free lane for a transition towards `target_patched`, and puts every registered
    /// thread in the transition's initial state. Threads may not switch until [`Lane::start`].
    /// `None` when every lane is taken.
    pub(crate) fn acquire(target_patched: bool) -> Option<Lane> {
        let threads = registry();
        let index = (0..LANES).find(|&i| {
            lanes()[i]
                .compare_exchange(
                    LaneControl::IDLE.pack(),
                    LaneControl {
                        generation: u64::MAX >> 2,
                        started: false,
                        target_patched,
                    }
                    .pack(),
                    Ordering::AcqRel,
                    Ordering::Relaxed,
                )
                .is_ok()
        })?;
        let generation = NEXT_GENERATION.fetch_add(1, Ordering::Relaxed);
        let initial = ThreadState {
            generation,
            patched: !target_patched,
        };
        for record in threads.iter() {
            record.core.set_state(index, initial);
        }
        set_control(
            index,
            LaneControl {
                generation,
                started: false,
                target_patched,
            },
        );
        Some(Lane { index, generation })
    }

    pub(crate) fn index(&self) -> usize {
        self.index
    }

    pub(crate) fn generation(&self) -> u64 {
        self.generation
    }

    pub(crate) fn control(&self) -> LaneControl {
        control(self.index)
    }

    /// Lets threads switch: every function of the transition is published.
    pub(crate) fn start(&self) {
        let control = self.control();
        set_control(
            self.index,
            LaneControl {
                started: true,
                ..control
            },
        );
    }

    /// Turns the transition around under the same generation.
    pub(crate) fn reverse(&self) {
        let control = self.control();
        set_control(
            self.index,
            LaneControl {
                target_patched: !control.target_patched,
                ..control
            },
        );
    }

    /// Marks every registered thread switched, whatever it is running.
    pub(crate) fn force(&self) {
        let control = self.control();
        let target = ThreadState {
            generation: self.generation,
            patched: control.target_patched,
        };
        for record in registry().iter() {
            record.core.set_state(self.index, target);
        }
    }

    /// Registers the thread that drives this lane's transition, to be woken by self-switches.
    pub(crate) fn set_driver(&self, driver: Option<Thread>) {
        DRIVERS.lock().unwrap_or_else(PoisonError::into_inner)[self.index] = driver;
    }
}

impl Drop for Lane {
    fn drop(&mut self) {
        self.set_driver(None);
        set_control(self.index, LaneControl::IDLE);
    }
}

/// Wakes the driver of `lane`, after a thread switched itself there.
pub(crate) fn kick(lane: usize) {
    if let Some(driver) = &DRIVERS.lock().unwrap_or_else(PoisonError::into_inner)[lane] {
        driver.unpark();
    }
}
