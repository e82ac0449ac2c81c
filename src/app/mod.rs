//! The cockpit's model: what the screen shows, the facts workers report
//! ([`Msg`]) and what keys ask for ([`Action`]). No I/O and no async runtime
//! here, so every rule is tested without a terminal or a cluster.

pub mod action;
pub mod drive;
pub mod external;
pub mod guard_board;
pub mod logs;
pub mod logtext;
pub mod msg;
pub mod state;
pub mod update;
pub mod webhooks;

pub use action::{Action, Command};
pub use msg::Msg;
pub use state::{Layer, Pane, State};
pub use update::{handle_action, type_char, update};
