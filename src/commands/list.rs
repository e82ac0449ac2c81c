//! `flightdeck list`: the fleet's rows, read once from each cluster asked
//! for and printed most-in-need first. A cluster that does not answer is
//! marked in its own line; the others are still listed, and the exit code
//! says what went wrong (10 unreachable, 9 forbidden…).

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::time::Duration;

use chrono::{DateTime, Utc};
use color_eyre::eyre::Result;
use kube::config::Kubeconfig;
use serde::Serialize;

use super::failure::{Asked, Failure, Kind, Stop};
use crate::cli::{ListArgs, Output};
use crate::cluster::client;
use crate::external::{
    self,
    read::{Scope, SkipReason, Skipped},
};
use crate::fleet::{Row, SortKey, Versus, order};
use crate::metrics::prometheus::Prometheus;
use crate::sanitize::clean;
use crate::workers::fleet_metrics;

/// How long one cluster has to connect and answer every list.
const CLUSTER_TIMEOUT: Duration = Duration::from_secs(10);

/// The clusters to read: each a context of the kubeconfig (`None`: its current one).
pub fn contexts(
    kubeconfig: Option<&Path>,
    asked: &[String],
    all: bool,
) -> Result<Vec<Option<String>>> {
    if all {
        let config = match kubeconfig {
            Some(p) => Kubeconfig::read_from(p),
            None => Kubeconfig::read(),
        }
        .map_err(|e| {
            Stop::new(Kind::NotFound, format!("cannot read the kubeconfig: {e}"))
                .hint("name it with --kubeconfig FILE")
        })?;
        return Ok(config.contexts.into_iter().map(|c| Some(c.name)).collect());
    }
    if asked.is_empty() {
        return Ok(vec![None]);
    }
    Ok(asked
        .iter()
        .map(|c| c.trim())
        .filter(|c| !c.is_empty())
        .map(|c| Some(c.to_string()))
        .collect())
}

/// What one cluster gave.
#[derive(Debug)]
pub struct ClusterRows {
    /// The context's name.
    pub cluster: String,
    pub rows: Result<Vec<Row>, Failure>,
    /// Kinds left out of the rows (not served, or forbidden).
    pub skipped: Vec<Skipped>,
}

/// Reads one cluster's rows: within `namespace`, the context's own when
/// `None`, or every namespace with `all_namespaces`.
pub async fn read_cluster(
    kubeconfig: Option<PathBuf>,
    context: Option<String>,
    namespace: Option<String>,
    all_namespaces: bool,
) -> ClusterRows {
    let named = context.clone().unwrap_or_else(|| "(current)".into());
    let work = async {
        let (client, info) = client::connect(kubeconfig.as_deref(), context.as_deref())
            .await
            .map_err(|e| failure(&e))?;
        let scope = if all_namespaces {
            Scope::All
        } else {
            Scope::Namespace(namespace.unwrap_or_else(|| info.namespace.clone()))
        };
        let (objects, skipped) = external::read::objects(&client, &scope)
            .await
            .map_err(|e| failure(&e))?;
        Ok::<_, Failure>((
            info.context.clone(),
            external::rows(&info.context, &objects),
            skipped,
        ))
    };
    match tokio::time::timeout(CLUSTER_TIMEOUT, work).await {
        Ok(Ok((cluster, rows, skipped))) => ClusterRows {
            cluster,
            rows: Ok(rows),
            skipped,
        },
        Ok(Err(f)) => ClusterRows {
            cluster: named,
            rows: Err(f),
            skipped: Vec::new(),
        },
        Err(_) => ClusterRows {
            skipped: Vec::new(),
            cluster: named,
            rows: Err(Failure::of(
                &Stop::new(
                    Kind::Unreachable,
                    format!("no answer within {}s", CLUSTER_TIMEOUT.as_secs()),
                ),
                &Asked::default(),
            )),
        },
    }
}

fn failure(e: &(dyn std::error::Error + 'static)) -> Failure {
    Failure::of(e, &Asked::default())
}

pub async fn run(args: ListArgs) -> Result<u8> {
    let contexts = contexts(args.kubeconfig.as_deref(), &args.context, args.all_contexts)?;
    let reads = contexts.into_iter().map(|context| {
        read_cluster(
            args.kubeconfig.clone(),
            context,
            args.namespace.clone(),
            args.all_namespaces,
        )
    });
    let clusters = futures::future::join_all(reads).await;
    let mut listing = Listing::new(clusters);
    if let Some(url) = &args.prometheus {
        let prometheus = Prometheus::new(url, Duration::from_secs(5))
            .map_err(|e| Stop::new(Kind::Usage, format!("bad Prometheus URL {url}: {e}")))?;
        // One URL: it answers for the current context's rows.
        let here = crate::cockpit::current_context(args.kubeconfig.as_deref());
        listing.add_metrics(&prometheus, &here).await;
    }
    match args.output {
        Output::Json => println!(
            "{}",
            serde_json::to_string_pretty(&listing.json(Utc::now()))?
        ),
        Output::Text => print!("{}", listing.text(Utc::now())),
    }
    for (cluster, f) in &listing.failed {
        eprintln!("error: {}: {}", clean(cluster), clean(&f.summary()));
    }
    if let Some(why) = &listing.prometheus_down {
        eprintln!("warning: {}", clean(why));
    }
    // A kind the cluster does not serve is no news; one RBAC hides is.
    for (cluster, skipped) in &listing.skipped {
        if let SkipReason::Forbidden(message) = &skipped.why {
            eprintln!(
                "warning: {}: {} skipped, forbidden: {}",
                clean(cluster),
                skipped.what,
                clean(message)
            );
        }
    }
    Ok(listing.code())
}

/// Every cluster's rows, in need order, and the clusters that failed.
pub struct Listing {
    pub rows: Vec<Row>,
    pub failed: Vec<(String, Failure)>,
    pub answered: Vec<String>,
    /// Kinds left out of an answering cluster's rows.
    pub skipped: Vec<(String, Skipped)>,
    /// Whether Prometheus was asked: the text gets its columns.
    pub with_metrics: bool,
    /// Why Prometheus did not answer, when it did not.
    pub prometheus_down: Option<String>,
}

#[derive(Serialize)]
struct JsonListing<'a> {
    clusters: Vec<JsonCluster<'a>>,
    rows: Vec<JsonRow<'a>>,
    /// Why Prometheus did not answer, when it was asked and did not.
    #[serde(skip_serializing_if = "Option::is_none")]
    prometheus_error: Option<String>,
}

#[derive(Serialize)]
struct JsonCluster<'a> {
    name: &'a str,
    answers: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    kind: Option<Kind>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    skipped: Vec<JsonSkipped<'a>>,
}

#[derive(Serialize)]
struct JsonSkipped<'a> {
    kind: &'a str,
    reason: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    message: Option<String>,
}

#[derive(Serialize)]
struct JsonRow<'a> {
    cluster: &'a str,
    namespace: &'a str,
    app: &'a str,
    kind: crate::fleet::Kind,
    strategy: &'a str,
    step: Option<u32>,
    steps: Option<u32>,
    weight: Option<u8>,
    phase: &'static str,
    reason: Option<&'a str>,
    time_left_secs: Option<u64>,
    pods_ready: u32,
    pods: u32,
    restarts: u32,
    changed: Option<DateTime<Utc>>,
    /// Prometheus' numbers: `canary_error_ratio`, `stable_error_ratio`,
    /// `canary_p99_ms`, `stable_p99_ms` (null when it had none).
    #[serde(flatten, skip_serializing_if = "Option::is_none")]
    metrics: Option<Versus>,
    /// The analysis as the source's controller wrote it.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    analysis: Vec<JsonMetric<'a>>,
}

#[derive(Serialize)]
struct JsonMetric<'a> {
    name: &'a str,
    phase: &'a str,
    measured: &'a [String],
    limit: &'a str,
}

impl Listing {
    pub fn new(clusters: Vec<ClusterRows>) -> Listing {
        let mut rows = Vec::new();
        let mut failed = Vec::new();
        let mut answered = Vec::new();
        let mut skipped = Vec::new();
        for c in clusters {
            match c.rows {
                Ok(r) => {
                    rows.extend(r);
                    skipped.extend(c.skipped.into_iter().map(|s| (c.cluster.clone(), s)));
                    answered.push(c.cluster);
                }
                Err(f) => failed.push((c.cluster, f)),
            }
        }
        order::sort(&mut rows, SortKey::Need);
        Listing {
            rows,
            failed,
            answered,
            skipped,
            with_metrics: false,
            prometheus_down: None,
        }
    }

    /// Asks `prometheus` for the canary's numbers of `cluster`'s rows, and
    /// sorts again: a failing canary needs a person.
    pub async fn add_metrics(&mut self, prometheus: &Prometheus, cluster: &str) {
        let keys = self
            .rows
            .iter()
            .map(Row::key)
            .filter(|k| k.cluster == cluster && fleet_metrics::compared(k))
            .collect();
        let (found, down) = fleet_metrics::read_all(prometheus, keys).await;
        self.set_metrics(found, down);
    }

    fn set_metrics(&mut self, found: Vec<(crate::fleet::RowKey, Versus)>, down: Option<String>) {
        for (key, versus) in found {
            if let Some(row) = self.rows.iter_mut().find(|r| r.key() == key) {
                row.metrics = Some(versus);
            }
        }
        self.with_metrics = true;
        self.prometheus_down = down;
        order::sort(&mut self.rows, SortKey::Need);
    }

    /// 0 when every cluster answered, else the first failure's code.
    pub fn code(&self) -> u8 {
        self.failed.first().map_or(0, |(_, f)| f.code)
    }

    fn json(&self, now: DateTime<Utc>) -> JsonListing<'_> {
        let clusters = self
            .answered
            .iter()
            .map(|c| JsonCluster {
                name: c,
                answers: true,
                error: None,
                kind: None,
                skipped: self
                    .skipped
                    .iter()
                    .filter(|(cluster, _)| cluster == c)
                    .map(|(_, s)| JsonSkipped {
                        kind: s.what,
                        reason: s.why.word(),
                        message: match &s.why {
                            SkipReason::Forbidden(m) => Some(clean(m).into_owned()),
                            SkipReason::NotServed => None,
                        },
                    })
                    .collect(),
            })
            .chain(self.failed.iter().map(|(c, f)| JsonCluster {
                name: c,
                answers: false,
                error: Some(clean(&f.summary()).into_owned()),
                kind: Some(f.kind),
                skipped: Vec::new(),
            }))
            .collect();
        let rows = self
            .rows
            .iter()
            .map(|r| JsonRow {
                cluster: &r.cluster,
                namespace: &r.namespace,
                app: &r.app,
                kind: r.kind,
                strategy: &r.strategy,
                step: r.step.map(|s| s.0),
                steps: r.step.map(|s| s.1),
                weight: r.weight,
                phase: r.phase.word(),
                reason: r.phase.reason(),
                time_left_secs: r.phase.time_left(now).map(|d| d.as_secs()),
                pods_ready: r.pods.ready,
                pods: r.pods.total,
                restarts: r.pods.restarts,
                changed: r.changed,
                metrics: r.metrics,
                analysis: r
                    .detail
                    .analysis
                    .iter()
                    .map(|m| JsonMetric {
                        name: &m.name,
                        phase: &m.phase,
                        measured: &m.measured,
                        limit: &m.limit,
                    })
                    .collect(),
            })
            .collect();
        JsonListing {
            clusters,
            rows,
            prometheus_error: self.prometheus_down.as_ref().map(|d| clean(d).into_owned()),
        }
    }

    /// The table a person reads: a header, a line per app, a line per
    /// cluster that did not answer.
    pub fn text(&self, now: DateTime<Utc>) -> String {
        const HEADER: [&str; 12] = [
            "CLUSTER",
            "NAMESPACE",
            "APP",
            "KIND",
            "STRATEGY",
            "STEP",
            "WEIGHT",
            "PHASE",
            "PODS",
            "RESTARTS",
            "ERR C/S",
            "P99 C/S",
        ];
        // The Prometheus columns only when it was asked.
        let shown = if self.with_metrics { 12 } else { 10 };
        let lines: Vec<Vec<String>> = self
            .rows
            .iter()
            .map(|r| {
                let mut cells = vec![
                    r.cluster.clone(),
                    r.namespace.clone(),
                    r.app.clone(),
                    r.kind.label().to_string(),
                    r.strategy.clone(),
                    r.step_text(),
                    r.weight_text(),
                    r.phase.text(now),
                    r.pods_text(),
                    r.pods.restarts.to_string(),
                    r.error_text(),
                    r.p99_text(),
                ];
                cells.truncate(shown);
                cells
            })
            .collect();
        let mut widths = HEADER.map(str::len);
        for line in &lines {
            for (w, cell) in widths.iter_mut().zip(line) {
                *w = (*w).max(unicode_width::UnicodeWidthStr::width(cell.as_str()));
            }
        }
        let mut out = String::new();
        let mut put = |cells: &[&str]| {
            let mut line = String::new();
            for (i, cell) in cells.iter().enumerate() {
                let cell = clean(cell);
                if i + 1 == cells.len() {
                    line.push_str(&cell);
                } else {
                    let pad = widths[i]
                        .saturating_sub(unicode_width::UnicodeWidthStr::width(cell.as_ref()));
                    let _ = write!(line, "{cell}{}  ", " ".repeat(pad));
                }
            }
            out.push_str(line.trim_end());
            out.push('\n');
        };
        put(&HEADER[..shown]);
        for line in &lines {
            let cells: Vec<&str> = line.iter().map(String::as_str).collect();
            put(&cells);
        }
        // A cluster that did not answer: its line ends with why, so the
        // reason does not widen every row's phase column.
        for (cluster, f) in &self.failed {
            let why = format!("unreachable: {}", f.summary());
            put(&[cluster, "-", "-", "-", "-", "-", "-", &why]);
        }
        if self.rows.is_empty() && self.failed.is_empty() {
            out.push_str("nothing to release: no rollout under way\n");
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fleet::{Kind as RowKind, Phase};

    #[test]
    fn text_lists_the_rows_in_need_order_and_marks_the_silent_cluster() {
        let mut ok = Row::new("prod", "shop", "cart", RowKind::Argo);
        ok.strategy = "canary".into();
        ok.step = Some((3, 8));
        ok.weight = Some(40);
        let mut bad = Row::new("prod", "shop", "pay", RowKind::Flagger);
        bad.phase = Phase::Degraded {
            reason: "rolled back".into(),
        };
        let listing = Listing::new(vec![
            ClusterRows {
                cluster: "prod".into(),
                rows: Ok(vec![ok, bad]),
                skipped: Vec::new(),
            },
            ClusterRows {
                cluster: "edge".into(),
                rows: Err(failure(&Stop::new(Kind::Unreachable, "connection refused"))),
                skipped: Vec::new(),
            },
        ]);
        let text = listing.text(Utc::now());
        let lines: Vec<&str> = text.lines().collect();
        assert!(
            lines[0].starts_with("CLUSTER  NAMESPACE  APP   KIND"),
            "{text}"
        );
        assert!(
            lines[1].contains("pay") && lines[1].contains("degraded"),
            "{text}"
        );
        assert!(lines[2].contains("cart") && lines[2].contains("3/8") && lines[2].contains("40%"));
        assert!(
            lines[3].starts_with("edge") && lines[3].contains("unreachable: connection refused")
        );
        assert_eq!(listing.code(), 10);
    }

    #[test]
    fn prometheus_numbers_add_columns_fields_and_move_a_failing_canary_up() {
        let mut calm = Row::new("prod", "shop", "cart", RowKind::Argo);
        calm.phase = Phase::Paused {
            until: None,
            reason: String::new(),
        };
        let failing = Row::new("prod", "shop", "pay", RowKind::Flagger);
        let key = failing.key();
        let mut listing = Listing::new(vec![ClusterRows {
            cluster: "prod".into(),
            rows: Ok(vec![calm, failing]),
            skipped: Vec::new(),
        }]);
        assert!(!listing.text(Utc::now()).contains("ERR C/S"));
        assert_eq!(
            listing.rows[0].app, "cart",
            "a pause for the go comes first"
        );
        listing.set_metrics(
            vec![(
                key,
                Versus {
                    canary_error_ratio: Some(0.2),
                    stable_error_ratio: Some(0.002),
                    canary_p99_ms: Some(420.0),
                    stable_p99_ms: Some(180.0),
                },
            )],
            None,
        );
        let text = listing.text(Utc::now());
        let lines: Vec<&str> = text.lines().collect();
        assert!(
            lines[0].contains("RESTARTS  ERR C/S") && lines[0].ends_with("P99 C/S"),
            "{text}"
        );
        assert!(
            lines[1].contains("pay") && lines[1].ends_with("20.0%/0.2%  420/180ms"),
            "{text}"
        );
        let last: Vec<&str> = lines[2].split_whitespace().rev().take(2).collect();
        assert!(lines[2].contains("cart") && last == ["—", "—"], "{text}");
        let json = serde_json::to_value(listing.json(Utc::now())).unwrap_or_default();
        assert_eq!(json["rows"][0]["canary_error_ratio"], 0.2);
        assert_eq!(json["rows"][0]["stable_p99_ms"], 180.0);
        assert!(json["rows"][1].get("canary_error_ratio").is_none());
        assert!(json.get("prometheus_error").is_none());

        listing.set_metrics(
            Vec::new(),
            Some("Prometheus at http://x is unreachable".into()),
        );
        let json = serde_json::to_value(listing.json(Utc::now())).unwrap_or_default();
        assert_eq!(
            json["prometheus_error"],
            "Prometheus at http://x is unreachable"
        );
    }
}
