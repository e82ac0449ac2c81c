//! The canary's error ratio and p99 beside stable's, as Prometheus answers
//! them for a fleet row, and whether the canary is failing by them.

use serde::Serialize;

/// What a column shows when a number is not known (no Prometheus answer,
/// no traffic yet).
pub const MISSING: &str = "—";

/// How far above stable's the canary's error ratio may go before the row
/// counts as a failing canary: one percentage point, the margin a guard
/// such as "canary errors ≤ stable's + 1%" holds it to.
pub const ERROR_MARGIN: f64 = 0.01;

/// The canary's numbers against stable's; each side `None` when unknown.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct Versus {
    pub canary_error_ratio: Option<f64>,
    pub stable_error_ratio: Option<f64>,
    pub canary_p99_ms: Option<f64>,
    pub stable_p99_ms: Option<f64>,
}

// The numbers come from `Prometheus::query_value`, which drops NaN, so
// equality is reflexive.
impl Eq for Versus {}

impl Versus {
    /// `0.8%/0.1%`: canary's error ratio, then stable's.
    pub fn error_text(&self) -> String {
        pair(self.canary_error_ratio, self.stable_error_ratio, "", |r| {
            let percent = r * 100.0;
            if percent != 0.0 && percent.abs() < 0.1 {
                format!("{percent:.2}%")
            } else {
                format!("{percent:.1}%")
            }
        })
    }

    /// `420/180ms`: canary's p99, then stable's.
    pub fn p99_text(&self) -> String {
        pair(self.canary_p99_ms, self.stable_p99_ms, "ms", |ms| {
            format!("{ms:.0}")
        })
    }

    /// Whether the canary's error ratio is above stable's by more than the
    /// margin. Unknown numbers never make a row failing: the row's own
    /// phase still says what its controller thinks.
    pub fn failing(&self) -> bool {
        match (self.canary_error_ratio, self.stable_error_ratio) {
            (Some(canary), Some(stable)) => canary > stable + ERROR_MARGIN,
            _ => false,
        }
    }
}

/// `c/s` with `unit` once at the end; `—` for an unknown side, and alone
/// when both are unknown.
fn pair(
    canary: Option<f64>,
    stable: Option<f64>,
    unit: &str,
    show: impl Fn(f64) -> String,
) -> String {
    if canary.is_none() && stable.is_none() {
        return MISSING.to_string();
    }
    let side = |v: Option<f64>| v.map_or_else(|| MISSING.to_string(), &show);
    format!("{}/{}{unit}", side(canary), side(stable))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn versus(c: f64, s: f64) -> Versus {
        Versus {
            canary_error_ratio: Some(c),
            stable_error_ratio: Some(s),
            canary_p99_ms: Some(420.4),
            stable_p99_ms: Some(179.6),
        }
    }

    #[test]
    fn columns_read_canary_then_stable() {
        let v = versus(0.008, 0.001);
        assert_eq!(v.error_text(), "0.8%/0.1%");
        assert_eq!(v.p99_text(), "420/180ms");
        assert_eq!(versus(0.0004, 0.0).error_text(), "0.04%/0.0%");
    }

    #[test]
    fn unknown_sides_show_a_dash() {
        let none = Versus::default();
        assert_eq!(
            (none.error_text(), none.p99_text()),
            ("—".into(), "—".into())
        );
        let half = Versus {
            canary_error_ratio: Some(0.2),
            stable_p99_ms: Some(180.0),
            ..Versus::default()
        };
        assert_eq!(half.error_text(), "20.0%/—");
        assert_eq!(half.p99_text(), "—/180ms");
    }

    #[test]
    fn failing_means_above_stable_by_more_than_the_margin() {
        assert!(versus(0.2, 0.002).failing());
        assert!(!versus(0.011, 0.002).failing());
        assert!(
            !versus(0.002, 0.2).failing(),
            "a worse stable is not the canary's fault"
        );
        let unknown = Versus {
            canary_error_ratio: Some(0.5),
            ..Versus::default()
        };
        assert!(!unknown.failing(), "no stable number, no verdict");
    }
}
