//! The sim's traffic model over pods seeded straight into the store: the
//! split follows the routers, counters behave like a real exporter's, the
//! logs agree with the metrics, and faults take effect.
#![allow(clippy::unwrap_used)]

#[path = "sim_traffic/fixture.rs"]
mod fixture;

use std::time::Duration;

use fixture::{Sim, pod_name};
use flightdeck::metrics::exposition::parse;
use flightdeck::metrics::scrape;
use flightdeck::sim::logs::ContainerKey;
use flightdeck::sim::resources::{self, kinds};
use flightdeck::sim::traffic::{self, FaultRequest, ProxyKind, control};
use serde_json::{Value, json};

const TICK: Duration = Duration::from_millis(100);

fn secs(s: u64) -> Duration {
    Duration::from_secs(s)
}

fn share(part: u64, whole: u64) -> f64 {
    part as f64 / whole.max(1) as f64
}

#[test]
fn split_follows_the_virtual_service() {
    let mut sim = Sim::new("healthy-canary", 1);
    sim.set_weights("shop", "checkout", &[("stable", 75), ("canary", 25)]);
    sim.run(secs(60), TICK);
    let (stable, _) = sim.totals("checkout", "stable");
    let (canary, _) = sim.totals("checkout", "canary");
    let canary_share = share(canary, stable + canary);
    assert!(
        (canary_share - 0.25).abs() < 0.03,
        "canary got {canary_share:.3}"
    );
}

#[test]
fn subsets_reach_the_pods_their_destination_rule_selects() {
    let mut sim = Sim::new("healthy-canary", 1);
    sim.set_weights("shop", "checkout", &[("stable", 100), ("canary", 0)]);
    // The rule names the subsets the other way round: the `stable` subset
    // reaches the pods labelled canary, whatever the subset is called.
    sim.shared
        .store
        .create(
            kinds::destinationrules(),
            "shop",
            json!({"metadata": {"name": "checkout"}, "spec": {"host": "checkout.shop.svc.cluster.local", "subsets": [
                {"name": "stable", "labels": {"version": "canary"}},
                {"name": "canary", "labels": {"version": "stable"}},
            ]}}),
        )
        .unwrap();
    sim.run(secs(10), TICK);
    assert_eq!(sim.totals("checkout", "stable").0, 0);
    assert!(sim.totals("checkout", "canary").0 > 500);
}

#[test]
fn a_weight_change_applies_within_a_second() {
    let mut sim = Sim::new("bad-canary", 2);
    sim.run(secs(10), TICK);
    assert_eq!(
        sim.totals("checkout", "canary").0,
        0,
        "weight 0 sends nothing"
    );
    sim.set_weights("shop", "checkout", &[("stable", 50), ("canary", 50)]);
    sim.run(secs(1), TICK);
    let (canary, _) = sim.totals("checkout", "canary");
    // 120 rps × 50% for one second, give or take the wobble and the draw.
    assert!(
        (35..=90).contains(&canary),
        "canary served {canary} in its first second"
    );
}

#[test]
fn pods_that_are_not_ready_get_nothing() {
    let mut sim = Sim::new("healthy-canary", 3);
    let resting = pod_name("checkout", "stable", 0);
    sim.edit_pod("shop", &resting, |p| {
        p["status"]["conditions"][0]["status"] = json!("False");
    });
    sim.run(secs(20), TICK);
    let handle = sim.traffic.handle();
    let pods = handle.pods();
    let served = |name: &str| {
        pods[&("shop".to_string(), name.to_string())]
            .counters
            .total()
    };
    assert_eq!(served(&resting), 0);
    assert!(served(&pod_name("checkout", "stable", 1)) > 100);
    drop(pods);
    let ready = handle.proxy_answer("shop", ProxyKind::Pod, &resting, "8080", "/health/ready");
    assert_eq!(ready.map(|a| a.0), Some(503));
    let live = handle.proxy_answer("shop", ProxyKind::Pod, &resting, "8080", "/health/live");
    assert_eq!(live.map(|a| a.0), Some(200));
}

#[test]
fn counters_start_again_when_a_container_restarts_and_vanish_with_the_pod() {
    let mut sim = Sim::new("healthy-canary", 4);
    let name = pod_name("checkout", "stable", 1);
    sim.run(secs(30), TICK);
    let before = sim.traffic.handle().pods()[&("shop".to_string(), name.clone())]
        .counters
        .total();
    assert!(before > 500, "{before}");
    sim.edit_pod("shop", &name, |p| {
        p["status"]["containerStatuses"][0]["restartCount"] = json!(1);
    });
    sim.run(secs(1), TICK);
    let after = sim.traffic.handle().pods()[&("shop".to_string(), name.clone())]
        .counters
        .clone();
    assert!(
        after.total() < before / 10,
        "{} after restart vs {before}",
        after.total()
    );
    let text = sim.traffic.handle().render_metrics();
    let restarts = parse(&text)
        .unwrap()
        .samples
        .into_iter()
        .find(|s| {
            s.name == "kube_pod_container_status_restarts_total" && s.label("pod") == Some(&name)
        })
        .unwrap();
    assert!((restarts.value - 1.0).abs() < f64::EPSILON);
    sim.shared
        .store
        .delete(kinds::pods(), "shop", &name)
        .unwrap();
    sim.run(secs(1), TICK);
    assert!(!sim.traffic.handle().render_metrics().contains(&name));
}

#[test]
fn the_same_seed_repeats_the_same_numbers() {
    let run = |seed| {
        let mut sim = Sim::new("bad-canary", seed);
        sim.set_weights("shop", "checkout", &[("stable", 90), ("canary", 10)]);
        sim.run(secs(30), TICK);
        let logs = sim.shared.logs.read(
            &ContainerKey::new("shop", &pod_name("checkout", "canary", 0), "checkout"),
            false,
        );
        (sim.traffic.handle().render_metrics(), logs)
    };
    let (a, b, c) = (run(7), run(7), run(8));
    assert_eq!(a, b);
    assert_ne!(a.0, c.0);
}

#[test]
fn bad_canary_errors_climb_after_first_traffic() {
    let mut sim = Sim::new("bad-canary", 5);
    // Two minutes with no canary traffic: the phase's clock has not started.
    sim.run(secs(120), TICK);
    sim.set_weights("shop", "checkout", &[("stable", 50), ("canary", 50)]);
    sim.run(secs(100), TICK);
    let (total, errors) = sim.totals("checkout", "canary");
    let early = share(errors, total);
    assert!(
        early < 0.015,
        "canary error ratio before its phase: {early:.4}"
    );
    // The phase starts 2 min after first traffic and ramps for 1 min.
    sim.run(secs(80), TICK);
    let (t0, e0) = sim.totals("checkout", "canary");
    sim.run(secs(120), TICK);
    let (t1, e1) = sim.totals("checkout", "canary");
    let late = share(e1 - e0, t1 - t0);
    assert!(
        (late - 0.08).abs() < 0.015,
        "canary error ratio after the ramp: {late:.4}"
    );
    let (st, se) = sim.totals("checkout", "stable");
    assert!(share(se, st) < 0.01, "stable stays healthy");
}

#[test]
fn blue_green_follows_the_active_service() {
    let mut sim = Sim::new("blue-green", 6);
    sim.run(secs(10), TICK);
    assert!(sim.totals("web", "blue").0 > 1000);
    assert_eq!(sim.totals("web", "green").0, 0);
    sim.shared
        .store
        .modify(kinds::services(), "frontend", "web", |s| {
            s["spec"]["selector"]["slot"] = json!("green");
            Ok::<(), String>(())
        })
        .unwrap();
    let blue_before = sim.totals("web", "blue").0;
    sim.run(secs(10), TICK);
    assert_eq!(sim.totals("web", "blue").0, blue_before);
    assert!(sim.totals("web", "green").0 > 1000);
}

#[test]
fn rolling_apps_spread_over_ready_pods_and_log_json() {
    let mut sim = Sim::new("rolling", 9);
    sim.run(secs(20), TICK);
    let handle = sim.traffic.handle();
    let pods = handle.pods();
    assert!(pods.values().all(|p| p.counters.total() > 0));
    let pod = pods.values().next().unwrap();
    let key = ContainerKey::new(&pod.view.namespace, &pod.view.name, &pod.view.app);
    drop(pods);
    let lines = sim.shared.logs.read(&key, false).unwrap();
    assert!(!lines.is_empty());
    for (_, line) in &lines {
        let v: Value = serde_json::from_str(line).unwrap();
        assert!(v["level"].is_string(), "{line}");
    }
}

#[test]
fn logs_agree_with_the_counters() {
    let mut sim = Sim::new("bad-canary", 10);
    sim.set_weights("shop", "checkout", &[("stable", 50), ("canary", 50)]);
    let canary = pod_name("checkout", "canary", 0);
    control::apply(
        &sim.shared,
        &FaultRequest::parse(br#"{"action":"error-spike","namespace":"shop","app":"checkout","version":"canary","error_ratio":0.5}"#).unwrap(),
    )
    .unwrap();
    sim.run(secs(60), TICK);
    let lines = sim
        .shared
        .logs
        .read(&ContainerKey::new("shop", &canary, "checkout"), false)
        .unwrap();
    let access: Vec<&String> = lines
        .iter()
        .map(|(_, l)| l)
        .filter(|l| l.contains(" GET /") || l.contains(" POST /"))
        .filter(|l| !l.contains(" ERROR "))
        .collect();
    // At most a few lines per second, though the pod served ~60 requests a second.
    assert!(
        access.len() <= 60 * 3,
        "{} access lines in 60 s",
        access.len()
    );
    assert!(access.len() >= 60, "{} access lines in 60 s", access.len());
    let failed = access
        .iter()
        .filter(|l| l.contains(" 500 ") || l.contains(" 503 "))
        .count();
    let ratio = share(failed as u64, access.len() as u64);
    assert!((ratio - 0.5).abs() < 0.15, "logged 5xx share {ratio:.2}");
    let errors = lines.iter().filter(|(_, l)| l.contains(" ERROR ")).count();
    assert_eq!(errors, failed, "one error line per logged 5xx");
    assert!(
        lines
            .iter()
            .any(|(_, l)| l.starts_with("    at checkout::"))
    );
    let stable = sim
        .shared
        .logs
        .read(
            &ContainerKey::new("shop", &pod_name("checkout", "stable", 0), "checkout"),
            false,
        )
        .unwrap();
    assert!(stable.iter().filter(|(_, l)| l.contains(" ERROR ")).count() * 20 < stable.len());
}

#[test]
fn pod_and_node_metrics_agree_with_the_counters() {
    let mut sim = Sim::new("memory-leak", 11);
    sim.run(secs(31), TICK);
    let res = resources::lookup("metrics.k8s.io", "pods").unwrap();
    let (objects, _) = sim.shared.store.list(res, None);
    let handle = sim.traffic.handle();
    assert_eq!(objects.len(), handle.pods().len());
    for object in &objects {
        assert_eq!(object["window"], "15s");
        let usage = &object["containers"][0]["usage"];
        let cpu = usage["cpu"].as_str().unwrap();
        let nanocores: f64 = cpu.strip_suffix('n').unwrap().parse().unwrap();
        let memory = usage["memory"].as_str().unwrap();
        let ki: u64 = memory.strip_suffix("Ki").unwrap().parse().unwrap();
        let name = object["metadata"]["name"].as_str().unwrap();
        let pods = handle.pods();
        let pod = &pods[&("shop".to_string(), name.to_string())];
        // CPU: the counter's rate over the window, so at most its average since start.
        let average = pod.counters.cpu_seconds / 31.0 * 1e9;
        assert!(
            nanocores > 0.5 * average && nanocores < 1.5 * average,
            "{cpu} vs {average}"
        );
        let bytes = pod.counters.memory_bytes;
        assert!(
            ki * 1024 <= bytes && bytes - ki * 1024 < 64 * 1024 * 1024,
            "{memory} vs {bytes}"
        );
    }
    let nodes = resources::lookup("metrics.k8s.io", "nodes").unwrap();
    assert_eq!(sim.shared.store.list(nodes, None).0.len(), 3);
    sim.shared
        .store
        .delete(
            kinds::pods(),
            "shop",
            objects[0]["metadata"]["name"].as_str().unwrap(),
        )
        .unwrap();
    sim.run(secs(15), TICK);
    assert_eq!(sim.shared.store.list(res, None).0.len(), objects.len() - 1);
}

#[test]
fn proxy_answers_per_pod_and_per_service() {
    let mut sim = Sim::new("slow-canary", 12);
    sim.run(secs(5), TICK);
    let handle = sim.traffic.handle();
    let name = pod_name("search", "stable", 2);
    let (code, content_type, body) = handle
        .proxy_answer("shop", ProxyKind::Pod, &name, "8080", "/metrics")
        .unwrap();
    assert_eq!(
        (code, content_type),
        (200, traffic::exposition::CONTENT_TYPE)
    );
    let e = parse(&body).unwrap();
    assert!(
        e.samples
            .iter()
            .all(|s| s.label("pod") == Some(name.as_str()))
    );
    assert!(
        e.samples
            .iter()
            .any(|s| s.name == "http_request_duration_seconds_bucket")
    );
    assert_eq!(
        handle.proxy_answer("shop", ProxyKind::Pod, "nope", "8080", "/metrics"),
        None
    );
    let wrong_port = handle.proxy_answer("shop", ProxyKind::Pod, &name, "9999", "/metrics");
    assert_eq!(wrong_port.unwrap().0, 503);
    let svc = handle.proxy_answer(
        "shop",
        ProxyKind::Service,
        "search-canary",
        "8080",
        "/health",
    );
    assert_eq!(svc.unwrap().0, 200);
    sim.edit_pod("shop", &pod_name("search", "canary", 0), |p| {
        p["status"]["conditions"][0]["status"] = json!("False");
    });
    sim.run(Duration::from_millis(100), TICK);
    let svc = handle.proxy_answer(
        "shop",
        ProxyKind::Service,
        "search-canary",
        "8080",
        "/health",
    );
    assert_eq!(svc.unwrap().0, 503);
    // Scrape-based numbers from two proxy scrapes match the scenario's stable p99.
    let scrape_all = || {
        (0..3)
            .flat_map(|i| {
                let pod = pod_name("search", "stable", i);
                let (_, _, body) = handle
                    .proxy_answer("shop", ProxyKind::Pod, &pod, "8080", "/metrics")
                    .unwrap();
                parse(&body).unwrap().samples
            })
            .collect::<Vec<_>>()
    };
    let before = scrape_all();
    sim.run(secs(120), TICK);
    let after = scrape_all();
    let n = scrape::numbers(
        &scrape::increases(&before, &after),
        120.0,
        &[("version", "stable")],
    );
    let p99 = n.p99.unwrap();
    assert!(
        (p99 / 0.4 - 1.0).abs() < 0.15,
        "stable p99 {p99} s vs 0.4 s"
    );
    assert!(
        (n.requests_per_second / 80.0 - 1.0).abs() < 0.1,
        "{} rps",
        n.requests_per_second
    );
}

#[test]
fn faults_crash_silence_and_clear() {
    let mut sim = Sim::new("healthy-canary", 13);
    let crash = FaultRequest::parse(
        br#"{"action":"crash","namespace":"shop","app":"checkout","version":"canary"}"#,
    )
    .unwrap();
    let (report, _) = control::apply(&sim.shared, &crash).unwrap();
    assert_eq!(
        report["crashed"],
        json!([pod_name("checkout", "canary", 0)])
    );
    let pod = sim
        .shared
        .store
        .get(kinds::pods(), "shop", &pod_name("checkout", "canary", 0))
        .unwrap();
    assert!(pod["metadata"]["annotations"][traffic::CRASH_ANNOTATION].is_string());
    let nobody = FaultRequest::parse(
        br#"{"action":"crash","namespace":"shop","app":"checkout","version":"v9"}"#,
    )
    .unwrap();
    assert_eq!(
        control::apply(&sim.shared, &nobody).unwrap_err().code(),
        404
    );

    let quiet = pod_name("checkout", "stable", 0);
    let key = ContainerKey::new("shop", &quiet, "checkout");
    sim.run(secs(5), TICK);
    let silence = FaultRequest::parse(
        format!(r#"{{"action":"silence-pod","namespace":"shop","pod":"{quiet}"}}"#).as_bytes(),
    )
    .unwrap();
    control::apply(&sim.shared, &silence).unwrap();
    let lines = sim.shared.logs.read(&key, false).unwrap().len();
    sim.run(secs(5), TICK);
    assert_eq!(sim.shared.logs.read(&key, false).unwrap().len(), lines);
    assert_eq!(
        sim.shared.faults.current().silenced_pods,
        vec![format!("shop/{quiet}")]
    );
    control::clear(&sim.shared);
    sim.run(secs(5), TICK);
    assert!(sim.shared.logs.read(&key, false).unwrap().len() > lines);
}

#[tokio::test]
async fn fault_endpoint_over_http() {
    let sim = Sim::new("healthy-canary", 14);
    let app = traffic::routes(sim.shared.clone(), sim.traffic.handle());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    let http = reqwest::Client::new();
    let faults = format!("{base}/sim/faults");

    let bad = http
        .post(&faults)
        .body("{\"metrics_timeout\": 3")
        .send()
        .await
        .unwrap();
    assert_eq!(bad.status(), 400);
    let body: Value = bad.json().await.unwrap();
    assert!(
        body["error"]
            .as_str()
            .unwrap()
            .contains("expected a JSON object")
    );

    let ok = http
        .post(&faults)
        .body(r#"{"api_latency_ms": 250}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(ok.status(), 200);
    let state: Value = http
        .get(&faults)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(state["api_latency_ms"], 250);
    assert_eq!(state["metrics_timeout"], false);

    let metrics = http.get(format!("{base}/metrics")).send().await.unwrap();
    assert_eq!(
        metrics.headers()["content-type"],
        traffic::exposition::CONTENT_TYPE
    );
    http.post(&faults)
        .body(r#"{"metrics_timeout": true}"#)
        .send()
        .await
        .unwrap();
    let held = tokio::time::timeout(
        Duration::from_secs(1),
        http.get(format!("{base}/metrics")).send(),
    )
    .await;
    assert!(held.is_err(), "/metrics answered under metrics_timeout");

    let cleared: Value = http
        .delete(&faults)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(cleared["api_latency_ms"], 0);
    let metrics = http.get(format!("{base}/metrics")).send().await.unwrap();
    assert_eq!(metrics.status(), 200);
}

#[test]
fn scheduled_faults_start_and_end_on_time() {
    let text = r#"
name = "scheduled"
[cluster]
namespaces = ["shop"]
[[apps]]
name = "api"
namespace = "shop"
strategy = "rolling"
[[apps.versions]]
name = "stable"
image = "api:1"
replicas = 2
[[faults]]
at = "10s"
duration = "20s"
fault = { action = "error-spike", namespace = "shop", app = "api", version = "stable", error_ratio = 0.4 }
[[faults]]
at = "15s"
fault = { metrics_timeout = true }
"#;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("scheduled.toml");
    std::fs::write(&path, text).unwrap();
    let mut sim = Sim::new(path.to_str().unwrap(), 15);
    sim.run(secs(9), TICK);
    assert!(sim.shared.faults.current().error_spikes.is_empty());
    sim.run(secs(7), TICK);
    let now = sim.shared.faults.current();
    assert_eq!(now.error_spikes.len(), 1);
    assert!(now.metrics_timeout);
    let (t0, e0) = sim.totals("api", "stable");
    sim.run(secs(10), TICK);
    let (t1, e1) = sim.totals("api", "stable");
    assert!((share(e1 - e0, t1 - t0) - 0.4).abs() < 0.06);
    sim.run(secs(5), TICK);
    let after = sim.shared.faults.current();
    assert!(
        after.error_spikes.is_empty(),
        "the spike ends after its duration"
    );
    assert!(after.metrics_timeout, "a fault without a duration stays");
}
