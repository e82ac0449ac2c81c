//! The numbers Prometheus would compute, from two scrapes of the pods'
//! `/metrics`, for clusters with no Prometheus: rates from counter deltas
//! (a counter that went down restarted from zero) and quantiles interpolated
//! inside histogram buckets the way `histogram_quantile` does.

use std::collections::{BTreeMap, HashMap};

use super::exposition::Sample;

const REQUESTS: &str = "http_requests_total";
const BUCKETS: &str = "http_request_duration_seconds_bucket";

/// A version's numbers over the time between two scrapes.
#[derive(Debug, Clone, PartialEq)]
pub struct Numbers {
    pub requests_per_second: f64,
    /// `None` when no request was served.
    pub error_ratio: Option<f64>,
    pub p50: Option<f64>,
    pub p95: Option<f64>,
    pub p99: Option<f64>,
}

type SeriesKey = (String, BTreeMap<String, String>);

/// How much each counter series grew between the scrapes. A series that went
/// down was reset (the pod restarted), so all of its new value is growth; a new
/// series started from zero.
pub fn increases(before: &[Sample], after: &[Sample]) -> Vec<Sample> {
    let old: HashMap<SeriesKey, f64> = before
        .iter()
        .map(|s| ((s.name.clone(), s.labels.clone()), s.value))
        .collect();
    after
        .iter()
        .map(|s| {
            let prev = old.get(&(s.name.clone(), s.labels.clone())).copied();
            let growth = match prev {
                Some(p) if s.value >= p => s.value - p,
                _ => s.value,
            };
            Sample {
                value: growth,
                ..s.clone()
            }
        })
        .collect()
}

/// Whether a sample carries every `label=value` of `selector`.
fn selected(sample: &Sample, selector: &[(&str, &str)]) -> bool {
    selector.iter().all(|(k, v)| sample.label(k) == Some(*v))
}

/// The numbers of the samples matching `selector`, from their increases over
/// `seconds` (see [`increases`]).
pub fn numbers(increases: &[Sample], seconds: f64, selector: &[(&str, &str)]) -> Numbers {
    let mut total = 0.0;
    let mut errors = 0.0;
    let mut buckets: BTreeMap<u64, (f64, f64)> = BTreeMap::new();
    for s in increases.iter().filter(|s| selected(s, selector)) {
        if s.name == REQUESTS {
            total += s.value;
            if s.label("code").is_some_and(|c| c.starts_with('5')) {
                errors += s.value;
            }
        } else if s.name == BUCKETS
            && let Some(le) = s.label("le").and_then(parse_le)
        {
            // Keyed by the bits of a positive float, which sort as the floats do.
            buckets.entry(le.to_bits()).or_insert((le, 0.0)).1 += s.value;
        }
    }
    let buckets: Vec<(f64, f64)> = buckets.into_values().collect();
    let rate = if seconds > 0.0 { total / seconds } else { 0.0 };
    Numbers {
        requests_per_second: rate,
        error_ratio: (total > 0.0).then(|| errors / total),
        p50: histogram_quantile(0.5, &buckets),
        p95: histogram_quantile(0.95, &buckets),
        p99: histogram_quantile(0.99, &buckets),
    }
}

fn parse_le(text: &str) -> Option<f64> {
    match text {
        "+Inf" | "Inf" => Some(f64::INFINITY),
        _ => text.parse().ok().filter(|v: &f64| *v >= 0.0),
    }
}

/// The `q` quantile of cumulative buckets `(le, count)` sorted by `le`, as
/// Prometheus computes it: find the bucket holding the rank, interpolate
/// linearly inside it (from 0 for the first bucket); a rank in the `+Inf`
/// bucket answers the highest finite bound. `None` with no observations.
pub fn histogram_quantile(q: f64, buckets: &[(f64, f64)]) -> Option<f64> {
    let (&(last_le, total), _) = buckets.split_last()?;
    if !last_le.is_infinite() || total <= 0.0 || !(0.0..=1.0).contains(&q) {
        return None;
    }
    // Counts from separate scrapes can be slightly non-monotonic; Prometheus
    // evens them out the same way.
    let mut counts: Vec<f64> = Vec::with_capacity(buckets.len());
    for (_, c) in buckets {
        let floor = counts.last().copied().unwrap_or(0.0);
        counts.push(c.max(floor));
    }
    let rank = q * total;
    let i = counts.iter().position(|c| *c >= rank)?;
    if i == buckets.len() - 1 {
        return buckets.len().checked_sub(2).map(|j| buckets[j].0);
    }
    let (start, below) = if i == 0 {
        (0.0, 0.0)
    } else {
        (buckets[i - 1].0, counts[i - 1])
    };
    let end = buckets[i].0;
    let inside = counts[i] - below;
    if inside <= 0.0 {
        return Some(end);
    }
    Some(start + (end - start) * (rank - below) / inside)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::exposition::parse;

    #[test]
    fn quantile_interpolates_inside_the_bucket() {
        let b = [
            (0.1, 50.0),
            (0.2, 90.0),
            (0.5, 100.0),
            (f64::INFINITY, 100.0),
        ];
        assert!((histogram_quantile(0.5, &b).unwrap() - 0.1).abs() < 1e-12);
        assert!((histogram_quantile(0.7, &b).unwrap() - 0.15).abs() < 1e-12);
        assert!((histogram_quantile(0.99, &b).unwrap() - 0.47).abs() < 1e-12);
        assert!((histogram_quantile(0.25, &b).unwrap() - 0.05).abs() < 1e-12);
        assert_eq!(
            histogram_quantile(0.5, &[(0.1, 0.0), (f64::INFINITY, 0.0)]),
            None
        );
        let beyond = [(0.1, 1.0), (f64::INFINITY, 10.0)];
        assert_eq!(histogram_quantile(0.99, &beyond), Some(0.1));
    }

    #[test]
    fn rates_survive_a_counter_reset() {
        let before = parse(
            "http_requests_total{version=\"canary\",pod=\"a\",code=\"200\"} 900\n\
             http_requests_total{version=\"canary\",pod=\"a\",code=\"500\"} 100\n",
        )
        .unwrap();
        // The pod restarted: its counters began again and reached these values.
        let after = parse(
            "http_requests_total{version=\"canary\",pod=\"a\",code=\"200\"} 45\n\
             http_requests_total{version=\"canary\",pod=\"a\",code=\"500\"} 105\n\
             http_requests_total{version=\"canary\",pod=\"b\",code=\"200\"} 50\n",
        )
        .unwrap();
        let inc = increases(&before.samples, &after.samples);
        let n = numbers(&inc, 10.0, &[("version", "canary")]);
        assert!((n.requests_per_second - 10.0).abs() < 1e-9);
        assert!((n.error_ratio.unwrap() - 0.05).abs() < 1e-9);
        let none = numbers(&inc, 10.0, &[("version", "stable")]);
        assert_eq!(none.error_ratio, None);
    }

    #[test]
    fn quantiles_come_from_bucket_increases() {
        let text = |fast: u32, slow: u32| {
            format!(
                "http_request_duration_seconds_bucket{{version=\"v\",le=\"0.1\"}} {fast}\n\
                 http_request_duration_seconds_bucket{{version=\"v\",le=\"1\"}} {}\n\
                 http_request_duration_seconds_bucket{{version=\"v\",le=\"+Inf\"}} {}\n",
                fast + slow,
                fast + slow
            )
        };
        let before = parse(&text(1000, 1000)).unwrap();
        let after = parse(&text(1090, 1010)).unwrap();
        let n = numbers(&increases(&before.samples, &after.samples), 1.0, &[]);
        // 90 of 100 under 0.1 s: p50 inside the first bucket, p99 inside the second.
        assert!((n.p50.unwrap() - 0.1 * 50.0 / 90.0).abs() < 1e-9);
        assert!((n.p99.unwrap() - (0.1 + 0.9 * 9.0 / 10.0)).abs() < 1e-9);
    }
}
