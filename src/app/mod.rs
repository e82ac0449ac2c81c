//! The cockpit's model: what the screen shows, the facts workers report
//! ([`Msg`]) and what keys ask for. No I/O and no async runtime here, so every
//! rule is tested without a terminal or a cluster.

pub mod msg;

pub use msg::Msg;
