//! Requests served per verb and resource, counted as kube-apiserver counts
//! them in `apiserver_request_total`, so a test can tell a client that
//! watches from one that keeps listing. Served at [`PATH`] in the Prometheus
//! text format.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::Mutex;

use axum::extract::State;
use axum::response::{IntoResponse, Response};
use http::header;

use super::Api;
use crate::metrics::exposition::escape_label;
use crate::sim::resources::Resource;
use crate::sim::traffic::exposition::CONTENT_TYPE;

/// Where the counts are served, beside the API and outside its faults.
pub const PATH: &str = "/sim/apiserver/metrics";

/// (verb, group, resource) → requests.
#[derive(Debug, Default)]
pub struct RequestCounts {
    counts: Mutex<BTreeMap<(&'static str, &'static str, &'static str), u64>>,
}

impl RequestCounts {
    pub fn record(&self, verb: &'static str, res: &Resource) {
        let mut counts = self
            .counts
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        *counts.entry((verb, res.group, res.plural)).or_default() += 1;
    }

    pub fn render(&self) -> String {
        let counts = self
            .counts
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let mut out = String::from(
            "# HELP apiserver_request_total Requests served, by verb, group and resource.\n\
             # TYPE apiserver_request_total counter\n",
        );
        for ((verb, group, resource), n) in counts.iter() {
            let _ = writeln!(
                out,
                "apiserver_request_total{{verb=\"{verb}\",group=\"{}\",resource=\"{}\"}} {n}",
                escape_label(group),
                escape_label(resource)
            );
        }
        out
    }
}

pub async fn serve(State(api): State<Api>) -> Response {
    ([(header::CONTENT_TYPE, CONTENT_TYPE)], api.counts.render()).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::exposition;
    use crate::sim::resources::lookup;

    #[test]
    fn counts_render_as_prometheus_counters() {
        let counts = RequestCounts::default();
        let pods = lookup("", "pods").unwrap();
        counts.record("list", pods);
        counts.record("watch", pods);
        counts.record("watch", pods);
        let parsed = exposition::parse(&counts.render()).unwrap();
        let watches = parsed
            .samples
            .iter()
            .find(|s| s.label("verb") == Some("watch") && s.label("resource") == Some("pods"))
            .unwrap();
        assert!((watches.value - 2.0).abs() < f64::EPSILON);
        assert_eq!(parsed.samples.len(), 2);
    }
}
