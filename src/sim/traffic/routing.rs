//! Where an app's requests go: the router in its data path, read from the
//! store on every tick, so a weight changed with kubectl takes effect at once.

use serde_json::Value;

use super::counters::PodView;
use crate::cluster::routers::{
    self, RouterError, RouterKind, Weights, http_route, istio, nginx, service_selector,
    traffic_split,
};
use crate::sim::Store;
use crate::sim::resources::kinds;
use crate::sim::scenario::{self, AppSpec, Strategy};

/// The split in force for an app, and what decided it.
#[derive(Debug, Clone, PartialEq)]
pub struct Split {
    pub router: RouterKind,
    pub weights: Weights,
}

/// The app's split. A router object that is missing or malformed routes
/// nothing by itself; the pods then share traffic by readiness, as a mesh
/// without a route falls back to the Service's endpoints.
pub fn split(store: &Store, app: &AppSpec, pods: &[&PodView]) -> Split {
    match configured(store, app) {
        Some(Ok(split)) => split,
        _ => by_ready_pods(app, pods),
    }
}

fn configured(store: &Store, app: &AppSpec) -> Option<Result<Split, RouterError>> {
    let ns = app.namespace.as_str();
    let name = app.name.as_str();
    if let Some(kind) = app.routers.first() {
        let router = routers::from_scenario(*kind);
        let weights = match kind {
            scenario::RouterKind::Istio => store
                .get(kinds::virtualservices(), ns, name)
                .map(|vs| istio::weights(&vs)),
            scenario::RouterKind::GatewayApi => store
                .get(kinds::httproutes(), ns, name)
                .map(|r| http_route::weights(&r)),
            scenario::RouterKind::Smi => store
                .get(kinds::trafficsplits(), ns, name)
                .map(|s| traffic_split::weights(&s)),
            scenario::RouterKind::Nginx => {
                let main = store.get(kinds::ingresses(), ns, name);
                let canary = store.get(kinds::ingresses(), ns, &format!("{name}-canary"));
                main.zip(canary).map(|(m, c)| nginx::weights(&m, &c))
            }
        }?;
        return Some(weights.map(|weights| Split { router, weights }));
    }
    if app.strategy == Strategy::BlueGreen {
        let versions: Vec<String> = app.versions.iter().map(|v| v.name.clone()).collect();
        let service = store.get(kinds::services(), ns, name)?;
        return Some(
            service_selector::weights(&service, &versions).map(|weights| Split {
                router: RouterKind::ServiceSelector,
                weights,
            }),
        );
    }
    None
}

fn by_ready_pods(app: &AppSpec, pods: &[&PodView]) -> Split {
    let mut versions: Vec<String> = app.versions.iter().map(|v| v.name.clone()).collect();
    for p in pods {
        if !versions.contains(&p.version) {
            versions.push(p.version.clone());
        }
    }
    let raw: Vec<(String, u64)> = versions
        .into_iter()
        .map(|v| {
            let ready = pods.iter().filter(|p| p.ready && p.version == v).count() as u64;
            (v, ready)
        })
        .collect();
    Split {
        router: RouterKind::ReplicaRatio,
        weights: routers::percentages(&raw),
    }
}

/// Reads a label selector (`spec.selector` of a Service) as pairs.
pub fn selector(service: &Value) -> Vec<(String, String)> {
    service
        .pointer("/spec/selector")
        .and_then(Value::as_object)
        .map(|m| {
            m.iter()
                .filter_map(|(k, v)| Some((k.clone(), v.as_str()?.to_string())))
                .collect()
        })
        .unwrap_or_default()
}
