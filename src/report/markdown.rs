//! The report as Markdown, the HTML page's twin for a pull request or a
//! ticket: the same sections, the charts as tables of their data points.

use std::fmt::Write as _;

use super::model::{Chart, Report};
use crate::rollout::analysis::Verdict;
use crate::units::format_duration;

/// Points per chart table; a longer series is thinned evenly.
const ROWS: usize = 30;

/// Text from the cluster made inert: no inline HTML, no table breaks.
pub fn escape(text: &str) -> String {
    // Line breaks first: cleaning would drop them and join the words.
    crate::sanitize::clean(&text.replace(['\n', '\r'], " "))
        .replace('\\', "\\\\")
        .replace('|', "\\|")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('`', "\\`")
}

fn time(at: chrono::DateTime<chrono::Utc>) -> String {
    at.format("%Y-%m-%d %H:%M:%S UTC").to_string()
}

pub fn render(r: &Report) -> String {
    let mut m = String::new();
    let _ = writeln!(
        m,
        "# Release report: {}/{} — {}\n",
        escape(&r.namespace),
        escape(&r.app),
        escape(&r.headline())
    );
    let _ = writeln!(
        m,
        "{} strategy{} · report generated {}\n",
        escape(&r.strategy),
        r.image
            .as_deref()
            .map(|i| format!(" · image {}", escape(i)))
            .unwrap_or_default(),
        time(r.generated_at)
    );
    if let Some(why) = r.rollback_reason() {
        let _ = writeln!(m, "> **Why it was rolled back:** {}\n", escape(why));
    }
    let _ = writeln!(m, "- Final state: {}", escape(&r.state));
    if let Some(s) = r.started {
        let _ = writeln!(m, "- Started: {}", time(s));
    }
    if let (Some(s), Some(e)) = (r.started, r.ended) {
        let _ = writeln!(
            m,
            "- Ended: {} (after {})",
            time(e),
            format_duration((e - s).to_std().unwrap_or_default())
        );
    }

    m.push_str("\n## Stages\n\n");
    if r.stages.is_empty() {
        m.push_str("No stage was reached.\n");
    } else {
        m.push_str(
            "| stage | weight | began | took | verdict | ended by |\n|---|---:|---|---:|---|---|\n",
        );
        for s in &r.stages {
            let _ = writeln!(
                m,
                "| {} | {}% | {} | {}{} | {} | {} |",
                s.number,
                s.weight,
                time(s.began),
                format_duration(s.took),
                if s.ended.is_none() { " (running)" } else { "" },
                s.verdict
                    .as_ref()
                    .map_or_else(|| "none reached".to_string(), verdict),
                escape(s.ended_by.as_deref().unwrap_or(""))
            );
        }
    }

    m.push_str("\n## Canary and stable over the rollout\n\n");
    let _ = writeln!(m, "{}\n", escape(&r.source.describe()));
    if !r.marks.is_empty() {
        let marks: Vec<String> = r
            .marks
            .iter()
            .map(|k| format!("{} at {}", escape(&k.label), k.at.format("%H:%M:%S")))
            .collect();
        let _ = writeln!(m, "Boundaries: {}.\n", marks.join("; "));
    }
    for c in &r.charts {
        chart(&mut m, c);
    }

    m.push_str("## Timeline\n\n| time | action | who | from → to | detail | result |\n|---|---|---|---|---|---|\n");
    for a in &r.timeline {
        let mut detail: Vec<String> = a
            .detail
            .iter()
            .chain(a.reason.iter())
            .map(|d| escape(d))
            .collect();
        if let Some(v) = &a.verdict {
            detail.push(verdict(v));
        }
        let _ = writeln!(
            m,
            "| {} | {} | {} | {} → {} | {} | {} |",
            time(a.at),
            escape(&a.action),
            escape(&a.who),
            escape(&a.from),
            escape(&a.to),
            detail.join("; "),
            escape(&a.result)
        );
    }

    m.push_str("\n## Pods and restarts\n\n");
    if r.pods.is_empty() {
        m.push_str("No pods could be read.\n");
    } else {
        m.push_str("| pod | version | status | restarts |\n|---|---|---|---:|\n");
        for p in &r.pods {
            let _ = writeln!(
                m,
                "| {} | {} | {} | {} |",
                escape(&p.name),
                escape(&p.version),
                escape(&p.status),
                p.restarts
            );
        }
    }
    for n in &r.notes {
        let _ = write!(m, "\n_{}_\n", escape(n));
    }
    m
}

fn chart(m: &mut String, c: &Chart) {
    let _ = writeln!(m, "### {} ({} points)\n", c.metric.title(), c.points());
    for t in &c.thresholds {
        let _ = writeln!(m, "- threshold: {}", escape(&t.label));
    }
    if c.points() == 0 {
        m.push_str("\nNo data points.\n\n");
        return;
    }
    let mut rows: Vec<(chrono::DateTime<chrono::Utc>, Option<f64>, Option<f64>)> = Vec::new();
    for p in &c.canary {
        rows.push((p.at, Some(p.value), None));
    }
    for p in &c.stable {
        match rows.iter_mut().find(|r| r.0 == p.at) {
            Some(r) => r.2 = Some(p.value),
            None => rows.push((p.at, None, Some(p.value))),
        }
    }
    rows.sort_by_key(|r| r.0);
    let every = rows.len().div_ceil(ROWS).max(1);
    let show = |v: Option<f64>| v.map_or_else(|| "–".to_string(), |v| c.metric.show(v));
    m.push_str("\n| time | canary | stable |\n|---|---:|---:|\n");
    let last = rows.len() - 1;
    for (i, (at, canary, stable)) in rows.iter().enumerate() {
        if i % every == 0 || i == last {
            let _ = writeln!(
                m,
                "| {} | {} | {} |",
                at.format("%H:%M:%S"),
                show(*canary),
                show(*stable)
            );
        }
    }
    m.push('\n');
}

fn verdict(v: &Verdict) -> String {
    let checks: Vec<String> = v
        .checks
        .iter()
        .map(|c| {
            let n = |x: Option<f64>| x.map_or_else(|| "–".to_string(), |x| format!("{x:.4}"));
            format!(
                "{} {} (canary {}, stable {}, limit {})",
                escape(&c.name),
                c.outcome,
                n(c.canary),
                n(c.stable),
                n(c.limit)
            )
        })
        .collect();
    let mut out = format!("**{}**: {}", v.outcome, escape(&v.reason));
    if !checks.is_empty() {
        let _ = write!(out, " — {}", checks.join(", "));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::model::tests::report;

    #[test]
    fn the_twin_holds_the_same_story_as_inert_text() {
        let md = render(&report());
        assert!(md.starts_with(
            "# Release report: shop/checkout — rolled back: &lt;b&gt;checkout 5xx&lt;/b&gt;"
        ));
        assert!(md.contains("> **Why it was rolled back:** &lt;b&gt;checkout 5xx&lt;/b&gt;: error-ratio 8.0% &gt; 5.0% for 2m"));
        assert!(md.contains("### Error ratio (24 points)"));
        assert!(md.contains("- threshold: guard checkout 5xx: 5.00% → rollback"));
        assert!(md.contains("| 10:03:20 | 0.40% | 0.30% |"), "{md}");
        assert!(md.contains("| 1 | 10% |"));
        assert!(md.contains("3m20s"));
        assert!(md.contains("| checkout-canary-1 | canary | Running | 2 |"));
        assert!(!md.contains("<b>"));
        assert_eq!(escape("a|b\nc"), "a\\|b c");
    }
}
