//! The fleet's model at scale: 200 apps (50 of each kind) with 5,000 pods,
//! turned into rows and put in need order, as a watch event on one cluster
//! does. What the frame itself costs is not measured here.
#![allow(clippy::unwrap_used)]

use std::hint::black_box;
use std::sync::Arc;

use criterion::{Criterion, criterion_group, criterion_main};
use flightdeck::external::{self, Objects};
use flightdeck::fleet::FleetView;
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
                    "status": {"conditions": [{"type": "Ready", "status": "True"}]}
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

criterion_group!(benches, rows);
criterion_main!(benches);
