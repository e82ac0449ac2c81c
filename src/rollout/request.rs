//! What a captain (or a script) asks of a rollout: the keys and the CLI
//! verbs both come down to one of these, and the driver carries it out.

use std::fmt;

use super::plan::RollbackMode;

/// What the captain (or a script) asks the driver to do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Request {
    /// Begin a rollout (a new one when the last has finished).
    Start {
        image: Option<String>,
    },
    Advance,
    Pause,
    Resume,
    /// Skip the remaining stages.
    PromoteFull,
    /// Roll back: immediate (all traffic to stable at once) or gradual; `None`
    /// is the plan's default.
    Abort {
        mode: Option<RollbackMode>,
    },
    /// Start an aborted rollout again.
    Retry,
    /// Rolling: back to a revision (`None`: the previous one).
    Undo {
        revision: Option<u64>,
    },
    /// Take the helm from whoever holds it.
    TakeHelm,
    /// Freeze the rollout for an incident (see [`super::freeze`]).
    Freeze {
        reason: String,
    },
    /// Lift the freeze.
    Unfreeze,
}

impl Request {
    pub fn name(&self) -> &'static str {
        match self {
            Request::Start { .. } => "start",
            Request::Advance => "advance",
            Request::Pause => "pause",
            Request::Resume => "resume",
            Request::PromoteFull => "promote",
            Request::Abort {
                mode: Some(RollbackMode::Gradual),
            } => "rollback",
            Request::Abort { .. } => "abort",
            Request::Retry => "retry",
            Request::Undo { .. } => "undo",
            Request::TakeHelm => "take-helm",
            Request::Freeze { .. } => "freeze",
            Request::Unfreeze => "unfreeze",
        }
    }

    /// Whether a person must confirm it first.
    pub fn is_destructive(&self) -> bool {
        matches!(
            self,
            Request::PromoteFull
                | Request::Abort { .. }
                | Request::Undo { .. }
                | Request::TakeHelm
                | Request::Freeze { .. }
                | Request::Unfreeze
        )
    }

    /// What the confirmation asks.
    pub fn question(&self) -> String {
        match self {
            Request::PromoteFull => {
                "Promote fully: send all traffic to the new version now?".into()
            }
            Request::Abort {
                mode: Some(RollbackMode::Gradual),
            } => "Roll back gradually, stepping the weights back down?".into(),
            Request::Abort { .. } => "Abort: send all traffic back to stable at once?".into(),
            Request::Undo { revision: Some(r) } => format!("Undo the Deployment to revision {r}?"),
            Request::Undo { revision: None } => {
                "Undo the Deployment to its previous revision?".into()
            }
            Request::TakeHelm => "Take the helm from the cockpit that holds it?".into(),
            Request::Freeze { reason } => format!(
                "Freeze the rollout ({reason}): pause it and refuse every step forward until unfreeze?"
            ),
            Request::Unfreeze => "Unfreeze the rollout: allow it to move on again?".into(),
            other => format!("{}?", other.name()),
        }
    }
}

impl fmt::Display for Request {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}
