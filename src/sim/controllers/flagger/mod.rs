//! A small Flagger controller: a `Canary` over a Deployment gets a
//! `{target}-primary` Deployment, and each new revision of the target is
//! checked every `analysis.interval`, its weight walked by `stepWeight` or
//! `stepWeights` up to `maxWeight` (or counted in `iterations`), failed
//! checks counted against `threshold`, then promoted by copying the
//! template to the primary or rolled back. `spec.suspend` and
//! `spec.skipAnalysis` are honoured. With `provider: istio` the weights go on
//! the VirtualService's primary and canary hosts; `confirm-promotion` and
//! `rollback` webhooks gate the promotion and roll back.
//!
//! It acts on change (the Canary, its target or its primary) and ticks only
//! Canaries whose analysis is under way.

mod canary;
pub mod checks;
mod gates;
mod router;

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};

use super::feed::{Changes, Feed};
use super::{name, namespace};
use crate::sim::resources::kinds;
use crate::sim::world::{Controller, TickCtx};

#[derive(Default)]
pub struct CanaryController {
    feed: Feed,
    /// Canaries under way, with the time of their last check.
    active: BTreeMap<(String, String), Option<DateTime<Utc>>>,
}

impl Controller for CanaryController {
    fn tick(&mut self, ctx: &mut TickCtx<'_>) {
        let store = &ctx.shared.store;
        let mut dirty: BTreeMap<(String, String), Option<DateTime<Utc>>> =
            std::mem::take(&mut self.active);
        let mut wake = |ns: &str, n: &str| {
            dirty.entry((ns.to_string(), n.to_string())).or_insert(None);
        };
        match self.feed.drain(store) {
            Changes::All => {
                for c in store.list(kinds::canaries(), None).0 {
                    wake(namespace(&c), name(&c));
                }
            }
            Changes::Some(changes) => {
                for c in changes {
                    if std::ptr::eq(c.resource, kinds::canaries()) {
                        wake(&c.namespace, &c.name);
                    } else if std::ptr::eq(c.resource, kinds::deployments()) {
                        let target = c.name.strip_suffix("-primary").unwrap_or(&c.name);
                        if store.get(kinds::canaries(), &c.namespace, target).is_some() {
                            wake(&c.namespace, target);
                        }
                    }
                }
            }
        }
        let pass = canary::Pass {
            shared: ctx.shared,
            now: ctx.now,
            since_start: ctx.since_start,
        };
        for ((ns, n), mut last_check) in dirty {
            let Some(object) = store.get(kinds::canaries(), &ns, &n) else {
                continue;
            };
            if canary::reconcile(&pass, &object, &mut last_check) {
                self.active.insert((ns, n), last_check);
            }
        }
    }
}
