//! The error ratio a metric provider would report for one version of an app:
//! the scenario's behaviour at this moment (its phases included) plus any
//! injected error spike, the same numbers the traffic model draws 5xx from.
//! Reading the model rather than sampled counters keeps a measurement
//! deterministic for a given clock, which is what analysis tests need.

use std::time::Duration;

use chrono::{DateTime, Utc};
use serde_json::Value;

use crate::sim::Shared;
use crate::sim::scenario::Effective;

/// The scenario version whose image a pod template runs, so the traffic
/// model can give the pods of a controller's ReplicaSet that version's
/// behaviour. `None` when the app or the image is not in the scenario.
pub fn version_of(shared: &Shared, namespace: &str, template: &Value) -> Option<String> {
    let app = template.pointer("/metadata/labels/app")?.as_str()?;
    let image = template
        .pointer("/spec/containers/0/image")
        .and_then(Value::as_str)?;
    shared
        .scenario
        .apps
        .iter()
        .find(|a| a.namespace == namespace && a.name == app)?
        .versions
        .iter()
        .find(|v| v.image == image)
        .map(|v| v.name.clone())
}

/// The scenario's numbers for one version at this moment, its phases
/// included; `None` when the sim has no such app or version.
fn effective_now(
    shared: &Shared,
    namespace: &str,
    app: &str,
    version: &str,
    since_start: Duration,
    now: DateTime<Utc>,
) -> Option<Effective> {
    let spec = shared
        .scenario
        .apps
        .iter()
        .find(|a| a.namespace == namespace && a.name == app)?;
    let v = spec.versions.iter().find(|v| v.name == version)?;
    let since_first = shared.first_traffic.since(namespace, app, version, now);
    Some(v.behaviour.effective(since_start, since_first))
}

/// The share of 5xx the version answers now, 0.0–1.0; `None` when the sim
/// has no such app or version (a provider with no data).
pub fn error_ratio(
    shared: &Shared,
    namespace: &str,
    app: &str,
    version: &str,
    since_start: Duration,
    now: DateTime<Utc>,
) -> Option<f64> {
    let base = effective_now(shared, namespace, app, version, since_start, now)?.error_ratio;
    let spike: f64 = shared
        .faults
        .current()
        .error_spikes
        .iter()
        .filter(|s| s.namespace == namespace && s.app == app && s.version == version)
        .map(|s| s.error_ratio)
        .sum();
    Some((base + spike).clamp(0.0, 1.0))
}

/// The version's p99 latency now, in milliseconds.
pub fn p99_ms(
    shared: &Shared,
    namespace: &str,
    app: &str,
    version: &str,
    since_start: Duration,
    now: DateTime<Utc>,
) -> Option<f64> {
    Some(effective_now(shared, namespace, app, version, since_start, now)?.latency_p99_ms)
}
