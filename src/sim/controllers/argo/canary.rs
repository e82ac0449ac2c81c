//! One pass of the canary strategy over one Rollout: walk the steps from
//! `status.currentStepIndex`, scale the canary and stable ReplicaSets, move
//! the Istio weights, run the analyses, honour abort, promote, pause and
//! full promotion, and write the status the kubectl plugin reads.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use serde_json::{Value, json};

use super::analysis::{self, ERROR, FAILED, INCONCLUSIVE, RUNNING, SUCCESSFUL};
use super::measure;
use super::replicas::{self, HASH_LABEL, REVISION};
use super::spec::{Canary, Step};
use crate::sim::Shared;
use crate::sim::controllers::events::{self, Event, EventType, Source};
use crate::sim::controllers::{
    controller_ref, int_at, name, namespace, parse_timestamp, put, resource_version, timestamp,
};
use crate::sim::resources::kinds;

const PAUSE_STEP: &str = "CanaryPauseStep";
const INCONCLUSIVE_PAUSE: &str = "InconclusiveAnalysisRun";
pub(super) const SOURCE: Source<'static> = Source::component("rollouts-controller");

pub struct Pass<'a> {
    pub shared: &'a Shared,
    pub now: DateTime<Utc>,
    pub since_start: std::time::Duration,
}

/// What a pass leaves: whether the Rollout needs a pass on the next tick
/// even if nothing changes: a timed pause or an analysis is running on the
/// clock, or its status write lost a race with a client. Pods coming up
/// wake it through their ReplicaSet's status instead.
pub struct Outcome {
    pub active: bool,
}

struct State {
    step: usize,
    pause_conditions: Vec<Value>,
    controller_pause: bool,
    abort: bool,
    abort_message: Option<String>,
    promote_full: bool,
    step_run: Option<(String, String)>,
    background_run: Option<(String, String)>,
}

pub fn reconcile(pass: &Pass<'_>, rollout: &Arc<Value>, canary: &Canary) -> Outcome {
    let shared = pass.shared;
    let store = &shared.store;
    let ns = namespace(rollout).to_string();
    let ro_name = name(rollout).to_string();
    let desired = int_at(rollout, "/spec/replicas").unwrap_or(1).max(0);
    let template = rollout
        .pointer("/spec/template")
        .cloned()
        .unwrap_or(Value::Null);
    let hash = replicas::pod_hash(&template, int_at(rollout, "/status/collisionCount"));
    let owned = store.dependents(kinds::replicasets(), crate::sim::controllers::uid(rollout));
    let Some(current) = replicas::ensure(shared, rollout, &hash, &owned) else {
        return Outcome { active: true };
    };
    let status = rollout.get("status").cloned().unwrap_or_else(|| json!({}));
    let text = |k: &str| status.get(k).and_then(Value::as_str).map(str::to_string);
    let flag = |k: &str| status.get(k).and_then(Value::as_bool) == Some(true);
    let n = canary.steps.len();
    let mut stable = text("stableRS").unwrap_or_else(|| hash.clone());
    let mut st = State {
        step: status
            .get("currentStepIndex")
            .and_then(Value::as_u64)
            .map_or(0, |i| usize::try_from(i).unwrap_or(n)),
        pause_conditions: status
            .get("pauseConditions")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default(),
        controller_pause: flag("controllerPause"),
        abort: flag("abort"),
        abort_message: None,
        promote_full: flag("promoteFull"),
        step_run: None,
        background_run: None,
    };
    // A client cleared `abort` since the last abort: failed runs stay as
    // the record and fresh ones are made.
    let retried = !st.abort && status.get("abortedAt").is_some();
    let manually_paused = rollout.pointer("/spec/paused").and_then(Value::as_bool) == Some(true);
    let new_template = text("currentPodHash").is_some_and(|h| h != hash);
    if new_template {
        // A new pod template starts the steps again; a retried abort too.
        st.step = 0;
        st.pause_conditions.clear();
        st.controller_pause = false;
        st.abort = false;
    }
    let mut clock = false;
    let mut events: Vec<(EventType, &str, String)> = Vec::new();
    let revision = replicas::revision(&current);
    // The weight of the step the Rollout is at, held while nothing moves
    // (a manual pause, pods still coming up).
    let mut weight: u8 = if st.step < n {
        weight_at(&canary.steps, st.step)
    } else {
        0
    };
    if hash == stable {
        st.step = n;
        st.pause_conditions.clear();
        st.controller_pause = false;
        st.abort = false;
        st.promote_full = false;
    } else if st.abort {
        st.step = 0;
        st.pause_conditions.clear();
        st.controller_pause = false;
        terminate_runs(pass, &ns, rollout, None);
    } else {
        if st.promote_full {
            st.step = n;
            st.pause_conditions.clear();
            st.controller_pause = false;
        }
        let canary_rs = current.clone();
        while st.step < n && !manually_paused && !st.abort {
            weight = weight_at(&canary.steps, st.step);
            match &canary.steps[st.step] {
                Step::SetWeight(w) => {
                    let want = canary_replicas(desired, *w);
                    replicas::scale(shared, &canary_rs, want);
                    if !canary.traffic_routed() {
                        scale_stable(pass, &owned, &stable, desired - want);
                    }
                    if replicas::available(Some(&canary_rs)) < want {
                        break;
                    }
                    events.push((
                        EventType::Normal,
                        "RolloutStepCompleted",
                        format!(
                            "Rollout step {}/{n} completed (setWeight: {w})",
                            st.step + 1
                        ),
                    ));
                    st.step += 1;
                }
                Step::Pause(duration) => {
                    let held = st
                        .pause_conditions
                        .iter()
                        .find(|c| reason(c) == PAUSE_STEP)
                        .cloned();
                    match held {
                        None if st.controller_pause => {
                            // The plugin's promote cleared the condition.
                            st.controller_pause = false;
                            events.push((
                                EventType::Normal,
                                "RolloutResumed",
                                format!("Rollout is resumed at step {}", st.step + 1),
                            ));
                            st.step += 1;
                        }
                        None => {
                            st.pause_conditions.push(
                                json!({"reason": PAUSE_STEP, "startTime": timestamp(pass.now)}),
                            );
                            st.controller_pause = true;
                            clock |= duration.is_some();
                            events.push((
                                EventType::Normal,
                                "RolloutPaused",
                                format!("Rollout is paused ({PAUSE_STEP})"),
                            ));
                            break;
                        }
                        Some(c) => {
                            let started = c
                                .get("startTime")
                                .and_then(Value::as_str)
                                .and_then(parse_timestamp);
                            let over = match (duration, started) {
                                (Some(d), Some(t)) => {
                                    (pass.now - t).to_std().is_ok_and(|e| e >= *d)
                                }
                                _ => false,
                            };
                            if !over {
                                clock |= duration.is_some();
                                break;
                            }
                            st.pause_conditions.retain(|c| reason(c) != PAUSE_STEP);
                            st.controller_pause = false;
                            events.push((
                                EventType::Normal,
                                "RolloutStepCompleted",
                                format!("Rollout step {}/{n} completed (pause)", st.step + 1),
                            ));
                            st.step += 1;
                        }
                    }
                }
                Step::Analysis(templates) => {
                    let base = format!("{ro_name}-{hash}-{revision}-{}", st.step);
                    let run = current_run(
                        pass, rollout, &ns, &base, templates, &hash, "Step", st.step, retried,
                    );
                    let phase = run_phase(&run);
                    st.step_run = Some((name(&run).to_string(), phase.clone()));
                    match phase.as_str() {
                        SUCCESSFUL => {
                            events.push((
                                EventType::Normal,
                                "RolloutStepCompleted",
                                format!("Rollout step {}/{n} completed (analysis)", st.step + 1),
                            ));
                            st.step += 1;
                        }
                        FAILED | ERROR => {
                            st.abort = true;
                            st.abort_message = run
                                .pointer("/status/message")
                                .and_then(Value::as_str)
                                .map(str::to_string);
                        }
                        INCONCLUSIVE => {
                            if !st
                                .pause_conditions
                                .iter()
                                .any(|c| reason(c) == INCONCLUSIVE_PAUSE)
                            {
                                st.pause_conditions.push(json!({"reason": INCONCLUSIVE_PAUSE, "startTime": timestamp(pass.now)}));
                                st.controller_pause = true;
                            }
                            break;
                        }
                        _ => {
                            measure_run(pass, &run, rollout, &canary_rs);
                            clock = true;
                            break;
                        }
                    }
                }
                Step::Other => st.step += 1,
            }
        }
        // Runs of steps the Rollout has moved past (a promote skips an analysis) end.
        terminate_runs(pass, &ns, rollout, Some((&hash, st.step)));
        if let Some((templates, start)) = &canary.background
            && !st.abort
            && st.step >= *start
            && st.step < n
        {
            let base = format!("{ro_name}-{hash}-{revision}");
            let run = current_run(
                pass,
                rollout,
                &ns,
                &base,
                templates,
                &hash,
                "Background",
                usize::MAX,
                retried,
            );
            let phase = run_phase(&run);
            if matches!(phase.as_str(), FAILED | ERROR) {
                st.abort = true;
                st.abort_message = run
                    .pointer("/status/message")
                    .and_then(Value::as_str)
                    .map(str::to_string);
            } else if phase == RUNNING {
                measure_run(pass, &run, rollout, &canary_rs);
                clock = true;
            }
            st.background_run = Some((name(&run).to_string(), phase));
        }
        if st.abort {
            st.step = 0;
            st.pause_conditions.clear();
            st.controller_pause = false;
            terminate_runs(pass, &ns, rollout, None);
            events.push((
                EventType::Warning,
                "RolloutAborted",
                abort_text(revision, st.abort_message.as_deref()),
            ));
        } else if st.step >= n {
            weight = 100;
            replicas::scale(shared, &canary_rs, desired);
            if replicas::available(Some(&canary_rs)) >= desired {
                stable.clone_from(&hash);
                st.promote_full = false;
                weight = 0;
                terminate_runs(pass, &ns, rollout, None);
                events.push((EventType::Normal, "RolloutCompleted", format!("Rollout completed update to revision {revision} ({hash}): Completed all {n} canary steps")));
            }
        }
    }
    // Scale: the stable ReplicaSet holds the full count under traffic
    // routing; on abort or promotion everything else goes to zero.
    let canary_hash = (hash != stable).then_some(hash.as_str());
    for rs in &owned {
        let h = replicas::hash_of(rs);
        if h == stable {
            if canary.traffic_routed() || st.abort || canary_hash.is_none() {
                replicas::scale(shared, rs, desired);
            }
        } else if Some(h) == canary_hash {
            if st.abort {
                replicas::scale(shared, rs, 0);
            }
        } else {
            replicas::scale(shared, rs, 0);
        }
    }
    if st.abort {
        weight = 0;
    }
    if let Some(istio) = &canary.istio {
        set_istio_weights(
            pass,
            &ns,
            istio,
            if canary_hash.is_some() { weight } else { 0 },
        );
        pin_subsets(pass, &ns, istio, &stable, &hash);
    }
    // Read back what the scaling left, for the counts the status carries.
    let owned = store.dependents(kinds::replicasets(), crate::sim::controllers::uid(rollout));
    let find = |h: &str| owned.iter().find(|r| replicas::hash_of(r) == h);
    let sum = |f: fn(Option<&Arc<Value>>) -> i64| owned.iter().map(|r| f(Some(r))).sum::<i64>();
    let total = owned
        .iter()
        .map(|r| int_at(r, "/status/replicas").unwrap_or(0))
        .sum::<i64>();
    let updated = find(&hash)
        .and_then(|r| int_at(r, "/status/replicas"))
        .unwrap_or(0);
    let available = sum(replicas::available);
    let ready = sum(replicas::ready);

    let mut next = status.clone();
    let set = |next: &mut Value, k: &str, v: Value| {
        if let Some(map) = next.as_object_mut() {
            if v.is_null() {
                map.remove(k);
            } else {
                map.insert(k.to_string(), v);
            }
        }
    };
    set(&mut next, "currentPodHash", json!(hash));
    set(&mut next, "stableRS", json!(stable));
    if n > 0 {
        set(&mut next, "currentStepIndex", json!(st.step.min(n)));
    }
    set(
        &mut next,
        "pauseConditions",
        if st.pause_conditions.is_empty() {
            Value::Null
        } else {
            json!(st.pause_conditions)
        },
    );
    set(
        &mut next,
        "controllerPause",
        if st.controller_pause {
            json!(true)
        } else {
            Value::Null
        },
    );
    set(
        &mut next,
        "abort",
        if st.abort { json!(true) } else { Value::Null },
    );
    let aborted_at = if st.abort {
        status
            .get("abortedAt")
            .cloned()
            .unwrap_or_else(|| json!(timestamp(pass.now)))
    } else {
        Value::Null
    };
    set(&mut next, "abortedAt", aborted_at);
    set(
        &mut next,
        "promoteFull",
        if st.promote_full {
            json!(true)
        } else {
            Value::Null
        },
    );
    set(
        &mut next,
        "observedGeneration",
        json!(
            int_at(rollout, "/metadata/generation")
                .unwrap_or(1)
                .to_string()
        ),
    );
    set(&mut next, "replicas", json!(total));
    set(&mut next, "updatedReplicas", json!(updated));
    set(&mut next, "readyReplicas", json!(ready));
    set(&mut next, "availableReplicas", json!(available));
    set(&mut next, "selector", json!(selector_text(rollout)));
    // The last run's name and phase stay until the next update or promotion,
    // so an aborted Rollout still says which analysis failed.
    let mut canary_status = if new_template || hash == stable {
        json!({})
    } else {
        let mut kept = status.get("canary").cloned().unwrap_or_else(|| json!({}));
        if let Some(map) = kept.as_object_mut() {
            map.remove("weights");
        }
        kept
    };
    if let Some((run, phase)) = &st.step_run {
        canary_status["currentStepAnalysisRunStatus"] = json!({"name": run, "status": phase});
    }
    if let Some((run, phase)) = &st.background_run {
        canary_status["currentBackgroundAnalysisRunStatus"] = json!({"name": run, "status": phase});
    }
    if canary.traffic_routed() {
        let w = if canary_hash.is_some() { weight } else { 0 };
        canary_status["weights"] = json!({
            "canary": {"podTemplateHash": hash, "serviceName": canary.canary_service, "weight": w},
            "stable": {"podTemplateHash": stable, "serviceName": canary.stable_service, "weight": 100 - w},
        });
    }
    set(&mut next, "canary", canary_status);
    let promoted = canary_hash.is_none();
    let kept = status
        .get("message")
        .and_then(Value::as_str)
        .filter(|m| flag("abort") && m.starts_with("RolloutAborted"));
    let (phase, message) = if st.abort {
        // The cause found when aborting stays in the message afterwards.
        let message = match (&st.abort_message, kept) {
            (None, Some(m)) => m.to_string(),
            _ => format!(
                "RolloutAborted: {}",
                abort_text(revision, st.abort_message.as_deref())
            ),
        };
        ("Degraded".to_string(), message)
    } else if manually_paused {
        ("Paused".into(), "manually paused".into())
    } else if let Some(c) = st.pause_conditions.first() {
        ("Paused".into(), reason(c).to_string())
    } else if !promoted {
        (
            "Progressing".into(),
            "more replicas need to be updated".into(),
        )
    } else if available < desired || total > desired {
        let m = if total > desired {
            "old replicas are pending termination"
        } else {
            "updated replicas are still becoming available"
        };
        ("Progressing".into(), m.into())
    } else {
        ("Healthy".into(), String::new())
    };
    set(&mut next, "phase", json!(phase));
    set(
        &mut next,
        "message",
        if message.is_empty() {
            Value::Null
        } else {
            json!(message)
        },
    );
    let mut conditions = next
        .get("conditions")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    let cond = |t: &str, ok: bool, why: &str, msg: &str| {
        json!({
            "type": t, "status": if ok { "True" } else { "False" }, "reason": why, "message": msg,
            "lastTransitionTime": timestamp(pass.now), "lastUpdateTime": timestamp(pass.now),
        })
    };
    crate::sim::controllers::set_condition(
        &mut conditions,
        cond(
            "Available",
            available >= desired,
            "AvailableReason",
            &format!("Rollout has {available} available of {desired} replicas"),
        ),
    );
    crate::sim::controllers::set_condition(
        &mut conditions,
        cond(
            "Paused",
            phase == "Paused",
            if phase == "Paused" {
                &message
            } else {
                "RolloutResumed"
            },
            if phase == "Paused" {
                "Rollout is paused"
            } else {
                "Rollout is resumed"
            },
        ),
    );
    crate::sim::controllers::set_condition(
        &mut conditions,
        cond(
            "Healthy",
            phase == "Healthy",
            if phase == "Healthy" {
                "RolloutHealthy"
            } else {
                "RolloutHealthyReason"
            },
            if phase == "Healthy" {
                "Rollout is healthy"
            } else {
                "Rollout is not healthy"
            },
        ),
    );
    set(&mut next, "conditions", json!(conditions));

    let wrote = write_status(pass, rollout, &next, &events);
    Outcome {
        active: !wrote || clock,
    }
}

/// Writes a pass's status and, only when it landed, the Events it told of.
/// A client's patch since the pass read the Rollout wins: nothing is written
/// and `false` asks for another pass.
pub(super) fn write_status(
    pass: &Pass<'_>,
    rollout: &Value,
    next: &Value,
    said: &[(EventType, &str, String)],
) -> bool {
    let store = &pass.shared.store;
    let read_rv = resource_version(rollout).to_string();
    let wrote = store.modify(kinds::rollouts(), namespace(rollout), name(rollout), |o| {
        if resource_version(o) != read_rv {
            return Err(());
        }
        put(o, &["status"], next.clone());
        Ok(())
    });
    if wrote.is_err() {
        return false;
    }
    for (kind, reason, message) in said {
        events::record(
            store,
            pass.now,
            &Event {
                object: rollout,
                field_path: None,
                kind: *kind,
                reason,
                message,
                source: SOURCE,
            },
        );
    }
    true
}

/// `spec.selector.matchLabels` as `k=v,…`, the form of `status.selector`
/// that the scale subresource reads.
pub(super) fn selector_text(rollout: &Value) -> String {
    rollout
        .pointer("/spec/selector/matchLabels")
        .and_then(Value::as_object)
        .map(|m| {
            m.iter()
                .filter_map(|(k, v)| Some(format!("{k}={}", v.as_str()?)))
                .collect::<Vec<_>>()
                .join(",")
        })
        .unwrap_or_default()
}

pub(super) fn reason(condition: &Value) -> &str {
    condition
        .get("reason")
        .and_then(Value::as_str)
        .unwrap_or("")
}

pub(super) fn abort_text(revision: i64, cause: Option<&str>) -> String {
    match cause {
        Some(c) => format!("Rollout aborted update to revision {revision}: {c}"),
        None => format!("Rollout aborted update to revision {revision}"),
    }
}

/// The weight in force at a step: the last `setWeight` at or before it.
fn weight_at(steps: &[Step], index: usize) -> u8 {
    steps[..=index.min(steps.len().saturating_sub(1))]
        .iter()
        .rev()
        .find_map(|s| match s {
            Step::SetWeight(w) => Some(*w),
            _ => None,
        })
        .unwrap_or(0)
}

/// Canary pods for a weight, rounded up as Argo does, so 20% of 5 is 1.
pub fn canary_replicas(desired: i64, weight: u8) -> i64 {
    (desired * i64::from(weight) + 99) / 100
}

fn scale_stable(pass: &Pass<'_>, owned: &[Arc<Value>], stable: &str, to: i64) {
    if let Some(rs) = owned.iter().find(|r| replicas::hash_of(r) == stable) {
        replicas::scale(pass.shared, rs, to.max(0));
    }
}

fn run_phase(run: &Value) -> String {
    run.pointer("/status/phase")
        .and_then(Value::as_str)
        .unwrap_or(RUNNING)
        .to_string()
}

/// The run for this step (or the background run): the newest of `base`,
/// `base.1`, … . After a retry a failed run is kept as the record and a
/// fresh one is made.
#[allow(clippy::too_many_arguments)]
fn current_run(
    pass: &Pass<'_>,
    rollout: &Value,
    ns: &str,
    base: &str,
    templates: &[String],
    hash: &str,
    kind: &str,
    step: usize,
    retried: bool,
) -> Arc<Value> {
    let store = &pass.shared.store;
    let mut attempt = 0;
    let mut latest = None;
    loop {
        let candidate = if attempt == 0 {
            base.to_string()
        } else {
            format!("{base}.{attempt}")
        };
        match store.get(kinds::analysisruns(), ns, &candidate) {
            Some(run) => {
                latest = Some(run);
                attempt += 1;
            }
            None => break,
        }
    }
    if let Some(run) = latest
        && !(retried && matches!(run_phase(&run).as_str(), FAILED | ERROR))
    {
        return run;
    }
    let run_name = if attempt == 0 {
        base.to_string()
    } else {
        format!("{base}.{attempt}")
    };
    let specs: Vec<(String, Option<Value>)> = templates
        .iter()
        .map(|t| {
            (
                t.clone(),
                store
                    .get(kinds::analysistemplates(), ns, t)
                    .map(|a| (*a).clone()),
            )
        })
        .collect();
    let mut labels = json!({HASH_LABEL: hash, "rollout-type": kind});
    if step != usize::MAX {
        labels["step-index"] = json!(step.to_string());
    }
    let owner = controller_ref(rollout, "argoproj.io/v1alpha1", "Rollout");
    // The arg values the Rollout gives: on the step, or on its background analysis.
    let given_at = if step == usize::MAX {
        "/spec/strategy/canary/analysis/args".to_string()
    } else {
        format!("/spec/strategy/canary/steps/{step}/analysis/args")
    };
    let given = rollout
        .pointer(&given_at)
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    let mut body = analysis::new_run(&run_name, &specs, &given, &labels, &owner, pass.now);
    if let Some(rev) = rollout
        .pointer("/metadata/annotations")
        .and_then(|a| a.get(REVISION))
    {
        put(
            &mut body,
            &["metadata", "annotations", REVISION],
            rev.clone(),
        );
    }
    match store.create(kinds::analysisruns(), ns, body) {
        Ok(run) => run,
        Err(_) => store
            .get(kinds::analysisruns(), ns, &run_name)
            .unwrap_or_else(|| Arc::new(json!({}))),
    }
}

/// Takes the run's due measurements of the canary's error ratio.
fn measure_run(pass: &Pass<'_>, run: &Arc<Value>, rollout: &Value, canary_rs: &Value) {
    let ns = namespace(rollout);
    let app = canary_rs
        .pointer("/spec/template/metadata/labels/app")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_string();
    let version = canary_rs
        .pointer("/spec/template/metadata/labels/version")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_string();
    let mut probe =
        || measure::error_ratio(pass.shared, ns, &app, &version, pass.since_start, pass.now);
    let Some(status) = analysis::advance(run, pass.now, &mut probe) else {
        return;
    };
    let _ = pass
        .shared
        .store
        .modify::<()>(kinds::analysisruns(), ns, name(run), |o| {
            put(o, &["status"], status.clone());
            Ok(())
        });
}

/// Ends the Rollout's running AnalysisRuns, all of them (`keep: None`) or
/// all but those of the given pod hash at or after the given step.
fn terminate_runs(pass: &Pass<'_>, ns: &str, rollout: &Value, keep: Option<(&str, usize)>) {
    let store = &pass.shared.store;
    for run in store.dependents(kinds::analysisruns(), crate::sim::controllers::uid(rollout)) {
        if run_phase(&run) != RUNNING {
            continue;
        }
        if let Some((hash, step)) = keep {
            let labels = run.pointer("/metadata/labels");
            let same_hash = labels
                .and_then(|l| l.get(HASH_LABEL))
                .and_then(Value::as_str)
                == Some(hash);
            let run_step = labels
                .and_then(|l| l.get("step-index"))
                .and_then(Value::as_str)
                .and_then(|s| s.parse::<usize>().ok());
            if same_hash && run_step.is_none_or(|s| s >= step) {
                continue;
            }
        }
        let at = timestamp(pass.now);
        let _ = store.modify::<()>(kinds::analysisruns(), ns, name(&run), |o| {
            put(o, &["spec", "terminate"], json!(true));
            put(o, &["status", "phase"], json!(SUCCESSFUL));
            put(o, &["status", "message"], json!("Run Terminated"));
            put(o, &["status", "completedAt"], json!(at));
            Ok(())
        });
    }
}

/// Pins the DestinationRule's stable and canary subsets to their pod hashes,
/// as Argo does, so each subset reaches only its own ReplicaSet's pods.
fn pin_subsets(
    pass: &Pass<'_>,
    ns: &str,
    istio: &super::spec::IstioRouting,
    stable: &str,
    canary: &str,
) {
    if istio.destination_rule.is_empty() {
        return;
    }
    let _ = pass.shared.store.modify::<()>(
        kinds::destinationrules(),
        ns,
        &istio.destination_rule,
        |dr| {
            let Some(subsets) = dr
                .pointer_mut("/spec/subsets")
                .and_then(Value::as_array_mut)
            else {
                return Ok(());
            };
            for subset in subsets {
                let hash = match subset.get("name").and_then(Value::as_str) {
                    Some(n) if n == istio.stable_subset => stable,
                    Some(n) if n == istio.canary_subset => canary,
                    _ => continue,
                };
                put(subset, &["labels", HASH_LABEL], json!(hash));
            }
            Ok(())
        },
    );
}

/// Writes the canary's weight on the routes of the VirtualService that go
/// to the stable and canary subsets.
fn set_istio_weights(pass: &Pass<'_>, ns: &str, istio: &super::spec::IstioRouting, weight: u8) {
    let _ = pass.shared.store.modify::<()>(
        kinds::virtualservices(),
        ns,
        &istio.virtual_service,
        |vs| {
            let Some(http) = vs.pointer_mut("/spec/http").and_then(Value::as_array_mut) else {
                return Ok(());
            };
            for route in http {
                let named = route.get("name").and_then(Value::as_str).unwrap_or("");
                if !istio.routes.is_empty() && !istio.routes.iter().any(|r| r == named) {
                    continue;
                }
                let Some(dests) = route.get_mut("route").and_then(Value::as_array_mut) else {
                    continue;
                };
                for d in dests {
                    let subset = d
                        .pointer("/destination/subset")
                        .and_then(Value::as_str)
                        .unwrap_or("");
                    if subset == istio.canary_subset {
                        d["weight"] = json!(weight);
                    } else if subset == istio.stable_subset {
                        d["weight"] = json!(100 - weight);
                    }
                }
            }
            Ok(())
        },
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn weight_is_the_last_set_weight_reached() {
        let steps = [
            Step::SetWeight(20),
            Step::Pause(None),
            Step::SetWeight(50),
            Step::Analysis(vec![]),
        ];
        assert_eq!(weight_at(&steps, 0), 20);
        assert_eq!(weight_at(&steps, 1), 20);
        assert_eq!(weight_at(&steps, 3), 50);
        assert_eq!(weight_at(&[Step::Pause(None)], 0), 0);
        assert_eq!(canary_replicas(5, 20), 1);
        assert_eq!(canary_replicas(5, 30), 2);
        assert_eq!(canary_replicas(5, 100), 5);
    }
}
