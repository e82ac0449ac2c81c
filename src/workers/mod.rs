//! Tokio tasks that read the cluster and report facts to the cockpit as
//! [`Msg`](crate::app::Msg)s. Workers never touch the screen; each one reports
//! its own trouble, so one broken source leaves the other panes working.

pub mod audit;
pub mod backoff;
pub mod circuit;
pub mod events;
pub mod fleet_metrics;
pub mod fleet_watch;
pub mod guard_watch;
pub mod health;
pub mod logs;
pub mod metrics;
pub mod notify;
pub mod pods;
pub mod supervise;
pub mod traffic;
pub mod trouble;
pub mod usage;
pub mod watch;

use kube::Client;
use tokio::sync::mpsc;
use tokio::task::AbortHandle;

use self::supervise::{Death, Supervisor};
use crate::app::Msg;

/// Which app on which cluster the workers watch.
#[derive(Clone)]
pub struct Target {
    pub client: Client,
    pub namespace: String,
    pub app: String,
}

impl Target {
    /// The label selector that picks the app's pods.
    pub fn selector(&self) -> String {
        format!("app={}", self.app)
    }
}

/// The running workers; dropping this stops them. A worker that panics is
/// reported on [`Workers::deaths`].
pub struct Workers {
    handles: Vec<AbortHandle>,
    pods: tokio::sync::watch::Receiver<pods::PodSet>,
    supervisor: Supervisor,
    deaths: Option<mpsc::UnboundedReceiver<Death>>,
}

impl Workers {
    pub fn new() -> Self {
        let (supervisor, deaths) = Supervisor::new();
        Self {
            handles: Vec::new(),
            pods: tokio::sync::watch::channel(pods::PodSet::default()).1,
            supervisor,
            deaths: Some(deaths),
        }
    }

    /// Starts `work` as the worker `name`, watched for a panic.
    pub fn spawn<F>(&mut self, name: &'static str, work: F)
    where
        F: std::future::Future<Output = ()> + Send + 'static,
    {
        self.handles.push(self.supervisor.spawn(name, work));
    }

    /// The supervisor of these workers, to watch other tasks with.
    pub fn supervisor(&self) -> &Supervisor {
        &self.supervisor
    }

    /// The workers that died of a panic, for the one loop that ends on it
    /// (once; `None` after).
    pub fn deaths(&mut self) -> Option<mpsc::UnboundedReceiver<Death>> {
        self.deaths.take()
    }

    /// The app's pods as the Pods worker watches them, for the guards.
    pub fn pods(&self) -> tokio::sync::watch::Receiver<pods::PodSet> {
        self.pods.clone()
    }
}

impl Default for Workers {
    fn default() -> Self {
        Self::new()
    }
}

impl Drop for Workers {
    fn drop(&mut self) {
        for h in &self.handles {
            h.abort();
        }
    }
}

/// Starts every read-side worker: pods (with their usage and logs), events,
/// the traffic split and the metrics.
pub fn spawn(
    target: &Target,
    router: traffic::Router,
    metrics: metrics::MetricsSource,
    versions: Vec<String>,
    tx: &mpsc::Sender<Msg>,
) -> Workers {
    let mut workers = Workers::new();
    let (pods_tx, pods_rx) = tokio::sync::watch::channel(Vec::new());
    let (set_tx, set_rx) = tokio::sync::watch::channel(pods::PodSet::default());
    workers.pods = set_rx;
    let outlets = pods::Outlets {
        live: pods_tx,
        set: set_tx,
    };
    workers.spawn("pods", pods::run(target.clone(), tx.clone(), outlets));
    workers.spawn(
        "logs",
        logs::run(target.clone(), tx.clone(), pods_rx.clone()),
    );
    workers.spawn("events", events::run(target.clone(), tx.clone()));
    workers.spawn("traffic", traffic::run(target.clone(), router, tx.clone()));
    workers.spawn(
        "metrics",
        metrics::run(target.clone(), metrics, versions, pods_rx, tx.clone()),
    );
    workers
}

/// Only the Pods worker, its pane messages dropped: the pods the guards read
/// where no cockpit runs (`flightdeck run`), from the same watch.
pub fn pods_only(target: &Target) -> Workers {
    let mut workers = Workers::new();
    let (set, set_rx) = tokio::sync::watch::channel(pods::PodSet::default());
    workers.pods = set_rx;
    let outlets = pods::Outlets {
        live: tokio::sync::watch::channel(Vec::new()).0,
        set,
    };
    let (tx, mut rx) = mpsc::channel(64);
    let target = target.clone();
    workers.spawn("pods", async move {
        let drain = async move { while rx.recv().await.is_some() {} };
        tokio::join!(pods::run(target, tx, outlets), drain);
    });
    workers
}
