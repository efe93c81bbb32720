//! The program's library: all of its code, with a thin binary over it. Driven by lines on its
//! standard input, one reply line each.

livepatch::program!();

use std::collections::BTreeSet;
use std::io::{BufRead, Write};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use livepatch::Runtime;
use livepatch::library::PatchLibrary;

/// The discount on every fee, which only patches set.
pub static DISCOUNT: AtomicU64 = AtomicU64::new(0);

/// What patches did, in order.
static AUDIT: Mutex<Vec<String>> = Mutex::new(Vec::new());

/// Records what a patch did.
pub fn audit(event: &str) {
    AUDIT.lock().unwrap().push(event.to_owned());
}

/// Sets the discount.
pub fn set_discount(discount: u64) {
    DISCOUNT.store(discount, Ordering::SeqCst);
}

pub mod billing {
    /// The fee for `amount`. The bug: it should be 15%. Not visible outside the program's
    /// library, as most patched functions are not: patches replace it by its path all the same.
    #[livepatch::patchable]
    pub(crate) fn fee(amount: u64) -> u64 {
        amount / 10 // the fee's line
    }

    /// What a customer is quoted.
    pub fn quote(amount: u64) -> u64 {
        fee(amount)
    }
}

/// What one worker saw since the last `observe`.
#[derive(Default)]
struct Seen {
    epoch: u64,
    values: BTreeSet<u64>,
    calls: u64,
}

const WORKERS: usize = 2;
static EPOCH: AtomicU64 = AtomicU64::new(0);
/// Whether the workers rest, so that the call timings have the cores to themselves.
static PAUSED: AtomicBool = AtomicBool::new(false);

/// The first fix, compiled into the program: the baseline of the library's timings.
#[livepatch::livepatch]
mod compiled_fix {
    #[replaces(crate::billing::fee)]
    fn fee(amount: u64) -> u64 {
        amount * 15 / 100
    }
}

/// The fixed fee as a plain function, for the function-pointer baseline.
#[inline(never)]
fn plain_fee(amount: u64) -> u64 {
    amount * 15 / 100
}

/// The baseline of the call timings: the fixed fee through a function pointer the compiler
/// cannot see.
fn fee_through_pointer(amount: u64) -> u64 {
    let fee: fn(u64) -> u64 = std::hint::black_box(plain_fee);
    fee(amount)
}

/// Nanoseconds per call of `call`, over a loop that cannot see which function it calls.
#[inline(never)]
fn time_calls(call: fn(u64) -> u64) -> f64 {
    const CALLS: u64 = 200_000;
    let call = std::hint::black_box(call);
    let started = Instant::now();
    let mut sum = 0u64;
    for i in 0..CALLS {
        sum = sum.wrapping_add(call(std::hint::black_box(i)));
    }
    std::hint::black_box(sum);
    started.elapsed().as_secs_f64() * 1e9 / CALLS as f64
}

/// The median and quartiles of `values`, sorted in place.
fn quartiles(values: &mut [f64]) -> (f64, f64, f64) {
    values.sort_by(f64::total_cmp);
    let n = values.len();
    (values[n / 2], values[n / 4], values[3 * n / 4])
}

/// Times, in one run: opening the library at `path` and enabling its patch to a completed
/// transition while the two workers call, against enabling the compiled-in fix; then, with the
/// library's patch enabled and the workers paused, a patched call against a function-pointer
/// call, in alternating pairs.
fn bench(runtime: &Runtime, path: &str) -> Result<String, Box<dyn std::error::Error>> {
    const ROUNDS: usize = 21;
    let wait = Duration::from_secs(60);
    let (mut library, mut compiled) = (Vec::new(), Vec::new());
    for _ in 0..ROUNDS {
        let started = Instant::now();
        // SAFETY: the bench builds this library from its own sources.
        let opened = unsafe { PatchLibrary::open(path, &LIVEPATCH_PROGRAM) }?;
        runtime.enable(opened.patch())?;
        runtime.wait_transition(wait)?;
        library.push(started.elapsed().as_secs_f64() * 1e6);
        runtime.disable(opened.patch().name())?;
        runtime.wait_transition(wait)?;

        let started = Instant::now();
        runtime.enable(&compiled_fix::PATCH)?;
        runtime.wait_transition(wait)?;
        compiled.push(started.elapsed().as_secs_f64() * 1e6);
        runtime.disable(compiled_fix::PATCH.name())?;
        runtime.wait_transition(wait)?;
    }

    // SAFETY: as above.
    let opened = unsafe { PatchLibrary::open(path, &LIVEPATCH_PROGRAM) }?;
    let through_library = CallTimes::measure(runtime, opened.patch())?;
    let compiled_in = CallTimes::measure(runtime, &compiled_fix::PATCH)?;

    let (lib, lib_low, lib_high) = quartiles(&mut library);
    let (com, com_low, com_high) = quartiles(&mut compiled);
    Ok(format!(
        "bench: open to completed transition {lib:.0} us (quartiles {lib_low:.0}-{lib_high:.0}), \
         compiled-in enable {com:.0} us ({com_low:.0}-{com_high:.0}) over {ROUNDS} rounds; \
         patched call through the library's patch / function-pointer call: {}, through the \
         compiled-in patch {}, over {PAIRS} pairs each",
        through_library.summary(),
        compiled_in.summary(),
    ))
}

const PAIRS: usize = 41;

/// Timings of a patched call and of a function-pointer call, in alternating pairs.
struct CallTimes {
    /// Nanoseconds per function-pointer call.
    pointer: Vec<f64>,
    /// Nanoseconds per patched call.
    patched: Vec<f64>,
    /// Each pair's patched time over its pointer time.
    ratios: Vec<f64>,
}
impl CallTimes {
    /// With `patch` enabled and the workers paused, times a patched call and a function-pointer
    /// call in alternating pairs.
    fn measure(
        runtime: &Runtime,
        patch: &'static livepatch::PatchDesc,
    ) -> Result<CallTimes, Box<dyn std::error::Error>> {
        let wait = Duration::from_secs(60);
        runtime.enable(patch)?;
        runtime.wait_transition(wait)?;
        PAUSED.store(true, Ordering::SeqCst);
        let mut times = CallTimes {
            pointer: Vec::new(),
            patched: Vec::new(),
            ratios: Vec::new(),
        };
        for pair in 0..PAIRS {
            // Both ways make two calls: the loop's call through a pointer it cannot see, then
            // the fee (through a second such pointer, or through the patchable function's slot,
            // as a caller inside the program's library reaches it). The order alternates.
            let (base, patched) = if pair % 2 == 0 {
                let base = time_calls(fee_through_pointer);
                (base, time_calls(billing::fee))
            } else {
                let patched = time_calls(billing::fee);
                (time_calls(fee_through_pointer), patched)
            };
            times.pointer.push(base);
            times.patched.push(patched);
            times.ratios.push(patched / base);
        }
        PAUSED.store(false, Ordering::SeqCst);
        runtime.disable(patch.name())?;
        runtime.wait_transition(wait)?;
        Ok(times)
    }

    /// The median ratio with its quartiles, and the median times.
    fn summary(mut self) -> String {
        let (ratio, low, high) = quartiles(&mut self.ratios);
        let (pointer, ..) = quartiles(&mut self.pointer);
        let (patched, ..) = quartiles(&mut self.patched);
        format!("median {ratio:.2}x ({low:.2}-{high:.2}; {patched:.2} ns against {pointer:.2} ns)")
    }
}

pub fn main() {
    let runtime = Runtime::global();
    let seen: Arc<Vec<Mutex<Seen>>> = Arc::new((0..WORKERS).map(|_| Mutex::default()).collect());
    let stop = Arc::new(AtomicBool::new(false));
    let workers: Vec<_> = (0..WORKERS)
        .map(|i| {
            let (seen, stop) = (Arc::clone(&seen), Arc::clone(&stop));
            std::thread::spawn(move || {
                while !stop.load(Ordering::Relaxed) {
                    if PAUSED.load(Ordering::Relaxed) {
                        std::thread::sleep(Duration::from_millis(1));
                        continue;
                    }
                    // A value counts for the epoch it was computed in, never for a later one.
                    let epoch = EPOCH.load(Ordering::SeqCst);
                    let value = billing::quote(1000);
                    let mut seen = seen[i].lock().unwrap();
                    if seen.epoch == epoch {
                        seen.values.insert(value);
                        seen.calls += 1;
                    }
                }
            })
        })
        .collect();

    let mut out = std::io::stdout().lock();
    writeln!(out, "build {}", LIVEPATCH_PROGRAM.build_id()).unwrap();
    out.flush().unwrap();
    let mut control = None;
    for line in std::io::stdin().lock().lines() {
        let line = line.unwrap();
        let reply = match line.split_once(' ').unwrap_or((&line, "")) {
            ("load", path) => {
                // SAFETY: the test builds these libraries from its own sources.
                match unsafe { PatchLibrary::open(path, &LIVEPATCH_PROGRAM) } {
                    Err(error) => format!("refused: {error}"),
                    Ok(library) => match runtime.enable(library.patch()) {
                        Err(error) => format!("not enabled: {error}"),
                        Ok(()) => match runtime.wait_transition(Duration::from_secs(60)) {
                            Err(error) => format!("transition: {error}"),
                            Ok(()) => format!("loaded {}", library.patch().name()),
                        },
                    },
                }
            }
            ("disable", name) => match runtime.disable(name) {
                Err(error) => format!("not disabled: {error}"),
                Ok(()) => match runtime.wait_transition(Duration::from_secs(60)) {
                    Err(error) => format!("transition: {error}"),
                    Ok(()) => format!("disabled {name}"),
                },
            },
            ("control", path) => {
                let server = livepatch_control::ControlServer::new(runtime)
                    .program(&LIVEPATCH_PROGRAM)
                    .start(path);
                match server {
                    Err(error) => format!("control: {error}"),
                    Ok(server) => {
                        let reply = format!("control at {}", server.path().display());
                        control = Some(server);
                        reply
                    }
                }
            }
            ("observe", _) => observe(&seen),
            ("bench", path) => {
                PAUSED.store(false, Ordering::SeqCst);
                bench(runtime, path).unwrap_or_else(|error| format!("bench: {error}"))
            }
            ("patches", _) => {
                let names: Vec<_> = runtime.patches().iter().map(|p| p.name.to_owned()).collect();
                format!("patches: {}", if names.is_empty() { "none".to_owned() } else { names.join(", ") })
            }
            ("audit", _) => format!("audit: {}", AUDIT.lock().unwrap().join(" | ")),
            ("quit", _) => break,
            _ => format!("unknown command {line:?}"),
        };
        writeln!(out, "{reply}").unwrap();
        out.flush().unwrap();
    }
    drop(control);
    stop.store(true, Ordering::Relaxed);
    for worker in workers {
        worker.join().unwrap();
    }
    writeln!(out, "bye").unwrap();
}

/// The values every worker computes from now on, once each has made a hundred calls.
fn observe(seen: &[Mutex<Seen>]) -> String {
    let epoch = EPOCH.fetch_add(1, Ordering::SeqCst) + 1;
    for worker in seen {
        *worker.lock().unwrap() = Seen { epoch, ..Seen::default() };
    }
    let deadline = Instant::now() + Duration::from_secs(60);
    while seen.iter().any(|worker| worker.lock().unwrap().calls < 100) {
        if Instant::now() > deadline {
            return "observe: the workers stopped calling".to_owned();
        }
        std::thread::sleep(Duration::from_millis(1));
    }
    let mut values = BTreeSet::new();
    for worker in seen {
        values.extend(worker.lock().unwrap().values.iter().copied());
    }
    let values: Vec<u64> = values.into_iter().collect();
    format!("quote(1000) = {values:?} on {} workers", seen.len())
}
