//! The cockpit's workers against a whole simulated cluster (world, traffic
//! model and API server), through the real kube client: what each pane would
//! show, how a worker's trouble stays in its own pane, how streams resume
//! after a dropped connection, and that the steady state is watches only.
#![allow(clippy::unwrap_used)]

mod requests;

use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, SubsecRound, Utc};
use flightdeck::app::msg::{Connection, LogLine, RouterKind, Source, Trouble};
use flightdeck::app::state::Health;
use flightdeck::app::{Msg, State, update};
use flightdeck::cluster::client;
use flightdeck::metrics::prometheus::Prometheus;
use flightdeck::metrics::queries::Queries;
use flightdeck::sim::Scenario;
use flightdeck::sim::host::{HostOptions, SimHost};
use flightdeck::sim::logs::ContainerKey;
use flightdeck::sim::server::{REQUEST_COUNTS_PATH, kubeconfig};
use flightdeck::workers::metrics::MetricsSource;
use flightdeck::workers::traffic::Router;
use flightdeck::workers::{self, Target, Workers};
use kube::api::{Api, DynamicObject, Patch, PatchParams};
use tempfile::TempDir;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

const NS: &str = "shop";
const APP: &str = "checkout";
/// Long enough for a loaded machine; the waits end as soon as the fact shows.
const PATIENCE: Duration = Duration::from_secs(60);

/// A simulated cluster and a client for it, optionally through a [`Relay`].
struct Cluster {
    host: SimHost,
    dir: TempDir,
}

impl Cluster {
    async fn start(scenario: Scenario) -> Cluster {
        let mut opts = HostOptions::new(scenario);
        opts.speed = 10.0;
        Cluster {
            host: SimHost::start(opts).await.unwrap(),
            dir: tempfile::tempdir().unwrap(),
        }
    }

    async fn healthy_canary() -> Cluster {
        Cluster::start(Scenario::load("healthy-canary").unwrap()).await
    }

    /// A target for `namespace` reached at `url` (the host or a relay before it).
    async fn target_at(&self, url: &str, namespace: &str) -> Target {
        let path = self
            .dir
            .path()
            .join(format!("kubeconfig-{}", url.replace([':', '/'], "_")));
        std::fs::write(&path, kubeconfig(url, None, namespace)).unwrap();
        let (client, _) = client::connect(Some(Path::new(&path)), Some("flightdeck-sim"))
            .await
            .unwrap();
        Target {
            client,
            namespace: namespace.into(),
            app: APP.into(),
        }
    }

    async fn target(&self) -> Target {
        self.target_at(&self.host.url(), NS).await
    }

    /// The API server's request counts: (verb, resource) → requests.
    async fn request_counts(&self) -> requests::Counts {
        let text = reqwest::get(format!("{}{REQUEST_COUNTS_PATH}", self.host.url()))
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        requests::parse(&text)
    }
}

fn istio() -> Router {
    Router::Istio {
        virtual_service: APP.into(),
    }
}

/// Everything the workers said, and the cockpit state built from it.
struct Feed {
    rx: mpsc::Receiver<Msg>,
    state: State,
    log_lines: Vec<LogLine>,
    troubles: Vec<(Source, Trouble)>,
    traffic_msgs: usize,
    first_pod_msgs: Vec<&'static str>,
}

impl Feed {
    fn new(rx: mpsc::Receiver<Msg>) -> Feed {
        Feed {
            rx,
            state: State::new(Utc::now()),
            log_lines: Vec::new(),
            troubles: Vec::new(),
            traffic_msgs: 0,
            first_pod_msgs: Vec::new(),
        }
    }

    fn record(&mut self, msg: &Msg) {
        match msg {
            Msg::LogLines(lines) => self.log_lines.extend(lines.iter().cloned()),
            Msg::Trouble { source, trouble } => self.troubles.push((*source, trouble.clone())),
            Msg::Traffic(_) => self.traffic_msgs += 1,
            Msg::PodsReset(_) if self.first_pod_msgs.len() < 3 => {
                self.first_pod_msgs.push("reset");
            }
            Msg::PodApplied(_) if self.first_pod_msgs.len() < 3 => {
                self.first_pod_msgs.push("applied");
            }
            _ => {}
        }
    }

    /// Takes messages until `done` holds for what has arrived, or panics
    /// with a summary of it.
    async fn until(&mut self, what: &str, done: impl Fn(&Feed) -> bool) {
        let deadline = tokio::time::Instant::now() + PATIENCE;
        while !done(self) {
            let msg = tokio::time::timeout_at(deadline, self.rx.recv()).await;
            let Ok(Some(msg)) = msg else {
                panic!(
                    "gave up waiting for {what}; pods {:?}, traffic {:?}, metrics {:?}, \
                     {} log lines, {} events, troubles {:?}",
                    pods(&self.state),
                    self.state.traffic,
                    self.state.metrics.latest(),
                    self.log_lines.len(),
                    self.state.events.len(),
                    self.troubles
                );
            };
            self.record(&msg);
            update(&mut self.state, msg);
        }
    }
}

/// The Pods pane's rows: (version, status, ready/containers, has usage).
fn pods(state: &State) -> Vec<(String, String, String, bool)> {
    state
        .pods
        .iter()
        .map(|(_, p)| {
            (
                p.version.clone(),
                p.status.clone(),
                format!("{}/{}", p.ready, p.containers),
                p.cpu_millicores.is_some() && p.memory_bytes.is_some(),
            )
        })
        .collect()
}

fn running(state: &State, version: &str) -> usize {
    state
        .pods
        .iter()
        .filter(|(h, p)| *h == Health::Healthy && p.version == version && p.status == "Running")
        .count()
}

fn spawn(target: &Target, metrics: MetricsSource) -> (Workers, Feed) {
    let (tx, rx) = mpsc::channel(4096);
    let workers = workers::spawn(target, istio(), metrics, Vec::new(), &tx);
    (workers, Feed::new(rx))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn panes_fill_from_a_healthy_canary() {
    let cluster = Cluster::healthy_canary().await;
    let target = cluster.target().await;
    let (_workers, mut feed) = spawn(&target, MetricsSource::PodProxy);

    feed.until("4 stable and 1 canary pod Running 1/1", |f| {
        running(&f.state, "stable") == 4 && running(&f.state, "canary") == 1
    })
    .await;
    assert_eq!(
        feed.first_pod_msgs.first(),
        Some(&"reset"),
        "the list comes first"
    );
    assert!(
        pods(&feed.state)
            .iter()
            .all(|(_, _, ready, _)| ready == "1/1"),
        "{:?}",
        pods(&feed.state)
    );

    feed.until("CPU and memory of every pod from metrics.k8s.io", |f| {
        f.state.pods.len() == 5
            && f.state
                .pods
                .iter()
                .all(|(_, p)| p.cpu_millicores.is_some_and(|c| c > 0) && p.memory_bytes.is_some())
    })
    .await;
    // The scenario's pods use about 180Mi each.
    for (_, p) in feed.state.pods.iter() {
        let mib = p.memory_bytes.unwrap() / (1024 * 1024);
        assert!((100..400).contains(&mib), "{} uses {mib}Mi", p.name);
    }

    feed.until("events about the app", |f| !f.state.events.is_empty())
        .await;
    for ev in &feed.state.events {
        let name = ev.object.split_once('/').unwrap().1;
        assert!(
            name == APP || name.starts_with("checkout-"),
            "an event about {} is not the app's",
            ev.object
        );
    }

    feed.until("the VirtualService's weights", |f| {
        f.state.traffic.is_some()
    })
    .await;
    let traffic = feed.state.traffic.clone().unwrap();
    assert_eq!(traffic.router, RouterKind::IstioVirtualService);
    assert_eq!(traffic.object, "VirtualService shop/checkout");
    assert_eq!(
        traffic.desired,
        [("stable".to_string(), 100), ("canary".to_string(), 0)]
    );

    // Someone shifts a quarter of the traffic with a patch, as kubectl would.
    let vs: Api<DynamicObject> = Api::namespaced_with(
        target.client.clone(),
        NS,
        &workers::traffic::virtual_services(),
    );
    let current = serde_json::to_value(vs.get(APP).await.unwrap()).unwrap();
    let patch = flightdeck::cluster::routers::istio::set_weights(
        &current,
        &vec![("stable".into(), 75), ("canary".into(), 25)],
    )
    .unwrap();
    let ops: json_patch::Patch = serde_json::from_value(patch.body().clone()).unwrap();
    vs.patch(APP, &PatchParams::default(), &Patch::<()>::Json(ops))
        .await
        .unwrap();
    feed.until("the patched weights", |f| {
        f.state
            .traffic
            .as_ref()
            .is_some_and(|t| t.desired == [("stable".to_string(), 75), ("canary".to_string(), 25)])
    })
    .await;

    feed.until("a request rate and an error ratio for both versions", |f| {
        f.state.metrics.latest().is_some_and(|s| {
            ["stable", "canary"].iter().all(|v| {
                s.versions.iter().any(|m| {
                    m.version == *v
                        && m.requests_per_second.is_some_and(|r| r > 0.0)
                        && m.error_ratio.is_some()
                })
            })
        })
    })
    .await;
    let sample = feed.state.metrics.latest().unwrap();
    for m in &sample.versions {
        let ratio = m.error_ratio.unwrap();
        assert!((0.0..0.1).contains(&ratio), "{} errors {ratio}", m.version);
        assert!(m.p99.is_some(), "{} has no p99", m.version);
    }

    feed.until("log lines from both versions", |f| {
        ["stable", "canary"]
            .iter()
            .all(|v| f.log_lines.iter().any(|l| l.version == *v))
    })
    .await;
    assert!(
        feed.log_lines
            .iter()
            .all(|l| l.pod.starts_with("checkout-")),
        "only the app's pods are followed"
    );
    assert!(
        feed.troubles.is_empty(),
        "a healthy cluster gave trouble: {:?}",
        feed.troubles
    );
}

/// A TCP relay between the client and the API server whose connections can
/// be cut, as a flaky network or a restarting load balancer would.
struct Relay {
    url: String,
    conns: Arc<Mutex<Vec<JoinHandle<()>>>>,
    refusing: Arc<AtomicBool>,
    accept: JoinHandle<()>,
}

impl Relay {
    async fn start(upstream: SocketAddr) -> Relay {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let conns: Arc<Mutex<Vec<JoinHandle<()>>>> = Arc::default();
        let refusing = Arc::new(AtomicBool::new(false));
        let held = conns.clone();
        let refuse = refusing.clone();
        let accept = tokio::spawn(async move {
            while let Ok((mut down, _)) = listener.accept().await {
                if refuse.load(Ordering::SeqCst) {
                    // Dropped at once: the client sees its connection reset.
                    continue;
                }
                let conn = tokio::spawn(async move {
                    if let Ok(mut up) = TcpStream::connect(upstream).await {
                        let _ = tokio::io::copy_bidirectional(&mut down, &mut up).await;
                    }
                });
                held.lock().unwrap().push(conn);
            }
        });
        Relay {
            url,
            conns,
            refusing,
            accept,
        }
    }

    /// The server is gone: open connections drop and new ones are refused.
    fn go_down(&self) {
        self.refusing.store(true, Ordering::SeqCst);
        self.cut();
    }

    fn come_back(&self) {
        self.refusing.store(false, Ordering::SeqCst);
    }

    /// Drops every open connection; new ones are still accepted.
    fn cut(&self) -> usize {
        let conns: Vec<_> = self.conns.lock().unwrap().drain(..).collect();
        let open = conns.iter().filter(|c| !c.is_finished()).count();
        for c in conns {
            c.abort();
        }
        open
    }
}

impl Drop for Relay {
    fn drop(&mut self) {
        self.cut();
        self.accept.abort();
    }
}

fn lines_of(lines: &[LogLine], pod: &str) -> Vec<(DateTime<Utc>, String)> {
    lines
        .iter()
        .filter(|l| l.pod == pod)
        .map(|l| (l.at, l.text.clone()))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn logs_and_watches_resume_after_the_connection_drops() {
    let cluster = Cluster::healthy_canary().await;
    let relay = Relay::start(cluster.host.addr()).await;
    let target = cluster.target_at(&relay.url, NS).await;
    let (_workers, mut feed) = spawn(&target, MetricsSource::PodProxy);

    feed.until("a few hundred lines from both versions", |f| {
        f.log_lines.len() > 300
            && ["stable", "canary"]
                .iter()
                .all(|v| f.log_lines.iter().any(|l| l.version == *v))
    })
    .await;
    let before = feed.log_lines.len();
    let cut_at = cluster.host.shared().store.now();
    assert!(relay.cut() > 0, "the workers had connections open");
    // The same for the watches, from the server's side.
    cluster.host.shared().faults.update(|f| f.watch_drops += 1);

    // The canary serves no traffic at weight 0, so only stable pods keep writing.
    feed.until("lines written after the drop, from every stable pod", |f| {
        let pods: BTreeSet<&str> = f
            .log_lines
            .iter()
            .filter(|l| l.version == "stable")
            .map(|l| l.pod.as_str())
            .collect();
        pods.len() == 4
            && pods.iter().all(|pod| {
                f.log_lines[before..]
                    .iter()
                    .any(|l| l.pod == *pod && l.at > cut_at + chrono::Duration::seconds(5))
            })
    })
    .await;

    // Every line the sim wrote between a pod's first and last line shown
    // arrived exactly once: nothing repeated after the resume, nothing lost.
    let pods: BTreeSet<String> = feed.log_lines.iter().map(|l| l.pod.clone()).collect();
    for pod in &pods {
        let got = lines_of(&feed.log_lines, pod);
        let (first, last) = (got.first().unwrap().0, got.last().unwrap().0);
        let key = ContainerKey::new(NS, pod, APP);
        let written: Vec<(DateTime<Utc>, String)> = cluster
            .host
            .shared()
            .logs
            .read(&key, false)
            .unwrap()
            .into_iter()
            .filter(|(t, _)| *t >= first && *t <= last)
            .collect();
        assert_eq!(got.len(), written.len(), "{pod}: lines shown vs written");
        assert_eq!(got, written, "{pod}: lines shown differ from those written");
    }

    // The pod watch came back too: a pod deleted now leaves the pane.
    let gone = feed.state.pods.iter().next().unwrap().1.name.clone();
    let api: Api<k8s_openapi::api::core::v1::Pod> =
        Api::namespaced(cluster.target().await.client, NS);
    api.delete(&gone, &kube::api::DeleteParams::default())
        .await
        .unwrap();
    feed.until("the deleted pod to leave the Pods pane", |f| {
        f.state.pods.iter().all(|(_, p)| p.name != gone)
    })
    .await;
}

/// kube sends `sinceTime` in whole seconds, rounded: a follow that broke just
/// after a line stamped late in a second must still show the lines written
/// later in that second, and not show the ones before the break again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_resumed_follow_keeps_the_rest_of_the_second_it_broke_in() {
    let cluster = Cluster::healthy_canary().await;
    let relay = Relay::start(cluster.host.addr()).await;
    let target = cluster.target_at(&relay.url, NS).await;
    let (_workers, mut feed) = spawn(&target, MetricsSource::PodProxy);
    feed.until("lines from a canary pod", |f| {
        f.log_lines.iter().any(|l| l.version == "canary")
    })
    .await;
    // At weight 0 the canary writes nothing more, so these stamps stay as given.
    let pod = feed
        .log_lines
        .iter()
        .find(|l| l.version == "canary")
        .unwrap()
        .pod
        .clone();
    let key = ContainerKey::new(NS, &pod, APP);
    let logs = cluster.host.shared().logs.clone();
    let second = cluster.host.shared().store.now().trunc_subsecs(0) + chrono::Duration::seconds(60);
    let ms = |n| second + chrono::Duration::milliseconds(n);
    let mine = ["before the break", "during the break", "after the break"];

    logs.append(&key, ms(600), mine[0]);
    feed.until("the line before the break", |f| {
        f.log_lines.iter().any(|l| l.text == mine[0])
    })
    .await;
    relay.go_down();
    logs.append(&key, ms(800), mine[1]);
    relay.come_back();
    logs.append(&key, ms(900), mine[2]);
    feed.until("the line after the break", |f| {
        f.log_lines.iter().any(|l| l.text == mine[2])
    })
    .await;

    let shown: Vec<(DateTime<Utc>, String)> = lines_of(&feed.log_lines, &pod)
        .into_iter()
        .filter(|(_, text)| mine.contains(&text.as_str()))
        .collect();
    let written: Vec<(DateTime<Utc>, String)> = [600, 800, 900]
        .into_iter()
        .zip(mine)
        .map(|(n, text)| (ms(n), text.to_string()))
        .collect();
    assert_eq!(shown, written);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_forbidden_namespace_troubles_only_its_own_panes() {
    let mut scenario = Scenario::load("healthy-canary").unwrap();
    let mut locked = scenario.apps[0].clone();
    locked.namespace = "vault".into();
    scenario.cluster.namespaces.push("vault".into());
    scenario.apps.push(locked);
    let cluster = Cluster::start(scenario).await;
    cluster
        .host
        .shared()
        .faults
        .update(|f| f.forbidden_namespaces = vec!["vault".into()]);

    let open = cluster.target().await;
    let locked = cluster.target_at(&cluster.host.url(), "vault").await;
    let (_open_workers, mut open_feed) = spawn(&open, MetricsSource::PodProxy);
    let (_locked_workers, mut locked_feed) = spawn(&locked, MetricsSource::PodProxy);

    locked_feed
        .until("Forbidden for pods, events and traffic", |f| {
            [Source::Pods, Source::Events, Source::Traffic]
                .iter()
                .all(|s| matches!(f.state.troubles.get(s), Some(Trouble::Forbidden { .. })))
        })
        .await;
    let Some(Trouble::Forbidden { message }) = locked_feed.state.troubles.get(&Source::Pods) else {
        unreachable!()
    };
    assert!(message.contains("vault"), "{message}");
    assert!(locked_feed.state.pods.is_empty());

    open_feed
        .until("the open namespace's pods, traffic and logs", |f| {
            running(&f.state, "stable") == 4 && f.state.traffic.is_some() && !f.log_lines.is_empty()
        })
        .await;
    assert!(
        open_feed.state.troubles.is_empty(),
        "{:?}",
        open_feed.troubles
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreachable_prometheus_troubles_only_the_metrics_pane() {
    let cluster = Cluster::healthy_canary().await;
    let target = cluster.target().await;
    // A port that was just free and is closed again: connections are refused.
    let closed = TcpListener::bind("127.0.0.1:0")
        .await
        .unwrap()
        .local_addr()
        .unwrap();
    let prometheus = MetricsSource::Prometheus {
        client: Prometheus::new(&format!("http://{closed}"), Duration::from_secs(2)).unwrap(),
        queries: Queries::default(),
    };
    let (_workers, mut feed) = spawn(&target, prometheus);

    feed.until("Prometheus unreachable in the Metrics pane", |f| {
        matches!(
            f.state.troubles.get(&Source::Metrics),
            Some(Trouble::Unreachable { .. })
        )
    })
    .await;
    let Some(Trouble::Unreachable { target: what, .. }) = feed.state.troubles.get(&Source::Metrics)
    else {
        unreachable!()
    };
    assert!(what.contains(&closed.to_string()), "{what}");

    feed.until("pods, traffic and logs all the same", |f| {
        running(&f.state, "stable") == 4 && f.state.traffic.is_some() && !f.log_lines.is_empty()
    })
    .await;
    assert_eq!(
        feed.state.troubles.keys().collect::<Vec<_>>(),
        [&Source::Metrics],
        "only the Metrics pane is troubled"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn at_steady_state_the_workers_only_watch() {
    let cluster = Cluster::healthy_canary().await;
    let target = cluster.target().await;
    let (_workers, mut feed) = spawn(&target, MetricsSource::PodProxy);
    feed.until("every pane to have its first facts", |f| {
        running(&f.state, "stable") == 4
            && f.state.traffic.is_some()
            && !f.state.events.is_empty()
            && f.state.metrics.latest().is_some()
            && f.state.pods.iter().all(|(_, p)| p.cpu_millicores.is_some())
    })
    .await;
    let settled = cluster.request_counts().await;
    let initial_lists = requests::lists(&settled);
    // Pods, their usage, events and the VirtualService: one list each, then watches.
    for res in [
        "/pods",
        "metrics.k8s.io/pods",
        "/events",
        "networking.istio.io/virtualservices",
    ] {
        assert_eq!(
            initial_lists.get(res),
            Some(&1.0),
            "lists of {res}: {initial_lists:?}"
        );
    }

    // Let the cluster run for a while: pods change usage, logs flow, traffic
    // is scraped twice more, a rollout event or two arrives.
    let until = tokio::time::Instant::now() + Duration::from_secs(15);
    while tokio::time::Instant::now() < until {
        if let Ok(Some(msg)) = tokio::time::timeout_at(until, feed.rx.recv()).await {
            feed.record(&msg);
            update(&mut feed.state, msg);
        }
    }
    let later = cluster.request_counts().await;
    assert_eq!(
        requests::lists(&later),
        initial_lists,
        "no list requests after the first"
    );
    let watches: f64 = later
        .iter()
        .filter(|((verb, _), _)| verb == "watch")
        .map(|(_, n)| n)
        .sum();
    assert!(watches >= 4.0, "the workers watch: {later:?}");
    let scrapes = |c: &requests::Counts| c.get(&("get".into(), "/pods".into())).copied();
    assert!(
        scrapes(&later) > scrapes(&settled),
        "metrics kept coming through the pod proxy: {later:?}"
    );
    assert!(feed.troubles.is_empty(), "{:?}", feed.troubles);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lost_connection_shows_in_its_panes_and_clears_when_it_is_back() {
    let cluster = Cluster::healthy_canary().await;
    let relay = Relay::start(cluster.host.addr()).await;
    let target = cluster.target_at(&relay.url, NS).await;
    let (_workers, mut feed) = spawn(&target, MetricsSource::PodProxy);
    feed.until("pods, traffic and events", |f| {
        running(&f.state, "stable") == 4 && f.state.traffic.is_some() && !f.state.events.is_empty()
    })
    .await;

    relay.go_down();
    feed.until("the watches' panes to say the connection is lost", |f| {
        [Source::Pods, Source::Events, Source::Traffic]
            .iter()
            .all(|s| f.state.troubles.contains_key(s))
            && matches!(f.state.header.connection, Connection::Lost { .. })
    })
    .await;
    // What the panes held stays on screen while the connection is down.
    assert_eq!(feed.state.pods.len(), 5);
    assert!(feed.state.traffic.is_some());

    relay.come_back();
    feed.until("every pane to recover", |f| {
        f.state.troubles.is_empty() && f.state.header.connection == Connection::Connected
    })
    .await;
    assert_eq!(running(&feed.state, "stable"), 4);
}
