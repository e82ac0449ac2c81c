//! Flagger's `Canary` (`flagger.app/v1beta1`), read as a dynamic object:
//! only the fields shown, each with a default.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use kube::api::{ApiResource, DynamicObject, GroupVersionKind};
use serde::Deserialize;
use serde_json::Value;

use super::text;
use crate::fleet::{AnalysisMetric, Detail, Kind, Phase, Row};

pub fn canaries() -> ApiResource {
    ApiResource::from_gvk_with_plural(
        &GroupVersionKind::gvk("flagger.app", "v1beta1", "Canary"),
        "canaries",
    )
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct Canary {
    spec: Spec,
    status: Status,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
struct Spec {
    target_ref: TargetRef,
    analysis: Analysis,
    suspend: bool,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct TargetRef {
    name: String,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
struct Analysis {
    interval: String,
    threshold: u32,
    max_weight: Option<u32>,
    step_weight: Option<u32>,
    step_weights: Vec<u32>,
    iterations: Option<u32>,
    #[serde(rename = "match")]
    matches: Vec<Value>,
    metrics: Vec<Metric>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
struct Metric {
    name: String,
    threshold_range: Option<Range>,
    interval: String,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct Range {
    min: Option<f64>,
    max: Option<f64>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
struct Status {
    phase: String,
    canary_weight: u32,
    iterations: u32,
    failed_checks: u32,
    last_transition_time: Option<DateTime<Utc>>,
    conditions: Vec<Condition>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct Condition {
    message: String,
}

/// A Canary's row; `None` when the object cannot be read at all.
pub fn row(cluster: &str, obj: &DynamicObject) -> Option<Row> {
    let name = obj.metadata.name.as_deref()?;
    let namespace = obj.metadata.namespace.as_deref().unwrap_or_default();
    let canary: Canary = serde_json::from_value(obj.data.clone()).ok()?;
    let (spec, status) = (&canary.spec, &canary.status);
    let a = &spec.analysis;
    let mut row = Row::new(cluster, &text(namespace), &text(name), Kind::Flagger);
    row.strategy = match (a.iterations, a.matches.is_empty()) {
        (Some(_), false) => "A/B",
        (Some(_), true) => "blue-green",
        (None, _) => "canary",
    }
    .to_string();
    row.step = step(a, status);
    if row.strategy == "canary" {
        row.weight = Some(status.canary_weight.min(100) as u8);
    }
    let checks = format!("failed checks {}/{}", status.failed_checks, a.threshold);
    row.phase = phase(spec, status, &checks);
    row.changed = status.last_transition_time;
    let target = if spec.target_ref.name.is_empty() {
        name
    } else {
        &spec.target_ref.name
    };
    // Flagger runs the promoted version as `<target>-primary`.
    row.selector = [target.to_string(), format!("{target}-primary")]
        .into_iter()
        .map(|app| BTreeMap::from([("app".to_string(), app)]))
        .collect();
    row.detail = Detail {
        steps: steps(a),
        current: row.step.map(|(at, _)| at.saturating_sub(1) as usize),
        analysis: a
            .metrics
            .iter()
            .map(|m| AnalysisMetric {
                name: text(&m.name),
                phase: String::new(),
                measured: Vec::new(),
                limit: m.threshold_range.as_ref().map_or_else(String::new, range),
            })
            .collect(),
        notes: std::iter::once(checks)
            .chain((!a.interval.is_empty()).then(|| format!("interval {}", text(&a.interval))))
            .chain(
                status
                    .conditions
                    .iter()
                    .map(|c| text(&c.message))
                    .filter(|m| !m.is_empty()),
            )
            .collect(),
    };
    Some(row)
}

fn range(r: &Range) -> String {
    match (r.min, r.max) {
        (Some(min), Some(max)) => format!("{min} ≤ x ≤ {max}"),
        (Some(min), None) => format!("≥ {min}"),
        (None, Some(max)) => format!("≤ {max}"),
        (None, None) => String::new(),
    }
}

/// The weights Flagger steps through: `stepWeights`, or `stepWeight` up to
/// `maxWeight`.
fn weights(a: &Analysis) -> Vec<u32> {
    if !a.step_weights.is_empty() {
        return a.step_weights.clone();
    }
    let (Some(step), max) = (a.step_weight.filter(|s| *s > 0), a.max_weight.unwrap_or(50)) else {
        return Vec::new();
    };
    (1..=max / step).map(|i| i * step).collect()
}

fn step(a: &Analysis, status: &Status) -> Option<(u32, u32)> {
    if let Some(total) = a.iterations.filter(|t| *t > 0) {
        return Some((status.iterations.min(total), total));
    }
    let weights = weights(a);
    if weights.is_empty() {
        return None;
    }
    let at = weights
        .iter()
        .take_while(|w| **w <= status.canary_weight)
        .count();
    Some((at as u32, weights.len() as u32))
}

fn steps(a: &Analysis) -> Vec<String> {
    if let Some(total) = a.iterations.filter(|t| *t > 0) {
        return (1..=total).map(|i| format!("iteration {i}")).collect();
    }
    weights(a).iter().map(|w| format!("weight {w}%")).collect()
}

fn phase(spec: &Spec, status: &Status, checks: &str) -> Phase {
    if spec.suspend {
        return Phase::Paused {
            until: None,
            reason: "suspended".into(),
        };
    }
    match status.phase.as_str() {
        "Failed" => Phase::Degraded {
            reason: format!("rolled back: {checks}"),
        },
        "Waiting" | "WaitingPromotion" => Phase::Paused {
            until: None,
            reason: "waiting for the promotion gate".into(),
        },
        "Succeeded" | "Initialized" => Phase::Promoted,
        _ if status.failed_checks > 0 => Phase::FailingGuard {
            reason: checks.to_string(),
        },
        _ => Phase::Progressing,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[allow(clippy::needless_pass_by_value)]
    fn canary(analysis: Value, status: Value, suspend: bool) -> DynamicObject {
        serde_json::from_value(json!({
            "apiVersion": "flagger.app/v1beta1", "kind": "Canary",
            "metadata": {"name": "podinfo", "namespace": "test"},
            "spec": {
                "targetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "podinfo"},
                "service": {"port": 9898},
                "suspend": suspend,
                "analysis": analysis
            },
            "status": status
        }))
        .unwrap()
    }

    fn analysis() -> Value {
        json!({"interval": "1m", "threshold": 5, "maxWeight": 50, "stepWeight": 10,
               "metrics": [{"name": "request-success-rate", "thresholdRange": {"min": 99}, "interval": "1m"},
                           {"name": "request-duration", "thresholdRange": {"max": 500}, "interval": "30s"}]})
    }

    #[test]
    fn progressing_canary_counts_steps_from_its_weights_and_failed_checks() {
        let obj = canary(
            analysis(),
            json!({"phase": "Progressing", "canaryWeight": 30, "failedChecks": 2, "iterations": 0,
                   "lastTransitionTime": "2026-01-01T10:00:00Z",
                   "conditions": [{"type": "Promoted", "status": "Unknown", "message": "New revision detected"}]}),
            false,
        );
        let r = row("prod", &obj).unwrap();
        assert_eq!(
            (r.step_text(), r.weight_text()),
            ("3/5".to_string(), "30%".to_string())
        );
        assert_eq!(
            r.phase,
            Phase::FailingGuard {
                reason: "failed checks 2/5".into()
            }
        );
        assert_eq!(r.detail.steps.len(), 5);
        assert_eq!(r.detail.current, Some(2));
        assert_eq!(r.detail.analysis[0].limit, "≥ 99");
        assert_eq!(r.detail.analysis[1].limit, "≤ 500");
        assert!(
            r.detail
                .notes
                .contains(&"New revision detected".to_string())
        );
        assert_eq!(r.changed, "2026-01-01T10:00:00Z".parse().ok());
    }

    #[test]
    fn phases_map_to_the_fleet_words() {
        let cases = [
            ("Failed", false, "degraded"),
            ("WaitingPromotion", false, "paused"),
            ("Succeeded", false, "promoted"),
            ("Progressing", false, "progressing"),
            ("Progressing", true, "paused"),
            ("SomethingNew", false, "progressing"),
        ];
        for (phase, suspend, word) in cases {
            let obj = canary(analysis(), json!({"phase": phase}), suspend);
            assert_eq!(row("c", &obj).unwrap().phase.word(), word, "{phase}");
        }
    }

    #[test]
    fn blue_green_counts_iterations_and_has_no_weight() {
        let obj = canary(
            json!({"interval": "1m", "threshold": 2, "iterations": 10}),
            json!({"phase": "Progressing", "iterations": 4}),
            false,
        );
        let r = row("c", &obj).unwrap();
        assert_eq!(r.strategy, "blue-green");
        assert_eq!((r.step_text(), r.weight), ("4/10".to_string(), None));
    }
}
