//! Logs: every pod's lines merged in time order, prefixed by pod in its
//! version's colour. Only the lines on screen are formatted and styled.

use std::borrow::Cow;

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::Style;
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;
use unicode_width::UnicodeWidthStr;

use super::format;
use crate::app::State;
use crate::app::logs::{Entry, EntryKind, Logs};
use crate::app::logtext;
use crate::config::theme::Theme;

const TIMESTAMP_WIDTH: usize = 13;

pub fn status<'a>(state: &State, theme: &Theme) -> Line<'a> {
    let logs = &state.logs;
    let muted = theme.style("muted");
    let sep = || Span::styled(" · ", muted);
    let mut spans = vec![Span::raw(" ")];
    if logs.follow {
        spans.push(Span::styled("▼ following", theme.style("status.healthy")));
    } else {
        let unseen = if logs.unseen > 0 {
            format!(" · {} new", logs.unseen)
        } else {
            String::new()
        };
        spans.push(Span::styled(
            format!("‖ paused{unseen}"),
            theme.style("status.paused"),
        ));
    }
    if let Some(filter) = logs.filter_label() {
        spans.push(sep());
        spans.push(Span::styled(
            format!("only {filter}"),
            theme.style("warning"),
        ));
    }
    if let Some(query) = &logs.search {
        spans.push(sep());
        spans.push(Span::styled(
            format!("/{}", format::truncate(query, 20)),
            theme.style("key"),
        ));
    }
    if let Some(notice) = &logs.notice {
        spans.push(sep());
        spans.push(Span::styled(notice.clone(), theme.style("warning")));
    }
    if logs.wrap {
        spans.push(sep());
        spans.push(Span::styled("wrap", muted));
    }
    spans.push(sep());
    spans.push(Span::styled(
        format!("{} lines ", group_thousands(logs.len())),
        muted,
    ));
    Line::from(spans)
}

fn group_thousands(n: usize) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

pub fn render(frame: &mut Frame<'_>, area: Rect, state: &State, theme: &Theme) {
    let logs = &state.logs;
    let (view, input) = if logs.search_input.is_some() {
        let [v, i] = Layout::vertical([Constraint::Min(0), Constraint::Length(1)]).areas(area);
        (v, Some(i))
    } else {
        (area, None)
    };
    if let (Some(rect), Some(query)) = (input, &logs.search_input) {
        frame.render_widget(
            Paragraph::new(Line::from(vec![
                Span::styled("/", theme.style("key")),
                Span::styled(query.clone(), theme.style("text")),
                Span::styled("▏", theme.style("key")),
            ])),
            rect,
        );
    }
    if logs.is_empty() {
        frame.render_widget(super::placeholder("no log lines yet", theme), view);
        return;
    }
    let width = usize::from(view.width).max(1);
    let rows = usize::from(view.height);
    let pod_width = (width / 5).clamp(8, 32);
    let fmt = Formatter {
        logs,
        theme,
        pod_width,
        timestamps: logs.timestamps,
        app: &state.header.app,
    };
    let window = logs.window(rows, |e| {
        if logs.wrap {
            fmt.width(e).div_ceil(width).max(1)
        } else {
            1
        }
    });
    if window.is_empty() {
        frame.render_widget(
            super::placeholder("no lines match the filters", theme),
            view,
        );
        return;
    }
    let mut lines: Vec<Line<'_>> = Vec::with_capacity(rows);
    for (seq, entry) in window {
        let line = fmt.line(entry, logs.current_match() == Some(seq));
        if logs.wrap {
            lines.extend(wrap(line, width));
        } else {
            lines.push(line);
        }
    }
    // With wrapping the newest rows win; the oldest line may be cut at the top.
    let skip = lines.len().saturating_sub(rows);
    let lines: Vec<Line<'_>> = lines.into_iter().skip(skip).collect();
    frame.render_widget(Paragraph::new(lines), view);
}

struct Formatter<'a> {
    logs: &'a Logs,
    theme: &'a Theme,
    pod_width: usize,
    timestamps: bool,
    app: &'a str,
}

impl Formatter<'_> {
    fn prefix_width(&self) -> usize {
        (if self.timestamps { TIMESTAMP_WIDTH } else { 0 }) + self.pod_width + 3
    }

    /// The line as shown: JSON made readable, and with the time column on,
    /// without a leading timestamp that repeats it.
    fn message<'e>(&self, entry: &'e Entry) -> Cow<'e, str> {
        match logtext::readable(&entry.text) {
            Some(text) => Cow::Owned(text),
            None if self.timestamps => {
                Cow::Borrowed(logtext::without_leading_time(&entry.text, entry.at_ms))
            }
            None => Cow::Borrowed(&entry.text),
        }
    }

    fn width(&self, entry: &Entry) -> usize {
        self.prefix_width()
            + if entry.is_marker() {
                30
            } else {
                self.message(entry).width()
            }
    }

    fn line<'e>(&self, entry: &'e Entry, current: bool) -> Line<'e> {
        let theme = self.theme;
        let mut spans = Vec::with_capacity(8);
        if self.timestamps {
            let ts = entry.at().map_or_else(
                || "??:??:??.???".to_string(),
                |t| t.format("%H:%M:%S%.3f").to_string(),
            );
            spans.push(Span::styled(format!("{ts} "), theme.style("muted")));
        }
        let pod = self.logs.pod_name(entry.pod);
        let version = self.logs.version_name(entry.version);
        let version_style = theme.version(version);
        match entry.kind {
            EntryKind::Joined => {
                spans.push(Span::styled(
                    format!("── + {pod} joined · {version} ──"),
                    theme.style("status.healthy"),
                ));
                return Line::from(spans);
            }
            EntryKind::Gone => {
                spans.push(Span::styled(
                    format!("── ✗ {pod} gone · {version} ──"),
                    theme.style("status.degraded"),
                ));
                return Line::from(spans);
            }
            EntryKind::Line | EntryKind::ErrorLine => {}
        }
        let short = format::pod_label(pod, self.app, self.pod_width);
        spans.push(Span::styled(
            format!("{short:<w$}", w = self.pod_width),
            version_style,
        ));
        let (gutter, text_style) = if entry.kind == EntryKind::ErrorLine {
            (
                Span::styled(" ✗ ", theme.style("error")),
                theme
                    .style("error")
                    .remove_modifier(ratatui::style::Modifier::BOLD),
            )
        } else {
            (
                Span::styled(" │ ", theme.style("border")),
                theme.style("text"),
            )
        };
        spans.push(gutter);
        let message = self.message(entry);
        let hit_style = if current {
            theme.style("search.current")
        } else {
            theme.style("search")
        };
        highlight(
            &mut spans,
            message,
            self.logs.search.as_deref(),
            text_style,
            hit_style,
        );
        let line = Line::from(spans);
        if current {
            line.patch_style(Style::default().add_modifier(ratatui::style::Modifier::BOLD))
        } else {
            line
        }
    }
}

/// Appends `text` as spans, with every match of `query` in `hit`.
fn highlight<'e>(
    spans: &mut Vec<Span<'e>>,
    text: Cow<'e, str>,
    query: Option<&str>,
    base: Style,
    hit: Style,
) {
    let hits = query
        .map(|q| logtext::find_ignore_ascii_case(&text, q))
        .unwrap_or_default();
    if hits.is_empty() {
        spans.push(Span::styled(text, base));
        return;
    }
    let mut at = 0;
    for (start, end) in hits {
        if start > at {
            spans.push(Span::styled(text[at..start].to_string(), base));
        }
        spans.push(Span::styled(text[start..end].to_string(), hit));
        at = end;
    }
    if at < text.len() {
        spans.push(Span::styled(text[at..].to_string(), base));
    }
}

/// Breaks a line into rows of exactly `width` columns, keeping styles.
fn wrap(line: Line<'_>, width: usize) -> Vec<Line<'static>> {
    let mut rows: Vec<Line<'static>> = Vec::new();
    let mut row: Vec<Span<'static>> = Vec::new();
    let mut used = 0;
    for span in line.spans {
        let mut piece = String::new();
        for c in span.content.chars() {
            let w = unicode_width::UnicodeWidthChar::width(c).unwrap_or(0);
            if used + w > width {
                if !piece.is_empty() {
                    row.push(Span::styled(std::mem::take(&mut piece), span.style));
                }
                rows.push(Line::from(std::mem::take(&mut row)));
                used = 0;
            }
            piece.push(c);
            used += w;
        }
        if !piece.is_empty() {
            row.push(Span::styled(piece, span.style));
        }
    }
    if !row.is_empty() || rows.is_empty() {
        rows.push(Line::from(row));
    }
    rows
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wrap_keeps_every_character_in_order() {
        let line = Line::from(vec![Span::raw("abcdef"), Span::raw("gh")]);
        let rows = wrap(line, 3);
        let texts: Vec<String> = rows.iter().map(ToString::to_string).collect();
        assert_eq!(texts, ["abc", "def", "gh"]);
    }

    #[test]
    fn thousands_are_grouped() {
        assert_eq!(group_thousands(100_000), "100,000");
        assert_eq!(group_thousands(999), "999");
    }
}
