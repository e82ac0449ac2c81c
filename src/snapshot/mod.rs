//! The incident snapshot: one `.tar.gz` holding what an incident review
//! needs after the pods are gone — the rollout's state and history, the
//! plan, the pods with their status, the Events, the last log lines of each
//! pod, the guards' readings and verdicts, and the router objects.
//!
//! [`bundle`] decides what goes in, under which names and within which
//! bounds, without I/O; [`collect`] reads the cluster; [`auto`] writes one
//! beside the audit file when a guard rolls a rollout back.

pub mod auto;
pub mod bundle;
pub mod collect;

pub use bundle::{Bundle, Manifest};
pub use collect::{Options, collect, write};
