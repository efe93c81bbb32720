//! The consistency model under load: worker threads call an outer patched function that calls an
//! inner one twice, both replaced by the same patches, while the main thread enables, replaces,
//! reverses and disables patches in a loop. Every call must see both inner versions equal to the
//! outer one (no mixes), and every call must run exactly once (none lost). The patches' `pre_patch`
//! and `pre_unpatch` callbacks start newcomer threads, whose first patchable calls race with the
//! rest of the enable or disable: with functions being published, or just published.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Barrier, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use livepatch::prelude::*;
use livepatch::{FuncDesc, FuncSlot, ObjectName, Replacement};
use livepatch::{ObjectDesc, PatchDesc};

type Versioned = fn() -> (u32, u32, u32);
type Version = fn() -> u32;

/// Calls that ran an outer implementation, counted by the implementations themselves.
static EXECUTED: AtomicU64 = AtomicU64::new(0);

static INNER: FuncSlot<Version> = FuncSlot::new("inner", ObjectName::Program, || 0);
static OUTER: FuncSlot<Versioned> = FuncSlot::new("outer", ObjectName::Program, || {
    EXECUTED.fetch_add(1, Ordering::Relaxed);
    (0, inner(), inner())
});

fn inner() -> u32 {
    INNER.call(|f| f())
}

fn outer() -> (u32, u32, u32) {
    OUTER.call(|f| f())
}

/// Patch `$version`: replaces both functions with ones that report `$version`.
macro_rules! versioned_patch {
    ($module:ident, $name:literal, $version:literal, replace = $replace:literal) => {
        mod $module {
            use super::*;
            static OUTER_NEW: Replacement<Versioned> = Replacement::new(&OUTER, || {
                EXECUTED.fetch_add(1, Ordering::Relaxed);
                ($version, inner(), inner())
            });
            static INNER_NEW: Replacement<Version> = Replacement::new(&INNER, || $version);
            static FUNCS: [FuncDesc; 2] = [FuncDesc::new(&OUTER_NEW), FuncDesc::new(&INNER_NEW)];
            static OBJECTS: [ObjectDesc; 1] = [ObjectDesc::program()
                .pre_patch(|_| {
                    start_newcomer();
                    Ok(())
                })
                .pre_unpatch(|_| start_newcomer())
                .post_patch(|_| count_completed())
                .post_unpatch(|_| count_completed())
                .functions(&FUNCS)];
            pub static PATCH: PatchDesc = PatchDesc::new($name).replace($replace).objects(&OBJECTS);
        }
    };
}

versioned_patch!(v1, "v1", 1, replace = false);
versioned_patch!(v2, "v2", 2, replace = true);
versioned_patch!(v3, "v3", 3, replace = false);

const CALLS: u64 = 1_000_000;
const WORKERS: usize = 3;
/// Calls each newcomer thread makes before it ends.
const NEWCOMER_CALLS: u64 = 100;

type Tally = (u64, u64, [u64; 4]);

/// Transitions completed: each runs the `post_patch` or the `post_unpatch` of its patch's object.
static COMPLETED: AtomicU64 = AtomicU64::new(0);

fn count_completed() {
    COMPLETED.fetch_add(1, Ordering::Relaxed);
}

/// Newcomer threads started by the callbacks, joined by the test.
static NEWCOMERS: Mutex<Vec<JoinHandle<Tally>>> = Mutex::new(Vec::new());

fn start_newcomer() {
    let newcomer = std::thread::spawn(|| call_until(|calls| calls == NEWCOMER_CALLS));
    NEWCOMERS.lock().unwrap().push(newcomer);
}

/// Joins the newcomers started so far; returns how many there were and their tally.
fn join_newcomers() -> (u64, Tally) {
    let newcomers = std::mem::take(&mut *NEWCOMERS.lock().unwrap());
    let count = newcomers.len() as u64;
    let tally = newcomers
        .into_iter()
        .map(|newcomer| newcomer.join().unwrap())
        .fold((0, 0, [0; 4]), add);
    (count, tally)
}

/// Calls `outer` until `done` says so; returns the number of calls, how many of them mixed
/// versions, and how many saw each outer version.
fn call_until(mut done: impl FnMut(u64) -> bool) -> Tally {
    let (mut calls, mut mixes, mut seen) = (0, 0, [0u64; 4]);
    while !done(calls) {
        let (outer, first, second) = outer();
        calls += 1;
        if outer != first || outer != second {
            mixes += 1;
        }
        seen[outer as usize] += 1;
    }
    (calls, mixes, seen)
}

#[test]
fn no_thread_ever_mixes_versions_and_no_call_is_lost() {
    let rt = Runtime::new();
    let stop = Arc::new(AtomicBool::new(false));
    // The workers make their first call before the first transition, so that every transition
    // meets threads that are calling.
    let ready = Arc::new(Barrier::new(WORKERS + 1));
    let workers: Vec<_> = (0..WORKERS)
        .map(|_| {
            let (stop, ready) = (Arc::clone(&stop), Arc::clone(&ready));
            std::thread::spawn(move || {
                let first = call_until(|calls| calls == 1);
                ready.wait();
                let rest = call_until(|_| stop.load(Ordering::Relaxed));
                add(first, rest)
            })
        })
        .collect();
    ready.wait();

    let wait = |rt: &Runtime| rt.wait_transition(Duration::from_secs(30)).unwrap();
    let mut rounds = 0u64;
    let (mut newcomer_count, mut newcomers) = (0, (0, 0, [0; 4]));
    while EXECUTED.load(Ordering::Relaxed) < CALLS || rounds < 50 {
        rounds += 1;
        // Enable v1 and, every other round, reverse it before it completes (if it has not).
        rt.enable(&v1::PATCH).unwrap();
        if rounds.is_multiple_of(2) && rt.transition().is_some() && rt.disable("v1").is_ok() {
            wait(&rt);
            rt.enable(&v1::PATCH).unwrap();
        }
        wait(&rt);
        // v2 replaces v1.
        rt.enable(&v2::PATCH).unwrap();
        wait(&rt);
        // v3 stacks on v2, then goes (maybe reversed mid-way).
        rt.enable(&v3::PATCH).unwrap();
        if rounds.is_multiple_of(3) {
            wait(&rt);
        }
        rt.disable("v3").unwrap_or_else(|e| panic!("{e}"));
        wait(&rt);
        rt.disable("v2").unwrap();
        wait(&rt);
        let (count, tally) = join_newcomers();
        newcomer_count += count;
        newcomers = add(newcomers, tally);
    }
    stop.store(true, Ordering::Relaxed);
    let (calls, mixes, seen) = workers
        .into_iter()
        .map(|worker| worker.join().unwrap())
        .fold(newcomers, add);
    assert_eq!(mixes, 0, "calls that mixed versions");
    // Each round enables v1, v2 and v3 (each `pre_patch` starts one) and disables v2 (its
    // `pre_unpatch` starts one); reversals and v3's completed disables add some.
    assert!(
        newcomer_count >= 4 * rounds,
        "only {newcomer_count} newcomers in {rounds} rounds"
    );
    assert_eq!(
        calls,
        EXECUTED.load(Ordering::Relaxed),
        "calls lost or doubled"
    );
    assert!(calls >= CALLS, "only {calls} calls");
    // Each round completes at least the enables of v1, v2 and v3 (v3's, or its reversal) and
    // the disable of v2.
    let completed = COMPLETED.load(Ordering::Relaxed);
    assert!(
        completed >= 4 * rounds,
        "only {completed} transitions completed in {rounds} rounds"
    );
    // Every version ran at some point.
    assert!(seen.iter().all(|&n| n > 0), "versions seen: {seen:?}");
    assert!(rt.patches().is_empty());
    assert_eq!(outer(), (0, 0, 0));
}

/// Sums two tallies of [`call_until`].
fn add(a: Tally, b: Tally) -> Tally {
    let mut seen = a.2;
    seen.iter_mut().zip(b.2).for_each(|(total, n)| *total += n);
    (a.0 + b.0, a.1 + b.1, seen)
}
