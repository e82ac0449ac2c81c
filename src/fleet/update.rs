//! What the fleet's watch workers report about one cluster.

use super::canary::Versus;
use super::row::{Row, RowKey};

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Update {
    /// Every row the cluster holds now (replaces what it held before).
    Rows { cluster: String, rows: Vec<Row> },
    /// The cluster stopped answering; its rows stay, marked.
    Unreachable { cluster: String, reason: String },
    /// A kind the cluster does not serve, or does not let us read, is left
    /// out of its rows (Flagger not installed, RBAC without `canaries`).
    Skipped {
        cluster: String,
        kind: String,
        why: Skip,
    },
    /// Prometheus' numbers for one row's canary and stable.
    Metrics { key: RowKey, metrics: Versus },
    /// Whether Prometheus answered its last round: `Some(why)` when it did
    /// not (every row's numbers are then unknown).
    Prometheus { down: Option<String> },
}

/// Why a kind is not watched.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Skip {
    /// The API server does not serve it: its controller is not installed.
    NotServed,
    /// Listing or watching it is forbidden (403), with the server's words.
    Forbidden(String),
}
