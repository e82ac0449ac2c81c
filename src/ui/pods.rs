//! Pods: worst first, each with a symbol and a word for its health.

use ratatui::Frame;
use ratatui::layout::{Constraint, Rect};
use ratatui::style::{Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Cell, Row, Table, TableState};

use super::format;
use crate::app::State;
use crate::app::msg::PodInfo;
use crate::app::state::Health;
use crate::config::theme::Theme;
use crate::sanitize::clean;

pub fn symbol(health: Health) -> &'static str {
    match health {
        Health::Healthy => "✓",
        Health::Progressing => "◐",
        Health::Degraded => "!",
        Health::Failed => "✗",
        Health::Unknown => "?",
    }
}

pub fn role(health: Health) -> &'static str {
    match health {
        Health::Healthy => "status.healthy",
        Health::Progressing => "status.progressing",
        Health::Degraded => "status.degraded",
        Health::Failed => "status.failed",
        Health::Unknown => "status.unknown",
    }
}

pub fn status<'a>(state: &State, theme: &Theme) -> Line<'a> {
    let total = state.pods.len();
    if total == 0 {
        return Line::default();
    }
    let mut spans = vec![Span::styled(format!(" {total} pods"), theme.style("muted"))];
    for health in [Health::Failed, Health::Degraded, Health::Progressing] {
        let n = state.pods.count(health);
        if n > 0 {
            let word = match health {
                Health::Failed => "failing",
                Health::Degraded => "degraded",
                _ => "starting",
            };
            spans.push(Span::styled(" · ", theme.style("muted")));
            spans.push(Span::styled(
                format!("{} {n} {word}", symbol(health)),
                theme.style(role(health)),
            ));
        }
    }
    spans.push(Span::raw(" "));
    Line::from(spans)
}

/// Columns in the order they are dropped when the pane is narrow (last first).
#[derive(Clone, Copy, PartialEq, Eq)]
enum Col {
    Status,
    Name,
    Ready,
    Restarts,
    Version,
    Age,
    Memory,
    Cpu,
    Node,
}

impl Col {
    const BY_PRIORITY: [Col; 9] = [
        Col::Status,
        Col::Name,
        Col::Ready,
        Col::Restarts,
        Col::Version,
        Col::Age,
        Col::Memory,
        Col::Cpu,
        Col::Node,
    ];
    const DISPLAY: [Col; 9] = [
        Col::Status,
        Col::Name,
        Col::Version,
        Col::Ready,
        Col::Restarts,
        Col::Age,
        Col::Cpu,
        Col::Memory,
        Col::Node,
    ];

    fn title(self) -> &'static str {
        match self {
            Col::Status => "STATUS",
            Col::Name => "NAME",
            Col::Ready => "READY",
            Col::Restarts => "RESTARTS",
            Col::Version => "VERSION",
            Col::Age => "AGE",
            Col::Memory => "MEMORY",
            Col::Cpu => "CPU",
            Col::Node => "NODE",
        }
    }

    fn width(self) -> u16 {
        match self {
            Col::Status => 20,
            Col::Name => 10,
            Col::Ready | Col::Cpu => 5,
            Col::Restarts => 8,
            Col::Version => 7,
            Col::Age => 6,
            Col::Memory => 13,
            Col::Node => 12,
        }
    }
}

fn columns(width: u16, status_width: u16) -> Vec<Col> {
    let mut used = 0u16;
    let mut keep = Vec::new();
    for col in Col::BY_PRIORITY {
        let need = if col == Col::Status {
            status_width
        } else {
            col.width()
        } + 1;
        if used + need > width && !keep.is_empty() {
            break;
        }
        used += need;
        keep.push(col);
    }
    Col::DISPLAY
        .iter()
        .copied()
        .filter(|c| keep.contains(c))
        .collect()
}

struct Ctx<'s> {
    state: &'s State,
    theme: &'s Theme,
    name_width: usize,
}

fn cell<'a>(col: Col, health: Health, pod: &PodInfo, ctx: &Ctx<'_>) -> Cell<'a> {
    let (state, theme) = (ctx.state, ctx.theme);
    let text = theme.style("text");
    let muted = theme.style("muted");
    match col {
        Col::Status => {
            let mut style = theme.style(role(health));
            if health == Health::Failed {
                style = style.add_modifier(Modifier::BOLD);
            }
            Cell::from(Line::from(vec![
                Span::styled(format!("{} ", symbol(health)), style),
                Span::styled(clean(&pod.status).into_owned(), style),
            ]))
        }
        Col::Name => {
            let style = if health == Health::Failed {
                theme.style(role(health))
            } else {
                text
            };
            Cell::from(Span::styled(
                format::pod_label(&clean(&pod.name), &state.header.app, ctx.name_width),
                style,
            ))
        }
        Col::Version => {
            let v = clean(&pod.version);
            Cell::from(Span::styled(v.clone().into_owned(), theme.version(&v)))
        }
        Col::Ready => {
            let style = if pod.ready < pod.containers {
                theme.style("status.degraded")
            } else {
                text
            };
            Cell::from(Span::styled(
                format!("{}/{}", pod.ready, pod.containers),
                style,
            ))
        }
        Col::Restarts => {
            let style = if pod.restarts > 0 {
                theme.style("status.degraded")
            } else {
                muted
            };
            Cell::from(Span::styled(pod.restarts.to_string(), style))
        }
        Col::Age => Cell::from(Span::styled(
            format::age_since(pod.created, state.now).unwrap_or_else(|| "—".into()),
            muted,
        )),
        Col::Cpu => Cell::from(Span::styled(
            pod.cpu_millicores
                .map_or_else(|| "—".into(), format::millicores),
            text,
        )),
        Col::Memory => memory_cell(pod, theme),
        Col::Node => Cell::from(Span::styled(clean(&pod.node).into_owned(), muted)),
    }
}

fn memory_cell<'a>(pod: &PodInfo, theme: &Theme) -> Cell<'a> {
    let Some(used) = pod.memory_bytes else {
        return Cell::from(Span::styled("—", theme.style("muted")));
    };
    match pod.memory_limit_bytes.filter(|l| *l > 0) {
        Some(limit) => {
            let ratio = used as f64 / limit as f64;
            let style = if ratio >= 0.9 {
                theme.style("status.failed")
            } else if ratio >= 0.75 {
                theme.style("status.degraded")
            } else {
                theme.style("text")
            };
            Cell::from(Span::styled(
                format!("{} {:.0}%", format::bytes(used), ratio * 100.0),
                style,
            ))
        }
        None => Cell::from(Span::styled(format::bytes(used), theme.style("text"))),
    }
}

pub fn render(frame: &mut Frame<'_>, area: Rect, state: &State, theme: &Theme, focused: bool) {
    if state.pods.is_empty() {
        frame.render_widget(super::placeholder("no pods for this app yet", theme), area);
        return;
    }
    let visible = usize::from(area.height.saturating_sub(1)).max(1);
    let cursor = state.pods_cursor();
    let offset = cursor.saturating_sub(visible - 1);
    // The status column is as wide as the longest status on screen.
    let status_width = state
        .pods
        .iter()
        .skip(offset)
        .take(visible)
        .map(|(_, p)| p.status.chars().count() as u16 + 2)
        .max()
        .unwrap_or(8)
        .clamp(8, 20);
    let width_of = |c: Col| {
        if c == Col::Status {
            status_width
        } else {
            c.width()
        }
    };
    let cols = columns(area.width, status_width);
    let fixed: u16 = cols
        .iter()
        .filter(|c| **c != Col::Name)
        .map(|c| width_of(*c) + 1)
        .sum();
    let ctx = Ctx {
        state,
        theme,
        name_width: usize::from(area.width.saturating_sub(fixed + 1)).max(4),
    };
    let rows: Vec<Row<'_>> = state
        .pods
        .iter()
        .skip(offset)
        .take(visible)
        .map(|(health, pod)| Row::new(cols.iter().map(|c| cell(*c, health, pod, &ctx))))
        .collect();
    let widths: Vec<Constraint> = cols
        .iter()
        .map(|c| {
            if *c == Col::Name {
                Constraint::Min(c.width())
            } else {
                Constraint::Length(width_of(*c))
            }
        })
        .collect();
    let header = Row::new(cols.iter().map(|c| Cell::from(c.title())))
        .style(theme.style("muted").add_modifier(Modifier::BOLD));
    let selection: Style = if focused {
        theme.style("selection")
    } else {
        Style::default()
    };
    let table = Table::new(rows, widths)
        .header(header)
        .row_highlight_style(selection)
        .column_spacing(1);
    let mut table_state = TableState::default();
    if focused {
        table_state.select(Some(cursor - offset));
    }
    frame.render_stateful_widget(table, area, &mut table_state);
}
