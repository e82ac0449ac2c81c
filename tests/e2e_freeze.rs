//! End to end: a cockpit open on a plan in tmux while `flightdeck freeze`
//! runs from a shell. The cockpit's header shows the freeze, its advance
//! key is refused with who froze it and why, and the router stays put.
//! Skipped without tmux unless `FLIGHTDECK_REQUIRE_TMUX=1`.

#![allow(clippy::unwrap_used)]

mod sim_dir;
mod tmux;

use std::process::Stdio;
use std::time::Duration;

use tmux::Session;

const WAIT: Duration = Duration::from_secs(60);
const PLAN: &str = "canary-istio.toml";

fn verb(sim: &sim_dir::SimDir, args: &[&str]) -> String {
    let out = sim
        .command(&tmux::binary(), args, PLAN)
        .env("USER", "alice")
        .env("NO_COLOR", "1")
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

#[test]
fn a_freeze_from_the_shell_shows_in_the_cockpit_and_refuses_its_advance() {
    if !tmux::available() {
        return;
    }
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let sim = runtime.block_on(sim_dir::SimDir::start("healthy-canary", 20.0));
    verb(&sim, &["start"]);
    assert_eq!(sim.canary_weight("shop", "checkout", false), 10);

    let plan = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("assets/plans")
        .join(PLAN);
    let cmd = format!(
        "USER=bo {} --plan {} --kubeconfig {} --audit {}",
        tmux::binary(),
        plan.display(),
        sim.kubeconfig().display(),
        sim.dir.path().join("cockpit-audit.jsonl").display()
    );
    let s = Session::start("freeze", &cmd, 200, 50, sim.dir.path());
    s.wait_for("the cockpit at the helm", WAIT, |sc| {
        sc.contains("⎈ at the helm") && sc.contains("stage 1/5")
    });

    let frozen = verb(
        &sim,
        &["freeze", "--yes", "--reason", "checkout errors in EU"],
    );
    assert!(frozen.contains("snapshot written: "), "{frozen}");
    s.wait_for_text("❄ FROZEN by alice: checkout errors in EU", WAIT);

    s.keys(&["a"]);
    let screen = s.wait_for_text("frozen by alice: checkout errors in EU (since", WAIT);
    assert!(!screen.contains("stage 2/5"), "{screen}");
    assert_eq!(sim.canary_weight("shop", "checkout", false), 10);
    s.keys(&["q"]);
}
