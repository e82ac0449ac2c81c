//! Rollouts driven by something other than a flightdeck plan, and
//! flightdeck's own as others see them: each source's objects read into the
//! fleet's rows ([`crate::fleet::Row`]). Pure: the objects come from a list
//! (`flightdeck list`) or from watches (the fleet view).

pub mod argo;
pub mod ask;
pub mod deployment;
pub mod drive;
pub mod flagger;
pub mod flightdeck;
pub mod pods;
pub mod read;
pub mod watch;
pub mod writes;

use std::collections::HashSet;
use std::sync::Arc;

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{ConfigMap, Pod};
use kube::api::DynamicObject;

use crate::fleet::Row;

/// Everything read from one cluster.
#[derive(Debug, Clone, Default)]
pub struct Objects {
    pub configmaps: Vec<Arc<ConfigMap>>,
    pub deployments: Vec<Arc<Deployment>>,
    pub rollouts: Vec<Arc<DynamicObject>>,
    pub analysis_runs: Vec<Arc<DynamicObject>>,
    pub canaries: Vec<Arc<DynamicObject>>,
    pub pods: Vec<Arc<Pod>>,
}

/// The cluster's rows, one per app, with their pods counted. A Deployment
/// that another source drives (the app of a flightdeck rollout, a Rollout
/// or a Canary's target and its primary) is not listed again.
pub fn rows(cluster: &str, objects: &Objects) -> Vec<Row> {
    let mut rows: Vec<Row> = objects
        .configmaps
        .iter()
        .filter_map(|cm| flightdeck::row(cluster, cm))
        .collect();
    let runs: Vec<&DynamicObject> = objects.analysis_runs.iter().map(AsRef::as_ref).collect();
    rows.extend(objects.rollouts.iter().filter_map(|r| {
        let ns = r.metadata.namespace.as_deref();
        let same_ns: Vec<&DynamicObject> = runs
            .iter()
            .copied()
            .filter(|run| run.metadata.namespace.as_deref() == ns)
            .collect();
        argo::row(cluster, r, &same_ns)
    }));
    rows.extend(
        objects
            .canaries
            .iter()
            .filter_map(|c| flagger::row(cluster, c)),
    );
    let claimed: HashSet<(String, String)> = rows
        .iter()
        .flat_map(|r| {
            r.selector
                .iter()
                .filter_map(|s| s.get("app").cloned())
                .chain([r.app.clone()])
                .map(|app| (r.namespace.clone(), app))
                .collect::<Vec<_>>()
        })
        .collect();
    let others: Vec<(String, String)> = rows
        .iter()
        .map(|r| (r.namespace.clone(), format!("{}-", r.app)))
        .collect();
    let plain: Vec<Row> = objects
        .deployments
        .iter()
        .filter_map(|d| {
            let row = deployment::row(cluster, d)?;
            let app = row
                .selector
                .first()
                .and_then(|s| s.get("app"))
                .cloned()
                .unwrap_or_else(|| row.app.clone());
            let taken = claimed.contains(&(row.namespace.clone(), app))
                || claimed.contains(&(row.namespace.clone(), row.app.clone()))
                || others.iter().any(|(ns, prefix)| {
                    *ns == row.namespace && row.app.starts_with(prefix.as_str())
                });
            (!taken).then_some(row)
        })
        .collect();
    rows.extend(plain);
    pods::count(&mut rows, objects.pods.iter().map(AsRef::as_ref));
    rows
}

/// A Kubernetes timestamp as the rest of flightdeck keeps time.
fn time(
    t: &k8s_openapi::apimachinery::pkg::apis::meta::v1::Time,
) -> Option<chrono::DateTime<chrono::Utc>> {
    chrono::DateTime::from_timestamp_millis(t.0.as_millisecond())
}

/// Cluster text, cleaned of terminal escape sequences.
fn text(s: &str) -> String {
    crate::sanitize::clean(s).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fleet::Kind;
    use serde_json::json;

    fn arc<T: serde::de::DeserializeOwned>(v: serde_json::Value) -> Arc<T> {
        Arc::new(serde_json::from_value(v).expect("fixture"))
    }

    fn pod(name: &str, app: &str, ready: bool, restarts: i32) -> Arc<Pod> {
        arc(json!({
            "metadata": {"name": name, "namespace": "shop", "labels": {"app": app}},
            "status": {
                "conditions": [{"type": "Ready", "status": if ready { "True" } else { "False" }}],
                "containerStatuses": [{"name": "c", "image": "i", "imageID": "", "ready": ready,
                                       "restartCount": restarts}]
            }
        }))
    }

    fn rolling(name: &str, app: &str) -> Arc<Deployment> {
        arc(json!({
            "metadata": {"name": name, "namespace": "shop", "generation": 2},
            "spec": {"replicas": 2, "selector": {"matchLabels": {"app": app}},
                     "template": {"metadata": {"labels": {"app": app}}, "spec": {"containers": []}}},
            "status": {"observedGeneration": 2, "updatedReplicas": 1}
        }))
    }

    #[test]
    fn deployments_another_source_drives_are_not_listed_twice_and_pods_are_counted() {
        let objects = Objects {
            canaries: vec![arc(json!({
                "apiVersion": "flagger.app/v1beta1", "kind": "Canary",
                "metadata": {"name": "podinfo", "namespace": "shop"},
                "spec": {"targetRef": {"name": "podinfo"}, "analysis": {"stepWeight": 10, "maxWeight": 50}},
                "status": {"phase": "Progressing", "canaryWeight": 10}
            }))],
            deployments: vec![
                rolling("podinfo", "podinfo"),
                rolling("podinfo-primary", "podinfo-primary"),
                rolling("search", "search"),
            ],
            pods: vec![
                pod("podinfo-1", "podinfo", true, 0),
                pod("podinfo-primary-1", "podinfo-primary", true, 2),
                pod("podinfo-primary-2", "podinfo-primary", false, 1),
                pod("search-1", "search", true, 0),
                pod("other-1", "other", true, 9),
            ],
            ..Objects::default()
        };
        let rows = rows("prod", &objects);
        let names: Vec<(&str, Kind)> = rows.iter().map(|r| (r.app.as_str(), r.kind)).collect();
        assert_eq!(
            names,
            [("podinfo", Kind::Flagger), ("search", Kind::Deployment)]
        );
        assert_eq!(
            rows[0].pods,
            crate::fleet::Pods {
                ready: 2,
                total: 3,
                restarts: 3
            }
        );
        assert_eq!(rows[1].pods_text(), "1/1");
    }
}
