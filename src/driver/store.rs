//! The rollout's state on the cluster: a ConfigMap beside the app
//! (`{app}-flightdeck-rollout`, key `rollout.json`, owned by the app's
//! primary Deployment) holding a [`StoredRollout`]. Written only with the
//! resourceVersion it was read at, so two writers cannot lose each other's
//! step; read by every cockpit, so all of them show the same rollout.
//!
//! Other keys of the same ConfigMap belong to other writers (a way back
//! asked by someone not at the helm, [`super::asked`]). Their writes move
//! the resourceVersion too, so a conflict is judged on the rollout itself:
//! when `rollout.json` is still as it was read, the write is made again
//! against the new version.

use serde_json::{Value, json};

use super::asked::{self, Asked};
use super::freezing;
use super::pending::{self, Landing};
use super::rest::{self, CONFIGMAP, Obj};
use super::targets::Targets;
use crate::cluster::routers::Patch;
use crate::rollout::checks::Results;
use crate::rollout::freeze::Freeze;
use crate::rollout::history::{self, StoredRollout};
use crate::rollout::plan::Plan;
use crate::rollout::state::RolloutState;

/// The ConfigMap key (annotation-style names with a `/` are not valid keys).
pub const KEY: &str = "rollout.json";

/// The key keeping the plan a rollout was started with, as TOML.
pub const PLAN_KEY: &str = "plan.toml";

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

/// Writes of the rollout tried again when only another key moved on.
const TRIES: u32 = 5;

/// What was read, with the version to write against.
#[derive(Debug, Clone)]
pub struct Loaded {
    pub rollout: StoredRollout,
    /// `None`: nothing stored yet.
    pub version: Option<Version>,
    /// A way back asked by someone not at the helm, waiting to be carried out.
    pub asked: Option<Asked>,
    /// A change written and waited for, as its driver left it.
    pub landing: Option<Landing>,
    /// The plan's checks' results ([`super::checks`]).
    pub checks: Results,
}

/// The stored rollout a write is made against.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Version {
    pub resource_version: String,
    /// `rollout.json` as read, to tell another key's write from a rival step.
    rollout: Option<String>,
}

impl Version {
    fn of(cm: &Value) -> Option<Self> {
        Some(Self {
            resource_version: rest::resource_version(cm)?.to_string(),
            rollout: text_of(cm, KEY).map(str::to_string),
        })
    }
}

fn text_of<'a>(cm: &'a Value, key: &str) -> Option<&'a str> {
    cm.pointer("/data")?.get(key)?.as_str()
}

/// The request stored in `cm`, if any; an unreadable one is logged and
/// left alone (it must not stop the rollout from being read).
fn asked_in(cm: &Value) -> Option<Asked> {
    let text = text_of(cm, asked::KEY)?;
    Asked::parse(text)
        .inspect_err(|e| tracing::warn!(error = %e, "ignoring an unreadable request"))
        .ok()
}

/// The freeze stored in `cm`, if any. One that cannot be read still
/// freezes: a freeze nobody can read must not let the rollout move on.
pub fn freeze_in(cm: &Value) -> Option<Box<Freeze>> {
    let text = text_of(cm, freezing::KEY)?;
    Some(Box::new(Freeze::parse(text).unwrap_or_else(|e| {
        tracing::warn!(error = %e, "an unreadable freeze is kept as a freeze");
        Freeze {
            by: crate::workers::audit::Actor {
                kube_user: "unknown".into(),
                os_user: "unknown".into(),
                host: "unknown".into(),
            },
            reason: format!("unreadable {}: {e}", freezing::KEY),
            at: chrono::DateTime::UNIX_EPOCH,
        }
    })))
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
                version: None,
                asked: None,
                landing: None,
                checks: Results::default(),
            });
        };
        let rollout = match text_of(&cm, KEY) {
            Some(text) => StoredRollout::from_json(text).map_err(|source| StoreError::Invalid {
                obj: self.obj.to_string(),
                source,
            })?,
            None => StoredRollout::new(RolloutState::new(plan, false)),
        };
        let mut rollout = rollout;
        rollout.state.freeze = freeze_in(&cm);
        Ok(Loaded {
            rollout,
            version: Version::of(&cm),
            asked: asked_in(&cm),
            landing: text_of(&cm, pending::KEY).and_then(|t| {
                Landing::parse(t)
                    .inspect_err(|e| tracing::warn!(error = %e, "ignoring an unreadable landing"))
                    .ok()
            }),
            checks: super::checks::results_in(&cm),
        })
    }

    /// Writes `rollout` if the stored one is still as it was at `since`;
    /// returns the new resourceVersion.
    pub async fn save(
        &self,
        client: &kube::Client,
        rollout: &StoredRollout,
        since: Option<&Version>,
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
            None => self
                .create_with(client, json!({KEY: text}))
                .await
                .map_err(write_err)
                .and_then(|r| r.map_err(write_err)),
            Some(since) => return self.update(client, &text, since).await,
        };
        match result {
            Err(StoreError::Write { source, .. }) if rest::status_code(&source) == Some(409) => {
                Err(StoreError::Conflict {
                    obj: self.obj.to_string(),
                })
            }
            other => other,
        }
    }

    /// Creates the ConfigMap holding `data`, owned by the app's primary
    /// Deployment when it can be read (so it goes when the app goes). The
    /// outer error is reading the owner, the inner one the creation.
    pub(super) async fn create_with(
        &self,
        client: &kube::Client,
        data: Value,
    ) -> Result<Result<String, kube::Error>, kube::Error> {
        let owner = rest::get_opt(client, &self.owner).await?;
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
            "data": data,
        });
        Ok(rest::create(client, &self.obj, &body)
            .await
            .map(|cm| rest::resource_version(&cm).unwrap_or_default().to_string()))
    }

    /// Writes `text` as the rollout against `since`, again against a newer
    /// version as long as only other keys moved.
    async fn update(
        &self,
        client: &kube::Client,
        text: &str,
        since: &Version,
    ) -> Result<String, StoreError> {
        let mut rv = since.resource_version.clone();
        for _ in 0..TRIES {
            let patch = rest::with_precondition(Patch::Merge(json!({"data": {KEY: text}})), &rv);
            match rest::patch(client, &self.obj, &patch).await {
                Ok(cm) => return Ok(rest::resource_version(&cm).unwrap_or_default().to_string()),
                Err(e) if rest::status_code(&e) == Some(409) => {}
                Err(source) => {
                    return Err(StoreError::Write {
                        obj: self.obj.to_string(),
                        source,
                    });
                }
            }
            let now = rest::get(client, &self.obj)
                .await
                .map_err(|source| StoreError::Read {
                    obj: self.obj.to_string(),
                    source,
                })?;
            match Version::of(&now) {
                Some(v) if v.rollout == since.rollout => rv = v.resource_version,
                _ => break,
            }
        }
        Err(StoreError::Conflict {
            obj: self.obj.to_string(),
        })
    }

    /// Keeps the plan's text beside the rollout it started, under its own
    /// key, so the fleet can open a cockpit that drives it. Worth a warning
    /// when it fails, never a failed start.
    pub async fn keep_plan(&self, client: &kube::Client, text: &str) {
        let patch = Patch::Merge(json!({"data": {PLAN_KEY: text}}));
        if let Err(e) = rest::patch(client, &self.obj, &patch).await {
            tracing::warn!(error = %e, "cannot keep the plan beside the rollout");
        }
    }

    /// Stores `asked` for the driver at the helm to carry out. Only its own
    /// key is written, unconditionally: a later request replaces an earlier
    /// one, and the rollout beside it is left as it is.
    pub async fn ask(&self, client: &kube::Client, asked: &Asked) -> Result<(), StoreError> {
        let patch = Patch::Merge(json!({"data": {asked::KEY: asked.to_json()}}));
        rest::patch(client, &self.obj, &patch)
            .await
            .map(|_| ())
            .map_err(|source| StoreError::Write {
                obj: self.obj.to_string(),
                source,
            })
    }

    /// Keeps `landing` (or, with `None`, drops it) under its own key; like a
    /// request, written without a condition and beside the rollout. Before
    /// the first step has stored anything there is nowhere to keep it.
    pub async fn set_landing(
        &self,
        client: &kube::Client,
        landing: Option<&Landing>,
    ) -> Result<(), StoreError> {
        let value = landing.map_or(Value::Null, |l| Value::String(l.to_json()));
        let patch = Patch::Merge(json!({"data": {pending::KEY: value}}));
        match rest::patch(client, &self.obj, &patch).await {
            Ok(_) => Ok(()),
            Err(e) if rest::status_code(&e) == Some(404) => Ok(()),
            Err(source) => Err(StoreError::Write {
                obj: self.obj.to_string(),
                source,
            }),
        }
    }

    /// Removes the request `id` once carried out; a newer request that
    /// replaced it meanwhile stays for its turn.
    pub async fn clear_asked(&self, client: &kube::Client, id: &str) -> Result<(), StoreError> {
        for _ in 0..TRIES {
            let Some(cm) =
                rest::get_opt(client, &self.obj)
                    .await
                    .map_err(|source| StoreError::Read {
                        obj: self.obj.to_string(),
                        source,
                    })?
            else {
                return Ok(());
            };
            if asked_in(&cm).is_some_and(|a| a.id != id) {
                return Ok(());
            }
            if text_of(&cm, asked::KEY).is_none() {
                return Ok(());
            }
            let rv = rest::resource_version(&cm).unwrap_or_default();
            let patch = rest::with_precondition(
                Patch::Merge(json!({"data": {asked::KEY: Value::Null}})),
                rv,
            );
            match rest::patch(client, &self.obj, &patch).await {
                Ok(_) => return Ok(()),
                Err(e) if rest::status_code(&e) == Some(409) => {}
                Err(source) => {
                    return Err(StoreError::Write {
                        obj: self.obj.to_string(),
                        source,
                    });
                }
            }
        }
        Err(StoreError::Conflict {
            obj: self.obj.to_string(),
        })
    }
    /// Sets (or, with `None`, lifts) the freeze under its own key, read,
    /// modified and written against the version read, again on a 409: the
    /// rollout beside it is never touched. `Ok(false)`: there is no stored
    /// rollout to freeze yet.
    pub async fn set_freeze(
        &self,
        client: &kube::Client,
        freeze: Option<&Freeze>,
    ) -> Result<bool, StoreError> {
        let value = freeze.map_or(Value::Null, |f| Value::String(f.to_json()));
        for _ in 0..TRIES {
            let found =
                rest::get_opt(client, &self.obj)
                    .await
                    .map_err(|source| StoreError::Read {
                        obj: self.obj.to_string(),
                        source,
                    })?;
            let Some(cm) = found else {
                return Ok(false);
            };
            let rv = rest::resource_version(&cm).unwrap_or_default();
            let patch = rest::with_precondition(
                Patch::Merge(json!({"data": {freezing::KEY: value.clone()}})),
                rv,
            );
            match rest::patch(client, &self.obj, &patch).await {
                Ok(_) => return Ok(true),
                Err(e) if rest::status_code(&e) == Some(409) => {}
                Err(source) => {
                    return Err(StoreError::Write {
                        obj: self.obj.to_string(),
                        source,
                    });
                }
            }
        }
        Err(StoreError::Conflict {
            obj: self.obj.to_string(),
        })
    }
}
