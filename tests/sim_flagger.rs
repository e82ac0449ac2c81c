//! The sim's Flagger controller, stepped on the sim clock: a healthy canary
//! walks its weights and is promoted, a bad one fails its checks and is
//! rolled back, and `skipAnalysis` promotes at once.
#![allow(clippy::unwrap_used)]

use std::sync::Arc;
use std::time::Duration;

use chrono::{TimeZone, Utc};
use serde_json::{Value, json};

use flightdeck::sim::faults::ErrorSpike;
use flightdeck::sim::resources::kinds;
use flightdeck::sim::{Scenario, World};

const STABLE: &str = "registry.local/pay/payments:2.0.1";
const CANARY: &str = "registry.local/pay/payments:2.1.0";

fn world() -> World {
    let start = Utc.with_ymd_and_hms(2026, 3, 1, 9, 0, 0).unwrap();
    World::new(Scenario::load("flagger-canary").unwrap(), 7, start).unwrap()
}

fn canary(w: &World) -> Arc<Value> {
    w.shared()
        .store
        .get(kinds::canaries(), "pay", "payments")
        .unwrap()
}

fn deployment(w: &World, name: &str) -> Arc<Value> {
    w.shared()
        .store
        .get(kinds::deployments(), "pay", name)
        .unwrap()
}

fn image(d: &Value) -> &str {
    d["spec"]["template"]["spec"]["containers"][0]["image"]
        .as_str()
        .unwrap()
}

fn status(w: &World) -> Value {
    canary(w)["status"].clone()
}

fn events(w: &World) -> Vec<String> {
    w.shared()
        .store
        .list(kinds::events(), Some("pay"))
        .0
        .iter()
        .filter(|e| e["involvedObject"]["kind"] == "Canary")
        .map(|e| e["message"].as_str().unwrap().to_string())
        .collect()
}

/// Steps second by second, noting each (phase, weight) the Canary passes.
fn walk(w: &mut World, limit: Duration, until: &str) -> Vec<(String, u64)> {
    let mut seen: Vec<(String, u64)> = Vec::new();
    for _ in 0..limit.as_secs() {
        w.step_for(Duration::from_secs(1));
        let st = status(w);
        let now = (
            st["phase"].as_str().unwrap().to_string(),
            st["canaryWeight"].as_u64().unwrap(),
        );
        if seen.last() != Some(&now) {
            seen.push(now.clone());
        }
        if now.0 == until {
            return seen;
        }
    }
    panic!(
        "{until} not reached in {limit:?}; passed {seen:?}; status {}",
        status(w)
    );
}

#[test]
fn a_healthy_canary_walks_its_weights_and_is_promoted() {
    let mut w = world();
    assert_eq!(image(&deployment(&w, "payments-primary")), STABLE);
    let seen = walk(&mut w, Duration::from_secs(400), "Succeeded");
    let phases: Vec<(&str, u64)> = seen.iter().map(|(p, w)| (p.as_str(), *w)).collect();
    assert_eq!(
        phases,
        [
            ("Progressing", 0),
            ("Progressing", 20),
            ("Progressing", 40),
            ("Progressing", 60),
            ("Promoting", 60),
            ("Finalising", 0),
            ("Succeeded", 0),
        ]
    );
    let st = status(&w);
    assert_eq!(st["failedChecks"], 0);
    assert_eq!(st["conditions"][0]["type"], "Promoted");
    assert_eq!(st["conditions"][0]["status"], "True");
    assert_eq!(st["conditions"][0]["reason"], "Succeeded");
    assert!(st["lastTransitionTime"].is_string());
    assert_eq!(image(&deployment(&w, "payments-primary")), CANARY);
    assert_eq!(deployment(&w, "payments")["spec"]["replicas"], 0);
    let said = events(&w);
    assert!(
        said.iter()
            .any(|m| m == "Advance payments.pay canary weight 40"),
        "{said:?}"
    );
    assert!(
        said.iter()
            .any(|m| m == "Promotion completed! Scaling down payments.pay"),
        "{said:?}"
    );
}

#[test]
fn a_failing_canary_is_rolled_back_at_the_threshold() {
    let mut w = world();
    w.shared().faults.update(|f| {
        f.error_spikes.push(ErrorSpike {
            namespace: "pay".into(),
            app: "payments".into(),
            version: "canary".into(),
            error_ratio: 0.05,
        });
    });
    let seen = walk(&mut w, Duration::from_secs(400), "Failed");
    assert!(seen.iter().all(|(_, weight)| *weight == 0), "{seen:?}");
    let st = status(&w);
    assert_eq!(st["failedChecks"], 3);
    assert_eq!(st["conditions"][0]["status"], "False");
    assert_eq!(st["conditions"][0]["reason"], "Failed");
    assert_eq!(image(&deployment(&w, "payments-primary")), STABLE);
    assert_eq!(deployment(&w, "payments")["spec"]["replicas"], 0);
    let said = events(&w);
    assert!(
        said.iter()
            .any(|m| m == "Halt advancement payments.pay request success rate 94.70% < 99%"),
        "{said:?}"
    );
    assert!(
        said.iter()
            .any(|m| m == "Canary failed! Scaling down payments.pay"),
        "{said:?}"
    );
    // It stays failed: no further checks once rolled back.
    w.step_for(Duration::from_secs(120));
    assert_eq!(status(&w)["phase"], "Failed");
    assert_eq!(status(&w)["failedChecks"], 3);
}

#[test]
fn skip_analysis_promotes_without_checks_and_suspend_holds() {
    let mut w = world();
    walk(&mut w, Duration::from_secs(60), "Progressing");
    let set = |w: &World, spec: Value| {
        w.shared()
            .store
            .modify::<()>(kinds::canaries(), "pay", "payments", |o| {
                json_patch::merge(&mut o["spec"], &spec);
                Ok(())
            })
            .unwrap();
    };
    set(&w, json!({"suspend": true}));
    let before = status(&w);
    w.step_for(Duration::from_secs(120));
    assert_eq!(status(&w), before, "a suspended Canary is left alone");
    set(&w, json!({"suspend": false, "skipAnalysis": true}));
    walk(&mut w, Duration::from_secs(60), "Succeeded");
    assert_eq!(image(&deployment(&w, "payments-primary")), CANARY);
}

#[test]
fn iterations_count_checks_instead_of_moving_weight() {
    let mut w = world();
    w.shared()
        .store
        .modify::<()>(kinds::canaries(), "pay", "payments", |o| {
            o["spec"]["analysis"] = json!({
                "interval": "30s", "threshold": 2, "iterations": 3,
                "metrics": [{"name": "request-success-rate", "thresholdRange": {"min": 99}}],
            });
            Ok(())
        })
        .unwrap();
    let mut most = 0;
    for _ in 0..400 {
        w.step_for(Duration::from_secs(1));
        let st = status(&w);
        assert_eq!(st["canaryWeight"], 0, "{st}");
        most = most.max(st["iterations"].as_u64().unwrap());
        if st["phase"] == "Succeeded" {
            break;
        }
    }
    assert_eq!(status(&w)["phase"], "Succeeded");
    assert_eq!(most, 3);
    assert_eq!(image(&deployment(&w, "payments-primary")), CANARY);
    let said = events(&w);
    assert!(
        said.iter()
            .any(|m| m == "Advance payments.pay canary iteration 2/3"),
        "{said:?}"
    );
}

/// The VirtualService's (primary, canary) weights.
fn vs_weights(w: &World) -> (u64, u64) {
    let vs = w
        .shared()
        .store
        .get(kinds::virtualservices(), "pay", "payments")
        .unwrap();
    let route = vs["spec"]["http"][0]["route"].as_array().unwrap().clone();
    let of = |host: &str| {
        route
            .iter()
            .find(|r| r["destination"]["host"] == host)
            .unwrap()["weight"]
            .as_u64()
            .unwrap()
    };
    (of("payments-primary"), of("payments-canary"))
}

/// Adds the loadtester's gates to the Canary, as its owner would.
fn with_gates(w: &World) {
    w.shared()
        .store
        .modify::<()>(kinds::canaries(), "pay", "payments", |o| {
            o["spec"]["analysis"]["webhooks"] = json!([
                {"name": "approve", "type": "confirm-promotion",
                 "url": "http://flagger-loadtester.pay/gate/check"},
                {"name": "abort", "type": "rollback",
                 "url": "http://flagger-loadtester.pay/rollback/check"},
            ]);
            Ok(())
        })
        .unwrap();
}

/// A gate call as `curl -d '{"name": "payments", "namespace": "pay"}'` makes it.
fn gate(w: &World, path: &str) -> u16 {
    let body = br#"{"name": "payments", "namespace": "pay"}"#;
    w.shared().loadtester.answer(path, body).status
}

#[test]
fn the_virtual_service_carries_each_step_and_ends_all_on_the_primary() {
    let mut w = world();
    assert_eq!(vs_weights(&w), (100, 0));
    walk(&mut w, Duration::from_secs(200), "Progressing");
    let mut seen = vec![vs_weights(&w)];
    for _ in 0..400 {
        w.step_for(Duration::from_secs(1));
        let now = vs_weights(&w);
        assert_eq!(
            now.1,
            match status(&w)["phase"].as_str().unwrap() {
                "Progressing" | "Promoting" => status(&w)["canaryWeight"].as_u64().unwrap(),
                _ => 0,
            }
        );
        if seen.last() != Some(&now) {
            seen.push(now);
        }
        if status(&w)["phase"] == "Succeeded" {
            break;
        }
    }
    assert_eq!(seen, [(100, 0), (80, 20), (60, 40), (40, 60), (100, 0)]);
    // Behind the mesh the canary ran at full size, then went to zero.
    assert_eq!(deployment(&w, "payments")["spec"]["replicas"], 0);
}

#[test]
fn a_closed_promotion_gate_holds_and_opening_it_lets_the_promotion_go() {
    let mut w = world();
    with_gates(&w);
    walk(&mut w, Duration::from_secs(400), "WaitingPromotion");
    assert_eq!(status(&w)["canaryWeight"], 60);
    w.step_for(Duration::from_secs(180));
    assert_eq!(status(&w)["phase"], "WaitingPromotion");
    assert_eq!(vs_weights(&w), (40, 60));
    assert_eq!(image(&deployment(&w, "payments-primary")), STABLE);
    let halts = events(&w)
        .iter()
        .filter(|m| *m == "Halt payments.pay advancement waiting for promotion approval approve")
        .count();
    assert_eq!(halts, 1, "{:?}", events(&w));
    assert_eq!(gate(&w, "/gate/check"), 403);
    assert_eq!(gate(&w, "/gate/open"), 202);
    walk(&mut w, Duration::from_secs(200), "Succeeded");
    assert_eq!(image(&deployment(&w, "payments-primary")), CANARY);
    assert_eq!(vs_weights(&w), (100, 0));
    assert!(
        events(&w)
            .iter()
            .any(|m| m == "Confirm-promotion check approve passed")
    );
}

#[test]
fn opening_the_rollback_gate_fails_the_canary_and_rolls_it_back() {
    let mut w = world();
    with_gates(&w);
    walk(&mut w, Duration::from_secs(200), "Progressing");
    // Wait for a weight on the canary, then pull the cord.
    while status(&w)["canaryWeight"].as_u64().unwrap() < 20 {
        w.step_for(Duration::from_secs(1));
    }
    assert_eq!(gate(&w, "/rollback/open"), 202);
    walk(&mut w, Duration::from_secs(60), "Failed");
    let st = status(&w);
    assert_eq!(st["canaryWeight"], 0);
    assert_eq!(st["conditions"][0]["reason"], "Failed");
    assert_eq!(vs_weights(&w), (100, 0));
    assert_eq!(deployment(&w, "payments")["spec"]["replicas"], 0);
    assert_eq!(image(&deployment(&w, "payments-primary")), STABLE);
    let said = events(&w);
    assert!(
        said.iter().any(|m| m == "Rollback check abort passed"),
        "{said:?}"
    );
    assert!(
        said.iter()
            .any(|m| m == "Rolling back payments.pay manual webhook invoked"),
        "{said:?}"
    );
}
