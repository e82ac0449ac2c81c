//! Stages: the plan, the current stage marked, how long it has run.

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;

use super::format;
use crate::app::State;
use crate::config::theme::Theme;
use crate::sanitize::clean;

pub fn status<'a>(state: &State, theme: &Theme) -> Line<'a> {
    let view = &state.stages;
    let Some(current) = view.current else {
        return Line::default();
    };
    let mut text = format!(" {}/{}", current + 1, view.stages.len());
    if view.paused {
        text.push_str(" · ‖ paused");
    }
    text.push(' ');
    let role = if view.paused {
        "status.paused"
    } else {
        "muted"
    };
    Line::from(Span::styled(text, theme.style(role)))
}

pub fn render(frame: &mut Frame<'_>, area: Rect, state: &State, theme: &Theme) {
    let view = &state.stages;
    if view.stages.is_empty() {
        frame.render_widget(super::placeholder("no plan loaded", theme), area);
        return;
    }
    let rows = usize::from(area.height);
    // Keep the current stage in sight: start a little above it.
    let start = match view.current {
        Some(c) if c + 1 > rows => (c + 1 - rows).max(state.stages_offset),
        _ => state.stages_offset,
    }
    .min(view.stages.len().saturating_sub(1));
    let name_w = view
        .stages
        .iter()
        .map(|s| s.name.chars().count())
        .max()
        .unwrap_or(0)
        .min(16);
    let lines: Vec<Line<'_>> = view
        .stages
        .iter()
        .enumerate()
        .skip(start)
        .take(rows)
        .map(|(i, stage)| {
            let (mark, style) = match view.current {
                Some(c) if i < c => ("✓", theme.style("status.healthy")),
                Some(c) if i == c && view.paused => ("‖", theme.style("status.paused")),
                Some(c) if i == c => ("▶", theme.style("status.progressing")),
                _ => ("·", theme.style("muted")),
            };
            let text_style = if view.current == Some(i) {
                theme.style("title")
            } else if view.current.is_some_and(|c| i < c) {
                theme.style("muted")
            } else {
                theme.style("text")
            };
            let pause = match stage.pause {
                Some(d) => format!("hold {}", format::span(d)),
                None => "wait for a person".to_string(),
            };
            let mut spans = vec![
                Span::styled(format!("{mark} "), style),
                super::cell(&clean(&stage.name), name_w, text_style),
                Span::styled(format!(" {:>3}% ", stage.weight), text_style),
                Span::styled(pause, theme.style("muted")),
            ];
            if view.current == Some(i)
                && let Some(entered) = view.entered_at
            {
                let spent = format::age_since(Some(entered), state.now).unwrap_or_default();
                spans.push(Span::styled(format!(" · in stage {spent}"), style));
            }
            Line::from(spans)
        })
        .collect();
    frame.render_widget(Paragraph::new(lines), area);
}
