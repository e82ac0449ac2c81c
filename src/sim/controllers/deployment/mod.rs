//! The Deployment controller, following Kubernetes' own: one ReplicaSet per
//! distinct pod template, revisions, rolling and recreate updates, pause,
//! proportional scaling, history cleanup, and the status and conditions that
//! `kubectl rollout status` reads.

mod new_rs;
mod rollout;
mod status;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use chrono::{DateTime, Utc};
use serde_json::{Map, Value, json};

use super::events::{self, Event, EventType, Source};
use super::feed::{Changes, Feed};
use super::{by_controller, creation, find_condition, int_at, is_terminating, name, uid};
use crate::sim::Store;
use crate::sim::resources::kinds;
use crate::sim::store::ChangeKind;
use crate::sim::world::{Controller, TickCtx};

pub const REVISION: &str = "deployment.kubernetes.io/revision";
pub const REVISION_HISTORY: &str = "deployment.kubernetes.io/revision-history";
pub const DESIRED_REPLICAS: &str = "deployment.kubernetes.io/desired-replicas";
pub const MAX_REPLICAS: &str = "deployment.kubernetes.io/max-replicas";

/// Deployment annotations that stay on the Deployment (the rest are copied to
/// its new ReplicaSet, which is how `kubernetes.io/change-cause` reaches
/// `kubectl rollout history`).
const NOT_COPIED: &[&str] = &[
    "kubectl.kubernetes.io/last-applied-configuration",
    REVISION,
    REVISION_HISTORY,
    DESIRED_REPLICAS,
    MAX_REPLICAS,
    "deprecated.deployment.rollback.to",
];

const COMPONENT: &str = "deployment-controller";

/// Syncs the Deployments that changed, whose ReplicaSets changed, or whose
/// rollout is under way (its progress deadline is a clock).
#[derive(Default)]
pub struct DeploymentController {
    feed: Feed,
}

impl Controller for DeploymentController {
    fn tick(&mut self, ctx: &mut TickCtx<'_>) {
        let store = &ctx.shared.store;
        let (replicasets, _) = store.list(kinds::replicasets(), None);
        let dirty: Option<BTreeSet<String>> = match self.feed.drain(store) {
            Changes::All => None,
            Changes::Some(changes) => {
                // A pod going away wakes the Deployment of its ReplicaSet: a
                // Recreate rollout waits for the last old pod to be gone.
                let emptied: BTreeSet<&str> = changes
                    .iter()
                    .filter(|c| {
                        std::ptr::eq(c.resource, kinds::pods()) && c.kind == ChangeKind::Deleted
                    })
                    .filter_map(|c| super::controller_uid(&c.object))
                    .collect();
                let mut set: BTreeSet<String> = changes
                    .iter()
                    .filter_map(|c| {
                        if std::ptr::eq(c.resource, kinds::deployments()) {
                            Some(uid(&c.object).to_string())
                        } else if std::ptr::eq(c.resource, kinds::replicasets()) {
                            super::controller_uid(&c.object).map(str::to_string)
                        } else {
                            None
                        }
                    })
                    .collect();
                if !emptied.is_empty() {
                    set.extend(
                        replicasets
                            .iter()
                            .filter(|rs| emptied.contains(uid(rs)))
                            .filter_map(|rs| super::controller_uid(rs).map(str::to_string)),
                    );
                }
                Some(set)
            }
        };
        let (deployments, _) = store.list(kinds::deployments(), None);
        let due: Vec<&Arc<Value>> = deployments
            .iter()
            .filter(|d| !is_terminating(d))
            .filter(|d| dirty.as_ref().is_none_or(|set| set.contains(uid(d))) || rolling_out(d))
            .collect();
        if due.is_empty() {
            return;
        }
        let owned = by_controller(&replicasets);
        let mut pods: Option<BTreeMap<String, Vec<Arc<Value>>>> = None;
        for d in due {
            let rss = owned.get(uid(d)).map_or(&[][..], Vec::as_slice);
            Sync::new(store, ctx.now, d, rss).run(&mut pods);
        }
    }
}

/// A pod template the controller can make pods from: labels (if any) are a
/// map and the spec is an object with a list of containers.
fn valid_template(template: &Value) -> bool {
    let labels_ok = template
        .pointer("/metadata/labels")
        .is_none_or(|l| l.is_object() || l.is_null());
    let spec_ok = template
        .pointer("/spec/containers")
        .is_some_and(Value::is_array);
    template.is_object() && labels_ok && spec_ok
}

/// A rollout whose progress deadline may still pass.
fn rolling_out(d: &Value) -> bool {
    let reason = d
        .pointer("/status/conditions")
        .and_then(Value::as_array)
        .and_then(|c| find_condition(c, "Progressing"))
        .and_then(|c| c.get("reason"))
        .and_then(Value::as_str);
    !matches!(
        reason,
        Some("NewReplicaSetAvailable" | "ProgressDeadlineExceeded" | "DeploymentPaused")
    )
}

/// The parts of a Deployment's spec the controller reasons about.
#[derive(Debug, Clone, Copy)]
struct Spec {
    replicas: i64,
    paused: bool,
    recreate: bool,
    max_surge: i64,
    max_unavailable: i64,
    history_limit: Option<i64>,
    progress_deadline: Option<i64>,
    generation: i64,
}

impl Spec {
    fn of(d: &Value) -> Spec {
        let replicas = int_at(d, "/spec/replicas").unwrap_or(1).max(0);
        let recreate = d.pointer("/spec/strategy/type").and_then(Value::as_str) == Some("Recreate");
        let (max_surge, max_unavailable) = if recreate {
            (0, 0)
        } else {
            let param = |field: &str| {
                d.pointer(&format!("/spec/strategy/rollingUpdate/{field}"))
                    .cloned()
                    .unwrap_or_else(|| json!("25%"))
            };
            resolve_fenceposts(&param("maxSurge"), &param("maxUnavailable"), replicas)
        };
        Spec {
            replicas,
            paused: d.pointer("/spec/paused").and_then(Value::as_bool) == Some(true),
            recreate,
            max_surge,
            max_unavailable,
            history_limit: int_at(d, "/spec/revisionHistoryLimit").or(Some(10)),
            progress_deadline: int_at(d, "/spec/progressDeadlineSeconds").or(Some(600)),
            generation: int_at(d, "/metadata/generation").unwrap_or(0),
        }
    }

    /// `MaxUnavailable` in Kubernetes' deployment utilities.
    fn max_unavailable(&self) -> i64 {
        if self.recreate || self.replicas == 0 {
            0
        } else {
            self.max_unavailable.min(self.replicas)
        }
    }
}

/// An int-or-percent resolved against `total`, rounding up or down.
fn scaled_value(value: &Value, total: i64, round_up: bool) -> i64 {
    match value {
        Value::Number(n) => n.as_i64().unwrap_or(0),
        Value::String(s) => match s
            .strip_suffix('%')
            .and_then(|p| p.trim().parse::<i64>().ok())
        {
            Some(percent) => {
                let scaled = percent * total;
                if round_up {
                    (scaled + 99).div_euclid(100)
                } else {
                    scaled.div_euclid(100)
                }
            }
            None => s.parse().unwrap_or(0),
        },
        _ => 0,
    }
}

/// maxSurge rounds up, maxUnavailable down; both zero would deadlock, so
/// maxUnavailable becomes 1, as in Kubernetes.
pub fn resolve_fenceposts(max_surge: &Value, max_unavailable: &Value, replicas: i64) -> (i64, i64) {
    let surge = scaled_value(max_surge, replicas, true).max(0);
    let unavailable = scaled_value(max_unavailable, replicas, false).max(0);
    if surge == 0 && unavailable == 0 {
        (0, 1)
    } else {
        (surge, unavailable)
    }
}

/// What the controller knows of one owned ReplicaSet.
#[derive(Debug, Clone)]
struct Rs {
    object: Arc<Value>,
    name: String,
    replicas: i64,
    status_replicas: i64,
    ready: i64,
    available: i64,
    revision: i64,
    created: Option<DateTime<Utc>>,
}

impl Rs {
    fn of(object: Arc<Value>) -> Rs {
        Rs {
            name: name(&object).to_string(),
            replicas: int_at(&object, "/spec/replicas").unwrap_or(1),
            status_replicas: int_at(&object, "/status/replicas").unwrap_or(0),
            ready: int_at(&object, "/status/readyReplicas").unwrap_or(0),
            available: int_at(&object, "/status/availableReplicas").unwrap_or(0),
            revision: revision_of(&object),
            created: creation(&object),
            object,
        }
    }

    fn synced(&self) -> bool {
        int_at(&self.object, "/metadata/generation").unwrap_or(0)
            <= int_at(&self.object, "/status/observedGeneration").unwrap_or(0)
    }
}

fn revision_of(object: &Value) -> i64 {
    super::annotation(object, REVISION)
        .and_then(|r| r.parse().ok())
        .unwrap_or(0)
}

/// One Deployment's sync: reads once, writes ReplicaSets as it goes and the
/// Deployment's status (and revision annotation) once at the end.
struct Sync<'a> {
    store: &'a Store,
    now: DateTime<Utc>,
    d: &'a Value,
    spec: Spec,
    rss: Vec<Rs>,
    new: Option<usize>,
    conditions: Vec<Value>,
    revision: Option<String>,
    collision_count: Option<i64>,
}

impl<'a> Sync<'a> {
    fn new(store: &'a Store, now: DateTime<Utc>, d: &'a Value, owned: &[Arc<Value>]) -> Self {
        let mut rss: Vec<Rs> = owned
            .iter()
            .filter(|rs| !is_terminating(rs))
            .cloned()
            .map(Rs::of)
            .collect();
        rss.sort_by(|a, b| a.created.cmp(&b.created).then_with(|| a.name.cmp(&b.name)));
        Sync {
            store,
            now,
            d,
            spec: Spec::of(d),
            rss,
            new: None,
            conditions: d
                .pointer("/status/conditions")
                .and_then(Value::as_array)
                .cloned()
                .unwrap_or_default(),
            revision: None,
            collision_count: int_at(d, "/status/collisionCount"),
        }
    }

    fn run(mut self, pods: &mut Option<BTreeMap<String, Vec<Arc<Value>>>>) {
        if !valid_template(self.template()) {
            // The API server would have refused it; there is nothing to run.
            return;
        }
        self.check_paused_conditions();
        if self.spec.paused || self.is_scaling_event() {
            self.sync_scale();
        } else if self.spec.recreate {
            self.rollout_recreate(pods);
        } else {
            self.rollout_rolling();
        }
    }

    fn record(&self, reason: &str, message: &str) {
        events::record(
            self.store,
            self.now,
            &Event {
                object: self.d,
                field_path: None,
                kind: EventType::Normal,
                reason,
                message,
                source: Source::component(COMPONENT),
            },
        );
    }

    fn template(&self) -> &Value {
        self.d.pointer("/spec/template").unwrap_or(&Value::Null)
    }

    fn old_indices(&self) -> Vec<usize> {
        (0..self.rss.len())
            .filter(|i| Some(*i) != self.new)
            .collect()
    }
}

#[derive(Debug, Clone, Copy)]
struct Status {
    observed_generation: i64,
    replicas: i64,
    updated: i64,
    ready: i64,
    available: i64,
    unavailable: i64,
}

fn complete(spec: &Spec, updated: i64, replicas: i64, available: i64, observed: i64) -> bool {
    updated == spec.replicas
        && replicas == spec.replicas
        && available == spec.replicas
        && observed >= spec.generation
}

fn annotations_of(object: &Value) -> Map<String, Value> {
    object
        .pointer("/metadata/annotations")
        .and_then(Value::as_object)
        .cloned()
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fenceposts_round_like_kubernetes() {
        let pct = |s: &str| json!(s);
        assert_eq!(resolve_fenceposts(&pct("25%"), &pct("25%"), 10), (3, 2));
        assert_eq!(resolve_fenceposts(&pct("25%"), &pct("25%"), 4), (1, 1));
        assert_eq!(resolve_fenceposts(&pct("25%"), &pct("25%"), 1), (1, 0));
        assert_eq!(resolve_fenceposts(&json!(0), &json!(0), 3), (0, 1));
        assert_eq!(resolve_fenceposts(&json!(2), &pct("0%"), 3), (2, 0));
    }
}
