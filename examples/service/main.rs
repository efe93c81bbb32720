//! The main demo: a real HTTP service fixed live, under load, with zero failed requests.
//!
//!     cargo run --example service            # about a minute once built
//!     cargo run --example service -- --short # the same, with shorter steady phases (CI)
//!
//! It builds the shop service (`demo/shop`, a hyper server on tokio that charges 29% instead of
//! 2.9% plus 30 cents), starts it, and keeps four keep-alive connections asking for quotes over
//! loopback the whole time. While the shop serves, it builds three patch crates against that
//! build, then drives the shop's control socket with the `livepatch` command, as an operator
//! would:
//!
//! 1. `livepatch load libfix_fee.so`: the fix (state `FEE_RATE` version 1);
//! 2. `livepatch info libfee_cap.so` and `livepatch plan libfee_cap.so`, then
//!    `livepatch enable fee_cap`: cumulative, it replaces `fix_fee`, takes its rate over and adds
//!    a cap (`FEE_CAP`);
//! 3. `livepatch load libold_rate.so`: declares `FEE_RATE` version 1, and is refused;
//! 4. `livepatch disable fee_cap`: the shipped code answers again.
//!
//! Every answer is checked against the code that was live while it was asked (either the old or
//! the new code during a transition). The summary gives the failures, the wrong answers, each
//! transition's time and the latency of every phase; its last line is
//! `requests=N failed=F wrong=W`. The exit status is non-zero if any request failed, any answer
//! was wrong, or any step did not go as described.
//!
//!     cargo run --release --example service -- --bench 50
//!
//! measures instead: under the same load, the fix is enabled and disabled 50 times straight
//! through the control socket, and the latency of the requests sent during those transitions is
//! set against the steady phases between them (`BENCHMARKS.md`).

mod bench;
mod builds;
mod fees;
mod load;
mod report;
mod service;

use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};
use std::time::Duration;

use builds::Builds;
use fees::Code;
use load::Load;
use report::{Timeline, Verdict};
use service::Service;

/// How long the demo lets the load run between steps.
struct Pace {
    steady: Duration,
}

/// What the demo does once the service runs.
enum Mode {
    /// The operator's four steps.
    Story(Pace),
    /// Enabling and disabling the fix this many times, for the numbers.
    Bench(usize),
}

impl Mode {
    fn from_args(args: &[String]) -> Result<Mode, String> {
        let usage = "usage: service [--short | --bench ROUNDS]";
        match args {
            [] => Ok(Mode::Story(Pace {
                steady: Duration::from_secs(4),
            })),
            [short] if short == "--short" => Ok(Mode::Story(Pace {
                steady: Duration::from_secs(1),
            })),
            [bench, rounds] if bench == "--bench" => match rounds.parse() {
                Ok(rounds) if rounds > 0 => Ok(Mode::Bench(rounds)),
                _ => Err(format!(
                    "--bench takes a number of rounds, 1 or more; {usage}"
                )),
            },
            _ => Err(usage.to_owned()),
        }
    }
}

/// The load generator stops by itself after this, whatever happens.
const LOAD_LIMIT: Duration = Duration::from_secs(600);

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let outcome = Mode::from_args(&args).and_then(|mode| run(&mode));
    match outcome {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(message) => {
            eprintln!("service demo: {message}");
            ExitCode::FAILURE
        }
    }
}

/// Runs the demo; `Ok(false)` when requests failed or answers were wrong.
fn run(mode: &Mode) -> Result<bool, String> {
    let builds = Builds::locate()?;
    println!("== building the shop service (demo/shop)");
    builds.demo(&["server"])?;
    println!("== building the livepatch command");
    let cli = builds.cli()?;

    let dir = std::env::temp_dir().join(format!("livepatch-demo-{}", std::process::id()));
    let service = Service::start(&builds, &dir.join("shop.sock"))?;
    println!(
        "== the shop listens on {}, its control socket is {}",
        service.address,
        service.socket.display()
    );
    check_requests(service.address)?;
    let load = Load::start(service.address, LOAD_LIMIT);
    let operator = Operator {
        cli,
        socket: service.socket.clone(),
    };
    let mut timeline = Timeline::default();
    timeline.begin(
        "shipped, building the patches",
        load.now(),
        Code::Shipped,
        Code::Shipped,
    );
    let steps = match mode {
        Mode::Story(pace) => drive(&builds, &operator, &load, &mut timeline, pace),
        Mode::Bench(rounds) => builds.demo(&["fix_fee"]).and_then(|()| {
            bench::cycle(
                &service.socket,
                &builds.demo_artifact("libfix_fee.so"),
                "fix_fee",
                &load,
                &mut timeline,
                *rounds,
            )
        }),
    };
    let (samples, stopped) = load.finish();
    timeline.end(stopped);
    let stopped = service.stop();
    let _ = std::fs::remove_dir_all(&dir);

    println!("\n== summary");
    match mode {
        Mode::Story(_) => print!("{}", report::summary(&samples, &timeline)),
        Mode::Bench(_) => print!("{}", report::bench_summary(&samples, &timeline)),
    }
    let verdict = Verdict::of(&samples, &timeline);
    let mut ok = verdict.failed == 0 && verdict.wrong == 0;
    for problem in [steps.err(), stopped.err()].into_iter().flatten() {
        println!("  FAILED: {problem}");
        ok = false;
    }
    if verdict.failed > 0 {
        let first = samples
            .iter()
            .find_map(|sample| sample.outcome.as_ref().err());
        println!(
            "  FAILED: {} requests failed, the first with: {first:?}",
            verdict.failed
        );
    }
    if verdict.wrong > 0 {
        println!(
            "  FAILED: {} answers came from code that was not live",
            verdict.wrong
        );
    }
    println!("{}", verdict.line());
    Ok(ok)
}

/// What the shop answers to a good request and to bad ones, before the load starts.
fn check_requests(address: std::net::SocketAddr) -> Result<(), String> {
    // 29% of 1000 cents is 290, plus 30: the shipped bug.
    let expected = [
        (
            "/quote?amount=1000",
            200,
            "{\"amount\":1000,\"fee\":320}".to_owned(),
        ),
        (
            "/quote?amount=ten",
            400,
            "{\"error\":\"give the amount in cents, 0 to 1000000000000: /quote?amount=1000\"}"
                .to_owned(),
        ),
        (
            "/quote?amount=1000000000001",
            400,
            "{\"error\":\"give the amount in cents, 0 to 1000000000000: /quote?amount=1000\"}"
                .to_owned(),
        ),
        (
            "/checkout",
            404,
            "{\"error\":\"the only resource is GET /quote?amount=CENTS\"}".to_owned(),
        ),
    ];
    for (target, status, body) in expected {
        let answer = load::get(address, target)?;
        println!("  GET {target} -> {} {}", answer.0, answer.1);
        if answer != (status, body.clone()) {
            return Err(format!(
                "GET {target} answered {answer:?}, not {status} {body}"
            ));
        }
    }
    Ok(())
}

/// The steps, under load: building the patches, then the operator's four.
fn drive(
    builds: &Builds,
    operator: &Operator,
    load: &Load,
    timeline: &mut Timeline,
    pace: &Pace,
) -> Result<(), String> {
    println!("== building the patches while the shop serves");
    builds.demo(&["fix_fee", "fee_cap", "old_rate"])?;
    let library = |name: &str| builds.demo_artifact(&format!("lib{name}.so"));

    steady(timeline, load, pace, "shipped, steady", Code::Shipped);

    println!("== 1. the fix");
    timeline.begin("fix_fee loading", load.now(), Code::Shipped, Code::Fixed);
    // `load` opens the library, enables its patch and waits for the transition.
    operator.expect(0, &["load".as_ref(), library("fix_fee").as_os_str()])?;
    steady(timeline, load, pace, "fix_fee, steady", Code::Fixed);

    println!("== 2. the cumulative patch: it takes the fix's rate over and caps the fee");
    // What the library holds, read from its manifest; then what enabling it would do. The plan
    // loads the library without enabling it: the fix keeps answering meanwhile.
    operator.expect(0, &["info".as_ref(), library("fee_cap").as_os_str()])?;
    operator.expect(0, &["plan".as_ref(), library("fee_cap").as_os_str()])?;
    timeline.begin("fee_cap enabling", load.now(), Code::Fixed, Code::Capped);
    operator.expect(0, &["enable", "fee_cap"].map(AsRef::as_ref))?;
    operator.expect(0, &["transition", "--wait", "30000"].map(AsRef::as_ref))?;
    timeline.begin("fee_cap, steady", load.now(), Code::Capped, Code::Capped);
    operator.expect(0, &["list".as_ref()])?;
    std::thread::sleep(pace.steady);

    println!("== 3. a patch with a lower state version");
    timeline.begin("old_rate refused", load.now(), Code::Capped, Code::Capped);
    let refusal = operator.expect(1, &["load".as_ref(), library("old_rate").as_os_str()])?;
    for named in ["old_rate", "FEE_RATE", "fee_cap", "version 2", "to 1"] {
        if !refusal.contains(named) {
            return Err(format!(
                "the refusal of old_rate does not name {named:?}: {refusal}"
            ));
        }
    }
    steady(timeline, load, pace, "fee_cap, steady again", Code::Capped);

    println!("== 4. disabled: the shipped code answers again");
    timeline.begin("fee_cap disabling", load.now(), Code::Capped, Code::Shipped);
    operator.expect(0, &["disable", "fee_cap"].map(AsRef::as_ref))?;
    operator.expect(0, &["transition", "--wait", "30000"].map(AsRef::as_ref))?;
    steady(timeline, load, pace, "shipped again, steady", Code::Shipped);
    Ok(())
}

/// A steady phase of `code`, from now for the pace's time.
fn steady(timeline: &mut Timeline, load: &Load, pace: &Pace, label: &str, code: Code) {
    timeline.begin(label, load.now(), code, code);
    std::thread::sleep(pace.steady);
}

/// The operator: the `livepatch` command against the shop's socket.
struct Operator {
    cli: PathBuf,
    socket: PathBuf,
}

impl Operator {
    /// Runs `livepatch --socket SOCKET ARGS…`, shows the command and what it printed, and
    /// returns its output when it exits with `code`.
    fn expect(&self, code: i32, args: &[&std::ffi::OsStr]) -> Result<String, String> {
        let shown: Vec<String> = args.iter().map(|arg| shorten(Path::new(arg))).collect();
        println!("$ livepatch {}", shown.join(" "));
        let output = Command::new(&self.cli)
            .arg("--socket")
            .arg(&self.socket)
            .args(args)
            .output()
            .map_err(|error| format!("cannot run {}: {error}", self.cli.display()))?;
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
        for line in text.lines() {
            println!("  {line}");
        }
        match output.status.code() {
            Some(got) if got == code => Ok(text),
            got => Err(format!(
                "`livepatch {}` exited with {got:?}, not {code}",
                shown.join(" ")
            )),
        }
    }
}

/// A path as shown to the reader: relative to the current directory when it is under it.
fn shorten(path: &Path) -> String {
    std::env::current_dir()
        .ok()
        .and_then(|here| path.strip_prefix(here).ok().map(Path::to_owned))
        .unwrap_or_else(|| path.to_owned())
        .display()
        .to_string()
}
