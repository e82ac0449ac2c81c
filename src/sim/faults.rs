//! Faults in force on the simulated cluster. The control endpoint and the
//! scenario's schedule write them; the API server, the traffic model and the
//! kubelet read them on every request or tick.

use std::sync::{Mutex, MutexGuard};

use serde::{Deserialize, Serialize};

/// The faults in force. Every field off means a healthy cluster.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct FaultState {
    /// Added to every API request, in milliseconds.
    pub api_latency_ms: u64,
    /// Share of API requests answered 500 Internal Server Error, 0.0–1.0.
    pub api_error_ratio: f64,
    /// Share of API requests answered 429 Too Many Requests, 0.0–1.0.
    pub api_throttle_ratio: f64,
    /// Open watch connections are closed once when this counter moves.
    pub watch_drops: u64,
    /// `/metrics` (and the pod proxy's metrics) never answer.
    pub metrics_timeout: bool,
    /// Pods (namespace/name) that have stopped writing logs.
    pub silenced_pods: Vec<String>,
    /// Namespaces whose every request answers 403 Forbidden, as RBAC would.
    pub forbidden_namespaces: Vec<String>,
    /// Resources (`plural.group`, or `plural` for the core group) whose every
    /// request answers 403 Forbidden, in every namespace: RBAC that grants a
    /// reader the cluster but not, say, `rollouts.argoproj.io`.
    pub forbidden_resources: Vec<String>,
    /// Extra 5xx share added to a version's error ratio: `namespace/app/version` → ratio.
    pub error_spikes: Vec<ErrorSpike>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ErrorSpike {
    pub namespace: String,
    pub app: String,
    pub version: String,
    pub error_ratio: f64,
}

#[derive(Default)]
pub struct Faults {
    state: Mutex<FaultState>,
}

impl Faults {
    fn lock(&self) -> MutexGuard<'_, FaultState> {
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// A copy of the faults in force.
    pub fn current(&self) -> FaultState {
        self.lock().clone()
    }

    /// Changes the faults in force under the lock.
    pub fn update<R>(&self, change: impl FnOnce(&mut FaultState) -> R) -> R {
        change(&mut self.lock())
    }
}
