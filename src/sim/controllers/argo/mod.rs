//! A small Argo Rollouts controller: blue-green Rollouts switch their active
//! Service once the new ReplicaSet is up (or when promoted); canary Rollouts
//! walk their steps
//! (`setWeight`, timed and indefinite `pause`, `analysis`, background
//! analysis), own their ReplicaSets by `rollouts-pod-template-hash`, move an
//! Istio VirtualService when traffic routing is set, and answer the writes of
//! `kubectl argo rollouts` (promote, promote --full, abort, retry, pause,
//! restart, undo).
//!
//! It acts on change: a Rollout is looked at when it, one of its ReplicaSets
//! or one of its AnalysisRuns changes, and on every tick only while a clock
//! of its own runs (a timed pause, an analysis's interval, a restart). A
//! quiet cluster, or a Rollout paused for a person, costs nothing.

pub mod analysis;
mod bluegreen;
mod canary;
pub mod measure;
pub mod replicas;
mod restart;
pub mod spec;

use std::collections::BTreeSet;

use super::feed::{Changes, Feed};
use super::{controller_uid, name, namespace};
use crate::sim::resources::kinds;
use crate::sim::world::{Controller, TickCtx};

pub use canary::canary_replicas;

#[derive(Default)]
pub struct RolloutController {
    feed: Feed,
    /// Rollouts waiting on the clock, looked at every tick: (namespace, name).
    active: BTreeSet<(String, String)>,
}

impl Controller for RolloutController {
    fn tick(&mut self, ctx: &mut TickCtx<'_>) {
        let store = &ctx.shared.store;
        let mut dirty = std::mem::take(&mut self.active);
        match self.feed.drain(store) {
            Changes::All => {
                for ro in store.list(kinds::rollouts(), None).0 {
                    dirty.insert((namespace(&ro).to_string(), name(&ro).to_string()));
                }
            }
            Changes::Some(changes) => {
                for c in changes {
                    let res = c.resource;
                    if std::ptr::eq(res, kinds::rollouts()) {
                        dirty.insert((c.namespace.clone(), c.name.clone()));
                    } else if (std::ptr::eq(res, kinds::replicasets())
                        || std::ptr::eq(res, kinds::analysisruns()))
                        && let Some(owner) = owner_rollout(&c.object)
                    {
                        dirty.insert((c.namespace.clone(), owner));
                    }
                }
            }
        }
        let pass = canary::Pass {
            shared: ctx.shared,
            now: ctx.now,
            since_start: ctx.since_start,
        };
        for (ns, ro_name) in dirty {
            let Some(rollout) = store.get(kinds::rollouts(), &ns, &ro_name) else {
                continue;
            };
            let outcome = if let Some(strategy) = spec::canary(&rollout) {
                canary::reconcile(&pass, &rollout, &strategy)
            } else if let Some(bg) = rollout.pointer("/spec/strategy/blueGreen") {
                bluegreen::reconcile(&pass, &rollout, bg)
            } else {
                continue;
            };
            // The restart reads the Rollout again: the pass above may have written it.
            let restarting = store
                .get(kinds::rollouts(), &ns, &ro_name)
                .is_some_and(|ro| restart::advance(ctx.shared, &ro, ctx.now));
            if outcome.active || restarting {
                self.active.insert((ns, ro_name));
            }
        }
    }
}

/// The name of the Rollout that controls an object, if one does.
fn owner_rollout(object: &serde_json::Value) -> Option<String> {
    controller_uid(object)?;
    object
        .pointer("/metadata/ownerReferences")?
        .as_array()?
        .iter()
        .find(|r| {
            r.get("controller").and_then(serde_json::Value::as_bool) == Some(true)
                && r.get("kind").and_then(serde_json::Value::as_str) == Some("Rollout")
        })?
        .get("name")?
        .as_str()
        .map(str::to_string)
}
