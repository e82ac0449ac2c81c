//! Guards: a metric, a threshold, how long it must hold, and what to do then.
//!
//! Evaluation is over the samples a worker collected, newest last. It is
//! deliberately suspicious: a threshold crossed for less than `for` never
//! fires, a gap in the samples restarts the clock, and missing samples are
//! reported as no data, never as a pass.
//!
//! # What a firing guard does
//!
//! The watcher raises an [`Alarm`] once, when a guard starts firing; the
//! stage machine (`machine::step` with `Event::GuardFired`) then applies one
//! rule:
//!
//! - `notify`: recorded and sent to the webhooks; the rollout carries on.
//! - `hold`: the stage is paused for the captain, whatever the mode.
//! - `rollback` / `gradual-rollback` with `auto` (plan or `--auto`): the
//!   rollout aborts by itself, all at once or stepping the weights down. A
//!   `rollback` alarm during a gradual rollback finishes it at once.
//! - `rollback` / `gradual-rollback` without `auto`: the stage holds and the
//!   alarm is shown and sent, so the captain decides; nothing is undone
//!   behind their back.
//!
//! A guard with no data never acts; it holds nothing either, but the
//! analysis of the same numbers is inconclusive, so the stage cannot advance.

use std::fmt;
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::units::format_duration;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum GuardMetric {
    /// Canary 5xx responses over all its responses, 0–1.
    ErrorRatio,
    /// Canary p99 latency, in seconds.
    LatencyP99,
    /// Canary p95 latency, in seconds.
    LatencyP95,
    /// One sample per probe: 1 a failure, 0 a success.
    HealthCheck,
    /// Canary working-set memory over its container limit, 0–1.
    MemoryRatioOfLimit,
    /// Canary container restarts since the stage began (a pod in
    /// CrashLoopBackOff counts at least one).
    Restarts,
}

impl GuardMetric {
    pub fn name(self) -> &'static str {
        match self {
            GuardMetric::ErrorRatio => "error-ratio",
            GuardMetric::LatencyP99 => "latency-p99",
            GuardMetric::LatencyP95 => "latency-p95",
            GuardMetric::HealthCheck => "health-check",
            GuardMetric::MemoryRatioOfLimit => "memory-ratio-of-limit",
            GuardMetric::Restarts => "restarts",
        }
    }

    /// A value of this metric the way a person reads it.
    pub fn show(self, value: f64) -> String {
        match self {
            GuardMetric::ErrorRatio | GuardMetric::MemoryRatioOfLimit => {
                format!("{:.1}%", value * 100.0)
            }
            GuardMetric::LatencyP99 | GuardMetric::LatencyP95 => {
                super::analysis::format_seconds(value)
            }
            GuardMetric::HealthCheck | GuardMetric::Restarts => format!("{value:.0}"),
        }
    }
}

impl fmt::Display for GuardMetric {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum GuardAction {
    /// Pause the stage until the captain decides.
    Hold,
    /// Abort: all traffic back to stable at once.
    Rollback,
    /// Abort: step the weights back down.
    GradualRollback,
    /// Tell the webhooks, change nothing.
    Notify,
}

impl GuardAction {
    pub fn name(self) -> &'static str {
        match self {
            GuardAction::Hold => "hold",
            GuardAction::Rollback => "rollback",
            GuardAction::GradualRollback => "gradual-rollback",
            GuardAction::Notify => "notify",
        }
    }
}

/// When a guard's metric counts as bad for long enough.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Rule {
    /// Above `threshold` for at least `hold_for`.
    Above { threshold: f64, hold_for: Duration },
    /// This many failing samples in a row (health checks).
    Consecutive { failures: u32 },
}

#[derive(Debug, Clone, PartialEq)]
pub struct GuardSpec {
    pub name: String,
    pub metric: GuardMetric,
    pub rule: Rule,
    pub action: GuardAction,
    /// For health checks: the path probed on the canary.
    pub path: Option<String>,
}

/// The guards a plan gets unless it says otherwise; common runbook numbers.
pub fn default_guards() -> Vec<GuardSpec> {
    [
        GuardMetric::ErrorRatio,
        GuardMetric::LatencyP99,
        GuardMetric::HealthCheck,
        GuardMetric::MemoryRatioOfLimit,
        GuardMetric::Restarts,
    ]
    .into_iter()
    .map(builtin)
    .collect()
}

/// The built-in guard on `metric`: what a plan's guard starts from. p95 is
/// not on by default; when asked for it starts from the p99 numbers.
pub fn builtin(metric: GuardMetric) -> GuardSpec {
    let above = |threshold: f64, secs: u64, action| GuardSpec {
        name: metric.name().to_string(),
        metric,
        rule: Rule::Above {
            threshold,
            hold_for: Duration::from_secs(secs),
        },
        action,
        path: None,
    };
    match metric {
        GuardMetric::ErrorRatio => above(0.05, 120, GuardAction::Rollback),
        GuardMetric::LatencyP99 | GuardMetric::LatencyP95 => {
            above(2.0, 300, GuardAction::GradualRollback)
        }
        GuardMetric::HealthCheck => GuardSpec {
            name: metric.name().to_string(),
            metric,
            rule: Rule::Consecutive { failures: 3 },
            action: GuardAction::Rollback,
            path: Some("/health".into()),
        },
        GuardMetric::MemoryRatioOfLimit => above(0.9, 180, GuardAction::GradualRollback),
        GuardMetric::Restarts => above(0.0, 0, GuardAction::Rollback),
    }
}

/// One reading of a guard's metric. `value: None` means the source answered
/// without a number (no series yet, NaN): it is not a good reading.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Sample {
    pub at: DateTime<Utc>,
    pub value: Option<f64>,
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub enum GuardState {
    /// The latest sample is within bounds.
    Ok,
    /// Over the threshold since `since`, not yet for long enough.
    Pending { since: DateTime<Utc>, value: f64 },
    /// Over the threshold long enough: the guard's action is due.
    Firing { since: DateTime<Utc>, value: f64 },
    /// No usable sample; `since` is when data stopped (`None`: never came).
    NoData { since: Option<DateTime<Utc>> },
}

impl GuardState {
    /// The state in a word: `ok`, `pending`, `firing`, `no data`.
    pub fn word(&self) -> &'static str {
        match self {
            GuardState::Ok => "ok",
            GuardState::Pending { .. } => "pending",
            GuardState::Firing { .. } => "firing",
            GuardState::NoData { .. } => "no data",
        }
    }
}

/// What a firing guard tells the stage machine and the captain.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Alarm {
    pub guard: String,
    pub metric: GuardMetric,
    pub action: GuardAction,
    pub value: f64,
    pub threshold: f64,
    pub since: DateTime<Utc>,
    #[serde(with = "super::plan::duration_secs")]
    pub held_for: Duration,
}

impl fmt::Display for Alarm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.metric {
            GuardMetric::HealthCheck => write!(
                f,
                "{}: {} consecutive health-check failures",
                self.guard, self.value
            ),
            metric => write!(
                f,
                "{}: {} {} > {} for {}",
                self.guard,
                metric,
                metric.show(self.value),
                metric.show(self.threshold),
                format_duration(self.held_for)
            ),
        }
    }
}

impl GuardSpec {
    pub fn threshold(&self) -> f64 {
        match self.rule {
            Rule::Above { threshold, .. } => threshold,
            Rule::Consecutive { failures } => f64::from(failures),
        }
    }

    fn breaches(&self, value: f64) -> bool {
        match self.rule {
            Rule::Above { threshold, .. } => value > threshold,
            Rule::Consecutive { .. } => value >= 0.5,
        }
    }

    /// Judges `samples` (any order) as of `now`, expecting one sample every
    /// `interval`: a gap longer than twice that breaks a streak, and a last
    /// sample older than that means there is no data.
    pub fn evaluate(
        &self,
        samples: &[Sample],
        interval: Duration,
        now: DateTime<Utc>,
    ) -> GuardState {
        let mut sorted: Vec<Sample> = samples.iter().copied().filter(|s| s.at <= now).collect();
        sorted.sort_by_key(|s| s.at);
        let gap = chrono::Duration::from_std(interval * 2).unwrap_or(chrono::Duration::MAX);
        let Some(last) = sorted.last().copied() else {
            return GuardState::NoData { since: None };
        };
        if now - last.at > gap {
            return GuardState::NoData {
                since: Some(last.at),
            };
        }
        let Some(value) = last.value.filter(|v| v.is_finite()) else {
            let since = sorted
                .iter()
                .rev()
                .take_while(|s| s.value.is_none_or(|v| !v.is_finite()))
                .last()
                .map_or(last.at, |s| s.at);
            return GuardState::NoData { since: Some(since) };
        };
        if !self.breaches(value) {
            return GuardState::Ok;
        }
        // Walk back over the unbroken run of breaching samples.
        let mut start = last;
        let mut count: u32 = 1;
        for pair in sorted.windows(2).rev() {
            let (before, after) = (pair[0], pair[1]);
            let joined = after.at - before.at <= gap;
            let bad = before
                .value
                .is_some_and(|v| v.is_finite() && self.breaches(v));
            if !(joined && bad) {
                break;
            }
            start = before;
            count = count.saturating_add(1);
        }
        let since = start.at;
        let due = match self.rule {
            Rule::Above { hold_for, .. } => (last.at - since)
                .to_std()
                .is_ok_and(|held| held >= hold_for),
            Rule::Consecutive { failures } => count >= failures,
        };
        let value = match self.rule {
            Rule::Above { .. } => value,
            Rule::Consecutive { .. } => f64::from(count),
        };
        if due {
            GuardState::Firing { since, value }
        } else {
            GuardState::Pending { since, value }
        }
    }

    /// The alarm to raise when `state` is firing.
    pub fn alarm(&self, state: &GuardState, now: DateTime<Utc>) -> Option<Alarm> {
        let GuardState::Firing { since, value } = *state else {
            return None;
        };
        Some(Alarm {
            guard: self.name.clone(),
            metric: self.metric,
            action: self.action,
            value,
            threshold: self.threshold(),
            since,
            held_for: (now - since).to_std().unwrap_or_default(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn t(secs: i64) -> DateTime<Utc> {
        Utc.timestamp_opt(1_700_000_000 + secs, 0).unwrap()
    }

    fn series(values: &[(i64, Option<f64>)]) -> Vec<Sample> {
        values
            .iter()
            .map(|&(at, value)| Sample { at: t(at), value })
            .collect()
    }

    fn error_guard() -> GuardSpec {
        default_guards().remove(0)
    }

    const EVERY_15S: Duration = Duration::from_secs(15);

    #[test]
    fn below_threshold_is_ok() {
        let s = series(&[(0, Some(0.01)), (15, Some(0.02))]);
        assert_eq!(error_guard().evaluate(&s, EVERY_15S, t(20)), GuardState::Ok);
    }

    #[test]
    fn short_breach_is_pending_then_fires_after_for() {
        let g = error_guard();
        let mut s = series(&[(0, Some(0.01)), (15, Some(0.08))]);
        assert_eq!(
            g.evaluate(&s, EVERY_15S, t(20)),
            GuardState::Pending {
                since: t(15),
                value: 0.08
            }
        );
        for at in (30..=120).step_by(15) {
            s.push(Sample {
                at: t(at),
                value: Some(0.08),
            });
        }
        // 15 → 120 is 1m45s: still short of 2m.
        assert!(matches!(
            g.evaluate(&s, EVERY_15S, t(121)),
            GuardState::Pending { .. }
        ));
        s.push(Sample {
            at: t(135),
            value: Some(0.081),
        });
        let state = g.evaluate(&s, EVERY_15S, t(136));
        assert_eq!(
            state,
            GuardState::Firing {
                since: t(15),
                value: 0.081
            }
        );
        let alarm = g.alarm(&state, t(136)).unwrap();
        assert_eq!(
            alarm.to_string(),
            "error-ratio: error-ratio 8.1% > 5.0% for 2m01s"
        );
        assert_eq!(alarm.action, GuardAction::Rollback);
    }

    #[test]
    fn a_gap_restarts_the_clock() {
        let g = error_guard();
        // Bad from 0 to 60, nothing for 45s (more than 2 × 15s), bad again.
        let s = series(&[
            (0, Some(0.1)),
            (30, Some(0.1)),
            (60, Some(0.1)),
            (105, Some(0.1)),
            (120, Some(0.1)),
            (135, Some(0.1)),
        ]);
        assert_eq!(
            g.evaluate(&s, EVERY_15S, t(140)),
            GuardState::Pending {
                since: t(105),
                value: 0.1
            }
        );
    }

    #[test]
    fn missing_values_are_no_data_not_ok() {
        let g = error_guard();
        let s = series(&[(0, Some(0.01)), (15, None), (30, None)]);
        assert_eq!(
            g.evaluate(&s, EVERY_15S, t(31)),
            GuardState::NoData { since: Some(t(15)) }
        );
        assert_eq!(
            g.evaluate(&[], EVERY_15S, t(31)),
            GuardState::NoData { since: None }
        );
        let stale = series(&[(0, Some(0.01))]);
        assert_eq!(
            g.evaluate(&stale, EVERY_15S, t(31)),
            GuardState::NoData { since: Some(t(0)) }
        );
    }

    #[test]
    fn health_checks_fire_on_consecutive_failures() {
        let g = default_guards()
            .into_iter()
            .find(|g| g.metric == GuardMetric::HealthCheck)
            .unwrap();
        let two = series(&[
            (0, Some(1.0)),
            (10, Some(0.0)),
            (20, Some(1.0)),
            (30, Some(1.0)),
        ]);
        assert_eq!(
            g.evaluate(&two, Duration::from_secs(10), t(31)),
            GuardState::Pending {
                since: t(20),
                value: 2.0
            }
        );
        let three = series(&[
            (10, Some(0.0)),
            (20, Some(1.0)),
            (30, Some(1.0)),
            (40, Some(1.0)),
        ]);
        let state = g.evaluate(&three, Duration::from_secs(10), t(41));
        assert_eq!(
            state,
            GuardState::Firing {
                since: t(20),
                value: 3.0
            }
        );
        assert_eq!(
            g.alarm(&state, t(41)).unwrap().to_string(),
            "health-check: 3 consecutive health-check failures"
        );
    }

    proptest::proptest! {
        /// Whatever the series (values, missing values, irregular gaps), a
        /// guard fires only when the unbroken run of breaching samples ending
        /// with the newest one has lasted at least `for`, and it is only ever
        /// Ok on a fresh sample with a value.
        #[test]
        fn fires_only_after_for_and_never_passes_on_missing_data(
            steps in proptest::collection::vec(
                (1i64..40, proptest::option::of(0.0f64..0.2)), 1..60),
            hold in 0u64..400,
            look_later in 0i64..60,
        ) {
            let g = GuardSpec {
                rule: Rule::Above { threshold: 0.05, hold_for: Duration::from_secs(hold) },
                ..error_guard()
            };
            let mut at = 0;
            let samples: Vec<Sample> = steps
                .iter()
                .map(|&(gap, value)| {
                    at += gap;
                    Sample { at: t(at), value }
                })
                .collect();
            let now = t(at + look_later);
            let state = g.evaluate(&samples, EVERY_15S, now);
            let last = *samples.last().unwrap();
            let fresh = now - last.at <= chrono::Duration::seconds(30);
            let bad = |s: &Sample| s.value.is_some_and(|v| v > 0.05);
            let mut start = last;
            for pair in samples.windows(2).rev() {
                if !(bad(&pair[0]) && bad(&pair[1]))
                    || pair[1].at - pair[0].at > chrono::Duration::seconds(30)
                {
                    break;
                }
                start = pair[0];
            }
            match state {
                GuardState::Firing { since, .. } => {
                    proptest::prop_assert!(fresh && bad(&last));
                    proptest::prop_assert_eq!(since, start.at);
                    proptest::prop_assert!((last.at - since).num_seconds() >= hold as i64);
                }
                GuardState::Pending { since, .. } => {
                    proptest::prop_assert!(fresh && bad(&last));
                    proptest::prop_assert!((last.at - since).num_seconds() < hold as i64);
                }
                GuardState::Ok => {
                    proptest::prop_assert!(fresh && last.value.is_some_and(|v| v <= 0.05));
                }
                GuardState::NoData { .. } => {
                    proptest::prop_assert!(!fresh || last.value.is_none());
                }
            }
        }

        /// Health checks fire only on `failures` failed probes in a row.
        #[test]
        fn health_checks_fire_only_on_enough_failures_in_a_row(
            probes in proptest::collection::vec(proptest::option::of(proptest::bool::ANY), 1..30),
        ) {
            let g = builtin(GuardMetric::HealthCheck);
            let samples: Vec<Sample> = probes
                .iter()
                .enumerate()
                .map(|(i, p)| Sample {
                    at: t(i as i64 * 10),
                    value: p.map(|failed| if failed { 1.0 } else { 0.0 }),
                })
                .collect();
            let now = samples.last().unwrap().at;
            let state = g.evaluate(&samples, Duration::from_secs(10), now);
            let in_a_row = probes.iter().rev().take_while(|p| **p == Some(true)).count();
            proptest::prop_assert_eq!(
                matches!(state, GuardState::Firing { .. }),
                in_a_row >= 3,
                "{:?} after {:?}", state, probes
            );
        }
    }

    #[test]
    fn one_restart_fires_at_once() {
        let g = default_guards()
            .into_iter()
            .find(|g| g.metric == GuardMetric::Restarts)
            .unwrap();
        let s = series(&[(0, Some(0.0)), (15, Some(1.0))]);
        assert!(matches!(
            g.evaluate(&s, EVERY_15S, t(16)),
            GuardState::Firing { .. }
        ));
    }
}
