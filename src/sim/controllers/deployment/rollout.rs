//! Moving replicas between ReplicaSets: rolling and recreate updates, scaling,
//! proportional scaling during a rollout, and history cleanup.

use std::collections::BTreeMap;
use std::sync::Arc;

use serde_json::{Value, json};

use super::{DESIRED_REPLICAS, MAX_REPLICAS, Rs, Sync};
use crate::sim::controllers::{annotation, by_controller, int_at, namespace, put, uid};
use crate::sim::resources::kinds;

impl Sync<'_> {
    /// Sets a ReplicaSet's size and its replica annotations; an event says so.
    pub(super) fn scale_rs(&mut self, i: usize, to: i64) {
        let from = self.rss[i].replicas;
        let desired = self.spec.replicas.to_string();
        let max = (self.spec.replicas + self.spec.max_surge).to_string();
        let edited = self.store.modify::<()>(
            kinds::replicasets(),
            namespace(self.d),
            &self.rss[i].name,
            |o| {
                put(o, &["spec", "replicas"], json!(to));
                put(
                    o,
                    &["metadata", "annotations", DESIRED_REPLICAS],
                    json!(desired),
                );
                put(o, &["metadata", "annotations", MAX_REPLICAS], json!(max));
                Ok(())
            },
        );
        let Ok(obj) = edited else { return };
        self.rss[i] = Rs::of(obj);
        if from != to {
            let direction = if to > from { "up" } else { "down" };
            let msg = format!(
                "Scaled {direction} replica set {} from {from} to {to}",
                self.rss[i].name
            );
            self.record("ScalingReplicaSet", &msg);
        }
    }

    /// A scaling event: an active ReplicaSet was sized for another replica count.
    pub(super) fn is_scaling_event(&mut self) -> bool {
        self.find_or_create_new(false);
        let want = self.spec.replicas.to_string();
        self.rss
            .iter()
            .filter(|rs| rs.replicas > 0)
            .any(|rs| annotation(&rs.object, DESIRED_REPLICAS).is_some_and(|d| d != want))
    }

    /// Paused or scaling: resize without rolling (Kubernetes' `sync`).
    pub(super) fn sync_scale(&mut self) {
        self.find_or_create_new(false);
        self.scale();
        if self.spec.paused {
            self.cleanup();
        }
        let status = self.calculate_status();
        self.write(status);
    }

    pub(super) fn scale(&mut self) {
        let active: Vec<usize> = (0..self.rss.len())
            .filter(|i| self.rss[*i].replicas > 0)
            .collect();
        let active_or_latest = match active.len() {
            0 => self.new.or_else(|| self.old_indices().last().copied()),
            1 => Some(active[0]),
            _ => None,
        };
        if let Some(i) = active_or_latest {
            if self.rss[i].replicas != self.spec.replicas {
                self.scale_rs(i, self.spec.replicas);
            }
            return;
        }
        if let Some(n) = self.new {
            let rs = &self.rss[n];
            let saturated = rs.replicas == self.spec.replicas
                && annotation(&rs.object, DESIRED_REPLICAS)
                    == Some(&self.spec.replicas.to_string())
                && rs.available == self.spec.replicas;
            if saturated {
                for i in self.old_indices() {
                    if self.rss[i].replicas > 0 {
                        self.scale_rs(i, 0);
                    }
                }
                return;
            }
        }
        if self.spec.recreate {
            return;
        }
        self.scale_proportionally(&active);
    }

    /// Spreads a change of `spec.replicas` during a rollout over the active
    /// ReplicaSets in proportion to their size, bigger ones first.
    pub(super) fn scale_proportionally(&mut self, active: &[usize]) {
        let all: i64 = active.iter().map(|i| self.rss[*i].replicas).sum();
        let allowed = if self.spec.replicas > 0 {
            self.spec.replicas + self.spec.max_surge
        } else {
            0
        };
        let to_add = allowed - all;
        if to_add == 0 {
            return;
        }
        let mut order = active.to_vec();
        order.sort_by(|a, b| {
            let (ra, rb) = (&self.rss[*a], &self.rss[*b]);
            let by_size = rb.replicas.cmp(&ra.replicas);
            let by_age = if to_add > 0 {
                rb.created.cmp(&ra.created)
            } else {
                ra.created.cmp(&rb.created)
            };
            by_size.then(by_age)
        });
        let mut added = 0;
        let mut sizes: Vec<(usize, i64)> = Vec::new();
        for &i in &order {
            let rs = &self.rss[i];
            let fraction = if self.spec.replicas == 0 {
                -rs.replicas
            } else {
                let annotated = annotation(&rs.object, MAX_REPLICAS)
                    .and_then(|m| m.parse::<i64>().ok())
                    .filter(|m| *m > 0)
                    .unwrap_or_else(|| int_at(self.d, "/status/replicas").unwrap_or(1).max(1));
                (rs.replicas as f64 * allowed as f64 / annotated as f64).round() as i64
                    - rs.replicas
            };
            let remaining = to_add - added;
            let proportion = if to_add > 0 {
                fraction.min(remaining)
            } else {
                fraction.max(remaining)
            };
            sizes.push((i, rs.replicas + proportion));
            added += proportion;
        }
        if added != to_add
            && let Some(first) = sizes.first_mut()
        {
            first.1 = (first.1 + to_add - added).max(0);
        }
        for (i, size) in sizes {
            self.scale_rs(i, size.max(0));
        }
    }

    pub(super) fn rollout_rolling(&mut self) {
        self.find_or_create_new(true);
        let scaled = self.reconcile_new() || self.reconcile_old();
        if !scaled && self.was_complete() {
            self.cleanup();
        }
        self.sync_rollout_status();
    }

    pub(super) fn reconcile_new(&mut self) -> bool {
        let Some(n) = self.new else { return false };
        let current = self.rss[n].replicas;
        if current == self.spec.replicas {
            return false;
        }
        let target = if current > self.spec.replicas {
            self.spec.replicas
        } else {
            self.new_rs_replicas(current)
        };
        if target == current {
            return false;
        }
        self.scale_rs(n, target);
        true
    }

    pub(super) fn reconcile_old(&mut self) -> bool {
        let old = self.old_indices();
        let old_count: i64 = old.iter().map(|i| self.rss[*i].replicas).sum();
        if old_count == 0 {
            return false;
        }
        let all_count: i64 = self.rss.iter().map(|r| r.replicas).sum();
        let min_available = self.spec.replicas - self.spec.max_unavailable();
        let new_unavailable = self
            .new
            .map_or(0, |n| (self.rss[n].replicas - self.rss[n].available).max(0));
        let max_scaled_down = all_count - min_available - new_unavailable;
        if max_scaled_down <= 0 {
            return false;
        }
        // Unhealthy old replicas go first: removing them costs no availability.
        let mut cleaned = 0;
        for &i in &old {
            if cleaned >= max_scaled_down {
                break;
            }
            let rs = &self.rss[i];
            if rs.replicas == 0 || rs.available >= rs.replicas {
                continue;
            }
            let down = (max_scaled_down - cleaned).min(rs.replicas - rs.available);
            let to = rs.replicas - down;
            self.scale_rs(i, to);
            cleaned += down;
        }
        let available: i64 = self.rss.iter().map(|r| r.available).sum();
        let mut scaled = 0;
        if available > min_available {
            let total = available - min_available;
            for &i in &old {
                if scaled >= total {
                    break;
                }
                let rs = &self.rss[i];
                if rs.replicas == 0 {
                    continue;
                }
                let down = rs.replicas.min(total - scaled);
                let to = rs.replicas - down;
                self.scale_rs(i, to);
                scaled += down;
            }
        }
        cleaned + scaled > 0
    }

    pub(super) fn rollout_recreate(
        &mut self,
        pods: &mut Option<BTreeMap<String, Vec<Arc<Value>>>>,
    ) {
        self.find_or_create_new(false);
        let mut scaled = false;
        for i in self.old_indices() {
            if self.rss[i].replicas > 0 {
                self.scale_rs(i, 0);
                scaled = true;
            }
        }
        if scaled {
            self.sync_rollout_status();
            return;
        }
        let pods =
            pods.get_or_insert_with(|| by_controller(&self.store.list(kinds::pods(), None).0));
        let old_running = self.old_indices().iter().any(|i| {
            pods.get(uid(&self.rss[*i].object)).is_some_and(|ps| {
                ps.iter().any(|p| {
                    !matches!(
                        p.pointer("/status/phase").and_then(Value::as_str),
                        Some("Succeeded" | "Failed")
                    )
                })
            })
        });
        if old_running {
            self.sync_rollout_status();
            return;
        }
        if self.new.is_none() {
            self.find_or_create_new(true);
        }
        if let Some(n) = self.new
            && self.rss[n].replicas != self.spec.replicas
        {
            self.scale_rs(n, self.spec.replicas);
        }
        if self.was_complete() {
            self.cleanup();
        }
        self.sync_rollout_status();
    }

    /// Deletes the oldest idle ReplicaSets beyond `revisionHistoryLimit`.
    pub(super) fn cleanup(&mut self) {
        let Some(limit) = self.spec.history_limit else {
            return;
        };
        let mut old: Vec<usize> = self.old_indices();
        let excess = old.len() as i64 - limit;
        if excess <= 0 {
            return;
        }
        old.sort_by(|a, b| {
            let (ra, rb) = (&self.rss[*a], &self.rss[*b]);
            ra.revision
                .cmp(&rb.revision)
                .then_with(|| ra.name.cmp(&rb.name))
        });
        let doomed: Vec<String> = old
            .iter()
            .take(excess as usize)
            .map(|i| &self.rss[*i])
            .filter(|rs| rs.replicas == 0 && rs.status_replicas == 0 && rs.synced())
            .map(|rs| rs.name.clone())
            .collect();
        for name in &doomed {
            let _ = self
                .store
                .delete(kinds::replicasets(), namespace(self.d), name);
        }
        let new_name = self.new.map(|n| self.rss[n].name.clone());
        self.rss.retain(|rs| !doomed.contains(&rs.name));
        self.new = new_name.and_then(|n| self.rss.iter().position(|rs| rs.name == n));
    }
}
