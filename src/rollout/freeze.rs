//! An incident freeze: while one is set, nobody moves the rollout forward.
//! Advance, promote, resume, start and retry are refused from every
//! cockpit and verb, and time and passing verdicts stop moving stages on;
//! the ways back (abort, rollback, undo), a pause and the guards' own
//! actions stay allowed, because an incident is when they are wanted.
//!
//! The freeze is kept under its own key of the rollout's state ConfigMap
//! (written by whoever sets it, helm or not) and carried on the state the
//! machine sees, so every process that steps the machine obeys it. Pure.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::machine::{Event, Refusal};
use crate::workers::audit::Actor;

/// Who froze the rollout, why and when.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Freeze {
    pub by: Actor,
    pub reason: String,
    /// On the cluster's clock.
    pub at: DateTime<Utc>,
}

impl Freeze {
    pub fn parse(text: &str) -> Result<Self, serde_json::Error> {
        serde_json::from_str(text)
    }

    pub fn to_json(&self) -> String {
        // A struct of strings and a time always serialises.
        serde_json::to_string(self).unwrap_or_default()
    }

    /// "alice: checkout errors in EU (since 14:02)".
    pub fn describe(&self) -> String {
        format!(
            "{}: {} (since {})",
            self.by.os_user,
            self.reason,
            self.at.format("%H:%M")
        )
    }

    /// Why `event` is refused while frozen; `None` when it stays allowed.
    pub fn refusal(&self, event: &Event) -> Option<Refusal> {
        let moves_on = matches!(
            event,
            Event::Advance
                | Event::PromoteFull
                | Event::Resume
                | Event::Start { .. }
                | Event::Retry
        );
        moves_on.then(|| {
            Refusal(format!(
                "frozen by {}; unfreeze first: flightdeck unfreeze",
                self.describe()
            ))
        })
    }
}

#[cfg(test)]
#[path = "freeze_tests.rs"]
mod tests;
