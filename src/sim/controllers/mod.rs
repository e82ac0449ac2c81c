//! The controllers that make the simulated cluster behave like a real one.
//!
//! Each is a [`Controller`](super::world::Controller) run once per tick in a
//! fixed order ([`standard`]): Deployments shape ReplicaSets, ReplicaSets shape
//! pods, the scheduler places them, the kubelet runs them, and Endpoints follow
//! their readiness. They read and write only through the [`Store`](super::Store),
//! so what they do is exactly what a client of the API server sees.

pub mod argo;
mod captain;
pub mod container_log;
pub mod deployment;
pub mod endpoints;
pub mod events;
pub mod feed;
pub mod flagger;
pub mod hash;
pub mod kubelet;
pub mod replicaset;
pub mod scheduler;

use std::collections::BTreeMap;

use chrono::{DateTime, SecondsFormat, Utc};
use serde_json::{Map, Value, json};

use super::world::Controller;

/// The built-in controllers, in the order a tick runs them.
pub fn standard() -> Vec<Box<dyn Controller>> {
    vec![
        Box::new(deployment::DeploymentController::default()),
        Box::new(replicaset::ReplicaSetController::default()),
        Box::new(scheduler::Scheduler::default()),
        Box::new(kubelet::Kubelet::default()),
        Box::new(endpoints::EndpointsController::default()),
        Box::new(argo::RolloutController::default()),
        Box::new(flagger::CanaryController::default()),
        Box::new(events::EventTtl::default()),
        Box::new(captain::Captain::default()),
    ]
}

/// A timestamp the way the API writes them (RFC 3339, whole seconds, `Z`).
pub fn timestamp(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Secs, true)
}

pub fn parse_timestamp(text: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(text)
        .ok()
        .map(|t| t.with_timezone(&Utc))
}

pub fn name(object: &Value) -> &str {
    meta(object, "name").and_then(Value::as_str).unwrap_or("")
}

pub fn namespace(object: &Value) -> &str {
    meta(object, "namespace")
        .and_then(Value::as_str)
        .unwrap_or("")
}

pub fn uid(object: &Value) -> &str {
    meta(object, "uid").and_then(Value::as_str).unwrap_or("")
}

pub fn resource_version(object: &Value) -> &str {
    meta(object, "resourceVersion")
        .and_then(Value::as_str)
        .unwrap_or("")
}

pub fn annotation<'a>(object: &'a Value, key: &str) -> Option<&'a str> {
    object.pointer("/metadata/annotations")?.get(key)?.as_str()
}

pub fn is_terminating(object: &Value) -> bool {
    meta(object, "deletionTimestamp").is_some_and(|t| !t.is_null())
}

/// A field of `metadata`. Plain lookups, not JSON pointers: these run for
/// every pod on every pass.
fn meta<'a>(object: &'a Value, field: &str) -> Option<&'a Value> {
    object.get("metadata")?.get(field)
}

pub fn creation(object: &Value) -> Option<DateTime<Utc>> {
    object
        .pointer("/metadata/creationTimestamp")
        .and_then(Value::as_str)
        .and_then(parse_timestamp)
}

pub fn int_at(object: &Value, pointer: &str) -> Option<i64> {
    object.pointer(pointer).and_then(Value::as_i64)
}

/// Sets `value` at `path`, making objects of whatever stands in the way.
/// Objects come from clients: indexing into a field that is, say, a string
/// would panic, and a controller must not fall over on a malformed object.
pub fn put(target: &mut Value, path: &[&str], value: Value) {
    let mut here = target;
    for key in path {
        if !here.is_object() {
            *here = json!({});
        }
        let Value::Object(map) = here else { return };
        here = map.entry((*key).to_string()).or_insert(Value::Null);
    }
    *here = value;
}

/// The uid of the object's controlling owner (`ownerReferences[].controller`).
pub fn controller_uid(object: &Value) -> Option<&str> {
    meta(object, "ownerReferences")?
        .as_array()?
        .iter()
        .find(|r| r.get("controller").and_then(Value::as_bool) == Some(true))?
        .get("uid")?
        .as_str()
}

/// The owner reference a controller puts on what it creates.
pub fn controller_ref(owner: &Value, api_version: &str, kind: &str) -> Value {
    json!({
        "apiVersion": api_version,
        "kind": kind,
        "name": name(owner),
        "uid": uid(owner),
        "controller": true,
        "blockOwnerDeletion": true,
    })
}

pub fn labels(object: &Value) -> Option<&Map<String, Value>> {
    meta(object, "labels")?.as_object()
}

/// Does a map selector (`{key: value}`, as Services and `matchLabels` use)
/// select these labels? An empty selector selects nothing, as for Services.
pub fn map_selects(selector: &Map<String, Value>, labels: Option<&Map<String, Value>>) -> bool {
    let Some(labels) = labels else {
        return false;
    };
    !selector.is_empty() && selector.iter().all(|(k, v)| labels.get(k) == Some(v))
}

/// Does a `metav1.LabelSelector` (matchLabels and matchExpressions) select
/// these labels? An empty selector selects everything, as for workloads.
pub fn label_selector_matches(selector: &Value, labels: Option<&Map<String, Value>>) -> bool {
    let empty = Map::new();
    let labels = labels.unwrap_or(&empty);
    let match_labels_ok = selector
        .get("matchLabels")
        .and_then(Value::as_object)
        .is_none_or(|m| m.iter().all(|(k, v)| labels.get(k) == Some(v)));
    let expressions_ok = selector
        .get("matchExpressions")
        .and_then(Value::as_array)
        .is_none_or(|exprs| exprs.iter().all(|e| expression_matches(e, labels)));
    match_labels_ok && expressions_ok
}

fn expression_matches(expr: &Value, labels: &Map<String, Value>) -> bool {
    let key = expr.get("key").and_then(Value::as_str).unwrap_or("");
    let values: Vec<&str> = expr
        .get("values")
        .and_then(Value::as_array)
        .map(|v| v.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    let have = labels.get(key).and_then(Value::as_str);
    match expr.get("operator").and_then(Value::as_str) {
        Some("In") => have.is_some_and(|h| values.contains(&h)),
        Some("NotIn") => have.is_none_or(|h| !values.contains(&h)),
        Some("Exists") => have.is_some(),
        Some("DoesNotExist") => have.is_none(),
        _ => false,
    }
}

/// Sets (or replaces) a condition in a `conditions` array, keeping
/// `lastTransitionTime` when the status does not change, as the API's helpers do.
/// Returns the conditions unchanged when status, reason and message already match.
pub fn set_condition(conditions: &mut Vec<Value>, mut condition: Value) {
    let kind = condition.get("type").cloned();
    if let Some(existing) = conditions
        .iter_mut()
        .find(|c| c.get("type") == kind.as_ref())
    {
        let same_status = existing.get("status") == condition.get("status");
        if same_status
            && existing.get("reason") == condition.get("reason")
            && existing.get("message") == condition.get("message")
        {
            return;
        }
        if same_status && let Some(t) = existing.get("lastTransitionTime").cloned() {
            condition["lastTransitionTime"] = t;
        }
        *existing = condition;
    } else {
        conditions.push(condition);
    }
}

pub fn find_condition<'a>(conditions: &'a [Value], kind: &str) -> Option<&'a Value> {
    conditions
        .iter()
        .find(|c| c.get("type").and_then(Value::as_str) == Some(kind))
}

/// Objects indexed by the uid of their controlling owner.
pub fn by_controller(
    objects: &[std::sync::Arc<Value>],
) -> BTreeMap<String, Vec<std::sync::Arc<Value>>> {
    let mut index: BTreeMap<String, Vec<std::sync::Arc<Value>>> = BTreeMap::new();
    for o in objects {
        if let Some(owner) = controller_uid(o) {
            index.entry(owner.to_string()).or_default().push(o.clone());
        }
    }
    index
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn label_selector_expressions() {
        let labels = json!({"app": "web", "tier": "front"});
        let labels = labels.as_object();
        let sel = json!({"matchLabels": {"app": "web"}, "matchExpressions": [
            {"key": "tier", "operator": "In", "values": ["front", "back"]},
            {"key": "canary", "operator": "DoesNotExist"}
        ]});
        assert!(label_selector_matches(&sel, labels));
        let sel = json!({"matchExpressions": [{"key": "tier", "operator": "NotIn", "values": ["front"]}]});
        assert!(!label_selector_matches(&sel, labels));
    }

    #[test]
    fn put_replaces_what_is_in_the_way() {
        let mut o = json!({"metadata": {"annotations": "oops"}, "spec": 3});
        put(&mut o, &["metadata", "annotations", "a"], json!("1"));
        put(&mut o, &["spec", "replicas"], json!(2));
        assert_eq!(
            o,
            json!({"metadata": {"annotations": {"a": "1"}}, "spec": {"replicas": 2}})
        );
    }

    #[test]
    fn empty_service_selector_selects_nothing() {
        let labels = json!({"app": "web"});
        assert!(!map_selects(&Map::new(), labels.as_object()));
    }

    #[test]
    fn condition_keeps_transition_time_when_status_holds() {
        let mut conds = vec![
            json!({"type": "Progressing", "status": "True", "reason": "A", "lastTransitionTime": "t0"}),
        ];
        set_condition(
            &mut conds,
            json!({"type": "Progressing", "status": "True", "reason": "B", "lastTransitionTime": "t1"}),
        );
        assert_eq!(conds[0]["reason"], "B");
        assert_eq!(conds[0]["lastTransitionTime"], "t0");
    }
}
