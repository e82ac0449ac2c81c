//! The sim's Argo Rollouts controller, stepped on the sim clock: what the
//! cluster holds after it has acted on the writes `kubectl argo rollouts` sends.
#![allow(clippy::unwrap_used)]

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, TimeZone, Utc};
use serde_json::{Value, json};

use flightdeck::sim::resources::{Resource, kinds};
use flightdeck::sim::traffic::{Traffic, TrafficHandle};
use flightdeck::sim::{Controller, Scenario, TickCtx, World};

fn start() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 3, 1, 9, 0, 0).unwrap()
}

fn world() -> World {
    World::new(Scenario::load("argo-canary").unwrap(), 42, start()).unwrap()
}

fn get(w: &World, res: &Resource, name: &str) -> Arc<Value> {
    w.shared().store.get(res, "shop", name).unwrap()
}

fn rollout(w: &World) -> Arc<Value> {
    get(w, kinds::rollouts(), "checkout")
}

/// The VirtualService's (stable, canary) weights.
fn vs_weights(w: &World) -> (i64, i64) {
    let vs = get(w, kinds::virtualservices(), "checkout");
    let route = vs["spec"]["http"][0]["route"].as_array().unwrap().clone();
    let of = |subset: &str| {
        route
            .iter()
            .find(|r| r["destination"]["subset"] == subset)
            .unwrap()["weight"]
            .as_i64()
            .unwrap()
    };
    (of("stable"), of("canary"))
}

/// ReplicaSets of the Rollout as (pod hash, spec replicas, ready).
fn replicasets(w: &World) -> Vec<(String, i64, i64)> {
    let ro = rollout(w);
    let uid = ro["metadata"]["uid"].as_str().unwrap();
    w.shared()
        .store
        .dependents(kinds::replicasets(), uid)
        .iter()
        .map(|rs| {
            (
                rs["metadata"]["labels"]["rollouts-pod-template-hash"]
                    .as_str()
                    .unwrap()
                    .to_string(),
                rs["spec"]["replicas"].as_i64().unwrap(),
                rs["status"]["readyReplicas"].as_i64().unwrap_or(0),
            )
        })
        .collect()
}

fn step_until(w: &mut World, limit: Duration, what: &str, mut done: impl FnMut(&World) -> bool) {
    let mut waited = Duration::ZERO;
    while !done(w) {
        assert!(
            waited < limit,
            "{what} not reached in {limit:?}: {}",
            rollout(w)["status"]
        );
        w.step_for(Duration::from_secs(1));
        waited += Duration::from_secs(1);
    }
}

fn step_index(w: &World) -> i64 {
    rollout(w)["status"]["currentStepIndex"].as_i64().unwrap()
}

/// What `kubectl argo rollouts` sends, through the store as the API server applies it.
fn patch_status(w: &World, body: &Value) {
    w.shared()
        .store
        .modify::<()>(kinds::rollouts(), "shop", "checkout", |o| {
            json_patch::merge(&mut o["status"], body);
            Ok(())
        })
        .unwrap();
}

fn paused_at_first_pause(w: &mut World) {
    step_until(w, Duration::from_secs(60), "the indefinite pause", |w| {
        rollout(w)["status"]["phase"] == "Paused"
    });
}

#[test]
fn a_canary_walks_to_its_first_pause_and_holds_there() {
    let mut w = world();
    paused_at_first_pause(&mut w);
    let ro = rollout(&w);
    let st = &ro["status"];
    assert_eq!(st["currentStepIndex"], 1);
    assert_eq!(st["message"], "CanaryPauseStep");
    assert_eq!(st["controllerPause"], true);
    assert_eq!(st["pauseConditions"][0]["reason"], "CanaryPauseStep");
    assert!(st["pauseConditions"][0]["startTime"].is_string());
    assert_eq!(st["observedGeneration"], "1");
    assert_ne!(st["currentPodHash"], st["stableRS"]);
    assert_eq!(st["canary"]["weights"]["canary"]["weight"], 20);
    assert_eq!(st["canary"]["weights"]["stable"]["weight"], 80);
    assert_eq!(vs_weights(&w), (80, 20));
    let canary_hash = st["currentPodHash"].as_str().unwrap().to_string();
    let dr = get(&w, kinds::destinationrules(), "checkout");
    let pinned =
        |i: usize| dr["spec"]["subsets"][i]["labels"]["rollouts-pod-template-hash"].clone();
    assert_eq!(
        (pinned(0), pinned(1)),
        (st["stableRS"].clone(), json!(canary_hash))
    );
    let rs = replicasets(&w);
    assert!(rs.contains(&(canary_hash.clone(), 1, 1)), "{rs:?}");
    // An indefinite pause stays a pause, and the controller writes nothing
    // while it waits.
    w.step_for(Duration::from_secs(10));
    let rv = rollout(&w)["metadata"]["resourceVersion"].clone();
    w.step_for(Duration::from_secs(120));
    assert_eq!(step_index(&w), 1);
    assert_eq!(rollout(&w)["status"]["phase"], "Paused");
    assert_eq!(rollout(&w)["metadata"]["resourceVersion"], rv);
    // The canary's pods are labelled with its hash and run its image.
    let pods = w.shared().store.list(kinds::pods(), Some("shop")).0;
    let canary_pods: Vec<_> = pods
        .iter()
        .filter(|p| p["metadata"]["labels"]["rollouts-pod-template-hash"] == canary_hash.as_str())
        .collect();
    assert_eq!(canary_pods.len(), 1);
    assert_eq!(
        canary_pods[0]["spec"]["containers"][0]["image"],
        "registry.local/shop/checkout:1.5.0"
    );
}

#[test]
fn promote_clears_the_pause_and_a_timed_pause_ends_on_its_own() {
    let mut w = world();
    paused_at_first_pause(&mut w);
    // `kubectl argo rollouts promote`: the pause conditions cleared.
    patch_status(&w, &json!({"pauseConditions": null}));
    step_until(&mut w, Duration::from_secs(60), "step 3 (pause 30s)", |w| {
        step_index(w) == 3 && rollout(w)["status"]["phase"] == "Paused"
    });
    assert_eq!(vs_weights(&w), (60, 40));
    let started = rollout(&w)["status"]["pauseConditions"][0]["startTime"]
        .as_str()
        .unwrap()
        .parse::<DateTime<Utc>>()
        .unwrap();
    // The 30 s pause ends by itself and the analysis step starts.
    step_until(&mut w, Duration::from_secs(40), "step 4 (analysis)", |w| {
        step_index(w) == 4
    });
    let held = w.shared().store.now() - started;
    assert!(
        held >= chrono::Duration::seconds(30) && held <= chrono::Duration::seconds(32),
        "{held}"
    );
    let run_name = rollout(&w)["status"]["canary"]["currentStepAnalysisRunStatus"]["name"]
        .as_str()
        .unwrap()
        .to_string();
    // A healthy canary passes its three measurements and the walk goes on.
    step_until(&mut w, Duration::from_secs(60), "analysis passed", |w| {
        step_index(w) >= 5
    });
    let run = get(&w, kinds::analysisruns(), &run_name);
    assert_eq!(run["status"]["phase"], "Successful");
    assert_eq!(run["status"]["metricResults"][0]["count"], 3);
    // The Rollout's arg value is set and substituted into the query.
    assert_eq!(
        run["spec"]["args"][0],
        json!({"name": "app", "value": "checkout"})
    );
    let query = run["spec"]["metrics"][0]["provider"]["prometheus"]["query"]
        .as_str()
        .unwrap();
    assert!(
        query.contains("app=\"checkout\",version=\"canary\""),
        "{query}"
    );
    assert!(!query.contains("{{"), "{query}");
    // To the end: the canary becomes stable, all traffic on it.
    step_until(&mut w, Duration::from_secs(200), "healthy", |w| {
        rollout(w)["status"]["phase"] == "Healthy"
    });
    let st = rollout(&w)["status"].clone();
    assert_eq!(st["stableRS"], st["currentPodHash"]);
    assert_eq!(st["currentStepIndex"], 9);
    assert_eq!(vs_weights(&w), (100, 0));
    let stable = st["stableRS"].as_str().unwrap();
    let rs = replicasets(&w);
    assert!(rs.contains(&(stable.to_string(), 5, 5)), "{rs:?}");
    assert!(
        rs.iter().filter(|r| r.0 != stable).all(|r| r.1 == 0),
        "{rs:?}"
    );
}

#[test]
fn abort_sends_all_traffic_to_stable_and_retry_starts_over() {
    let mut w = world();
    paused_at_first_pause(&mut w);
    patch_status(&w, &json!({"abort": true}));
    step_until(&mut w, Duration::from_secs(30), "degraded", |w| {
        rollout(w)["status"]["phase"] == "Degraded"
    });
    let st = rollout(&w)["status"].clone();
    assert!(
        st["message"]
            .as_str()
            .unwrap()
            .starts_with("RolloutAborted: Rollout aborted update to revision 2"),
        "{st}"
    );
    assert_eq!(st["abort"], true);
    assert_eq!(st["currentStepIndex"], 0);
    assert_eq!(st["canary"]["weights"]["canary"]["weight"], 0);
    assert_eq!(vs_weights(&w), (100, 0));
    let canary = st["currentPodHash"].as_str().unwrap();
    let rs = replicasets(&w);
    assert!(rs.iter().any(|r| r.0 == canary && r.1 == 0), "{rs:?}");
    assert!(rs.iter().any(|r| r.0 != canary && r.1 == 5), "{rs:?}");
    // Retry (`status.abort: false`) walks the steps again from the first.
    patch_status(&w, &json!({"abort": false}));
    paused_at_first_pause(&mut w);
    assert_eq!(step_index(&w), 1);
    assert_eq!(vs_weights(&w), (80, 20));
}

/// The traffic model ticking with the controllers, as the sim host runs it.
struct Serving(Traffic);

impl Controller for Serving {
    fn tick(&mut self, ctx: &mut TickCtx<'_>) {
        self.0
            .tick(ctx.shared, ctx.now, ctx.since_start, ctx.dt, ctx.rng);
    }
}

fn serving(w: &mut World) -> Arc<TrafficHandle> {
    let traffic = Traffic::new(&w.shared());
    let handle = traffic.handle();
    w.add_controller(Box::new(Serving(traffic)));
    handle
}

/// Requests served so far by the pods carrying a pod-template hash.
fn served_by_hash(handle: &TrafficHandle, hash: &str) -> u64 {
    handle
        .pods()
        .values()
        .filter(|p| {
            p.view
                .labels
                .get("rollouts-pod-template-hash")
                .is_some_and(|h| h == hash)
        })
        .map(|p| p.counters.total())
        .sum()
}

#[test]
fn traffic_follows_the_subsets_argo_pins_through_a_promotion() {
    let mut w = world();
    let handle = serving(&mut w);
    paused_at_first_pause(&mut w);
    let st = rollout(&w)["status"].clone();
    let (stable, canary) = (
        st["stableRS"].as_str().unwrap().to_string(),
        st["currentPodHash"].as_str().unwrap().to_string(),
    );
    let before = (
        served_by_hash(&handle, &stable),
        served_by_hash(&handle, &canary),
    );
    w.step_for(Duration::from_secs(30));
    let during = (
        served_by_hash(&handle, &stable) - before.0,
        served_by_hash(&handle, &canary) - before.1,
    );
    // 120 rps for 30 s, 20% through the canary subset's one pod.
    let canary_share = during.1 as f64 / (during.0 + during.1) as f64;
    assert!(
        (canary_share - 0.2).abs() < 0.04,
        "the canary subset got {canary_share:.3} of {during:?}"
    );
    patch_status(&w, &json!({"promoteFull": true}));
    step_until(&mut w, Duration::from_secs(120), "healthy", |w| {
        rollout(w)["status"]["phase"] == "Healthy"
    });
    // The stable subset is now pinned to the new hash: its pods carry the
    // app, and the old pods are gone.
    let served = served_by_hash(&handle, &canary);
    w.step_for(Duration::from_secs(20));
    let after = served_by_hash(&handle, &canary) - served;
    assert!(
        after > 1500,
        "the promoted pods served {after} requests in 20 s at 120 rps"
    );
}

#[test]
fn promote_full_skips_the_remaining_steps() {
    let mut w = world();
    paused_at_first_pause(&mut w);
    patch_status(&w, &json!({"promoteFull": true}));
    step_until(&mut w, Duration::from_secs(60), "healthy", |w| {
        rollout(w)["status"]["phase"] == "Healthy"
    });
    let st = rollout(&w)["status"].clone();
    assert_eq!(st["stableRS"], st["currentPodHash"]);
    assert!(st.get("promoteFull").is_none(), "{st}");
    assert_eq!(vs_weights(&w), (100, 0));
}

#[test]
fn a_failing_analysis_aborts_the_rollout() {
    let mut w = world();
    paused_at_first_pause(&mut w);
    // The canary starts answering a third of its requests with 5xx.
    w.shared().faults.update(|f| {
        f.error_spikes.push(flightdeck::sim::faults::ErrorSpike {
            namespace: "shop".into(),
            app: "checkout".into(),
            version: "canary".into(),
            error_ratio: 0.3,
        });
    });
    patch_status(&w, &json!({"pauseConditions": null}));
    step_until(&mut w, Duration::from_secs(200), "degraded", |w| {
        rollout(w)["status"]["phase"] == "Degraded"
    });
    let st = rollout(&w)["status"].clone();
    let message = st["message"].as_str().unwrap();
    assert!(
        message
            .contains("Metric \"error-rate\" assessed Failed due to failed (2) > failureLimit (1)"),
        "{message}"
    );
    assert_eq!(st["abort"], true);
    assert_eq!(vs_weights(&w), (100, 0));
    let run = st["canary"]["currentStepAnalysisRunStatus"]["name"]
        .as_str()
        .unwrap();
    let run = get(&w, kinds::analysisruns(), run);
    assert_eq!(run["status"]["phase"], "Failed");
    assert_eq!(
        run["status"]["metricResults"][0]["measurements"][0]["value"],
        "[0.3030]"
    );
}

#[test]
fn a_manual_pause_holds_a_timed_step() {
    let mut w = world();
    paused_at_first_pause(&mut w);
    w.shared()
        .store
        .modify::<()>(kinds::rollouts(), "shop", "checkout", |o| {
            o["spec"]["paused"] = json!(true);
            Ok(())
        })
        .unwrap();
    patch_status(&w, &json!({"pauseConditions": null}));
    w.step_for(Duration::from_secs(60));
    let st = rollout(&w)["status"].clone();
    assert_eq!(st["phase"], "Paused");
    assert_eq!(st["message"], "manually paused");
    assert_eq!(st["currentStepIndex"], 1, "a manual pause holds the step");
    assert_eq!(vs_weights(&w), (80, 20), "and its weight");
    assert_eq!(st["observedGeneration"], "2");
}

fn service_hash(w: &World, ns: &str, name: &str) -> String {
    w.shared().store.get(kinds::services(), ns, name).unwrap()["spec"]["selector"]
        ["rollouts-pod-template-hash"]
        .as_str()
        .unwrap_or("")
        .to_string()
}

#[test]
fn blue_green_waits_behind_the_preview_until_promoted() {
    let mut w = World::new(Scenario::load("argo-blue-green").unwrap(), 42, start()).unwrap();
    let ro = |w: &World| {
        w.shared()
            .store
            .get(kinds::rollouts(), "frontend", "web")
            .unwrap()["status"]
            .clone()
    };
    let mut waited = 0;
    while ro(&w)["phase"] != "Paused" {
        assert!(waited < 60, "{}", ro(&w));
        w.step_for(Duration::from_secs(1));
        waited += 1;
    }
    let st = ro(&w);
    assert_eq!(st["pauseConditions"][0]["reason"], "BlueGreenPause");
    let (stable, green) = (
        st["stableRS"].as_str().unwrap().to_string(),
        st["currentPodHash"].as_str().unwrap().to_string(),
    );
    assert_ne!(stable, green);
    assert_eq!(service_hash(&w, "frontend", "web"), stable);
    assert_eq!(service_hash(&w, "frontend", "web-preview"), green);
    // Promote: the plugin clears the pause conditions.
    w.shared()
        .store
        .modify::<()>(kinds::rollouts(), "frontend", "web", |o| {
            o["status"]["pauseConditions"] = Value::Null;
            Ok(())
        })
        .unwrap();
    w.step_for(Duration::from_secs(5));
    let st = ro(&w);
    assert_eq!(st["stableRS"], green.as_str(), "{st}");
    assert_eq!(service_hash(&w, "frontend", "web"), green);
    assert_eq!(st["blueGreen"]["activeSelector"], green.as_str());
    let old = w
        .shared()
        .store
        .get(kinds::replicasets(), "frontend", &format!("web-{stable}"))
        .unwrap();
    assert_eq!(old["spec"]["replicas"], 0);
}

#[test]
fn undo_to_the_stable_template_goes_straight_back_to_stable() {
    let mut w = world();
    paused_at_first_pause(&mut w);
    let st = rollout(&w)["status"].clone();
    let stable = st["stableRS"].as_str().unwrap().to_string();
    let canary = st["currentPodHash"].as_str().unwrap().to_string();
    // `kubectl argo rollouts undo`: the stable ReplicaSet's template, its
    // hash label removed, written over spec.template.
    let mut template =
        get(&w, kinds::replicasets(), &format!("checkout-{stable}"))["spec"]["template"].clone();
    template["metadata"]["labels"]
        .as_object_mut()
        .unwrap()
        .remove("rollouts-pod-template-hash");
    w.shared()
        .store
        .modify::<()>(kinds::rollouts(), "shop", "checkout", |o| {
            o["spec"]["template"] = template.clone();
            Ok(())
        })
        .unwrap();
    w.step_for(Duration::from_secs(5));
    let st = rollout(&w)["status"].clone();
    assert_eq!(st["currentPodHash"], stable.as_str(), "{st}");
    assert_eq!(st["stableRS"], stable.as_str());
    assert_eq!(st["currentStepIndex"], 9);
    assert_eq!(vs_weights(&w), (100, 0));
    let rs = replicasets(&w);
    assert!(rs.iter().any(|r| r.0 == canary && r.1 == 0), "{rs:?}");
}

#[test]
fn restart_replaces_every_older_pod_one_at_a_time() {
    let mut w = world();
    paused_at_first_pause(&mut w);
    let pods = |w: &World| {
        w.shared()
            .store
            .list(kinds::pods(), Some("shop"))
            .0
            .iter()
            .filter(|p| p["metadata"].get("deletionTimestamp").is_none())
            .map(|p| p["metadata"]["name"].as_str().unwrap().to_string())
            .collect::<Vec<_>>()
    };
    let before = pods(&w);
    assert_eq!(before.len(), 6);
    let at = flightdeck::sim::controllers::timestamp(w.shared().store.now());
    w.shared()
        .store
        .modify::<()>(kinds::rollouts(), "shop", "checkout", |o| {
            o["spec"]["restartAt"] = json!(at);
            Ok(())
        })
        .unwrap();
    let mut most_down = 0;
    step_until(&mut w, Duration::from_secs(300), "restarted", |w| {
        let st = rollout(w)["status"].clone();
        let terminating = w
            .shared()
            .store
            .list(kinds::pods(), Some("shop"))
            .0
            .iter()
            .filter(|p| p["metadata"].get("deletionTimestamp").is_some())
            .count();
        most_down = most_down.max(terminating);
        st["restartedAt"] == at.as_str()
    });
    let after = pods(&w);
    assert_eq!(after.len(), 6);
    assert!(
        after.iter().all(|p| !before.contains(p)),
        "{before:?} {after:?}"
    );
    assert!(most_down <= 1, "{most_down} pods were down at once");
    // The restart left the steps where they were.
    assert_eq!(step_index(&w), 1);
}
