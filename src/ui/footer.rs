//! The bottom line: the keys that work in the focused pane, from the active keymap.

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;

use crate::app::State;
use crate::app::state::{KeyHint, Layer};
use crate::config::theme::Theme;

/// Global keys worth a place on the footer after the pane's own.
const GLOBAL_DESCS: &[&str] = &[
    "Help",
    "Quit",
    "Next pane",
    "Zoom pane",
    "Advance stage",
    "Pause",
    "Resume",
];

pub fn render(frame: &mut Frame<'_>, area: Rect, state: &State, theme: &Theme) {
    let layer = state.key_layer();
    let mut hints: Vec<&KeyHint> = state.keys.layer(layer).iter().collect();
    if layer.falls_back() {
        hints.extend(
            state
                .keys
                .layer(Layer::Global)
                .iter()
                .filter(|h| GLOBAL_DESCS.contains(&h.desc.as_str())),
        );
    }
    // One hint per description: a keymap may bind two keys to the same thing.
    let mut seen = Vec::new();
    hints.retain(|h| {
        let fresh = !seen.contains(&h.desc.as_str());
        seen.push(h.desc.as_str());
        fresh
    });
    let mut spans = vec![Span::raw(" ")];
    for hint in hints {
        spans.push(Span::styled(hint.keys.clone(), theme.style("key")));
        spans.push(Span::styled(
            format!(" {}  ", hint.desc),
            theme.style("footer"),
        ));
    }
    frame.render_widget(Paragraph::new(Line::from(spans)), area);
}
