//! Reading what a report is built from: the stored rollout, the audit
//! file, the pods, and (with a Prometheus) each version's series over the
//! whole rollout through `query_range`.

use std::path::Path;
use std::time::Duration;

use chrono::{DateTime, Utc};
use k8s_openapi::api::core::v1::Pod;

use super::model::{Inputs, Metric, Numbers, PodRow, Report, Source, parse_audit};
use crate::cluster::clock::Clock;
use crate::driver::rest::{self, POD};
use crate::driver::store::StateStore;
use crate::driver::targets::Targets;
use crate::metrics::prometheus::{Prometheus, PrometheusError};
use crate::metrics::queries::{Vars, prom_duration, render};
use crate::rollout::analysis::{Point, Series};
use crate::rollout::plan::Plan;

/// Points per series asked of Prometheus: enough for a chart, few enough
/// for a page.
const POINTS: u32 = 240;
/// Looked at before the start too, to show where the numbers stood.
const BEFORE: chrono::Duration = chrono::Duration::seconds(60);

/// Where the numbers come from, besides the records.
#[derive(Debug, Clone, Default)]
pub struct Sources<'a> {
    pub audit: Option<&'a Path>,
    pub prometheus: Option<&'a str>,
    /// What a run read as it went, when there is no Prometheus.
    pub observed: Option<Numbers>,
}

/// Reads everything and builds the report. Nothing here is fatal: what
/// cannot be read becomes a note on the page.
pub async fn gather(
    client: &kube::Client,
    plan: &Plan,
    clock: &Clock,
    sources: Sources<'_>,
) -> Report {
    let mut notes = Vec::new();
    let now = clock.now();
    let stored = match StateStore::new(&Targets::of(plan)).load(client, plan).await {
        Ok(loaded) if loaded.version.is_some() => Some(loaded.rollout),
        Ok(_) => {
            notes.push("No rollout is stored on the cluster for this app.".to_string());
            None
        }
        Err(e) => {
            notes.push(format!("The rollout's state could not be read: {e}"));
            None
        }
    };
    let audit = match sources.audit {
        Some(path) => match std::fs::read_to_string(path) {
            Ok(text) => {
                let (lines, bad) = parse_audit(&text);
                if bad > 0 {
                    notes.push(format!(
                        "{bad} line(s) of the audit file {} could not be read.",
                        path.display()
                    ));
                }
                lines
            }
            Err(e) => {
                notes.push(format!(
                    "The audit file {} could not be read ({e}); the timeline is the history stored on the cluster.",
                    path.display()
                ));
                Vec::new()
            }
        },
        None => Vec::new(),
    };
    let pods = match rest::list(client, POD, &plan.namespace, &format!("app={}", plan.app)).await {
        Ok(items) => items
            .into_iter()
            .filter_map(|v| serde_json::from_value::<Pod>(v).ok())
            .map(|p| PodRow {
                name: p.metadata.name.clone().unwrap_or_default(),
                version: crate::workers::pods::version_of(&p),
                status: crate::cluster::pod_status::pod_status(&p),
                restarts: crate::cluster::pod_status::restarts(&p),
            })
            .collect(),
        Err(e) => {
            notes.push(format!("The pods could not be read: {e}"));
            Vec::new()
        }
    };
    let numbers = match sources.prometheus {
        Some(url) => {
            let started = stored
                .as_ref()
                .and_then(|s| {
                    s.history
                        .entries()
                        .rev()
                        .find(|e| e.action == "start")
                        .map(|e| e.at)
                })
                .or_else(|| {
                    audit
                        .iter()
                        .rev()
                        .find(|l| l.action == "start" && l.app == plan.app)
                        .map(|l| l.at)
                })
                .unwrap_or(now - chrono::Duration::minutes(30));
            let ended = stored.as_ref().and_then(|s| match &s.state.phase {
                crate::rollout::state::Phase::Promoted { at }
                | crate::rollout::state::Phase::Aborted { at, .. } => Some(*at),
                _ => None,
            });
            let to = ended.map_or(now, |e| (e + BEFORE).min(now));
            match over_rollout(url, plan, clock, started - BEFORE, to).await {
                Ok(n) => Some((
                    n,
                    Source::Prometheus {
                        url: url.to_string(),
                    },
                )),
                Err(e) => {
                    notes.push(format!("Prometheus could not be asked: {e}"));
                    sources.observed.map(|n| (n, Source::Observed))
                }
            }
        }
        None => sources.observed.map(|n| (n, Source::Observed)),
    };
    Report::build(Inputs {
        plan,
        stored,
        audit,
        numbers,
        pods,
        now,
        notes,
    })
}

/// Each version's error ratio, p99 and request rate from `from` to `to`
/// (the cluster's time). Against a simulator whose clock runs faster than
/// Prometheus' own, times are carried between the two clocks.
pub async fn over_rollout(
    url: &str,
    plan: &Plan,
    clock: &Clock,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> Result<Numbers, PrometheusError> {
    let prom = Prometheus::new(url, Duration::from_secs(10))?;
    let speed = clock.speed();
    let (cluster_now, real_now) = (clock.now(), Utc::now());
    let scale = |d: chrono::Duration, by: f64| {
        chrono::Duration::milliseconds((d.num_milliseconds() as f64 * by) as i64)
    };
    let to_real = |t: DateTime<Utc>| real_now - scale(cluster_now - t, 1.0 / speed);
    let to_cluster = |t: DateTime<Utc>| cluster_now - scale(real_now - t, speed);
    let (start, end) = (to_real(from), to_real(to));
    let span = (end - start).to_std().unwrap_or_default();
    let step = (span / POINTS).max(Duration::from_secs(1));
    let window = prom_duration(
        clock
            .real(Duration::from_secs(60))
            .max(Duration::from_secs(5)),
    );
    let mut numbers = Numbers::default();
    for metric in Metric::ALL {
        let template = match metric {
            Metric::ErrorRatio => &plan.queries.error_ratio,
            Metric::P99 => &plan.queries.p99,
            Metric::RequestRate => &plan.queries.request_rate,
        };
        let mut series = Series::default();
        for (version, points) in [
            ("canary", &mut series.canary),
            ("stable", &mut series.stable),
        ] {
            let promql = render(
                template,
                Vars {
                    namespace: &plan.namespace,
                    app: &plan.app,
                    version,
                    window: &window,
                },
            );
            let found = prom.query_range(&promql, start, end, step).await?;
            if let Some(first) = found.first() {
                points.extend(
                    first
                        .points
                        .iter()
                        .filter(|(_, v)| v.is_finite())
                        .filter_map(|(t, v)| {
                            let at = DateTime::from_timestamp_millis((t * 1000.0) as i64)?;
                            Some(Point {
                                at: to_cluster(at),
                                value: *v,
                            })
                        }),
                );
            }
        }
        match metric {
            Metric::ErrorRatio => numbers.error_ratio = series,
            Metric::P99 => numbers.p99 = series,
            Metric::RequestRate => numbers.request_rate = series,
        }
    }
    Ok(numbers)
}
