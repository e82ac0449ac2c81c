//! A change written and not yet landed, kept under its own key of the
//! rollout's state ConfigMap while the driver waits for it: what was
//! written, to which object, the condition awaited and the deadline. So
//! `flightdeck status` can say what a step waits for, and a driver that
//! comes to the helm after the one waiting died can settle it. Pure: the
//! record and the conditions, judged on an object as read.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::apply::{canary_created, observed, rolled_out};
use crate::cluster::routers::service_selector;
use crate::rollout::RolloutState;
use crate::rollout::effects::Effect;

/// The ConfigMap key it is kept under.
pub const KEY: &str = "landing.json";

/// What the object must show for the change to have landed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum Condition {
    /// The controller has seen the latest spec.
    Observed,
    /// Every replica of the new template exists (ready or not).
    PodsCreated,
    /// Every replica runs the new template and is available.
    RolledOut,
    /// The Service selects this slot.
    Selects { slot: String },
    /// The router carries these weights (read by the caller, who knows the
    /// router's shape).
    Routes { weights: Vec<(String, u8)> },
}

impl Condition {
    pub fn describe(&self) -> String {
        match self {
            Condition::Observed => "the controller to see the change".into(),
            Condition::PodsCreated => "the canary's pods".into(),
            Condition::RolledOut => "the rollout".into(),
            Condition::Selects { slot } => format!("selecting {slot}"),
            Condition::Routes { weights } => format!("routing {}", shown(weights)),
        }
    }

    /// Whether it holds on `object` as read; `routed` is the split the
    /// router object carries, when it is one.
    pub fn holds(&self, object: &Value, routed: Option<&[(String, u8)]>) -> bool {
        match self {
            Condition::Observed => observed(object),
            Condition::PodsCreated => canary_created(object),
            Condition::RolledOut => rolled_out(object),
            Condition::Selects { slot } => {
                service_selector::active(object).ok().as_deref() == Some(slot.as_str())
            }
            Condition::Routes { weights } => routed.is_some_and(|read| {
                weights
                    .iter()
                    .all(|(v, w)| read.iter().any(|(rv, rw)| rv == v && rw == w))
            }),
        }
    }
}

/// "stable 75% / canary 25%".
pub fn shown(weights: &[(String, u8)]) -> String {
    weights
        .iter()
        .map(|(v, w)| format!("{v} {w}%"))
        .collect::<Vec<_>>()
        .join(" / ")
}

/// The object a wait watches, as stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Watched {
    pub api_version: String,
    pub kind: String,
    pub namespace: String,
    pub name: String,
}

/// One wait, as stored.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Landing {
    /// The step waiting (advance, promote, …).
    pub action: String,
    /// The identity of the driver waiting.
    pub by: String,
    /// What was written: "set weights stable 75% / canary 25%".
    pub written: String,
    pub object: Watched,
    pub condition: Condition,
    /// When the wait gives up, on the cluster's clock (the driver's).
    pub deadline: DateTime<Utc>,
    /// The state the step stores once all its writes have landed: a driver
    /// settling a wait that did land finishes the step and stores that.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub to: Option<Box<RolloutState>>,
    /// The step's writes still to make after this one, in order.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub rest: Vec<Effect>,
    /// The state the step began from, described.
    pub from: String,
}

impl Landing {
    pub fn parse(text: &str) -> Result<Self, serde_json::Error> {
        serde_json::from_str(text)
    }

    pub fn to_json(&self) -> String {
        serde_json::to_string(self).unwrap_or_default()
    }

    /// "landing: advance (set weights …), waiting for routing …, 4m10s
    /// left" as of `now`.
    pub fn describe(&self, now: DateTime<Utc>) -> String {
        let left = (self.deadline - now).to_std().unwrap_or_default();
        let left = if left.is_zero() {
            "past its deadline".to_string()
        } else {
            format!(
                "{} left",
                crate::units::format_duration(std::time::Duration::from_secs(left.as_secs()))
            )
        };
        format!(
            "landing: {} ({}), waiting for {}, {left}",
            self.action,
            self.written,
            self.condition.describe()
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn deployment(generation: i64, observed: i64, updated: i64, available: i64) -> Value {
        json!({
            "metadata": {"generation": generation},
            "spec": {"replicas": 3},
            "status": {
                "observedGeneration": observed,
                "replicas": 3,
                "updatedReplicas": updated,
                "availableReplicas": available,
            },
        })
    }

    #[test]
    fn deployment_conditions_follow_the_controllers_status() {
        let unseen = deployment(4, 3, 3, 3);
        let created = deployment(4, 4, 3, 1);
        let done = deployment(4, 4, 3, 3);
        assert!(!Condition::Observed.holds(&unseen, None));
        assert!(Condition::Observed.holds(&created, None));
        assert!(!Condition::PodsCreated.holds(&unseen, None));
        assert!(Condition::PodsCreated.holds(&created, None));
        assert!(!Condition::RolledOut.holds(&created, None));
        assert!(Condition::RolledOut.holds(&done, None));
    }

    #[test]
    fn a_split_holds_only_as_asked_in_any_order() {
        let want = Condition::Routes {
            weights: vec![("stable".into(), 75), ("canary".into(), 25)],
        };
        let read = [("canary".to_string(), 25), ("stable".to_string(), 75)];
        assert!(want.holds(&Value::Null, Some(&read)));
        let other = [("canary".to_string(), 10), ("stable".to_string(), 90)];
        assert!(!want.holds(&Value::Null, Some(&other)));
        assert!(!want.holds(&Value::Null, None));
        assert_eq!(want.describe(), "routing stable 75% / canary 25%");
    }

    #[test]
    fn it_round_trips_and_says_what_it_waits_for_and_how_long() {
        let at = DateTime::from_timestamp(1_700_000_000, 0).unwrap_or_default();
        let landing = Landing {
            action: "promote".into(),
            by: "ana@laptop#7".into(),
            written: "roll the canary's template out to stable".into(),
            object: Watched {
                api_version: "apps/v1".into(),
                kind: "Deployment".into(),
                namespace: "payments".into(),
                name: "ledger-stable".into(),
            },
            condition: Condition::RolledOut,
            deadline: at + chrono::TimeDelta::seconds(250),
            to: None,
            rest: vec![Effect::ScaleCanary { replicas: 0 }],
            from: "stage 1/2 at 10%".into(),
        };
        let back = Landing::parse(&landing.to_json()).expect("it reads back");
        assert_eq!(back, landing);
        assert_eq!(
            landing.describe(at),
            "landing: promote (roll the canary's template out to stable), \
             waiting for the rollout, 4m10s left"
        );
        assert!(
            landing
                .describe(at + chrono::TimeDelta::seconds(300))
                .ends_with("past its deadline")
        );
        assert!(Landing::parse("{\"action\": 1}").is_err());
    }
}
