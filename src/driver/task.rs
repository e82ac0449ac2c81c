//! The driver as the cockpit runs it: a task fed [`Command`]s over a channel
//! that reports into the UI's [`Msg`] queue. While a command runs it keeps
//! reporting where the rollout stands, so the screen follows every step.
//! Between commands it shows the rollout again whenever its state ConfigMap
//! changes (a watch, so another cockpit's step shows at once), ticks the
//! machine (only at the helm) when something is due, and acts on what the
//! guards find: their states go to the screen, their alarms and verdicts to
//! the stage machine. At rest it reads nothing but that watch.

use std::time::Duration;

use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use futures::{Stream, StreamExt};
use k8s_openapi::api::core::v1::ConfigMap;
use kube::Api;
use kube::runtime::watcher;

use super::guarded::{GuardLink, Unacted};
use super::helm::HelmView;
use super::status::RevisionRow;
use super::{Command, DriveError, Driver, Outcome};
use crate::app::msg::{DriveReport, Msg, RolloutView};
use crate::app::state::Helm;
use crate::rollout::history::{ActionResult, StoredRollout};
use crate::workers::guard_watch::GuardFact;
use crate::workers::watch::relisting;

/// Commands waiting for the driver; the UI never blocks on a full queue.
const QUEUE: usize = 16;
/// How often the stored state is read again and time moves the machine on.
const TICK: Duration = Duration::from_secs(1);

/// The running driver: send it commands; dropping the sender stops it and
/// lets go of the helm.
pub struct DriverTask {
    pub commands: mpsc::Sender<Command>,
    pub handle: JoinHandle<()>,
}

/// Starts the driver; with `guards`, it also acts on their findings.
pub fn spawn(driver: Driver, msgs: mpsc::Sender<Msg>, guards: Option<GuardLink>) -> DriverTask {
    let (commands, rx) = mpsc::channel(QUEUE);
    let handle = tokio::spawn(run(driver, rx, msgs, guards));
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

async fn run(
    driver: Driver,
    mut commands: mpsc::Receiver<Command>,
    msgs: mpsc::Sender<Msg>,
    mut guards: Option<GuardLink>,
) {
    let read_only = driver.read_only();
    let helm = driver.helm().clone();
    let keeper = if read_only {
        helm.spawn_observer(driver.client().clone(), driver.plan().namespace.clone())
    } else {
        helm.spawn_keeper()
    };
    let mut helm_rx = helm.subscribe();
    let mut tick = tokio::time::interval(TICK);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    let mut last_view: Option<RolloutView> = None;
    let mut changes = std::pin::pin!(state_changes(&driver));
    let mut unacted = Unacted::default();
    let send = |msg: Msg| {
        let msgs = msgs.clone();
        async move { msgs.send(msg).await.is_ok() }
    };
    loop {
        tokio::select! {
            command = commands.recv() => {
                let Some(command) = command else { break };
                let action = command.name().to_string();
                send(Msg::Drive(DriveReport::Started { action: action.clone() })).await;
                let result = {
                    let exec = driver.execute(command);
                    tokio::pin!(exec);
                    loop {
                        tokio::select! {
                            r = &mut exec => break r,
                            _ = tick.tick() => {
                                refresh(&driver, &mut last_view, &msgs).await;
                            }
                        }
                    }
                };
                let report = match result {
                    Ok(outcome) => DriveReport::Done { action, to: outcome.state.describe() },
                    Err(e) => DriveReport::Failed { action, reason: e.to_string() },
                };
                send(Msg::Drive(report)).await;
                refresh(&driver, &mut last_view, &msgs).await;
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
                let action = event.name();
                let result = driver.react(event.clone()).await;
                if result.is_err() {
                    unacted.keep(event);
                }
                report(result, action, &msgs).await;
                refresh(&driver, &mut last_view, &msgs).await;
            }
            changed = helm_rx.changed() => {
                if changed.is_err() { break; }
                let view = helm_rx.borrow_and_update().clone();
                send(Msg::Helm(helm_for_header(&view, read_only))).await;
            }
            Some(()) = changes.next() => {
                refresh(&driver, &mut last_view, &msgs).await;
            }
            _ = tick.tick() => {
                if unacted.is_waiting() {
                    report(unacted.retry(&driver).await, "guard-fired", &msgs).await;
                }
                let due = match &last_view {
                    Some(view) => driver.tick_due(&view.state),
                    // The last read failed: read again.
                    None => true,
                };
                if !due {
                    restamp(&driver, &mut last_view, &msgs).await;
                    continue;
                }
                report(driver.tick().await, "tick", &msgs).await;
                refresh(&driver, &mut last_view, &msgs).await;
            }
        }
        if let (Some(link), Some(view)) = (&guards, &last_view) {
            link.follow(&view.state);
        }
    }
    keeper.abort();
    if !read_only && helm.view().is_ours() {
        helm.release().await;
    }
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

/// Reads the rollout again and shows it if it changed.
async fn refresh(driver: &Driver, last: &mut Option<RolloutView>, msgs: &mpsc::Sender<Msg>) {
    match driver.load().await {
        Ok(loaded) => {
            let revisions = driver.revision_rows().await;
            let view = view_of(&loaded.rollout, revisions, clock_skew(driver));
            if last.as_ref() != Some(&view) {
                *last = Some(view.clone());
                let _ = msgs.send(Msg::Rollout(Box::new(view))).await;
            }
        }
        Err(e) => {
            let _ = msgs
                .send(Msg::Drive(DriveReport::Failed {
                    action: "read state".into(),
                    reason: e.to_string(),
                }))
                .await;
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
