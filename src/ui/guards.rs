//! How a guard's state reads on screen, shared by the Stages and Metrics
//! panes: a symbol and a word for each state (never colour alone), the
//! guard's name and numbers cleaned of anything the cluster slipped in.

use ratatui::style::{Modifier, Style};
use ratatui::text::{Line, Span};

use super::format;
use crate::config::theme::Theme;
use crate::rollout::guards::GuardState;
use crate::sanitize::clean;
use crate::workers::guard_watch::GuardUpdate;

/// Symbol, word and theme role of a guard state.
pub fn mark(state: &GuardState) -> (&'static str, &'static str, &'static str) {
    match state {
        GuardState::Ok => ("✓", state.word(), "status.healthy"),
        GuardState::Pending { .. } => ("!", state.word(), "status.degraded"),
        // Shouted: the one state that acts on the rollout.
        GuardState::Firing { .. } => ("✗", "FIRING", "status.failed"),
        GuardState::NoData { .. } => ("?", state.word(), "warning"),
    }
}

fn style(state: &GuardState, theme: &Theme) -> Style {
    let style = theme.style(mark(state).2);
    if matches!(state, GuardState::Firing { .. }) {
        style.add_modifier(Modifier::BOLD)
    } else {
        style
    }
}

/// The numbers after the state's word: without a second "no data".
fn detail(update: &GuardUpdate) -> String {
    let numbers = update.numbers();
    let numbers = numbers
        .strip_prefix("no data: ")
        .map_or(numbers.as_str(), |reason| reason);
    clean(numbers).into_owned()
}

/// One row of the Stages pane's guard block:
/// `✗ FIRING  latency-p99  gradual-rollback  2.60s (limit 2.00s) for 5m`.
pub fn row<'a>(update: &GuardUpdate, name_width: usize, theme: &Theme) -> Line<'a> {
    let (symbol, word, _) = mark(&update.state);
    let marked = style(&update.state, theme);
    let numbers = if matches!(update.state, GuardState::Firing { .. }) {
        marked
    } else {
        theme.style("text")
    };
    Line::from(vec![
        Span::styled(format!("{symbol} {word:<7} "), marked),
        super::cell(&clean(&update.guard), name_width, theme.style("text")),
        Span::styled(
            format!(" {:<16}  ", update.action.name()),
            theme.style("muted"),
        ),
        Span::styled(detail(update), numbers),
    ])
}

/// A guard as one item of the Metrics pane's guard line:
/// `✓ error-ratio 0.4% (limit 5.0%)`, `✗ FIRING latency-p99 2.60s (limit 2.00s) for 5m`.
pub fn item(update: &GuardUpdate) -> String {
    let (symbol, word, _) = mark(&update.state);
    let name = clean(&update.guard);
    match update.state {
        GuardState::Ok => format!("{symbol} {name} {}", detail(update)),
        GuardState::NoData { .. } => format!("{symbol} {name} {word}"),
        GuardState::Pending { .. } | GuardState::Firing { .. } => {
            format!("{symbol} {word} {name} {}", detail(update))
        }
    }
}

/// Lays `items` out on lines of `width` columns, as many to a line as fit,
/// separated by ` · `, the first line led by `lead`. An item wider than a
/// line is cut with an ellipsis.
pub fn pack<'a>(
    lead: &str,
    items: Vec<(String, Style)>,
    width: usize,
    lead_style: Style,
    sep_style: Style,
) -> Vec<Line<'a>> {
    let mut lines: Vec<Line<'a>> = Vec::new();
    let mut current = Line::from(Span::styled(lead.to_string(), lead_style));
    let mut used = lead.chars().count();
    let mut empty = true;
    for (text, style) in items {
        let len = text.chars().count();
        if !empty && used + 3 + len > width {
            lines.push(std::mem::take(&mut current));
            used = 0;
            empty = true;
        }
        if !empty {
            current.spans.push(Span::styled(" · ", sep_style));
            used += 3;
        }
        let room = width.saturating_sub(used);
        let text = format::truncate(&text, room);
        used += text.chars().count();
        current.spans.push(Span::styled(text, style));
        empty = false;
    }
    if !empty {
        lines.push(current);
    }
    lines
}

/// Style of a guard's item in the Metrics pane's line.
pub fn item_style(update: &GuardUpdate, theme: &Theme) -> Style {
    match update.state {
        GuardState::Ok => theme.style("text"),
        ref state => style(state, theme),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rollout::guards::{GuardAction, GuardMetric};
    use chrono::{TimeZone, Utc};

    fn firing() -> GuardUpdate {
        let at = Utc.timestamp_opt(1_700_000_000, 0).unwrap();
        GuardUpdate {
            guard: "latency\u{1b}[2J-p99".into(),
            metric: GuardMetric::LatencyP99,
            action: GuardAction::GradualRollback,
            state: GuardState::Firing {
                since: at - chrono::Duration::minutes(5),
                value: 2.6,
            },
            latest: Some(2.6),
            threshold: 2.0,
            reason: None,
            at,
        }
    }

    fn text(line: &Line<'_>) -> String {
        line.spans.iter().map(|s| s.content.as_ref()).collect()
    }

    #[test]
    fn a_firing_guard_says_so_in_words_with_its_numbers_and_action() {
        let theme = Theme::default();
        let line = row(&firing(), 12, &theme);
        assert_eq!(
            text(&line).trim_end(),
            "✗ FIRING  latency-p99  gradual-rollback  2.60s (limit 2.00s) for 5m00s"
        );
        assert_eq!(
            item(&firing()),
            "✗ FIRING latency-p99 2.60s (limit 2.00s) for 5m00s"
        );
    }

    #[test]
    fn no_data_gives_the_reason_once() {
        let mut update = firing();
        update.state = GuardState::NoData { since: None };
        update.reason = Some("Prometheus unreachable: connection refused".into());
        let line = row(&update, 12, &Theme::default());
        assert_eq!(
            text(&line),
            "? no data latency-p99  gradual-rollback  Prometheus unreachable: connection refused"
        );
    }

    #[test]
    fn items_pack_onto_lines_and_long_ones_are_cut() {
        let s = Style::default();
        let items = vec![
            ("✓ a 1%".to_string(), s),
            ("✓ b 2%".to_string(), s),
            ("✗ FIRING c 9% (limit 5%) for 3m".to_string(), s),
        ];
        let lines = pack("guards: ", items, 24, s, s);
        let texts: Vec<_> = lines.iter().map(text).collect();
        assert_eq!(
            texts,
            ["guards: ✓ a 1% · ✓ b 2%", "✗ FIRING c 9% (limit 5%…"]
        );
    }
}
