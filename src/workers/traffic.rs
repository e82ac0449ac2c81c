//! Watches the object that carries the app's traffic split and reports the
//! desired weights per version.

use futures::StreamExt;
use k8s_openapi::api::core::v1::{Pod, Service};
use k8s_openapi::api::networking::v1::Ingress;
use kube::Api;
use kube::api::{ApiResource, DynamicObject, GroupVersionKind};
use kube::runtime::watcher;
use serde_json::Value;
use tokio::sync::mpsc;

use super::watch::relisting;
use super::{Target, trouble};
use crate::app::Msg;
use crate::app::msg::{RouterKind, Source, TrafficInfo, Trouble};
use crate::cluster::routers::{self, RouterError, Weights};

/// Where the split lives, as a plan names it or as found on the cluster.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Router {
    Istio {
        virtual_service: String,
    },
    GatewayApi {
        http_route: String,
    },
    Smi {
        traffic_split: String,
    },
    Nginx {
        main: String,
        canary: String,
    },
    ServiceSelector {
        service: String,
        versions: Vec<String>,
    },
    ReplicaRatio {
        versions: Vec<String>,
    },
}

impl Router {
    pub fn kind(&self) -> RouterKind {
        match self {
            Router::Istio { .. } => RouterKind::IstioVirtualService,
            Router::GatewayApi { .. } => RouterKind::HttpRoute,
            Router::Smi { .. } => RouterKind::TrafficSplit,
            Router::Nginx { .. } => RouterKind::NginxCanary,
            Router::ServiceSelector { .. } => RouterKind::ServiceSelector,
            Router::ReplicaRatio { .. } => RouterKind::ReplicaRatio,
        }
    }

    /// The object named in the Traffic pane.
    pub fn object(&self, namespace: &str) -> String {
        match self {
            Router::Istio { virtual_service } => {
                format!("VirtualService {namespace}/{virtual_service}")
            }
            Router::GatewayApi { http_route } => format!("HTTPRoute {namespace}/{http_route}"),
            Router::Smi { traffic_split } => format!("TrafficSplit {namespace}/{traffic_split}"),
            Router::Nginx { canary, .. } => format!("Ingress {namespace}/{canary}"),
            Router::ServiceSelector { service, .. } => format!("Service {namespace}/{service}"),
            Router::ReplicaRatio { .. } => format!("ready pods in {namespace}"),
        }
    }
}

fn resource(group: &str, version: &str, kind: &str, plural: &str) -> ApiResource {
    ApiResource::from_gvk_with_plural(&GroupVersionKind::gvk(group, version, kind), plural)
}

pub fn virtual_services() -> ApiResource {
    resource(
        "networking.istio.io",
        "v1",
        "VirtualService",
        "virtualservices",
    )
}
pub fn http_routes() -> ApiResource {
    resource("gateway.networking.k8s.io", "v1", "HTTPRoute", "httproutes")
}
pub fn traffic_splits() -> ApiResource {
    resource(
        "split.smi-spec.io",
        "v1alpha2",
        "TrafficSplit",
        "trafficsplits",
    )
}

/// Finds the router of an app that has no plan, in the order a mesh would take
/// precedence: Istio, Gateway API, SMI, NGINX, a slot selector, else the ratio
/// of ready pods.
pub async fn detect(target: &Target) -> Router {
    let ns = &target.namespace;
    let app = &target.app;
    let client = target.client.clone();
    let dynamic = |ar: ApiResource| Api::<DynamicObject>::namespaced_with(client.clone(), ns, &ar);
    if matches!(dynamic(virtual_services()).get_opt(app).await, Ok(Some(_))) {
        return Router::Istio {
            virtual_service: app.clone(),
        };
    }
    if matches!(dynamic(http_routes()).get_opt(app).await, Ok(Some(_))) {
        return Router::GatewayApi {
            http_route: app.clone(),
        };
    }
    if matches!(dynamic(traffic_splits()).get_opt(app).await, Ok(Some(_))) {
        return Router::Smi {
            traffic_split: app.clone(),
        };
    }
    let ingresses: Api<Ingress> = Api::namespaced(client.clone(), ns);
    let canary = format!("{app}-canary");
    if matches!(ingresses.get_opt(&canary).await, Ok(Some(_))) {
        return Router::Nginx {
            main: app.clone(),
            canary,
        };
    }
    let services: Api<Service> = Api::namespaced(client.clone(), ns);
    if let Ok(Some(svc)) = services.get_opt(app).await
        && svc
            .spec
            .as_ref()
            .and_then(|s| s.selector.as_ref())
            .is_some_and(|sel| sel.contains_key("slot"))
    {
        return Router::ServiceSelector {
            service: app.clone(),
            versions: vec!["blue".into(), "green".into()],
        };
    }
    Router::ReplicaRatio {
        versions: vec!["stable".into(), "canary".into()],
    }
}

/// Reads the weights from the current objects of a router.
fn read(router: &Router, objects: &[&Value]) -> Result<Weights, RouterError> {
    match (router, objects) {
        (Router::Istio { .. }, [vs]) => routers::istio::weights(vs),
        (Router::GatewayApi { .. }, [route]) => routers::http_route::weights(route),
        (Router::Smi { .. }, [split]) => routers::traffic_split::weights(split),
        (Router::Nginx { .. }, [main, canary]) => routers::nginx::weights(main, canary),
        (Router::ServiceSelector { versions, .. }, [svc]) => {
            routers::service_selector::weights(svc, versions)
        }
        (Router::ReplicaRatio { versions }, pods) => {
            Ok(routers::replica_ratio::weights(pods, versions))
        }
        _ => Err(RouterError::BadWeights(
            "the router's objects are not all there yet".into(),
        )),
    }
}

pub async fn run(target: Target, router: Router, tx: mpsc::Sender<Msg>) {
    let ns = target.namespace.clone();
    let client = target.client.clone();
    let by_name = |name: &str| watcher::Config::default().fields(&format!("metadata.name={name}"));
    // Each router is watched as a stream of "the objects as they are now".
    let stream: futures::stream::BoxStream<'static, Result<Vec<Value>, watcher::Error>> =
        match &router {
            Router::Istio { virtual_service: n } => snapshots(relisting(
                Api::<DynamicObject>::namespaced_with(client, &ns, &virtual_services()),
                by_name(n),
            )),
            Router::GatewayApi { http_route: n } => snapshots(relisting(
                Api::<DynamicObject>::namespaced_with(client, &ns, &http_routes()),
                by_name(n),
            )),
            Router::Smi { traffic_split: n } => snapshots(relisting(
                Api::<DynamicObject>::namespaced_with(client, &ns, &traffic_splits()),
                by_name(n),
            )),
            Router::Nginx { .. } => snapshots(relisting(
                Api::<Ingress>::namespaced(client, &ns),
                watcher::Config::default(),
            )),
            Router::ServiceSelector { service: n, .. } => snapshots(relisting(
                Api::<Service>::namespaced(client, &ns),
                by_name(n),
            )),
            Router::ReplicaRatio { .. } => snapshots(relisting(
                Api::<Pod>::namespaced(client, &ns),
                watcher::Config::default().labels(&target.selector()),
            )),
        };
    futures::pin_mut!(stream);
    let mut troubled = false;
    while let Some(update) = stream.next().await {
        let msg = match update {
            Ok(objects) => {
                let objects = order(&router, objects);
                let refs: Vec<&Value> = objects.iter().collect();
                match read(&router, &refs) {
                    Ok(desired) => {
                        if troubled {
                            troubled = false;
                            let _ = tx
                                .send(Msg::Recovered {
                                    source: Source::Traffic,
                                })
                                .await;
                        }
                        Msg::Traffic(TrafficInfo {
                            router: router.kind(),
                            object: router.object(&ns),
                            desired,
                        })
                    }
                    Err(err) => {
                        troubled = true;
                        Msg::Trouble {
                            source: Source::Traffic,
                            trouble: Trouble::Failed {
                                reason: err.to_string(),
                            },
                        }
                    }
                }
            }
            Err(err) => {
                troubled = true;
                Msg::Trouble {
                    source: Source::Traffic,
                    trouble: trouble::from_watcher(&err, "the API server"),
                }
            }
        };
        if tx.send(msg).await.is_err() {
            return;
        }
    }
}

/// Puts the NGINX pair in (main, canary) order and drops unrelated Ingresses.
fn order(router: &Router, objects: Vec<Value>) -> Vec<Value> {
    let Router::Nginx { main, canary } = router else {
        return objects;
    };
    let named = |name: &str| {
        objects
            .iter()
            .find(|o| o.pointer("/metadata/name").and_then(Value::as_str) == Some(name))
            .cloned()
    };
    named(main).into_iter().chain(named(canary)).collect()
}

/// Turns a watcher's events into the full set of objects after each change, as
/// JSON values, so every router reads from one shape.
fn snapshots<K>(
    events: impl futures::Stream<Item = Result<watcher::Event<K>, watcher::Error>> + Send + 'static,
) -> futures::stream::BoxStream<'static, Result<Vec<Value>, watcher::Error>>
where
    K: kube::Resource + serde::Serialize + Clone + Send + 'static,
{
    let mut current: Vec<(String, Value)> = Vec::new();
    let mut initial: Vec<(String, Value)> = Vec::new();
    events
        .filter_map(move |event| {
            let out = match event {
                Err(e) => Some(Err(e)),
                Ok(watcher::Event::Init) => {
                    initial.clear();
                    None
                }
                Ok(watcher::Event::InitApply(o)) => {
                    initial.extend(entry(&o));
                    None
                }
                Ok(watcher::Event::InitDone) => {
                    current = std::mem::take(&mut initial);
                    Some(Ok(current.iter().map(|(_, v)| v.clone()).collect()))
                }
                Ok(watcher::Event::Apply(o)) => {
                    if let Some((name, value)) = entry(&o) {
                        match current.iter_mut().find(|(n, _)| *n == name) {
                            Some(slot) => slot.1 = value,
                            None => current.push((name, value)),
                        }
                    }
                    Some(Ok(current.iter().map(|(_, v)| v.clone()).collect()))
                }
                Ok(watcher::Event::Delete(o)) => {
                    let name = o.meta().name.clone().unwrap_or_default();
                    current.retain(|(n, _)| *n != name);
                    Some(Ok(current.iter().map(|(_, v)| v.clone()).collect()))
                }
            };
            std::future::ready(out)
        })
        .boxed()
}

fn entry<K: kube::Resource + serde::Serialize>(o: &K) -> Option<(String, Value)> {
    Some((o.meta().name.clone()?, serde_json::to_value(o).ok()?))
}
