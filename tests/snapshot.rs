//! `flightdeck snapshot`, the real binary, against the simulator: the
//! bundle unpacks, and each part holds what the cluster held (the canary's
//! pods, log lines the simulator wrote, flightdeck's Events, the guards'
//! numbers, the router objects). A part the cluster does not have is noted
//! in the manifest, and the bundle is written all the same.
#![allow(clippy::unwrap_used)]

use std::collections::BTreeMap;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use flightdeck::sim::logs::ContainerKey;
use serde_json::Value;

mod sim_dir;

use sim_dir::SimDir;

fn bin() -> String {
    std::env::var("FLIGHTDECK_E2E_BIN")
        .unwrap_or_else(|_| env!("CARGO_BIN_EXE_flightdeck").to_string())
}

fn plan(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("assets/plans")
        .join(name)
}

fn output(mut cmd: Command) -> Output {
    cmd.env("RUST_BACKTRACE", "0")
        .env("USER", "oncall")
        .env_remove("FLIGHTDECK_PROMETHEUS")
        .stdin(Stdio::null())
        .output()
        .unwrap()
}

/// `flightdeck snapshot --plan PLAN --kubeconfig … --out DIR`.
fn snapshot(cluster: &SimDir, plan: &Path, out: &Path) -> Output {
    let mut cmd = Command::new(bin());
    cmd.arg("snapshot")
        .arg("--plan")
        .arg(plan)
        .arg("--kubeconfig")
        .arg(cluster.kubeconfig())
        .arg("--out")
        .arg(out);
    output(cmd)
}

/// The archive's files by their path under its top folder.
fn unpack(path: &Path) -> BTreeMap<String, String> {
    let file = std::fs::File::open(path).unwrap();
    let mut archive = tar::Archive::new(flate2::read::GzDecoder::new(file));
    let top = path
        .file_name()
        .unwrap()
        .to_str()
        .unwrap()
        .trim_end_matches(".tar.gz")
        .to_string();
    let mut files = BTreeMap::new();
    for entry in archive.entries().unwrap() {
        let mut entry = entry.unwrap();
        let name = entry.path().unwrap().display().to_string();
        let inner = name
            .strip_prefix(&format!("{top}/"))
            .unwrap_or_else(|| panic!("{name} is outside {top}/"))
            .to_string();
        let mut text = String::new();
        entry.read_to_string(&mut text).unwrap();
        files.insert(inner, text);
    }
    files
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_bundle_holds_every_part_with_what_the_cluster_held() {
    let cluster = SimDir::start("bad-canary", 20.0).await;
    let started = output(cluster.command(&bin(), &["start"], "bad-canary.toml"));
    assert!(
        started.status.success(),
        "{}",
        String::from_utf8_lossy(&started.stderr)
    );
    // Let the canary serve and log for a while (a few simulated minutes).
    tokio::time::sleep(std::time::Duration::from_secs(3)).await;

    let out = cluster.dir.path().join("snapshots");
    let run = snapshot(&cluster, &plan("bad-canary.toml"), &out);
    let stderr = String::from_utf8_lossy(&run.stderr).to_string();
    assert!(run.status.success(), "{stderr}");
    let path = PathBuf::from(String::from_utf8_lossy(&run.stdout).trim());
    assert!(path.starts_with(&out), "{path:?}");
    let name = path.file_name().unwrap().to_str().unwrap();
    assert!(
        name.starts_with("flightdeck-snapshot-shop-checkout-") && name.ends_with(".tar.gz"),
        "{name}"
    );
    let files = unpack(&path);

    // The manifest lists every part that is there, and nothing is missing.
    let manifest: Value = serde_json::from_str(&files["manifest.json"]).unwrap();
    assert_eq!(manifest["app"], "checkout");
    assert_eq!(manifest["reason"], "on demand");
    let listed: Vec<&str> = manifest["parts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["name"].as_str().unwrap())
        .collect();
    for name in &listed {
        assert!(
            files.contains_key(*name),
            "{name} listed but not in the archive"
        );
    }
    assert_eq!(
        manifest["missing"],
        Value::Array(Vec::new()),
        "{manifest:#}"
    );

    // The rollout's state and history, as stored on the cluster.
    let state: Value = serde_json::from_str(&files["rollout/state.json"]).unwrap();
    assert_eq!(state["phase"]["phase"], "paused", "{state:#}");
    assert_eq!(state["weights"]["canary"], 10, "{state:#}");
    let history: Value = serde_json::from_str(&files["rollout/history.json"]).unwrap();
    assert!(
        history
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["action"] == "start"),
        "{history:#}"
    );

    // The plan as written.
    assert_eq!(
        files["plan.toml"],
        std::fs::read_to_string(plan("bad-canary.toml")).unwrap()
    );

    // The pods, with status, as the API returned them and as a table.
    let pods: Value = serde_json::from_str(&files["pods/pods.json"]).unwrap();
    let canaries: Vec<String> = pods["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|p| p["metadata"]["labels"]["version"] == "canary")
        .map(|p| p["metadata"]["name"].as_str().unwrap().to_string())
        .collect();
    assert!(!canaries.is_empty(), "{pods:#}");
    assert!(pods["items"][0]["status"]["phase"].is_string());
    for canary in &canaries {
        let row = files["pods/pods.txt"]
            .lines()
            .find(|l| l.starts_with(canary.as_str()))
            .unwrap_or_else(|| panic!("{canary} not in\n{}", files["pods/pods.txt"]));
        assert!(row.contains("canary") && row.contains("Running"), "{row}");
    }

    // Each pod's last log lines: lines the simulator wrote for that pod.
    let canary = &canaries[0];
    let log = &files[&format!("logs/{canary}.log")];
    let container = pods["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["metadata"]["name"] == canary.as_str())
        .map(|p| {
            p["spec"]["containers"][0]["name"]
                .as_str()
                .unwrap()
                .to_string()
        })
        .unwrap();
    let written: Vec<String> = cluster
        .host
        .shared()
        .logs
        .read(&ContainerKey::new("shop", canary, &container), false)
        .unwrap_or_default()
        .into_iter()
        .map(|(_, l)| l)
        .collect();
    let lines: Vec<&str> = log.lines().collect();
    assert!(!lines.is_empty() && lines.len() <= 200, "{log}");
    // `timestamps` puts the time first; the text after it is the pod's own.
    let text = lines[0].split_once(' ').unwrap().1;
    assert!(
        written.iter().any(|w| w == text),
        "{text:?} is not a line the simulator wrote for {canary}"
    );

    // The Events of the app, flightdeck's own among them.
    assert!(
        files["events/events.txt"].contains("RolloutStart"),
        "{}",
        files["events/events.txt"]
    );
    let events: Value = serde_json::from_str(&files["events/events.json"]).unwrap();
    assert!(
        events["items"]
            .as_array()
            .unwrap()
            .iter()
            .all(|e| e["involvedObject"]["name"]
                .as_str()
                .unwrap()
                .starts_with("checkout")),
        "{events:#}"
    );

    // The guards' reading: the plan's guard with its threshold, and the
    // canary's numbers from two scrapes of its pods.
    let readings: Value = serde_json::from_str(&files["guards/readings.json"]).unwrap();
    let guard = readings["guards"]
        .as_array()
        .unwrap()
        .iter()
        .find(|g| g["guard"] == "checkout 5xx")
        .unwrap_or_else(|| panic!("{readings:#}"));
    assert!((guard["threshold"].as_f64().unwrap() - 0.05).abs() < 1e-9);
    assert!(
        readings["canary"]["requests_per_second"].as_f64().unwrap() > 0.0,
        "{readings:#}"
    );
    assert!(readings["stable"]["requests_per_second"].as_f64().unwrap() > 0.0);
    assert!(files["guards/readings.txt"].contains("guard checkout 5xx (error-ratio, rollback)"));

    // The router objects the plan names, as the cluster holds them.
    let vs: Value = serde_json::from_str(&files["objects/virtualservice-checkout.json"]).unwrap();
    assert_eq!(vs["kind"], "VirtualService");
    assert!(vs.to_string().contains("\"weight\":10"), "{vs:#}");
    assert!(files.contains_key("objects/destinationrule-checkout.json"));
    assert!(files.contains_key("objects/deployment-checkout-canary.json"));
    assert!(files.contains_key("objects/service-checkout.json"));

    // A router object the cluster does not have is noted, not fatal.
    let text = std::fs::read_to_string(plan("bad-canary.toml"))
        .unwrap()
        .replace(
            "destination_rule = \"checkout\"",
            "destination_rule = \"checkout-gone\"",
        );
    let edited = cluster.dir.path().join("edited.toml");
    std::fs::write(&edited, text).unwrap();
    let run = snapshot(&cluster, &edited, &out);
    assert!(
        run.status.success(),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
    assert!(
        String::from_utf8_lossy(&run.stderr)
            .contains("not in the snapshot: objects/destinationrule-checkout-gone.json"),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
    let path = PathBuf::from(String::from_utf8_lossy(&run.stdout).trim());
    let files = unpack(&path);
    let manifest: Value = serde_json::from_str(&files["manifest.json"]).unwrap();
    assert_eq!(
        manifest["missing"][0]["part"],
        "objects/destinationrule-checkout-gone.json"
    );
    assert!(
        manifest["missing"][0]["why"]
            .as_str()
            .unwrap()
            .contains("not found")
    );
    assert!(files.contains_key("pods/pods.json"));
    cluster.host.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_guards_rollback_writes_a_snapshot_of_the_incident() {
    let cluster = SimDir::start("bad-canary", 20.0).await;
    let state = cluster.dir.path().join("state");
    let mut cmd = cluster.command(&bin(), &["run", "--auto", "--headless"], "bad-canary.toml");
    cmd.env("XDG_STATE_HOME", &state)
        .env_remove("FLIGHTDECK_WEBHOOK_URL");
    let run = tokio::task::spawn_blocking(move || output(cmd))
        .await
        .unwrap();
    let stderr = String::from_utf8_lossy(&run.stderr).to_string();
    assert_eq!(run.status.code(), Some(3), "{stderr}");

    // The run names the bundle; it lies beside the audit file, not in the
    // state folder.
    let line = stderr
        .lines()
        .find(|l| l.contains("snapshot written: "))
        .unwrap_or_else(|| panic!("no snapshot line in\n{stderr}"));
    let path = PathBuf::from(line.split("snapshot written: ").nth(1).unwrap().trim());
    assert_eq!(
        path.parent(),
        Some(cluster.dir.path().join("snapshots").as_path())
    );
    assert!(!state.exists(), "nothing written into the state folder");
    let files = unpack(&path);
    let manifest: Value = serde_json::from_str(&files["manifest.json"]).unwrap();
    let reason = manifest["reason"].as_str().unwrap();
    assert!(
        reason.starts_with("rolled back") && reason.contains("checkout 5xx: error-ratio"),
        "{reason}"
    );
    assert!(
        manifest["taken_by"]
            .as_str()
            .unwrap()
            .ends_with("(flightdeck auto)")
    );
    // Taken after the way back: the stored state says so, with the alarm.
    let stored: Value = serde_json::from_str(&files["rollout/state.json"]).unwrap();
    assert_eq!(stored["phase"]["phase"], "aborted", "{stored:#}");
    let history: Value = serde_json::from_str(&files["rollout/history.json"]).unwrap();
    assert!(
        history
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["action"] == "guard"),
        "{history:#}"
    );
    assert_eq!(
        files["plan.toml"],
        std::fs::read_to_string(plan("bad-canary.toml")).unwrap()
    );
    // The canary's logs from the time of the incident are kept.
    assert!(
        files
            .iter()
            .any(|(name, text)| name.starts_with("logs/checkout-canary-") && !text.is_empty()),
        "{:?}",
        files.keys().collect::<Vec<_>>()
    );
    // And a Kubernetes Event tells where it is.
    let events = cluster.flightdeck_events("shop");
    assert!(
        events
            .iter()
            .any(|(reason, message)| reason == "RolloutSnapshot"
                && message.contains(&path.display().to_string())),
        "{events:#?}"
    );
    cluster.host.shutdown().await;
}

/// The cockpit's side: its driver loop goes on after a guard's rollback,
/// sees the rollback land, and writes the snapshot beside itself; the path
/// comes back as a progress line, as the status line shows it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_driver_loop_snapshots_a_guards_rollback_and_says_where() {
    use flightdeck::app::Msg;
    use flightdeck::app::msg::DriveReport;
    use flightdeck::driver::guarded::GuardLink;
    use flightdeck::driver::{Clock, Command, Driver, Settings};
    use flightdeck::rollout::guards::{Alarm, GuardAction, GuardMetric};
    use flightdeck::rollout::plan::Plan;
    use flightdeck::workers::guard_watch::GuardFact;
    use std::time::Duration;

    let cluster = SimDir::start("healthy-canary", 20.0).await;
    let out = cluster.dir.path().join("bundles");
    flightdeck::snapshot::auto::set_context(flightdeck::snapshot::auto::Context {
        plan_text: Some("# the plan as written\n".into()),
        prometheus: None,
        dir: Some(out.clone()),
    });
    let client = cluster.client().await;
    let settings = Settings {
        clock: Clock::of_cluster(&client).await,
        auto: true,
        ..Settings::default()
    };
    let plan = Plan::load(&plan("canary-istio.toml")).unwrap();
    let audit = flightdeck::workers::audit::AuditLog::open(&cluster.audit()).unwrap();
    let driver = Driver::new(client, plan, "flightdeck-sim", Some(audit), settings);
    driver
        .execute(Command::Start { image: None })
        .await
        .unwrap();

    let (facts_tx, facts) = tokio::sync::mpsc::channel(8);
    let (link, _stage) = GuardLink::fed(facts);
    let (tx, mut rx) = tokio::sync::mpsc::channel(256);
    let task = flightdeck::driver::task::spawn(driver, tx, Some(link));
    let now = cluster.host.shared().store.now();
    facts_tx
        .send(GuardFact::Fired(Alarm {
            guard: "checkout 5xx".into(),
            metric: GuardMetric::ErrorRatio,
            action: GuardAction::Rollback,
            value: 0.09,
            threshold: 0.05,
            since: now,
            held_for: Duration::from_secs(120),
        }))
        .await
        .unwrap();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    let line = loop {
        let msg = tokio::time::timeout_at(deadline, rx.recv())
            .await
            .expect("no snapshot line within a minute")
            .unwrap();
        if let Msg::Drive(DriveReport::Progress(line)) = msg
            && line.contains("snapshot")
        {
            break line;
        }
    };
    let path = PathBuf::from(
        line.strip_prefix("snapshot written: ")
            .unwrap_or_else(|| panic!("{line}")),
    );
    assert!(path.starts_with(&out), "{path:?}");
    let files = unpack(&path);
    let manifest: Value = serde_json::from_str(&files["manifest.json"]).unwrap();
    assert_eq!(
        manifest["reason"],
        "rolled back by guard checkout 5xx: error-ratio 9.0% > 5.0% for 2m00s"
    );
    assert_eq!(files["plan.toml"], "# the plan as written\n");
    let state: Value = serde_json::from_str(&files["rollout/state.json"]).unwrap();
    assert_eq!(state["phase"]["phase"], "aborted", "{state:#}");
    drop(task);
    cluster.host.shutdown().await;
}
