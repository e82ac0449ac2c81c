//! End to end: the real binary's demo in tmux, driven from the keyboard.
//! The screen and the simulated cluster's objects must agree at each step.
//! Skipped without tmux unless `FLIGHTDECK_REQUIRE_TMUX=1`.

#![allow(clippy::unwrap_used)]

mod requests;
mod sim_dir;
mod tmux;

use std::io::{Read, Write};
use std::time::Duration;

use serde_json::Value;
use tmux::Session;

const WAIT: Duration = Duration::from_secs(60);

/// The demo in a big window, at the helm and connected.
fn demo(tag: &str, dir: &std::path::Path) -> (Session, String) {
    let cmd = format!(
        "{} demo --speed 20 --audit {}",
        tmux::binary(),
        dir.join("audit.jsonl").display()
    );
    let s = Session::start(tag, &cmd, 200, 50, dir);
    let screen = s.wait_for("the helm and the cluster", WAIT, |s| {
        s.contains("⎈ at the helm") && s.contains("● connected") && s.contains("● not started")
    });
    let url = screen
        .split_whitespace()
        .find(|w| w.starts_with("http://127.0.0.1:"))
        .map(|w| w.trim_end_matches(':').to_string())
        .expect("the header shows the demo cluster's address");
    (s, url)
}

/// GET on the demo's API server (plain HTTP on loopback, as the header says).
fn get(url: &str, path: &str) -> Value {
    serde_json::from_str(&get_text(url, path)).unwrap()
}

fn get_text(url: &str, path: &str) -> String {
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
    response.split_once("\r\n\r\n").unwrap().1.to_string()
}

/// The API server's request counts so far.
fn requests(url: &str) -> requests::Counts {
    requests::parse(&get_text(url, "/sim/apiserver/metrics"))
}

fn canary_weight(url: &str) -> u64 {
    let vs = get(
        url,
        "/apis/networking.istio.io/v1/namespaces/shop/virtualservices/checkout",
    );
    vs["spec"]["http"][0]["route"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["destination"]["subset"] == "canary")
        .unwrap()["weight"]
        .as_u64()
        .unwrap()
}

fn start_rollout(s: &Session) {
    s.keys(&["S"]);
    s.wait_for_text("Start a rollout with image", WAIT);
    // The image the scenario's canary already runs: the start changes no pods.
    s.type_text("registry.local/shop/checkout:1.5.0");
    s.wait_for_text("> registry.local/shop/checkout:1.5.0", WAIT);
    s.keys(&["Enter"]);
    s.wait_for_text("stage 1/5 at 10%", WAIT);
}

#[test]
fn keys_advance_the_canary_to_100_percent() {
    if !tmux::available() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let (s, url) = demo("drive", dir.path());
    start_rollout(&s);
    assert_eq!(canary_weight(&url), 10);
    for (stage, weight) in [(2, 25), (3, 50), (4, 75)] {
        s.keys(&["a"]);
        let screen = s.wait_for_text(&format!("stage {stage}/5 at {weight}%"), WAIT);
        assert!(
            screen.contains(&format!("canary {weight}%")),
            "the weights are on screen:\n{screen}"
        );
        assert_eq!(canary_weight(&url), weight);
    }
    // Promoting fully asks first.
    s.keys(&["!"]);
    s.wait_for_text("Promote fully: send all traffic", WAIT);
    assert_eq!(canary_weight(&url), 75, "nothing moves before the answer");
    s.keys(&["y"]);
    let screen = s.wait_for_text("● promoted", WAIT);
    assert!(screen.contains("✓ stage 5"), "{screen}");
    // Promotion hands over: stable runs the new image and takes the traffic back.
    assert_eq!(canary_weight(&url), 0);
    let stable = get(
        &url,
        "/apis/apps/v1/namespaces/shop/deployments/checkout-stable",
    );
    assert_eq!(
        stable["spec"]["template"]["spec"]["containers"][0]["image"],
        "registry.local/shop/checkout:1.5.0"
    );
    let audit = std::fs::read_to_string(dir.path().join("audit.jsonl")).unwrap();
    let actions: Vec<String> = audit
        .lines()
        .map(|l| {
            serde_json::from_str::<Value>(l).unwrap()["action"]
                .as_str()
                .unwrap()
                .to_string()
        })
        .filter(|a| a != "tick")
        .collect();
    assert_eq!(
        actions,
        ["start", "advance", "advance", "advance", "promote"]
    );
    s.keys(&["q"]);
}

#[test]
fn keys_roll_the_canary_back_after_the_second_stage() {
    if !tmux::available() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let (s, url) = demo("rollback", dir.path());
    start_rollout(&s);
    s.keys(&["a"]);
    s.wait_for_text("stage 2/5 at 25%", WAIT);
    assert_eq!(canary_weight(&url), 25);
    s.keys(&["b"]);
    s.wait_for_text("Roll back gradually", WAIT);
    s.keys(&["n"]);
    s.wait_for("the dialog closed", WAIT, |sc| {
        !sc.contains("Roll back gradually")
    });
    assert_eq!(
        canary_weight(&url),
        25,
        "a refused confirmation changes nothing"
    );
    s.keys(&["b"]);
    s.wait_for_text("Roll back gradually", WAIT);
    s.keys(&["y"]);
    // One step down to the first stage's weight, then (30 s of simulated time
    // later) all the way back.
    let screen = s.wait_for_text("● aborted", WAIT);
    assert!(screen.contains("asks stable 100% / canary 0%"), "{screen}");
    assert_eq!(canary_weight(&url), 0);
    let audit = std::fs::read_to_string(dir.path().join("audit.jsonl")).unwrap();
    assert!(audit.contains("\"action\":\"abort\""), "{audit}");
    assert!(audit.contains("rolling back, canary at 10%"), "{audit}");
    s.keys(&["q"]);
}

#[test]
fn at_rest_the_cockpit_only_watches_and_still_sees_a_step_taken_elsewhere() {
    if !tmux::available() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let (s, url) = demo("rest", dir.path());
    // Every pane has had its first list, and the guards their first readings.
    let screen = s.wait_for("every pane and the guards", WAIT, |sc| {
        sc.contains("5 pods")
            && sc.contains("VirtualService")
            && sc.contains("Started container")
            && sc.contains("✓ ok")
    });
    let kubeconfig = screen
        .split_whitespace()
        .skip_while(|w| *w != "--kubeconfig")
        .nth(1)
        .expect("the header names the demo's kubeconfig")
        .to_string();
    std::thread::sleep(Duration::from_secs(2));
    let before = requests(&url);
    // At 20x this is several guard readings, log batches and metric scrapes.
    std::thread::sleep(Duration::from_secs(8));
    let after = requests(&url);
    let grown = requests::grown(&before, &after);
    let lists = requests::lists(&grown);
    assert!(lists.is_empty(), "no list requests at rest: {grown:?}");
    assert_eq!(
        grown.get(&("get".into(), "/configmaps".into())),
        None,
        "the rollout's state is watched, not read on a timer: {grown:?}"
    );
    assert!(
        grown.contains_key(&("get".into(), "/pods".into())),
        "the metrics still come, through the pods' proxy: {grown:?}"
    );

    // Someone else starts the rollout: the cockpit shows it from the watch.
    let out = std::process::Command::new(tmux::binary())
        .args(["start", "--kubeconfig", &kubeconfig, "--take-over", "--yes"])
        .args(["--image", "registry.local/shop/checkout:1.5.0", "--plan"])
        .arg(
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("assets/plans/canary-istio.toml"),
        )
        .arg("--audit")
        .arg(dir.path().join("elsewhere.jsonl"))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    s.wait_for_text("stage 1/5 at 10%", WAIT);
    assert_eq!(canary_weight(&url), 10);
    // The command gave the helm back; the cockpit holds it again and drives on.
    s.wait_for_text("⎈ at the helm", WAIT);
    s.keys(&["a"]);
    s.wait_for_text("stage 2/5 at 25%", WAIT);
    assert_eq!(canary_weight(&url), 25);
    s.keys(&["q"]);
}

/// The crashloop cluster's ledger on two stages, driven by hand, with a
/// restarts guard that only tells (its count climbs as the canary crashes).
const LEDGER: &str = r#"
app = "ledger"
namespace = "payments"
strategy = "canary"
default_guards = false

[canary]
stable = "ledger-stable"
canary = "ledger-canary"
stages = [{ weight = 10 }, { weight = 100 }]

[canary.router]
kind = "istio"
virtual_service = "ledger"
destination_rule = "ledger"

[[guards]]
metric = "restarts"
threshold = 1000
action = "notify"
"#;

/// The screen's row for the restarts guard, if shown.
fn restarts_row(screen: &str) -> Option<String> {
    screen
        .lines()
        .find(|l| l.contains("restarts") && l.contains("notify"))
        .map(|l| l.trim().to_string())
}

#[test]
fn an_abort_during_a_promotion_that_cannot_land_is_asked_and_carried_out_at_once() {
    if !tmux::available() {
        return;
    }
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let sim = runtime.block_on(sim_dir::SimDir::start("crashloop", 20.0));
    let plan = sim.dir.path().join("ledger.toml");
    std::fs::write(&plan, LEDGER).unwrap();
    let cmd = format!(
        "{} run --plan {} --kubeconfig {} --audit {}",
        tmux::binary(),
        plan.display(),
        sim.kubeconfig().display(),
        sim.audit().display()
    );
    let s = Session::start("abort-wait", &cmd, 200, 50, sim.dir.path());
    s.wait_for_text("stage 1/2 at 10%", WAIT);
    let store = sim.host.shared().store.clone();
    let stable_image = || {
        let d = store
            .get(
                flightdeck::sim::resources::kinds::deployments(),
                "payments",
                "ledger-stable",
            )
            .unwrap();
        d["spec"]["template"]["spec"]["containers"][0]["image"]
            .as_str()
            .unwrap()
            .to_string()
    };
    assert_eq!(stable_image(), "registry.local/payments/ledger:2.8.1");

    // The hand-over copies the crashing canary's template to stable, whose
    // rollout then never completes: the promotion waits to land.
    s.keys(&["!"]);
    s.wait_for_text("Promote fully", WAIT);
    s.keys(&["y"]);
    s.wait_for("the promotion under way", WAIT, |_| {
        stable_image() == "registry.local/payments/ledger:2.9.0"
            && sim.canary_weight("payments", "ledger", false) == 100
    });
    // The guards keep reporting while the step waits.
    let before = s.wait_for("the restarts guard", WAIT, |sc| restarts_row(sc).is_some());
    let before = restarts_row(&before).unwrap();
    let during = s.wait_for("the restarts guard's next reading", WAIT * 2, |sc| {
        restarts_row(sc).is_some_and(|row| row != before)
    });
    assert!(
        during.contains("⟳ promote:") && !during.contains("● promoted"),
        "the promotion is no longer landing:\n{during}"
    );

    // The abort is asked at once, and goes first.
    s.keys(&["x"]);
    s.wait_for_text("Abort: send all traffic back to stable at once?", WAIT);
    s.keys(&["y"]);
    let screen = s.wait_for("stable at 100%", WAIT, |sc| {
        sim.canary_weight("payments", "ledger", false) == 0 && sc.contains("● aborted")
    });
    assert!(screen.contains("abort by"), "{screen}");
    // The history under the stages (zoomed) says the promotion was cancelled.
    for _ in 0..6 {
        if s.screen().contains("▶ Stages") {
            break;
        }
        s.keys(&["Tab"]);
        std::thread::sleep(Duration::from_millis(300));
    }
    s.keys(&["z"]);
    s.wait_for_text("✗ cancelled: abort by", WAIT);
    assert_eq!(stable_image(), "registry.local/payments/ledger:2.8.1");

    let results: Vec<(String, String)> = sim
        .audit_entries()
        .iter()
        .map(|e| {
            (
                e["action"].as_str().unwrap().to_string(),
                e["result"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    let has = |action: &str, result: &str| results.iter().any(|(a, r)| a == action && r == result);
    assert!(has("promote", "cancelled"), "{results:?}");
    assert!(has("abort", "done"), "{results:?}");
    let reasons: Vec<String> = sim
        .flightdeck_events("payments")
        .into_iter()
        .map(|(reason, _)| reason)
        .collect();
    assert!(reasons.contains(&"RolloutAbort".to_string()), "{reasons:?}");
    assert!(
        reasons.contains(&"RolloutPromoteCancelled".to_string()),
        "{reasons:?}"
    );
    s.keys(&["q"]);
}
