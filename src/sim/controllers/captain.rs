//! The writes a person made early in a scenario (`step`, `abort`, `paused`
//! on an app), so a cluster starts with rollouts at different stages while
//! the controllers do all the work: the Rollout promoted past its pauses up
//! to a step, or aborted at its first pause, as `kubectl argo rollouts`
//! writes it; a Deployment paused once its pods are up, as
//! `kubectl rollout pause` does. Each app's write is made once.

use std::time::Duration;

use serde_json::{Value, json};

use super::put;
use crate::sim::resources::kinds;
use crate::sim::scenario::Strategy;
use crate::sim::world::{Controller, TickCtx};

/// How often the captain looks.
const EVERY: Duration = Duration::from_secs(1);

#[derive(Default)]
pub struct Captain {
    /// Apps (by index) whose write is made or not wanted.
    done: Vec<bool>,
    last: Option<Duration>,
}

impl Controller for Captain {
    fn tick(&mut self, ctx: &mut TickCtx<'_>) {
        if self.last.is_some_and(|t| ctx.since_start < t + EVERY) {
            return;
        }
        self.last = Some(ctx.since_start);
        let apps = &ctx.shared.scenario.apps;
        if self.done.len() != apps.len() {
            self.done = apps
                .iter()
                .map(|a| match a.strategy {
                    Strategy::ArgoCanary => a.step.is_none() && !a.abort,
                    Strategy::Rolling => !a.paused,
                    _ => true,
                })
                .collect();
        }
        let store = &ctx.shared.store;
        for (app, done) in apps.iter().zip(self.done.iter_mut()) {
            if *done {
                continue;
            }
            let (ns, name) = (app.namespace.as_str(), app.name.as_str());
            match app.strategy {
                Strategy::Rolling => {
                    let Some(d) = store.get(kinds::deployments(), ns, name) else {
                        continue;
                    };
                    let want = d
                        .pointer("/spec/replicas")
                        .and_then(Value::as_i64)
                        .unwrap_or(1);
                    let up = d
                        .pointer("/status/availableReplicas")
                        .and_then(Value::as_i64)
                        .unwrap_or(0);
                    if up >= want {
                        *done = store
                            .modify::<()>(kinds::deployments(), ns, name, |d| {
                                put(d, &["spec", "paused"], json!(true));
                                Ok(())
                            })
                            .is_ok();
                    }
                }
                Strategy::ArgoCanary => {
                    let Some(ro) = store.get(kinds::rollouts(), ns, name) else {
                        continue;
                    };
                    let at = ro
                        .pointer("/status/currentStepIndex")
                        .and_then(Value::as_u64)
                        .unwrap_or(0);
                    let paused = ro
                        .pointer("/status/pauseConditions")
                        .and_then(Value::as_array)
                        .is_some_and(|c| !c.is_empty());
                    if app.step.is_some_and(|s| at >= u64::from(s)) && !app.abort {
                        *done = true;
                    } else if paused {
                        let body = if app.abort {
                            json!({"abort": true})
                        } else {
                            json!({"pauseConditions": null})
                        };
                        let wrote = store.modify::<()>(kinds::rollouts(), ns, name, |o| {
                            json_patch::merge(&mut o["status"], &body);
                            Ok(())
                        });
                        *done = app.abort && wrote.is_ok();
                    }
                }
                _ => *done = true,
            }
        }
    }
}
