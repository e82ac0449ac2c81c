//! Opening the cockpit on an app: read the plan, connect, start the workers,
//! and hand the screen to the terminal loop. The edge of the program, so
//! errors here are `color_eyre` reports for a person.

use std::path::PathBuf;
use std::time::Duration;

use chrono::Utc;
use color_eyre::eyre::{Result, WrapErr, bail};
use tokio::sync::mpsc;

use crate::app::State;
use crate::app::logs::Logs;
use crate::app::state::{Guards, Helm, StageRow, StagesView};
use crate::cluster::client;
use crate::cluster::clock::Clock;
use crate::config::dirs::config_dir;
use crate::config::keymap::load_keymap;
use crate::config::theme::{load_theme, no_color_requested};
use crate::fleet::{FleetScreen, FleetView, Kind, Row};
use crate::metrics::prometheus::Prometheus;
use crate::rollout::guards::{GuardMetric, Rule};
use crate::rollout::plan::{self, Pause, Plan, Strategy};
use crate::workers::fleet_watch::FleetCluster;
use crate::workers::guard_watch::GuardWatch;
use crate::workers::metrics::MetricsSource;
use crate::workers::traffic::{self, Router};
use crate::workers::{self, Target};

/// Messages from the workers waiting for the screen; past this the workers wait.
const MSG_QUEUE: usize = 4_096;

/// Everything the cockpit needs to open.
#[derive(Debug, Clone, Default)]
pub struct Options {
    pub kubeconfig: Option<PathBuf>,
    pub context: Option<String>,
    pub namespace: Option<String>,
    pub app: Option<String>,
    pub plan: Option<Plan>,
    pub read_only: bool,
    pub theme: String,
    pub keymap: String,
    pub prometheus: Option<String>,
    /// Lines for the header under the facts (the demo's kubeconfig path, say).
    pub notes: Vec<String>,
    pub driving: Driving,
    /// Automatic mode for a rollout started from this cockpit.
    pub auto: bool,
    /// Lines the log ring keeps (default [`crate::app::logs::DEFAULT_CAPACITY`]).
    pub log_lines: Option<u64>,
    /// A command the driver carries out as soon as the cockpit opens
    /// (`flightdeck run` without `--headless` starts the rollout).
    pub first: Option<crate::driver::Command>,
    /// An Argo Rollout or a Flagger Canary to open on instead of an app or a
    /// plan (an empty namespace is the context's).
    pub external: Option<crate::external::ask::Target>,
}

/// How the cockpit drives a plan: where the record goes, whose clock
/// stamps the rollout (a simulated cluster's runs fast).
#[derive(Clone, Default)]
pub struct Driving {
    /// The audit file (default: [`crate::workers::audit::default_path`]).
    pub audit: Option<PathBuf>,
    /// Default: the cluster's ([`Clock::of_cluster`]).
    pub clock: Option<Clock>,
}

impl std::fmt::Debug for Driving {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Driving")
            .field("audit", &self.audit)
            .field("clock", &self.clock)
            .finish()
    }
}

/// Opens the cockpit and runs it until the person quits.
pub async fn run(opts: Options) -> Result<()> {
    let c = open(opts).await?;
    let (_keep, commands) = (c.keep, c.driver);
    crate::tui::run_driving(c.state, c.msgs, c.theme, c.keymap, commands, c.deaths).await
}

/// Connects and starts the workers (and the driver, with a plan): a cockpit
/// ready for a screen, the fleet's or its own.
pub async fn open(opts: Options) -> Result<crate::tui::Cockpit> {
    // Before connecting, so what the client and the workers log at start is kept.
    crate::tui::init_tracing();
    if let Some(target) = opts.external.clone() {
        return open_external(opts, target).await;
    }
    let themes = load_theme(&opts.theme, config_dir().as_deref(), no_color_requested());
    let keymaps = load_keymap(&opts.keymap, config_dir().as_deref());
    let (client, info) = client::connect(opts.kubeconfig.as_deref(), opts.context.as_deref())
        .await
        .wrap_err("cannot connect to the cluster")?;
    let namespace = opts
        .plan
        .as_ref()
        .map(|p| p.namespace.clone())
        .or_else(|| opts.namespace.clone())
        .unwrap_or_else(|| info.namespace.clone());
    let Some(app) = opts
        .plan
        .as_ref()
        .map(|p| p.app.clone())
        .or_else(|| opts.app.clone())
    else {
        bail!("name the app to watch with --app NAME, or give a plan with --plan FILE");
    };
    let driver_client = client.clone();
    let kube_user = info.user.clone();
    let target = Target {
        client,
        namespace: namespace.clone(),
        app: app.clone(),
    };

    let mut state = State::new(Utc::now());
    if let Some(lines) = opts.log_lines {
        state.logs = Logs::with_capacity(usize::try_from(lines).unwrap_or(usize::MAX));
    }
    state.header.context = info.context;
    state.header.namespace = namespace;
    state.header.app = app;
    state.header.helm = if opts.read_only {
        Helm::ReadOnly
    } else {
        Helm::Free
    };
    state.drive.read_only = opts.read_only;
    state.header.warnings = themes.warnings;
    state.header.warnings.extend(keymaps.warnings);
    state.header.notes = opts.notes.clone();
    if let Some(plan) = &opts.plan {
        state.header.strategy = plan.kind().to_string();
        state.stages = stages_view(plan);
        state.guards = guard_lines(plan);
    }

    let (tx, rx) = mpsc::channel(MSG_QUEUE);
    let router = match opts.plan.as_ref().and_then(router_of) {
        Some(router) => router,
        None => traffic::detect(&target).await,
    };
    let metrics = match &opts.prometheus {
        Some(url) => MetricsSource::Prometheus {
            client: Prometheus::new(url, Duration::from_secs(5))
                .wrap_err_with(|| format!("bad Prometheus URL {url}"))?,
            queries: opts
                .plan
                .as_ref()
                .map(|p| p.queries.clone())
                .unwrap_or_default(),
        },
        None => MetricsSource::PodProxy,
    };
    let clock = match &opts.driving.clock {
        Some(clock) => clock.clone(),
        None => Clock::of_cluster(&driver_client).await,
    };
    // Versions are read off the pods' labels, so a rolling app shows its one.
    let mut workers = workers::spawn(&target, router, metrics, Vec::new(), &tx);
    let deaths = workers.deaths();
    let guards = match &opts.plan {
        Some(plan) => {
            let source = crate::driver::guarded::source(opts.prometheus.as_deref(), plan, &clock)
                .wrap_err("bad Prometheus URL")?;
            Some(crate::driver::guarded::GuardLink::spawn(
                GuardWatch::for_plan(plan, target.clone(), source, clock.clone(), workers.pods()),
            ))
        }
        None => None,
    };
    let driver = opts.plan.clone().map(|plan| {
        let driving = Driving {
            clock: Some(clock),
            ..opts.driving.clone()
        };
        let parts = DriverParts {
            client: driver_client,
            plan,
            kube_user: &kube_user,
            driving,
            guards,
        };
        spawn_driver(parts, &opts, &tx, &mut state)
    });
    drop(tx);
    let commands = driver.map(|task| {
        workers.supervisor().watch("driver", task.handle);
        task.commands
    });
    if let (Some(commands), Some(first)) = (&commands, opts.first.clone()) {
        // The queue is empty at this point, so this never waits or fails.
        let _ = commands.try_send(first);
    }
    Ok(crate::tui::Cockpit {
        state,
        msgs: rx,
        theme: themes.theme,
        keymap: keymaps.keymap,
        driver: commands,
        deaths,
        keep: Box::new(workers),
    })
}

/// Opens the cockpit on an Argo Rollout or a Flagger Canary: the panes
/// watch the pods its selector names, the Stages pane watches the object,
/// and keys become the writes its own tools make.
async fn open_external(
    opts: Options,
    target: crate::external::ask::Target,
) -> Result<crate::tui::Cockpit> {
    use crate::external::ask::{Source, Target};
    let themes = load_theme(&opts.theme, config_dir().as_deref(), no_color_requested());
    let keymaps = load_keymap(&opts.keymap, config_dir().as_deref());
    let (client, info) = client::connect(opts.kubeconfig.as_deref(), opts.context.as_deref())
        .await
        .wrap_err("cannot connect to the cluster")?;
    let namespace = Some(target.namespace.clone())
        .filter(|ns| !ns.is_empty())
        .or_else(|| opts.namespace.clone())
        .unwrap_or_else(|| info.namespace.clone());
    let target = Target {
        namespace: namespace.clone(),
        ..target
    };
    let object = crate::driver::rest::get(&client, &target.object())
        .await
        .wrap_err_with(|| {
            format!(
                "cannot read {} {}/{}",
                target.source.kind(),
                target.namespace,
                target.name
            )
        })?;
    // The pods are the ones its selector names (a Canary's: its target's).
    let app_label = match target.source {
        Source::Argo => object.pointer("/spec/selector/matchLabels/app"),
        Source::Flagger => object.pointer("/spec/targetRef/name"),
    };
    let app = app_label.and_then(serde_json::Value::as_str).map_or_else(
        || target.name.clone(),
        |a| crate::sanitize::clean(a).into_owned(),
    );

    let mut state = State::new(Utc::now());
    if let Some(lines) = opts.log_lines {
        state.logs = Logs::with_capacity(usize::try_from(lines).unwrap_or(usize::MAX));
    }
    state.header.context.clone_from(&info.context);
    state.header.namespace.clone_from(&namespace);
    state.header.app.clone_from(&app);
    state.header.strategy = target.source.label().to_string();
    state.header.helm = if opts.read_only {
        Helm::ReadOnly
    } else {
        Helm::Free
    };
    state.drive.read_only = opts.read_only;
    state.header.warnings = themes.warnings;
    state.header.warnings.extend(keymaps.warnings);
    state.header.notes = opts.notes.clone();
    state.external = Some(crate::app::external::ExternalView::new(target.clone()));
    state.focus = crate::app::Pane::Stages;

    let (tx, rx) = mpsc::channel(MSG_QUEUE);
    let pods_target = crate::workers::Target {
        client: client.clone(),
        namespace: namespace.clone(),
        app: app.clone(),
    };
    let router = traffic::detect(&pods_target).await;
    let metrics = match &opts.prometheus {
        Some(url) => MetricsSource::Prometheus {
            client: Prometheus::new(url, Duration::from_secs(5))
                .wrap_err_with(|| format!("bad Prometheus URL {url}"))?,
            queries: crate::rollout::plan::Queries::default(),
        },
        None => MetricsSource::PodProxy,
    };
    let mut workers = workers::spawn(&pods_target, router, metrics, Vec::new(), &tx);
    let deaths = workers.deaths();
    workers.spawn(
        "rollout watch",
        crate::external::watch::run(
            client.clone(),
            target.clone(),
            info.context.clone(),
            tx.clone(),
        ),
    );
    let audit = if opts.read_only {
        None
    } else {
        let opened = opts
            .driving
            .audit
            .clone()
            .map_or_else(crate::workers::audit::default_path, Ok)
            .and_then(|path| crate::workers::audit::AuditLog::open(&path));
        match opened {
            Ok(log) => Some(log),
            Err(e) => {
                state
                    .header
                    .warnings
                    .push(format!("{e}: actions are not recorded"));
                None
            }
        }
    };
    let driver = crate::driver::external::ExternalDriver {
        client,
        target,
        kube_user: info.user.clone(),
        audit,
        read_only: opts.read_only,
    };
    let (commands, handle) = crate::driver::external::spawn(driver, tx.clone());
    workers.supervisor().watch("driver", handle);
    drop(tx);
    Ok(crate::tui::Cockpit {
        state,
        msgs: rx,
        theme: themes.theme,
        keymap: keymaps.keymap,
        driver: Some(commands),
        deaths,
        keep: Box::new(workers),
    })
}

/// What the driver is made of.
struct DriverParts<'a> {
    client: kube::Client,
    plan: Plan,
    kube_user: &'a str,
    driving: Driving,
    guards: Option<crate::driver::guarded::GuardLink>,
}

/// The driver for the plan, fed by the keys and the guards and reporting
/// into the screen.
fn spawn_driver(
    parts: DriverParts<'_>,
    opts: &Options,
    tx: &mpsc::Sender<crate::app::Msg>,
    state: &mut State,
) -> crate::driver::task::DriverTask {
    use crate::app::msg::{DriveReport, Msg};
    let DriverParts {
        client,
        plan,
        kube_user,
        driving,
        guards,
    } = parts;
    let progress_tx = tx.clone();
    let mut settings = crate::driver::Settings {
        read_only: opts.read_only,
        progress: std::sync::Arc::new(move |line| {
            // Progress is worth a line, never a wait: dropped when the queue is full.
            let _ = progress_tx.try_send(Msg::Drive(DriveReport::Progress(line)));
        }),
        auto: opts.auto,
        ..crate::driver::Settings::default()
    };
    if let Some(clock) = &driving.clock {
        settings.clock = clock.clone();
    }
    if !opts.read_only {
        let (notifier, problems) = notifier_for(&plan, tx);
        settings.notifier = notifier;
        state.header.warnings.extend(problems);
    }
    let audit = if opts.read_only {
        None
    } else {
        let opened = driving
            .audit
            .clone()
            .map_or_else(crate::workers::audit::default_path, Ok)
            .and_then(|path| crate::workers::audit::AuditLog::open(&path));
        match opened {
            Ok(log) => Some(log),
            Err(e) => {
                state
                    .header
                    .warnings
                    .push(format!("{e}: actions are not recorded"));
                None
            }
        }
    };
    let driver = crate::driver::Driver::new(client, plan, kube_user, audit, settings);
    crate::driver::task::spawn(driver, tx.clone(), guards)
}

/// The plan's webhooks, their delivery troubles reported into the screen;
/// with the problems of webhooks that could not be set up.
fn notifier_for(
    plan: &Plan,
    tx: &mpsc::Sender<crate::app::Msg>,
) -> (Option<crate::workers::notify::Notifier>, Vec<String>) {
    let (reports_tx, mut reports) = mpsc::channel(64);
    let (notifier, _tasks, problems) =
        crate::workers::notify::Notifier::for_plan(&plan.notifications, reports_tx);
    let tx = tx.clone();
    tokio::spawn(async move {
        while let Some(delivery) = reports.recv().await {
            if tx.send(crate::app::Msg::Delivery(delivery)).await.is_err() {
                return;
            }
        }
    });
    (notifier, problems)
}

/// The plan's stages as the Stages pane lists them.
pub fn stages_view(plan: &Plan) -> StagesView {
    let stages = match &plan.strategy {
        Strategy::Canary(c) => c
            .stages
            .iter()
            .enumerate()
            .map(|(i, s)| StageRow {
                name: format!("stage {}", i + 1),
                weight: s.weight,
                pause: pause_of(s.pause),
            })
            .collect(),
        Strategy::BlueGreen(bg) => match &bg.switch {
            plan::Switch::Selector { preview_pause } => vec![
                StageRow {
                    name: "preview".into(),
                    weight: 0,
                    pause: pause_of(*preview_pause),
                },
                StageRow {
                    name: "switch".into(),
                    weight: 100,
                    pause: None,
                },
            ],
            plan::Switch::Weighted { stages, .. } => stages
                .iter()
                .enumerate()
                .map(|(i, s)| StageRow {
                    name: format!("shift {}", i + 1),
                    weight: s.weight,
                    pause: pause_of(s.pause),
                })
                .collect(),
        },
        Strategy::Rolling(r) => vec![StageRow {
            name: format!("roll out {}", r.image),
            weight: 100,
            pause: pause_of(r.pause),
        }],
    };
    StagesView {
        stages,
        ..StagesView::default()
    }
}

fn pause_of(pause: Pause) -> Option<Duration> {
    match pause {
        Pause::Manual => None,
        Pause::Timed(d) => Some(d),
    }
}

/// The thresholds the charts draw, from the plan's guards.
pub fn guard_lines(plan: &Plan) -> Guards {
    let mut guards = Guards::default();
    for g in &plan.guards {
        if let Rule::Above { threshold, .. } = g.rule {
            match g.metric {
                GuardMetric::ErrorRatio => guards.max_error_ratio = threshold,
                GuardMetric::LatencyP99 => guards.max_p99 = Duration::from_secs_f64(threshold),
                _ => {}
            }
        }
    }
    guards
}

/// The traffic router a plan names, in the workers' terms.
pub fn router_of(plan: &Plan) -> Option<Router> {
    match &plan.strategy {
        Strategy::Canary(c) => Some(match &c.router {
            plan::Router::Istio {
                virtual_service, ..
            } => Router::Istio {
                virtual_service: virtual_service.clone(),
            },
            plan::Router::GatewayApi { http_route, .. } => Router::GatewayApi {
                http_route: http_route.clone(),
            },
            plan::Router::Smi { traffic_split, .. } => Router::Smi {
                traffic_split: traffic_split.clone(),
            },
            plan::Router::Nginx {
                ingress,
                canary_ingress,
            } => Router::Nginx {
                main: ingress.clone(),
                canary: canary_ingress.clone(),
            },
            plan::Router::ReplicaRatio { .. } => Router::ReplicaRatio {
                versions: vec!["stable".into(), "canary".into()],
            },
        }),
        Strategy::BlueGreen(bg) => Some(Router::ServiceSelector {
            service: bg.active_service.clone(),
            versions: vec!["blue".into(), "green".into()],
        }),
        Strategy::Rolling(_) => None,
    }
}

/// `flightdeck` with no app or plan: the fleet view over the clusters
/// asked for, each watched by its own workers. Enter on a row opens the
/// cockpit on it (see [`row_options`]); Esc there comes back.
pub async fn run_fleet(args: crate::cli::CockpitArgs) -> Result<()> {
    crate::tui::init_tracing();
    let themes = load_theme(
        &args.look.theme,
        config_dir().as_deref(),
        no_color_requested(),
    );
    let keymaps = load_keymap(&args.look.keymap, config_dir().as_deref());
    let kubeconfig = args.cluster.kubeconfig.clone();
    let asked: Vec<String> = args
        .cluster
        .context
        .as_deref()
        .map(|c| c.split(',').map(str::to_string).collect())
        .unwrap_or_default();
    let contexts =
        crate::commands::list::contexts(kubeconfig.as_deref(), &asked, args.all_contexts)?;
    let clusters: Vec<FleetCluster> = contexts
        .into_iter()
        .map(|context| FleetCluster {
            name: context
                .clone()
                .unwrap_or_else(|| current_context(kubeconfig.as_deref())),
            kubeconfig: kubeconfig.clone(),
            context,
            all_namespaces: args.all_namespaces,
            namespace: args.namespace.clone(),
        })
        .collect();
    let names: Vec<String> = clusters.iter().map(|c| c.name.clone()).collect();
    let scope = if args.all_namespaces {
        "all namespaces".to_string()
    } else {
        args.namespace.as_ref().map_or_else(
            || "the context's namespace".to_string(),
            |ns| format!("ns {ns}"),
        )
    };
    let (tx, updates) = mpsc::channel(256);
    let mut workers = crate::workers::fleet_watch::spawn(clusters, &tx);
    // One Prometheus URL: it answers for the current context's rows.
    let shown = match &args.prometheus {
        Some(url) => {
            let prometheus = Prometheus::new(url, Duration::from_secs(5))
                .wrap_err_with(|| format!("bad Prometheus URL {url}"))?;
            let (shown, rows) = tokio::sync::watch::channel(Vec::new());
            workers.spawn(
                "fleet metrics",
                crate::workers::fleet_metrics::run(
                    prometheus,
                    current_context(kubeconfig.as_deref()),
                    rows,
                    tx.clone(),
                    crate::workers::fleet_metrics::EVERY,
                ),
            );
            Some(shown)
        }
        None => None,
    };
    drop(tx);
    let mut fleet = FleetScreen::new(FleetView::new(&names), &scope, Utc::now());
    fleet.view.with_metrics = shown.is_some();
    fleet.warnings = themes.warnings;
    fleet.warnings.extend(keymaps.warnings);
    let base = Options {
        kubeconfig,
        read_only: args.read_only,
        theme: args.look.theme.clone(),
        keymap: args.look.keymap.clone(),
        prometheus: args.prometheus.clone(),
        driving: Driving {
            audit: args.audit.clone(),
            clock: None,
        },
        auto: args.auto,
        log_lines: args.log_lines,
        ..Options::default()
    };
    crate::tui::run_fleet(fleet, updates, themes.theme, keymaps.keymap, shown, |row| {
        let base = base.clone();
        async move {
            let plan = match row.kind {
                Kind::Flightdeck => stored_plan(&base, &row).await,
                _ => Ok(None),
            };
            Box::pin(open(row_options(&base, &row, plan))).await
        }
    })
    .await
}

/// The kubeconfig's current context, the name the fleet's rows carry.
pub fn current_context(kubeconfig: Option<&std::path::Path>) -> String {
    let config = match kubeconfig {
        Some(p) => kube::config::Kubeconfig::read_from(p),
        None => kube::config::Kubeconfig::read(),
    };
    config
        .ok()
        .and_then(|c| c.current_context)
        .unwrap_or_else(|| client::IN_CLUSTER.to_string())
}

/// The plan a flightdeck rollout was started with, as kept beside its
/// state: `Ok(None)` when it has none (started before plans were kept),
/// an error when it cannot be read or is no longer a valid plan.
async fn stored_plan(base: &Options, row: &Row) -> Result<Option<Plan>, String> {
    use k8s_openapi::api::core::v1::ConfigMap;
    let context = context_of(row);
    let (client, _) = client::connect(base.kubeconfig.as_deref(), context.as_deref())
        .await
        .map_err(|e| e.to_string())?;
    let api: kube::Api<ConfigMap> = kube::Api::namespaced(client, &row.namespace);
    let name = crate::rollout::history::configmap_name(&row.app);
    let cm = api
        .get_opt(&name)
        .await
        .map_err(|e| format!("cannot read {name}: {e}"))?;
    let Some(text) = cm
        .and_then(|cm| cm.data)
        .and_then(|mut d| d.remove(crate::driver::store::PLAN_KEY))
    else {
        return Ok(None);
    };
    let path = std::path::PathBuf::from(format!("{name}/{}", crate::driver::store::PLAN_KEY));
    Plan::parse(&path, &text)
        .map(Some)
        .map_err(|e| e.to_string())
}

/// The context a row's cluster is reached by (`None`: inside the cluster).
fn context_of(row: &Row) -> Option<String> {
    (row.cluster != client::IN_CLUSTER).then(|| row.cluster.clone())
}

/// What the cockpit opens for a fleet row: a flightdeck rollout with the
/// plan it was started with (to drive it); otherwise the app's pods,
/// traffic and logs, watch-only, with a header line saying why.
pub fn row_options(base: &Options, row: &Row, plan: Result<Option<Plan>, String>) -> Options {
    use crate::external::ask::{Source, Target};
    let external = |source, row: &Row| Target {
        source,
        namespace: row.namespace.clone(),
        name: row.app.clone(),
    };
    let app = row
        .selector
        .first()
        .and_then(|s| s.get("app"))
        .cloned()
        .unwrap_or_else(|| row.app.clone());
    let mut opts = Options {
        context: context_of(row),
        namespace: Some(row.namespace.clone()),
        notes: Vec::new(),
        ..base.clone()
    };
    let watch_only = |opts: &mut Options, why: String| {
        opts.app = Some(app.clone());
        opts.read_only = true;
        opts.notes.push(why);
    };
    match (row.kind, plan) {
        (Kind::Flightdeck, Ok(Some(plan))) => opts.plan = Some(plan),
        (Kind::Flightdeck, Ok(None)) => watch_only(
            &mut opts,
            "watching only: this rollout was started without its plan kept on the cluster; open it with --plan FILE to drive it".into(),
        ),
        (Kind::Flightdeck, Err(e)) => watch_only(
            &mut opts,
            format!("watching only: its stored plan cannot be read ({e})"),
        ),
        // Argo and Flagger rows open the cockpit that drives through their
        // controllers: the object is named by the row, its pods by the app label.
        (Kind::Argo, _) => opts.external = Some(external(Source::Argo, row)),
        (Kind::Flagger, _) => opts.external = Some(external(Source::Flagger, row)),
        (Kind::Deployment, _) => opts.app = Some(app),
    }
    opts
}

#[cfg(test)]
mod fleet_tests {
    use std::collections::BTreeMap;

    use super::*;

    fn row(kind: Kind) -> Row {
        let mut row = Row::new("prod-eu", "shop", "checkout-rollout", kind);
        row.selector = vec![BTreeMap::from([(
            "app".to_string(),
            "checkout".to_string(),
        )])];
        row
    }

    #[test]
    fn a_row_opens_the_cockpit_on_its_cluster_namespace_and_app() {
        let base = Options {
            read_only: false,
            theme: "light".into(),
            ..Options::default()
        };
        let argo = row_options(&base, &row(Kind::Argo), Ok(None));
        assert_eq!(argo.context.as_deref(), Some("prod-eu"));
        assert_eq!(argo.namespace.as_deref(), Some("shop"));
        let target = argo
            .external
            .as_ref()
            .expect("an Argo row drives its Rollout");
        assert_eq!(target.source, crate::external::ask::Source::Argo);
        assert_eq!(
            (target.namespace.as_str(), target.name.as_str()),
            ("shop", "checkout-rollout")
        );
        assert!(!argo.read_only && argo.plan.is_none() && argo.notes.is_empty());
        assert_eq!(argo.theme, "light");
        let flagger = row_options(&base, &row(Kind::Flagger), Ok(None));
        assert_eq!(
            flagger.external.map(|t| t.source),
            Some(crate::external::ask::Source::Flagger)
        );

        let deployment = row_options(&base, &row(Kind::Deployment), Ok(None));
        assert!(!deployment.read_only && deployment.notes.is_empty());
        assert_eq!(deployment.app.as_deref(), Some("checkout"));

        let text = include_str!("../assets/plans/canary-istio.toml");
        let plan = Plan::parse(std::path::Path::new("plan.toml"), text).unwrap();
        let kept = row_options(&base, &row(Kind::Flightdeck), Ok(Some(plan.clone())));
        assert_eq!(kept.plan, Some(plan));
        assert!(!kept.read_only && kept.notes.is_empty());
        let lost = row_options(&base, &row(Kind::Flightdeck), Ok(None));
        assert!(lost.read_only && lost.plan.is_none());
        assert!(lost.notes[0].contains("--plan FILE"), "{:?}", lost.notes);
    }
}
