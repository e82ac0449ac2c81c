//! What a pod answers through the API server's proxy
//! (`/api/v1/namespaces/NS/pods/NAME:PORT/proxy/PATH`, and the same for a
//! Service, which answers from one of its ready pods).

use super::TrafficHandle;
use super::counters::PodState;
use super::exposition::{self, CONTENT_TYPE};
use super::routing::selector;
use std::sync::Arc;

use bytes::Bytes;
use futures::future::BoxFuture;
use http::StatusCode;

use crate::sim::loadtester;
use crate::sim::resources::kinds;
pub use crate::sim::server::ProxyKind;
use crate::sim::server::{ProxyBackend, ProxyRequest, ProxyResponse};

const TEXT: &str = "text/plain; charset=utf-8";

impl TrafficHandle {
    /// The answer of a pod (or of a Service's ready pod) to `path` on `port`:
    /// status, content type, body. `None` when the model knows no such pod or
    /// Service, so the caller answers NotFound as the API server would.
    ///
    /// Under the `metrics_timeout` fault a `/metrics` request must never be
    /// answered; this synchronous call cannot hold it, so callers check
    /// [`TrafficHandle::holds`] first (or use [`TrafficHandle::proxy`]).
    pub fn proxy_answer(
        &self,
        namespace: &str,
        kind: ProxyKind,
        name: &str,
        port: &str,
        path: &str,
    ) -> Option<(u16, &'static str, String)> {
        let pods = self.pods();
        let pod: Option<&PodState> = match kind {
            ProxyKind::Pod => Some(pods.get(&(namespace.to_string(), name.to_string()))?),
            ProxyKind::Service => {
                let service = self.shared.store.get(kinds::services(), namespace, name)?;
                let wanted = selector(&service);
                let backend = pods.values().find(|p| {
                    p.view.namespace == namespace
                        && p.view.ready
                        && !wanted.is_empty()
                        && wanted.iter().all(|(k, v)| p.view.labels.get(k) == Some(v))
                });
                if backend.is_none() {
                    return Some((
                        503,
                        TEXT,
                        format!("no endpoints available for service \"{name}\"\n"),
                    ));
                }
                backend
            }
        };
        let pod = pod?;
        let port_ok = port.is_empty()
            || port == "http"
            || port == "metrics"
            || self
                .app_port(&pod.view.namespace, &pod.view.app)
                .is_some_and(|p| p.to_string() == port);
        if !port_ok || !pod.view.alive {
            return Some((
                503,
                TEXT,
                format!(
                    "error trying to reach service: dial tcp {}:{port}: connect: connection refused\n",
                    pod.view.ip
                ),
            ));
        }
        let path = path.split('?').next().unwrap_or_default();
        let path = if path.starts_with('/') {
            path.to_string()
        } else {
            format!("/{path}")
        };
        let health = |ok: bool, what: &str| {
            if ok {
                (200, TEXT, "ok\n".to_string())
            } else {
                (503, TEXT, format!("{what}\n"))
            }
        };
        Some(match path.as_str() {
            "/metrics" => (200, CONTENT_TYPE, exposition::render(&[pod])),
            "/health" | "/health/ready" | "/healthz" | "/ready" => {
                health(pod.view.ready, "not ready")
            }
            "/health/live" | "/livez" => health(pod.view.alive, "not alive"),
            _ => (404, TEXT, "404 page not found\n".to_string()),
        })
    }

    /// Whether the `metrics_timeout` fault holds this request unanswered.
    pub fn holds(&self, path: &str) -> bool {
        let path = path.split('?').next().unwrap_or_default();
        path.trim_start_matches('/') == "metrics" && self.shared.faults.current().metrics_timeout
    }

    /// [`TrafficHandle::proxy_answer`] that never returns while the metrics
    /// timeout fault holds a `/metrics` request, as a hung exporter would.
    pub async fn proxy(
        &self,
        namespace: &str,
        kind: ProxyKind,
        name: &str,
        port: &str,
        path: &str,
    ) -> Option<(u16, &'static str, String)> {
        if self.holds(path) {
            std::future::pending::<()>().await;
        }
        self.proxy_answer(namespace, kind, name, port, path)
    }

    /// A Service answered as Flagger's loadtester, whatever its pods.
    fn loadtester_answer(&self, request: &ProxyRequest) -> Option<ProxyResponse> {
        if request.kind != ProxyKind::Service {
            return None;
        }
        let service =
            self.shared
                .store
                .get(kinds::services(), &request.namespace, &request.name)?;
        if !loadtester::is_loadtester(&service) {
            return None;
        }
        let answer = self.shared.loadtester.answer(&request.path, &request.body);
        Some(ProxyResponse {
            status: StatusCode::from_u16(answer.status).unwrap_or(StatusCode::BAD_GATEWAY),
            content_type: TEXT.to_string(),
            body: Bytes::from(answer.body),
        })
    }

    fn app_port(&self, namespace: &str, app: &str) -> Option<u16> {
        self.shared
            .scenario
            .apps
            .iter()
            .find(|a| a.namespace == namespace && a.name == app)
            .map(|a| a.port)
    }
}

/// The API server's proxy paths answered by the traffic model.
pub struct TrafficProxy(pub Arc<TrafficHandle>);

impl ProxyBackend for TrafficProxy {
    fn call(&self, request: ProxyRequest) -> BoxFuture<'static, ProxyResponse> {
        let handle = self.0.clone();
        Box::pin(async move {
            if let Some(answer) = handle.loadtester_answer(&request) {
                return answer;
            }
            let port = request.port.as_deref().unwrap_or_default();
            let answer = handle
                .proxy(
                    &request.namespace,
                    request.kind,
                    &request.name,
                    port,
                    &request.path,
                )
                .await;
            match answer {
                Some((status, content_type, body)) => ProxyResponse {
                    status: StatusCode::from_u16(status).unwrap_or(StatusCode::BAD_GATEWAY),
                    content_type: content_type.to_string(),
                    body: Bytes::from(body),
                },
                None => ProxyResponse {
                    status: StatusCode::SERVICE_UNAVAILABLE,
                    content_type: TEXT.to_string(),
                    body: Bytes::from_static(b"no endpoints available for this proxy target\n"),
                },
            }
        })
    }
}
