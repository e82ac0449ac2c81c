//! The Metrics pane's numbers per version: from Prometheus when the cockpit
//! has one, else from the pods' own `/metrics` through the API server's proxy
//! (two scrapes make a rate). Either way a failure shows in the pane and the
//! last numbers age into "stale" instead of vanishing.

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use chrono::Utc;
use tokio::sync::{mpsc, watch};

use super::backoff::Backoff;
use super::pods::LivePod;
use super::{Target, trouble};
use crate::app::Msg;
use crate::app::msg::{MetricsSample, Source, Trouble, VersionMetrics};
use crate::metrics::exposition::{self, Sample};
use crate::metrics::prometheus::Prometheus;
use crate::metrics::queries::{Queries, Vars, render};
use crate::metrics::scrape;

/// How often the numbers are refreshed.
pub const INTERVAL: Duration = Duration::from_secs(5);
/// The PromQL range the rates are taken over.
pub const WINDOW: &str = "1m";

/// Where the numbers come from.
#[derive(Clone)]
pub enum MetricsSource {
    Prometheus {
        client: Prometheus,
        queries: Queries,
    },
    /// Scrape each ready pod through `…/pods/NAME:PORT/proxy/metrics`.
    PodProxy,
}

pub async fn run(
    target: Target,
    source: MetricsSource,
    versions: Vec<String>,
    pods: watch::Receiver<Vec<LivePod>>,
    tx: mpsc::Sender<Msg>,
) {
    let mut backoff = Backoff::new(INTERVAL, Duration::from_secs(30));
    let mut previous: Option<(Instant, Vec<Sample>)> = None;
    let mut troubled = false;
    loop {
        let live = pods.borrow().clone();
        let versions = versions_of(&versions, &live);
        let result = match &source {
            MetricsSource::Prometheus { client, queries } => {
                from_prometheus(client, queries, &target, &versions).await
            }
            MetricsSource::PodProxy => from_pods(&target, &live, &versions, &mut previous).await,
        };
        let delay = match result {
            Ok(Some(sample)) => {
                if troubled {
                    troubled = false;
                    let _ = tx
                        .send(Msg::Recovered {
                            source: Source::Metrics,
                        })
                        .await;
                }
                backoff.reset();
                if tx.send(Msg::Metrics(sample)).await.is_err() {
                    return;
                }
                INTERVAL
            }
            // The first scrape only sets the baseline for the next one's rates.
            Ok(None) => INTERVAL,
            Err(trouble) => {
                troubled = true;
                if tx
                    .send(Msg::Trouble {
                        source: Source::Metrics,
                        trouble,
                    })
                    .await
                    .is_err()
                {
                    return;
                }
                backoff.next_delay()
            }
        };
        tokio::time::sleep(delay).await;
    }
}

/// The plan's versions, or those the app's pods carry.
fn versions_of(configured: &[String], live: &[LivePod]) -> Vec<String> {
    if !configured.is_empty() {
        return configured.to_vec();
    }
    let found: BTreeSet<&str> = live.iter().map(|p| p.version.as_str()).collect();
    found.into_iter().map(str::to_string).collect()
}

async fn from_prometheus(
    client: &Prometheus,
    queries: &Queries,
    target: &Target,
    versions: &[String],
) -> Result<Option<MetricsSample>, Trouble> {
    let mut out = Vec::with_capacity(versions.len());
    for version in versions {
        let vars = Vars {
            namespace: &target.namespace,
            app: &target.app,
            version,
            window: WINDOW,
        };
        let ask = |template: &str| {
            let promql = render(template, vars);
            async move {
                client
                    .query_value(&promql)
                    .await
                    .map_err(|e| Trouble::Unreachable {
                        target: format!("Prometheus at {}", client.base_url()),
                        reason: e.to_string(),
                    })
            }
        };
        let seconds = |v: Option<f64>| v.map(Duration::from_secs_f64);
        out.push(VersionMetrics {
            version: version.clone(),
            requests_per_second: ask(&queries.request_rate).await?,
            error_ratio: ask(&queries.error_ratio).await?,
            p50: seconds(ask(&queries.p50).await?),
            p95: seconds(ask(&queries.p95).await?),
            p99: seconds(ask(&queries.p99).await?),
        });
    }
    Ok(Some(MetricsSample {
        at: Utc::now(),
        versions: out,
    }))
}

/// Every sample of `pods`' own `/metrics`, read through the API server's pod
/// proxy. Pods that fail are skipped; only when none answers is it an error.
pub async fn scrape_pods(target: &Target, pods: &[LivePod]) -> Result<Vec<Sample>, Trouble> {
    let mut samples = Vec::new();
    let mut failures = Vec::new();
    for pod in pods {
        let path = format!(
            "/api/v1/namespaces/{}/pods/{}:{}/proxy/metrics",
            target.namespace,
            pod.name,
            pod.port.unwrap_or(8080)
        );
        let request = http::Request::get(path).body(Vec::new());
        let Ok(request) = request else { continue };
        match target.client.request_text(request).await {
            Ok(text) => match exposition::parse(&text) {
                Ok(parsed) => samples.extend(parsed.samples),
                Err(e) => failures.push(format!("{}: {e}", pod.name)),
            },
            Err(kube::Error::Api(s)) if s.code == 403 => {
                return Err(trouble::from_kube(&kube::Error::Api(s), "the pod proxy"));
            }
            Err(e) => failures.push(format!("{}: {e}", pod.name)),
        }
    }
    if samples.is_empty() && !failures.is_empty() {
        return Err(Trouble::Unreachable {
            target: "the pods' /metrics".into(),
            reason: failures.join("; "),
        });
    }
    Ok(samples)
}

async fn from_pods(
    target: &Target,
    live: &[LivePod],
    versions: &[String],
    previous: &mut Option<(Instant, Vec<Sample>)>,
) -> Result<Option<MetricsSample>, Trouble> {
    let ready: Vec<LivePod> = live.iter().filter(|p| p.ready).cloned().collect();
    let samples = scrape_pods(target, &ready).await?;
    let now = Instant::now();
    let Some((then, before)) = previous.replace((now, samples.clone())) else {
        return Ok(None);
    };
    let seconds = now.duration_since(then).as_secs_f64();
    let grown = scrape::increases(&before, &samples);
    let versions = versions
        .iter()
        .map(|version| {
            let n = scrape::numbers(&grown, seconds, &[("version", version)]);
            VersionMetrics {
                version: version.clone(),
                requests_per_second: Some(n.requests_per_second),
                error_ratio: n.error_ratio,
                p50: n.p50.map(Duration::from_secs_f64),
                p95: n.p95.map(Duration::from_secs_f64),
                p99: n.p99.map(Duration::from_secs_f64),
            }
        })
        .collect();
    Ok(Some(MetricsSample {
        at: Utc::now(),
        versions,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pod(name: &str, version: &str) -> LivePod {
        LivePod {
            name: name.into(),
            version: version.into(),
            containers: vec!["app".into()],
            started: true,
            ready: true,
            port: Some(8080),
        }
    }

    #[test]
    fn versions_come_from_the_plan_or_the_pods() {
        let live = [pod("a", "stable"), pod("b", "canary"), pod("c", "stable")];
        assert_eq!(versions_of(&[], &live), ["canary", "stable"]);
        assert_eq!(versions_of(&["stable".into()], &live), ["stable"]);
    }
}
