//! Traffic: the weight each version should get, the share it actually got,
//! and the object that splits it.

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;

use crate::app::State;
use crate::config::theme::Theme;
use crate::sanitize::clean;

/// Points of difference between desired and actual that deserve a mark.
const DRIFT: f64 = 10.0;

pub fn status<'a>(state: &State, theme: &Theme) -> Line<'a> {
    let drifting = state.traffic.as_ref().is_some_and(|t| {
        let actual = state.actual_shares();
        t.desired.iter().any(|(v, w)| {
            actual
                .iter()
                .any(|(a, s)| a == v && (s - f64::from(*w)).abs() >= DRIFT)
        })
    });
    if drifting {
        Line::from(Span::styled(
            " ⚠ actual differs from desired ",
            theme.style("warning"),
        ))
    } else {
        Line::default()
    }
}

/// `Istio VirtualService` + `VirtualService shop/checkout` reads as
/// `Istio VirtualService shop/checkout`.
fn router_line(label: &str, object: &str) -> String {
    let last = label.rsplit(' ').next().unwrap_or(label);
    match object.strip_prefix(last) {
        Some(rest) if rest.starts_with(' ') => format!("{label}{rest}"),
        _ => format!("{label} {object}"),
    }
}

pub fn render(frame: &mut Frame<'_>, area: Rect, state: &State, theme: &Theme) {
    let Some(traffic) = &state.traffic else {
        frame.render_widget(super::placeholder("no traffic split seen yet", theme), area);
        return;
    };
    let actual = state.actual_shares();
    let name_w = traffic
        .desired
        .iter()
        .map(|(v, _)| v.chars().count())
        .max()
        .unwrap_or(6)
        .clamp(6, 12);
    let narrow = area.width < 48;
    let mut lines = Vec::new();
    for (version, weight) in &traffic.desired {
        let version = clean(version);
        let style = theme.version(&version);
        let share = actual.iter().find(|(v, _)| *v == *version).map(|(_, s)| *s);
        let (tail, tail_style) = match share {
            Some(s) => {
                let drift = (s - f64::from(*weight)).abs() >= DRIFT;
                let mark = if drift { " ⚠" } else { "" };
                let text = if narrow {
                    format!(" act {s:>3.0}%{mark}")
                } else {
                    format!("  actual {s:>5.1}%{mark}")
                };
                (text, theme.style(if drift { "warning" } else { "muted" }))
            }
            None => (
                (if narrow {
                    " act  —"
                } else {
                    "  actual    —"
                })
                .to_string(),
                theme.style("muted"),
            ),
        };
        let tail_w = tail.chars().count() + 5;
        let bar_w = usize::from(area.width)
            .saturating_sub(name_w + 1 + tail_w)
            .max(3);
        let filled = (usize::from(*weight) * bar_w).div_ceil(100).min(bar_w);
        lines.push(Line::from(vec![
            super::cell(&version, name_w, style),
            Span::raw(" "),
            Span::styled("█".repeat(filled), style),
            Span::styled("░".repeat(bar_w - filled), theme.style("muted")),
            Span::styled(format!("{weight:>4}%"), style),
            Span::styled(tail, tail_style),
        ]));
    }
    lines.push(Line::from(vec![
        Span::styled("via ", theme.style("muted")),
        Span::styled(
            router_line(traffic.router.label(), &clean(&traffic.object)),
            theme.style("text"),
        ),
    ]));
    frame.render_widget(Paragraph::new(lines), area);
}
