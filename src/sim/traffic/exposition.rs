//! The pods' numbers in the Prometheus text format (0.0.4).

use std::fmt::Write;

use super::counters::PodState;
use crate::metrics::exposition::{escape_label, format_value};

pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// Every family for `pods`: HELP and TYPE once, then each pod's samples.
pub fn render(pods: &[&PodState]) -> String {
    let mut out = String::with_capacity(256 + pods.len() * 3_000);
    family(
        &mut out,
        "http_requests_total",
        "counter",
        "HTTP requests served, by status code and method.",
    );
    for p in pods {
        let labels = labels(p);
        for ((code, method), n) in &p.counters.requests {
            let _ = writeln!(
                out,
                "http_requests_total{{{labels},code=\"{code}\",method=\"{method}\"}} {n}"
            );
        }
    }
    family(
        &mut out,
        "http_request_duration_seconds",
        "histogram",
        "Time to answer an HTTP request, in seconds.",
    );
    for p in pods {
        let labels = labels(p);
        let hist = &p.counters.latency;
        for (le, count) in hist.cumulative() {
            let _ = writeln!(
                out,
                "http_request_duration_seconds_bucket{{{labels},le=\"{}\"}} {count}",
                format_value(le)
            );
        }
        let _ = writeln!(
            out,
            "http_request_duration_seconds_sum{{{labels}}} {}",
            format_value(hist.sum)
        );
        let _ = writeln!(
            out,
            "http_request_duration_seconds_count{{{labels}}} {}",
            hist.count()
        );
    }
    gauge_family(
        &mut out,
        pods,
        ("process_resident_memory_bytes", "gauge"),
        "Resident memory size in bytes.",
        |p| p.counters.memory_bytes as f64,
    );
    gauge_family(
        &mut out,
        pods,
        ("container_cpu_usage_seconds_total", "counter"),
        "Cumulative CPU time consumed by the container, in seconds.",
        |p| p.counters.cpu_seconds,
    );
    gauge_family(
        &mut out,
        pods,
        ("kube_pod_container_status_restarts_total", "counter"),
        "The number of container restarts.",
        |p| p.view.restart_count as f64,
    );
    family(
        &mut out,
        "kube_pod_container_resource_limits",
        "gauge",
        "The container's resource limits, as kube-state-metrics exports them.",
    );
    for p in pods {
        if let Some(limit) = p.view.memory_limit_bytes {
            let _ = writeln!(
                out,
                "kube_pod_container_resource_limits{{{},resource=\"memory\",unit=\"byte\"}} {}",
                labels(p),
                format_value(limit as f64)
            );
        }
    }
    out
}

fn family(out: &mut String, name: &str, kind: &str, help: &str) {
    let _ = writeln!(out, "# HELP {name} {help}");
    let _ = writeln!(out, "# TYPE {name} {kind}");
}

fn gauge_family(
    out: &mut String,
    pods: &[&PodState],
    (name, kind): (&str, &str),
    help: &str,
    value: impl Fn(&PodState) -> f64,
) {
    family(out, name, kind, help);
    for p in pods {
        let _ = writeln!(out, "{name}{{{}}} {}", labels(p), format_value(value(p)));
    }
}

fn labels(p: &PodState) -> String {
    let v = &p.view;
    format!(
        "namespace=\"{}\",app=\"{}\",version=\"{}\",pod=\"{}\"",
        escape_label(&v.namespace),
        escape_label(&v.app),
        escape_label(&v.version),
        escape_label(&v.name)
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::exposition::parse;
    use crate::sim::traffic::counters::{PodState, PodView};
    use std::collections::BTreeMap;

    fn pod(name: &str) -> PodState {
        let mut p = PodState::new(
            PodView {
                namespace: "shop".into(),
                name: name.into(),
                uid: "u".into(),
                app: "checkout".into(),
                version: "canary\"x".into(),
                node: "n".into(),
                ip: String::new(),
                ready: true,
                alive: true,
                restart_count: 3,
                memory_limit_bytes: Some(512 << 20),
                started: None,
                labels: BTreeMap::new(),
            },
            std::sync::Arc::new(serde_json::Value::Null),
            0,
        );
        *p.counters.requests.get_mut(&(500, "POST")).unwrap() = 7;
        p.counters.latency.observe(0.03);
        p.counters.latency.observe(2.2);
        p.counters.cpu_seconds = 1.5;
        p.counters.memory_bytes = 1 << 20;
        p
    }

    #[test]
    fn output_parses_back() {
        let (a, b) = (pod("a"), pod("b"));
        let text = render(&[&a, &b]);
        let e = parse(&text).unwrap();
        assert_eq!(
            e.families["http_request_duration_seconds"].kind.as_deref(),
            Some("histogram")
        );
        let find = |name: &str, extra: &[(&str, &str)]| {
            e.samples
                .iter()
                .find(|s| {
                    s.name == name
                        && s.label("pod") == Some("b")
                        && extra.iter().all(|(k, v)| s.label(k) == Some(*v))
                })
                .map(|s| s.value)
        };
        assert_eq!(
            find(
                "http_requests_total",
                &[("code", "500"), ("method", "POST")]
            ),
            Some(7.0)
        );
        assert_eq!(
            find("http_request_duration_seconds_bucket", &[("le", "0.05")]),
            Some(1.0)
        );
        assert_eq!(
            find("http_request_duration_seconds_bucket", &[("le", "+Inf")]),
            Some(2.0)
        );
        assert_eq!(find("http_request_duration_seconds_count", &[]), Some(2.0));
        assert_eq!(
            find("kube_pod_container_status_restarts_total", &[]),
            Some(3.0)
        );
        assert_eq!(
            find("process_resident_memory_bytes", &[]),
            Some(1_048_576.0)
        );
        assert_eq!(
            find(
                "kube_pod_container_resource_limits",
                &[("resource", "memory"), ("unit", "byte")]
            ),
            Some(536_870_912.0)
        );
        let versions: Vec<_> = e
            .samples
            .iter()
            .filter_map(|s| s.label("version"))
            .collect();
        assert!(versions.iter().all(|v| *v == "canary\"x"));
        // One HELP and TYPE per family, whatever the number of pods.
        assert_eq!(text.matches("# TYPE http_requests_total").count(), 1);
    }
}
