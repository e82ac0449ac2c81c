//! The fleet: one summary row per app that has something to release, across
//! rollout sources (flightdeck's own, Argo Rollouts, Flagger, Deployments)
//! and clusters. Pure: rows are built by `crate::external` from objects the
//! workers read, ordered and filtered here, drawn by `crate::ui::fleet`.

pub mod canary;
pub mod order;
pub mod row;
pub mod screen;
pub mod update;
pub mod view;

pub use canary::Versus;
pub use order::{SortKey, need};
pub use row::{AnalysisMetric, Detail, Kind, Phase, Pods, Row, RowKey};
pub use screen::{FleetCommand, FleetScreen};
pub use update::{Skip, Update};
pub use view::FleetView;
