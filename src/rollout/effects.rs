//! What the driver must do to the cluster after a transition. Effects name
//! roles (the canary, a slot), not objects: the driver maps them to the
//! objects the plan names.

use std::fmt;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::plan::Slot;

/// A traffic split. The two sides always add up to 100: the only way to
/// build one is from the canary's share.
///
/// For blue-green, `stable` is the side traffic leaves and `canary` the slot
/// it moves to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "WeightsRepr", into = "WeightsRepr")]
pub struct Weights {
    canary: u8,
}

impl Weights {
    /// All traffic on stable.
    pub const ALL_STABLE: Weights = Weights { canary: 0 };
    /// All traffic on the canary.
    pub const ALL_CANARY: Weights = Weights { canary: 100 };

    /// The split giving the canary `percent` (clamped to 100).
    pub fn canary(percent: u8) -> Weights {
        Weights {
            canary: percent.min(100),
        }
    }

    pub fn canary_percent(self) -> u8 {
        self.canary
    }

    pub fn stable_percent(self) -> u8 {
        100 - self.canary
    }
}

impl fmt::Display for Weights {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "stable {}% / canary {}%",
            self.stable_percent(),
            self.canary
        )
    }
}

/// How weights are stored: both numbers, so the JSON on the cluster is
/// readable; checked on the way back in.
#[derive(Serialize, Deserialize)]
struct WeightsRepr {
    stable: u8,
    canary: u8,
}

impl From<Weights> for WeightsRepr {
    fn from(w: Weights) -> Self {
        WeightsRepr {
            stable: w.stable_percent(),
            canary: w.canary,
        }
    }
}

impl TryFrom<WeightsRepr> for Weights {
    type Error = String;

    fn try_from(r: WeightsRepr) -> Result<Self, Self::Error> {
        if u16::from(r.stable) + u16::from(r.canary) == 100 {
            Ok(Weights { canary: r.canary })
        } else {
            Err(format!(
                "weights must add up to 100, found stable {} and canary {}",
                r.stable, r.canary
            ))
        }
    }
}

/// Which Deployment an image change is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ImageTarget {
    /// The canary Deployment.
    Canary,
    /// A blue-green slot's Deployment.
    Slot(Slot),
    /// The rolling Deployment (its named container).
    Deployment,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", tag = "effect")]
pub enum Effect {
    /// Set the container image.
    SetImage { target: ImageTarget, image: String },
    /// Set the router's weights (for replica-ratio: the replica split).
    SetWeights { weights: Weights },
    /// Scale the canary Deployment.
    ScaleCanary { replicas: u32 },
    /// Bring a blue-green slot up to the active slot's replica count.
    ScaleUpSlot { slot: Slot },
    /// Point the preview Service (when the plan has one) at a slot.
    PointPreview { slot: Slot },
    /// Point the active Service's selector at a slot.
    SwitchSelector { slot: Slot },
    /// Scale a slot to zero once `after` has passed, unless a newer rollout
    /// needs it; keeping it up meanwhile makes the way back instant.
    ScaleDownSlot {
        slot: Slot,
        #[serde(with = "super::plan::duration_secs")]
        after: Duration,
    },
    /// Set or clear the Deployment's `spec.paused`.
    SetPaused { paused: bool },
    /// `kubectl rollout undo`: `None` is the previous revision.
    UndoTo { revision: Option<u64> },
    /// Copy the canary's pod template to the stable Deployment and wait
    /// until stable has rolled out: after this, stable runs the new version.
    PromoteStable,
}

impl fmt::Display for Effect {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Effect::SetImage { target, image } => match target {
                ImageTarget::Canary => write!(f, "set the canary's image to {image}"),
                ImageTarget::Slot(slot) => write!(f, "set the {slot} slot's image to {image}"),
                ImageTarget::Deployment => write!(f, "set the image to {image}"),
            },
            Effect::SetWeights { weights } => write!(f, "route {weights}"),
            Effect::ScaleCanary { replicas } => write!(f, "scale the canary to {replicas}"),
            Effect::ScaleUpSlot { slot } => write!(f, "scale up the {slot} slot"),
            Effect::PointPreview { slot } => write!(f, "point the preview at {slot}"),
            Effect::SwitchSelector { slot } => write!(f, "switch the active Service to {slot}"),
            Effect::ScaleDownSlot { slot, after } => write!(
                f,
                "scale down the {slot} slot in {}",
                crate::units::format_duration(*after)
            ),
            Effect::SetPaused { paused: true } => f.write_str("pause the Deployment"),
            Effect::SetPaused { paused: false } => f.write_str("resume the Deployment"),
            Effect::UndoTo { revision: None } => f.write_str("undo to the previous revision"),
            Effect::UndoTo { revision: Some(r) } => write!(f, "undo to revision {r}"),
            Effect::PromoteStable => f.write_str("roll the canary's template out to stable"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn weights_always_add_to_100() {
        for p in 0..=255u8 {
            let w = Weights::canary(p);
            assert_eq!(
                u16::from(w.stable_percent()) + u16::from(w.canary_percent()),
                100
            );
        }
    }

    #[test]
    fn weights_round_trip_and_reject_bad_sums() {
        let json = serde_json::to_string(&Weights::canary(25)).unwrap();
        assert_eq!(json, r#"{"stable":75,"canary":25}"#);
        assert_eq!(
            serde_json::from_str::<Weights>(&json).unwrap(),
            Weights::canary(25)
        );
        let err = serde_json::from_str::<Weights>(r#"{"stable":80,"canary":25}"#).unwrap_err();
        assert!(err.to_string().contains("must add up to 100"), "{err}");
    }

    #[test]
    fn effects_read_as_sentences() {
        let e = Effect::ScaleDownSlot {
            slot: Slot::Blue,
            after: Duration::from_secs(600),
        };
        assert_eq!(e.to_string(), "scale down the blue slot in 10m00s");
        assert_eq!(
            serde_json::to_string(&e).unwrap(),
            r#"{"effect":"scale-down-slot","slot":"blue","after":600}"#
        );
    }
}
