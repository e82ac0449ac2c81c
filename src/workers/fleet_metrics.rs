//! The fleet's Prometheus columns: the canary's error ratio and p99 against
//! stable's, asked of Prometheus for the rows on screen only, a few at a
//! time, on an interval. This polls Prometheus, never the API server.

use std::time::Duration;

use futures::StreamExt;
use tokio::sync::{mpsc, watch};

use super::metrics::WINDOW;
use crate::fleet::{Kind, RowKey, Update, Versus};
use crate::metrics::prometheus::{Prometheus, PrometheusError};
use crate::metrics::queries::{Queries, Vars, render};

/// Rows asked about at once: enough to fill a screen in a round, few enough
/// not to load a shared Prometheus.
pub const CONCURRENCY: usize = 4;

/// How often the numbers are asked again.
pub const EVERY: Duration = Duration::from_secs(10);

/// How long the rows shown must stay put before they are asked about.
const SETTLE: Duration = Duration::from_millis(300);

/// The version labels the default queries compare.
const CANARY: &str = "canary";
const STABLE: &str = "stable";

/// Whether a row has a canary to compare: plain Deployments have one
/// version only.
pub fn compared(key: &RowKey) -> bool {
    key.kind != Kind::Deployment
}

/// One row's numbers, with the default queries (the cockpit's Metrics pane
/// asks the same).
pub async fn read(prometheus: &Prometheus, key: &RowKey) -> Result<Versus, PrometheusError> {
    let queries = Queries::default();
    let ask = |template: &str, version: &str| {
        let promql = render(
            template,
            Vars {
                namespace: &key.namespace,
                app: &key.app,
                version,
                window: WINDOW,
            },
        );
        async move { prometheus.query_value(&promql).await }
    };
    let ms = |seconds: Option<f64>| seconds.map(|s| s * 1000.0);
    Ok(Versus {
        canary_error_ratio: ask(&queries.error_ratio, CANARY).await?,
        stable_error_ratio: ask(&queries.error_ratio, STABLE).await?,
        canary_p99_ms: ms(ask(&queries.p99, CANARY).await?),
        stable_p99_ms: ms(ask(&queries.p99, STABLE).await?),
    })
}

/// Every row's numbers, `CONCURRENCY` rows at a time, and why Prometheus
/// did not answer when it did not (rows it refused a query for are left out
/// and show `—`).
pub async fn read_all(
    prometheus: &Prometheus,
    keys: Vec<RowKey>,
) -> (Vec<(RowKey, Versus)>, Option<String>) {
    let answers: Vec<_> = futures::stream::iter(keys)
        .map(|key| async move {
            let answer = read(prometheus, &key).await;
            (key, answer)
        })
        .buffer_unordered(CONCURRENCY)
        .collect()
        .await;
    let mut found = Vec::new();
    let mut down = None;
    for (key, answer) in answers {
        match answer {
            Ok(versus) => found.push((key, versus)),
            Err(e @ (PrometheusError::Unreachable { .. } | PrometheusError::Status { .. })) => {
                down.get_or_insert_with(|| e.to_string());
            }
            Err(e) => tracing::debug!(app = %key.app, "Prometheus query failed: {e}"),
        }
    }
    (found, down)
}

/// Asks Prometheus for the rows of `cluster` that `shown` holds, every
/// `every` and whenever the rows shown change, until the fleet goes away.
pub async fn run(
    prometheus: Prometheus,
    cluster: String,
    mut shown: watch::Receiver<Vec<RowKey>>,
    tx: mpsc::Sender<Update>,
    every: Duration,
) {
    loop {
        let keys: Vec<RowKey> = shown
            .borrow_and_update()
            .iter()
            .filter(|k| k.cluster == cluster && compared(k))
            .cloned()
            .collect();
        if !keys.is_empty() {
            let (found, down) = read_all(&prometheus, keys).await;
            for (key, metrics) in found {
                if tx.send(Update::Metrics { key, metrics }).await.is_err() {
                    return;
                }
            }
            if tx.send(Update::Prometheus { down }).await.is_err() {
                return;
            }
        }
        tokio::select! {
            () = tokio::time::sleep(every) => {}
            changed = shown.changed() => {
                if changed.is_err() {
                    return;
                }
                // Scrolling sends many changes; one round answers them all.
                tokio::time::sleep(SETTLE).await;
            }
        }
    }
}
