//! The fleet view's watch worker against the simulated cluster, through the
//! real kube client: the rows it reports, that once they are up it only
//! watches (no list requests), and that a cluster which does not answer is
//! marked in its own rows while the others keep coming.
#![allow(clippy::unwrap_used)]

mod prometheus;
mod requests;

use std::time::Duration;

use flightdeck::fleet::{FleetView, Kind, Skip, Update};
use flightdeck::sim::Scenario;
use flightdeck::sim::host::{HostOptions, SimHost};
use flightdeck::sim::server::REQUEST_COUNTS_PATH;
use flightdeck::workers::fleet_watch::{self, FleetCluster};
use tokio::sync::mpsc;

const PATIENCE: Duration = Duration::from_secs(60);

async fn sim(scenario: &str) -> (SimHost, tempfile::TempDir) {
    let mut opts = HostOptions::new(Scenario::load(scenario).unwrap());
    opts.speed = 10.0;
    let host = SimHost::start(opts).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    host.write_kubeconfig(&dir.path().join("kubeconfig"))
        .unwrap();
    (host, dir)
}

fn cluster(dir: &tempfile::TempDir, name: &str, context: &str) -> FleetCluster {
    FleetCluster {
        name: name.into(),
        kubeconfig: Some(dir.path().join("kubeconfig")),
        context: Some(context.into()),
        all_namespaces: true,
        namespace: None,
    }
}

async fn counts(host: &SimHost) -> requests::Counts {
    let text = reqwest::get(format!("{}{REQUEST_COUNTS_PATH}", host.url()))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    requests::parse(&text)
}

/// Applies updates to `view` until `done` holds; how many updates it took.
async fn until(
    rx: &mut mpsc::Receiver<Update>,
    view: &mut FleetView,
    what: &str,
    done: impl Fn(&FleetView) -> bool,
) -> usize {
    let deadline = tokio::time::Instant::now() + PATIENCE;
    let mut n = 0;
    while !done(view) {
        match tokio::time::timeout_at(deadline, rx.recv()).await {
            Ok(Some(update)) => {
                view.apply(update);
                n += 1;
            }
            _ => panic!(
                "waited for {what}; the view has {:?}",
                view.visible().collect::<Vec<_>>()
            ),
        }
    }
    n
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_fleet_lists_once_then_only_watches_and_coalesces_its_rows() {
    let (host, dir) = sim("argo-canary").await;
    let (tx, mut rx) = mpsc::channel(64);
    let _workers = fleet_watch::spawn(vec![cluster(&dir, "sim", "flightdeck-sim")], &tx);
    let mut view = FleetView::new(&["sim".into()]);
    until(
        &mut rx,
        &mut view,
        "the Argo rollout's row with its pods",
        |v| {
            v.visible()
                .any(|r| r.app == "checkout" && r.kind == Kind::Argo && r.pods.total >= 5)
        },
    )
    .await;
    let row = view.visible().find(|r| r.kind == Kind::Argo).unwrap();
    assert_eq!(row.cluster, "sim");
    assert_eq!(row.namespace, "shop");
    assert!(row.step.is_some(), "{row:?}");
    // Its Deployment-free app is not listed twice, and Flagger, which the
    // sim serves, is watched too: nothing was skipped.
    assert_eq!(view.visible().filter(|r| r.app == "checkout").count(), 1);
    assert_eq!(
        view.skipped().count(),
        0,
        "{:?}",
        view.skipped().collect::<Vec<_>>()
    );

    let settled = counts(&host).await;
    let initial = requests::lists(&settled);
    for kind in [
        "/pods",
        "/configmaps",
        "apps/deployments",
        "argoproj.io/rollouts",
        "argoproj.io/analysisruns",
        "flagger.app/canaries",
    ] {
        assert!(initial.contains_key(kind), "{kind} listed: {initial:?}");
    }

    // The rollout walks its steps and pods change: rows keep coming, from
    // watches alone, and no more often than the coalescing interval allows.
    let watched = Duration::from_secs(10);
    let end = tokio::time::Instant::now() + watched;
    let mut rows_updates = 0u32;
    while tokio::time::Instant::now() < end {
        if let Ok(Some(update)) = tokio::time::timeout_at(end, rx.recv()).await {
            if matches!(update, Update::Rows { .. }) {
                rows_updates += 1;
            }
            view.apply(update);
        }
    }
    let later = counts(&host).await;
    assert_eq!(
        requests::lists(&later),
        initial,
        "no list requests after the first"
    );
    let grown = requests::grown(&settled, &later);
    assert!(
        grown.keys().all(|(verb, _)| verb == "watch"),
        "only watches once the view is up: {grown:?}"
    );
    let most = u32::try_from(watched.as_millis() / fleet_watch::COALESCE.as_millis()).unwrap() + 1;
    assert!(
        (1..=most).contains(&rows_updates),
        "{rows_updates} rebuilds in {watched:?}, at most {most}"
    );
    assert!(view.unreachable("sim").is_none());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cluster_that_does_not_answer_is_marked_and_the_other_still_shows() {
    let (_host, dir) = sim("argo-canary").await;
    // A second context in the same kubeconfig, pointing at a closed port.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = closed.local_addr().unwrap().port();
    drop(closed);
    let path = dir.path().join("kubeconfig");
    let mut config: serde_yaml::Value =
        serde_yaml::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    let mut add = |key: &str, entry: serde_yaml::Value| {
        config[key].as_sequence_mut().unwrap().push(entry);
    };
    add(
        "clusters",
        serde_yaml::from_str(&format!(
            "{{name: gone, cluster: {{server: \"http://127.0.0.1:{port}\"}}}}"
        ))
        .unwrap(),
    );
    add(
        "contexts",
        serde_yaml::from_str(
            "{name: gone, context: {cluster: gone, user: flightdeck-sim, namespace: shop}}",
        )
        .unwrap(),
    );
    std::fs::write(&path, serde_yaml::to_string(&config).unwrap()).unwrap();

    let (tx, mut rx) = mpsc::channel(64);
    let clusters = vec![
        cluster(&dir, "sim", "flightdeck-sim"),
        cluster(&dir, "gone", "gone"),
    ];
    let _workers = fleet_watch::spawn(clusters, &tx);
    let mut view = FleetView::new(&["sim".into(), "gone".into()]);
    until(&mut rx, &mut view, "gone marked and sim's rows", |v| {
        v.unreachable("gone").is_some() && v.visible().any(|r| r.cluster == "sim")
    })
    .await;
    assert!(view.unreachable("sim").is_none());
    assert_eq!(
        view.silent_clusters().map(|(c, _)| c).collect::<Vec<_>>(),
        ["gone"]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kinds_rbac_forbids_are_skipped_and_noted_not_a_dead_cluster() {
    let (host, dir) = sim("argo-canary").await;
    host.shared()
        .faults
        .update(|f| f.forbidden_namespaces.push("shop".into()));
    let (tx, mut rx) = mpsc::channel(64);
    let mut only_shop = cluster(&dir, "sim", "flightdeck-sim");
    only_shop.all_namespaces = false;
    only_shop.namespace = Some("shop".into());
    let _workers = fleet_watch::spawn(vec![only_shop], &tx);
    let mut view = FleetView::new(&["sim".into()]);
    until(
        &mut rx,
        &mut view,
        "every kind skipped and the cluster settled",
        |v| v.skipped().count() == 6 && v.settled(),
    )
    .await;
    assert!(
        view.unreachable("sim").is_none(),
        "it answers: 403 is no outage"
    );
    assert!(
        view.skipped()
            .all(|(_, _, why)| matches!(why, Skip::Forbidden(m) if m.contains("forbidden"))),
        "{:?}",
        view.skipped().collect::<Vec<_>>()
    );
    assert!(view.is_empty());
}

/// The Prometheus columns over the sim: `—` and a reason while Prometheus
/// does not answer; then, with a real Prometheus scraping the sim's
/// `/metrics` (skipped where it is not installed), the numbers it answers.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prometheus_columns_show_a_dash_when_it_is_down_and_its_numbers_when_up() {
    use flightdeck::metrics::prometheus::Prometheus;
    use flightdeck::workers::fleet_metrics;

    let (host, dir) = sim("fleet-east").await;
    let (tx, mut rx) = mpsc::channel(64);
    let _workers = fleet_watch::spawn(vec![cluster(&dir, "sim", "flightdeck-sim")], &tx);
    let mut view = FleetView::new(&["sim".into()]);
    until(&mut rx, &mut view, "the Argo canary cart's row", |v| {
        v.visible().any(|r| r.app == "cart" && r.kind == Kind::Argo)
    })
    .await;
    let (shown, rows) = tokio::sync::watch::channel(view.visible_keys(100));

    let closed = format!("http://127.0.0.1:{}", prometheus::free_port());
    let down = tokio::spawn(fleet_metrics::run(
        Prometheus::new(&closed, Duration::from_secs(2)).unwrap(),
        "sim".into(),
        rows.clone(),
        tx.clone(),
        Duration::from_millis(200),
    ));
    until(&mut rx, &mut view, "Prometheus marked down", |v| {
        v.prometheus_down.is_some()
    })
    .await;
    down.abort();
    assert!(
        view.prometheus_down.as_deref().unwrap().contains(&closed),
        "{:?}",
        view.prometheus_down
    );
    assert!(
        view.visible()
            .all(|r| r.error_text() == "—" && r.p99_text() == "—")
    );

    let Some(bin) = prometheus::find() else {
        return;
    };
    let sim_port: u16 = host.url().rsplit(':').next().unwrap().parse().unwrap();
    let prom_port = prometheus::free_port();
    let prom_dir = tempfile::tempdir().unwrap();
    let _prometheus = prometheus::start(&bin, prom_dir.path(), prom_port, &[("sim", sim_port)]);
    let base = format!("http://127.0.0.1:{prom_port}");
    prometheus::wait_ready(&base).await;
    let _up = tokio::spawn(fleet_metrics::run(
        Prometheus::new(&base, Duration::from_secs(5)).unwrap(),
        "sim".into(),
        rows,
        tx.clone(),
        Duration::from_millis(500),
    ));
    until(
        &mut rx,
        &mut view,
        "cart's canary and stable numbers",
        |v| {
            v.prometheus_down.is_none()
                && v.visible().any(|r| {
                    r.app == "cart"
                        && r.metrics.is_some_and(|m| {
                            m.canary_error_ratio.is_some()
                                && m.stable_error_ratio.is_some()
                                && m.canary_p99_ms.is_some()
                                && m.stable_p99_ms.is_some()
                        })
                })
        },
    )
    .await;
    let cart = view.visible().find(|r| r.app == "cart").unwrap();
    let m = cart.metrics.unwrap();
    // The scenario sets cart's errors at 0.3% (canary) and 0.2% (stable):
    // what Prometheus finds is near, and shown canary first.
    for (ratio, set) in [(m.canary_error_ratio, 0.003), (m.stable_error_ratio, 0.002)] {
        let ratio = ratio.unwrap();
        assert!((0.0..0.02).contains(&ratio), "{ratio} for {set}");
    }
    let (err, p99) = (cart.error_text(), cart.p99_text());
    assert_eq!(err.matches('%').count(), 2, "{err}");
    assert!(p99.ends_with("ms") && p99.contains('/'), "{p99}");
    assert!(!cart.canary_failing(), "{m:?}");
    // Plain Deployments have no canary to compare: never asked about.
    assert!(
        view.visible()
            .filter(|r| r.kind == Kind::Deployment)
            .all(|r| r.metrics.is_none())
    );
    drop(shown);
}
