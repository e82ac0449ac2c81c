use std::process::ExitCode;

use color_eyre::eyre::{Result, WrapErr};
use flightdeck::cli::{Cli, Command, Output, SimCommand};
use flightdeck::cockpit::{self, Options};
use flightdeck::commands::failure::{Asked, Failure, Kind, Stop, colour_stderr};
use flightdeck::commands::{conventions, logfile};
use flightdeck::external::ask::{Source, Target};
use flightdeck::rollout::plan::Plan;
use flightdeck::sim::Scenario;

fn main() -> ExitCode {
    // Kept for panics (the report, with the terminal restored first) and
    // for FLIGHTDECK_DEBUG=1; ordinary failures print one line instead.
    if let Err(e) = color_eyre::install() {
        eprintln!("warning: cannot install the panic report: {e}");
    }
    let cli = Cli::parse_args();
    let json = cli.output() == Some(Output::Json);
    let plan = cli.plan().map(std::path::Path::to_path_buf);
    match run(cli) {
        Ok(code) => ExitCode::from(code),
        Err(report) => {
            let failure = Failure::of_report(
                &report,
                &Asked {
                    plan: plan.as_deref(),
                },
            );
            if debug_requested() {
                eprintln!("{report:?}");
            } else {
                eprintln!("{}", failure.text(colour_stderr()));
            }
            if json {
                println!("{}", failure.json());
            }
            ExitCode::from(failure.code)
        }
    }
}

/// `FLIGHTDECK_DEBUG=1`: the full report, with where it was raised and,
/// with `RUST_BACKTRACE`, the backtrace.
fn debug_requested() -> bool {
    std::env::var_os("FLIGHTDECK_DEBUG").is_some_and(|v| !v.is_empty() && v != "0")
}

fn run(cli: Cli) -> Result<u8> {
    let runtime = tokio::runtime::Runtime::new().wrap_err("cannot start the async runtime")?;
    match cli.command {
        Some(Command::Sim(SimCommand::Scenarios)) => {
            for name in Scenario::builtin_names() {
                println!("{name}");
            }
            Ok(0)
        }
        Some(Command::Sim(SimCommand::Serve(args))) => {
            init_stderr_tracing();
            runtime.block_on(flightdeck::sim::serve::run(args))?;
            Ok(0)
        }
        Some(Command::Demo(args)) => {
            // The demo keeps a log file only when asked: it is a throwaway
            // cluster, and its own files go when it ends.
            if args.log_file.is_some() {
                cockpit_log(args.log_file.clone())?;
            }
            runtime.block_on(flightdeck::demo::run(args))?;
            Ok(0)
        }
        Some(Command::Run(args)) => {
            if args.headless {
                // The kube client logs each retried request as an error; the
                // run's own lines say what matters.
                init_stderr_tracing_at("warn,kube_client=off");
            }
            let code = runtime.block_on(flightdeck::commands::run::run(args))?;
            drop(runtime);
            std::process::exit(code);
        }
        Some(Command::Completions(args)) => {
            conventions::completions(args.shell, &mut std::io::stdout())?;
            Ok(0)
        }
        Some(Command::Man(args)) => {
            for page in conventions::man_pages(&args.out)? {
                println!("{}", page.display());
            }
            Ok(0)
        }
        Some(Command::List(args)) => runtime.block_on(flightdeck::commands::list::run(args)),
        Some(Command::Report(args)) => {
            runtime.block_on(flightdeck::commands::report::run(args))?;
            Ok(0)
        }
        Some(Command::Snapshot(args)) => {
            runtime.block_on(flightdeck::commands::snapshot::run(args))?;
            Ok(0)
        }
        Some(Command::Info(args)) => {
            runtime.block_on(flightdeck::commands::info::run(args))?;
            Ok(0)
        }
        Some(verb) => {
            runtime
                .block_on(flightdeck::commands::run(verb))
                .unwrap_or(Ok(()))?;
            Ok(0)
        }
        None => {
            let c = cli.cockpit;
            let external = match (&c.rollout, &c.canary) {
                (Some(name), _) => Some((Source::Argo, name.clone())),
                (None, Some(name)) => Some((Source::Flagger, name.clone())),
                (None, None) => None,
            }
            .map(|(source, name)| Target {
                source,
                namespace: c.namespace.clone().unwrap_or_default(),
                name,
            });
            if c.app.is_none() && c.plan.is_none() && external.is_none() {
                return fleet(c, &runtime);
            }
            // A bad plan stops here, before anything is connected or changed.
            let plan = c.plan.as_deref().map(Plan::load).transpose()?;
            // A guard's rollback snapshots the rollout with the plan as written.
            flightdeck::snapshot::auto::set_context(flightdeck::snapshot::auto::Context {
                plan_text: c
                    .plan
                    .as_deref()
                    .and_then(|p| std::fs::read_to_string(p).ok()),
                prometheus: c.prometheus.clone(),
                dir: flightdeck::snapshot::auto::beside(c.audit.as_deref()),
            });
            cockpit_log(c.log_file.clone())?;
            runtime.block_on(cockpit::run(Options {
                kubeconfig: c.cluster.kubeconfig,
                context: c.cluster.context,
                namespace: c.namespace,
                app: c.app,
                plan,
                read_only: c.read_only,
                theme: c.look.theme,
                keymap: c.look.keymap,
                prometheus: c.prometheus,
                notes: Vec::new(),
                driving: cockpit::Driving {
                    audit: c.audit,
                    clock: None,
                },
                auto: c.auto,
                log_lines: c.log_lines,
                first: None,
                external,
            }))?;
            Ok(0)
        }
    }
}

/// No app or plan: the fleet view, which needs a terminal to draw on.
fn fleet(c: flightdeck::cli::CockpitArgs, runtime: &tokio::runtime::Runtime) -> Result<u8> {
    use std::io::IsTerminal;
    if !std::io::stdout().is_terminal() {
        return Err(Stop::new(Kind::Usage, "the fleet view needs a terminal")
            .hint("list the rollouts with `flightdeck list`, or open one with --app NAME or --plan FILE")
            .into());
    }
    cockpit_log(c.log_file.clone())?;
    runtime.block_on(cockpit::run_fleet(c))?;
    Ok(0)
}

/// The cockpit's log pane, and its log file: the one asked for (an error
/// when it cannot be opened), else the default one when there is a state
/// folder and it can be opened.
fn cockpit_log(asked: Option<std::path::PathBuf>) -> Result<()> {
    let file = match asked {
        Some(path) => Some(logfile::open(&path).map_err(|e| {
            Stop::new(
                Kind::Usage,
                format!("cannot open the log file {}: {e}", path.display()),
            )
            .hint("give --log-file a path in a folder you can write to")
        })?),
        None => logfile::default_path().and_then(|p| logfile::open(&p).ok()),
    };
    logfile::init_cockpit_tracing(file);
    Ok(())
}

/// The simulator's own diagnostics, on stderr (it owns no screen).
fn init_stderr_tracing() {
    init_stderr_tracing_at("info");
}

fn init_stderr_tracing_at(level: &str) {
    let filter = tracing_subscriber::EnvFilter::try_from_env("FLIGHTDECK_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(level));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .init();
}
