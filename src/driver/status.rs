//! Where a rollout stands, read from the cluster: the stored state, the
//! split the router carries, the pods, the helm and (rolling) the revision
//! history. `flightdeck status` prints it; the cockpit shows it.

use chrono::{DateTime, Utc};
use k8s_openapi::api::core::v1::Pod;
use serde::Serialize;
use serde_json::Value;

use super::apply::{REVISION, read_weights, revisions};
use super::helm::HelmView;
use super::rest::{self, POD};
use super::targets::{Shape, router_objects};
use super::{DriveError, Driver};
use crate::cluster::pod_status::{pod_status, ready_counts};
use crate::cluster::routers::{self, service_selector};
use crate::rollout::effects::Weights;
use crate::rollout::freeze::Freeze;
use crate::rollout::history::HistoryEntry;
use crate::rollout::machine::{Event, step};
use crate::rollout::plan::Router;
use crate::rollout::state::{Phase, RolloutState};

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PodRow {
    pub name: String,
    pub version: String,
    pub status: String,
    pub ready: String,
    pub restarts: u32,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RevisionRow {
    pub revision: u64,
    pub images: Vec<String>,
    pub replicas: u64,
    pub current: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct HelmRow {
    pub state: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub holder: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub since: Option<DateTime<Utc>>,
    /// When the holder last renewed, by the holder's clock.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub renewed: Option<DateTime<Utc>>,
}

impl From<&HelmView> for HelmRow {
    fn from(h: &HelmView) -> Self {
        let (state, holder, since, renewed) = match h {
            HelmView::Ours { since } => ("ours", None, Some(*since), None),
            HelmView::Theirs {
                holder,
                since,
                renewed,
            } => ("theirs", Some(holder.clone()), *since, *renewed),
            HelmView::Free => ("free", None, None, None),
            HelmView::Unknown => ("unknown", None, None, None),
            HelmView::Trouble(why) => ("trouble", Some(why.clone()), None, None),
        };
        Self {
            state: state.into(),
            holder,
            since,
            renewed,
        }
    }
}

/// A landing wait as `status` shows it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LandingRow {
    pub action: String,
    /// The driver waiting.
    pub by: String,
    pub written: String,
    pub object: String,
    pub waiting_for: String,
    /// By the waiting driver's wall clock.
    pub deadline: DateTime<Utc>,
    /// The line `status` prints.
    pub text: String,
}

impl LandingRow {
    fn of(landing: &super::pending::Landing, now: DateTime<Utc>) -> Self {
        let o = &landing.object;
        Self {
            action: landing.action.clone(),
            by: landing.by.clone(),
            written: landing.written.clone(),
            object: format!("{} {}/{}", o.kind, o.namespace, o.name),
            waiting_for: landing.condition.describe(),
            deadline: landing.deadline,
            text: landing.describe(now),
        }
    }
}

/// Everything `status -o json` prints.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Status {
    pub app: String,
    pub namespace: String,
    pub strategy: String,
    /// `not-started`, `paused`, `progressing`, `promoted`, `rolling-back`, `aborted`.
    pub phase: String,
    pub state: String,
    /// 1-based, while a stage runs.
    pub stage: Option<usize>,
    pub stages: usize,
    /// The weights the rollout asks for.
    pub weights: Option<Weights>,
    /// The split the router object carries now, per version.
    #[serde(serialize_with = "as_map")]
    pub routed: Vec<(String, u8)>,
    pub paused_for_secs: Option<u64>,
    pub time_left_secs: Option<u64>,
    pub helm: HelmRow,
    /// A step is due (a timed stage, a gradual rollback's next weight) and
    /// nobody holds the helm to take it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub waiting_for_driver: Option<String>,
    /// A change written and waited for (see [`super::pending`]).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub landing: Option<LandingRow>,
    /// An incident freeze in force: who set it, why and when.
    pub freeze: Option<Freeze>,
    pub pods: Vec<PodRow>,
    pub revisions: Vec<RevisionRow>,
    pub history: Vec<HistoryEntry>,
    #[serde(skip)]
    pub rollout: RolloutState,
}

/// `{"stable": 75, "canary": 25}`, in the router's order.
fn as_map<S: serde::Serializer>(pairs: &[(String, u8)], s: S) -> Result<S::Ok, S::Error> {
    s.collect_map(pairs.iter().map(|(k, v)| (k, v)))
}

pub fn phase_name(phase: &Phase) -> &'static str {
    match phase {
        Phase::NotStarted => "not-started",
        Phase::Progressing { .. } => "progressing",
        Phase::Paused { .. } => "paused",
        Phase::Promoted { .. } => "promoted",
        Phase::RollingBack { .. } => "rolling-back",
        Phase::Aborted { .. } => "aborted",
    }
}

/// What to say when a step is due and no driver is there to take it.
pub fn waiting_for_driver(
    state: &RolloutState,
    helm: &HelmView,
    now: DateTime<Utc>,
) -> Option<String> {
    if matches!(helm, HelmView::Ours { .. } | HelmView::Theirs { .. }) {
        return None;
    }
    let due = step(state, Event::Tick, now).ok()?.record?;
    Some(format!(
        "{} is due ({}): waiting for a driver: open the cockpit or run `flightdeck run`",
        due.action, due.to
    ))
}

impl Driver {
    /// Reads the rollout's status; `helm` is what is known of the Lease.
    pub async fn status(&self, helm: &HelmView) -> Result<Status, DriveError> {
        let loaded = self.load().await?;
        let state = loaded.rollout.state;
        let now = self.now();
        let client = self.client();
        let targets = &self.targets;
        let routed = match targets.router() {
            Some(Router::ReplicaRatio { .. }) | None => match &targets.shape {
                Shape::BlueGreen { active_service, .. } => {
                    match rest::get(client, &targets.service(active_service)).await {
                        Ok(svc) => {
                            service_selector::weights(&svc, &["blue".into(), "green".into()])
                                .unwrap_or_default()
                        }
                        Err(_) => Vec::new(),
                    }
                }
                _ => Vec::new(),
            },
            Some(router) => {
                let objects = router_objects(&targets.namespace, router);
                let (main, object) = if let Router::Nginx { .. } = router {
                    (
                        rest::get(client, &objects[0]).await.ok(),
                        rest::get(client, &objects[1]).await.ok(),
                    )
                } else {
                    (None, rest::get(client, &objects[0]).await.ok())
                };
                object
                    .and_then(|o| read_weights(router, main.as_ref(), &o).ok())
                    .unwrap_or_default()
            }
        };
        let pods = rest::list(
            client,
            POD,
            &targets.namespace,
            &format!("app={}", targets.app),
        )
        .await
        .unwrap_or_default()
        .into_iter()
        .filter_map(|p| serde_json::from_value::<Pod>(p).ok())
        .map(|p| {
            let (ready, total) = ready_counts(&p);
            let labels = p.metadata.labels.clone().unwrap_or_default();
            PodRow {
                name: p.metadata.name.clone().unwrap_or_default(),
                version: labels
                    .get("version")
                    .or_else(|| labels.get("slot"))
                    .cloned()
                    .unwrap_or_default(),
                status: pod_status(&p),
                ready: format!("{ready}/{total}"),
                restarts: crate::cluster::pod_status::restarts(&p),
            }
        })
        .collect();
        let revision_rows = self.revision_rows().await;
        let history: Vec<HistoryEntry> = loaded.rollout.history.entries().cloned().collect();
        Ok(Status {
            app: state.app.clone(),
            namespace: state.namespace.clone(),
            strategy: state.course.strategy.to_string(),
            phase: phase_name(&state.phase).into(),
            state: state.describe(),
            freeze: state.freeze.as_deref().cloned(),
            stage: state.stage().map(|s| s + 1),
            stages: state.course.stages.len(),
            weights: state.weights,
            routed: routed.into_iter().collect::<routers::Weights>(),
            paused_for_secs: state.paused_for(now).map(|d| d.as_secs()),
            time_left_secs: state.time_left(now).map(|d| d.as_secs()),
            helm: HelmRow::from(helm),
            waiting_for_driver: waiting_for_driver(&state, helm, now),
            // The deadline is on the cluster's clock, as the waiting
            // driver's was.
            landing: loaded.landing.as_ref().map(|l| LandingRow::of(l, now)),
            pods,
            revisions: revision_rows,
            history,
            rollout: state,
        })
    }

    /// Rolling: the Deployment's revisions, oldest first; empty otherwise
    /// or when they cannot be read.
    pub async fn revision_rows(&self) -> Vec<RevisionRow> {
        let Shape::Rolling { .. } = self.targets.shape else {
            return Vec::new();
        };
        let obj = self.targets.primary();
        let Ok(d) = rest::get(self.client(), &obj).await else {
            return Vec::new();
        };
        let current = d
            .pointer("/metadata/annotations")
            .and_then(|a| a.get(REVISION))
            .and_then(Value::as_str)
            .and_then(|r| r.parse::<u64>().ok());
        let Ok(revs) = revisions(self.client(), &obj, &d).await else {
            return Vec::new();
        };
        revs.into_iter()
            .map(|r| RevisionRow {
                current: Some(r.number) == current,
                revision: r.number,
                images: r.images,
                replicas: r.replicas,
            })
            .collect()
    }
}
