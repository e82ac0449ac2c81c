//! The one driver loop, run by the cockpit and by `flightdeck run
//! --headless`: fed [`Command`]s over a channel, it reports into a [`Msg`]
//! queue (the cockpit's, or the headless run's printer).
//!
//! It never awaits a long operation inline. A command, a tick that moves a
//! timed stage on, or a reaction to the guards is work under way: a future
//! the loop polls beside everything else, as a controller requeues rather
//! than blocks. So within one tick the loop answers
//!
//! - an abort or rollback: the work under way is cancelled (recorded as
//!   such: screen, history, audit, Event) and the way back goes first;
//! - a guard's alarm: it cancels the work under way too, and is acted on;
//! - another driver's abort, seen through the state watch: what this loop
//!   was doing is cancelled and left to it;
//! - a way back asked by someone not at the helm ([`super::asked`]), seen
//!   through the same watch: at the helm, it is carried out as an abort
//!   from here would be, naming who asked, and the request cleared;
//! - the helm passing to someone else: what this loop was doing stops;
//! - a pause: it waits for the work under way to land, then pauses;
//! - any other command: refused with what is under way, never queued for
//!   an unknown time.
//!
//! Between commands it shows the rollout again whenever its state ConfigMap
//! changes, ticks the machine (only at the helm) when something is due, and
//! passes the guards' states to the screen. At rest it reads nothing but
//! that watch.

use std::collections::VecDeque;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use futures::{Stream, StreamExt};
use k8s_openapi::api::core::v1::ConfigMap;
use kube::Api;
use kube::runtime::watcher;

use super::asked::Asked;
use super::guarded::{GuardLink, Unacted};
use super::helm::HelmView;
use super::status::RevisionRow;
use super::{Command, DriveError, Driver, Outcome};
use crate::app::msg::{DriveReport, Msg, RolloutView};
use crate::app::state::Helm;
use crate::rollout::RolloutState;
use crate::rollout::guards::GuardAction;
use crate::rollout::history::{ActionResult, StoredRollout};
use crate::rollout::machine::Event;
use crate::rollout::plan::RollbackMode;
use crate::rollout::state::Phase;
use crate::workers::guard_watch::GuardFact;
use crate::workers::watch::relisting;

/// Commands waiting for the driver; the UI never blocks on a full queue.
const QUEUE: usize = 16;
/// How long the step under way may take to finish when the loop is told
/// to stop.
const FINISH: Duration = Duration::from_secs(10);
/// How often the stored state is read again and time moves the machine on:
/// once a second of the cluster's time, never more often than [`MIN_TICK`].
const TICK: Duration = Duration::from_secs(1);
/// The fastest tick, for a simulated cluster running many times real time.
const MIN_TICK: Duration = Duration::from_millis(50);

/// The real time between ticks on a cluster whose clock runs `speed` times
/// real time. A tick a real second apart would be twenty of the cluster's
/// seconds at 20x: a timed stage that came due could wait past the next
/// analysis and be judged by it, which at full scale never happens.
fn tick_period(speed: f64) -> Duration {
    if speed.is_finite() && speed > 1.0 {
        TICK.div_f64(speed).max(MIN_TICK)
    } else {
        TICK
    }
}

/// The running driver: send it commands; dropping the sender stops it and
/// lets go of the helm.
pub struct DriverTask {
    pub commands: mpsc::Sender<Command>,
    pub handle: JoinHandle<()>,
}

/// Starts the driver; with `guards`, it also acts on their findings.
pub fn spawn(
    driver: impl Into<Arc<Driver>>,
    msgs: mpsc::Sender<Msg>,
    guards: Option<GuardLink>,
) -> DriverTask {
    let (commands, rx) = mpsc::channel(QUEUE);
    let handle = tokio::spawn(run(driver.into(), rx, msgs, guards));
    DriverTask { commands, handle }
}

/// The view of the helm the header shows.
pub fn helm_for_header(view: &HelmView, read_only: bool) -> Helm {
    match view {
        _ if read_only => Helm::ReadOnly,
        HelmView::Ours { .. } => Helm::Held,
        HelmView::Theirs { .. } => Helm::HeldBy(view.describe().replace("helm held by ", "")),
        HelmView::Free | HelmView::Unknown | HelmView::Trouble(_) => Helm::Free,
    }
}

/// What the cockpit shows of a stored rollout.
pub fn view_of(
    rollout: &StoredRollout,
    revisions: Vec<RevisionRow>,
    clock_skew: chrono::TimeDelta,
) -> RolloutView {
    let history = rollout
        .history
        .entries()
        .rev()
        .take(8)
        .map(|e| {
            let result = match &e.result {
                ActionResult::Done => String::new(),
                ActionResult::Failed { reason } => format!(" ✗ {reason}"),
                ActionResult::Cancelled { by } => format!(" ✗ cancelled: {by} went first"),
            };
            format!(
                "{} {} by {}: {}{result}",
                e.at.format("%H:%M:%S"),
                e.action,
                e.who.os_user,
                e.to
            )
        })
        .collect();
    RolloutView {
        state: rollout.state.clone(),
        history,
        revisions: revisions
            .into_iter()
            .map(|r| (r.revision, r.images.join(","), r.current))
            .collect(),
        clock_skew,
    }
}

/// The driver's clock minus the wall clock, to the second.
fn clock_skew(driver: &Driver) -> chrono::TimeDelta {
    chrono::TimeDelta::seconds((driver.now() - chrono::Utc::now()).num_seconds())
}

/// A signal each time the rollout's state ConfigMap is written (or the
/// watch starts over); never ends.
fn state_changes(driver: &Driver) -> impl Stream<Item = ()> + Send + 'static {
    let obj = driver.state_object();
    let api: Api<ConfigMap> = Api::namespaced(driver.client().clone(), &obj.namespace);
    let config = watcher::Config::default().fields(&format!("metadata.name={}", obj.name));
    relisting(api, config)
        .filter_map(|event| async move {
            match event {
                Ok(watcher::Event::Init | watcher::Event::InitApply(_)) => None,
                Err(e) => {
                    tracing::warn!(error = %e, "the rollout state's watch failed");
                    None
                }
                Ok(_) => Some(()),
            }
        })
        .chain(futures::stream::pending())
}

/// The next finding, or never when there are no guards.
async fn next_fact(guards: &mut Option<GuardLink>) -> Option<GuardFact> {
    match guards {
        Some(link) => link.facts.recv().await,
        None => std::future::pending().await,
    }
}

/// What the loop is carrying out.
#[derive(Debug, Clone, PartialEq)]
pub enum Work {
    Command(Command),
    /// Time moving the machine on.
    Tick,
    /// Acting on a guard's finding.
    Finding(Event),
    /// A way back asked by someone not at the helm.
    Asked(Asked),
    /// Settling a landing wait left by a driver that is gone.
    Settle(super::pending::Landing),
}

impl Work {
    pub fn name(&self) -> String {
        match self {
            Work::Command(c) => c.name().to_string(),
            Work::Tick => "tick".into(),
            Work::Finding(Event::GuardFired(_)) => "guard-fired".into(),
            Work::Finding(e) => e.name().to_string(),
            Work::Asked(a) => a.request().name().to_string(),
            Work::Settle(l) => l.action.clone(),
        }
    }

    /// Whether it takes the traffic back to stable.
    fn goes_back(&self) -> bool {
        match self {
            Work::Command(c) => matches!(c, Command::Abort { .. }),
            Work::Asked(_) => true,
            Work::Finding(Event::GuardFired(alarm)) => matches!(
                alarm.action,
                GuardAction::Rollback | GuardAction::GradualRollback
            ),
            _ => false,
        }
    }

    fn immediate(&self) -> bool {
        match self {
            Work::Command(Command::Abort { mode }) => mode != &Some(RollbackMode::Gradual),
            Work::Asked(a) => a.verb == super::asked::Verb::Abort,
            Work::Finding(Event::GuardFired(alarm)) => alarm.action == GuardAction::Rollback,
            _ => false,
        }
    }

    /// Whether this, under way, already goes back at least as fast as `new`
    /// would: then `new` has nothing to add.
    fn outpaces(&self, new: &Work) -> bool {
        self.goes_back() && (self.immediate() || !new.immediate())
    }
}

/// A step that other work cancelled, to be recorded (and with `settle`, its
/// half-done writes undone) before that work begins.
#[derive(Debug, Clone)]
struct Cancels {
    action: String,
    by: String,
    settle: bool,
}

/// What becomes of a command that comes while `under_way` is being carried
/// out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Arrival {
    /// It cancels the work under way and goes first.
    Preempts,
    /// It goes next, once the work under way has landed.
    Queued,
    Refused(String),
}

/// The rule of who goes first: the way back never waits (unless the way
/// back is already under way, at least as fast), a pause waits its turn, as
/// does any command behind a tick or a reaction to the guards; a second
/// step while the captain's first is landing is refused with what it waits
/// for.
pub fn arrival(under_way: &Work, command: &Command) -> Arrival {
    match command {
        Command::Abort { .. } => {
            if under_way.outpaces(&Work::Command(command.clone())) {
                Arrival::Refused(format!(
                    "already going back: {} is under way",
                    under_way.name()
                ))
            } else {
                Arrival::Preempts
            }
        }
        Command::Pause | Command::TakeHelm | Command::Freeze { .. } | Command::Unfreeze => {
            Arrival::Queued
        }
        // Time or the guards moving the machine on is no step of the
        // captain's: the key goes right after it.
        _ if !matches!(under_way, Work::Command(_)) => Arrival::Queued,
        _ => Arrival::Refused(format!(
            "{} is landing: wait for it to land, or abort",
            under_way.name()
        )),
    }
}

/// Whether a guard's finding that comes while `under_way` is being carried
/// out cancels it. An alarm that can act (hold or roll back) does, unless
/// the way back is already under way; a notice or a verdict waits.
pub fn finding_preempts(under_way: &Work, event: &Event) -> bool {
    let Event::GuardFired(alarm) = event else {
        return false;
    };
    if alarm.action == GuardAction::Notify {
        return false;
    }
    !under_way.outpaces(&Work::Finding(event.clone()))
}

type Landing<'a> = Pin<Box<dyn Future<Output = Result<Option<Outcome>, DriveError>> + Send + 'a>>;

/// The work under way and the future carrying it out.
struct InFlight<'a> {
    work: Work,
    /// The stored state was already going back when it began (a gradual
    /// rollback's next step), so seeing it go back is no news.
    began_going_back: bool,
    landing: Landing<'a>,
}

impl InFlight<'_> {
    /// Whether `stored`, just read, shows another driver going back while
    /// this work was under way. Only a captain's step forward can be
    /// overtaken so: a tick or a reaction to the guards may be what wrote
    /// the way back itself (a failed analysis aborts), and the way back
    /// (abort, rollback, undo) is what it would be overtaken by.
    fn overtaken_by(&self, stored: &RolloutState) -> bool {
        let forward = matches!(
            &self.work,
            Work::Command(c) if !matches!(c, Command::Abort { .. } | Command::Undo { .. })
        );
        forward && !self.began_going_back && going_back(stored)
    }
}

/// The future carrying out `work`, after recording (and, with `settle`,
/// undoing) the work it cancels.
fn carry<'a>(driver: &'a Driver, work: &Work, cancels: Option<Cancels>) -> Landing<'a> {
    let work = work.clone();
    Box::pin(async move {
        if let Some(c) = cancels
            && let Err(e) = driver.cancelled(&c.action, &c.by, c.settle).await
        {
            tracing::warn!(error = %e, action = %c.action, "cannot record the cancelled step");
        }
        match work {
            // Not at the helm, the way back is asked of whoever holds it.
            Work::Command(command @ Command::Abort { .. }) => {
                match driver.execute(command.clone()).await {
                    Err(DriveError::HelmHeld(holder)) => {
                        let asked = driver.ask(&command).await?;
                        tracing::info!(id = %asked.id, holder = %holder.describe(), "way back asked");
                        Ok(None)
                    }
                    other => other.map(Some),
                }
            }
            Work::Command(command) => driver.execute(command).await.map(Some),
            Work::Tick => driver.tick().await,
            Work::Finding(event) => driver.react(event).await,
            Work::Asked(asked) => driver.carry_asked(&asked).await.map(Some),
            Work::Settle(landing) => driver.settle(&landing).await,
        }
    })
}

/// Whether the stored state was going back when work began, as last read.
/// Not read yet counts as going back: the first read would otherwise show
/// an abort stored long before (a start or retry after it, sent as the loop
/// starts) as news, and cancel the very step that leaves it.
fn began_going_back(last: Option<&RolloutView>) -> bool {
    last.is_none_or(|v| going_back(&v.state))
}

/// Whether `state` takes the traffic back.
fn going_back(state: &RolloutState) -> bool {
    matches!(
        state.phase,
        Phase::RollingBack { .. } | Phase::Aborted { .. }
    )
}

/// The loop's own state beside the work under way.
#[derive(Default)]
struct Waiting {
    /// Commands that go once the work under way has landed.
    queued: VecDeque<Command>,
    /// Findings that go once the work under way has landed.
    findings: VecDeque<Event>,
    /// A request that goes once the way back under way has landed.
    asked: Option<Asked>,
}

#[allow(clippy::too_many_lines)]
async fn run(
    driver: Arc<Driver>,
    mut commands: mpsc::Receiver<Command>,
    msgs: mpsc::Sender<Msg>,
    mut guards: Option<GuardLink>,
) {
    let shared = driver.clone();
    let driver: &Driver = &driver;
    let read_only = driver.read_only();
    let helm = driver.helm().clone();
    let keeper = if read_only {
        helm.spawn_observer(driver.client().clone(), driver.plan().namespace.clone())
    } else {
        helm.spawn_keeper()
    };
    let mut helm_rx = helm.subscribe();
    let mut tick = tokio::time::interval(tick_period(driver.settings.clock.speed()));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    let mut last_view: Option<RolloutView> = None;
    let mut changes = std::pin::pin!(state_changes(driver));
    let mut unacted = Unacted::default();
    let mut waiting = Waiting::default();
    let mut in_flight: Option<InFlight<'_>> = None;
    // The last request taken on, so a state change while it is carried out
    // does not take it on again.
    let mut taken: Option<String> = None;
    // Whether the helm was ours at its last change.
    let mut ours = false;
    let send = |msg: Msg| {
        let msgs = msgs.clone();
        async move { msgs.send(msg).await.is_ok() }
    };
    let begin = |work: Work, cancels: Option<Cancels>, last: Option<&RolloutView>| InFlight {
        landing: carry(driver, &work, cancels),
        began_going_back: began_going_back(last),
        work,
    };
    loop {
        tokio::select! {
            result = async {
                match in_flight.as_mut() {
                    Some(f) => f.landing.as_mut().await,
                    None => std::future::pending().await,
                }
            } => {
                let Some(done) = in_flight.take() else { continue };
                match done.work {
                    Work::Command(command) => {
                        let action = command.name().to_string();
                        let report = match result {
                            Ok(Some(outcome)) => DriveReport::Done {
                                action,
                                to: outcome.state.describe(),
                            },
                            Ok(None) => DriveReport::Done {
                                action,
                                to: "asked of the driver at the helm, where it goes first".into(),
                            },
                            Err(e) => DriveReport::Failed { action, reason: e.to_string() },
                        };
                        send(Msg::Drive(report)).await;
                    }
                    work => {
                        if result.is_err()
                            && let Work::Finding(event) = &work
                        {
                            unacted.keep(event.clone());
                        }
                        if let (Work::Finding(Event::GuardFired(alarm)), Ok(Some(done))) = (&work, &result) {
                            crate::snapshot::auto::on_guard_finding(&shared, alarm, &done.state, &msgs);
                        }
                        report(result, &work.name(), &msgs).await;
                    }
                }
                refresh(driver, &mut last_view, &msgs).await;
                in_flight = next(&mut waiting, &send, &begin, last_view.as_ref()).await;
            }
            command = commands.recv() => {
                let Some(command) = command else {
                    // Told to stop: the step under way gets a short while to
                    // finish its record (a run ends as soon as the stored
                    // state says so, before the audit line and the Event).
                    if let Some(f) = in_flight.take() {
                        let _ = tokio::time::timeout(FINISH, f.landing).await;
                    }
                    break;
                };
                let action = command.name().to_string();
                let Some(under_way) = in_flight.as_ref().map(|f| f.work.clone()) else {
                    send(Msg::Drive(DriveReport::Started { action })).await;
                    in_flight = Some(begin(Work::Command(command), None, last_view.as_ref()));
                    continue;
                };
                match arrival(&under_way, &command) {
                    Arrival::Preempts => {
                        // Dropping the future cancels its landing wait here.
                        drop(in_flight.take());
                        let by = format!("{action} by {}", driver.actor().os_user);
                        send(Msg::Drive(DriveReport::Cancelled {
                            action: under_way.name(),
                            by: by.clone(),
                        }))
                        .await;
                        send(Msg::Drive(DriveReport::Started { action })).await;
                        waiting.queued.clear();
                        let cancels = Some(Cancels { action: under_way.name(), by, settle: false });
                        in_flight = Some(begin(Work::Command(command), cancels, last_view.as_ref()));
                    }
                    Arrival::Queued => {
                        send(Msg::Drive(DriveReport::Progress(format!(
                            "{action} goes next, once {} has landed",
                            under_way.name()
                        ))))
                        .await;
                        waiting.queued.push_back(command);
                    }
                    Arrival::Refused(reason) => {
                        send(Msg::Drive(DriveReport::Failed { action, reason })).await;
                    }
                }
            }
            fact = next_fact(&mut guards) => {
                let Some(fact) = fact else {
                    guards = None;
                    continue;
                };
                let event = match fact.into_event() {
                    Ok(event) => event,
                    Err(update) => {
                        send(Msg::Guard(update)).await;
                        continue;
                    }
                };
                match &event {
                    Event::GuardFired(alarm) => {
                        send(Msg::Drive(DriveReport::Progress(format!("guard fired: {alarm}")))).await;
                    }
                    Event::Verdict { stage, verdict } => {
                        send(Msg::Drive(DriveReport::Progress(format!(
                            "analysis of stage {}: {verdict}",
                            stage + 1
                        ))))
                        .await;
                    }
                    _ => {}
                }
                let Some(under_way) = in_flight.as_ref().map(|f| f.work.clone()) else {
                    in_flight = Some(begin(Work::Finding(event), None, last_view.as_ref()));
                    continue;
                };
                if finding_preempts(&under_way, &event) {
                    drop(in_flight.take());
                    let by = match &event {
                        Event::GuardFired(alarm) => format!("guard {}", alarm.guard),
                        other => other.name().to_string(),
                    };
                    send(Msg::Drive(DriveReport::Cancelled {
                        action: under_way.name(),
                        by: by.clone(),
                    }))
                    .await;
                    // A hold leaves the traffic where the stored stage has it;
                    // the way back moves it itself.
                    let settle = !under_way.goes_back()
                        && !Work::Finding(event.clone()).goes_back();
                    let cancels = Some(Cancels { action: under_way.name(), by, settle });
                    in_flight = Some(begin(Work::Finding(event), cancels, last_view.as_ref()));
                } else {
                    waiting.findings.push_back(event);
                }
            }
            changed = helm_rx.changed() => {
                if changed.is_err() { break; }
                let view = helm_rx.borrow_and_update().clone();
                send(Msg::Helm(helm_for_header(&view, read_only))).await;
                let was_ours = std::mem::replace(&mut ours, view.is_ours());
                let came = view.is_ours() && !was_ours;
                // What a driver that died (or nobody) left: a request, a wait.
                // Looked for only now, so a loop at rest writes nothing.
                let left = if came && !read_only && in_flight.is_none() {
                    driver.load().await.ok()
                } else {
                    None
                };
                if let Some(left) = left {
                    let gone = left.landing.as_ref().map(|l| Cancels {
                        action: l.action.clone(),
                        by: format!("its driver {} was gone", l.by),
                        settle: false,
                    });
                    match (left.asked.filter(|a| taken.as_ref() != Some(&a.id)), left.landing) {
                        (Some(asked), _) => {
                            taken = Some(asked.id.clone());
                            send(Msg::Drive(DriveReport::Progress(format!(
                                "{}: it goes first",
                                asked.asker()
                            ))))
                            .await;
                            send(Msg::Drive(DriveReport::Started {
                                action: asked.request().name().to_string(),
                            }))
                            .await;
                            in_flight = Some(begin(Work::Asked(asked), gone, last_view.as_ref()));
                        }
                        (None, Some(landing)) => {
                            send(Msg::Drive(DriveReport::Progress(format!(
                                "settling what {} left: {}",
                                landing.by,
                                landing.describe(driver.now())
                            ))))
                            .await;
                            in_flight = Some(begin(Work::Settle(landing), None, last_view.as_ref()));
                        }
                        (None, None) => {}
                    }
                }
                // The helm passed to someone else: what this loop was doing
                // stops (its next write would be refused anyway), and is
                // recorded off the loop so the loop answers at once.
                if let (true, Some(f), HelmView::Theirs { .. }) = (was_ours, &in_flight, &view) {
                    let action = f.work.name();
                    in_flight = None;
                    let by = view.describe();
                    send(Msg::Drive(DriveReport::Cancelled {
                        action: action.clone(),
                        by: by.clone(),
                    }))
                    .await;
                    let shared = shared.clone();
                    tokio::spawn(async move {
                        if let Err(e) = shared.cancelled_off_helm(&action, &by).await {
                            tracing::warn!(error = %e, %action, "cannot record the cancelled step");
                        }
                    });
                }
            }
            Some(()) = changes.next() => {
                let was_frozen = last_view.as_ref().is_some_and(|v| v.state.freeze.is_some());
                let asked = refresh(driver, &mut last_view, &msgs).await;
                if let Some(asked) = asked.filter(|a| taken.as_ref() != Some(&a.id))
                    && !read_only
                    && helm.view().is_ours()
                {
                    taken = Some(asked.id.clone());
                    let action = asked.request().name().to_string();
                    send(Msg::Drive(DriveReport::Progress(format!(
                        "{}: it goes first",
                        asked.asker()
                    ))))
                    .await;
                    let under_way = in_flight.as_ref().map(|f| f.work.clone());
                    match under_way.as_ref().map(|w| arrival(w, &asked.request())) {
                        None => {
                            send(Msg::Drive(DriveReport::Started { action })).await;
                            in_flight = Some(begin(Work::Asked(asked), None, last_view.as_ref()));
                        }
                        Some(Arrival::Preempts) => {
                            drop(in_flight.take());
                            let by = asked.asker();
                            let cancelled = under_way.map(|w| w.name()).unwrap_or_default();
                            send(Msg::Drive(DriveReport::Cancelled {
                                action: cancelled.clone(),
                                by: by.clone(),
                            }))
                            .await;
                            send(Msg::Drive(DriveReport::Started { action })).await;
                            waiting.queued.clear();
                            let cancels = Some(Cancels { action: cancelled, by, settle: false });
                            in_flight = Some(begin(Work::Asked(asked), cancels, last_view.as_ref()));
                        }
                        // The way back is under way already: the request is
                        // answered (or refused, recorded) once it has landed.
                        Some(_) => waiting.asked = Some(asked),
                    }
                    continue;
                }
                let Some(view) = &last_view else { continue };
                let overtaken = in_flight
                    .as_ref()
                    .is_some_and(|f| f.overtaken_by(&view.state));
                if overtaken && let Some(f) = in_flight.take() {
                    // Another driver went back: its writes win, ours stop.
                    let by = format!("the stored state: {}", view.state.describe());
                    send(Msg::Drive(DriveReport::Cancelled { action: f.work.name(), by: by.clone() })).await;
                    if let Err(e) = driver.cancelled(&f.work.name(), &by, false).await {
                        tracing::warn!(error = %e, "cannot record the cancelled step");
                    }
                }
                // A freeze set elsewhere: the driver at the helm pauses the
                // stage it stands at (the machine already stops moving on).
                let freeze_came = !was_frozen && view.state.freeze.is_some();
                if freeze_came && !read_only && helm.view().is_ours() && in_flight.is_none() && pausable(&view.state) {
                    send(Msg::Drive(DriveReport::Started { action: "pause".into() })).await;
                    in_flight = Some(begin(Work::Command(Command::Pause), None, last_view.as_ref()));
                }
            }
            _ = tick.tick() => {
                if in_flight.is_some() {
                    restamp(driver, &mut last_view, &msgs).await;
                    continue;
                }
                if let Some(event) = unacted.take() {
                    in_flight = Some(begin(Work::Finding(event), None, last_view.as_ref()));
                    continue;
                }
                let due = match &last_view {
                    Some(view) => driver.tick_due(&view.state),
                    // The last read failed: read again.
                    None => true,
                };
                if !due {
                    restamp(driver, &mut last_view, &msgs).await;
                    continue;
                }
                if last_view.is_none() {
                    refresh(driver, &mut last_view, &msgs).await;
                }
                in_flight = Some(begin(Work::Tick, None, last_view.as_ref()));
            }
        }
        if let (Some(link), Some(view)) = (&guards, last_view.as_ref()) {
            link.follow(&view.state);
        }
    }
    keeper.abort();
    if !read_only && helm.view().is_ours() {
        helm.release().await;
    }
}

/// The work that goes once the last has landed: a queued command first,
/// then a finding that waited.
async fn next<'a, S, F>(
    waiting: &mut Waiting,
    send: &S,
    begin: &impl Fn(Work, Option<Cancels>, Option<&RolloutView>) -> InFlight<'a>,
    last: Option<&RolloutView>,
) -> Option<InFlight<'a>>
where
    S: Fn(Msg) -> F,
    F: Future<Output = bool>,
{
    if let Some(asked) = waiting.asked.take() {
        send(Msg::Drive(DriveReport::Started {
            action: asked.request().name().to_string(),
        }))
        .await;
        return Some(begin(Work::Asked(asked), None, last));
    }
    if let Some(command) = waiting.queued.pop_front() {
        send(Msg::Drive(DriveReport::Started {
            action: command.name().to_string(),
        }))
        .await;
        return Some(begin(Work::Command(command), None, last));
    }
    let event = waiting.findings.pop_front()?;
    Some(begin(Work::Finding(event), None, last))
}

/// Tells the screen what a tick or a reaction to the guards did, if anything.
async fn report(
    result: Result<Option<Outcome>, DriveError>,
    action: &str,
    msgs: &mpsc::Sender<Msg>,
) {
    let report = match result {
        Ok(Some(Outcome { entry: Some(e), .. })) => DriveReport::Done {
            action: e.action,
            to: e.to,
        },
        Ok(_) => return,
        Err(e) => DriveReport::Failed {
            action: action.into(),
            reason: e.to_string(),
        },
    };
    let _ = msgs.send(Msg::Drive(report)).await;
}

/// Whether a pause would take: a stage moving on by itself.
fn pausable(state: &RolloutState) -> bool {
    matches!(
        state.phase,
        crate::rollout::Phase::Progressing { .. }
            | crate::rollout::Phase::Paused {
                by: crate::rollout::PausedBy::Timed { .. },
                ..
            }
    )
}

/// Reads the rollout again and shows it if it changed; the way back asked
/// by someone not at the helm, if one is stored.
async fn refresh(
    driver: &Driver,
    last: &mut Option<RolloutView>,
    msgs: &mpsc::Sender<Msg>,
) -> Option<Asked> {
    match driver.load().await {
        Ok(loaded) => {
            let revisions = driver.revision_rows().await;
            let view = view_of(&loaded.rollout, revisions, clock_skew(driver));
            if last.as_ref() != Some(&view) {
                *last = Some(view.clone());
                let _ = msgs.send(Msg::Rollout(Box::new(view))).await;
            }
            loaded.asked
        }
        Err(e) => {
            let _ = msgs
                .send(Msg::Drive(DriveReport::Failed {
                    action: "read state".into(),
                    reason: e.to_string(),
                }))
                .await;
            None
        }
    }
}

/// Shows the rollout against the driver's clock as it is now: a simulated
/// cluster's clock runs faster than the wall's, and times left are read off it.
async fn restamp(driver: &Driver, last: &mut Option<RolloutView>, msgs: &mpsc::Sender<Msg>) {
    let Some(view) = last else { return };
    let skew = clock_skew(driver);
    if view.clock_skew != skew {
        view.clock_skew = skew;
        let _ = msgs.send(Msg::Rollout(Box::new(view.clone()))).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rollout::guards::{Alarm, GuardMetric};

    #[test]
    fn the_tick_is_a_second_of_the_clusters_time_within_bounds() {
        assert_eq!(tick_period(1.0), TICK);
        assert_eq!(tick_period(0.5), TICK);
        assert_eq!(tick_period(f64::NAN), TICK);
        assert_eq!(tick_period(10.0), Duration::from_millis(100));
        assert_eq!(tick_period(20.0), MIN_TICK);
        assert_eq!(tick_period(1000.0), MIN_TICK);
    }

    fn abort() -> Command {
        Command::Abort {
            mode: Some(RollbackMode::Immediate),
        }
    }

    fn rollback() -> Command {
        Command::Abort {
            mode: Some(RollbackMode::Gradual),
        }
    }

    fn alarm(action: GuardAction) -> Event {
        Event::GuardFired(Alarm {
            guard: "checkout 5xx".into(),
            metric: GuardMetric::ErrorRatio,
            action,
            value: 0.08,
            threshold: 0.05,
            since: chrono::DateTime::from_timestamp(1_700_000_000, 0).unwrap(),
            held_for: Duration::from_secs(120),
        })
    }

    #[test]
    fn the_way_back_preempts_any_step_and_a_pause_waits_its_turn() {
        for under_way in [
            Work::Command(Command::Advance),
            Work::Command(Command::PromoteFull),
            Work::Command(Command::Start { image: None }),
            Work::Tick,
            Work::Finding(alarm(GuardAction::Hold)),
        ] {
            assert_eq!(
                arrival(&under_way, &abort()),
                Arrival::Preempts,
                "{under_way:?}"
            );
            assert_eq!(
                arrival(&under_way, &rollback()),
                Arrival::Preempts,
                "{under_way:?}"
            );
            assert_eq!(arrival(&under_way, &Command::Pause), Arrival::Queued);
        }
        let Arrival::Refused(why) = arrival(&Work::Command(Command::Advance), &Command::Resume)
        else {
            panic!("a second step is not refused");
        };
        assert_eq!(why, "advance is landing: wait for it to land, or abort");
        assert_eq!(arrival(&Work::Tick, &Command::Advance), Arrival::Queued);
        assert_eq!(
            arrival(&Work::Finding(alarm(GuardAction::Hold)), &Command::Resume),
            Arrival::Queued
        );
    }

    #[test]
    fn an_immediate_abort_overtakes_a_gradual_rollback_but_not_the_reverse() {
        let gradual = Work::Command(rollback());
        assert_eq!(arrival(&gradual, &abort()), Arrival::Preempts);
        assert!(matches!(
            arrival(&gradual, &rollback()),
            Arrival::Refused(_)
        ));
        let immediate = Work::Command(abort());
        assert!(matches!(
            arrival(&immediate, &rollback()),
            Arrival::Refused(_)
        ));
        let Arrival::Refused(why) = arrival(&immediate, &abort()) else {
            panic!("a second abort restarts the first");
        };
        assert_eq!(why, "already going back: abort is under way");
        let guard_back = Work::Finding(alarm(GuardAction::GradualRollback));
        assert_eq!(arrival(&guard_back, &abort()), Arrival::Preempts);
    }

    #[test]
    fn only_a_step_forward_is_overtaken_by_a_way_back_stored_meanwhile() {
        let plan = crate::rollout::fixtures::canary(r"[{ weight = 10 }, { weight = 100 }]", "");
        let at = chrono::DateTime::from_timestamp(1_700_000_000, 0).unwrap();
        let start = Event::Start {
            image: None,
            active_slot: None,
        };
        let running = crate::rollout::machine::step(&RolloutState::new(&plan, false), start, at)
            .unwrap()
            .state;
        let aborted = crate::rollout::machine::step(
            &running,
            Event::Abort {
                mode: None,
                reason: "by bo".into(),
            },
            at,
        )
        .unwrap()
        .state;
        let flight = |work: Work, began_going_back: bool| InFlight {
            work,
            began_going_back,
            landing: Box::pin(async { Ok(None) }),
        };
        assert!(flight(Work::Command(Command::Advance), false).overtaken_by(&aborted));
        assert!(!flight(Work::Command(Command::Advance), false).overtaken_by(&running));
        // Its own doing, or no news.
        assert!(!flight(Work::Command(abort()), false).overtaken_by(&aborted));
        assert!(!flight(Work::Finding(alarm(GuardAction::Hold)), false).overtaken_by(&aborted));
        assert!(!flight(Work::Tick, true).overtaken_by(&aborted));
        // A retry sent before the loop's first read is no step overtaken by
        // the abort it retries.
        let view = |state: &RolloutState| {
            view_of(
                &crate::rollout::history::StoredRollout::new(state.clone()),
                Vec::new(),
                chrono::TimeDelta::zero(),
            )
        };
        assert!(began_going_back(None));
        assert!(began_going_back(Some(&view(&aborted))));
        assert!(!began_going_back(Some(&view(&running))));
    }

    #[test]
    fn an_acting_alarm_cancels_a_step_but_a_notice_or_a_verdict_waits() {
        let advance = Work::Command(Command::Advance);
        assert!(finding_preempts(&advance, &alarm(GuardAction::Hold)));
        assert!(finding_preempts(&advance, &alarm(GuardAction::Rollback)));
        assert!(!finding_preempts(&advance, &alarm(GuardAction::Notify)));
        let verdict = Event::Verdict {
            stage: 0,
            verdict: crate::rollout::Verdict::unreachable(
                "Prometheus unreachable",
                chrono::DateTime::from_timestamp(1_700_000_000, 0).unwrap(),
            ),
        };
        assert!(!finding_preempts(&advance, &verdict));
        // A rollback guard does not wait for a gradual rollback to finish;
        // a hold has nothing to add to an abort.
        let gradual = Work::Command(rollback());
        assert!(finding_preempts(&gradual, &alarm(GuardAction::Rollback)));
        assert!(!finding_preempts(
            &Work::Command(abort()),
            &alarm(GuardAction::Rollback)
        ));
        assert!(!finding_preempts(
            &gradual,
            &alarm(GuardAction::GradualRollback)
        ));
    }
}
