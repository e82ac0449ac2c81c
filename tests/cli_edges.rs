//! The real binary at its edges, as a script or a person at a shell meets it:
//! how each kind of failure is printed and which exit code it gives, the
//! shell completions, the man pages, `info`, `--version`, and who the audit
//! file and the Events name when `$USER` is unset.

#![allow(clippy::unwrap_used)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use serde_json::Value;

mod sim_dir;

use sim_dir::SimDir;

const BIN: &str = env!("CARGO_BIN_EXE_flightdeck");

fn plan(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("assets/plans")
        .join(name)
}

/// The binary with no terminal, no colour wish either way, and no debug.
fn flightdeck(args: &[&str]) -> Command {
    let mut cmd = Command::new(BIN);
    cmd.args(args)
        .env_remove("NO_COLOR")
        .env_remove("FLIGHTDECK_DEBUG")
        .env("RUST_BACKTRACE", "1")
        .stdin(Stdio::null());
    cmd
}

async fn output(mut cmd: Command) -> Output {
    tokio::task::spawn_blocking(move || cmd.output().unwrap())
        .await
        .unwrap()
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// One `error:` line, maybe a `hint:` line, nothing else: no escape codes,
/// no report location, no backtrace. Returns the two lines.
fn one_error(out: &Output, code: i32) -> (String, Option<String>) {
    let err = stderr(out);
    assert_eq!(out.status.code(), Some(code), "stderr: {err}");
    assert!(!err.contains('\x1b'), "escape codes when piped: {err:?}");
    assert!(!err.contains("Location"), "{err}");
    assert!(!err.contains("Backtrace"), "{err}");
    let lines: Vec<&str> = err.lines().collect();
    assert!(
        (1..=2).contains(&lines.len()),
        "one error line and at most a hint: {err}"
    );
    assert!(lines[0].starts_with("error: "), "{err}");
    let hint = lines.get(1).map(|h| {
        assert!(h.starts_with("hint: "), "{err}");
        (*h).to_string()
    });
    (lines[0].to_string(), hint)
}

fn json_error(out: &Output) -> Value {
    let v: Value = serde_json::from_str(stdout(out).trim()).unwrap();
    v["error"].clone()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn advance_before_start_is_refused_in_one_line_with_the_next_command() {
    let sim = SimDir::start("healthy-canary", 30.0).await;
    let mut cmd = sim.command(BIN, &["advance"], "canary-istio.toml");
    cmd.env_remove("NO_COLOR").stdin(Stdio::null());
    let out = output(cmd).await;
    let (line, hint) = one_error(&out, 5);
    assert_eq!(line, "error: refused: the rollout has not started");
    let plan = plan("canary-istio.toml");
    assert_eq!(
        hint.unwrap(),
        format!(
            "hint: run \"flightdeck start --plan {}\" first",
            plan.display()
        )
    );
    assert_eq!(stdout(&out), "");

    let mut cmd = sim.command(BIN, &["advance", "-o", "json"], "canary-istio.toml");
    cmd.stdin(Stdio::null());
    let out = output(cmd).await;
    assert_eq!(out.status.code(), Some(5));
    let e = json_error(&out);
    assert_eq!(e["kind"], "refused");
    assert_eq!(e["code"], 5);
    assert_eq!(e["message"], "refused: the rollout has not started");
    assert!(
        e["hint"]
            .as_str()
            .unwrap()
            .contains("flightdeck start --plan")
    );
    assert!(e["causes"].is_array());

    // The full report is there for whoever asks for it.
    let mut cmd = sim.command(BIN, &["advance"], "canary-istio.toml");
    cmd.env("FLIGHTDECK_DEBUG", "1").stdin(Stdio::null());
    let out = output(cmd).await;
    assert_eq!(out.status.code(), Some(5));
    assert!(stderr(&out).contains("Location:"), "{}", stderr(&out));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_destructive_verb_without_yes_and_a_held_helm_say_what_to_pass() {
    let sim = SimDir::start("healthy-canary", 30.0).await;
    let mut cmd = sim.command(BIN, &["abort"], "canary-istio.toml");
    cmd.stdin(Stdio::null());
    let out = output(cmd).await;
    let (_, hint) = one_error(&out, 5);
    assert_eq!(
        hint.unwrap(),
        "hint: pass --yes to confirm without a terminal"
    );

    let mut cmd = sim.command(BIN, &["start", "--read-only"], "canary-istio.toml");
    cmd.stdin(Stdio::null());
    let out = output(cmd).await;
    let (line, _) = one_error(&out, 5);
    assert!(line.contains("read-only: refusing to start"), "{line}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_forbidden_namespace_is_forbidden_and_a_held_helm_a_conflict() {
    let sim = SimDir::start("healthy-canary", 30.0).await;
    sim.host
        .shared()
        .faults
        .update(|f| f.forbidden_namespaces = vec!["shop".into()]);
    let mut cmd = sim.command(BIN, &["status", "-o", "json"], "canary-istio.toml");
    cmd.stdin(Stdio::null());
    let out = output(cmd).await;
    let (line, hint) = one_error(&out, 9);
    assert!(line.contains("forbidden"), "{line}");
    assert!(hint.unwrap().contains("kubectl auth can-i"));
    assert_eq!(json_error(&out)["kind"], "forbidden");
    sim.host
        .shared()
        .faults
        .update(|f| f.forbidden_namespaces.clear());

    let (client, _) = flightdeck::cluster::client::connect(Some(&sim.kubeconfig()), None)
        .await
        .unwrap();
    let other = flightdeck::driver::Driver::new(
        client,
        flightdeck::rollout::plan::Plan::load(&plan("canary-istio.toml")).unwrap(),
        "flightdeck-sim",
        None,
        flightdeck::driver::Settings::default(),
    )
    .with_actor(flightdeck::workers::audit::Actor {
        kube_user: "flightdeck-sim".into(),
        os_user: "ana".into(),
        host: "ops-laptop".into(),
    });
    assert!(other.helm().acquire().await.unwrap().is_ours());
    let mut cmd = sim.command(BIN, &["start"], "canary-istio.toml");
    cmd.stdin(Stdio::null());
    let out = output(cmd).await;
    let (line, hint) = one_error(&out, 7);
    assert!(line.contains("ana@ops-laptop#"), "{line}");
    assert!(hint.unwrap().contains("--take-over"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_an_app_flightdeck_opens_the_fleet_which_needs_a_terminal() {
    // No app and no plan is the fleet view now; on a pipe there is nothing
    // to draw it on, and the error says what does work there.
    let out = output(flightdeck(&[])).await;
    let (line, hint) = one_error(&out, 2);
    assert_eq!(line, "error: the fleet view needs a terminal");
    let hint = hint.unwrap();
    assert!(hint.contains("flightdeck list"), "{hint}");
    assert!(hint.contains("--app NAME"), "{hint}");
    // Its flags are the fleet's only: not beside an app.
    let out = output(flightdeck(&["-A", "--app", "checkout"])).await;
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("cannot be used with"),
        "{}",
        stderr(&out)
    );
}

/// On a terminal (a pty from script(1)) the label is coloured, unless
/// `NO_COLOR` asks otherwise.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_error_is_coloured_on_a_terminal_unless_no_color() {
    if Command::new("script").arg("--version").output().is_err() {
        eprintln!("skipped: script(1) is not installed");
        return;
    }
    let on_a_terminal = |no_color: bool| {
        // A log file in a folder that does not exist: a usage error before
        // anything is drawn (without an app it would open the fleet).
        let mut cmd = Command::new("script");
        let line = format!("{BIN} --app checkout --log-file /proc/flightdeck/no/such.log");
        cmd.args(["-qec", &line, "/dev/null"])
            .env_remove("FLIGHTDECK_DEBUG")
            .stdin(Stdio::null());
        if no_color {
            cmd.env("NO_COLOR", "1");
        } else {
            cmd.env_remove("NO_COLOR");
        }
        cmd
    };
    let out = output(on_a_terminal(false)).await;
    let screen = stdout(&out);
    assert_eq!(out.status.code(), Some(2), "{screen}");
    assert!(
        screen.contains("\x1b[1;31merror:\x1b[0m cannot open the log file"),
        "{screen:?}"
    );
    let out = output(on_a_terminal(true)).await;
    let screen = stdout(&out);
    assert!(
        screen.contains("error: cannot open the log file"),
        "{screen:?}"
    );
    assert!(!screen.contains('\x1b'), "{screen:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_log_file_that_cannot_be_opened_is_a_usage_error() {
    let out = output(flightdeck(&[
        "--app",
        "checkout",
        "--log-file",
        "/proc/flightdeck/no/such.log",
    ]))
    .await;
    let (line, hint) = one_error(&out, 2);
    assert!(
        line.starts_with("error: cannot open the log file /proc/flightdeck/no/such.log"),
        "{line}"
    );
    assert!(hint.unwrap().contains("--log-file"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missing_plan_file_is_not_found() {
    let out = output(flightdeck(&["status", "--plan", "/nonexistent/plan.toml"])).await;
    let (line, _) = one_error(&out, 6);
    assert!(
        line.starts_with("error: /nonexistent/plan.toml: cannot read the plan"),
        "{line}"
    );
    let out = output(flightdeck(&[
        "status",
        "--plan",
        "/nonexistent/plan.toml",
        "-o",
        "json",
    ]))
    .await;
    assert_eq!(out.status.code(), Some(6));
    assert_eq!(json_error(&out)["kind"], "not-found");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreachable_cluster_is_its_own_exit_code() {
    let dir = tempfile::tempdir().unwrap();
    // Nothing listens on a port just freed.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let kubeconfig = dir.path().join("kubeconfig");
    std::fs::write(
        &kubeconfig,
        flightdeck::sim::server::kubeconfig(&format!("http://127.0.0.1:{port}"), None, "shop"),
    )
    .unwrap();
    let plan = plan("canary-istio.toml");
    let audit = dir.path().join("audit.jsonl");
    let args = [
        "status",
        "--plan",
        plan.to_str().unwrap(),
        "--kubeconfig",
        kubeconfig.to_str().unwrap(),
        "--audit",
        audit.to_str().unwrap(),
    ];
    let out = output(flightdeck(&args)).await;
    let (line, hint) = one_error(&out, 10);
    assert!(
        line.contains("onnect") || line.contains("refused"),
        "{line}"
    );
    assert!(hint.unwrap().contains("flightdeck info"));
    let mut json = args.to_vec();
    json.extend(["-o", "json"]);
    let out = output(flightdeck(&json)).await;
    assert_eq!(out.status.code(), Some(10));
    assert_eq!(json_error(&out)["kind"], "unreachable");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_kubeconfig_outside_a_cluster_is_not_found_and_says_both() {
    let home = tempfile::tempdir().unwrap();
    let plan = plan("canary-istio.toml");
    let mut cmd = flightdeck(&[
        "status",
        "--plan",
        plan.to_str().unwrap(),
        "--audit",
        home.path().join("audit.jsonl").to_str().unwrap(),
    ]);
    cmd.env("HOME", home.path())
        .env_remove("KUBECONFIG")
        .env_remove("KUBERNETES_SERVICE_HOST")
        .env_remove("KUBERNETES_SERVICE_PORT");
    let out = output(cmd).await;
    let (line, hint) = one_error(&out, 6);
    assert!(line.contains("no kubeconfig found"), "{line}");
    assert!(line.contains("not inside a cluster"), "{line}");
    assert!(hint.unwrap().contains("--kubeconfig"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn durations_too_long_are_errors_not_panics() {
    let plan_path = plan("canary-istio.toml");
    let out = output(flightdeck(&[
        "run",
        "--plan",
        plan_path.to_str().unwrap(),
        "--headless",
        "--hold-deadline",
        "99999999999999999999h",
    ]))
    .await;
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("is too long"), "{err}");
    assert!(!err.contains("panicked"), "{err}");

    let dir = tempfile::tempdir().unwrap();
    let text = std::fs::read_to_string(&plan_path).unwrap();
    let (line_no, line) = text
        .lines()
        .enumerate()
        .find(|(_, l)| l.contains("pause = \""))
        .unwrap();
    // The opening quote of the pause's value, and the one closing it.
    let start = line.find("pause = \"").unwrap() + "pause = ".len();
    let end = start + 1 + line[start + 1..].find('"').unwrap();
    let bad_line = format!(
        "{}\"99999999999999999999h\"{}",
        &line[..start],
        &line[end + 1..]
    );
    let bad = text.replacen(line, &bad_line, 1);
    let bad_plan = dir.path().join("plan.toml");
    std::fs::write(&bad_plan, bad).unwrap();
    let out = output(flightdeck(&[
        "status",
        "--plan",
        bad_plan.to_str().unwrap(),
    ]))
    .await;
    let (message, _) = one_error(&out, 11);
    assert_eq!(
        message,
        format!(
            "error: {}:{}:{}: \"99999999999999999999h\" is too long: a duration may be at most 100 years",
            bad_plan.display(),
            line_no + 1,
            start + 1
        )
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_home_the_audit_default_is_an_error_naming_audit() {
    let sim = SimDir::start("healthy-canary", 30.0).await;
    let plan = plan("canary-istio.toml");
    let mut cmd = flightdeck(&[
        "start",
        "--plan",
        plan.to_str().unwrap(),
        "--kubeconfig",
        sim.kubeconfig().to_str().unwrap(),
    ]);
    let cwd = tempfile::tempdir().unwrap();
    cmd.env_remove("HOME")
        .env("XDG_STATE_HOME", "relative/state")
        .current_dir(cwd.path());
    let out = output(cmd).await;
    let (line, _) = one_error(&out, 2);
    assert!(line.contains("pass --audit FILE"), "{line}");
    assert_eq!(std::fs::read_dir(cwd.path()).unwrap().count(), 0);
    assert_eq!(sim.canary_weight("shop", "checkout", false), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn help_lists_exit_codes_and_hides_secret_values() {
    let mut cmd = flightdeck(&["run", "--help"]);
    cmd.env("FLIGHTDECK_PROMETHEUS", "http://prom-secret.example:9090");
    let out = output(cmd).await;
    assert!(out.status.success());
    let help = stdout(&out);
    assert!(help.contains("Exit codes:"), "{help}");
    assert!(help.contains("10  unreachable"), "{help}");
    assert!(!help.contains("prom-secret"), "{help}");
    let mut cmd = flightdeck(&["sim", "serve", "--help"]);
    cmd.env("FLIGHTDECK_SIM_TOKEN", "s3cret-token");
    let out = output(cmd).await;
    let help = stdout(&out);
    assert!(help.contains("FLIGHTDECK_SIM_TOKEN"), "{help}");
    assert!(!help.contains("s3cret-token"), "{help}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn version_names_the_commit() {
    let out = output(flightdeck(&["--version"])).await;
    assert!(out.status.success());
    let commit = Command::new("git")
        .args(["rev-parse", "--short", "HEAD"])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map_or_else(|| "unknown".to_string(), |o| stdout(&o).trim().to_string());
    assert_eq!(
        stdout(&out).trim(),
        format!("flightdeck {} ({commit})", env!("CARGO_PKG_VERSION"))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_bash_completion_loads() {
    let script = format!("source <({BIN} completions bash) && complete -p flightdeck");
    let out = output({
        let mut c = Command::new("bash");
        c.args(["-c", &script]);
        c
    })
    .await;
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stdout(&out).trim_end().ends_with(" flightdeck"),
        "{}",
        stdout(&out)
    );
    for shell in ["zsh", "fish", "powershell"] {
        let out = output(flightdeck(&["completions", shell])).await;
        assert!(out.status.success(), "{shell}");
        let text = stdout(&out);
        assert!(
            text.contains("flightdeck") && text.contains("hold-deadline"),
            "{shell}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn man_writes_a_page_per_command() {
    let dir = tempfile::tempdir().unwrap();
    let out_dir = dir.path().join("man1");
    let out = output(flightdeck(&["man", "--out", out_dir.to_str().unwrap()])).await;
    assert!(out.status.success(), "{}", stderr(&out));
    for page in [
        "flightdeck.1",
        "flightdeck-status.1",
        "flightdeck-run.1",
        "flightdeck-sim-serve.1",
        "flightdeck-completions.1",
    ] {
        assert!(out_dir.join(page).is_file(), "{page} missing");
    }
    let run = std::fs::read_to_string(out_dir.join("flightdeck-run.1")).unwrap();
    assert!(run.starts_with(".ie") || run.contains(".TH"), "{run}");
    assert!(run.contains("hold\\-deadline"), "{run}");
    assert!(run.contains("Exit codes"), "{run}");
    let listed = stdout(&out);
    assert!(
        listed.lines().any(|l| l.ends_with("flightdeck-advance.1")),
        "{listed}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn info_names_the_folders_the_looks_and_the_cluster() {
    let sim = SimDir::start("healthy-canary", 30.0).await;
    let config = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(config.path().join("flightdeck/themes")).unwrap();
    std::fs::write(
        config.path().join("flightdeck/themes/default.toml"),
        "[palette]\n",
    )
    .unwrap();
    // A copy outlives the cluster, for asking once it has gone.
    let kubeconfig = config.path().join("kubeconfig");
    std::fs::copy(sim.kubeconfig(), &kubeconfig).unwrap();
    let info = |output_json: bool| {
        let mut args = vec![
            "info".to_string(),
            "--kubeconfig".into(),
            kubeconfig.display().to_string(),
            "--keymap".into(),
            "vim".into(),
        ];
        if output_json {
            args.extend(["-o".into(), "json".into()]);
        }
        let mut cmd = Command::new(BIN);
        cmd.args(&args)
            .env("XDG_CONFIG_HOME", config.path())
            .env("XDG_STATE_HOME", "/var/lib/fd-state")
            .env("FLIGHTDECK_LOG", "debug");
        cmd
    };
    let out = output(info(true)).await;
    assert!(out.status.success(), "{}", stderr(&out));
    let v: Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert!(
        v["version"]
            .as_str()
            .unwrap()
            .contains(v["commit"].as_str().unwrap())
    );
    assert_eq!(
        v["config_dir"],
        config.path().join("flightdeck").display().to_string()
    );
    assert_eq!(v["audit_file"], "/var/lib/fd-state/flightdeck/audit.jsonl");
    assert_eq!(v["log_file"], "/var/lib/fd-state/flightdeck/flightdeck.log");
    assert_eq!(v["log_filter"], "debug");
    assert_eq!(v["theme"]["source"], "user-over-shipped");
    assert_eq!(v["keymap"]["name"], "vim");
    assert_eq!(v["keymap"]["source"], "shipped");
    assert_eq!(v["cluster"]["context"], "flightdeck-sim");
    assert_eq!(v["cluster"]["namespace"], "shop");
    assert_eq!(v["cluster"]["user"], "flightdeck-sim");
    assert_eq!(v["cluster"]["answers"], true, "{v}");
    assert_eq!(v["cluster"]["version"], "v1.33.0");

    let out = output(info(false)).await;
    let text = stdout(&out);
    assert!(
        text.lines()
            .any(|l| l.starts_with("cluster") && l.ends_with("answers (v1.33.0)")),
        "{text}"
    );
    assert!(text.contains("keymap      vim (shipped)"), "{text}");
    assert!(text.contains("over the shipped one"), "{text}");

    // A cluster that does not answer is said, not an error.
    drop(sim);
    let out = output(info(true)).await;
    assert!(out.status.success(), "{}", stderr(&out));
    let v: Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert_eq!(v["cluster"]["answers"], false);
    assert!(v["cluster"]["error"].is_string());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_user_the_record_names_the_cluster_user_and_the_system_user() {
    let sim = SimDir::start("healthy-canary", 30.0).await;
    let mut cmd = sim.command(BIN, &["start"], "canary-istio.toml");
    cmd.env_remove("USER")
        .env_remove("LOGNAME")
        .env_remove("USERNAME")
        .stdin(Stdio::null());
    let out = output(cmd).await;
    assert!(out.status.success(), "{}", stderr(&out));
    let entries = sim.audit_entries();
    let who = &entries[0]["who"];
    assert_eq!(who["kube_user"], "flightdeck-sim");
    let os_user = who["os_user"].as_str().unwrap();
    assert_ne!(os_user, "unknown");
    assert!(!os_user.is_empty());
    let events = sim.flightdeck_events("shop");
    let (_, message) = events
        .iter()
        .find(|(reason, _)| reason == "RolloutStart")
        .unwrap();
    assert!(
        message.starts_with(&format!("start by {os_user} (flightdeck-sim)")),
        "{message}"
    );
}

/// A kubeconfig whose user entry has another name: the name recorded is the
/// one the API server gives (SelfSubjectReview), not the file's label.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_recorded_kube_user_is_the_one_the_api_server_names() {
    let sim = SimDir::start("healthy-canary", 30.0).await;
    let text = std::fs::read_to_string(sim.kubeconfig()).unwrap();
    let renamed = sim.dir.path().join("renamed.kubeconfig");
    std::fs::write(&renamed, text.replace("flightdeck-sim\n", "ci-robot\n")).unwrap();
    assert!(
        std::fs::read_to_string(&renamed)
            .unwrap()
            .contains("ci-robot")
    );
    let (client, info) = flightdeck::cluster::client::connect(Some(&renamed), None)
        .await
        .unwrap();
    assert_eq!(info.user, "flightdeck-sim");
    assert_eq!(
        flightdeck::cluster::client::whoami(&client).await.unwrap(),
        "flightdeck-sim"
    );
}
