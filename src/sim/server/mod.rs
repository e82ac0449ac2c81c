//! The simulated cluster's Kubernetes API server: discovery, every kind in
//! [`RESOURCES`](crate::sim::resources::RESOURCES) with list, watch, get,
//! create, update, patch and delete, the status/scale/log/proxy subresources,
//! server-side tables, and the faults in force, over plain HTTP.
//!
//! The router serves `/version`, `/api…`, `/apis…` and `/openapi…`, plus its
//! request counts at [`REQUEST_COUNTS_PATH`] and its last writes at
//! [`WRITES_PATH`], so that the caller can merge its
//! own routes (`/metrics`, `/sim/faults`) beside it.

mod crud;
mod discovery;
mod encoded;
mod faults_layer;
mod identity;
mod kubeconfig;
mod list;
mod params;
mod patch;
mod pod_logs;
mod proxy;
mod requests;
mod routes;
mod scale;
mod selector;
mod status;
mod strategic;
mod table;
mod watch;
mod webhooks;
mod writes;

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::AtomicU64;
use std::time::Duration;

use axum::Router;
use axum::routing::{any, get, post};

use super::Shared;

pub use kubeconfig::{USER as KUBECONFIG_USER, fleet_kubeconfig, kubeconfig};
pub use proxy::{ProxyBackend, ProxyKind, ProxyRequest, ProxyResponse};
pub use requests::PATH as REQUEST_COUNTS_PATH;
pub use status::ApiError;
pub use webhooks::{PATH as WEBHOOK_SINK_PATH, Received as ReceivedNotice};
pub use writes::PATH as WRITES_PATH;

/// How the API server behaves.
#[derive(Debug, Clone)]
pub struct ServerOptions {
    /// When set, every request must carry `Authorization: Bearer <token>`.
    pub token: Option<String>,
    /// The Kubernetes version reported at `/version`, e.g. `v1.33.0`.
    pub version: String,
    /// How often a watch that allows bookmarks receives one.
    pub bookmark_interval: Duration,
    /// How long a watch without `timeoutSeconds` stays open.
    pub watch_timeout: Duration,
}

impl Default for ServerOptions {
    fn default() -> Self {
        Self {
            token: None,
            version: "v1.33.0".into(),
            bookmark_interval: Duration::from_secs(10),
            watch_timeout: Duration::from_secs(1800),
        }
    }
}

/// What every handler sees.
#[derive(Clone)]
struct Api {
    shared: Shared,
    opts: Arc<ServerOptions>,
    proxy: Option<Arc<dyn ProxyBackend>>,
    /// Requests served so far: the draw for injected faults.
    requests: Arc<AtomicU64>,
    /// Requests served per verb and resource.
    counts: Arc<requests::RequestCounts>,
    /// Notices posted to the webhook sink.
    sink: Arc<webhooks::Sink>,
    /// Objects as JSON, once per version for every list and watch.
    encoded: Arc<encoded::Encoded>,
    /// The last writes, with their arrival times.
    writes: Arc<writes::WriteLog>,
}

/// The API server's routes, with authentication and fault injection applied
/// to them (and to them only: routes merged in later are left alone).
pub fn router(shared: Shared, opts: ServerOptions, proxy: Option<Arc<dyn ProxyBackend>>) -> Router {
    let api = Api {
        shared,
        opts: Arc::new(opts),
        proxy,
        requests: Arc::new(AtomicU64::new(0)),
        counts: Arc::default(),
        sink: Arc::default(),
        encoded: Arc::default(),
        writes: Arc::default(),
    };
    Router::new()
        .route("/version", get(discovery::version))
        .route("/api", get(discovery::core_versions))
        .route("/apis", get(discovery::group_list))
        .route("/apis/authentication.k8s.io", get(identity::group))
        .route("/apis/authentication.k8s.io/v1", get(identity::resources))
        .route(
            "/apis/authentication.k8s.io/v1/selfsubjectreviews",
            post(identity::review),
        )
        .route("/api/{*rest}", any(routes::handle))
        .route("/apis/{*rest}", any(routes::handle))
        .route("/openapi/{*rest}", any(routes::not_found))
        .layer(axum::middleware::from_fn_with_state(
            api.clone(),
            faults_layer::guard,
        ))
        .route(requests::PATH, get(requests::serve))
        .route(webhooks::PATH, get(webhooks::list))
        .route(
            &format!("{}/{{name}}", webhooks::PATH),
            axum::routing::post(webhooks::receive),
        )
        .route(writes::PATH, get(writes::serve))
        .with_state(api)
}

/// Serves `router` on `listener` until `shutdown` completes. Open watches and
/// log streams are given a moment to finish, then cut.
pub async fn serve(
    listener: tokio::net::TcpListener,
    router: Router,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let (tx, mut rx) = tokio::sync::watch::channel(false);
    let signal = async move {
        shutdown.await;
        let _ = tx.send(true);
    };
    let server = axum::serve(listener, router).with_graceful_shutdown(signal);
    let grace = async move {
        let _ = rx.wait_for(|stopped| *stopped).await;
        tokio::time::sleep(Duration::from_millis(500)).await;
    };
    tokio::select! {
        result = server => result,
        () = grace => Ok(()),
    }
}
