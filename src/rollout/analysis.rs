//! Analysis: may this stage advance? Absolute limits on the canary and
//! canary-versus-stable comparisons, over a window, with a minimum number of
//! samples. The answer is pass, fail or inconclusive, with its numbers.
//!
//! Fail-safe by construction: every check starts inconclusive and only
//! enough fresh data can make it pass, so a verdict never passes without data.

use std::fmt;
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::effects::Weights;
use crate::units::format_duration;

/// How a stage is judged. Defaults follow common canary-analysis practice.
#[derive(Debug, Clone, PartialEq)]
pub struct AnalysisSpec {
    pub window: Duration,
    /// How often samples are expected.
    pub interval: Duration,
    /// Samples needed, per version and metric, inside the window.
    pub min_samples: usize,
    /// A newest sample older than this makes the verdict inconclusive.
    pub max_staleness: Duration,
    pub max_error_ratio: Option<f64>,
    pub max_p99: Option<Duration>,
    pub error_ratio_factor: f64,
    /// Below this the canary's error ratio passes whatever stable's is, so
    /// 0.01% against a perfect 0% is not a failure.
    pub error_ratio_floor: f64,
    pub p99_factor: f64,
    pub memory_factor: f64,
    pub throughput_factor: f64,
}

impl Default for AnalysisSpec {
    fn default() -> Self {
        let interval = Duration::from_secs(15);
        AnalysisSpec {
            window: Duration::from_secs(120),
            interval,
            min_samples: 4,
            max_staleness: interval * 2,
            max_error_ratio: None,
            max_p99: None,
            error_ratio_factor: 2.0,
            error_ratio_floor: 0.001,
            p99_factor: 1.2,
            memory_factor: 1.3,
            throughput_factor: 0.8,
        }
    }
}

/// One reading.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Point {
    pub at: DateTime<Utc>,
    pub value: f64,
}

/// One metric for both versions.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Series {
    pub canary: Vec<Point>,
    pub stable: Vec<Point>,
}

/// What the metrics source returned for the analysis.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Observations {
    /// The weights in force, to compare throughput per point of traffic.
    pub weights: Option<Weights>,
    /// Requests per second.
    pub request_rate: Series,
    /// 5xx over all responses, 0–1.
    pub error_ratio: Series,
    /// Seconds.
    pub p99: Series,
    /// Bytes.
    pub memory: Series,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Outcome {
    Pass,
    Fail,
    Inconclusive,
}

impl fmt::Display for Outcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Outcome::Pass => "pass",
            Outcome::Fail => "fail",
            Outcome::Inconclusive => "inconclusive",
        })
    }
}

/// One check's numbers and result.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Check {
    pub name: String,
    pub canary: Option<f64>,
    pub stable: Option<f64>,
    /// The limit the canary was held to, when it could be computed.
    pub limit: Option<f64>,
    pub outcome: Outcome,
    pub reason: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Verdict {
    pub outcome: Outcome,
    pub at: DateTime<Utc>,
    /// Why, in one line: the first failing check, else the first
    /// inconclusive one, else a summary.
    pub reason: String,
    pub checks: Vec<Check>,
}

impl Verdict {
    /// A verdict when the metrics source could not be asked at all.
    pub fn unreachable(why: &str, at: DateTime<Utc>) -> Verdict {
        Verdict {
            outcome: Outcome::Inconclusive,
            at,
            reason: format!("metrics unavailable: {why}"),
            checks: Vec::new(),
        }
    }
}

impl fmt::Display for Verdict {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.outcome, self.reason)
    }
}

/// A latency in seconds: `850ms`, `2.60s`.
pub fn format_seconds(v: f64) -> String {
    if v < 1.0 {
        format!("{:.0}ms", v * 1000.0)
    } else {
        format!("{v:.2}s")
    }
}

#[derive(Clone, Copy)]
enum Unit {
    Ratio,
    Seconds,
    Bytes,
    Rate,
}

fn show(unit: Unit, v: f64) -> String {
    match unit {
        Unit::Ratio => format!("{:.2}%", v * 100.0),
        Unit::Seconds => format_seconds(v),
        Unit::Bytes => crate::units::format_bytes(v.max(0.0) as u64),
        Unit::Rate => format!("{v:.1}/s"),
    }
}

enum Aggregate {
    Mean,
    Max,
}

/// The usable numbers of one version inside the window, or why there are none.
fn summarise(
    points: &[Point],
    spec: &AnalysisSpec,
    from: DateTime<Utc>,
    now: DateTime<Utc>,
    how: &Aggregate,
    who: &str,
) -> Result<f64, String> {
    let inside: Vec<&Point> = points
        .iter()
        .filter(|p| p.at >= from && p.at <= now && p.value.is_finite())
        .collect();
    let Some(newest) = inside.iter().map(|p| p.at).max() else {
        return Err(format!("no {who} samples in the window"));
    };
    let age = (now - newest).to_std().unwrap_or_default();
    if age > spec.max_staleness {
        return Err(format!(
            "{who} data is stale: newest sample is {} old",
            format_duration(age)
        ));
    }
    if inside.len() < spec.min_samples {
        return Err(format!(
            "{} {who} samples, need {}",
            inside.len(),
            spec.min_samples
        ));
    }
    let values = inside.iter().map(|p| p.value);
    Ok(match how {
        Aggregate::Mean => values.sum::<f64>() / inside.len() as f64,
        Aggregate::Max => values.fold(f64::MIN, f64::max),
    })
}

struct Judge<'a> {
    spec: &'a AnalysisSpec,
    from: DateTime<Utc>,
    now: DateTime<Utc>,
    checks: Vec<Check>,
}

impl Judge<'_> {
    fn inconclusive(&mut self, name: &str, canary: Option<f64>, stable: Option<f64>, why: String) {
        self.checks.push(Check {
            name: name.into(),
            canary,
            stable,
            limit: None,
            outcome: Outcome::Inconclusive,
            reason: why,
        });
    }

    /// canary ≤ limit (or ≥ for `at_least`).
    fn compare(
        &mut self,
        name: &str,
        unit: Unit,
        c: f64,
        s: Option<f64>,
        limit: f64,
        at_least: bool,
    ) {
        let ok = if at_least { c >= limit } else { c <= limit };
        let sign = match (ok, at_least) {
            (true, false) => "≤",
            (false, false) => ">",
            (true, true) => "≥",
            (false, true) => "<",
        };
        self.checks.push(Check {
            name: name.into(),
            canary: Some(c),
            stable: s,
            limit: Some(limit),
            outcome: if ok { Outcome::Pass } else { Outcome::Fail },
            reason: format!("canary {} {sign} {}", show(unit, c), show(unit, limit)),
        });
    }

    fn both(&self, series: &Series, how: &Aggregate) -> (Result<f64, String>, Result<f64, String>) {
        (
            summarise(
                &series.canary,
                self.spec,
                self.from,
                self.now,
                how,
                "canary",
            ),
            summarise(
                &series.stable,
                self.spec,
                self.from,
                self.now,
                how,
                "stable",
            ),
        )
    }

    /// An absolute ceiling on the canary alone.
    fn absolute(&mut self, name: &str, unit: Unit, series: &Series, how: &Aggregate, max: f64) {
        match summarise(
            &series.canary,
            self.spec,
            self.from,
            self.now,
            how,
            "canary",
        ) {
            Ok(c) => self.compare(name, unit, c, None, max, false),
            Err(why) => self.inconclusive(name, None, None, why),
        }
    }

    /// canary ≤ max(stable × factor, floor).
    fn relative(
        &mut self,
        name: &str,
        unit: Unit,
        series: &Series,
        how: &Aggregate,
        factor: f64,
        floor: f64,
    ) {
        match self.both(series, how) {
            (Ok(c), Ok(s)) => self.compare(name, unit, c, Some(s), (s * factor).max(floor), false),
            (c, s) => {
                let why = [&c, &s]
                    .iter()
                    .filter_map(|r| r.as_ref().err().cloned())
                    .collect::<Vec<_>>()
                    .join("; ");
                self.inconclusive(name, c.ok(), s.ok(), why);
            }
        }
    }
}

/// Judges the stage from `obs` (or the reason the source failed), counting
/// only samples newer than both `now - window` and `stage_began`.
pub fn analyse(
    spec: &AnalysisSpec,
    obs: Result<&Observations, &str>,
    stage_began: Option<DateTime<Utc>>,
    now: DateTime<Utc>,
) -> Verdict {
    let obs = match obs {
        Ok(obs) => obs,
        Err(why) => return Verdict::unreachable(why, now),
    };
    let window = chrono::Duration::from_std(spec.window).unwrap_or(chrono::Duration::MAX);
    let window_start = now
        .checked_sub_signed(window)
        .unwrap_or(DateTime::<Utc>::MIN_UTC);
    let from = stage_began.map_or(window_start, |s| s.max(window_start));
    let mut judge = Judge {
        spec,
        from,
        now,
        checks: Vec::new(),
    };

    if let Some(max) = spec.max_error_ratio {
        judge.absolute(
            "error ratio (absolute)",
            Unit::Ratio,
            &obs.error_ratio,
            &Aggregate::Mean,
            max,
        );
    }
    if let Some(max) = spec.max_p99 {
        judge.absolute(
            "p99 (absolute)",
            Unit::Seconds,
            &obs.p99,
            &Aggregate::Mean,
            max.as_secs_f64(),
        );
    }
    judge.relative(
        "error ratio vs stable",
        Unit::Ratio,
        &obs.error_ratio,
        &Aggregate::Mean,
        spec.error_ratio_factor,
        spec.error_ratio_floor,
    );
    judge.relative(
        "p99 vs stable",
        Unit::Seconds,
        &obs.p99,
        &Aggregate::Mean,
        spec.p99_factor,
        0.0,
    );
    judge.relative(
        "memory vs stable",
        Unit::Bytes,
        &obs.memory,
        &Aggregate::Max,
        spec.memory_factor,
        0.0,
    );
    throughput(&mut judge, obs);

    let checks = judge.checks;
    let first = |o: Outcome| checks.iter().find(|c| c.outcome == o);
    let (outcome, reason) = if let Some(c) = first(Outcome::Fail) {
        (Outcome::Fail, format!("{}: {}", c.name, c.reason))
    } else if let Some(c) = first(Outcome::Inconclusive) {
        (Outcome::Inconclusive, format!("{}: {}", c.name, c.reason))
    } else if checks.iter().any(|c| c.outcome == Outcome::Pass) {
        let passed = checks.iter().filter(|c| c.outcome == Outcome::Pass).count();
        (Outcome::Pass, format!("{passed} checks passed"))
    } else {
        (Outcome::Inconclusive, "no check could be made".to_string())
    };
    Verdict {
        outcome,
        at: now,
        reason,
        checks,
    }
}

/// Requests per point of weight: a canary at 10% should serve about a ninth
/// of what stable at 90% serves, not the same.
fn throughput(judge: &mut Judge<'_>, obs: &Observations) {
    const NAME: &str = "throughput vs stable";
    let Some(w) = obs.weights else {
        judge.inconclusive(NAME, None, None, "the weights in force are unknown".into());
        return;
    };
    if w.canary_percent() == 0 || w.stable_percent() == 0 {
        // One side gets no traffic by design: nothing to compare, nothing wrong.
        return;
    }
    match judge.both(&obs.request_rate, &Aggregate::Mean) {
        (Ok(c), Ok(s)) => {
            let per_point_c = c / f64::from(w.canary_percent());
            let per_point_s = s / f64::from(w.stable_percent());
            let limit = per_point_s * judge.spec.throughput_factor;
            judge.compare(
                NAME,
                Unit::Rate,
                per_point_c * 100.0,
                Some(per_point_s * 100.0),
                limit * 100.0,
                true,
            );
        }
        (c, s) => {
            let why = [&c, &s]
                .iter()
                .filter_map(|r| r.as_ref().err().cloned())
                .collect::<Vec<_>>()
                .join("; ");
            judge.inconclusive(NAME, c.ok(), s.ok(), why);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn t(secs: i64) -> DateTime<Utc> {
        Utc.timestamp_opt(1_700_000_000 + secs, 0).unwrap()
    }

    fn flat(value: f64, until: i64) -> Vec<Point> {
        (0..=until)
            .step_by(15)
            .map(|s| Point { at: t(s), value })
            .collect()
    }

    fn healthy(until: i64) -> Observations {
        Observations {
            weights: Some(Weights::canary(10)),
            request_rate: Series {
                canary: flat(12.0, until),
                stable: flat(108.0, until),
            },
            error_ratio: Series {
                canary: flat(0.003, until),
                stable: flat(0.004, until),
            },
            p99: Series {
                canary: flat(0.21, until),
                stable: flat(0.22, until),
            },
            memory: Series {
                canary: flat(175.0 * 1024.0 * 1024.0, until),
                stable: flat(180.0 * 1024.0 * 1024.0, until),
            },
        }
    }

    proptest::proptest! {
        /// Take away one metric of one version, or let the source go quiet
        /// for longer than allowed: the verdict is never a pass, however good
        /// the other numbers are.
        #[test]
        fn missing_or_stale_samples_never_pass(
            metric in 0usize..4,
            canary_side in proptest::bool::ANY,
            drop_all in proptest::bool::ANY,
            quiet in 31i64..600,
        ) {
            let spec = AnalysisSpec::default();
            let mut obs = healthy(120);
            let mut now = t(120);
            if drop_all {
                let series = [
                    &mut obs.request_rate,
                    &mut obs.error_ratio,
                    &mut obs.p99,
                    &mut obs.memory,
                ]
                .into_iter()
                .nth(metric)
                .unwrap();
                if canary_side {
                    series.canary.clear();
                } else {
                    series.stable.clear();
                }
            } else {
                now = t(120 + quiet);
            }
            let v = analyse(&spec, Ok(&obs), None, now);
            proptest::prop_assert_eq!(v.outcome, Outcome::Inconclusive, "{:#?}", v);
        }
    }

    #[test]
    fn healthy_canary_passes() {
        let v = analyse(&AnalysisSpec::default(), Ok(&healthy(120)), None, t(120));
        assert_eq!(v.outcome, Outcome::Pass, "{v:#?}");
        assert_eq!(v.reason, "4 checks passed");
    }

    #[test]
    fn error_ratio_over_twice_stable_fails_with_numbers() {
        let mut obs = healthy(120);
        obs.error_ratio.canary = flat(0.08, 120);
        let v = analyse(&AnalysisSpec::default(), Ok(&obs), None, t(120));
        assert_eq!(v.outcome, Outcome::Fail);
        assert_eq!(v.reason, "error ratio vs stable: canary 8.00% > 0.80%");
    }

    #[test]
    fn floor_keeps_tiny_error_ratios_from_failing() {
        let mut obs = healthy(120);
        obs.error_ratio.stable = flat(0.0, 120);
        obs.error_ratio.canary = flat(0.0001, 120);
        let v = analyse(&AnalysisSpec::default(), Ok(&obs), None, t(120));
        assert_eq!(v.outcome, Outcome::Pass, "{v:#?}");
    }

    #[test]
    fn slow_and_leaky_canaries_fail() {
        let mut obs = healthy(120);
        obs.p99.canary = flat(2.6, 120);
        let v = analyse(&AnalysisSpec::default(), Ok(&obs), None, t(120));
        assert_eq!(v.reason, "p99 vs stable: canary 2.60s > 264ms");
        let mut obs = healthy(120);
        obs.memory.canary = flat(300.0 * 1024.0 * 1024.0, 120);
        let v = analyse(&AnalysisSpec::default(), Ok(&obs), None, t(120));
        assert_eq!(v.reason, "memory vs stable: canary 300Mi > 234Mi");
    }

    #[test]
    fn a_canary_serving_too_little_fails_throughput() {
        let mut obs = healthy(120);
        obs.request_rate.canary = flat(6.0, 120);
        let v = analyse(&AnalysisSpec::default(), Ok(&obs), None, t(120));
        assert_eq!(v.outcome, Outcome::Fail);
        assert!(
            v.reason
                .starts_with("throughput vs stable: canary 60.0/s < 96.0/s"),
            "{}",
            v.reason
        );
    }

    #[test]
    fn missing_stale_or_unreachable_data_is_inconclusive() {
        let spec = AnalysisSpec::default();
        let empty = analyse(&spec, Ok(&Observations::default()), None, t(120));
        assert_eq!(empty.outcome, Outcome::Inconclusive);
        assert_eq!(
            empty.reason,
            "error ratio vs stable: no canary samples in the window; \
             no stable samples in the window"
        );

        let stale = analyse(&spec, Ok(&healthy(60)), None, t(120));
        assert_eq!(stale.outcome, Outcome::Inconclusive);
        assert_eq!(
            stale.reason,
            "error ratio vs stable: canary data is stale: newest sample is 1m00s old; \
             stable data is stale: newest sample is 1m00s old"
        );

        let down = analyse(&spec, Err("connection refused"), None, t(120));
        assert_eq!(
            down.to_string(),
            "inconclusive: metrics unavailable: connection refused"
        );
    }

    #[test]
    fn only_samples_since_the_stage_began_count() {
        let v = analyse(
            &AnalysisSpec::default(),
            Ok(&healthy(120)),
            Some(t(90)),
            t(120),
        );
        assert_eq!(v.outcome, Outcome::Inconclusive);
        assert_eq!(
            v.reason,
            "error ratio vs stable: 3 canary samples, need 4; 3 stable samples, need 4"
        );
    }
}
