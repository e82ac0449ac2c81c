//! Where an app's requests go: the router in its data path, read from the
//! store on every tick, so a weight changed with kubectl takes effect at once.
//!
//! A router names backends (an Istio host and subset, a Service) and weighs
//! them; each backend reaches the pods its labels select, as the mesh's
//! endpoints would: the host Service's selector plus the DestinationRule
//! subset's labels, whatever labels those are (Argo pins subsets to
//! `rollouts-pod-template-hash`, a hand-written rule may use `version`). The
//! sim reads these objects with its own code, apart from the cockpit's router
//! adapters, so tests compare two readings of the same objects.

use serde_json::Value;

use super::counters::PodView;
use crate::sim::Store;
use crate::sim::resources::kinds;
use crate::sim::scenario::{self, AppSpec};

/// Labels a pod must carry, every one, to be reached.
pub type Selector = Vec<(String, String)>;

/// One way into an app's pods: a raw weight and the pods it reaches
/// (`None` when what it names does not exist, so it reaches nobody).
#[derive(Debug, Clone, PartialEq)]
pub struct Backend {
    pub weight: u64,
    pub selector: Option<Selector>,
}

impl Backend {
    pub fn reaches(&self, pod: &PodView) -> bool {
        self.selector.as_ref().is_some_and(|s| {
            s.iter()
                .all(|(k, v)| pod.labels.get(k).is_some_and(|have| have == v))
        })
    }
}

/// The app's backends. A router object that is missing or malformed routes
/// nothing by itself; the app's pods then share its traffic by readiness, as
/// a mesh without a route falls back to the Service's endpoints.
pub fn backends(store: &Store, app: &AppSpec) -> Vec<Backend> {
    configured(store, app).unwrap_or_else(|| {
        vec![Backend {
            weight: 1,
            selector: Some(Vec::new()),
        }]
    })
}

/// Requests per second each of `pods` receives when the app gets `rate`:
/// every backend's share spread over the ready pods it reaches. A share whose
/// backend reaches no ready pod is lost, as a mesh answers it with 503s.
pub fn rates(backends: &[Backend], pods: &[&PodView], rate: f64) -> Vec<f64> {
    let total: u64 = backends.iter().map(|b| b.weight).sum();
    let mut out = vec![0.0; pods.len()];
    if total == 0 || rate <= 0.0 {
        return out;
    }
    for b in backends.iter().filter(|b| b.weight > 0) {
        let reached: Vec<usize> = (0..pods.len())
            .filter(|&i| pods[i].ready && b.reaches(pods[i]))
            .collect();
        if reached.is_empty() {
            continue;
        }
        let each = rate * b.weight as f64 / total as f64 / reached.len() as f64;
        for i in reached {
            out[i] += each;
        }
    }
    out
}

fn configured(store: &Store, app: &AppSpec) -> Option<Vec<Backend>> {
    let ns = app.namespace.as_str();
    let name = app.name.as_str();
    let Some(kind) = app.routers.first() else {
        // No router: the app's Service is the way in (a blue-green app's or
        // Rollout's active Service, or one selecting every pod of the app).
        let selector = service_selector(store, ns, name)?;
        return Some(vec![Backend {
            weight: 1000,
            selector: Some(selector),
        }]);
    };
    match kind {
        scenario::RouterKind::Istio => {
            let vs = store.get(kinds::virtualservices(), ns, name)?;
            istio(store, ns, &vs)
        }
        scenario::RouterKind::GatewayApi => {
            let route = store.get(kinds::httproutes(), ns, name)?;
            let refs = route.pointer("/spec/rules/0/backendRefs")?.as_array()?;
            weighted(store, ns, refs, "/name", 1)
        }
        scenario::RouterKind::Smi => {
            let split = store.get(kinds::trafficsplits(), ns, name)?;
            let list = split.pointer("/spec/backends")?.as_array()?;
            weighted(store, ns, list, "/service", 0)
        }
        scenario::RouterKind::Nginx => {
            let main = store.get(kinds::ingresses(), ns, name)?;
            let canary = store.get(kinds::ingresses(), ns, &format!("{name}-canary"))?;
            nginx(store, ns, &main, &canary)
        }
    }
}

/// `spec.http[0].route[]`: each destination reaches the pods of its host's
/// Service that its subset's labels select.
fn istio(store: &Store, ns: &str, vs: &Value) -> Option<Vec<Backend>> {
    let routes = vs.pointer("/spec/http/0/route")?.as_array()?;
    if routes.is_empty() {
        return None;
    }
    // A lone destination takes everything, with or without a weight.
    let default = u64::from(routes.len() == 1) * 100;
    routes
        .iter()
        .map(|r| {
            let weight = weight(r.get("weight"), default)?;
            let host = r.pointer("/destination/host")?.as_str()?;
            let service = short_host(host, ns);
            let subset = r.pointer("/destination/subset").and_then(Value::as_str);
            let selector = service_selector(store, ns, service).map(|mut selector| {
                if let Some(subset) = subset {
                    selector.extend(subset_labels(store, ns, service, subset));
                }
                selector
            });
            Some(Backend { weight, selector })
        })
        .collect()
}

/// `svc`, `svc.ns`, `svc.ns.svc.cluster.local` → `svc` when in `ns`.
fn short_host<'a>(host: &'a str, ns: &str) -> &'a str {
    match host.split_once('.') {
        Some((svc, rest)) if rest == ns || rest.starts_with(&format!("{ns}.")) => svc,
        _ => host,
    }
}

/// The labels of a DestinationRule subset for `host`. Without a rule naming
/// the subset, the sim's convention stands: the subset is the `version`.
fn subset_labels(store: &Store, ns: &str, host: &str, subset: &str) -> Selector {
    let from_rule = store
        .get(kinds::destinationrules(), ns, host)
        .filter(|dr| {
            dr.pointer("/spec/host")
                .and_then(Value::as_str)
                .is_some_and(|h| short_host(h, ns) == host)
        })
        .and_then(|dr| {
            dr.pointer("/spec/subsets")?
                .as_array()?
                .iter()
                .find(|s| s.get("name").and_then(Value::as_str) == Some(subset))
                .map(|s| labels(s.get("labels")))
        });
    from_rule.unwrap_or_else(|| vec![("version".to_string(), subset.to_string())])
}

/// Backends naming Services at `service` with a `weight` each.
fn weighted(
    store: &Store,
    ns: &str,
    list: &[Value],
    service: &str,
    default: u64,
) -> Option<Vec<Backend>> {
    list.iter()
        .map(|b| {
            let weight = weight(b.get("weight"), default)?;
            let name = b.pointer(service)?.as_str()?;
            Some(Backend {
                weight,
                selector: service_selector(store, ns, name),
            })
        })
        .collect()
}

/// The main Ingress takes what the canary Ingress's `canary-weight` (out of
/// `canary-weight-total`, 100 by default) leaves.
fn nginx(store: &Store, ns: &str, main: &Value, canary: &Value) -> Option<Vec<Backend>> {
    const PREFIX: &str = "nginx.ingress.kubernetes.io/";
    let annotation = |key: &str| {
        canary
            .pointer("/metadata/annotations")
            .and_then(|a| a.get(format!("{PREFIX}{key}")))
            .and_then(Value::as_str)
    };
    let number = |key: &str, default: u64| match annotation(key) {
        None => Some(default),
        Some(text) => text.trim().parse::<u64>().ok(),
    };
    let is_canary = annotation("canary") == Some("true");
    let total = number("canary-weight-total", 100)?;
    let canary_weight = if is_canary {
        number("canary-weight", 0)?.min(total)
    } else {
        0
    };
    let service_of = |ingress: &Value| {
        ingress
            .pointer("/spec/rules/0/http/paths/0/backend/service/name")
            .and_then(Value::as_str)
            .and_then(|s| service_selector(store, ns, s))
    };
    Some(vec![
        Backend {
            weight: total - canary_weight,
            selector: service_of(main),
        },
        Backend {
            weight: canary_weight,
            selector: service_of(canary),
        },
    ])
}

/// A weight field in thousandths: a non-negative integer, or an SMI
/// quantity (`"500m"`), so a list mixing the two still compares.
fn weight(field: Option<&Value>, default: u64) -> Option<u64> {
    let whole = match field {
        None => default,
        Some(Value::Number(n)) => n.as_u64()?,
        Some(Value::String(s)) => match s.strip_suffix('m') {
            Some(milli) => return milli.parse().ok(),
            None => s.parse::<u64>().ok()?,
        },
        Some(_) => return None,
    };
    whole.checked_mul(1000)
}

fn service_selector(store: &Store, ns: &str, name: &str) -> Option<Selector> {
    store.get(kinds::services(), ns, name).map(|s| selector(&s))
}

fn labels(map: Option<&Value>) -> Selector {
    map.and_then(Value::as_object)
        .map(|m| {
            m.iter()
                .filter_map(|(k, v)| Some((k.clone(), v.as_str()?.to_string())))
                .collect()
        })
        .unwrap_or_default()
}

/// Reads a label selector (`spec.selector` of a Service) as pairs.
pub fn selector(service: &Value) -> Vec<(String, String)> {
    labels(service.pointer("/spec/selector"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{TimeZone, Utc};
    use serde_json::json;

    fn store() -> Store {
        let start = Utc.with_ymd_and_hms(2026, 3, 1, 12, 0, 0).unwrap();
        let store = Store::new(1, start);
        store
            .create(
                kinds::namespaces(),
                "",
                json!({"metadata": {"name": "shop"}}),
            )
            .unwrap();
        for (name, version) in [("web-stable", "stable"), ("web-canary", "canary")] {
            store
                .create(
                    kinds::services(),
                    "shop",
                    json!({"metadata": {"name": name},
                           "spec": {"selector": {"app": "web", "version": version}}}),
                )
                .unwrap();
        }
        store
    }

    fn pod(version: &str, ready: bool) -> PodView {
        PodView {
            namespace: "shop".into(),
            name: format!("web-{version}"),
            uid: String::new(),
            app: "web".into(),
            version: version.into(),
            node: String::new(),
            ip: String::new(),
            ready,
            alive: ready,
            restart_count: 0,
            memory_limit_bytes: None,
            started: None,
            labels: [("app", "web"), ("version", version)]
                .into_iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        }
    }

    #[test]
    fn smi_quantities_and_plain_weights_compare() {
        let s = store();
        let list = [
            json!({"service": "web-stable", "weight": "750m"}),
            json!({"service": "web-canary", "weight": "250m"}),
        ];
        let backends = weighted(&s, "shop", &list, "/service", 0).unwrap();
        let (stable, canary) = (pod("stable", true), pod("canary", true));
        let rates = rates(&backends, &[&stable, &canary], 100.0);
        assert!((rates[0] - 75.0).abs() < 1e-9 && (rates[1] - 25.0).abs() < 1e-9);
        assert_eq!(weight(Some(&json!(3)), 0), Some(3000));
        assert_eq!(weight(Some(&json!("ninety")), 0), None);
        assert_eq!(weight(Some(&json!(-1)), 0), None);
    }

    #[test]
    fn nginx_canary_weight_goes_to_the_canary_service() {
        let s = store();
        let ingress = |service: &str, annotations: Value| {
            json!({"metadata": {"annotations": annotations}, "spec": {"rules": [{"http": {"paths": [
                {"backend": {"service": {"name": service}}}]}}]}})
        };
        let main = ingress("web-stable", json!({}));
        let canary = ingress(
            "web-canary",
            json!({"nginx.ingress.kubernetes.io/canary": "true",
                   "nginx.ingress.kubernetes.io/canary-weight": "40"}),
        );
        let backends = nginx(&s, "shop", &main, &canary).unwrap();
        let (stable, canary_pod) = (pod("stable", true), pod("canary", true));
        let r = rates(&backends, &[&stable, &canary_pod], 10.0);
        assert!(
            (r[0] - 6.0).abs() < 1e-9 && (r[1] - 4.0).abs() < 1e-9,
            "{r:?}"
        );
    }

    #[test]
    fn a_share_with_no_ready_pod_is_lost_and_a_missing_service_reaches_nobody() {
        let s = store();
        let list = [
            json!({"name": "web-stable", "weight": 50}),
            json!({"name": "web-gone", "weight": 50}),
        ];
        let backends = weighted(&s, "shop", &list, "/name", 1).unwrap();
        let (stable, canary) = (pod("stable", false), pod("canary", true));
        assert_eq!(rates(&backends, &[&stable, &canary], 100.0), vec![0.0, 0.0]);
    }
}
