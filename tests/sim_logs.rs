//! The sim's pod logs as a follower sees them: stamps that never go back, and
//! a follow that falls behind the shared live feed still gets every line.
#![allow(clippy::unwrap_used)]

use std::time::Duration;

use chrono::{TimeZone, Utc};
use flightdeck::sim::host::{HostOptions, SimHost};
use flightdeck::sim::logs::ContainerKey;
use flightdeck::sim::resources::kinds;
use flightdeck::sim::store::meta_str;
use flightdeck::sim::traffic::Traffic;
use flightdeck::sim::{Controller, Scenario, TickCtx, World};

const NS: &str = "shop";
const APP: &str = "checkout";

/// The traffic model as one of the world's controllers, as the host runs it.
struct TrafficController(Traffic);

impl Controller for TrafficController {
    fn tick(&mut self, ctx: &mut TickCtx<'_>) {
        self.0
            .tick(ctx.shared, ctx.now, ctx.since_start, ctx.dt, ctx.rng);
    }
}

/// Clients resume a follow with `sinceTime`, which only works if no line is
/// stamped before one written ahead of it.
#[test]
fn every_container_stamps_its_lines_in_order() {
    let start = Utc.with_ymd_and_hms(2026, 3, 1, 12, 0, 0).unwrap();
    let mut world = World::new(Scenario::load("healthy-canary").unwrap(), 42, start).unwrap();
    let traffic = Traffic::new(&world.shared());
    world.add_controller(Box::new(TrafficController(traffic)));
    world.step_for(Duration::from_secs(90));
    let shared = world.shared();
    let containers = shared.logs.containers();
    assert!(!containers.is_empty());
    let mut lines = 0;
    for key in &containers {
        let log = shared.logs.read(key, false).unwrap();
        lines += log.len();
        for pair in log.windows(2) {
            assert!(
                pair[0].0 <= pair[1].0,
                "{}: {:?} is written after {:?}",
                key.pod,
                pair[1],
                pair[0]
            );
        }
    }
    assert!(lines > 100, "the pods wrote {lines} lines");
}

/// On one thread nothing else runs while the test writes, so the follow's
/// receiver is sure to lag behind the feed that every container shares.
#[tokio::test(flavor = "current_thread")]
async fn a_follow_that_lags_behind_the_feed_loses_no_line() {
    let host = SimHost::start(HostOptions::new(Scenario::load("healthy-canary").unwrap()))
        .await
        .unwrap();
    let shared = host.shared().clone();
    let pod = loop {
        let (pods, _) = shared.store.list(kinds::pods(), Some(NS));
        if let Some(pod) = pods.first() {
            break meta_str(pod, "name").unwrap().to_string();
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    let mut response = reqwest::get(format!(
        "{}/api/v1/namespaces/{NS}/pods/{pod}/log?follow=true&container={APP}",
        host.url()
    ))
    .await
    .unwrap();
    assert_eq!(response.status(), 200);

    let key = ContainerKey::new(NS, &pod, APP);
    let noisy = ContainerKey::new(NS, "noisy-neighbour", APP);
    let now = shared.store.now();
    for i in 1..=3 {
        shared.logs.append(&key, now, format!("marker {i}"));
    }
    // More lines than the feed holds, from another container.
    for i in 0..40_000 {
        shared.logs.append(&noisy, now, format!("noise {i}"));
    }
    shared.logs.append(&key, now, "marker 4");

    let mut body = String::new();
    let read = tokio::time::timeout(Duration::from_secs(30), async {
        while !body.contains("marker 4") {
            let chunk = response.chunk().await.unwrap().unwrap();
            body.push_str(std::str::from_utf8(&chunk).unwrap());
        }
    })
    .await;
    assert!(read.is_ok(), "marker 4 never came; got:\n{body}");
    let markers: Vec<&str> = body.lines().filter(|l| l.starts_with("marker")).collect();
    assert_eq!(markers, ["marker 1", "marker 2", "marker 3", "marker 4"]);
    assert!(
        !body.contains("noise"),
        "another container's lines leaked in"
    );
}
