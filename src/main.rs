use clap::Parser;
use color_eyre::eyre::{Result, WrapErr};
use flightdeck::cli::{Cli, Command, SimCommand};
use flightdeck::cockpit::{self, Options};
use flightdeck::rollout::plan::Plan;
use flightdeck::sim::Scenario;

fn main() -> Result<()> {
    color_eyre::install()?;
    let cli = Cli::parse();
    let runtime = tokio::runtime::Runtime::new().wrap_err("cannot start the async runtime")?;
    match cli.command {
        Some(Command::Sim(SimCommand::Scenarios)) => {
            for name in Scenario::builtin_names() {
                println!("{name}");
            }
            Ok(())
        }
        Some(Command::Sim(SimCommand::Serve(args))) => {
            init_stderr_tracing();
            runtime.block_on(flightdeck::sim::serve::run(args))
        }
        Some(Command::Demo(args)) => runtime.block_on(flightdeck::demo::run(args)),
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
        Some(verb) => runtime
            .block_on(flightdeck::commands::run(verb))
            .unwrap_or(Ok(())),
        None => {
            let c = cli.cockpit;
            // A bad plan stops here, before anything is connected or changed.
            let plan = c.plan.as_deref().map(Plan::load).transpose()?;
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
            }))
        }
    }
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
