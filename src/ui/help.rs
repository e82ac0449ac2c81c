//! The `?` overlay: every binding of the active keymap with its description,
//! the focused pane's first, flowed into as many columns as the screen needs.

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Clear, Paragraph};

use super::pane_block;
use crate::app::State;
use crate::app::state::{KeyHelp, Layer};
use crate::config::theme::Theme;

const COLUMN: u16 = 34;

pub fn render(frame: &mut Frame<'_>, screen: Rect, state: &State, theme: &Theme) {
    let focused = Layer::of_pane(state.focus);
    let first = [focused, Layer::Global];
    // The fleet's layers are listed on the fleet's own help.
    let order = first.into_iter().chain(
        Layer::ALL
            .into_iter()
            .filter(|l| !first.contains(l) && *l != Layer::Help && !l.is_fleet()),
    );
    let lines = help_lines(&state.keys, order, theme);
    render_lines(frame, screen, &lines, theme);
}

/// The overlay, centred on `screen`, with `lines` flowed into columns.
pub(crate) fn render_lines(frame: &mut Frame<'_>, screen: Rect, lines: &[Line<'_>], theme: &Theme) {
    // As tall as the list or 80% of the screen, as wide as the columns it then needs.
    let max_h = (screen.height * 4 / 5).max(5);
    let height = (lines.len() as u16 + 2).clamp(5, max_h);
    let rows = usize::from(height - 2).max(1);
    let wanted = lines.len().div_ceil(rows).max(1) as u16;
    let max_w = (screen.width * 9 / 10).max(COLUMN.min(screen.width));
    let width = (wanted * COLUMN + 2).min(max_w);
    let area = Rect {
        x: screen.x + (screen.width - width) / 2,
        y: screen.y + (screen.height - height) / 2,
        width,
        height,
    };
    frame.render_widget(Clear, area);
    let block = pane_block("Help", true, theme);
    let inner = block.inner(area);
    frame.render_widget(block, area);
    if lines.is_empty() {
        frame.render_widget(
            super::placeholder("the keymap has no descriptions", theme),
            inner,
        );
        return;
    }
    let columns = (inner.width / COLUMN).max(1);
    let per_column = lines
        .len()
        .div_ceil(usize::from(columns))
        .max(usize::from(inner.height));
    let areas =
        Layout::horizontal(vec![Constraint::Length(COLUMN); usize::from(columns)]).split(inner);
    for (chunk, rect) in lines.chunks(per_column).zip(areas.iter()) {
        frame.render_widget(Paragraph::new(chunk.to_vec()), *rect);
    }
}

/// Each layer's heading and its bindings, in `order`.
pub(crate) fn help_lines<'a>(
    keys: &KeyHelp,
    order: impl IntoIterator<Item = Layer>,
    theme: &Theme,
) -> Vec<Line<'a>> {
    let mut lines: Vec<Line<'a>> = Vec::new();
    for layer in order {
        let hints = keys.layer(layer);
        if hints.is_empty() {
            continue;
        }
        if !lines.is_empty() {
            lines.push(Line::raw(""));
        }
        lines.push(Line::styled(
            format!("[{}]", layer.name()),
            theme.style("title"),
        ));
        for hint in hints {
            lines.push(Line::from(vec![
                Span::styled(format!("  {:<10} ", hint.keys), theme.style("key")),
                Span::styled(hint.desc.clone(), theme.style("text")),
            ]));
        }
    }
    lines
}
