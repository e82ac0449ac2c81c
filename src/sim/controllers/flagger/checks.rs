//! Flagger's built-in checks, judged against what the sim measures for the
//! canary: `request-success-rate` (percent, `thresholdRange.min`) and
//! `request-duration` (p99 milliseconds, `thresholdRange.max`). Pure.

use serde_json::Value;

/// What the sim measured for the canary at one check.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Measured {
    pub error_ratio: f64,
    pub p99_ms: f64,
}

/// The first metric that fails, as the message Flagger puts in its Event;
/// `None` when every check passes. Metrics the sim cannot measure are skipped,
/// as Flagger skips a metric with no template it can query.
pub fn failing(metrics: &[Value], m: Measured) -> Option<String> {
    for metric in metrics {
        let name = metric.get("name").and_then(Value::as_str).unwrap_or("");
        let range = |k: &str| {
            metric
                .pointer(&format!("/thresholdRange/{k}"))
                .and_then(Value::as_f64)
        };
        let (value, unit) = match name {
            "request-success-rate" => ((1.0 - m.error_ratio) * 100.0, "%"),
            "request-duration" => (m.p99_ms, "ms"),
            _ => continue,
        };
        let what = name.replace('-', " ");
        if let Some(min) = range("min")
            && value < min
        {
            return Some(format!("{what} {value:.2}{unit} < {min}{unit}"));
        }
        if let Some(max) = range("max")
            && value > max
        {
            return Some(format!("{what} {value:.2}{unit} > {max}{unit}"));
        }
    }
    None
}

/// The next weight: the next of `stepWeights`, or `stepWeight` more, never
/// past `maxWeight`.
pub fn next_weight(analysis: &Value, current: u64) -> u64 {
    let max = analysis
        .get("maxWeight")
        .and_then(Value::as_u64)
        .unwrap_or(100);
    if let Some(steps) = analysis.get("stepWeights").and_then(Value::as_array) {
        let next = steps
            .iter()
            .filter_map(Value::as_u64)
            .find(|w| *w > current)
            .unwrap_or(max);
        return next.min(max);
    }
    let step = analysis
        .get("stepWeight")
        .and_then(Value::as_u64)
        .unwrap_or(10);
    (current + step).min(max)
}

/// The weight at which the canary is promoted.
pub fn max_weight(analysis: &Value) -> u64 {
    if let Some(last) = analysis
        .get("stepWeights")
        .and_then(Value::as_array)
        .and_then(|s| s.iter().filter_map(Value::as_u64).max())
    {
        return last.min(
            analysis
                .get("maxWeight")
                .and_then(Value::as_u64)
                .unwrap_or(100),
        );
    }
    analysis
        .get("maxWeight")
        .and_then(Value::as_u64)
        .unwrap_or(100)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn weights_walk_by_step_or_list_and_stop_at_max() {
        let a = json!({"stepWeight": 20, "maxWeight": 50});
        assert_eq!([0, 20, 40].map(|w| next_weight(&a, w)), [20, 40, 50]);
        assert_eq!(max_weight(&a), 50);
        let a = json!({"stepWeights": [1, 5, 25, 80]});
        assert_eq!([0, 1, 5, 25].map(|w| next_weight(&a, w)), [1, 5, 25, 80]);
        assert_eq!(max_weight(&a), 80);
    }

    #[test]
    fn checks_name_what_failed() {
        let metrics = [
            json!({"name": "request-success-rate", "thresholdRange": {"min": 99}}),
            json!({"name": "request-duration", "thresholdRange": {"max": 500}}),
            json!({"name": "custom", "templateRef": {"name": "x"}}),
        ];
        let good = Measured {
            error_ratio: 0.002,
            p99_ms: 210.0,
        };
        assert_eq!(failing(&metrics, good), None);
        let bad = Measured {
            error_ratio: 0.05,
            p99_ms: 210.0,
        };
        assert_eq!(
            failing(&metrics, bad).unwrap(),
            "request success rate 95.00% < 99%"
        );
        let slow = Measured {
            error_ratio: 0.0,
            p99_ms: 900.0,
        };
        assert_eq!(
            failing(&metrics, slow).unwrap(),
            "request duration 900.00ms > 500ms"
        );
    }
}
