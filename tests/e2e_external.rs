//! End to end: the real binary's cockpit opened on the `argo-canary`
//! scenario's Rollout, served by `flightdeck sim serve` in its own process.
//! Aborting from the keyboard must reach the Rollout's status, Argo's
//! simulated controller must send stable all traffic, and the pane must say
//! aborted. Skipped without tmux unless `FLIGHTDECK_REQUIRE_TMUX=1`.

#![allow(clippy::unwrap_used)]

mod tmux;

use std::io::{Read, Write};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;
use tmux::Session;

const WAIT: Duration = Duration::from_secs(60);

/// `flightdeck sim serve`, killed on drop.
struct Sim {
    child: Child,
    url: String,
}

impl Drop for Sim {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn serve(scenario: &str, kubeconfig: &std::path::Path) -> Sim {
    let child = Command::new(tmux::binary())
        .args(["sim", "serve", "--scenario", scenario, "--speed", "10"])
        .arg("--kubeconfig-out")
        .arg(kubeconfig)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let began = Instant::now();
    let url = loop {
        let text = std::fs::read_to_string(kubeconfig).unwrap_or_default();
        // The kubeconfig quotes the server's address.
        if let Some(url) = text
            .split_whitespace()
            .map(|w| w.trim_matches('"'))
            .find(|w| w.starts_with("http://127.0.0.1:"))
        {
            break url.to_string();
        }
        assert!(began.elapsed() < WAIT, "the sim wrote no kubeconfig");
        std::thread::sleep(Duration::from_millis(100));
    };
    Sim { child, url }
}

/// GET on the sim's API server (plain HTTP on loopback).
fn get(url: &str, path: &str) -> Value {
    let addr = url.trim_start_matches("http://");
    let mut stream = std::net::TcpStream::connect(addr).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    write!(
        stream,
        "GET {path} HTTP/1.0\r\nHost: {addr}\r\nAccept: application/json\r\n\r\n"
    )
    .unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    serde_json::from_str(response.split_once("\r\n\r\n").unwrap().1).unwrap()
}

fn weights(url: &str) -> (u64, u64) {
    let vs = get(
        url,
        "/apis/networking.istio.io/v1/namespaces/shop/virtualservices/checkout",
    );
    let route = vs["spec"]["http"][0]["route"].as_array().unwrap().clone();
    let of = |subset: &str| {
        route
            .iter()
            .find(|r| r["destination"]["subset"] == subset)
            .unwrap()["weight"]
            .as_u64()
            .unwrap()
    };
    (of("stable"), of("canary"))
}

#[test]
fn abort_from_the_keyboard_sends_the_rollout_back_to_stable() {
    if !tmux::available() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let kubeconfig = dir.path().join("kubeconfig");
    let sim = serve("argo-canary", &kubeconfig);
    let cmd = format!(
        "{} --kubeconfig {} --rollout checkout -n shop --audit {}",
        tmux::binary(),
        kubeconfig.display(),
        dir.path().join("audit.jsonl").display()
    );
    let s = Session::start("external", &cmd, 200, 50, dir.path());
    let screen = s.wait_for_text("● paused: CanaryPauseStep", WAIT);
    assert!(
        screen.contains("Argo Rollout · canary · step 2/9 · canary weight 20%"),
        "{screen}"
    );
    assert_eq!(weights(&sim.url), (80, 20));

    s.keys(&["x"]);
    s.wait_for_text(
        "Abort: send all traffic back to stable (status.abort)?",
        WAIT,
    );
    let rollout = get(
        &sim.url,
        "/apis/argoproj.io/v1alpha1/namespaces/shop/rollouts/checkout",
    );
    assert_ne!(
        rollout["status"]["abort"], true,
        "nothing is written before the answer"
    );
    s.keys(&["y"]);
    let screen = s.wait_for_text("● aborted", WAIT);
    assert!(screen.contains("canary weight 0%"), "{screen}");
    let rollout = get(
        &sim.url,
        "/apis/argoproj.io/v1alpha1/namespaces/shop/rollouts/checkout",
    );
    assert_eq!(rollout["status"]["abort"], true);
    assert_eq!(weights(&sim.url), (100, 0));

    // Recorded as flightdeck's own actions are: the audit file and an Event.
    let audit = std::fs::read_to_string(dir.path().join("audit.jsonl")).unwrap();
    let line: Value = serde_json::from_str(audit.lines().last().unwrap()).unwrap();
    assert_eq!(
        (&line["action"], &line["to"], &line["result"]),
        (
            &"abort".into(),
            &"status.abort: true".into(),
            &"done".into()
        )
    );
    let events = get(&sim.url, "/api/v1/namespaces/shop/events");
    assert!(
        events["items"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| { e["reason"] == "RolloutAbort" && e["involvedObject"]["kind"] == "Rollout" }),
        "no RolloutAbort Event on the Rollout"
    );
}
