//! A way back asked of the driver at the helm by someone who does not hold
//! it: a shell's `flightdeck abort`, a cockpit that only watches. It is kept
//! under its own key of the rollout's state ConfigMap, so writing it never
//! races the holder's writes of the rollout itself; the holder sees it
//! through its watch of that ConfigMap, carries it out before anything else
//! and clears it. Pure: building, reading and describing it.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::rollout::Request;
use crate::rollout::plan::RollbackMode;
use crate::workers::audit::Actor;

/// The ConfigMap key it is kept under.
pub const KEY: &str = "request.json";

/// Which way back is asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Verb {
    /// Everything back to stable at once.
    Abort,
    /// Stepping the canary down through the lower stages.
    Rollback,
}

/// One request, as stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Asked {
    /// Tells this request from an earlier or later one of the same verb.
    pub id: String,
    pub verb: Verb,
    pub by: Actor,
    /// On the asker's clock: for people to read.
    pub at: DateTime<Utc>,
}

#[derive(Debug, thiserror::Error)]
pub enum AskedError {
    #[error("only an abort or a rollback can be asked of the driver at the helm, not {0}")]
    NotAWayBack(&'static str),
    #[error("the stored request is not readable: {0}")]
    Invalid(#[from] serde_json::Error),
}

impl Asked {
    /// The request for `request` by `by` at `at`; `id` must not repeat
    /// (the caller makes it from its identity and the time).
    pub fn new(
        request: &Request,
        by: Actor,
        at: DateTime<Utc>,
        id: String,
    ) -> Result<Self, AskedError> {
        let verb = match request {
            Request::Abort {
                mode: Some(RollbackMode::Gradual),
            } => Verb::Rollback,
            Request::Abort { .. } => Verb::Abort,
            other => return Err(AskedError::NotAWayBack(other.name())),
        };
        Ok(Self { id, verb, by, at })
    }

    pub fn parse(text: &str) -> Result<Self, AskedError> {
        Ok(serde_json::from_str(text)?)
    }

    pub fn to_json(&self) -> String {
        // A struct of strings and a time always serialises.
        serde_json::to_string(self).unwrap_or_default()
    }

    /// What the driver carries out for it.
    pub fn request(&self) -> Request {
        Request::Abort {
            mode: Some(match self.verb {
                Verb::Abort => RollbackMode::Immediate,
                Verb::Rollback => RollbackMode::Gradual,
            }),
        }
    }

    /// "abort asked by ana (admin) on laptop": who asked, for the record.
    pub fn asker(&self) -> String {
        format!(
            "{} asked by {} ({}) on {}",
            self.request().name(),
            self.by.os_user,
            self.by.kube_user,
            self.by.host
        )
    }
}

/// The id of a request made by `identity` at `at`: unique per process and
/// millisecond, which is as often as a person can ask.
pub fn id_for(identity: &str, at: DateTime<Utc>) -> String {
    format!("{identity}/{}", at.timestamp_millis())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn captain() -> Actor {
        Actor {
            kube_user: "admin".into(),
            os_user: "captain".into(),
            host: "ops".into(),
        }
    }

    fn at() -> DateTime<Utc> {
        DateTime::from_timestamp(1_700_000_000, 0).unwrap_or_default()
    }

    #[test]
    fn an_abort_and_a_rollback_round_trip_and_name_the_asker() {
        for (request, verb) in [
            (
                Request::Abort {
                    mode: Some(RollbackMode::Immediate),
                },
                Verb::Abort,
            ),
            (Request::Abort { mode: None }, Verb::Abort),
            (
                Request::Abort {
                    mode: Some(RollbackMode::Gradual),
                },
                Verb::Rollback,
            ),
        ] {
            let asked = Asked::new(&request, captain(), at(), id_for("captain@ops#7", at()))
                .expect("a way back can be asked");
            assert_eq!(asked.verb, verb);
            let text = asked.to_json();
            assert!(text.contains("\"captain@ops#7/1700000000000\""), "{text}");
            assert_eq!(Asked::parse(&text).expect("it reads back"), asked);
        }
        let rollback = Asked::new(
            &Request::Abort {
                mode: Some(RollbackMode::Gradual),
            },
            captain(),
            at(),
            "x".into(),
        )
        .expect("a rollback can be asked");
        assert_eq!(rollback.asker(), "rollback asked by captain (admin) on ops");
        assert_eq!(rollback.request().name(), "rollback");
    }

    #[test]
    fn only_the_way_back_can_be_asked_and_a_bad_record_is_an_error() {
        let err = Asked::new(&Request::Advance, captain(), at(), "x".into())
            .expect_err("an advance is not asked for");
        assert_eq!(
            err.to_string(),
            "only an abort or a rollback can be asked of the driver at the helm, not advance"
        );
        assert!(Asked::parse("{\"id\": 1}").is_err());
        assert!(Asked::parse("not json").is_err());
    }
}
