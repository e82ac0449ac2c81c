//! Fixtures for unit tests across the crate: the checkout canary the
//! simulator ships, with the stages and extra tables a test needs, and the
//! alarm its error-ratio guard raises.

use std::path::Path;
use std::time::Duration;

use chrono::{DateTime, Utc};

use super::guards::{Alarm, GuardAction, GuardMetric};
use super::plan::Plan;

/// checkout's 5xx guard firing at 8.1% against 5%, held `held_for` since `since`.
pub fn alarm(since: DateTime<Utc>, held_for: Duration) -> Alarm {
    Alarm {
        guard: "checkout 5xx".into(),
        metric: GuardMetric::ErrorRatio,
        action: GuardAction::Rollback,
        value: 0.081,
        threshold: 0.05,
        since,
        held_for,
    }
}

/// checkout's canary through Istio, with `stages` (a TOML array) and
/// `tables` (more TOML, such as an `[analysis]` table) after it.
pub fn canary(stages: &str, tables: &str) -> Plan {
    let text = format!(
        r#"
app = "checkout"
namespace = "shop"
strategy = "canary"
[canary]
stable = "checkout-stable"
canary = "checkout-canary"
stages = {stages}
[canary.router]
kind = "istio"
virtual_service = "checkout"
{tables}
"#
    );
    match Plan::parse(Path::new("test.toml"), &text) {
        Ok(plan) => plan,
        Err(e) => panic!("a test plan does not parse: {e}"),
    }
}
