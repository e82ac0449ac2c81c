//! Files a person writes: plans, themes, keymaps (and the simulator's scenarios
//! reuse the same error reporting). Loading is strict and every error names the
//! file, line and column.

pub mod dirs;
pub mod keymap;
pub mod source;
pub mod theme;

pub use source::{FileError, parse_toml};
