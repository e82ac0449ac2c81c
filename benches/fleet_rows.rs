//! The fleet view at scale: 200 apps (50 of each kind) with 5,000 pods.
//! - rows: turned into rows and put in need order, as a rebuild after watch
//!   events on one cluster does (budget: well within a frame);
//! - frame: the fleet screen drawn at 200x50 into a `TestBackend` buffer
//!   (budget 5 ms);
//! - memory: what the objects the watch stores keep (pods as the worker
//!   slims them) and the view's rows add to the process, printed once.
//!   Resident growth, not an allocator count: the crate forbids `unsafe`,
//!   which a counting `GlobalAlloc` needs.
#![allow(clippy::unwrap_used)]

mod support;

use std::hint::black_box;
use std::sync::Arc;

use chrono::{TimeZone, Utc};
use criterion::{Criterion, criterion_group};
use flightdeck::config::theme::Theme;
use flightdeck::external::{self, Objects};
use flightdeck::fleet::{FleetScreen, FleetView};
use ratatui::Terminal;
use ratatui::backend::TestBackend;
use serde_json::json;

const APPS_PER_KIND: usize = 50;
const PODS_PER_APP: usize = 25;

fn objects() -> Objects {
    let mut o = Objects::default();
    for i in 0..APPS_PER_KIND {
        let ns = format!("team-{}", i % 6);
        o.rollouts.push(Arc::new(serde_json::from_value(json!({
            "apiVersion": "argoproj.io/v1alpha1", "kind": "Rollout",
            "metadata": {"name": format!("argo-{i}"), "namespace": ns, "generation": 2},
            "spec": {"selector": {"matchLabels": {"app": format!("argo-{i}")}},
                     "strategy": {"canary": {"steps": [{"setWeight": 20}, {"pause": {"duration": "5m"}},
                                                       {"setWeight": 60}, {"pause": {}}]}}},
            "status": {"observedGeneration": "2", "currentStepIndex": i % 4, "phase": "Paused",
                       "pauseConditions": [{"reason": "CanaryPauseStep", "startTime": "2026-01-01T00:00:00Z"}]}
        })).unwrap()));
        o.canaries.push(Arc::new(serde_json::from_value(json!({
            "apiVersion": "flagger.app/v1beta1", "kind": "Canary",
            "metadata": {"name": format!("flagger-{i}"), "namespace": ns},
            "spec": {"targetRef": {"name": format!("flagger-{i}")},
                     "analysis": {"threshold": 5, "stepWeight": 10, "maxWeight": 50}},
            "status": {"phase": "Progressing", "canaryWeight": 10 * (i % 5), "failedChecks": i % 3}
        })).unwrap()));
        o.deployments.push(Arc::new(
            serde_json::from_value(json!({
                "metadata": {"name": format!("deploy-{i}"), "namespace": ns, "generation": 3},
                "spec": {"replicas": 4, "selector": {"matchLabels": {"app": format!("deploy-{i}")}},
                         "template": {"spec": {"containers": []}}},
                "status": {"observedGeneration": 3, "updatedReplicas": 2}
            }))
            .unwrap(),
        ));
        o.configmaps.push(Arc::new(
            serde_json::from_value(json!({
                "metadata": {"name": format!("fd-{i}-flightdeck-rollout"), "namespace": ns},
                "data": {"rollout.json": "not a stored rollout"}
            }))
            .unwrap(),
        ));
        for app in [
            format!("argo-{i}"),
            format!("flagger-{i}"),
            format!("deploy-{i}"),
            format!("fd-{i}"),
        ] {
            for p in 0..PODS_PER_APP {
                o.pods.push(Arc::new(serde_json::from_value(json!({
                    "metadata": {"name": format!("{app}-{p}"), "namespace": ns, "labels": {"app": app}},
                    "status": {"conditions": [{"type": "Ready", "status": "True"}],
                               "containerStatuses": [{"name": "app", "image": "", "imageID": "",
                                                      "ready": true, "restartCount": p % 3}]}
                })).unwrap()));
            }
        }
    }
    o
}

fn rows(c: &mut Criterion) {
    let objects = objects();
    assert_eq!(objects.pods.len(), 5_000);
    assert_eq!(external::rows("prod", &objects).len(), 200);
    let mut view = FleetView::new(&["prod".to_string()]);
    c.bench_function("fleet_rows_200_apps_5000_pods", |b| {
        b.iter(|| {
            view.replace("prod", external::rows("prod", black_box(&objects)));
            black_box(view.len())
        });
    });
}

/// The screen a person sees with the whole fleet in it.
fn screen(objects: &Objects) -> FleetScreen {
    let mut view = FleetView::new(&["prod".to_string()]);
    view.replace("prod", external::rows("prod", objects));
    let now = Utc.timestamp_opt(1_767_225_600, 0).unwrap();
    let mut screen = FleetScreen::new(view, "all namespaces", now);
    screen.keys = flightdeck::config::keymap::Keymap::preset("default")
        .unwrap()
        .help();
    screen
}

fn frame(c: &mut Criterion) {
    let screen = screen(&objects());
    let theme = Theme::default();
    let mut terminal = Terminal::new(TestBackend::new(200, 50)).unwrap();
    c.bench_function("fleet_frame_200x50_200_apps_5000_pods", |b| {
        b.iter(|| {
            terminal
                .draw(|f| flightdeck::ui::fleet::draw(f, black_box(&screen), &theme))
                .unwrap();
        });
    });
}

/// Prints how much the process grows for the fleet's state. Run before any
/// bench so that nothing freed earlier is reused.
fn report_memory() {
    let Some(before) = support::rss_bytes() else {
        eprintln!("memory: /proc/self/status is not readable here; skipped");
        return;
    };
    let objects = objects();
    let screen = screen(&objects);
    let after = support::rss_bytes().unwrap_or(before);
    let mib = |b: u64| b as f64 / (1024.0 * 1024.0);
    eprintln!(
        "memory: fleet state with {} pods and {} rows: {:.1} MiB resident growth \
         (process {:.1} MiB)",
        objects.pods.len(),
        screen.view.total(),
        mib(after.saturating_sub(before)),
        mib(after)
    );
    black_box((&objects, &screen));
}

criterion_group!(benches, rows, frame);

fn main() {
    report_memory();
    benches();
    Criterion::default().configure_from_args().final_summary();
}
