//! The fault control endpoint's requests: parsing, applying, and undoing
//! them (scheduled faults end by undoing what they did).

use serde::Deserialize;
use serde_json::{Map, Value, json};

use crate::sim::Shared;
use crate::sim::faults::{ErrorSpike, FaultState};
use crate::sim::logs::ContainerKey;
use crate::sim::resources::kinds;
use crate::sim::store::meta_str;

/// The annotation the kubelet reads to crash a pod's container at its next tick.
pub const CRASH_ANNOTATION: &str = "sim.flightdeck.dev/crash";

pub const EXPECTED: &str = "expected a JSON object: a full or partial fault state \
(api_latency_ms, api_error_ratio, api_throttle_ratio, watch_drops, metrics_timeout, \
silenced_pods, forbidden_namespaces, forbidden_resources, error_spikes) merged into the faults in force, or an \
action: {\"action\":\"error-spike\",\"namespace\",\"app\",\"version\",\"error_ratio\"}, \
{\"action\":\"crash\",\"namespace\",\"app\",\"version\"}, \
{\"action\":\"silence-pod\"|\"unsilence-pod\",\"namespace\",\"pod\"}, {\"action\":\"compact\"}";

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(tag = "action", rename_all = "kebab-case", deny_unknown_fields)]
pub enum Action {
    ErrorSpike {
        namespace: String,
        app: String,
        version: String,
        error_ratio: f64,
    },
    Crash {
        namespace: String,
        app: String,
        version: String,
    },
    SilencePod {
        namespace: String,
        pod: String,
    },
    UnsilencePod {
        namespace: String,
        pod: String,
    },
    Compact,
}

#[derive(Debug, Clone, PartialEq)]
pub enum FaultRequest {
    /// Fields of [`FaultState`] to set; the others stay as they are.
    Merge(Map<String, Value>),
    Action(Action),
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FaultError {
    #[error("{0}")]
    BadRequest(String),
    #[error("{0}")]
    NotFound(String),
}

impl FaultError {
    pub fn code(&self) -> u16 {
        match self {
            FaultError::BadRequest(_) => 400,
            FaultError::NotFound(_) => 404,
        }
    }
}

/// How to take a fault back.
#[derive(Debug, Clone, PartialEq)]
pub enum Undo {
    /// Put these fields of the fault state back as they were.
    Restore(Map<String, Value>),
    RemoveSpike {
        namespace: String,
        app: String,
        version: String,
    },
    Unsilence {
        namespace: String,
        pod: String,
    },
    /// A crash or a compaction cannot be taken back.
    Nothing,
}

impl FaultRequest {
    pub fn parse(body: &[u8]) -> Result<Self, FaultError> {
        let value: Value = serde_json::from_slice(body)
            .map_err(|e| FaultError::BadRequest(format!("not JSON ({e}); {EXPECTED}")))?;
        Self::from_value(value)
    }

    pub fn from_value(value: Value) -> Result<Self, FaultError> {
        let Value::Object(map) = value else {
            return Err(FaultError::BadRequest(EXPECTED.to_string()));
        };
        if map.contains_key("action") {
            let action: Action = serde_json::from_value(Value::Object(map))
                .map_err(|e| FaultError::BadRequest(format!("bad action: {e}; {EXPECTED}")))?;
            if let Action::ErrorSpike { error_ratio, .. } = &action
                && !(0.0..=1.0).contains(error_ratio)
            {
                return Err(FaultError::BadRequest(format!(
                    "error_ratio {error_ratio} must be within 0.0–1.0"
                )));
            }
            return Ok(FaultRequest::Action(action));
        }
        // Checked now, against an empty state, so a bad field never half-applies.
        let mut probe = serde_json::to_value(FaultState::default()).unwrap_or_default();
        json_patch::merge(&mut probe, &Value::Object(map.clone()));
        serde_json::from_value::<FaultState>(probe)
            .map_err(|e| FaultError::BadRequest(format!("bad fault state: {e}; {EXPECTED}")))?;
        Ok(FaultRequest::Merge(map))
    }
}

/// Applies a fault now; answers what it did and how to undo it.
pub fn apply(shared: &Shared, request: &FaultRequest) -> Result<(Value, Undo), FaultError> {
    match request {
        FaultRequest::Merge(fields) => {
            let before = shared.faults.current();
            let mut next = serde_json::to_value(&before).unwrap_or_default();
            let saved: Map<String, Value> = fields
                .keys()
                .filter_map(|k| Some((k.clone(), next.get(k)?.clone())))
                .collect();
            json_patch::merge(&mut next, &Value::Object(fields.clone()));
            let next: FaultState = serde_json::from_value(next)
                .map_err(|e| FaultError::BadRequest(format!("bad fault state: {e}; {EXPECTED}")))?;
            sync_silenced(shared, &before.silenced_pods, &next.silenced_pods);
            shared.faults.update(|f| *f = next);
            Ok((json!({"merged": fields}), Undo::Restore(saved)))
        }
        FaultRequest::Action(Action::ErrorSpike {
            namespace,
            app,
            version,
            error_ratio,
        }) => {
            shared.faults.update(|f| {
                f.error_spikes.retain(|s| {
                    !(s.namespace == *namespace && s.app == *app && s.version == *version)
                });
                f.error_spikes.push(ErrorSpike {
                    namespace: namespace.clone(),
                    app: app.clone(),
                    version: version.clone(),
                    error_ratio: *error_ratio,
                });
            });
            Ok((
                json!({"error_spike": format!("{namespace}/{app}/{version}"), "error_ratio": error_ratio}),
                Undo::RemoveSpike {
                    namespace: namespace.clone(),
                    app: app.clone(),
                    version: version.clone(),
                },
            ))
        }
        FaultRequest::Action(Action::Crash {
            namespace,
            app,
            version,
        }) => {
            let crashed = crash(shared, namespace, app, version);
            if crashed.is_empty() {
                return Err(FaultError::NotFound(format!(
                    "no pods of {namespace}/{app} version {version:?} to crash"
                )));
            }
            Ok((json!({"crashed": crashed}), Undo::Nothing))
        }
        FaultRequest::Action(Action::SilencePod { namespace, pod }) => {
            let key = format!("{namespace}/{pod}");
            shared.faults.update(|f| {
                if !f.silenced_pods.contains(&key) {
                    f.silenced_pods.push(key.clone());
                }
            });
            set_silenced(shared, namespace, pod, true);
            Ok((
                json!({"silenced": key}),
                Undo::Unsilence {
                    namespace: namespace.clone(),
                    pod: pod.clone(),
                },
            ))
        }
        FaultRequest::Action(Action::UnsilencePod { namespace, pod }) => {
            undo(
                shared,
                &Undo::Unsilence {
                    namespace: namespace.clone(),
                    pod: pod.clone(),
                },
            );
            Ok((
                json!({"unsilenced": format!("{namespace}/{pod}")}),
                Undo::Nothing,
            ))
        }
        FaultRequest::Action(Action::Compact) => {
            shared.store.compact();
            Ok((
                json!({"compacted_at": shared.store.current_resource_version()}),
                Undo::Nothing,
            ))
        }
    }
}

pub fn undo(shared: &Shared, undo: &Undo) {
    match undo {
        Undo::Restore(fields) => {
            let before = shared.faults.current();
            let mut next = serde_json::to_value(&before).unwrap_or_default();
            json_patch::merge(&mut next, &Value::Object(fields.clone()));
            if let Ok(next) = serde_json::from_value::<FaultState>(next) {
                sync_silenced(shared, &before.silenced_pods, &next.silenced_pods);
                shared.faults.update(|f| *f = next);
            }
        }
        Undo::RemoveSpike {
            namespace,
            app,
            version,
        } => shared.faults.update(|f| {
            f.error_spikes
                .retain(|s| !(s.namespace == *namespace && s.app == *app && s.version == *version));
        }),
        Undo::Unsilence { namespace, pod } => {
            let key = format!("{namespace}/{pod}");
            shared
                .faults
                .update(|f| f.silenced_pods.retain(|p| *p != key));
            set_silenced(shared, namespace, pod, false);
        }
        Undo::Nothing => {}
    }
}

/// Clears every fault (`DELETE /sim/faults`).
pub fn clear(shared: &Shared) {
    let before = shared.faults.current();
    sync_silenced(shared, &before.silenced_pods, &[]);
    shared.faults.update(|f| *f = FaultState::default());
}

fn sync_silenced(shared: &Shared, before: &[String], after: &[String]) {
    for (list, other, on) in [(after, before, true), (before, after, false)] {
        for key in list.iter().filter(|k| !other.contains(k)) {
            if let Some((ns, pod)) = key.split_once('/') {
                set_silenced(shared, ns, pod, on);
            }
        }
    }
}

/// Silences every container of a pod: the app's container even if it has not
/// logged yet, and any other that has.
fn set_silenced(shared: &Shared, namespace: &str, pod: &str, on: bool) {
    let mut keys: Vec<ContainerKey> = shared
        .logs
        .containers()
        .into_iter()
        .filter(|k| k.namespace == namespace && k.pod == pod)
        .collect();
    if let Some(object) = shared.store.get(kinds::pods(), namespace, pod)
        && let Some(app) = object
            .pointer("/metadata/labels/app")
            .and_then(Value::as_str)
    {
        let key = ContainerKey::new(namespace, pod, app);
        if !keys.contains(&key) {
            keys.push(key);
        }
    }
    for key in keys {
        shared.logs.set_silenced(&key, on);
    }
}

fn crash(shared: &Shared, namespace: &str, app: &str, version: &str) -> Vec<String> {
    let (pods, _) = shared.store.list(kinds::pods(), Some(namespace));
    let label = |p: &Value, k: &str| {
        p.pointer(&format!("/metadata/labels/{k}"))
            .and_then(Value::as_str)
            .map(str::to_string)
    };
    let mut crashed = Vec::new();
    for pod in pods {
        if label(&pod, "app").as_deref() != Some(app)
            || label(&pod, "version").as_deref() != Some(version)
        {
            continue;
        }
        let Some(name) = meta_str(&pod, "name") else {
            continue;
        };
        let marked = shared.store.modify(kinds::pods(), namespace, name, |p| {
            let meta = p
                .get_mut("metadata")
                .and_then(Value::as_object_mut)
                .ok_or("pod without metadata")?;
            let annotations = meta.entry("annotations").or_insert_with(|| json!({}));
            if let Some(a) = annotations.as_object_mut() {
                a.insert(CRASH_ANNOTATION.to_string(), json!("injected"));
            }
            Ok::<(), &str>(())
        });
        if marked.is_ok() {
            crashed.push(name.to_string());
        }
    }
    crashed
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_partial_states_and_actions() {
        let merge = FaultRequest::parse(br#"{"metrics_timeout": true}"#).unwrap();
        assert!(matches!(merge, FaultRequest::Merge(m) if m["metrics_timeout"] == json!(true)));
        let spike = FaultRequest::parse(
            br#"{"action":"error-spike","namespace":"shop","app":"checkout","version":"canary","error_ratio":0.3}"#,
        )
        .unwrap();
        assert!(matches!(
            spike,
            FaultRequest::Action(Action::ErrorSpike { error_ratio, .. }) if (error_ratio - 0.3).abs() < 1e-12
        ));
        assert_eq!(
            FaultRequest::parse(br#"{"action":"compact"}"#).unwrap(),
            FaultRequest::Action(Action::Compact)
        );
    }

    #[test]
    fn malformed_requests_say_what_was_expected() {
        for body in [
            &b"not json"[..],
            b"[1,2]",
            br#"{"metrics_timeout": "yes"}"#,
            br#"{"api_latency": 5}"#,
            br#"{"action":"explode"}"#,
            br#"{"action":"crash","namespace":"shop"}"#,
        ] {
            let err = FaultRequest::parse(body).unwrap_err();
            assert_eq!(err.code(), 400);
            assert!(err.to_string().contains("expected a JSON object"), "{err}");
        }
        let err = FaultRequest::parse(
            br#"{"action":"error-spike","namespace":"s","app":"a","version":"v","error_ratio":3}"#,
        )
        .unwrap_err();
        assert!(err.to_string().contains("0.0–1.0"));
    }
}
