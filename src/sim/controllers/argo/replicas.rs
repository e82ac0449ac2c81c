//! The ReplicaSets a Rollout owns: one per pod template, named and labelled
//! by Argo's `rollouts-pod-template-hash`, scaled by the canary controller.

use std::sync::Arc;

use serde_json::{Value, json};

use super::measure::version_of;
use crate::sim::Shared;
use crate::sim::controllers::hash::template_hash;
use crate::sim::controllers::{controller_ref, int_at, name, put};
use crate::sim::resources::kinds;

pub const HASH_LABEL: &str = "rollouts-pod-template-hash";
pub const REVISION: &str = "rollout.argoproj.io/revision";

/// The pod-template hash of a Rollout's template. The labels a controller
/// adds to a ReplicaSet's copy (the hash itself, and the `version` the sim
/// gives a template that has none) are left out, so a template copied back
/// from a ReplicaSet (`kubectl argo rollouts undo`) hashes as that
/// ReplicaSet did.
pub fn pod_hash(template: &Value, collision_count: Option<i64>) -> String {
    let mut bare = template.clone();
    if let Some(labels) = bare
        .pointer_mut("/metadata/labels")
        .and_then(Value::as_object_mut)
    {
        labels.remove(HASH_LABEL);
        labels.remove("version");
    }
    template_hash(&bare, collision_count)
}

pub fn hash_of(rs: &Value) -> &str {
    rs.pointer("/metadata/labels")
        .and_then(|l| l.get(HASH_LABEL))
        .and_then(Value::as_str)
        .unwrap_or("")
}

pub fn revision(o: &Value) -> i64 {
    o.pointer("/metadata/annotations")
        .and_then(|a| a.get(REVISION))
        .and_then(Value::as_str)
        .and_then(|r| r.parse().ok())
        .unwrap_or(0)
}

pub fn available(rs: Option<&Arc<Value>>) -> i64 {
    rs.and_then(|r| int_at(r, "/status/availableReplicas"))
        .unwrap_or(0)
}

pub fn ready(rs: Option<&Arc<Value>>) -> i64 {
    rs.and_then(|r| int_at(r, "/status/readyReplicas"))
        .unwrap_or(0)
}

pub fn replicas(rs: &Value) -> i64 {
    int_at(rs, "/spec/replicas").unwrap_or(0)
}

/// The ReplicaSet for `hash`, created at zero replicas when missing.
pub fn ensure(
    shared: &Shared,
    rollout: &Value,
    hash: &str,
    owned: &[Arc<Value>],
) -> Option<Arc<Value>> {
    if let Some(rs) = owned.iter().find(|r| hash_of(r) == hash) {
        return Some(rs.clone());
    }
    let ns = crate::sim::controllers::namespace(rollout);
    let mut template = rollout
        .pointer("/spec/template")
        .cloned()
        .unwrap_or_else(|| json!({}));
    put(
        &mut template,
        &["metadata", "labels", HASH_LABEL],
        json!(hash),
    );
    // The traffic model knows a version by its `version` label; a template
    // without one gets the scenario version whose image it runs.
    if template.pointer("/metadata/labels/version").is_none()
        && let Some(v) = version_of(shared, ns, &template)
    {
        put(&mut template, &["metadata", "labels", "version"], json!(v));
    }
    let mut selector = rollout
        .pointer("/spec/selector")
        .cloned()
        .unwrap_or_else(|| json!({}));
    put(&mut selector, &["matchLabels", HASH_LABEL], json!(hash));
    let next_revision = owned.iter().map(|r| revision(r)).max().unwrap_or(0) + 1;
    let labels = template
        .pointer("/metadata/labels")
        .cloned()
        .unwrap_or_else(|| json!({}));
    let rs = json!({
        "metadata": {
            "name": format!("{}-{hash}", name(rollout)),
            "labels": labels,
            "annotations": {REVISION: next_revision.to_string()},
            "ownerReferences": [controller_ref(rollout, "argoproj.io/v1alpha1", "Rollout")],
        },
        "spec": {"replicas": 0, "selector": selector, "template": template},
    });
    shared.store.create(kinds::replicasets(), ns, rs).ok()
}

/// Sets a ReplicaSet's replicas; writes nothing when they already match.
pub fn scale(shared: &Shared, rs: &Value, to: i64) {
    if replicas(rs) == to {
        return;
    }
    let ns = crate::sim::controllers::namespace(rs);
    let _ = shared
        .store
        .modify::<()>(kinds::replicasets(), ns, name(rs), |o| {
            put(o, &["spec", "replicas"], json!(to));
            Ok(())
        });
}
