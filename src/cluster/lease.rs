//! Who holds the helm: one cockpit drives a rollout at a time, by holding a
//! `coordination.k8s.io/v1` Lease that it renews while it drives. The rule is
//! a pure function; the client applies it with optimistic concurrency, so two
//! cockpits racing for a free Lease cannot both win.

use std::time::Duration;

use chrono::{DateTime, Utc};
use k8s_openapi::api::coordination::v1::{Lease, LeaseSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::MicroTime;
use kube::Api;
use kube::api::{ObjectMeta, PostParams};

/// How long a Lease stays ours without renewal; renewed at a third of it.
pub const LEASE_DURATION: Duration = Duration::from_secs(15);

/// The helm as one cockpit sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Helm {
    /// This cockpit drives.
    Ours { since: DateTime<Utc> },
    /// Another cockpit drives; this one is read-only until it lets go or expires.
    Theirs {
        holder: String,
        since: Option<DateTime<Utc>>,
    },
}

/// What to do with the Lease as it stands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// Free, expired, or already ours: write ourselves in (keeping `since` when ours).
    Take { transition: bool },
    /// Someone else holds a live Lease.
    Respect {
        holder: String,
        since: Option<DateTime<Utc>>,
    },
}

/// Decides from the Lease's spec whether `me` may drive at `now`.
pub fn decide(spec: Option<&LeaseSpec>, me: &str, now: DateTime<Utc>) -> Decision {
    let Some(spec) = spec else {
        return Decision::Take { transition: false };
    };
    let holder = spec.holder_identity.as_deref().unwrap_or_default();
    if holder.is_empty() {
        return Decision::Take { transition: true };
    }
    if holder == me {
        return Decision::Take { transition: false };
    }
    let duration = spec
        .lease_duration_seconds
        .map_or(LEASE_DURATION, |s| Duration::from_secs(s.max(0) as u64));
    let renewed = spec.renew_time.as_ref().and_then(|t| to_chrono(&t.0));
    let expired = renewed.is_none_or(|r| {
        r + chrono::Duration::from_std(duration).unwrap_or(chrono::TimeDelta::MAX) < now
    });
    if expired {
        Decision::Take { transition: true }
    } else {
        Decision::Respect {
            holder: holder.to_string(),
            since: spec.acquire_time.as_ref().and_then(|t| to_chrono(&t.0)),
        }
    }
}

fn to_chrono(t: &k8s_openapi::jiff::Timestamp) -> Option<DateTime<Utc>> {
    DateTime::from_timestamp_millis(t.as_millisecond())
}

fn micro(t: DateTime<Utc>) -> Option<MicroTime> {
    k8s_openapi::jiff::Timestamp::from_millisecond(t.timestamp_millis())
        .ok()
        .map(MicroTime)
}

#[derive(Debug, thiserror::Error)]
pub enum LeaseError {
    #[error("the Lease {name} changed under us {tries} times in a row")]
    Contended { name: String, tries: u32 },
    #[error(transparent)]
    Kube(#[from] kube::Error),
}

/// One cockpit's handle on an app's Lease.
pub struct LeaseClient {
    api: Api<Lease>,
    name: String,
    identity: String,
}

impl LeaseClient {
    /// The Lease for `app` is named `flightdeck-{app}`, beside the app.
    pub fn new(client: kube::Client, namespace: &str, app: &str, identity: &str) -> Self {
        Self {
            api: Api::namespaced(client, namespace),
            name: format!("flightdeck-{app}"),
            identity: identity.to_string(),
        }
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    /// Takes the helm if it is free or ours (renewing it), or says who has it.
    pub async fn acquire_or_renew(&self) -> Result<Helm, LeaseError> {
        self.write(false).await
    }

    /// Takes the helm from whoever holds it. The caller has asked the captain to
    /// confirm and records the take-over.
    pub async fn take_over(&self) -> Result<Helm, LeaseError> {
        self.write(true).await
    }

    /// Lets go of the helm if we hold it, so another cockpit can drive at once.
    pub async fn release(&self) -> Result<(), LeaseError> {
        let Some(mut lease) = self.api.get_opt(&self.name).await? else {
            return Ok(());
        };
        let spec = lease.spec.get_or_insert_with(LeaseSpec::default);
        if spec.holder_identity.as_deref() != Some(self.identity.as_str()) {
            return Ok(());
        }
        spec.holder_identity = None;
        spec.renew_time = None;
        match self
            .api
            .replace(&self.name, &PostParams::default(), &lease)
            .await
        {
            // Someone else wrote it first: it is no longer ours to release.
            Err(kube::Error::Api(s)) if s.code == 409 => Ok(()),
            other => other.map(|_| ()).map_err(Into::into),
        }
    }

    async fn write(&self, force: bool) -> Result<Helm, LeaseError> {
        const TRIES: u32 = 5;
        for _ in 0..TRIES {
            let now = Utc::now();
            let existing = self.api.get_opt(&self.name).await?;
            let decision = decide(
                existing.as_ref().and_then(|l| l.spec.as_ref()),
                &self.identity,
                now,
            );
            let transition = match decision {
                Decision::Respect { holder, since } if !force => {
                    return Ok(Helm::Theirs { holder, since });
                }
                Decision::Respect { .. } => true,
                Decision::Take { transition } => transition,
            };
            let result = match existing {
                None => {
                    let lease = Lease {
                        metadata: ObjectMeta {
                            name: Some(self.name.clone()),
                            ..ObjectMeta::default()
                        },
                        spec: Some(self.spec(None, now, 0)),
                    };
                    self.api.create(&PostParams::default(), &lease).await
                }
                Some(mut lease) => {
                    let old = lease.spec.take().unwrap_or_default();
                    let ours = old.holder_identity.as_deref() == Some(self.identity.as_str());
                    let since = if ours { old.acquire_time.clone() } else { None };
                    let transitions =
                        old.lease_transitions.unwrap_or(0) + i32::from(transition && !ours);
                    lease.spec = Some(self.spec(since, now, transitions));
                    // resourceVersion rides along in metadata: a stale write is a 409.
                    self.api
                        .replace(&self.name, &PostParams::default(), &lease)
                        .await
                }
            };
            match result {
                Ok(lease) => {
                    let since = lease
                        .spec
                        .as_ref()
                        .and_then(|s| s.acquire_time.as_ref())
                        .and_then(|t| to_chrono(&t.0))
                        .unwrap_or(now);
                    return Ok(Helm::Ours { since });
                }
                Err(kube::Error::Api(s)) if s.code == 409 => {}
                Err(e) => return Err(e.into()),
            }
        }
        Err(LeaseError::Contended {
            name: self.name.clone(),
            tries: TRIES,
        })
    }

    fn spec(&self, since: Option<MicroTime>, now: DateTime<Utc>, transitions: i32) -> LeaseSpec {
        LeaseSpec {
            holder_identity: Some(self.identity.clone()),
            lease_duration_seconds: Some(LEASE_DURATION.as_secs() as i32),
            acquire_time: since.or_else(|| micro(now)),
            renew_time: micro(now),
            lease_transitions: Some(transitions),
            ..LeaseSpec::default()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(holder: &str, renewed_secs_ago: i64, now: DateTime<Utc>) -> LeaseSpec {
        LeaseSpec {
            holder_identity: Some(holder.into()),
            lease_duration_seconds: Some(15),
            renew_time: micro(now - chrono::Duration::seconds(renewed_secs_ago)),
            acquire_time: micro(now - chrono::Duration::seconds(600)),
            ..LeaseSpec::default()
        }
    }

    #[test]
    fn free_lease_is_taken() {
        let now = Utc::now();
        assert_eq!(
            decide(None, "me", now),
            Decision::Take { transition: false }
        );
    }

    #[test]
    fn live_lease_of_another_is_respected() {
        let now = Utc::now();
        let d = decide(Some(&spec("ana@ops", 5, now)), "me", now);
        assert!(
            matches!(d, Decision::Respect { ref holder, since: Some(_) } if holder == "ana@ops")
        );
    }

    #[test]
    fn expired_lease_is_taken_over() {
        let now = Utc::now();
        assert_eq!(
            decide(Some(&spec("ana@ops", 60, now)), "me", now),
            Decision::Take { transition: true }
        );
    }

    #[test]
    fn own_lease_is_renewed() {
        let now = Utc::now();
        assert_eq!(
            decide(Some(&spec("me", 5, now)), "me", now),
            Decision::Take { transition: false }
        );
    }
}
