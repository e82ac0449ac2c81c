//! metrics.k8s.io: PodMetrics and NodeMetrics written into the store every
//! 15 s of sim time, as metrics-server would, from the same counters that
//! `/metrics` exposes (CPU is the counter's rate over the window).

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, SecondsFormat, Utc};
use serde_json::{Value, json};

use super::counters::PodState;
use crate::sim::Store;
use crate::sim::resources::{self, Resource, kinds};
use crate::sim::store::meta_str;

pub const WINDOW_SECONDS: i64 = 15;

/// What the node's own daemons use besides the pods.
const NODE_SYSTEM_CORES: f64 = 0.08;
const NODE_SYSTEM_BYTES: u64 = 600 * 1024 * 1024;

fn pod_metrics() -> Option<&'static Resource> {
    resources::lookup("metrics.k8s.io", "pods")
}

fn node_metrics() -> Option<&'static Resource> {
    resources::lookup("metrics.k8s.io", "nodes")
}

fn usage(nanocores: u64, bytes: u64) -> Value {
    json!({"cpu": format!("{nanocores}n"), "memory": format!("{}Ki", bytes / 1024)})
}

/// Writes one window's PodMetrics and NodeMetrics, and removes those of
/// pods that are gone. `elapsed` is the time since the previous window.
pub fn write(
    store: &Store,
    pods: &mut BTreeMap<(String, String), PodState>,
    now: DateTime<Utc>,
    elapsed: f64,
) {
    let (Some(pod_res), Some(node_res)) = (pod_metrics(), node_metrics()) else {
        return;
    };
    let ts = now.to_rfc3339_opts(SecondsFormat::Secs, true);
    let mut per_node: BTreeMap<String, (f64, u64)> = BTreeMap::new();
    let mut written = BTreeSet::new();
    for ((ns, name), p) in pods.iter_mut() {
        let cores = ((p.counters.cpu_seconds - p.cpu_at_last_report) / elapsed.max(1e-9)).max(0.0);
        p.cpu_at_last_report = p.counters.cpu_seconds;
        if !p.view.alive {
            continue;
        }
        let bytes = p.counters.memory_bytes;
        let node = per_node.entry(p.view.node.clone()).or_default();
        node.0 += cores;
        node.1 += bytes;
        let object = json!({
            "apiVersion": "metrics.k8s.io/v1beta1",
            "kind": "PodMetrics",
            "metadata": {"name": name, "namespace": ns, "labels": p.view.labels},
            "timestamp": ts,
            "window": format!("{WINDOW_SECONDS}s"),
            "containers": [{"name": p.view.app, "usage": usage((cores * 1e9) as u64, bytes)}],
        });
        upsert(store, pod_res, ns, name, object);
        written.insert((ns.clone(), name.clone()));
    }
    let (existing, _) = store.list(pod_res, None);
    for old in existing {
        let key = (
            meta_str(&old, "namespace").unwrap_or_default().to_string(),
            meta_str(&old, "name").unwrap_or_default().to_string(),
        );
        if !written.contains(&key) {
            let _ = store.delete(pod_res, &key.0, &key.1);
        }
    }
    let (nodes, _) = store.list(kinds::nodes(), None);
    for node in nodes {
        let Some(name) = meta_str(&node, "name") else {
            continue;
        };
        let (cores, bytes) = per_node.get(name).copied().unwrap_or_default();
        let object = json!({
            "apiVersion": "metrics.k8s.io/v1beta1",
            "kind": "NodeMetrics",
            "metadata": {"name": name},
            "timestamp": ts,
            "window": format!("{WINDOW_SECONDS}s"),
            "usage": usage(((cores + NODE_SYSTEM_CORES) * 1e9) as u64, bytes + NODE_SYSTEM_BYTES),
        });
        upsert(store, node_res, "", name, object);
    }
}

fn upsert(store: &Store, res: &'static Resource, ns: &str, name: &str, object: Value) {
    let result = store.modify(res, ns, name, |current| {
        for field in ["timestamp", "window", "containers", "usage"] {
            if let (Some(obj), Some(v)) = (current.as_object_mut(), object.get(field)) {
                obj.insert(field.to_string(), v.clone());
            }
        }
        Ok::<(), std::convert::Infallible>(())
    });
    if result.is_err() {
        // Not there yet (or its namespace is going away, in which case this fails too).
        let _ = store.create(res, ns, object);
    }
}
