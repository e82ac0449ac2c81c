//! The ReplicaSet controller: keeps as many live pods as `spec.replicas` asks,
//! and reports how many there are, are ready and are available.
//!
//! Scale-down marks pods for deletion (`deletionTimestamp`, a short grace
//! period); the kubelet shows them Terminating, drains them and removes them.
//! It picks the pods that cost least first: unscheduled, then pending, then
//! not ready, then the most restarted, then the newest.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use serde_json::{Value, json};

use super::events::{self, Event, EventType, Source};
use super::feed::{Changes, Feed};
use super::{
    controller_ref, controller_uid, creation, find_condition, int_at, is_terminating,
    label_selector_matches, labels, name, namespace, put, timestamp,
};
use crate::sim::resources::kinds;
use crate::sim::world::{Controller, TickCtx};

/// Grace period the controller gives the pods it scales away, in sim time.
pub const SCALE_DOWN_GRACE: Duration = Duration::from_secs(2);
/// Pods created per ReplicaSet per tick at most (Kubernetes batches its burst too).
const CREATE_BURST: i64 = 500;
const COMPONENT: &str = "replicaset-controller";

/// Looks only at the ReplicaSets that changed or whose pods did, and at those
/// with ready pods still serving out `minReadySeconds`.
#[derive(Default)]
pub struct ReplicaSetController {
    feed: Feed,
    maturing: BTreeSet<String>,
}

impl Controller for ReplicaSetController {
    fn tick(&mut self, ctx: &mut TickCtx<'_>) {
        let store = &ctx.shared.store;
        let maturing = std::mem::take(&mut self.maturing);
        let dirty: Option<BTreeSet<String>> = match self.feed.drain(store) {
            Changes::All => None,
            Changes::Some(changes) => Some(
                changes
                    .iter()
                    .filter_map(|c| {
                        if std::ptr::eq(c.resource, kinds::pods()) {
                            controller_uid(&c.object).map(str::to_string)
                        } else if std::ptr::eq(c.resource, kinds::replicasets()) {
                            Some(super::uid(&c.object).to_string())
                        } else {
                            None
                        }
                    })
                    .chain(maturing)
                    .collect(),
            ),
        };
        if dirty.as_ref().is_some_and(BTreeSet::is_empty) {
            return;
        }
        let (replicasets, _) = store.list(kinds::replicasets(), None);
        let replicasets: Vec<Arc<Value>> = replicasets
            .into_iter()
            .filter(|rs| dirty.as_ref().is_none_or(|d| d.contains(super::uid(rs))))
            .collect();
        for rs in &replicasets {
            // The store's owner index answers an RS's pods without reading the
            // thousands of others in its namespace.
            let id = super::uid(rs);
            let mut pods: Vec<Arc<Value>> = store
                .dependents(kinds::pods(), id)
                .into_iter()
                .filter(|p| {
                    controller_uid(p) == Some(id)
                        && namespace(p) == namespace(rs)
                        && !is_terminating(p)
                        && !is_finished(p)
                })
                .collect();
            manage(ctx, rs, &mut pods);
            if write_status(ctx, rs, &pods) {
                self.maturing.insert(super::uid(rs).to_string());
            }
        }
    }
}

fn is_finished(pod: &Value) -> bool {
    matches!(
        pod.pointer("/status/phase").and_then(Value::as_str),
        Some("Succeeded" | "Failed")
    )
}

pub fn is_ready(pod: &Value) -> bool {
    pod.pointer("/status/conditions")
        .and_then(Value::as_array)
        .and_then(|c| find_condition(c, "Ready"))
        .and_then(|c| c.get("status"))
        .and_then(Value::as_str)
        == Some("True")
}

fn record(ctx: &TickCtx<'_>, rs: &Value, kind: EventType, reason: &str, message: &str) {
    events::record(
        &ctx.shared.store,
        ctx.now,
        &Event {
            object: rs,
            field_path: None,
            kind,
            reason,
            message,
            source: Source::component(COMPONENT),
        },
    );
}

fn manage(ctx: &TickCtx<'_>, rs: &Value, pods: &mut Vec<Arc<Value>>) {
    if is_terminating(rs) {
        return;
    }
    let store = &ctx.shared.store;
    let want = int_at(rs, "/spec/replicas").unwrap_or(1).max(0);
    let have = pods.len() as i64;
    if have < want {
        let template = rs
            .pointer("/spec/template")
            .cloned()
            .unwrap_or_else(|| json!({}));
        for _ in 0..(want - have).min(CREATE_BURST) {
            let pod = pod_from_template(rs, &template);
            match store.create(kinds::pods(), namespace(rs), pod) {
                Ok(created) => {
                    record(
                        ctx,
                        rs,
                        EventType::Normal,
                        "SuccessfulCreate",
                        &format!("Created pod: {}", name(&created)),
                    );
                    pods.push(created);
                }
                Err(e) => {
                    record(
                        ctx,
                        rs,
                        EventType::Warning,
                        "FailedCreate",
                        &format!("Error creating: {e}"),
                    );
                    break;
                }
            }
        }
    } else if have > want {
        pods.sort_by(|a, b| {
            deletion_rank(a)
                .cmp(&deletion_rank(b))
                .then_with(|| name(a).cmp(name(b)))
        });
        let doomed: Vec<Arc<Value>> = pods.drain(..(have - want) as usize).collect();
        let deadline =
            timestamp(ctx.now + chrono::Duration::from_std(SCALE_DOWN_GRACE).unwrap_or_default());
        for pod in doomed {
            // A pod no node runs has nothing to drain: it goes at once, as the
            // API server deletes unscheduled pods without a grace period.
            let scheduled = pod
                .pointer("/spec/nodeName")
                .and_then(Value::as_str)
                .is_some_and(|n| !n.is_empty());
            let marked = if scheduled {
                store
                    .modify::<()>(kinds::pods(), namespace(&pod), name(&pod), |p| {
                        put(p, &["metadata", "deletionTimestamp"], json!(deadline));
                        put(
                            p,
                            &["metadata", "deletionGracePeriodSeconds"],
                            json!(SCALE_DOWN_GRACE.as_secs()),
                        );
                        Ok(())
                    })
                    .map(|_| ())
                    .map_err(|_| ())
            } else {
                store
                    .delete(kinds::pods(), namespace(&pod), name(&pod))
                    .map(|_| ())
                    .map_err(|_| ())
            };
            if marked.is_ok() {
                record(
                    ctx,
                    rs,
                    EventType::Normal,
                    "SuccessfulDelete",
                    &format!("Deleted pod: {}", name(&pod)),
                );
            }
        }
    }
}

/// Lower ranks are deleted first.
fn deletion_rank(pod: &Value) -> (u8, u8, u8, std::cmp::Reverse<i64>, std::cmp::Reverse<i64>) {
    let scheduled = pod
        .pointer("/spec/nodeName")
        .and_then(Value::as_str)
        .is_some_and(|n| !n.is_empty());
    let phase = match pod.pointer("/status/phase").and_then(Value::as_str) {
        Some("Pending") | None => 0,
        Some("Running") => 2,
        _ => 1,
    };
    let restarts: i64 = pod
        .pointer("/status/containerStatuses")
        .and_then(Value::as_array)
        .and_then(|cs| {
            cs.iter()
                .filter_map(|c| c.get("restartCount").and_then(Value::as_i64))
                .max()
        })
        .unwrap_or(0);
    let created = creation(pod).map_or(0, |t| t.timestamp());
    (
        u8::from(scheduled),
        phase,
        u8::from(is_ready(pod)),
        std::cmp::Reverse(restarts),
        std::cmp::Reverse(created),
    )
}

fn pod_from_template(rs: &Value, template: &Value) -> Value {
    let mut metadata = json!({
        "generateName": format!("{}-", name(rs)),
        "labels": template.pointer("/metadata/labels").cloned().unwrap_or_else(|| json!({})),
        "ownerReferences": [controller_ref(rs, "apps/v1", "ReplicaSet")],
    });
    if let Some(a) = template.pointer("/metadata/annotations") {
        metadata["annotations"] = a.clone();
    }
    json!({
        "metadata": metadata,
        "spec": template.get("spec").cloned().unwrap_or_else(|| json!({})),
        "status": {"phase": "Pending", "qosClass": qos_class(template.get("spec").unwrap_or(&Value::Null))},
    })
}

/// Guaranteed when every container's requests equal its limits, BestEffort
/// with none at all, Burstable otherwise.
pub fn qos_class(pod_spec: &Value) -> &'static str {
    let containers = pod_spec
        .get("containers")
        .and_then(Value::as_array)
        .map_or(&[][..], Vec::as_slice);
    let mut any = false;
    let mut guaranteed = !containers.is_empty();
    for c in containers {
        let limits = c.pointer("/resources/limits").and_then(Value::as_object);
        let requests = c.pointer("/resources/requests").and_then(Value::as_object);
        any |= limits.is_some_and(|l| !l.is_empty()) || requests.is_some_and(|r| !r.is_empty());
        let full = limits.is_some_and(|l| {
            l.contains_key("cpu")
                && l.contains_key("memory")
                && requests.is_none_or(|r| r.iter().all(|(k, v)| l.get(k) == Some(v)))
        });
        guaranteed &= full;
    }
    match (any, guaranteed) {
        (false, _) => "BestEffort",
        (true, true) => "Guaranteed",
        (true, false) => "Burstable",
    }
}

/// Writes the ReplicaSet's counts. Returns whether some ready pod is not yet
/// available (ready for less than `minReadySeconds`).
fn write_status(ctx: &TickCtx<'_>, rs: &Value, pods: &[Arc<Value>]) -> bool {
    let template_labels = rs
        .pointer("/spec/template/metadata/labels")
        .cloned()
        .unwrap_or_else(|| json!({}));
    let selector = json!({ "matchLabels": template_labels });
    let fully_labeled = pods
        .iter()
        .filter(|p| label_selector_matches(&selector, labels(p)))
        .count();
    let ready = pods.iter().filter(|p| is_ready(p)).count();
    let min_ready = int_at(rs, "/spec/minReadySeconds").unwrap_or(0);
    let available = pods
        .iter()
        .filter(|p| is_available(p, min_ready, ctx.now))
        .count();
    let mut status = serde_json::Map::new();
    status.insert("replicas".into(), json!(pods.len()));
    for (field, n) in [
        ("fullyLabeledReplicas", fully_labeled),
        ("readyReplicas", ready),
        ("availableReplicas", available),
    ] {
        if n > 0 {
            status.insert(field.into(), json!(n));
        }
    }
    status.insert(
        "observedGeneration".into(),
        json!(int_at(rs, "/metadata/generation").unwrap_or(1)),
    );
    let status = Value::Object(status);
    if rs.get("status") != Some(&status) {
        let _ = ctx
            .shared
            .store
            .modify::<()>(kinds::replicasets(), namespace(rs), name(rs), |o| {
                put(o, &["status"], status);
                Ok(())
            });
    }
    available < ready
}

/// Ready for at least `min_ready` seconds, by the Ready condition's transition.
fn is_available(pod: &Value, min_ready: i64, now: chrono::DateTime<chrono::Utc>) -> bool {
    if !is_ready(pod) {
        return false;
    }
    if min_ready <= 0 {
        return true;
    }
    pod.pointer("/status/conditions")
        .and_then(Value::as_array)
        .and_then(|c| find_condition(c, "Ready"))
        .and_then(|c| c.get("lastTransitionTime"))
        .and_then(Value::as_str)
        .and_then(super::parse_timestamp)
        .is_some_and(|since| since + chrono::Duration::seconds(min_ready) <= now)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn qos_classes() {
        let spec = |res: Value| json!({"containers": [{"name": "a", "resources": res}]});
        assert_eq!(qos_class(&spec(json!({}))), "BestEffort");
        assert_eq!(
            qos_class(&spec(json!({"limits": {"cpu": "1", "memory": "1Gi"}}))),
            "Guaranteed"
        );
        assert_eq!(
            qos_class(&spec(
                json!({"limits": {"cpu": "1", "memory": "1Gi"}, "requests": {"cpu": "500m"}})
            )),
            "Burstable"
        );
    }

    #[test]
    fn not_ready_and_unscheduled_pods_go_first() {
        let pod = |node: Option<&str>, phase: &str, ready: bool| {
            let mut p = json!({"metadata": {"name": "p"}, "spec": {}, "status": {"phase": phase,
                "conditions": [{"type": "Ready", "status": if ready {"True"} else {"False"}}]}});
            if let Some(n) = node {
                p["spec"]["nodeName"] = json!(n);
            }
            p
        };
        let unscheduled = deletion_rank(&pod(None, "Pending", false));
        let pending = deletion_rank(&pod(Some("n"), "Pending", false));
        let not_ready = deletion_rank(&pod(Some("n"), "Running", false));
        let ready = deletion_rank(&pod(Some("n"), "Running", true));
        assert!(unscheduled < pending && pending < not_ready && not_ready < ready);
    }
}
