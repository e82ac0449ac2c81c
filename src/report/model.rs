//! The release report as data: built from records (the audit file, the
//! rollout's history, the numbers read), with no I/O, so the renderers and
//! their tests need neither a cluster nor a file.

use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::Deserialize;

use crate::rollout::analysis::{Point, Series, Verdict};
use crate::rollout::guards::GuardMetric;
use crate::rollout::history::{ActionResult, HistoryEntry, StoredRollout};
use crate::rollout::plan::Plan;
use crate::rollout::state::Phase;

/// One line of the audit file, as [`crate::driver::record::Entry`] writes it.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct AuditLine {
    pub at: DateTime<Utc>,
    pub who: crate::workers::audit::Actor,
    pub app: String,
    pub namespace: String,
    pub action: String,
    pub from: String,
    pub to: String,
    #[serde(default)]
    pub detail: Option<String>,
    pub result: String,
    #[serde(default)]
    pub reason: Option<String>,
    #[serde(default)]
    pub verdict: Option<Verdict>,
}

/// The audit file's lines that parse; others (another tool's, a torn last
/// line) are counted, not fatal.
pub fn parse_audit(text: &str) -> (Vec<AuditLine>, usize) {
    let mut lines = Vec::new();
    let mut bad = 0;
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        match serde_json::from_str(line) {
            Ok(l) => lines.push(l),
            Err(_) => bad += 1,
        }
    }
    (lines, bad)
}

/// One action of the timeline.
#[derive(Debug, Clone, PartialEq)]
pub struct Action {
    pub at: DateTime<Utc>,
    pub action: String,
    /// `ana (kind-admin)`, `ana (flightdeck auto) (kind-admin)`.
    pub who: String,
    pub from: String,
    pub to: String,
    pub detail: Option<String>,
    /// `done`, `failed`, `refused`, `cancelled`.
    pub result: String,
    pub reason: Option<String>,
    pub verdict: Option<Verdict>,
}

impl Action {
    fn of_audit(l: &AuditLine) -> Self {
        Self {
            at: l.at,
            action: l.action.clone(),
            who: format!("{} ({})", l.who.os_user, l.who.kube_user),
            from: l.from.clone(),
            to: l.to.clone(),
            detail: l.detail.clone(),
            result: l.result.clone(),
            reason: l.reason.clone(),
            verdict: l.verdict.clone(),
        }
    }

    fn of_history(e: &HistoryEntry) -> Self {
        let (result, reason) = match &e.result {
            ActionResult::Done => ("done".to_string(), None),
            ActionResult::Failed { reason } => ("failed".to_string(), Some(reason.clone())),
            ActionResult::Cancelled { by } => ("cancelled".to_string(), Some(format!("by {by}"))),
        };
        Self {
            at: e.at,
            action: e.action.clone(),
            who: format!("{} ({})", e.who.os_user, e.who.kube_user),
            from: e.from.clone(),
            to: e.to.clone(),
            detail: e.detail.clone(),
            result,
            reason,
            verdict: e.verdict.clone(),
        }
    }

    fn done(&self) -> bool {
        self.result == "done"
    }
}

/// One stage as it went.
#[derive(Debug, Clone, PartialEq)]
pub struct StageRow {
    /// 1-based, as the screen and the history number them.
    pub number: usize,
    pub weight: u8,
    pub began: DateTime<Utc>,
    /// `None` while it runs.
    pub ended: Option<DateTime<Utc>>,
    /// Time spent in it (until now while it runs).
    pub took: Duration,
    /// The last verdict about it, with each check's canary and stable numbers.
    pub verdict: Option<Verdict>,
    /// What ended it: the next stage, the promotion, the rollback.
    pub ended_by: Option<String>,
}

/// What a chart plots.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Metric {
    ErrorRatio,
    P99,
    RequestRate,
}

impl Metric {
    pub const ALL: [Metric; 3] = [Metric::ErrorRatio, Metric::P99, Metric::RequestRate];

    pub fn title(self) -> &'static str {
        match self {
            Metric::ErrorRatio => "Error ratio",
            Metric::P99 => "p99 latency",
            Metric::RequestRate => "Request rate",
        }
    }

    /// A value as a person reads it.
    pub fn show(self, v: f64) -> String {
        match self {
            Metric::ErrorRatio => format!("{:.2}%", v * 100.0),
            Metric::P99 => crate::rollout::analysis::format_seconds(v),
            Metric::RequestRate => format!("{v:.1}/s"),
        }
    }
}

/// A limit drawn across a chart.
#[derive(Debug, Clone, PartialEq)]
pub struct Threshold {
    pub value: f64,
    pub label: String,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Chart {
    pub metric: Metric,
    pub canary: Vec<Point>,
    pub stable: Vec<Point>,
    pub thresholds: Vec<Threshold>,
}

impl Chart {
    pub fn points(&self) -> usize {
        self.canary.len() + self.stable.len()
    }
}

/// A moment marked on every chart: a stage beginning, the rollback, the end.
#[derive(Debug, Clone, PartialEq)]
pub struct Mark {
    pub at: DateTime<Utc>,
    pub label: String,
}

/// Where the charts' numbers come from; the page says which.
#[derive(Debug, Clone, PartialEq)]
pub enum Source {
    /// Prometheus `query_range` over the whole rollout.
    Prometheus { url: String },
    /// What the run read as it went (the guards' readings), with the
    /// verdicts' numbers.
    Observed,
    /// Only what the history and the audit file recorded: the verdicts'
    /// canary and stable numbers.
    Recorded,
}

impl Source {
    pub fn describe(&self) -> String {
        match self {
            Source::Prometheus { url } => {
                format!("Charts from Prometheus at {url} (query_range over the whole rollout).")
            }
            Source::Observed => "Charts from the readings the run's guards took as it went \
                 (the canary's guarded metrics), with the canary and stable numbers of each \
                 verdict; no Prometheus was given."
                .into(),
            Source::Recorded => "Charts from what the rollout's history and the audit file \
                 recorded: the canary and stable numbers of each verdict. No Prometheus was \
                 given (pass --prometheus URL for the full series)."
                .into(),
        }
    }
}

/// A pod of the app as the report lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PodRow {
    pub name: String,
    pub version: String,
    pub status: String,
    pub restarts: u32,
}

/// How the rollout ended, or that it has not.
#[derive(Debug, Clone, PartialEq)]
pub enum Ending {
    Promoted { at: DateTime<Utc> },
    RolledBack { at: DateTime<Utc>, reason: String },
    RollingBack { reason: String },
    Running,
    NotStarted,
}

/// The release report.
#[derive(Debug, Clone, PartialEq)]
pub struct Report {
    pub app: String,
    pub namespace: String,
    pub strategy: String,
    pub generated_at: DateTime<Utc>,
    pub image: Option<String>,
    /// The stored state in a line.
    pub state: String,
    pub ending: Ending,
    pub started: Option<DateTime<Utc>>,
    pub ended: Option<DateTime<Utc>>,
    pub timeline: Vec<Action>,
    pub stages: Vec<StageRow>,
    pub charts: Vec<Chart>,
    pub marks: Vec<Mark>,
    pub source: Source,
    pub pods: Vec<PodRow>,
    /// Things the reader should know (unreadable audit lines, a source that failed).
    pub notes: Vec<String>,
}

/// Numbers per metric, canary and stable, from Prometheus or the run.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Numbers {
    pub error_ratio: Series,
    pub p99: Series,
    pub request_rate: Series,
}

impl Numbers {
    pub fn series(&self, metric: Metric) -> &Series {
        match metric {
            Metric::ErrorRatio => &self.error_ratio,
            Metric::P99 => &self.p99,
            Metric::RequestRate => &self.request_rate,
        }
    }

    fn series_mut(&mut self, metric: Metric) -> &mut Series {
        match metric {
            Metric::ErrorRatio => &mut self.error_ratio,
            Metric::P99 => &mut self.p99,
            Metric::RequestRate => &mut self.request_rate,
        }
    }

    pub fn is_empty(&self) -> bool {
        Metric::ALL.iter().all(|m| {
            let s = self.series(*m);
            s.canary.is_empty() && s.stable.is_empty()
        })
    }

    /// Files a guard's reading of the canary (the run's observations).
    pub fn observe(&mut self, metric: GuardMetric, at: DateTime<Utc>, value: f64) {
        let m = match metric {
            GuardMetric::ErrorRatio => Metric::ErrorRatio,
            GuardMetric::LatencyP99 => Metric::P99,
            _ => return,
        };
        if value.is_finite() {
            self.series_mut(m).canary.push(Point { at, value });
        }
    }
}

/// Everything the report is made from.
#[derive(Debug, Clone)]
pub struct Inputs<'a> {
    pub plan: &'a Plan,
    /// The rollout as stored on the cluster (`None`: nothing stored).
    pub stored: Option<StoredRollout>,
    pub audit: Vec<AuditLine>,
    /// From Prometheus, or what the run observed; `None`: neither.
    pub numbers: Option<(Numbers, Source)>,
    pub pods: Vec<PodRow>,
    pub now: DateTime<Utc>,
    pub notes: Vec<String>,
}

/// The stage a state line names: `stage 2/5 at 25%, …` is stage 2.
pub fn stage_in(text: &str) -> Option<usize> {
    let rest = text.strip_prefix("stage ")?;
    let (n, _) = rest.split_once('/')?;
    n.parse().ok()
}

impl Report {
    pub fn build(inputs: Inputs<'_>) -> Report {
        let plan = inputs.plan;
        let mut notes = inputs.notes;
        let timeline = timeline(plan, inputs.stored.as_ref(), &inputs.audit);
        let state = inputs.stored.as_ref().map(|s| &s.state);
        let ending = match state.map(|s| &s.phase) {
            Some(Phase::Promoted { at }) => Ending::Promoted { at: *at },
            Some(Phase::Aborted { at, reason }) => Ending::RolledBack {
                at: *at,
                reason: reason.clone(),
            },
            Some(Phase::RollingBack { reason, .. }) => Ending::RollingBack {
                reason: reason.clone(),
            },
            Some(Phase::NotStarted) | None => Ending::NotStarted,
            Some(_) => Ending::Running,
        };
        let started = timeline
            .iter()
            .find(|a| a.action == "start" && a.done())
            .map(|a| a.at);
        let ended = match &ending {
            Ending::Promoted { at } | Ending::RolledBack { at, .. } => Some(*at),
            _ => None,
        };
        let weights: Vec<u8> = state
            .map(|s| s.course.stages.iter().map(|st| st.weight).collect())
            .unwrap_or_default();
        let stages = stages(&timeline, &weights, inputs.now);
        let marks = marks(&stages, &ending);

        let (numbers, source) = match inputs.numbers {
            Some((n, source)) => (n, source),
            None => (Numbers::default(), Source::Recorded),
        };
        let mut numbers = numbers;
        if !matches!(source, Source::Prometheus { .. }) {
            add_verdicts(&mut numbers, &timeline);
        }
        let charts: Vec<Chart> = Metric::ALL
            .iter()
            .map(|m| {
                let s = numbers.series(*m);
                let mut canary = s.canary.clone();
                let mut stable = s.stable.clone();
                canary.sort_by_key(|p| p.at);
                stable.sort_by_key(|p| p.at);
                Chart {
                    metric: *m,
                    canary,
                    stable,
                    thresholds: thresholds(plan, *m),
                }
            })
            .collect();
        if charts.iter().all(|c| c.points() == 0) {
            notes.push("No numbers were recorded for this rollout: no verdict was reached and no Prometheus was given.".into());
        }
        Report {
            app: plan.app.clone(),
            namespace: plan.namespace.clone(),
            strategy: plan.kind().to_string(),
            generated_at: inputs.now,
            image: state.and_then(|s| s.image.clone()),
            state: state.map_or_else(
                || "not started".to_string(),
                crate::rollout::RolloutState::describe,
            ),
            ending,
            started,
            ended,
            timeline,
            stages,
            charts,
            marks,
            source,
            pods: inputs.pods,
            notes,
        }
    }

    /// Why the rollout went back, when it did.
    pub fn rollback_reason(&self) -> Option<&str> {
        match &self.ending {
            Ending::RolledBack { reason, .. } | Ending::RollingBack { reason } => Some(reason),
            _ => None,
        }
    }

    /// The ending in a few words.
    pub fn headline(&self) -> String {
        match &self.ending {
            Ending::Promoted { .. } => "promoted".into(),
            Ending::RolledBack { reason, .. } => format!("rolled back: {reason}"),
            Ending::RollingBack { reason } => format!("rolling back: {reason}"),
            Ending::Running => format!("in progress: {}", self.state),
            Ending::NotStarted => "not started".into(),
        }
    }
}

/// The actions of the latest rollout, oldest first: the audit file's lines
/// for this app, with the history's entries the audit file lacks (actions
/// taken from another machine), from the last start on.
fn timeline(plan: &Plan, stored: Option<&StoredRollout>, audit: &[AuditLine]) -> Vec<Action> {
    let mut all: Vec<Action> = audit
        .iter()
        .filter(|l| l.app == plan.app && l.namespace == plan.namespace)
        .map(Action::of_audit)
        .collect();
    if let Some(stored) = stored {
        for e in stored.history.entries() {
            let known = all.iter().any(|a| a.at == e.at && a.action == e.action);
            if !known {
                all.push(Action::of_history(e));
            }
        }
    }
    all.sort_by_key(|a| a.at);
    let from = all
        .iter()
        .rposition(|a| a.action == "start" && a.done())
        .unwrap_or(0);
    all.split_off(from)
}

fn stages(timeline: &[Action], weights: &[u8], now: DateTime<Utc>) -> Vec<StageRow> {
    let mut rows: Vec<StageRow> = Vec::new();
    for a in timeline.iter().filter(|a| a.done()) {
        let now_at = stage_in(&a.to);
        let open = rows.last().filter(|r| r.ended.is_none()).map(|r| r.number);
        if now_at != open
            && let Some(last) = rows.last_mut().filter(|r| r.ended.is_none())
        {
            last.ended = Some(a.at);
            last.ended_by = Some(format!("{} → {}", a.action, a.to));
        }
        if let Some(n) = now_at
            && now_at != open
        {
            rows.push(StageRow {
                number: n,
                weight: weights
                    .get(n.saturating_sub(1))
                    .copied()
                    .unwrap_or_default(),
                began: a.at,
                ended: None,
                took: Duration::ZERO,
                verdict: None,
                ended_by: None,
            });
        }
        if let Some(v) = &a.verdict
            && let Some(n) = stage_in(&a.from).or(now_at)
            && let Some(row) = rows.iter_mut().rev().find(|r| r.number == n)
        {
            row.verdict = Some(v.clone());
        }
    }
    for r in &mut rows {
        r.took = (r.ended.unwrap_or(now) - r.began)
            .to_std()
            .unwrap_or_default();
    }
    rows
}

fn marks(stages: &[StageRow], ending: &Ending) -> Vec<Mark> {
    let mut marks: Vec<Mark> = stages
        .iter()
        .map(|s| Mark {
            at: s.began,
            label: format!("stage {} · {}%", s.number, s.weight),
        })
        .collect();
    match ending {
        Ending::Promoted { at } => marks.push(Mark {
            at: *at,
            label: "promoted".into(),
        }),
        Ending::RolledBack { at, .. } => marks.push(Mark {
            at: *at,
            label: "rolled back".into(),
        }),
        _ => {}
    }
    marks
}

/// The verdicts' numbers as points: canary and stable at each verdict.
fn add_verdicts(numbers: &mut Numbers, timeline: &[Action]) {
    for a in timeline {
        let Some(v) = &a.verdict else { continue };
        for c in &v.checks {
            let metric = match c.name.as_str() {
                "error ratio vs stable" => Metric::ErrorRatio,
                "p99 vs stable" => Metric::P99,
                _ => continue,
            };
            let s = numbers.series_mut(metric);
            if let Some(value) = c.canary.filter(|v| v.is_finite()) {
                s.canary.push(Point { at: v.at, value });
            }
            if let Some(value) = c.stable.filter(|v| v.is_finite()) {
                s.stable.push(Point { at: v.at, value });
            }
        }
    }
}

/// The guards' and the analysis' limits on `metric`, as the plan sets them.
fn thresholds(plan: &Plan, metric: Metric) -> Vec<Threshold> {
    let guard_metric = match metric {
        Metric::ErrorRatio => GuardMetric::ErrorRatio,
        Metric::P99 => GuardMetric::LatencyP99,
        Metric::RequestRate => return Vec::new(),
    };
    let mut out: Vec<Threshold> = plan
        .guards
        .iter()
        .filter(|g| g.metric == guard_metric)
        .map(|g| Threshold {
            value: g.threshold(),
            label: format!(
                "guard {}: {} → {}",
                g.name,
                metric.show(g.threshold()),
                g.action.name()
            ),
        })
        .collect();
    if let Some(a) = &plan.analysis {
        let absolute = match metric {
            Metric::ErrorRatio => a.max_error_ratio,
            Metric::P99 => a.max_p99.map(|d| d.as_secs_f64()),
            Metric::RequestRate => None,
        };
        if let Some(v) = absolute {
            out.push(Threshold {
                value: v,
                label: format!("analysis ceiling {}", metric.show(v)),
            });
        }
    }
    out
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::rollout::analysis::{Check, Outcome};
    use chrono::TimeZone;

    pub(crate) fn t(s: i64) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 3, 1, 10, 0, 0).unwrap() + chrono::Duration::seconds(s)
    }

    fn line(s: i64, action: &str, from: &str, to: &str) -> String {
        serde_json::json!({
            "at": t(s), "who": {"kube_user": "admin", "os_user": "ana", "host": "laptop"},
            "app": "checkout", "namespace": "shop", "action": action,
            "from": from, "to": to, "result": "done"
        })
        .to_string()
    }

    pub(crate) fn bad_canary_audit() -> String {
        let verdict = Verdict {
            outcome: Outcome::Pass,
            at: t(200),
            reason: "4 checks passed".into(),
            checks: vec![Check {
                name: "error ratio vs stable".into(),
                canary: Some(0.004),
                stable: Some(0.003),
                limit: Some(0.006),
                outcome: Outcome::Pass,
                reason: "0.40% ≤ 0.60%".into(),
            }],
        };
        let mut v: serde_json::Value = serde_json::from_str(&line(
            200,
            "verdict",
            "stage 1/3 at 10%, waiting for analysis",
            "stage 2/3 at 50%, paused until 10:08:20",
        ))
        .unwrap();
        v["verdict"] = serde_json::to_value(&verdict).unwrap();
        let mut guard: serde_json::Value = serde_json::from_str(&line(
            330,
            "guard",
            "stage 2/3 at 50%, paused until 10:08:20",
            "aborted: <b>checkout 5xx</b>: error-ratio 8.0% > 5.0% for 2m",
        ))
        .unwrap();
        guard["detail"] = "<b>checkout 5xx</b>: error-ratio 8.0% > 5.0% for 2m".into();
        guard["who"]["os_user"] = "ana (flightdeck auto)".into();
        [
            line(
                0,
                "start",
                "not started",
                "stage 1/3 at 10%, paused until 10:03:00",
            ),
            line(1, "start", "not started", "stage 1/3 at 10%").replace("checkout", "cart"),
            v.to_string(),
            "not json".to_string(),
            guard.to_string(),
        ]
        .join("\n")
    }

    pub(crate) fn plan() -> Plan {
        crate::rollout::fixtures::canary(
            r#"[{ weight = 10, pause = "3m" }, { weight = 50, pause = "3m" }, { weight = 100 }]"#,
            "[[guards]]\nname = \"checkout 5xx\"\nmetric = \"error-ratio\"\nthreshold = \"5%\"\nfor = \"2m\"\naction = \"rollback\"\n",
        )
    }

    pub(crate) fn report() -> Report {
        let (audit, bad) = parse_audit(&bad_canary_audit());
        assert_eq!(bad, 1);
        let plan = plan();
        let mut state = crate::rollout::RolloutState::new(&plan, true);
        state.phase = Phase::Aborted {
            at: t(330),
            reason: "<b>checkout 5xx</b>: error-ratio 8.0% > 5.0% for 2m".into(),
        };
        let mut numbers = Numbers::default();
        for s in (0..330).step_by(15) {
            let v = if s > 150 { 0.08 } else { 0.004 };
            numbers.observe(GuardMetric::ErrorRatio, t(s), v);
        }
        Report::build(Inputs {
            plan: &plan,
            stored: Some(StoredRollout::new(state)),
            audit,
            numbers: Some((numbers, Source::Observed)),
            pods: vec![PodRow {
                name: "checkout-canary-1".into(),
                version: "canary".into(),
                status: "Running".into(),
                restarts: 2,
            }],
            now: t(400),
            notes: vec!["1 audit line could not be read".into()],
        })
    }

    #[test]
    fn the_timeline_is_this_apps_latest_rollout_and_stages_have_their_times() {
        let r = report();
        let actions: Vec<&str> = r.timeline.iter().map(|a| a.action.as_str()).collect();
        assert_eq!(actions, ["start", "verdict", "guard"]);
        assert_eq!(r.timeline[2].who, "ana (flightdeck auto) (admin)");
        assert_eq!(r.stages.len(), 2);
        assert_eq!((r.stages[0].number, r.stages[0].weight), (1, 10));
        assert_eq!(r.stages[0].took, Duration::from_secs(200));
        assert_eq!(r.stages[1].took, Duration::from_secs(130));
        assert_eq!(r.stages[0].verdict.as_ref().unwrap().outcome, Outcome::Pass);
        assert!(
            r.stages[1]
                .ended_by
                .as_ref()
                .unwrap()
                .starts_with("guard → aborted")
        );
        assert_eq!(r.started, Some(t(0)));
        assert_eq!(
            r.rollback_reason(),
            Some("<b>checkout 5xx</b>: error-ratio 8.0% > 5.0% for 2m")
        );
    }

    #[test]
    fn the_history_fills_in_what_this_machines_audit_file_lacks() {
        use crate::rollout::history::{Actor, HistoryEntry};
        let plan = plan();
        let mut stored = StoredRollout::new(crate::rollout::RolloutState::new(&plan, false));
        let entry = |s: i64, action: &str, who: &str, to: &str| HistoryEntry {
            at: t(s),
            who: Actor {
                kube_user: "admin".into(),
                os_user: who.into(),
            },
            action: action.into(),
            from: String::new(),
            to: to.into(),
            detail: None,
            result: ActionResult::Done,
            verdict: None,
        };
        // Started here (in the audit file too), advanced by bo elsewhere.
        stored.history.push(entry(
            0,
            "start",
            "ana",
            "stage 1/3 at 10%, waiting for the go",
        ));
        stored.history.push(entry(
            90,
            "advance",
            "bo",
            "stage 2/3 at 50%, waiting for the go",
        ));
        let (audit, _) = parse_audit(&line(
            0,
            "start",
            "not started",
            "stage 1/3 at 10%, waiting for the go",
        ));
        let r = Report::build(Inputs {
            plan: &plan,
            stored: Some(stored),
            audit,
            numbers: None,
            pods: Vec::new(),
            now: t(100),
            notes: Vec::new(),
        });
        let seen: Vec<(&str, &str)> = r
            .timeline
            .iter()
            .map(|a| (a.action.as_str(), a.who.as_str()))
            .collect();
        assert_eq!(seen, [("start", "ana (admin)"), ("advance", "bo (admin)")]);
        assert_eq!(r.stages.len(), 2);
        assert_eq!(r.stages[1].took, Duration::from_secs(10));
        assert!(r.stages[1].ended.is_none());
        assert_eq!(r.ending, Ending::NotStarted);
        assert_eq!(r.source, Source::Recorded);
        assert!(
            r.notes
                .iter()
                .any(|n| n.starts_with("No numbers were recorded"))
        );
    }

    #[test]
    fn charts_carry_the_readings_the_verdicts_and_the_guards_limit() {
        let r = report();
        let errors = &r.charts[0];
        assert_eq!(errors.metric, Metric::ErrorRatio);
        // 22 readings of the canary and the verdict's canary number.
        assert_eq!(errors.canary.len(), 23);
        assert_eq!(errors.stable.len(), 1);
        assert!((errors.thresholds[0].value - 0.05).abs() < 1e-12);
        assert!(errors.thresholds[0].label.contains("checkout 5xx"));
        let labels: Vec<&str> = r.marks.iter().map(|m| m.label.as_str()).collect();
        assert_eq!(labels, ["stage 1 · 10%", "stage 2 · 50%", "rolled back"]);
    }
}
