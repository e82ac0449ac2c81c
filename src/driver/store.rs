//! The rollout's state on the cluster: a ConfigMap beside the app
//! (`{app}-flightdeck-rollout`, key `rollout.json`, owned by the app's
//! primary Deployment) holding a [`StoredRollout`]. Written only with the
//! resourceVersion it was read at, so two writers cannot lose each other's
//! step; read by every cockpit, so all of them show the same rollout.

use serde_json::{Value, json};

use super::rest::{self, CONFIGMAP, Obj};
use super::targets::Targets;
use crate::cluster::routers::Patch;
use crate::rollout::history::{self, StoredRollout};
use crate::rollout::plan::Plan;
use crate::rollout::state::RolloutState;

/// The ConfigMap key (annotation-style names with a `/` are not valid keys).
pub const KEY: &str = "rollout.json";

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("cannot read the rollout state {obj}: {source}")]
    Read { obj: String, source: kube::Error },
    #[error("cannot write the rollout state {obj}: {source}")]
    Write { obj: String, source: kube::Error },
    #[error("{obj}: {source}")]
    Invalid {
        obj: String,
        source: history::StoreError,
    },
    #[error("the rollout state {obj} was changed by someone else since it was read; read it again")]
    Conflict { obj: String },
}

/// What was read, with the version to write against.
#[derive(Debug, Clone)]
pub struct Loaded {
    pub rollout: StoredRollout,
    /// `None`: nothing stored yet.
    pub resource_version: Option<String>,
}

pub struct StateStore {
    obj: Obj,
    owner: Obj,
}

impl StateStore {
    pub fn new(targets: &Targets) -> Self {
        Self {
            obj: Obj::new(
                CONFIGMAP,
                &targets.namespace,
                &history::configmap_name(&targets.app),
            ),
            owner: targets.primary(),
        }
    }

    pub fn object(&self) -> &Obj {
        &self.obj
    }

    /// The stored rollout, or a fresh one from the plan when none is stored.
    pub async fn load(&self, client: &kube::Client, plan: &Plan) -> Result<Loaded, StoreError> {
        let found = rest::get_opt(client, &self.obj)
            .await
            .map_err(|source| StoreError::Read {
                obj: self.obj.to_string(),
                source,
            })?;
        let Some(cm) = found else {
            return Ok(Loaded {
                rollout: StoredRollout::new(RolloutState::new(plan, false)),
                resource_version: None,
            });
        };
        let rv = rest::resource_version(&cm).map(str::to_string);
        let text = cm
            .pointer("/data")
            .and_then(|d| d.get(KEY))
            .and_then(Value::as_str);
        let rollout = match text {
            Some(text) => StoredRollout::from_json(text).map_err(|source| StoreError::Invalid {
                obj: self.obj.to_string(),
                source,
            })?,
            None => StoredRollout::new(RolloutState::new(plan, false)),
        };
        Ok(Loaded {
            rollout,
            resource_version: rv,
        })
    }

    /// Writes `rollout` if the stored one is still at `since`; returns the new version.
    pub async fn save(
        &self,
        client: &kube::Client,
        rollout: &StoredRollout,
        since: Option<&str>,
    ) -> Result<String, StoreError> {
        let text = rollout.to_json().map_err(|source| StoreError::Invalid {
            obj: self.obj.to_string(),
            source,
        })?;
        let write_err = |source| StoreError::Write {
            obj: self.obj.to_string(),
            source,
        };
        let result = match since {
            None => {
                let owner = rest::get_opt(client, &self.owner)
                    .await
                    .map_err(write_err)?;
                let owner_ref = owner.as_ref().and_then(|o| {
                    Some(json!([{
                        "apiVersion": "apps/v1",
                        "kind": "Deployment",
                        "name": o.pointer("/metadata/name")?.as_str()?,
                        "uid": o.pointer("/metadata/uid")?.as_str()?,
                    }]))
                });
                let mut meta = json!({
                    "name": self.obj.name,
                    "namespace": self.obj.namespace,
                    "labels": {"app.kubernetes.io/managed-by": "flightdeck"},
                });
                if let Some(r) = owner_ref {
                    meta["ownerReferences"] = r;
                }
                let body = json!({
                    "apiVersion": "v1",
                    "kind": "ConfigMap",
                    "metadata": meta,
                    "data": {KEY: text},
                });
                rest::create(client, &self.obj, &body).await
            }
            Some(rv) => {
                let patch = rest::with_precondition(Patch::Merge(json!({"data": {KEY: text}})), rv);
                rest::patch(client, &self.obj, &patch).await
            }
        };
        match result {
            Ok(cm) => Ok(rest::resource_version(&cm).unwrap_or_default().to_string()),
            Err(e) if rest::status_code(&e) == Some(409) => Err(StoreError::Conflict {
                obj: self.obj.to_string(),
            }),
            Err(e) => Err(write_err(e)),
        }
    }
}
