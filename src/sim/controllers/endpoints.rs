//! The Endpoints controller: for every Service with a selector, an Endpoints
//! object of the same name listing the selected pods' IPs, ready ones in
//! `addresses`, the rest in `notReadyAddresses`. Terminating pods are left out,
//! as Kubernetes does for Services that do not publish unready addresses.
//!
//! It recomputes a namespace only when a pod or Service in it changed, learnt
//! from the store's change feed, so a quiet cluster costs nothing per tick.

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;

use serde_json::{Map, Value, json};
use tokio::sync::broadcast::{self, error::TryRecvError};

use super::replicaset::is_ready;
use super::{is_terminating, labels, map_selects, name, namespace, uid};
use crate::sim::Store;
use crate::sim::resources::kinds;
use crate::sim::store::{Change, ChangeKind};
use crate::sim::world::{Controller, TickCtx};

#[derive(Default)]
pub struct EndpointsController {
    feed: Option<broadcast::Receiver<Arc<Change>>>,
}

enum Dirty {
    All,
    Some(BTreeSet<String>),
}

impl EndpointsController {
    fn dirty(&mut self, store: &Store) -> Dirty {
        let Some(feed) = self.feed.as_mut() else {
            self.feed = Some(store.subscribe());
            return Dirty::All;
        };
        let mut dirty = BTreeSet::new();
        loop {
            match feed.try_recv() {
                Ok(change) => {
                    let res = change.resource;
                    let relevant = std::ptr::eq(res, kinds::pods())
                        || std::ptr::eq(res, kinds::services())
                        || (std::ptr::eq(res, kinds::endpoints())
                            && change.kind == ChangeKind::Deleted);
                    if relevant {
                        dirty.insert(change.namespace.clone());
                    }
                }
                Err(TryRecvError::Empty | TryRecvError::Closed) => return Dirty::Some(dirty),
                Err(TryRecvError::Lagged(_)) => {
                    *feed = store.subscribe();
                    return Dirty::All;
                }
            }
        }
    }
}

impl Controller for EndpointsController {
    fn tick(&mut self, ctx: &mut TickCtx<'_>) {
        let store = &ctx.shared.store;
        let namespaces: Vec<String> = match self.dirty(store) {
            Dirty::All => store
                .list(kinds::namespaces(), None)
                .0
                .iter()
                .map(|n| name(n).to_string())
                .collect(),
            Dirty::Some(set) => set.into_iter().collect(),
        };
        for ns in namespaces {
            sync_namespace(store, &ns);
        }
    }
}

fn sync_namespace(store: &Store, ns: &str) {
    let (services, _) = store.list(kinds::services(), Some(ns));
    let (pods, _) = store.list(kinds::pods(), Some(ns));
    let live: Vec<&Value> = pods
        .iter()
        .map(AsRef::as_ref)
        .filter(|p| {
            !is_terminating(p) && p.pointer("/status/podIP").and_then(Value::as_str).is_some()
        })
        .collect();
    // Pods by each of their labels, so a Service looks only at the pods that
    // carry its first selector label.
    let mut by_label: HashMap<(&str, &str), Vec<&Value>> = HashMap::new();
    for p in &live {
        for (k, v) in labels(p).into_iter().flatten() {
            if let Some(v) = v.as_str() {
                by_label.entry((k.as_str(), v)).or_default().push(p);
            }
        }
    }
    for svc in &services {
        let Some(selector) = svc
            .pointer("/spec/selector")
            .and_then(Value::as_object)
            .filter(|s| !s.is_empty())
        else {
            continue;
        };
        let Some((k, v)) = selector
            .iter()
            .next()
            .and_then(|(k, v)| v.as_str().map(|v| (k.as_str(), v)))
        else {
            continue;
        };
        let selected: Vec<&Value> = by_label
            .get(&(k, v))
            .map(|ps| {
                ps.iter()
                    .copied()
                    .filter(|p| map_selects(selector, labels(p)))
                    .collect()
            })
            .unwrap_or_default();
        write(store, svc, &selected);
    }
    // Endpoints outlive nothing: when a Service goes, so do its Endpoints.
    let services: BTreeSet<&str> = services.iter().map(|s| name(s)).collect();
    let (existing, _) = store.list(kinds::endpoints(), Some(ns));
    for e in existing {
        if !services.contains(name(&e)) {
            let _ = store.delete(kinds::endpoints(), ns, name(&e));
        }
    }
}

fn address(pod: &Value) -> Value {
    json!({
        "ip": pod.pointer("/status/podIP").cloned().unwrap_or(Value::Null),
        "nodeName": pod.pointer("/spec/nodeName").cloned().unwrap_or(Value::Null),
        "targetRef": {"kind": "Pod", "namespace": namespace(pod), "name": name(pod), "uid": uid(pod)},
    })
}

fn ports(svc: &Value, pods: &[&Value]) -> Vec<Value> {
    let ports = svc
        .pointer("/spec/ports")
        .and_then(Value::as_array)
        .map_or(&[][..], Vec::as_slice);
    ports
        .iter()
        .map(|p| {
            let target = match p.get("targetPort") {
                Some(Value::Number(n)) => n.as_i64(),
                Some(Value::String(named)) => pods.iter().find_map(|pod| named_port(pod, named)),
                _ => None,
            }
            .or_else(|| p.get("port").and_then(Value::as_i64))
            .unwrap_or(0);
            let mut port = Map::new();
            if let Some(n) = p.get("name") {
                port.insert("name".into(), n.clone());
            }
            port.insert("port".into(), json!(target));
            port.insert(
                "protocol".into(),
                p.get("protocol").cloned().unwrap_or_else(|| json!("TCP")),
            );
            Value::Object(port)
        })
        .collect()
}

fn named_port(pod: &Value, named: &str) -> Option<i64> {
    pod.pointer("/spec/containers")?
        .as_array()?
        .iter()
        .find_map(|c| {
            c.get("ports")?
                .as_array()?
                .iter()
                .find(|p| p.get("name").and_then(Value::as_str) == Some(named))?
                .get("containerPort")?
                .as_i64()
        })
}

fn write(store: &Store, svc: &Value, pods: &[&Value]) {
    let mut ready: Vec<Value> = Vec::new();
    let mut not_ready: Vec<Value> = Vec::new();
    for p in pods {
        if is_ready(p) {
            ready.push(address(p));
        } else {
            not_ready.push(address(p));
        }
    }
    let by_ip = |a: &Value, b: &Value| a["ip"].as_str().cmp(&b["ip"].as_str());
    ready.sort_by(by_ip);
    not_ready.sort_by(by_ip);
    let subsets = if pods.is_empty() {
        Value::Null
    } else {
        let mut subset = Map::new();
        if !ready.is_empty() {
            subset.insert("addresses".into(), Value::Array(ready));
        }
        if !not_ready.is_empty() {
            subset.insert("notReadyAddresses".into(), Value::Array(not_ready));
        }
        subset.insert("ports".into(), Value::Array(ports(svc, pods)));
        json!([subset])
    };
    let ns = namespace(svc);
    let endpoint_labels = svc
        .pointer("/metadata/labels")
        .cloned()
        .unwrap_or_else(|| json!({}));
    let edited = store.modify::<()>(kinds::endpoints(), ns, name(svc), |e| {
        e["metadata"]["labels"] = endpoint_labels.clone();
        match &subsets {
            Value::Null => {
                if let Some(o) = e.as_object_mut() {
                    o.remove("subsets");
                }
            }
            s => e["subsets"] = s.clone(),
        }
        Ok(())
    });
    if edited.is_err() {
        let mut body = json!({"metadata": {"name": name(svc), "labels": endpoint_labels}});
        if !subsets.is_null() {
            body["subsets"] = subsets;
        }
        let _ = store.create(kinds::endpoints(), ns, body);
    }
}
