//! Events: newest first, warnings marked with a sign as well as a colour.

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;

use super::format;
use crate::app::State;
use crate::config::theme::Theme;
use crate::sanitize::clean;

pub fn status<'a>(state: &State, theme: &Theme) -> Line<'a> {
    let warnings = state.events.iter().filter(|e| e.warning).count();
    if warnings == 0 {
        return Line::default();
    }
    Line::from(Span::styled(
        format!(" ⚠ {warnings} warnings "),
        theme.style("warning"),
    ))
}

pub fn render(frame: &mut Frame<'_>, area: Rect, state: &State, theme: &Theme) {
    if state.events.is_empty() {
        frame.render_widget(super::placeholder("no events", theme), area);
        return;
    }
    let lines: Vec<Line<'_>> = state
        .events
        .iter()
        .skip(state.events_offset)
        .take(usize::from(area.height))
        .map(|e| {
            let age = format::age_since(Some(e.last_seen), state.now).unwrap_or_default();
            let (mark, style) = if e.warning {
                ("⚠", theme.style("warning"))
            } else {
                ("·", theme.style("muted"))
            };
            let count = if e.count > 1 {
                format!(" ×{}", e.count)
            } else {
                String::new()
            };
            Line::from(vec![
                Span::styled(format!("{age:>6} "), theme.style("muted")),
                Span::styled(format!("{mark} "), style),
                Span::styled(clean(&e.reason).into_owned(), style),
                Span::raw(" "),
                Span::styled(clean(&e.object).into_owned(), theme.style("muted")),
                Span::raw(" "),
                Span::styled(clean(&e.message).into_owned(), theme.style("text")),
                Span::styled(count, theme.style("muted")),
            ])
        })
        .collect();
    frame.render_widget(Paragraph::new(lines), area);
}
