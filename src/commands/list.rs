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
use crate::fleet::{Row, SortKey, order};
use crate::sanitize::clean;

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
    let listing = Listing::new(clusters);
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
}

#[derive(Serialize)]
struct JsonListing<'a> {
    clusters: Vec<JsonCluster<'a>>,
    rows: Vec<JsonRow<'a>>,
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
        }
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
        JsonListing { clusters, rows }
    }

    /// The table a person reads: a header, a line per app, a line per
    /// cluster that did not answer.
    pub fn text(&self, now: DateTime<Utc>) -> String {
        const HEADER: [&str; 10] = [
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
        ];
        let lines: Vec<[String; 10]> = self
            .rows
            .iter()
            .map(|r| {
                [
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
                ]
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
        put(&HEADER);
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
}
