//! Finding or making the ReplicaSet for the current template, and its revision.

use serde_json::{Map, Value, json};

use super::{
    DESIRED_REPLICAS, MAX_REPLICAS, NOT_COPIED, REVISION, REVISION_HISTORY, Rs, Sync,
    annotations_of,
};
use crate::sim::controllers::hash::{POD_TEMPLATE_HASH, same_template, template_hash};
use crate::sim::controllers::{controller_ref, name, namespace, put};
use crate::sim::resources::kinds;
use crate::sim::store::StoreError;

impl Sync<'_> {
    /// Finds the ReplicaSet running the current template (creating it when
    /// asked), gives it the next revision when it is an older one coming back,
    /// and records the revision on the Deployment.
    pub(super) fn find_or_create_new(&mut self, create: bool) {
        let template = self.template().clone();
        self.new = self.rss.iter().position(|rs| {
            same_template(
                rs.object.pointer("/spec/template").unwrap_or(&Value::Null),
                &template,
            )
        });
        let max_old = self
            .rss
            .iter()
            .enumerate()
            .filter(|(i, _)| Some(*i) != self.new)
            .map(|(_, rs)| rs.revision)
            .max()
            .unwrap_or(0);
        let next_revision = max_old + 1;
        if let Some(i) = self.new {
            let mut annotations = annotations_of(&self.rss[i].object);
            let min_ready = self.d.pointer("/spec/minReadySeconds").cloned();
            let min_ready_changed =
                self.rss[i].object.pointer("/spec/minReadySeconds") != min_ready.as_ref();
            if self.annotate_new_rs(&mut annotations, next_revision, true) || min_ready_changed {
                let edited = self.store.modify::<()>(
                    kinds::replicasets(),
                    namespace(self.d),
                    &self.rss[i].name,
                    |o| {
                        put(o, &["metadata", "annotations"], Value::Object(annotations));
                        match min_ready {
                            Some(m) => put(o, &["spec", "minReadySeconds"], m),
                            None => {
                                if let Some(spec) = o.get_mut("spec").and_then(Value::as_object_mut)
                                {
                                    spec.remove("minReadySeconds");
                                }
                            }
                        }
                        Ok(())
                    },
                );
                if let Ok(obj) = edited {
                    self.rss[i] = Rs::of(obj);
                }
            }
            self.revision = Some(self.rss[i].revision.to_string());
            if self.progressing().is_none() && self.spec.progress_deadline.is_some() {
                let msg = format!("Found new replica set \"{}\"", self.rss[i].name);
                let c = self.condition("Progressing", "True", "FoundNewReplicaSet", &msg);
                self.set_condition(c);
            }
            return;
        }
        if !create {
            return;
        }
        self.create_new_rs(&template, next_revision);
    }

    pub(super) fn create_new_rs(&mut self, template: &Value, revision: i64) {
        let hash = template_hash(template, self.collision_count);
        let rs_name = format!("{}-{hash}", name(self.d));
        let mut template = template.clone();
        put(
            &mut template,
            &["metadata", "labels", POD_TEMPLATE_HASH],
            json!(hash),
        );
        let mut selector = self
            .d
            .pointer("/spec/selector")
            .cloned()
            .unwrap_or_else(|| json!({}));
        put(
            &mut selector,
            &["matchLabels", POD_TEMPLATE_HASH],
            json!(hash),
        );
        let replicas = self.new_rs_replicas(0);
        let mut annotations = Map::new();
        self.annotate_new_rs(&mut annotations, revision, false);
        let mut spec =
            json!({"replicas": replicas, "selector": selector, "template": template.clone()});
        if let Some(min_ready) = self.d.pointer("/spec/minReadySeconds") {
            spec["minReadySeconds"] = min_ready.clone();
        }
        let rs = json!({
            "metadata": {
                "name": rs_name,
                "labels": template.pointer("/metadata/labels").cloned().unwrap_or_else(|| json!({})),
                "annotations": annotations,
                "ownerReferences": [controller_ref(self.d, "apps/v1", "Deployment")],
            },
            "spec": spec,
        });
        match self
            .store
            .create(kinds::replicasets(), namespace(self.d), rs)
        {
            Ok(created) => {
                if replicas > 0 {
                    self.record(
                        "ScalingReplicaSet",
                        &format!("Scaled up replica set {rs_name} from 0 to {replicas}"),
                    );
                }
                self.revision = Some(revision.to_string());
                let msg = format!("Created new replica set \"{rs_name}\"");
                let c = self.condition("Progressing", "True", "NewReplicaSetCreated", &msg);
                self.set_condition(c);
                self.rss.push(Rs::of(created));
                self.new = Some(self.rss.len() - 1);
            }
            Err(StoreError::AlreadyExists { .. }) => {
                // A ReplicaSet of that name runs another template (a hash
                // collision) or is not ours: count the collision and hash anew
                // on the next tick, as Kubernetes does.
                self.collision_count = Some(self.collision_count.unwrap_or(0) + 1);
            }
            Err(_) => {}
        }
    }

    /// `SetNewReplicaSetAnnotations`: copy the Deployment's annotations, move
    /// the revision forward (remembering the old one in the revision history),
    /// and on creation set the replica annotations. Returns whether anything changed.
    pub(super) fn annotate_new_rs(
        &self,
        annotations: &mut Map<String, Value>,
        revision: i64,
        exists: bool,
    ) -> bool {
        let mut changed = false;
        if let Some(own) = self
            .d
            .pointer("/metadata/annotations")
            .and_then(Value::as_object)
        {
            for (k, v) in own {
                if !NOT_COPIED.contains(&k.as_str()) && annotations.get(k) != Some(v) {
                    annotations.insert(k.clone(), v.clone());
                    changed = true;
                }
            }
        }
        let old = annotations
            .get(REVISION)
            .and_then(Value::as_str)
            .map(str::to_string);
        let old_number: i64 = old.as_deref().and_then(|r| r.parse().ok()).unwrap_or(0);
        if old_number < revision {
            annotations.insert(REVISION.into(), json!(revision.to_string()));
            changed = true;
            if let Some(old) = old {
                let history = match annotations.get(REVISION_HISTORY).and_then(Value::as_str) {
                    Some(h) if !h.is_empty() => format!("{h},{old}"),
                    _ => old,
                };
                annotations.insert(REVISION_HISTORY.into(), json!(history));
            }
        }
        if !exists {
            annotations.insert(
                DESIRED_REPLICAS.into(),
                json!(self.spec.replicas.to_string()),
            );
            annotations.insert(
                MAX_REPLICAS.into(),
                json!((self.spec.replicas + self.spec.max_surge).to_string()),
            );
            changed = true;
        }
        changed
    }

    /// `NewRSNewReplicas`: how far the new ReplicaSet may grow now.
    pub(super) fn new_rs_replicas(&self, current_new: i64) -> i64 {
        if self.spec.recreate {
            return self.spec.replicas;
        }
        // Every ReplicaSet's size counts, the new one's included (before it
        // exists it is not in `rss` and its size is `current_new`, zero).
        let others: i64 = self.rss.iter().map(|r| r.replicas).sum();
        let current_total = if self.new.is_some() {
            others
        } else {
            others + current_new
        };
        let max_total = self.spec.replicas + self.spec.max_surge;
        if current_total >= max_total {
            return current_new;
        }
        let up = (max_total - current_total).min(self.spec.replicas - current_new);
        current_new + up.max(0)
    }
}
