//! The consistency model under load: worker threads call an outer patched function that calls an
//! inner one twice, both replaced by the same patches, while the main thread enables, replaces,
//! reverses and disables patches in a loop. Every call must see both inner versions equal to the
//! outer one (no mixes), and every call must run exactly once (none lost).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use livepatch::prelude::*;
use livepatch::{FuncDesc, FuncSlot, ObjectName, Replacement};

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
            static OBJECTS: [ObjectDesc; 1] = [ObjectDesc::program().functions(&FUNCS)];
            pub static PATCH: PatchDesc = PatchDesc::new($name).replace($replace).objects(&OBJECTS);
        }
    };
}

versioned_patch!(v1, "v1", 1, replace = false);
versioned_patch!(v2, "v2", 2, replace = true);
versioned_patch!(v3, "v3", 3, replace = false);

const CALLS: u64 = 1_000_000;
const WORKERS: usize = 3;

#[test]
fn no_thread_ever_mixes_versions_and_no_call_is_lost() {
    let rt = Runtime::new();
    let stop = Arc::new(AtomicBool::new(false));
    let mixes = Arc::new(AtomicU64::new(0));
    let workers: Vec<_> = (0..WORKERS)
        .map(|_| {
            let (stop, mixes) = (Arc::clone(&stop), Arc::clone(&mixes));
            std::thread::spawn(move || {
                let mut calls = 0u64;
                let mut seen = [0u64; 4];
                while !stop.load(Ordering::Relaxed) {
                    let (outer, first, second) = outer();
                    calls += 1;
                    if outer != first || outer != second {
                        mixes.fetch_add(1, Ordering::Relaxed);
                    }
                    seen[outer as usize] += 1;
                }
                (calls, seen)
            })
        })
        .collect();

    let wait = |rt: &Runtime| rt.wait_transition(Duration::from_secs(30)).unwrap();
    let mut transitions = 0u64;
    let mut rounds = 0u64;
    while EXECUTED.load(Ordering::Relaxed) < CALLS || rounds < 50 {
        rounds += 1;
        // Enable v1 and, every other round, reverse it before it completes (if it has not).
        rt.enable(&v1::PATCH).unwrap();
        if rounds.is_multiple_of(2) && rt.transition().is_some() && rt.disable("v1").is_ok() {
            wait(&rt);
            transitions += 2;
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
        transitions += 5;
    }
    stop.store(true, Ordering::Relaxed);
    let mut calls = 0;
    let mut seen = [0u64; 4];
    for worker in workers {
        let (c, s) = worker.join().unwrap();
        calls += c;
        for (total, n) in seen.iter_mut().zip(s) {
            *total += n;
        }
    }
    assert_eq!(
        mixes.load(Ordering::Relaxed),
        0,
        "calls that mixed versions"
    );
    assert_eq!(
        calls,
        EXECUTED.load(Ordering::Relaxed),
        "calls lost or doubled"
    );
    assert!(calls >= CALLS, "only {calls} calls");
    assert!(transitions >= 250, "only {transitions} transitions");
    // Every version ran at some point.
    assert!(seen.iter().all(|&n| n > 0), "versions seen: {seen:?}");
    assert!(rt.patches().is_empty());
    assert_eq!(outer(), (0, 0, 0));
}
