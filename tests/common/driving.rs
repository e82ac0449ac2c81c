//! Setup shared by the driver's tests: the crash-looping ledger's plan, a
//! driver that waits long for a landing, a loop on a runtime of its own (so
//! it can die whole), a holder of the helm in another process' name, and
//! reading a loop's reports until one matters.

use std::path::Path;
use std::time::Duration;

use flightdeck::app::Msg;
use flightdeck::app::msg::DriveReport;
use flightdeck::driver::{Driver, Settings};
use flightdeck::rollout::plan::Plan;
use flightdeck::workers::audit::Actor;
use tokio::sync::mpsc::Receiver;
use tokio::time::Instant;

/// The `crashloop` scenario's ledger, a canary at 10% then 100% behind
/// Istio: its canary crashes on start, so stable never rolls out the
/// canary's template and a promotion waits for a landing that never comes.
pub const LEDGER: &str = r#"
app = "ledger"
namespace = "payments"
strategy = "canary"
[canary]
stages = [{ weight = 10 }, { weight = 100 }]
[canary.router]
kind = "istio"
"#;

pub fn ledger() -> Plan {
    Plan::parse(Path::new("test-plan.toml"), LEDGER).unwrap()
}

/// Settings whose landing timeout outlasts any test: only something else
/// (an abort, a guard, the helm passing) can end a wait.
pub fn patient() -> Settings {
    Settings {
        landing_timeout: Duration::from_secs(600),
        ..Settings::default()
    }
}

/// A runtime for one driver loop alone: shut down, the loop dies whole,
/// its Lease keeper with it, as a cockpit that crashed.
pub fn own_runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap()
}

/// A driver for the shipped plan `file` acting as `os_user` on `host`,
/// with no audit file (another person's cockpit).
pub fn holder(client: kube::Client, file: &str, os_user: &str, host: &str) -> Driver {
    let plan = Plan::load(
        &Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("assets/plans")
            .join(file),
    )
    .unwrap();
    Driver::new(client, plan, "flightdeck-sim", None, Settings::default()).with_actor(Actor {
        kube_user: "flightdeck-sim".into(),
        os_user: os_user.into(),
        host: host.into(),
    })
}

/// Reads a loop's reports until `pick` takes one, by `deadline`; `what`
/// names what is awaited when it never comes.
pub async fn report<T>(
    rx: &mut Receiver<Msg>,
    deadline: Instant,
    what: &str,
    mut pick: impl FnMut(DriveReport) -> Option<T>,
) -> T {
    loop {
        let msg = tokio::time::timeout_at(deadline, rx.recv())
            .await
            .unwrap_or_else(|_| panic!("{what} never came"))
            .unwrap_or_else(|| panic!("the loop ended before {what}"));
        if let Msg::Drive(report) = msg
            && let Some(found) = pick(report)
        {
            return found;
        }
    }
}

/// A built-in scenario served at `speed`, its kubeconfig written in a
/// folder of its own (kept alive with it) and a client connected to it.
pub async fn sim_scenario(
    name: &str,
    speed: f64,
) -> (
    flightdeck::sim::host::SimHost,
    tempfile::TempDir,
    kube::Client,
) {
    let mut opts =
        flightdeck::sim::host::HostOptions::new(flightdeck::sim::Scenario::load(name).unwrap());
    opts.speed = speed;
    let host = flightdeck::sim::host::SimHost::start(opts).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let kubeconfig = dir.path().join("kubeconfig");
    host.write_kubeconfig(&kubeconfig).unwrap();
    let (client, _) =
        flightdeck::cluster::client::connect(Some(&kubeconfig), Some("flightdeck-sim"))
            .await
            .unwrap();
    (host, dir, client)
}
