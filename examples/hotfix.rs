//! A live fix: worker threads keep calling a `#[patchable]` function while a `#[livepatch]` patch
//! replaces it, then the patch is disabled again. No worker stops, and each sees the old code,
//! then the new one, then the old one again.
//!
//!     cargo run --example hotfix

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use livepatch::prelude::*;

mod billing {
    use livepatch::patchable;

    /// The fee on an amount in cents. Shipped with a bug: it charges 10% instead of 2%.
    #[patchable]
    pub fn fee(amount: u64) -> u64 {
        amount / 10
    }
}

#[livepatch]
mod fix_fee {
    /// The fee as it was meant to be: 2%.
    #[replaces(crate::billing::fee)]
    fn fee(amount: u64) -> u64 {
        amount / 50
    }
}

const WORKERS: usize = 4;
const WAIT: Duration = Duration::from_secs(30);

/// How many calls returned each fee, for the two fees the program can see.
static BUGGY: AtomicU64 = AtomicU64::new(0);
static FIXED: AtomicU64 = AtomicU64::new(0);

/// Waits until `counter` has grown by `calls` since `from`, for at most `WAIT`.
fn wait_for(counter: &AtomicU64, from: u64, calls: u64) -> Result<(), &'static str> {
    let deadline = Instant::now() + WAIT;
    while counter.load(Ordering::Relaxed) < from + calls {
        if Instant::now() > deadline {
            return Err("the workers stopped calling");
        }
        thread::yield_now();
    }
    Ok(())
}

/// Shows the fee before, while and after the patch is enabled.
fn demo(runtime: &Runtime) -> Result<(), Box<dyn std::error::Error>> {
    wait_for(&BUGGY, 0, 1000)?;
    println!("before:   fee(1000) = {}", billing::fee(1000));

    runtime.enable(&fix_fee::PATCH)?;
    runtime.wait_transition(WAIT)?;
    wait_for(&FIXED, FIXED.load(Ordering::Relaxed), 1000)?;
    println!("patched:  fee(1000) = {}", billing::fee(1000));

    runtime.disable("fix_fee")?;
    runtime.wait_transition(WAIT)?;
    wait_for(&BUGGY, BUGGY.load(Ordering::Relaxed), 1000)?;
    println!("disabled: fee(1000) = {}", billing::fee(1000));
    Ok(())
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let stop = AtomicBool::new(false);
    let runtime = Runtime::new();
    thread::scope(|scope| {
        for _ in 0..WORKERS {
            scope.spawn(|| {
                while !stop.load(Ordering::Relaxed) {
                    match billing::fee(1000) {
                        100 => BUGGY.fetch_add(1, Ordering::Relaxed),
                        20 => FIXED.fetch_add(1, Ordering::Relaxed),
                        other => panic!("unexpected fee {other}"),
                    };
                }
            });
        }
        let result = demo(&runtime);
        stop.store(true, Ordering::Relaxed);
        result
    })?;
    println!(
        "{WORKERS} workers made {} calls with the bug and {} with the fix, none stopped",
        BUGGY.load(Ordering::Relaxed),
        FIXED.load(Ordering::Relaxed)
    );
    Ok(())
}
