//! The `?` overlay: every binding of the active keymap with its description,
//! the focused pane's first.

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Clear, Paragraph};

use super::pane_block;
use crate::app::State;
use crate::app::state::Layer;
use crate::config::theme::Theme;

const COLUMN: u16 = 34;

pub fn render(frame: &mut Frame<'_>, screen: Rect, state: &State, theme: &Theme) {
    let area = centered(screen, 90, 80);
    frame.render_widget(Clear, area);
    let block = pane_block("Help", true, theme);
    let inner = block.inner(area);
    frame.render_widget(block, area);

    let focused = Layer::of_pane(state.focus);
    let first = [focused, Layer::Global];
    let order = first.into_iter().chain(
        Layer::ALL
            .into_iter()
            .filter(|l| !first.contains(l) && *l != Layer::Help),
    );
    let mut lines: Vec<Line<'_>> = Vec::new();
    for layer in order {
        let hints = state.keys.layer(layer);
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
    if lines.is_empty() {
        frame.render_widget(
            super::placeholder("the keymap has no descriptions", theme),
            inner,
        );
        return;
    }
    // Flow the list into as many columns as fit, like a manual page's index.
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

fn centered(area: Rect, percent_x: u16, percent_y: u16) -> Rect {
    let [_, mid, _] = Layout::vertical([
        Constraint::Percentage((100 - percent_y) / 2),
        Constraint::Percentage(percent_y),
        Constraint::Fill(1),
    ])
    .areas(area);
    let [_, center, _] = Layout::horizontal([
        Constraint::Percentage((100 - percent_x) / 2),
        Constraint::Percentage(percent_x),
        Constraint::Fill(1),
    ])
    .areas(mid);
    center
}
