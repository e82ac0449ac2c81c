//! An incident freeze against the simulator: set from the shell, it stops
//! another driver's advance (nothing on the router changes), lets an abort
//! through, is recorded (audit line, Events), writes a snapshot bundle and
//! shows in `status`; lifted, the advance goes through again.

#![allow(clippy::unwrap_used)]

use std::path::Path;
use std::process::{Output, Stdio};

use flightdeck::driver::{Command, DriveError};
use flightdeck::rollout::plan::RollbackMode;
use serde_json::Value;

mod common;
mod sim_dir;

use common::driving::holder;
use sim_dir::SimDir;

async fn flightdeck(sim: &SimDir, verb: &str, args: &[&str]) -> Output {
    let mut cmd = sim.command(
        env!("CARGO_BIN_EXE_flightdeck"),
        &[verb],
        "canary-istio.toml",
    );
    cmd.args(args)
        .env("USER", "alice")
        .env("NO_COLOR", "1")
        .stdin(Stdio::null());
    tokio::task::spawn_blocking(move || cmd.output().unwrap())
        .await
        .unwrap()
}

async fn ok(sim: &SimDir, verb: &str, args: &[&str]) -> String {
    let out = flightdeck(sim, verb, args).await;
    assert!(
        out.status.success(),
        "{verb} {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_freeze_from_the_shell_refuses_another_drivers_advance_until_unfrozen() {
    let sim = SimDir::start("healthy-canary", 30.0).await;
    // Bo's cockpit drives the rollout and holds the helm.
    let bo = holder(sim.client().await, "canary-istio.toml", "bo", "desk");
    bo.execute(Command::Start { image: None }).await.unwrap();
    assert_eq!(sim.canary_weight("shop", "checkout", false), 10);

    // Without --yes and without a terminal, nothing is frozen.
    let out = flightdeck(&sim, "freeze", &["--reason", "checkout errors in EU"]).await;
    assert_eq!(out.status.code(), Some(5));
    assert!(bo.load().await.unwrap().rollout.state.freeze.is_none());

    let frozen = ok(
        &sim,
        "freeze",
        &["--reason", "checkout errors in EU", "--yes"],
    )
    .await;
    assert!(
        frozen.starts_with("frozen: alice: checkout errors in EU"),
        "{frozen}"
    );
    let path = frozen
        .lines()
        .find_map(|l| l.strip_prefix("snapshot written: "))
        .unwrap_or_else(|| panic!("no snapshot path in {frozen}"));
    assert!(path.ends_with(".tar.gz"), "{path}");
    assert!(Path::new(path).is_file(), "{path} does not exist");

    // Bo's advance, from the driver at the helm: refused, the router untouched.
    let refused = bo.execute(Command::Advance).await.unwrap_err();
    let DriveError::Refused(refusal) = &refused else {
        panic!("not a refusal: {refused}");
    };
    assert!(
        refusal
            .0
            .starts_with("frozen by alice: checkout errors in EU (since "),
        "{refusal}"
    );
    assert_eq!(sim.canary_weight("shop", "checkout", false), 10);

    // Another process' advance: exit 5, one line and the hint.
    let out = flightdeck(&sim, "advance", &["--take-over"]).await;
    assert_eq!(out.status.code(), Some(5));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("refused: frozen by alice"), "{err}");
    assert!(
        err.contains("hint: when the incident is over: flightdeck unfreeze --plan "),
        "{err}"
    );
    assert_eq!(sim.canary_weight("shop", "checkout", false), 10);

    let status: Value = serde_json::from_str(&ok(&sim, "status", &["-o", "json"]).await).unwrap();
    assert_eq!(status["freeze"]["by"]["os_user"], "alice");
    assert_eq!(status["freeze"]["reason"], "checkout errors in EU");
    let text = ok(&sim, "status", &[]).await;
    assert!(
        text.lines()
            .any(|l| l.starts_with("FROZEN by alice since ")
                && l.ends_with(": checkout errors in EU")),
        "{text}"
    );

    ok(&sim, "unfreeze", &["--yes"]).await;
    let status: Value = serde_json::from_str(&ok(&sim, "status", &["-o", "json"]).await).unwrap();
    assert_eq!(status["freeze"], Value::Null);
    ok(&sim, "advance", &["--take-over"]).await;
    assert_eq!(sim.canary_weight("shop", "checkout", false), 25);

    let actions: Vec<(String, String)> = sim
        .audit_entries()
        .iter()
        .map(|e| {
            (
                e["action"].as_str().unwrap().to_string(),
                e["result"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    let freeze = sim
        .audit_entries()
        .into_iter()
        .find(|e| e["action"] == "freeze")
        .unwrap();
    assert_eq!(freeze["detail"], "checkout errors in EU");
    assert_eq!(freeze["who"]["os_user"], "alice");
    for (action, result) in [
        ("freeze", "done"),
        ("advance", "refused"),
        ("unfreeze", "done"),
        ("advance", "done"),
    ] {
        assert!(
            actions.contains(&(action.into(), result.into())),
            "{action} {result} missing from {actions:?}"
        );
    }
    let events = sim.flightdeck_events("shop");
    let reasons: Vec<&str> = events.iter().map(|(r, _)| r.as_str()).collect();
    for reason in ["RolloutFreeze", "RolloutUnfreeze", "RolloutSnapshot"] {
        assert!(
            reasons.contains(&reason),
            "{reason} missing from {reasons:?}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_freeze_by_the_driver_at_the_helm_pauses_and_an_abort_goes_through_it() {
    let sim = SimDir::start("healthy-canary", 30.0).await;
    let bo = holder(sim.client().await, "canary-istio.toml", "bo", "desk");
    bo.execute(Command::Start { image: None }).await.unwrap();
    bo.execute(Command::Advance).await.unwrap();
    assert_eq!(sim.canary_weight("shop", "checkout", false), 25);

    // Frozen through the driver's API, by the driver at the helm: it pauses.
    let frozen = bo.freeze("payments down").await.unwrap();
    assert!(
        frozen.state.contains("paused by the captain"),
        "{}",
        frozen.state
    );
    let refused = bo.execute(Command::Resume).await.unwrap_err();
    assert!(
        refused.to_string().contains("frozen by bo: payments down"),
        "{refused}"
    );

    bo.execute(Command::Abort {
        mode: Some(RollbackMode::Immediate),
    })
    .await
    .unwrap();
    assert_eq!(sim.canary_weight("shop", "checkout", false), 0);
    assert!(
        bo.load().await.unwrap().rollout.state.freeze.is_some(),
        "the abort lifted the freeze"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_driver_loop_at_the_helm_pauses_when_a_freeze_comes_from_elsewhere() {
    let sim = SimDir::start("healthy-canary", 30.0).await;
    let bo = holder(sim.client().await, "canary-istio.toml", "bo", "desk");
    bo.execute(Command::Start { image: None }).await.unwrap();
    bo.execute(Command::Advance).await.unwrap();
    let bo = std::sync::Arc::new(bo);
    let (tx, mut rx) = tokio::sync::mpsc::channel(256);
    let task = flightdeck::driver::task::spawn(bo.clone(), tx, None);
    tokio::spawn(async move { while rx.recv().await.is_some() {} });

    // The loop holds the helm: the shell's freeze cannot pause, the loop does.
    ok(&sim, "freeze", &["--reason", "payments down", "--yes"]).await;
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(30);
    loop {
        let state = bo.load().await.unwrap().rollout.state;
        if state.describe().contains("paused by the captain") {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "never paused: {}",
            state.describe()
        );
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
    let freeze = sim
        .audit_entries()
        .into_iter()
        .find(|e| e["action"] == "freeze")
        .unwrap();
    assert_eq!(freeze["who"]["os_user"], "alice");
    task.handle.abort();
}
