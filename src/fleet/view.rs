//! The fleet view's state: the rows each source last reported per cluster,
//! the typed filter, the sort, the selection. Updated by messages from the
//! watch workers and by keys; read when drawing.

use std::collections::{BTreeMap, BTreeSet};

use super::canary::Versus;
use super::order::{self, SortKey};
use super::row::{Row, RowKey};
use super::update::{Skip, Update};

/// What the filter input is doing.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Input {
    #[default]
    Off,
    /// `/` was pressed: typed characters go into the filter.
    Typing,
}

#[derive(Debug, Clone, Default)]
pub struct FleetView {
    rows: BTreeMap<RowKey, Row>,
    /// Clusters that did not answer, and why.
    unreachable: BTreeMap<String, String>,
    /// The rows shown, in order: kept in step with `rows`, `filter`, `sort`.
    order: Vec<RowKey>,
    pub filter: String,
    pub input: Input,
    pub sort: SortKey,
    selected: usize,
    /// Every cluster asked about, so one with no rows still shows.
    clusters: Vec<String>,
    /// Clusters that answered at least once.
    answered: BTreeSet<String>,
    /// Kinds each cluster's rows leave out, and why.
    skipped: BTreeMap<String, Vec<(String, Skip)>>,
    /// Prometheus' latest numbers per row, kept across the watch's row
    /// updates, which rebuild rows without them.
    metrics: BTreeMap<RowKey, Versus>,
    /// Whether the rows carry Prometheus columns (a URL was given).
    pub with_metrics: bool,
    /// Why Prometheus did not answer its last round, when it did not.
    pub prometheus_down: Option<String>,
}

impl FleetView {
    pub fn new(clusters: &[String]) -> FleetView {
        FleetView {
            clusters: clusters.to_vec(),
            ..FleetView::default()
        }
    }

    /// Takes in what a watch worker reported.
    pub fn apply(&mut self, update: Update) {
        match update {
            Update::Rows { cluster, rows } => self.replace(&cluster, rows),
            Update::Unreachable { cluster, reason } => self.mark_unreachable(&cluster, &reason),
            Update::Skipped { cluster, kind, why } => {
                let kinds = self.skipped.entry(cluster).or_default();
                kinds.retain(|(k, _)| *k != kind);
                kinds.push((kind, why));
            }
            Update::Metrics { key, metrics } => {
                if let Some(row) = self.rows.get_mut(&key) {
                    row.metrics = Some(metrics);
                }
                self.metrics.insert(key, metrics);
                self.reorder();
            }
            Update::Prometheus { down } => {
                if down.is_some() {
                    // Old numbers would pass for current ones.
                    self.metrics.clear();
                    for row in self.rows.values_mut() {
                        row.metrics = None;
                    }
                    self.reorder();
                }
                self.prometheus_down = down;
            }
        }
    }

    /// The rows a table of `n` lines shows (scrolled to keep the selection
    /// in sight, as the table is), sorted so that a reorder alone does not
    /// look like new rows: those whose numbers are worth asking for.
    pub fn visible_keys(&self, n: usize) -> Vec<RowKey> {
        let offset = (self.selected + 1).saturating_sub(n);
        let mut keys: Vec<RowKey> = self.order.iter().skip(offset).take(n).cloned().collect();
        keys.sort();
        keys
    }

    /// Kinds left out of each cluster's rows, and why.
    pub fn skipped(&self) -> impl Iterator<Item = (&str, &str, &Skip)> {
        self.skipped.iter().flat_map(|(c, kinds)| {
            kinds
                .iter()
                .map(move |(k, why)| (c.as_str(), k.as_str(), why))
        })
    }

    /// Replaces every row of one cluster with what it holds now.
    pub fn replace(&mut self, cluster: &str, rows: Vec<Row>) {
        self.rows.retain(|k, _| k.cluster != cluster);
        for mut row in rows {
            let key = row.key();
            row.metrics = self.metrics.get(&key).copied();
            self.rows.insert(key, row);
        }
        self.unreachable.remove(cluster);
        self.answered.insert(cluster.to_string());
        self.reorder();
    }

    /// Whether every cluster asked about has answered or been marked.
    pub fn settled(&self) -> bool {
        self.clusters
            .iter()
            .all(|c| self.answered.contains(c) || self.unreachable.contains_key(c))
    }

    /// The cluster stopped answering: its rows stay, marked, until it answers.
    pub fn mark_unreachable(&mut self, cluster: &str, reason: &str) {
        self.unreachable
            .insert(cluster.to_string(), reason.to_string());
        self.reorder();
    }

    pub fn reachable(&mut self, cluster: &str) {
        if self.unreachable.remove(cluster).is_some() {
            self.reorder();
        }
    }

    /// Why `cluster` does not answer, when it does not.
    pub fn unreachable(&self, cluster: &str) -> Option<&str> {
        self.unreachable.get(cluster).map(String::as_str)
    }

    /// Clusters that do not answer and have no rows to show.
    pub fn silent_clusters(&self) -> impl Iterator<Item = (&str, &str)> {
        self.unreachable
            .iter()
            .filter(|(c, _)| !self.rows.keys().any(|k| &k.cluster == *c))
            .map(|(c, r)| (c.as_str(), r.as_str()))
    }

    pub fn clusters(&self) -> &[String] {
        &self.clusters
    }

    /// Rows shown, in order.
    pub fn visible(&self) -> impl Iterator<Item = &Row> {
        self.order.iter().filter_map(|k| self.rows.get(k))
    }

    pub fn len(&self) -> usize {
        self.order.len()
    }

    pub fn is_empty(&self) -> bool {
        self.order.is_empty()
    }

    pub fn total(&self) -> usize {
        self.rows.len()
    }

    pub fn selected_index(&self) -> usize {
        self.selected
    }

    pub fn selected(&self) -> Option<&Row> {
        self.order.get(self.selected).and_then(|k| self.rows.get(k))
    }

    pub fn select_by(&mut self, delta: isize) {
        let last = self.order.len().saturating_sub(1);
        self.selected = self.selected.saturating_add_signed(delta).min(last);
    }

    pub fn select_first(&mut self) {
        self.selected = 0;
    }

    pub fn select_last(&mut self) {
        self.selected = self.order.len().saturating_sub(1);
    }

    pub fn cycle_sort(&mut self) {
        self.sort = self.sort.next();
        self.reorder();
    }

    pub fn type_char(&mut self, c: char) {
        if !c.is_control() {
            self.filter.push(c);
            self.reorder();
        }
    }

    pub fn delete_char(&mut self) {
        self.filter.pop();
        self.reorder();
    }

    pub fn clear_filter(&mut self) {
        self.filter.clear();
        self.input = Input::Off;
        self.reorder();
    }

    /// Sorts and filters again, keeping the selection on the same row when
    /// it is still shown.
    fn reorder(&mut self) {
        let keep = self.order.get(self.selected).cloned();
        let mut shown: Vec<&Row> = self
            .rows
            .values()
            .filter(|r| order::matches(r, &self.filter))
            .collect();
        shown.sort_by(|a, b| self.sort.compare(a, b));
        self.order = shown.into_iter().map(Row::key).collect();
        self.selected = keep
            .and_then(|k| self.order.iter().position(|o| *o == k))
            .unwrap_or(self.selected)
            .min(self.order.len().saturating_sub(1));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fleet::row::{Kind, Phase};

    fn row(cluster: &str, app: &str, kind: Kind, phase: Phase) -> Row {
        let mut r = Row::new(cluster, "shop", app, kind);
        r.phase = phase;
        r
    }

    #[test]
    fn clusters_replace_only_their_own_rows_and_selection_follows_the_row() {
        let mut v = FleetView::new(&["a".into(), "b".into()]);
        v.replace(
            "a",
            vec![
                row("a", "cart", Kind::Argo, Phase::Progressing),
                row("a", "api", Kind::Deployment, Phase::Progressing),
            ],
        );
        v.replace("b", vec![row("b", "pay", Kind::Argo, Phase::Progressing)]);
        assert_eq!(v.len(), 3);
        v.select_by(10);
        let chosen = v.selected().map(Row::key);
        // A row that turns degraded moves up; the selection stays on the same app.
        v.replace(
            "a",
            vec![
                row(
                    "a",
                    "cart",
                    Kind::Argo,
                    Phase::Degraded { reason: "x".into() },
                ),
                row("a", "api", Kind::Deployment, Phase::Progressing),
            ],
        );
        assert_eq!(v.len(), 3);
        assert_eq!(v.visible().next().map(|r| r.app.as_str()), Some("cart"));
        assert_eq!(v.selected().map(Row::key), chosen);
        v.replace("a", Vec::new());
        assert_eq!(v.len(), 1);
    }

    #[test]
    fn filter_narrows_and_clearing_brings_rows_back() {
        let mut v = FleetView::new(&["a".into()]);
        v.replace(
            "a",
            vec![
                row("a", "cart", Kind::Flagger, Phase::Progressing),
                row("a", "search", Kind::Flagger, Phase::Progressing),
            ],
        );
        for c in "sea".chars() {
            v.type_char(c);
        }
        assert_eq!(
            v.visible().map(|r| r.app.as_str()).collect::<Vec<_>>(),
            ["search"]
        );
        v.delete_char();
        v.delete_char();
        v.type_char('\u{1b}');
        assert_eq!(v.filter, "s");
        v.clear_filter();
        assert_eq!(v.len(), 2);
    }

    #[test]
    fn prometheus_numbers_outlive_row_updates_and_go_when_it_is_down() {
        let mut v = FleetView::new(&["a".into()]);
        let rows = || {
            vec![
                row("a", "cart", Kind::Argo, Phase::Progressing),
                row("a", "pay", Kind::Argo, Phase::Progressing),
            ]
        };
        v.replace("a", rows());
        let failing = Versus {
            canary_error_ratio: Some(0.2),
            stable_error_ratio: Some(0.002),
            canary_p99_ms: Some(420.0),
            stable_p99_ms: Some(180.0),
        };
        let key = v.visible().find(|r| r.app == "pay").map(Row::key).unwrap();
        v.apply(Update::Metrics {
            key,
            metrics: failing,
        });
        let first = |v: &FleetView| v.visible().next().map(|r| (r.app.clone(), r.error_text()));
        assert_eq!(first(&v), Some(("pay".into(), "20.0%/0.2%".into())));
        // The watch rebuilds the rows; the numbers stay on theirs.
        v.replace("a", rows());
        assert_eq!(first(&v), Some(("pay".into(), "20.0%/0.2%".into())));
        assert_eq!(v.visible_keys(1).len(), 1);
        v.apply(Update::Prometheus {
            down: Some("connection refused".into()),
        });
        assert_eq!(v.prometheus_down.as_deref(), Some("connection refused"));
        assert!(
            v.visible()
                .all(|r| r.error_text() == "—" && r.p99_text() == "—")
        );
        v.apply(Update::Prometheus { down: None });
        assert_eq!(v.prometheus_down, None);
    }

    #[test]
    fn an_unreachable_cluster_is_marked_and_cleared_by_its_next_answer() {
        let mut v = FleetView::new(&["a".into(), "b".into()]);
        v.mark_unreachable("b", "connection refused");
        assert_eq!(v.unreachable("b"), Some("connection refused"));
        assert_eq!(v.silent_clusters().count(), 1);
        v.replace("b", Vec::new());
        assert_eq!(v.unreachable("b"), None);
    }

    #[test]
    fn updates_fill_rows_marks_and_skipped_kinds() {
        let mut v = FleetView::new(&["a".into()]);
        v.apply(Update::Rows {
            cluster: "a".into(),
            rows: vec![row("a", "cart", Kind::Argo, Phase::Progressing)],
        });
        v.apply(Update::Unreachable {
            cluster: "a".into(),
            reason: "timed out".into(),
        });
        assert_eq!(v.len(), 1, "the rows stay while the cluster is away");
        assert_eq!(v.unreachable("a"), Some("timed out"));
        for _ in 0..2 {
            v.apply(Update::Skipped {
                cluster: "a".into(),
                kind: "canaries".into(),
                why: Skip::Forbidden("no".into()),
            });
        }
        let skipped: Vec<_> = v.skipped().collect();
        assert_eq!(skipped, [("a", "canaries", &Skip::Forbidden("no".into()))]);
    }
}
