//! The driver against a whole simulated cluster (controllers, clock, API
//! server): every strategy and router, aborts, a forced conflict, restart
//! and resume, two cockpits contending for the helm, and a refused plan.
//! Each test asserts on the objects the simulator's store holds.

#![allow(clippy::unwrap_used)]

mod common;

use common::driving::{ledger, own_runtime, patient, report};

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use flightdeck::cluster::client;
use flightdeck::cluster::routers::{self, http_route, istio, nginx, traffic_split};
use flightdeck::driver::helm::HelmView;
use flightdeck::driver::rest::{Obj, VIRTUAL_SERVICE};
use flightdeck::driver::{Clock, Command, DriveError, Driver, Settings};
use flightdeck::rollout::Phase;
use flightdeck::rollout::plan::{Plan, RollbackMode};
use flightdeck::sim::Scenario;
use flightdeck::sim::host::{HostOptions, SimHost};
use flightdeck::sim::resources::kinds;
use flightdeck::workers::audit::{Actor, AuditLog};
use serde_json::{Value, json};

const SPEED: f64 = 30.0;

struct Cluster {
    host: SimHost,
    dir: tempfile::TempDir,
    kubeconfig: PathBuf,
    client: kube::Client,
}

async fn cluster(scenario: Scenario) -> Cluster {
    let mut opts = HostOptions::new(scenario);
    opts.speed = SPEED;
    let host = SimHost::start(opts).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let kubeconfig = dir.path().join("kubeconfig");
    host.write_kubeconfig(&kubeconfig).unwrap();
    let (client, _) = client::connect(Some(&kubeconfig), Some("flightdeck-sim"))
        .await
        .unwrap();
    Cluster {
        host,
        dir,
        kubeconfig,
        client,
    }
}

async fn builtin(name: &str) -> Cluster {
    cluster(Scenario::load(name).unwrap()).await
}

fn shipped(file: &str) -> Plan {
    Plan::load(
        &Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("assets/plans")
            .join(file),
    )
    .unwrap()
}

fn plan(text: &str) -> Plan {
    Plan::parse(Path::new("test-plan.toml"), text).unwrap()
}

fn actor(who: &str) -> Actor {
    Actor {
        kube_user: "flightdeck-sim".into(),
        os_user: who.into(),
        host: "test".into(),
    }
}

impl Cluster {
    fn driver_with(&self, plan: Plan, who: &str, settings: Settings) -> Driver {
        let store = self.host.shared().store.clone();
        let settings = Settings {
            clock: Clock::scaled(move || store.now(), 1.0),
            ..settings
        };
        let audit = AuditLog::open(&self.audit_path()).unwrap();
        Driver::new(
            self.client.clone(),
            plan,
            "flightdeck-sim",
            Some(audit),
            settings,
        )
        .with_actor(actor(who))
    }

    fn driver(&self, plan: Plan, who: &str) -> Driver {
        let settings = Settings {
            landing_timeout: Duration::from_secs(60),
            ..Settings::default()
        };
        self.driver_with(plan, who, settings)
    }

    fn audit_path(&self) -> PathBuf {
        self.dir.path().join("audit.jsonl")
    }

    fn audit(&self) -> Vec<Value> {
        std::fs::read_to_string(self.audit_path())
            .unwrap_or_default()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    }

    fn get(
        &self,
        res: &'static flightdeck::sim::resources::Resource,
        ns: &str,
        name: &str,
    ) -> Value {
        (*self.host.shared().store.get(res, ns, name).unwrap()).clone()
    }

    fn deployment(&self, ns: &str, name: &str) -> Value {
        self.get(kinds::deployments(), ns, name)
    }

    fn vs_weights(&self, ns: &str, name: &str) -> routers::Weights {
        istio::weights(&self.get(kinds::virtualservices(), ns, name)).unwrap()
    }

    fn events(&self, ns: &str) -> Vec<Value> {
        let (events, _) = self.host.shared().store.list(kinds::events(), Some(ns));
        events
            .iter()
            .filter(|e| {
                e.pointer("/source/component").and_then(Value::as_str) == Some("flightdeck")
            })
            .map(|e| (**e).clone())
            .collect()
    }

    fn kubectl(&self, args: &[&str]) -> Option<String> {
        if !common::kubectl_available("driver") {
            return None;
        }
        let child = std::process::Command::new("kubectl")
            .arg("--kubeconfig")
            .arg(&self.kubeconfig)
            .args(args)
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        let out = common::finish(child, common::KUBECTL_TIMEOUT);
        assert!(
            out.status.success(),
            "kubectl {args:?}: {}",
            common::errors(&out)
        );
        Some(common::text(&out))
    }
}

fn split(stable: u8, canary: u8) -> routers::Weights {
    vec![("stable".into(), stable), ("canary".into(), canary)]
}

fn image(d: &Value) -> &str {
    d.pointer("/spec/template/spec/containers/0/image")
        .and_then(Value::as_str)
        .unwrap()
}

fn replicas(d: &Value) -> u64 {
    d.pointer("/spec/replicas").and_then(Value::as_u64).unwrap()
}

/// Ticks the driver until `done`, for at most 60 s of real time.
async fn tick_until(driver: &Driver, mut done: impl FnMut() -> bool) {
    for _ in 0..300 {
        driver.tick().await.unwrap();
        if done() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    panic!("the condition never held");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn canary_through_istio_advances_to_100_and_hands_over_to_stable() {
    let c = builtin("healthy-canary").await;
    let d = c.driver(shipped("canary-istio.toml"), "ana");
    d.execute(Command::Start { image: None }).await.unwrap();
    assert_eq!(c.vs_weights("shop", "checkout"), split(90, 10));
    for (stable, canary) in [(75, 25), (50, 50), (25, 75)] {
        let out = d.execute(Command::Advance).await.unwrap();
        assert_eq!(c.vs_weights("shop", "checkout"), split(stable, canary));
        assert_eq!(out.state.weights.unwrap().canary_percent(), canary);
        if let Some(jsonpath) = c.kubectl(&[
            "get",
            "vs",
            "checkout",
            "-n",
            "shop",
            "-o",
            "jsonpath={.spec.http[0].route[1].weight}",
        ]) {
            assert_eq!(jsonpath.trim(), canary.to_string());
        }
    }
    let done = d.execute(Command::Advance).await.unwrap();
    assert!(matches!(done.state.phase, Phase::Promoted { .. }));
    // Promotion: stable runs the canary's image, takes the traffic back,
    // and the canary is retired.
    let stable = c.deployment("shop", "checkout-stable");
    assert_eq!(image(&stable), "registry.local/shop/checkout:1.5.0");
    assert_eq!(replicas(&c.deployment("shop", "checkout-canary")), 0);
    assert_eq!(c.vs_weights("shop", "checkout"), split(100, 0));
    let actions: Vec<String> = c
        .audit()
        .iter()
        .map(|e| e["action"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(
        actions,
        ["start", "advance", "advance", "advance", "advance"]
    );
    let reasons: Vec<String> = c
        .events("shop")
        .iter()
        .map(|e| e["reason"].as_str().unwrap().to_string())
        .collect();
    assert!(reasons.contains(&"RolloutStart".to_string()), "{reasons:?}");
    assert_eq!(reasons.iter().filter(|r| *r == "RolloutAdvance").count(), 4);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_immediate_abort_after_the_second_stage_sends_everything_to_stable_at_once() {
    let c = builtin("healthy-canary").await;
    let d = c.driver(shipped("canary-istio.toml"), "ana");
    d.execute(Command::Start { image: None }).await.unwrap();
    d.execute(Command::Advance).await.unwrap();
    assert_eq!(c.vs_weights("shop", "checkout"), split(75, 25));
    let out = d
        .execute(Command::Abort {
            mode: Some(RollbackMode::Immediate),
        })
        .await
        .unwrap();
    assert!(matches!(out.state.phase, Phase::Aborted { .. }));
    assert_eq!(c.vs_weights("shop", "checkout"), split(100, 0));
    let last = c.audit().pop().unwrap();
    assert_eq!(last["action"], "abort");
    assert_eq!(last["result"], "done");
    // Only a retry leaves an aborted rollout; it starts from the first stage.
    let err = d.execute(Command::Advance).await.unwrap_err();
    assert!(matches!(err, DriveError::Refused(_)), "{err}");
    d.execute(Command::Retry).await.unwrap();
    assert_eq!(c.vs_weights("shop", "checkout"), split(90, 10));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_gradual_rollback_through_gateway_api_steps_the_weights_down() {
    let c = builtin("healthy-canary").await;
    let d = c.driver(shipped("canary-gateway-api.toml"), "ana");
    let route = || http_route::weights(&c.get(kinds::httproutes(), "shop", "checkout")).unwrap();
    d.execute(Command::Start { image: None }).await.unwrap();
    d.execute(Command::Advance).await.unwrap();
    assert_eq!(route(), split(75, 25));
    let out = d
        .execute(Command::Abort {
            mode: Some(RollbackMode::Gradual),
        })
        .await
        .unwrap();
    assert!(matches!(
        out.state.phase,
        Phase::RollingBack { weight: 10, .. }
    ));
    assert_eq!(route(), split(90, 10));
    // Each step waits rollback_step (30 s of the simulator's clock).
    tick_until(&d, || route() == split(100, 0)).await;
    let stored = d.load().await.unwrap().rollout.state;
    assert!(matches!(stored.phase, Phase::Aborted { .. }), "{stored}");
}

const BLUE_GREEN: &str = r#"
app = "web"
namespace = "frontend"
strategy = "blue-green"
[blue_green]
blue = "web-blue"
green = "web-green"
active_service = "web"
preview_service = "web-preview"
switch = "selector"
keep_old_for = "1m"
"#;

fn selects(svc: &Value) -> String {
    svc.pointer("/spec/selector/slot")
        .and_then(Value::as_str)
        .unwrap()
        .to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn blue_green_switches_keeps_the_old_slot_then_scales_it_down_and_finds_the_way_back() {
    let c = builtin("blue-green").await;
    let d = c.driver(plan(BLUE_GREEN), "ana");
    let active = || selects(&c.get(kinds::services(), "frontend", "web"));
    let preview = || selects(&c.get(kinds::services(), "frontend", "web-preview"));
    d.execute(Command::Start {
        image: Some("registry.local/frontend/web:7.1.1".into()),
    })
    .await
    .unwrap();
    assert_eq!(active(), "blue");
    assert_eq!(preview(), "green");
    assert_eq!(
        image(&c.deployment("frontend", "web-green")),
        "registry.local/frontend/web:7.1.1"
    );
    let out = d.execute(Command::Advance).await.unwrap();
    assert!(matches!(out.state.phase, Phase::Promoted { .. }));
    assert_eq!(active(), "green");
    // The old slot stays up for keep_old_for, so the way back is instant.
    assert_eq!(replicas(&c.deployment("frontend", "web-blue")), 3);

    // The way back: a new rollout towards blue, switched at once.
    d.execute(Command::Start { image: None }).await.unwrap();
    assert_eq!(preview(), "blue");
    d.execute(Command::Advance).await.unwrap();
    assert_eq!(active(), "blue");
    assert_eq!(replicas(&c.deployment("frontend", "web-blue")), 3);
    // Blue is in use again: its scale-down was called off; green's is due
    // after a minute of the simulator's clock.
    let annotated = |name: &str| {
        c.deployment("frontend", name)
            .pointer("/metadata/annotations")
            .and_then(|a| a.get("flightdeck.dev/scale-down-at"))
            .is_some()
    };
    assert!(!annotated("web-blue"));
    assert!(annotated("web-green"));
    tick_until(&d, || replicas(&c.deployment("frontend", "web-green")) == 0).await;
    assert_eq!(replicas(&c.deployment("frontend", "web-blue")), 3);
    assert_eq!(active(), "blue");
    if let Some(out) = c.kubectl(&[
        "get",
        "svc",
        "web",
        "-n",
        "frontend",
        "-o",
        "jsonpath={.spec.selector.slot}",
    ]) {
        assert_eq!(out.trim(), "blue");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn blue_green_abort_during_the_preview_leaves_users_on_the_old_slot() {
    let c = builtin("blue-green").await;
    let d = c.driver(plan(BLUE_GREEN), "ana");
    d.execute(Command::Start { image: None }).await.unwrap();
    let out = d.execute(Command::Abort { mode: None }).await.unwrap();
    assert!(matches!(out.state.phase, Phase::Aborted { .. }));
    assert_eq!(
        selects(&c.get(kinds::services(), "frontend", "web")),
        "blue"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rolling_sets_the_image_pauses_resumes_and_undoes_to_a_revision() {
    let c = builtin("rolling").await;
    let d = c.driver(shipped("rolling.toml"), "ana");
    let api = || c.deployment("backend", "api");
    let paused = || api().pointer("/spec/paused").and_then(Value::as_bool) == Some(true);
    d.execute(Command::Start { image: None }).await.unwrap();
    assert_eq!(image(&api()), "registry.local/backend/api:10.5.0");
    d.execute(Command::Pause).await.unwrap();
    assert!(paused());
    d.execute(Command::Resume).await.unwrap();
    assert!(!paused());
    let status = d.status(&HelmView::Free).await.unwrap();
    let revisions: Vec<(u64, bool)> = status
        .revisions
        .iter()
        .map(|r| (r.revision, r.current))
        .collect();
    assert_eq!(revisions, [(1, false), (2, true)]);
    assert_eq!(
        status.revisions[0].images,
        ["registry.local/backend/api:10.4.0"]
    );
    d.execute(Command::Undo { revision: Some(1) })
        .await
        .unwrap();
    assert_eq!(image(&api()), "registry.local/backend/api:10.4.0");
    let status = d.status(&HelmView::Free).await.unwrap();
    assert_eq!(
        status.revisions.iter().find(|r| r.current).unwrap().images,
        ["registry.local/backend/api:10.4.0"]
    );
    assert_eq!(status.phase, "aborted");
    let err = d
        .execute(Command::Undo { revision: Some(9) })
        .await
        .unwrap_err();
    assert!(err.to_string().contains("no revision 9"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_conflict_between_read_and_write_is_read_again_and_retried() {
    let c = builtin("healthy-canary").await;
    let writes = Arc::new(AtomicUsize::new(0));
    let lines = Arc::new(std::sync::Mutex::new(Vec::<String>::new()));
    let shared = c.host.shared().clone();
    let hook_writes = writes.clone();
    let settings = Settings {
        // A second writer touches the VirtualService right after our first read.
        before_write: Some(Arc::new(move |obj: &Obj| {
            if obj.kind == VIRTUAL_SERVICE && hook_writes.fetch_add(1, Ordering::SeqCst) == 0 {
                shared
                    .store
                    .modify(kinds::virtualservices(), "shop", "checkout", |vs| {
                        vs["metadata"]["labels"] = json!({"touched": "yes"});
                        Ok::<(), ()>(())
                    })
                    .unwrap();
            }
        })),
        progress: {
            let lines = lines.clone();
            Arc::new(move |l| lines.lock().unwrap().push(l))
        },
        ..Settings::default()
    };
    let d = c.driver_with(shipped("canary-istio.toml"), "ana", settings);
    d.execute(Command::Start { image: None }).await.unwrap();
    assert_eq!(writes.load(Ordering::SeqCst), 2, "one conflict, one retry");
    assert_eq!(c.vs_weights("shop", "checkout"), split(90, 10));
    let vs = c.get(kinds::virtualservices(), "shop", "checkout");
    assert_eq!(
        vs["metadata"]["labels"]["touched"], "yes",
        "the other writer's change survives"
    );
    assert!(
        lines
            .lock()
            .unwrap()
            .iter()
            .any(|l| l.contains("changed since we read it")),
        "{:?}",
        lines.lock().unwrap()
    );
}

/// A driver whose first write to the VirtualService is preceded by a write
/// of `key` into the rollout's state ConfigMap, as another party's would be.
fn touching_state(c: &Cluster, key: &'static str, value: &'static str) -> Driver {
    let shared = c.host.shared().clone();
    let touched = Arc::new(AtomicUsize::new(0));
    let settings = Settings {
        before_write: Some(Arc::new(move |obj: &Obj| {
            if obj.kind == VIRTUAL_SERVICE && touched.fetch_add(1, Ordering::SeqCst) == 0 {
                shared
                    .store
                    .modify(
                        kinds::configmaps(),
                        "shop",
                        "checkout-flightdeck-rollout",
                        |cm| {
                            cm["data"][key] = json!(value);
                            Ok::<(), ()>(())
                        },
                    )
                    .unwrap();
            }
        })),
        ..Settings::default()
    };
    c.driver_with(shipped("canary-istio.toml"), "ana", settings)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_write_to_another_key_of_the_state_does_not_fail_the_step_but_a_rival_step_does() {
    let c = builtin("healthy-canary").await;
    c.driver(shipped("canary-istio.toml"), "ana")
        .execute(Command::Start { image: None })
        .await
        .unwrap();
    // Someone asks for something under a key of their own mid-step.
    let d = touching_state(&c, "request.json", "{}");
    let outcome = d.execute(Command::Advance).await.unwrap();
    assert_eq!(outcome.state.stage(), Some(1));
    let cm = c.get(kinds::configmaps(), "shop", "checkout-flightdeck-rollout");
    assert_eq!(cm["data"]["request.json"], "{}", "their key survives");
    assert_eq!(d.load().await.unwrap().rollout.state.stage(), Some(1));
    // A rival writing the rollout itself still wins the race: ours fails.
    let stored = d.load().await.unwrap().rollout.to_json().unwrap();
    let rewritten = serde_json::to_string_pretty(&serde_json::from_str::<Value>(&stored).unwrap());
    let d = touching_state(&c, "rollout.json", rewritten.unwrap().leak());
    let err = d.execute(Command::Advance).await.unwrap_err();
    assert!(
        err.to_string().contains("was changed by someone else"),
        "{err}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restarted_driver_resumes_at_the_same_stage() {
    let c = builtin("healthy-canary").await;
    {
        let d = c.driver(shipped("canary-istio.toml"), "ana");
        d.execute(Command::Start { image: None }).await.unwrap();
        d.execute(Command::Advance).await.unwrap();
    }
    let d = c.driver(shipped("canary-istio.toml"), "ana");
    let state = d.load().await.unwrap().rollout.state;
    assert_eq!(state.stage(), Some(1));
    assert_eq!(state.weights.unwrap().canary_percent(), 25);
    d.execute(Command::Advance).await.unwrap();
    assert_eq!(c.vs_weights("shop", "checkout"), split(50, 50));
    assert_eq!(d.load().await.unwrap().rollout.history.len(), 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_cockpits_one_helm_and_an_explicit_recorded_take_over() {
    let c = builtin("healthy-canary").await;
    let ana = c.driver(shipped("canary-istio.toml"), "ana");
    let bo = c.driver(shipped("canary-istio.toml"), "bo");
    ana.execute(Command::Start { image: None }).await.unwrap();
    let err = bo.execute(Command::Advance).await.unwrap_err();
    let DriveError::HelmHeld(HelmView::Theirs { holder, since, .. }) = &err else {
        panic!("{err}");
    };
    assert!(holder.starts_with("ana@test#"), "{holder}");
    assert!(since.is_some());
    assert!(err.to_string().contains("helm held by ana@test#"), "{err}");
    assert_eq!(
        c.vs_weights("shop", "checkout"),
        split(90, 10),
        "bo changed nothing"
    );

    bo.execute(Command::TakeHelm).await.unwrap();
    bo.execute(Command::Advance).await.unwrap();
    assert_eq!(c.vs_weights("shop", "checkout"), split(75, 25));
    let err = ana.execute(Command::Advance).await.unwrap_err();
    assert!(err.to_string().contains("helm held by bo@test#"), "{err}");
    let take = c
        .audit()
        .into_iter()
        .find(|e| e["action"] == "take-helm")
        .unwrap();
    assert_eq!(take["who"]["os_user"], "bo");
    assert!(
        take["from"].as_str().unwrap().contains("ana@test#"),
        "{take}"
    );
    assert!(
        c.events("shop")
            .iter()
            .any(|e| e["reason"] == "RolloutTakeHelm")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_plan_naming_a_missing_object_is_refused_before_anything_changes() {
    let c = builtin("healthy-canary").await;
    let text = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("assets/plans/canary-istio.toml"),
    )
    .unwrap()
    .replace("canary = \"checkout-canary\"", "canary = \"checkout-nope\"");
    let d = c.driver(plan(&text), "ana");
    let before = c.get(kinds::virtualservices(), "shop", "checkout");
    let err = d.execute(Command::Start { image: None }).await.unwrap_err();
    assert!(
        err.to_string()
            .contains("Deployment shop/checkout-nope does not exist"),
        "{err}"
    );
    assert_eq!(c.get(kinds::virtualservices(), "shop", "checkout"), before);
    assert!(
        c.host
            .shared()
            .store
            .get(kinds::configmaps(), "shop", "checkout-flightdeck-rollout")
            .is_none()
    );
}

const SMI_NGINX_SCENARIO: &str = r#"
name = "routers"
[cluster]
namespaces = ["shop"]
nodes = 2
[[apps]]
name = "checkout"
namespace = "shop"
strategy = "canary"
port = 8080
routers = ["smi", "nginx"]
[[apps.versions]]
name = "stable"
image = "registry.local/shop/checkout:1.4.2"
replicas = 3
weight = 100
[[apps.versions]]
name = "canary"
image = "registry.local/shop/checkout:1.5.0"
replicas = 1
weight = 0
"#;

fn canary_plan(router: &str) -> Plan {
    plan(&format!(
        r#"
app = "checkout"
namespace = "shop"
strategy = "canary"
[canary]
stages = [{{ weight = 10 }}, {{ weight = 50 }}, {{ weight = 100 }}]
[canary.router]
{router}
"#
    ))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn smi_and_nginx_routers_carry_the_stages() {
    let c = cluster(Scenario::parse(Path::new("routers.toml"), SMI_NGINX_SCENARIO).unwrap()).await;
    let smi = c.driver(canary_plan(r#"kind = "smi""#), "ana");
    let ts = || traffic_split::weights(&c.get(kinds::trafficsplits(), "shop", "checkout")).unwrap();
    smi.execute(Command::Start { image: None }).await.unwrap();
    assert_eq!(ts(), split(90, 10));
    smi.execute(Command::Advance).await.unwrap();
    assert_eq!(ts(), split(50, 50));
    smi.execute(Command::Abort {
        mode: Some(RollbackMode::Immediate),
    })
    .await
    .unwrap();
    assert_eq!(ts(), split(100, 0));

    let ing = c.driver(canary_plan(r#"kind = "nginx""#), "ana");
    let pair = || {
        nginx::weights(
            &c.get(kinds::ingresses(), "shop", "checkout"),
            &c.get(kinds::ingresses(), "shop", "checkout-canary"),
        )
        .unwrap()
    };
    // The rollout stored on the cluster was aborted: a retry starts it again.
    ing.execute(Command::Retry).await.unwrap();
    assert_eq!(pair(), split(90, 10));
    ing.execute(Command::Advance).await.unwrap();
    assert_eq!(pair(), split(50, 50));
    let canary_ingress = c.get(kinds::ingresses(), "shop", "checkout-canary");
    assert_eq!(
        canary_ingress["metadata"]["annotations"]["nginx.ingress.kubernetes.io/canary-weight"],
        "50"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replica_ratio_scales_the_versions_to_the_split() {
    let c = builtin("healthy-canary").await;
    let d = c.driver(canary_plan(r#"kind = "replica-ratio""#), "ana");
    let count = |name: &str| replicas(&c.deployment("shop", name));
    d.execute(Command::Start { image: None }).await.unwrap();
    assert_eq!(count("checkout-stable") + count("checkout-canary"), 5);
    d.execute(Command::Advance).await.unwrap();
    assert_eq!((count("checkout-stable"), count("checkout-canary")), (3, 2));
    d.execute(Command::Advance).await.unwrap();
    // Promoted: stable carries the new image at full size, the canary is gone.
    assert_eq!((count("checkout-stable"), count("checkout-canary")), (5, 0));
    assert_eq!(
        image(&c.deployment("shop", "checkout-stable")),
        "registry.local/shop/checkout:1.5.0"
    );
}

const WEIGHTED_SCENARIO: &str = r#"
name = "weighted"
[cluster]
namespaces = ["frontend"]
nodes = 2
[[apps]]
name = "web"
namespace = "frontend"
strategy = "blue-green"
port = 8080
active_slot = "blue"
routers = ["istio"]
[[apps.versions]]
name = "blue"
slot = "blue"
image = "registry.local/frontend/web:7.0.3"
replicas = 2
[[apps.versions]]
name = "green"
slot = "green"
image = "registry.local/frontend/web:7.1.0"
replicas = 2
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn weighted_blue_green_shifts_through_the_router_both_ways() {
    let c = cluster(Scenario::parse(Path::new("weighted.toml"), WEIGHTED_SCENARIO).unwrap()).await;
    let d = c.driver(
        plan(
            r#"
app = "web"
namespace = "frontend"
strategy = "blue-green"
[blue_green]
switch = "weighted"
keep_old_for = "10m"
stages = [{ weight = 10 }, { weight = 50 }, { weight = 100 }]
[blue_green.router]
kind = "istio"
"#,
        ),
        "ana",
    );
    let slots = |blue: u8, green: u8| -> routers::Weights {
        vec![("blue".into(), blue), ("green".into(), green)]
    };
    d.execute(Command::Start { image: None }).await.unwrap();
    assert_eq!(c.vs_weights("frontend", "web"), slots(90, 10));
    d.execute(Command::Advance).await.unwrap();
    assert_eq!(c.vs_weights("frontend", "web"), slots(50, 50));
    d.execute(Command::Advance).await.unwrap();
    assert_eq!(c.vs_weights("frontend", "web"), slots(0, 100));
    assert_eq!(
        selects(&c.get(kinds::services(), "frontend", "web")),
        "green"
    );
    // The next release goes the other way: from green back to blue.
    d.execute(Command::Start { image: None }).await.unwrap();
    assert_eq!(c.vs_weights("frontend", "web"), slots(10, 90));
    d.execute(Command::Abort { mode: None }).await.unwrap();
    assert_eq!(c.vs_weights("frontend", "web"), slots(0, 100));
    assert_eq!(
        selects(&c.get(kinds::services(), "frontend", "web")),
        "green"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn timed_stages_move_on_only_while_a_cockpit_holds_the_helm() {
    let c = builtin("healthy-canary").await;
    let timed = || {
        plan(
            r#"
app = "checkout"
namespace = "shop"
strategy = "canary"
[canary]
stages = [{ weight = 10, pause = "30s" }, { weight = 50, pause = "manual" }, { weight = 100 }]
[canary.router]
kind = "istio"
"#,
        )
    };
    let ana = c.driver(timed(), "ana");
    let bo = c.driver(timed(), "bo");
    ana.execute(Command::Start { image: None }).await.unwrap();
    // Thirty simulated seconds pass (one real second at this speed); bo does
    // not hold the helm, so its ticks change nothing.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert!(bo.tick().await.unwrap().is_none());
    assert_eq!(c.vs_weights("shop", "checkout"), split(90, 10));
    let moved = ana.tick().await.unwrap().unwrap();
    assert_eq!(moved.state.stage(), Some(1));
    assert_eq!(c.vs_weights("shop", "checkout"), split(50, 50));
    let auto = c.audit().pop().unwrap();
    assert_eq!(auto["action"], "tick");
    assert_eq!(auto["who"]["os_user"], "ana (flightdeck auto)");
    // A manual stage waits for a person however long it is ticked.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert!(ana.tick().await.unwrap().is_none());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_cockpit_shows_who_holds_the_helm_and_follows_the_rollout() {
    use flightdeck::app::Msg;
    use flightdeck::app::state::Helm;
    let c = builtin("healthy-canary").await;
    let ana = c.driver(shipped("canary-istio.toml"), "ana");
    ana.execute(Command::Start { image: None }).await.unwrap();
    let (tx, mut rx) = tokio::sync::mpsc::channel(256);
    let bo =
        flightdeck::driver::task::spawn(c.driver(shipped("canary-istio.toml"), "bo"), tx, None);
    let mut helm = None;
    let mut stage = None;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while helm.is_none() || stage != Some(Some(1)) {
        let msg = tokio::time::timeout_at(deadline, rx.recv())
            .await
            .unwrap()
            .unwrap();
        match msg {
            Msg::Helm(h) => helm = Some(h),
            Msg::Rollout(view) => stage = Some(view.state.stage()),
            _ => {}
        }
        if stage == Some(Some(0)) {
            // ana moves on; bo's screen follows.
            ana.execute(Command::Advance).await.unwrap();
            stage = None;
        }
    }
    let Some(Helm::HeldBy(who)) = helm else {
        panic!("{helm:?}");
    };
    assert!(
        who.starts_with("ana@test#") && who.contains(" since "),
        "{who}"
    );
    // bo's keys reach its driver, which refuses and says why.
    bo.commands.send(Command::Advance).await.unwrap();
    loop {
        let msg = tokio::time::timeout_at(deadline, rx.recv())
            .await
            .unwrap()
            .unwrap();
        if let Msg::Drive(flightdeck::app::msg::DriveReport::Failed { reason, .. }) = msg {
            assert!(reason.contains("helm held by ana@test#"), "{reason}");
            break;
        }
    }
    assert_eq!(c.vs_weights("shop", "checkout"), split(75, 25));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_promotion_that_fails_half_way_is_undone_and_recorded() {
    let c = builtin("crashloop").await;
    let d = c.driver_with(
        ledger(),
        "ana",
        Settings {
            landing_timeout: Duration::from_secs(3),
            ..Settings::default()
        },
    );
    d.execute(Command::Start { image: None }).await.unwrap();
    assert_eq!(c.vs_weights("payments", "ledger"), split(90, 10));
    // The canary crashes on start: stable cannot roll out its template.
    let err = d.execute(Command::PromoteFull).await.unwrap_err();
    let text = err.to_string();
    assert!(
        text.contains("roll the canary's template out to stable"),
        "{text}"
    );
    assert!(text.contains("the change was undone"), "{text}");
    assert_eq!(c.vs_weights("payments", "ledger"), split(90, 10));
    assert_eq!(
        image(&c.deployment("payments", "ledger-stable")),
        "registry.local/payments/ledger:2.8.1"
    );
    let stored = d.load().await.unwrap().rollout;
    assert_eq!(
        stored.state.stage(),
        Some(0),
        "the stored stage did not move"
    );
    let last = stored.history.entries().next_back().unwrap();
    assert!(matches!(
        last.result,
        flightdeck::rollout::ActionResult::Failed { .. }
    ));
    let audit = c.audit().pop().unwrap();
    assert_eq!(audit["result"], "failed");
    let warning = c
        .events("payments")
        .into_iter()
        .find(|e| e["reason"] == "RolloutPromoteFailed")
        .unwrap();
    assert_eq!(warning["type"], "Warning");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_guard_that_fires_while_a_promotion_cannot_land_rolls_back_at_once() {
    use flightdeck::app::Msg;
    use flightdeck::app::msg::DriveReport;
    use flightdeck::driver::guarded::GuardLink;
    use flightdeck::rollout::guards::{Alarm, GuardAction, GuardMetric};
    use flightdeck::workers::guard_watch::GuardFact;
    let c = builtin("crashloop").await;
    let ledger = plan(
        r#"
app = "ledger"
namespace = "payments"
strategy = "canary"
auto = true
[canary]
stages = [{ weight = 10 }, { weight = 100 }]
[canary.router]
kind = "istio"
[analysis]
window = "2m"
interval = "15s"
"#,
    );
    // The landing timeout is ten times the test's deadline: only the guard
    // can end the wait in time.
    let settings = patient();
    let d = c.driver_with(ledger, "ana", settings);
    d.execute(Command::Start { image: None }).await.unwrap();
    assert_eq!(c.vs_weights("payments", "ledger"), split(90, 10));

    let (facts_tx, facts) = tokio::sync::mpsc::channel(8);
    let (link, _stage) = GuardLink::fed(facts);
    let (tx, mut rx) = tokio::sync::mpsc::channel(256);
    let task = flightdeck::driver::task::spawn(d, tx, Some(link));
    task.commands.send(Command::PromoteFull).await.unwrap();
    // The canary crashes on start, so stable never rolls out its template:
    // the promotion waits for a landing that does not come.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    tokio::time::sleep(Duration::from_secs(3)).await;
    let promoting = c.deployment("payments", "ledger-stable");
    assert_eq!(image(&promoting), "registry.local/payments/ledger:2.9.0");
    // The canary carries everything while stable takes its template.
    assert_eq!(c.vs_weights("payments", "ledger"), split(0, 100));

    let store = c.host.shared().store.clone();
    facts_tx
        .send(GuardFact::Fired(Alarm {
            guard: "ledger restarts".into(),
            metric: GuardMetric::Restarts,
            action: GuardAction::Rollback,
            value: 2.0,
            threshold: 0.0,
            since: store.now(),
            held_for: Duration::ZERO,
        }))
        .await
        .unwrap();
    let mut cancelled = None;
    let mut done = None;
    while done.is_none() {
        let msg = tokio::time::timeout_at(deadline, rx.recv())
            .await
            .expect("the guard's rollback never finished")
            .unwrap();
        match msg {
            Msg::Drive(DriveReport::Cancelled { action, by }) => cancelled = Some((action, by)),
            Msg::Drive(DriveReport::Done { action, to }) if action == "guard" => {
                done = Some(to);
            }
            Msg::Drive(DriveReport::Failed { action, reason }) => {
                panic!("{action} failed: {reason}");
            }
            _ => {}
        }
    }
    assert_eq!(
        cancelled,
        Some(("promote".to_string(), "guard ledger restarts".to_string()))
    );
    assert!(done.unwrap().starts_with("aborted"));
    assert_eq!(c.vs_weights("payments", "ledger"), split(100, 0));
    // The half-done hand-over was taken back: stable runs what it ran.
    assert_eq!(
        image(&c.deployment("payments", "ledger-stable")),
        "registry.local/payments/ledger:2.8.1"
    );
    let audit = c.audit();
    let results: Vec<(&str, &str)> = audit
        .iter()
        .map(|a| (a["action"].as_str().unwrap(), a["result"].as_str().unwrap()))
        .collect();
    assert_eq!(
        results,
        [
            ("start", "done"),
            ("promote", "cancelled"),
            ("guard", "done")
        ]
    );
    let reasons: Vec<String> = c
        .events("payments")
        .into_iter()
        .map(|e| e["reason"].as_str().unwrap().to_string())
        .collect();
    assert!(
        reasons.iter().any(|r| r == "RolloutPromoteCancelled"),
        "{reasons:?}"
    );
    drop(task);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_abort_pressed_in_a_cockpit_without_the_helm_is_carried_out_by_the_one_with_it() {
    use flightdeck::app::msg::DriveReport;
    let c = builtin("healthy-canary").await;
    let (ana_tx, mut ana_rx) = tokio::sync::mpsc::channel(256);
    let ana = flightdeck::driver::task::spawn(
        c.driver(shipped("canary-istio.toml"), "ana"),
        ana_tx,
        None,
    );
    ana.commands
        .send(Command::Start { image: None })
        .await
        .unwrap();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    report(&mut ana_rx, deadline, "the start", |r| match r {
        DriveReport::Done { action, .. } if action == "start" => Some(()),
        _ => None,
    })
    .await;
    let (bo_tx, mut bo_rx) = tokio::sync::mpsc::channel(256);
    let bo =
        flightdeck::driver::task::spawn(c.driver(shipped("canary-istio.toml"), "bo"), bo_tx, None);
    bo.commands
        .send(Command::Abort {
            mode: Some(RollbackMode::Immediate),
        })
        .await
        .unwrap();
    // Bo's screen says it was asked, not done.
    report(&mut bo_rx, deadline, "bo's abort", |r| match r {
        DriveReport::Done { action, to } => {
            assert_eq!(action, "abort");
            assert_eq!(to, "asked of the driver at the helm, where it goes first");
            Some(())
        }
        DriveReport::Failed { action, reason } => panic!("{action}: {reason}"),
        _ => None,
    })
    .await;
    // Ana's loop carries it out.
    let to = report(&mut ana_rx, deadline, "ana's abort", |r| match r {
        DriveReport::Done { action, to } if action == "abort" => Some(to),
        _ => None,
    })
    .await;
    assert!(to.starts_with("aborted"), "{to}");
    assert_eq!(c.vs_weights("shop", "checkout"), split(100, 0));
    // Bo's own record says he asked.
    let asked = c
        .audit()
        .into_iter()
        .find(|a| a["result"] == "asked")
        .unwrap();
    assert_eq!(asked["action"], "abort");
    assert_eq!(asked["who"]["os_user"], "bo");
    assert!(
        asked["detail"]
            .as_str()
            .unwrap()
            .starts_with("abort asked by bo (flightdeck-sim) on test"),
        "{asked}"
    );
    let abort = c.audit().pop().unwrap();
    assert_eq!(abort["action"], "abort");
    assert_eq!(abort["who"]["os_user"], "ana");
    let detail = abort["detail"].as_str().unwrap();
    assert!(
        detail.starts_with("abort asked by bo (flightdeck-sim) on test")
            && detail.ends_with("carried out by ana"),
        "{detail}"
    );
    let event = c
        .events("shop")
        .into_iter()
        .find(|e| e["reason"] == "RolloutAbort")
        .unwrap();
    assert!(
        event["message"].as_str().unwrap().contains("asked by bo"),
        "{event}"
    );
    drop(bo);
    drop(ana);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_step_cancelled_because_the_helm_passed_on_is_audited_and_raised_as_a_warning() {
    use flightdeck::app::msg::DriveReport;
    let c = builtin("crashloop").await;
    let d = c.driver_with(ledger(), "ana", patient());
    d.execute(Command::Start { image: None }).await.unwrap();
    let (tx, mut rx) = tokio::sync::mpsc::channel(256);
    let ana = flightdeck::driver::task::spawn(d, tx, None);
    // The canary crash-loops: stable never rolls out its template, so the
    // promotion waits for a landing that does not come.
    ana.commands.send(Command::PromoteFull).await.unwrap();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    while c.vs_weights("payments", "ledger") != split(0, 100) {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the promotion never began"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // Bo takes the helm over meanwhile.
    let bo = c.driver(ledger(), "bo");
    bo.execute(Command::TakeHelm).await.unwrap();
    let by = report(
        &mut rx,
        deadline,
        "ana's loop seeing the helm go",
        |r| match r {
            DriveReport::Cancelled { action, by } => {
                assert_eq!(action, "promote");
                Some(by)
            }
            _ => None,
        },
    )
    .await;
    assert!(by.starts_with("helm held by bo@test#"), "{by}");
    let cancelled = loop {
        let found = c
            .audit()
            .into_iter()
            .find(|a| a["action"] == "promote" && a["result"] == "cancelled");
        if let Some(found) = found {
            break found;
        }
        assert!(tokio::time::Instant::now() < deadline, "{:?}", c.audit());
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(cancelled["who"]["os_user"], "ana");
    assert!(
        cancelled["reason"]
            .as_str()
            .unwrap()
            .contains("helm held by bo@test#"),
        "{cancelled}"
    );
    // The Event follows the audit line.
    let warning = loop {
        let found = c
            .events("payments")
            .into_iter()
            .find(|e| e["reason"] == "RolloutPromoteCancelled");
        if let Some(found) = found {
            break found;
        }
        assert!(tokio::time::Instant::now() < deadline, "no Event");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(warning["type"], "Warning");
    drop(ana);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wait_left_by_a_driver_that_died_is_shown_and_settled_by_the_next_at_the_helm() {
    use flightdeck::app::Msg;
    use flightdeck::app::msg::DriveReport;
    let c = builtin("crashloop").await;
    let d = c.driver_with(ledger(), "ana", patient());
    d.execute(Command::Start { image: None }).await.unwrap();
    // Ana's loop runs on a runtime of its own, so it can die whole: its
    // keeper stops renewing the Lease with it.
    let ana_runtime = own_runtime();
    let (tx, _ana_rx) = tokio::sync::mpsc::channel(256);
    let ana = {
        let _inside = ana_runtime.enter();
        flightdeck::driver::task::spawn(d, tx, None)
    };
    // The canary crash-loops: stable never rolls out its template.
    ana.commands.send(Command::PromoteFull).await.unwrap();
    let bo = c.driver(ledger(), "bo");
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    let landing = loop {
        let status = bo.status(&HelmView::Free).await.unwrap();
        if let Some(l) = status.landing.filter(|l| l.waiting_for == "the rollout") {
            break l;
        }
        assert!(tokio::time::Instant::now() < deadline, "no landing shown");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(landing.action, "promote");
    assert_eq!(landing.object, "Deployment payments/ledger-stable");
    assert!(landing.by.starts_with("ana@test#"), "{landing:?}");
    assert!(
        landing.text.starts_with(
            "landing: promote (roll the canary's template out to stable), waiting for the rollout, "
        ) && landing.text.ends_with(" left"),
        "{}",
        landing.text
    );
    assert_eq!(c.vs_weights("payments", "ledger"), split(0, 100));

    // Ana's cockpit dies mid-wait.
    ana_runtime.shutdown_background();
    drop(ana);
    let (tx, mut rx) = tokio::sync::mpsc::channel(256);
    let bo_loop = flightdeck::driver::task::spawn(bo, tx, None);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    let mut settling = None;
    loop {
        let msg = tokio::time::timeout_at(deadline, rx.recv())
            .await
            .expect("bo never settled the wait")
            .unwrap();
        match msg {
            Msg::Drive(DriveReport::Progress(line)) if line.starts_with("settling") => {
                settling = Some(line);
            }
            Msg::Drive(DriveReport::Failed { action, reason }) => panic!("{action}: {reason}"),
            Msg::Helm(_) | Msg::Rollout(_) | Msg::Drive(_) if settling.is_some() => {
                let done = c
                    .audit()
                    .iter()
                    .any(|a| a["action"] == "promote" && a["result"] == "cancelled");
                if done {
                    break;
                }
            }
            _ => {}
        }
    }
    assert!(
        settling.unwrap().starts_with("settling what ana@test#"),
        "the settling names who left it"
    );
    // Not landed: the promotion is cancelled and its half-done writes undone.
    let cancelled = c
        .audit()
        .into_iter()
        .find(|a| a["action"] == "promote" && a["result"] == "cancelled")
        .unwrap();
    assert_eq!(cancelled["who"]["os_user"], "bo");
    assert!(
        cancelled["reason"]
            .as_str()
            .unwrap()
            .contains("its driver ana@test#"),
        "{cancelled}"
    );
    assert_eq!(c.vs_weights("payments", "ledger"), split(90, 10));
    assert_eq!(
        image(&c.deployment("payments", "ledger-stable")),
        "registry.local/payments/ledger:2.8.1"
    );
    let cm = c.get(kinds::configmaps(), "payments", "ledger-flightdeck-rollout");
    assert!(cm["data"].get("landing.json").is_none(), "{cm}");
    drop(bo_loop);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_retry_sent_as_the_loop_starts_is_not_cancelled_by_the_abort_it_retries() {
    use flightdeck::app::msg::DriveReport;
    let c = builtin("healthy-canary").await;
    let d = c.driver(shipped("canary-istio.toml"), "ana");
    d.execute(Command::Start { image: None }).await.unwrap();
    d.execute(Command::Abort { mode: None }).await.unwrap();
    assert_eq!(c.vs_weights("shop", "checkout"), split(100, 0));
    // A fresh loop (a CLI verb, `flightdeck run`) is sent its command at once,
    // before it has read the stored state.
    let (tx, mut rx) = tokio::sync::mpsc::channel(256);
    let task =
        flightdeck::driver::task::spawn(c.driver(shipped("canary-istio.toml"), "ana"), tx, None);
    task.commands.send(Command::Retry).await.unwrap();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    let to = report(&mut rx, deadline, "the retry", |r| match r {
        DriveReport::Done { action, to } if action == "retry" => Some(to),
        DriveReport::Cancelled { action, by } => panic!("{action} cancelled by {by}"),
        DriveReport::Failed { action, reason } => panic!("{action}: {reason}"),
        _ => None,
    })
    .await;
    assert!(to.starts_with("stage 1/5 at 10%"), "{to}");
    assert_eq!(c.vs_weights("shop", "checkout"), split(90, 10));
    drop(task);
}

/// Starts `plan` from a loop on an API that answers every request late,
/// aborts once the start's first write (the image) is on the cluster, and
/// waits until the loop has recorded the start as cancelled.
async fn abort_a_start_half_way(c: &Cluster, plan: Plan, deployment: (&str, &str), image: &str) {
    use flightdeck::app::Msg;
    use flightdeck::app::msg::DriveReport;
    // Each write, and each wait for one to land, takes a while: the abort
    // comes while the start is between its writes.
    c.host.shared().faults.update(|f| f.api_latency_ms = 300);
    let (tx, mut rx) = tokio::sync::mpsc::channel(256);
    let task = flightdeck::driver::task::spawn(c.driver(plan, "ana"), tx, None);
    task.commands
        .send(Command::Start {
            image: Some(image.into()),
        })
        .await
        .unwrap();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    while self::image(&c.deployment(deployment.0, deployment.1)) != image {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the start never wrote the image"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    task.commands
        .send(Command::Abort {
            mode: Some(RollbackMode::Immediate),
        })
        .await
        .unwrap();
    let mut cancelled = None;
    loop {
        let msg = tokio::time::timeout_at(deadline, rx.recv())
            .await
            .expect("the abort never finished")
            .unwrap();
        match msg {
            Msg::Drive(DriveReport::Cancelled { action, by }) => cancelled = Some((action, by)),
            Msg::Drive(DriveReport::Done { action, .. } | DriveReport::Failed { action, .. })
                if action == "abort" =>
            {
                break;
            }
            _ => {}
        }
    }
    assert_eq!(
        cancelled,
        Some(("start".to_string(), "abort by ana".to_string()))
    );
    c.host.shared().faults.update(|f| f.api_latency_ms = 0);
    drop(task);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_blue_green_start_given_up_half_way_leaves_the_slots_and_services_as_it_found_them() {
    let c = builtin("blue-green").await;
    let green = c.deployment("frontend", "web-green");
    let services = || {
        (
            selects(&c.get(kinds::services(), "frontend", "web")),
            selects(&c.get(kinds::services(), "frontend", "web-preview")),
        )
    };
    let before = services();
    abort_a_start_half_way(
        &c,
        plan(BLUE_GREEN),
        ("frontend", "web-green"),
        "registry.local/frontend/web:7.1.1",
    )
    .await;
    let now = c.deployment("frontend", "web-green");
    assert_eq!(image(&now), "registry.local/frontend/web:7.1.0");
    assert_eq!(
        now.pointer("/spec/template"),
        green.pointer("/spec/template")
    );
    assert_eq!(replicas(&now), replicas(&green));
    assert_eq!(services(), before);
    assert_eq!(before, ("blue".to_string(), "green".to_string()));
    let cancelled = c
        .audit()
        .into_iter()
        .find(|a| a["action"] == "start")
        .unwrap();
    assert_eq!(cancelled["result"], "cancelled");
    assert!(
        cancelled["reason"]
            .as_str()
            .unwrap()
            .ends_with("its writes were undone"),
        "{cancelled}"
    );
    let stored = c.driver(plan(BLUE_GREEN), "bo").load().await.unwrap();
    assert_eq!(stored.rollout.state.phase, Phase::NotStarted);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rolling_start_given_up_half_way_puts_the_template_back() {
    let c = builtin("rolling").await;
    let api = c.deployment("backend", "api");
    abort_a_start_half_way(
        &c,
        shipped("rolling.toml"),
        ("backend", "api"),
        "registry.local/backend/api:10.6.0",
    )
    .await;
    let now = c.deployment("backend", "api");
    assert_eq!(image(&now), image(&api));
    assert_eq!(now.pointer("/spec/template"), api.pointer("/spec/template"));
    assert_eq!(replicas(&now), replicas(&api));
    assert_eq!(now.pointer("/spec/paused"), api.pointer("/spec/paused"));
    let cancelled = c
        .audit()
        .into_iter()
        .find(|a| a["action"] == "start")
        .unwrap();
    assert_eq!(cancelled["result"], "cancelled");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wait_that_landed_after_its_driver_died_is_kept_and_the_step_finished_by_the_next() {
    use flightdeck::app::Msg;
    use flightdeck::app::msg::DriveReport;
    let c = builtin("healthy-canary").await;
    let checkout = || {
        plan(
            r#"
app = "checkout"
namespace = "shop"
strategy = "canary"
[canary]
stable = "checkout-stable"
canary = "checkout-canary"
stages = [{ weight = 10 }, { weight = 100 }]
[canary.router]
kind = "istio"
virtual_service = "checkout"
destination_rule = "checkout"
"#,
        )
    };
    let settings = patient();
    let d = c.driver_with(checkout(), "ana", settings);
    d.execute(Command::Start { image: None }).await.unwrap();
    let ana_runtime = own_runtime();
    let (tx, _ana_rx) = tokio::sync::mpsc::channel(256);
    let ana = {
        let _inside = ana_runtime.enter();
        flightdeck::driver::task::spawn(d, tx, None)
    };
    // A slow API: ana stores the wait well before its watch could see the
    // rollout land.
    c.host.shared().faults.update(|f| f.api_latency_ms = 1000);
    ana.commands.send(Command::PromoteFull).await.unwrap();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    let waiting = || {
        let cm = c.get(kinds::configmaps(), "shop", "checkout-flightdeck-rollout");
        cm.pointer("/data/landing.json")
            .and_then(Value::as_str)
            .map(|l| serde_json::from_str::<Value>(l).unwrap())
    };
    let stored = loop {
        if let Some(l) = waiting().filter(|l| l["condition"]["kind"] == "rolled-out") {
            break l;
        }
        assert!(tokio::time::Instant::now() < deadline, "no landing stored");
        tokio::time::sleep(Duration::from_millis(10)).await;
    };
    // Ana's cockpit dies mid-wait.
    ana_runtime.shutdown_background();
    drop(ana);
    c.host.shared().faults.update(|f| f.api_latency_ms = 0);
    assert_eq!(
        stored["written"],
        "roll the canary's template out to stable"
    );
    assert_eq!(stored["rest"].as_array().unwrap().len(), 2, "{stored}");
    // What ana wrote lands with nobody watching.
    while !flightdeck::driver::apply::rolled_out(&c.deployment("shop", "checkout-stable")) {
        assert!(
            tokio::time::Instant::now() < deadline,
            "stable never rolled out"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(c.vs_weights("shop", "checkout"), split(0, 100));

    let (tx, mut rx) = tokio::sync::mpsc::channel(256);
    let bo = flightdeck::driver::task::spawn(c.driver(checkout(), "bo"), tx, None);
    let to = loop {
        let msg = tokio::time::timeout_at(deadline, rx.recv())
            .await
            .expect("bo never settled the wait")
            .unwrap();
        match msg {
            Msg::Drive(DriveReport::Done { action, to }) if action == "promote" => break to,
            Msg::Drive(DriveReport::Failed { action, reason }) => panic!("{action}: {reason}"),
            Msg::Drive(DriveReport::Cancelled { action, by }) => panic!("{action} cancelled: {by}"),
            _ => {}
        }
    };
    assert!(to.starts_with("promoted"), "{to}");
    // Kept, not undone: stable runs the canary's template, and the writes
    // the promotion had left were made.
    assert_eq!(
        image(&c.deployment("shop", "checkout-stable")),
        "registry.local/shop/checkout:1.5.0"
    );
    assert_eq!(c.vs_weights("shop", "checkout"), split(100, 0));
    assert_eq!(replicas(&c.deployment("shop", "checkout-canary")), 0);
    let audit = c.audit();
    assert!(
        !audit.iter().any(|a| a["result"] == "cancelled"),
        "{audit:?}"
    );
    let promote = audit.iter().find(|a| a["action"] == "promote").unwrap();
    assert_eq!(promote["result"], "done");
    assert_eq!(promote["who"]["os_user"], "bo");
    let detail = promote["detail"].as_str().unwrap();
    assert!(
        detail.starts_with(
            "roll the canary's template out to stable landed while its driver ana@test#"
        ) && detail.ends_with("settled by bo"),
        "{detail}"
    );
    let stored = c.driver(checkout(), "cy").load().await.unwrap();
    assert!(matches!(stored.rollout.state.phase, Phase::Promoted { .. }));
    assert!(stored.landing.is_none());
    drop(bo);
}

/// healthy-canary, except that a stable pod takes three minutes to pass its
/// readiness probe: stable taking a new template is a long landing wait.
const SLOW_STABLE: &str = r#"
name = "slow-stable"
[cluster]
namespaces = ["shop"]
nodes = 3

[[apps]]
name = "checkout"
namespace = "shop"
strategy = "canary"
port = 8080
requests_per_second = 120.0
routers = ["istio"]
paths = ["/api/cart", "/api/checkout", "/health"]

[[apps.versions]]
name = "stable"
image = "registry.local/shop/checkout:1.4.2"
replicas = 4
weight = 100
ready_after = "3m"

[[apps.versions]]
name = "canary"
image = "registry.local/shop/checkout:1.5.0"
replicas = 1
weight = 0
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_guard_fed_by_the_sims_own_numbers_acts_within_one_interval_while_a_promotion_waits() {
    use flightdeck::app::Msg;
    use flightdeck::app::msg::DriveReport;
    use flightdeck::driver::apply::rolled_out;
    use flightdeck::driver::guarded::GuardLink;
    use flightdeck::rollout::ActionResult;
    use flightdeck::workers::guard_watch::{GuardSource, GuardWatch};
    let c = cluster(Scenario::parse(Path::new("slow-stable.toml"), SLOW_STABLE).unwrap()).await;
    let checkout = plan(
        r#"
app = "checkout"
namespace = "shop"
strategy = "canary"
auto = true
[canary]
stable = "checkout-stable"
canary = "checkout-canary"
stages = [{ weight = 10, pause = "1h" }, { weight = 100 }]
[canary.router]
kind = "istio"
virtual_service = "checkout"
destination_rule = "checkout"

[[guards]]
metric = "error-ratio"
threshold = "5%"
for = "30s"
action = "rollback"
"#,
    );
    let interval = chrono::TimeDelta::seconds(15);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(90);
    let stable = || c.deployment("shop", "checkout-stable");
    while !rolled_out(&stable()) {
        assert!(
            tokio::time::Instant::now() < deadline,
            "stable never came up"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // A landing that never comes in time: only the guard can end the wait.
    let settings = patient();
    let d = c.driver_with(checkout.clone(), "ana", settings);
    let next = "registry.local/shop/checkout:1.5.1";
    d.execute(Command::Start {
        image: Some(next.into()),
    })
    .await
    .unwrap();
    while !rolled_out(&c.deployment("shop", "checkout-canary")) {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the canary never came up"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(c.vs_weights("shop", "checkout"), split(90, 10));

    // The guards read the pods' own metrics through the API server, as
    // `flightdeck run` does.
    let target = flightdeck::workers::Target {
        client: c.client.clone(),
        namespace: "shop".into(),
        app: "checkout".into(),
    };
    let pods = flightdeck::workers::pods_only(&target);
    let store = c.host.shared().store.clone();
    let clock = Clock::scaled(move || store.now(), SPEED);
    let link = GuardLink::spawn(GuardWatch::for_plan(
        &checkout,
        target,
        GuardSource::PodProxy,
        clock,
        pods.pods(),
    ));
    let (tx, mut rx) = tokio::sync::mpsc::channel(256);
    let task = flightdeck::driver::task::spawn(d, tx, Some(link));
    task.commands.send(Command::PromoteFull).await.unwrap();
    while image(&stable()) != next {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the promotion never began"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(c.vs_weights("shop", "checkout"), split(0, 100));

    // The canary, carrying everything, starts failing 30% of its requests.
    let spiked = reqwest::Client::new()
        .post(format!("{}/sim/faults", c.host.url()))
        .json(
            &json!({"action": "error-spike", "namespace": "shop", "app": "checkout",
                      "version": "canary", "error_ratio": 0.3}),
        )
        .send()
        .await
        .unwrap();
    assert!(spiked.status().is_success(), "{spiked:?}");
    let mut fired = None;
    let mut cancelled = None;
    let to = loop {
        let msg = tokio::time::timeout_at(deadline, rx.recv())
            .await
            .expect("the guard never acted")
            .unwrap();
        match msg {
            Msg::Drive(DriveReport::Progress(line)) if line.starts_with("guard fired") => {
                // The promotion is still waiting for stable when the guard fires.
                assert!(!rolled_out(&stable()), "the promotion landed first");
                fired.get_or_insert((c.host.shared().store.now(), line));
            }
            Msg::Drive(DriveReport::Cancelled { action, by }) => cancelled = Some((action, by)),
            Msg::Drive(DriveReport::Done { action, to }) if action == "guard" => break to,
            Msg::Drive(DriveReport::Failed { action, reason }) => panic!("{action}: {reason}"),
            _ => {}
        }
    };
    let (fired_at, line) = fired.expect("no guard fired");
    assert!(line.contains("error-ratio"), "{line}");
    let (action, by) = cancelled.unwrap();
    assert_eq!(action, "promote");
    assert!(by.starts_with("guard "), "{by}");
    assert!(to.starts_with("aborted"), "{to}");
    // Users are back on stable, which runs what it ran before.
    assert_eq!(c.vs_weights("shop", "checkout"), split(100, 0));
    assert_eq!(image(&stable()), "registry.local/shop/checkout:1.4.2");
    let history = d_history(&c, checkout).await;
    let results: Vec<(&str, bool)> = history
        .iter()
        .map(|e| (e.action.as_str(), matches!(e.result, ActionResult::Done)))
        .collect();
    assert_eq!(
        results,
        [("start", true), ("promote", false), ("guard", true)]
    );
    // Acted on within one reading interval of the cluster's clock.
    let acted = history[2].at;
    assert!(
        acted - fired_at <= interval,
        "fired at {fired_at}, acted at {acted}"
    );
    drop(task);
    drop(pods);
}

async fn d_history(c: &Cluster, plan: Plan) -> Vec<flightdeck::rollout::HistoryEntry> {
    let loaded = c.driver(plan, "reader").load().await.unwrap();
    loaded.rollout.history.entries().cloned().collect()
}
