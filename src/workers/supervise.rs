//! Knowing when a worker dies. A panic inside a tokio task is caught by tokio
//! and only shows as the task's `JoinError`; nothing would tell the cockpit,
//! which would go on drawing a screen with a dead pane. Every worker is
//! spawned here with a small watcher that turns such a panic into a
//! [`Death`] for the event loop, which then ends the cockpit with the
//! worker's name.
//!
//! `FLIGHTDECK_FAULT_PANIC=<worker>[@<delay>]` (e.g. `logs@2s`) makes the
//! named worker panic `delay` after it starts (at once without one): a test
//! hook for that path, read once when each worker is spawned.

use std::any::Any;
use std::future::Future;
use std::time::Duration;

use tokio::sync::mpsc;
use tokio::task::{AbortHandle, JoinHandle};

/// The variable naming the worker made to panic (tests).
pub const FAULT_PANIC: &str = "FLIGHTDECK_FAULT_PANIC";

/// A worker that ended by panicking.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Death {
    pub worker: &'static str,
    /// The panic's message, when it carried one.
    pub message: String,
}

impl std::fmt::Display for Death {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "the {} worker panicked: {}", self.worker, self.message)
    }
}

impl std::error::Error for Death {}

/// Spawns workers and reports their deaths to whoever holds the receiver.
#[derive(Clone)]
pub struct Supervisor {
    deaths: mpsc::UnboundedSender<Death>,
}

impl Supervisor {
    pub fn new() -> (Self, mpsc::UnboundedReceiver<Death>) {
        let (deaths, rx) = mpsc::unbounded_channel();
        (Self { deaths }, rx)
    }

    /// Spawns `work` as the worker `name`; the handle stops it.
    pub fn spawn<F>(&self, name: &'static str, work: F) -> AbortHandle
    where
        F: Future<Output = ()> + Send + 'static,
    {
        let fault = fault_for(name, std::env::var(FAULT_PANIC).ok().as_deref());
        let task = tokio::spawn(async move {
            if let Some(after) = fault {
                tokio::time::sleep(after).await;
                panic!("{FAULT_PANIC} asked the {name} worker to panic");
            }
            work.await;
        });
        let abort = task.abort_handle();
        self.watch(name, task);
        abort
    }

    /// Reports `task`'s panic, if it ends by one, as the worker `name`'s.
    pub fn watch(&self, name: &'static str, task: JoinHandle<()>) {
        let deaths = self.deaths.clone();
        tokio::spawn(async move {
            let Err(e) = task.await else { return };
            // Cancelled: stopped on purpose, when the cockpit closes.
            let Ok(payload) = e.try_into_panic() else {
                return;
            };
            let death = Death {
                worker: name,
                message: panic_message(payload.as_ref()),
            };
            tracing::error!("{death}");
            let _ = deaths.send(death);
        });
    }
}

/// The text a panic was raised with.
pub fn panic_message(payload: &(dyn Any + Send)) -> String {
    if let Some(s) = payload.downcast_ref::<&str>() {
        (*s).to_string()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "a panic without a message".to_string()
    }
}

/// Whether the fault hook's value `spec` names `worker`, and after how long.
fn fault_for(worker: &str, spec: Option<&str>) -> Option<Duration> {
    let (name, delay) = match spec?.split_once('@') {
        Some((name, delay)) => (name, crate::units::parse_duration(delay).ok()?),
        None => (spec?, Duration::ZERO),
    };
    (name.trim() == worker).then_some(delay)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_fault_hook_names_one_worker_with_an_optional_delay() {
        assert_eq!(fault_for("logs", Some("logs")), Some(Duration::ZERO));
        assert_eq!(
            fault_for("logs", Some("logs@2s")),
            Some(Duration::from_secs(2))
        );
        assert_eq!(fault_for("pods", Some("logs@2s")), None);
        assert_eq!(fault_for("logs", Some("logs@soon")), None);
        assert_eq!(fault_for("logs", None), None);
    }

    #[tokio::test]
    async fn a_panicking_worker_is_reported_by_name_and_a_stopped_one_is_not() {
        let (supervisor, mut deaths) = Supervisor::new();
        supervisor.spawn("events", async { panic!("watch stream broke: {}", 42) });
        let stopped = supervisor.spawn("pods", std::future::pending());
        stopped.abort();
        supervisor.spawn("traffic", async {});
        drop(supervisor);
        let death = deaths.recv().await.unwrap();
        assert_eq!(death.worker, "events");
        assert_eq!(
            death.to_string(),
            "the events worker panicked: watch stream broke: 42"
        );
        assert_eq!(deaths.recv().await, None, "only the panic is reported");
    }
}
