//! The simulated cluster's clock and the loop that runs its controllers.
//!
//! Time moves in fixed ticks of [`TICK`] of sim time. Each tick sets the store's
//! clock, then runs the controllers in a fixed order, each seeing the same
//! seeded random source. With nothing writing from outside, the same scenario
//! and seed give exactly the same run, object for object.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};

use super::controllers;
use super::rng::SimRng;
use super::seed::{SeedError, seed_cluster};
use super::store::mix;
use super::{Faults, PodLogs, Scenario, Shared, Store};

/// One tick of sim time.
pub const TICK: Duration = Duration::from_millis(100);
/// The most ticks [`World::run`] replays at once after falling behind; past
/// that the backlog is dropped, so a stalled process resumes instead of spinning.
const MAX_CATCH_UP: u64 = 600;

/// What a controller sees on each tick.
pub struct TickCtx<'a> {
    pub shared: &'a Shared,
    /// The sim clock after this tick's advance.
    pub now: DateTime<Utc>,
    /// Sim time since the world started.
    pub since_start: Duration,
    /// Sim time since the previous tick (always [`TICK`]).
    pub dt: Duration,
    /// The world's seeded random source: draw from it in a deterministic order.
    pub rng: &'a mut SimRng,
}

/// A control loop run once per tick. The built-in controllers run first; the
/// ones added with [`World::add_controller`] run after them, in the order added.
pub trait Controller: Send {
    fn tick(&mut self, ctx: &mut TickCtx<'_>);
}

pub struct World {
    shared: Shared,
    rng: SimRng,
    start: DateTime<Utc>,
    ticks: u64,
    controllers: Vec<Box<dyn Controller>>,
}

impl World {
    /// Builds the cluster a scenario describes and seeds its objects.
    pub fn new(scenario: Scenario, seed: u64, start: DateTime<Utc>) -> Result<World, SeedError> {
        let shared = Shared {
            store: Arc::new(Store::new(seed, start)),
            logs: Arc::new(PodLogs::new()),
            scenario: Arc::new(scenario),
            faults: Arc::new(Faults::default()),
            first_traffic: Arc::default(),
            loadtester: Arc::default(),
        };
        seed_cluster(&shared)?;
        Ok(World {
            shared,
            rng: SimRng::new(mix(seed, 0x5EED)),
            start,
            ticks: 0,
            controllers: controllers::standard(),
        })
    }

    pub fn shared(&self) -> Shared {
        self.shared.clone()
    }

    /// The sim clock.
    pub fn now(&self) -> DateTime<Utc> {
        self.start + self.since_start()
    }

    pub fn since_start(&self) -> Duration {
        Duration::from_millis(self.ticks.saturating_mul(TICK.as_millis() as u64))
    }

    /// Appends a controller; it runs after every controller already there.
    pub fn add_controller(&mut self, controller: Box<dyn Controller>) {
        self.controllers.push(controller);
    }

    /// Advances the clock by one tick and runs every controller once.
    pub fn step(&mut self) {
        self.ticks += 1;
        let now = self.now();
        self.shared.store.set_now(now);
        let mut ctx = TickCtx {
            shared: &self.shared,
            now,
            since_start: self.since_start(),
            dt: TICK,
            rng: &mut self.rng,
        };
        for controller in &mut self.controllers {
            controller.tick(&mut ctx);
        }
    }

    /// Steps until at least `d` of sim time has passed.
    pub fn step_for(&mut self, d: Duration) {
        let ticks = d.as_millis().div_ceil(TICK.as_millis());
        for _ in 0..ticks {
            self.step();
        }
    }

    /// Ticks in real time at `speed` (1 = real time, 60 = an hour a minute)
    /// until `shutdown` completes. Late ticks are caught up whole, so sim time
    /// stays a multiple of [`TICK`].
    pub async fn run(&mut self, speed: f64, shutdown: impl Future<Output = ()>) {
        let speed = crate::units::speed_or_real_time(speed);
        let real_tick = TICK.div_f64(speed);
        let mut origin = tokio::time::Instant::now();
        let mut done: u64 = 0;
        tokio::pin!(shutdown);
        loop {
            let due = origin + real_tick.mul_f64((done + 1) as f64);
            tokio::select! {
                () = &mut shutdown => return,
                () = tokio::time::sleep_until(due) => {}
            }
            let elapsed = origin.elapsed();
            let owed = (elapsed.as_secs_f64() / real_tick.as_secs_f64()) as u64;
            let mut behind = owed.saturating_sub(done);
            if behind > MAX_CATCH_UP {
                // Too far behind to replay: count the backlog as done.
                done += behind - MAX_CATCH_UP;
                behind = MAX_CATCH_UP;
            }
            for i in 0..behind {
                self.step();
                done += 1;
                // A long catch-up must not starve the API server's tasks.
                if i % 16 == 15 {
                    tokio::task::yield_now().await;
                }
            }
            if done > 1_000_000_000 {
                // Rebase so the float arithmetic above keeps its precision.
                origin += real_tick.mul_f64(done as f64);
                done = 0;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use chrono::TimeZone;

    use super::*;

    fn start() -> DateTime<Utc> {
        Utc.timestamp_opt(1_700_000_000, 0).unwrap()
    }

    /// What one tick showed: now, since start, dt and a random draw.
    type Seen = (DateTime<Utc>, Duration, Duration, u64);

    /// Records what it is shown, to check the contract added controllers get.
    struct Witness(Arc<Mutex<Vec<Seen>>>);

    impl Controller for Witness {
        fn tick(&mut self, ctx: &mut TickCtx<'_>) {
            use rand::Rng;
            let draw = ctx.rng.random::<u64>();
            assert_eq!(ctx.shared.store.now(), ctx.now);
            self.0
                .lock()
                .unwrap()
                .push((ctx.now, ctx.since_start, ctx.dt, draw));
        }
    }

    #[test]
    fn added_controllers_run_after_the_built_in_ones_on_the_same_clock() {
        let seen = Arc::new(Mutex::new(Vec::new()));
        let mut w = World::new(Scenario::load("rolling").unwrap(), 3, start()).unwrap();
        w.add_controller(Box::new(Witness(seen.clone())));
        w.step();
        w.step();
        let seen = seen.lock().unwrap();
        assert_eq!(seen.len(), 2);
        assert_eq!(seen[1].0, start() + chrono::Duration::milliseconds(200));
        assert_eq!(seen[1].1, Duration::from_millis(200));
        assert_eq!(seen[1].2, TICK);
        // The built-in controllers ran first: the Deployment already has its ReplicaSet.
        let (rs, _) = w
            .shared()
            .store
            .list(super::super::resources::kinds::replicasets(), None);
        assert_eq!(rs.len(), 1);
    }

    #[test]
    fn a_world_can_move_to_another_task() {
        fn assert_send<T: Send>() {}
        assert_send::<World>();
    }

    #[tokio::test]
    async fn run_advances_in_whole_ticks_until_shutdown() {
        let mut w = World::new(Scenario::load("rolling").unwrap(), 3, start()).unwrap();
        w.run(200.0, tokio::time::sleep(Duration::from_millis(150)))
            .await;
        let elapsed = w.since_start();
        assert!(elapsed >= TICK, "no tick ran: {elapsed:?}");
        assert_eq!(elapsed.as_millis() % TICK.as_millis(), 0);
        assert_eq!(w.shared().store.now(), w.now());
    }
}
