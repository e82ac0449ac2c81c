//! Which rows come first: what needs a person, then what changed last; and
//! which rows a typed filter keeps.

use std::cmp::Ordering;

use super::row::{Phase, Row};

/// How urgent a row is for a person: lower first. Aborted and degraded
/// rollouts need a decision now; a failing guard holds traffic until
/// someone decides; a pause waits for a go; a cluster that does not answer
/// hides whatever it holds.
pub fn need(row: &Row) -> u8 {
    match row.phase {
        // A canary failing by Prometheus' numbers needs a person as much as
        // a failing guard, whatever its controller says yet.
        Phase::Progressing | Phase::Paused { .. } if row.canary_failing() => 2,
        Phase::Aborted { .. } => 0,
        Phase::Degraded { .. } => 1,
        Phase::FailingGuard { .. } => 2,
        Phase::Paused { until: None, .. } => 3,
        Phase::Unreachable { .. } => 4,
        Phase::Paused { until: Some(_), .. } => 5,
        Phase::Progressing => 6,
        Phase::Promoted => 7,
    }
}

/// The column the table is sorted by; a key cycles through them.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum SortKey {
    /// What needs a person first, then most recently changed.
    #[default]
    Need,
    /// Most recently changed first.
    Changed,
    /// Cluster, namespace, app.
    Name,
}

impl SortKey {
    #[must_use]
    pub fn next(self) -> SortKey {
        match self {
            SortKey::Need => SortKey::Changed,
            SortKey::Changed => SortKey::Name,
            SortKey::Name => SortKey::Need,
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            SortKey::Need => "need",
            SortKey::Changed => "changed",
            SortKey::Name => "name",
        }
    }

    pub fn compare(self, a: &Row, b: &Row) -> Ordering {
        let name = |r: &Row| {
            (
                r.cluster.clone(),
                r.namespace.clone(),
                r.app.clone(),
                r.kind,
            )
        };
        // Newest first; rows that never said when come last.
        let changed = b.changed.cmp(&a.changed);
        match self {
            SortKey::Need => need(a)
                .cmp(&need(b))
                .then(changed)
                .then_with(|| name(a).cmp(&name(b))),
            SortKey::Changed => changed.then_with(|| name(a).cmp(&name(b))),
            SortKey::Name => name(a).cmp(&name(b)),
        }
    }
}

/// Sorts `rows` by `key`; stable, so equal rows keep their order.
pub fn sort(rows: &mut [Row], key: SortKey) {
    rows.sort_by(|a, b| key.compare(a, b));
}

/// Whether `row` matches the typed filter: every word, case-insensitive,
/// found in its cluster, namespace, app, kind, strategy or phase.
pub fn matches(row: &Row, filter: &str) -> bool {
    let filter = filter.trim();
    if filter.is_empty() {
        return true;
    }
    let hay = format!(
        "{} {} {} {} {} {}",
        row.cluster,
        row.namespace,
        row.app,
        row.kind.label(),
        row.strategy,
        row.phase.word()
    )
    .to_lowercase();
    filter
        .to_lowercase()
        .split_whitespace()
        .all(|word| hay.contains(word))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fleet::row::Kind;
    use chrono::{TimeZone, Utc};

    fn row(app: &str, phase: Phase, changed_secs: i64) -> Row {
        let mut r = Row::new("prod", "shop", app, Kind::Argo);
        r.phase = phase;
        r.changed = Utc.timestamp_opt(1_700_000_000 + changed_secs, 0).single();
        r
    }

    fn apps(rows: &[Row]) -> Vec<&str> {
        rows.iter().map(|r| r.app.as_str()).collect()
    }

    #[test]
    fn what_needs_a_person_comes_first_then_the_newest() {
        let reason = String::new;
        let mut rows = vec![
            row("steady-old", Phase::Progressing, 10),
            row("steady-new", Phase::Progressing, 50),
            row(
                "timed",
                Phase::Paused {
                    until: Some(Utc::now()),
                    reason: reason(),
                },
                1,
            ),
            row(
                "waiting",
                Phase::Paused {
                    until: None,
                    reason: reason(),
                },
                1,
            ),
            row("guard", Phase::FailingGuard { reason: reason() }, 1),
            row("done", Phase::Promoted, 99),
            row("degraded", Phase::Degraded { reason: reason() }, 1),
            row("aborted", Phase::Aborted { reason: reason() }, 1),
        ];
        sort(&mut rows, SortKey::Need);
        assert_eq!(
            apps(&rows),
            [
                "aborted",
                "degraded",
                "guard",
                "waiting",
                "timed",
                "steady-new",
                "steady-old",
                "done"
            ]
        );
        sort(&mut rows, SortKey::Changed);
        assert_eq!(apps(&rows)[..2], ["done", "steady-new"]);
        sort(&mut rows, SortKey::Name);
        assert_eq!(apps(&rows)[0], "aborted");
        assert_eq!(SortKey::Need.next().next().next(), SortKey::Need);
    }

    #[test]
    fn a_canary_failing_by_prometheus_sorts_with_the_failing_guards() {
        let versus = |canary: f64| crate::fleet::Versus {
            canary_error_ratio: Some(canary),
            stable_error_ratio: Some(0.001),
            ..Default::default()
        };
        let mut failing = row("failing", Phase::Progressing, 1);
        failing.metrics = Some(versus(0.2));
        let mut fine = row("fine", Phase::Progressing, 90);
        fine.metrics = Some(versus(0.002));
        let waiting = row(
            "waiting",
            Phase::Paused {
                until: None,
                reason: String::new(),
            },
            1,
        );
        let aborted = row(
            "aborted",
            Phase::Aborted {
                reason: String::new(),
            },
            1,
        );
        let mut rows = vec![fine, waiting, failing, aborted];
        sort(&mut rows, SortKey::Need);
        assert_eq!(apps(&rows), ["aborted", "failing", "waiting", "fine"]);
    }

    #[test]
    fn filter_keeps_rows_with_every_word() {
        let r = row(
            "checkout",
            Phase::Degraded {
                reason: String::new(),
            },
            0,
        );
        assert!(matches(&r, ""));
        assert!(matches(&r, "CHECK"));
        assert!(matches(&r, "argo degraded"));
        assert!(matches(&r, "prod shop"));
        assert!(!matches(&r, "checkout flagger"));
    }
}
