//! Setting and lifting an incident freeze. Any process may do it, helm or
//! not (an on-call engineer freezes from a laptop while a cockpit drives):
//! only the freeze's own key of the state ConfigMap is written, and every
//! driver reads it with the rollout (see [`crate::rollout::freeze`] for
//! what it refuses). Freezing is recorded (audit line and Event), writes a
//! snapshot bundle, and pauses the rollout when the helm is free or ours; a
//! driver at the helm elsewhere stops moving on as soon as its watch of the
//! ConfigMap reads the freeze.

use super::{Command, DriveError, Driver, Outcome};
use crate::rollout::freeze::Freeze;
use crate::rollout::machine::Refusal;
use crate::rollout::state::Phase;

/// The ConfigMap key it is kept under.
pub const KEY: &str = "freeze.json";

/// What setting or lifting a freeze did.
#[derive(Debug, Clone, PartialEq)]
pub struct Frozen {
    /// The freeze now in force (`None` once lifted).
    pub freeze: Option<Freeze>,
    /// Where the rollout stands afterwards.
    pub state: String,
    /// The snapshot's path (or why there is none), for a freeze.
    pub snapshot: Option<String>,
}

impl Driver {
    /// Freezes the rollout for `reason`.
    pub async fn freeze(&self, reason: &str) -> Result<Frozen, DriveError> {
        if self.settings.read_only {
            return Err(DriveError::ReadOnly);
        }
        let reason = reason.trim();
        if reason.is_empty() {
            return Err(Refusal("a freeze needs a reason, for whoever meets it".into()).into());
        }
        let loaded = self.load().await?;
        if let Some(f) = &loaded.rollout.state.freeze {
            return Err(Refusal(format!("already frozen by {}", f.describe())).into());
        }
        let freeze = Freeze {
            by: self.actor.clone(),
            reason: reason.to_string(),
            at: self.now(),
        };
        if !self.store.set_freeze(&self.client, Some(&freeze)).await? {
            return Err(Refusal("the rollout has not started: nothing to freeze".into()).into());
        }
        let state = loaded.rollout.state.describe();
        self.record(self.entry(
            "freeze",
            &state,
            &state,
            Some(reason.to_string()),
            freeze.at,
        ))
        .await?;
        self.pause_if_free().await;
        let snapshot = crate::snapshot::auto::written(
            &self.client,
            &self.plan,
            &self.actor.os_user,
            &format!("frozen: {reason}"),
        )
        .await;
        Ok(Frozen {
            freeze: Some(freeze),
            state: self.load().await?.rollout.state.describe(),
            snapshot: Some(snapshot),
        })
    }

    /// Lifts the freeze; the rollout stays where it is (paused, if the
    /// freeze paused it) until someone moves it on.
    pub async fn unfreeze(&self) -> Result<Frozen, DriveError> {
        if self.settings.read_only {
            return Err(DriveError::ReadOnly);
        }
        let loaded = self.load().await?;
        let Some(was) = loaded.rollout.state.freeze.as_deref().cloned() else {
            return Err(Refusal("not frozen: nothing to unfreeze".into()).into());
        };
        self.store.set_freeze(&self.client, None).await?;
        let state = loaded.rollout.state.describe();
        self.record(self.entry(
            "unfreeze",
            &state,
            &state,
            Some(format!("lifted the freeze by {}", was.describe())),
            self.now(),
        ))
        .await?;
        Ok(Frozen {
            freeze: None,
            state,
            snapshot: None,
        })
    }

    /// A freeze or unfreeze from a cockpit's key: the snapshot's path goes
    /// to the progress lines, where the cockpit shows it.
    pub(super) async fn freeze_as_command(&self, command: &Command) -> Result<Outcome, DriveError> {
        let frozen = match command {
            Command::Freeze { reason } => self.freeze(reason).await?,
            _ => self.unfreeze().await?,
        };
        if let Some(line) = &frozen.snapshot {
            (self.settings.progress)(line.clone());
        }
        let state = self.load().await?.rollout.state;
        Ok(Outcome { state, entry: None })
    }

    /// Pauses a running rollout when nobody else holds the helm; one that
    /// cannot be paused (a manual stage already waits, a rollback runs) or
    /// a helm held elsewhere is left as it is: the freeze alone holds it.
    async fn pause_if_free(&self) {
        let running = self.load().await.is_ok_and(|l| {
            matches!(
                l.rollout.state.phase,
                Phase::Progressing { .. } | Phase::Paused { .. }
            )
        });
        if !running {
            return;
        }
        match self.execute(Command::Pause).await {
            Ok(_) | Err(DriveError::Refused(_) | DriveError::HelmHeld(_)) => {}
            Err(e) => tracing::warn!(error = %e, "the freeze is set; cannot pause the rollout"),
        }
    }
}
