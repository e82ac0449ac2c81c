//! The scheduler: binds each unscheduled pod to the node running the fewest
//! pods, the first such node by name on a tie, so that placement is
//! deterministic and spread evenly.

use std::collections::BTreeMap;
use std::sync::Arc;

use serde_json::{Value, json};

use super::events::{self, Event, EventType, Source};
use super::feed::{Changes, Feed};
use super::{is_terminating, name, namespace, put, timestamp, uid};
use crate::sim::resources::kinds;
use crate::sim::store::ChangeKind;
use crate::sim::world::{Controller, TickCtx};

/// Looks only at pods that were added or changed since the last tick.
#[derive(Default)]
pub struct Scheduler {
    feed: Feed,
}

fn node_of(pod: &Value) -> Option<&str> {
    pod.pointer("/spec/nodeName")
        .and_then(Value::as_str)
        .filter(|n| !n.is_empty())
}

impl Controller for Scheduler {
    fn tick(&mut self, ctx: &mut TickCtx<'_>) {
        let store = &ctx.shared.store;
        let candidates: Vec<Arc<Value>> = match self.feed.drain(store) {
            Changes::All => store.list(kinds::pods(), None).0,
            Changes::Some(changes) => changes
                .iter()
                .filter(|c| {
                    std::ptr::eq(c.resource, kinds::pods()) && c.kind != ChangeKind::Deleted
                })
                .map(|c| c.object.clone())
                .collect(),
        };
        let mut waiting: Vec<&Value> = candidates
            .iter()
            .map(AsRef::as_ref)
            .filter(|p| node_of(p).is_none() && !is_terminating(p))
            .collect();
        waiting.dedup_by(|a, b| uid(a) == uid(b));
        if waiting.is_empty() {
            return;
        }
        let (pods, _) = store.list(kinds::pods(), None);
        let (nodes, _) = store.list(kinds::nodes(), None);
        let mut load: BTreeMap<String, usize> = nodes
            .iter()
            .filter(|n| schedulable(n))
            .map(|n| (name(n).to_string(), 0))
            .collect();
        for p in &pods {
            if let Some(n) = node_of(p)
                && let Some(count) = load.get_mut(n)
            {
                *count += 1;
            }
        }
        let stamp = timestamp(ctx.now);
        for pod in waiting {
            let Some(node) = load
                .iter()
                .min_by(|a, b| a.1.cmp(b.1).then_with(|| a.0.cmp(b.0)))
                .map(|(n, _)| n.clone())
            else {
                return;
            };
            let bound = store.modify::<()>(kinds::pods(), namespace(pod), name(pod), |p| {
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
                *load.entry(node.clone()).or_default() += 1;
                events::record(
                    store,
                    ctx.now,
                    &Event {
                        object: &bound,
                        field_path: None,
                        kind: EventType::Normal,
                        reason: "Scheduled",
                        message: &format!(
                            "Successfully assigned {}/{} to {node}",
                            namespace(pod),
                            name(pod)
                        ),
                        source: Source::component("default-scheduler"),
                    },
                );
            }
        }
    }
}

fn schedulable(node: &Value) -> bool {
    node.pointer("/spec/unschedulable").and_then(Value::as_bool) != Some(true)
}
