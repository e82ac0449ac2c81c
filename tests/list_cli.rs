//! `flightdeck list`, the real binary against simulated clusters: the rows a
//! script or a person sees for flightdeck rollouts and plain Deployments,
//! several contexts at once, and a context that does not answer.

#![allow(clippy::unwrap_used, clippy::format_push_string)]

use std::path::Path;
use std::process::{Command, Output, Stdio};

use flightdeck::sim::resources::kinds;
use k8s_openapi::api::apps::v1::Deployment;
use kube::api::{Patch, PatchParams};
use serde_json::{Value, json};

mod sim_dir;

use sim_dir::SimDir;

const BIN: &str = env!("CARGO_BIN_EXE_flightdeck");

async fn run(args: Vec<String>) -> Output {
    let mut cmd = Command::new(BIN);
    cmd.args(args)
        .env("NO_COLOR", "1")
        .env("USER", "captain")
        .env("RUST_BACKTRACE", "0")
        .stdin(Stdio::null());
    tokio::task::spawn_blocking(move || cmd.output().unwrap())
        .await
        .unwrap()
}

/// Runs `list ARGS` until its stdout satisfies `done` (the simulated pods
/// take a moment to start and turn ready), or gives the last output.
async fn list_until(args: &[&str], done: impl Fn(&str) -> bool) -> Output {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    loop {
        let out = run(strings(args)).await;
        if done(&String::from_utf8_lossy(&out.stdout)) || std::time::Instant::now() > deadline {
            return out;
        }
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
}

fn strings(args: &[&str]) -> Vec<String> {
    args.iter().map(ToString::to_string).collect()
}

/// Starts the flightdeck rollout of `plan` on `sim` with the real binary.
async fn start(sim: &SimDir, plan: &str) {
    let mut cmd = sim.command(BIN, &["start"], plan);
    cmd.env("USER", "captain").stdin(Stdio::null());
    let out = tokio::task::spawn_blocking(move || cmd.output().unwrap())
        .await
        .unwrap();
    assert!(
        out.status.success(),
        "start: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A kubeconfig naming each `(context, server, namespace)`.
fn kubeconfig(path: &Path, contexts: &[(&str, &str, &str)]) {
    let mut text = String::from("apiVersion: v1\nkind: Config\nclusters:\n");
    for (name, server, _) in contexts {
        text += &format!("- name: {name}\n  cluster:\n    server: \"{server}\"\n");
    }
    text += "contexts:\n";
    for (name, _, ns) in contexts {
        text += &format!(
            "- name: {name}\n  context:\n    cluster: {name}\n    user: u\n    namespace: {ns}\n"
        );
    }
    text += &format!(
        "current-context: {}\nusers:\n- name: u\n  user: {{}}\n",
        contexts[0].0
    );
    std::fs::write(path, text).unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flightdeck_rollout_is_listed_with_its_stage_weight_and_pods() {
    let sim = SimDir::start("healthy-canary", 30.0).await;
    let kc = sim.kubeconfig().display().to_string();

    // Nothing under way once the pods are up: a settled cluster has
    // nothing to release.
    let out = list_until(&["list", "--kubeconfig", &kc], |t| {
        t.contains("nothing to release")
    })
    .await;
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.contains("nothing to release"), "{text}");

    start(&sim, "canary-istio.toml").await;
    let out = run(strings(&[
        "list",
        "--kubeconfig",
        &kc,
        "-n",
        "shop",
        "-o",
        "json",
    ]))
    .await;
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let listing: Value = serde_json::from_slice(&out.stdout).unwrap();
    let rows = listing["rows"].as_array().unwrap();
    assert_eq!(rows.len(), 1, "{listing}");
    let row = &rows[0];
    assert_eq!(row["cluster"], "flightdeck-sim");
    assert_eq!(row["namespace"], "shop");
    assert_eq!(row["app"], "checkout");
    assert_eq!(row["kind"], "flightdeck");
    assert_eq!(row["strategy"], "canary");
    assert_eq!(
        (row["step"].as_u64(), row["steps"].as_u64()),
        (Some(1), Some(5))
    );
    assert_eq!(row["weight"], 10);
    assert_eq!(row["phase"], "paused");
    assert_eq!(row["reason"], "waiting for the go");
    // Stable's four and the canary's one, every one of them the app's.
    assert!(row["pods"].as_u64().unwrap() >= 5, "{row}");
    assert_eq!(listing["clusters"][0]["answers"], true);

    let out = run(strings(&["list", "--kubeconfig", &kc, "-A"])).await;
    let text = String::from_utf8(out.stdout).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert!(lines[0].starts_with("CLUSTER"), "{text}");
    let line = lines.iter().find(|l| l.contains("checkout")).unwrap();
    for cell in [
        "flightdeck-sim",
        "shop",
        "flightdeck",
        "canary",
        "1/5",
        "10%",
        "paused",
    ] {
        assert!(line.contains(cell), "{cell} missing: {text}");
    }

    // Another namespace holds nothing.
    let out = run(strings(&[
        "list",
        "--kubeconfig",
        &kc,
        "-n",
        "elsewhere",
        "-o",
        "json",
    ]))
    .await;
    let listing: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(listing["rows"], json!([]));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_contexts_one_silent_list_the_other_and_exit_unreachable() {
    let rolling = SimDir::start("rolling", 30.0).await;
    // A paused Deployment that no flightdeck rollout drives: a row of its own.
    let api: kube::Api<Deployment> = kube::Api::namespaced(rolling.client().await, "backend");
    api.patch(
        "api",
        &PatchParams::default(),
        &Patch::Merge(json!({"spec": {"paused": true}})),
    )
    .await
    .unwrap();
    let kc = rolling.dir.path().join("two.yaml");
    // Port 9 (discard) has no listener on the test machine: refused at once.
    kubeconfig(
        &kc,
        &[
            ("lab", &rolling.host.url(), "backend"),
            ("gone", "http://127.0.0.1:9", "default"),
        ],
    );
    let kc = kc.display().to_string();

    // The Deployment's pods are created on the sim's next ticks.
    let out = list_until(
        &["list", "--kubeconfig", &kc, "--context", "lab,gone"],
        |t| t.lines().any(|l| l.starts_with("lab") && l.contains("/4")),
    )
    .await;
    let text = String::from_utf8(out.stdout.clone()).unwrap();
    assert_eq!(out.status.code(), Some(10), "{text}");
    let api_line = text.lines().find(|l| l.starts_with("lab")).unwrap();
    // Its four pods are counted whether or not they are ready yet.
    for cell in ["backend", "api", "Deployment", "rolling", "paused", "/4"] {
        assert!(api_line.contains(cell), "{cell} missing: {text}");
    }
    let gone = text.lines().find(|l| l.starts_with("gone")).unwrap();
    assert!(gone.contains("unreachable"), "{text}");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("gone"), "{err}");

    let out = run(strings(&[
        "list",
        "--kubeconfig",
        &kc,
        "--all-contexts",
        "-o",
        "json",
    ]))
    .await;
    assert_eq!(out.status.code(), Some(10));
    let listing: Value = serde_json::from_slice(&out.stdout).unwrap();
    let clusters = listing["clusters"].as_array().unwrap();
    assert!(
        clusters
            .iter()
            .any(|c| c["name"] == "lab" && c["answers"] == true)
    );
    assert!(
        clusters
            .iter()
            .any(|c| c["name"] == "gone" && c["answers"] == false && c["kind"] == "unreachable")
    );
    assert!(
        listing["rows"]
            .as_array()
            .unwrap()
            .iter()
            .any(|r| r["app"] == "api" && r["kind"] == "deployment" && r["phase"] == "paused")
    );

    // The reachable context alone: every cluster answered, exit 0.
    let out = run(strings(&["list", "--kubeconfig", &kc, "--context", "lab"])).await;
    assert_eq!(out.status.code(), Some(0));
}

/// The one row of `list -A -o json` on `sim` once `done` holds for it.
async fn only_row(sim: &SimDir, done: impl Fn(&Value) -> bool) -> Value {
    let kc = sim.kubeconfig().display().to_string();
    let out = list_until(&["list", "--kubeconfig", &kc, "-A", "-o", "json"], |t| {
        serde_json::from_str::<Value>(t)
            .ok()
            .and_then(|l| l["rows"].get(0).cloned())
            .is_some_and(|r| done(&r))
    })
    .await;
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let listing: Value = serde_json::from_slice(&out.stdout).unwrap();
    let rows = listing["rows"].as_array().unwrap();
    assert_eq!(rows.len(), 1, "{listing}");
    rows[0].clone()
}

fn stored(sim: &SimDir, res: &flightdeck::sim::resources::Resource, ns: &str, name: &str) -> Value {
    (*sim.host.shared().store.get(res, ns, name).unwrap()).clone()
}

fn pods_of(sim: &SimDir, ns: &str, app: &str) -> u64 {
    let (pods, _) = sim.host.shared().store.list(kinds::pods(), Some(ns));
    pods.iter()
        .filter(|p| p["metadata"]["labels"]["app"] == app)
        .count() as u64
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_argo_canary_is_listed_as_its_controller_wrote_it() {
    let sim = SimDir::start("argo-canary", 30.0).await;
    let row = only_row(&sim, |r| {
        r["phase"] == "paused" && r["pods_ready"] == r["pods"]
    })
    .await;
    let ro = stored(&sim, kinds::rollouts(), "shop", "checkout");
    assert_eq!(
        (&row["cluster"], &row["namespace"], &row["app"]),
        (&json!("flightdeck-sim"), &json!("shop"), &json!("checkout"))
    );
    assert_eq!(
        (&row["kind"], &row["strategy"]),
        (&json!("argo"), &json!("canary"))
    );
    // Steps count from one; the controller's index from zero.
    assert_eq!(
        row["step"],
        ro["status"]["currentStepIndex"].as_u64().unwrap() + 1
    );
    assert_eq!(row["steps"], 9);
    assert_eq!(
        row["weight"],
        ro["status"]["canary"]["weights"]["canary"]["weight"]
    );
    assert_eq!(row["weight"], 20);
    assert_eq!(row["reason"], "CanaryPauseStep");
    assert_eq!(row["pods"], pods_of(&sim, "shop", "checkout"));

    // Promoted past the pause, as `kubectl argo rollouts promote` writes it;
    // the analysis step's measurements then show up as the AnalysisRun holds them.
    let api: kube::Api<kube::api::DynamicObject> = kube::Api::namespaced_with(
        sim.client().await,
        "shop",
        &flightdeck::external::argo::rollouts(),
    );
    api.patch_status(
        "checkout",
        &PatchParams::default(),
        &Patch::Merge(json!({"status": {"pauseConditions": null}})),
    )
    .await
    .unwrap();
    let row = only_row(&sim, |r| r["analysis"][0]["phase"] == "Successful").await;
    let metric = &row["analysis"][0];
    assert_eq!(metric["name"], "error-rate");
    assert_eq!(metric["limit"], "result[0] < 0.05");
    let (runs, _) = sim
        .host
        .shared()
        .store
        .list(kinds::analysisruns(), Some("shop"));
    let held: Vec<Value> = runs
        .iter()
        .flat_map(|run| {
            run["status"]["metricResults"][0]["measurements"]
                .as_array()
                .cloned()
                .unwrap_or_default()
        })
        .map(|m| m["value"].clone())
        .collect();
    let measured = metric["measured"].as_array().unwrap();
    assert_eq!(measured.len(), 3, "{row}");
    assert!(
        measured.iter().all(|m| held.contains(m)),
        "{measured:?} vs {held:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_argo_blue_green_rollout_is_listed_paused_behind_its_preview() {
    let sim = SimDir::start("argo-blue-green", 30.0).await;
    let row = only_row(&sim, |r| r["phase"] == "paused").await;
    let ro = stored(&sim, kinds::rollouts(), "frontend", "web");
    assert_eq!(
        ro["status"]["pauseConditions"][0]["reason"],
        "BlueGreenPause"
    );
    assert_eq!(
        (&row["kind"], &row["strategy"]),
        (&json!("argo"), &json!("blue-green"))
    );
    assert_eq!(
        (&row["namespace"], &row["app"]),
        (&json!("frontend"), &json!("web"))
    );
    assert_eq!(row["reason"], "BlueGreenPause");
    assert_eq!((&row["step"], &row["weight"]), (&Value::Null, &Value::Null));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flagger_canary_is_listed_with_the_weight_flagger_set() {
    let sim = SimDir::start("flagger-canary", 10.0).await;
    let row = only_row(&sim, |r| r["weight"].as_u64().unwrap_or(0) > 0).await;
    let canary = stored(&sim, kinds::canaries(), "pay", "payments");
    assert_eq!(
        (&row["kind"], &row["strategy"]),
        (&json!("flagger"), &json!("canary"))
    );
    assert_eq!(
        (&row["namespace"], &row["app"]),
        (&json!("pay"), &json!("payments"))
    );
    assert_eq!(row["phase"], "progressing");
    // The next step is an interval (3 s here) away: the row holds the
    // weight the Canary held then or holds now.
    let weight = row["weight"].as_u64().unwrap();
    let now = canary["status"]["canaryWeight"].as_u64().unwrap();
    assert!(weight == now || weight + 20 == now, "{row} vs {now}");
    assert_eq!(row["steps"], 3);
    assert_eq!(row["analysis"][0]["name"], "request-success-rate");
    assert_eq!(row["analysis"][0]["limit"], "≥ 99");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_forbidden_rollout_kind_is_skipped_and_the_rest_listed() {
    let rolling = SimDir::start("rolling", 30.0).await;
    let api: kube::Api<Deployment> = kube::Api::namespaced(rolling.client().await, "backend");
    api.patch(
        "api",
        &PatchParams::default(),
        &Patch::Merge(json!({"spec": {"paused": true}})),
    )
    .await
    .unwrap();
    rolling.host.shared().faults.update(|f| {
        f.forbidden_resources = vec!["rollouts.argoproj.io".into(), "canaries.flagger.app".into()];
    });
    let kc = rolling.kubeconfig().display().to_string();
    let out = run(strings(&["list", "--kubeconfig", &kc, "-A", "-o", "json"])).await;
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let listing: Value = serde_json::from_slice(&out.stdout).unwrap();
    let cluster = &listing["clusters"][0];
    assert_eq!(cluster["answers"], true, "{listing}");
    let skipped: Vec<(&str, &str)> = cluster["skipped"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| (s["kind"].as_str().unwrap(), s["reason"].as_str().unwrap()))
        .collect();
    assert_eq!(
        skipped,
        [
            ("rollouts.argoproj.io", "forbidden"),
            ("canaries.flagger.app", "forbidden")
        ]
    );
    assert!(
        listing["rows"]
            .as_array()
            .unwrap()
            .iter()
            .any(|r| r["app"] == "api" && r["kind"] == "deployment" && r["phase"] == "paused"),
        "{listing}"
    );
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("rollouts.argoproj.io skipped, forbidden"),
        "{err}"
    );
    // The text table too keeps the Deployment's row.
    let out = run(strings(&["list", "--kubeconfig", &kc, "-A"])).await;
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(
        text.lines()
            .any(|l| l.contains("api") && l.contains("paused")),
        "{text}"
    );
}

/// `flightdeck demo --scenario fleet`, killed when dropped.
struct FleetDemo {
    child: std::process::Child,
    kubeconfig: String,
}

impl FleetDemo {
    fn start() -> Self {
        use std::io::BufRead as _;
        let mut child = Command::new(BIN)
            .args(["demo", "--scenario", "fleet", "--speed", "10"])
            .env("RUST_BACKTRACE", "0")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        let mut lines = std::io::BufReader::new(stdout).lines();
        let kubeconfig = lines
            .by_ref()
            .map_while(Result::ok)
            .find_map(|l| l.strip_prefix("kubeconfig: ").map(str::to_string))
            .unwrap();
        // Keep reading, so the demo never blocks on a full pipe.
        std::thread::spawn(move || for _ in lines {});
        Self { child, kubeconfig }
    }
}

impl Drop for FleetDemo {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if let Some(dir) = Path::new(&self.kubeconfig).parent() {
            let _ = std::fs::remove_dir_all(dir);
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_fleet_demo_serves_two_clusters_in_one_kubeconfig() {
    let demo = tokio::task::spawn_blocking(FleetDemo::start).await.unwrap();
    let kc = demo.kubeconfig.clone();
    let ready = |listing: &Value| {
        let rows = listing["rows"].as_array().cloned().unwrap_or_default();
        let of = |c: &str| rows.iter().filter(|r| r["cluster"] == c).count();
        of("fleet-east") >= 12
            && of("fleet-west") >= 12
            && rows.iter().filter(|r| r["phase"] == "aborted").count() >= 3
            // Paused by the scenario's captain once its pods are up.
            && rows
                .iter()
                .any(|r| r["app"] == "warehouse" && r["phase"] == "paused")
    };
    let out = list_until(
        &[
            "list",
            "--kubeconfig",
            &kc,
            "--all-contexts",
            "-A",
            "-o",
            "json",
        ],
        |t| serde_json::from_str::<Value>(t).is_ok_and(|l| ready(&l)),
    )
    .await;
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let listing: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(ready(&listing), "{listing}");
    let clusters: Vec<(&str, bool)> = listing["clusters"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| (c["name"].as_str().unwrap(), c["answers"].as_bool().unwrap()))
        .collect();
    assert_eq!(clusters, [("fleet-east", true), ("fleet-west", true)]);
    let rows = listing["rows"].as_array().unwrap();
    let kinds: std::collections::BTreeSet<&str> =
        rows.iter().map(|r| r["kind"].as_str().unwrap()).collect();
    assert_eq!(
        kinds.into_iter().collect::<Vec<_>>(),
        ["argo", "deployment", "flagger", "flightdeck"]
    );
    let namespaces: std::collections::BTreeSet<&str> = rows
        .iter()
        .map(|r| r["namespace"].as_str().unwrap())
        .collect();
    assert_eq!(namespaces.len(), 6, "{namespaces:?}");
    // What needs a person comes first: the aborted rollouts lead.
    assert_eq!(rows[0]["phase"], "aborted", "{listing}");
    let row = |cluster: &str, app: &str| {
        rows.iter()
            .find(|r| r["cluster"] == cluster && r["app"] == app)
            .unwrap_or_else(|| panic!("{cluster}/{app} missing: {listing}"))
    };
    assert_eq!(row("fleet-east", "ledger")["kind"], "argo");
    assert_eq!(row("fleet-east", "ledger")["phase"], "aborted");
    assert_eq!(row("fleet-east", "invoices")["phase"], "failing");
    assert_eq!(row("fleet-west", "warehouse")["phase"], "paused");
    assert_eq!(
        (
            row("fleet-west", "metrics")["step"].as_u64(),
            row("fleet-west", "metrics")["weight"].as_u64()
        ),
        (Some(5), Some(100))
    );
    // One context alone reads one cluster.
    let out = run(strings(&[
        "list",
        "--kubeconfig",
        &kc,
        "--context",
        "fleet-west",
        "-A",
        "-o",
        "json",
    ]))
    .await;
    let listing: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(
        listing["rows"]
            .as_array()
            .unwrap()
            .iter()
            .all(|r| r["cluster"] == "fleet-west"),
        "{listing}"
    );
    drop(demo);
}
