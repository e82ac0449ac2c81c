//! Where a rollout stands: the course it follows (copied from the plan when
//! it starts), its phase and the weights asked for. Serialisable, because
//! this is what lives on the cluster and what another cockpit resumes from.

use std::fmt;
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::analysis::{Outcome, Verdict};
use super::effects::Weights;
use super::freeze::Freeze;
use super::guards::Alarm;
use super::plan::{Pause, Plan, RollbackMode, Slot, Stage, Strategy, StrategyKind, Switch};

/// The part of a plan the machine needs, copied into the state at creation
/// so a rollout stored on the cluster carries on as it began even if the
/// plan file is edited meanwhile.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Course {
    pub strategy: StrategyKind,
    /// The last stage always has weight 100; reaching it completes the rollout.
    pub stages: Vec<Stage>,
    /// Whether weights go through a router (canary, weighted blue-green).
    pub routed: bool,
    pub rollback: RollbackMode,
    #[serde(with = "super::plan::duration_secs")]
    pub rollback_step: Duration,
    pub auto: bool,
    /// Whether stages wait for a passing verdict before moving on by themselves.
    pub analysis: bool,
    #[serde(with = "super::plan::duration_secs")]
    pub keep_old_for: Duration,
    /// Rolling: the image to roll out when `Start` names none.
    pub image: Option<String>,
    /// Rolling: the revision an abort returns to (`None`: the previous one).
    pub undo_to: Option<u64>,
}

impl Course {
    /// The course a plan describes; `auto` is the plan's or the command line's.
    pub fn from_plan(plan: &Plan, auto: bool) -> Course {
        let final_stage = Stage {
            weight: 100,
            pause: Pause::Manual,
            canary_replicas: None,
        };
        let mut course = Course {
            strategy: plan.kind(),
            stages: Vec::new(),
            routed: false,
            rollback: RollbackMode::Immediate,
            rollback_step: Duration::from_secs(30),
            auto: auto || plan.auto,
            analysis: plan.analysis.is_some(),
            keep_old_for: Duration::ZERO,
            image: None,
            undo_to: None,
        };
        match &plan.strategy {
            Strategy::Canary(c) => {
                course.stages.clone_from(&c.stages);
                course.routed = true;
                course.rollback = c.rollback;
                course.rollback_step = c.rollback_step;
            }
            Strategy::BlueGreen(b) => {
                course.keep_old_for = b.keep_old_for;
                match &b.switch {
                    Switch::Selector { preview_pause } => {
                        let preview = Stage {
                            weight: 0,
                            pause: *preview_pause,
                            canary_replicas: None,
                        };
                        course.stages = vec![preview, final_stage];
                    }
                    Switch::Weighted { stages, .. } => {
                        course.stages.clone_from(stages);
                        course.routed = true;
                    }
                }
            }
            Strategy::Rolling(r) => {
                let watch = Stage {
                    weight: 0,
                    pause: r.pause,
                    canary_replicas: None,
                };
                course.stages = vec![watch, final_stage];
                course.image = Some(r.image.clone());
                course.undo_to = r.undo_to;
            }
        }
        course
    }

    /// The index of the final stage (weight 100); entering it completes the rollout.
    pub fn last(&self) -> usize {
        self.stages.len().saturating_sub(1)
    }

    /// The canary weight of a stage (100 past the end).
    pub fn weight(&self, stage: usize) -> u8 {
        self.stages.get(stage).map_or(100, |s| s.weight)
    }
}

/// Why a stage is not moving on by itself.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", tag = "by")]
pub enum PausedBy {
    /// A manual stage: it waits for the captain's go.
    Stage,
    /// The captain paused it; time never ends this.
    Manual,
    /// A timed stage; at `until` it moves on if its analysis allows.
    Timed { until: DateTime<Utc> },
    /// A guard fired and holds it until the captain decides.
    Guard { alarm: Alarm },
    /// The analysis failed; held until the captain decides.
    Analysis { reason: String },
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", tag = "phase")]
pub enum Phase {
    NotStarted,
    /// The stage's wait is over; it moves on as soon as its analysis passes.
    Progressing {
        stage: usize,
        since: DateTime<Utc>,
    },
    Paused {
        stage: usize,
        since: DateTime<Utc>,
        #[serde(flatten)]
        by: PausedBy,
    },
    /// Finished: all traffic on the new version.
    Promoted {
        at: DateTime<Utc>,
    },
    /// Stepping the canary's weight down; the last step lands on 0.
    RollingBack {
        weight: u8,
        since: DateTime<Utc>,
        reason: String,
    },
    /// All traffic on stable. Only a retry leaves this.
    Aborted {
        at: DateTime<Utc>,
        reason: String,
    },
}

/// The slots of a blue-green rollout: traffic moves from one to the other.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Slots {
    pub from: Slot,
    pub to: Slot,
}

/// The latest verdict, and the stage it was about.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StageVerdict {
    pub stage: usize,
    pub verdict: Verdict,
}

/// Everything needed to resume a rollout: this is what lives on the cluster.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RolloutState {
    pub app: String,
    pub namespace: String,
    pub course: Course,
    pub phase: Phase,
    /// The weights asked for (`None` for rolling, or before the start).
    pub weights: Option<Weights>,
    /// When the current stage began, so analysis only counts its own samples.
    pub stage_began: Option<DateTime<Utc>>,
    pub verdict: Option<StageVerdict>,
    pub slots: Option<Slots>,
    /// The image being rolled out, when one was named.
    pub image: Option<String>,
    /// Bumped by every transition.
    pub generation: u64,
    /// An incident freeze, read from its own key when the state is loaded;
    /// never stored with the rollout, so setting or lifting it races no step.
    #[serde(skip)]
    /// Boxed: the state travels through every driver future.
    pub freeze: Option<Box<Freeze>>,
}

impl RolloutState {
    pub fn new(plan: &Plan, auto: bool) -> RolloutState {
        RolloutState {
            app: plan.app.clone(),
            namespace: plan.namespace.clone(),
            course: Course::from_plan(plan, auto),
            phase: Phase::NotStarted,
            weights: None,
            stage_began: None,
            verdict: None,
            slots: None,
            image: None,
            generation: 0,
            freeze: None,
        }
    }

    /// The stage the rollout stands at, while it runs.
    pub fn stage(&self) -> Option<usize> {
        match self.phase {
            Phase::Progressing { stage, .. } | Phase::Paused { stage, .. } => Some(stage),
            _ => None,
        }
    }

    /// The weights of the stage the rollout stands at: those asked for, or
    /// the stage's own where nothing is routed (rolling, a selector switch).
    pub fn stage_weights(&self) -> Option<Weights> {
        let stage = self.stage()?;
        Some(
            self.weights
                .unwrap_or_else(|| Weights::canary(self.course.weight(stage))),
        )
    }

    pub fn is_finished(&self) -> bool {
        matches!(self.phase, Phase::Promoted { .. } | Phase::Aborted { .. })
    }

    /// Time left before a timed stage moves on (zero once due).
    pub fn time_left(&self, now: DateTime<Utc>) -> Option<Duration> {
        match &self.phase {
            Phase::Paused {
                by: PausedBy::Timed { until },
                ..
            } => Some((*until - now).to_std().unwrap_or_default()),
            _ => None,
        }
    }

    /// How long the rollout has been paused.
    pub fn paused_for(&self, now: DateTime<Utc>) -> Option<Duration> {
        match &self.phase {
            Phase::Paused { since, .. } => Some((now - *since).to_std().unwrap_or_default()),
            _ => None,
        }
    }

    /// Whether the current stage's analysis allows moving on by itself.
    pub fn analysis_allows(&self) -> bool {
        !self.course.analysis
            || self.verdict.as_ref().is_some_and(|v| {
                Some(v.stage) == self.stage() && v.verdict.outcome == Outcome::Pass
            })
    }

    /// One line for the Stages pane and the history.
    pub fn describe(&self) -> String {
        let total = self.course.stages.len();
        let at = |stage: usize| {
            let w = self.course.weight(stage);
            match self.course.strategy {
                StrategyKind::Rolling => "rolling out".to_string(),
                StrategyKind::BlueGreen if !self.course.routed => "previewing".to_string(),
                _ => format!("stage {}/{total} at {w}%", stage + 1),
            }
        };
        match &self.phase {
            Phase::NotStarted => "not started".into(),
            Phase::Progressing { stage, .. } => {
                format!("{}, waiting for analysis", at(*stage))
            }
            Phase::Paused { stage, by, .. } => {
                let why = match by {
                    PausedBy::Stage => "waiting for the go".to_string(),
                    PausedBy::Manual => "paused by the captain".to_string(),
                    PausedBy::Timed { until } => {
                        format!("paused until {}", until.format("%H:%M:%S"))
                    }
                    PausedBy::Guard { alarm } => format!("held by guard {}", alarm.guard),
                    PausedBy::Analysis { .. } => "held: analysis failed".to_string(),
                };
                format!("{}, {why}", at(*stage))
            }
            Phase::Promoted { .. } => "promoted".into(),
            Phase::RollingBack { weight, .. } => format!("rolling back, canary at {weight}%"),
            Phase::Aborted { reason, .. } => format!("aborted: {reason}"),
        }
    }
}

impl fmt::Display for RolloutState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.describe())
    }
}
