//! AnalysisRuns: made from AnalysisTemplates for a step or in the background,
//! measured on their interval, judged by each metric's success and failure
//! conditions and failure limit, as Argo's analysis controller does. The
//! provider is the sim's own error ratio for the version under test.

use chrono::{DateTime, Utc};
use serde_json::{Value, json};

use super::spec::duration;
use crate::sim::controllers::{parse_timestamp, timestamp};

pub const SUCCESSFUL: &str = "Successful";
pub const FAILED: &str = "Failed";
pub const ERROR: &str = "Error";
pub const RUNNING: &str = "Running";
pub const INCONCLUSIVE: &str = "Inconclusive";

/// Whether a run's phase is final.
pub fn completed(phase: &str) -> bool {
    matches!(phase, SUCCESSFUL | FAILED | ERROR | INCONCLUSIVE)
}

/// The body of a new AnalysisRun: the templates' metrics and args merged,
/// the Rollout's `given` arg values set and substituted for `{{args.name}}`
/// in the metrics, or, when a template is missing, a run already in `Error`
/// saying which.
pub fn new_run(
    name: &str,
    templates: &[(String, Option<Value>)],
    given: &[Value],
    labels: &Value,
    owner: &Value,
    now: DateTime<Utc>,
) -> Value {
    let mut metrics = Vec::new();
    let mut args = Vec::new();
    let mut missing = Vec::new();
    for (template, spec) in templates {
        match spec {
            Some(spec) => {
                metrics.extend(
                    spec.pointer("/spec/metrics")
                        .and_then(Value::as_array)
                        .cloned()
                        .unwrap_or_default(),
                );
                args.extend(
                    spec.pointer("/spec/args")
                        .and_then(Value::as_array)
                        .cloned()
                        .unwrap_or_default(),
                );
            }
            None => missing.push(template.as_str()),
        }
    }
    for arg in &mut args {
        let arg_name = arg.get("name").cloned();
        if let Some(value) = given
            .iter()
            .find(|g| g.get("name") == arg_name.as_ref())
            .and_then(|g| g.get("value"))
        {
            arg["value"] = value.clone();
        }
    }
    let mut metrics = Value::Array(metrics);
    for arg in &args {
        if let (Some(n), Some(v)) = (
            arg.get("name").and_then(Value::as_str),
            arg.get("value").and_then(Value::as_str),
        ) {
            substitute(&mut metrics, &format!("{{{{args.{n}}}}}"), v);
        }
    }
    let status = if missing.is_empty() {
        json!({"phase": RUNNING, "startedAt": timestamp(now)})
    } else {
        json!({"phase": ERROR, "startedAt": timestamp(now),
               "message": format!("AnalysisTemplate {:?} not found", missing.join(", "))})
    };
    json!({
        "apiVersion": "argoproj.io/v1alpha1",
        "kind": "AnalysisRun",
        "metadata": {"name": name, "labels": labels, "ownerReferences": [owner]},
        "spec": {"metrics": metrics, "args": args},
        "status": status,
    })
}

/// Replaces `needle` in every string of `value`.
fn substitute(value: &mut Value, needle: &str, with: &str) {
    match value {
        Value::String(text) if text.contains(needle) => *text = text.replace(needle, with),
        Value::Array(items) => items.iter_mut().for_each(|v| substitute(v, needle, with)),
        Value::Object(map) => map.values_mut().for_each(|v| substitute(v, needle, with)),
        _ => {}
    }
}

/// A comparison as Argo's templates write them: `result[0] < 0.05`,
/// `result <= 0.01`, `result > 0.99`. Anything else cannot be judged.
pub fn evaluate(condition: &str, value: f64) -> Option<bool> {
    let text = condition.trim();
    let rest = text
        .strip_prefix("result[0]")
        .or_else(|| text.strip_prefix("result"))?
        .trim_start();
    let (op, number) = ["<=", ">=", "==", "!=", "<", ">"]
        .iter()
        .find_map(|op| rest.strip_prefix(op).map(|n| (*op, n)))?;
    let limit: f64 = number.trim().parse().ok()?;
    Some(match op {
        "<=" => value <= limit,
        ">=" => value >= limit,
        "==" => (value - limit).abs() < f64::EPSILON,
        "!=" => (value - limit).abs() >= f64::EPSILON,
        "<" => value < limit,
        _ => value > limit,
    })
}

/// Takes the measurements that are due and settles the run's phase. Returns
/// the new status, or `None` when nothing was due. `measure` answers the
/// provider's value, `None` meaning no data (the measurement errs).
pub fn advance(
    run: &Value,
    now: DateTime<Utc>,
    measure: &mut dyn FnMut() -> Option<f64>,
) -> Option<Value> {
    let status = run.get("status").cloned().unwrap_or_else(|| json!({}));
    let phase = status
        .get("phase")
        .and_then(Value::as_str)
        .unwrap_or(RUNNING);
    if completed(phase) {
        return None;
    }
    let metrics = run
        .pointer("/spec/metrics")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    let terminate = run.pointer("/spec/terminate").and_then(Value::as_bool) == Some(true);
    let mut results: Vec<Value> = status
        .get("metricResults")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    let mut changed = false;
    for metric in &metrics {
        let name = metric.get("name").and_then(Value::as_str).unwrap_or("");
        let found = results
            .iter()
            .position(|r| r.get("name").and_then(Value::as_str) == Some(name));
        let idx = found.unwrap_or_else(|| {
            results.push(json!({"name": name, "phase": RUNNING, "count": 0, "successful": 0, "failed": 0, "inconclusive": 0, "error": 0, "measurements": []}));
            changed = true;
            results.len() - 1
        });
        let result = &mut results[idx];
        if completed(
            result
                .get("phase")
                .and_then(Value::as_str)
                .unwrap_or(RUNNING),
        ) || terminate
        {
            continue;
        }
        let interval = metric.get("interval").and_then(duration);
        let count = metric
            .get("count")
            .and_then(Value::as_u64)
            .or(if interval.is_none() { Some(1) } else { None });
        let last = result
            .get("measurements")
            .and_then(Value::as_array)
            .and_then(|m| m.last())
            .and_then(|m| m.get("finishedAt"))
            .and_then(Value::as_str)
            .and_then(parse_timestamp);
        let due = match (last, interval) {
            (Some(t), Some(i)) => (now - t).to_std().is_ok_and(|d| d >= i),
            _ => true,
        };
        if !due {
            continue;
        }
        changed = true;
        let value = measure();
        let verdict = value.map(|v| judge(metric, v));
        let (m_phase, counter) = match verdict {
            None | Some(None) => (ERROR, "error"),
            Some(Some(p)) => (
                p,
                match p {
                    SUCCESSFUL => "successful",
                    FAILED => "failed",
                    _ => "inconclusive",
                },
            ),
        };
        let at = timestamp(now);
        let mut m = json!({"phase": m_phase, "startedAt": at, "finishedAt": at});
        if let Some(v) = value {
            m["value"] = json!(format!("[{v:.4}]"));
        } else {
            m["message"] = json!("no data for the version under analysis");
        }
        if let Some(list) = result.get_mut("measurements").and_then(Value::as_array_mut) {
            list.push(m);
            // Argo keeps the last ten measurements of a metric.
            let excess = list.len().saturating_sub(10);
            list.drain(..excess);
        }
        let bump = |r: &mut Value, k: &str| {
            let n = r.get(k).and_then(Value::as_u64).unwrap_or(0);
            r[k] = json!(n + 1);
        };
        bump(result, "count");
        bump(result, counter);
        let n = |r: &Value, k: &str| r.get(k).and_then(Value::as_u64).unwrap_or(0);
        let failure_limit = metric
            .get("failureLimit")
            .and_then(Value::as_u64)
            .unwrap_or(0);
        let inconclusive_limit = metric
            .get("inconclusiveLimit")
            .and_then(Value::as_u64)
            .unwrap_or(0);
        let error_limit = metric
            .get("consecutiveErrorLimit")
            .and_then(Value::as_u64)
            .unwrap_or(4);
        if n(result, "failed") > failure_limit {
            result["phase"] = json!(FAILED);
            result["message"] = json!(format!(
                "Metric \"{name}\" assessed Failed due to failed ({}) > failureLimit ({failure_limit})",
                n(result, "failed")
            ));
        } else if n(result, "error") > error_limit {
            result["phase"] = json!(ERROR);
        } else if n(result, "inconclusive") > inconclusive_limit {
            result["phase"] = json!(INCONCLUSIVE);
        } else if count.is_some_and(|c| n(result, "count") >= c) {
            result["phase"] = json!(SUCCESSFUL);
        }
    }
    let phases: Vec<&str> = results
        .iter()
        .map(|r| r.get("phase").and_then(Value::as_str).unwrap_or(RUNNING))
        .collect();
    let mut next = status.clone();
    next["metricResults"] = Value::Array(results.clone());
    let failed = results
        .iter()
        .find(|r| r.get("phase").and_then(Value::as_str) == Some(FAILED));
    let run_phase = if let Some(f) = failed {
        next["message"] = f.get("message").cloned().unwrap_or(Value::Null);
        FAILED
    } else if phases.contains(&ERROR) {
        ERROR
    } else if phases.contains(&INCONCLUSIVE) {
        INCONCLUSIVE
    } else if terminate || (!phases.is_empty() && phases.iter().all(|p| *p == SUCCESSFUL)) {
        SUCCESSFUL
    } else {
        RUNNING
    };
    if run_phase != phase {
        changed = true;
    }
    next["phase"] = json!(run_phase);
    if completed(run_phase) {
        next["completedAt"] = json!(timestamp(now));
    }
    changed.then_some(next)
}

fn judge(metric: &Value, value: f64) -> Option<&'static str> {
    let cond = |k: &str| metric.get(k).and_then(Value::as_str);
    let failed = match cond("failureCondition") {
        Some(c) => evaluate(c, value)?,
        None => false,
    };
    let succeeded = match cond("successCondition") {
        Some(c) => evaluate(c, value)?,
        None => !failed,
    };
    // Neither condition met while both are given is Argo's inconclusive;
    // a success condition alone that is not met is a failure.
    let both = cond("failureCondition").is_some() && cond("successCondition").is_some();
    Some(if succeeded && !failed {
        SUCCESSFUL
    } else if !failed && both {
        INCONCLUSIVE
    } else {
        FAILED
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn at(s: i64) -> DateTime<Utc> {
        Utc.timestamp_opt(1_700_000_000 + s, 0).unwrap()
    }

    fn run(metric: &Value) -> Value {
        json!({"spec": {"metrics": [metric]}, "status": {"phase": "Running"}})
    }

    #[test]
    fn conditions_compare_the_result() {
        assert_eq!(evaluate("result[0] < 0.05", 0.01), Some(true));
        assert_eq!(evaluate("result <= 0.05", 0.06), Some(false));
        assert_eq!(evaluate("result[0] >= 0.99", 0.995), Some(true));
        assert_eq!(evaluate("len(result) > 0", 0.1), None);
    }

    #[test]
    fn a_failed_measurement_past_the_limit_fails_the_run() {
        let mut r = run(&json!({"name": "errors", "interval": "10s", "count": 3,
                               "successCondition": "result[0] < 0.05", "failureLimit": 1}));
        let mut values = vec![0.2, 0.01, 0.3].into_iter();
        let mut t = 0;
        let mut phases = Vec::new();
        for _ in 0..6 {
            if let Some(s) = advance(&r, at(t), &mut || values.next()) {
                r["status"] = s;
            }
            phases.push(r["status"]["phase"].as_str().unwrap().to_string());
            t += 5;
        }
        // Measured at 0s (fail), 10s (pass), 20s (fail: 2 > limit 1).
        assert_eq!(
            phases,
            [
                "Running", "Running", "Running", "Running", "Failed", "Failed"
            ]
        );
        let m = &r["status"]["metricResults"][0];
        assert_eq!(
            (
                m["count"].as_u64(),
                m["failed"].as_u64(),
                m["successful"].as_u64()
            ),
            (Some(3), Some(2), Some(1))
        );
        assert_eq!(m["measurements"][0]["value"], "[0.2000]");
        assert_eq!(
            r["status"]["message"],
            "Metric \"errors\" assessed Failed due to failed (2) > failureLimit (1)"
        );
    }

    #[test]
    fn enough_good_measurements_succeed_and_no_data_errs() {
        let mut r =
            run(&json!({"name": "errors", "count": 1, "successCondition": "result < 0.05"}));
        r["status"] = advance(&r, at(0), &mut || Some(0.001)).unwrap();
        assert_eq!(r["status"]["phase"], "Successful");
        assert!(advance(&r, at(10), &mut || Some(0.9)).is_none());
        let mut r = run(
            &json!({"name": "errors", "interval": "1s", "successCondition": "result < 0.05",
                               "consecutiveErrorLimit": 0}),
        );
        r["status"] = advance(&r, at(0), &mut || None).unwrap();
        assert_eq!(r["status"]["phase"], "Error");
    }
}
