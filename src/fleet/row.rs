//! One app's rollout, whatever drives it, reduced to what the fleet shows.

use std::collections::BTreeMap;
use std::fmt;
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::Serialize;

use super::canary::Versus;

/// What drives the rollout.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Kind {
    Flightdeck,
    Argo,
    Flagger,
    Deployment,
}

impl Kind {
    pub fn label(self) -> &'static str {
        match self {
            Kind::Flightdeck => "flightdeck",
            Kind::Argo => "Argo",
            Kind::Flagger => "Flagger",
            Kind::Deployment => "Deployment",
        }
    }
}

impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.label())
    }
}

/// Where the rollout stands, in the words the fleet uses for every source.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case", tag = "phase")]
pub enum Phase {
    /// Moving on by itself.
    Progressing,
    /// Held: until `until` (a timed pause) or until a person gives the go.
    Paused {
        until: Option<DateTime<Utc>>,
        reason: String,
    },
    /// A guard or a failed check holds it; a person has to decide.
    FailingGuard { reason: String },
    /// The source says it is unhealthy (Argo `Degraded`, Flagger `Failed`,
    /// a Deployment past its progress deadline).
    Degraded { reason: String },
    /// Traffic went back to stable.
    Aborted { reason: String },
    /// Finished: the new version carries everything.
    Promoted,
    /// The cluster holding it did not answer.
    Unreachable { reason: String },
}

impl Phase {
    /// One word, for the table and for scripts.
    pub fn word(&self) -> &'static str {
        match self {
            Phase::Progressing => "progressing",
            Phase::Paused { .. } => "paused",
            Phase::FailingGuard { .. } => "failing",
            Phase::Degraded { .. } => "degraded",
            Phase::Aborted { .. } => "aborted",
            Phase::Promoted => "promoted",
            Phase::Unreachable { .. } => "unreachable",
        }
    }

    /// Time left on a timed pause at `now` (zero once due).
    pub fn time_left(&self, now: DateTime<Utc>) -> Option<Duration> {
        match self {
            Phase::Paused {
                until: Some(until), ..
            } => Some((*until - now).to_std().unwrap_or_default()),
            _ => None,
        }
    }

    /// What the table's phase column says at `now`: the word, the time left
    /// on a timed pause.
    pub fn text(&self, now: DateTime<Utc>) -> String {
        match self.time_left(now) {
            Some(left) => format!("paused {} left", crate::units::format_duration(left)),
            None => self.word().to_string(),
        }
    }

    /// Why, when the phase has a reason worth a line.
    pub fn reason(&self) -> Option<&str> {
        match self {
            Phase::Paused { reason, .. }
            | Phase::FailingGuard { reason }
            | Phase::Degraded { reason }
            | Phase::Aborted { reason }
            | Phase::Unreachable { reason } => Some(reason.as_str()).filter(|r| !r.is_empty()),
            Phase::Progressing | Phase::Promoted => None,
        }
    }
}

/// The app's pods, counted over every version.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Pods {
    pub ready: u32,
    pub total: u32,
    pub restarts: u32,
}

/// One metric of an analysis: what was measured against what limit.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AnalysisMetric {
    pub name: String,
    /// The source's own word (`Successful`, `Failed`, `Running`…).
    pub phase: String,
    /// The latest measured values, oldest first.
    pub measured: Vec<String>,
    /// The condition it is held to (`result[0] < 0.05`, `max 1%`).
    pub limit: String,
}

/// What the side pane shows about a row of another controller.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Detail {
    /// The steps, one line each.
    pub steps: Vec<String>,
    /// The index in `steps` of the current one (`steps.len()` once done).
    pub current: Option<usize>,
    pub analysis: Vec<AnalysisMetric>,
    /// Anything else the source says (failed checks, messages).
    pub notes: Vec<String>,
}

/// Which pods belong to the app: any of these label sets matches.
pub type Selector = Vec<BTreeMap<String, String>>;

/// Identifies a row across updates.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub struct RowKey {
    pub cluster: String,
    pub namespace: String,
    pub kind: Kind,
    pub app: String,
}

/// One app's rollout as the fleet shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Row {
    pub cluster: String,
    pub namespace: String,
    pub app: String,
    pub kind: Kind,
    /// `canary`, `blue-green`, `rolling`…
    pub strategy: String,
    /// The step or stage it stands at, 1-based, and how many there are.
    pub step: Option<(u32, u32)>,
    /// The canary's share of traffic, percent.
    pub weight: Option<u8>,
    #[serde(flatten)]
    pub phase: Phase,
    pub pods: Pods,
    /// When the source last saw it change.
    pub changed: Option<DateTime<Utc>>,
    pub detail: Detail,
    /// The canary's error ratio and p99 against stable's, where Prometheus
    /// was given and answered.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub metrics: Option<Versus>,
    #[serde(skip)]
    pub selector: Selector,
}

impl Row {
    pub fn new(cluster: &str, namespace: &str, app: &str, kind: Kind) -> Row {
        Row {
            cluster: cluster.to_string(),
            namespace: namespace.to_string(),
            app: app.to_string(),
            kind,
            strategy: String::new(),
            step: None,
            weight: None,
            phase: Phase::Progressing,
            pods: Pods::default(),
            changed: None,
            detail: Detail::default(),
            metrics: None,
            selector: Vec::new(),
        }
    }

    pub fn key(&self) -> RowKey {
        RowKey {
            cluster: self.cluster.clone(),
            namespace: self.namespace.clone(),
            kind: self.kind,
            app: self.app.clone(),
        }
    }

    /// `3/8`, or `-`.
    pub fn step_text(&self) -> String {
        self.step
            .map_or_else(|| "-".to_string(), |(at, of)| format!("{at}/{of}"))
    }

    /// `25%`, or `-`.
    pub fn weight_text(&self) -> String {
        self.weight
            .map_or_else(|| "-".to_string(), |w| format!("{w}%"))
    }

    /// `0.8%/0.1%`: the canary's error ratio, then stable's; `—` unknown.
    pub fn error_text(&self) -> String {
        self.metrics.unwrap_or_default().error_text()
    }

    /// `420/180ms`: the canary's p99, then stable's; `—` unknown.
    pub fn p99_text(&self) -> String {
        self.metrics.unwrap_or_default().p99_text()
    }

    /// Whether Prometheus' numbers say the canary is failing.
    pub fn canary_failing(&self) -> bool {
        self.metrics.is_some_and(|m| m.failing())
    }

    /// `4/5`.
    pub fn pods_text(&self) -> String {
        format!("{}/{}", self.pods.ready, self.pods.total)
    }

    /// Whether a pod with these labels belongs to the app.
    pub fn selects(&self, labels: &BTreeMap<String, String>) -> bool {
        self.selector
            .iter()
            .any(|set| !set.is_empty() && set.iter().all(|(k, v)| labels.get(k) == Some(v)))
    }

    /// The row standing for a cluster that did not answer.
    pub fn unreachable(cluster: &str, reason: &str) -> Row {
        let mut row = Row::new(cluster, "-", "-", Kind::Flightdeck);
        row.phase = Phase::Unreachable {
            reason: reason.to_string(),
        };
        row
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timed_pause_counts_down_and_stops_at_zero() {
        let now = Utc::now();
        let phase = Phase::Paused {
            until: Some(now + chrono::Duration::seconds(90)),
            reason: String::new(),
        };
        assert_eq!(phase.text(now), "paused 1m30s left");
        assert_eq!(
            phase.time_left(now + chrono::Duration::seconds(200)),
            Some(Duration::ZERO)
        );
        let open = Phase::Paused {
            until: None,
            reason: "waiting for the go".into(),
        };
        assert_eq!(open.text(now), "paused");
    }

    #[test]
    fn selector_needs_every_label_of_one_set() {
        let mut row = Row::new("c", "ns", "api", Kind::Deployment);
        row.selector = vec![BTreeMap::from([
            ("app".to_string(), "api".to_string()),
            ("tier".to_string(), "web".to_string()),
        ])];
        let pod = |pairs: &[(&str, &str)]| {
            pairs
                .iter()
                .map(|(k, v)| ((*k).to_string(), (*v).to_string()))
                .collect::<BTreeMap<_, _>>()
        };
        assert!(row.selects(&pod(&[("app", "api"), ("tier", "web"), ("x", "y")])));
        assert!(!row.selects(&pod(&[("app", "api")])));
        row.selector = vec![BTreeMap::new()];
        assert!(
            !row.selects(&pod(&[("app", "api")])),
            "empty selects nothing"
        );
    }
}
