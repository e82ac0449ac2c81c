//! The stage machine: given where a rollout stands and what just happened,
//! where it goes next and what the cluster must be told. Pure: the driver
//! carries out the effects, records the transition and stores the new state.
//!
//! The rules that keep a release safe live here, in one place:
//! - route weights always add up to 100, and while a stage runs they are the
//!   stage's weight;
//! - a timed stage moves on by itself only when its analysis passed (or the
//!   plan has none); a manual pause is never ended by time;
//! - every abort ends with all traffic on stable; an aborted rollout can only
//!   be retried; a promoted one is finished.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::analysis::{Outcome, Verdict};
use super::effects::{Effect, ImageTarget, Weights};
use super::guards::{Alarm, GuardAction};
use super::plan::{Pause, RollbackMode, Slot, StrategyKind};
use super::state::{PausedBy, Phase, RolloutState, Slots, StageVerdict};
use crate::units::format_duration;

#[derive(Debug, Clone, PartialEq)]
pub enum Event {
    /// Begin the rollout; blue-green needs the slot the active Service
    /// selects now, as the driver read it.
    Start {
        image: Option<String>,
        active_slot: Option<Slot>,
    },
    /// The captain's go: on to the next stage.
    Advance,
    Pause,
    Resume,
    /// Skip the remaining stages.
    PromoteFull,
    /// Roll back; `mode: None` is the plan's default.
    Abort {
        mode: Option<RollbackMode>,
        reason: String,
    },
    Retry,
    /// Rolling only: undo to a revision (`None`: the previous one).
    Undo {
        revision: Option<u64>,
    },
    /// Time passed (the `now` given to [`step`]).
    Tick,
    GuardFired(Alarm),
    Verdict {
        stage: usize,
        verdict: Verdict,
    },
}

impl Event {
    pub fn name(&self) -> &'static str {
        match self {
            Event::Start { .. } => "start",
            Event::Advance => "advance",
            Event::Pause => "pause",
            Event::Resume => "resume",
            Event::PromoteFull => "promote",
            Event::Abort { .. } => "abort",
            Event::Retry => "retry",
            Event::Undo { .. } => "undo",
            Event::Tick => "tick",
            Event::GuardFired(_) => "guard",
            Event::Verdict { .. } => "verdict",
        }
    }
}

/// Why an event was refused, in words for the captain.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct Refusal(pub String);

fn refuse<T>(why: impl Into<String>) -> Result<T, Refusal> {
    Err(Refusal(why.into()))
}

/// What a transition is, for the history, the audit file and notifications.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Record {
    pub action: String,
    pub from: String,
    pub to: String,
    /// The reason or numbers behind it (an alarm, an abort's reason).
    pub detail: Option<String>,
    pub verdict: Option<Verdict>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Transition {
    pub state: RolloutState,
    /// In order; the driver carries them out one after the other.
    pub effects: Vec<Effect>,
    /// `None` when nothing changed (a tick with nothing due).
    pub record: Option<Record>,
}

/// A transition being built.
struct Move<'a> {
    s: RolloutState,
    fx: Vec<Effect>,
    now: DateTime<Utc>,
    detail: Option<String>,
    verdict: Option<Verdict>,
    from: &'a RolloutState,
}

impl Move<'_> {
    fn set_weights(&mut self, weights: Weights) {
        if self.s.course.strategy == StrategyKind::Rolling {
            return;
        }
        self.s.weights = Some(weights);
        if self.s.course.routed {
            self.fx.push(Effect::SetWeights { weights });
        }
    }

    /// The effects that prepare the new version before its first stage.
    fn prepare(&mut self) {
        match (self.s.course.strategy, self.s.slots) {
            (StrategyKind::BlueGreen, Some(slots)) => {
                if let Some(image) = self.s.image.clone() {
                    self.fx.push(Effect::SetImage {
                        target: ImageTarget::Slot(slots.to),
                        image,
                    });
                }
                self.fx.push(Effect::ScaleUpSlot { slot: slots.to });
                self.fx.push(Effect::PointPreview { slot: slots.to });
            }
            (StrategyKind::Rolling, _) => {
                self.fx.push(Effect::SetPaused { paused: false });
                if let Some(image) = self.s.image.clone() {
                    self.fx.push(Effect::SetImage {
                        target: ImageTarget::Deployment,
                        image,
                    });
                }
            }
            _ => {
                if let Some(image) = self.s.image.clone() {
                    self.fx.push(Effect::SetImage {
                        target: ImageTarget::Canary,
                        image,
                    });
                }
            }
        }
    }

    /// Applies stage `i` (the last one completes the rollout).
    fn enter(&mut self, i: usize) {
        if i >= self.s.course.last() {
            self.promote();
            return;
        }
        let stage = self.s.course.stages[i].clone();
        if let Some(replicas) = stage.canary_replicas {
            self.fx.push(Effect::ScaleCanary { replicas });
        }
        self.set_weights(Weights::canary(stage.weight));
        self.s.stage_began = Some(self.now);
        self.s.verdict = None;
        self.wait(i);
    }

    /// Starts (or restarts) the wait of stage `i`, as its pause says.
    fn wait(&mut self, i: usize) {
        let by = match self.s.course.stages.get(i).map(|s| s.pause) {
            Some(Pause::Timed(d)) => PausedBy::Timed {
                until: self.now + chrono::Duration::from_std(d).unwrap_or(chrono::Duration::MAX),
            },
            _ => PausedBy::Stage,
        };
        self.s.phase = Phase::Paused {
            stage: i,
            since: self.now,
            by,
        };
    }

    fn promote(&mut self) {
        let course = &self.s.course;
        if let Some(replicas) = course.stages.last().and_then(|s| s.canary_replicas) {
            self.fx.push(Effect::ScaleCanary { replicas });
        }
        self.set_weights(Weights::ALL_CANARY);
        match (self.s.course.strategy, self.s.slots) {
            (StrategyKind::BlueGreen, Some(slots)) => {
                self.fx.push(Effect::SwitchSelector { slot: slots.to });
                self.fx.push(Effect::ScaleDownSlot {
                    slot: slots.from,
                    after: self.s.course.keep_old_for,
                });
            }
            (StrategyKind::Rolling, _) => self.fx.push(Effect::SetPaused { paused: false }),
            (StrategyKind::Canary, _) => {
                // The hand-over: stable takes the canary's template, traffic
                // goes back to it and the canary is retired, so the next
                // release starts again from "stable runs what users get".
                self.fx.push(Effect::PromoteStable);
                self.set_weights(Weights::ALL_STABLE);
                self.fx.push(Effect::ScaleCanary { replicas: 0 });
            }
            _ => {}
        }
        self.s.stage_began = None;
        self.s.phase = Phase::Promoted { at: self.now };
    }

    fn abort(&mut self, mode: RollbackMode, reason: String) {
        self.detail = Some(reason.clone());
        let current = self.s.weights.map_or(0, Weights::canary_percent);
        let gradual = mode == RollbackMode::Gradual && self.s.course.routed;
        if gradual {
            let next = self.lower_step(current);
            if next > 0 {
                self.set_weights(Weights::canary(next));
                self.s.phase = Phase::RollingBack {
                    weight: next,
                    since: self.now,
                    reason,
                };
                return;
            }
        }
        self.finish_abort(reason);
    }

    fn finish_abort(&mut self, reason: String) {
        match (self.s.course.strategy, self.s.slots) {
            (StrategyKind::Rolling, _) => {
                self.fx.push(Effect::SetPaused { paused: false });
                self.fx.push(Effect::UndoTo {
                    revision: self.s.course.undo_to,
                });
            }
            (StrategyKind::BlueGreen, Some(slots)) => {
                self.set_weights(Weights::ALL_STABLE);
                self.fx.push(Effect::SwitchSelector { slot: slots.from });
            }
            _ => self.set_weights(Weights::ALL_STABLE),
        }
        self.s.stage_began = None;
        self.s.phase = Phase::Aborted {
            at: self.now,
            reason,
        };
    }

    /// The next weight down on the way back: the previous stages', then 0.
    fn lower_step(&self, current: u8) -> u8 {
        self.s
            .course
            .stages
            .iter()
            .map(|s| s.weight)
            .filter(|&w| w < current)
            .max()
            .unwrap_or(0)
    }

    fn hold(&mut self, stage: usize, by: PausedBy) {
        if self.s.course.strategy == StrategyKind::Rolling {
            self.fx.push(Effect::SetPaused { paused: true });
        }
        self.s.phase = Phase::Paused {
            stage,
            since: self.now,
            by,
        };
    }

    /// Moves on from `stage` by itself if its analysis allows; else waits for it.
    fn move_on_or_wait(&mut self, stage: usize) -> bool {
        if self.s.analysis_allows() {
            self.enter(stage + 1);
            true
        } else if matches!(self.s.phase, Phase::Progressing { .. }) {
            false
        } else {
            self.s.phase = Phase::Progressing {
                stage,
                since: self.now,
            };
            true
        }
    }
}

fn not_running(phase: &Phase) -> String {
    match phase {
        Phase::NotStarted => "the rollout has not started".into(),
        Phase::Promoted { .. } => "already promoted".into(),
        Phase::Aborted { .. } => "the rollout was aborted; retry to start it again".into(),
        Phase::RollingBack { .. } => "the rollout is rolling back".into(),
        Phase::Progressing { .. } | Phase::Paused { .. } => "the rollout is running".into(),
    }
}

/// The heart of it: where `state` goes on `event` at `now`, and what the
/// cluster must be told. A refused event changes nothing.
pub fn step(state: &RolloutState, event: Event, now: DateTime<Utc>) -> Result<Transition, Refusal> {
    if let Some(refusal) = state.freeze.as_ref().and_then(|f| f.refusal(&event)) {
        return Err(refusal);
    }
    let action = event.name();
    let mut m = Move {
        s: state.clone(),
        fx: Vec::new(),
        now,
        detail: None,
        verdict: None,
        from: state,
    };
    let running = state.stage();
    let changed = match event {
        Event::Start { image, active_slot } => {
            if state.phase != Phase::NotStarted {
                return refuse(match state.phase {
                    Phase::Aborted { .. } => not_running(&state.phase),
                    Phase::Promoted { .. } => {
                        "already promoted; a new release is a new rollout".into()
                    }
                    _ => "already started".to_string(),
                });
            }
            if state.course.strategy == StrategyKind::BlueGreen {
                let Some(active) = active_slot else {
                    return refuse("a blue-green start needs the slot the active Service selects");
                };
                m.s.slots = Some(Slots {
                    from: active,
                    to: active.other(),
                });
            }
            m.s.image = image.or_else(|| state.course.image.clone());
            m.prepare();
            m.enter(0);
            true
        }
        Event::Retry => {
            if !matches!(state.phase, Phase::Aborted { .. }) {
                return refuse(format!(
                    "only an aborted rollout can be retried ({})",
                    not_running_or(&state.phase, "it is running")
                ));
            }
            m.prepare();
            m.enter(0);
            true
        }
        Event::Advance => {
            let Some(stage) = running else {
                return refuse(not_running(&state.phase));
            };
            if let Some(v) = state.verdict.as_ref().filter(|v| v.stage == stage) {
                m.detail = Some(format!("analysis was {}", v.verdict));
            }
            m.enter(stage + 1);
            true
        }
        Event::PromoteFull => {
            if running.is_none() {
                return refuse(not_running(&state.phase));
            }
            m.promote();
            true
        }
        Event::Pause => match &state.phase {
            Phase::Paused {
                stage,
                by: PausedBy::Stage,
                ..
            } if state.course.strategy == StrategyKind::Rolling => {
                // Watching a rolling update is not pausing it: this sets spec.paused.
                m.hold(*stage, PausedBy::Manual);
                true
            }
            Phase::Progressing { stage, .. }
            | Phase::Paused {
                stage,
                by: PausedBy::Timed { .. },
                ..
            } => {
                m.hold(*stage, PausedBy::Manual);
                true
            }
            Phase::Paused { by, .. } => {
                return refuse(match by {
                    PausedBy::Stage => "already paused: the stage waits for the go",
                    PausedBy::Guard { .. } => "already held by a guard",
                    PausedBy::Analysis { .. } => "already held by a failed analysis",
                    _ => "already paused",
                });
            }
            Phase::RollingBack { .. } => {
                return refuse("a rollback cannot be paused; abort at once to finish it");
            }
            other => return refuse(not_running(other)),
        },
        Event::Resume => match &state.phase {
            Phase::Paused {
                stage,
                by: PausedBy::Stage,
                ..
            } => {
                m.enter(stage + 1);
                true
            }
            Phase::Paused {
                stage,
                by: PausedBy::Manual | PausedBy::Guard { .. } | PausedBy::Analysis { .. },
                ..
            } => {
                if state.course.strategy == StrategyKind::Rolling {
                    m.fx.push(Effect::SetPaused { paused: false });
                }
                m.wait(*stage);
                true
            }
            Phase::Paused {
                by: PausedBy::Timed { until },
                ..
            } => {
                let left = (*until - now).to_std().unwrap_or_default();
                return refuse(format!(
                    "nothing to resume: the stage moves on by itself in {} \
                     (advance skips the wait)",
                    format_duration(left)
                ));
            }
            Phase::Progressing { .. } => {
                return refuse("nothing to resume: the stage waits for its analysis to pass");
            }
            _ => return refuse("nothing to resume"),
        },
        Event::Abort { mode, reason } => {
            match &state.phase {
                Phase::Progressing { .. } | Phase::Paused { .. } => {
                    m.abort(mode.unwrap_or(state.course.rollback), reason);
                }
                Phase::RollingBack { .. } if mode == Some(RollbackMode::Immediate) => {
                    m.detail = Some(reason.clone());
                    m.finish_abort(reason);
                }
                Phase::RollingBack { .. } => return refuse("already rolling back"),
                Phase::Aborted { .. } => return refuse("already aborted"),
                other => return refuse(not_running(other)),
            }
            true
        }
        Event::Undo { revision } => {
            if state.course.strategy != StrategyKind::Rolling {
                return refuse(format!(
                    "undo is for rolling plans; this one is {}: abort instead",
                    state.course.strategy
                ));
            }
            if running.is_none() && !matches!(state.phase, Phase::Aborted { .. }) {
                return refuse(not_running(&state.phase));
            }
            m.s.course.undo_to = revision;
            let reason = match revision {
                Some(r) => format!("undo to revision {r}"),
                None => "undo to the previous revision".into(),
            };
            m.detail = Some(reason.clone());
            m.finish_abort(reason);
            true
        }
        Event::Tick => tick(&mut m),
        Event::GuardFired(alarm) => guard(&mut m, alarm)?,
        Event::Verdict { stage, verdict } => {
            if running != Some(stage) {
                return refuse(format!(
                    "a verdict about stage {} is stale: {}",
                    stage + 1,
                    state.describe()
                ));
            }
            m.verdict = Some(verdict.clone());
            m.s.verdict = Some(StageVerdict {
                stage,
                verdict: verdict.clone(),
            });
            match (verdict.outcome, &state.phase) {
                (Outcome::Fail, _) if state.course.auto => {
                    m.abort(
                        state.course.rollback,
                        format!("analysis failed: {}", verdict.reason),
                    );
                }
                (
                    Outcome::Fail,
                    Phase::Progressing { .. }
                    | Phase::Paused {
                        by: PausedBy::Timed { .. },
                        ..
                    },
                ) => {
                    m.hold(
                        stage,
                        PausedBy::Analysis {
                            reason: verdict.reason.clone(),
                        },
                    );
                }
                // A freeze keeps the stage where it is; the verdict is kept.
                (Outcome::Pass, Phase::Progressing { .. }) if state.freeze.is_none() => {
                    m.enter(stage + 1);
                }
                _ => {}
            }
            true
        }
    };
    if !changed {
        return Ok(Transition {
            state: state.clone(),
            effects: Vec::new(),
            record: None,
        });
    }
    m.s.generation = state.generation.saturating_add(1);
    let record = Record {
        action: action.to_string(),
        from: state.describe(),
        to: m.s.describe(),
        detail: m.detail,
        verdict: m.verdict,
    };
    Ok(Transition {
        state: m.s,
        effects: m.fx,
        record: Some(record),
    })
}

fn not_running_or(phase: &Phase, running: &str) -> String {
    match phase {
        Phase::Progressing { .. } | Phase::Paused { .. } => running.to_string(),
        other => not_running(other),
    }
}

fn tick(m: &mut Move<'_>) -> bool {
    // Frozen, a stage that comes due stays; a rollback still steps down.
    let frozen = m.s.freeze.is_some();
    match m.s.phase.clone() {
        Phase::Paused {
            stage,
            by: PausedBy::Timed { until },
            ..
        } if m.now >= until && !frozen => m.move_on_or_wait(stage),
        Phase::Progressing { stage, .. } if !frozen => m.move_on_or_wait(stage),
        Phase::RollingBack {
            weight,
            since,
            reason,
        } => {
            let due = (m.now - since)
                .to_std()
                .is_ok_and(|waited| waited >= m.s.course.rollback_step);
            if !due {
                return false;
            }
            let next = m.lower_step(weight);
            if next == 0 {
                m.finish_abort(reason);
            } else {
                m.set_weights(Weights::canary(next));
                m.s.phase = Phase::RollingBack {
                    weight: next,
                    since: m.now,
                    reason,
                };
            }
            true
        }
        _ => false,
    }
}

fn guard(m: &mut Move<'_>, alarm: Alarm) -> Result<bool, Refusal> {
    let state = m.from;
    m.detail = Some(alarm.to_string());
    let act = |a: GuardAction| match a {
        GuardAction::Rollback => Some(RollbackMode::Immediate),
        GuardAction::GradualRollback => Some(RollbackMode::Gradual),
        GuardAction::Hold | GuardAction::Notify => None,
    };
    match &state.phase {
        Phase::RollingBack { reason, .. } if alarm.action == GuardAction::Rollback => {
            // A rollback guard does not wait for a gradual one to finish.
            m.finish_abort(format!("{reason}; then {alarm}"));
            Ok(true)
        }
        Phase::Progressing { stage, .. } | Phase::Paused { stage, .. } => {
            let stage = *stage;
            if alarm.action == GuardAction::Notify {
                return Ok(true);
            }
            if let (Some(mode), true) = (act(alarm.action), state.course.auto) {
                m.abort(mode, alarm.to_string());
                return Ok(true);
            }
            if let Phase::Paused {
                by: PausedBy::Guard { .. } | PausedBy::Manual,
                ..
            } = &state.phase
            {
                return refuse(format!("already held: {}", state.describe()));
            }
            m.hold(stage, PausedBy::Guard { alarm });
            Ok(true)
        }
        other => refuse(not_running(other)),
    }
}
