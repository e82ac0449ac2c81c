//! What a key can ask for. A keymap names these and nothing else, so every
//! binding in every keymap file is checked against this list.

use std::fmt;

use serde::{Deserialize, Serialize};

/// One intent of the person at the keyboard.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Action {
    Quit,
    Help,
    /// Close the topmost thing: help, zoom, diagnostics.
    Close,
    FocusNext,
    FocusPrev,
    FocusPods,
    FocusTraffic,
    FocusMetrics,
    FocusLogs,
    FocusEvents,
    FocusStages,
    Zoom,
    ToggleDiagnostics,
    ScrollUp,
    ScrollDown,
    PageUp,
    PageDown,
    ScrollTop,
    ScrollBottom,
    LogFollow,
    LogWrap,
    LogTimestamps,
    LogFilterVersion,
    LogFilterPod,
    LogSearch,
    LogSearchNext,
    LogSearchPrev,
    LogNextError,
    LogClearFilter,
    /// Run the search typed in the input.
    SearchSubmit,
    /// Close the search input without searching.
    SearchCancel,
    /// Delete the last character of the search input.
    SearchDelete,
    /// On to the rollout's next stage.
    AdvanceStage,
    Pause,
    Resume,
    /// Skip the remaining stages (asks first).
    PromoteFull,
    /// All traffic back to stable at once (asks first).
    Abort,
    /// Step the weights back down the way they came (asks first).
    RollbackGradual,
    /// Begin a rollout, asking for the image.
    StartRollout,
    /// Start an aborted rollout again.
    Retry,
    /// Rolling: back to a revision, asking which (asks first).
    Undo,
    /// Take the helm from the cockpit holding it (asks first).
    TakeHelm,
    /// Freeze the rollout for an incident, asking why; unfreeze when frozen.
    Freeze,
    /// Answer yes / submit the dialog.
    DialogConfirm,
    DialogCancel,
    /// Delete the last character typed into the dialog.
    DialogDelete,
    /// Fleet: open the cockpit on the selected row.
    FleetOpen,
    /// Fleet: type a filter; rows without every word are hidden.
    FleetFilter,
    /// Fleet: sort by the next key (need, changed, name).
    FleetSort,
}

impl Action {
    pub const ALL: &'static [Action] = &[
        Action::Quit,
        Action::Help,
        Action::Close,
        Action::FocusNext,
        Action::FocusPrev,
        Action::FocusPods,
        Action::FocusTraffic,
        Action::FocusMetrics,
        Action::FocusLogs,
        Action::FocusEvents,
        Action::FocusStages,
        Action::Zoom,
        Action::ToggleDiagnostics,
        Action::ScrollUp,
        Action::ScrollDown,
        Action::PageUp,
        Action::PageDown,
        Action::ScrollTop,
        Action::ScrollBottom,
        Action::LogFollow,
        Action::LogWrap,
        Action::LogTimestamps,
        Action::LogFilterVersion,
        Action::LogFilterPod,
        Action::LogSearch,
        Action::LogSearchNext,
        Action::LogSearchPrev,
        Action::LogNextError,
        Action::LogClearFilter,
        Action::SearchSubmit,
        Action::SearchCancel,
        Action::SearchDelete,
        Action::AdvanceStage,
        Action::Pause,
        Action::Resume,
        Action::PromoteFull,
        Action::Abort,
        Action::RollbackGradual,
        Action::StartRollout,
        Action::Retry,
        Action::Undo,
        Action::TakeHelm,
        Action::Freeze,
        Action::DialogConfirm,
        Action::DialogCancel,
        Action::DialogDelete,
        Action::FleetOpen,
        Action::FleetFilter,
        Action::FleetSort,
    ];

    /// The kebab-case name a keymap uses.
    pub fn name(self) -> &'static str {
        match self {
            Action::Quit => "quit",
            Action::Help => "help",
            Action::Close => "close",
            Action::FocusNext => "focus-next",
            Action::FocusPrev => "focus-prev",
            Action::FocusPods => "focus-pods",
            Action::FocusTraffic => "focus-traffic",
            Action::FocusMetrics => "focus-metrics",
            Action::FocusLogs => "focus-logs",
            Action::FocusEvents => "focus-events",
            Action::FocusStages => "focus-stages",
            Action::Zoom => "zoom",
            Action::ToggleDiagnostics => "toggle-diagnostics",
            Action::ScrollUp => "scroll-up",
            Action::ScrollDown => "scroll-down",
            Action::PageUp => "page-up",
            Action::PageDown => "page-down",
            Action::ScrollTop => "scroll-top",
            Action::ScrollBottom => "scroll-bottom",
            Action::LogFollow => "log-follow",
            Action::LogWrap => "log-wrap",
            Action::LogTimestamps => "log-timestamps",
            Action::LogFilterVersion => "log-filter-version",
            Action::LogFilterPod => "log-filter-pod",
            Action::LogSearch => "log-search",
            Action::LogSearchNext => "log-search-next",
            Action::LogSearchPrev => "log-search-prev",
            Action::LogNextError => "log-next-error",
            Action::LogClearFilter => "log-clear-filter",
            Action::SearchSubmit => "search-submit",
            Action::SearchCancel => "search-cancel",
            Action::SearchDelete => "search-delete",
            Action::AdvanceStage => "advance-stage",
            Action::Pause => "pause",
            Action::Resume => "resume",
            Action::PromoteFull => "promote-full",
            Action::Abort => "abort",
            Action::RollbackGradual => "rollback-gradual",
            Action::StartRollout => "start-rollout",
            Action::Retry => "retry",
            Action::Undo => "undo",
            Action::TakeHelm => "take-helm",
            Action::Freeze => "freeze",
            Action::DialogConfirm => "dialog-confirm",
            Action::DialogCancel => "dialog-cancel",
            Action::DialogDelete => "dialog-delete",
            Action::FleetOpen => "fleet-open",
            Action::FleetFilter => "fleet-filter",
            Action::FleetSort => "fleet-sort",
        }
    }

    pub fn from_name(name: &str) -> Option<Action> {
        Action::ALL.iter().copied().find(|a| a.name() == name)
    }
}

impl fmt::Display for Action {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// What the loop around the app must do after an action.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    Quit,
    /// Leave the cockpit for the fleet it was opened from.
    Back,
    /// Hand a request to the driver.
    Drive(crate::rollout::Request),
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_match_serde_names() {
        for action in Action::ALL {
            let json = serde_json::to_string(action).unwrap();
            assert_eq!(json, format!("\"{}\"", action.name()));
            assert_eq!(Action::from_name(action.name()), Some(*action));
        }
    }

    #[test]
    fn unknown_name_is_none() {
        assert_eq!(Action::from_name("launch-missiles"), None);
    }
}
