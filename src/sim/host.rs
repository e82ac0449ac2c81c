//! Running a whole simulated cluster: the world's clock and controllers, the
//! traffic model, and the API server in front of them, on one loopback port.
//! `flightdeck sim serve`, `flightdeck demo`, the tests and the benchmarks all
//! start the cluster here, so they all run the same thing.
//!
//! `GET /sim/clock` answers the simulated time and how fast it runs,
//! `{"now": "2026-…Z", "speed": 20.0}`, so a flightdeck driving this cluster
//! from another process stamps and times its rollout by the cluster's clock
//! (a `for = "2m"` guard is two simulated minutes).

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use chrono::{DateTime, SubsecRound, Utc};
use tokio::sync::watch;
use tokio::task::JoinHandle;

use super::seed::SeedError;
use super::server::{self, ServerOptions};
use super::traffic::{self, Traffic, TrafficHandle, TrafficProxy};
use super::{Controller, Scenario, Shared, TickCtx, World};
use crate::config::FileError;

#[derive(Debug, thiserror::Error)]
pub enum HostError {
    #[error(transparent)]
    Scenario(#[from] FileError),
    #[error("cannot seed the scenario: {0}")]
    Seed(#[from] SeedError),
    #[error(
        "refusing to bind {0}: the simulator serves loopback only unless --allow-remote is given"
    )]
    NotLoopback(SocketAddr),
    #[error("cannot bind {addr}: {source}")]
    Bind {
        addr: SocketAddr,
        source: std::io::Error,
    },
    #[error("cannot write the kubeconfig {path}: {source}")]
    Kubeconfig {
        path: PathBuf,
        source: std::io::Error,
    },
}

/// How to start a simulated cluster.
#[derive(Debug, Clone)]
pub struct HostOptions {
    pub scenario: Scenario,
    pub seed: u64,
    /// Simulated seconds per real second.
    pub speed: f64,
    pub addr: SocketAddr,
    pub allow_remote: bool,
    pub token: Option<String>,
    /// When the simulated clock starts; now, to the second, by default.
    pub start: Option<DateTime<Utc>>,
}

impl HostOptions {
    pub fn new(scenario: Scenario) -> Self {
        Self {
            scenario,
            seed: 1,
            speed: 1.0,
            addr: SocketAddr::from(([127, 0, 0, 1], 0)),
            allow_remote: false,
            token: None,
            start: None,
        }
    }
}

/// The traffic model as one of the world's controllers.
struct TrafficController(Traffic);

impl Controller for TrafficController {
    fn tick(&mut self, ctx: &mut TickCtx<'_>) {
        self.0
            .tick(ctx.shared, ctx.now, ctx.since_start, ctx.dt, ctx.rng);
    }
}

/// A running simulated cluster. Dropping it stops the clock and the server.
pub struct SimHost {
    addr: SocketAddr,
    shared: Shared,
    traffic: Arc<TrafficHandle>,
    token: Option<String>,
    stop: watch::Sender<bool>,
    tasks: Vec<JoinHandle<()>>,
}

impl SimHost {
    /// Seeds the world, binds the port and starts ticking and serving.
    pub async fn start(opts: HostOptions) -> Result<SimHost, HostError> {
        if !opts.allow_remote && !opts.addr.ip().is_loopback() {
            return Err(HostError::NotLoopback(opts.addr));
        }
        let start = opts.start.unwrap_or_else(|| Utc::now().trunc_subsecs(0));
        let version = opts.scenario.cluster.version.clone();
        let mut world = World::new(opts.scenario, opts.seed, start)?;
        let shared = world.shared();
        let traffic_model = Traffic::new(&shared);
        let traffic = traffic_model.handle();
        world.add_controller(Box::new(TrafficController(traffic_model)));

        let listener = tokio::net::TcpListener::bind(opts.addr)
            .await
            .map_err(|source| HostError::Bind {
                addr: opts.addr,
                source,
            })?;
        let addr = listener.local_addr().map_err(|source| HostError::Bind {
            addr: opts.addr,
            source,
        })?;
        let server_opts = ServerOptions {
            token: opts.token.clone(),
            version,
            ..ServerOptions::default()
        };
        let router = server::router(
            shared.clone(),
            server_opts,
            Some(Arc::new(TrafficProxy(traffic.clone()))),
        )
        .merge(traffic::routes(shared.clone(), traffic.clone()))
        .merge(clock_route(shared.clone(), opts.speed));

        let (stop, stopped) = watch::channel(false);
        let until_stopped = |mut rx: watch::Receiver<bool>| async move {
            let _ = rx.wait_for(|s| *s).await;
        };
        let speed = opts.speed;
        let clock_stop = until_stopped(stopped.clone());
        let clock = tokio::spawn(async move { world.run(speed, clock_stop).await });
        let server_stop = until_stopped(stopped);
        let serving = tokio::spawn(async move {
            if let Err(e) = server::serve(listener, router, server_stop).await {
                tracing::error!(error = %e, "the simulated API server stopped");
            }
        });
        Ok(SimHost {
            addr,
            shared,
            traffic,
            token: opts.token,
            stop,
            tasks: vec![clock, serving],
        })
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn shared(&self) -> &Shared {
        &self.shared
    }

    pub fn traffic(&self) -> &Arc<TrafficHandle> {
        &self.traffic
    }

    /// The namespace a client should start in: the first app's.
    pub fn default_namespace(&self) -> &str {
        self.shared
            .scenario
            .apps
            .first()
            .map_or("default", |a| a.namespace.as_str())
    }

    /// A kubeconfig (context `flightdeck-sim`) for this cluster.
    pub fn kubeconfig(&self) -> String {
        server::kubeconfig(&self.url(), self.token.as_deref(), self.default_namespace())
    }

    /// Writes the kubeconfig, readable by its owner only since it may hold a token.
    pub fn write_kubeconfig(&self, path: &Path) -> Result<(), HostError> {
        let err = |source| HostError::Kubeconfig {
            path: path.to_path_buf(),
            source,
        };
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(err)?;
        }
        std::fs::write(path, self.kubeconfig()).map_err(err)?;
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600)).map_err(err)?;
        }
        Ok(())
    }

    /// Stops the clock and the server and waits for both.
    pub async fn shutdown(mut self) {
        let _ = self.stop.send(true);
        for task in self.tasks.drain(..) {
            let _ = task.await;
        }
    }
}

impl Drop for SimHost {
    fn drop(&mut self) {
        let _ = self.stop.send(true);
        for task in &self.tasks {
            task.abort();
        }
    }
}

/// `GET /sim/clock`.
fn clock_route(shared: Shared, speed: f64) -> axum::Router {
    use axum::routing::get;
    let speed = crate::units::speed_or_real_time(speed);
    axum::Router::new().route(
        "/sim/clock",
        get(move || {
            let now = shared.store.now();
            async move {
                axum::Json(serde_json::json!({
                    "now": now.to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
                    "speed": speed,
                }))
            }
        }),
    )
}
