//! The demo's notices: its plan's webhook (whose variable the demo does not
//! set) is pointed at the sim's webhook sink, and a rollout started with the
//! demo's settings is received there and recorded as an Event on the app,
//! which the cockpit's Events pane shows.

#![allow(clippy::unwrap_used)]

mod sim_dir;

use std::time::Duration;

use flightdeck::demo;
use flightdeck::driver::{Clock, Command, Driver, Settings};
use flightdeck::rollout::plan::UrlSource;
use flightdeck::sim::resources::kinds;
use flightdeck::workers::audit::Actor;
use flightdeck::workers::events::concerns_app;
use flightdeck::workers::notify::Notifier;
use k8s_openapi::api::core::v1::Event;
use serde_json::Value;
use tokio::sync::mpsc;

use sim_dir::SimDir;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_demo_notices_reach_the_sim_sink_and_its_events() {
    let cluster = SimDir::start("healthy-canary", 10.0).await;
    let kube = cluster.client().await;
    let SimDir { host, dir: _dir } = cluster;

    // The demo's plan, as `flightdeck demo` settles it: no variable is set.
    let plan = demo::plan_for("healthy-canary").unwrap().unwrap();
    let plan = demo::webhooks_to_sink(plan, &host.url(), |_| None);
    let [notification] = plan.notifications.as_slice() else {
        panic!("the demo's plan has one webhook: {:?}", plan.notifications)
    };
    assert_eq!(
        notification.url,
        UrlSource::Literal(format!("{}/sim/webhooks/slack", host.url()))
    );

    let (reports_tx, mut reports) = mpsc::channel(16);
    let (notifier, _tasks, problems) = Notifier::for_plan(&plan.notifications, reports_tx);
    assert!(problems.is_empty(), "{problems:?}");
    let store = host.shared().store.clone();
    let settings = Settings {
        clock: Clock::scaled(move || store.now(), 1.0),
        notifier,
        ..Settings::default()
    };
    let driver =
        Driver::new(kube.clone(), plan, "flightdeck-sim", None, settings).with_actor(Actor {
            kube_user: "flightdeck-sim".into(),
            os_user: "ana".into(),
            host: "test".into(),
        });
    driver
        .execute(Command::Start { image: None })
        .await
        .unwrap();

    let http = reqwest::Client::new();
    let mut received = Vec::new();
    for _ in 0..200 {
        received = http
            .get(format!("{}/sim/webhooks", host.url()))
            .send()
            .await
            .unwrap()
            .json::<Vec<Value>>()
            .await
            .unwrap();
        if !received.is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let started = received
        .iter()
        .find(|r| {
            r["text"]
                .as_str()
                .is_some_and(|t| t.starts_with("shop/checkout: rollout started"))
        })
        .unwrap_or_else(|| panic!("no started notice in {received:#?}"));
    assert_eq!(started["name"], "slack");
    assert!(
        started["body"]["blocks"].is_array(),
        "a Slack body: {started}"
    );
    assert!(reports.try_recv().is_err(), "the delivery went through");

    // The Event the Events pane shows: about the app, saying what happened.
    let (events, _) = host.shared().store.list(kinds::events(), Some("shop"));
    let notice = events
        .iter()
        .map(|e| serde_json::from_value::<Event>((**e).clone()).unwrap())
        .find(|e| e.reason.as_deref() == Some("NoticeReceived"))
        .expect("an Event for the notice");
    assert!(concerns_app(&notice, "checkout"), "{notice:?}");
    assert!(
        notice
            .message
            .as_deref()
            .is_some_and(|m| m.starts_with("shop/checkout: rollout started")),
        "{notice:?}"
    );
    host.shutdown().await;
}
