//! The simulated apps' traffic: requests split by the routers' weights,
//! errors and latencies from the scenario, counters per pod exposed as
//! Prometheus metrics, access logs that agree with them, metrics.k8s.io
//! usage, and faults injected at run time or on the scenario's schedule.
//!
//! # Fault control endpoint
//!
//! `GET /sim/faults` answers the faults in force as JSON:
//!
//! ```json
//! {"api_latency_ms": 0, "api_error_ratio": 0.0, "api_throttle_ratio": 0.0,
//!  "watch_drops": 0, "metrics_timeout": false, "silenced_pods": [],
//!  "forbidden_namespaces": [], "forbidden_resources": [], "error_spikes": []}
//! ```
//!
//! `POST /sim/faults` takes one JSON object, either
//!
//! - a full or partial fault state, merged into the one in force (fields left
//!   out stay as they are; lists are replaced), e.g. `{"api_latency_ms": 300}`,
//!   `{"metrics_timeout": true}`, `{"api_error_ratio": 0.2}`,
//!   `{"watch_drops": 1}` (watches close when the number changes),
//!   `{"forbidden_resources": ["rollouts.argoproj.io"]}` (403 on that
//!   resource everywhere, `plural.group` or a core `plural`); or
//! - an action:
//!   - `{"action": "error-spike", "namespace": "shop", "app": "checkout",
//!     "version": "canary", "error_ratio": 0.3}` adds 30% 5xx to that version
//!     (replacing an earlier spike of the same version);
//!   - `{"action": "crash", "namespace": "shop", "app": "checkout",
//!     "version": "canary"}` crashes the container of each pod of that version
//!     at the kubelet's next tick (404 when there is no such pod);
//!   - `{"action": "silence-pod", "namespace": "shop", "pod": "checkout-…"}`
//!     stops the pod's logs (`"unsilence-pod"` resumes them);
//!   - `{"action": "compact"}` forgets the watch history: watches resuming
//!     from an older resourceVersion get 410 Gone.
//!
//! It answers 200 with `{"applied": …, "faults": <state in force>}`; a
//! malformed body answers 400 with `{"error": …}` saying what was expected.
//! `DELETE /sim/faults` clears every fault and answers the cleared state.
//!
//! Scenario files schedule the same bodies: `[[faults]]` with `at`, an
//! optional `duration`, and a `fault` table in the shape `POST` takes.
//!
//! `GET /metrics` answers every pod's metrics; under `metrics_timeout` it (and
//! a pod's `/metrics` through the API server's proxy) never answers.

mod access_log;
pub mod control;
pub mod counters;
pub mod exposition;
pub mod histogram;
mod model;
mod pod_metrics;
pub mod proxy;
pub mod routing;
mod schedule;

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard};

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde_json::json;

use super::Shared;
pub use control::{CRASH_ANNOTATION, FaultRequest};
pub use counters::{Counters, PodState, PodView};
pub use model::Traffic;
pub use proxy::{ProxyKind, TrafficProxy};

/// What the tick writes and the HTTP side reads: every tracked pod by
/// (namespace, name).
pub struct TrafficHandle {
    shared: Shared,
    pods: Mutex<BTreeMap<(String, String), PodState>>,
}

impl TrafficHandle {
    fn new(shared: &Shared) -> Self {
        Self {
            shared: shared.clone(),
            pods: Mutex::new(BTreeMap::new()),
        }
    }

    /// The tracked pods, locked: hold it briefly.
    pub fn pods(&self) -> MutexGuard<'_, BTreeMap<(String, String), PodState>> {
        // Each tick leaves the map whole between statements, so a panic
        // elsewhere cannot leave it half-written.
        self.pods
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Every pod's metrics in the text format.
    pub fn render_metrics(&self) -> String {
        let pods = self.pods();
        let all: Vec<&PodState> = pods.values().collect();
        exposition::render(&all)
    }
}

/// `GET /metrics` and the fault control endpoint `/sim/faults`.
pub fn routes(shared: Shared, state: Arc<TrafficHandle>) -> Router {
    let faults = Router::new()
        .route(
            "/sim/faults",
            get(get_faults).post(post_faults).delete(delete_faults),
        )
        .with_state(shared);
    Router::new()
        .route("/metrics", get(metrics))
        .with_state(state)
        .merge(faults)
}

async fn metrics(State(handle): State<Arc<TrafficHandle>>) -> Response {
    if handle.holds("/metrics") {
        std::future::pending::<()>().await;
    }
    (
        [(header::CONTENT_TYPE, exposition::CONTENT_TYPE)],
        handle.render_metrics(),
    )
        .into_response()
}

async fn get_faults(State(shared): State<Shared>) -> Response {
    axum::Json(shared.faults.current()).into_response()
}

async fn post_faults(State(shared): State<Shared>, body: Bytes) -> Response {
    let result = FaultRequest::parse(&body).and_then(|req| control::apply(&shared, &req));
    match result {
        Ok((applied, _)) => axum::Json(json!({
            "applied": applied,
            "faults": shared.faults.current(),
        }))
        .into_response(),
        Err(e) => (
            StatusCode::from_u16(e.code()).unwrap_or(StatusCode::BAD_REQUEST),
            axum::Json(json!({"error": e.to_string()})),
        )
            .into_response(),
    }
}

async fn delete_faults(State(shared): State<Shared>) -> Response {
    control::clear(&shared);
    axum::Json(shared.faults.current()).into_response()
}
