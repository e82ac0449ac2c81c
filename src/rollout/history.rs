//! What is stored on the cluster: the rollout's state and a bounded history
//! of who did what, so a restarted or a second cockpit resumes at the same
//! stage and tells the same story.
//!
//! It is one JSON document, small enough for an annotation on the app's
//! stable Deployment (or a key of a ConfigMap owned by it). Only the newest
//! [`HISTORY_LIMIT`] entries are kept: annotations are capped at 256 KiB in
//! all, and a rollout's story needs its recent steps, not every tick.

use std::collections::VecDeque;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::analysis::Verdict;
use super::machine::Record;
use super::state::RolloutState;

/// The annotation (or ConfigMap key) holding the stored rollout.
pub const ANNOTATION: &str = "flightdeck.dev/rollout";

/// Entries kept; older ones are dropped first.
pub const HISTORY_LIMIT: usize = 50;

/// The format of [`StoredRollout`]; bumped when it changes incompatibly.
pub const FORMAT: u32 = 1;

/// The ConfigMap that holds an app's rollout when annotations will not do.
pub fn configmap_name(app: &str) -> String {
    format!("{app}-flightdeck-rollout")
}

/// Who acted: the identity the cluster sees and the person at the keyboard.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Actor {
    /// The kubeconfig user (or service account) of the context in use.
    pub kube_user: String,
    /// The operating-system user running the cockpit.
    pub os_user: String,
}

impl Actor {
    /// The cockpit itself acting (a guard, a timer) on behalf of whoever drives.
    pub fn automatic(driver: &Actor) -> Actor {
        Actor {
            kube_user: driver.kube_user.clone(),
            os_user: format!("{} (flightdeck auto)", driver.os_user),
        }
    }
}

/// How carrying out a transition went.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", tag = "result")]
pub enum ActionResult {
    Done,
    Failed {
        reason: String,
    },
    /// Given up before it landed, because something that goes first came
    /// (an abort, a guard, another driver).
    Cancelled {
        by: String,
    },
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HistoryEntry {
    pub at: DateTime<Utc>,
    pub who: Actor,
    pub action: String,
    pub from: String,
    pub to: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
    #[serde(flatten)]
    pub result: ActionResult,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub verdict: Option<Verdict>,
}

impl HistoryEntry {
    pub fn new(record: Record, who: Actor, at: DateTime<Utc>, result: ActionResult) -> Self {
        HistoryEntry {
            at,
            who,
            action: record.action,
            from: record.from,
            to: record.to,
            detail: record.detail,
            result,
            verdict: record.verdict,
        }
    }
}

/// The newest entries, oldest first.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct History {
    entries: VecDeque<HistoryEntry>,
}

impl History {
    pub fn push(&mut self, entry: HistoryEntry) {
        while self.entries.len() >= HISTORY_LIMIT {
            self.entries.pop_front();
        }
        self.entries.push_back(entry);
    }

    pub fn entries(&self) -> impl DoubleEndedIterator<Item = &HistoryEntry> {
        self.entries.iter()
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("the stored rollout is not valid JSON for this flightdeck: {0}")]
    Invalid(#[from] serde_json::Error),
    #[error("the stored rollout has format {found}; this flightdeck reads format {FORMAT}")]
    Format { found: u32 },
}

/// The document kept on the cluster.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StoredRollout {
    pub format: u32,
    pub state: RolloutState,
    #[serde(default)]
    pub history: History,
}

impl StoredRollout {
    pub fn new(state: RolloutState) -> Self {
        StoredRollout {
            format: FORMAT,
            state,
            history: History::default(),
        }
    }

    pub fn to_json(&self) -> Result<String, StoreError> {
        Ok(serde_json::to_string(self)?)
    }

    /// Reads what another cockpit (or an older run) stored. The text comes
    /// from the cluster and is checked like any other input.
    pub fn from_json(text: &str) -> Result<Self, StoreError> {
        #[derive(Deserialize)]
        struct Peek {
            format: u32,
        }
        let peek: Peek = serde_json::from_str(text)?;
        if peek.format != FORMAT {
            return Err(StoreError::Format { found: peek.format });
        }
        Ok(serde_json::from_str(text)?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rollout::machine::{Event, step};
    use crate::rollout::plan::Plan;
    use chrono::TimeZone;

    fn plan() -> Plan {
        crate::rollout::fixtures::canary(r#"[{ weight = 10, pause = "1m" }, { weight = 100 }]"#, "")
    }

    fn captain() -> Actor {
        Actor {
            kube_user: "kind-admin".into(),
            os_user: "ana".into(),
        }
    }

    #[test]
    fn state_and_history_round_trip_through_json() {
        let now = Utc.with_ymd_and_hms(2026, 3, 1, 10, 0, 0).unwrap();
        let state = RolloutState::new(&plan(), false);
        let t = step(
            &state,
            Event::Start {
                image: Some("registry.local/shop/checkout:1.5.0".into()),
                active_slot: None,
            },
            now,
        )
        .unwrap();
        let mut stored = StoredRollout::new(t.state);
        stored.history.push(HistoryEntry::new(
            t.record.unwrap(),
            captain(),
            now,
            ActionResult::Done,
        ));
        let json = stored.to_json().unwrap();
        assert!(json.contains(r#""phase":"paused","stage":0"#), "{json}");
        assert!(
            json.contains(r#""weights":{"stable":90,"canary":10}"#),
            "{json}"
        );
        assert!(json.contains(r#""result":"done""#), "{json}");
        let back = StoredRollout::from_json(&json).unwrap();
        assert_eq!(back, stored);
    }

    #[test]
    fn history_keeps_only_the_newest() {
        let now = Utc.with_ymd_and_hms(2026, 3, 1, 10, 0, 0).unwrap();
        let mut h = History::default();
        for i in 0..(HISTORY_LIMIT + 7) {
            h.push(HistoryEntry {
                at: now,
                who: captain(),
                action: format!("a{i}"),
                from: String::new(),
                to: String::new(),
                detail: None,
                result: ActionResult::Failed {
                    reason: "409".into(),
                },
                verdict: None,
            });
        }
        assert_eq!(h.len(), HISTORY_LIMIT);
        assert_eq!(h.entries().next().unwrap().action, "a7");
        assert_eq!(
            h.entries().next_back().unwrap().action,
            format!("a{}", HISTORY_LIMIT + 6)
        );
        let json = serde_json::to_string(&h).unwrap();
        assert_eq!(serde_json::from_str::<History>(&json).unwrap(), h);
    }

    #[test]
    fn foreign_or_newer_documents_are_refused() {
        assert!(matches!(
            StoredRollout::from_json(r#"{"format":2}"#),
            Err(StoreError::Format { found: 2 })
        ));
        assert!(matches!(
            StoredRollout::from_json("not json"),
            Err(StoreError::Invalid(_))
        ));
    }
}
