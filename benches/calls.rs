//! The cost of a call, in one run: a direct call, a plain function-pointer call, a `#[patchable]`
//! call with no patch, a patched call (outside any transition), and a function behind an `RwLock`
//! (what hot-patching crates without a consistency model do); each with one thread, and with two
//! threads calling at once (time per call per thread).
//!
//! Then the time from `enable` to a completed transition while two threads call patched
//! functions in a loop, against the time to enable a patch that changes no function.

use std::hint::black_box;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Barrier, RwLock};
use std::time::{Duration, Instant};

use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};
use livepatch::{FuncDesc, FuncSlot, ObjectDesc, ObjectName, PatchDesc, Replacement, Runtime};

type Work = fn(u64) -> u64;

#[inline(never)]
fn work(x: u64) -> u64 {
    x.wrapping_mul(0x9e37_79b9_7f4a_7c15).rotate_left(7)
}

#[inline(never)]
fn work_fixed(x: u64) -> u64 {
    x.wrapping_mul(0x9e37_79b9_7f4a_7c15).rotate_left(9)
}

/// The same work, as a program marks the functions patches may replace (the bodies are the
/// work itself, not calls to it, so every way makes exactly one call).
mod program {
    #[livepatch::patchable]
    pub fn unpatched(x: u64) -> u64 {
        x.wrapping_mul(0x9e37_79b9_7f4a_7c15).rotate_left(7)
    }

    #[livepatch::patchable]
    pub fn patched(x: u64) -> u64 {
        x.wrapping_mul(0x9e37_79b9_7f4a_7c15).rotate_left(7)
    }
}

#[livepatch::livepatch]
mod fix {
    #[replaces(crate::program::patched)]
    fn patched(x: u64) -> u64 {
        x.wrapping_mul(0x9e37_79b9_7f4a_7c15).rotate_left(9)
    }
}

static LOCKED: RwLock<Work> = RwLock::new(work);

/// A way of calling `work`, by name.
type Caller = (&'static str, fn(u64) -> u64);

/// The baseline of the targets: a call through a function pointer the compiler cannot see.
fn fn_pointer(x: u64) -> u64 {
    let f: Work = black_box(work);
    f(x)
}

/// The ways of calling `work`.
fn callers() -> Vec<Caller> {
    vec![
        ("direct", |x| work(x)),
        ("fn_pointer", fn_pointer),
        ("patchable_unpatched", program::unpatched),
        ("patchable_patched", program::patched),
        ("rwlock", |x| {
            let f = *LOCKED.read().unwrap_or_else(|e| e.into_inner());
            f(x)
        }),
    ]
}

/// `iters` calls on each of `threads` threads started together; the slowest thread's time.
fn run_threads(threads: usize, iters: u64, call: fn(u64) -> u64) -> Duration {
    let start = Arc::new(Barrier::new(threads));
    let handles: Vec<_> = (0..threads)
        .map(|_| {
            let start = Arc::clone(&start);
            std::thread::spawn(move || {
                call(1); // registers the thread before timing
                start.wait();
                let begin = Instant::now();
                let mut acc = 0u64;
                for i in 0..iters {
                    acc = acc.wrapping_add(call(black_box(i)));
                }
                black_box(acc);
                begin.elapsed()
            })
        })
        .collect();
    handles
        .into_iter()
        .map(|h| h.join().unwrap_or_default())
        .max()
        .unwrap_or_default()
}

/// A runtime with `fix` enabled and its transition complete, so `program::patched` runs the fix.
fn enable_fix() -> Runtime {
    let rt = Runtime::new();
    rt.enable(&fix::PATCH).expect("the bench patch enables");
    rt.wait_transition(Duration::from_secs(10))
        .expect("the bench patch completes");
    assert_eq!(program::patched(3), work_fixed(3));
    rt
}

fn calls(c: &mut Criterion) {
    println!(
        "process-wide barrier: {}",
        if livepatch::uses_membarrier() {
            "membarrier (no fence on the call path)"
        } else {
            "SeqCst fence on the call path (membarrier unavailable)"
        }
    );
    let _rt = enable_fix();
    for threads in [1, 2] {
        let mut group = c.benchmark_group(format!("call/{threads}_thread"));
        for (name, call) in callers() {
            group.bench_function(BenchmarkId::from_parameter(name), |b| {
                b.iter_custom(|iters| run_threads(threads, iters, call))
            });
        }
        group.finish();
    }
}

/// The target's ratio measured in pairs: each round times the function-pointer call and the
/// patched call back to back (in alternating order), so that both see the same state of a noisy
/// machine; the median ratio over the rounds is the figure, with the middle half of the rounds.
fn paired_ratio(_: &mut Criterion) {
    const ROUNDS: usize = 40;
    const CALLS: u64 = 4_000_000;
    let _rt = enable_fix();
    for threads in [1, 2] {
        let mut ratios: Vec<f64> = (0..ROUNDS)
            .map(|round| {
                let time = |call| run_threads(threads, CALLS, call).as_secs_f64();
                let (base, patched) = if round % 2 == 0 {
                    let base = time(fn_pointer);
                    (base, time(program::patched))
                } else {
                    let patched = time(program::patched);
                    (time(fn_pointer), patched)
                };
                patched / base
            })
            .collect();
        ratios.sort_by(f64::total_cmp);
        println!(
            "paired/{threads}_thread: patched / fn_pointer over {ROUNDS} rounds: median {:.2}x, \
             middle half {:.2}x to {:.2}x",
            ratios[ROUNDS / 2],
            ratios[ROUNDS / 4],
            ratios[3 * ROUNDS / 4]
        );
    }
}

/// Patched functions that two threads call in a loop while the bench enables and disables.
static HOT: FuncSlot<Work> = FuncSlot::new("hot", ObjectName::Program, work);
static HOT_FIX: Replacement<Work> = Replacement::new(&HOT, work_fixed);
static HOT_FUNCS: [FuncDesc; 1] = [FuncDesc::new(&HOT_FIX)];
static HOT_OBJECTS: [ObjectDesc; 1] = [ObjectDesc::program().functions(&HOT_FUNCS)];
static HOT_PATCH: PatchDesc = PatchDesc::new("hot").objects(&HOT_OBJECTS);
static EMPTY_PATCH: PatchDesc = PatchDesc::new("empty");

fn transition(c: &mut Criterion) {
    let stop = Arc::new(AtomicBool::new(false));
    let callers: Vec<_> = (0..2)
        .map(|_| {
            let stop = Arc::clone(&stop);
            std::thread::spawn(move || {
                let mut acc = 0u64;
                while !stop.load(Ordering::Relaxed) {
                    for i in 0..64 {
                        acc = acc.wrapping_add(HOT.call(|f| f(black_box(i))));
                    }
                }
                black_box(acc);
            })
        })
        .collect();
    let rt = Runtime::new();
    let mut group = c.benchmark_group("enable_to_complete");
    for (name, patch) in [
        ("two_threads_calling", &HOT_PATCH),
        ("no_functions", &EMPTY_PATCH),
    ] {
        group.bench_function(name, |b| {
            b.iter_custom(|iters| {
                let mut total = Duration::ZERO;
                for _ in 0..iters {
                    let begin = Instant::now();
                    rt.enable(patch).expect("enables");
                    rt.wait_transition(Duration::from_secs(10))
                        .expect("completes");
                    total += begin.elapsed();
                    rt.disable(patch.name()).expect("disables");
                    rt.wait_transition(Duration::from_secs(10))
                        .expect("completes");
                }
                total
            })
        });
    }
    group.finish();
    stop.store(true, Ordering::Relaxed);
    for caller in callers {
        let _ = caller.join();
    }
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2));
    targets = calls, paired_ratio, transition
}
criterion_main!(benches);
