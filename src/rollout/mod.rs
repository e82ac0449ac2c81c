//! The rollout domain: the plan a captain writes, the stage machine that
//! drives it, the guards that watch it and the analysis that judges each
//! stage. Pure: no I/O, no tokio. The driver reads the cluster, feeds events
//! in, carries out the effects that come back and stores the state.
//!
//! - [`plan`]: the plan file's model (its module doc is the format reference);
//!   [`validate`] checks a file and locates every error.
//! - [`machine`]: `step(state, event, now) -> Transition | Refusal`, over
//!   the [`state`] a rollout is in.
//! - [`effects`]: what a transition asks of the cluster; [`Weights`].
//! - [`guards`], [`analysis`]: judging metrics, fail-safe.
//! - [`history`]: the document stored on the cluster.
//! - [`freeze`]: an incident freeze and what it refuses.

pub mod analysis;
pub mod checks;
pub mod effects;
mod file;
pub mod freeze;
pub mod guards;
pub mod history;
pub mod machine;
pub mod plan;
pub mod request;
pub mod state;
pub mod validate;
mod validate_checks;

pub use analysis::{AnalysisSpec, Observations, Outcome, Verdict, analyse};
pub use effects::{Effect, ImageTarget, Weights};
pub use guards::{Alarm, GuardAction, GuardMetric, GuardSpec, GuardState, Sample};
pub use history::{ActionResult, Actor, History, HistoryEntry, StoredRollout};
pub use machine::{Event, Record, Refusal, Transition, step};
pub use plan::{ObjectRef, Plan, Strategy, StrategyKind};
pub use request::Request;
pub use state::{Course, PausedBy, Phase, RolloutState};

#[cfg(test)]
pub(crate) mod fixtures;
#[cfg(test)]
mod machine_tests;
