//! Command-line definitions. Parsing only: each subcommand's work lives with
//! the module it belongs to.

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

#[derive(Debug, Parser)]
#[command(
    name = "flightdeck",
    version,
    about = "A terminal cockpit for progressive delivery on Kubernetes",
    args_conflicts_with_subcommands = true
)]
pub struct Cli {
    #[command(flatten)]
    pub cockpit: CockpitArgs,
    #[command(subcommand)]
    pub command: Option<Command>,
}

/// Opening the cockpit on an app of the current cluster, or with no app
/// or plan the fleet view over one or more clusters.
#[derive(Debug, Clone, Args)]
#[allow(clippy::struct_excessive_bools)] // each is a flag of its own
pub struct CockpitArgs {
    #[command(flatten)]
    pub cluster: ClusterArgs,
    /// Namespace of the app, or of the fleet view's rollouts (default: the context's)
    #[arg(long, short = 'n')]
    pub namespace: Option<String>,
    /// Fleet view: rollouts in every namespace
    #[arg(long, short = 'A', conflicts_with_all = ["namespace", "app", "plan"])]
    pub all_namespaces: bool,
    /// Fleet view: every context of the kubeconfig (or name several with
    /// --context a,b)
    #[arg(long, conflicts_with_all = ["context", "app", "plan"])]
    pub all_contexts: bool,
    /// The app to watch: pods labelled app=NAME
    #[arg(long, conflicts_with = "plan")]
    pub app: Option<String>,
    /// A rollout plan (TOML) naming the app, its strategy and stages
    #[arg(long)]
    pub plan: Option<PathBuf>,
    /// An Argo Rollouts `Rollout` to watch and drive, by name
    #[arg(long, value_name = "NAME", conflicts_with_all = ["app", "plan", "canary"])]
    pub rollout: Option<String>,
    /// A Flagger `Canary` to watch and drive, by name
    #[arg(long, value_name = "NAME", conflicts_with_all = ["app", "plan"])]
    pub canary: Option<String>,
    /// Watch only: refuse every action that would change the cluster
    #[arg(long)]
    pub read_only: bool,
    /// Audit file (JSONL; default: $XDG_STATE_HOME/flightdeck/audit.jsonl)
    #[arg(long)]
    pub audit: Option<PathBuf>,
    /// Prometheus base URL; without it pods are scraped through the API server
    #[arg(long, env = "FLIGHTDECK_PROMETHEUS", hide_env_values = true)]
    pub prometheus: Option<String>,
    /// Automatic mode: timed stages advance when their analysis passes and
    /// guards roll back by themselves (also `auto = true` in the plan)
    #[arg(long)]
    pub auto: bool,
    /// Log lines kept in the cockpit's ring (about 150 bytes each)
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..=10_000_000))]
    pub log_lines: Option<u64>,
    #[command(flatten)]
    pub look: LookArgs,
    /// Keep flightdeck's own log in this file too (default:
    /// $XDG_STATE_HOME/flightdeck/flightdeck.log; filter with FLIGHTDECK_LOG)
    #[arg(long)]
    pub log_file: Option<PathBuf>,
}

/// Which cluster: a kubeconfig file and a context in it.
#[derive(Debug, Clone, Default, Args)]
pub struct ClusterArgs {
    /// Kubeconfig file (default: $KUBECONFIG, then ~/.kube/config)
    #[arg(long)]
    pub kubeconfig: Option<PathBuf>,
    /// Kubeconfig context (default: its current context)
    #[arg(long)]
    pub context: Option<String>,
}

/// How the cockpit looks and which keys it answers.
#[derive(Debug, Clone, Args)]
pub struct LookArgs {
    /// Colour theme: default, light, high-contrast, colour-blind, or a user theme
    #[arg(long, default_value = "default")]
    pub theme: String,
    /// Keymap: default, vim, or a user keymap
    #[arg(long, default_value = "default")]
    pub keymap: String,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Open the cockpit on a simulated cluster that runs inside flightdeck
    Demo(DemoArgs),
    /// Run the simulated cluster
    #[command(subcommand)]
    Sim(SimCommand),
    /// Show where the rollout stands: state, stage, weights, pods, revisions
    Status(VerbArgs),
    /// Begin a rollout (a new one when the last has finished)
    Start(StartArgs),
    /// Move on to the next stage
    Advance(VerbArgs),
    /// Pause the rollout (time does not end a manual pause)
    Pause(VerbArgs),
    /// Resume a paused rollout
    Resume(VerbArgs),
    /// Promote fully: all traffic to the new version now (asks first)
    Promote(VerbArgs),
    /// Abort: all traffic back to stable at once (asks first)
    Abort(VerbArgs),
    /// Roll back gradually, stepping the weights back down (asks first)
    Rollback(VerbArgs),
    /// Rolling: undo to the previous or a chosen revision (asks first)
    Undo(UndoArgs),
    /// Start an aborted rollout again
    Retry(VerbArgs),
    /// Freeze the rollout for an incident: it pauses, and advance, promote,
    /// resume, start and retry are refused everywhere until `unfreeze`;
    /// abort and rollback stay allowed. Writes a snapshot bundle (asks first)
    Freeze(FreezeArgs),
    /// Lift a freeze; the rollout stays where it stands until moved on
    Unfreeze(VerbArgs),
    /// Drive a whole rollout: start it, let the guards and the analysis move
    /// it on, and end when it is promoted or rolled back
    Run(RunArgs),
    /// Print a shell completion script (bash, zsh, fish, powershell)
    Completions(CompletionsArgs),
    /// Write a man page per command into a folder
    Man(ManArgs),
    /// Show the version, the files and folders in use, the theme and keymap,
    /// the context and whether the cluster answers
    Info(InfoArgs),
    /// List the apps with something to release (flightdeck rollouts, Argo
    /// Rollouts, Flagger Canaries, rolling Deployments), most in need first
    List(ListArgs),
    /// Write an incident snapshot (.tar.gz): the rollout's state and history,
    /// the plan, the pods, Events, recent logs, guard readings and router objects
    Snapshot(SnapshotArgs),
    /// List the plan's checks with their results; tick a manual one, clear a
    /// failed one for a re-run, or run the command checks due now
    Check(CheckArgs),
    /// Write the release report of the rollout (HTML or Markdown): timeline,
    /// verdicts, charts per version, restarts, the time each stage took
    Report(ReportArgs),
}

/// `flightdeck snapshot --plan FILE [--out DIR]`.
#[derive(Debug, Clone, Args)]
pub struct SnapshotArgs {
    /// The rollout plan (TOML)
    #[arg(long)]
    pub plan: PathBuf,
    #[command(flatten)]
    pub cluster: ClusterArgs,
    /// Folder to write the bundle into (default: $XDG_STATE_HOME/flightdeck/snapshots)
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Prometheus base URL for the guards' reading; without it pods are scraped
    #[arg(long, env = "FLIGHTDECK_PROMETHEUS", hide_env_values = true)]
    pub prometheus: Option<String>,
    /// Output format
    #[arg(long, short = 'o', value_enum, default_value_t = Output::Text)]
    pub output: Output,
}

/// `flightdeck report --plan FILE [--format html|md] [--out FILE]`.
#[derive(Debug, Clone, Args)]
pub struct ReportArgs {
    /// The rollout plan (TOML)
    #[arg(long)]
    pub plan: PathBuf,
    #[command(flatten)]
    pub cluster: ClusterArgs,
    /// html: one self-contained page (inline SVG and CSS); md: Markdown
    #[arg(long, value_enum, default_value_t = ReportFormat::Html)]
    pub format: ReportFormat,
    /// File to write (default: stdout)
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Prometheus base URL: the charts come from its `query_range`; without
    /// it they show what the rollout's history recorded
    #[arg(long, env = "FLIGHTDECK_PROMETHEUS", hide_env_values = true)]
    pub prometheus: Option<String>,
    /// Audit file to read the timeline from (default: $XDG_STATE_HOME/flightdeck/audit.jsonl)
    #[arg(long)]
    pub audit: Option<PathBuf>,
}

/// The release report's format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ReportFormat {
    Html,
    Md,
}

impl ReportFormat {
    /// The format a file name asks for: Markdown for `.md`, else HTML.
    pub fn of_path(path: &std::path::Path) -> Self {
        match path.extension().and_then(|e| e.to_str()) {
            Some("md" | "markdown") => ReportFormat::Md,
            _ => ReportFormat::Html,
        }
    }
}

/// `flightdeck list`: the fleet view's rows, printed once.
#[derive(Debug, Clone, Args)]
pub struct ListArgs {
    /// Kubeconfig file (default: $KUBECONFIG, then ~/.kube/config)
    #[arg(long)]
    pub kubeconfig: Option<PathBuf>,
    /// Kubeconfig contexts to read, comma-separated (default: the current one)
    #[arg(long, value_delimiter = ',', conflicts_with = "all_contexts")]
    pub context: Vec<String>,
    /// Every context of the kubeconfig
    #[arg(long)]
    pub all_contexts: bool,
    /// Namespace to read (default: each context's)
    #[arg(long, short = 'n', conflicts_with = "all_namespaces")]
    pub namespace: Option<String>,
    /// Every namespace
    #[arg(long, short = 'A')]
    pub all_namespaces: bool,
    /// Prometheus base URL: the current context's rows get the canary's
    /// error ratio and p99 against stable's
    #[arg(long, env = "FLIGHTDECK_PROMETHEUS", hide_env_values = true)]
    pub prometheus: Option<String>,
    /// Output format
    #[arg(long, short = 'o', value_enum, default_value_t = Output::Text)]
    pub output: Output,
}

/// `flightdeck run`: a rollout driven start to end, for pipelines.
#[derive(Debug, Clone, Args)]
pub struct RunArgs {
    /// The rollout plan (TOML)
    #[arg(long)]
    pub plan: PathBuf,
    #[command(flatten)]
    pub cluster: ClusterArgs,
    /// Automatic mode: timed stages advance when their analysis passes and
    /// guards act by themselves (also `auto = true` in the plan)
    #[arg(long)]
    pub auto: bool,
    /// No terminal screen: progress lines on stderr; exit 0 on promotion,
    /// 3 on rollback, 4 when the rollout is held past --hold-deadline
    #[arg(long)]
    pub headless: bool,
    /// Prometheus base URL; without it pods are scraped through the API server
    #[arg(long, env = "FLIGHTDECK_PROMETHEUS", hide_env_values = true)]
    pub prometheus: Option<String>,
    /// Audit file (JSONL; default: $XDG_STATE_HOME/flightdeck/audit.jsonl)
    #[arg(long)]
    pub audit: Option<PathBuf>,
    /// The image to roll out (default: the plan's, or what the canary runs)
    #[arg(long)]
    pub image: Option<String>,
    /// How long the rollout may stand held (by a guard, a failed or
    /// inconclusive analysis, a person, or a stage waiting for the go)
    /// before a headless run gives up, in the cluster's time
    #[arg(long, default_value = "15m", value_parser = parse_duration)]
    pub hold_deadline: std::time::Duration,
    /// Take the helm from the cockpit holding it (recorded)
    #[arg(long)]
    pub take_over: bool,
    /// Write the release report here when the run ends (`.md`: Markdown, else HTML)
    #[arg(long, value_name = "FILE")]
    pub report: Option<PathBuf>,
    /// Tick this manual check of the plan before the run starts (repeatable)
    #[arg(long, value_name = "ID")]
    pub tick: Vec<String>,
    #[command(flatten)]
    pub look: LookArgs,
}

fn parse_duration(text: &str) -> Result<std::time::Duration, String> {
    crate::units::parse_duration(text).map_err(|e| e.to_string())
}

/// What every rollout verb takes.
#[derive(Debug, Clone, Args)]
#[allow(clippy::struct_excessive_bools)] // each is a flag of its own
pub struct VerbArgs {
    /// The rollout plan (TOML)
    #[arg(long)]
    pub plan: PathBuf,
    #[command(flatten)]
    pub cluster: ClusterArgs,
    /// Output format
    #[arg(long, short = 'o', value_enum, default_value_t = Output::Text)]
    pub output: Output,
    /// Answer yes to the confirmation of a destructive action
    #[arg(long, short = 'y')]
    pub yes: bool,
    /// Audit file (JSONL; default: $XDG_STATE_HOME/flightdeck/audit.jsonl)
    #[arg(long)]
    pub audit: Option<PathBuf>,
    /// Refuse every change; only `status` works
    #[arg(long)]
    pub read_only: bool,
    /// Take the helm from the cockpit holding it (recorded)
    #[arg(long)]
    pub take_over: bool,
    /// Return once the change is written, without waiting for it to land
    /// (or for a gradual rollback to reach stable)
    #[arg(long)]
    pub no_wait: bool,
    /// Give up waiting after this long (e.g. 90s, 5m): exit non-zero with
    /// where the rollout stands; the change already written stays
    #[arg(long, value_parser = parse_duration)]
    pub timeout: Option<std::time::Duration>,
}

/// `flightdeck check --plan FILE [--tick ID] [--rerun ID] [--run]`.
#[derive(Debug, Clone, Args)]
pub struct CheckArgs {
    #[command(flatten)]
    pub verb: VerbArgs,
    /// Tick this manual check (as the kube user; recorded)
    #[arg(long, value_name = "ID")]
    pub tick: Vec<String>,
    /// Clear this failed or interrupted check's result so it runs again
    #[arg(long, value_name = "ID")]
    pub rerun: Vec<String>,
    /// Run the command checks due now (needs the helm)
    #[arg(long)]
    pub run: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Output {
    Text,
    Json,
}

#[derive(Debug, Clone, Args)]
pub struct StartArgs {
    #[command(flatten)]
    pub verb: VerbArgs,
    /// The image to roll out (default: the plan's, or what the canary runs)
    #[arg(long)]
    pub image: Option<String>,
}

#[derive(Debug, Clone, Args)]
pub struct FreezeArgs {
    #[command(flatten)]
    pub verb: VerbArgs,
    /// Why, for everyone who meets the freeze (shown in every cockpit)
    #[arg(long)]
    pub reason: String,
}

#[derive(Debug, Clone, Args)]
pub struct UndoArgs {
    #[command(flatten)]
    pub verb: VerbArgs,
    /// The revision to go back to (default: the previous one)
    #[arg(long)]
    pub to_revision: Option<u64>,
}

#[derive(Debug, Clone, Args)]
pub struct DemoArgs {
    #[command(flatten)]
    pub sim: SimArgs,
    /// Watch only: refuse every action that would change the cluster
    #[arg(long)]
    pub read_only: bool,
    /// Audit file (default: beside the demo's kubeconfig)
    #[arg(long)]
    pub audit: Option<PathBuf>,
    /// Also write the demo's kubeconfig here, so kubectl, `flightdeck list`
    /// or a script can reach its cluster(s) while it runs
    #[arg(long, value_name = "FILE")]
    pub kubeconfig_out: Option<PathBuf>,
    /// Prometheus base URL (one scraping the simulated cluster's `/metrics`):
    /// the cockpit's metrics and, in the fleet demo, the current context's
    /// error ratio and p99 columns; without it pods are scraped
    #[arg(long)]
    pub prometheus: Option<String>,
    /// Automatic mode: timed stages advance when their analysis passes and
    /// guards roll back by themselves
    #[arg(long)]
    pub auto: bool,
    /// Log lines kept in the cockpit's ring (about 150 bytes each)
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..=10_000_000))]
    pub log_lines: Option<u64>,
    #[command(flatten)]
    pub look: LookArgs,
    /// Keep flightdeck's own log in this file too (filter with FLIGHTDECK_LOG)
    #[arg(long)]
    pub log_file: Option<PathBuf>,
}

#[derive(Debug, Subcommand)]
pub enum SimCommand {
    /// Serve the simulated cluster's Kubernetes API over HTTP
    Serve(SimServeArgs),
    /// List the built-in scenarios
    Scenarios,
}

#[derive(Debug, Clone, Args)]
pub struct SimArgs {
    /// Built-in scenario name or path to a scenario file
    #[arg(long, default_value = "healthy-canary")]
    pub scenario: String,
    /// Simulated seconds per real second (1 = real time)
    #[arg(long, default_value_t = 1.0)]
    pub speed: f64,
    /// Seed for every random choice; the same seed repeats the same run
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
}

#[derive(Debug, Clone, Args)]
pub struct SimServeArgs {
    #[command(flatten)]
    pub sim: SimArgs,
    /// Address to bind; port 0 picks a free port
    #[arg(long, default_value = "127.0.0.1:0")]
    pub addr: SocketAddr,
    /// Write a kubeconfig (context `flightdeck-sim`) for this server here
    #[arg(long)]
    pub kubeconfig_out: Option<PathBuf>,
    /// Allow binding an address other than loopback
    #[arg(long)]
    pub allow_remote: bool,
    /// Require this bearer token on every request
    #[arg(long, env = "FLIGHTDECK_SIM_TOKEN", hide_env_values = true)]
    pub token: Option<String>,
}

/// `flightdeck completions SHELL`.
#[derive(Debug, Clone, Args)]
pub struct CompletionsArgs {
    /// The shell to complete for
    #[arg(value_enum)]
    pub shell: clap_complete::Shell,
}

/// `flightdeck man --out DIR`.
#[derive(Debug, Clone, Args)]
pub struct ManArgs {
    /// Folder to write `flightdeck.1`, `flightdeck-status.1`, … into
    #[arg(long)]
    pub out: PathBuf,
}

/// `flightdeck info`.
#[derive(Debug, Clone, Args)]
pub struct InfoArgs {
    #[command(flatten)]
    pub cluster: ClusterArgs,
    #[command(flatten)]
    pub look: LookArgs,
    /// Output format
    #[arg(long, short = 'o', value_enum, default_value_t = Output::Text)]
    pub output: Output,
}

impl Cli {
    /// The command line as parsed, with the exit codes under every verb's help.
    pub fn parse_args() -> Self {
        use clap::FromArgMatches;
        let matches = command().get_matches();
        Self::from_arg_matches(&matches).unwrap_or_else(|e| e.exit())
    }

    /// The output format asked for, where the command has one.
    pub fn output(&self) -> Option<Output> {
        match &self.command {
            Some(Command::Info(i)) => Some(i.output),
            Some(Command::List(l)) => Some(l.output),
            Some(Command::Snapshot(s)) => Some(s.output),
            Some(c) => c.verb().map(|v| v.output),
            None => None,
        }
    }

    /// The plan file named on the command line, if any.
    pub fn plan(&self) -> Option<&std::path::Path> {
        match &self.command {
            Some(Command::Run(r)) => Some(&r.plan),
            Some(Command::Snapshot(s)) => Some(&s.plan),
            Some(Command::Report(r)) => Some(&r.plan),
            Some(c) => c.verb().map(|v| v.plan.as_path()),
            None => self.cockpit.plan.as_deref(),
        }
    }
}

impl Command {
    /// The arguments every rollout verb takes, when this is one.
    pub fn verb(&self) -> Option<&VerbArgs> {
        match self {
            Command::Status(v)
            | Command::Advance(v)
            | Command::Pause(v)
            | Command::Resume(v)
            | Command::Promote(v)
            | Command::Abort(v)
            | Command::Rollback(v)
            | Command::Retry(v)
            | Command::Unfreeze(v) => Some(v),
            Command::Start(s) => Some(&s.verb),
            Command::Freeze(f) => Some(&f.verb),
            Command::Undo(u) => Some(&u.verb),
            Command::Check(c) => Some(&c.verb),
            _ => None,
        }
    }
}

/// The clap command with the exit codes after the help of flightdeck and of
/// every verb: what `--help`, the completions and the man pages are made from.
pub fn command() -> clap::Command {
    use clap::CommandFactory;
    let codes = crate::commands::failure::EXIT_CODES;
    Cli::command()
        .version(crate::build_info::VERSION)
        .after_long_help(codes)
        .mut_subcommands(|sub| sub.after_long_help(codes))
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn cli_is_well_formed() {
        Cli::command().debug_assert();
        command().debug_assert();
    }

    #[test]
    fn every_verb_lists_the_exit_codes_in_its_long_help() {
        let mut cmd = command();
        for sub in cmd.get_subcommands_mut() {
            let help = sub.render_long_help().to_string();
            assert!(
                help.contains("10  unreachable"),
                "{}: {help}",
                sub.get_name()
            );
        }
    }

    #[test]
    fn help_hides_the_values_of_secret_variables() {
        let mut cmd = command();
        let serve = cmd
            .find_subcommand_mut("sim")
            .and_then(|s| s.find_subcommand_mut("serve"))
            .unwrap();
        let arg = serve
            .get_arguments()
            .find(|a| a.get_id() == "token")
            .unwrap();
        assert!(arg.is_hide_env_values_set());
        let arg = cmd
            .get_arguments()
            .find(|a| a.get_id() == "prometheus")
            .unwrap();
        assert!(arg.is_hide_env_values_set());
    }

    #[test]
    fn the_fleet_takes_namespaces_and_contexts_but_not_with_an_app() {
        let cli = Cli::try_parse_from(["flightdeck", "-A", "--context", "a,b"]).unwrap();
        assert!(cli.cockpit.all_namespaces);
        assert_eq!(cli.cockpit.cluster.context.as_deref(), Some("a,b"));
        let cli = Cli::try_parse_from(["flightdeck", "--all-contexts", "-n", "shop"]).unwrap();
        assert!(cli.cockpit.all_contexts);
        for args in [
            &["flightdeck", "-A", "--app", "a"][..],
            &["flightdeck", "--all-contexts", "--context", "a"],
            &["flightdeck", "-A", "-n", "shop"],
        ] {
            assert!(Cli::try_parse_from(args).is_err(), "{args:?}");
        }
    }

    #[test]
    fn app_and_plan_exclude_each_other() {
        let err = Cli::try_parse_from(["flightdeck", "--app", "a", "--plan", "p.toml"]);
        assert!(err.is_err());
    }

    #[test]
    fn verbs_take_the_plan_and_answers() {
        let cli = Cli::try_parse_from([
            "flightdeck",
            "undo",
            "--plan",
            "p.toml",
            "--to-revision",
            "3",
            "--yes",
            "-o",
            "json",
        ])
        .unwrap();
        match cli.command {
            Some(Command::Undo(u)) => {
                assert_eq!(u.to_revision, Some(3));
                assert!(u.verb.yes);
                assert_eq!(u.verb.output, Output::Json);
            }
            other => panic!("parsed as {other:?}"),
        }
        assert!(Cli::try_parse_from(["flightdeck", "advance"]).is_err());
    }

    #[test]
    fn demo_takes_sim_flags() {
        let cli = Cli::try_parse_from([
            "flightdeck",
            "demo",
            "--scenario",
            "bad-canary",
            "--speed",
            "10",
        ])
        .unwrap();
        match cli.command {
            Some(Command::Demo(d)) => {
                assert_eq!(d.sim.scenario, "bad-canary");
                assert!((d.sim.speed - 10.0).abs() < f64::EPSILON);
            }
            other => panic!("parsed as {other:?}"),
        }
    }
}
