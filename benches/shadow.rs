//! Shadow variables against the designs they replace, in one run:
//!
//! - `get_hit`: looking up an existing variable and taking a counted handle to it, with one and two
//!   threads walking the same keys;
//! - `get_or_alloc_hit`: the same through `get_or_alloc` (the usual call on a hot path);
//! - `get_or_alloc_new`: every call creates the variable; with two threads both walk the same new
//!   keys, so one creates and the other finds (or waits for) it;
//!
//! each for `ShadowTable`, a `Mutex<HashMap>` (the kernel's design: one spinlock around one hash
//! table), `DashMap` as it comes (SipHash), and `DashMap` with the same kind of multiply hash as
//! the table, to show what the hash alone is worth;
//!
//! - `mixed`: two threads walking the same keys side by side, each call in five a `free` and
//!   the others `get_or_alloc` (a hit, or the creation of a variable freed before), for
//!   `ShadowTable`, `Mutex<HashMap>` and `DashMap`: once on a quiet machine (`mixed/quiet`), and
//!   once while three more threads that only burn CPU share the cores (`mixed/oversubscribed`),
//!   so that threads are often preempted in the middle of a call;
//! - `mixed/{quiet,oversubscribed}/interleaved`: the same mix with the three contenders taking
//!   turns (under the same busy loops when oversubscribed), for a ratio to `DashMap` that the
//!   scheduler's drift from run to run does not blur (`cargo bench --bench shadow -- interleaved`
//!   runs these alone).
//!
//! Times are per operation per thread: with two threads, each thread did that many operations in
//! that time, side by side.
//!
//! Before the timings, the memory each variable costs beyond its data is measured with a counting
//! allocator and printed.

use std::collections::HashMap;
use std::hash::{BuildHasher, Hasher};
use std::hint::black_box;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Barrier, Mutex};
use std::time::{Duration, Instant};

use criterion::{BenchmarkId, Criterion, criterion_group};
use dashmap::DashMap;
use livepatch::shadow::{ObjAddr, ShadowId, ShadowTable};
use livepatch::{ObjectDesc, PatchDesc, Runtime, StateDesc, StateHandle};

// --- a counting allocator, for the memory figures ---

#[path = "../tests/common/counting_alloc.rs"]
mod counting_alloc;

use counting_alloc::{Counting, held};

#[global_allocator]
static ALLOCATOR: Counting = Counting;

// --- the contenders ---

const N: usize = 4096;
const ID: ShadowId<u64> = ShadowId::new(0x1234);
type Key = (usize, u64);

/// The multiply hash the table uses, for the second `DashMap`.
#[derive(Clone, Default)]
struct MulHash(u64);

impl Hasher for MulHash {
    fn finish(&self) -> u64 {
        let p = u128::from(self.0) * 0xa409_3822_299f_31d0u128;
        (p as u64) ^ ((p >> 64) as u64)
    }

    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.write_u64(u64::from(b));
        }
    }

    fn write_u64(&mut self, n: u64) {
        let p = u128::from(self.0 ^ n) * 0x1319_8a2e_0370_7344u128;
        self.0 = (p as u64) ^ ((p >> 64) as u64);
    }

    fn write_usize(&mut self, n: usize) {
        self.write_u64(n as u64);
    }
}

#[derive(Clone, Default)]
struct MulBuild;

impl BuildHasher for MulBuild {
    type Hasher = MulHash;
    fn build_hasher(&self) -> MulHash {
        MulHash(0x243f_6a88_85a3_08d3)
    }
}

/// What every contender offers: a counted handle to an existing value, and get-or-insert. A key
/// is an object address and an id; the value stored is the id.
trait Map: Sync {
    fn name(&self) -> &'static str;
    fn get(&self, key: Key) -> u64;
    fn get_or_alloc(&self, key: Key) -> u64;
    /// Removes the pair; whether it was there.
    fn free(&self, key: Key) -> bool;
}

impl Map for ShadowTable {
    fn name(&self) -> &'static str {
        "ShadowTable"
    }
    fn get(&self, key: Key) -> u64 {
        *ShadowTable::get(self, ObjAddr::from_addr(key.0), ShadowId::new(key.1)).expect("present")
    }
    fn get_or_alloc(&self, key: Key) -> u64 {
        let id = ShadowId::new(key.1);
        *ShadowTable::get_or_alloc(self, ObjAddr::from_addr(key.0), id, key.1).expect("u64")
    }
    fn free(&self, key: Key) -> bool {
        ShadowTable::free(self, ObjAddr::from_addr(key.0), ShadowId::<u64>::new(key.1))
    }
}

/// `ShadowTable` through the constructor forms (`get_or_alloc_with`), whose constructor runs
/// outside every lock.
struct WithCtor(ShadowTable);

impl Map for WithCtor {
    fn name(&self) -> &'static str {
        "ShadowTable (ctor)"
    }
    fn get(&self, key: Key) -> u64 {
        Map::get(&self.0, key)
    }
    fn get_or_alloc(&self, key: Key) -> u64 {
        let id = ShadowId::new(key.1);
        let made = self
            .0
            .get_or_alloc_with(ObjAddr::from_addr(key.0), id, || Ok::<_, String>(key.1));
        *made.expect("u64")
    }
    fn free(&self, key: Key) -> bool {
        Map::free(&self.0, key)
    }
}

impl Map for Mutex<HashMap<Key, Arc<u64>>> {
    fn name(&self) -> &'static str {
        "Mutex<HashMap>"
    }
    fn get(&self, key: Key) -> u64 {
        let v = Arc::clone(self.lock().unwrap().get(&key).expect("present"));
        *v
    }
    fn get_or_alloc(&self, key: Key) -> u64 {
        let v = Arc::clone(
            self.lock()
                .unwrap()
                .entry(key)
                .or_insert_with(|| Arc::new(key.1)),
        );
        *v
    }
    fn free(&self, key: Key) -> bool {
        // The value is dropped after the lock is released, as the other maps drop theirs.
        let removed = self.lock().unwrap().remove(&key);
        removed.is_some()
    }
}

macro_rules! dashmap_contender {
    ($hasher:ty, $name:literal) => {
        impl Map for DashMap<Key, Arc<u64>, $hasher> {
            fn name(&self) -> &'static str {
                $name
            }
            fn get(&self, key: Key) -> u64 {
                let v = Arc::clone(DashMap::get(self, &key).expect("present").value());
                *v
            }
            fn get_or_alloc(&self, key: Key) -> u64 {
                let v = Arc::clone(self.entry(key).or_insert_with(|| Arc::new(key.1)).value());
                *v
            }
            fn free(&self, key: Key) -> bool {
                self.remove(&key).is_some()
            }
        }
    };
}

dashmap_contender!(std::hash::RandomState, "DashMap");
dashmap_contender!(MulBuild, "DashMap+mulhash");

/// Object addresses for the keys: real, distinct, 8-aligned, as shadow-variable objects are.
fn objects() -> Vec<u64> {
    vec![0; N]
}

fn key(objects: &[u64], i: usize) -> Key {
    let k = i % objects.len();
    (ObjAddr::of(&objects[k]).addr(), k as u64)
}

fn contenders() -> Vec<Box<dyn Map + Send>> {
    vec![
        Box::new(ShadowTable::new()),
        Box::new(WithCtor(ShadowTable::new())),
        Box::new(Mutex::new(HashMap::<Key, Arc<u64>>::new())),
        Box::new(DashMap::<Key, Arc<u64>>::new()),
        Box::new(DashMap::<Key, Arc<u64>, MulBuild>::with_hasher(MulBuild)),
    ]
}

/// Runs `op(thread, i)` for `i` in `0..iters` on `threads` threads at once; the time from the
/// common start until the last one finishes.
fn timed(threads: usize, iters: u64, op: &(dyn Fn(usize, usize) + Sync)) -> Duration {
    if threads == 1 {
        let start = Instant::now();
        for i in 0..iters as usize {
            op(0, i);
        }
        return start.elapsed();
    }
    let barrier = Barrier::new(threads + 1);
    std::thread::scope(|s| {
        for t in 0..threads {
            let barrier = &barrier;
            s.spawn(move || {
                barrier.wait();
                for i in 0..iters as usize {
                    op(t, i);
                }
            });
        }
        barrier.wait();
        let start = Instant::now();
        // The scope joins every thread before it returns; the time includes the slowest one.
        start
    })
    .elapsed()
}

/// Where thread `t` starts walking the keys: the threads walk the same keys, half a table apart.
fn offset(t: usize) -> usize {
    t * N / 2
}

fn bench_hits(c: &mut Criterion) {
    let objects = objects();
    for (group, via_get_or_alloc) in [("get_hit", false), ("get_or_alloc_hit", true)] {
        let mut g = c.benchmark_group(group);
        for map in contenders() {
            for i in 0..N {
                map.get_or_alloc(key(&objects, i));
            }
            for threads in [1, 2] {
                g.bench_function(BenchmarkId::new(map.name(), threads), |b| {
                    b.iter_custom(|iters| {
                        timed(threads, iters, &|t, i| {
                            let k = key(&objects, offset(t) + i * 7);
                            black_box(if via_get_or_alloc {
                                map.get_or_alloc(k)
                            } else {
                                map.get(k)
                            });
                        })
                    })
                });
            }
        }
        g.finish();
    }
}

fn bench_new(c: &mut Criterion) {
    let mut g = c.benchmark_group("get_or_alloc_new");
    for threads in [1, 2] {
        for (index, name) in contenders().iter().map(|m| m.name()).enumerate() {
            g.bench_function(BenchmarkId::new(name, threads), |b| {
                b.iter_custom(|iters| {
                    // A fresh map each sample, keyed by address and iteration so that every
                    // call of a thread finds a new key; both threads walk the same keys.
                    let map = contenders().swap_remove(index);
                    let time = timed(threads, iters, &|_, i| {
                        black_box(map.get_or_alloc((0x1000 + (i % N) * 8, i as u64)));
                    });
                    drop(map);
                    time
                })
            });
        }
    }
    g.finish();
}

/// Threads that only burn CPU while they live, to oversubscribe the cores: each spins until it
/// is stopped (when this is dropped) or, at the latest, `LIMIT` after it started.
struct BusyLoops {
    stop: Arc<AtomicBool>,
    threads: Vec<std::thread::JoinHandle<()>>,
}

impl BusyLoops {
    /// The longest a busy loop runs, should its case never end.
    const LIMIT: Duration = Duration::from_secs(120);

    fn start(n: usize) -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let threads = (0..n)
            .map(|_| {
                let stop = Arc::clone(&stop);
                std::thread::spawn(move || {
                    let start = Instant::now();
                    let mut x = 0u64;
                    while !stop.load(Ordering::Relaxed) && start.elapsed() < Self::LIMIT {
                        for _ in 0..1000 {
                            x = black_box(
                                x.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1),
                            );
                        }
                    }
                })
            })
            .collect();
        BusyLoops { stop, threads }
    }
}

impl Drop for BusyLoops {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
    }
}

/// Extra busy threads of the oversubscribed case: with the two working threads, five runnable
/// threads on a two-core machine.
const BUSY_LOOPS: usize = 3;

/// Call `i` of the mixed walk: every fifth frees its key, the others `get_or_alloc` theirs.
fn mixed_call(map: &dyn Map, objects: &[u64], i: usize) {
    let k = key(objects, i * 7);
    if i % 5 == 4 {
        black_box(map.free(k));
    } else {
        black_box(map.get_or_alloc(k));
    }
}

/// `mixed`: two threads walk the same keys in the same order, each call in five frees its key and
/// the other four `get_or_alloc` theirs (five and the 4096 keys have no common factor, so every
/// key is in turn freed and created again), so a call finds its variable, or creates one freed
/// before, while the other thread reads or writes the same shard. Run quiet and oversubscribed,
/// one after the other, with the same code.
fn bench_mixed(c: &mut Criterion) {
    let objects = objects();
    for (load, busy) in [("quiet", 0), ("oversubscribed", BUSY_LOOPS)] {
        let mut g = c.benchmark_group(format!("mixed/{load}"));
        // Longer than the other cases: preemptions are rare events, and a second holds few.
        g.measurement_time(Duration::from_secs(5));
        let maps: [Box<dyn Map + Send>; 3] = [
            Box::new(ShadowTable::new()),
            Box::new(Mutex::new(HashMap::<Key, Arc<u64>>::new())),
            Box::new(DashMap::<Key, Arc<u64>>::new()),
        ];
        for map in maps {
            for i in 0..N {
                map.get_or_alloc(key(&objects, i));
            }
            let threads = 2;
            // Started for this case only, and stopped (joined) when it ends.
            let _load = BusyLoops::start(busy);
            g.bench_function(BenchmarkId::new(map.name(), threads), |b| {
                b.iter_custom(|iters| timed(threads, iters, &|_, i| mixed_call(&*map, &objects, i)))
            });
        }
        g.finish();
    }
}

/// Rounds of each interleaved case.
const ROUNDS: usize = 61;

/// Calls per thread of one contender's turn: whole passes of the walk, each key freed once in
/// five passes.
const TURN: u64 = (N * 5 * 25) as u64;

/// `mixed/{quiet,oversubscribed}/interleaved`: the mix again, with the contenders taking turns
/// (under one set of busy loops when oversubscribed). Where the scheduler puts the five threads drifts over
/// seconds, and the drift moves every contender's figure by up to 2x from one criterion run to
/// the next; a contender measured in turns beside the others meets the same drift, so the ratio
/// of two contenders within a round is the steadier figure. Each round gives every contender one
/// turn of `TURN` calls per thread, in an order that rotates from round to round; the walk goes on
/// where the contender's last turn ended. Prints each contender's median time per call per thread
/// and each one's median ratio to `DashMap` over the rounds.
fn bench_interleaved(load: &str, busy: usize) {
    let objects = objects();
    let maps: [Box<dyn Map + Send>; 3] = [
        Box::new(ShadowTable::new()),
        Box::new(Mutex::new(HashMap::<Key, Arc<u64>>::new())),
        Box::new(DashMap::<Key, Arc<u64>>::new()),
    ];
    for map in &maps {
        for i in 0..N {
            map.get_or_alloc(key(&objects, i));
        }
    }
    let mut walked = [0usize; 3];
    let mut times = [const { Vec::new() }; 3];
    let busy_loops = BusyLoops::start(busy);
    for round in 0..ROUNDS {
        for turn in 0..maps.len() {
            let m = (round + turn) % maps.len();
            let (map, base) = (&maps[m], walked[m]);
            let time = timed(2, TURN, &|_, i| mixed_call(&**map, &objects, base + i));
            walked[m] += TURN as usize;
            times[m].push(time.as_secs_f64() * 1e9 / TURN as f64);
        }
    }
    drop(busy_loops);
    let median = |mut v: Vec<f64>| {
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    };
    let dashmap = 2;
    println!("mixed/{load}/interleaved: {ROUNDS} rounds, {TURN} calls per thread a turn");
    for (m, map) in maps.iter().enumerate() {
        let ratios = times[m].iter().zip(&times[dashmap]).map(|(a, b)| a / b);
        println!(
            "  {:<16} median {:>7.1} ns (range {:.1} to {:.1}), median ratio to DashMap {:.3}",
            map.name(),
            median(times[m].clone()),
            times[m].iter().copied().fold(f64::INFINITY, f64::min),
            times[m].iter().copied().fold(0.0, f64::max),
            median(ratios.collect()),
        );
    }
}

// --- memory ---

static PROGRAM: [ObjectDesc; 1] = [ObjectDesc::program()];
const STATE: StateHandle<()> = StateHandle::new(1, 1);
static STATES: [StateDesc; 1] = [STATE.desc()];
static PATCH: PatchDesc = PatchDesc::new("bench").states(&STATES).objects(&PROGRAM);

/// Bytes per variable beyond its 8 bytes of data for a map made by `make` and filled by `fill`:
/// (heap now − heap of the empty map) / n − 8, at each n of `at`, and the largest such figure
/// over every n from the first of `at` to the last (the tables grow in steps, so the figure
/// depends on where n falls between two steps). Returns the figures at `at`, the worst, and the
/// empty map's heap.
fn overhead<M>(
    at: &[usize],
    make: impl FnOnce() -> M,
    fill: impl Fn(&M, usize),
) -> (Vec<f64>, f64, isize) {
    let before = held();
    let map = make();
    let empty = held() - before;
    let (mut figures, mut worst) = (Vec::new(), f64::MIN);
    let last = *at.last().expect("sizes");
    for i in 0..last {
        fill(&map, i);
        let n = i + 1;
        let per = (held() - before - empty) as f64 / n as f64 - 8.0;
        if n >= at[0] {
            worst = worst.max(per);
        }
        if at.contains(&n) {
            figures.push(per);
        }
    }
    drop(map);
    (figures, worst, empty)
}

fn print_memory() {
    let rt = Runtime::new();
    rt.enable(&PATCH).expect("the bench patch enables");
    println!("memory per variable beyond its 8 bytes of data (heap bytes counted by allocator)");
    println!(
        "{:<24} {:>10} {:>10} {:>10} {:>14}   empty map",
        "map", "n=1000", "n=10000", "n=100000", "worst n>=1000"
    );
    let addr = |i: usize| 0x1000 + i * 8;
    let at = [1_000, 10_000, 100_000];
    let row = |name: &str, (figures, worst, empty): (Vec<f64>, f64, isize)| {
        println!(
            "{name:<24} {:>10.1} {:>10.1} {:>10.1} {worst:>14.1}   {empty} B",
            figures[0], figures[1], figures[2]
        );
    };
    row(
        "ShadowTable",
        overhead(&at, ShadowTable::new, |t, i| {
            t.alloc(ObjAddr::from_addr(addr(i)), ID, i as u64);
        }),
    );
    row(
        "ShadowTable (tied)",
        overhead(&at, ShadowTable::new, |t, i| {
            let _ = t
                .tied(&rt, STATE)
                .alloc(ObjAddr::from_addr(addr(i)), ID, i as u64);
        }),
    );
    row(
        "Mutex<HashMap>",
        overhead(
            &at,
            || Mutex::new(HashMap::new()),
            |m, i| {
                m.lock()
                    .unwrap()
                    .insert((addr(i), 0x1234u64), Arc::new(i as u64));
            },
        ),
    );
    row(
        "DashMap",
        overhead(&at, DashMap::new, |m, i| {
            m.insert((addr(i), 0x1234u64), Arc::new(i as u64));
        }),
    );
    println!();
}

fn configured() -> Criterion {
    Criterion::default()
        .sample_size(10)
        .warm_up_time(Duration::from_millis(300))
        .measurement_time(Duration::from_secs(1))
}

criterion_group! {
    name = benches;
    config = configured();
    targets = bench_hits, bench_new, bench_mixed
}

fn main() {
    // A name on the command line (`cargo bench --bench shadow -- interleaved`) picks the cases
    // that contain it, as criterion's filter does.
    let filter = std::env::args().skip(1).find(|a| !a.starts_with('-'));
    for (load, busy) in [("quiet", 0), ("oversubscribed", BUSY_LOOPS)] {
        if filter
            .as_deref()
            .is_none_or(|f| format!("mixed/{load}/interleaved").contains(f))
        {
            bench_interleaved(load, busy);
        }
    }
    if filter.as_deref() == Some("interleaved") {
        return;
    }
    print_memory();
    benches();
    Criterion::default().configure_from_args().final_summary();
}
