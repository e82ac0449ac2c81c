//! The real binary's rollout verbs against a simulated cluster: what a
//! script in a pipeline sees (stdout, stderr, exit status), what the cluster
//! holds afterwards, the audit file and the Kubernetes Events.

#![allow(clippy::unwrap_used)]

use std::path::Path;
use std::process::{Output, Stdio};

use flightdeck::sim::resources::kinds;
use serde_json::Value;

mod common;
mod proxy;
mod sim_dir;

use common::driving::holder;

use sim_dir::SimDir;

/// The simulated healthy-canary cluster, and the verbs against it.
struct Run(SimDir);

impl std::ops::Deref for Run {
    type Target = SimDir;
    fn deref(&self) -> &SimDir {
        &self.0
    }
}

impl Run {
    async fn start() -> Self {
        Self(SimDir::start("healthy-canary", 30.0).await)
    }

    /// Runs `flightdeck VERB --plan … --kubeconfig … --audit … ARGS` with no terminal.
    async fn flightdeck(&self, verb: &str, args: &[&str]) -> Output {
        let mut cmd = self.command(
            env!("CARGO_BIN_EXE_flightdeck"),
            &[verb],
            "canary-istio.toml",
        );
        cmd.args(args)
            .env("USER", "captain")
            .env("NO_COLOR", "1")
            .stdin(Stdio::null());
        tokio::task::spawn_blocking(move || cmd.output().unwrap())
            .await
            .unwrap()
    }

    async fn ok(&self, verb: &str, args: &[&str]) -> String {
        let out = self.flightdeck(verb, args).await;
        assert!(
            out.status.success(),
            "{verb} {args:?} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    }

    async fn status(&self) -> Value {
        serde_json::from_str(&self.ok("status", &["-o", "json"]).await).unwrap()
    }

    fn canary_weight(&self) -> u8 {
        self.0.canary_weight("shop", "checkout", false)
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn verbs_drive_the_rollout_and_leave_a_record() {
    let run = Run::start().await;
    let status = run.status().await;
    assert_eq!(status["phase"], "not-started");
    assert_eq!(status["routed"]["stable"], 100);
    assert!(status["pods"].as_array().unwrap().len() >= 5, "{status}");

    assert_eq!(
        run.ok("start", &[]).await.trim(),
        "start: stage 1/5 at 10%, waiting for the go"
    );
    run.ok("advance", &[]).await;
    let status = run.status().await;
    assert_eq!(status["stage"], 2);
    assert_eq!(status["weights"]["canary"], 25);
    assert_eq!(status["routed"]["canary"], 25);
    let versions: Vec<&str> = status["pods"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["version"].as_str().unwrap())
        .collect();
    assert!(
        versions.contains(&"canary") && versions.contains(&"stable"),
        "{versions:?}"
    );

    let paused = run.ok("pause", &[]).await;
    assert!(paused.contains("paused by the captain"), "{paused}");
    assert!(run.status().await["paused_for_secs"].is_u64());
    run.ok("resume", &[]).await;
    assert_eq!(run.status().await["phase"], "paused");

    // Destructive without --yes and without a terminal: refused, nothing changed.
    let out = run.flightdeck("abort", &[]).await;
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("pass --yes"), "{err}");
    assert_eq!(run.canary_weight(), 25);

    run.ok("abort", &["--yes"]).await;
    assert_eq!(run.canary_weight(), 0);
    assert_eq!(run.status().await["phase"], "aborted");
    run.ok("retry", &[]).await;
    assert_eq!(run.canary_weight(), 10);
    let promoted = run.ok("promote", &["--yes", "-o", "json"]).await;
    let promoted: Value = serde_json::from_str(&promoted).unwrap();
    assert_eq!(promoted["phase"], "promoted");
    assert_eq!(promoted["routed"]["stable"], 100);

    let audit = std::fs::read_to_string(run.audit()).unwrap();
    let lines: Vec<Value> = audit
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let actions: Vec<&str> = lines
        .iter()
        .map(|l| l["action"].as_str().unwrap())
        .collect();
    assert_eq!(
        actions,
        [
            "start", "advance", "pause", "resume", "abort", "retry", "promote"
        ]
    );
    for line in &lines {
        assert_eq!(line["who"]["os_user"], "captain");
        assert_eq!(line["who"]["kube_user"], "flightdeck-sim");
        assert_eq!(line["result"], "done");
    }
    assert!(
        lines[4]["from"]
            .as_str()
            .unwrap()
            .starts_with("stage 2/5 at 25%")
    );

    let (events, _) = run.host.shared().store.list(kinds::events(), Some("shop"));
    let ours: Vec<&str> = events
        .iter()
        .filter(|e| e.pointer("/source/component").and_then(Value::as_str) == Some("flightdeck"))
        .map(|e| e["reason"].as_str().unwrap())
        .collect();
    for reason in [
        "RolloutStart",
        "RolloutAdvance",
        "RolloutPause",
        "RolloutAbort",
        "RolloutPromote",
    ] {
        assert!(ours.contains(&reason), "{reason} missing from {ours:?}");
    }
    let status = run.ok("status", &[]).await;
    assert!(status.contains("promote   by captain"), "{status}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn read_only_refuses_with_a_clear_message_and_changes_nothing() {
    let run = Run::start().await;
    let out = run.flightdeck("start", &["--read-only"]).await;
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("read-only: refusing to start"), "{err}");
    assert_eq!(run.canary_weight(), 0);
    assert!(!run.audit().exists());
    // Reading is what read-only is for.
    let status = run.ok("status", &["--read-only", "-o", "json"]).await;
    assert!(status.contains("\"not-started\""));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_request_says_why_and_is_audited() {
    let run = Run::start().await;
    let out = run.flightdeck("advance", &[]).await;
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("refused: the rollout has not started"),
        "{err}"
    );
    let audit = std::fs::read_to_string(run.audit()).unwrap();
    let line: Value = serde_json::from_str(audit.lines().next().unwrap()).unwrap();
    assert_eq!(line["result"], "refused");
    assert_eq!(line["reason"], "the rollout has not started");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_held_helm_refuses_until_taken_over_and_the_take_over_is_recorded() {
    use flightdeck::workers::audit::Actor;
    let run = Run::start().await;
    let (client, _) =
        flightdeck::cluster::client::connect(Some(&run.kubeconfig()), Some("flightdeck-sim"))
            .await
            .unwrap();
    let plan = flightdeck::rollout::plan::Plan::load(
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("assets/plans/canary-istio.toml"),
    )
    .unwrap();
    // Another captain's cockpit holds the helm.
    let cockpit = flightdeck::driver::Driver::new(
        client,
        plan,
        "flightdeck-sim",
        None,
        flightdeck::driver::Settings::default(),
    )
    .with_actor(Actor {
        kube_user: "flightdeck-sim".into(),
        os_user: "ana".into(),
        host: "ops-laptop".into(),
    });
    assert!(cockpit.helm().acquire().await.unwrap().is_ours());

    let out = run.flightdeck("start", &[]).await;
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("helm held by ana@ops-laptop#"), "{err}");
    assert!(err.contains("pass --take-over"), "{err}");
    assert_eq!(run.canary_weight(), 0);

    run.ok("start", &["--take-over"]).await;
    assert_eq!(run.canary_weight(), 10);
    let audit = std::fs::read_to_string(run.audit()).unwrap();
    let actions: Vec<Value> = audit
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(actions[0]["action"], "take-helm");
    assert_eq!(actions[0]["who"]["os_user"], "captain");
    assert!(
        actions[0]["from"]
            .as_str()
            .unwrap()
            .contains("ana@ops-laptop#")
    );
    assert_eq!(actions[1]["action"], "start");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rollback_from_the_shell_returns_only_once_stable_carries_everything() {
    let run = Run::start().await;
    run.ok("start", &[]).await;
    run.ok("advance", &[]).await;
    run.ok("advance", &[]).await;
    assert_eq!(run.canary_weight(), 50);

    // --no-wait: the first step down is written and the verb returns.
    let out = run.flightdeck("rollback", &["--yes", "--no-wait"]).await;
    let err = String::from_utf8_lossy(&out.stderr).to_string();
    assert!(out.status.success(), "{err}");
    let said = String::from_utf8_lossy(&out.stdout);
    assert!(
        said.contains("rollback: rolling back, canary at 25%"),
        "{said}"
    );
    assert!(err.contains("not waiting"), "{err}");
    // With nobody driving, the next step does not come, and status says why
    // (two seconds are a minute of the simulated cluster's time: two steps).
    tokio::time::sleep(std::time::Duration::from_secs(2)).await;
    assert_eq!(run.canary_weight(), 25);
    let status = run.ok("status", &[]).await;
    assert!(
        status.contains("waiting for a driver: open the cockpit or run `flightdeck run`"),
        "{status}"
    );

    // Without it, the verb drives the steps itself until stable has it all.
    let out = run.flightdeck("rollback", &["--yes"]).await;
    let err = String::from_utf8_lossy(&out.stderr).to_string();
    assert!(out.status.success(), "{err}");
    assert!(err.contains("rolling back, canary at 10%"), "{err}");
    assert_eq!(run.canary_weight(), 0);
    let status = run.status().await;
    assert_eq!(status["phase"], "aborted", "{status}");
    assert_eq!(status["routed"]["stable"], 100);
    assert!(status.get("waiting_for_driver").is_none(), "{status}");

    // --timeout bounds the wait: an API server answering after 3 s cannot
    // carry a start in 1 s; the verb fails and says where things stand.
    run.host
        .shared()
        .faults
        .update(|f| f.api_latency_ms = 3_000);
    let out = run.flightdeck("retry", &["--timeout", "1s"]).await;
    run.host.shared().faults.update(|f| f.api_latency_ms = 0);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("retry did not finish within 1s"), "{err}");
}

/// Polls `done` every 100 ms for at most 60 s of real time.
async fn eventually(what: &str, mut done: impl FnMut() -> bool) {
    for _ in 0..600 {
        if done() {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    panic!("{what} never happened");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_abort_from_the_shell_is_carried_out_by_the_cockpit_at_the_helm() {
    use flightdeck::driver::{Clock, Command, Driver, Settings, task};
    use flightdeck::workers::audit::{Actor, AuditLog};
    let run = Run::start().await;
    let plan = flightdeck::rollout::plan::Plan::load(
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("assets/plans/canary-istio.toml"),
    )
    .unwrap();
    let store = run.host.shared().store.clone();
    let settings = Settings {
        clock: Clock::scaled(move || store.now(), 1.0),
        ..Settings::default()
    };
    // Ana's cockpit drives, with an audit file of its own.
    let ana_audit = run.dir.path().join("ana-audit.jsonl");
    let driver = Driver::new(
        run.client().await,
        plan,
        "flightdeck-sim",
        Some(AuditLog::open(&ana_audit).unwrap()),
        settings,
    )
    .with_actor(Actor {
        kube_user: "flightdeck-sim".into(),
        os_user: "ana".into(),
        host: "ops-laptop".into(),
    });
    let (tx, mut rx) = tokio::sync::mpsc::channel(256);
    let cockpit = task::spawn(driver, tx, None);
    let screen = tokio::spawn(async move {
        let mut lines = Vec::new();
        while let Some(msg) = rx.recv().await {
            if let flightdeck::app::Msg::Drive(report) = msg {
                lines.push(format!("{report:?}"));
            }
        }
        lines
    });
    cockpit
        .commands
        .send(Command::Start { image: None })
        .await
        .unwrap();
    eventually("the start", || run.canary_weight() == 10).await;
    cockpit.commands.send(Command::Advance).await.unwrap();
    eventually("the advance", || run.canary_weight() == 25).await;

    // The shell does not hold the helm and takes nothing over: it asks.
    let out = run.flightdeck("abort", &["--yes"]).await;
    let err = String::from_utf8_lossy(&out.stderr).to_string();
    assert!(out.status.success(), "{err}");
    assert!(
        err.contains("abort asked by captain (flightdeck-sim)")
            && err.contains("asked of the driver at the helm (helm held by ana@ops-laptop#"),
        "{err}"
    );
    assert!(
        err.contains("carried out by the driver at the helm"),
        "{err}"
    );
    let said = String::from_utf8_lossy(&out.stdout);
    assert!(said.starts_with("abort: aborted"), "{said}");
    assert_eq!(run.canary_weight(), 0);
    let status = run.status().await;
    assert_eq!(status["phase"], "aborted", "{status}");
    assert_eq!(status["routed"]["stable"], 100);

    // Ana's cockpit did it, and its record names who asked.
    let ana_lines: Vec<Value> = std::fs::read_to_string(&ana_audit)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let abort = ana_lines.last().unwrap();
    assert_eq!(abort["action"], "abort");
    assert_eq!(abort["result"], "done");
    assert_eq!(abort["who"]["os_user"], "ana");
    let detail = abort["detail"].as_str().unwrap();
    assert!(
        detail.contains("abort asked by captain (flightdeck-sim) on ")
            && detail.contains("carried out by ana"),
        "{detail}"
    );
    let events = run.flightdeck_events("shop");
    let (_, message) = events
        .iter()
        .find(|(reason, _)| reason == "RolloutAbort")
        .unwrap();
    assert!(
        message.starts_with("abort by ana (flightdeck-sim)")
            && message.contains("asked by captain"),
        "{message}"
    );
    // The request is gone once carried out.
    let cm = run
        .host
        .shared()
        .store
        .get(kinds::configmaps(), "shop", "checkout-flightdeck-rollout")
        .unwrap();
    assert!(cm["data"].get("request.json").is_none(), "{cm}");

    // --no-wait returns once the request is written; the cockpit then
    // steps the canary down to stable on its own.
    cockpit.commands.send(Command::Retry).await.unwrap();
    eventually("the retry", || run.canary_weight() == 10).await;
    let out = run.flightdeck("rollback", &["--yes", "--no-wait"]).await;
    let err = String::from_utf8_lossy(&out.stderr).to_string();
    assert!(out.status.success(), "{err}");
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        "rollback: asked of the driver at the helm; not waiting for it"
    );
    assert!(!err.contains("carried out"), "{err}");
    eventually("the rollback", || run.canary_weight() == 0).await;
    eventually("the cockpit's record of the rollback", || {
        std::fs::read_to_string(&ana_audit)
            .unwrap()
            .lines()
            .any(|l| l.contains("rollback asked by captain (flightdeck-sim)"))
    })
    .await;

    drop(cockpit.commands);
    cockpit.handle.await.unwrap();
    let lines = screen.await.unwrap();
    assert!(
        lines.iter().any(
            |l| l.contains("abort asked by captain (flightdeck-sim) on ")
                && l.contains("it goes first")
        ),
        "{lines:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_abort_asked_of_a_holder_that_died_is_carried_out_by_the_verb_once_its_lease_lapses() {
    let run = Run::start().await;
    run.ok("start", &[]).await;
    run.ok("advance", &[]).await;
    assert_eq!(run.canary_weight(), 25);
    // Ana's cockpit took the helm and died without letting go.
    let gone = holder(run.client().await, "canary-istio.toml", "ana", "ops-laptop");
    assert!(gone.helm().acquire().await.unwrap().is_ours());

    let out = run.flightdeck("abort", &["--yes"]).await;
    let err = String::from_utf8_lossy(&out.stderr).to_string();
    assert!(out.status.success(), "{err}");
    assert!(
        err.contains("asked of the driver at the helm (helm held by ana@ops-laptop#"),
        "{err}"
    );
    assert!(
        err.contains("the helm fell free: carrying out the abort here"),
        "{err}"
    );
    assert_eq!(run.canary_weight(), 0);
    let abort = run.audit_entries().pop().unwrap();
    assert_eq!(abort["action"], "abort");
    assert_eq!(abort["who"]["os_user"], "captain");
    assert!(
        abort["detail"]
            .as_str()
            .unwrap()
            .starts_with("abort asked by captain (flightdeck-sim)"),
        "{abort}"
    );
    let cm = run
        .host
        .shared()
        .store
        .get(kinds::configmaps(), "shop", "checkout-flightdeck-rollout")
        .unwrap();
    assert!(cm["data"].get("request.json").is_none(), "{cm}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_abort_asked_of_a_holder_that_does_not_answer_times_out_with_where_it_stands() {
    let run = Run::start().await;
    run.ok("start", &[]).await;
    // Ana renews the Lease but runs no loop that would see the request.
    let ana = holder(run.client().await, "canary-istio.toml", "ana", "ops-laptop");
    assert!(ana.helm().acquire().await.unwrap().is_ours());
    let keeper = ana.helm().spawn_keeper();

    let out = run.flightdeck("abort", &["--yes", "--timeout", "2s"]).await;
    keeper.abort();
    assert_eq!(out.status.code(), Some(8));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("abort did not finish within 2s: stage 1/5 at 10%"),
        "{err}"
    );
    assert_eq!(run.canary_weight(), 10);
    // What was written stays: the request waits for whoever drives next.
    let cm = run
        .host
        .shared()
        .store
        .get(kinds::configmaps(), "shop", "checkout-flightdeck-rollout")
        .unwrap();
    let asked: Value = serde_json::from_str(cm["data"]["request.json"].as_str().unwrap()).unwrap();
    assert_eq!(asked["verb"], "abort");
    assert_eq!(asked["by"]["os_user"], "captain");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn status_and_list_reach_the_cluster_through_a_kubeconfigs_proxy_url() {
    let run = Run::start().await;
    let proxy = proxy::Proxy::start().await;
    let direct = std::fs::read_to_string(run.kubeconfig()).unwrap();
    let proxied = direct.replacen(
        "    server: ",
        &format!("    proxy-url: {}\n    server: ", proxy.url),
        1,
    );
    assert_ne!(direct, proxied, "{direct}");
    let kubeconfig = run.dir.path().join("proxied-kubeconfig");
    std::fs::write(&kubeconfig, proxied).unwrap();
    let plan = Path::new(env!("CARGO_MANIFEST_DIR")).join("assets/plans/canary-istio.toml");
    let flightdeck = |args: Vec<std::ffi::OsString>| {
        let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_flightdeck"));
        cmd.args(args)
            .env("NO_COLOR", "1")
            .env("USER", "captain")
            .env("RUST_BACKTRACE", "0")
            // Only the kubeconfig names a proxy.
            .env_remove("HTTP_PROXY")
            .env_remove("http_proxy")
            .env_remove("HTTPS_PROXY")
            .env_remove("https_proxy")
            .env_remove("ALL_PROXY")
            .env_remove("all_proxy")
            .stdin(Stdio::null());
        tokio::task::spawn_blocking(move || cmd.output().unwrap())
    };
    let out = flightdeck(vec![
        "status".into(),
        "--plan".into(),
        plan.into(),
        "--kubeconfig".into(),
        kubeconfig.clone().into(),
        "--audit".into(),
        run.audit().into(),
        "-o".into(),
        "json".into(),
    ])
    .await
    .unwrap();
    assert!(
        out.status.success(),
        "{}\n{:#?}",
        String::from_utf8_lossy(&out.stderr),
        proxy.seen()
    );
    let status: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(status["phase"], "not-started");
    assert_eq!(status["routed"]["stable"], 100);
    let seen = proxy.seen();
    assert!(
        seen.iter().any(|l| l.starts_with("GET ")
            && l.contains("/namespaces/shop/configmaps/checkout-flightdeck-rollout")),
        "{seen:#?}"
    );
    let out = flightdeck(vec![
        "list".into(),
        "--kubeconfig".into(),
        kubeconfig.into(),
        "-n".into(),
        "shop".into(),
    ])
    .await
    .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("checkout"));
    let after = proxy.seen();
    assert!(after.len() > seen.len(), "{after:#?}");
    // The tunnels lead to the sim, and nowhere else.
    let sim = run.host.url().replace("http://", "");
    let tunnels: Vec<&String> = after.iter().filter(|l| l.starts_with("CONNECT ")).collect();
    assert!(!tunnels.is_empty(), "{after:#?}");
    assert!(
        tunnels
            .iter()
            .all(|l| **l == format!("CONNECT {sim} HTTP/1.1")),
        "{after:#?}"
    );
}

/// kube reads the service account from fixed paths
/// (`/var/run/secrets/kubernetes.io/serviceaccount/…`), so a test cannot
/// point it at a token and CA of its own: this pins the order instead. A
/// kubeconfig wins even inside a pod; without one the service account is
/// tried, and both reasons are given when neither is there.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_kubeconfig_comes_before_the_in_cluster_service_account_and_both_misses_are_told() {
    if Path::new("/var/run/secrets/kubernetes.io/serviceaccount").exists() {
        eprintln!("skipped: this machine has a service account mounted");
        return;
    }
    let run = Run::start().await;
    let home = run.dir.path().join("home");
    std::fs::create_dir_all(&home).unwrap();
    let plan = Path::new(env!("CARGO_MANIFEST_DIR")).join("assets/plans/canary-istio.toml");
    let status = |kubeconfig: &Path, in_cluster: bool| {
        let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_flightdeck"));
        cmd.env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("HOME", &home)
            .env("NO_COLOR", "1")
            .env("KUBECONFIG", kubeconfig)
            .args(["status", "-o", "json", "--plan"])
            .arg(&plan)
            .arg("--audit")
            .arg(run.audit())
            .stdin(Stdio::null());
        if in_cluster {
            cmd.env("KUBERNETES_SERVICE_HOST", "127.0.0.1")
                .env("KUBERNETES_SERVICE_PORT", "1");
        }
        tokio::task::spawn_blocking(move || cmd.output().unwrap())
    };
    // Inside a pod, with a kubeconfig: the kubeconfig's cluster answers.
    let out = status(&run.kubeconfig(), true).await.unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let shown: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(shown["phase"], "not-started");

    let missing = run.dir.path().join("no-kubeconfig");
    // Neither: both misses are named, kubeconfig first.
    let out = status(&missing, false).await.unwrap();
    assert_eq!(out.status.code(), Some(6));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("no kubeconfig found (failed to read kubeconfig from")
            && err
                .contains("not inside a cluster (failed to read an incluster environment variable"),
        "{err}"
    );
    // In a pod without a kubeconfig: past the environment, on to the
    // service account's files.
    let out = status(&missing, true).await.unwrap();
    assert_eq!(out.status.code(), Some(6));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("not inside a cluster (failed to read the default namespace"),
        "{err}"
    );
}
