//! When each version of each app first received a request. The traffic model
//! is the only one who can tell, and the kubelet needs it too: a scenario may
//! make a version crash more often some time after it first got traffic.

use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde_json::Value;

/// The version a pod serves traffic as: its `version` label, else its `slot`,
/// else `stable`. The traffic model splits by it and the kubelet looks it up.
pub fn serving_version(labels: Option<&serde_json::Map<String, Value>>) -> &str {
    let label = |k: &str| labels.and_then(|l| l.get(k)).and_then(Value::as_str);
    label("version")
        .or_else(|| label("slot"))
        .unwrap_or("stable")
}

/// (namespace, app, version) → the sim time of the first request.
#[derive(Debug, Default)]
pub struct FirstTraffic {
    seen: Mutex<HashMap<(String, String, String), DateTime<Utc>>>,
}

impl FirstTraffic {
    /// Notes that the version is getting traffic at `now`; the earliest note stands.
    pub fn record(&self, namespace: &str, app: &str, version: &str, now: DateTime<Utc>) {
        let mut seen = self.seen.lock().unwrap_or_else(PoisonError::into_inner);
        let key = (namespace.to_string(), app.to_string(), version.to_string());
        let first = seen.entry(key).or_insert(now);
        *first = (*first).min(now);
    }

    /// When the version first got traffic, if it has.
    pub fn get(&self, namespace: &str, app: &str, version: &str) -> Option<DateTime<Utc>> {
        let seen = self.seen.lock().unwrap_or_else(PoisonError::into_inner);
        seen.get(&(namespace.to_string(), app.to_string(), version.to_string()))
            .copied()
    }

    /// How long ago, at `now`, the version first got traffic.
    pub fn since(
        &self,
        namespace: &str,
        app: &str,
        version: &str,
        now: DateTime<Utc>,
    ) -> Option<Duration> {
        self.get(namespace, app, version)
            .and_then(|t| (now - t).to_std().ok())
    }
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;

    #[test]
    fn the_first_moment_stands() {
        let first = FirstTraffic::default();
        let t0 = Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap();
        assert_eq!(first.since("shop", "checkout", "canary", t0), None);
        first.record("shop", "checkout", "canary", t0);
        first.record(
            "shop",
            "checkout",
            "canary",
            t0 + chrono::Duration::seconds(30),
        );
        assert_eq!(first.get("shop", "checkout", "canary"), Some(t0));
        assert_eq!(
            first.since(
                "shop",
                "checkout",
                "canary",
                t0 + chrono::Duration::seconds(90)
            ),
            Some(Duration::from_secs(90))
        );
        assert_eq!(first.get("shop", "checkout", "stable"), None);
    }
}
