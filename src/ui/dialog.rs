//! The dialog over everything: a yes/no question before a destructive
//! request, or a line of text (an image, a revision) to type.

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Clear, Paragraph, Wrap};

use super::pane_block;
use crate::app::State;
use crate::app::drive::Dialog;
use crate::config::theme::Theme;
use crate::sanitize::clean;

pub fn render(frame: &mut Frame<'_>, screen: Rect, state: &State, theme: &Theme) {
    let Some(dialog) = &state.dialog else {
        return;
    };
    let (title, mut lines) = match dialog {
        Dialog::Confirm { question, .. } => (
            "Confirm",
            vec![
                Line::styled(question.clone(), theme.style("title")),
                Line::default(),
                Line::from(vec![
                    Span::styled("y", theme.style("key")),
                    Span::styled(" / ", theme.style("muted")),
                    Span::styled("Enter", theme.style("key")),
                    Span::styled(" yes   ", theme.style("muted")),
                    Span::styled("n", theme.style("key")),
                    Span::styled(" / ", theme.style("muted")),
                    Span::styled("Esc", theme.style("key")),
                    Span::styled(" no", theme.style("muted")),
                ]),
            ],
        ),
        Dialog::Prompt {
            question,
            text,
            error,
            ..
        } => {
            let mut lines = vec![
                Line::styled(question.clone(), theme.style("title")),
                Line::from(vec![
                    Span::styled("> ", theme.style("key")),
                    Span::styled(clean(text).into_owned(), theme.style("search")),
                    Span::styled("▏", theme.style("key")),
                ]),
            ];
            if let Some(e) = error {
                lines.push(Line::styled(format!("✗ {e}"), theme.style("error")));
            }
            lines.push(Line::from(vec![
                Span::styled("Enter", theme.style("key")),
                Span::styled(" go   ", theme.style("muted")),
                Span::styled("Esc", theme.style("key")),
                Span::styled(" cancel", theme.style("muted")),
            ]));
            ("Rollout", lines)
        }
    };
    lines.insert(0, Line::default());
    let width = screen.width.saturating_sub(4).clamp(10, 64);
    let height = (lines.len() as u16 + 3).min(screen.height);
    let area = Rect {
        x: screen.x + (screen.width.saturating_sub(width)) / 2,
        y: screen.y + (screen.height.saturating_sub(height)) / 2,
        width,
        height,
    };
    frame.render_widget(Clear, area);
    let block = pane_block(title, true, theme);
    let inner = block.inner(area);
    frame.render_widget(block, area);
    frame.render_widget(Paragraph::new(lines).wrap(Wrap { trim: false }), inner);
}
