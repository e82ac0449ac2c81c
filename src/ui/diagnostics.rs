//! flightdeck's own log, from tracing through tui-logger.

use ratatui::Frame;
use ratatui::layout::Rect;
use tui_logger::{TuiLoggerLevelOutput, TuiLoggerWidget};

use super::pane_block;
use crate::config::theme::Theme;

pub fn render(frame: &mut Frame<'_>, area: Rect, theme: &Theme) {
    let widget = TuiLoggerWidget::default()
        .block(pane_block("Diagnostics", false, theme))
        .style(theme.style("text"))
        .style_error(theme.style("error"))
        .style_warn(theme.style("warning"))
        .style_info(theme.style("text"))
        .style_debug(theme.style("muted"))
        .style_trace(theme.style("muted"))
        .output_separator(' ')
        .output_timestamp(Some("%H:%M:%S".to_string()))
        .output_level(Some(TuiLoggerLevelOutput::Abbreviated))
        .output_target(true)
        .output_file(false)
        .output_line(false);
    frame.render_widget(widget, area);
}
