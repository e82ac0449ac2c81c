//! The guards beside the driver: a [`guard_watch`] task told which stage is
//! being judged, whose findings (an alarm, a verdict) the driver acts on.
//! Both the cockpit's driver task and `flightdeck run` use this link.

use std::time::Duration;

use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;

use super::{DriveError, Driver, Outcome};
use crate::cluster::clock::Clock;
use crate::metrics::prometheus::{Prometheus, PrometheusError};
use crate::rollout::RolloutState;
use crate::rollout::machine::Event;
use crate::rollout::plan::Plan;
use crate::workers::guard_watch::{self, GuardFact, GuardSource, GuardWatch, StageWindow};

/// Findings waiting for the driver; the watcher waits past this.
const FACTS: usize = 256;

/// The running watcher: tell it the stage, read its findings. Dropping the
/// link stops it.
pub struct GuardLink {
    pub stage: watch::Sender<Option<StageWindow>>,
    pub facts: mpsc::Receiver<GuardFact>,
    task: JoinHandle<()>,
}

impl Drop for GuardLink {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl GuardLink {
    /// Starts the watch `config` describes ([`GuardWatch::for_plan`]).
    pub fn spawn(config: GuardWatch) -> Self {
        let (stage, stage_rx) = watch::channel(None);
        let (facts_tx, facts) = mpsc::channel(FACTS);
        let task = tokio::spawn(guard_watch::run(config, stage_rx, facts_tx));
        Self { stage, facts, task }
    }

    /// A link whose findings come from `facts` rather than a watcher of
    /// its own (a recorded run replayed, a test); the stage goes to the
    /// returned receiver.
    pub fn fed(facts: mpsc::Receiver<GuardFact>) -> (Self, watch::Receiver<Option<StageWindow>>) {
        let (stage, stage_rx) = watch::channel(None);
        let task = tokio::spawn(std::future::pending());
        (Self { stage, facts, task }, stage_rx)
    }

    /// Tells the watcher where the rollout stands now.
    pub fn follow(&self, state: &RolloutState) {
        let window = stage_window(state);
        self.stage.send_if_modified(|current| {
            let changed = *current != window;
            if changed {
                current.clone_from(&window);
            }
            changed
        });
    }
}

/// An alarm the driver could not act on (the API server refused or failed
/// the rollback's write). The watcher tells of an alarm once, when it fires,
/// so whoever drives tries it again on each tick until it lands.
#[derive(Debug, Default)]
pub struct Unacted(Option<Event>);

impl Unacted {
    /// Keeps `event` for another try if it is an alarm.
    pub fn keep(&mut self, event: Event) {
        if matches!(event, Event::GuardFired(_)) {
            self.0 = Some(event);
        }
    }

    pub fn is_waiting(&self) -> bool {
        self.0.is_some()
    }

    /// The kept alarm, for another try.
    pub fn take(&mut self) -> Option<Event> {
        self.0.take()
    }

    /// Tries the kept alarm again; keeps it when that fails too.
    pub async fn retry(&mut self, driver: &Driver) -> Result<Option<Outcome>, DriveError> {
        let Some(event) = self.0.take() else {
            return Ok(None);
        };
        let result = driver.react(event.clone()).await;
        if result.is_err() {
            self.0 = Some(event);
        }
        result
    }
}

/// The stage being judged, while one runs.
pub fn stage_window(state: &RolloutState) -> Option<StageWindow> {
    Some(StageWindow {
        stage: state.stage()?,
        began: state.stage_began?,
        weights: state.stage_weights()?,
    })
}

/// Where the guards read their numbers: Prometheus at `url` with the plan's
/// queries, else the pods themselves through the API server.
///
/// Rates are taken over a minute of the cluster's time, but never less than
/// 5 s of Prometheus' own (real) time, which `rate()` needs two scrapes in.
pub fn source(
    url: Option<&str>,
    plan: &Plan,
    clock: &Clock,
) -> Result<GuardSource, PrometheusError> {
    let Some(url) = url else {
        return Ok(GuardSource::PodProxy);
    };
    Ok(GuardSource::Prometheus {
        client: Box::new(Prometheus::new(url, Duration::from_secs(5))?),
        queries: plan.queries.clone(),
        window: clock
            .real(Duration::from_secs(60))
            .max(Duration::from_secs(5)),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rollout::Weights;
    use crate::rollout::fixtures;
    use crate::rollout::machine::{Event, step};

    #[test]
    fn the_window_is_the_running_stage_with_its_weights() {
        let plan = fixtures::canary(r#"[{ weight = 10, pause = "1m" }, { weight = 100 }]"#, "");
        let s = RolloutState::new(&plan, true);
        assert_eq!(stage_window(&s), None);
        let t = chrono::DateTime::from_timestamp(1_700_000_000, 0).unwrap();
        let started = step(
            &s,
            Event::Start {
                image: None,
                active_slot: None,
            },
            t,
        )
        .unwrap()
        .state;
        assert_eq!(
            stage_window(&started),
            Some(StageWindow {
                stage: 0,
                began: t,
                weights: Weights::canary(10),
            })
        );
        let aborted = step(
            &started,
            Event::Abort {
                mode: None,
                reason: "test".into(),
            },
            t,
        )
        .unwrap()
        .state;
        assert_eq!(stage_window(&aborted), None);
    }
}
