//! The report as one self-contained HTML page: inline CSS and SVG, no
//! script, nothing fetched, so it opens offline and can be attached to a
//! ticket. Every text that came from the cluster or a file is escaped.

use std::fmt::Write as _;

use super::model::{Ending, Report};
use super::svg::{self, Span};
use crate::rollout::analysis::Verdict;
use crate::units::format_duration;

const STYLE: &str = "
body{font:14px/1.45 system-ui,-apple-system,'Segoe UI',sans-serif;margin:24px auto;max-width:1000px;color:#1d1d26;background:#fff}
h1{font-size:22px;margin:0 0 4px}h2{font-size:17px;margin:28px 0 8px;border-bottom:1px solid #ddd;padding-bottom:4px}
.sub{color:#5a5a6e}.badge{display:inline-block;padding:2px 10px;border-radius:10px;font-weight:600;color:#fff}
.promoted{background:#1e8449}.rolled-back{background:#c0392b}.running{background:#b9770e}.not-started{background:#7f8c8d}
.why{background:#fdecea;border-left:4px solid #c0392b;padding:8px 12px;margin:12px 0}
table{border-collapse:collapse;width:100%;font-size:13px}th,td{text-align:left;padding:4px 8px;border-bottom:1px solid #eee;vertical-align:top}
th{background:#f4f4f8}td.num{text-align:right;font-variant-numeric:tabular-nums}
.pass{color:#1e8449}.fail{color:#c0392b}.inconclusive{color:#b9770e}
svg.chart{display:block;margin:6px 0 18px;max-width:100%;height:auto}
svg .tick,svg .mark-label,svg .threshold-label,svg .empty{font:11px system-ui,sans-serif;fill:#5a5a6e}
svg .threshold-label{fill:#c0392b}.legend span{margin-right:16px}.sw{display:inline-block;width:12px;height:3px;vertical-align:middle;margin-right:4px}
.note{color:#5a5a6e;font-style:italic}
";

/// `<`, `>`, `&`, `"` and `'` as entities, and control characters dropped.
pub fn escape(text: &str) -> String {
    let clean = crate::sanitize::clean(text);
    let mut out = String::with_capacity(clean.len());
    for c in clean.chars() {
        match c {
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '&' => out.push_str("&amp;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

fn time(at: chrono::DateTime<chrono::Utc>) -> String {
    at.format("%Y-%m-%d %H:%M:%S UTC").to_string()
}

/// The whole page.
pub fn render(r: &Report) -> String {
    let mut h = String::new();
    let title = format!("Release report: {}/{}", r.namespace, r.app);
    let _ = writeln!(
        h,
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>{}</title><style>{STYLE}</style></head><body>",
        escape(&title)
    );
    let (class, word) = match &r.ending {
        Ending::Promoted { .. } => ("promoted", "promoted"),
        Ending::RolledBack { .. } => ("rolled-back", "rolled back"),
        Ending::RollingBack { .. } => ("rolled-back", "rolling back"),
        Ending::Running => ("running", "in progress"),
        Ending::NotStarted => ("not-started", "not started"),
    };
    let _ = writeln!(
        h,
        "<h1>{} <span class=\"badge {class}\" id=\"ending\">{word}</span></h1>\n<p class=\"sub\">{} strategy{} · report generated {}</p>",
        escape(&title),
        escape(&r.strategy),
        r.image
            .as_deref()
            .map(|i| format!(" · image {}", escape(i)))
            .unwrap_or_default(),
        time(r.generated_at)
    );
    if let Some(why) = r.rollback_reason() {
        let _ = writeln!(
            h,
            "<div class=\"why\" id=\"why\"><strong>Why it was rolled back:</strong> {}</div>",
            escape(why)
        );
    }
    let _ = write!(
        h,
        "<table class=\"summary\"><tr><th>Final state</th><td>{}</td></tr>",
        escape(&r.state)
    );
    if let Some(s) = r.started {
        let _ = write!(h, "<tr><th>Started</th><td>{}</td></tr>", time(s));
    }
    if let (Some(s), Some(e)) = (r.started, r.ended) {
        let _ = write!(
            h,
            "<tr><th>Ended</th><td>{} (after {})</td></tr>",
            time(e),
            format_duration((e - s).to_std().unwrap_or_default())
        );
    }
    h.push_str("</table>\n");

    h.push_str("<h2>Stages</h2>\n");
    if r.stages.is_empty() {
        h.push_str("<p class=\"note\">No stage was reached.</p>\n");
    } else {
        h.push_str("<table id=\"stages\"><tr><th>Stage</th><th>Weight</th><th>Began</th><th>Took</th><th>Verdict</th><th>Ended by</th></tr>\n");
        for s in &r.stages {
            let _ = writeln!(
                h,
                "<tr><td>{}</td><td class=\"num\">{}%</td><td>{}</td><td class=\"num\">{}{}</td><td>{}</td><td>{}</td></tr>",
                s.number,
                s.weight,
                time(s.began),
                format_duration(s.took),
                if s.ended.is_none() { " (running)" } else { "" },
                s.verdict.as_ref().map_or_else(
                    || "<span class=\"note\">none reached</span>".to_string(),
                    verdict
                ),
                escape(s.ended_by.as_deref().unwrap_or(""))
            );
        }
        h.push_str("</table>\n");
    }

    h.push_str("<h2>Canary and stable over the rollout</h2>\n");
    let _ = writeln!(
        h,
        "<p class=\"note\" id=\"source\">{}</p>\n<p class=\"legend\"><span><i class=\"sw\" style=\"background:#e67e22\"></i>canary</span><span><i class=\"sw\" style=\"background:#2e86c1\"></i>stable</span><span><i class=\"sw\" style=\"background:#c0392b\"></i>threshold</span></p>",
        escape(&r.source.describe())
    );
    match Span::of(&r.charts, &r.marks) {
        Some(span) => {
            for c in &r.charts {
                let _ = writeln!(
                    h,
                    "<h3>{} <span class=\"sub\">({} points)</span></h3>\n{}",
                    escape(c.metric.title()),
                    c.points(),
                    svg::chart(c, span, &r.marks)
                );
            }
        }
        None => h.push_str("<p class=\"note\">Nothing to chart.</p>\n"),
    }

    h.push_str("<h2>Timeline</h2>\n<table id=\"timeline\"><tr><th>Time</th><th>Action</th><th>Who</th><th>From → to</th><th>Detail</th><th>Result</th></tr>\n");
    for a in &r.timeline {
        let detail = a
            .detail
            .iter()
            .chain(a.reason.iter())
            .cloned()
            .collect::<Vec<_>>()
            .join("; ");
        let _ = writeln!(
            h,
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{} → {}</td><td>{}{}</td><td>{}</td></tr>",
            time(a.at),
            escape(&a.action),
            escape(&a.who),
            escape(&a.from),
            escape(&a.to),
            escape(&detail),
            a.verdict.as_ref().map(verdict).unwrap_or_default(),
            escape(&a.result)
        );
    }
    h.push_str("</table>\n");

    h.push_str("<h2>Pods and restarts</h2>\n");
    if r.pods.is_empty() {
        h.push_str("<p class=\"note\">No pods could be read.</p>\n");
    } else {
        h.push_str("<table id=\"pods\"><tr><th>Pod</th><th>Version</th><th>Status</th><th>Restarts</th></tr>\n");
        for p in &r.pods {
            let _ = writeln!(
                h,
                "<tr><td>{}</td><td>{}</td><td>{}</td><td class=\"num\">{}</td></tr>",
                escape(&p.name),
                escape(&p.version),
                escape(&p.status),
                p.restarts
            );
        }
        h.push_str("</table>\n");
    }
    for n in &r.notes {
        let _ = writeln!(h, "<p class=\"note\">{}</p>", escape(n));
    }
    h.push_str("</body></html>\n");
    h
}

/// A verdict with each check's canary, stable and limit.
fn verdict(v: &Verdict) -> String {
    let mut out = format!(
        "<span class=\"{}\">{}</span>: {}",
        v.outcome,
        v.outcome,
        escape(&v.reason)
    );
    if !v.checks.is_empty() {
        out.push_str("<table class=\"checks\"><tr><th>Check</th><th>Canary</th><th>Stable</th><th>Limit</th><th></th></tr>");
        for c in &v.checks {
            let n = |x: Option<f64>| x.map_or_else(|| "–".to_string(), |x| format!("{x:.4}"));
            let _ = write!(
                out,
                "<tr><td>{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td><td class=\"{}\">{}</td></tr>",
                escape(&c.name),
                n(c.canary),
                n(c.stable),
                n(c.limit),
                c.outcome,
                c.outcome
            );
        }
        out.push_str("</table>");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::model::tests::report;

    #[test]
    fn cluster_text_is_escaped_everywhere() {
        assert_eq!(
            escape("<script>alert('x')</script> & \u{1b}[31m\"q\""),
            "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt; &amp; &quot;q&quot;"
        );
        let page = render(&report());
        assert!(!page.contains("<b>"), "unescaped markup from the record");
        assert!(page.contains("&lt;b&gt;checkout 5xx&lt;/b&gt;"));
    }

    #[test]
    fn the_page_says_why_and_holds_stages_charts_timeline_and_pods() {
        let page = render(&report());
        assert!(page.starts_with("<!DOCTYPE html>"));
        // Nothing is fetched: the only URL is the SVG namespace.
        assert!(!page.contains("<script") && !page.contains("<link"));
        assert_eq!(
            page.matches("http").count(),
            page.matches("xmlns=\"http://www.w3.org/2000/svg\"").count()
        );
        assert!(page.contains("id=\"ending\">rolled back</span>"));
        assert!(page.contains("Why it was rolled back:</strong> &lt;b&gt;checkout 5xx&lt;/b&gt;: error-ratio 8.0% &gt; 5.0% for 2m"));
        assert_eq!(page.matches("<svg ").count(), 3);
        assert!(page.contains("(23 points)") || page.contains("(24 points)"));
        assert!(page.contains("<td>error ratio vs stable</td><td class=\"num\">0.0040</td><td class=\"num\">0.0030</td>"));
        assert!(page.contains("3m20s"), "stage 1 took 200 s");
        assert!(page.contains("ana (flightdeck auto) (admin)"));
        assert!(page.contains(
            "<td>checkout-canary-1</td><td>canary</td><td>Running</td><td class=\"num\">2</td>"
        ));
        assert!(page.contains("readings the run&#39;s guards took"));
    }
}
