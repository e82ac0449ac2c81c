//! `flightdeck run --auto --headless`, the real binary, against the
//! simulator's scenarios: what a pipeline sees (stderr, exit status) and
//! what the cluster, the audit file, the Kubernetes Events and a webhook
//! receiver on loopback hold afterwards. The simulator runs 20 times faster
//! than real time and the binary follows its clock (`GET /sim/clock`), so
//! every duration below is the cluster's.
#![allow(clippy::unwrap_used)]

use std::io::{BufRead, BufReader};
use std::process::{Child, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, Utc};
use flightdeck::sim::resources::kinds;
use serde_json::Value;

mod prometheus;
mod sim_dir;
mod webhook;

use sim_dir::SimDir;

const SPEED: f64 = 20.0;

/// The simulator, at [`SPEED`], with its scratch folder.
async fn cluster(scenario: &str) -> SimDir {
    SimDir::start(scenario, SPEED).await
}

impl SimDir {
    /// `flightdeck run --plan PLAN --auto --headless …`, stderr collected line by line.
    fn run(&self, plan: &str, webhook: Option<&str>, args: &[&str]) -> Running {
        let bin = std::env::var("FLIGHTDECK_E2E_BIN")
            .unwrap_or_else(|_| env!("CARGO_BIN_EXE_flightdeck").to_string());
        let mut cmd = self.command(&bin, &["run", "--auto", "--headless"], plan);
        cmd.args(args)
            .env("USER", "pipeline")
            .env_remove("FLIGHTDECK_PROMETHEUS")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        match webhook {
            Some(url) => cmd.env("FLIGHTDECK_WEBHOOK_URL", url),
            None => cmd.env_remove("FLIGHTDECK_WEBHOOK_URL"),
        };
        let mut child = cmd.spawn().unwrap();
        let lines = Arc::new(Mutex::new(Vec::new()));
        let stderr = child.stderr.take().unwrap();
        let sink = lines.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines() {
                let Ok(line) = line else { return };
                eprintln!("  | {line}");
                sink.lock().unwrap().push(line);
            }
        });
        Running { child, lines }
    }
}

struct Running {
    child: Child,
    lines: Arc<Mutex<Vec<String>>>,
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Running {
    fn stderr(&self) -> String {
        self.lines.lock().unwrap().join("\n")
    }

    /// Waits for the exit (at most `real` seconds); its code.
    async fn exit(&mut self, real: u64) -> i32 {
        for _ in 0..real * 10 {
            if let Some(status) = self.child.try_wait().unwrap() {
                // Let the reader take the last lines.
                tokio::time::sleep(Duration::from_millis(200)).await;
                return status.code().unwrap_or(-1);
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("still running after {real} s:\n{}", self.stderr());
    }

    /// Waits until a stderr line contains `text` (at most `real` seconds).
    async fn line(&self, real: u64, text: &str) -> String {
        for _ in 0..real * 10 {
            if let Some(l) = self.lines.lock().unwrap().iter().find(|l| l.contains(text)) {
                return l.clone();
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("no line with {text:?} in {real} s:\n{}", self.stderr());
    }
}

fn at(entry: &Value) -> DateTime<Utc> {
    entry["at"].as_str().unwrap().parse().unwrap()
}

fn find<'a>(entries: &'a [Value], action: &str) -> &'a Value {
    entries
        .iter()
        .find(|e| e["action"] == action && e["result"] == "done")
        .unwrap_or_else(|| panic!("no {action} in {entries:#?}"))
}

/// A rollback's audit entry: the guard that acted, from its `detail`.
fn rollback_entry(entries: &[Value]) -> &Value {
    entries
        .iter()
        .find(|e| {
            e["result"] == "done"
                && e["to"]
                    .as_str()
                    .is_some_and(|t| t.starts_with("aborted") || t.starts_with("rolling back"))
        })
        .unwrap_or_else(|| panic!("no rollback in {entries:#?}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_canary_is_rolled_back_by_its_guard_and_everyone_is_told() {
    let cluster = cluster("bad-canary").await;
    let (hook, url) = webhook::receiver(0).await;
    let mut run = cluster.run("bad-canary.toml", Some(&url), &[]);
    let code = run.exit(120).await;
    let stderr = run.stderr();
    assert_eq!(code, 3, "a rollback exits 3:\n{stderr}");
    assert!(
        stderr.contains("rolled back: checkout 5xx: error-ratio"),
        "{stderr}"
    );

    // The cluster: all traffic back on stable.
    assert_eq!(cluster.canary_weight("shop", "checkout", false), 0);

    // The audit file: the guard acted, automatically, with its numbers, within
    // the guard's window plus one interval of the error ratio crossing 5%.
    // The scenario ramps 0.5% → 8% over the minute starting 2m after the
    // canary's first traffic, so it crosses 5% at 2m36s; `for` is 2m and the
    // interval 15s; the pods' rates lag up to one more interval, and the
    // first traffic a few seconds behind the start. It never fires before
    // the error ratio has been over 5% for 2m, and that cannot begin before
    // the ramp does, 2m in.
    let entries = cluster.audit_entries();
    let start = find(&entries, "start");
    let guard = rollback_entry(&entries);
    assert_eq!(guard["action"], "guard", "{guard:#}");
    assert!(
        guard["who"]["os_user"]
            .as_str()
            .unwrap()
            .ends_with("(flightdeck auto)"),
        "{guard:#}"
    );
    let detail = guard["detail"].as_str().unwrap();
    assert!(
        detail.starts_with("checkout 5xx: error-ratio") && detail.contains("> 5.0% for 2m"),
        "{detail}"
    );
    let took = (at(guard) - at(start)).num_seconds();
    assert!(
        (120 + 120..=156 + 120 + 15 + 15 + 15).contains(&took),
        "rolled back {took} s after the start"
    );

    // A Kubernetes Event on the app says the same.
    let events = cluster.flightdeck_events("shop");
    assert!(
        events
            .iter()
            .any(|(reason, message)| reason == "RolloutGuard" && message.contains("checkout 5xx")),
        "{events:#?}"
    );

    // The webhook: started, the guard firing with its numbers, the rollback.
    let bodies = hook.bodies();
    let kinds: Vec<&str> = bodies.iter().filter_map(|b| b["event"].as_str()).collect();
    assert_eq!(kinds.first(), Some(&"started"), "{kinds:?}");
    assert!(kinds.contains(&"guard-fired"), "{kinds:?}");
    let rolled_back = bodies
        .iter()
        .find(|b| b["event"] == "rolled-back")
        .unwrap_or_else(|| panic!("no rolled-back notice in {bodies:#?}"));
    assert!(
        rolled_back["reason"]
            .as_str()
            .unwrap()
            .contains("checkout 5xx"),
        "{rolled_back:#}"
    );
    assert!(rolled_back["numbers"]["value"].as_f64().unwrap() > 0.05);
    assert!((rolled_back["numbers"]["threshold"].as_f64().unwrap() - 0.05).abs() < 1e-9);
    assert_eq!(rolled_back["weights"]["canary"], 0);
    assert_eq!(rolled_back["app"], "checkout");
    cluster.host.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn healthy_canary_reaches_every_stage_and_is_promoted_on_its_own() {
    let cluster = cluster("healthy-canary").await;
    let (hook, url) = webhook::receiver(0).await;
    let mut run = cluster.run("healthy-canary-auto.toml", Some(&url), &[]);
    let code = run.exit(150).await;
    let stderr = run.stderr();
    assert_eq!(code, 0, "a promotion exits 0:\n{stderr}");
    assert!(stderr.contains("promoted"), "{stderr}");

    let entries = cluster.audit_entries();
    // Each stage moved on only once its analysis had passed.
    let verdicts: Vec<&Value> = entries
        .iter()
        .filter(|e| e["action"] == "verdict")
        .collect();
    assert!(verdicts.len() >= 4, "{entries:#?}");
    for v in &verdicts {
        assert_eq!(v["verdict"]["outcome"], "pass", "{v:#}");
        assert!(
            !v["verdict"]["checks"].as_array().unwrap().is_empty(),
            "{v:#}"
        );
    }
    assert!(
        entries.iter().all(|e| e["action"] != "guard"),
        "{entries:#?}"
    );
    let last = entries.last().unwrap();
    assert_eq!(last["to"], "promoted", "{last:#}");
    // The canary handed its template to stable and all traffic is there.
    assert_eq!(cluster.canary_weight("shop", "checkout", false), 0);
    let stable = cluster
        .host
        .shared()
        .store
        .get(kinds::deployments(), "shop", "checkout-stable")
        .unwrap();
    assert_eq!(
        stable["spec"]["template"]["spec"]["containers"][0]["image"],
        "registry.local/shop/checkout:1.5.0"
    );

    let kinds = hook.events();
    assert_eq!(
        kinds.first().map(String::as_str),
        Some("started"),
        "{kinds:?}"
    );
    assert_eq!(
        kinds.iter().filter(|k| *k == "stage").count(),
        3,
        "{kinds:?}"
    );
    assert_eq!(
        kinds.last().map(String::as_str),
        Some("promoted"),
        "{kinds:?}"
    );
    cluster.host.shutdown().await;
}

/// Runs a shipped plan on its scenario to its rollback; the rollback's audit entry.
async fn rolled_back_by(scenario: &str, plan: &str, real: u64) -> (Value, String) {
    let cluster = cluster(scenario).await;
    let mut run = cluster.run(plan, None, &[]);
    let code = run.exit(real).await;
    let stderr = run.stderr();
    assert_eq!(code, 3, "{scenario} is rolled back:\n{stderr}");
    let entries = cluster.audit_entries();
    let entry = rollback_entry(&entries).clone();
    let app = &cluster.host.shared().scenario.apps[0];
    let gateway_api = plan == "memory-leak.toml";
    assert_eq!(
        cluster.canary_weight(&app.namespace, &app.name, gateway_api),
        0,
        "{scenario}: traffic back on stable"
    );
    cluster.host.shutdown().await;
    (entry, stderr)
}

/// What rolled it back, from its audit entry: the guard that fired, or the
/// analysis check that failed (it compares against stable, so it often sees
/// a regression before an absolute guard's `for` is up).
fn cause(entry: &Value) -> String {
    match entry["action"].as_str().unwrap() {
        "guard" => entry["detail"].as_str().unwrap().to_string(),
        "verdict" => {
            let verdict = &entry["verdict"];
            assert_eq!(verdict["outcome"], "fail", "{entry:#}");
            verdict["reason"].as_str().unwrap().to_string()
        }
        other => panic!("rolled back by {other}: {entry:#}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_canary_is_rolled_back_by_latency() {
    let (entry, stderr) = rolled_back_by("slow-canary", "slow-canary.toml", 150).await;
    let cause = cause(&entry);
    assert!(cause.contains("p99"), "{cause}");
    // The plan rolls back gradually: from above the first stage the canary
    // steps down through the lower stages; from the first it goes to 0.
    let to = entry["to"].as_str().unwrap();
    assert!(
        to.starts_with("rolling back") || to.starts_with("aborted"),
        "{entry:#}"
    );
    assert!(stderr.contains("rolled back: "), "{stderr}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn crashloop_is_rolled_back_by_restarts_or_health_checks() {
    let (entry, _) = rolled_back_by("crashloop", "crashloop.toml", 150).await;
    assert_eq!(entry["action"], "guard", "{entry:#}");
    let cause = cause(&entry);
    assert!(
        cause.contains("restarts") || cause.contains("health-check"),
        "{cause}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn memory_leak_is_rolled_back_by_memory() {
    let (entry, _) = rolled_back_by("memory-leak", "memory-leak.toml", 200).await;
    let cause = cause(&entry);
    assert!(cause.contains("memory"), "{cause}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_metrics_a_stage_holds_and_the_run_gives_up_at_its_deadline() {
    let cluster = cluster("healthy-canary").await;
    // Nothing listens on port 9: every query fails.
    let mut run = cluster.run(
        "healthy-canary-auto.toml",
        None,
        &[
            "--prometheus",
            "http://127.0.0.1:9",
            "--hold-deadline",
            "3m",
        ],
    );
    let code = run.exit(120).await;
    let stderr = run.stderr();
    assert_eq!(code, 4, "held past the deadline exits 4:\n{stderr}");
    assert!(
        stderr.contains("giving up: stage 1/5 at 10%, waiting for analysis")
            && stderr
                .contains("inconclusive: metrics unavailable: Prometheus at http://127.0.0.1:9"),
        "{stderr}"
    );
    // It never moved on: the canary still has its first stage's share.
    assert_eq!(cluster.canary_weight("shop", "checkout", false), 10);
    let entries = cluster.audit_entries();
    assert!(
        entries
            .iter()
            .filter(|e| e["action"] == "verdict")
            .all(|e| e["verdict"]["outcome"] == "inconclusive"),
        "{entries:#?}"
    );
    cluster.host.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prometheus_stopped_mid_rollout_holds_it_and_it_goes_on_when_back() {
    let Some(bin) = prometheus::find() else {
        return;
    };
    let cluster = cluster("healthy-canary").await;
    let dir = tempfile::tempdir().unwrap();
    let port = prometheus::free_port();
    let base = format!("http://127.0.0.1:{port}");
    let targets = [("sim", cluster.host.addr().port())];
    let mut server = Some(prometheus::start(&bin, dir.path(), port, &targets));
    prometheus::wait_ready(&base).await;
    let mut run = cluster.run(
        "healthy-canary-auto.toml",
        None,
        &["--prometheus", &base, "--hold-deadline", "60m"],
    );
    run.line(90, "stage 2/5 at 25%").await;

    drop(server.take());
    run.line(60, "inconclusive: metrics unavailable: Prometheus at")
        .await;
    let held_at = run.stderr().lines().count();
    // Two more analysis windows without Prometheus: nothing moves on.
    let before = run.stderr().matches("inconclusive").count();
    for _ in 0..600 {
        if run.stderr().matches("inconclusive").count() >= before + 2 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let during: Vec<String> = run
        .stderr()
        .lines()
        .skip(held_at)
        .map(String::from)
        .collect();
    assert!(
        during
            .iter()
            .all(|l| !l.contains("promoted") && !l.contains("at 75%")),
        "moved on without metrics: {during:#?}"
    );
    let weight = cluster.canary_weight("shop", "checkout", false);
    assert!(weight < 75, "canary at {weight}% while Prometheus was down");

    server = Some(prometheus::start(&bin, dir.path(), port, &targets));
    let code = run.exit(150).await;
    assert_eq!(
        code,
        0,
        "promoted once Prometheus is back:\n{}",
        run.stderr()
    );
    let entries = cluster.audit_entries();
    let outcomes: Vec<&str> = entries
        .iter()
        .filter(|e| e["action"] == "verdict")
        .map(|e| e["verdict"]["outcome"].as_str().unwrap())
        .collect();
    assert!(outcomes.contains(&"inconclusive"), "{outcomes:?}");
    assert_eq!(outcomes.last(), Some(&"pass"), "{outcomes:?}");
    drop(server);
    cluster.host.shutdown().await;
}

impl Running {
    /// Sends `signal` (`TERM`, `INT`) to the run, as a CI runner or Ctrl-C would.
    fn signal(&self, signal: &str) {
        let status = std::process::Command::new("kill")
            .arg(format!("-{signal}"))
            .arg(self.child.id().to_string())
            .status()
            .unwrap();
        assert!(status.success());
    }
}

/// Who holds the app's Lease on the simulator, if anyone.
fn lease_holder(cluster: &SimDir) -> Option<String> {
    let lease = cluster
        .host
        .shared()
        .store
        .get(kinds::leases(), "shop", "flightdeck-checkout")?;
    lease["spec"]["holderIdentity"]
        .as_str()
        .filter(|h| !h.is_empty())
        .map(String::from)
}

/// A run stopped by `signal` mid-rollout lets go of the helm, delivers what
/// it had queued, and exits with `code`; the rollout stays where it is.
async fn a_signal_mid_rollout_releases_the_helm(signal: &str, code: i32) {
    let cluster = cluster("healthy-canary").await;
    let (hook, url) = webhook::receiver(0).await;
    let mut run = cluster.run("healthy-canary-auto.toml", Some(&url), &[]);
    run.line(60, "started:").await;
    let holder = lease_holder(&cluster).expect("the run holds the helm while it drives");
    assert!(holder.starts_with("pipeline@"), "{holder}");
    let weight = cluster.canary_weight("shop", "checkout", false);
    assert!(weight > 0, "the canary takes traffic");

    run.signal(signal);
    let exit = run.exit(60).await;
    let stderr = run.stderr();
    assert_eq!(exit, code, "{stderr}");
    assert!(
        stderr.contains(&format!("stopped by SIG{signal}")),
        "{stderr}"
    );
    assert_eq!(lease_holder(&cluster), None, "the helm is released");
    // The notice of the start went out before the run ended.
    let kinds = hook.events();
    assert_eq!(
        kinds.first().map(String::as_str),
        Some("started"),
        "{kinds:?}"
    );
    // Nothing moved the rollout back or on: it stays where it stood.
    let entries = cluster.audit_entries();
    assert!(
        entries.iter().all(|e| e["action"] != "abort"),
        "{entries:#?}"
    );
    assert!(cluster.canary_weight("shop", "checkout", false) > 0);
    cluster.host.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_mid_rollout_releases_the_helm_and_exits_143() {
    a_signal_mid_rollout_releases_the_helm("TERM", 143).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigint_mid_rollout_releases_the_helm_and_exits_130() {
    a_signal_mid_rollout_releases_the_helm("INT", 130).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_abort_from_a_shell_while_a_step_lands_on_a_slow_api_is_carried_out_by_the_run_first() {
    let cluster = cluster("healthy-canary").await;
    // Timed stages and no analysis: the run moves on by the clock alone,
    // whatever the slow API does to the metrics.
    let plan = cluster.dir.path().join("timed.toml");
    std::fs::write(
        &plan,
        r#"
app = "checkout"
namespace = "shop"
strategy = "canary"
auto = true
[canary]
stable = "checkout-stable"
canary = "checkout-canary"
rollback = "immediate"
stages = [{ weight = 10, pause = "2m" }, { weight = 25, pause = "2m" }, { weight = 50, pause = "2m" }, { weight = 100 }]
[canary.router]
kind = "istio"
virtual_service = "checkout"
destination_rule = "checkout"
"#,
    )
    .unwrap();
    let plan = plan.to_str().unwrap();
    let mut run = cluster.run(plan, None, &[]);
    run.line(60, "stage 1/4 at 10%").await;
    // Every API request now takes 300 ms: each write, and each wait for it
    // to land, is slow.
    cluster
        .host
        .shared()
        .faults
        .update(|f| f.api_latency_ms = 300);
    let landing = || {
        cluster
            .host
            .shared()
            .store
            .get(kinds::configmaps(), "shop", "checkout-flightdeck-rollout")
            .and_then(|cm| cm.pointer("/data/landing.json").cloned())
    };
    // The run moves on to the next stage by itself and waits for it to land.
    let mut waited = 0;
    while landing().is_none() {
        waited += 1;
        assert!(waited < 1200, "no step landed:\n{}", run.stderr());
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let bin = std::env::var("FLIGHTDECK_E2E_BIN")
        .unwrap_or_else(|_| env!("CARGO_BIN_EXE_flightdeck").to_string());
    let mut abort = cluster.command(&bin, &["abort", "--yes"], plan);
    abort
        .env("USER", "captain")
        .env("NO_COLOR", "1")
        .stdin(Stdio::null());
    let out = tokio::task::spawn_blocking(move || abort.output().unwrap())
        .await
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr).to_string();
    assert_eq!(out.status.code(), Some(0), "{err}");
    // It returned only once stable carries everything.
    assert_eq!(cluster.canary_weight("shop", "checkout", false), 0);
    assert!(
        err.contains("asked of the driver at the helm (helm held by pipeline@"),
        "{err}"
    );
    assert!(
        err.contains("carried out by the driver at the helm: aborted"),
        "{err}"
    );
    cluster
        .host
        .shared()
        .faults
        .update(|f| f.api_latency_ms = 0);
    assert_eq!(run.exit(60).await, 3, "{}", run.stderr());
    let entries = cluster.audit_entries();
    let asked = entries.iter().find(|e| e["result"] == "asked").unwrap();
    assert_eq!(asked["who"]["os_user"], "captain");
    let abort = entries
        .iter()
        .find(|e| e["action"] == "abort" && e["result"] == "done")
        .unwrap_or_else(|| panic!("no abort in {entries:#?}"));
    assert_eq!(abort["who"]["os_user"], "pipeline");
    assert!(
        abort["detail"]
            .as_str()
            .unwrap()
            .starts_with("abort asked by captain"),
        "{abort}"
    );
    // The run took no step after the abort was asked.
    let after: Vec<&str> = entries
        .iter()
        .skip_while(|e| e["result"] != "asked")
        .filter(|e| e["who"]["os_user"] == "pipeline" && e["result"] == "done")
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    assert_eq!(after.first(), Some(&"abort"), "{entries:#?}");
}
