//! The whole simulated cluster at the `large` scenario's size (5,000 pods in
//! 50 Deployments on 100 nodes), seeded by its own controllers and traffic
//! model: listing the pods over HTTP as JSON and as a Table and one
//! `World::step` at steady state (criterion), then one rollout among them
//! followed by a kube watcher, and the resident memory of the process (both
//! printed: a rollout is too long to sample, and criterion measures time only).

#![allow(clippy::unwrap_used)]

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use chrono::{TimeZone, Utc};
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use flightdeck::sim::resources::kinds;
use flightdeck::sim::traffic::Traffic;
use flightdeck::sim::{Controller, Scenario, Shared, TickCtx, World};
use futures::StreamExt;
use k8s_openapi::api::core::v1::Pod;
use kube::Api;
use kube::runtime::watcher;
use serde_json::{Value, json};

mod support;

const NS: &str = "fleet";
const PODS: usize = 5_000;
/// Deployments given a new image in each measured rollout (100 pods each).
const ROLLED: usize = 5;

/// The traffic model as one of the world's controllers, as `SimHost` runs it.
struct TrafficController(Traffic);

impl Controller for TrafficController {
    fn tick(&mut self, ctx: &mut TickCtx<'_>) {
        self.0
            .tick(ctx.shared, ctx.now, ctx.since_start, ctx.dt, ctx.rng);
    }
}

/// Resident memory of this process, in MiB.
fn rss_mib() -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        .map_or(f64::NAN, |kib| kib / 1024.0)
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
fn rolled_out(shared: &Shared, names: &[String]) -> bool {
    names.iter().all(|n| {
        let d = shared.store.get(kinds::deployments(), NS, n).unwrap();
        let s = &d["status"];
        s["observedGeneration"] == d["metadata"]["generation"]
            && s["updatedReplicas"] == d["spec"]["replicas"]
            && s["availableReplicas"] == d["spec"]["replicas"]
            && s["replicas"] == d["spec"]["replicas"]
    })
}

/// The `large` world with every pod running and ready.
fn steady_world() -> World {
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
        "sim_large: seeded {PODS} ready pods in {:.1}s ({:?} of sim time); RSS {:.0} MiB",
        began.elapsed().as_secs_f64(),
        world.since_start(),
        rss_mib()
    );
    world
}

/// Gives `ROLLED` Deployments a new image, steps the world until they have
/// rolled out, and waits for the watcher to see a marker written after that.
/// Answers the pod events the watcher received and the time it took.
fn rollout(
    runtime: &tokio::runtime::Runtime,
    client: &kube::Client,
    world: &mut World,
    round: u64,
) -> Rollout {
    let shared = world.shared();
    let received = Arc::new(AtomicU64::new(0));
    let marker = format!("round-{round}");
    let (listed_tx, listed_rx) = tokio::sync::oneshot::channel();
    let (seen_tx, mut seen_rx) = tokio::sync::oneshot::channel();
    let pods: Api<Pod> = Api::namespaced(client.clone(), NS);
    let counter = received.clone();
    let wanted = marker.clone();
    let watching = runtime.spawn(async move {
        let mut listed = Some(listed_tx);
        let mut seen = Some(seen_tx);
        let mut events = watcher(pods, watcher::Config::default()).boxed();
        while let Some(event) = events.next().await {
            match event {
                Ok(watcher::Event::InitDone) => {
                    if let Some(tx) = listed.take() {
                        let _ = tx.send(());
                    }
                }
                Ok(watcher::Event::Apply(pod)) => {
                    counter.fetch_add(1, Ordering::Relaxed);
                    let mark = pod.metadata.labels.as_ref().and_then(|l| l.get("bench"));
                    if mark == Some(&wanted)
                        && let Some(tx) = seen.take()
                    {
                        let _ = tx.send(());
                    }
                }
                Ok(watcher::Event::Delete(_)) => {
                    counter.fetch_add(1, Ordering::Relaxed);
                }
                Ok(_) | Err(_) => {}
            }
        }
    });
    runtime.block_on(listed_rx).unwrap();

    let began = Instant::now();
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
    let sim_began = world.since_start();
    while !rolled_out(&shared, &rolled) {
        world.step_for(Duration::from_secs(1));
    }
    let sim_time = world.since_start().saturating_sub(sim_began);
    let stepped = began.elapsed();
    // svc-49 is never rolled: its pod carries the marker.
    let (pods, _) = shared.store.list(kinds::pods(), Some(NS));
    let witness = pods
        .iter()
        .find(|p| p["metadata"]["labels"]["app"] == "svc-49")
        .unwrap();
    let witness = witness["metadata"]["name"].as_str().unwrap().to_string();
    shared
        .store
        .modify::<()>(kinds::pods(), NS, &witness, |p| {
            p["metadata"]["labels"]["bench"] = json!(marker);
            Ok(())
        })
        .unwrap();
    runtime.block_on(async {
        tokio::time::timeout(Duration::from_secs(60), &mut seen_rx)
            .await
            .expect("the watcher never saw the marker")
            .unwrap();
    });
    let elapsed = began.elapsed();
    watching.abort();
    Rollout {
        events: received.load(Ordering::Relaxed),
        elapsed,
        stepped,
        sim_time,
    }
}

/// What one measured rollout took.
struct Rollout {
    /// Pod events the watcher received.
    events: u64,
    /// From the new images until the watcher had seen everything.
    elapsed: Duration,
    /// Of which stepping the world until the Deployments rolled out.
    stepped: Duration,
    /// Sim time the rollout took.
    sim_time: Duration,
}

fn bench(c: &mut Criterion) {
    let runtime = support::runtime();
    let baseline = rss_mib();
    let mut world = steady_world();
    let shared = world.shared();
    let url = support::serve(&runtime, &shared);
    let http = reqwest::Client::new();
    let pods_url = format!("{url}/api/v1/namespaces/{NS}/pods");

    let mut group = c.benchmark_group("sim_large");
    group.sample_size(10);
    group.measurement_time(Duration::from_secs(10));
    group.throughput(Throughput::Elements(PODS as u64));
    support::list_pods(
        &mut group,
        &runtime,
        &http,
        &pods_url,
        [
            ("list 5000 pods as JSON", "application/json"),
            ("list 5000 pods as Table", support::TABLE),
        ],
    );

    group.throughput(Throughput::Elements(1));
    group.bench_function("World::step at steady state", |b| {
        b.iter(|| world.step());
    });

    group.finish();

    // A rollout at this size takes a minute or more of real time, too long to
    // repeat for criterion's samples: it runs once and is reported.
    let client = runtime.block_on(async {
        kube::Client::try_from(kube::Config::new(url.parse().unwrap())).unwrap()
    });
    let r = rollout(&runtime, &client, &mut world, 1);
    eprintln!(
        "sim_large: a rollout of {ROLLED} Deployments ({} of the {PODS} pods, {:?} of sim time): \
         {} pod events watched in {:.1}s ({:.1}s of it stepping the world), {:.0} events/s",
        ROLLED * 100,
        r.sim_time,
        r.events,
        r.elapsed.as_secs_f64(),
        r.stepped.as_secs_f64(),
        r.events as f64 / r.elapsed.as_secs_f64()
    );
    eprintln!(
        "sim_large: RSS {:.0} MiB after the rollout (process baseline before seeding {baseline:.0} MiB)",
        rss_mib(),
    );
}

criterion_group!(benches, bench);
criterion_main!(benches);
