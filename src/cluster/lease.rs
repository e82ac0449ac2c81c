//! Who holds the helm: one cockpit drives a rollout at a time, by holding a
//! `coordination.k8s.io/v1` Lease that it renews while it drives. The rule is
//! a pure function; the client applies it with optimistic concurrency, so two
//! cockpits racing for a free Lease cannot both win.
//!
//! Whether another cockpit's Lease has lapsed is judged by watching it, never
//! by reading its `renewTime` against this machine's clock: two laptops whose
//! clocks disagree by more than the Lease's duration would otherwise take it
//! too early or never. A Lease is free once its record (holder, renewal,
//! transitions, resourceVersion) has stood unchanged for its duration, as
//! this process measures on its monotonic clock since it last saw it change.
//! So a cockpit that has just started waits one duration before taking a
//! Lease it has never seen move, unless the Lease is released (no holder).

use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use k8s_openapi::api::coordination::v1::{Lease, LeaseSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::MicroTime;
use kube::Api;
use kube::api::{ObjectMeta, PostParams};

use crate::cluster::clock::Clock;

/// How long a Lease stays ours without renewal; renewed at a third of it.
pub const LEASE_DURATION: Duration = Duration::from_secs(15);

/// The helm as one cockpit sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Helm {
    /// This cockpit drives.
    Ours { since: DateTime<Utc> },
    /// Another cockpit drives; this one is read-only until it lets go or
    /// stops renewing.
    Theirs(Holder),
}

/// Who holds a Lease, as it says. The times are the holder's clock's, for
/// information: never compared with ours.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Holder {
    pub holder: String,
    pub since: Option<DateTime<Utc>>,
    pub renewed: Option<DateTime<Utc>>,
}

impl Holder {
    /// The holder written in `spec`; `None` when the Lease is released.
    fn of(spec: &LeaseSpec) -> Option<Self> {
        let holder = spec.holder_identity.as_deref().filter(|h| !h.is_empty())?;
        Some(Self {
            holder: holder.to_string(),
            since: spec.acquire_time.as_ref().and_then(|t| to_chrono(&t.0)),
            renewed: spec.renew_time.as_ref().and_then(|t| to_chrono(&t.0)),
        })
    }
}

/// What to do with the Lease as it stands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// Free, lapsed, or already ours: write ourselves in (keeping `since` when ours).
    Take { transition: bool },
    /// Someone else holds a Lease that is still being renewed.
    Respect(Holder),
}

/// The parts of a Lease whose change shows that its holder is alive.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Record {
    holder: Option<String>,
    renewed: Option<MicroTime>,
    transitions: Option<i32>,
    version: Option<String>,
}

impl Record {
    fn of(lease: &Lease) -> Self {
        let spec = lease.spec.as_ref();
        Self {
            holder: spec.and_then(|s| s.holder_identity.clone()),
            renewed: spec.and_then(|s| s.renew_time.clone()),
            transitions: spec.and_then(|s| s.lease_transitions),
            version: lease.metadata.resource_version.clone(),
        }
    }
}

/// What this process last saw of a Lease and when, on its monotonic clock.
#[derive(Debug, Default)]
pub struct Observer {
    last: Option<(Record, Instant)>,
}

impl Observer {
    /// Notes the Lease as read at `now`; how long it has stood unchanged
    /// since this process first saw it as it is (zero on a change or a first
    /// sight).
    pub fn observe(&mut self, lease: Option<&Lease>, now: Instant) -> Duration {
        let Some(record) = lease.map(Record::of) else {
            self.last = None;
            return Duration::ZERO;
        };
        match &self.last {
            Some((seen, at)) if *seen == record => now.saturating_duration_since(*at),
            _ => {
                self.last = Some((record, now));
                Duration::ZERO
            }
        }
    }
}

/// Decides from the Lease's spec whether `me` may drive, the Lease having
/// stood unchanged for `unchanged_for` as this process watched it.
pub fn decide(spec: Option<&LeaseSpec>, me: &str, unchanged_for: Duration) -> Decision {
    let Some(spec) = spec else {
        return Decision::Take { transition: false };
    };
    let Some(holder) = Holder::of(spec) else {
        return Decision::Take { transition: true };
    };
    if holder.holder == me {
        return Decision::Take { transition: false };
    }
    if unchanged_for >= duration_of(spec) {
        Decision::Take { transition: true }
    } else {
        Decision::Respect(holder)
    }
}

/// The duration the holder wrote into the Lease, or ours when it wrote none.
fn duration_of(spec: &LeaseSpec) -> Duration {
    spec.lease_duration_seconds.map_or(LEASE_DURATION, |s| {
        Duration::from_secs(u64::try_from(s).unwrap_or(0))
    })
}

/// Who holds a Lease as one reading shows it, without judging whether the
/// holder still renews it: that takes watching it for a while.
pub fn holder_of(lease: Option<&Lease>) -> Option<Helm> {
    Holder::of(lease?.spec.as_ref()?).map(Helm::Theirs)
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
    duration: Duration,
    /// Stamps what we write (`acquireTime`, `renewTime`) for people to read;
    /// never used to judge another holder's Lease.
    wall: Clock,
    observer: Mutex<Observer>,
}

impl LeaseClient {
    /// The Lease for `app` is named `flightdeck-{app}`, beside the app.
    pub fn new(client: kube::Client, namespace: &str, app: &str, identity: &str) -> Self {
        Self {
            api: Api::namespaced(client, namespace),
            name: format!("flightdeck-{app}"),
            identity: identity.to_string(),
            duration: LEASE_DURATION,
            wall: Clock::wall(),
            observer: Mutex::new(Observer::default()),
        }
    }

    /// The same handle stamping its writes from `wall` (a machine whose
    /// clock is off, in tests).
    #[must_use]
    pub fn with_wall_clock(mut self, wall: Clock) -> Self {
        self.wall = wall;
        self
    }

    /// The same handle holding the Lease for `duration` per renewal.
    #[must_use]
    pub fn with_duration(mut self, duration: Duration) -> Self {
        self.duration = duration.max(Duration::from_secs(1));
        self
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    /// How long a renewal holds the Lease.
    pub fn duration(&self) -> Duration {
        self.duration
    }

    /// Takes the helm if it is free, lapsed or ours (renewing it), or says
    /// who has it.
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

    fn observe(&self, lease: Option<&Lease>) -> Duration {
        self.observer
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .observe(lease, Instant::now())
    }

    async fn write(&self, force: bool) -> Result<Helm, LeaseError> {
        const TRIES: u32 = 5;
        for _ in 0..TRIES {
            let existing = self.api.get_opt(&self.name).await?;
            let unchanged_for = self.observe(existing.as_ref());
            let decision = decide(
                existing.as_ref().and_then(|l| l.spec.as_ref()),
                &self.identity,
                unchanged_for,
            );
            let transition = match decision {
                Decision::Respect(holder) if !force => return Ok(Helm::Theirs(holder)),
                Decision::Respect(_) => true,
                Decision::Take { transition } => transition,
            };
            let now = self.wall.now();
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
                    self.observe(Some(&lease));
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
            lease_duration_seconds: Some(
                i32::try_from(self.duration.as_secs()).unwrap_or(i32::MAX),
            ),
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

    fn lease(holder: &str, renewed: DateTime<Utc>, version: &str) -> Lease {
        Lease {
            metadata: ObjectMeta {
                name: Some("flightdeck-checkout".into()),
                resource_version: Some(version.into()),
                ..ObjectMeta::default()
            },
            spec: Some(LeaseSpec {
                holder_identity: Some(holder.into()),
                lease_duration_seconds: Some(15),
                renew_time: micro(renewed),
                acquire_time: micro(renewed - chrono::Duration::seconds(600)),
                lease_transitions: Some(1),
                ..LeaseSpec::default()
            }),
        }
    }

    fn decide_on(l: &Lease, me: &str, unchanged_for: Duration) -> Decision {
        decide(l.spec.as_ref(), me, unchanged_for)
    }

    #[test]
    fn a_missing_lease_is_taken() {
        assert_eq!(
            decide(None, "me", Duration::ZERO),
            Decision::Take { transition: false }
        );
    }

    #[test]
    fn a_released_lease_is_taken_at_once() {
        let mut l = lease("ana@ops", Utc::now(), "7");
        if let Some(spec) = l.spec.as_mut() {
            spec.holder_identity = None;
        }
        assert_eq!(
            decide_on(&l, "me", Duration::ZERO),
            Decision::Take { transition: true }
        );
    }

    #[test]
    fn another_holder_is_respected_until_its_lease_stood_still_for_its_duration() {
        let l = lease("ana@ops", Utc::now(), "7");
        let d = decide_on(&l, "me", Duration::from_secs(14));
        assert!(
            matches!(d, Decision::Respect(Holder { ref holder, since: Some(_), renewed: Some(_) }) if holder == "ana@ops"),
            "{d:?}"
        );
        assert_eq!(
            decide_on(&l, "me", Duration::from_secs(15)),
            Decision::Take { transition: true }
        );
    }

    #[test]
    fn the_holders_clock_does_not_decide() {
        // A renewal stamped an hour ago by a clock that is an hour slow is a
        // live Lease; one stamped an hour ahead lapses all the same.
        let now = Utc::now();
        for renewed in [
            now - chrono::Duration::hours(1),
            now + chrono::Duration::hours(1),
        ] {
            let l = lease("ana@ops", renewed, "7");
            assert!(matches!(
                decide_on(&l, "me", Duration::from_secs(3)),
                Decision::Respect(_)
            ));
            assert_eq!(
                decide_on(&l, "me", Duration::from_secs(16)),
                Decision::Take { transition: true }
            );
        }
    }

    #[test]
    fn own_lease_is_renewed() {
        let l = lease("me", Utc::now(), "7");
        assert_eq!(
            decide_on(&l, "me", Duration::ZERO),
            Decision::Take { transition: false }
        );
    }

    #[test]
    fn the_timer_starts_at_first_sight_and_again_at_every_change() {
        let start = Instant::now();
        let at = |s| start + Duration::from_secs(s);
        let renewed = Utc::now();
        let mut seen = Observer::default();
        let first = lease("ana@ops", renewed, "7");
        assert_eq!(seen.observe(Some(&first), at(0)), Duration::ZERO);
        assert_eq!(seen.observe(Some(&first), at(10)), Duration::from_secs(10));
        // A renewal: a new renewTime and resourceVersion.
        let renewal = lease("ana@ops", renewed + chrono::Duration::seconds(5), "8");
        assert_eq!(seen.observe(Some(&renewal), at(12)), Duration::ZERO);
        assert_eq!(
            seen.observe(Some(&renewal), at(30)),
            Duration::from_secs(18)
        );
        // Only the resourceVersion moved (another field written): still alive.
        let touched = lease("ana@ops", renewed + chrono::Duration::seconds(5), "9");
        assert_eq!(seen.observe(Some(&touched), at(31)), Duration::ZERO);
        // Deleted, then created again: a first sight again.
        assert_eq!(seen.observe(None, at(40)), Duration::ZERO);
        assert_eq!(seen.observe(Some(&touched), at(41)), Duration::ZERO);
        assert_eq!(seen.observe(Some(&touched), at(45)), Duration::from_secs(4));
    }

    #[test]
    fn a_single_reading_names_the_holder_without_judging_it() {
        let old = Utc::now() - chrono::Duration::days(3);
        let Some(Helm::Theirs(Holder {
            holder, renewed, ..
        })) = holder_of(Some(&lease("ana@ops", old, "7")))
        else {
            panic!("no holder");
        };
        assert_eq!(holder, "ana@ops");
        assert_eq!(renewed.map(|r| r.timestamp()), Some(old.timestamp()));
        assert_eq!(holder_of(None), None);
    }
}
