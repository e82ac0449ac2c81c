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
    if let Some(scenarios) = crate::sim::scenario::fleet(&args.sim.scenario) {
        return fleet(&args, scenarios).await;
    }
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
    if let Some(out) = &args.kubeconfig_out {
        host.write_kubeconfig(out)?;
    }

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
        prometheus: args.prometheus.clone(),
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

/// The fleet view over every cluster of a fleet demo, all namespaces, with
/// the look and driving options the demo was given.
fn fleet_view_args(args: &DemoArgs, kubeconfig: &std::path::Path) -> crate::cli::CockpitArgs {
    crate::cli::CockpitArgs {
        cluster: crate::cli::ClusterArgs {
            kubeconfig: Some(kubeconfig.to_path_buf()),
            context: None,
        },
        namespace: None,
        all_namespaces: true,
        all_contexts: true,
        app: None,
        plan: None,
        rollout: None,
        canary: None,
        read_only: args.read_only,
        audit: args.audit.clone(),
        prometheus: args.prometheus.clone(),
        auto: args.auto,
        log_lines: args.log_lines,
        look: args.look.clone(),
        log_file: None,
    }
}

/// A fleet demo: every cluster of the fleet started in this process, one
/// kubeconfig naming each as a context (named after its scenario). On a
/// terminal it opens the fleet view over them; otherwise it lists the
/// fleet's rows once they have had a moment to start and serves until
/// Ctrl-C, for `list` or kubectl to use.
async fn fleet(args: &DemoArgs, scenarios: &[&str]) -> Result<()> {
    let mut hosts = Vec::new();
    for name in scenarios {
        let mut opts = HostOptions::new(Scenario::load(name)?);
        opts.seed = args.sim.seed;
        opts.speed = args.sim.speed;
        let host = SimHost::start(opts)
            .await
            .wrap_err_with(|| format!("cannot start the simulated cluster {name}"))?;
        hosts.push((*name, host));
    }
    let dir = std::env::temp_dir().join(format!("flightdeck-demo-{}", std::process::id()));
    let kubeconfig = dir.join("kubeconfig");
    let urls: Vec<(String, String)> = hosts
        .iter()
        .map(|(_, h)| (h.url(), h.default_namespace().to_string()))
        .collect();
    let contexts: Vec<(&str, &str, &str)> = hosts
        .iter()
        .zip(&urls)
        .map(|((name, _), (url, ns))| (*name, url.as_str(), ns.as_str()))
        .collect();
    std::fs::create_dir_all(&dir).wrap_err("cannot make the demo's folder")?;
    let config = crate::sim::server::fleet_kubeconfig(&contexts);
    std::fs::write(&kubeconfig, &config).wrap_err("cannot write the demo's kubeconfig")?;
    if let Some(out) = &args.kubeconfig_out {
        std::fs::write(out, &config)
            .wrap_err_with(|| format!("cannot write the kubeconfig to {}", out.display()))?;
    }
    for (name, url, _) in &contexts {
        println!("cluster {name} at {url} (context {name})");
    }
    println!("kubeconfig: {}", kubeconfig.display());
    println!(
        "try: flightdeck list --kubeconfig {} --all-contexts -A",
        kubeconfig.display()
    );
    if std::io::IsTerminal::is_terminal(&std::io::stdout()) {
        let result = cockpit::run_fleet(fleet_view_args(args, &kubeconfig)).await;
        for (_, host) in hosts {
            host.shutdown().await;
        }
        let _ = std::fs::remove_dir_all(&dir);
        return result;
    }
    // Pods turn ready a few simulated seconds after they start.
    let settle =
        std::time::Duration::from_secs_f64((8.0 / args.sim.speed.max(0.1)).clamp(0.5, 8.0));
    tokio::time::sleep(settle).await;
    let reads = contexts.iter().map(|(name, _, _)| {
        crate::commands::list::read_cluster(
            Some(kubeconfig.clone()),
            Some((*name).to_string()),
            None,
            true,
        )
    });
    let listing = crate::commands::list::Listing::new(futures::future::join_all(reads).await);
    print!("{}", listing.text(chrono::Utc::now()));
    println!("serving until Ctrl-C");
    let _ = tokio::signal::ctrl_c().await;
    for (_, host) in hosts {
        host.shutdown().await;
    }
    let _ = std::fs::remove_dir_all(&dir);
    Ok(())
}
