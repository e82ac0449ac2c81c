//! The cluster's clock. Against a real cluster that is the wall clock;
//! against flightdeck's simulator it is the simulation's, which may run many
//! times faster than real time. A rollout is stamped, its timed stages end
//! and its guards' `for` durations are counted by this clock, so a demo at
//! `--speed 20` behaves exactly as the same plan would at full scale.

use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex, PoisonError, Weak};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use serde::Deserialize;

use crate::units::speed_or_real_time;

/// How often a simulator's clock is read again: the simulation may fall
/// behind its nominal speed on a loaded machine, and readings correct that.
const RESYNC: Duration = Duration::from_secs(1);

#[derive(Clone)]
pub struct Clock {
    now: Arc<dyn Fn() -> DateTime<Utc> + Send + Sync>,
    speed: f64,
}

impl std::fmt::Debug for Clock {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Clock")
            .field("now", &self.now())
            .field("speed", &self.speed)
            .finish()
    }
}

impl Clock {
    pub fn wall() -> Self {
        Self {
            now: Arc::new(Utc::now),
            speed: 1.0,
        }
    }

    /// A clock read from `now` that runs `speed` times faster than real time.
    pub fn scaled(now: impl Fn() -> DateTime<Utc> + Send + Sync + 'static, speed: f64) -> Self {
        Self {
            now: Arc::new(now),
            speed: speed_or_real_time(speed),
        }
    }

    pub fn now(&self) -> DateTime<Utc> {
        (self.now)()
    }

    pub fn speed(&self) -> f64 {
        self.speed
    }

    /// The real time that `d` of this clock's time takes.
    pub fn real(&self, d: Duration) -> Duration {
        d.div_f64(self.speed)
    }

    /// The clock of the cluster `client` talks to: a simulator's when it
    /// answers `GET /sim/clock` (kept in step by a background task while the
    /// clock lives), else the wall clock.
    pub async fn of_cluster(client: &kube::Client) -> Self {
        let Some(first) = read_sim_clock(client).await else {
            return Self::wall();
        };
        let speed = speed_or_real_time(first.speed);
        let anchor = Arc::new(Anchor {
            at: Mutex::new((first.now, Instant::now())),
            last_ms: AtomicI64::new(first.now.timestamp_millis()),
            speed,
        });
        tokio::spawn(resync(Arc::downgrade(&anchor), client.clone()));
        Self {
            now: Arc::new(move || anchor.now()),
            speed,
        }
    }
}

#[derive(Deserialize)]
struct SimClock {
    now: DateTime<Utc>,
    speed: f64,
}

async fn read_sim_clock(client: &kube::Client) -> Option<SimClock> {
    let request = http::Request::get("/sim/clock").body(Vec::new()).ok()?;
    let text = client.request_text(request).await.ok()?;
    serde_json::from_str(&text).ok()
}

/// The latest reading of a simulator's clock, run forward at its speed.
struct Anchor {
    at: Mutex<(DateTime<Utc>, Instant)>,
    /// What `now` last answered: a reading behind the extrapolation must
    /// not make time run backwards.
    last_ms: AtomicI64,
    speed: f64,
}

impl Anchor {
    fn now(&self) -> DateTime<Utc> {
        let (then, real) = *self.at.lock().unwrap_or_else(PoisonError::into_inner);
        let ahead =
            chrono::Duration::from_std(real.elapsed().mul_f64(self.speed)).unwrap_or_default();
        let ms = (then + ahead).timestamp_millis();
        let ms = self.last_ms.fetch_max(ms, Ordering::Relaxed).max(ms);
        DateTime::from_timestamp_millis(ms).unwrap_or(then)
    }
}

async fn resync(anchor: Weak<Anchor>, client: kube::Client) {
    loop {
        tokio::time::sleep(RESYNC).await;
        let Some(reading) = read_sim_clock(&client).await else {
            if anchor.strong_count() == 0 {
                return;
            }
            continue;
        };
        let Some(anchor) = anchor.upgrade() else {
            return;
        };
        *anchor.at.lock().unwrap_or_else(PoisonError::into_inner) = (reading.now, Instant::now());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_scaled_clock_converts_its_time_to_real_time() {
        let c = Clock::scaled(Utc::now, 20.0);
        assert_eq!(c.real(Duration::from_secs(120)), Duration::from_secs(6));
        assert!((Clock::scaled(Utc::now, f64::NAN).speed() - 1.0).abs() < f64::EPSILON);
    }

    #[test]
    fn an_anchor_never_runs_backwards_when_a_reading_is_behind() {
        let start = Utc::now();
        let anchor = Anchor {
            at: Mutex::new((start, Instant::now())),
            last_ms: AtomicI64::new(start.timestamp_millis()),
            speed: 1000.0,
        };
        std::thread::sleep(Duration::from_millis(20));
        let ahead = anchor.now();
        assert!(ahead >= start + chrono::Duration::seconds(20), "{ahead}");
        // The simulation lagged: its reading is behind what was answered.
        *anchor.at.lock().unwrap() = (start, Instant::now());
        assert!(anchor.now() >= ahead);
    }
}
