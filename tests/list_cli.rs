//! `flightdeck list`, the real binary against simulated clusters: the rows a
//! script or a person sees for flightdeck rollouts and plain Deployments,
//! several contexts at once, and a context that does not answer.

#![allow(clippy::unwrap_used, clippy::format_push_string)]

use std::path::Path;
use std::process::{Command, Output, Stdio};

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

    let out = run(strings(&[
        "list",
        "--kubeconfig",
        &kc,
        "--context",
        "lab,gone",
    ]))
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
