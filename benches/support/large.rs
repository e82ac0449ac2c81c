//! The `large` scenario's world (5,000 pods in 50 Deployments on 100 nodes)
//! brought to rest, and the rollouts the benches start in it.
#![allow(clippy::unwrap_used, dead_code)]

use std::time::{Duration, Instant};

use chrono::{TimeZone, Utc};
use flightdeck::sim::resources::kinds;
use flightdeck::sim::traffic::Traffic;
use flightdeck::sim::{Controller, Scenario, Shared, TickCtx, World};
use serde_json::{Value, json};

pub const NS: &str = "fleet";
pub const PODS: usize = 5_000;
/// Deployments given a new image in each rollout (100 pods each).
pub const ROLLED: usize = 5;

/// The traffic model as one of the world's controllers, as `SimHost` runs it.
pub struct TrafficController(pub Traffic);

impl Controller for TrafficController {
    fn tick(&mut self, ctx: &mut TickCtx<'_>) {
        self.0
            .tick(ctx.shared, ctx.now, ctx.since_start, ctx.dt, ctx.rng);
    }
}

/// Resident memory of this process, in MiB.
pub fn rss_mib() -> f64 {
    super::rss_bytes().map_or(f64::NAN, |b| b as f64 / (1024.0 * 1024.0))
}

/// CPU time this thread has run, from the scheduler's own accounting: unlike
/// wall-clock time it does not grow while other processes hold the cores.
pub fn thread_cpu() -> Duration {
    let stat = std::fs::read_to_string("/proc/thread-self/schedstat").unwrap_or_default();
    let ns = stat
        .split_whitespace()
        .next()
        .and_then(|n| n.parse::<u64>().ok())
        .unwrap_or(0);
    Duration::from_nanos(ns)
}

fn ready(pod: &Value) -> bool {
    pod.pointer("/status/conditions")
        .and_then(Value::as_array)
        .is_some_and(|cs| {
            cs.iter()
                .any(|c| c["type"] == "Ready" && c["status"] == "True")
        })
}

/// Whether every Deployment named has rolled its current template out.
pub fn rolled_out(shared: &Shared, names: &[String]) -> bool {
    names.iter().all(|n| {
        let d = shared.store.get(kinds::deployments(), NS, n).unwrap();
        let s = &d["status"];
        s["observedGeneration"] == d["metadata"]["generation"]
            && s["updatedReplicas"] == d["spec"]["replicas"]
            && s["availableReplicas"] == d["spec"]["replicas"]
            && s["replicas"] == d["spec"]["replicas"]
    })
}

/// Gives `ROLLED` Deployments a new image (a different set each round, never
/// `svc-49`); answers their names.
pub fn start_rollout(shared: &Shared, round: u64) -> Vec<String> {
    let rolled: Vec<String> = (0..ROLLED)
        .map(|i| format!("svc-{:02}", (round as usize * ROLLED + i) % 49))
        .collect();
    for name in &rolled {
        shared
            .store
            .modify::<()>(kinds::deployments(), NS, name, |d| {
                d["spec"]["template"]["spec"]["containers"][0]["image"] =
                    json!(format!("registry.local/{NS}/{name}:2.0.{round}"));
                Ok(())
            })
            .unwrap();
    }
    rolled
}

/// The `large` world with every pod running and ready.
pub fn steady_world() -> World {
    let scenario = Scenario::load("large").unwrap();
    let start = Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap();
    let mut world = World::new(scenario, 1, start).unwrap();
    let shared = world.shared();
    world.add_controller(Box::new(TrafficController(Traffic::new(&shared))));
    let began = Instant::now();
    for _ in 0..600 {
        world.step_for(Duration::from_secs(1));
        let (pods, _) = shared.store.list(kinds::pods(), Some(NS));
        if pods.len() == PODS && pods.iter().all(|p| ready(p)) {
            break;
        }
    }
    let (pods, _) = shared.store.list(kinds::pods(), Some(NS));
    assert_eq!(pods.iter().filter(|p| ready(p)).count(), PODS);
    // Let the first metrics window and the endpoints settle.
    world.step_for(Duration::from_secs(30));
    eprintln!(
        "seeded {PODS} ready pods in {:.1}s ({:?} of sim time); RSS {:.0} MiB",
        began.elapsed().as_secs_f64(),
        world.since_start(),
        rss_mib()
    );
    world
}
