//! The Deployment controller, following Kubernetes' own: one ReplicaSet per
//! distinct pod template, revisions, rolling and recreate updates, pause,
//! proportional scaling, history cleanup, and the status and conditions that
//! `kubectl rollout status` reads.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use chrono::{DateTime, Utc};
use serde_json::{Map, Value, json};

use super::events::{self, Event, EventType, Source};
use super::feed::{Changes, Feed};
use super::hash::{POD_TEMPLATE_HASH, same_template, template_hash};
use super::{
    by_controller, controller_ref, creation, find_condition, int_at, is_terminating, name,
    namespace, parse_timestamp, timestamp, uid,
};
use crate::sim::Store;
use crate::sim::resources::kinds;
use crate::sim::store::{ChangeKind, StoreError};
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

    fn condition(&self, kind: &str, status: &str, reason: &str, message: &str) -> Value {
        let t = timestamp(self.now);
        json!({
            "type": kind, "status": status,
            "lastUpdateTime": t, "lastTransitionTime": t,
            "reason": reason, "message": message,
        })
    }

    /// Kubernetes' `SetDeploymentCondition`: the same status and reason is no
    /// change; the same status keeps its transition time; the new one goes last.
    fn set_condition(&mut self, mut condition: Value) {
        let kind = condition.get("type").cloned();
        if let Some(current) = self
            .conditions
            .iter()
            .find(|c| c.get("type") == kind.as_ref())
            && current.get("status") == condition.get("status")
        {
            if current.get("reason") == condition.get("reason") {
                return;
            }
            condition["lastTransitionTime"] = current["lastTransitionTime"].clone();
        }
        self.conditions.retain(|c| c.get("type") != kind.as_ref());
        self.conditions.push(condition);
    }

    fn progressing(&self) -> Option<&Value> {
        find_condition(&self.conditions, "Progressing")
    }

    fn progressing_reason(&self) -> Option<&str> {
        self.progressing()
            .and_then(|c| c.get("reason"))
            .and_then(Value::as_str)
    }

    fn check_paused_conditions(&mut self) {
        if self.spec.progress_deadline.is_none()
            || self.progressing_reason() == Some("ProgressDeadlineExceeded")
        {
            return;
        }
        let paused_shown = self.progressing_reason() == Some("DeploymentPaused");
        if self.spec.paused && !paused_shown {
            let c = self.condition(
                "Progressing",
                "Unknown",
                "DeploymentPaused",
                "Deployment is paused",
            );
            self.set_condition(c);
        } else if !self.spec.paused && paused_shown {
            let c = self.condition(
                "Progressing",
                "Unknown",
                "DeploymentResumed",
                "Deployment is resumed",
            );
            self.set_condition(c);
        }
    }

    fn template(&self) -> &Value {
        self.d.pointer("/spec/template").unwrap_or(&Value::Null)
    }

    /// Finds the ReplicaSet running the current template (creating it when
    /// asked), gives it the next revision when it is an older one coming back,
    /// and records the revision on the Deployment.
    fn find_or_create_new(&mut self, create: bool) {
        let template = self.template().clone();
        self.new = self.rss.iter().position(|rs| {
            same_template(
                rs.object.pointer("/spec/template").unwrap_or(&Value::Null),
                &template,
            )
        });
        let max_old = self
            .rss
            .iter()
            .enumerate()
            .filter(|(i, _)| Some(*i) != self.new)
            .map(|(_, rs)| rs.revision)
            .max()
            .unwrap_or(0);
        let next_revision = max_old + 1;
        if let Some(i) = self.new {
            let mut annotations = annotations_of(&self.rss[i].object);
            if self.annotate_new_rs(&mut annotations, next_revision, true) {
                let edited = self.store.modify::<()>(
                    kinds::replicasets(),
                    namespace(self.d),
                    &self.rss[i].name,
                    |o| {
                        o["metadata"]["annotations"] = Value::Object(annotations);
                        Ok(())
                    },
                );
                if let Ok(obj) = edited {
                    self.rss[i] = Rs::of(obj);
                }
            }
            self.revision = Some(self.rss[i].revision.to_string());
            if self.progressing().is_none() && self.spec.progress_deadline.is_some() {
                let msg = format!("Found new replica set \"{}\"", self.rss[i].name);
                let c = self.condition("Progressing", "True", "FoundNewReplicaSet", &msg);
                self.set_condition(c);
            }
            return;
        }
        if !create {
            return;
        }
        self.create_new_rs(&template, next_revision);
    }

    fn create_new_rs(&mut self, template: &Value, revision: i64) {
        let hash = template_hash(template, self.collision_count);
        let rs_name = format!("{}-{hash}", name(self.d));
        let mut template = template.clone();
        template["metadata"]["labels"][POD_TEMPLATE_HASH] = json!(hash);
        let mut selector = self
            .d
            .pointer("/spec/selector")
            .cloned()
            .unwrap_or_else(|| json!({}));
        selector["matchLabels"][POD_TEMPLATE_HASH] = json!(hash);
        let replicas = self.new_rs_replicas(0);
        let mut annotations = Map::new();
        self.annotate_new_rs(&mut annotations, revision, false);
        let mut spec =
            json!({"replicas": replicas, "selector": selector, "template": template.clone()});
        if let Some(min_ready) = self.d.pointer("/spec/minReadySeconds") {
            spec["minReadySeconds"] = min_ready.clone();
        }
        let rs = json!({
            "metadata": {
                "name": rs_name,
                "labels": template.pointer("/metadata/labels").cloned().unwrap_or_else(|| json!({})),
                "annotations": annotations,
                "ownerReferences": [controller_ref(self.d, "apps/v1", "Deployment")],
            },
            "spec": spec,
        });
        match self
            .store
            .create(kinds::replicasets(), namespace(self.d), rs)
        {
            Ok(created) => {
                if replicas > 0 {
                    self.record(
                        "ScalingReplicaSet",
                        &format!("Scaled up replica set {rs_name} from 0 to {replicas}"),
                    );
                }
                self.revision = Some(revision.to_string());
                let msg = format!("Created new replica set \"{rs_name}\"");
                let c = self.condition("Progressing", "True", "NewReplicaSetCreated", &msg);
                self.set_condition(c);
                self.rss.push(Rs::of(created));
                self.new = Some(self.rss.len() - 1);
            }
            Err(StoreError::AlreadyExists { .. }) => {
                // A ReplicaSet of that name runs another template (a hash
                // collision) or is not ours: count the collision and hash anew
                // on the next tick, as Kubernetes does.
                self.collision_count = Some(self.collision_count.unwrap_or(0) + 1);
            }
            Err(_) => {}
        }
    }

    /// `SetNewReplicaSetAnnotations`: copy the Deployment's annotations, move
    /// the revision forward (remembering the old one in the revision history),
    /// and on creation set the replica annotations. Returns whether anything changed.
    fn annotate_new_rs(
        &self,
        annotations: &mut Map<String, Value>,
        revision: i64,
        exists: bool,
    ) -> bool {
        let mut changed = false;
        if let Some(own) = self
            .d
            .pointer("/metadata/annotations")
            .and_then(Value::as_object)
        {
            for (k, v) in own {
                if !NOT_COPIED.contains(&k.as_str()) && annotations.get(k) != Some(v) {
                    annotations.insert(k.clone(), v.clone());
                    changed = true;
                }
            }
        }
        let old = annotations
            .get(REVISION)
            .and_then(Value::as_str)
            .map(str::to_string);
        let old_number: i64 = old.as_deref().and_then(|r| r.parse().ok()).unwrap_or(0);
        if old_number < revision {
            annotations.insert(REVISION.into(), json!(revision.to_string()));
            changed = true;
            if let Some(old) = old {
                let history = match annotations.get(REVISION_HISTORY).and_then(Value::as_str) {
                    Some(h) if !h.is_empty() => format!("{h},{old}"),
                    _ => old,
                };
                annotations.insert(REVISION_HISTORY.into(), json!(history));
            }
        }
        if !exists {
            annotations.insert(
                DESIRED_REPLICAS.into(),
                json!(self.spec.replicas.to_string()),
            );
            annotations.insert(
                MAX_REPLICAS.into(),
                json!((self.spec.replicas + self.spec.max_surge).to_string()),
            );
            changed = true;
        }
        changed
    }

    /// `NewRSNewReplicas`: how far the new ReplicaSet may grow now.
    fn new_rs_replicas(&self, current_new: i64) -> i64 {
        if self.spec.recreate {
            return self.spec.replicas;
        }
        // Every ReplicaSet's size counts, the new one's included (before it
        // exists it is not in `rss` and its size is `current_new`, zero).
        let others: i64 = self.rss.iter().map(|r| r.replicas).sum();
        let current_total = if self.new.is_some() {
            others
        } else {
            others + current_new
        };
        let max_total = self.spec.replicas + self.spec.max_surge;
        if current_total >= max_total {
            return current_new;
        }
        let up = (max_total - current_total).min(self.spec.replicas - current_new);
        current_new + up.max(0)
    }

    /// Sets a ReplicaSet's size and its replica annotations; an event says so.
    fn scale_rs(&mut self, i: usize, to: i64) {
        let from = self.rss[i].replicas;
        let desired = self.spec.replicas.to_string();
        let max = (self.spec.replicas + self.spec.max_surge).to_string();
        let edited = self.store.modify::<()>(
            kinds::replicasets(),
            namespace(self.d),
            &self.rss[i].name,
            |o| {
                o["spec"]["replicas"] = json!(to);
                if !o["metadata"]["annotations"].is_object() {
                    o["metadata"]["annotations"] = json!({});
                }
                o["metadata"]["annotations"][DESIRED_REPLICAS] = json!(desired);
                o["metadata"]["annotations"][MAX_REPLICAS] = json!(max);
                Ok(())
            },
        );
        let Ok(obj) = edited else { return };
        self.rss[i] = Rs::of(obj);
        if from != to {
            let direction = if to > from { "up" } else { "down" };
            let msg = format!(
                "Scaled {direction} replica set {} from {from} to {to}",
                self.rss[i].name
            );
            self.record("ScalingReplicaSet", &msg);
        }
    }

    fn old_indices(&self) -> Vec<usize> {
        (0..self.rss.len())
            .filter(|i| Some(*i) != self.new)
            .collect()
    }

    /// A scaling event: an active ReplicaSet was sized for another replica count.
    fn is_scaling_event(&mut self) -> bool {
        self.find_or_create_new(false);
        let want = self.spec.replicas.to_string();
        self.rss
            .iter()
            .filter(|rs| rs.replicas > 0)
            .any(|rs| super::annotation(&rs.object, DESIRED_REPLICAS).is_some_and(|d| d != want))
    }

    /// Paused or scaling: resize without rolling (Kubernetes' `sync`).
    fn sync_scale(&mut self) {
        self.find_or_create_new(false);
        self.scale();
        if self.spec.paused {
            self.cleanup();
        }
        let status = self.calculate_status();
        self.write(status);
    }

    fn scale(&mut self) {
        let active: Vec<usize> = (0..self.rss.len())
            .filter(|i| self.rss[*i].replicas > 0)
            .collect();
        let active_or_latest = match active.len() {
            0 => self.new.or_else(|| self.old_indices().last().copied()),
            1 => Some(active[0]),
            _ => None,
        };
        if let Some(i) = active_or_latest {
            if self.rss[i].replicas != self.spec.replicas {
                self.scale_rs(i, self.spec.replicas);
            }
            return;
        }
        if let Some(n) = self.new {
            let rs = &self.rss[n];
            let saturated = rs.replicas == self.spec.replicas
                && super::annotation(&rs.object, DESIRED_REPLICAS)
                    == Some(&self.spec.replicas.to_string())
                && rs.available == self.spec.replicas;
            if saturated {
                for i in self.old_indices() {
                    if self.rss[i].replicas > 0 {
                        self.scale_rs(i, 0);
                    }
                }
                return;
            }
        }
        if self.spec.recreate {
            return;
        }
        self.scale_proportionally(&active);
    }

    /// Spreads a change of `spec.replicas` during a rollout over the active
    /// ReplicaSets in proportion to their size, bigger ones first.
    fn scale_proportionally(&mut self, active: &[usize]) {
        let all: i64 = active.iter().map(|i| self.rss[*i].replicas).sum();
        let allowed = if self.spec.replicas > 0 {
            self.spec.replicas + self.spec.max_surge
        } else {
            0
        };
        let to_add = allowed - all;
        if to_add == 0 {
            return;
        }
        let mut order = active.to_vec();
        order.sort_by(|a, b| {
            let (ra, rb) = (&self.rss[*a], &self.rss[*b]);
            let by_size = rb.replicas.cmp(&ra.replicas);
            let by_age = if to_add > 0 {
                rb.created.cmp(&ra.created)
            } else {
                ra.created.cmp(&rb.created)
            };
            by_size.then(by_age)
        });
        let mut added = 0;
        let mut sizes: Vec<(usize, i64)> = Vec::new();
        for &i in &order {
            let rs = &self.rss[i];
            let fraction = if self.spec.replicas == 0 {
                -rs.replicas
            } else {
                let annotated = super::annotation(&rs.object, MAX_REPLICAS)
                    .and_then(|m| m.parse::<i64>().ok())
                    .filter(|m| *m > 0)
                    .unwrap_or_else(|| int_at(self.d, "/status/replicas").unwrap_or(1).max(1));
                (rs.replicas as f64 * allowed as f64 / annotated as f64).round() as i64
                    - rs.replicas
            };
            let remaining = to_add - added;
            let proportion = if to_add > 0 {
                fraction.min(remaining)
            } else {
                fraction.max(remaining)
            };
            sizes.push((i, rs.replicas + proportion));
            added += proportion;
        }
        if added != to_add
            && let Some(first) = sizes.first_mut()
        {
            first.1 = (first.1 + to_add - added).max(0);
        }
        for (i, size) in sizes {
            self.scale_rs(i, size.max(0));
        }
    }

    fn rollout_rolling(&mut self) {
        self.find_or_create_new(true);
        let scaled = self.reconcile_new() || self.reconcile_old();
        if !scaled && self.was_complete() {
            self.cleanup();
        }
        self.sync_rollout_status();
    }

    fn reconcile_new(&mut self) -> bool {
        let Some(n) = self.new else { return false };
        let current = self.rss[n].replicas;
        if current == self.spec.replicas {
            return false;
        }
        let target = if current > self.spec.replicas {
            self.spec.replicas
        } else {
            self.new_rs_replicas(current)
        };
        if target == current {
            return false;
        }
        self.scale_rs(n, target);
        true
    }

    fn reconcile_old(&mut self) -> bool {
        let old = self.old_indices();
        let old_count: i64 = old.iter().map(|i| self.rss[*i].replicas).sum();
        if old_count == 0 {
            return false;
        }
        let all_count: i64 = self.rss.iter().map(|r| r.replicas).sum();
        let min_available = self.spec.replicas - self.spec.max_unavailable();
        let new_unavailable = self
            .new
            .map_or(0, |n| (self.rss[n].replicas - self.rss[n].available).max(0));
        let max_scaled_down = all_count - min_available - new_unavailable;
        if max_scaled_down <= 0 {
            return false;
        }
        // Unhealthy old replicas go first: removing them costs no availability.
        let mut cleaned = 0;
        for &i in &old {
            if cleaned >= max_scaled_down {
                break;
            }
            let rs = &self.rss[i];
            if rs.replicas == 0 || rs.available >= rs.replicas {
                continue;
            }
            let down = (max_scaled_down - cleaned).min(rs.replicas - rs.available);
            let to = rs.replicas - down;
            self.scale_rs(i, to);
            cleaned += down;
        }
        let available: i64 = self.rss.iter().map(|r| r.available).sum();
        let mut scaled = 0;
        if available > min_available {
            let total = available - min_available;
            for &i in &old {
                if scaled >= total {
                    break;
                }
                let rs = &self.rss[i];
                if rs.replicas == 0 {
                    continue;
                }
                let down = rs.replicas.min(total - scaled);
                let to = rs.replicas - down;
                self.scale_rs(i, to);
                scaled += down;
            }
        }
        cleaned + scaled > 0
    }

    fn rollout_recreate(&mut self, pods: &mut Option<BTreeMap<String, Vec<Arc<Value>>>>) {
        self.find_or_create_new(false);
        let mut scaled = false;
        for i in self.old_indices() {
            if self.rss[i].replicas > 0 {
                self.scale_rs(i, 0);
                scaled = true;
            }
        }
        if scaled {
            self.sync_rollout_status();
            return;
        }
        let pods =
            pods.get_or_insert_with(|| by_controller(&self.store.list(kinds::pods(), None).0));
        let old_running = self.old_indices().iter().any(|i| {
            pods.get(uid(&self.rss[*i].object)).is_some_and(|ps| {
                ps.iter().any(|p| {
                    !matches!(
                        p.pointer("/status/phase").and_then(Value::as_str),
                        Some("Succeeded" | "Failed")
                    )
                })
            })
        });
        if old_running {
            self.sync_rollout_status();
            return;
        }
        if self.new.is_none() {
            self.find_or_create_new(true);
        }
        if let Some(n) = self.new
            && self.rss[n].replicas != self.spec.replicas
        {
            self.scale_rs(n, self.spec.replicas);
        }
        if self.was_complete() {
            self.cleanup();
        }
        self.sync_rollout_status();
    }

    /// Deletes the oldest idle ReplicaSets beyond `revisionHistoryLimit`.
    fn cleanup(&mut self) {
        let Some(limit) = self.spec.history_limit else {
            return;
        };
        let mut old: Vec<usize> = self.old_indices();
        let excess = old.len() as i64 - limit;
        if excess <= 0 {
            return;
        }
        old.sort_by(|a, b| {
            let (ra, rb) = (&self.rss[*a], &self.rss[*b]);
            ra.revision
                .cmp(&rb.revision)
                .then_with(|| ra.name.cmp(&rb.name))
        });
        let doomed: Vec<String> = old
            .iter()
            .take(excess as usize)
            .map(|i| &self.rss[*i])
            .filter(|rs| rs.replicas == 0 && rs.status_replicas == 0 && rs.synced())
            .map(|rs| rs.name.clone())
            .collect();
        for name in &doomed {
            let _ = self
                .store
                .delete(kinds::replicasets(), namespace(self.d), name);
        }
        let new_name = self.new.map(|n| self.rss[n].name.clone());
        self.rss.retain(|rs| !doomed.contains(&rs.name));
        self.new = new_name.and_then(|n| self.rss.iter().position(|rs| rs.name == n));
    }

    /// `DeploymentComplete` on the status as it was stored before this sync.
    fn was_complete(&self) -> bool {
        let s = |f: &str| int_at(self.d, &format!("/status/{f}")).unwrap_or(0);
        complete(
            &self.spec,
            s("updatedReplicas"),
            s("replicas"),
            s("availableReplicas"),
            s("observedGeneration"),
        )
    }

    fn calculate_status(&mut self) -> Status {
        let available: i64 = self.rss.iter().map(|r| r.available).sum();
        let total: i64 = self.rss.iter().map(|r| r.replicas).sum();
        let status = Status {
            observed_generation: self.spec.generation,
            replicas: self.rss.iter().map(|r| r.status_replicas).sum(),
            updated: self.new.map_or(0, |n| self.rss[n].status_replicas),
            ready: self.rss.iter().map(|r| r.ready).sum(),
            available,
            unavailable: (total - available).max(0),
        };
        let condition = if available >= self.spec.replicas - self.spec.max_unavailable() {
            self.condition(
                "Available",
                "True",
                "MinimumReplicasAvailable",
                "Deployment has minimum availability.",
            )
        } else {
            self.condition(
                "Available",
                "False",
                "MinimumReplicasUnavailable",
                "Deployment does not have minimum availability.",
            )
        };
        self.set_condition(condition);
        status
    }

    /// Kubernetes' `syncRolloutStatus`: the Progressing condition moves only
    /// on progress, completion, or the deadline passing.
    fn sync_rollout_status(&mut self) {
        let status = self.calculate_status();
        let Some(deadline) = self.spec.progress_deadline else {
            self.conditions
                .retain(|c| c.get("type").and_then(Value::as_str) != Some("Progressing"));
            self.write(status);
            return;
        };
        let already_complete = status.replicas == status.updated
            && self.progressing_reason() == Some("NewReplicaSetAvailable");
        if !already_complete {
            let rs_name = self.new.map(|n| self.rss[n].name.clone());
            let what = rs_name.as_ref().map_or_else(
                || format!("Deployment \"{}\"", name(self.d)),
                |n| format!("ReplicaSet \"{n}\""),
            );
            if complete(
                &self.spec,
                status.updated,
                status.replicas,
                status.available,
                status.observed_generation,
            ) {
                let msg = format!("{what} has successfully progressed.");
                let c = self.condition("Progressing", "True", "NewReplicaSetAvailable", &msg);
                self.set_condition(c);
            } else if self.made_progress(&status) {
                let msg = format!("{what} is progressing.");
                let mut c = self.condition("Progressing", "True", "ReplicaSetUpdated", &msg);
                // Progress refreshes lastUpdateTime even when the reason holds:
                // that is what the deadline is measured from.
                if let Some(current) = self.progressing()
                    && current.get("status").and_then(Value::as_str) == Some("True")
                {
                    c["lastTransitionTime"] = current["lastTransitionTime"].clone();
                }
                self.conditions
                    .retain(|c| c.get("type").and_then(Value::as_str) != Some("Progressing"));
                self.conditions.push(c);
            } else if self.timed_out(deadline) {
                let msg = format!("{what} has timed out progressing.");
                let c = self.condition("Progressing", "False", "ProgressDeadlineExceeded", &msg);
                self.set_condition(c);
            }
        }
        self.write(status);
    }

    fn made_progress(&self, new: &Status) -> bool {
        let s = |f: &str| int_at(self.d, &format!("/status/{f}")).unwrap_or(0);
        let old_old = s("replicas") - s("updatedReplicas");
        let new_old = new.replicas - new.updated;
        new.updated > s("updatedReplicas")
            || new_old < old_old
            || new.ready > s("readyReplicas")
            || new.available > s("availableReplicas")
    }

    fn timed_out(&self, deadline: i64) -> bool {
        let Some(c) = self.progressing() else {
            return false;
        };
        match c.get("reason").and_then(Value::as_str) {
            Some("NewReplicaSetAvailable") => false,
            Some("ProgressDeadlineExceeded") => true,
            _ => c
                .get("lastUpdateTime")
                .and_then(Value::as_str)
                .and_then(parse_timestamp)
                .is_some_and(|from| from + chrono::Duration::seconds(deadline) < self.now),
        }
    }

    fn write(&self, status: Status) {
        let mut body = Map::new();
        body.insert(
            "observedGeneration".into(),
            json!(status.observed_generation),
        );
        // Zero counts are omitted, as the API server's encoding does.
        for (field, n) in [
            ("replicas", status.replicas),
            ("updatedReplicas", status.updated),
            ("readyReplicas", status.ready),
            ("availableReplicas", status.available),
            ("unavailableReplicas", status.unavailable),
        ] {
            if n != 0 {
                body.insert(field.into(), json!(n));
            }
        }
        if !self.conditions.is_empty() {
            body.insert("conditions".into(), Value::Array(self.conditions.clone()));
        }
        if let Some(n) = self.collision_count {
            body.insert("collisionCount".into(), json!(n));
        }
        let revision = self.revision.clone();
        let _ =
            self.store
                .modify::<()>(kinds::deployments(), namespace(self.d), name(self.d), |o| {
                    if let Some(rev) = revision
                        && super::annotation(o, REVISION) != Some(rev.as_str())
                    {
                        if !o["metadata"]["annotations"].is_object() {
                            o["metadata"]["annotations"] = json!({});
                        }
                        o["metadata"]["annotations"][REVISION] = json!(rev);
                    }
                    o["status"] = Value::Object(body);
                    Ok(())
                });
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
