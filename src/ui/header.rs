//! The top line: where we are, who drives, whether the cluster answers.

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::Modifier;
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;

use super::format;
use crate::app::State;
use crate::app::msg::Connection;
use crate::app::state::Helm;
use crate::config::theme::Theme;
use crate::sanitize::clean;

/// One line, plus one for each warning or note (at most two).
pub fn height(state: &State) -> u16 {
    1 + (state.header.warnings.len() + state.header.notes.len()).min(2) as u16
}

pub fn render(frame: &mut Frame<'_>, area: Rect, state: &State, theme: &Theme) {
    let h = &state.header;
    let base = theme.style("header");
    let label = base.add_modifier(Modifier::DIM);
    frame.buffer_mut().set_style(area, base);

    // Who drives and whether the cluster answers matter most: they sit on the
    // right, and the facts on the left give way when the line is short.
    let narrow = area.width < 120;
    let helm = match &h.helm {
        Helm::ReadOnly => Span::styled("read-only", theme.style("status.paused").patch(base)),
        Helm::Held => Span::styled("⎈ at the helm", theme.style("status.healthy").patch(base)),
        Helm::Free => Span::styled(
            "helm free · not driving",
            theme.style("status.unknown").patch(base),
        ),
        Helm::HeldBy(who) => Span::styled(
            if narrow {
                format!("read-only · {}", format::truncate(&clean(who), 16))
            } else {
                format!("read-only · helm held by {}", clean(who))
            },
            theme.style("status.paused").patch(base),
        ),
    };
    let connection = match &h.connection {
        Connection::Connecting => Span::styled(
            "◌ connecting",
            theme.style("status.progressing").patch(base),
        ),
        Connection::Connected => {
            Span::styled("● connected", theme.style("status.healthy").patch(base))
        }
        Connection::Lost { since } => Span::styled(
            if narrow {
                format!("✗ lost {}", format::clock(*since))
            } else {
                format!("✗ connection lost since {}", format::clock(*since))
            },
            theme.style("status.failed").patch(base),
        ),
    };
    let right = Line::from(vec![
        helm,
        Span::styled(" │ ", label),
        connection,
        Span::raw(" "),
    ]);
    let right_width = (right.width() as u16).min(area.width);
    let [left_area, right_area] =
        Layout::horizontal([Constraint::Min(0), Constraint::Length(right_width)]).areas(area);
    frame.render_widget(
        Paragraph::new(right),
        Rect {
            height: 1,
            ..right_area
        },
    );

    let room = usize::from(left_area.width);
    let mut left = Vec::new();
    if room >= 24 {
        left.push(Span::styled(" flightdeck ", theme.style("header.app")));
    }
    for (name, value) in [
        ("app ", &h.app),
        ("ns ", &h.namespace),
        ("strategy ", &h.strategy),
        ("ctx ", &h.context),
    ] {
        if value.is_empty() {
            continue;
        }
        let value = clean(value).into_owned();
        let used: usize = left.iter().map(Span::width).sum();
        if used + 3 + name.len() + value.chars().count() + 3 > room {
            break;
        }
        left.push(Span::styled("│ ", label));
        left.push(Span::styled(name, label));
        left.push(Span::styled(
            format!("{value} "),
            base.add_modifier(Modifier::BOLD),
        ));
    }
    frame.render_widget(
        Paragraph::new(Line::from(left)),
        Rect {
            height: 1,
            ..left_area
        },
    );

    let warn = theme.style("warning").patch(base);
    let note = theme.style("muted").patch(base);
    let warnings: Vec<Line<'_>> = h
        .warnings
        .iter()
        .map(|w| (" ⚠ ", w, warn))
        .chain(h.notes.iter().map(|n| (" ℹ ", n, note)))
        .take(2)
        .map(|(mark, text, style)| {
            Line::from(vec![
                Span::styled(mark, style),
                Span::styled(clean(text).into_owned(), style),
            ])
        })
        .collect();
    let rest = Rect {
        y: area.y + 1,
        height: area.height.saturating_sub(1),
        ..area
    };
    frame.render_widget(Paragraph::new(warnings), rest);
}
