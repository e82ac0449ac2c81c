//! One pass of the blue-green strategy: the new ReplicaSet comes up behind
//! the preview Service, then the active Service is switched to it, at once,
//! after `autoPromotionSeconds`, or when promoted (`autoPromotionEnabled:
//! false` pauses with a `BlueGreenPause` condition). Abort leaves the active
//! Service on the stable ReplicaSet and scales the new one down.

use std::sync::Arc;
use std::time::Duration;

use serde_json::{Value, json};

use super::canary::{Outcome, Pass, abort_text, reason, selector_text, write_status};
use super::replicas::{self, HASH_LABEL};
use crate::sim::controllers::events::EventType;
use crate::sim::controllers::{int_at, namespace, parse_timestamp, put, timestamp, uid};
use crate::sim::resources::kinds;

const PAUSE: &str = "BlueGreenPause";

pub fn reconcile(pass: &Pass<'_>, rollout: &Arc<Value>, bg: &Value) -> Outcome {
    let shared = pass.shared;
    let store = &shared.store;
    let ns = namespace(rollout).to_string();
    let desired = int_at(rollout, "/spec/replicas").unwrap_or(1).max(0);
    let template = rollout
        .pointer("/spec/template")
        .cloned()
        .unwrap_or(Value::Null);
    let hash = replicas::pod_hash(&template, int_at(rollout, "/status/collisionCount"));
    let owned = store.dependents(kinds::replicasets(), uid(rollout));
    let Some(current) = replicas::ensure(shared, rollout, &hash, &owned) else {
        return Outcome { active: true };
    };
    let status = rollout.get("status").cloned().unwrap_or_else(|| json!({}));
    let flag = |k: &str| status.get(k).and_then(Value::as_bool) == Some(true);
    let mut stable = status
        .get("stableRS")
        .and_then(Value::as_str)
        .map_or_else(|| hash.clone(), str::to_string);
    let mut pause_conditions: Vec<Value> = status
        .get("pauseConditions")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    let mut controller_pause = flag("controllerPause");
    let new_template = status
        .get("currentPodHash")
        .and_then(Value::as_str)
        .is_some_and(|h| h != hash);
    let mut abort = flag("abort") && !new_template;
    if new_template {
        pause_conditions.clear();
        controller_pause = false;
    }
    let auto = bg.get("autoPromotionEnabled").and_then(Value::as_bool) != Some(false);
    let auto_after = bg
        .get("autoPromotionSeconds")
        .and_then(Value::as_u64)
        .map(Duration::from_secs);
    let manually_paused = rollout.pointer("/spec/paused").and_then(Value::as_bool) == Some(true);
    let revision = replicas::revision(&current);
    let mut said: Vec<(EventType, &str, String)> = Vec::new();
    let new_ready = replicas::available(Some(&current)) >= desired;
    if hash == stable || flag("promoteFull") && new_ready && !abort {
        if hash != stable {
            said.push((EventType::Normal, "RolloutCompleted", format!("Rollout completed update to revision {revision} ({hash}): Switched active service")));
        }
        stable.clone_from(&hash);
        pause_conditions.clear();
        controller_pause = false;
        abort = false;
    } else if abort {
        pause_conditions.clear();
        controller_pause = false;
    } else if new_ready && !manually_paused {
        let held = pause_conditions
            .iter()
            .find(|c| reason(c) == PAUSE)
            .cloned();
        let promote = match held {
            // The plugin's promote cleared the condition.
            None if controller_pause => true,
            None if auto && auto_after.is_none() => true,
            None => {
                pause_conditions.push(json!({"reason": PAUSE, "startTime": timestamp(pass.now)}));
                controller_pause = true;
                said.push((
                    EventType::Normal,
                    "RolloutPaused",
                    format!("Rollout is paused ({PAUSE})"),
                ));
                false
            }
            Some(c) => {
                auto && auto_after.is_some_and(|after| {
                    c.get("startTime")
                        .and_then(Value::as_str)
                        .and_then(parse_timestamp)
                        .and_then(|t| (pass.now - t).to_std().ok())
                        .is_some_and(|e| e >= after)
                })
            }
        };
        if promote {
            said.push((EventType::Normal, "RolloutCompleted", format!("Rollout completed update to revision {revision} ({hash}): Switched active service")));
            stable.clone_from(&hash);
            pause_conditions.clear();
            controller_pause = false;
        }
    }
    for rs in &owned {
        let h = replicas::hash_of(rs);
        let want = if h == stable || (h == hash && !abort) {
            desired
        } else {
            0
        };
        replicas::scale(shared, rs, want);
    }
    replicas::scale(
        shared,
        &current,
        if abort && hash != stable { 0 } else { desired },
    );
    let text = |k: &str| bg.get(k).and_then(Value::as_str).unwrap_or("").to_string();
    let (active_svc, preview_svc) = (text("activeService"), text("previewService"));
    select(pass, &ns, &active_svc, &stable);
    let preview_hash = if abort { stable.clone() } else { hash.clone() };
    if !preview_svc.is_empty() {
        select(pass, &ns, &preview_svc, &preview_hash);
    }

    let owned = store.dependents(kinds::replicasets(), uid(rollout));
    let total: i64 = owned
        .iter()
        .map(|r| int_at(r, "/status/replicas").unwrap_or(0))
        .sum();
    let available: i64 = owned.iter().map(|r| replicas::available(Some(r))).sum();
    let ready: i64 = owned.iter().map(|r| replicas::ready(Some(r))).sum();
    let updated = owned
        .iter()
        .find(|r| replicas::hash_of(r) == hash)
        .and_then(|r| int_at(r, "/status/replicas"))
        .unwrap_or(0);
    let (phase, message) = if abort {
        (
            "Degraded",
            format!("RolloutAborted: {}", abort_text(revision, None)),
        )
    } else if manually_paused {
        ("Paused", "manually paused".to_string())
    } else if let Some(c) = pause_conditions.first() {
        ("Paused", reason(c).to_string())
    } else if hash != stable || available < desired || total > desired {
        (
            "Progressing",
            "waiting for the new ReplicaSet to become available".to_string(),
        )
    } else {
        ("Healthy", String::new())
    };
    if abort && !flag("abort") {
        said.push((
            EventType::Warning,
            "RolloutAborted",
            abort_text(revision, None),
        ));
    }
    let mut next = status.clone();
    let opt = |b: bool| if b { json!(true) } else { Value::Null };
    let fields = [
        ("currentPodHash", json!(hash)),
        ("stableRS", json!(stable)),
        (
            "pauseConditions",
            if pause_conditions.is_empty() {
                Value::Null
            } else {
                json!(pause_conditions)
            },
        ),
        ("controllerPause", opt(controller_pause)),
        ("abort", opt(abort)),
        ("promoteFull", opt(flag("promoteFull") && hash != stable)),
        (
            "observedGeneration",
            json!(
                int_at(rollout, "/metadata/generation")
                    .unwrap_or(1)
                    .to_string()
            ),
        ),
        ("replicas", json!(total)),
        ("updatedReplicas", json!(updated)),
        ("readyReplicas", json!(ready)),
        ("availableReplicas", json!(available)),
        ("selector", json!(selector_text(rollout))),
        (
            "blueGreen",
            json!({"activeSelector": stable, "previewSelector": preview_hash}),
        ),
        ("phase", json!(phase)),
        (
            "message",
            if message.is_empty() {
                Value::Null
            } else {
                json!(message)
            },
        ),
    ];
    if let Some(map) = next.as_object_mut() {
        for (k, v) in fields {
            if v.is_null() {
                map.remove(k);
            } else {
                map.insert(k.to_string(), v);
            }
        }
    }
    let wrote = write_status(pass, rollout, &next, &said);
    Outcome {
        // Only a pause that ends on its own needs the clock; the rest is woken
        // by the ReplicaSets' status and by clients' writes.
        active: !wrote || (auto && auto_after.is_some() && !pause_conditions.is_empty()),
    }
}

/// Points a Service at one ReplicaSet by its pod hash, as Argo does.
fn select(pass: &Pass<'_>, ns: &str, service: &str, hash: &str) {
    if service.is_empty() {
        return;
    }
    let _ = pass
        .shared
        .store
        .modify::<()>(kinds::services(), ns, service, |s| {
            put(s, &["spec", "selector", HASH_LABEL], json!(hash));
            Ok(())
        });
}
