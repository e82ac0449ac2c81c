//! The cockpit's watch on a Rollout, against the sim over HTTP: each change
//! the controller makes reaches the pane as a new row, without polling.
#![allow(clippy::unwrap_used)]

mod common;

use std::time::Duration;

use chrono::{TimeZone, Utc};
use tokio::sync::mpsc;

use common::SimServer;
use flightdeck::app::Msg;
use flightdeck::external::ask::{Ask, Source, Target};
use flightdeck::fleet::Phase;
use flightdeck::sim::server::ServerOptions;
use flightdeck::sim::{Scenario, World};

/// The newest row among the messages queued now, waiting up to 10 s for one
/// that `done` accepts.
async fn row_until(
    rx: &mut mpsc::Receiver<Msg>,
    done: impl Fn(&flightdeck::fleet::Row) -> bool,
) -> flightdeck::fleet::Row {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let msg = tokio::time::timeout_at(deadline, rx.recv())
            .await
            .expect("a row in time")
            .expect("the watch goes on");
        if let Msg::External(update) = msg
            && done(&update.row)
        {
            return update.row;
        }
    }
}

#[test]
fn the_watch_follows_the_rollout_from_its_pause_to_aborted() {
    let start = Utc.with_ymd_and_hms(2026, 3, 1, 9, 0, 0).unwrap();
    let mut world = World::new(Scenario::load("argo-canary").unwrap(), 42, start).unwrap();
    let server = SimServer::start_on(world.shared(), ServerOptions::default(), None);
    for _ in 0..60 {
        world.step_for(Duration::from_secs(1));
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let target = Target {
        source: Source::Argo,
        namespace: "shop".into(),
        name: "checkout".into(),
    };
    let client = runtime.block_on(async { server.client() });
    let (tx, mut rx) = mpsc::channel(64);
    runtime.spawn(flightdeck::external::watch::run(
        client.clone(),
        target.clone(),
        "sim".into(),
        tx,
    ));
    let row = runtime.block_on(row_until(&mut rx, |r| {
        matches!(r.phase, Phase::Paused { .. })
    }));
    assert_eq!((row.step_text(), row.weight), ("2/9".to_string(), Some(20)));
    assert_eq!(row.detail.current, Some(1));

    let now = world.now();
    runtime
        .block_on(flightdeck::external::drive::carry_out(
            &client,
            &target,
            &Ask::Abort,
            now,
        ))
        .unwrap();
    for _ in 0..10 {
        world.step_for(Duration::from_secs(1));
    }
    let row = runtime.block_on(row_until(&mut rx, |r| {
        matches!(r.phase, Phase::Aborted { .. }) && r.weight == Some(0)
    }));
    assert!(
        row.phase.reason().unwrap().starts_with("RolloutAborted"),
        "{:?}",
        row.phase
    );
}
