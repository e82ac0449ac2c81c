//! What the simulator's benches share: a runtime, the API server on a
//! loopback port, and timing a list of pods over HTTP.
#![allow(clippy::unwrap_used, dead_code)]

use std::hint::black_box;

use criterion::BenchmarkGroup;
use criterion::measurement::WallTime;
use flightdeck::sim::Shared;
use flightdeck::sim::server::{self, ServerOptions};

pub mod large;

/// Resident memory of this process, in bytes (Linux).
pub fn rss_bytes() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let kib: u64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))?
        .trim()
        .strip_suffix("kB")?
        .trim()
        .parse()
        .ok()?;
    Some(kib * 1024)
}

/// What kubectl asks for to print a list: a server-side Table.
pub const TABLE: &str = "application/json;as=Table;v=v1;g=meta.k8s.io,application/json";

pub fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

/// Serves `shared`'s API (no controllers, no proxy) until the process ends;
/// its base URL.
pub fn serve(runtime: &tokio::runtime::Runtime, shared: &Shared) -> String {
    let shared = shared.clone();
    runtime.block_on(async {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let router = server::router(shared, ServerOptions::default(), None);
        tokio::spawn(server::serve(listener, router, std::future::pending()));
        url
    })
}

/// One bench per `(label, accept)`: GET `pods_url` and read the whole body.
pub fn list_pods(
    group: &mut BenchmarkGroup<'_, WallTime>,
    runtime: &tokio::runtime::Runtime,
    http: &reqwest::Client,
    pods_url: &str,
    variants: [(&str, &str); 2],
) {
    for (label, accept) in variants {
        group.bench_function(label, |b| {
            b.to_async(runtime).iter(|| async {
                let body = http
                    .get(pods_url)
                    .header("accept", accept)
                    .send()
                    .await
                    .unwrap()
                    .bytes()
                    .await
                    .unwrap();
                black_box(body.len())
            });
        });
    }
}
