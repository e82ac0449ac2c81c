//! The fleet view's watches: per cluster one reflector store per kind the
//! rows are made of (Pods, Deployments, flightdeck's state ConfigMaps, and
//! Argo's and Flagger's kinds where the cluster serves them), and rows rebuilt
//! from the stores at most once per [`COALESCE`] however many events arrive.
//! Each kind lists once and then watches; at steady state nothing is listed.
//!
//! A kind the cluster does not serve (discovery) or does not let us read
//! (403) is left out and reported, and the cluster's other rows still come.
//! A cluster that does not answer is reported unreachable; its rows stay on
//! screen, marked, until it answers again.

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{ConfigMap, Pod};
use kube::api::{ApiResource, DynamicObject};
use kube::runtime::WatchStreamExt;
use kube::runtime::reflector::{self, Store};
use kube::runtime::watcher::{self, Event};
use kube::{Api, Client, Resource};
use serde::de::DeserializeOwned;
use tokio::sync::mpsc;
use tokio::time::Instant;

use super::Workers;
use super::backoff::Backoff;
use crate::cluster::client;
use crate::external::read::Scope;
use crate::external::{self, Objects, argo, flagger, flightdeck};
use crate::fleet::{Skip, Update};

/// The shortest time between two rebuilds of one cluster's rows: a burst of
/// pod events (a rollout scaling 5,000 pods) costs one rebuild per interval.
pub const COALESCE: Duration = Duration::from_millis(250);

/// Signals from the kind watchers queued for the cluster's rebuild loop;
/// past this, change signals are dropped (the rebuild reads the stores, so
/// a dropped "something changed" loses nothing while others are queued).
const SIGNALS: usize = 256;

/// One cluster to watch.
#[derive(Debug, Clone)]
pub struct FleetCluster {
    /// The name its rows carry: the kubeconfig context.
    pub name: String,
    pub kubeconfig: Option<PathBuf>,
    /// `None`: the kubeconfig's current context.
    pub context: Option<String>,
    /// Every namespace, or one; `None` inside it means the context's own.
    pub all_namespaces: bool,
    pub namespace: Option<String>,
}

/// Starts one watch set per cluster; updates go to `tx`. Dropping the
/// returned workers stops every watch.
pub fn spawn(clusters: Vec<FleetCluster>, tx: &mpsc::Sender<Update>) -> Workers {
    let mut workers = Workers::new();
    for cluster in clusters {
        workers.spawn("fleet", run_cluster(cluster, tx.clone()));
    }
    workers
}

/// The kinds the rows are made of.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Kind {
    ConfigMaps,
    Deployments,
    Pods,
    Rollouts,
    AnalysisRuns,
    Canaries,
}

impl Kind {
    fn name(self) -> &'static str {
        match self {
            Kind::ConfigMaps => "configmaps",
            Kind::Deployments => "deployments.apps",
            Kind::Pods => "pods",
            Kind::Rollouts => "rollouts.argoproj.io",
            Kind::AnalysisRuns => "analysisruns.argoproj.io",
            Kind::Canaries => "canaries.flagger.app",
        }
    }
}

/// What a kind's watcher tells the cluster's loop.
#[derive(Debug)]
enum Signal {
    /// A full list arrived (the first, or after a broken connection).
    Synced(Kind),
    Changed,
    /// The kind cannot be read here: stop waiting for it.
    Skipped(Kind, Skip),
    /// Reading failed in a way that may pass (the connection).
    Failed(Kind, String),
}

/// The stores one cluster's rows are read from.
#[derive(Default)]
struct Stores {
    configmaps: Option<Store<ConfigMap>>,
    deployments: Option<Store<Deployment>>,
    pods: Option<Store<Pod>>,
    rollouts: Option<Store<DynamicObject>>,
    analysis_runs: Option<Store<DynamicObject>>,
    canaries: Option<Store<DynamicObject>>,
}

impl Stores {
    fn objects(&self) -> Objects {
        fn all<K>(store: Option<&Store<K>>) -> Vec<Arc<K>>
        where
            K: Resource + Clone + 'static,
            K::DynamicType: Eq + std::hash::Hash + Clone,
        {
            store.map(Store::state).unwrap_or_default()
        }
        Objects {
            configmaps: all(self.configmaps.as_ref()),
            deployments: all(self.deployments.as_ref()),
            pods: all(self.pods.as_ref()),
            rollouts: all(self.rollouts.as_ref()),
            analysis_runs: all(self.analysis_runs.as_ref()),
            canaries: all(self.canaries.as_ref()),
        }
    }
}

async fn run_cluster(cluster: FleetCluster, tx: mpsc::Sender<Update>) {
    let name = cluster.name.clone();
    let unreachable = |reason: String| Update::Unreachable {
        cluster: name.clone(),
        reason,
    };
    // Connecting and discovery, retried until the cluster answers.
    let mut backoff = Backoff::default();
    let (client, scope, served) = loop {
        match connect(&cluster).await {
            Ok(found) => break found,
            Err(reason) => {
                if tx.send(unreachable(reason)).await.is_err() {
                    return;
                }
                tokio::time::sleep(backoff.next_delay()).await;
            }
        }
    };
    let (signals_tx, mut signals) = mpsc::channel(SIGNALS);
    let mut stores = Stores::default();
    let mut waiting: BTreeSet<Kind> = BTreeSet::new();
    let mut tasks = Vec::new();
    let managed = watcher::Config::default().labels(flightdeck::LABEL_SELECTOR);
    let all = watcher::Config::default();
    {
        let mut start = |kind: Kind, task: tokio::task::JoinHandle<()>| {
            waiting.insert(kind);
            tasks.push(task);
        };
        let (store, task) = watch(
            Kind::ConfigMaps,
            api(&client, &scope),
            managed,
            slim,
            &signals_tx,
        );
        stores.configmaps = Some(store);
        start(Kind::ConfigMaps, task);
        let (store, task) = watch(
            Kind::Deployments,
            api(&client, &scope),
            all.clone(),
            slim,
            &signals_tx,
        );
        stores.deployments = Some(store);
        start(Kind::Deployments, task);
        let (store, task) = watch(
            Kind::Pods,
            api(&client, &scope),
            all.clone(),
            slim_pod,
            &signals_tx,
        );
        stores.pods = Some(store);
        start(Kind::Pods, task);
        for (kind, resource) in [
            (Kind::Rollouts, argo::rollouts()),
            (Kind::AnalysisRuns, argo::analysis_runs()),
            (Kind::Canaries, flagger::canaries()),
        ] {
            if !served.contains(&kind) {
                let skipped = Update::Skipped {
                    cluster: name.clone(),
                    kind: kind.name().to_string(),
                    why: Skip::NotServed,
                };
                if tx.send(skipped).await.is_err() {
                    return;
                }
                continue;
            }
            let api = external::read::dynamic_api(&client, &scope, &resource);
            let (store, task) = watch_dynamic(kind, api, resource, all.clone(), &signals_tx);
            match kind {
                Kind::Rollouts => stores.rollouts = Some(store),
                Kind::AnalysisRuns => stores.analysis_runs = Some(store),
                _ => stores.canaries = Some(store),
            }
            start(kind, task);
        }
    }
    drop(signals_tx);
    let _stop = AbortOnDrop(tasks);

    let mut failing: BTreeSet<Kind> = BTreeSet::new();
    let mut dirty = false;
    let mut last = Instant::now() - COALESCE;
    loop {
        let ready = waiting.is_empty() && failing.is_empty();
        let due = last + COALESCE;
        tokio::select! {
            signal = signals.recv() => {
                let Some(signal) = signal else { return };
                match signal {
                    Signal::Synced(kind) => {
                        waiting.remove(&kind);
                        failing.remove(&kind);
                        dirty = true;
                    }
                    Signal::Changed => dirty = true,
                    Signal::Skipped(kind, why) => {
                        waiting.remove(&kind);
                        failing.remove(&kind);
                        dirty = true;
                        let skipped = Update::Skipped {
                            cluster: name.clone(),
                            kind: kind.name().to_string(),
                            why,
                        };
                        if tx.send(skipped).await.is_err() {
                            return;
                        }
                    }
                    Signal::Failed(kind, reason) => {
                        // Reported once per outage, not once per retry.
                        if failing.insert(kind) && failing.len() == 1
                            && tx.send(unreachable(reason)).await.is_err()
                        {
                            return;
                        }
                    }
                }
            }
            () = tokio::time::sleep_until(due), if dirty && ready => {}
        }
        if dirty && waiting.is_empty() && failing.is_empty() && last.elapsed() >= COALESCE {
            let rows = external::rows(&name, &stores.objects());
            if tx
                .send(Update::Rows {
                    cluster: name.clone(),
                    rows,
                })
                .await
                .is_err()
            {
                return;
            }
            last = Instant::now();
            dirty = false;
        }
    }
}

/// Aborts the kind watchers when the cluster's loop ends.
struct AbortOnDrop(Vec<tokio::task::JoinHandle<()>>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        for task in &self.0 {
            task.abort();
        }
    }
}

/// A client for the cluster, the namespaces to read, and which of the
/// optional kinds it serves.
async fn connect(cluster: &FleetCluster) -> Result<(Client, Scope, BTreeSet<Kind>), String> {
    let (client, info) = client::connect(cluster.kubeconfig.as_deref(), cluster.context.as_deref())
        .await
        .map_err(|e| e.to_string())?;
    let scope = if cluster.all_namespaces {
        Scope::All
    } else {
        Scope::Namespace(
            cluster
                .namespace
                .clone()
                .unwrap_or_else(|| info.namespace.clone()),
        )
    };
    let mut served = BTreeSet::new();
    for (group_version, kinds) in [
        (
            "argoproj.io/v1alpha1",
            &[
                ("rollouts", Kind::Rollouts),
                ("analysisruns", Kind::AnalysisRuns),
            ][..],
        ),
        ("flagger.app/v1beta1", &[("canaries", Kind::Canaries)][..]),
    ] {
        match client.list_api_group_resources(group_version).await {
            Ok(list) => {
                for (plural, kind) in kinds {
                    if list.resources.iter().any(|r| r.name == *plural) {
                        served.insert(*kind);
                    }
                }
            }
            Err(e) if external::read::not_served(&e) => {}
            Err(e) => return Err(e.to_string()),
        }
    }
    Ok((client, scope, served))
}

fn api<K>(client: &Client, scope: &Scope) -> Api<K>
where
    K: Resource<Scope = k8s_openapi::NamespaceResourceScope>,
    K::DynamicType: Default,
{
    match scope {
        Scope::Namespace(ns) => Api::namespaced(client.clone(), ns),
        Scope::All => Api::all(client.clone()),
    }
}

/// What an error means for the kind: skip it, or wait for the cluster.
fn classify(e: &watcher::Error) -> Result<String, Skip> {
    let api_status = match e {
        watcher::Error::InitialListFailed(kube::Error::Api(s))
        | watcher::Error::WatchStartFailed(kube::Error::Api(s))
        | watcher::Error::WatchFailed(kube::Error::Api(s))
        | watcher::Error::WatchError(s) => Some(s.as_ref()),
        _ => None,
    };
    match api_status {
        Some(s) if s.code == 403 => Err(Skip::Forbidden(
            crate::sanitize::clean(&s.message).into_owned(),
        )),
        Some(s) if s.code == 404 => Err(Skip::NotServed),
        _ => Ok(crate::sanitize::clean(&e.to_string()).into_owned()),
    }
}

/// Forwards a kind's watch events as signals; ends when the kind is skipped.
async fn forward<S, K>(kind: Kind, events: S, signals: mpsc::Sender<Signal>)
where
    S: futures::Stream<Item = Result<Event<K>, watcher::Error>>,
{
    let mut events = std::pin::pin!(events);
    while let Some(event) = events.next().await {
        let signal = match event {
            Ok(Event::InitDone) => Signal::Synced(kind),
            Ok(Event::Init | Event::InitApply(_)) => continue,
            Ok(Event::Apply(_) | Event::Delete(_)) => {
                // A full queue already holds a reason to rebuild.
                let _ = signals.try_send(Signal::Changed);
                continue;
            }
            Err(e) => match classify(&e) {
                Err(skip) => {
                    let _ = signals.send(Signal::Skipped(kind, skip)).await;
                    return;
                }
                Ok(reason) => Signal::Failed(kind, reason),
            },
        };
        if signals.send(signal).await.is_err() {
            return;
        }
    }
}

fn watch<K>(
    kind: Kind,
    api: Api<K>,
    config: watcher::Config,
    slim: fn(&mut K),
    signals: &mpsc::Sender<Signal>,
) -> (Store<K>, tokio::task::JoinHandle<()>)
where
    K: Resource + Clone + DeserializeOwned + std::fmt::Debug + Send + Sync + 'static,
    K::DynamicType: Default + Eq + std::hash::Hash + Clone + Send + Sync,
{
    let (store, writer) = reflector::store::<K>();
    // The rows read names, labels and status; the rest of each object is
    // dropped before it is stored, which at 5,000 pods is most of the memory.
    let events = super::watch::relisting(api, config).modify(slim);
    let events = reflector::reflector(writer, events);
    let task = tokio::spawn(forward(kind, events, signals.clone()));
    (store, task)
}

fn watch_dynamic(
    kind: Kind,
    api: Api<DynamicObject>,
    resource: ApiResource,
    config: watcher::Config,
    signals: &mpsc::Sender<Signal>,
) -> (Store<DynamicObject>, tokio::task::JoinHandle<()>) {
    let writer = reflector::store::Writer::new(resource);
    let store = writer.as_reader();
    let events = super::watch::relisting(api, config).modify(|o: &mut DynamicObject| {
        o.metadata.managed_fields = None;
    });
    let events = reflector::reflector(writer, events);
    let task = tokio::spawn(forward(kind, events, signals.clone()));
    (store, task)
}

/// Drops what no row reads: managed fields and annotations.
fn slim<K: Resource>(object: &mut K) {
    let meta = object.meta_mut();
    meta.managed_fields = None;
    meta.annotations = None;
}

/// A pod as the rows count it: its labels, its conditions and its
/// containers' readiness and restarts.
fn slim_pod(pod: &mut Pod) {
    slim(pod);
    pod.metadata.owner_references = None;
    pod.spec = None;
    if let Some(status) = &mut pod.status {
        *status = k8s_openapi::api::core::v1::PodStatus {
            conditions: status.conditions.take(),
            container_statuses: status.container_statuses.take().map(|cs| {
                cs.into_iter()
                    .map(|c| k8s_openapi::api::core::v1::ContainerStatus {
                        name: c.name,
                        ready: c.ready,
                        restart_count: c.restart_count,
                        ..Default::default()
                    })
                    .collect()
            }),
            ..Default::default()
        };
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use kube::core::Status;

    fn status(code: u16) -> Box<Status> {
        Box::new(Status {
            code,
            message: "canaries.flagger.app is forbidden\u{1b}[2J".into(),
            ..Status::default()
        })
    }

    #[test]
    fn forbidden_and_not_served_skip_the_kind_and_anything_else_waits() {
        let forbidden = watcher::Error::InitialListFailed(kube::Error::Api(status(403)));
        assert_eq!(
            classify(&forbidden),
            Err(Skip::Forbidden("canaries.flagger.app is forbidden".into()))
        );
        let gone = watcher::Error::WatchStartFailed(kube::Error::Api(status(404)));
        assert_eq!(classify(&gone), Err(Skip::NotServed));
        let down = watcher::Error::InitialListFailed(kube::Error::Api(status(503)));
        assert!(classify(&down).is_ok());
        assert!(classify(&watcher::Error::NoResourceVersion).is_ok());
    }
}
