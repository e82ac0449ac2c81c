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

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use flightdeck::sim::World;
use flightdeck::sim::resources::kinds;
use futures::StreamExt;
use k8s_openapi::api::core::v1::Pod;
use kube::Api;
use kube::runtime::watcher;
use serde_json::json;

mod support;

use support::large::{NS, PODS, ROLLED, rolled_out, rss_mib, start_rollout, steady_world};

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
    let rolled = start_rollout(&shared, round);
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
