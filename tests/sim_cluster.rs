//! kubectl and kube-rs against the whole simulated cluster: the clock, the
//! controllers, the traffic model and the API server of `flightdeck sim serve`,
//! on the `healthy-canary` scenario with the clock at 20× real time. Each test
//! checks what kubectl prints and what the cluster's store then holds.
//! The kubectl tests are skipped where kubectl is absent, unless
//! `FLIGHTDECK_REQUIRE_KUBECTL=1`.

#![allow(clippy::unwrap_used)]

mod common;

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use chrono::{TimeZone, Utc};
use common::{SimCluster, errors, finish, kubectl_available, text, wait_until};
use flightdeck::sim::resources::kinds;
use flightdeck::sim::traffic::Traffic;
use flightdeck::sim::{Controller, Scenario, TickCtx, World};
use futures::StreamExt;
use k8s_openapi::api::core::v1::Pod;
use kube::api::{Api, Patch, PatchParams};
use kube::runtime::{WatchStreamExt, reflector, watcher};
use serde_json::{Value, json};

const NS: &str = "shop";
const STABLE: &str = "checkout-stable";
const OLD_IMAGE: &str = "registry.local/shop/checkout:1.4.2";
const NEW_IMAGE: &str = "registry.local/shop/checkout:1.5.0";
/// Sim seconds per real second: a rolling update of four pods takes about two.
const SPEED: f64 = 20.0;
/// How long any wait for the cluster may take before the test fails.
const SETTLE: Duration = Duration::from_secs(60);

fn ok(output: &std::process::Output) -> String {
    assert!(
        output.status.success(),
        "kubectl failed: {}\n{}",
        errors(output),
        text(output)
    );
    text(output)
}

fn deployment(c: &SimCluster, name: &str) -> Arc<Value> {
    c.store().get(kinds::deployments(), NS, name).unwrap()
}

/// The first container's image of a pod, or of a Deployment's or ReplicaSet's template.
fn image_of(object: &Value) -> String {
    object
        .pointer("/spec/template/spec/containers/0/image")
        .or_else(|| object.pointer("/spec/containers/0/image"))
        .and_then(Value::as_str)
        .unwrap()
        .to_string()
}

/// The Deployment's ReplicaSets, by name.
fn replicasets(c: &SimCluster, deploy: &str) -> BTreeMap<String, Arc<Value>> {
    c.store()
        .list(kinds::replicasets(), Some(NS))
        .0
        .into_iter()
        .filter(|rs| rs.pointer("/metadata/ownerReferences/0/name") == Some(&json!(deploy)))
        .map(|rs| (rs["metadata"]["name"].as_str().unwrap().to_string(), rs))
        .collect()
}

fn revision(rs: &Value) -> &str {
    rs.pointer("/metadata/annotations/deployment.kubernetes.io~1revision")
        .and_then(Value::as_str)
        .unwrap()
}

/// Pods with these labels that are not being deleted.
fn live_pods(c: &SimCluster, labels: &[(&str, &str)]) -> Vec<Arc<Value>> {
    c.store()
        .list(kinds::pods(), Some(NS))
        .0
        .into_iter()
        .filter(|p| p.pointer("/metadata/deletionTimestamp").is_none())
        .filter(|p| {
            labels
                .iter()
                .all(|(k, v)| p["metadata"]["labels"][*k] == json!(v))
        })
        .collect()
}

fn ready(pod: &Value) -> bool {
    pod.pointer("/status/conditions")
        .and_then(Value::as_array)
        .is_some_and(|cs| {
            cs.iter()
                .any(|c| c["type"] == "Ready" && c["status"] == "True")
        })
}

/// Waits until the Deployment's pods all run its template and are ready.
fn settled(c: &SimCluster, deploy: &str, replicas: usize) -> bool {
    wait_until(SETTLE, || {
        let d = deployment(c, deploy);
        let version = d["spec"]["selector"]["matchLabels"]["version"]
            .as_str()
            .unwrap()
            .to_string();
        let pods = c.store().list(kinds::pods(), Some(NS)).0;
        let mine: Vec<_> = pods
            .iter()
            .filter(|p| p["metadata"]["labels"]["version"] == json!(version))
            .collect();
        mine.len() == replicas
            && mine.iter().all(|p| ready(p) && image_of(p) == image_of(&d))
            && d["status"]["updatedReplicas"] == json!(replicas)
            && d["status"]["availableReplicas"] == json!(replicas)
    })
}

fn rollout_status(c: &SimCluster, deploy: &str) {
    let out = ok(&c.kubectl(&[
        "rollout",
        "status",
        &format!("deploy/{deploy}"),
        "--timeout=60s",
    ]));
    assert!(
        out.ends_with(&format!(
            "deployment \"{deploy}\" successfully rolled out\n"
        )),
        "{out}"
    );
}

/// The REVISION column of `kubectl rollout history`.
fn history(c: &SimCluster, deploy: &str) -> Vec<String> {
    let out = ok(&c.kubectl(&["rollout", "history", &format!("deploy/{deploy}")]));
    let mut lines = out.lines();
    assert_eq!(
        lines.next(),
        Some(format!("deployment.apps/{deploy} ").as_str()),
        "{out}"
    );
    assert_eq!(
        lines
            .next()
            .map(|l| l.split_whitespace().collect::<Vec<_>>()),
        Some(vec!["REVISION", "CHANGE-CAUSE"]),
        "{out}"
    );
    lines
        .filter_map(|l| l.split_whitespace().next())
        .map(str::to_string)
        .collect()
}

fn progressing_reason(d: &Value) -> Option<String> {
    d.pointer("/status/conditions")?
        .as_array()?
        .iter()
        .find(|c| c["type"] == "Progressing")?
        .get("reason")?
        .as_str()
        .map(str::to_string)
}

#[test]
fn set_image_rolls_out_and_undo_reuses_the_old_replicaset() {
    if !kubectl_available("set_image_rolls_out_and_undo_reuses_the_old_replicaset") {
        return;
    }
    let c = SimCluster::start("healthy-canary", SPEED);
    assert!(settled(&c, STABLE, 4), "the seeded pods never ran");
    let before = replicasets(&c, STABLE);
    assert_eq!(before.len(), 1);
    let (first_rs, _) = before.iter().next().unwrap();

    let set = ok(&c.kubectl(&[
        "set",
        "image",
        "deploy/checkout-stable",
        &format!("checkout={NEW_IMAGE}"),
    ]));
    assert_eq!(set, "deployment.apps/checkout-stable image updated\n");
    rollout_status(&c, STABLE);
    assert!(settled(&c, STABLE, 4));
    let after = replicasets(&c, STABLE);
    assert_eq!(after.len(), 2, "{after:?}");
    let (second_rs, second) = after.iter().find(|(n, _)| *n != first_rs).unwrap();
    assert_eq!(revision(second), "2");
    assert_eq!(image_of(second), NEW_IMAGE);
    assert_eq!(second["spec"]["replicas"], 4);
    assert_eq!(after[first_rs]["spec"]["replicas"], 0);
    assert_eq!(history(&c, STABLE), ["1", "2"]);

    let undo = ok(&c.kubectl(&[
        "rollout",
        "undo",
        "deploy/checkout-stable",
        "--to-revision=1",
    ]));
    assert_eq!(undo, "deployment.apps/checkout-stable rolled back\n");
    rollout_status(&c, STABLE);
    assert!(settled(&c, STABLE, 4));
    assert_eq!(image_of(&deployment(&c, STABLE)), OLD_IMAGE);
    // The template came back, so its ReplicaSet did too, as revision 3.
    let undone = replicasets(&c, STABLE);
    assert_eq!(
        undone.keys().collect::<Vec<_>>(),
        after.keys().collect::<Vec<_>>()
    );
    assert_eq!(revision(&undone[first_rs]), "3");
    assert_eq!(undone[first_rs]["spec"]["replicas"], 4);
    assert_eq!(undone[second_rs]["spec"]["replicas"], 0);
    assert!(
        live_pods(&c, &[("version", "stable")])
            .iter()
            .all(|p| p["metadata"]["labels"]["pod-template-hash"]
                == undone[first_rs]["metadata"]["labels"]["pod-template-hash"])
    );
    assert_eq!(history(&c, STABLE), ["2", "3"]);
}

#[test]
fn pause_holds_a_template_change_until_resume() {
    if !kubectl_available("pause_holds_a_template_change_until_resume") {
        return;
    }
    let c = SimCluster::start("healthy-canary", SPEED);
    assert!(settled(&c, STABLE, 4));
    let paused = ok(&c.kubectl(&["rollout", "pause", "deploy/checkout-stable"]));
    assert_eq!(paused, "deployment.apps/checkout-stable paused\n");
    assert_eq!(deployment(&c, STABLE)["spec"]["paused"], true);
    assert!(wait_until(SETTLE, || progressing_reason(&deployment(
        &c, STABLE
    ))
    .as_deref()
        == Some("DeploymentPaused")));

    ok(&c.kubectl(&[
        "set",
        "image",
        "deploy/checkout-stable",
        &format!("checkout={NEW_IMAGE}"),
    ]));
    // A minute of sim time: a running Deployment would have rolled out by now.
    std::thread::sleep(Duration::from_secs(3));
    assert_eq!(replicasets(&c, STABLE).len(), 1);
    let pods = live_pods(&c, &[("version", "stable")]);
    assert_eq!(pods.len(), 4);
    assert!(pods.iter().all(|p| image_of(p) == OLD_IMAGE));
    let shown = ok(&c.kubectl(&[
        "get",
        "deploy",
        STABLE,
        "-o",
        "jsonpath={.spec.paused} {.status.conditions[?(@.type==\"Progressing\")].reason}",
    ]));
    assert_eq!(shown, "true DeploymentPaused");

    let resumed = ok(&c.kubectl(&["rollout", "resume", "deploy/checkout-stable"]));
    assert_eq!(resumed, "deployment.apps/checkout-stable resumed\n");
    assert!(
        deployment(&c, STABLE)["spec"]
            .get("paused")
            .is_none_or(|p| p == false)
    );
    rollout_status(&c, STABLE);
    assert!(settled(&c, STABLE, 4));
    assert_eq!(replicasets(&c, STABLE).len(), 2);
    assert_eq!(
        progressing_reason(&deployment(&c, STABLE)).as_deref(),
        Some("NewReplicaSetAvailable")
    );
}

#[test]
fn restart_replaces_every_pod_through_a_new_replicaset() {
    if !kubectl_available("restart_replaces_every_pod_through_a_new_replicaset") {
        return;
    }
    let c = SimCluster::start("healthy-canary", SPEED);
    assert!(settled(&c, STABLE, 4));
    let old_pods: Vec<String> = live_pods(&c, &[("version", "stable")])
        .iter()
        .map(|p| p["metadata"]["name"].as_str().unwrap().to_string())
        .collect();
    let restarted = ok(&c.kubectl(&["rollout", "restart", "deploy/checkout-stable"]));
    assert_eq!(restarted, "deployment.apps/checkout-stable restarted\n");
    let d = deployment(&c, STABLE);
    assert!(
        d.pointer("/spec/template/metadata/annotations/kubectl.kubernetes.io~1restartedAt")
            .is_some(),
        "{d}"
    );
    rollout_status(&c, STABLE);
    assert!(settled(&c, STABLE, 4));
    let rss = replicasets(&c, STABLE);
    assert_eq!(rss.len(), 2);
    assert!(
        rss.values().any(|rs| revision(rs) == "2"
            && image_of(rs) == OLD_IMAGE
            && rs["spec"]["replicas"] == 4)
    );
    let new_pods = live_pods(&c, &[("version", "stable")]);
    assert!(
        new_pods
            .iter()
            .all(|p| !old_pods.contains(&p["metadata"]["name"].as_str().unwrap().to_string())),
        "{old_pods:?}"
    );
}

#[test]
fn scale_changes_the_running_pods() {
    if !kubectl_available("scale_changes_the_running_pods") {
        return;
    }
    let c = SimCluster::start("healthy-canary", SPEED);
    assert!(settled(&c, "checkout-canary", 1));
    let scaled = ok(&c.kubectl(&["scale", "deploy/checkout-canary", "--replicas=3"]));
    assert_eq!(scaled, "deployment.apps/checkout-canary scaled\n");
    assert!(settled(&c, "checkout-canary", 3));
    let listed = ok(&c.kubectl(&["get", "pods", "-l", "version=canary", "--no-headers"]));
    let rows: Vec<Vec<&str>> = listed
        .lines()
        .map(|l| l.split_whitespace().collect())
        .collect();
    assert_eq!(rows.len(), 3, "{listed}");
    assert!(
        rows.iter().all(|r| r[1..4] == ["1/1", "Running", "0"]),
        "{listed}"
    );

    ok(&c.kubectl(&["scale", "deploy/checkout-canary", "--replicas=1"]));
    assert!(settled(&c, "checkout-canary", 1));
    assert!(wait_until(SETTLE, || {
        let out = ok(&c.kubectl(&["get", "pods", "-l", "version=canary", "--no-headers"]));
        out.lines().count() == 1 && out.contains(" 1/1 ") && out.contains(" Running ")
    }));
}

/// `2025-06-01T12:00:00.123Z INFO GET /api/cart 200 41.0ms`, split up.
fn access_line(line: &str) -> Option<(&str, &str, u16)> {
    let mut parts = line.split(' ');
    let ts = parts.next()?;
    chrono::DateTime::parse_from_rfc3339(ts).ok()?;
    let level = parts.next()?;
    if level != "INFO" && level != "WARN" {
        return None;
    }
    let method = parts.next()?;
    let path = parts.next()?;
    let code = parts.next()?.parse().ok()?;
    parts.next()?.strip_suffix("ms")?.parse::<f64>().ok()?;
    Some((method, path, code))
}

#[test]
fn logs_tail_shows_the_traffic_a_pod_served() {
    if !kubectl_available("logs_tail_shows_the_traffic_a_pod_served") {
        return;
    }
    let c = SimCluster::start("healthy-canary", SPEED);
    assert!(settled(&c, STABLE, 4));
    let pod = live_pods(&c, &[("version", "stable")])[0]["metadata"]["name"]
        .as_str()
        .unwrap()
        .to_string();
    // A few sim minutes of traffic: ~2 access lines a second.
    let enough = wait_until(SETTLE, || {
        text(&c.kubectl(&["logs", &pod]))
            .lines()
            .filter(|l| access_line(l).is_some())
            .count()
            >= 300
    });
    assert!(enough, "{}", text(&c.kubectl(&["logs", &pod])));

    let tail = ok(&c.kubectl(&["logs", &pod, "--tail=5"]));
    let lines: Vec<&str> = tail.lines().collect();
    assert_eq!(lines.len(), 5, "{tail}");
    assert!(lines.iter().all(|l| access_line(l).is_some()), "{tail}");

    let whole = ok(&c.kubectl(&["logs", &pod]));
    let served: Vec<(&str, &str, u16)> = whole.lines().filter_map(access_line).collect();
    let paths = ["/api/cart", "/api/checkout", "/api/orders", "/health"];
    assert!(served.iter().all(|(_, p, _)| paths.contains(p)), "{whole}");
    // Health checks are reads; the API paths take both.
    assert!(
        served
            .iter()
            .any(|(m, p, _)| *m == "GET" && *p == "/health")
    );
    assert!(
        !served
            .iter()
            .any(|(m, p, _)| *m != "GET" && *p == "/health"),
        "{whole}"
    );
    assert!(served.iter().any(|(m, _, _)| *m == "POST"));
    // The tail is the end of the whole log.
    let end: Vec<&str> = whole.lines().collect();
    let at = end.iter().position(|l| *l == lines[0]).unwrap();
    assert_eq!(end[at..at + 5], lines[..]);
}

#[test]
fn watch_during_a_rollout_shows_new_pods_and_old_ones_terminating() {
    if !kubectl_available("watch_during_a_rollout_shows_new_pods_and_old_ones_terminating") {
        return;
    }
    let c = SimCluster::start("healthy-canary", SPEED);
    assert!(settled(&c, STABLE, 4));
    let old_hash =
        live_pods(&c, &[("version", "stable")])[0]["metadata"]["labels"]["pod-template-hash"]
            .as_str()
            .unwrap()
            .to_string();
    let child = c.kubectl_spawn(&["get", "pods", "-l", "version=stable", "-w"]);
    // Time for kubectl to list and start watching.
    std::thread::sleep(Duration::from_millis(1500));
    ok(&c.kubectl(&[
        "set",
        "image",
        "deploy/checkout-stable",
        &format!("checkout={NEW_IMAGE}"),
    ]));
    assert!(settled(&c, STABLE, 4));
    assert!(wait_until(SETTLE, || c
        .store()
        .list(kinds::pods(), Some(NS))
        .0
        .iter()
        .all(
            |p| p["metadata"]["labels"]["pod-template-hash"] != json!(old_hash)
        )));
    std::thread::sleep(Duration::from_millis(500));
    let out = finish(child, Duration::from_millis(100));
    let printed = text(&out);
    let rows: Vec<Vec<&str>> = printed
        .lines()
        .map(|l| l.split_whitespace().collect())
        .collect();
    assert_eq!(
        rows[0],
        ["NAME", "READY", "STATUS", "RESTARTS", "AGE"],
        "{printed}"
    );
    let old = |r: &&Vec<&str>| r[0].starts_with(&format!("{STABLE}-{old_hash}-"));
    let new = |r: &&Vec<&str>| r[0] != "NAME" && !old(r);
    // The four old pods are listed first, running.
    assert!(
        rows[1..5]
            .iter()
            .all(|r| old(&r) && r[1..3] == ["1/1", "Running"]),
        "{printed}"
    );
    let new_pods: Vec<&str> = live_pods(&c, &[("version", "stable")])
        .iter()
        .map(|p| p["metadata"]["name"].as_str().unwrap().to_string())
        .map(|n| rows.iter().find(|r| r[0] == n).map_or("", |r| r[0]))
        .collect();
    assert!(new_pods.iter().all(|n| !n.is_empty()), "{printed}");
    for status in ["Pending", "ContainerCreating"] {
        assert!(
            rows.iter().filter(new).any(|r| r[2] == status),
            "{status}:\n{printed}"
        );
    }
    assert!(
        rows.iter()
            .filter(new)
            .any(|r| r[1..3] == ["1/1", "Running"]),
        "{printed}"
    );
    let terminating: Vec<&str> = rows
        .iter()
        .filter(old)
        .filter(|r| r[2] == "Terminating")
        .map(|r| r[0])
        .collect();
    let mut distinct = terminating.clone();
    distinct.dedup();
    distinct.sort_unstable();
    distinct.dedup();
    assert_eq!(distinct.len(), 4, "{printed}");
}

#[test]
fn top_pods_shows_cpu_and_memory() {
    if !kubectl_available("top_pods_shows_cpu_and_memory") {
        return;
    }
    let c = SimCluster::start("healthy-canary", SPEED);
    assert!(settled(&c, STABLE, 4));
    let mut last = String::new();
    let shown = wait_until(SETTLE, || {
        let out = c.kubectl(&["top", "pods"]);
        last = format!("{}{}", text(&out), errors(&out));
        out.status.success() && text(&out).lines().count() == 6
    });
    assert!(shown, "{last}");
    let mut rows = last
        .lines()
        .map(|l| l.split_whitespace().collect::<Vec<_>>());
    assert_eq!(
        rows.next().unwrap(),
        ["NAME", "CPU(cores)", "MEMORY(bytes)"]
    );
    for row in rows {
        let cpu: u32 = row[1].strip_suffix('m').unwrap().parse().unwrap();
        assert!(cpu > 0, "{last}");
        // The scenario's memory, with no leak.
        let memory = if row[0].starts_with(STABLE) {
            "180Mi"
        } else {
            "175Mi"
        };
        assert_eq!(row[2], memory, "{last}");
        let metrics = c
            .store()
            .get(
                flightdeck::sim::resources::lookup("metrics.k8s.io", "pods").unwrap(),
                NS,
                row[0],
            )
            .unwrap_or_else(|| panic!("no PodMetrics for {}", row[0]));
        assert!(metrics["containers"][0]["usage"]["cpu"].is_string());
    }
}

#[test]
fn events_tell_the_story_of_the_pods() {
    if !kubectl_available("events_tell_the_story_of_the_pods") {
        return;
    }
    let c = SimCluster::start("healthy-canary", SPEED);
    assert!(settled(&c, STABLE, 4));
    let out = ok(&c.kubectl(&["get", "events"]));
    let header: Vec<&str> = out.lines().next().unwrap().split_whitespace().collect();
    assert_eq!(
        header,
        ["LAST", "SEEN", "TYPE", "REASON", "OBJECT", "MESSAGE"]
    );
    let pod = live_pods(&c, &[("version", "stable")])[0]["metadata"]["name"]
        .as_str()
        .unwrap()
        .to_string();
    let about = |object: &str, reason: &str| {
        out.lines().any(|l| {
            let cols: Vec<&str> = l.split_whitespace().collect();
            cols.len() > 4 && cols[1] == "Normal" && cols[2] == reason && cols[3] == object
        })
    };
    assert!(
        about("deployment/checkout-stable", "ScalingReplicaSet"),
        "{out}"
    );
    for reason in ["Scheduled", "Pulling", "Pulled", "Created", "Started"] {
        assert!(about(&format!("pod/{pod}"), reason), "{reason}:\n{out}");
    }
    // Each row is an Event the store holds about that object.
    let events = c.store().list(kinds::events(), Some(NS)).0;
    for reason in ["Scheduled", "Pulled", "Started"] {
        assert!(events.iter().any(|e| e["reason"] == reason
            && e["involvedObject"]["name"] == json!(pod)
            && e["involvedObject"]["kind"] == "Pod"));
    }
    // An object's Events are named by when they happened, so they list in that order.
    let order: Vec<&str> = out
        .lines()
        .map(|l| l.split_whitespace().collect::<Vec<_>>())
        .filter(|c| c.len() > 4 && c[3] == format!("pod/{pod}"))
        .map(|c| c[2])
        .collect();
    // (A node that has the image already pulls nothing.)
    let story = ["Scheduled", "Pulling", "Pulled", "Created", "Started"];
    let ranks: Vec<usize> = order
        .iter()
        .map(|r| story.iter().position(|s| s == r).unwrap())
        .collect();
    assert!(ranks.is_sorted() && ranks.len() >= 4, "{out}");
}

/// The traffic model as one of the world's controllers, as the host runs it.
struct TrafficController(Traffic);

impl Controller for TrafficController {
    fn tick(&mut self, ctx: &mut TickCtx<'_>) {
        self.0
            .tick(ctx.shared, ctx.now, ctx.since_start, ctx.dt, ctx.rng);
    }
}

const LATE_CRASH: &str = r#"
name = "late-crash"
[cluster]
namespaces = ["shop"]
nodes = 2

[[apps]]
name = "checkout"
namespace = "shop"
strategy = "canary"
routers = ["istio"]
paths = ["/api/cart", "/health"]

[[apps.versions]]
name = "stable"
image = "registry.local/shop/checkout:1.4.2"
replicas = 2
weight = 100

[[apps.versions]]
name = "canary"
image = "registry.local/shop/checkout:1.5.0"
replicas = 1
weight = 0
[[apps.versions.behaviour.phases]]
after = "10s"
from = "first-traffic"
crashes_per_hour = 36000.0
"#;

fn restarts(shared: &flightdeck::sim::Shared, version: &str) -> u64 {
    shared
        .store
        .list(kinds::pods(), Some(NS))
        .0
        .iter()
        .filter(|p| p["metadata"]["labels"]["version"] == json!(version))
        .filter_map(|p| {
            p.pointer("/status/containerStatuses/0/restartCount")?
                .as_u64()
        })
        .sum()
}

#[test]
fn crash_phases_start_from_the_versions_first_traffic() {
    let scenario = Scenario::parse(Path::new("late-crash.toml"), LATE_CRASH).unwrap();
    let start = Utc.with_ymd_and_hms(2026, 3, 1, 12, 0, 0).unwrap();
    let mut world = World::new(scenario, 3, start).unwrap();
    let shared = world.shared();
    world.add_controller(Box::new(TrafficController(Traffic::new(&shared))));
    world.step_for(Duration::from_secs(120));
    assert_eq!(shared.first_traffic.get(NS, "checkout", "canary"), None);
    assert_eq!(restarts(&shared, "canary"), 0, "no traffic, no crash");

    shared
        .store
        .modify::<()>(kinds::virtualservices(), NS, "checkout", |vs| {
            vs["spec"]["http"][0]["route"][0]["weight"] = json!(50);
            vs["spec"]["http"][0]["route"][1]["weight"] = json!(50);
            Ok(())
        })
        .unwrap();
    world.step_for(Duration::from_secs(5));
    let first = shared.first_traffic.get(NS, "checkout", "canary").unwrap();
    assert!(first > start + chrono::Duration::seconds(120));
    assert_eq!(restarts(&shared, "canary"), 0, "the phase starts 10s later");
    world.step_for(Duration::from_secs(60));
    assert!(restarts(&shared, "canary") > 0);
    assert_eq!(restarts(&shared, "stable"), 0);
}

/// The reflector's pods, as name → resourceVersion.
fn reflected(reader: &reflector::Store<Pod>) -> BTreeMap<String, String> {
    reader
        .state()
        .iter()
        .map(|p| {
            (
                p.metadata.name.clone().unwrap_or_default(),
                p.metadata.resource_version.clone().unwrap_or_default(),
            )
        })
        .collect()
}

fn stored(c: &SimCluster) -> BTreeMap<String, String> {
    c.store()
        .list(kinds::pods(), Some(NS))
        .0
        .iter()
        .map(|p| {
            (
                p["metadata"]["name"].as_str().unwrap().to_string(),
                p["metadata"]["resourceVersion"]
                    .as_str()
                    .unwrap()
                    .to_string(),
            )
        })
        .collect()
}

#[test]
fn reflector_follows_a_rollout_through_a_drop_and_a_gone() {
    // Slower, so that both faults land while the rollout runs.
    let c = SimCluster::start("healthy-canary", 4.0);
    assert!(settled(&c, STABLE, 4));
    let inits = Arc::new(AtomicUsize::new(0));
    let errors = Arc::new(AtomicUsize::new(0));
    let reader = c.block_on(async {
        let client = c.client().await;
        let pods: Api<Pod> = Api::namespaced(client.clone(), NS);
        let (reader, writer) = reflector::store();
        let (i, e) = (inits.clone(), errors.clone());
        let stream = reflector(writer, watcher(pods, watcher::Config::default()))
            .default_backoff()
            .for_each(move |event| {
                match event {
                    Ok(watcher::Event::Init) => {
                        i.fetch_add(1, Ordering::SeqCst);
                    }
                    Err(_) => {
                        e.fetch_add(1, Ordering::SeqCst);
                    }
                    Ok(_) => {}
                }
                async {}
            });
        tokio::spawn(stream);
        reader.wait_until_ready().await.unwrap();
        let deployments: Api<k8s_openapi::api::apps::v1::Deployment> = Api::namespaced(client, NS);
        let patch = json!({"spec": {"template": {"spec": {"containers": [
            {"name": "checkout", "image": NEW_IMAGE}]}}}});
        deployments
            .patch(STABLE, &PatchParams::default(), &Patch::Strategic(&patch))
            .await
            .unwrap();
        reader
    });
    assert_eq!(inits.load(Ordering::SeqCst), 1);

    let rolling = |c: &SimCluster| {
        live_pods(c, &[("version", "stable")])
            .iter()
            .any(|p| image_of(p) == OLD_IMAGE)
    };

    // Mid-rollout, the connection drops: the watcher resumes where it was.
    std::thread::sleep(Duration::from_millis(500));
    assert!(rolling(&c));
    c.shared().faults.update(|f| f.watch_drops += 1);
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(inits.load(Ordering::SeqCst), 1, "a drop needs no re-list");
    assert!(rolling(&c));

    // Offline while the history is compacted: the resume answers 410 Gone
    // and the watcher lists again.
    c.shared().faults.update(|f| {
        f.api_error_ratio = 1.0;
        f.watch_drops += 1;
    });
    std::thread::sleep(Duration::from_millis(300));
    c.store()
        .create(
            kinds::configmaps(),
            NS,
            json!({"metadata": {"name": "moves-the-version-on"}}),
        )
        .unwrap();
    c.store().compact();
    assert!(rolling(&c));
    c.shared().faults.update(|f| f.api_error_ratio = 0.0);
    assert!(
        wait_until(SETTLE, || inits.load(Ordering::SeqCst) >= 2),
        "no re-list after 410 Gone"
    );

    assert!(settled(&c, STABLE, 4));
    let same = wait_until(SETTLE, || reflected(&reader) == stored(&c));
    assert!(same, "{:?}\n!=\n{:?}", reflected(&reader), stored(&c));
    assert!(
        inits.load(Ordering::SeqCst) >= 2,
        "no re-list after 410 Gone"
    );
    assert!(errors.load(Ordering::SeqCst) >= 1);
    let images: Vec<String> = reader
        .state()
        .iter()
        .filter(|p| p.metadata.labels.as_ref().unwrap()["version"] == "stable")
        .map(|p| {
            p.spec.as_ref().unwrap().containers[0]
                .image
                .clone()
                .unwrap()
        })
        .collect();
    assert_eq!(images, vec![NEW_IMAGE.to_string(); 4]);
}

/// A raw request to the cluster; answers (status, body as JSON).
fn request(
    c: &SimCluster,
    method: &str,
    path: &str,
    content_type: &str,
    body: &str,
) -> (u16, Value) {
    let url = format!("{}{path}", c.url());
    let (method, content_type, body) = (
        reqwest::Method::from_bytes(method.as_bytes()).unwrap(),
        content_type.to_string(),
        body.to_string(),
    );
    c.block_on(async move {
        let response = tokio::time::timeout(
            Duration::from_secs(10),
            reqwest::Client::new()
                .request(method, url)
                .header("content-type", content_type)
                .body(body)
                .send(),
        )
        .await
        .expect("the server hung")
        .unwrap();
        let status = response.status().as_u16();
        let body = response.json::<Value>().await.unwrap();
        (status, body)
    })
}

#[test]
fn bad_requests_answer_a_status() {
    let c = SimCluster::start("healthy-canary", SPEED);
    let deploy = "/apis/apps/v1/namespaces/shop/deployments/checkout-stable";
    let cases: [(&str, &str, &str, &str, u16, &str); 8] = [
        (
            "GET",
            "/api/v1/namespaces/shop/widgets",
            "application/json",
            "",
            404,
            "NotFound",
        ),
        (
            "GET",
            "/apis/widgets.example.com/v1/widgets",
            "application/json",
            "",
            404,
            "NotFound",
        ),
        (
            "POST",
            "/api/v1/namespaces/shop/configmaps",
            "application/json",
            "{\"metadata\": ",
            400,
            "BadRequest",
        ),
        (
            "GET",
            "/api/v1/namespaces/shop/pods?labelSelector=app%20in%20(",
            "application/json",
            "",
            400,
            "BadRequest",
        ),
        (
            "GET",
            "/api/v1/namespaces/shop/pods?fieldSelector=spec.color%3Dred",
            "application/json",
            "",
            400,
            "BadRequest",
        ),
        (
            "PATCH",
            deploy,
            "application/json-patch+json",
            "[{\"op\": \"explode\"}]",
            400,
            "BadRequest",
        ),
        (
            "PATCH",
            deploy,
            "application/json-patch+json",
            "[{\"op\": \"test\", \"path\": \"/spec/replicas\", \"value\": 99}]",
            422,
            "Invalid",
        ),
        (
            "PATCH",
            deploy,
            "application/merge-patch+json",
            "not json",
            400,
            "BadRequest",
        ),
    ];
    for (method, path, content_type, body, code, reason) in cases {
        let (status, answer) = request(&c, method, path, content_type, body);
        let what = format!("{method} {path} {body}: {answer}");
        assert_eq!(status, code, "{what}");
        assert_eq!(answer["kind"], "Status", "{what}");
        assert_eq!(answer["apiVersion"], "v1", "{what}");
        assert_eq!(answer["status"], "Failure", "{what}");
        assert_eq!(answer["code"], code, "{what}");
        assert_eq!(answer["reason"], reason, "{what}");
        assert!(
            answer["message"].as_str().is_some_and(|m| !m.is_empty()),
            "{what}"
        );
    }
    // None of it touched the Deployment, and the cluster still answers.
    let d = deployment(&c, STABLE);
    assert_eq!(d["spec"]["replicas"], 4);
    assert_eq!(d["metadata"]["generation"], 1);
    let (status, list) = request(
        &c,
        "GET",
        "/api/v1/namespaces/shop/pods",
        "application/json",
        "",
    );
    assert_eq!(status, 200);
    assert_eq!(list["kind"], "PodList");
}
