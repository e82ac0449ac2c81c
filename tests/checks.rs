//! The plan's checks against the simulated cluster through the real kube
//! client: a start held until its approval is ticked, a failing check that
//! rolls back, a passed check never run twice across a restart, and a run
//! left half-way reported as interrupted.

#![allow(clippy::unwrap_used)]

mod common;

use std::path::{Path, PathBuf};
use std::time::Duration;

use common::driving::sim_scenario;
use flightdeck::cluster::routers::{self, istio};
use flightdeck::driver::{Clock, Command, DriveError, Driver, Settings};
use flightdeck::rollout::Phase;
use flightdeck::rollout::checks::ResultState;
use flightdeck::rollout::plan::Plan;
use flightdeck::sim::host::SimHost;
use flightdeck::sim::resources::kinds;
use flightdeck::workers::audit::{Actor, AuditLog};
use serde_json::{Value, json};

/// checkout on the healthy-canary scenario, 10 → 50 → 100 behind Istio;
/// each test adds its `[[checks]]`.
const PLAN: &str = r#"
app = "checkout"
namespace = "shop"
strategy = "canary"
[canary]
stable = "checkout-stable"
canary = "checkout-canary"
stages = [{ weight = 10 }, { weight = 50 }, { weight = 100 }]
[canary.router]
kind = "istio"
virtual_service = "checkout"
"#;

struct Rig {
    host: SimHost,
    dir: tempfile::TempDir,
    kube: tempfile::TempDir,
    client: kube::Client,
    plan: Plan,
}

async fn rig(checks: &str) -> Rig {
    let (host, kube, client) = sim_scenario("healthy-canary", 30.0).await;
    let dir = tempfile::tempdir().unwrap();
    let text = format!("{PLAN}\n{checks}").replace("{dir}", &dir.path().display().to_string());
    let plan = Plan::parse(&dir.path().join("plan.toml"), &text).unwrap();
    Rig {
        host,
        dir,
        kube,
        client,
        plan,
    }
}

impl Rig {
    /// A driver as `who`; the same name in one process is the same helm holder.
    fn driver(&self, who: &str) -> Driver {
        let store = self.host.shared().store.clone();
        let settings = Settings {
            clock: Clock::scaled(move || store.now(), 1.0),
            landing_timeout: Duration::from_secs(60),
            ..Settings::default()
        };
        Driver::new(
            self.client.clone(),
            self.plan.clone(),
            "flightdeck-sim",
            Some(AuditLog::open(&self.audit_path()).unwrap()),
            settings,
        )
        .with_actor(Actor {
            kube_user: "flightdeck-sim".into(),
            os_user: who.into(),
            host: "test".into(),
        })
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

    fn weights(&self) -> routers::Weights {
        let vs = self
            .host
            .shared()
            .store
            .get(kinds::virtualservices(), "shop", "checkout")
            .unwrap();
        istio::weights(&vs).unwrap()
    }

    fn event_reasons(&self) -> Vec<String> {
        let (events, _) = self.host.shared().store.list(kinds::events(), Some("shop"));
        events
            .iter()
            .filter_map(|e| Some(e.pointer("/reason")?.as_str()?.to_string()))
            .collect()
    }

    fn marker(&self) -> PathBuf {
        self.dir.path().join("ran.txt")
    }

    /// How many times the marker command ran.
    fn runs(&self) -> usize {
        std::fs::read_to_string(self.marker())
            .unwrap_or_default()
            .lines()
            .count()
    }
}

fn refusal(result: Result<flightdeck::driver::Outcome, DriveError>) -> String {
    match result {
        Err(DriveError::Refused(r)) => r.0,
        other => panic!("expected a refusal, got {other:?}"),
    }
}

fn split(stable: u8, canary: u8) -> routers::Weights {
    vec![("stable".into(), stable), ("canary".into(), canary)]
}

const START: Command = Command::Start { image: None };

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_start_is_refused_until_its_approval_is_ticked() {
    let rig = rig(r#"
[[checks]]
id = "approval"
at = "before-start"
manual = "The change is approved"
who = "release manager"
"#)
    .await;
    let driver = rig.driver("ana");
    let before = rig.weights();
    let refused = refusal(driver.execute(START).await);
    assert!(
        refused.contains("waiting for checks to be ticked: approval")
            && refused.contains(&format!(
                "flightdeck check --plan {} --tick approval",
                rig.dir.path().join("plan.toml").display()
            )),
        "{refused}"
    );
    assert_eq!(rig.weights(), before, "the router is left alone");
    let audit = rig.audit();
    assert!(
        audit
            .iter()
            .any(|l| l["action"] == "start" && l["result"] == "refused"),
        "{audit:?}"
    );

    let ticked = driver.tick_check("approval").await.unwrap();
    assert_eq!(ticked.state, ResultState::Ticked);
    assert_eq!(ticked.who, "flightdeck-sim");
    assert!(
        rig.event_reasons()
            .contains(&"RolloutCheckTick".to_string())
    );
    assert!(
        rig.audit()
            .iter()
            .any(|l| l["action"] == "check-tick"
                && l["detail"] == "approval: The change is approved")
    );

    let started = driver.execute(START).await.unwrap();
    assert_eq!(started.state.stage(), Some(0));
    assert_eq!(rig.weights(), split(90, 10));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_check_that_rolls_back_aborts_the_rollout_naming_it() {
    let rig = rig(r#"
[[checks]]
id = "smoke"
at = "before-stage 2"
run = ["sh", "-c", "echo smoke failed for {app} at stage {stage}; exit 3"]
on_fail = "rollback"
"#)
    .await;
    let driver = rig.driver("ana");
    driver.execute(START).await.unwrap();
    assert_eq!(rig.weights(), split(90, 10));

    let refused = refusal(driver.execute(Command::Advance).await);
    assert!(
        refused.contains("check smoke failed") && refused.contains("rolled back"),
        "{refused}"
    );
    assert_eq!(rig.weights(), split(100, 0), "everything back on stable");
    let state = driver.load().await.unwrap().rollout.state;
    match &state.phase {
        Phase::Aborted { reason, .. } => assert!(reason.contains("smoke"), "{reason}"),
        other => panic!("not aborted: {other:?}"),
    }
    let results = driver.check_results().await.unwrap();
    let smoke = &results.checks["smoke"];
    assert_eq!(smoke.state, ResultState::Failed);
    assert_eq!(smoke.exit_code, Some(3));
    assert_eq!(smoke.output.trim(), "smoke failed for checkout at stage 2");
    let audit = rig.audit();
    assert!(
        audit.iter().any(|l| l["action"] == "check-run"
            && l["result"] == "failed"
            && l["reason"] == "exit code 3"),
        "{audit:?}"
    );
    assert!(
        audit.iter().any(
            |l| l["action"] == "abort" && l["to"].as_str().is_some_and(|t| t.contains("smoke"))
        ),
        "{audit:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_passed_check_is_not_run_again_by_the_next_driver() {
    let rig = rig(r#"
[[checks]]
id = "backup"
at = "before-start"
run = ["sh", "-c", "echo {rollout} >> {dir}/ran.txt"]
"#)
    .await;
    let first = rig.driver("ana");
    first.run_due_checks().await.unwrap();
    assert_eq!(rig.runs(), 1);
    first.helm().release().await;
    drop(first);

    let second = rig.driver("bo");
    second.execute(START).await.unwrap();
    assert_eq!(rig.runs(), 1, "the passed backup is not run again");
    assert_eq!(rig.weights(), split(90, 10));
    let results = second.check_results().await.unwrap();
    assert_eq!(results.checks["backup"].state, ResultState::Passed);
    assert_eq!(results.starts, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_left_running_is_interrupted_until_cleared() {
    let rig = rig(r#"
[[checks]]
id = "backup"
at = "before-start"
run = ["sh", "-c", "echo {rollout} >> {dir}/ran.txt"]
"#)
    .await;
    // A runner that died half-way left its mark and nothing else.
    let left = json!({"starts": 0, "checks": {"backup": {
        "state": "running", "round": 1, "who": "gone@elsewhere#1",
        "at": "2025-06-01T12:00:00Z"}}});
    let cms: kube::Api<k8s_openapi::api::core::v1::ConfigMap> =
        kube::Api::namespaced(rig.client.clone(), "shop");
    cms.create(
        &kube::api::PostParams::default(),
        &serde_json::from_value(json!({
            "metadata": {"name": "checkout-flightdeck-rollout"},
            "data": {"checks.json": left.to_string()},
        }))
        .unwrap(),
    )
    .await
    .unwrap();
    let driver = rig.driver("ana");
    let before = rig.weights();
    let refused = refusal(driver.execute(START).await);
    assert!(refused.contains("checks interrupted: backup"), "{refused}");
    assert!(refused.contains("--rerun backup"), "{refused}");
    assert_eq!(rig.runs(), 0, "an interrupted check is not run by itself");
    assert_eq!(rig.weights(), before);

    driver.rerun_check("backup").await.unwrap();
    driver.execute(START).await.unwrap();
    assert_eq!(rig.runs(), 1);
    assert_eq!(std::fs::read_to_string(rig.marker()).unwrap().trim(), "1");
}

/// Runs the binary with the shipped runbook plan; KUBECONFIG is the sim's,
/// so the smoke test's kubectl reaches the same cluster.
async fn runbook(rig: &Rig, args: &[&str]) -> std::process::Output {
    let plan = Path::new(env!("CARGO_MANIFEST_DIR")).join("assets/plans/canary-runbook.toml");
    let kubeconfig = rig.kube.path().join("kubeconfig");
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_flightdeck"));
    cmd.args(args)
        .arg("--plan")
        .arg(plan)
        .arg("--kubeconfig")
        .arg(&kubeconfig)
        .arg("--audit")
        .arg(rig.audit_path())
        .env("KUBECONFIG", &kubeconfig)
        .env("TMPDIR", rig.dir.path())
        .env("USER", "captain")
        .env("NO_COLOR", "1")
        .stdin(std::process::Stdio::null());
    tokio::task::spawn_blocking(move || cmd.output().unwrap())
        .await
        .unwrap()
}

fn listed(out: &std::process::Output) -> Vec<Value> {
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_runbook_from_the_shell_ticks_backs_up_and_smoke_tests_before_promoting() {
    let rig = rig("").await;
    let refused = runbook(&rig, &["start"]).await;
    assert!(!refused.status.success());
    let err = String::from_utf8_lossy(&refused.stderr);
    assert!(
        err.contains("waiting for checks to be ticked: approval"),
        "{err}"
    );

    let ticked = listed(&runbook(&rig, &["check", "--tick", "approval", "-o", "json"]).await);
    let states: Vec<(&str, &str)> = ticked
        .iter()
        .map(|c| (c["id"].as_str().unwrap(), c["state"].as_str().unwrap()))
        .collect();
    assert_eq!(
        states,
        [
            ("approval", "ticked"),
            ("backup", "open"),
            ("smoke", "open")
        ]
    );
    assert_eq!(ticked[0]["who"], "flightdeck-sim");

    let started = runbook(&rig, &["start"]).await;
    assert!(
        started.status.success(),
        "{}",
        String::from_utf8_lossy(&started.stderr)
    );
    let after = listed(&runbook(&rig, &["check", "-o", "json"]).await);
    assert_eq!(after[1]["state"], "passed");
    let backup = rig
        .dir
        .path()
        .join("flightdeck-backups/shop-checkout-1.txt");
    assert!(
        after[1]["output"]
            .as_str()
            .unwrap()
            .contains(&format!("backup written to {}", backup.display())),
        "{after:?}"
    );
    assert!(
        std::fs::read_to_string(&backup)
            .unwrap()
            .starts_with("backup of shop/checkout for rollout 1")
    );

    if !common::kubectl_available("checks") {
        return;
    }
    let promoted = runbook(&rig, &["promote", "--yes"]).await;
    assert!(
        promoted.status.success(),
        "{}",
        String::from_utf8_lossy(&promoted.stderr)
    );
    let done = listed(&runbook(&rig, &["check", "-o", "json"]).await);
    assert_eq!(done[2]["state"], "passed", "{done:?}");
    assert_eq!(done[2]["exit_code"], 0);
    assert_eq!(done[2]["rollout"], 1);
}
