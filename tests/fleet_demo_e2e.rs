//! The fleet demo as a person uses it: `flightdeck demo --scenario fleet`,
//! the real binary in tmux. Both clusters' apps show, the aborted and
//! degraded ones first; `/` and a name select an Argo Rollout; Enter opens
//! its cockpit; `x` and confirming abort it, which the cluster shows (the
//! Rollout's `status.abort` and stable's 100% on its VirtualService, read
//! over the simulated API server through the kubeconfig the demo writes with
//! `--kubeconfig-out`); Esc comes back to the fleet, where the row says
//! aborted. Skipped without tmux unless `FLIGHTDECK_REQUIRE_TMUX=1`.
#![allow(clippy::unwrap_used)]

mod tmux;

use std::io::{Read, Write};
use std::path::Path;
use std::time::{Duration, Instant};

use serde_json::Value;
use tmux::Session;

const WAIT: Duration = Duration::from_secs(90);

/// The Argo canary the test aborts: `login` in `frontend` on `fleet-west`.
const APP: &str = "login";
const NAMESPACE: &str = "frontend";
const CLUSTER: &str = "fleet-west";

/// The table's lines: below its heading, above its bottom border.
fn table(screen: &str) -> Vec<&str> {
    screen
        .lines()
        .skip_while(|l| !l.contains("CLUSTER"))
        .skip(1)
        .take_while(|l| !l.starts_with('┗') && !l.starts_with('╰'))
        .filter(|l| l.chars().any(char::is_alphanumeric))
        .collect()
}

/// Whether a row waits on a decision now: aborted or degraded.
fn in_trouble(row: &str) -> bool {
    row.contains("aborted") || row.contains("degraded")
}

/// The address of `cluster` in the kubeconfig the demo wrote, once written.
fn server(kubeconfig: &Path, cluster: &str) -> String {
    let began = Instant::now();
    loop {
        let text = std::fs::read_to_string(kubeconfig).unwrap_or_default();
        // Clusters come as `- name: "x"` then `server: "url"`.
        let mut lines = text.lines().map(str::trim);
        let found = lines
            .by_ref()
            .find(|l| l.trim_start_matches("- ") == format!("name: \"{cluster}\""))
            .and_then(|_| lines.find(|l| l.starts_with("server:")))
            .map(|l| l.trim_start_matches("server:").trim().trim_matches('"'));
        if let Some(url) = found {
            return url.to_string();
        }
        assert!(
            began.elapsed() < WAIT,
            "the demo wrote no server for {cluster}: {text}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// GET on a simulated API server (plain HTTP on loopback).
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

fn rollout(url: &str) -> Value {
    get(
        url,
        &format!("/apis/argoproj.io/v1alpha1/namespaces/{NAMESPACE}/rollouts/{APP}"),
    )
}

/// The VirtualService's (stable, canary) weights.
fn weights(url: &str) -> (u64, u64) {
    let vs = get(
        url,
        &format!("/apis/networking.istio.io/v1/namespaces/{NAMESPACE}/virtualservices/{APP}"),
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
fn the_fleet_demo_aborts_an_argo_rollout_from_its_row() {
    if !tmux::available() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let kubeconfig = dir.path().join("kubeconfig");
    let command = format!(
        "'{}' demo --scenario fleet --speed 10 --kubeconfig-out '{}' --audit '{}'",
        tmux::binary(),
        kubeconfig.display(),
        dir.path().join("audit.jsonl").display()
    );
    let s = Session::start("fleet-demo", &command, 200, 50, dir.path());
    let url = server(&kubeconfig, CLUSTER);

    let screen = s.wait_for(
        "both clusters' apps, the Argo canary among them",
        WAIT,
        |s| {
            let rows = table(s);
            rows.iter().any(|l| l.contains("fleet-east"))
                && rows.iter().any(|l| l.contains("fleet-west"))
                && rows.iter().any(|l| l.contains(APP) && l.contains("Argo"))
        },
    );
    assert!(screen.contains("2 clusters"), "{screen}");
    let rows = table(&screen);
    assert!(in_trouble(rows[0]), "{screen}");
    // Every aborted or degraded row comes before every other row.
    let first_calm = rows.iter().position(|l| !in_trouble(l)).unwrap();
    assert!(
        rows[first_calm..].iter().all(|l| !in_trouble(l)),
        "{screen}"
    );
    let row = rows.iter().find(|l| l.contains(APP)).unwrap();
    assert!(!row.contains("aborted"), "{row}");
    assert_ne!(rollout(&url)["status"]["abort"], true);

    // `/` and the name keep its row alone; Enter keeps the filter, Enter
    // again opens the cockpit on it.
    s.keys(&["/"]);
    s.type_text(APP);
    s.wait_for("only the Argo canary's row", WAIT, |s| {
        let rows = table(s);
        s.contains(&format!("filter {APP}")) && rows.len() == 1 && rows[0].contains(APP)
    });
    s.keys(&["Enter"]);
    s.keys(&["Enter"]);
    s.wait_for("the cockpit on the Argo Rollout", WAIT, |s| {
        s.contains(" Pods ") && s.contains("Argo Rollout") && s.contains(&format!("app {APP}"))
    });

    s.keys(&["x"]);
    s.wait_for_text(
        "Abort: send all traffic back to stable (status.abort)?",
        WAIT,
    );
    assert_ne!(
        rollout(&url)["status"]["abort"],
        true,
        "nothing is written before the answer"
    );
    s.keys(&["y"]);
    s.wait_for_text("● aborted", WAIT);
    assert_eq!(rollout(&url)["status"]["abort"], true);
    // Argo's simulated controller sends stable everything.
    let began = Instant::now();
    while weights(&url) != (100, 0) {
        assert!(
            began.elapsed() < WAIT,
            "stable never got 100%: {:?}",
            weights(&url)
        );
        std::thread::sleep(Duration::from_millis(200));
    }

    // Esc goes back to the fleet, still filtered, where the row says aborted.
    s.keys(&["Escape"]);
    let screen = s.wait_for("the fleet with the row aborted", WAIT, |s| {
        s.contains(" fleet ")
            && table(s)
                .iter()
                .any(|l| l.contains(APP) && l.contains("aborted"))
    });
    assert!(screen.contains(&format!("filter {APP}")), "{screen}");
    s.keys(&["q"]);
    let screen = s.wait_for_text("[exited 0]", WAIT);
    assert!(!s.alternate_screen(), "{screen}");
}
