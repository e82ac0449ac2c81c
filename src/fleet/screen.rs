//! The fleet screen's state around the rows: the clock, the keys and the
//! help overlay, what it was asked to show, and what a key asks of the loop.
//! Pure: keys come in as [`Action`]s, drawing reads it.

use chrono::{DateTime, Utc};

use super::row::Row;
use super::view::{FleetView, Input};
use crate::app::Action;
use crate::app::state::{KeyHelp, Layer};

#[derive(Debug, Clone)]
pub struct FleetScreen {
    pub view: FleetView,
    pub now: DateTime<Utc>,
    pub keys: KeyHelp,
    pub help: bool,
    /// What the rows cover: `ns shop`, `all namespaces`.
    pub scope: String,
    /// Configuration problems to keep in sight (a bad theme file, say).
    pub warnings: Vec<String>,
    /// The last thing worth a line: why a row did not open, say.
    pub status: Option<String>,
    /// Rows of the table on screen, for paging.
    pub page: usize,
}

/// What the loop around the fleet must do after a key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FleetCommand {
    Quit,
    /// Open the cockpit on this row.
    Open(Box<Row>),
}

impl FleetScreen {
    pub fn new(view: FleetView, scope: &str, now: DateTime<Utc>) -> FleetScreen {
        FleetScreen {
            view,
            now,
            keys: KeyHelp::default(),
            help: false,
            scope: scope.to_string(),
            warnings: Vec::new(),
            status: None,
            page: 20,
        }
    }

    /// The layer whose bindings apply now, before `[global]`.
    pub fn key_layer(&self) -> Layer {
        if self.view.input == Input::Typing {
            Layer::FleetFilter
        } else if self.help {
            Layer::Help
        } else {
            Layer::Fleet
        }
    }

    pub fn handle_action(&mut self, action: Action) -> Option<FleetCommand> {
        let page = self.page.max(1) as isize;
        match action {
            Action::Quit => return Some(FleetCommand::Quit),
            Action::Help => self.help = !self.help,
            Action::Close => {
                if self.help {
                    self.help = false;
                } else if !self.view.filter.is_empty() {
                    self.view.clear_filter();
                } else {
                    self.status = None;
                }
            }
            Action::ScrollUp => self.view.select_by(-1),
            Action::ScrollDown => self.view.select_by(1),
            Action::PageUp => self.view.select_by(-page),
            Action::PageDown => self.view.select_by(page),
            Action::ScrollTop => self.view.select_first(),
            Action::ScrollBottom => self.view.select_last(),
            Action::FleetSort => self.view.cycle_sort(),
            Action::FleetFilter => self.view.input = Input::Typing,
            Action::SearchSubmit => self.view.input = Input::Off,
            Action::SearchCancel => self.view.clear_filter(),
            Action::SearchDelete => self.view.delete_char(),
            Action::FleetOpen => {
                let row = self.view.selected()?;
                return Some(FleetCommand::Open(Box::new(row.clone())));
            }
            _ => {}
        }
        None
    }

    /// A character typed while the filter input is open.
    pub fn type_char(&mut self, c: char) {
        if self.view.input == Input::Typing {
            self.view.type_char(c);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fleet::row::{Kind, Phase};

    fn screen() -> FleetScreen {
        let mut view = FleetView::new(&["prod".into()]);
        let mut degraded = Row::new("prod", "shop", "pay", Kind::Flagger);
        degraded.phase = Phase::Degraded {
            reason: "failed checks".into(),
        };
        view.replace(
            "prod",
            vec![
                Row::new("prod", "shop", "cart", Kind::Argo),
                degraded,
                Row::new("prod", "web", "search", Kind::Deployment),
            ],
        );
        FleetScreen::new(view, "all namespaces", Utc::now())
    }

    fn open(s: &mut FleetScreen) -> Option<String> {
        match s.handle_action(Action::FleetOpen) {
            Some(FleetCommand::Open(row)) => Some(row.app),
            _ => None,
        }
    }

    #[test]
    fn enter_opens_the_selected_row_first_the_one_in_need() {
        let mut s = screen();
        assert_eq!(open(&mut s).as_deref(), Some("pay"));
        s.handle_action(Action::ScrollBottom);
        assert_eq!(open(&mut s).as_deref(), Some("search"));
        assert_eq!(s.handle_action(Action::Quit), Some(FleetCommand::Quit));
    }

    #[test]
    fn slash_types_a_filter_enter_keeps_it_esc_clears_it() {
        let mut s = screen();
        s.type_char('x');
        assert_eq!(s.view.filter, "", "no input open, no filter");
        s.handle_action(Action::FleetFilter);
        assert_eq!(s.key_layer(), Layer::FleetFilter);
        for c in "car".chars() {
            s.type_char(c);
        }
        assert_eq!(s.view.len(), 1);
        s.handle_action(Action::SearchSubmit);
        assert_eq!(s.key_layer(), Layer::Fleet);
        assert_eq!(s.view.len(), 1, "the filter stays after Enter");
        assert_eq!(open(&mut s).as_deref(), Some("cart"));
        s.handle_action(Action::Close);
        assert_eq!(s.view.len(), 3, "Esc clears a kept filter");
        s.handle_action(Action::FleetFilter);
        s.type_char('w');
        s.handle_action(Action::SearchCancel);
        assert_eq!((s.view.len(), s.key_layer()), (3, Layer::Fleet));
    }

    #[test]
    fn help_takes_esc_before_the_filter() {
        let mut s = screen();
        s.handle_action(Action::FleetFilter);
        s.type_char('p');
        s.handle_action(Action::SearchSubmit);
        s.handle_action(Action::Help);
        assert_eq!(s.key_layer(), Layer::Help);
        s.handle_action(Action::Close);
        assert!(!s.help);
        assert_eq!(s.view.filter, "p");
    }

    #[test]
    fn a_cluster_without_rows_has_nothing_to_open() {
        let mut view = FleetView::new(&["gone".into()]);
        view.mark_unreachable("gone", "connection refused");
        let mut s = FleetScreen::new(view, "ns shop", Utc::now());
        assert_eq!(open(&mut s), None);
    }
}
