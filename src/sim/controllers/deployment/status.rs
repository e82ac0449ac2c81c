//! The Deployment's status and its Available and Progressing conditions.

use serde_json::{Map, Value, json};

use super::{REVISION, Status, Sync, complete};
use crate::sim::controllers::{
    annotation, find_condition, int_at, name, namespace, parse_timestamp, put, timestamp,
};
use crate::sim::resources::kinds;

impl Sync<'_> {
    pub(super) fn condition(&self, kind: &str, status: &str, reason: &str, message: &str) -> Value {
        let t = timestamp(self.now);
        json!({
            "type": kind, "status": status,
            "lastUpdateTime": t, "lastTransitionTime": t,
            "reason": reason, "message": message,
        })
    }

    /// Kubernetes' `SetDeploymentCondition`: the same status and reason is no
    /// change; the same status keeps its transition time; the new one goes last.
    pub(super) fn set_condition(&mut self, mut condition: Value) {
        let kind = condition.get("type").cloned();
        if let Some(current) = self
            .conditions
            .iter()
            .find(|c| c.get("type") == kind.as_ref())
            && current.get("status") == condition.get("status")
        {
            if current.get("reason") == condition.get("reason") {
                return;
            }
            condition["lastTransitionTime"] = current["lastTransitionTime"].clone();
        }
        self.conditions.retain(|c| c.get("type") != kind.as_ref());
        self.conditions.push(condition);
    }

    pub(super) fn progressing(&self) -> Option<&Value> {
        find_condition(&self.conditions, "Progressing")
    }

    pub(super) fn progressing_reason(&self) -> Option<&str> {
        self.progressing()
            .and_then(|c| c.get("reason"))
            .and_then(Value::as_str)
    }

    pub(super) fn check_paused_conditions(&mut self) {
        if self.spec.progress_deadline.is_none()
            || self.progressing_reason() == Some("ProgressDeadlineExceeded")
        {
            return;
        }
        let paused_shown = self.progressing_reason() == Some("DeploymentPaused");
        if self.spec.paused && !paused_shown {
            let c = self.condition(
                "Progressing",
                "Unknown",
                "DeploymentPaused",
                "Deployment is paused",
            );
            self.set_condition(c);
        } else if !self.spec.paused && paused_shown {
            let c = self.condition(
                "Progressing",
                "Unknown",
                "DeploymentResumed",
                "Deployment is resumed",
            );
            self.set_condition(c);
        }
    }

    /// `DeploymentComplete` on the status as it was stored before this sync.
    pub(super) fn was_complete(&self) -> bool {
        let s = |f: &str| int_at(self.d, &format!("/status/{f}")).unwrap_or(0);
        complete(
            &self.spec,
            s("updatedReplicas"),
            s("replicas"),
            s("availableReplicas"),
            s("observedGeneration"),
        )
    }

    pub(super) fn calculate_status(&mut self) -> Status {
        let available: i64 = self.rss.iter().map(|r| r.available).sum();
        let total: i64 = self.rss.iter().map(|r| r.replicas).sum();
        let status = Status {
            observed_generation: self.spec.generation,
            replicas: self.rss.iter().map(|r| r.status_replicas).sum(),
            updated: self.new.map_or(0, |n| self.rss[n].status_replicas),
            ready: self.rss.iter().map(|r| r.ready).sum(),
            available,
            unavailable: (total - available).max(0),
        };
        let condition = if available >= self.spec.replicas - self.spec.max_unavailable() {
            self.condition(
                "Available",
                "True",
                "MinimumReplicasAvailable",
                "Deployment has minimum availability.",
            )
        } else {
            self.condition(
                "Available",
                "False",
                "MinimumReplicasUnavailable",
                "Deployment does not have minimum availability.",
            )
        };
        self.set_condition(condition);
        status
    }

    /// Kubernetes' `syncRolloutStatus`: the Progressing condition moves only
    /// on progress, completion, or the deadline passing.
    pub(super) fn sync_rollout_status(&mut self) {
        let status = self.calculate_status();
        let Some(deadline) = self.spec.progress_deadline else {
            self.conditions
                .retain(|c| c.get("type").and_then(Value::as_str) != Some("Progressing"));
            self.write(status);
            return;
        };
        let already_complete = status.replicas == status.updated
            && self.progressing_reason() == Some("NewReplicaSetAvailable");
        if !already_complete {
            let rs_name = self.new.map(|n| self.rss[n].name.clone());
            let what = rs_name.as_ref().map_or_else(
                || format!("Deployment \"{}\"", name(self.d)),
                |n| format!("ReplicaSet \"{n}\""),
            );
            if complete(
                &self.spec,
                status.updated,
                status.replicas,
                status.available,
                status.observed_generation,
            ) {
                let msg = format!("{what} has successfully progressed.");
                let c = self.condition("Progressing", "True", "NewReplicaSetAvailable", &msg);
                self.set_condition(c);
            } else if self.made_progress(&status) {
                let msg = format!("{what} is progressing.");
                let mut c = self.condition("Progressing", "True", "ReplicaSetUpdated", &msg);
                // Progress refreshes lastUpdateTime even when the reason holds:
                // that is what the deadline is measured from.
                if let Some(current) = self.progressing()
                    && current.get("status").and_then(Value::as_str) == Some("True")
                {
                    c["lastTransitionTime"] = current["lastTransitionTime"].clone();
                }
                self.conditions
                    .retain(|c| c.get("type").and_then(Value::as_str) != Some("Progressing"));
                self.conditions.push(c);
            } else if self.timed_out(deadline) {
                let msg = format!("{what} has timed out progressing.");
                let c = self.condition("Progressing", "False", "ProgressDeadlineExceeded", &msg);
                self.set_condition(c);
            }
        }
        self.write(status);
    }

    pub(super) fn made_progress(&self, new: &Status) -> bool {
        let s = |f: &str| int_at(self.d, &format!("/status/{f}")).unwrap_or(0);
        let old_old = s("replicas") - s("updatedReplicas");
        let new_old = new.replicas - new.updated;
        new.updated > s("updatedReplicas")
            || new_old < old_old
            || new.ready > s("readyReplicas")
            || new.available > s("availableReplicas")
    }

    pub(super) fn timed_out(&self, deadline: i64) -> bool {
        let Some(c) = self.progressing() else {
            return false;
        };
        match c.get("reason").and_then(Value::as_str) {
            Some("NewReplicaSetAvailable") => false,
            Some("ProgressDeadlineExceeded") => true,
            _ => c
                .get("lastUpdateTime")
                .and_then(Value::as_str)
                .and_then(parse_timestamp)
                .is_some_and(|from| from + chrono::Duration::seconds(deadline) < self.now),
        }
    }

    pub(super) fn write(&self, status: Status) {
        let mut body = Map::new();
        body.insert(
            "observedGeneration".into(),
            json!(status.observed_generation),
        );
        // Zero counts are omitted, as the API server's encoding does.
        for (field, n) in [
            ("replicas", status.replicas),
            ("updatedReplicas", status.updated),
            ("readyReplicas", status.ready),
            ("availableReplicas", status.available),
            ("unavailableReplicas", status.unavailable),
        ] {
            if n != 0 {
                body.insert(field.into(), json!(n));
            }
        }
        if !self.conditions.is_empty() {
            body.insert("conditions".into(), Value::Array(self.conditions.clone()));
        }
        if let Some(n) = self.collision_count {
            body.insert("collisionCount".into(), json!(n));
        }
        let revision = self.revision.clone();
        let _ =
            self.store
                .modify::<()>(kinds::deployments(), namespace(self.d), name(self.d), |o| {
                    if let Some(rev) = revision
                        && annotation(o, REVISION) != Some(rev.as_str())
                    {
                        put(o, &["metadata", "annotations", REVISION], json!(rev));
                    }
                    put(o, &["status"], Value::Object(body));
                    Ok(())
                });
    }
}
