//! What one pod has served since its container started: the numbers its
//! `/metrics` exposes. A restarted or replaced container starts from zero.

use std::collections::BTreeMap;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use serde_json::Value;

use super::histogram::Histogram;
use crate::cluster::routers::replica_ratio::is_ready;
use crate::sim::first_traffic::serving_version;

pub const METHODS: [&str; 2] = ["GET", "POST"];
pub const CODES: [u16; 3] = [200, 500, 503];

/// A pod as the traffic model sees it, read from the store each tick.
#[derive(Debug, Clone, PartialEq)]
pub struct PodView {
    pub namespace: String,
    pub name: String,
    pub uid: String,
    pub app: String,
    pub version: String,
    pub node: String,
    pub ip: String,
    pub ready: bool,
    /// The container runs (it can answer, if not yet be ready).
    pub alive: bool,
    pub restart_count: u64,
    /// The first container's memory limit, for the limit series a
    /// kube-state-metrics would export next to the pod's own numbers.
    pub memory_limit_bytes: Option<u64>,
    /// When the current container started: uptime (and memory) count from here.
    pub started: Option<DateTime<Utc>>,
    pub labels: BTreeMap<String, String>,
}

impl PodView {
    /// `None` for objects that are not pods of an app (no `app` label).
    pub fn read(pod: &Value) -> Option<Self> {
        let meta = pod.get("metadata")?;
        let s = |v: Option<&Value>| v.and_then(Value::as_str).unwrap_or_default().to_string();
        let labels: BTreeMap<String, String> = meta
            .get("labels")
            .and_then(Value::as_object)
            .map(|m| {
                m.iter()
                    .filter_map(|(k, v)| Some((k.clone(), v.as_str()?.to_string())))
                    .collect()
            })
            .unwrap_or_default();
        let app = labels.get("app")?.clone();
        let version = serving_version(meta.get("labels").and_then(Value::as_object)).to_string();
        let container = pod.pointer("/status/containerStatuses/0");
        let running = container.and_then(|c| c.pointer("/state/running"));
        let phase_running = pod.pointer("/status/phase").and_then(Value::as_str) == Some("Running");
        let alive = phase_running
            && (container.is_none() || running.is_some())
            && meta.get("deletionTimestamp").is_none();
        let parse_time = |v: Option<&Value>| {
            v.and_then(Value::as_str)
                .and_then(|t| DateTime::parse_from_rfc3339(t).ok())
                .map(|t| t.with_timezone(&Utc))
        };
        Some(Self {
            namespace: s(meta.get("namespace")),
            name: s(meta.get("name")),
            uid: s(meta.get("uid")),
            app,
            version,
            node: s(pod.pointer("/spec/nodeName")),
            ip: s(pod.pointer("/status/podIP")),
            ready: alive && is_ready(pod),
            alive,
            restart_count: container
                .and_then(|c| c.get("restartCount"))
                .and_then(Value::as_u64)
                .unwrap_or(0),
            memory_limit_bytes: pod
                .pointer("/spec/containers/0/resources/limits/memory")
                .and_then(Value::as_str)
                .and_then(|q| crate::units::parse_bytes(q).ok()),
            started: parse_time(running.and_then(|r| r.get("startedAt")))
                .or_else(|| parse_time(pod.pointer("/status/startTime"))),
            labels,
        })
    }

    /// Whether this is the same container as `other` saw (same pod, no restart).
    pub fn same_container(&self, other: &PodView) -> bool {
        self.uid == other.uid && self.restart_count == other.restart_count
    }
}

/// The counters and gauges of one container.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Counters {
    /// Requests by (code, method); every combination is present from the start,
    /// so rates over 5xx exist (at zero) before the first error.
    pub requests: BTreeMap<(u16, &'static str), u64>,
    pub latency: Histogram,
    pub cpu_seconds: f64,
    pub memory_bytes: u64,
}

impl Counters {
    pub fn new() -> Self {
        let requests = CODES
            .iter()
            .flat_map(|c| METHODS.iter().map(move |m| ((*c, *m), 0)))
            .collect();
        Self {
            requests,
            ..Self::default()
        }
    }

    pub fn total(&self) -> u64 {
        self.requests.values().sum()
    }

    pub fn errors(&self) -> u64 {
        self.requests
            .iter()
            .filter(|((code, _), _)| *code >= 500)
            .map(|(_, n)| n)
            .sum()
    }
}

/// A tracked pod: what the store says and what it has served.
#[derive(Debug, Clone)]
pub struct PodState {
    pub view: PodView,
    pub counters: Counters,
    /// CPU seconds when PodMetrics were last written, for the usage rate.
    pub cpu_at_last_report: f64,
    /// The stored object the view was read from.
    pub source: Arc<Value>,
    /// Which of the scenario's apps the pod serves.
    pub app_index: usize,
    /// The tick that last saw the pod in the store.
    pub(crate) seen: u64,
}

impl PodState {
    pub fn new(view: PodView, source: Arc<Value>, app_index: usize) -> Self {
        Self {
            view,
            counters: Counters::new(),
            cpu_at_last_report: 0.0,
            source,
            app_index,
            seen: 0,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn reads_a_running_ready_pod() {
        let pod = json!({
            "metadata": {"name": "web-1", "namespace": "shop", "uid": "u1",
                         "labels": {"app": "web", "version": "canary"}},
            "spec": {"nodeName": "n1"},
            "status": {"phase": "Running", "podIP": "10.0.0.5",
                       "conditions": [{"type": "Ready", "status": "True"}],
                       "containerStatuses": [{"name": "web", "restartCount": 2,
                           "state": {"running": {"startedAt": "2026-01-01T00:00:00Z"}}}]}
        });
        let v = PodView::read(&pod).unwrap();
        assert!(v.ready && v.alive);
        assert_eq!((v.version.as_str(), v.restart_count), ("canary", 2));
        assert_eq!(v.started.unwrap().to_rfc3339(), "2026-01-01T00:00:00+00:00");
    }

    #[test]
    fn a_waiting_container_is_neither_alive_nor_ready() {
        let pod = json!({
            "metadata": {"name": "web-1", "labels": {"app": "web"}},
            "status": {"phase": "Running",
                       "conditions": [{"type": "Ready", "status": "True"}],
                       "containerStatuses": [{"restartCount": 3,
                           "state": {"waiting": {"reason": "CrashLoopBackOff"}}}]}
        });
        let v = PodView::read(&pod).unwrap();
        assert!(!v.alive && !v.ready);
        assert!(PodView::read(&json!({"metadata": {"name": "x"}})).is_none());
    }
}
