//! The last writes the API server received, each with the wall-clock time it
//! arrived, so a benchmark outside the process can time a key press in the
//! cockpit against the request it caused. Served at [`PATH`] as JSON lines.

use std::collections::VecDeque;
use std::fmt::Write as _;
use std::sync::Mutex;
use std::time::{SystemTime, UNIX_EPOCH};

use axum::extract::State;
use axum::response::{IntoResponse, Response};
use http::header;

use super::Api;
use super::routes::Target;

/// Where the writes are served, beside the API and outside its faults.
pub const PATH: &str = "/sim/apiserver/writes";
/// Writes kept: enough for a benchmark's run, bounded for a 24 h demo.
const KEPT: usize = 4096;

#[derive(Debug, Clone, PartialEq, Eq)]
struct Write {
    /// Arrival, microseconds since the Unix epoch: comparable with a
    /// timestamp taken by another process on the same machine.
    at_us: u128,
    verb: &'static str,
    resource: &'static str,
    namespace: String,
    name: String,
}

#[derive(Debug, Default)]
pub struct WriteLog {
    writes: Mutex<VecDeque<Write>>,
}

impl WriteLog {
    /// Keeps a request when it writes (create, update, patch, delete).
    pub fn record(&self, verb: &'static str, target: &Target) {
        if !matches!(
            verb,
            "create" | "update" | "patch" | "delete" | "deletecollection"
        ) {
            return;
        }
        let at_us = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_micros());
        let write = Write {
            at_us,
            verb,
            resource: target.res.plural,
            namespace: target.namespace.clone().unwrap_or_default(),
            name: target.name.clone().unwrap_or_default(),
        };
        let mut writes = self
            .writes
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if writes.len() == KEPT {
            writes.pop_front();
        }
        writes.push_back(write);
    }

    /// One JSON object a line, oldest first.
    pub fn render(&self) -> String {
        let writes = self
            .writes
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let mut out = String::new();
        for w in writes.iter() {
            let line = serde_json::json!({
                "at_us": w.at_us.to_string(),
                "verb": w.verb,
                "resource": w.resource,
                "namespace": w.namespace,
                "name": w.name,
            });
            let _ = writeln!(out, "{line}");
        }
        out
    }
}

pub async fn serve(State(api): State<Api>) -> Response {
    (
        [(header::CONTENT_TYPE, "application/x-ndjson")],
        api.writes.render(),
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sim::resources::lookup;

    fn target(plural: &str, name: &str) -> Target {
        Target {
            res: lookup("", plural).unwrap(),
            version: "v1",
            namespace: Some("shop".into()),
            name: Some(name.into()),
            sub: None,
            rest: String::new(),
        }
    }

    #[test]
    fn only_writes_are_kept_in_arrival_order() {
        let log = WriteLog::default();
        log.record("get", &target("configmaps", "a"));
        log.record("patch", &target("configmaps", "checkout-rollout"));
        log.record("watch", &target("pods", ""));
        log.record("create", &target("events", "e1"));
        let lines: Vec<serde_json::Value> = log
            .render()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        assert_eq!(lines.len(), 2);
        assert_eq!(lines[0]["verb"], "patch");
        assert_eq!(lines[0]["resource"], "configmaps");
        assert_eq!(lines[0]["name"], "checkout-rollout");
        assert_eq!(lines[1]["verb"], "create");
        let at = |i: usize| lines[i]["at_us"].as_str().unwrap().parse::<u128>().unwrap();
        assert!(at(0) <= at(1));
        assert!(at(0) > 1_600_000_000_000_000);
    }

    #[test]
    fn the_log_is_bounded() {
        let log = WriteLog::default();
        for i in 0..KEPT + 10 {
            log.record("patch", &target("configmaps", &format!("c{i}")));
        }
        let text = log.render();
        assert_eq!(text.lines().count(), KEPT);
        assert!(text.lines().next().unwrap().contains("\"c10\""));
    }
}
