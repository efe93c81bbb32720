//! What should have been live when, and how each request compares with it: the checks and the
//! summary of the demo.

use std::fmt::Write as _;
use std::time::Duration;

use crate::fees::Code;
use crate::load::Sample;

/// A stretch of the demo with the code that may answer in it.
#[derive(Clone, Debug)]
pub struct Phase {
    pub label: String,
    pub from: Duration,
    pub to: Duration,
    /// The code live before the phase, and the code live at its end: the same for a steady
    /// phase, old and new for a change, when either may answer.
    pub before: Code,
    pub after: Code,
}

impl Phase {
    fn is_change(&self) -> bool {
        self.before != self.after
    }

    /// Whether the request was in flight at some moment of this phase.
    fn overlaps(&self, sample: &Sample) -> bool {
        self.from <= sample.answered && sample.sent <= self.to
    }
}

/// The phases of the demo, one after the other.
#[derive(Debug, Default)]
pub struct Timeline {
    phases: Vec<Phase>,
}

impl Timeline {
    /// Starts a phase at `at`, ending the one before it there.
    pub fn begin(&mut self, label: impl Into<String>, at: Duration, before: Code, after: Code) {
        if let Some(last) = self.phases.last_mut() {
            last.to = at;
        }
        self.phases.push(Phase {
            label: label.into(),
            from: at,
            to: Duration::MAX,
            before,
            after,
        });
    }

    /// Ends the last phase at `at`.
    pub fn end(&mut self, at: Duration) {
        if let Some(last) = self.phases.last_mut() {
            last.to = at;
        }
    }

    /// The phases a request between `sent` and `answered` overlaps.
    fn overlapping(&self, sample: &Sample) -> impl Iterator<Item = &Phase> {
        self.phases
            .iter()
            .filter(move |phase| phase.overlaps(sample))
    }

    /// Whether the answer of `sample` is one that code live at some moment of it charges.
    fn is_right(&self, sample: &Sample, fee: u64) -> bool {
        self.overlapping(sample).any(|phase| {
            [phase.before, phase.after]
                .into_iter()
                .any(|code| code.fee(sample.amount) == fee)
        })
    }
}

/// The counts the demo is judged by.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Verdict {
    pub requests: usize,
    pub failed: usize,
    pub wrong: usize,
}

impl Verdict {
    pub fn of(samples: &[Sample], timeline: &Timeline) -> Verdict {
        let mut verdict = Verdict {
            requests: samples.len(),
            ..Verdict::default()
        };
        for sample in samples {
            match &sample.outcome {
                Err(_) => verdict.failed += 1,
                Ok(fee) if !timeline.is_right(sample, *fee) => verdict.wrong += 1,
                Ok(_) => {}
            }
        }
        verdict
    }

    /// The demo's last line, for scripts.
    pub fn line(&self) -> String {
        format!(
            "requests={} failed={} wrong={}",
            self.requests, self.failed, self.wrong
        )
    }
}

/// The value at quantile `q` (nearest rank) of sorted `values`.
fn quantile(sorted: &[Duration], q: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let rank = (q * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

/// Latency and rate of the requests sent in one phase.
#[derive(Debug, PartialEq)]
pub struct PhaseStats {
    pub requests: usize,
    pub per_second: f64,
    pub p50: Duration,
    pub p99: Duration,
}

impl PhaseStats {
    fn of(phase: &Phase, samples: &[Sample]) -> PhaseStats {
        PhaseStats::over(std::slice::from_ref(phase), samples)
    }

    /// The requests sent in any of `phases`, over their total time.
    fn over(phases: &[Phase], samples: &[Sample]) -> PhaseStats {
        let mut latencies: Vec<Duration> = samples
            .iter()
            .filter(|sample| {
                phases
                    .iter()
                    .any(|phase| phase.from <= sample.sent && sample.sent < phase.to)
            })
            .map(|sample| sample.answered - sample.sent)
            .collect();
        latencies.sort();
        let seconds: f64 = phases
            .iter()
            .map(|phase| (phase.to - phase.from).as_secs_f64())
            .sum();
        PhaseStats {
            requests: latencies.len(),
            per_second: if seconds > 0.0 {
                latencies.len() as f64 / seconds
            } else {
                0.0
            },
            p50: quantile(&latencies, 0.50),
            p99: quantile(&latencies, 0.99),
        }
    }
}

/// The counts of a summary, and the header of its latency table, whose first column is `first`.
fn head(samples: &[Sample], timeline: &Timeline, first: &str) -> String {
    let verdict = Verdict::of(samples, timeline);
    let mut out = format!(
        "{} requests over {} keep-alive connections: {} failed, {} wrong\n",
        verdict.requests,
        crate::load::CONNECTIONS,
        verdict.failed,
        verdict.wrong
    );
    let _ = writeln!(
        out,
        "\n  {first:<34} {:>8} {:>8} {:>10} {:>10}",
        "requests", "req/s", "p50", "p99"
    );
    out
}

/// One row of the latency table.
fn row(out: &mut String, label: &str, stats: &PhaseStats) {
    let _ = writeln!(
        out,
        "  {label:<34} {:>8} {:>8.0} {:>10} {:>10}",
        stats.requests,
        stats.per_second,
        ms(stats.p50),
        ms(stats.p99)
    );
}

fn ms(duration: Duration) -> String {
    format!("{:.2} ms", duration.as_secs_f64() * 1e3)
}

/// The summary: counts, every phase's latency, each change's time and which code answered in it,
/// and its p99 against the steady phase before it.
pub fn summary(samples: &[Sample], timeline: &Timeline) -> String {
    let mut out = head(samples, timeline, "phase");
    let stats: Vec<PhaseStats> = timeline
        .phases
        .iter()
        .map(|phase| PhaseStats::of(phase, samples))
        .collect();
    for (phase, stats) in timeline.phases.iter().zip(&stats) {
        row(&mut out, &phase.label, stats);
    }
    let _ = writeln!(out);
    for (index, phase) in timeline.phases.iter().enumerate() {
        if !phase.is_change() {
            continue;
        }
        let during: Vec<&Sample> = samples
            .iter()
            .filter(|sample| phase.overlaps(sample))
            .collect();
        // An answer only one side charges tells which code ran; some amounts cost the same.
        let answered_only_by = |code: Code, other: Code| {
            during
                .iter()
                .filter(|sample| {
                    sample.outcome == Ok(code.fee(sample.amount))
                        && code.fee(sample.amount) != other.fee(sample.amount)
                })
                .count()
        };
        let steady = index
            .checked_sub(1)
            .map(|before| &stats[before])
            .filter(|before| before.requests > 0);
        let ratio = steady.map_or(String::new(), |steady| {
            format!(
                "; p99 {:.2}x the steady p99 before it",
                stats[index].p99.as_secs_f64() / steady.p99.as_secs_f64()
            )
        });
        let _ = writeln!(
            out,
            "  {} -> {}: {} from the operator's first command to the completed transition; \
             of the {} answers that overlapped it, {} were {}'s and {} {}'s (the rest, both \
             charge alike){ratio}",
            phase.before.name(),
            phase.after.name(),
            ms(phase.to - phase.from),
            during.len(),
            answered_only_by(phase.before, phase.after),
            phase.before.name(),
            answered_only_by(phase.after, phase.before),
            phase.after.name(),
        );
    }
    let _ = writeln!(
        out,
        "  (a step's p99 comes from its few requests and includes the livepatch command's own \
         start; `--bench ROUNDS` sets many transitions against steady state)"
    );
    out
}

/// The summary of a bench run: the steady phases against the changes, all rounds together.
pub fn bench_summary(samples: &[Sample], timeline: &Timeline) -> String {
    let (changes, steady): (Vec<Phase>, Vec<Phase>) =
        timeline.phases.iter().cloned().partition(Phase::is_change);
    let mut times: Vec<Duration> = changes.iter().map(|phase| phase.to - phase.from).collect();
    times.sort();
    let (steady_stats, change_stats) = (
        PhaseStats::over(&steady, samples),
        PhaseStats::over(&changes, samples),
    );
    let mut out = head(samples, timeline, "requests sent");
    for (label, stats) in [
        ("in steady phases", &steady_stats),
        (
            &*format!("during the {} transitions", changes.len()),
            &change_stats,
        ),
    ] {
        row(&mut out, label, stats);
    }
    let _ = writeln!(
        out,
        "\n  p99 during transitions / steady p99: {:.2}x; throughput during / steady: {:.2}x; \
         a transition (enable or disable request to completion) takes {} median, {} at most",
        change_stats.p99.as_secs_f64() / steady_stats.p99.as_secs_f64(),
        change_stats.per_second / steady_stats.per_second,
        ms(quantile(&times, 0.5)),
        ms(quantile(&times, 1.0)),
    );
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(sent_ms: u64, answered_ms: u64, amount: u64, fee: Result<u64, &str>) -> Sample {
        Sample {
            sent: Duration::from_millis(sent_ms),
            answered: Duration::from_millis(answered_ms),
            amount,
            outcome: fee.map_err(str::to_owned),
        }
    }

    /// Shipped until 100 ms, changing to the fix until 200 ms, fixed until 300 ms.
    fn timeline() -> Timeline {
        let mut timeline = Timeline::default();
        let at = Duration::from_millis;
        timeline.begin("shipped", at(0), Code::Shipped, Code::Shipped);
        timeline.begin("loading", at(100), Code::Shipped, Code::Fixed);
        timeline.begin("fixed", at(200), Code::Fixed, Code::Fixed);
        timeline.end(at(300));
        timeline
    }

    #[test]
    fn an_answer_counts_as_right_only_for_code_live_while_it_was_asked() {
        // 20000 cents: 29% + 30 = 5830 shipped, 2.9% + 30 = 610 fixed.
        let samples = [
            sample(10, 20, 20000, Ok(5830)),   // shipped, steady: right
            sample(10, 20, 20000, Ok(610)),    // the fix before it was loaded: wrong
            sample(150, 160, 20000, Ok(5830)), // during the change, old: right
            sample(150, 160, 20000, Ok(610)),  // during the change, new: right
            sample(95, 105, 20000, Ok(610)),   // overlaps the change's start: right
            sample(250, 260, 20000, Ok(5830)), // old after the change completed: wrong
            sample(250, 260, 20000, Ok(611)),  // no version charges this: wrong
            sample(250, 260, 20000, Err("the connection closed")),
        ];
        assert_eq!(
            Verdict::of(&samples, &timeline()),
            Verdict {
                requests: 8,
                failed: 1,
                wrong: 3
            }
        );
        assert_eq!(
            Verdict::of(&samples, &timeline()).line(),
            "requests=8 failed=1 wrong=3"
        );
    }

    #[test]
    fn latency_quantiles_are_nearest_rank() {
        let sorted: Vec<Duration> = (1..=200).map(Duration::from_millis).collect();
        assert_eq!(quantile(&sorted, 0.50), Duration::from_millis(100));
        assert_eq!(quantile(&sorted, 0.99), Duration::from_millis(198));
        assert_eq!(quantile(&sorted[..1], 0.99), Duration::from_millis(1));
        assert_eq!(quantile(&[], 0.99), Duration::ZERO);
    }

    #[test]
    fn a_phase_counts_the_requests_sent_in_it() {
        let timeline = timeline();
        let samples = [
            sample(10, 12, 1000, Ok(320)),
            sample(20, 24, 1000, Ok(320)),
            sample(99, 130, 1000, Ok(320)),
            sample(100, 101, 1000, Ok(59)),
        ];
        assert_eq!(
            PhaseStats::of(&timeline.phases[0], &samples),
            PhaseStats {
                requests: 3,
                per_second: 30.0,
                p50: Duration::from_millis(4),
                p99: Duration::from_millis(31),
            }
        );
    }
}
