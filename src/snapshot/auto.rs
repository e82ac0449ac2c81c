//! A snapshot when a guard rolls the rollout back: taken beside the loop,
//! never in its way, so the way back is not delayed by a second of it.
//! The path goes to the screen (or the run's progress lines) and into a
//! Kubernetes Event on the app.
//!
//! A process that ends right after the rollback (`flightdeck run`) waits
//! for the snapshots still being written ([`finish`]) before it exits; one
//! that ended before its loop saw the rollback land takes it then
//! ([`written`]).

use std::path::PathBuf;
use std::sync::{Arc, Mutex, OnceLock, PoisonError};
use std::time::Duration;

use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use super::collect::{self, Options};
use crate::app::msg::{DriveReport, Msg};
use crate::cluster::record::{Subject, emit};
use crate::driver::Driver;
use crate::rollout::guards::Alarm;
use crate::rollout::plan::Plan;
use crate::rollout::state::{Phase, RolloutState};

/// What the process knows that the driver does not: the plan file and the
/// metrics source, set once by the command that starts the loop.
#[derive(Debug, Clone, Default)]
pub struct Context {
    pub plan_text: Option<String>,
    pub prometheus: Option<String>,
    /// Where bundles go (default: `$XDG_STATE_HOME/flightdeck/snapshots`;
    /// see [`beside`]).
    pub dir: Option<PathBuf>,
}

static CONTEXT: OnceLock<Context> = OnceLock::new();
static WRITING: Mutex<Vec<JoinHandle<String>>> = Mutex::new(Vec::new());

/// Tells later snapshots of this process the plan's text and the metrics source.
pub fn set_context(context: Context) {
    let _ = CONTEXT.set(context);
}

/// `snapshots/` beside an audit file named on the command line, so a
/// pipeline's (or a test's) bundles stay with its audit file.
pub fn beside(audit: Option<&std::path::Path>) -> Option<PathBuf> {
    let dir = audit?.parent()?;
    Some(if dir.as_os_str().is_empty() {
        PathBuf::from("snapshots")
    } else {
        dir.join("snapshots")
    })
}

/// The folder bundles go to when none is given.
pub fn default_dir() -> PathBuf {
    crate::config::dirs::state_dir()
        .unwrap_or_else(std::env::temp_dir)
        .join("snapshots")
}

/// Called where the loop records a guard's finding: when it sent the
/// rollout back, a snapshot is taken in the background.
pub fn on_guard_finding(
    driver: &Arc<Driver>,
    alarm: &Alarm,
    state: &RolloutState,
    msgs: &mpsc::Sender<Msg>,
) {
    if !matches!(
        state.phase,
        Phase::RollingBack { .. } | Phase::Aborted { .. }
    ) {
        return;
    }
    let client = driver.client().clone();
    let plan = driver.plan().clone();
    let by = format!("{} (flightdeck auto)", driver.actor().os_user);
    let msgs = msgs.clone();
    let reason = format!("rolled back by guard {alarm}");
    let task = tokio::spawn(async move {
        let line = written(&client, &plan, &by, &reason).await;
        let _ = msgs
            .send(Msg::Drive(DriveReport::Progress(line.clone())))
            .await;
        line
    });
    let mut writing = WRITING.lock().unwrap_or_else(PoisonError::into_inner);
    writing.retain(|t| !t.is_finished());
    writing.push(task);
}

/// Takes a snapshot of `plan`'s app now, tells the cluster where it went
/// (an Event), and says so in a line: its path, or why there is none.
pub async fn written(client: &kube::Client, plan: &Plan, by: &str, reason: &str) -> String {
    match take(client, plan, by, reason).await {
        Ok(path) => {
            let message = format!("snapshot written: {}", path.display());
            event(client, plan, &message).await;
            message
        }
        Err(e) => format!("cannot write the snapshot: {e}"),
    }
}

async fn take(
    client: &kube::Client,
    plan: &Plan,
    by: &str,
    reason: &str,
) -> std::io::Result<PathBuf> {
    let context = CONTEXT.get().cloned().unwrap_or_default();
    let clock = crate::cluster::clock::Clock::of_cluster(client).await;
    let opts = Options {
        plan_text: context.plan_text,
        prometheus: context.prometheus,
        reason: reason.to_string(),
        by: by.to_string(),
    };
    let bundle = collect::collect(client, plan, &clock, &opts).await;
    let dir = context.dir.unwrap_or_else(default_dir);
    tokio::task::spawn_blocking(move || collect::write(&dir, &bundle))
        .await
        .map_err(std::io::Error::other)?
}

/// A Normal Event `RolloutSnapshot` on the app's primary Deployment.
async fn event(client: &kube::Client, plan: &Plan, message: &str) {
    let primary = crate::driver::targets::Targets::of(plan).primary();
    let uid = crate::driver::rest::get(client, &primary)
        .await
        .ok()
        .and_then(|d| Some(d.pointer("/metadata/uid")?.as_str()?.to_string()));
    let subject = Subject {
        api_version: primary.kind.api_version(),
        kind: primary.kind.kind.to_string(),
        namespace: primary.namespace.clone(),
        name: primary.name.clone(),
        uid,
    };
    if let Err(e) = emit(client.clone(), &subject, "RolloutSnapshot", message, false).await {
        tracing::warn!(error = %e, "cannot record the snapshot as a Kubernetes Event");
    }
}

/// Waits (at most `limit`) for the snapshots still being written; what
/// became of each (its path, or why it could not be written).
pub async fn finish(limit: Duration) -> Vec<String> {
    let tasks: Vec<JoinHandle<String>> =
        std::mem::take(&mut *WRITING.lock().unwrap_or_else(PoisonError::into_inner));
    match tokio::time::timeout(limit, futures::future::join_all(tasks)).await {
        Ok(done) => done.into_iter().filter_map(Result::ok).collect(),
        Err(_) => vec![format!(
            "a snapshot was still being written after {}; it may be incomplete",
            crate::units::format_duration(limit)
        )],
    }
}
