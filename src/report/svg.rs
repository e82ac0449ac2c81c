//! A chart as inline SVG: one line per version with a dot per data point,
//! the thresholds dashed across, the stages' boundaries as vertical rules.
//! No script, no external reference: the page opens offline.

use std::fmt::Write as _;

use chrono::{DateTime, Utc};

use super::html::escape;
use super::model::{Chart, Mark};
use crate::rollout::analysis::Point;

const WIDTH: f64 = 960.0;
const HEIGHT: f64 = 280.0;
const LEFT: f64 = 70.0;
const RIGHT: f64 = 20.0;
const TOP: f64 = 30.0;
const BOTTOM: f64 = 40.0;

/// The time span every chart of a report shares.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Span {
    pub from: DateTime<Utc>,
    pub to: DateTime<Utc>,
}

impl Span {
    /// From the earliest to the latest of the charts' points and the marks.
    pub fn of(charts: &[Chart], marks: &[Mark]) -> Option<Span> {
        let times = charts
            .iter()
            .flat_map(|c| c.canary.iter().chain(&c.stable).map(|p| p.at))
            .chain(marks.iter().map(|m| m.at));
        let (mut from, mut to): (Option<DateTime<Utc>>, Option<DateTime<Utc>>) = (None, None);
        for t in times {
            from = Some(from.map_or(t, |f| f.min(t)));
            to = Some(to.map_or(t, |x| x.max(t)));
        }
        let (from, mut to) = (from?, to?);
        if to <= from {
            to = from + chrono::Duration::seconds(1);
        }
        Some(Span { from, to })
    }

    fn x(&self, at: DateTime<Utc>) -> f64 {
        let all = (self.to - self.from).num_milliseconds().max(1) as f64;
        let here = (at - self.from).num_milliseconds() as f64;
        LEFT + (here / all).clamp(0.0, 1.0) * (WIDTH - LEFT - RIGHT)
    }
}

fn y(value: f64, top: f64) -> f64 {
    let plot = HEIGHT - TOP - BOTTOM;
    TOP + plot - (value / top).clamp(0.0, 1.0) * plot
}

/// The chart as an `<svg>` element.
pub fn chart(c: &Chart, span: Span, marks: &[Mark]) -> String {
    let highest = c
        .canary
        .iter()
        .chain(&c.stable)
        .map(|p| p.value)
        .chain(c.thresholds.iter().map(|t| t.value))
        .filter(|v| v.is_finite())
        .fold(0.0_f64, f64::max);
    let top = if highest > 0.0 { highest * 1.15 } else { 1.0 };
    let mut s = String::new();
    let _ = write!(
        s,
        r#"<svg xmlns="http://www.w3.org/2000/svg" class="chart" role="img" viewBox="0 0 {WIDTH} {HEIGHT}" width="{WIDTH}" height="{HEIGHT}" data-metric="{}" data-points="{}"><title>{}</title>"#,
        escape(c.metric.title()),
        c.points(),
        escape(c.metric.title())
    );
    let bottom = HEIGHT - BOTTOM;
    let _ = write!(
        s,
        r##"<rect x="{LEFT}" y="{TOP}" width="{}" height="{}" fill="#fbfbfd" stroke="#c8c8d0"/>"##,
        WIDTH - LEFT - RIGHT,
        HEIGHT - TOP - BOTTOM
    );
    // The value axis: nothing, half and the top, in the metric's unit.
    for frac in [0.0, 0.5, 1.0] {
        let v = top * frac;
        let yy = y(v, top);
        let _ = write!(
            s,
            r##"<line x1="{LEFT}" y1="{yy:.1}" x2="{}" y2="{yy:.1}" stroke="#e4e4ea"/><text x="{}" y="{:.1}" class="tick" text-anchor="end">{}</text>"##,
            WIDTH - RIGHT,
            LEFT - 6.0,
            yy + 4.0,
            escape(&c.metric.show(v))
        );
    }
    // The time axis: the first and the last moment.
    for (at, anchor) in [(span.from, "start"), (span.to, "end")] {
        let _ = write!(
            s,
            r#"<text x="{:.1}" y="{:.1}" class="tick" text-anchor="{anchor}">{}</text>"#,
            span.x(at),
            bottom + 16.0,
            at.format("%H:%M:%S")
        );
    }
    for m in marks {
        let x = span.x(m.at);
        // A label near the right edge reads leftwards, so it is not cut off.
        let (label_x, anchor) = if x > WIDTH - RIGHT - 120.0 {
            (x - 3.0, "end")
        } else {
            (x + 3.0, "start")
        };
        let _ = write!(
            s,
            r##"<g class="mark"><line x1="{x:.1}" y1="{TOP}" x2="{x:.1}" y2="{bottom}" stroke="#8a8aa0" stroke-dasharray="2 3"/><text x="{label_x:.1}" y="{:.1}" class="mark-label" text-anchor="{anchor}">{}</text></g>"##,
            TOP - 6.0,
            escape(&m.label)
        );
    }
    for t in &c.thresholds {
        let yy = y(t.value, top);
        let _ = write!(
            s,
            r##"<g class="threshold" data-value="{}"><line x1="{LEFT}" y1="{yy:.1}" x2="{}" y2="{yy:.1}" stroke="#c0392b" stroke-width="1.5" stroke-dasharray="6 4"/><text x="{}" y="{:.1}" class="threshold-label" text-anchor="end">{}</text></g>"##,
            t.value,
            WIDTH - RIGHT,
            WIDTH - RIGHT - 4.0,
            yy - 4.0,
            escape(&t.label)
        );
    }
    for (name, points, colour) in [
        ("stable", &c.stable, "#2e86c1"),
        ("canary", &c.canary, "#e67e22"),
    ] {
        series(&mut s, name, points, colour, span, top);
    }
    if c.points() == 0 {
        let _ = write!(
            s,
            r#"<text x="{}" y="{}" class="empty" text-anchor="middle">no data points</text>"#,
            WIDTH / 2.0,
            HEIGHT / 2.0
        );
    }
    s.push_str("</svg>");
    s
}

fn series(s: &mut String, name: &str, points: &[Point], colour: &str, span: Span, top: f64) {
    if points.is_empty() {
        return;
    }
    let coords: Vec<(f64, f64)> = points
        .iter()
        .filter(|p| p.value.is_finite())
        .map(|p| (span.x(p.at), y(p.value, top)))
        .collect();
    let _ = write!(
        s,
        r#"<g class="series {name}" data-version="{name}" data-points="{}">"#,
        coords.len()
    );
    let line: Vec<String> = coords
        .iter()
        .map(|(x, y)| format!("{x:.1},{y:.1}"))
        .collect();
    let _ = write!(
        s,
        r#"<polyline fill="none" stroke="{colour}" stroke-width="2" points="{}"/>"#,
        line.join(" ")
    );
    for ((x, yy), p) in coords
        .iter()
        .zip(points.iter().filter(|p| p.value.is_finite()))
    {
        let _ = write!(
            s,
            r#"<circle class="point" cx="{x:.1}" cy="{yy:.1}" r="2.5" fill="{colour}" data-at="{}" data-value="{}"/>"#,
            p.at.to_rfc3339(),
            p.value
        );
    }
    s.push_str("</g>");
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::model::tests::report;

    #[test]
    fn every_point_is_drawn_inside_the_plot_with_the_limit_and_the_stages() {
        let r = report();
        let span = Span::of(&r.charts, &r.marks).unwrap();
        let svg = chart(&r.charts[0], span, &r.marks);
        assert_eq!(svg.matches("<circle class=\"point\"").count(), 24);
        assert!(
            svg.contains(r#"<g class="series canary" data-version="canary" data-points="23">"#)
        );
        assert_eq!(svg.matches("<g class=\"mark\">").count(), 3);
        assert!(svg.contains(r#"<g class="threshold" data-value="0.05">"#));
        // Escaped, never markup from the cluster.
        assert!(!svg.contains("<b>"));
        for cap in svg.split("cx=\"").skip(1) {
            let x: f64 = cap.split('"').next().unwrap().parse().unwrap();
            assert!((LEFT..=WIDTH - RIGHT).contains(&x), "{x}");
        }
    }
}
