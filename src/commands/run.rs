//! `flightdeck run --plan FILE [--auto] --headless`: a whole rollout driven
//! without a person, for pipelines. It starts the rollout (or picks up the
//! one the plan's app is in), lets time, the analysis and the guards move it
//! on, and ends when it is promoted (exit 0), rolled back (exit 3) or held
//! longer than `--hold-deadline` (exit 4), or when SIGINT or SIGTERM stops it
//! (exit 130 or 143, the helm released: see [`super::signals`]). Progress
//! lines go to stderr, each stamped with the cluster's time.
//!
//! The driving is the cockpit's own loop ([`crate::driver::task`]), fed the
//! start and read through its reports; closing its command channel (dropping
//! the [`DriverTask`]'s sender) is how a run tells it to stop.
//!
//! Without `--headless` the cockpit opens on the plan and starts it there.

use std::collections::HashMap;
use std::time::Duration;

use chrono::{DateTime, Utc};
use color_eyre::eyre::{Result, WrapErr, bail};
use tokio::sync::mpsc;

use super::signals::{Signal, Signals};
use crate::app::msg::{DriveReport, Msg};
use crate::cli::RunArgs;
use crate::cluster::client;
use crate::cluster::clock::Clock;
use crate::cockpit::{self, Driving, Options};
use crate::driver::guarded::{self, GuardLink};
use crate::driver::task::{self, DriverTask};
use crate::driver::{Command, Driver, Settings};
use crate::rollout::plan::Plan;
use crate::rollout::state::{PausedBy, Phase, RolloutState};
use crate::sanitize::clean;
use crate::workers::audit::{AuditLog, default_path};
use crate::workers::guard_watch::GuardWatch;
use crate::workers::notify::{Delivery, Notifier};
use crate::workers::{self, Target};

/// How a headless run ended, and its exit code.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum End {
    Promoted,
    RolledBack(String),
    Held(String),
    /// Stopped by SIGINT or SIGTERM.
    Interrupted(Signal),
}

impl End {
    pub fn code(&self) -> i32 {
        match self {
            End::Promoted => 0,
            End::RolledBack(_) => 3,
            End::Held(_) => 4,
            End::Interrupted(signal) => signal.exit_code(),
        }
    }
}

/// How long webhooks get to deliver the last notices before the run exits.
const FLUSH: Duration = Duration::from_secs(15);
/// The same after a signal: whoever sent it (a CI runner, `docker stop`)
/// usually kills the process ten seconds later.
const FLUSH_STOPPED: Duration = Duration::from_secs(5);
/// How long a guard's rollback snapshot may still take once the run is over.
const SNAPSHOT: Duration = Duration::from_secs(30);
/// How often time moves the machine on (in real time).
const TICK: Duration = Duration::from_secs(1);

/// Runs `flightdeck run`; the process' exit code.
pub async fn run(args: RunArgs) -> Result<i32> {
    // A bad plan stops here, before anything is connected or changed.
    let plan = Plan::load(&args.plan)?;
    // A guard's rollback snapshots the rollout with the plan as written.
    crate::snapshot::auto::set_context(crate::snapshot::auto::Context {
        plan_text: std::fs::read_to_string(&args.plan).ok(),
        prometheus: args.prometheus.clone(),
        dir: crate::snapshot::auto::beside(args.audit.as_deref()),
    });
    if !args.headless {
        cockpit::run(Options {
            kubeconfig: args.cluster.kubeconfig,
            context: args.cluster.context,
            plan: Some(plan),
            theme: args.look.theme,
            keymap: args.look.keymap,
            prometheus: args.prometheus,
            driving: Driving {
                audit: args.audit,
                clock: None,
            },
            auto: args.auto,
            first: Some(Command::Start { image: args.image }),
            external: None,
            ..Options::default()
        })
        .await?;
        return Ok(0);
    }
    let (client, info) = client::connect(
        args.cluster.kubeconfig.as_deref(),
        args.cluster.context.as_deref(),
    )
    .await
    .wrap_err("cannot connect to the cluster")?;
    let clock = Clock::of_cluster(&client).await;
    let say = Say(clock.clone());
    if clock.speed() > 1.0 {
        say.line(&format!(
            "the cluster is simulated and runs {}x real time; times are its own",
            clock.speed()
        ));
    }
    let audit_path = args.audit.clone().map_or_else(default_path, Ok)?;
    let audit = AuditLog::open(&audit_path)?;

    let (reports_tx, mut reports) = mpsc::channel(64);
    let (notifier, notify_tasks, problems) = Notifier::for_plan(&plan.notifications, reports_tx);
    for problem in problems {
        say.line(&problem);
    }

    let progress = say.clone();
    let settings = Settings {
        clock: clock.clone(),
        progress: std::sync::Arc::new(move |line| progress.line(&format!("  {line}"))),
        auto: args.auto,
        notifier,
        ..Settings::default()
    };
    let snapshot_client = client.clone();
    let actor = crate::workers::audit::Actor::current(&info.user);
    let driver = Driver::new(
        client.clone(),
        plan.clone(),
        &info.user,
        Some(audit),
        settings,
    );
    // From here on a signal lets go of the helm before the process ends.
    let mut signals = Signals::listen().wrap_err("cannot listen for SIGINT and SIGTERM")?;
    if args.take_over {
        driver.execute(Command::TakeHelm).await?;
    }
    for id in &args.tick {
        let ticked = driver.tick_check(id).await?;
        say.line(&format!("ticked {id} as {}", ticked.who));
    }
    let waited = tokio::select! {
        waited = wait_for_ticks(&driver, &say, args.hold_deadline) => waited?,
        signal = signals.recv() => Some(End::Interrupted(signal)),
    };
    if let Some(end) = waited {
        if let End::Held(reason) = &end {
            say.line(&format!("giving up: {}", clean(reason)));
        }
        return Ok(end.code());
    }
    let target = Target {
        client,
        namespace: plan.namespace.clone(),
        app: plan.app.clone(),
    };
    let source = guarded::source(args.prometheus.as_deref(), &plan, &clock)
        .wrap_err("bad Prometheus URL")?;
    // The guards read the pods from a watch: one list, then events.
    let pods = workers::pods_only(&target);
    let guards = GuardLink::spawn(GuardWatch::for_plan(
        &plan,
        target,
        source,
        clock.clone(),
        pods.pods(),
    ));

    let resuming = driver.load().await?.rollout.state;
    // The guards' readings as they come, for the report's charts when
    // there is no Prometheus to ask afterwards.
    let mut observed = crate::report::Numbers::default();
    let (msgs_tx, mut msgs) = mpsc::channel(256);
    let DriverTask { commands, handle } = task::spawn(driver, msgs_tx, Some(guards));
    // A signal drops the drive where it stands: the rollout's state is on
    // the cluster and a later run picks it up.
    let result = tokio::select! {
        end = drive(resuming, &commands, &mut msgs, &mut reports, &args, &say, &mut observed) => end,
        signal = signals.recv() => {
            say.line(&format!("{}: stopping; letting go of the helm", signal.name()));
            Ok(End::Interrupted(signal))
        }
    };

    // The loop stops when its commands end; it lets go of the helm, and
    // drops the driver and with it the notifier's queue.
    drop(commands);
    drop(msgs);
    if let Err(e) = handle.await {
        say.line(&format!("the driver loop ended badly: {e}"));
    }
    drop(pods);
    // A rollback gets its snapshot: the loop's own, or, when the run ended
    // before the loop saw the rollback land, one taken here.
    let mut snapshots = crate::snapshot::auto::finish(SNAPSHOT).await;
    if snapshots.is_empty()
        && let Ok(End::RolledBack(reason)) = &result
    {
        let by = format!("{} (flightdeck auto)", actor.os_user);
        let reason = format!("rolled back: {reason}");
        snapshots.push(crate::snapshot::auto::written(&snapshot_client, &plan, &by, &reason).await);
    }
    for line in snapshots {
        say.line(&line);
    }
    // The last notices (the rollback, the promotion) are worth a short wait.
    let flush = match &result {
        Ok(End::Interrupted(_)) => FLUSH_STOPPED,
        _ => FLUSH,
    };
    // A second signal stops the wait for the webhooks too.
    let flushed = tokio::select! {
        r = tokio::time::timeout(flush, futures::future::join_all(notify_tasks)) => r.is_ok(),
        _ = signals.recv() => false,
    };
    while let Ok(delivery) = reports.try_recv() {
        say.line(&delivery.to_string());
    }
    if !flushed {
        say.line("webhooks did not finish delivering in time; some notices may be lost");
    }
    let end = result?;
    match &end {
        End::Promoted => say.line("promoted"),
        End::RolledBack(reason) => say.line(&format!("rolled back: {}", clean(reason))),
        End::Held(reason) => say.line(&format!(
            "giving up: {}; the rollout stays where it is",
            clean(reason)
        )),
        End::Interrupted(signal) => say.line(&format!(
            "stopped by {}; the rollout stays where it is",
            signal.name()
        )),
    }
    say.line(&format!("audit: {}", audit_path.display()));
    if let Some(path) = &args.report {
        let report = crate::report::gather::gather(
            &snapshot_client,
            &plan,
            &clock,
            crate::report::gather::Sources {
                audit: Some(&audit_path),
                prometheus: args.prometheus.as_deref(),
                observed: Some(observed),
            },
        )
        .await;
        let format = crate::cli::ReportFormat::of_path(path);
        match super::report::write(&report, format, path) {
            Ok(()) => say.line(&format!("report: {}", path.display())),
            Err(e) => say.line(&format!("cannot write the report: {e}")),
        }
    }
    Ok(end.code())
}

/// How often a run waiting for checks to be ticked looks again.
const TICKS_POLL: Duration = Duration::from_secs(1);

/// Before a start: waits while manual checks of the start are open,
/// saying which (and how to tick them) whenever that changes. `None` once
/// nothing is open; `Held` after `deadline` of waiting.
async fn wait_for_ticks(driver: &Driver, say: &Say, deadline: Duration) -> Result<Option<End>> {
    use crate::rollout::checks::{self, Gate, Point};
    let began = say.0.now();
    let mut shown = String::new();
    loop {
        let (results, state, round) = driver.check_round().await?;
        if state.stage().is_some() || matches!(state.phase, Phase::RollingBack { .. }) {
            return Ok(None);
        }
        let points = [Point::BeforeStart, Point::BeforeStage(1)];
        let open = match checks::gate(&driver.plan().checks, &results, round, &points) {
            Gate::Hold { open, .. } => open,
            _ => Vec::new(),
        };
        if open.is_empty() {
            return Ok(None);
        }
        let line = Gate::Hold {
            open,
            failed: Vec::new(),
            interrupted: Vec::new(),
        }
        .describe(&driver.plan().path.display().to_string());
        if say.0.now() - began > chrono::Duration::from_std(deadline).unwrap_or_default() {
            return Ok(Some(End::Held(line)));
        }
        if line != shown {
            say.line(&line);
            shown = line;
        }
        tokio::time::sleep(TICKS_POLL).await;
    }
}

/// Progress lines on stderr, stamped with the cluster's time.
#[derive(Clone)]
struct Say(Clock);

impl Say {
    fn line(&self, text: &str) {
        eprintln!("{} {}", self.0.now().format("%H:%M:%S"), clean(text));
    }
}

async fn drive(
    mut state: RolloutState,
    commands: &mpsc::Sender<Command>,
    msgs: &mut mpsc::Receiver<Msg>,
    reports: &mut mpsc::Receiver<Delivery>,
    args: &RunArgs,
    say: &Say,
    observed: &mut crate::report::Numbers,
) -> Result<End> {
    let mut starting =
        !(state.stage().is_some() || matches!(state.phase, Phase::RollingBack { .. }));
    if starting {
        commands
            .send(Command::Start {
                image: args.image.clone(),
            })
            .await
            .wrap_err("the driver loop stopped")?;
    } else {
        say.line(&format!("resuming: {}", state.describe()));
    }
    let mut shown = state.describe();
    let mut guard_states: HashMap<String, &'static str> = HashMap::new();
    let mut tick = tokio::time::interval(TICK);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    loop {
        if !starting && let Some(end) = end_of(&state, say.0.now(), args.hold_deadline) {
            return Ok(end);
        }
        tokio::select! {
            msg = msgs.recv() => {
                let Some(msg) = msg else {
                    bail!("the driver loop stopped");
                };
                match msg {
                    Msg::Rollout(view) => {
                        state = view.state;
                        let now = state.describe();
                        if now != shown && !starting {
                            say.line(&now);
                            shown = now;
                        }
                    }
                    Msg::Drive(DriveReport::Done { action, to }) if starting && action == "start" => {
                        starting = false;
                        say.line(&format!("started: {to}"));
                        shown = to;
                    }
                    Msg::Drive(DriveReport::Failed { action, reason }) if starting && action == "start" => {
                        bail!("cannot start: {reason}");
                    }
                    Msg::Drive(DriveReport::Failed { action, reason }) => {
                        say.line(&format!("cannot act on the {action}: {reason}"));
                    }
                    Msg::Drive(DriveReport::Cancelled { action, by }) => {
                        say.line(&format!("{action} cancelled: {by} went first"));
                    }
                    Msg::Drive(DriveReport::Progress(line)) => say.line(&line),
                    Msg::Guard(u) => {
                        if let Some(v) = u.latest {
                            observed.observe(u.metric, u.at, v);
                        }
                        let kind = u.state.word();
                        if guard_states.insert(u.guard.clone(), kind) != Some(kind) {
                            say.line(&format!("guard {}: {kind}, {}", u.guard, u.numbers()));
                        }
                    }
                    _ => {}
                }
            }
            _ = tick.tick() => {}
            Some(delivery) = reports.recv() => say.line(&delivery.to_string()),
        }
    }
}

/// Whether the run is over as of `now`: the rollout finished, or it has
/// stood still (held, or waiting for an analysis that does not pass) for
/// longer than `deadline`.
pub fn end_of(state: &RolloutState, now: DateTime<Utc>, deadline: Duration) -> Option<End> {
    let over = |since: &DateTime<Utc>| (now - *since).to_std().is_ok_and(|d| d > deadline);
    let verdict = || {
        state
            .verdict
            .as_ref()
            .map(|v| format!("; last analysis: {}", v.verdict))
            .unwrap_or_default()
    };
    let waited = |since: &DateTime<Utc>| {
        crate::units::format_duration((now - *since).to_std().unwrap_or_default())
    };
    match &state.phase {
        Phase::Promoted { .. } => Some(End::Promoted),
        Phase::Aborted { reason, .. } => Some(End::RolledBack(reason.clone())),
        Phase::Progressing { since, .. } if over(since) => Some(End::Held(format!(
            "{} for {}{}",
            state.describe(),
            waited(since),
            verdict()
        ))),
        Phase::Paused { since, by, .. } if !matches!(by, PausedBy::Timed { .. }) && over(since) => {
            let why = match by {
                PausedBy::Guard { alarm } => format!(" ({alarm})"),
                PausedBy::Analysis { reason } => format!(" ({reason})"),
                _ => String::new(),
            };
            Some(End::Held(format!(
                "{}{why} for {}",
                state.describe(),
                waited(since)
            )))
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rollout::fixtures;
    use crate::rollout::machine::{Event, step};
    use crate::rollout::{Outcome, Verdict};

    fn at(s: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(1_700_000_000 + s, 0).unwrap()
    }

    fn started() -> RolloutState {
        let plan = fixtures::canary(
            r#"[{ weight = 10, pause = "1m" }, { weight = 100 }]"#,
            "[analysis]\nwindow = \"1m\"",
        );
        let s = RolloutState::new(&plan, true);
        let start = Event::Start {
            image: None,
            active_slot: None,
        };
        step(&s, start, at(0)).unwrap().state
    }

    #[test]
    fn a_timed_stage_is_never_held() {
        let s = started();
        assert_eq!(end_of(&s, at(3_600), Duration::from_secs(60)), None);
    }

    #[test]
    fn waiting_for_an_analysis_past_the_deadline_gives_up_with_its_reason() {
        let s = started();
        let s = step(&s, Event::Tick, at(61)).unwrap().state;
        assert!(matches!(s.phase, Phase::Progressing { .. }), "{s}");
        let inconclusive = Verdict::unreachable("Prometheus at http://p unreachable", at(70));
        let s = step(
            &s,
            Event::Verdict {
                stage: 0,
                verdict: inconclusive,
            },
            at(70),
        )
        .unwrap()
        .state;
        assert_eq!(end_of(&s, at(100), Duration::from_secs(60)), None);
        let Some(End::Held(why)) = end_of(&s, at(200), Duration::from_secs(60)) else {
            panic!("not held: {s}");
        };
        assert!(why.contains("waiting for analysis"), "{why}");
        assert!(why.contains("Prometheus at http://p unreachable"), "{why}");
        assert_eq!(End::Held(why).code(), 4);
    }

    #[test]
    fn promotion_and_rollback_end_the_run_with_their_codes() {
        let s = started();
        let pass = Verdict {
            outcome: Outcome::Pass,
            at: at(61),
            reason: "all checks passed".into(),
            checks: Vec::new(),
        };
        let s = step(&s, Event::Tick, at(61)).unwrap().state;
        let done = step(
            &s,
            Event::Verdict {
                stage: 0,
                verdict: pass,
            },
            at(62),
        )
        .unwrap()
        .state;
        assert_eq!(
            end_of(&done, at(62), Duration::from_secs(60)),
            Some(End::Promoted)
        );
        let aborted = step(
            &started(),
            Event::Abort {
                mode: None,
                reason: "checkout 5xx: error-ratio 8.0% > 5.0% for 2m".into(),
            },
            at(5),
        )
        .unwrap()
        .state;
        let end = end_of(&aborted, at(5), Duration::from_secs(60)).unwrap();
        assert_eq!(end.code(), 3);
        assert!(matches!(end, End::RolledBack(r) if r.contains("checkout 5xx")));
    }
}
