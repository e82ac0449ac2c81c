//! The fleet view as a person uses it: the real binary in tmux over two
//! simulated clusters (an Argo Rollout on one, a flightdeck rollout started
//! from a plan on the other). Rows show, the ones waiting for a person
//! first; `/` filters as you type; Enter opens the cockpit on a row and Esc
//! comes back. Skipped without tmux unless `FLIGHTDECK_REQUIRE_TMUX=1`.
#![allow(clippy::unwrap_used, clippy::format_push_string)]

mod sim_dir;
mod tmux;

use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use sim_dir::SimDir;
use tmux::Session;

const WAIT: Duration = Duration::from_secs(90);

/// A kubeconfig naming each `(context, server)`, namespace `shop`.
fn kubeconfig(path: &Path, contexts: &[(&str, &str)]) {
    let mut text = String::from("apiVersion: v1\nkind: Config\nclusters:\n");
    for (name, server) in contexts {
        text += &format!("- name: {name}\n  cluster:\n    server: \"{server}\"\n");
    }
    text += "contexts:\n";
    for (name, _) in contexts {
        text += &format!(
            "- name: {name}\n  context:\n    cluster: {name}\n    user: u\n    namespace: shop\n"
        );
    }
    text += &format!(
        "current-context: {}\nusers:\n- name: u\n  user: {{}}\n",
        contexts[0].0
    );
    std::fs::write(path, text).unwrap();
}

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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_fleet_shows_both_clusters_filters_and_opens_a_cockpit_and_comes_back() {
    if !tmux::available() {
        return;
    }
    let argo = SimDir::start("argo-canary", 10.0).await;
    let plans = SimDir::start("healthy-canary", 10.0).await;
    let mut start = plans.command(&tmux::binary(), &["start"], "canary-istio.toml");
    start.env("USER", "captain").stdin(Stdio::null());
    let out = tokio::task::spawn_blocking(move || start.output().unwrap())
        .await
        .unwrap();
    assert!(
        out.status.success(),
        "start: {}",
        String::from_utf8_lossy(&out.stderr)
    );

    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("kubeconfig");
    kubeconfig(
        &config,
        &[("argo", &argo.host.url()), ("plans", &plans.host.url())],
    );
    let command = format!(
        "'{}' --kubeconfig '{}' --context argo,plans --audit '{}'",
        tmux::binary(),
        config.display(),
        dir.path().join("audit.jsonl").display()
    );
    let dir_path = dir.path().to_path_buf();
    tokio::task::spawn_blocking(move || {
        let s = Session::start("fleet", &command, 160, 40, &dir_path);
        let screen = s.wait_for("both clusters' rollouts, the Argo one paused", WAIT, |s| {
            let rows = table(s);
            rows.iter()
                .any(|l| l.contains("argo") && l.contains("Argo") && l.contains("paused"))
                && rows
                    .iter()
                    .any(|l| l.contains("plans") && l.contains("flightdeck"))
        });
        assert!(screen.contains("2 clusters"), "{screen}");
        let rows = table(&screen);
        // Both wait for a person's go, so both come before anything moving
        // by itself.
        let first_moving = rows.iter().position(|l| l.contains("progressing"));
        let last_paused = rows.iter().rposition(|l| l.contains("paused")).unwrap();
        assert!(first_moving.is_none_or(|m| m > last_paused), "{screen}");
        assert!(rows[0].contains("paused"), "{screen}");
        let line = rows.iter().find(|l| l.contains("plans")).unwrap();
        assert!(line.contains("1/5") && line.contains("10%"), "{line}");

        // `/` filters as you type.
        s.keys(&["/"]);
        s.type_text("argo");
        let screen = s.wait_for("only the Argo cluster's rows", WAIT, |s| {
            s.contains("filter argo") && !table(s).iter().any(|l| l.contains("plans"))
        });
        assert!(
            table(&screen).iter().all(|l| l.contains("argo")),
            "{screen}"
        );
        // Enter keeps the filter; Enter again opens the cockpit on the row.
        s.keys(&["Enter"]);
        s.keys(&["Enter"]);
        let screen = s.wait_for("the cockpit on the Argo rollout's pods", WAIT, |s| {
            s.contains(" Pods ") && s.contains("Traffic") && s.contains("app checkout")
        });
        // Argo's own steps, driven with Argo's writes.
        assert!(
            screen.contains("Argo Rollout · canary · step 2/9"),
            "{screen}"
        );
        assert!(s.alternate_screen());
        // Esc closes help first; then it goes back to the fleet.
        // (One key at a time: two Escs in one write read as Alt-Esc.)
        s.keys(&["?"]);
        s.wait_for_text("[global]", WAIT);
        s.keys(&["Escape"]);
        s.wait_for("help to close", WAIT, |s| !s.contains("[global]"));
        s.keys(&["Escape"]);
        let screen = s.wait_for("the fleet again", WAIT, |s| {
            s.contains(" fleet ") && s.contains("Rollouts")
        });
        assert!(
            screen.contains("filter argo"),
            "the filter is still there: {screen}"
        );
        assert!(
            s.alternate_screen(),
            "the screen stayed alternate across the switch"
        );

        // Esc clears the filter; the flightdeck row opens a cockpit that
        // drives it, with the plan it was started with.
        s.keys(&["Escape"]);
        s.wait_for("both clusters again", WAIT, |s| {
            table(s).iter().any(|l| l.contains("plans"))
        });
        s.keys(&["/"]);
        s.type_text("plans");
        s.keys(&["Enter"]);
        s.keys(&["Enter"]);
        let screen = s.wait_for("the cockpit on the flightdeck rollout", WAIT, |s| {
            s.contains(" Pods ") && s.contains("stage 1/5")
        });
        assert!(!screen.contains("watching only"), "{screen}");
        s.keys(&["Escape"]);
        s.wait_for_text("Rollouts", WAIT);
        s.keys(&["q"]);
        let screen = s.wait_for_text("[exited 0]", WAIT);
        assert!(!s.alternate_screen(), "{screen}");
    })
    .await
    .unwrap();
}
