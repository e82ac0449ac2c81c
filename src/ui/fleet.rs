//! The fleet screen: one row per rollout across clusters, most in need
//! first, with the selected row's reason, steps and analysis below, and the
//! same themes, keys and help overlay as the cockpit.
//!
//! Every piece of cluster text is cleaned of escape sequences here too,
//! though the readers clean it already: a row may come from anywhere.

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;

use super::{cell, pane_block, placeholder};
use crate::app::state::{KeyHelp, Layer};
use crate::config::theme::Theme;
use crate::fleet::view::Input;
use crate::fleet::{FleetScreen, Phase, Row};
use crate::sanitize::clean;

/// Rows of the selected rollout's detail under the table.
const DETAIL_ROWS: u16 = 6;
/// The widest the name columns grow before they are cut.
const MAX_NAME: usize = 24;

const HEADINGS: [&str; COLUMNS] = [
    "CLUSTER",
    "NAMESPACE",
    "APP",
    "KIND",
    "STRATEGY",
    "STEP",
    "WEIGHT",
    "PHASE",
    "PODS",
    "RESTARTS",
    "ERR C/S",
    "P99 C/S",
];
const COLUMNS: usize = 12;
/// The Prometheus columns, shown only when a URL was given.
const METRIC_COLUMNS: [usize; 2] = [10, 11];

/// Draws the whole fleet screen.
pub fn draw(frame: &mut Frame<'_>, fleet: &FleetScreen, theme: &Theme) {
    let area = frame.area();
    frame.buffer_mut().set_style(area, theme.style("text"));
    let notes = notes(fleet, theme);
    let filter_rows = u16::from(fleet.view.input == Input::Typing || !fleet.view.filter.is_empty());
    let detail_rows = if area.height >= 16 { DETAIL_ROWS } else { 0 };
    let [top, notes_area, filter_area, table, detail, bottom] = Layout::vertical([
        Constraint::Length(1),
        Constraint::Length((notes.len() as u16).min(area.height / 4)),
        Constraint::Length(filter_rows),
        Constraint::Min(3),
        Constraint::Length(detail_rows),
        Constraint::Length(1),
    ])
    .areas(area);
    header(frame, top, fleet, theme);
    frame.render_widget(Paragraph::new(notes), notes_area);
    if filter_rows > 0 {
        filter_line(frame, filter_area, fleet, theme);
    }
    rows_table(frame, table, fleet, theme);
    if detail_rows > 0 {
        detail_pane(frame, detail, fleet, theme);
    }
    footer(frame, bottom, fleet, theme);
    if fleet.help {
        let keys = help_keys(&fleet.keys);
        let order = [Layer::Fleet, Layer::FleetFilter, Layer::Global];
        super::help::render_lines(
            frame,
            area,
            &super::help::help_lines(&keys, order, theme),
            theme,
        );
    }
}

/// The first line: where the rows come from, how many, in which order.
fn header(frame: &mut Frame<'_>, area: Rect, fleet: &FleetScreen, theme: &Theme) {
    let base = theme.style("header");
    frame.buffer_mut().set_style(area, base);
    let label = theme.style("muted").patch(base);
    let bold = base.add_modifier(Modifier::BOLD);
    let view = &fleet.view;
    let clusters = view.clusters().len();
    let mut spans = vec![
        Span::styled(" flightdeck ", theme.style("header.app")),
        Span::styled(" fleet ", bold),
        Span::styled("│ ", label),
        Span::styled(format!("{} ", clean(&fleet.scope)), bold),
        Span::styled("│ ", label),
        Span::styled(
            format!(
                "{clusters} cluster{} ",
                if clusters == 1 { "" } else { "s" }
            ),
            bold,
        ),
        Span::styled("│ ", label),
        Span::styled(
            if view.len() == view.total() {
                format!("{} rollouts ", view.total())
            } else {
                format!("{} of {} rollouts ", view.len(), view.total())
            },
            bold,
        ),
        Span::styled("│ sort ", label),
        Span::styled(format!("{} ", view.sort.label()), bold),
    ];
    let away = view
        .clusters()
        .iter()
        .filter(|c| view.unreachable(c).is_some())
        .count();
    let right = if away > 0 {
        Span::styled(
            format!("✗ {away} unreachable "),
            theme.style("status.failed").patch(base),
        )
    } else if view.settled() {
        Span::styled("● watching ", theme.style("status.healthy").patch(base))
    } else {
        Span::styled("◌ connecting ", theme.style("status.unknown").patch(base))
    };
    let room = usize::from(area.width).saturating_sub(right.width());
    while spans.iter().map(Span::width).sum::<usize>() > room && spans.len() > 1 {
        spans.pop();
    }
    let [left_area, right_area] =
        Layout::horizontal([Constraint::Min(0), Constraint::Length(right.width() as u16)])
            .areas(area);
    frame.render_widget(Paragraph::new(Line::from(spans)), left_area);
    frame.render_widget(Paragraph::new(Line::from(right)), right_area);
}

/// Lines under the header: configuration warnings, clusters that do not
/// answer, kinds a cluster forbids us to read.
fn notes<'a>(fleet: &FleetScreen, theme: &Theme) -> Vec<Line<'a>> {
    let warn = theme.style("warning");
    let mut lines: Vec<Line<'a>> = fleet
        .warnings
        .iter()
        .map(|w| Line::styled(format!(" ⚠ {}", clean(w)), warn))
        .collect();
    for cluster in fleet.view.clusters() {
        if let Some(reason) = fleet.view.unreachable(cluster) {
            lines.push(Line::styled(
                format!(
                    " ✗ {} does not answer: {} (its rows show what it last said)",
                    clean(cluster),
                    clean(reason)
                ),
                theme.style("status.failed"),
            ));
        }
    }
    for (cluster, kind, why) in fleet.view.skipped() {
        if let crate::fleet::Skip::Forbidden(message) = why {
            lines.push(Line::styled(
                format!(
                    " ⚠ {}: cannot watch {} ({}); its rollouts are not listed",
                    clean(cluster),
                    clean(kind),
                    clean(message)
                ),
                warn,
            ));
        }
    }
    if let Some(status) = &fleet.status {
        lines.push(Line::styled(format!(" {}", clean(status)), warn));
    }
    lines
}

fn filter_line(frame: &mut Frame<'_>, area: Rect, fleet: &FleetScreen, theme: &Theme) {
    let typing = fleet.view.input == Input::Typing;
    let mut spans = vec![
        Span::styled(" filter ", theme.style("key")),
        Span::styled(clean(&fleet.view.filter).into_owned(), theme.style("text")),
    ];
    if typing {
        spans.push(Span::styled("▏", theme.style("key")));
    }
    frame.render_widget(Paragraph::new(Line::from(spans)), area);
}

/// One table line's cells, as text.
fn cells(row: &Row, fleet: &FleetScreen) -> [String; COLUMNS] {
    let phase = if fleet.view.unreachable(&row.cluster).is_some() {
        "unreachable".to_string()
    } else {
        row.phase.text(fleet.now)
    };
    [
        clean(&row.cluster).into_owned(),
        clean(&row.namespace).into_owned(),
        clean(&row.app).into_owned(),
        row.kind.label().to_string(),
        clean(&row.strategy).into_owned(),
        row.step_text(),
        row.weight_text(),
        format!("{} {phase}", symbol(&row.phase)),
        row.pods_text(),
        row.pods.restarts.to_string(),
        row.error_text(),
        row.p99_text(),
    ]
}

/// A mark beside the phase word, so colour is never the only signal.
fn symbol(phase: &Phase) -> &'static str {
    match phase {
        Phase::Aborted { .. } => "✗",
        Phase::Degraded { .. } => "▼",
        Phase::FailingGuard { .. } => "!",
        Phase::Paused { .. } => "‖",
        Phase::Unreachable { .. } => "?",
        Phase::Progressing => "▶",
        Phase::Promoted => "✓",
    }
}

fn phase_role(phase: &Phase) -> &'static str {
    match phase {
        Phase::Aborted { .. } | Phase::FailingGuard { .. } => "status.failed",
        Phase::Degraded { .. } => "status.degraded",
        Phase::Paused { .. } => "status.paused",
        Phase::Unreachable { .. } => "status.unknown",
        Phase::Progressing => "status.progressing",
        Phase::Promoted => "status.healthy",
    }
}

fn rows_table(frame: &mut Frame<'_>, area: Rect, fleet: &FleetScreen, theme: &Theme) {
    let view = &fleet.view;
    let block = pane_block("Rollouts", true, theme);
    let inner = block.inner(area);
    frame.render_widget(block, area);
    if inner.height == 0 {
        return;
    }
    let silent: Vec<(&str, &str)> = view.silent_clusters().collect();
    if view.is_empty() && silent.is_empty() {
        let text = if !view.filter.is_empty() {
            "no rollout matches the filter"
        } else if view.settled() {
            "nothing to release: no rollout under way"
        } else {
            "waiting for the clusters to answer…"
        };
        frame.render_widget(placeholder(text, theme), inner);
        return;
    }
    let lines: Vec<[String; COLUMNS]> = view.visible().map(|r| cells(r, fleet)).collect();
    let mut widths = HEADINGS.map(str::len);
    for line in &lines {
        for (w, text) in widths.iter_mut().zip(line) {
            *w = (*w).max(unicode_width::UnicodeWidthStr::width(text.as_str()));
        }
    }
    for w in &mut widths[..3] {
        *w = (*w).min(MAX_NAME);
    }
    if !view.with_metrics {
        for column in METRIC_COLUMNS {
            widths[column] = 0;
        }
    }
    // Too narrow for every column: restarts, strategy and kind go first,
    // so the phase and the canary's numbers keep their room.
    for drop in [9, 4, 3] {
        let total: usize = 2 + widths.iter().map(|w| w + 2).sum::<usize>();
        if total <= usize::from(inner.width) {
            break;
        }
        widths[drop] = 0;
    }
    let heading = theme.style("title");
    let mut out = vec![line_of(
        "  ",
        HEADINGS.iter().map(|h| ((*h).to_string(), heading)),
        &widths,
        Style::default(),
    )];
    let body_rows = usize::from(inner.height).saturating_sub(1);
    let selected = view.selected_index();
    let offset = (selected + 1).saturating_sub(body_rows);
    let text = theme.style("text");
    for (i, (row, line)) in view.visible().zip(&lines).enumerate().skip(offset) {
        if out.len() > body_rows {
            break;
        }
        let away = view.unreachable(&row.cluster).is_some();
        let phase_style = if away {
            theme.style("status.unknown")
        } else {
            theme.style(phase_role(&row.phase))
        };
        let styles = [
            text,
            text,
            text.add_modifier(Modifier::BOLD),
            text,
            text,
            text,
            text,
            phase_style,
            text,
            text,
            if row.canary_failing() {
                theme.style("status.failed")
            } else {
                text
            },
            text,
        ];
        let (marker, base) = if i == selected {
            ("▶ ", theme.style("selection"))
        } else {
            ("  ", Style::default())
        };
        out.push(line_of(
            marker,
            line.iter().cloned().zip(styles),
            &widths,
            base,
        ));
    }
    for (cluster, reason) in silent {
        if out.len() > body_rows {
            break;
        }
        let mut texts: [String; COLUMNS] = std::array::from_fn(|_| "-".to_string());
        texts[0] = clean(cluster).into_owned();
        texts[7] = format!("? unreachable: {}", clean(reason));
        let style = theme.style("status.unknown");
        out.push(line_of(
            "  ",
            texts.into_iter().map(|t| (t, style)),
            &widths,
            Style::default(),
        ));
    }
    frame.render_widget(Paragraph::new(out), inner);
}

/// A table line: `marker`, then each cell padded to its column (none for a
/// column of width zero, left out); `base` under all of it (the selection's
/// reverse video).
fn line_of<'a>(
    marker: &'a str,
    texts: impl Iterator<Item = (String, Style)>,
    widths: &[usize; COLUMNS],
    base: Style,
) -> Line<'a> {
    let mut spans = vec![Span::styled(marker, base)];
    for (i, (text, style)) in texts.enumerate() {
        let width = widths[i];
        if width == 0 {
            continue;
        }
        spans.push(cell(&text, width, style.patch(base)));
        if widths[i + 1..].iter().any(|w| *w > 0) {
            spans.push(Span::styled("  ", base));
        }
    }
    Line::from(spans).style(base)
}

/// The selected rollout: why it stands where it does, its steps, its analysis.
fn detail_pane(frame: &mut Frame<'_>, area: Rect, fleet: &FleetScreen, theme: &Theme) {
    let block = pane_block("Selected", false, theme);
    let inner = block.inner(area);
    frame.render_widget(block, area);
    let Some(row) = fleet.view.selected() else {
        frame.render_widget(placeholder("no rollout selected", theme), inner);
        return;
    };
    let muted = theme.style("muted");
    let mut lines = vec![Line::from(vec![
        Span::styled(
            clean(&row.app).into_owned(),
            theme.style("text").add_modifier(Modifier::BOLD),
        ),
        Span::styled(
            format!(
                " · {} · {} on {}",
                row.kind.label(),
                clean(&row.namespace),
                clean(&row.cluster)
            ),
            muted,
        ),
        Span::styled(
            format!("  {} ", row.phase.text(fleet.now)),
            theme.style(phase_role(&row.phase)),
        ),
        Span::styled(
            row.phase
                .reason()
                .map(|r| format!("— {}", clean(r)))
                .unwrap_or_default(),
            theme.style("text"),
        ),
    ])];
    if !row.detail.steps.is_empty() {
        let mut spans = vec![Span::styled("steps ", muted)];
        for (i, step) in row.detail.steps.iter().enumerate() {
            let style = if Some(i) == row.detail.current {
                theme.style("selection")
            } else {
                theme.style("text")
            };
            spans.push(Span::styled(format!("{}. {}", i + 1, clean(step)), style));
            spans.push(Span::raw("  "));
        }
        lines.push(Line::from(spans));
    }
    for metric in &row.detail.analysis {
        lines.push(Line::from(vec![
            Span::styled("analysis ", muted),
            Span::styled(format!("{} ", clean(&metric.name)), theme.style("text")),
            Span::styled(format!("{} ", clean(&metric.phase)), muted),
            Span::styled(
                format!(
                    "measured {} against {}",
                    clean(&metric.measured.join(", ")),
                    clean(&metric.limit)
                ),
                theme.style("text"),
            ),
        ]));
    }
    for note in &row.detail.notes {
        lines.push(Line::styled(clean(note).into_owned(), muted));
    }
    frame.render_widget(Paragraph::new(lines), inner);
}

/// The keys that work now, from the active keymap.
fn footer(frame: &mut Frame<'_>, area: Rect, fleet: &FleetScreen, theme: &Theme) {
    let layer = fleet.key_layer();
    let mut hints: Vec<_> = fleet.keys.layer(layer).iter().collect();
    if layer == Layer::Fleet {
        // Help and Quit before the motions, which every table has.
        let global = fleet
            .keys
            .layer(Layer::Global)
            .iter()
            .filter(|h| ["Help", "Quit"].contains(&h.desc.as_str()));
        let at = hints.len().min(3);
        hints.splice(at..at, global);
    }
    let mut seen = Vec::new();
    hints.retain(|h| {
        let fresh = !seen.contains(&h.desc.as_str());
        seen.push(h.desc.as_str());
        fresh
    });
    let mut spans = vec![Span::raw(" ")];
    if let Some(why) = &fleet.view.prometheus_down {
        // One line: the numbers show `—` and everything else keeps going.
        spans.push(Span::styled(
            format!("⚠ {}  ", clean(why)),
            theme.style("warning"),
        ));
    }
    for hint in hints {
        spans.push(Span::styled(hint.keys.clone(), theme.style("key")));
        spans.push(Span::styled(
            format!(" {}  ", hint.desc),
            theme.style("footer"),
        ));
    }
    frame.render_widget(Paragraph::new(Line::from(spans)), area);
}

/// The help overlay's keys: the fleet's layers, and of `[global]` only
/// what the fleet answers (found by the shipped descriptions: a hint does
/// not carry its action).
fn help_keys(keys: &KeyHelp) -> KeyHelp {
    const ANSWERED: [&str; 3] = ["Quit", "Help", "Close"];
    let mut help = KeyHelp::default();
    for layer in [Layer::Fleet, Layer::FleetFilter] {
        help.layers.insert(layer, keys.layer(layer).to_vec());
    }
    let global = keys
        .layer(Layer::Global)
        .iter()
        .filter(|h| ANSWERED.contains(&h.desc.as_str()))
        .cloned()
        .collect();
    help.layers.insert(Layer::Global, global);
    help
}
