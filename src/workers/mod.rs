//! Tokio tasks that read the cluster and report facts to the cockpit as
//! [`Msg`](crate::app::Msg)s. Workers never touch the screen; each one reports
//! its own trouble, so one broken source leaves the other panes working.

pub mod audit;
pub mod backoff;
pub mod circuit;
pub mod events;
pub mod guard_watch;
pub mod health;
pub mod logs;
pub mod metrics;
pub mod notify;
pub mod pods;
pub mod traffic;
pub mod trouble;
pub mod usage;
pub mod watch;

use kube::Client;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

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

/// The running workers; dropping this stops them.
pub struct Workers {
    handles: Vec<JoinHandle<()>>,
    pods: tokio::sync::watch::Receiver<pods::PodSet>,
}

impl Workers {
    pub fn new() -> Self {
        Self {
            handles: Vec::new(),
            pods: tokio::sync::watch::channel(pods::PodSet::default()).1,
        }
    }

    pub fn push(&mut self, handle: JoinHandle<()>) {
        self.handles.push(handle);
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
    workers.push(tokio::spawn(pods::run(target.clone(), tx.clone(), outlets)));
    workers.push(tokio::spawn(logs::run(
        target.clone(),
        tx.clone(),
        pods_rx.clone(),
    )));
    workers.push(tokio::spawn(events::run(target.clone(), tx.clone())));
    workers.push(tokio::spawn(traffic::run(
        target.clone(),
        router,
        tx.clone(),
    )));
    workers.push(tokio::spawn(metrics::run(
        target.clone(),
        metrics,
        versions,
        pods_rx,
        tx.clone(),
    )));
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
    workers.push(tokio::spawn(async move {
        let drain = async move { while rx.recv().await.is_some() {} };
        tokio::join!(pods::run(target, tx, outlets), drain);
    }));
    workers
}
