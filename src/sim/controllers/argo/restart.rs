//! `spec.restartAt` (what `kubectl argo rollouts restart` sets): the
//! Rollout's pods created before that time are evicted one at a time, each
//! only once every other pod is ready again, then `status.restartedAt`
//! records the restart as done.

use chrono::{DateTime, Utc};
use serde_json::{Value, json};

use crate::sim::Shared;
use crate::sim::controllers::{
    creation, is_terminating, name, namespace, parse_timestamp, put, uid,
};
use crate::sim::resources::kinds;

/// The grace an evicted pod gets, as the ReplicaSet controller gives.
const GRACE_SECONDS: i64 = 2;

/// Moves a restart on by at most one pod; answers whether one is under way.
pub fn advance(shared: &Shared, rollout: &Value, now: DateTime<Utc>) -> bool {
    let Some(at_text) = rollout.pointer("/spec/restartAt").and_then(Value::as_str) else {
        return false;
    };
    let Some(at) = parse_timestamp(at_text) else {
        return false;
    };
    if at > now
        || rollout
            .pointer("/status/restartedAt")
            .and_then(Value::as_str)
            == Some(at_text)
    {
        return false;
    }
    let store = &shared.store;
    let pods: Vec<_> = store
        .dependents(kinds::replicasets(), uid(rollout))
        .iter()
        .flat_map(|rs| store.dependents(kinds::pods(), uid(rs)))
        .collect();
    let ready = |p: &Value| {
        p.pointer("/status/conditions")
            .and_then(Value::as_array)
            .is_some_and(|c| {
                c.iter().any(|c| {
                    c.get("type") == Some(&json!("Ready"))
                        && c.get("status") == Some(&json!("True"))
                })
            })
    };
    if pods.iter().any(|p| is_terminating(p) || !ready(p)) {
        return true;
    }
    let Some(old) = pods.iter().find(|p| creation(p).is_some_and(|c| c < at)) else {
        let at_text = at_text.to_string();
        let _ = store.modify::<()>(kinds::rollouts(), namespace(rollout), name(rollout), |o| {
            put(o, &["status", "restartedAt"], json!(at_text));
            Ok(())
        });
        return false;
    };
    let deadline =
        crate::sim::controllers::timestamp(now + chrono::Duration::seconds(GRACE_SECONDS));
    let _ = store.modify::<()>(kinds::pods(), namespace(old), name(old), |p| {
        put(p, &["metadata", "deletionTimestamp"], json!(deadline));
        put(
            p,
            &["metadata", "deletionGracePeriodSeconds"],
            json!(GRACE_SECONDS),
        );
        Ok(())
    });
    true
}
