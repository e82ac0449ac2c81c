//! Stages: the plan, the current stage marked, how long it has run.

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;

use super::format;
use crate::app::State;
use crate::config::theme::Theme;
use crate::rollout::Phase;
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
    let summary = summary(state, theme);
    let [top, area] = ratatui::layout::Layout::vertical([
        ratatui::layout::Constraint::Length((summary.len() as u16).min(area.height / 2 + 1)),
        ratatui::layout::Constraint::Fill(1),
    ])
    .areas(area);
    frame.render_widget(Paragraph::new(summary), top);
    let (area, below) = if area.height > view.stages.len() as u16 + 1 {
        let [a, b] = ratatui::layout::Layout::vertical([
            ratatui::layout::Constraint::Length(view.stages.len() as u16),
            ratatui::layout::Constraint::Fill(1),
        ])
        .areas(area);
        (a, Some(b))
    } else {
        (area, None)
    };
    if let Some(below) = below {
        frame.render_widget(Paragraph::new(record(state, theme)), below);
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

/// Where the rollout stands and what the driver is doing: the lines above the stages.
fn summary<'a>(state: &State, theme: &Theme) -> Vec<Line<'a>> {
    let Some(rollout) = &state.rollout else {
        return Vec::new();
    };
    let r = &rollout.state;
    let now = state.now + rollout.clock_skew;
    let role = match &r.phase {
        Phase::Paused { .. } => "status.paused",
        Phase::Promoted { .. } => "status.healthy",
        Phase::Aborted { .. } => "status.failed",
        Phase::RollingBack { .. } => "status.degraded",
        Phase::NotStarted => "muted",
        Phase::Progressing { .. } => "status.progressing",
    };
    let mut lines = vec![Line::styled(
        format!("● {}", clean(&r.describe())),
        theme.style(role),
    )];
    let mut facts = Vec::new();
    if let Some(paused) = r.paused_for(now) {
        facts.push(format!("paused {}", format::span(paused)));
    }
    if let Some(left) = r.time_left(now) {
        facts.push(format!("{} left", format::span(left)));
    }
    if let Some(w) = r.weights {
        facts.push(format!("asks {w}"));
    }
    if !facts.is_empty() {
        lines.push(Line::styled(facts.join(" · "), theme.style("text")));
    }
    let drive = &state.drive;
    if let Some(busy) = &drive.busy {
        let last = drive
            .lines
            .back()
            .map(|l| clean(l).into_owned())
            .unwrap_or_default();
        lines.push(Line::styled(
            format!("⟳ {busy}: {last}"),
            theme.style("status.progressing"),
        ));
    } else if let Some(error) = &drive.error {
        lines.push(Line::styled(
            format!("✗ {}", clean(error)),
            theme.style("error"),
        ));
    } else if let Some(last) = drive.lines.back() {
        lines.push(Line::styled(
            format!("✓ {}", clean(last)),
            theme.style("muted"),
        ));
    }
    lines
}

/// Revisions (rolling) and the newest history entries, under the stages.
fn record<'a>(state: &State, theme: &Theme) -> Vec<Line<'a>> {
    let Some(rollout) = &state.rollout else {
        return Vec::new();
    };
    let mut lines = Vec::new();
    for (revision, images, current) in rollout.revisions.iter().rev() {
        lines.push(Line::styled(
            format!(
                "{} rev {revision:<3} {}",
                if *current { "*" } else { " " },
                clean(images)
            ),
            theme.style(if *current { "text" } else { "muted" }),
        ));
    }
    lines.extend(
        rollout
            .history
            .iter()
            .map(|h| Line::styled(clean(h).into_owned(), theme.style("muted"))),
    );
    lines
}
