//! Stages: the plan, the current stage marked, how long it has run; the
//! guards with their numbers and the current stage's analysis verdict.

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::Modifier;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Paragraph, Wrap};

use super::format;
use crate::app::State;
use crate::config::theme::Theme;
use crate::rollout::analysis::{Outcome, format_seconds};
use crate::rollout::state::StageVerdict;
use crate::rollout::{PausedBy, Phase};
use crate::sanitize::clean;

pub fn status<'a>(state: &State, theme: &Theme) -> Line<'a> {
    let view = &state.stages;
    let mut spans = Vec::new();
    // First, so it is the last thing a narrow title gives up.
    let firing = state.guard_states.firing();
    if firing > 0 {
        spans.push(Span::styled(
            format!(
                " ✗ {firing} guard{} firing",
                if firing == 1 { "" } else { "s" }
            ),
            theme.style("status.failed"),
        ));
    }
    if let Some(current) = view.current {
        let lead = if spans.is_empty() { " " } else { " · " };
        let mut text = format!("{lead}{}/{}", current + 1, view.stages.len());
        if view.paused {
            text.push_str(" · ‖ paused");
        }
        let role = if view.paused {
            "status.paused"
        } else {
            "muted"
        };
        spans.push(Span::styled(text, theme.style(role)));
    }
    if !spans.is_empty() {
        spans.push(Span::raw(" "));
    }
    Line::from(spans)
}

pub fn render(frame: &mut Frame<'_>, area: Rect, state: &State, theme: &Theme) {
    if let Some(external) = &state.external {
        super::external::render(frame, area, state, external, theme);
        return;
    }
    let view = &state.stages;
    if view.stages.is_empty() {
        frame.render_widget(super::placeholder("no plan loaded", theme), area);
        return;
    }
    let summary = summary(state, theme);
    let guards = guard_block(state, theme, usize::from(area.height));
    let verdict = verdict(state, theme);
    let summary_rows = wrapped_rows(&summary, area.width);

    // Who gets the rows when there are few: where the rollout stands, the
    // current stage, the guards, the verdict's outcome; then the other
    // stages, the verdict's checks, and the history with what is left.
    let mut left = area.height;
    let mut take = |want: usize| {
        let got = u16::try_from(want).unwrap_or(u16::MAX).min(left);
        left -= got;
        got
    };
    let summary_h = take(summary_rows.min(usize::from(area.height / 2 + 1)));
    let current_h = take(view.stages.len().min(1));
    let guards_h = take(guards.len());
    let outcome_h = take(verdict.len().min(1));
    let stages_h = current_h + take(view.stages.len().saturating_sub(1));
    let verdict_h = outcome_h + take(verdict.len().saturating_sub(1));
    let record_h = left;

    let mut rows = area;
    let mut next = |height: u16| {
        let [this, rest] =
            Layout::vertical([Constraint::Length(height), Constraint::Fill(1)]).areas(rows);
        rows = rest;
        this
    };
    // Wrapped when that fits, so a long reason is read whole; cut otherwise,
    // so each line at least starts on screen.
    let summary = if usize::from(summary_h) >= summary_rows {
        Paragraph::new(summary).wrap(Wrap { trim: false })
    } else {
        Paragraph::new(summary)
    };
    frame.render_widget(summary, next(summary_h));
    render_stages(frame, next(stages_h), state, theme);
    frame.render_widget(Paragraph::new(guards), next(guards_h));
    frame.render_widget(Paragraph::new(verdict), next(verdict_h));
    if record_h > 0 {
        frame.render_widget(Paragraph::new(record(state, theme)), next(record_h));
    }
}

/// Rows `lines` take when wrapped at `width`.
fn wrapped_rows(lines: &[Line<'_>], width: u16) -> usize {
    let width = usize::from(width.max(1));
    lines.iter().map(|l| l.width().div_ceil(width).max(1)).sum()
}

/// The plan's stages, the current one marked and kept in sight.
fn render_stages(frame: &mut Frame<'_>, area: Rect, state: &State, theme: &Theme) {
    let view = &state.stages;
    let rows = usize::from(area.height);
    if rows == 0 {
        return;
    }
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

/// One line per guard, in plan order; worst first when they do not all fit.
fn guard_block<'a>(state: &State, theme: &Theme, room: usize) -> Vec<Line<'a>> {
    let board = &state.guard_states;
    let name_w = board
        .iter()
        .map(|u| clean(&u.guard).chars().count())
        .max()
        .unwrap_or(0)
        .min(20);
    let updates: Vec<_> = if board.len() < room {
        board.iter().collect()
    } else {
        board.worst_first()
    };
    updates
        .into_iter()
        .map(|u| super::guards::row(u, name_w, theme))
        .collect()
}

/// The current stage's verdict: its outcome and reason, then each check's
/// numbers (canary, limit, stable).
fn verdict<'a>(state: &State, theme: &Theme) -> Vec<Line<'a>> {
    let Some(rollout) = &state.rollout else {
        return Vec::new();
    };
    let r = &rollout.state;
    let latest = r
        .verdict
        .as_ref()
        .filter(|v| r.stage().is_none_or(|stage| v.stage == stage));
    let Some(StageVerdict { stage, verdict }) = latest else {
        if r.course.analysis && r.stage().is_some() {
            return vec![Line::styled(
                "… analysis: no verdict for this stage yet",
                theme.style("muted"),
            )];
        }
        return Vec::new();
    };
    let (symbol, role) = outcome_mark(verdict.outcome);
    let whose = if r.stage().is_some() {
        String::new()
    } else {
        format!(" of stage {}", stage + 1)
    };
    let age =
        format::age_since(Some(verdict.at - rollout.clock_skew), state.now).unwrap_or_default();
    let mut lines = vec![Line::from(vec![
        Span::styled(
            format!("{symbol} analysis{whose}: {} ", verdict.outcome),
            theme.style(role).add_modifier(Modifier::BOLD),
        ),
        Span::styled(clean(&verdict.reason).into_owned(), theme.style(role)),
        Span::styled(format!(" · {age} ago"), theme.style("muted")),
    ])];
    let name_w = verdict
        .checks
        .iter()
        .map(|c| c.name.chars().count())
        .max()
        .unwrap_or(0)
        .min(24);
    // What failed first, then what could not be judged, then what passed.
    let mut checks: Vec<_> = verdict.checks.iter().collect();
    checks.sort_by_key(|c| match c.outcome {
        Outcome::Fail => 0,
        Outcome::Inconclusive => 1,
        Outcome::Pass => 2,
    });
    lines.extend(checks.into_iter().map(|check| {
        let (symbol, role) = outcome_mark(check.outcome);
        let mut spans = vec![
            Span::styled(format!("  {symbol} "), theme.style(role)),
            super::cell(&clean(&check.name), name_w, theme.style("text")),
            Span::styled(format!(" {}", clean(&check.reason)), theme.style("text")),
        ];
        if let Some(stable) = check.stable {
            spans.push(Span::styled(
                format!(" · stable {}", show_like(&check.name, stable)),
                theme.style("muted"),
            ));
        }
        Line::from(spans)
    }));
    lines
}

fn outcome_mark(outcome: Outcome) -> (&'static str, &'static str) {
    match outcome {
        Outcome::Pass => ("✓", "status.healthy"),
        Outcome::Fail => ("✗", "status.failed"),
        Outcome::Inconclusive => ("?", "warning"),
    }
}

/// A stable-side number in the unit its check's name speaks of; the check
/// carries its canary and limit already written out, not the stable one.
fn show_like(check: &str, value: f64) -> String {
    if check.starts_with("error ratio") {
        format!("{:.2}%", value * 100.0)
    } else if check.starts_with("p99") || check.starts_with("p95") {
        format_seconds(value)
    } else if check.starts_with("memory") {
        crate::units::format_bytes(value.max(0.0) as u64)
    } else if check.starts_with("throughput") {
        format!("{value:.1}/s")
    } else {
        format!("{value:.3}")
    }
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
    // The numbers behind a hold or a rollback; an abort's reason is in its description.
    let why = match &r.phase {
        Phase::Paused {
            by: PausedBy::Guard { alarm },
            ..
        } => Some(format!("✗ {alarm}")),
        Phase::Paused {
            by: PausedBy::Analysis { reason },
            ..
        } => Some(format!("✗ analysis failed: {reason}")),
        Phase::RollingBack { reason, .. } => Some(format!("↓ {reason}")),
        _ => None,
    };
    if let Some(why) = why {
        lines.push(Line::styled(
            clean(&why).into_owned(),
            theme.style("status.failed"),
        ));
    }
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
