//! The Endpoints controller: for every Service with a selector, an Endpoints
//! object of the same name listing the selected pods' IPs, ready ones in
//! `addresses`, the rest in `notReadyAddresses`. Terminating pods are left out,
//! as Kubernetes does for Services that do not publish unready addresses.
//!
//! It keeps each Service's members in memory and updates them from the store's
//! change feed, so a tick costs in proportion to what changed, and a quiet
//! cluster costs nothing.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;

use serde_json::{Map, Value, json};

use super::feed::{Changes, Feed};
use super::replicaset::is_ready;
use super::{is_terminating, labels, map_selects, name, put};
use crate::sim::Store;
use crate::sim::resources::kinds;
use crate::sim::store::ChangeKind;
use crate::sim::world::{Controller, TickCtx};

type ServiceKey = (String, String);

/// One selected pod, as its Endpoints entry shows it.
#[derive(Debug, Clone, PartialEq)]
struct Member {
    ip: String,
    node: String,
    uid: String,
    ready: bool,
    /// The pod's named container ports, for Services that target a port by name.
    named_ports: Vec<(String, i64)>,
}

impl Member {
    /// The pod's entry, or `None` when it belongs in no Endpoints (no IP yet,
    /// or terminating).
    fn of(pod: &Value) -> Option<Member> {
        if is_terminating(pod) {
            return None;
        }
        let ip = pod.pointer("/status/podIP").and_then(Value::as_str)?;
        let named_ports = pod
            .pointer("/spec/containers")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .flat_map(|c| {
                c.get("ports")
                    .and_then(Value::as_array)
                    .into_iter()
                    .flatten()
            })
            .filter_map(|p| {
                Some((
                    p.get("name")?.as_str()?.to_string(),
                    p.get("containerPort")?.as_i64()?,
                ))
            })
            .collect();
        Some(Member {
            ip: ip.to_string(),
            node: pod
                .pointer("/spec/nodeName")
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_string(),
            uid: super::uid(pod).to_string(),
            ready: is_ready(pod),
            named_ports,
        })
    }
}

#[derive(Default)]
pub struct EndpointsController {
    feed: Feed,
    /// The pods each Service selects, by pod name.
    members: BTreeMap<ServiceKey, BTreeMap<String, Member>>,
}

fn selector(svc: &Value) -> Option<&Map<String, Value>> {
    svc.pointer("/spec/selector")
        .and_then(Value::as_object)
        .filter(|s| !s.is_empty())
}

impl Controller for EndpointsController {
    fn tick(&mut self, ctx: &mut TickCtx<'_>) {
        let store = &ctx.shared.store;
        match self.feed.drain(store) {
            Changes::All => self.resync(store),
            Changes::Some(changes) => self.apply(store, &changes),
        }
    }
}

impl EndpointsController {
    /// Rebuilds every Service's members from the store.
    fn resync(&mut self, store: &Store) {
        self.members.clear();
        for ns in store.list(kinds::namespaces(), None).0 {
            let ns = name(&ns);
            let (services, _) = store.list(kinds::services(), Some(ns));
            let (pods, _) = store.list(kinds::pods(), Some(ns));
            let names: BTreeSet<&str> = services.iter().map(|s| name(s)).collect();
            for e in store.list(kinds::endpoints(), Some(ns)).0 {
                if !names.contains(name(&e)) {
                    let _ = store.delete(kinds::endpoints(), ns, name(&e));
                }
            }
            let members: Vec<(&Value, Member)> = pods
                .iter()
                .filter_map(|p| Some((p.as_ref(), Member::of(p)?)))
                .collect();
            for svc in &services {
                let Some(sel) = selector(svc) else { continue };
                let selected: BTreeMap<String, Member> = members
                    .iter()
                    .filter(|(p, _)| map_selects(sel, labels(p)))
                    .map(|(p, m)| (name(p).to_string(), m.clone()))
                    .collect();
                write(store, svc, &selected);
                self.members
                    .insert((ns.to_string(), name(svc).to_string()), selected);
            }
        }
    }

    fn apply(&mut self, store: &Store, changes: &[Arc<crate::sim::store::Change>]) {
        let mut services: BTreeSet<ServiceKey> = BTreeSet::new();
        let mut touched: BTreeSet<ServiceKey> = BTreeSet::new();
        let mut in_namespace: HashMap<String, Vec<Arc<Value>>> = HashMap::new();
        for c in changes {
            let key = (c.namespace.clone(), c.name.clone());
            if std::ptr::eq(c.resource, kinds::services())
                || (std::ptr::eq(c.resource, kinds::endpoints()) && c.kind == ChangeKind::Deleted)
            {
                services.insert(key);
                continue;
            }
            if !std::ptr::eq(c.resource, kinds::pods()) {
                continue;
            }
            let svcs = in_namespace
                .entry(c.namespace.clone())
                .or_insert_with(|| store.list(kinds::services(), Some(&c.namespace)).0);
            let member = if c.kind == ChangeKind::Deleted {
                None
            } else {
                Member::of(&c.object)
            };
            for svc in svcs.iter() {
                let Some(sel) = selector(svc) else { continue };
                let skey = (c.namespace.clone(), name(svc).to_string());
                let entries = self.members.entry(skey.clone()).or_default();
                let wanted = member
                    .as_ref()
                    .filter(|_| map_selects(sel, labels(&c.object)));
                let changed = match wanted {
                    Some(m) if entries.get(&c.name) != Some(m) => {
                        entries.insert(c.name.clone(), m.clone());
                        true
                    }
                    Some(_) => false,
                    None => entries.remove(&c.name).is_some(),
                };
                if changed {
                    touched.insert(skey);
                }
            }
        }
        // A Service that changed (or lost its Endpoints) is rebuilt whole: its
        // selector may now pick other pods.
        for key in &services {
            let (ns, svc_name) = key;
            let Some(svc) = store.get(kinds::services(), ns, svc_name) else {
                self.members.remove(key);
                let _ = store.delete(kinds::endpoints(), ns, svc_name);
                touched.remove(key);
                continue;
            };
            let (pods, _) = store.list(kinds::pods(), Some(ns));
            let selected: BTreeMap<String, Member> = selector(&svc)
                .map(|sel| {
                    pods.iter()
                        .filter(|p| map_selects(sel, labels(p)))
                        .filter_map(|p| Some((name(p).to_string(), Member::of(p)?)))
                        .collect()
                })
                .unwrap_or_default();
            if selector(&svc).is_some() {
                write(store, &svc, &selected);
            }
            self.members.insert(key.clone(), selected);
            touched.remove(key);
        }
        for key in touched {
            if let (Some(svc), Some(members)) = (
                store.get(kinds::services(), &key.0, &key.1),
                self.members.get(&key),
            ) {
                write(store, &svc, members);
            }
        }
    }
}

fn address(pod: &str, ns: &str, m: &Member) -> Value {
    json!({
        "ip": m.ip,
        "nodeName": m.node,
        "targetRef": {"kind": "Pod", "namespace": ns, "name": pod, "uid": m.uid},
    })
}

fn ports(svc: &Value, members: &BTreeMap<String, Member>) -> Vec<Value> {
    let ports = svc
        .pointer("/spec/ports")
        .and_then(Value::as_array)
        .map_or(&[][..], Vec::as_slice);
    ports
        .iter()
        .map(|p| {
            let target = match p.get("targetPort") {
                Some(Value::Number(n)) => n.as_i64(),
                Some(Value::String(named)) => members.values().find_map(|m| {
                    m.named_ports
                        .iter()
                        .find(|(n, _)| n == named)
                        .map(|(_, port)| *port)
                }),
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

fn write(store: &Store, svc: &Value, members: &BTreeMap<String, Member>) {
    let ns = super::namespace(svc);
    let mut sorted: Vec<(&String, &Member)> = members.iter().collect();
    sorted.sort_by(|a, b| a.1.ip.cmp(&b.1.ip));
    let (ready, not_ready): (Vec<_>, Vec<_>) = sorted.into_iter().partition(|(_, m)| m.ready);
    let subsets = if members.is_empty() {
        Value::Null
    } else {
        let mut subset = Map::new();
        if !ready.is_empty() {
            subset.insert(
                "addresses".into(),
                ready.iter().map(|(p, m)| address(p, ns, m)).collect(),
            );
        }
        if !not_ready.is_empty() {
            subset.insert(
                "notReadyAddresses".into(),
                not_ready.iter().map(|(p, m)| address(p, ns, m)).collect(),
            );
        }
        subset.insert("ports".into(), Value::Array(ports(svc, members)));
        json!([subset])
    };
    let endpoint_labels = svc
        .pointer("/metadata/labels")
        .cloned()
        .unwrap_or_else(|| json!({}));
    let edited = store.modify::<()>(kinds::endpoints(), ns, name(svc), |e| {
        put(e, &["metadata", "labels"], endpoint_labels.clone());
        match &subsets {
            Value::Null => {
                if let Some(o) = e.as_object_mut() {
                    o.remove("subsets");
                }
            }
            s => put(e, &["subsets"], s.clone()),
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
