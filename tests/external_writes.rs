//! The Argo and Flagger writes sent over HTTP to the simulated API server,
//! and what the sim holds after its Argo or Flagger controller has acted
//! on them. The world is stepped by hand, so every wait is on the sim clock.
#![allow(clippy::unwrap_used)]

mod common;

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, TimeZone, Utc};
use serde_json::{Value, json};

use common::SimServer;
use flightdeck::external::ask::{Ask, Source, Target};
use flightdeck::external::drive::carry_out;
use flightdeck::sim::resources::{Resource, kinds};
use flightdeck::sim::server::ServerOptions;
use flightdeck::sim::{Scenario, World};

fn start() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 3, 1, 9, 0, 0).unwrap()
}

/// A scenario's world served over HTTP, and a runtime for the client.
struct Sim {
    world: World,
    server: SimServer,
    runtime: tokio::runtime::Runtime,
    client: kube::Client,
}

impl Sim {
    fn new(scenario: &str) -> Self {
        let world = World::new(Scenario::load(scenario).unwrap(), 42, start()).unwrap();
        let server = SimServer::start_on(world.shared(), ServerOptions::default(), None);
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let client = runtime.block_on(async { server.client() });
        Self {
            world,
            server,
            runtime,
            client,
        }
    }

    fn ask(&self, target: &Target, ask: &Ask) -> Result<String, String> {
        let now = self.world.now();
        self.runtime
            .block_on(carry_out(&self.client, target, ask, now))
            .map_err(|e| e.to_string())
    }

    fn get(&self, res: &Resource, ns: &str, name: &str) -> Arc<Value> {
        self.server.store().get(res, ns, name).unwrap()
    }

    fn step_until(&mut self, limit: Duration, what: &str, mut done: impl FnMut(&Sim) -> bool) {
        let mut waited = Duration::ZERO;
        while !done(self) {
            assert!(waited < limit, "{what} not reached in {limit:?}");
            self.world.step_for(Duration::from_secs(1));
            waited += Duration::from_secs(1);
        }
    }
}

fn checkout() -> Target {
    Target {
        source: Source::Argo,
        namespace: "shop".into(),
        name: "checkout".into(),
    }
}

fn rollout(s: &Sim) -> Arc<Value> {
    s.get(kinds::rollouts(), "shop", "checkout")
}

fn step_index(s: &Sim) -> i64 {
    rollout(s)["status"]["currentStepIndex"]
        .as_i64()
        .unwrap_or(-1)
}

/// The VirtualService's (stable, canary) weights.
fn vs_weights(s: &Sim) -> (i64, i64) {
    let vs = s.get(kinds::virtualservices(), "shop", "checkout");
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

/// The argo-canary scenario's Rollout, held at its pause for a person (step 1).
fn argo_paused() -> Sim {
    let mut s = Sim::new("argo-canary");
    s.step_until(Duration::from_secs(60), "the pause for a person", |s| {
        rollout(s)["status"]["phase"] == "Paused"
    });
    assert_eq!(step_index(&s), 1);
    s
}

#[test]
fn promote_passes_a_persons_pause_and_the_next_step_sets_its_weight() {
    let mut s = argo_paused();
    let written = s.ask(&checkout(), &Ask::Promote).unwrap();
    assert_eq!(written, "status.pauseConditions: null");
    // Step 2 (setWeight 40) runs, and step 3 (pause 30s) holds.
    s.step_until(Duration::from_secs(60), "step 3", |s| {
        step_index(s) == 3 && rollout(s)["status"]["phase"] == "Paused"
    });
    assert_eq!(vs_weights(&s), (60, 40));
    assert_eq!(
        rollout(&s)["status"]["pauseConditions"][0]["reason"],
        "CanaryPauseStep"
    );
}

#[test]
fn promote_steps_past_a_running_analysis_to_the_next_weight() {
    let mut s = argo_paused();
    s.ask(&checkout(), &Ask::Promote).unwrap();
    s.step_until(Duration::from_secs(90), "the analysis step", |s| {
        step_index(s) == 4
    });
    let ro = rollout(&s);
    assert!(
        ro["status"]["canary"]["currentStepAnalysisRunStatus"].is_object(),
        "{}",
        ro["status"]
    );
    let written = s.ask(&checkout(), &Ask::Promote).unwrap();
    assert_eq!(
        written,
        "status.currentStepIndex: 5, status.pauseConditions: null"
    );
    s.world.step_for(Duration::from_secs(3));
    assert!(step_index(&s) >= 5, "{}", rollout(&s)["status"]);
    assert_eq!(vs_weights(&s), (40, 60));
}

#[test]
fn promote_full_makes_the_canary_stable_with_all_traffic() {
    let mut s = argo_paused();
    s.ask(&checkout(), &Ask::PromoteFull).unwrap();
    s.step_until(Duration::from_secs(60), "healthy", |s| {
        rollout(s)["status"]["phase"] == "Healthy"
    });
    let st = rollout(&s)["status"].clone();
    assert_eq!(st["stableRS"], st["currentPodHash"]);
    assert_eq!(vs_weights(&s), (100, 0));
    // Nothing is left to promote, and the write says so instead of sending.
    assert_eq!(
        s.ask(&checkout(), &Ask::PromoteFull),
        Err("already fully promoted: stable runs the current template".into())
    );
}

#[test]
fn abort_sends_stable_all_traffic_and_retry_walks_the_steps_again() {
    let mut s = argo_paused();
    assert_eq!(
        s.ask(&checkout(), &Ask::Abort).unwrap(),
        "status.abort: true"
    );
    s.step_until(Duration::from_secs(30), "aborted", |s| {
        rollout(s)["status"]["phase"] == "Degraded"
    });
    let st = rollout(&s)["status"].clone();
    assert_eq!(st["abort"], true);
    assert_eq!(vs_weights(&s), (100, 0));
    assert!(
        st["message"]
            .as_str()
            .unwrap()
            .starts_with("RolloutAborted"),
        "{st}"
    );
    s.ask(&checkout(), &Ask::Retry).unwrap();
    s.step_until(Duration::from_secs(60), "paused again", |s| {
        rollout(s)["status"]["phase"] == "Paused" && step_index(s) == 1
    });
    // `abort: false` is dropped by the controller (omitempty), as Argo's is.
    assert_ne!(rollout(&s)["status"]["abort"], true);
    assert_eq!(vs_weights(&s), (80, 20));
}

#[test]
fn a_persons_pause_holds_a_timed_step_until_resumed() {
    let mut s = argo_paused();
    s.ask(&checkout(), &Ask::Promote).unwrap();
    s.step_until(Duration::from_secs(60), "step 3", |s| step_index(s) == 3);
    s.ask(&checkout(), &Ask::Pause).unwrap();
    assert_eq!(rollout(&s)["spec"]["paused"], true);
    // The 30 s pause would have ended by now.
    s.world.step_for(Duration::from_secs(60));
    assert_eq!(step_index(&s), 3);
    s.ask(&checkout(), &Ask::Resume).unwrap();
    assert_eq!(rollout(&s)["spec"]["paused"], false);
    s.step_until(Duration::from_secs(60), "past the timed pause", |s| {
        step_index(s) >= 4
    });
    assert_eq!(
        s.ask(&checkout(), &Ask::Resume).unwrap_err(),
        "not paused by a person (spec.paused is false); advance promotes past a step's pause"
    );
}

#[test]
fn restart_sets_restart_at_and_the_controller_replaces_the_pods() {
    let mut s = argo_paused();
    let at = flightdeck::sim::controllers::timestamp(s.world.now());
    s.ask(&checkout(), &Ask::Restart).unwrap();
    assert_eq!(rollout(&s)["spec"]["restartAt"], at.as_str());
    s.step_until(Duration::from_secs(300), "restarted", |s| {
        rollout(s)["status"]["restartedAt"] == at.as_str()
    });
}

#[test]
fn undo_writes_the_old_replicasets_template_and_stable_takes_everything() {
    let mut s = argo_paused();
    let st = rollout(&s)["status"].clone();
    let stable = st["stableRS"].as_str().unwrap().to_string();
    let old = s.get(kinds::replicasets(), "shop", &format!("checkout-{stable}"));
    let revision = old["metadata"]["annotations"]["rollout.argoproj.io/revision"]
        .as_str()
        .unwrap()
        .parse::<u64>()
        .unwrap();
    let written = s.ask(&checkout(), &Ask::Undo(Some(revision))).unwrap();
    assert_eq!(written, "spec.template replaced");
    let mut expected = old["spec"]["template"].clone();
    expected["metadata"]["labels"]
        .as_object_mut()
        .unwrap()
        .remove("rollouts-pod-template-hash");
    assert_eq!(rollout(&s)["spec"]["template"], expected);
    s.world.step_for(Duration::from_secs(5));
    let st = rollout(&s)["status"].clone();
    assert_eq!(st["currentPodHash"], stable.as_str(), "{st}");
    assert_eq!(vs_weights(&s), (100, 0));
    // Undo without a revision now goes to the canary's, the previous one.
    assert_eq!(
        s.ask(&checkout(), &Ask::Undo(Some(revision))),
        Err(format!("the template already matches revision {revision}"))
    );
}

#[test]
fn set_image_starts_a_new_revision_with_that_image() {
    let mut s = argo_paused();
    let before = rollout(&s)["status"]["currentPodHash"].clone();
    s.ask(
        &checkout(),
        &Ask::SetImage("registry.local/shop/checkout:1.6.0".into()),
    )
    .unwrap();
    assert_eq!(
        rollout(&s)["spec"]["template"]["spec"]["containers"][0]["image"],
        "registry.local/shop/checkout:1.6.0"
    );
    s.step_until(Duration::from_secs(30), "a new canary", |s| {
        rollout(s)["status"]["currentPodHash"] != before
    });
    let hash = rollout(&s)["status"]["currentPodHash"]
        .as_str()
        .unwrap()
        .to_string();
    let rs = s.get(kinds::replicasets(), "shop", &format!("checkout-{hash}"));
    assert_eq!(
        rs["spec"]["template"]["spec"]["containers"][0]["image"],
        "registry.local/shop/checkout:1.6.0"
    );
}

fn payments() -> Target {
    Target {
        source: Source::Flagger,
        namespace: "pay".into(),
        name: "payments".into(),
    }
}

fn canary_status(s: &Sim) -> Value {
    s.get(kinds::canaries(), "pay", "payments")["status"].clone()
}

#[test]
fn a_suspended_canary_is_held_and_promote_now_promotes_it() {
    let mut s = Sim::new("flagger-canary");
    s.step_until(Duration::from_secs(60), "progressing", |s| {
        canary_status(s)["phase"] == "Progressing"
    });
    assert_eq!(
        s.ask(&payments(), &Ask::Pause).unwrap(),
        "spec.suspend: true"
    );
    let held = canary_status(&s);
    s.world.step_for(Duration::from_secs(120));
    assert_eq!(canary_status(&s), held, "a suspended Canary is left alone");
    s.ask(&payments(), &Ask::Resume).unwrap();
    assert_eq!(
        s.get(kinds::canaries(), "pay", "payments")["spec"]["suspend"],
        false
    );
    assert_eq!(
        s.ask(&payments(), &Ask::PromoteFull).unwrap(),
        "spec.skipAnalysis: true"
    );
    s.step_until(Duration::from_secs(60), "succeeded", |s| {
        canary_status(s)["phase"] == "Succeeded"
    });
    let primary = s.get(kinds::deployments(), "pay", "payments-primary");
    assert_eq!(
        primary["spec"]["template"]["spec"]["containers"][0]["image"],
        "registry.local/pay/payments:2.1.0"
    );
}

#[test]
fn a_canary_without_a_rollback_gate_says_why_abort_is_not_offered() {
    let s = Sim::new("flagger-canary");
    // Whatever webhooks the scenario carries, this Canary has none.
    s.server
        .store()
        .modify::<()>(kinds::canaries(), "pay", "payments", |o| {
            o["spec"]["analysis"]["webhooks"] = json!([]);
            Ok(())
        })
        .unwrap();
    let err = s
        .ask(
            &payments(),
            &Ask::Gate(flightdeck::external::writes::flagger::Gate::OpenRollback),
        )
        .unwrap_err();
    assert!(err.contains("abort is not offered"), "{err}");
}

/// An API server that does not serve the status subresource (an old
/// controller's CRD): records each request, answers 404 for `…/status`.
#[test]
fn abort_falls_back_to_the_object_when_the_status_subresource_is_not_served() {
    use axum::body::Bytes;
    use axum::http::{HeaderMap, Method, StatusCode, Uri};
    use std::sync::Mutex;

    type Seen = Arc<Mutex<Vec<(String, String, String, Value)>>>;
    let seen: Seen = Arc::default();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let recorded = seen.clone();
    let app = axum::Router::new().fallback(
        move |method: Method, uri: Uri, headers: HeaderMap, body: Bytes| {
            let recorded = recorded.clone();
            async move {
                let kind = headers
                    .get("content-type")
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or_default()
                    .to_string();
                let body: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
                recorded.lock().unwrap().push((
                    method.to_string(),
                    uri.path().to_string(),
                    kind,
                    body,
                ));
                if uri.path().ends_with("/status") {
                    let status = json!({"kind": "Status", "apiVersion": "v1", "status": "Failure",
                                        "reason": "NotFound", "code": 404, "message": "not found"});
                    (StatusCode::NOT_FOUND, status.to_string())
                } else {
                    let ro = json!({"apiVersion": "argoproj.io/v1alpha1", "kind": "Rollout",
                                    "metadata": {"name": "checkout", "namespace": "shop"}});
                    (StatusCode::OK, ro.to_string())
                }
            }
        },
    );
    let outcome = runtime.block_on(async {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await });
        let client = kube::Client::try_from(kube::Config::new(url.parse().unwrap())).unwrap();
        let obj = checkout().object();
        flightdeck::external::drive::apply(
            &client,
            &obj,
            &flightdeck::external::writes::argo::abort(),
        )
        .await
    });
    outcome.unwrap();
    let path = "/apis/argoproj.io/v1alpha1/namespaces/shop/rollouts/checkout";
    let merge = "application/merge-patch+json".to_string();
    let abort = json!({"status": {"abort": true}});
    assert_eq!(
        *seen.lock().unwrap(),
        vec![
            (
                "PATCH".into(),
                format!("{path}/status"),
                merge.clone(),
                abort.clone()
            ),
            ("PATCH".into(), path.to_string(), merge, abort),
        ]
    );
}
