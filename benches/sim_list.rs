//! The simulated API server under the `large` scenario's load: listing 5,000
//! pods over HTTP as JSON and as a Table, and the throughput of watch events
//! to one watcher and fanned out to ten.

#![allow(clippy::unwrap_used)]

use std::hint::black_box;
use std::path::Path;
use std::sync::Arc;

use chrono::{TimeZone, Utc};
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use flightdeck::sim::resources::kinds;
use flightdeck::sim::{Faults, PodLogs, Scenario, Shared, Store};
use serde_json::json;

mod support;

const PODS: usize = 5_000;
const WATCH_EVENTS: usize = 1_000;
/// Watchers of all pods that each event fans out to.
const WATCHERS: usize = 10;

fn pod(i: usize) -> serde_json::Value {
    let app = format!("app-{}", i % 50);
    json!({
        "metadata": {"name": format!("{app}-{i:05}"), "labels": {"app": app, "pod-template-hash": "5d4f8b"}},
        "spec": {"nodeName": format!("node-{:03}", i % 100), "containers": [
            {"name": "app", "image": format!("registry.local/{app}:1.0.0"),
             "ports": [{"containerPort": 8080, "name": "http"}],
             "resources": {"requests": {"cpu": "100m", "memory": "128Mi"}}}]},
        "status": {"phase": "Running", "podIP": format!("10.{}.{}.{}", i / 65536, (i / 256) % 256, i % 256),
            "conditions": [{"type": "Ready", "status": "True"}],
            "containerStatuses": [{"name": "app", "ready": true, "restartCount": 0,
                "state": {"running": {"startedAt": "2025-06-01T11:00:00Z"}}}]}
    })
}

fn shared() -> Shared {
    let store = Store::new(1, Utc.with_ymd_and_hms(2025, 6, 1, 12, 0, 0).unwrap());
    store
        .create(
            kinds::namespaces(),
            "",
            json!({"metadata": {"name": "large"}}),
        )
        .unwrap();
    for i in 0..PODS {
        store.create(kinds::pods(), "large", pod(i)).unwrap();
    }
    Shared {
        store: Arc::new(store),
        logs: Arc::new(PodLogs::new()),
        scenario: Arc::new(Scenario::parse(Path::new("bench.toml"), "name = \"bench\"\n").unwrap()),
        faults: Arc::new(Faults::default()),
        first_traffic: Arc::default(),
        loadtester: Arc::default(),
    }
}

fn bench(c: &mut Criterion) {
    let runtime = support::runtime();
    let shared = shared();
    let url = support::serve(&runtime, &shared);
    let client = reqwest::Client::new();
    let pods_url = format!("{url}/api/v1/namespaces/large/pods");

    let mut group = c.benchmark_group("sim_list");
    group.sample_size(20);
    group.throughput(Throughput::Elements(PODS as u64));
    support::list_pods(
        &mut group,
        &runtime,
        &client,
        &pods_url,
        [
            ("5000 pods as JSON", "application/json"),
            ("5000 pods as Table", support::TABLE),
        ],
    );
    group.throughput(Throughput::Elements(WATCH_EVENTS as u64));
    let store = shared.store.clone();
    group.bench_function("1000 watch events", |b| {
        b.to_async(&runtime).iter(|| async {
            let from = store.current_resource_version();
            let response = client
                .get(format!("{pods_url}?watch=true&resourceVersion={from}"))
                .send()
                .await
                .unwrap();
            touch_pods(&store);
            let mut response = response;
            let mut lines = 0;
            while lines < WATCH_EVENTS {
                let chunk = response.chunk().await.unwrap().unwrap();
                lines += chunk.split(|b| *b == b'\n').count() - 1;
            }
            black_box(lines)
        });
    });
    group.throughput(Throughput::Elements((WATCH_EVENTS * WATCHERS) as u64));
    group.bench_function("1000 watch events to 10 watchers of all pods", |b| {
        b.to_async(&runtime).iter(|| async {
            let from = store.current_resource_version();
            let all_pods = format!("{url}/api/v1/pods?watch=true&resourceVersion={from}");
            let mut watchers = Vec::with_capacity(WATCHERS);
            for _ in 0..WATCHERS {
                watchers.push(client.get(&all_pods).send().await.unwrap());
            }
            touch_pods(&store);
            // Every watcher must get every event: a dropped one never ends its count.
            let reads = watchers.into_iter().map(|mut response| async move {
                let mut lines = 0;
                while lines < WATCH_EVENTS {
                    let chunk = response.chunk().await.unwrap().unwrap();
                    lines += chunk.split(|b| *b == b'\n').count() - 1;
                }
                lines
            });
            let lines: usize = futures::future::join_all(reads).await.into_iter().sum();
            assert_eq!(lines, WATCH_EVENTS * WATCHERS);
            black_box(lines)
        });
    });
    group.finish();
}

/// Changes a label on `WATCH_EVENTS` pods, one event each.
fn touch_pods(store: &Store) {
    for i in 0..WATCH_EVENTS {
        let name = format!("app-{}-{i:05}", i % 50);
        store
            .modify::<()>(kinds::pods(), "large", &name, |p| {
                let n: u64 = p["metadata"]["labels"]["bench"]
                    .as_str()
                    .and_then(|v| v.parse().ok())
                    .unwrap_or(0);
                p["metadata"]["labels"]["bench"] = json!((n + 1).to_string());
                Ok(())
            })
            .unwrap();
    }
}

criterion_group!(benches, bench);
criterion_main!(benches);
