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

/// One line, plus one for a freeze, one for failing webhooks and one for
/// each warning or note (at most two in all, the freeze first).
pub fn height(state: &State) -> u16 {
    let frozen = usize::from(
        state
            .rollout
            .as_ref()
            .is_some_and(|r| r.state.freeze.is_some()),
    );
    let webhooks = usize::from(!state.webhooks.is_empty());
    1 + (frozen + webhooks + state.header.warnings.len() + state.header.notes.len()).min(2) as u16
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
    // Guards acting by themselves is worth knowing at a glance.
    let strategy = if state.rollout.as_ref().is_some_and(|r| r.state.course.auto) {
        format!("{} · auto", h.strategy)
    } else {
        h.strategy.clone()
    };
    for (name, value) in [
        ("app ", &h.app),
        ("ns ", &h.namespace),
        ("strategy ", &strategy),
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
    let webhooks = webhook_line(state, theme);
    let warnings: Vec<Line<'_>> = freeze_line(state, theme)
        .into_iter()
        .chain(webhooks)
        .chain(
            h.warnings
                .iter()
                .map(|w| (" ⚠ ", w, warn))
                .chain(h.notes.iter().map(|n| (" ℹ ", n, note)))
                .map(|(mark, text, style)| {
                    Line::from(vec![
                        Span::styled(mark, style),
                        Span::styled(clean(text).into_owned(), style),
                    ])
                }),
        )
        .take(2)
        .collect();
    let rest = Rect {
        y: area.y + 1,
        height: area.height.saturating_sub(1),
        ..area
    };
    frame.render_widget(Paragraph::new(warnings), rest);
}

/// An incident freeze, in every cockpit that reads the rollout: who set it
/// and why, so nobody wonders why their advance is refused.
fn freeze_line<'a>(state: &State, theme: &Theme) -> Option<Line<'a>> {
    let freeze = state.rollout.as_ref()?.state.freeze.as_deref()?;
    let style = theme
        .style("warning")
        .patch(theme.style("header"))
        .add_modifier(Modifier::REVERSED);
    Some(Line::from(vec![Span::styled(
        format!(
            " ❄ FROZEN by {}: {} (since {}) ",
            clean(&freeze.by.os_user),
            clean(&freeze.reason),
            freeze.at.format("%H:%M")
        ),
        style,
    )]))
}

/// Webhooks losing notices, on one line: a rollout told to nobody is a
/// problem the captain must see, not a line in the diagnostics.
fn webhook_line<'a>(state: &State, theme: &Theme) -> Option<Line<'a>> {
    if state.webhooks.is_empty() {
        return None;
    }
    let style = theme.style("status.failed").patch(theme.style("header"));
    // The count first: on a narrow screen the details are what gets cut.
    let lost: u32 = state.webhooks.troubles().map(|(_, t)| t.lost).sum();
    let lead = match lost {
        1 => " ✗ webhook ".to_string(),
        n => format!(" ✗ {n} notices lost · "),
    };
    let text = state
        .webhooks
        .troubles()
        .map(|(_, trouble)| clean(&trouble.latest).into_owned())
        .collect::<Vec<_>>()
        .join(" · ");
    Some(Line::from(vec![
        Span::styled(lead, style),
        Span::styled(text, style),
    ]))
}
