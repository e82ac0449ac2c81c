//! The simulated cluster's controllers, stepped tick by tick: what a client of
//! the API server would see after each step.
#![allow(clippy::unwrap_used)]

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, TimeZone, Utc};
use serde_json::{Value, json};

use flightdeck::sim::logs::ContainerKey;
use flightdeck::sim::resources::{Resource, kinds};
use flightdeck::sim::world::TICK;
use flightdeck::sim::{Scenario, World};

fn start() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 3, 1, 9, 0, 0).unwrap()
}

fn world(scenario: &str) -> World {
    World::new(Scenario::load(scenario).unwrap(), 42, start()).unwrap()
}

fn world_from(text: &str) -> World {
    World::new(
        Scenario::parse(Path::new("test.toml"), text).unwrap(),
        42,
        start(),
    )
    .unwrap()
}

fn get(w: &World, res: &Resource, ns: &str, name: &str) -> Arc<Value> {
    w.shared()
        .store
        .get(res, ns, name)
        .unwrap_or_else(|| panic!("{} {ns}/{name} missing", res.kind))
}

fn list(w: &World, res: &Resource, ns: &str) -> Vec<Arc<Value>> {
    w.shared().store.list(res, Some(ns)).0
}

fn name(o: &Value) -> &str {
    o["metadata"]["name"].as_str().unwrap()
}

fn label<'a>(o: &'a Value, key: &str) -> Option<&'a str> {
    o["metadata"]["labels"][key].as_str()
}

fn terminating(p: &Value) -> bool {
    p["metadata"].get("deletionTimestamp").is_some()
}

fn ready(p: &Value) -> bool {
    p["status"]["conditions"]
        .as_array()
        .into_iter()
        .flatten()
        .any(|c| c["type"] == "Ready" && c["status"] == "True")
}

/// Live (not terminating) pods of a Deployment, found by its labels.
fn pods(w: &World, ns: &str, app: &str, version: &str) -> Vec<Arc<Value>> {
    list(w, kinds::pods(), ns)
        .into_iter()
        .filter(|p| {
            label(p, "app") == Some(app) && label(p, "version") == Some(version) && !terminating(p)
        })
        .collect()
}

fn step_until(w: &mut World, limit: Duration, mut done: impl FnMut(&World) -> bool) {
    let ticks = limit.as_millis() / TICK.as_millis();
    for _ in 0..ticks {
        if done(w) {
            return;
        }
        w.step();
    }
    assert!(done(w), "not done after {limit:?} of sim time");
}

fn condition<'a>(o: &'a Value, kind: &str) -> &'a Value {
    o["status"]["conditions"]
        .as_array()
        .and_then(|cs| cs.iter().find(|c| c["type"] == kind))
        .unwrap_or(&Value::Null)
}

fn rollout_done(w: &World, ns: &str, name: &str) -> bool {
    let d = get(w, kinds::deployments(), ns, name);
    let want = d["spec"]["replicas"].as_i64().unwrap();
    d["status"]["observedGeneration"] == d["metadata"]["generation"]
        && d["status"]["updatedReplicas"].as_i64().unwrap_or(0) == want
        && d["status"]["replicas"].as_i64().unwrap_or(0) == want
        && d["status"]["availableReplicas"].as_i64().unwrap_or(0) == want
        && condition(&d, "Progressing")["reason"] == "NewReplicaSetAvailable"
}

fn edit(w: &World, res: &'static Resource, ns: &str, name: &str, f: impl FnOnce(&mut Value)) {
    w.shared()
        .store
        .modify::<()>(res, ns, name, |o| {
            f(o);
            Ok(())
        })
        .unwrap();
}

fn replicasets(w: &World, ns: &str, deploy: &str) -> Vec<Arc<Value>> {
    let uid = get(w, kinds::deployments(), ns, deploy)["metadata"]["uid"].clone();
    list(w, kinds::replicasets(), ns)
        .into_iter()
        .filter(|rs| rs["metadata"]["ownerReferences"][0]["uid"] == uid)
        .collect()
}

fn events(w: &World, ns: &str, object: &str, reason: &str) -> Vec<Arc<Value>> {
    list(w, kinds::events(), ns)
        .into_iter()
        .filter(|e| e["involvedObject"]["name"] == object && e["reason"] == reason)
        .collect()
}

fn log_lines(w: &World, ns: &str, pod: &str, container: &str, previous: bool) -> Vec<String> {
    w.shared()
        .logs
        .read(&ContainerKey::new(ns, pod, container), previous)
        .unwrap_or_default()
        .into_iter()
        .map(|(_, l)| l)
        .collect()
}

#[test]
fn healthy_canary_comes_up_ready() {
    let mut w = world("healthy-canary");
    step_until(&mut w, Duration::from_secs(60), |w| {
        rollout_done(w, "shop", "checkout-stable") && rollout_done(w, "shop", "checkout-canary")
    });
    let stable = pods(&w, "shop", "checkout", "stable");
    assert_eq!(stable.len(), 4);
    assert_eq!(pods(&w, "shop", "checkout", "canary").len(), 1);
    for p in &stable {
        assert_eq!(p["status"]["phase"], "Running");
        assert!(ready(p), "{}", name(p));
        assert!(
            p["status"]["podIP"]
                .as_str()
                .unwrap()
                .starts_with("10.244.")
        );
        assert_eq!(p["status"]["containerStatuses"][0]["name"], "checkout");
        assert_eq!(p["status"]["containerStatuses"][0]["ready"], true);
        assert_eq!(p["metadata"]["ownerReferences"][0]["kind"], "ReplicaSet");
        assert_eq!(p["metadata"]["ownerReferences"][0]["controller"], true);
        assert!(
            p["spec"]["nodeName"]
                .as_str()
                .unwrap()
                .starts_with("sim-node-")
        );
    }
    let d = get(&w, kinds::deployments(), "shop", "checkout-stable");
    let status = &d["status"];
    assert_eq!(
        (
            &status["replicas"],
            &status["updatedReplicas"],
            &status["readyReplicas"],
            &status["availableReplicas"]
        ),
        (&json!(4), &json!(4), &json!(4), &json!(4))
    );
    assert_eq!(status["observedGeneration"], 1);
    assert_eq!(
        condition(&d, "Available")["reason"],
        "MinimumReplicasAvailable"
    );
    assert_eq!(
        d["metadata"]["annotations"]["deployment.kubernetes.io/revision"],
        "1"
    );
    let rss = replicasets(&w, "shop", "checkout-stable");
    assert_eq!(rss.len(), 1);
    let hash = label(&rss[0], "pod-template-hash").unwrap();
    assert_eq!(name(&rss[0]), format!("checkout-stable-{hash}"));
    assert_eq!(rss[0]["status"]["readyReplicas"], 4);
    assert!(
        stable
            .iter()
            .all(|p| label(p, "pod-template-hash") == Some(hash))
    );

    let endpoints = get(&w, kinds::endpoints(), "shop", "checkout");
    assert_eq!(
        endpoints["subsets"][0]["addresses"]
            .as_array()
            .unwrap()
            .len(),
        5
    );
    assert_eq!(endpoints["subsets"][0]["ports"][0]["port"], 8080);
    let canary_ep = get(&w, kinds::endpoints(), "shop", "checkout-canary");
    assert_eq!(
        canary_ep["subsets"][0]["addresses"]
            .as_array()
            .unwrap()
            .len(),
        1
    );

    let vs = get(&w, kinds::virtualservices(), "shop", "checkout");
    assert_eq!(
        vs["spec"]["http"][0]["route"][0]["destination"]["subset"],
        "stable"
    );
    assert_eq!(vs["spec"]["http"][0]["route"][1]["weight"], 0);
    let route = get(&w, kinds::httproutes(), "shop", "checkout");
    assert_eq!(
        route["spec"]["rules"][0]["backendRefs"][0]["name"],
        "checkout-stable"
    );
    assert_eq!(route["spec"]["parentRefs"][0]["name"], "mesh-gateway");

    let pod = name(&stable[0]);
    for reason in ["Scheduled", "Pulled", "Created", "Started"] {
        assert_eq!(events(&w, "shop", pod, reason).len(), 1, "{reason}");
    }
    let lines = log_lines(&w, "shop", pod, "checkout", false);
    assert!(
        lines[0].contains("starting checkout 1.4.2 on :8080"),
        "{lines:?}"
    );
    assert!(lines.iter().any(|l| l.contains("ready")), "{lines:?}");
}

/// Waits for the rolling scenario's `api` to be fully up.
fn rolling_up() -> World {
    let mut w = world("rolling");
    step_until(&mut w, Duration::from_secs(60), |w| {
        rollout_done(w, "backend", "api")
    });
    w
}

fn set_image(w: &World, image: &str) {
    edit(w, kinds::deployments(), "backend", "api", |d| {
        d["spec"]["template"]["spec"]["containers"][0]["image"] = json!(image);
    });
}

/// Rolls `api` to completion, checking maxSurge (1) and maxUnavailable (1) of
/// its 4 replicas at every tick.
fn roll_checked(w: &mut World) {
    let mut ticks = 0;
    loop {
        w.step();
        ticks += 1;
        let live: Vec<_> = list(w, kinds::pods(), "backend")
            .into_iter()
            .filter(|p| !terminating(p))
            .collect();
        let available = live.iter().filter(|p| ready(p)).count();
        assert!(
            live.len() <= 5,
            "tick {ticks}: {} pods exceed replicas + maxSurge",
            live.len()
        );
        assert!(available >= 3, "tick {ticks}: only {available} available");
        if rollout_done(w, "backend", "api") {
            break;
        }
        assert!(ticks < 1200, "rollout did not finish");
    }
}

fn revision(o: &Value) -> &str {
    o["metadata"]["annotations"]["deployment.kubernetes.io/revision"]
        .as_str()
        .unwrap_or("")
}

#[test]
fn rolling_update_respects_surge_and_unavailability_then_undo_reuses_the_old_replicaset() {
    let mut w = rolling_up();
    let first = replicasets(&w, "backend", "api");
    assert_eq!(first.len(), 1);
    let old_template = first[0]["spec"]["template"].clone();

    set_image(&w, "registry.local/backend/api:10.5.0");
    roll_checked(&mut w);
    let mut rss = replicasets(&w, "backend", "api");
    rss.sort_by_key(|rs| revision(rs).to_string());
    assert_eq!(rss.len(), 2);
    assert_eq!((revision(&rss[0]), revision(&rss[1])), ("1", "2"));
    assert_eq!(rss[0]["spec"]["replicas"], 0);
    assert_eq!(rss[1]["spec"]["replicas"], 4);
    assert_eq!(
        revision(&get(&w, kinds::deployments(), "backend", "api")),
        "2"
    );
    let scaled: Vec<String> = events(&w, "backend", "api", "ScalingReplicaSet")
        .iter()
        .map(|e| e["message"].as_str().unwrap().to_string())
        .collect();
    assert!(
        scaled
            .iter()
            .any(|m| m == &format!("Scaled down replica set {} from 4 to 3", name(&rss[0]))),
        "{scaled:?}"
    );
    assert!(
        scaled.iter().any(|m| m.starts_with(&format!(
            "Scaled up replica set {} from 0 to",
            name(&rss[1])
        ))),
        "{scaled:?}"
    );

    // `kubectl rollout undo` sends the old ReplicaSet's template back, as a
    // typed client re-encodes it (the hash label dropped, null timestamp added).
    let mut template = old_template;
    template["metadata"]["labels"]
        .as_object_mut()
        .unwrap()
        .remove("pod-template-hash");
    template["metadata"]["creationTimestamp"] = Value::Null;
    edit(&w, kinds::deployments(), "backend", "api", |d| {
        d["spec"]["template"] = template;
    });
    roll_checked(&mut w);
    let rss = replicasets(&w, "backend", "api");
    assert_eq!(rss.len(), 2, "undo must not create a third ReplicaSet");
    let back = rss.iter().find(|rs| name(rs) == name(&first[0])).unwrap();
    assert_eq!(revision(back), "3");
    assert_eq!(
        back["metadata"]["annotations"]["deployment.kubernetes.io/revision-history"],
        "1"
    );
    assert_eq!(back["spec"]["replicas"], 4);
    assert_eq!(
        revision(&get(&w, kinds::deployments(), "backend", "api")),
        "3"
    );
}

#[test]
fn restart_makes_a_new_replicaset_and_history_is_bounded() {
    let mut w = rolling_up();
    edit(&w, kinds::deployments(), "backend", "api", |d| {
        d["spec"]["revisionHistoryLimit"] = json!(2);
    });
    for i in 0..4 {
        edit(&w, kinds::deployments(), "backend", "api", |d| {
            d["spec"]["template"]["metadata"]["annotations"] =
                json!({"kubectl.kubernetes.io/restartedAt": format!("2026-03-01T09:0{i}:00Z")});
        });
        roll_checked(&mut w);
    }
    // Old ReplicaSets are cleaned up once the rollout has completed.
    w.step_for(Duration::from_secs(1));
    let mut revisions: Vec<String> = replicasets(&w, "backend", "api")
        .iter()
        .map(|rs| revision(rs).to_string())
        .collect();
    revisions.sort();
    // The current ReplicaSet plus at most two old ones.
    assert_eq!(revisions, ["3", "4", "5"]);
}

#[test]
fn paused_deployment_holds_then_resumes() {
    let mut w = rolling_up();
    edit(&w, kinds::deployments(), "backend", "api", |d| {
        d["spec"]["paused"] = json!(true);
    });
    set_image(&w, "registry.local/backend/api:10.5.0");
    w.step_for(Duration::from_secs(30));
    let d = get(&w, kinds::deployments(), "backend", "api");
    assert_eq!(condition(&d, "Progressing")["reason"], "DeploymentPaused");
    assert_eq!(condition(&d, "Progressing")["status"], "Unknown");
    assert_eq!(
        d["status"]["observedGeneration"],
        d["metadata"]["generation"]
    );
    assert_eq!(
        replicasets(&w, "backend", "api").len(),
        1,
        "a paused Deployment makes no new ReplicaSet"
    );

    edit(&w, kinds::deployments(), "backend", "api", |d| {
        d["spec"]["paused"] = json!(false);
    });
    w.step();
    let d = get(&w, kinds::deployments(), "backend", "api");
    assert_eq!(replicasets(&w, "backend", "api").len(), 2);
    let reason = condition(&d, "Progressing")["reason"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(
        ["DeploymentResumed", "NewReplicaSetCreated"].contains(&reason.as_str()),
        "{reason}"
    );
    roll_checked(&mut w);
}

const MISSING_IMAGE: &str = r#"
name = "missing"
[cluster]
namespaces = ["shop"]
[[apps]]
name = "cart"
namespace = "shop"
strategy = "canary"
routers = ["smi", "nginx"]
[[apps.versions]]
name = "stable"
image = "registry.local/shop/cart:2.0.0"
replicas = 2
weight = 90
[[apps.versions]]
name = "canary"
image = "registry.local/shop/cart:2.1.0-typo"
replicas = 1
weight = 10
missing_image = true
"#;

#[test]
fn missing_image_backs_off_and_the_rollout_times_out() {
    let mut w = world_from(MISSING_IMAGE);
    let mut reasons = Vec::new();
    step_until(&mut w, Duration::from_secs(700), |w| {
        if let Some(p) = pods(w, "shop", "cart", "canary").first()
            && let Some(r) =
                p["status"]["containerStatuses"][0]["state"]["waiting"]["reason"].as_str()
            && reasons.last().map(String::as_str) != Some(r)
        {
            reasons.push(r.to_string());
        }
        condition(
            &get(w, kinds::deployments(), "shop", "cart-canary"),
            "Progressing",
        )["reason"]
            == "ProgressDeadlineExceeded"
    });
    assert!(
        reasons.starts_with(&[
            "ContainerCreating".to_string(),
            "ErrImagePull".into(),
            "ImagePullBackOff".into()
        ]),
        "{reasons:?}"
    );
    let d = get(&w, kinds::deployments(), "shop", "cart-canary");
    assert_eq!(condition(&d, "Progressing")["status"], "False");
    assert_eq!(condition(&d, "Available")["status"], "False");
    assert!(rollout_done(&w, "shop", "cart-stable"));
    let pod = pods(&w, "shop", "cart", "canary")[0].clone();
    assert_eq!(pod["status"]["phase"], "Pending");
    let backoff = events(&w, "shop", name(&pod), "BackOff");
    assert_eq!(backoff.len(), 1);
    assert!(backoff[0]["count"].as_i64().unwrap() > 2);
    assert_eq!(backoff[0]["type"], "Normal");
    assert!(
        events(&w, "shop", name(&pod), "Failed")
            .iter()
            .any(|e| e["message"] == "Error: ImagePullBackOff")
    );

    let split = get(&w, kinds::trafficsplits(), "shop", "cart");
    assert_eq!(
        split["spec"]["backends"][1],
        json!({"service": "cart-canary", "weight": 10})
    );
    let canary_ingress = get(&w, kinds::ingresses(), "shop", "cart-canary");
    assert_eq!(
        canary_ingress["metadata"]["annotations"]["nginx.ingress.kubernetes.io/canary-weight"],
        "10"
    );
}

#[test]
fn crashloop_backs_off_longer_each_time() {
    let mut w = world("crashloop");
    let mut restarts_at: Vec<(i64, Duration)> = Vec::new();
    let mut saw_backoff_state = false;
    step_until(&mut w, Duration::from_secs(400), |w| {
        let Some(p) = pods(w, "payments", "ledger", "canary").first().cloned() else {
            return false;
        };
        let cs = &p["status"]["containerStatuses"][0];
        saw_backoff_state |= cs["state"]["waiting"]["reason"] == "CrashLoopBackOff";
        let count = cs["restartCount"].as_i64().unwrap_or(0);
        if count > restarts_at.last().map_or(0, |r| r.0) {
            restarts_at.push((count, w.since_start()));
        }
        count >= 5
    });
    assert!(saw_backoff_state);
    let gaps: Vec<Duration> = restarts_at
        .windows(2)
        .map(|p| p[1].1.checked_sub(p[0].1).unwrap())
        .collect();
    assert!(
        gaps.windows(2).all(|g| g[1] > g[0]),
        "back-off should grow: {gaps:?}"
    );
    let pod = pods(&w, "payments", "ledger", "canary")[0].clone();
    let last = &pod["status"]["containerStatuses"][0]["lastState"]["terminated"];
    assert_eq!(last["exitCode"], 1);
    assert_eq!(last["reason"], "Error");
    assert!(!ready(&pod));
    let backoff = events(&w, "payments", name(&pod), "BackOff");
    assert_eq!(backoff.len(), 1);
    assert!(
        backoff[0]["message"]
            .as_str()
            .unwrap()
            .starts_with("Back-off restarting failed container ledger")
    );
    assert!(backoff[0]["count"].as_i64().unwrap() >= 3);
    assert_eq!(backoff[0]["type"], "Warning");
    let previous = log_lines(&w, "payments", name(&pod), "ledger", true);
    assert!(
        previous.iter().any(|l| l.contains("fatal config error")),
        "{previous:?}"
    );
    let d = get(&w, kinds::deployments(), "payments", "ledger-canary");
    assert_eq!(d["status"]["unavailableReplicas"], 1);
}

#[test]
fn memory_leak_ends_in_oom_kill() {
    let mut w = world("memory-leak");
    step_until(&mut w, Duration::from_secs(30 * 60), |w| {
        pods(w, "shop", "catalog", "canary")
            .first()
            .is_some_and(|p| {
                p["status"]["containerStatuses"][0]["restartCount"].as_i64() >= Some(1)
            })
    });
    let pod = pods(&w, "shop", "catalog", "canary")[0].clone();
    let last = &pod["status"]["containerStatuses"][0]["lastState"]["terminated"];
    assert_eq!(last["reason"], "OOMKilled");
    assert_eq!(last["exitCode"], 137);
    let previous = log_lines(&w, "shop", name(&pod), "catalog", true);
    assert!(
        previous.iter().any(|l| l.contains("of 512Mi limit")),
        "{previous:?}"
    );
    // The stable version does not leak.
    for p in pods(&w, "shop", "catalog", "stable") {
        assert_eq!(p["status"]["containerStatuses"][0]["restartCount"], 0);
    }
}

#[test]
fn scaling_up_and_down() {
    let mut w = world("healthy-canary");
    step_until(&mut w, Duration::from_secs(60), |w| {
        rollout_done(w, "shop", "checkout-stable")
    });
    edit(&w, kinds::deployments(), "shop", "checkout-stable", |d| {
        d["spec"]["replicas"] = json!(7);
    });
    step_until(&mut w, Duration::from_secs(60), |w| {
        rollout_done(w, "shop", "checkout-stable")
    });
    assert_eq!(
        pods(&w, "shop", "checkout", "stable")
            .iter()
            .filter(|p| ready(p))
            .count(),
        7
    );
    edit(&w, kinds::deployments(), "shop", "checkout-stable", |d| {
        d["spec"]["replicas"] = json!(2);
    });
    step_until(&mut w, Duration::from_secs(60), |w| {
        rollout_done(w, "shop", "checkout-stable")
            && list(w, kinds::pods(), "shop")
                .iter()
                .filter(|p| label(p, "version") == Some("stable"))
                .count()
                == 2
    });
    let rs = &replicasets(&w, "shop", "checkout-stable")[0];
    let scaled: Vec<String> = events(&w, "shop", "checkout-stable", "ScalingReplicaSet")
        .iter()
        .map(|e| e["message"].as_str().unwrap().to_string())
        .collect();
    assert!(
        scaled.contains(&format!("Scaled up replica set {} from 4 to 7", name(rs))),
        "{scaled:?}"
    );
    assert!(
        scaled.contains(&format!("Scaled down replica set {} from 7 to 2", name(rs))),
        "{scaled:?}"
    );
    assert_eq!(
        rs["metadata"]["annotations"]["deployment.kubernetes.io/desired-replicas"],
        "2"
    );
    assert_eq!(events(&w, "shop", name(rs), "SuccessfulDelete").len(), 5);
    let killed: Vec<_> = list(&w, kinds::events(), "shop")
        .into_iter()
        .filter(|e| e["reason"] == "Killing")
        .collect();
    assert_eq!(killed.len(), 5);
    assert_eq!(
        get(&w, kinds::endpoints(), "shop", "checkout-stable")["subsets"][0]["addresses"]
            .as_array()
            .unwrap()
            .len(),
        2
    );
}

#[test]
fn terminating_pods_drain_and_log_it() {
    let mut w = world("healthy-canary");
    step_until(&mut w, Duration::from_secs(60), |w| {
        rollout_done(w, "shop", "checkout-canary")
    });
    let pod = pods(&w, "shop", "checkout", "canary")[0].clone();
    let key = ContainerKey::new("shop", name(&pod), "checkout");
    let mut feed = w.shared().logs.follow(&key).live;
    edit(&w, kinds::deployments(), "shop", "checkout-canary", |d| {
        d["spec"]["replicas"] = json!(0);
    });
    w.step();
    let p = get(&w, kinds::pods(), "shop", name(&pod));
    assert!(terminating(&p), "the pod shows Terminating first");
    w.step_for(Duration::from_secs(3));
    assert!(
        w.shared()
            .store
            .get(kinds::pods(), "shop", name(&pod))
            .is_none()
    );
    let mut said = Vec::new();
    while let Ok(line) = feed.try_recv() {
        said.push(line.text.clone());
    }
    assert!(
        said.iter()
            .any(|l| l.contains("received SIGTERM, draining")),
        "{said:?}"
    );
    assert!(
        said.last().unwrap().contains("shutdown complete"),
        "{said:?}"
    );
}

#[test]
fn crash_annotation_crashes_the_pod_now() {
    let mut w = world("healthy-canary");
    step_until(&mut w, Duration::from_secs(60), |w| {
        rollout_done(w, "shop", "checkout-canary")
    });
    let pod = name(&pods(&w, "shop", "checkout", "canary")[0]).to_string();
    edit(&w, kinds::pods(), "shop", &pod, |p| {
        p["metadata"]["annotations"] = json!({"sim.flightdeck.dev/crash": "true"});
    });
    w.step();
    let p = get(&w, kinds::pods(), "shop", &pod);
    assert!(
        p["metadata"]["annotations"]
            .get("sim.flightdeck.dev/crash")
            .is_none()
    );
    assert!(!ready(&p));
    assert_eq!(
        p["status"]["containerStatuses"][0]["state"]["terminated"]["exitCode"],
        2
    );
    w.step_for(Duration::from_secs(2));
    let p = get(&w, kinds::pods(), "shop", &pod);
    assert_eq!(p["status"]["containerStatuses"][0]["restartCount"], 1);
    let previous = log_lines(&w, "shop", &pod, "checkout", true);
    assert!(
        previous.iter().any(|l| l.contains("panic: runtime error")),
        "{previous:?}"
    );
}

#[test]
fn deleting_a_deployment_removes_its_replicasets_and_pods() {
    let mut w = world("blue-green");
    step_until(&mut w, Duration::from_secs(60), |w| {
        rollout_done(w, "frontend", "web-green")
    });
    assert_eq!(
        get(&w, kinds::services(), "frontend", "web")["spec"]["selector"],
        json!({"app": "web", "slot": "blue"})
    );
    assert_eq!(
        get(&w, kinds::services(), "frontend", "web-preview")["spec"]["selector"],
        json!({"app": "web", "slot": "green"})
    );
    let green = pods(&w, "frontend", "web", "green");
    assert_eq!(green.len(), 3);
    w.shared()
        .store
        .delete(kinds::deployments(), "frontend", "web-green")
        .unwrap();
    w.step_for(Duration::from_secs(5));
    let left: Vec<_> = list(&w, kinds::pods(), "frontend")
        .into_iter()
        .filter(|p| label(p, "slot") == Some("green"))
        .collect();
    assert!(left.is_empty());
    assert!(
        list(&w, kinds::replicasets(), "frontend")
            .iter()
            .all(|rs| label(rs, "slot") == Some("blue"))
    );
    assert!(
        w.shared()
            .logs
            .read(
                &ContainerKey::new("frontend", name(&green[0]), "web"),
                false
            )
            .is_none()
    );
    assert!(
        get(&w, kinds::endpoints(), "frontend", "web-preview")
            .get("subsets")
            .is_none()
    );
}

fn fingerprint(w: &World) -> Vec<String> {
    [
        kinds::pods(),
        kinds::replicasets(),
        kinds::deployments(),
        kinds::events(),
        kinds::endpoints(),
    ]
    .iter()
    .flat_map(|r| w.shared().store.list(r, None).0)
    .map(|o| o.to_string())
    .collect()
}

#[test]
fn the_same_seed_gives_the_same_run() {
    let run = |seed: u64| {
        let mut w = World::new(Scenario::load("crashloop").unwrap(), seed, start()).unwrap();
        for _ in 0..600 {
            w.step();
        }
        w
    };
    let (a, b, c) = (run(7), run(7), run(8));
    assert_eq!(fingerprint(&a), fingerprint(&b));
    let names = |w: &World| {
        list(w, kinds::pods(), "payments")
            .iter()
            .map(|p| name(p).to_string())
            .collect::<Vec<_>>()
    };
    assert_eq!(names(&a), names(&b));
    assert_ne!(names(&a), names(&c));
}

#[test]
fn large_scenario_runs_five_thousand_pods_on_a_hundred_nodes() {
    let mut w = world("large");
    assert_eq!(list(&w, kinds::nodes(), "").len(), 100);
    step_until(&mut w, Duration::from_secs(30), |w| {
        let (pods, _) = w.shared().store.list(kinds::pods(), Some("fleet"));
        pods.len() == 5000 && pods.iter().all(|p| ready(p))
    });
    let (pods, _) = w.shared().store.list(kinds::pods(), Some("fleet"));
    let mut per_node = std::collections::BTreeMap::<String, usize>::new();
    for p in &pods {
        *per_node
            .entry(p["spec"]["nodeName"].as_str().unwrap().to_string())
            .or_default() += 1;
    }
    assert_eq!(per_node.len(), 100);
    assert!(per_node.values().all(|n| *n == 50), "spread unevenly");
    let mut ips: Vec<&str> = pods
        .iter()
        .map(|p| p["status"]["podIP"].as_str().unwrap())
        .collect();
    ips.sort_unstable();
    ips.dedup();
    assert_eq!(ips.len(), 5000, "pod IPs must be unique");
}

const FLAKY: &str = r#"
name = "flaky"
[cluster]
namespaces = ["ops"]
nodes = 1
[[apps]]
name = "worker"
namespace = "ops"
strategy = "rolling"
log_format = "json"
[[apps.versions]]
name = "stable"
image = "registry.local/ops/worker:3.1.0"
replicas = 1
ready_after = "22s"
[apps.versions.behaviour]
crashes_per_hour = 6.0
"#;

#[test]
fn slow_readiness_is_reported_then_random_crashes_restart_the_container() {
    let mut w = world_from(FLAKY);
    step_until(&mut w, Duration::from_secs(30), |w| {
        pods(w, "ops", "worker", "stable")
            .first()
            .is_some_and(|p| ready(p))
    });
    let pod = name(&pods(&w, "ops", "worker", "stable")[0]).to_string();
    let unhealthy = events(&w, "ops", &pod, "Unhealthy");
    assert_eq!(unhealthy.len(), 1);
    assert_eq!(
        unhealthy[0]["message"],
        "Readiness probe failed: HTTP probe failed with statuscode: 503"
    );
    assert_eq!(
        unhealthy[0]["count"], 4,
        "probes at 5, 10, 15 and 20 s fail"
    );
    let lines = log_lines(&w, "ops", &pod, "worker", false);
    let first: Value = serde_json::from_str(&lines[0]).unwrap();
    assert_eq!(first["msg"], "starting worker 3.1.0 on :8080");
    assert_eq!(first["level"], "info");

    // One crash every ten minutes on average: within an hour there is one.
    step_until(&mut w, Duration::from_secs(3600), |w| {
        get(w, kinds::pods(), "ops", &pod)["status"]["containerStatuses"][0]["restartCount"]
            .as_i64()
            >= Some(1)
    });
    let p = get(&w, kinds::pods(), "ops", &pod);
    let last = &p["status"]["containerStatuses"][0]["lastState"]["terminated"];
    assert_eq!(
        (last["exitCode"].as_i64(), last["reason"].as_str()),
        (Some(2), Some("Error"))
    );
    let previous = log_lines(&w, "ops", &pod, "worker", true);
    let panic: Value = serde_json::from_str(previous.last().unwrap()).unwrap();
    assert!(
        panic["msg"]
            .as_str()
            .unwrap()
            .starts_with("panic: runtime error"),
        "{panic}"
    );
    assert!(panic["stack"].as_array().is_some_and(|s| s.len() >= 3));
}

#[test]
fn recreate_stops_every_old_pod_before_starting_new_ones() {
    let mut w = rolling_up();
    edit(&w, kinds::deployments(), "backend", "api", |d| {
        d["spec"]["strategy"] = json!({"type": "Recreate"});
    });
    set_image(&w, "registry.local/backend/api:10.5.0");
    let image_of = |p: &Value| {
        p["spec"]["containers"][0]["image"]
            .as_str()
            .unwrap()
            .to_string()
    };
    let mut ticks = 0;
    while !rollout_done(&w, "backend", "api") {
        w.step();
        ticks += 1;
        assert!(ticks < 600, "recreate did not finish");
        let all = list(&w, kinds::pods(), "backend");
        let images: std::collections::BTreeSet<String> = all.iter().map(|p| image_of(p)).collect();
        assert!(
            images.len() <= 1,
            "tick {ticks}: old and new pods together: {images:?}"
        );
    }
    let rss = replicasets(&w, "backend", "api");
    assert_eq!(rss.len(), 2);
    assert!(
        list(&w, kinds::pods(), "backend")
            .iter()
            .all(|p| image_of(p).ends_with(":10.5.0"))
    );
}

#[test]
fn switching_the_active_slot_moves_the_endpoints() {
    let mut w = world("blue-green");
    step_until(&mut w, Duration::from_secs(60), |w| {
        rollout_done(w, "frontend", "web-blue") && rollout_done(w, "frontend", "web-green")
    });
    let ips = |w: &World, slot: &str| -> Vec<String> {
        let mut ips: Vec<String> = pods(w, "frontend", "web", slot)
            .iter()
            .map(|p| p["status"]["podIP"].as_str().unwrap().to_string())
            .collect();
        ips.sort();
        ips
    };
    let endpoint_ips = |w: &World| -> Vec<String> {
        get(w, kinds::endpoints(), "frontend", "web")["subsets"][0]["addresses"]
            .as_array()
            .unwrap()
            .iter()
            .map(|a| a["ip"].as_str().unwrap().to_string())
            .collect()
    };
    assert_eq!(endpoint_ips(&w), ips(&w, "blue"));
    edit(&w, kinds::services(), "frontend", "web", |s| {
        s["spec"]["selector"]["slot"] = json!("green");
    });
    w.step();
    assert_eq!(endpoint_ips(&w), ips(&w, "green"));
    let address = &get(&w, kinds::endpoints(), "frontend", "web")["subsets"][0]["addresses"][0];
    assert_eq!(address["targetRef"]["kind"], "Pod");
    assert!(
        address["targetRef"]["name"]
            .as_str()
            .unwrap()
            .starts_with("web-green-")
    );
}

#[test]
fn scaling_in_the_middle_of_a_rollout_spreads_over_both_replicasets() {
    let mut w = rolling_up();
    set_image(&w, "registry.local/backend/api:10.5.0");
    step_until(&mut w, Duration::from_secs(30), |w| {
        replicasets(w, "backend", "api")
            .iter()
            .filter(|rs| rs["spec"]["replicas"].as_i64() > Some(0))
            .count()
            == 2
    });
    edit(&w, kinds::deployments(), "backend", "api", |d| {
        d["spec"]["replicas"] = json!(8);
    });
    w.step();
    let sizes: Vec<i64> = replicasets(&w, "backend", "api")
        .iter()
        .map(|rs| rs["spec"]["replicas"].as_i64().unwrap())
        .collect();
    assert!(
        sizes.iter().all(|n| *n > 0),
        "both ReplicaSets keep pods: {sizes:?}"
    );
    assert!(
        sizes.iter().sum::<i64>() <= 10,
        "8 replicas + 25% surge: {sizes:?}"
    );
    let mut ticks = 0;
    while !rollout_done(&w, "backend", "api") {
        w.step();
        ticks += 1;
        assert!(ticks < 1200, "rollout did not finish");
        let live = list(&w, kinds::pods(), "backend")
            .into_iter()
            .filter(|p| !terminating(p))
            .count();
        assert!(live <= 10, "tick {ticks}: {live} pods");
    }
    let new = replicasets(&w, "backend", "api")
        .into_iter()
        .find(|rs| revision(rs) == "2")
        .unwrap();
    assert_eq!(new["spec"]["replicas"], 8);
}

#[test]
fn malformed_objects_from_clients_do_not_stop_the_world() {
    let mut w = world("rolling");
    let store = w.shared().store;
    store
        .create(
            kinds::deployments(),
            "backend",
            json!({"metadata": {"name": "odd", "annotations": "not-a-map"},
                   "spec": {"replicas": "three", "selector": "x",
                            "template": {"metadata": {"labels": "x"}, "spec": "y"}}}),
        )
        .unwrap();
    store
        .create(
            kinds::services(),
            "backend",
            json!({"metadata": {"name": "odd"}, "spec": {"selector": "nope"}}),
        )
        .unwrap();
    store
        .create(
            kinds::pods(),
            "backend",
            json!({"metadata": {"name": "stray", "labels": ["a"]}, "spec": 5}),
        )
        .unwrap();
    step_until(&mut w, Duration::from_secs(60), |w| {
        rollout_done(w, "backend", "api")
    });
    // The malformed Deployment is left alone, as the API server would have
    // refused it; the pod with no containers runs nothing.
    assert!(replicasets(&w, "backend", "odd").is_empty());
    assert_eq!(pods(&w, "backend", "api", "stable").len(), 4);
}

#[test]
fn min_ready_seconds_delays_availability() {
    let mut w = rolling_up();
    edit(&w, kinds::deployments(), "backend", "api", |d| {
        d["spec"]["minReadySeconds"] = json!(10);
        d["spec"]["template"]["spec"]["containers"][0]["image"] =
            json!("registry.local/backend/api:10.5.0");
    });
    let mut first_ready = None;
    let mut first_available = None;
    step_until(&mut w, Duration::from_secs(300), |w| {
        let new = replicasets(w, "backend", "api")
            .into_iter()
            .find(|rs| revision(rs) == "2");
        if let Some(rs) = new {
            if first_ready.is_none() && rs["status"]["readyReplicas"].as_i64() > Some(0) {
                first_ready = Some(w.since_start());
            }
            if first_available.is_none() && rs["status"]["availableReplicas"].as_i64() > Some(0) {
                first_available = Some(w.since_start());
            }
            assert_eq!(rs["spec"]["minReadySeconds"], 10);
        }
        rollout_done(w, "backend", "api")
    });
    let waited = first_available
        .unwrap()
        .checked_sub(first_ready.unwrap())
        .unwrap();
    assert!(
        waited >= Duration::from_secs(9),
        "available after {waited:?} of readiness"
    );
}

const CROWDED: &str = r#"
name = "crowded"
[cluster]
namespaces = ["batch"]
nodes = 1
[[apps]]
name = "job"
namespace = "batch"
strategy = "rolling"
[[apps.versions]]
name = "stable"
image = "registry.local/batch/job:1.0.0"
replicas = 112
ready_after = "1s"
"#;

#[test]
fn a_full_node_leaves_pods_pending_until_room_appears() {
    let mut w = world_from(CROWDED);
    w.step_for(Duration::from_secs(10));
    let all = pods(&w, "batch", "job", "stable");
    let pending: Vec<_> = all
        .iter()
        .filter(|p| p["spec"].get("nodeName").is_none())
        .collect();
    assert_eq!(
        (all.len(), pending.len()),
        (112, 2),
        "110 pods fit on the node"
    );
    let scheduled = &pending[0]["status"]["conditions"][0];
    assert_eq!(
        (&scheduled["status"], &scheduled["reason"]),
        (&json!("False"), &json!("Unschedulable"))
    );
    let failed = events(&w, "batch", name(pending[0]), "FailedScheduling");
    assert!(
        failed[0]["message"]
            .as_str()
            .unwrap()
            .starts_with("0/1 nodes are available: 1 Too many pods.")
    );

    // The node grows: the pending pods are tried again and fit.
    edit(&w, kinds::nodes(), "", "sim-node-1", |n| {
        n["status"]["allocatable"]["pods"] = json!("120");
    });
    step_until(&mut w, Duration::from_secs(30), |w| {
        rollout_done(w, "batch", "job")
    });
    assert!(pods(&w, "batch", "job", "stable").iter().all(|p| ready(p)));
}
