//! Argo Rollouts' writes, with the rules of `kubectl argo rollouts`: which
//! of `spec.paused`, `status.pauseConditions`, `status.currentStepIndex`,
//! `status.promoteFull`, `status.abort`, `spec.restartAt` and
//! `spec.template` each action touches, decided from the Rollout as read.

use chrono::{DateTime, SecondsFormat, Utc};
use serde::Deserialize;
use serde_json::{Value, json};

use super::Writes;

/// The label Argo adds to a ReplicaSet's template; never written back.
pub const POD_TEMPLATE_HASH: &str = "rollouts-pod-template-hash";
/// The annotation holding a ReplicaSet's revision.
pub const REVISION: &str = "rollout.argoproj.io/revision";

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ArgoWriteError {
    #[error("nothing to promote: the Rollout is not paused and has no step to pass")]
    NothingToPromote,
    #[error("already fully promoted: stable runs the current template")]
    AlreadyPromoted,
    #[error("not paused by a person (spec.paused is false); advance promotes past a step's pause")]
    NotPaused,
    #[error("no container named {0:?} in the Rollout's template")]
    NoSuchContainer(String),
    #[error("the Rollout's template has no container")]
    NoContainer,
    #[error("revision {0} is not in the Rollout's history")]
    NoSuchRevision(u64),
    #[error("the Rollout has no previous revision")]
    NoPreviousRevision,
    #[error("the template already matches revision {0}")]
    AlreadyAtRevision(u64),
    #[error("the template lives in {kind} {name} (spec.workloadRef): undo it there")]
    WorkloadRef { kind: String, name: String },
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct Rollout {
    metadata: Meta,
    spec: Spec,
    status: Status,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct Meta {
    uid: String,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
struct Spec {
    paused: bool,
    strategy: Strategy,
    workload_ref: Option<WorkloadRef>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct WorkloadRef {
    kind: String,
    name: String,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct Strategy {
    canary: Option<Canary>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct Canary {
    steps: Vec<Value>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
struct Status {
    /// `null` once cleared, so read as an option.
    pause_conditions: Option<Vec<Value>>,
    controller_pause: bool,
    current_step_index: Option<u32>,
    current_pod_hash: String,
    #[serde(rename = "stableRS")]
    stable_rs: String,
    canary: CanaryStatus,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
struct CanaryStatus {
    current_step_analysis_run_status: Option<RunStatus>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct RunStatus {
    status: String,
}

fn read(obj: &Value) -> Rollout {
    serde_json::from_value(obj.clone()).unwrap_or_default()
}

impl Rollout {
    fn paused_by_conditions(&self) -> bool {
        self.status
            .pause_conditions
            .as_ref()
            .is_some_and(|c| !c.is_empty())
    }

    /// The current step's index moved past that step, as the plugin does:
    /// `None` for a Rollout without canary steps.
    fn next_step(&self) -> Option<u32> {
        let steps = self.spec.strategy.canary.as_ref()?.steps.len();
        if steps == 0 {
            return None;
        }
        let index = self.status.current_step_index.unwrap_or(0);
        Some(if (index as usize) < steps {
            index + 1
        } else {
            index
        })
    }

    fn inconclusive(&self) -> bool {
        self.spec.strategy.canary.is_some()
            && self
                .status
                .canary
                .current_step_analysis_run_status
                .as_ref()
                .is_some_and(|r| r.status == "Inconclusive")
    }
}

/// Promote: lift a person's pause, clear the controller's pause
/// conditions, or step past the current step (past an inconclusive
/// analysis too); what `kubectl argo rollouts promote` writes.
pub fn promote(obj: &Value) -> Result<Writes, ArgoWriteError> {
    let ro = read(obj);
    let object = ro
        .spec
        .paused
        .then(|| super::Patch::Merge(json!({"spec": {"paused": false}})));
    let mut unified = json!({"spec": {"paused": false}, "status": {"pauseConditions": null}});
    let status = if ro.inconclusive() && ro.paused_by_conditions() && ro.status.controller_pause {
        ro.next_step().map(|i| {
            json!({"status": {"pauseConditions": null, "controllerPause": false, "currentStepIndex": i}})
        })
    } else if ro.paused_by_conditions() {
        Some(json!({"status": {"pauseConditions": null}}))
    } else if let Some(i) = ro.next_step() {
        unified = json!({"spec": {"paused": false}, "status": {"pauseConditions": null, "currentStepIndex": i}});
        Some(json!({"status": {"pauseConditions": null, "currentStepIndex": i}}))
    } else {
        None
    };
    if status.is_none() && object.is_none() {
        return Err(ArgoWriteError::NothingToPromote);
    }
    Ok(Writes {
        status,
        object,
        unified: Some(unified),
    })
}

/// Promote fully: skip the remaining steps, analysis and pauses
/// (`status.promoteFull`), lifting a person's pause too.
pub fn promote_full(obj: &Value) -> Result<Writes, ArgoWriteError> {
    let ro = read(obj);
    let object = ro
        .spec
        .paused
        .then(|| super::Patch::Merge(json!({"spec": {"paused": false}})));
    let status = (ro.status.current_pod_hash != ro.status.stable_rs)
        .then(|| json!({"status": {"promoteFull": true}}));
    if status.is_none() && object.is_none() {
        return Err(ArgoWriteError::AlreadyPromoted);
    }
    Ok(Writes {
        status,
        object,
        unified: Some(json!({"spec": {"paused": false}, "status": {"promoteFull": true}})),
    })
}

/// Abort: traffic and replicas back to stable (`status.abort: true`).
pub fn abort() -> Writes {
    Writes::status(&json!({"status": {"abort": true}}))
}

/// Retry an aborted Rollout (`status.abort: false`).
pub fn retry() -> Writes {
    Writes::status(&json!({"status": {"abort": false}}))
}

/// A person's pause (`spec.paused: true`).
pub fn pause() -> Writes {
    Writes::object(json!({"spec": {"paused": true}}))
}

/// Lifts a person's pause only; a step's pause is passed by promoting.
pub fn resume(obj: &Value) -> Result<Writes, ArgoWriteError> {
    if read(obj).spec.paused {
        Ok(Writes::object(json!({"spec": {"paused": false}})))
    } else {
        Err(ArgoWriteError::NotPaused)
    }
}

/// Restart the pods at `at` (`spec.restartAt`, RFC 3339 in UTC).
pub fn restart(at: DateTime<Utc>) -> Writes {
    Writes::object(json!({"spec": {"restartAt": at.to_rfc3339_opts(SecondsFormat::Secs, true)}}))
}

/// The containers' lists of a pod template, in the plugin's order.
const CONTAINER_LISTS: [&str; 3] = ["initContainers", "containers", "ephemeralContainers"];

/// Set the image of the container named `container` (`*`: every one), as
/// a JSON patch that first tests each container's name, so a template
/// changed since it was read is refused rather than patched blind.
pub fn set_image(obj: &Value, container: &str, image: &str) -> Result<Writes, ArgoWriteError> {
    let mut ops = Vec::new();
    for list in CONTAINER_LISTS {
        let Some(items) = obj
            .pointer(&format!("/spec/template/spec/{list}"))
            .and_then(Value::as_array)
        else {
            continue;
        };
        for (i, c) in items.iter().enumerate() {
            let name = c["name"].as_str().unwrap_or_default();
            if container == "*" || name == container {
                let at = format!("/spec/template/spec/{list}/{i}");
                ops.push(json!({"op": "test", "path": format!("{at}/name"), "value": name}));
                ops.push(json!({"op": "add", "path": format!("{at}/image"), "value": image}));
            }
        }
    }
    if ops.is_empty() {
        return Err(ArgoWriteError::NoSuchContainer(container.to_string()));
    }
    Ok(Writes::json(Value::Array(ops)))
}

/// The first container's name: the one a new image is for when none is named.
pub fn main_container(obj: &Value) -> Result<String, ArgoWriteError> {
    obj.pointer("/spec/template/spec/containers/0/name")
        .and_then(Value::as_str)
        .map(str::to_string)
        .ok_or(ArgoWriteError::NoContainer)
}

/// A ReplicaSet's revision; one without the annotation counts as 0, as
/// the plugin counts it.
fn revision(rs: &Value) -> u64 {
    rs.pointer("/metadata/annotations")
        .and_then(|a| a.get(REVISION))
        .and_then(Value::as_str)
        .and_then(|r| r.parse().ok())
        .unwrap_or(0)
}

fn controlled_by(rs: &Value, uid: &str) -> bool {
    rs.pointer("/metadata/ownerReferences")
        .and_then(Value::as_array)
        .is_some_and(|owners| {
            owners
                .iter()
                .any(|o| o["uid"] == uid && o["controller"] == true)
        })
}

fn without_hash(template: &Value) -> Value {
    let mut t = template.clone();
    if let Some(labels) = t
        .pointer_mut("/metadata/labels")
        .and_then(Value::as_object_mut)
    {
        labels.remove(POD_TEMPLATE_HASH);
    }
    t
}

/// Undo to `to` (`None`: the revision before the newest): the Rollout's
/// `spec.template` replaced by that revision's ReplicaSet's template, its
/// pod-template-hash label removed. `replicasets` may hold others'; only
/// those the Rollout controls count.
pub fn undo(obj: &Value, replicasets: &[Value], to: Option<u64>) -> Result<Writes, ArgoWriteError> {
    let ro = read(obj);
    if let Some(w) = &ro.spec.workload_ref {
        return Err(ArgoWriteError::WorkloadRef {
            kind: w.kind.clone(),
            name: w.name.clone(),
        });
    }
    let mut owned: Vec<&Value> = replicasets
        .iter()
        .filter(|rs| controlled_by(rs, &ro.metadata.uid))
        .collect();
    owned.sort_by_key(|rs| std::cmp::Reverse(revision(rs)));
    let (rs, number) = if let Some(r) = to.filter(|r| *r > 0) {
        let rs = owned
            .iter()
            .find(|rs| revision(rs) == r)
            .ok_or(ArgoWriteError::NoSuchRevision(r))?;
        (rs, r)
    } else {
        let rs = owned.get(1).ok_or(ArgoWriteError::NoPreviousRevision)?;
        (rs, revision(rs))
    };
    let template = without_hash(&rs["spec"]["template"]);
    let current = without_hash(&obj["spec"]["template"]);
    if template == current {
        return Err(ArgoWriteError::AlreadyAtRevision(number));
    }
    Ok(Writes::json(json!([
        {"op": "replace", "path": "/spec/template", "value": template}
    ])))
}

#[cfg(test)]
mod tests {
    use super::super::Patch;
    use super::*;

    #[allow(clippy::needless_pass_by_value)]
    fn rollout(spec: Value, status: Value) -> Value {
        let mut spec = spec;
        spec["strategy"] = json!({"canary": {"steps": [
            {"setWeight": 20}, {"pause": {}}, {"setWeight": 40}, {"analysis": {}}, {"setWeight": 80}
        ]}});
        json!({"metadata": {"name": "checkout", "uid": "ro-1"}, "spec": spec, "status": status})
    }

    #[test]
    fn promote_clears_pause_conditions_and_lifts_a_persons_pause() {
        let ro = rollout(
            json!({"paused": true}),
            json!({"currentStepIndex": 1, "controllerPause": true,
                   "pauseConditions": [{"reason": "CanaryPauseStep"}]}),
        );
        let w = promote(&ro).unwrap();
        assert_eq!(w.status, Some(json!({"status": {"pauseConditions": null}})));
        assert_eq!(
            w.object,
            Some(Patch::Merge(json!({"spec": {"paused": false}})))
        );
        assert_eq!(
            w.unified,
            Some(json!({"spec": {"paused": false}, "status": {"pauseConditions": null}}))
        );
    }

    #[test]
    fn promote_without_a_pause_steps_past_the_current_step() {
        // Held by a running analysis: no pause condition, the step is passed.
        let ro = rollout(json!({}), json!({"currentStepIndex": 3}));
        let w = promote(&ro).unwrap();
        assert_eq!(
            w.status,
            Some(json!({"status": {"pauseConditions": null, "currentStepIndex": 4}}))
        );
        assert_eq!(w.object, None);
        assert_eq!(
            w.unified,
            Some(json!({"spec": {"paused": false},
                        "status": {"pauseConditions": null, "currentStepIndex": 4}}))
        );
        // Past the last step the index stays.
        let ro = rollout(json!({}), json!({"currentStepIndex": 5}));
        assert_eq!(
            promote(&ro).unwrap().status,
            Some(json!({"status": {"pauseConditions": null, "currentStepIndex": 5}}))
        );
    }

    #[test]
    fn promote_past_an_inconclusive_analysis_lifts_the_controllers_pause() {
        let ro = rollout(
            json!({}),
            json!({"currentStepIndex": 3, "controllerPause": true,
                   "pauseConditions": [{"reason": "InconclusiveAnalysisRun"}],
                   "canary": {"currentStepAnalysisRunStatus": {"name": "r", "status": "Inconclusive"}}}),
        );
        assert_eq!(
            promote(&ro).unwrap().status,
            Some(
                json!({"status": {"pauseConditions": null, "controllerPause": false,
                                   "currentStepIndex": 4}})
            )
        );
    }

    #[test]
    fn a_blue_green_without_pause_has_nothing_to_promote() {
        let ro = json!({"spec": {"strategy": {"blueGreen": {}}}, "status": {}});
        assert_eq!(promote(&ro), Err(ArgoWriteError::NothingToPromote));
        let ro = json!({"spec": {"strategy": {"blueGreen": {}}},
                        "status": {"pauseConditions": [{"reason": "BlueGreenPause"}]}});
        assert_eq!(
            promote(&ro).unwrap().status,
            Some(json!({"status": {"pauseConditions": null}}))
        );
    }

    #[test]
    fn promote_full_writes_promote_full_unless_stable_is_current() {
        let ro = rollout(json!({}), json!({"currentPodHash": "b", "stableRS": "a"}));
        let w = promote_full(&ro).unwrap();
        assert_eq!(w.status, Some(json!({"status": {"promoteFull": true}})));
        assert_eq!(w.object, None);
        let ro = rollout(json!({}), json!({"currentPodHash": "a", "stableRS": "a"}));
        assert_eq!(promote_full(&ro), Err(ArgoWriteError::AlreadyPromoted));
        let ro = rollout(
            json!({"paused": true}),
            json!({"currentPodHash": "a", "stableRS": "a"}),
        );
        assert_eq!(
            promote_full(&ro).unwrap().object,
            Some(Patch::Merge(json!({"spec": {"paused": false}})))
        );
    }

    #[test]
    fn abort_and_retry_go_to_the_status_and_fall_back_to_the_object() {
        let w = abort();
        assert_eq!(w.status, Some(json!({"status": {"abort": true}})));
        assert_eq!(w.unified, Some(json!({"status": {"abort": true}})));
        assert_eq!(w.object, None);
        assert_eq!(retry().status, Some(json!({"status": {"abort": false}})));
    }

    #[test]
    fn pause_resume_and_restart_patch_the_spec() {
        assert_eq!(
            pause().object,
            Some(Patch::Merge(json!({"spec": {"paused": true}})))
        );
        let ro = rollout(json!({"paused": true}), json!({}));
        assert_eq!(
            resume(&ro).unwrap().object,
            Some(Patch::Merge(json!({"spec": {"paused": false}})))
        );
        assert_eq!(
            resume(&rollout(json!({}), json!({}))),
            Err(ArgoWriteError::NotPaused)
        );
        let at = "2026-03-01T09:00:00.250Z".parse().unwrap();
        assert_eq!(
            restart(at).object,
            Some(Patch::Merge(
                json!({"spec": {"restartAt": "2026-03-01T09:00:00Z"}})
            ))
        );
    }

    #[test]
    fn set_image_tests_the_name_then_sets_the_image() {
        let mut ro = rollout(json!({}), json!({}));
        ro["spec"]["template"] = json!({"spec": {
            "initContainers": [{"name": "init", "image": "i:1"}],
            "containers": [{"name": "sidecar", "image": "s:1"}, {"name": "app", "image": "a:1"}]
        }});
        let w = set_image(&ro, "app", "a:2").unwrap();
        assert_eq!(
            w.object,
            Some(Patch::Json(json!([
                {"op": "test", "path": "/spec/template/spec/containers/1/name", "value": "app"},
                {"op": "add", "path": "/spec/template/spec/containers/1/image", "value": "a:2"}
            ])))
        );
        let all = set_image(&ro, "*", "x:9").unwrap();
        assert_eq!(all.object.unwrap().body().as_array().unwrap().len(), 6);
        assert_eq!(
            set_image(&ro, "web", "a:2"),
            Err(ArgoWriteError::NoSuchContainer("web".into()))
        );
        assert_eq!(main_container(&ro).unwrap(), "sidecar");
    }

    fn rs(name: &str, revision: &str, owner: &str, image: &str) -> Value {
        json!({
            "metadata": {"name": name, "annotations": {REVISION: revision},
                         "ownerReferences": [{"uid": owner, "controller": true, "kind": "Rollout"}]},
            "spec": {"template": {
                "metadata": {"labels": {"app": "checkout", POD_TEMPLATE_HASH: name}},
                "spec": {"containers": [{"name": "app", "image": image}]}
            }}
        })
    }

    #[test]
    fn undo_replaces_the_template_with_the_revisions_without_its_hash() {
        let mut ro = rollout(json!({}), json!({}));
        ro["spec"]["template"] = json!({"metadata": {"labels": {"app": "checkout"}},
                                        "spec": {"containers": [{"name": "app", "image": "c:3"}]}});
        let sets = [
            rs("h1", "1", "ro-1", "c:1"),
            rs("h3", "3", "ro-1", "c:3"),
            rs("h2", "2", "ro-1", "c:2"),
            rs("other", "9", "ro-2", "o:9"),
        ];
        let expect = |image: &str| {
            Some(Patch::Json(
                json!([{"op": "replace", "path": "/spec/template", "value": {
                    "metadata": {"labels": {"app": "checkout"}},
                    "spec": {"containers": [{"name": "app", "image": image}]}
                }}]),
            ))
        };
        assert_eq!(undo(&ro, &sets, None).unwrap().object, expect("c:2"));
        assert_eq!(undo(&ro, &sets, Some(1)).unwrap().object, expect("c:1"));
        assert_eq!(
            undo(&ro, &sets, Some(9)),
            Err(ArgoWriteError::NoSuchRevision(9))
        );
        assert_eq!(
            undo(&ro, &sets, Some(3)),
            Err(ArgoWriteError::AlreadyAtRevision(3))
        );
        assert_eq!(
            undo(&ro, &sets[..1], None),
            Err(ArgoWriteError::NoPreviousRevision)
        );
        ro["spec"]["workloadRef"] = json!({"kind": "Deployment", "name": "checkout"});
        assert!(matches!(
            undo(&ro, &sets, None),
            Err(ArgoWriteError::WorkloadRef { .. })
        ));
    }
}
