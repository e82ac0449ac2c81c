//! Argo Rollouts' `Rollout` (`argoproj.io/v1alpha1`) and its `AnalysisRun`s,
//! read as dynamic objects: only the fields shown are deserialized, each
//! with a default, so a newer controller's objects still parse.

use std::collections::BTreeMap;
use std::time::Duration;

use chrono::{DateTime, Utc};
use kube::api::{ApiResource, DynamicObject, GroupVersionKind};
use serde::Deserialize;
use serde_json::Value;

use super::text;
use crate::fleet::{AnalysisMetric, Detail, Kind, Phase, Row};

pub fn rollouts() -> ApiResource {
    ApiResource::from_gvk_with_plural(
        &GroupVersionKind::gvk("argoproj.io", "v1alpha1", "Rollout"),
        "rollouts",
    )
}

pub fn analysis_runs() -> ApiResource {
    ApiResource::from_gvk_with_plural(
        &GroupVersionKind::gvk("argoproj.io", "v1alpha1", "AnalysisRun"),
        "analysisruns",
    )
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct Rollout {
    spec: Spec,
    status: Status,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
struct Spec {
    paused: bool,
    selector: LabelSelector,
    strategy: Strategy,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
struct LabelSelector {
    match_labels: BTreeMap<String, String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
struct Strategy {
    canary: Option<Canary>,
    blue_green: Option<Value>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
struct Canary {
    steps: Vec<Step>,
    traffic_routing: Option<Value>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
struct Step {
    set_weight: Option<u32>,
    pause: Option<PauseStep>,
    analysis: Option<StepAnalysis>,
    #[serde(flatten)]
    other: BTreeMap<String, Value>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct PauseStep {
    /// `30s`, `1h`, or a bare number of seconds (as a string or a number).
    duration: Option<Value>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct StepAnalysis {
    templates: Vec<TemplateRef>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
struct TemplateRef {
    template_name: String,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
struct Status {
    abort: bool,
    current_step_index: Option<u32>,
    /// A string in Argo's API; a number is taken too.
    observed_generation: Option<Value>,
    controller_pause: bool,
    pause_conditions: Vec<PauseCondition>,
    phase: String,
    message: String,
    canary: CanaryStatus,
    conditions: Vec<Condition>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
struct PauseCondition {
    reason: String,
    start_time: Option<DateTime<Utc>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct CanaryStatus {
    weights: Option<TrafficWeights>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct TrafficWeights {
    canary: WeightDestination,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct WeightDestination {
    weight: u32,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
struct Condition {
    last_update_time: Option<DateTime<Utc>>,
    last_transition_time: Option<DateTime<Utc>>,
}

/// A Rollout's row; `None` when the object is not a Rollout this reader
/// understands at all. `runs` are the namespace's AnalysisRuns.
pub fn row(cluster: &str, obj: &DynamicObject, runs: &[&DynamicObject]) -> Option<Row> {
    let name = obj.metadata.name.as_deref()?;
    let namespace = obj.metadata.namespace.as_deref().unwrap_or_default();
    let rollout: Rollout = serde_json::from_value(obj.data.clone()).ok()?;
    let mut row = Row::new(cluster, &text(namespace), &text(name), Kind::Argo);
    let steps = rollout
        .spec
        .strategy
        .canary
        .as_ref()
        .map_or(&[][..], |c| c.steps.as_slice());
    let index = rollout.status.current_step_index.map(|i| i as usize);
    row.strategy = if rollout.spec.strategy.blue_green.is_some() {
        "blue-green".into()
    } else {
        "canary".into()
    };
    if !steps.is_empty() {
        let at = index.map_or(0, |i| i.min(steps.len().saturating_sub(1)) + 1);
        row.step = Some((at as u32, steps.len() as u32));
    }
    row.weight = weight(&rollout, steps, index);
    row.phase = phase(obj.metadata.generation, &rollout, steps, index);
    row.changed = changed(obj, &rollout);
    if !rollout.spec.selector.match_labels.is_empty() {
        row.selector = vec![rollout.spec.selector.match_labels.clone()];
    }
    row.detail = Detail {
        steps: steps.iter().map(step_text).collect(),
        current: index,
        analysis: latest_run(name, runs).map(analysis).unwrap_or_default(),
        notes: [rollout.status.message.as_str()]
            .into_iter()
            .filter(|m| !m.is_empty())
            .map(text)
            .collect(),
    };
    Some(row)
}

/// The canary's weight: the traffic router's as the controller reports it;
/// without traffic routing, the `setWeight` of the steps reached so far
/// (which the controller approximates with replica counts).
fn weight(rollout: &Rollout, steps: &[Step], index: Option<usize>) -> Option<u8> {
    let canary = rollout.spec.strategy.canary.as_ref()?;
    if canary.traffic_routing.is_some()
        && let Some(w) = &rollout.status.canary.weights
    {
        return Some(w.canary.weight.min(100) as u8);
    }
    let index = index?;
    if index >= steps.len() {
        return Some(100);
    }
    steps[..=index]
        .iter()
        .rev()
        .find_map(|s| s.set_weight)
        .map(|w| w.min(100) as u8)
        .or(Some(0))
}

/// The phase, computed as the controller's own tools do: a spec not yet
/// observed, or a pause being lifted, is progressing whatever the status
/// says; otherwise the status's phase, with abort and pauses spelled out.
fn phase(
    generation: Option<i64>,
    rollout: &Rollout,
    steps: &[Step],
    index: Option<usize>,
) -> Phase {
    let status = &rollout.status;
    if status.abort {
        return Phase::Aborted {
            reason: text(&status.message),
        };
    }
    if !observed(generation, status.observed_generation.as_ref()) {
        return Phase::Progressing;
    }
    if status.controller_pause && status.pause_conditions.is_empty() {
        return Phase::Progressing;
    }
    if rollout.spec.paused || !status.pause_conditions.is_empty() || status.phase == "Paused" {
        let cond = status.pause_conditions.first();
        let reason = cond.map_or_else(
            || {
                if rollout.spec.paused {
                    "paused".to_string()
                } else {
                    text(&status.message)
                }
            },
            |c| text(&c.reason),
        );
        if reason.contains("Inconclusive") {
            return Phase::FailingGuard { reason };
        }
        let until = cond.and_then(|c| c.start_time).and_then(|start| {
            let step = steps.get(index?)?;
            let pause = step.pause.as_ref()?;
            let length = pause_length(pause.duration.as_ref()?)?;
            Some(start + chrono::Duration::from_std(length).ok()?)
        });
        return Phase::Paused {
            until: if rollout.spec.paused { None } else { until },
            reason,
        };
    }
    match status.phase.as_str() {
        "Degraded" => Phase::Degraded {
            reason: text(&status.message),
        },
        "Healthy" => Phase::Promoted,
        _ => Phase::Progressing,
    }
}

/// Whether `status.observedGeneration` has caught up with the spec. Read as
/// the controller does: an observed generation that is not a number counts
/// as observed.
fn observed(generation: Option<i64>, observed: Option<&Value>) -> bool {
    let Some(generation) = generation else {
        return true;
    };
    let seen = match observed {
        Some(Value::String(s)) => s.parse::<i64>().ok(),
        Some(Value::Number(n)) => n.as_i64(),
        _ => None,
    };
    seen.is_none_or(|seen| seen >= generation)
}

/// A pause step's duration: a number of seconds or a duration with a unit.
fn pause_length(value: &Value) -> Option<Duration> {
    match value {
        Value::Number(n) => n.as_u64().map(Duration::from_secs),
        Value::String(s) => s
            .parse::<u64>()
            .ok()
            .map(Duration::from_secs)
            .or_else(|| crate::units::parse_duration(s).ok()),
        _ => None,
    }
}

fn step_text(step: &Step) -> String {
    if let Some(w) = step.set_weight {
        return format!("setWeight {w}%");
    }
    if let Some(p) = &step.pause {
        return match p.duration.as_ref().and_then(pause_length) {
            Some(d) => format!("pause {}", crate::units::format_duration(d)),
            None => "pause until promoted".to_string(),
        };
    }
    if let Some(a) = &step.analysis {
        let names: Vec<String> = a.templates.iter().map(|t| text(&t.template_name)).collect();
        return format!("analysis {}", names.join(", "));
    }
    step.other
        .keys()
        .next()
        .map_or_else(|| "step".to_string(), |k| text(k))
}

fn changed(obj: &DynamicObject, rollout: &Rollout) -> Option<DateTime<Utc>> {
    let created = obj
        .metadata
        .creation_timestamp
        .as_ref()
        .and_then(super::time);
    rollout
        .status
        .conditions
        .iter()
        .flat_map(|c| [c.last_update_time, c.last_transition_time])
        .chain(rollout.status.pause_conditions.iter().map(|p| p.start_time))
        .chain([created])
        .flatten()
        .max()
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct AnalysisRun {
    spec: RunSpec,
    status: RunStatus,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct RunSpec {
    metrics: Vec<MetricSpec>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
struct MetricSpec {
    name: String,
    success_condition: String,
    failure_condition: String,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
struct RunStatus {
    metric_results: Vec<MetricResult>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct MetricResult {
    name: String,
    phase: String,
    measurements: Vec<Measurement>,
    message: String,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct Measurement {
    value: String,
}

/// Measured values kept per metric in the side pane.
const MEASUREMENTS_SHOWN: usize = 5;

/// The newest AnalysisRun the Rollout owns.
fn latest_run<'a>(rollout: &str, runs: &[&'a DynamicObject]) -> Option<&'a DynamicObject> {
    runs.iter()
        .copied()
        .filter(|r| {
            r.metadata.owner_references.as_ref().is_some_and(|owners| {
                owners
                    .iter()
                    .any(|o| o.kind == "Rollout" && o.name == rollout)
            })
        })
        .max_by_key(|r| {
            (
                r.metadata.creation_timestamp.as_ref().and_then(super::time),
                r.metadata.name.clone(),
            )
        })
}

fn analysis(run: &DynamicObject) -> Vec<AnalysisMetric> {
    let Ok(parsed) = serde_json::from_value::<AnalysisRun>(run.data.clone()) else {
        return Vec::new();
    };
    parsed
        .spec
        .metrics
        .iter()
        .map(|m| {
            let result = parsed
                .status
                .metric_results
                .iter()
                .find(|r| r.name == m.name);
            let limit = match (
                m.success_condition.is_empty(),
                m.failure_condition.is_empty(),
            ) {
                (false, _) => m.success_condition.clone(),
                (true, false) => format!("fails if {}", m.failure_condition),
                (true, true) => String::new(),
            };
            let measured = result.map_or_else(Vec::new, |r| {
                let skip = r.measurements.len().saturating_sub(MEASUREMENTS_SHOWN);
                r.measurements[skip..]
                    .iter()
                    .map(|x| text(&x.value))
                    .collect()
            });
            let mut phase = result.map_or_else(|| "Pending".to_string(), |r| text(&r.phase));
            if let Some(r) = result.filter(|r| !r.message.is_empty()) {
                phase = format!("{phase}: {}", text(&r.message));
            }
            AnalysisMetric {
                name: text(&m.name),
                phase,
                measured,
                limit: text(&limit),
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn object(value: Value) -> DynamicObject {
        serde_json::from_value(value).unwrap()
    }

    #[allow(clippy::needless_pass_by_value)]
    fn rollout(status: Value, generation: i64, routed: bool) -> DynamicObject {
        let mut canary = json!({
            "steps": [
                {"setWeight": 20},
                {"pause": {"duration": "10m"}},
                {"setWeight": 50},
                {"analysis": {"templates": [{"templateName": "success-rate"}]}},
                {"pause": {}},
                {"setWeight": 80},
                {"pause": {"duration": 30}},
                {"setWeight": 100}
            ]
        });
        if routed {
            canary["trafficRouting"] = json!({"istio": {"virtualService": {"name": "cart"}}});
        }
        object(json!({
            "apiVersion": "argoproj.io/v1alpha1",
            "kind": "Rollout",
            "metadata": {
                "name": "cart", "namespace": "shop", "generation": generation,
                "creationTimestamp": "2026-01-01T00:00:00Z"
            },
            "spec": {
                "selector": {"matchLabels": {"app": "cart"}},
                "strategy": {"canary": canary},
                "somethingNewer": {"x": 1}
            },
            "status": status
        }))
    }

    #[test]
    fn paused_step_shows_its_time_left_and_the_setweight_reached() {
        let obj = rollout(
            json!({
                "observedGeneration": "3",
                "currentStepIndex": 1,
                "phase": "Paused",
                "controllerPause": true,
                "pauseConditions": [{"reason": "CanaryPauseStep", "startTime": "2026-01-01T10:00:00Z"}],
                "futureField": [1, 2]
            }),
            3,
            false,
        );
        let row = row("prod", &obj, &[]).unwrap();
        assert_eq!(row.step_text(), "2/8");
        assert_eq!(row.weight, Some(20));
        let at = "2026-01-01T10:04:00Z".parse().unwrap();
        assert_eq!(row.phase.text(at), "paused 6m00s left");
        assert_eq!(row.phase.reason(), Some("CanaryPauseStep"));
        assert_eq!(row.detail.steps[1], "pause 10m00s");
        assert_eq!(row.detail.steps[4], "pause until promoted");
        assert_eq!(row.detail.steps[3], "analysis success-rate");
        assert_eq!(row.detail.current, Some(1));
        assert_eq!(row.changed, "2026-01-01T10:00:00Z".parse().ok());
    }

    #[test]
    fn indefinite_pause_waits_for_the_go_and_numeric_durations_count() {
        let obj = rollout(
            json!({"observedGeneration": "1", "currentStepIndex": 4, "phase": "Paused",
                   "pauseConditions": [{"reason": "CanaryPauseStep", "startTime": "2026-01-01T10:00:00Z"}]}),
            1,
            false,
        );
        let r = row("prod", &obj, &[]).unwrap();
        assert_eq!(
            r.phase,
            Phase::Paused {
                until: None,
                reason: "CanaryPauseStep".into()
            }
        );
        assert_eq!(r.weight, Some(50));
        let obj = rollout(
            json!({"observedGeneration": "1", "currentStepIndex": 6, "phase": "Paused",
                   "pauseConditions": [{"reason": "CanaryPauseStep", "startTime": "2026-01-01T10:00:00Z"}]}),
            1,
            false,
        );
        let r = row("prod", &obj, &[]).unwrap();
        assert_eq!(
            r.phase.text("2026-01-01T10:00:10Z".parse().unwrap()),
            "paused 20s left"
        );
    }

    #[test]
    fn phase_follows_the_controller_rules() {
        // Spec not observed yet: progressing whatever the status says.
        let obj = rollout(
            json!({"observedGeneration": "2", "phase": "Degraded"}),
            3,
            false,
        );
        assert_eq!(row("c", &obj, &[]).unwrap().phase, Phase::Progressing);
        // Unpausing: the controller paused, the conditions are gone.
        let obj = rollout(
            json!({"observedGeneration": "3", "phase": "Paused", "controllerPause": true}),
            3,
            false,
        );
        assert_eq!(row("c", &obj, &[]).unwrap().phase, Phase::Progressing);
        let obj = rollout(
            json!({"observedGeneration": "3", "phase": "Degraded", "message": "ProgressDeadlineExceeded"}),
            3,
            false,
        );
        assert_eq!(
            row("c", &obj, &[]).unwrap().phase,
            Phase::Degraded {
                reason: "ProgressDeadlineExceeded".into()
            }
        );
        let obj = rollout(
            json!({"observedGeneration": "3", "abort": true, "phase": "Degraded", "message": "RolloutAborted: metric failed"}),
            3,
            false,
        );
        assert_eq!(
            row("c", &obj, &[]).unwrap().phase,
            Phase::Aborted {
                reason: "RolloutAborted: metric failed".into()
            }
        );
        let obj = rollout(
            json!({"observedGeneration": "3", "phase": "Healthy", "currentStepIndex": 8}),
            3,
            false,
        );
        let r = row("c", &obj, &[]).unwrap();
        assert_eq!(r.phase, Phase::Promoted);
        assert_eq!((r.step_text(), r.weight), ("8/8".to_string(), Some(100)));
    }

    #[test]
    fn traffic_routing_weight_comes_from_the_status() {
        let obj = rollout(
            json!({"observedGeneration": "1", "currentStepIndex": 2, "phase": "Progressing",
                   "canary": {"weights": {"canary": {"weight": 35, "podTemplateHash": "abc"},
                                          "stable": {"weight": 65}}}}),
            1,
            true,
        );
        assert_eq!(row("c", &obj, &[]).unwrap().weight, Some(35));
    }

    #[test]
    fn the_newest_owned_analysis_run_gives_measured_values_and_limits() {
        let run = |name: &str, created: &str, owner: &str, value: &str| {
            object(json!({
                "apiVersion": "argoproj.io/v1alpha1", "kind": "AnalysisRun",
                "metadata": {"name": name, "namespace": "shop", "creationTimestamp": created,
                    "ownerReferences": [{"apiVersion": "argoproj.io/v1alpha1", "kind": "Rollout",
                                         "name": owner, "uid": "u"}]},
                "spec": {"metrics": [{"name": "success-rate", "successCondition": "result[0] >= 0.95",
                                      "provider": {"prometheus": {"query": "q"}}}]},
                "status": {"phase": "Failed", "metricResults": [{"name": "success-rate", "phase": "Failed",
                    "message": "\u{1b}[31mbelow limit",
                    "measurements": [{"phase": "Failed", "value": value}]}]}
            }))
        };
        let old = run("cart-1", "2026-01-01T00:00:00Z", "cart", "[0.99]");
        let new = run("cart-2", "2026-01-02T00:00:00Z", "cart", "[0.80]");
        let other = run("pay-9", "2026-01-03T00:00:00Z", "pay", "[0.1]");
        let obj = rollout(json!({"observedGeneration": "1"}), 1, false);
        let r = row("c", &obj, &[&old, &new, &other]).unwrap();
        assert_eq!(
            r.detail.analysis,
            vec![AnalysisMetric {
                name: "success-rate".into(),
                phase: "Failed: below limit".into(),
                measured: vec!["[0.80]".into()],
                limit: "result[0] >= 0.95".into(),
            }]
        );
    }
}
