//! The Stages pane of an Argo Rollout or a Flagger Canary: where it
//! stands (the phase as its controller computes it, time left on a timed
//! pause, the canary's weight), its steps with the current one, the
//! analysis with each metric's measured values and limit, what the source
//! says, and what the last key did.

use std::fmt::Write;

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Paragraph, Wrap};

use crate::app::State;
use crate::app::external::ExternalView;
use crate::config::theme::Theme;
use crate::fleet::Phase;
use crate::sanitize::clean;

pub fn render(
    frame: &mut Frame<'_>,
    area: Rect,
    state: &State,
    view: &ExternalView,
    theme: &Theme,
) {
    let Some(row) = &view.row else {
        let t = &view.target;
        let text = format!("reading {} {}/{}…", t.source.kind(), t.namespace, t.name);
        frame.render_widget(super::placeholder(&text, theme), area);
        return;
    };
    let lines = lines(state, view, row, theme);
    frame.render_widget(Paragraph::new(lines).wrap(Wrap { trim: false }), area);
}

fn phase_role(phase: &Phase) -> &'static str {
    match phase {
        Phase::Progressing => "status.progressing",
        Phase::Paused { .. } => "status.paused",
        Phase::FailingGuard { .. } | Phase::Degraded { .. } => "status.degraded",
        Phase::Aborted { .. } | Phase::Unreachable { .. } => "status.failed",
        Phase::Promoted => "status.healthy",
    }
}

fn lines<'a>(
    state: &State,
    view: &ExternalView,
    row: &crate::fleet::Row,
    theme: &Theme,
) -> Vec<Line<'a>> {
    let mut out = Vec::new();
    let mut head = format!("● {}", row.phase.text(state.now));
    if let Some(reason) = row.phase.reason() {
        let _ = write!(head, ": {}", clean(reason));
    }
    out.push(Line::styled(head, theme.style(phase_role(&row.phase))));
    let mut facts = vec![format!(
        "{} · {}",
        view.target.source.label(),
        clean(&row.strategy)
    )];
    if row.step.is_some() {
        facts.push(format!("step {}", row.step_text()));
    }
    if let Some(w) = row.weight {
        facts.push(format!("canary weight {w}%"));
    }
    out.push(Line::styled(facts.join(" · "), theme.style("muted")));
    let detail = &row.detail;
    for (i, step) in detail.steps.iter().enumerate() {
        let (mark, role) = match detail.current {
            Some(c) if i < c => ("✓", "status.healthy"),
            Some(c) if i == c => match row.phase {
                Phase::Paused { .. } => ("‖", "status.paused"),
                Phase::Aborted { .. } => ("✗", "status.failed"),
                _ => ("▶", "status.progressing"),
            },
            _ => ("·", "muted"),
        };
        let text_role = if detail.current == Some(i) {
            "title"
        } else {
            "text"
        };
        out.push(Line::from(vec![
            Span::styled(format!("{mark} "), theme.style(role)),
            Span::styled(
                format!("{:>2} {}", i + 1, clean(step)),
                theme.style(text_role),
            ),
        ]));
    }
    if !detail.analysis.is_empty() {
        out.push(Line::styled("analysis", theme.style("title")));
        for m in &detail.analysis {
            let mut text = format!("  {}", clean(&m.name));
            if !m.phase.is_empty() {
                let _ = write!(text, " · {}", clean(&m.phase));
            }
            if !m.limit.is_empty() {
                let _ = write!(text, " · limit {}", clean(&m.limit));
            }
            if !m.measured.is_empty() {
                let measured: Vec<String> =
                    m.measured.iter().map(|v| clean(v).into_owned()).collect();
                let _ = write!(text, " · measured {}", measured.join(", "));
            }
            out.push(Line::styled(text, theme.style("text")));
        }
    }
    for note in &detail.notes {
        out.push(Line::styled(clean(note).into_owned(), theme.style("muted")));
    }
    if let Some(changed) = row.changed {
        out.push(Line::styled(
            format!("last change {}", changed.format("%Y-%m-%d %H:%M:%S UTC")),
            theme.style("muted"),
        ));
    }
    if let Some(why) = &view.abort_refusal {
        out.push(Line::styled(clean(why).into_owned(), theme.style("muted")));
    }
    if let Some(line) = state.drive.lines.back() {
        out.push(Line::styled(
            format!("» {}", clean(line)),
            theme.style("text"),
        ));
    }
    if let Some(err) = &state.drive.error {
        out.push(Line::styled(
            format!("✗ {}", clean(err)),
            theme.style("status.failed"),
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::app::external::ExternalUpdate;
    use crate::external::ask::{Source, Target};
    use crate::fleet::{AnalysisMetric, Detail, Kind, Row};
    use chrono::{TimeZone, Utc};
    use ratatui::Terminal;
    use ratatui::backend::TestBackend;

    fn screen(state: &State) -> String {
        let theme = Theme::preset("default", true).expect("the default theme ships");
        let mut terminal = Terminal::new(TestBackend::new(70, 16)).expect("a test terminal");
        let Some(view) = &state.external else {
            panic!("no external view");
        };
        terminal
            .draw(|f| render(f, f.area(), state, view, &theme))
            .expect("drawn");
        let buffer = terminal.backend().buffer();
        (0..buffer.area.height)
            .map(|y| {
                (0..buffer.area.width)
                    .map(|x| buffer[(x, y)].symbol())
                    .collect::<String>()
                    .trim_end()
                    .to_string()
            })
            .collect::<Vec<_>>()
            .join("\n")
    }

    fn state(row: Row) -> State {
        let mut s = State::new(Utc.with_ymd_and_hms(2026, 3, 1, 9, 4, 0).unwrap());
        let mut view = ExternalView::new(Target {
            source: Source::Argo,
            namespace: "shop".into(),
            name: "checkout".into(),
        });
        view.apply(ExternalUpdate {
            row,
            abort_refusal: None,
        });
        s.external = Some(view);
        s
    }

    #[test]
    fn a_paused_rollout_shows_time_left_its_steps_and_the_measured_values() {
        let mut row = Row::new("c", "shop", "checkout", Kind::Argo);
        row.strategy = "canary".into();
        row.step = Some((2, 3));
        row.weight = Some(20);
        row.phase = Phase::Paused {
            until: Some(Utc.with_ymd_and_hms(2026, 3, 1, 9, 10, 0).unwrap()),
            reason: "CanaryPauseStep".into(),
        };
        row.detail = Detail {
            steps: vec![
                "setWeight 20%".into(),
                "pause 10m00s".into(),
                "analysis error-rate".into(),
            ],
            current: Some(1),
            analysis: vec![AnalysisMetric {
                name: "error-rate".into(),
                phase: "Running".into(),
                measured: vec!["0.004".into(), "0.006".into()],
                limit: "result < 0.05".into(),
            }],
            notes: vec![],
        };
        let text = screen(&state(row));
        for want in [
            "● paused 6m00s left: CanaryPauseStep",
            "Argo Rollout · canary · step 2/3 · canary weight 20%",
            "✓  1 setWeight 20%",
            "‖  2 pause 10m00s",
            "·  3 analysis error-rate",
            "error-rate · Running · limit result < 0.05 · measured 0.004, 0.006",
        ] {
            assert!(text.contains(want), "{want:?} not in:\n{text}");
        }
    }

    #[test]
    fn an_aborted_rollout_says_so_and_the_drivers_last_word_shows() {
        let mut row = Row::new("c", "shop", "checkout", Kind::Argo);
        row.strategy = "canary".into();
        row.phase = Phase::Aborted {
            reason: "RolloutAborted: \u{1b}[31mmetric failed".into(),
        };
        let mut s = state(row);
        s.drive.apply(crate::app::msg::DriveReport::Done {
            action: "abort".into(),
            to: "status.abort: true".into(),
        });
        let text = screen(&s);
        assert!(
            text.contains("● aborted: RolloutAborted: metric failed"),
            "{text}"
        );
        assert!(text.contains("» abort: status.abort: true"), "{text}");
    }
}
