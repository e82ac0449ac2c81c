//! Default PromQL per version. Templates hold `{namespace}`, `{app}`,
//! `{version}` and `{window}` placeholders so a plan can replace any of them.

/// The queries the Metrics pane and the guards run for each version.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Queries {
    pub request_rate: String,
    pub error_ratio: String,
    pub p50: String,
    pub p95: String,
    pub p99: String,
    /// Resident memory of the version's largest pod, in bytes.
    pub memory: String,
    /// That memory as a share of the container's limit.
    pub memory_ratio: String,
}

const SELECTOR: &str = r#"namespace="{namespace}",app="{app}",version="{version}""#;

fn quantile(q: &str) -> String {
    format!(
        "histogram_quantile({q}, sum by (le) (rate(http_request_duration_seconds_bucket{{{SELECTOR}}}[{{window}}])))"
    )
}

impl Default for Queries {
    fn default() -> Self {
        let total = format!("sum(rate(http_requests_total{{{SELECTOR}}}[{{window}}]))");
        let errors =
            format!("sum(rate(http_requests_total{{{SELECTOR},code=~\"5..\"}}[{{window}}]))");
        let memory = format!("max(process_resident_memory_bytes{{{SELECTOR}}})");
        let limit =
            format!("max(kube_pod_container_resource_limits{{{SELECTOR},resource=\"memory\"}})");
        Self {
            request_rate: total.clone(),
            error_ratio: format!("{errors} / {total}"),
            p50: quantile("0.5"),
            p95: quantile("0.95"),
            p99: quantile("0.99"),
            memory_ratio: format!("{memory} / {limit}"),
            memory,
        }
    }
}

/// The placeholders a query template may use.
pub const PLACEHOLDERS: [&str; 4] = ["namespace", "app", "version", "window"];

/// A duration as PromQL writes a range (`90s`, `2m`).
pub fn prom_duration(d: std::time::Duration) -> String {
    let secs = d.as_secs().max(1);
    if secs.is_multiple_of(60) {
        format!("{}m", secs / 60)
    } else {
        format!("{secs}s")
    }
}

/// What fills a template's placeholders.
#[derive(Debug, Clone, Copy)]
pub struct Vars<'a> {
    pub namespace: &'a str,
    pub app: &'a str,
    pub version: &'a str,
    /// A PromQL range such as `1m`.
    pub window: &'a str,
}

/// Fills a template. Values go inside PromQL string literals, so quotes and
/// backslashes in them are escaped rather than allowed to end the literal.
pub fn render(template: &str, vars: Vars<'_>) -> String {
    let esc = |s: &str| s.replace('\\', "\\\\").replace('"', "\\\"");
    template
        .replace("{namespace}", &esc(vars.namespace))
        .replace("{app}", &esc(vars.app))
        .replace("{version}", &esc(vars.version))
        .replace("{window}", &esc(vars.window))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vars() -> Vars<'static> {
        Vars {
            namespace: "shop",
            app: "checkout",
            version: "canary",
            window: "1m",
        }
    }

    #[test]
    fn error_ratio_divides_5xx_by_all() {
        let q = render(&Queries::default().error_ratio, vars());
        assert_eq!(
            q,
            r#"sum(rate(http_requests_total{namespace="shop",app="checkout",version="canary",code=~"5.."}[1m])) / sum(rate(http_requests_total{namespace="shop",app="checkout",version="canary"}[1m]))"#
        );
    }

    #[test]
    fn quantiles_use_the_histogram() {
        let q = render(&Queries::default().p99, vars());
        assert_eq!(
            q,
            r#"histogram_quantile(0.99, sum by (le) (rate(http_request_duration_seconds_bucket{namespace="shop",app="checkout",version="canary"}[1m])))"#
        );
    }

    #[test]
    fn values_cannot_break_out_of_the_literal() {
        let q = render(
            "{version}",
            Vars {
                version: "a\"}or vector(1)",
                ..vars()
            },
        );
        assert_eq!(q, "a\\\"}or vector(1)");
    }
}
