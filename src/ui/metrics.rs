//! Metrics: per version request rate, error ratio and latency percentiles as
//! numbers, each guard's state against them, and over the last minutes as
//! charts with the guard limits drawn.

use std::time::Duration;

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::Modifier;
use ratatui::symbols::Marker;
use ratatui::text::{Line, Span};
use ratatui::widgets::{
    Axis, Block, Borders, Cell, Chart, Dataset, GraphType, Paragraph, Row, Table,
};

use super::{format, guards};
use crate::app::State;
use crate::app::msg::VersionMetrics;
use crate::config::theme::Theme;
use crate::sanitize::clean;

pub fn status<'a>(state: &State, theme: &Theme) -> Line<'a> {
    if let Some(age) = state.metrics.stale_age(state.now) {
        return Line::from(Span::styled(
            format!(" ⚠ stale: last sample {} ago ", format::age(age)),
            theme.style("warning"),
        ));
    }
    match state.metrics.latest() {
        Some(s) => {
            let age = format::age_since(Some(s.at), state.now).unwrap_or_default();
            Line::from(Span::styled(
                format!(" updated {age} ago "),
                theme.style("muted"),
            ))
        }
        None => Line::default(),
    }
}

pub fn render(frame: &mut Frame<'_>, area: Rect, state: &State, theme: &Theme) {
    let Some(latest) = state.metrics.latest() else {
        let mut lines = vec![Line::styled("no metrics yet", theme.style("muted"))];
        lines.extend(guard_lines(state, theme, usize::from(area.width)));
        frame.render_widget(Paragraph::new(lines), area);
        return;
    };
    let table_rows = latest.versions.len() as u16 + 1;
    let mut guards = guard_lines(state, theme, usize::from(area.width));
    // The charts are what people watch: when the full guard list would push
    // them out, it shrinks to one line (the Stages pane has every guard).
    let room = area.height.saturating_sub(table_rows);
    let spare = room.saturating_sub(CHART_ROWS);
    if room >= CHART_ROWS && guards.len() as u16 > spare {
        guards = if spare == 0 {
            Vec::new()
        } else {
            guard_summary(state, theme, usize::from(area.width))
        };
    }
    let guard_rows = (guards.len() as u16).min(room);
    let [numbers, guard_area, charts] = Layout::vertical([
        Constraint::Length(table_rows),
        Constraint::Length(guard_rows),
        Constraint::Min(0),
    ])
    .areas(area);
    render_numbers(frame, numbers, &latest.versions, state, theme);
    frame.render_widget(Paragraph::new(guards), guard_area);
    if charts.height >= CHART_ROWS {
        let halves = if charts.width >= 60 {
            Layout::horizontal([Constraint::Percentage(50), Constraint::Percentage(50)])
                .split(charts)
                .to_vec()
        } else {
            vec![charts]
        };
        render_chart(frame, halves[0], state, theme, Series::ErrorRatio);
        if let Some(right) = halves.get(1) {
            render_chart(frame, *right, state, theme, Series::P99);
        }
    }
}

/// Rows a chart needs to say anything: title, three of plot, axis, labels.
pub const CHART_ROWS: u16 = 6;

/// The worst guard in full, the others counted by state:
/// `guards: ✗ FIRING latency-p99 2.60s (limit 2.00s) for 5m · +1 pending · +1 ok`.
fn guard_summary<'a>(state: &State, theme: &Theme, width: usize) -> Vec<Line<'a>> {
    let worst = state.guard_states.worst_first();
    let Some((first, rest)) = worst.split_first() else {
        return Vec::new();
    };
    let mut counts: Vec<(&'static str, usize)> = Vec::new();
    for update in rest {
        let word = guards::mark(&update.state).1;
        match counts.iter_mut().find(|(w, _)| *w == word) {
            Some((_, n)) => *n += 1,
            None => counts.push((word, 1)),
        }
    }
    let counts: Vec<String> = counts
        .into_iter()
        .map(|(word, n)| format!("+{n} {word}"))
        .collect();
    // The counts always show; the worst guard's numbers give way to them.
    let tail: usize = counts.iter().map(|c| c.chars().count() + 3).sum();
    let room = width.saturating_sub("guards: ".len() + tail);
    let first_text = super::format::truncate(&guards::item(first), room);
    let mut items = vec![(first_text, guards::item_style(first, theme))];
    items.extend(counts.into_iter().map(|c| (c, theme.style("muted"))));
    let mut lines = guards::pack(
        "guards: ",
        items,
        width,
        theme.style("muted"),
        theme.style("muted"),
    );
    lines.truncate(1);
    lines
}

/// Each guard's state against these numbers, worst first so a short line
/// still shows what fires.
fn guard_lines<'a>(state: &State, theme: &Theme, width: usize) -> Vec<Line<'a>> {
    let board = &state.guard_states;
    if board.is_empty() {
        return Vec::new();
    }
    let items = board
        .worst_first()
        .into_iter()
        .map(|u| (guards::item(u), guards::item_style(u, theme)))
        .collect();
    guards::pack(
        "guards: ",
        items,
        width,
        theme.style("muted"),
        theme.style("muted"),
    )
}

fn render_numbers(
    frame: &mut Frame<'_>,
    area: Rect,
    versions: &[VersionMetrics],
    state: &State,
    theme: &Theme,
) {
    let over = theme.style("error");
    let text = theme.style("text");
    let dash = || Cell::from(Span::styled("—", theme.style("muted")));
    let rows = versions.iter().map(|v| {
        let name = clean(&v.version);
        let errors = v.error_ratio.map_or_else(dash, |r| {
            if r > state.guards.max_error_ratio {
                Cell::from(Span::styled(format!("{} ▲", format::percent(r)), over))
            } else {
                Cell::from(Span::styled(format::percent(r), text))
            }
        });
        let p99 = v.p99.map_or_else(dash, |d| {
            if d > state.guards.max_p99 {
                Cell::from(Span::styled(format!("{} ▲", format::latency(d)), over))
            } else {
                Cell::from(Span::styled(format::latency(d), text))
            }
        });
        let plain = |d: Option<Duration>| {
            d.map_or_else(dash, |d| Cell::from(Span::styled(format::latency(d), text)))
        };
        Row::new(vec![
            Cell::from(Span::styled(
                name.clone().into_owned(),
                theme.version(&name),
            )),
            v.requests_per_second
                .map_or_else(dash, |r| Cell::from(Span::styled(format::rate(r), text))),
            errors,
            plain(v.p50),
            plain(v.p95),
            p99,
        ])
    });
    let header = Row::new(["VERSION", "REQ/S", "ERRORS", "P50", "P95", "P99"])
        .style(theme.style("muted").add_modifier(Modifier::BOLD));
    let widths = [
        Constraint::Length(8),
        Constraint::Length(8),
        Constraint::Length(9),
        Constraint::Length(8),
        Constraint::Length(8),
        Constraint::Length(9),
    ];
    frame.render_widget(
        Table::new(rows, widths).header(header).column_spacing(1),
        area,
    );
}

#[derive(Clone, Copy)]
enum Series {
    ErrorRatio,
    P99,
}

fn render_chart(frame: &mut Frame<'_>, area: Rect, state: &State, theme: &Theme, series: Series) {
    let window = state.metrics.window.as_secs_f64();
    let (title, guard) = match series {
        Series::ErrorRatio => (
            format!(
                "error % (guard {})",
                format::percent(state.guards.max_error_ratio)
            ),
            state.guards.max_error_ratio * 100.0,
        ),
        Series::P99 => (
            format!("p99 s (guard {})", format::latency(state.guards.max_p99)),
            state.guards.max_p99.as_secs_f64(),
        ),
    };
    let mut versions: Vec<String> = Vec::new();
    for s in &state.metrics.samples {
        for v in &s.versions {
            if !versions.contains(&v.version) {
                versions.push(v.version.clone());
            }
        }
    }
    let points: Vec<(String, Vec<(f64, f64)>)> = versions
        .into_iter()
        .map(|name| {
            let data = state
                .metrics
                .samples
                .iter()
                .filter_map(|s| {
                    let x = (s.at - state.now).num_milliseconds() as f64 / 1000.0;
                    let v = s.versions.iter().find(|v| v.version == name)?;
                    let y = match series {
                        Series::ErrorRatio => v.error_ratio? * 100.0,
                        Series::P99 => v.p99?.as_secs_f64(),
                    };
                    (x >= -window).then_some((x, y))
                })
                .collect();
            (name, data)
        })
        .collect();
    let threshold = [(-window, guard), (0.0, guard)];
    let top = points
        .iter()
        .flat_map(|(_, d)| d.iter().map(|p| p.1))
        .fold(guard * 1.5, f64::max);
    let mut datasets: Vec<Dataset<'_>> = points
        .iter()
        .map(|(name, data)| {
            let name = clean(name).into_owned();
            Dataset::default()
                .marker(Marker::Braille)
                .graph_type(GraphType::Line)
                .style(theme.version(&name))
                .name(name)
                .data(data)
        })
        .collect();
    datasets.push(
        Dataset::default()
            .marker(Marker::Dot)
            .graph_type(GraphType::Line)
            .style(theme.style("threshold"))
            .name("guard")
            .data(&threshold),
    );
    let muted = theme.style("muted");
    let y_label = |v: f64| match series {
        Series::ErrorRatio => format!("{v:.0}%"),
        Series::P99 => format!("{v:.1}s"),
    };
    let minutes = (window / 60.0).round() as u64;
    let chart = Chart::new(datasets)
        .block(
            Block::default()
                .borders(Borders::TOP)
                .border_style(theme.style("border"))
                .title(Span::styled(title, theme.style("muted"))),
        )
        .x_axis(Axis::default().bounds([-window, 0.0]).style(muted).labels([
            Span::styled(format!("-{minutes}m"), muted),
            Span::styled("now", muted),
        ]))
        .y_axis(Axis::default().bounds([0.0, top]).style(muted).labels([
            Span::styled(y_label(0.0), muted),
            Span::styled(y_label(top), muted),
        ]))
        .legend_position(None);
    frame.render_widget(chart, area);
}
