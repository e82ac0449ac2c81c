//! The scheduler: binds each unscheduled pod to the node running the fewest
//! pods, the first such node by name on a tie, so that placement is
//! deterministic and spread evenly. A node takes no more pods than its
//! allocatable `pods`; a pod that fits nowhere is marked Unschedulable and
//! tried again when a pod goes away or a node changes.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;

use serde_json::{Value, json};

use super::events::{self, Event, EventType, Source};
use super::feed::{Changes, Feed};
use super::{is_terminating, name, namespace, put, timestamp, uid};
use crate::sim::resources::kinds;
use crate::sim::store::ChangeKind;
use crate::sim::world::{Controller, TickCtx};

const COMPONENT: &str = "default-scheduler";

/// Looks only at pods that were added or changed since the last tick, and at
/// the unschedulable ones when room may have appeared.
#[derive(Default)]
pub struct Scheduler {
    feed: Feed,
    unschedulable: BTreeSet<(String, String)>,
    placed: Placed,
}

/// The node of every bound pod in the store, kept from the change feed, so
/// that finding room does not read all pods on each tick of a rollout.
#[derive(Default)]
struct Placed {
    node_of: HashMap<String, String>,
    per_node: HashMap<String, usize>,
}

impl Placed {
    fn rebuild(&mut self, pods: &[Arc<Value>]) {
        *self = Placed::default();
        for p in pods {
            self.set(uid(p), node_of(p));
        }
    }

    /// Records where the pod with `id` is bound now (`None`: nowhere, or gone).
    fn set(&mut self, id: &str, node: Option<&str>) {
        if self.node_of.get(id).map(String::as_str) == node {
            return;
        }
        if let Some(old) = self.node_of.remove(id)
            && let Some(n) = self.per_node.get_mut(&old)
        {
            *n = n.saturating_sub(1);
        }
        if let Some(node) = node {
            self.node_of.insert(id.to_string(), node.to_string());
            *self.per_node.entry(node.to_string()).or_default() += 1;
        }
    }
}

fn node_of(pod: &Value) -> Option<&str> {
    pod.pointer("/spec/nodeName")
        .and_then(Value::as_str)
        .filter(|n| !n.is_empty())
}

/// Room on one node: pods running and pods allowed.
struct Room {
    used: usize,
    capacity: usize,
}

impl Controller for Scheduler {
    fn tick(&mut self, ctx: &mut TickCtx<'_>) {
        let store = &ctx.shared.store;
        let mut candidates: Vec<Arc<Value>> = match self.feed.drain(store) {
            Changes::All => {
                let (pods, _) = store.list(kinds::pods(), None);
                self.placed.rebuild(&pods);
                pods
            }
            Changes::Some(changes) => {
                for c in changes
                    .iter()
                    .filter(|c| std::ptr::eq(c.resource, kinds::pods()))
                {
                    let node = match c.kind {
                        ChangeKind::Deleted => None,
                        _ => node_of(&c.object),
                    };
                    self.placed.set(uid(&c.object), node);
                }
                let room_freed = changes.iter().any(|c| {
                    (std::ptr::eq(c.resource, kinds::pods()) && c.kind == ChangeKind::Deleted)
                        || std::ptr::eq(c.resource, kinds::nodes())
                });
                let mut candidates: Vec<Arc<Value>> = changes
                    .iter()
                    .filter(|c| {
                        std::ptr::eq(c.resource, kinds::pods()) && c.kind != ChangeKind::Deleted
                    })
                    .map(|c| c.object.clone())
                    .collect();
                if room_freed {
                    candidates.extend(
                        self.unschedulable
                            .iter()
                            .filter_map(|(ns, n)| store.get(kinds::pods(), ns, n)),
                    );
                }
                candidates
            }
        };
        candidates.retain(|p| node_of(p).is_none() && !is_terminating(p));
        let mut seen = BTreeSet::new();
        candidates.retain(|p| seen.insert(uid(p).to_string()));
        if candidates.is_empty() {
            return;
        }
        let mut rooms = rooms(ctx, &self.placed);
        let stamp = timestamp(ctx.now);
        for pod in &candidates {
            let key = (namespace(pod).to_string(), name(pod).to_string());
            let Some(node) = rooms
                .iter()
                .filter(|(_, r)| r.used < r.capacity)
                .min_by(|a, b| a.1.used.cmp(&b.1.used).then_with(|| a.0.cmp(b.0)))
                .map(|(n, _)| n.clone())
            else {
                if self.unschedulable.insert(key) {
                    mark_unschedulable(ctx, pod, &rooms, &stamp);
                }
                continue;
            };
            self.unschedulable.remove(&key);
            let bound = store.modify::<()>(kinds::pods(), &key.0, &key.1, |p| {
                if uid(p) != uid(pod) || node_of(p).is_some() {
                    return Err(());
                }
                put(p, &["spec", "nodeName"], json!(node));
                if !p["status"].is_object() {
                    put(p, &["status"], json!({"phase": "Pending"}));
                }
                put(
                    p,
                    &["status", "conditions"],
                    json!([{
                        "type": "PodScheduled", "status": "True",
                        "lastProbeTime": null, "lastTransitionTime": stamp,
                    }]),
                );
                Ok(())
            });
            if let Ok(bound) = bound {
                if let Some(room) = rooms.get_mut(&node) {
                    room.used += 1;
                }
                let message = format!("Successfully assigned {}/{} to {node}", key.0, key.1);
                record(ctx, &bound, EventType::Normal, "Scheduled", &message);
            }
        }
        let live: BTreeSet<(String, String)> = self
            .unschedulable
            .iter()
            .filter(|(ns, n)| store.get(kinds::pods(), ns, n).is_some())
            .cloned()
            .collect();
        self.unschedulable = live;
    }
}

fn rooms(ctx: &TickCtx<'_>, placed: &Placed) -> BTreeMap<String, Room> {
    let store = &ctx.shared.store;
    let (nodes, _) = store.list(kinds::nodes(), None);
    nodes
        .iter()
        .filter(|n| n.pointer("/spec/unschedulable").and_then(Value::as_bool) != Some(true))
        .map(|n| {
            let capacity = n
                .pointer("/status/allocatable/pods")
                .and_then(|p| {
                    p.as_str()
                        .and_then(|s| s.parse().ok())
                        .or_else(|| p.as_u64())
                })
                .map_or(110, |p| usize::try_from(p).unwrap_or(usize::MAX));
            let used = placed.per_node.get(name(n)).copied().unwrap_or(0);
            (name(n).to_string(), Room { used, capacity })
        })
        .collect()
}

fn mark_unschedulable(ctx: &TickCtx<'_>, pod: &Value, rooms: &BTreeMap<String, Room>, stamp: &str) {
    let message = if rooms.is_empty() {
        "0/0 nodes are available: no nodes available to schedule pods.".to_string()
    } else {
        format!(
            "0/{n} nodes are available: {n} Too many pods. preemption: 0/{n} nodes are available: {n} No preemption victims found for incoming pod.",
            n = rooms.len()
        )
    };
    let marked = ctx
        .shared
        .store
        .modify::<()>(kinds::pods(), namespace(pod), name(pod), |p| {
            put(
                p,
                &["status", "conditions"],
                json!([{
                    "type": "PodScheduled", "status": "False",
                    "reason": "Unschedulable", "message": message,
                    "lastProbeTime": null, "lastTransitionTime": stamp,
                }]),
            );
            Ok(())
        });
    if let Ok(pod) = marked {
        record(ctx, &pod, EventType::Warning, "FailedScheduling", &message);
    }
}

fn record(ctx: &TickCtx<'_>, pod: &Value, kind: EventType, reason: &str, message: &str) {
    events::record(
        &ctx.shared.store,
        ctx.now,
        &Event {
            object: pod,
            field_path: None,
            kind,
            reason,
            message,
            source: Source::component(COMPONENT),
        },
    );
}
