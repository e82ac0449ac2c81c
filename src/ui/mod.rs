//! Drawing: `draw(frame, &State, &Theme)` and nothing else. One file per pane.
//!
//! Every pane is a bordered block titled with its name; the focused one has a
//! thick border (not only a colour). A worker's trouble is written on the first
//! line inside its own pane, above whatever data it still has.

mod diagnostics;
mod dialog;
mod events;
mod external;
pub mod fleet;
mod footer;
pub mod format;
mod guards;
mod header;
mod help;
mod logs;
mod metrics;
mod pods;
mod stages;
mod traffic;

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::Style;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, BorderType, Paragraph};

use crate::app::msg::Trouble;
use crate::app::{Pane, State};
use crate::config::theme::Theme;
use crate::sanitize::clean;

/// Draws the whole screen.
pub fn draw(frame: &mut Frame<'_>, state: &State, theme: &Theme) {
    let area = frame.area();
    frame.buffer_mut().set_style(area, theme.style("text"));
    let header_rows = header::height(state);
    let [top, body, bottom] = Layout::vertical([
        Constraint::Length(header_rows),
        Constraint::Min(0),
        Constraint::Length(1),
    ])
    .areas(area);
    header::render(frame, top, state, theme);
    footer::render(frame, bottom, state, theme);

    let (panes_area, diag_area) = if state.diagnostics {
        let [a, b] =
            Layout::vertical([Constraint::Percentage(65), Constraint::Percentage(35)]).areas(body);
        (a, Some(b))
    } else {
        (body, None)
    };
    if state.zoom {
        draw_pane(frame, panes_area, state.focus, state, theme);
    } else {
        for (pane, rect) in layout(panes_area, state) {
            draw_pane(frame, rect, pane, state, theme);
        }
    }
    if let Some(diag) = diag_area {
        diagnostics::render(frame, diag, theme);
    }
    if state.help {
        help::render(frame, area, state, theme);
    }
    dialog::render(frame, area, state, theme);
}

/// Where each pane goes when none is zoomed.
///
/// Pods and the rollout's shape (traffic, stages) on top, numbers and events in
/// the middle, logs across the bottom where long lines have room.
pub fn layout(area: Rect, state: &State) -> Vec<(Pane, Rect)> {
    let [mut top, mut middle, mut bottom] = Layout::vertical([
        Constraint::Percentage(35),
        Constraint::Percentage(30),
        Constraint::Fill(1),
    ])
    .areas(area);
    let versions = state.traffic.as_ref().map_or(2, |t| t.desired.len().max(1)) as u16;
    // The Metrics pane's charts need their rows (borders, the numbers, a guard
    // line, the charts): when 30% falls short they come out of the logs, as
    // long as the logs keep a readable height.
    let metrics_rows = 2 + (versions + 1) + 1 + metrics::CHART_ROWS;
    if middle.height < metrics_rows && bottom.height + middle.height >= metrics_rows + MIN_LOG_ROWS
    {
        [top, middle, bottom] = Layout::vertical([
            Constraint::Length(top.height),
            Constraint::Length(metrics_rows),
            Constraint::Fill(1),
        ])
        .areas(area);
    }
    let columns = [Constraint::Percentage(60), Constraint::Percentage(40)];
    let [pods, right] = Layout::horizontal(columns).areas(top);
    let [metrics, events] = Layout::horizontal(columns).areas(middle);
    let traffic_rows = (versions + 3).min(right.height.saturating_sub(3)).max(3);
    let [traffic, stages] =
        Layout::vertical([Constraint::Length(traffic_rows), Constraint::Fill(1)]).areas(right);
    vec![
        (Pane::Pods, pods),
        (Pane::Traffic, traffic),
        (Pane::Stages, stages),
        (Pane::Metrics, metrics),
        (Pane::Events, events),
        (Pane::Logs, bottom),
    ]
}

/// The fewest rows the Logs pane keeps when the Metrics pane grows.
const MIN_LOG_ROWS: u16 = 8;

/// Draws one pane into `area`, bordered and titled, with its trouble on top.
pub fn draw_pane(frame: &mut Frame<'_>, area: Rect, pane: Pane, state: &State, theme: &Theme) {
    if area.width < 3 || area.height < 2 {
        return;
    }
    let focused = state.focus == pane;
    let status = match pane {
        Pane::Pods => pods::status(state, theme),
        Pane::Traffic => traffic::status(state, theme),
        Pane::Metrics => metrics::status(state, theme),
        Pane::Logs => logs::status(state, theme),
        Pane::Events => events::status(state, theme),
        Pane::Stages => stages::status(state, theme),
    };
    // The status must never cover the pane's name: trim it to what is left.
    let room = usize::from(area.width).saturating_sub(pane.title().len() + 8);
    let block =
        pane_block(pane.title(), focused, theme).title_top(fit(status, room).right_aligned());
    let inner = block.inner(area);
    frame.render_widget(block, area);
    let mut content = inner;
    if let Some(trouble) = pane.source().and_then(|s| state.troubles.get(&s)) {
        let [line, rest] =
            Layout::vertical([Constraint::Length(1), Constraint::Min(0)]).areas(inner);
        frame.render_widget(trouble_line(trouble, state, theme), line);
        content = rest;
    }
    if content.height == 0 {
        return;
    }
    match pane {
        Pane::Pods => pods::render(frame, content, state, theme, focused),
        Pane::Traffic => traffic::render(frame, content, state, theme),
        Pane::Metrics => metrics::render(frame, content, state, theme),
        Pane::Logs => logs::render(frame, content, state, theme),
        Pane::Events => events::render(frame, content, state, theme),
        Pane::Stages => stages::render(frame, content, state, theme),
    }
}

pub(crate) fn pane_block<'a>(title: &'a str, focused: bool, theme: &Theme) -> Block<'a> {
    let (border, title_style, kind, marker) = if focused {
        (
            theme.style("border.focused"),
            theme.style("title.focused"),
            BorderType::Thick,
            "▶ ",
        )
    } else {
        (
            theme.style("border"),
            theme.style("title"),
            BorderType::Rounded,
            "",
        )
    };
    Block::bordered()
        .border_type(kind)
        .border_style(border)
        .title(Line::from(vec![
            Span::raw(" "),
            Span::styled(marker, title_style),
            Span::styled(title, title_style),
            Span::raw(" "),
        ]))
}

/// What a worker's trouble means, in the captain's words.
pub fn trouble_text(trouble: &Trouble, state: &State) -> String {
    match trouble {
        Trouble::Disconnected { since, reason } => format!(
            "disconnected since {} — reconnecting ({})",
            format::clock(*since),
            clean(reason)
        ),
        Trouble::Forbidden { message } => {
            format!(
                "forbidden by RBAC in namespace {}: {}",
                clean(&state.header.namespace),
                clean(message)
            )
        }
        Trouble::Unreachable { target, reason } => {
            format!("cannot reach {}: {}", clean(target), clean(reason))
        }
        Trouble::Failed { reason } => clean(reason).into_owned(),
    }
}

fn trouble_line<'a>(trouble: &Trouble, state: &State, theme: &Theme) -> Paragraph<'a> {
    Paragraph::new(Line::from(vec![
        Span::styled("⚠ ", theme.style("warning")),
        Span::styled(trouble_text(trouble, state), theme.style("warning")),
    ]))
}

/// Drops trailing spans until the line fits in `width` columns.
pub(crate) fn fit(mut line: Line<'_>, width: usize) -> Line<'_> {
    while line.width() > width && !line.spans.is_empty() {
        line.spans.pop();
    }
    if !line.spans.is_empty() {
        line.spans.push(Span::raw(" "));
        if line.width() > width {
            line.spans.pop();
        }
    }
    line
}

/// A muted line saying why a pane is empty.
pub(crate) fn placeholder<'a>(text: &'a str, theme: &Theme) -> Paragraph<'a> {
    Paragraph::new(Line::styled(text, theme.style("muted")))
}

/// `label` in `style`, padded or cut to exactly `width` columns.
pub(crate) fn cell(label: &str, width: usize, style: Style) -> Span<'static> {
    let text = format::truncate(label, width);
    Span::styled(format!("{text:<width$}"), style)
}
