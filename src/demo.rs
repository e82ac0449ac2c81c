//! `flightdeck demo`: a simulated cluster started inside the process, and the
//! cockpit opened on it through the same kube client and metrics code it uses
//! against a real cluster.

use std::path::PathBuf;

use color_eyre::eyre::{Result, WrapErr};

use crate::cli::DemoArgs;
use crate::cockpit::{self, Options};
use crate::rollout::plan::{Plan, UrlSource, WebhookKind};
use crate::sim::Scenario;
use crate::sim::host::{HostOptions, SimHost};

/// The plan the demo drives for each built-in scenario.
const PLANS: &[(&str, &str, &str)] = &[
    (
        "healthy-canary",
        "canary-istio.toml",
        include_str!("../assets/plans/canary-istio.toml"),
    ),
    (
        "bad-canary",
        "bad-canary.toml",
        include_str!("../assets/plans/bad-canary.toml"),
    ),
    (
        "slow-canary",
        "slow-canary.toml",
        include_str!("../assets/plans/slow-canary.toml"),
    ),
    (
        "crashloop",
        "crashloop.toml",
        include_str!("../assets/plans/crashloop.toml"),
    ),
    (
        "memory-leak",
        "memory-leak.toml",
        include_str!("../assets/plans/memory-leak.toml"),
    ),
    (
        "blue-green",
        "blue-green.toml",
        include_str!("../assets/plans/blue-green.toml"),
    ),
    (
        "rolling",
        "rolling.toml",
        include_str!("../assets/plans/rolling.toml"),
    ),
];

/// The shipped plan for a built-in scenario, if it has one.
pub fn plan_for(scenario: &str) -> Result<Option<Plan>> {
    PLANS
        .iter()
        .find(|(s, _, _)| *s == scenario)
        .map(|(_, file, text)| {
            Plan::parse(&PathBuf::from("assets/plans").join(file), text)
                .wrap_err("a shipped plan does not parse")
        })
        .transpose()
}

/// Points each webhook whose variable is not set at the sim's webhook sink,
/// so the demo's notices are received and shown (as Events) instead of
/// skipped. A webhook the user did set keeps its URL.
pub fn webhooks_to_sink(
    mut plan: Plan,
    sim_url: &str,
    env: impl Fn(&str) -> Option<String>,
) -> Plan {
    for n in &mut plan.notifications {
        let set = match &n.url {
            UrlSource::Env(var) => env(var).is_some_and(|v| !v.trim().is_empty()),
            UrlSource::Literal(_) => true,
        };
        if !set {
            let name = match n.kind {
                WebhookKind::Slack => "slack",
                WebhookKind::Generic => "generic",
            };
            n.url = UrlSource::Literal(format!(
                "{sim_url}{}/{name}",
                crate::sim::server::WEBHOOK_SINK_PATH
            ));
        }
    }
    plan
}

/// The simulated cluster's clock, so timed stages and guards' `for` pass at
/// the demo's speed.
fn sim_clock(host: &SimHost, speed: f64) -> crate::cluster::clock::Clock {
    let store = host.shared().store.clone();
    crate::cluster::clock::Clock::scaled(move || store.now(), speed)
}

pub async fn run(args: DemoArgs) -> Result<()> {
    let scenario = Scenario::load(&args.sim.scenario)?;
    let name = scenario.name.clone();
    let first_app = scenario
        .apps
        .first()
        .map(|a| (a.namespace.clone(), a.name.clone()));
    let mut host_opts = HostOptions::new(scenario);
    host_opts.seed = args.sim.seed;
    host_opts.speed = args.sim.speed;
    let host = SimHost::start(host_opts)
        .await
        .wrap_err("cannot start the simulated cluster")?;
    let dir = std::env::temp_dir().join(format!("flightdeck-demo-{}", std::process::id()));
    let kubeconfig = dir.join("kubeconfig");
    host.write_kubeconfig(&kubeconfig)?;

    let plan =
        plan_for(&name)?.map(|p| webhooks_to_sink(p, &host.url(), |var| std::env::var(var).ok()));
    let (namespace, app) = match (&plan, first_app) {
        (Some(p), _) => (Some(p.namespace.clone()), Some(p.app.clone())),
        (None, Some((ns, app))) => (Some(ns), Some(app)),
        (None, None) => (None, None),
    };
    let note = format!(
        "demo cluster ({name}) at {}: kubectl --kubeconfig {} get pods",
        host.url(),
        kubeconfig.display()
    );
    eprintln!("{note}");
    let result = cockpit::run(Options {
        kubeconfig: Some(kubeconfig.clone()),
        context: Some("flightdeck-sim".into()),
        namespace,
        app,
        plan,
        read_only: args.read_only,
        theme: args.look.theme,
        keymap: args.look.keymap,
        prometheus: None,
        notes: vec![note],
        driving: cockpit::Driving {
            audit: Some(
                args.audit
                    .clone()
                    .unwrap_or_else(|| dir.join("audit.jsonl")),
            ),
            clock: Some(sim_clock(&host, args.sim.speed)),
        },
        auto: args.auto,
        log_lines: args.log_lines,
        first: None,
        external: None,
    })
    .await;
    host.shutdown().await;
    let _ = std::fs::remove_dir_all(&dir);
    result
}
