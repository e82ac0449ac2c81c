//! One pass of Flagger's scheduler over one Canary: initialise the primary,
//! detect a new revision of the target, check the canary every `interval`,
//! advance its weight or count a failed check, roll back at the threshold,
//! and promote by copying the target's template to the primary.

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde_json::{Value, json};

use super::checks::{self, Measured};
use super::{gates, router};
use crate::sim::Shared;
use crate::sim::controllers::argo::measure;
use crate::sim::controllers::argo::spec::duration;
use crate::sim::controllers::events::{self, Event, EventType, Source};
use crate::sim::controllers::hash::template_hash;
use crate::sim::controllers::{int_at, name, namespace, put, resource_version, timestamp};
use crate::sim::resources::kinds;

const SOURCE: Source<'static> = Source::component("flagger");

pub struct Pass<'a> {
    pub shared: &'a Shared,
    pub now: DateTime<Utc>,
    pub since_start: Duration,
}

/// Whether the Canary still needs the clock.
pub fn reconcile(
    pass: &Pass<'_>,
    canary: &Arc<Value>,
    last_check: &mut Option<DateTime<Utc>>,
) -> bool {
    let store = &pass.shared.store;
    let ns = namespace(canary).to_string();
    let status = canary.get("status").cloned().unwrap_or_else(|| json!({}));
    let phase = status
        .get("phase")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_string();
    if canary.pointer("/spec/suspend").and_then(Value::as_bool) == Some(true) {
        return false;
    }
    let target_name = canary
        .pointer("/spec/targetRef/name")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_string();
    let Some(target) = store.get(kinds::deployments(), &ns, &target_name) else {
        return false;
    };
    let primary_name = format!("{target_name}-primary");
    let template = target
        .pointer("/spec/template")
        .cloned()
        .unwrap_or(Value::Null);
    let hash = template_hash(&template, None);
    let analysis = canary
        .pointer("/spec/analysis")
        .cloned()
        .unwrap_or_else(|| json!({}));
    let interval = analysis
        .get("interval")
        .and_then(duration)
        .unwrap_or(Duration::from_secs(60));
    let threshold = analysis
        .get("threshold")
        .and_then(Value::as_u64)
        .unwrap_or(1)
        .max(1);
    let iterations_wanted = analysis.get("iterations").and_then(Value::as_u64);
    let mut next = status.clone();
    let mut weight = status
        .get("canaryWeight")
        .and_then(Value::as_u64)
        .unwrap_or(0);
    let mut failed = status
        .get("failedChecks")
        .and_then(Value::as_u64)
        .unwrap_or(0);
    let mut iterations = status
        .get("iterations")
        .and_then(Value::as_u64)
        .unwrap_or(0);
    let mut new_phase = phase.clone();
    let mut said: Vec<(EventType, String)> = Vec::new();
    let target_desc = format!("{target_name}.{ns}");
    let primary = store.get(kinds::deployments(), &ns, &primary_name);
    let routed = router::virtual_service(store, canary, &ns, &target_name);

    let Some(primary) = primary else {
        // First sight: the primary is made from the target, which goes to zero.
        let mut body = json!({
            "metadata": {"name": primary_name, "labels": target.pointer("/metadata/labels").cloned().unwrap_or_else(|| json!({})),
                         "ownerReferences": [crate::sim::controllers::controller_ref(canary, "flagger.app/v1beta1", "Canary")]},
            "spec": target.get("spec").cloned().unwrap_or_else(|| json!({})),
        });
        label_version(pass, &ns, &mut body["spec"]["template"]);
        as_primary(&mut body);
        let _ = store.create(kinds::deployments(), &ns, body);
        scale(pass, &ns, &target_name, 0);
        next["phase"] = json!("Initializing");
        next["lastAppliedSpec"] = json!(hash);
        return write(
            pass,
            canary,
            &next,
            &[(
                EventType::Normal,
                format!("Initialization started for {target_desc}"),
            )],
        );
    };
    let primary_replicas = int_at(&primary, "/spec/replicas").unwrap_or(1);
    let last_applied = status
        .get("lastAppliedSpec")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_string();
    match phase.as_str() {
        "" | "Initializing" if available(&primary) >= primary_replicas => {
            new_phase = "Initialized".into();
            next["lastAppliedSpec"] = json!(hash);
            next["lastPromotedSpec"] = json!(hash);
            weight = 0;
            said.push((
                EventType::Normal,
                format!("Initialization done! {target_desc}"),
            ));
        }
        "Initialized" | "Succeeded" | "Failed" if hash != last_applied => {
            new_phase = "Progressing".into();
            weight = 0;
            failed = 0;
            iterations = 0;
            next["lastAppliedSpec"] = json!(hash);
            *last_check = Some(pass.now);
            // Behind a router the canary runs at full size and the weight
            // moves traffic; without one its replicas follow the weight.
            let size = if routed.is_some() {
                primary_replicas
            } else {
                1
            };
            scale(pass, &ns, &target_name, size);
            said.push((
                EventType::Normal,
                format!("New revision detected! Scaling up {target_desc}"),
            ));
        }
        "Progressing" | "WaitingPromotion" => {
            if hash != last_applied {
                // A newer revision mid-analysis starts the analysis again.
                weight = 0;
                failed = 0;
                iterations = 0;
                next["lastAppliedSpec"] = json!(hash);
                *last_check = Some(pass.now);
                said.push((
                    EventType::Normal,
                    format!("New revision detected! Restarting analysis for {target_desc}"),
                ));
            }
            let due =
                last_check.is_none_or(|t| (pass.now - t).to_std().is_ok_and(|d| d >= interval));
            let canary_ready =
                available(&target) >= int_at(&target, "/spec/replicas").unwrap_or(0).max(1);
            let hooks = gates::Hooks::new(pass.shared, canary, &ns, &phase);
            if due && hooks.rollback(&mut said).is_some() {
                *last_check = Some(pass.now);
                new_phase = "Failed".into();
                weight = 0;
                scale(pass, &ns, &target_name, 0);
                said.push((
                    EventType::Warning,
                    format!("Rolling back {target_desc} manual webhook invoked"),
                ));
                said.push((
                    EventType::Warning,
                    format!("Canary failed! Scaling down {target_desc}"),
                ));
            } else if canary
                .pointer("/spec/skipAnalysis")
                .and_then(Value::as_bool)
                == Some(true)
            {
                new_phase = "Promoting".into();
                said.push((
                    EventType::Normal,
                    format!("Copying {target_desc} template spec to {primary_name}.{ns}"),
                ));
                promote(pass, &ns, &primary_name, &target);
            } else if due && canary_ready {
                *last_check = Some(pass.now);
                // The version is found by the image the canary runs.
                let version = target
                    .pointer("/spec/template")
                    .and_then(|t| measure::version_of(pass.shared, &ns, t))
                    .unwrap_or_else(|| version_label(&target));
                let app = target
                    .pointer("/spec/template/metadata/labels/app")
                    .and_then(Value::as_str)
                    .unwrap_or("");
                let m = Measured {
                    error_ratio: measure::error_ratio(
                        pass.shared,
                        &ns,
                        app,
                        &version,
                        pass.since_start,
                        pass.now,
                    )
                    .unwrap_or(1.0),
                    p99_ms: measure::p99_ms(
                        pass.shared,
                        &ns,
                        app,
                        &version,
                        pass.since_start,
                        pass.now,
                    )
                    .unwrap_or(f64::MAX),
                };
                let metrics = analysis
                    .get("metrics")
                    .and_then(Value::as_array)
                    .cloned()
                    .unwrap_or_default();
                if let Some(why) = checks::failing(&metrics, m) {
                    failed += 1;
                    said.push((
                        EventType::Warning,
                        format!("Halt advancement {target_desc} {why}"),
                    ));
                    if failed >= threshold {
                        new_phase = "Failed".into();
                        weight = 0;
                        scale(pass, &ns, &target_name, 0);
                        said.push((EventType::Warning, format!("Rolling back {target_desc} failed checks threshold reached {failed}")));
                        said.push((
                            EventType::Warning,
                            format!("Canary failed! Scaling down {target_desc}"),
                        ));
                    }
                } else if let Some(wanted) = iterations_wanted {
                    iterations = (iterations + 1).min(wanted);
                    if iterations >= wanted && hooks.confirm_promotion(&mut said) {
                        new_phase = "Promoting".into();
                        said.push((
                            EventType::Normal,
                            format!("Copying {target_desc} template spec to {primary_name}.{ns}"),
                        ));
                        promote(pass, &ns, &primary_name, &target);
                    } else if iterations >= wanted {
                        new_phase = "WaitingPromotion".into();
                    } else {
                        said.push((
                            EventType::Normal,
                            format!("Advance {target_desc} canary iteration {iterations}/{wanted}"),
                        ));
                    }
                } else if weight >= checks::max_weight(&analysis) {
                    if hooks.confirm_promotion(&mut said) {
                        new_phase = "Promoting".into();
                        said.push((
                            EventType::Normal,
                            format!("Copying {target_desc} template spec to {primary_name}.{ns}"),
                        ));
                        promote(pass, &ns, &primary_name, &target);
                    } else {
                        new_phase = "WaitingPromotion".into();
                    }
                } else {
                    weight = checks::next_weight(&analysis, weight);
                    said.push((
                        EventType::Normal,
                        format!("Advance {target_desc} canary weight {weight}"),
                    ));
                }
            }
            if routed.is_none() && matches!(new_phase.as_str(), "Progressing" | "WaitingPromotion")
            {
                // Without a mesh the sim splits traffic by ready pods, so the
                // canary's replicas follow its weight (at least one to analyse).
                let percent = u8::try_from(weight.min(100)).unwrap_or(100);
                let want =
                    crate::sim::controllers::argo::canary_replicas(primary_replicas, percent)
                        .max(1);
                scale(pass, &ns, &target_name, want);
            }
        }
        "Promoting" => {
            let updated = int_at(&primary, "/status/updatedReplicas").unwrap_or(0);
            if updated >= primary_replicas
                && available(&primary) >= primary_replicas
                && primary_has(&primary, &target)
            {
                new_phase = "Finalising".into();
                weight = 0;
                *last_check = Some(pass.now);
                said.push((
                    EventType::Normal,
                    "Routing all traffic to primary".to_string(),
                ));
            }
        }
        // The canary is scaled down one interval after traffic left it, as
        // Flagger's next run of the scheduler does.
        "Finalising"
            if last_check.is_none_or(|t| (pass.now - t).to_std().is_ok_and(|d| d >= interval)) =>
        {
            scale(pass, &ns, &target_name, 0);
            new_phase = "Succeeded".into();
            next["lastPromotedSpec"] = json!(hash);
            said.push((
                EventType::Normal,
                format!("Promotion completed! Scaling down {target_desc}"),
            ));
        }
        _ => {}
    }
    if let Some(vs) = &routed {
        let canary_weight = match new_phase.as_str() {
            "Progressing" | "WaitingPromotion" | "Promoting" => weight.min(100),
            _ => 0,
        };
        router::set_routes(pass.shared, &ns, vs, &target_name, canary_weight);
    }
    next["canaryWeight"] = json!(weight);
    next["failedChecks"] = json!(failed);
    next["iterations"] = json!(iterations);
    next["observedGeneration"] = json!(int_at(canary, "/metadata/generation").unwrap_or(1));
    if new_phase != phase
        || next.get("lastTransitionTime").is_none()
        || next.get("canaryWeight") != status.get("canaryWeight")
    {
        next["lastTransitionTime"] = json!(timestamp(pass.now));
    }
    next["phase"] = json!(new_phase);
    let (cond_status, reason, message) = match new_phase.as_str() {
        "Initializing" | "Initialized" => (
            "True",
            "Initialized",
            "Deployment initialization completed.",
        ),
        "Succeeded" => (
            "True",
            "Succeeded",
            "Canary analysis completed successfully, promotion finished.",
        ),
        "Failed" => (
            "False",
            "Failed",
            "Canary analysis failed, Deployment scaled to zero.",
        ),
        "Promoting" | "Finalising" => (
            "Unknown",
            "Progressing",
            "Canary analysis completed, starting primary rolling update.",
        ),
        _ => (
            "Unknown",
            "Progressing",
            "New revision detected, progressing canary analysis.",
        ),
    };
    let mut conditions = next
        .get("conditions")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    crate::sim::controllers::set_condition(
        &mut conditions,
        json!({
            "type": "Promoted", "status": cond_status, "reason": reason, "message": message,
            "lastUpdateTime": timestamp(pass.now), "lastTransitionTime": timestamp(pass.now),
        }),
    );
    next["conditions"] = json!(conditions);
    let active = matches!(
        new_phase.as_str(),
        "Initializing" | "Progressing" | "WaitingPromotion" | "Promoting" | "Finalising"
    );
    write(pass, canary, &next, &said) || active
}

/// Writes the status unless a client wrote since it was read; answers
/// whether the Canary needs another pass.
fn write(pass: &Pass<'_>, canary: &Value, next: &Value, said: &[(EventType, String)]) -> bool {
    let read_rv = resource_version(canary).to_string();
    let wrote = pass
        .shared
        .store
        .modify(kinds::canaries(), namespace(canary), name(canary), |o| {
            if resource_version(o) != read_rv {
                return Err(());
            }
            put(o, &["status"], next.clone());
            Ok(())
        });
    if wrote.is_ok() {
        for (kind, message) in said {
            let reason = "Synced";
            events::record(
                &pass.shared.store,
                pass.now,
                &Event {
                    object: canary,
                    field_path: None,
                    kind: *kind,
                    reason,
                    message,
                    source: SOURCE,
                },
            );
        }
    }
    wrote.is_err() || next.get("phase").and_then(Value::as_str) == Some("Initializing")
}

fn available(d: &Value) -> i64 {
    int_at(d, "/status/availableReplicas").unwrap_or(0)
}

fn version_label(d: &Value) -> String {
    d.pointer("/spec/template/metadata/labels/version")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_string()
}

/// Gives a template the `version` label of the scenario version whose image
/// it runs, so the traffic model serves the pods with that behaviour.
fn label_version(pass: &Pass<'_>, ns: &str, template: &mut Value) {
    if let Some(v) = measure::version_of(pass.shared, ns, template) {
        put(template, &["metadata", "labels", "version"], json!(v));
    }
}

/// The label the sim tells a routed Canary's primary and canary pods apart
/// by. Flagger renames the primary's `app` label to `{app}-primary`; the sim
/// keeps `app` on both, since its traffic and measurements find an app by
/// it, and gives the two Services this label to select on instead.
pub const ROLE: &str = "role";
const ROLE_POINTER: &str = "/metadata/labels/role";

/// Makes a copy of the target's Deployment the primary's: selector and
/// template labelled `role: primary` when the target carries a role.
fn as_primary(deployment: &mut Value) {
    if deployment
        .pointer("/spec/template/metadata/labels/role")
        .is_none()
    {
        return;
    }
    put(
        deployment,
        &["spec", "template", "metadata", "labels", ROLE],
        json!("primary"),
    );
    put(
        deployment,
        &["spec", "selector", "matchLabels", ROLE],
        json!("primary"),
    );
    put(deployment, &["metadata", "labels", ROLE], json!("primary"));
}

fn primary_has(primary: &Value, target: &Value) -> bool {
    let image = |d: &Value| d.pointer("/spec/template/spec/containers/0/image").cloned();
    image(primary) == image(target)
}

fn scale(pass: &Pass<'_>, ns: &str, deployment: &str, to: i64) {
    let _ = pass
        .shared
        .store
        .modify::<()>(kinds::deployments(), ns, deployment, |d| {
            put(d, &["spec", "replicas"], json!(to));
            Ok(())
        });
}

/// Copies the target's pod template to the primary, as Flagger promotes.
fn promote(pass: &Pass<'_>, ns: &str, primary: &str, target: &Value) {
    let mut template = target
        .pointer("/spec/template")
        .cloned()
        .unwrap_or_else(|| json!({}));
    label_version(pass, ns, &mut template);
    if template.pointer(ROLE_POINTER).is_some() {
        put(
            &mut template,
            &["metadata", "labels", ROLE],
            json!("primary"),
        );
    }
    let _ = pass
        .shared
        .store
        .modify::<()>(kinds::deployments(), ns, primary, |d| {
            put(d, &["spec", "template"], template.clone());
            Ok(())
        });
}
