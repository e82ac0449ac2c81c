//! Each transition and refusal of the stage machine, with the effects the
//! cluster would receive.

use std::path::Path;
use std::time::Duration;

use chrono::{DateTime, TimeZone, Utc};

use super::analysis::{Outcome, Verdict};
use super::effects::{Effect, ImageTarget, Weights};
use super::guards::{Alarm, GuardAction, GuardMetric};
use super::machine::{Event, Transition, step};
use super::plan::{Plan, RollbackMode, Slot};
use super::state::{PausedBy, Phase, RolloutState};

fn t(secs: i64) -> DateTime<Utc> {
    Utc.timestamp_opt(1_750_000_000 + secs, 0).unwrap()
}

const CANARY: &str = r#"
app = "checkout"
namespace = "shop"
strategy = "canary"
[canary]
stages = [
  { weight = 10, pause = "manual" },
  { weight = 25, pause = "2m" },
  { weight = 50, pause = "2m", canary_replicas = 2 },
  { weight = 100 },
]
[canary.router]
kind = "istio"
"#;

fn plan(text: &str) -> Plan {
    Plan::parse(Path::new("test.toml"), text).unwrap()
}

fn with_analysis() -> Plan {
    plan(&format!("{CANARY}[analysis]\nwindow = \"1m\"\n"))
}

fn go(state: &RolloutState, event: Event, at: i64) -> Transition {
    step(state, event, t(at)).unwrap()
}

fn refused(state: &RolloutState, event: Event, at: i64) -> String {
    step(state, event, t(at)).unwrap_err().to_string()
}

fn start(plan: &Plan) -> Transition {
    go(
        &RolloutState::new(plan, false),
        Event::Start {
            image: Some("registry.local/shop/checkout:1.5.0".into()),
            active_slot: None,
        },
        0,
    )
}

fn weights(percent: u8) -> Effect {
    Effect::SetWeights {
        weights: Weights::canary(percent),
    }
}

fn verdict(outcome: Outcome, at: i64) -> Verdict {
    Verdict {
        outcome,
        at: t(at),
        reason: format!("{outcome} for the test"),
        checks: Vec::new(),
    }
}

fn alarm(action: GuardAction) -> Alarm {
    Alarm {
        guard: "error-ratio".into(),
        metric: GuardMetric::ErrorRatio,
        action,
        value: 0.08,
        threshold: 0.05,
        since: t(0),
        held_for: Duration::from_secs(125),
    }
}

/// A canary standing at stage 2 (25%, timed), started at 0 and advanced at 10.
fn at_timed_stage(plan: &Plan) -> RolloutState {
    let s = start(plan).state;
    go(&s, Event::Resume, 10).state
}

#[test]
fn start_sets_the_image_then_the_first_weights_and_waits_for_the_go() {
    let tr = start(&plan(CANARY));
    assert_eq!(
        tr.effects,
        [
            Effect::SetImage {
                target: ImageTarget::Canary,
                image: "registry.local/shop/checkout:1.5.0".into(),
            },
            weights(10),
        ]
    );
    assert_eq!(
        tr.state.phase,
        Phase::Paused {
            stage: 0,
            since: t(0),
            by: PausedBy::Stage
        }
    );
    assert_eq!(tr.state.weights, Some(Weights::canary(10)));
    let record = tr.record.unwrap();
    assert_eq!(record.action, "start");
    assert_eq!(record.from, "not started");
    assert_eq!(record.to, "stage 1/4 at 10%, waiting for the go");
    assert_eq!(tr.state.generation, 1);
}

#[test]
fn start_is_refused_once_started() {
    let s = start(&plan(CANARY)).state;
    let event = Event::Start {
        image: None,
        active_slot: None,
    };
    assert_eq!(refused(&s, event, 5), "already started");
}

#[test]
fn resume_at_a_manual_stage_moves_on_and_starts_the_timer() {
    let s = at_timed_stage(&plan(CANARY));
    assert_eq!(
        s.phase,
        Phase::Paused {
            stage: 1,
            since: t(10),
            by: PausedBy::Timed { until: t(130) }
        }
    );
    assert_eq!(s.time_left(t(70)), Some(Duration::from_secs(60)));
    assert_eq!(s.weights, Some(Weights::canary(25)));
}

#[test]
fn a_timed_stage_moves_on_by_itself_when_the_plan_has_no_analysis() {
    let s = at_timed_stage(&plan(CANARY));
    let early = go(&s, Event::Tick, 129);
    assert_eq!(early.record, None);
    assert_eq!(early.state, s);
    let due = go(&s, Event::Tick, 130);
    assert_eq!(
        due.effects,
        [Effect::ScaleCanary { replicas: 2 }, weights(50)]
    );
    assert_eq!(due.state.stage(), Some(2));
}

#[test]
fn a_timed_stage_waits_for_a_passing_verdict() {
    let s = at_timed_stage(&with_analysis());
    let waiting = go(&s, Event::Tick, 130).state;
    assert_eq!(
        waiting.phase,
        Phase::Progressing {
            stage: 1,
            since: t(130)
        }
    );
    assert_eq!(waiting.describe(), "stage 2/4 at 25%, waiting for analysis");
    // Inconclusive keeps it there, ticks change nothing.
    let held = go(
        &waiting,
        Event::Verdict {
            stage: 1,
            verdict: verdict(Outcome::Inconclusive, 140),
        },
        140,
    )
    .state;
    assert_eq!(held.stage(), Some(1));
    assert_eq!(go(&held, Event::Tick, 500).record, None);
    // A pass moves it on at once.
    let passed = go(
        &held,
        Event::Verdict {
            stage: 1,
            verdict: verdict(Outcome::Pass, 150),
        },
        150,
    );
    assert_eq!(passed.state.stage(), Some(2));
    assert_eq!(passed.effects.last(), Some(&weights(50)));
    assert_eq!(
        passed.record.unwrap().verdict.unwrap().outcome,
        Outcome::Pass
    );
}

#[test]
fn a_pass_during_the_timer_moves_on_when_the_timer_ends() {
    let s = at_timed_stage(&with_analysis());
    let passed = go(
        &s,
        Event::Verdict {
            stage: 1,
            verdict: verdict(Outcome::Pass, 60),
        },
        60,
    )
    .state;
    assert_eq!(passed.stage(), Some(1));
    assert_eq!(go(&passed, Event::Tick, 130).state.stage(), Some(2));
}

#[test]
fn a_verdict_about_another_stage_is_refused() {
    let s = at_timed_stage(&with_analysis());
    let event = Event::Verdict {
        stage: 0,
        verdict: verdict(Outcome::Pass, 60),
    };
    assert_eq!(
        refused(&s, event, 60),
        "a verdict about stage 1 is stale: stage 2/4 at 25%, paused until 15:08:50"
    );
}

#[test]
fn a_failed_analysis_holds_without_auto_and_aborts_with_it() {
    let s = at_timed_stage(&with_analysis());
    let fail = Event::Verdict {
        stage: 1,
        verdict: verdict(Outcome::Fail, 60),
    };
    let held = go(&s, fail.clone(), 60);
    assert_eq!(
        held.state.phase,
        Phase::Paused {
            stage: 1,
            since: t(60),
            by: PausedBy::Analysis {
                reason: "fail for the test".into()
            }
        }
    );
    assert!(held.effects.is_empty());

    let mut auto = s.clone();
    auto.course.auto = true;
    let aborted = go(&auto, fail, 60);
    assert_eq!(aborted.effects, [weights(0)]);
    assert_eq!(
        aborted.state.phase,
        Phase::Aborted {
            at: t(60),
            reason: "analysis failed: fail for the test".into()
        }
    );
}

#[test]
fn a_manual_pause_outlasts_its_timer_and_resume_restarts_it() {
    let s = at_timed_stage(&plan(CANARY));
    let paused = go(&s, Event::Pause, 20).state;
    assert_eq!(
        paused.phase,
        Phase::Paused {
            stage: 1,
            since: t(20),
            by: PausedBy::Manual
        }
    );
    assert_eq!(go(&paused, Event::Tick, 10_000).record, None);
    assert_eq!(paused.paused_for(t(80)), Some(Duration::from_secs(60)));
    assert_eq!(refused(&paused, Event::Pause, 30), "already paused");
    let resumed = go(&paused, Event::Resume, 300).state;
    assert_eq!(
        resumed.phase,
        Phase::Paused {
            stage: 1,
            since: t(300),
            by: PausedBy::Timed { until: t(420) }
        }
    );
    assert_eq!(resumed.weights, Some(Weights::canary(25)));
}

#[test]
fn resume_says_why_there_is_nothing_to_resume() {
    let s = at_timed_stage(&with_analysis());
    assert_eq!(
        refused(&s, Event::Resume, 70),
        "nothing to resume: the stage moves on by itself in 1m00s (advance skips the wait)"
    );
    let waiting = go(&s, Event::Tick, 130).state;
    assert_eq!(
        refused(&waiting, Event::Resume, 140),
        "nothing to resume: the stage waits for its analysis to pass"
    );
    let fresh = RolloutState::new(&plan(CANARY), false);
    assert_eq!(refused(&fresh, Event::Resume, 0), "nothing to resume");
    assert_eq!(
        refused(&fresh, Event::Advance, 0),
        "the rollout has not started"
    );
}

#[test]
fn advancing_past_the_last_stage_promotes_and_nothing_leaves_promoted() {
    let p = plan(CANARY);
    let mut s = start(&p).state;
    for at in 1..=2 {
        s = go(&s, Event::Advance, at).state;
    }
    let done = go(&s, Event::Advance, 3);
    assert_eq!(
        done.effects,
        [
            weights(100),
            Effect::PromoteStable,
            weights(0),
            Effect::ScaleCanary { replicas: 0 }
        ]
    );
    assert_eq!(done.state.weights, Some(Weights::ALL_STABLE));
    assert_eq!(done.state.phase, Phase::Promoted { at: t(3) });
    assert!(done.state.is_finished());
    let s = done.state;
    for event in [
        Event::Advance,
        Event::Pause,
        Event::PromoteFull,
        Event::Abort {
            mode: None,
            reason: "x".into(),
        },
        Event::GuardFired(alarm(GuardAction::Rollback)),
    ] {
        assert_eq!(refused(&s, event, 4), "already promoted");
    }
    assert_eq!(
        refused(&s, Event::Retry, 4),
        "only an aborted rollout can be retried (already promoted)"
    );
    assert_eq!(go(&s, Event::Tick, 5).record, None);
}

#[test]
fn promote_full_skips_the_remaining_stages() {
    let s = start(&plan(CANARY)).state;
    let done = go(&s, Event::PromoteFull, 5);
    assert_eq!(
        done.effects,
        [
            weights(100),
            Effect::PromoteStable,
            weights(0),
            Effect::ScaleCanary { replicas: 0 }
        ]
    );
    assert_eq!(done.state.weights, Some(Weights::ALL_STABLE));
    assert_eq!(done.state.phase, Phase::Promoted { at: t(5) });
}

#[test]
fn an_immediate_abort_puts_stable_at_100_and_only_retry_leaves_it() {
    let s = at_timed_stage(&plan(CANARY));
    let abort = Event::Abort {
        mode: Some(RollbackMode::Immediate),
        reason: "captain says no".into(),
    };
    let aborted = go(&s, abort.clone(), 30);
    assert_eq!(aborted.effects, [weights(0)]);
    assert_eq!(aborted.state.weights, Some(Weights::ALL_STABLE));
    assert_eq!(
        aborted.record.as_ref().unwrap().detail.as_deref(),
        Some("captain says no")
    );
    let s = aborted.state;
    assert_eq!(refused(&s, abort, 31), "already aborted");
    assert_eq!(
        refused(&s, Event::Advance, 31),
        "the rollout was aborted; retry to start it again"
    );
    let retried = go(&s, Event::Retry, 40);
    assert_eq!(
        retried.effects,
        [
            Effect::SetImage {
                target: ImageTarget::Canary,
                image: "registry.local/shop/checkout:1.5.0".into(),
            },
            weights(10),
        ]
    );
    assert_eq!(retried.state.stage(), Some(0));
}

#[test]
fn a_gradual_abort_steps_down_through_the_stages() {
    let p = plan(CANARY);
    let mut s = at_timed_stage(&p);
    s = go(&s, Event::Tick, 130).state; // at 50%
    let back = go(
        &s,
        Event::Abort {
            mode: Some(RollbackMode::Gradual),
            reason: "p99".into(),
        },
        140,
    );
    assert_eq!(back.effects, [weights(25)]);
    assert_eq!(back.state.describe(), "rolling back, canary at 25%");
    let s = back.state;
    assert_eq!(go(&s, Event::Tick, 169).record, None);
    let s = go(&s, Event::Tick, 170).state;
    assert_eq!(s.weights, Some(Weights::canary(10)));
    assert_eq!(
        refused(&s, Event::Pause, 171),
        "a rollback cannot be paused; abort at once to finish it"
    );
    let done = go(&s, Event::Tick, 200);
    assert_eq!(done.effects, [weights(0)]);
    assert_eq!(
        done.state.phase,
        Phase::Aborted {
            at: t(200),
            reason: "p99".into()
        }
    );
}

#[test]
fn an_immediate_abort_cuts_a_gradual_one_short() {
    let s = go(
        &at_timed_stage(&plan(CANARY)),
        Event::Abort {
            mode: Some(RollbackMode::Gradual),
            reason: "slow".into(),
        },
        20,
    )
    .state;
    assert!(matches!(s.phase, Phase::RollingBack { weight: 10, .. }));
    let gradual_again = Event::Abort {
        mode: Some(RollbackMode::Gradual),
        reason: "again".into(),
    };
    assert_eq!(refused(&s, gradual_again, 21), "already rolling back");
    let now = go(
        &s,
        Event::Abort {
            mode: Some(RollbackMode::Immediate),
            reason: "now".into(),
        },
        22,
    );
    assert_eq!(now.effects, [weights(0)]);
    assert!(matches!(now.state.phase, Phase::Aborted { .. }));
}

#[test]
fn guards_hold_without_auto() {
    let s = at_timed_stage(&plan(CANARY));
    let held = go(&s, Event::GuardFired(alarm(GuardAction::Rollback)), 30);
    assert!(held.effects.is_empty());
    assert_eq!(
        held.state.phase,
        Phase::Paused {
            stage: 1,
            since: t(30),
            by: PausedBy::Guard {
                alarm: alarm(GuardAction::Rollback)
            }
        }
    );
    assert_eq!(
        held.record.unwrap().detail.as_deref(),
        Some("error-ratio: error-ratio 8.0% > 5.0% for 2m05s")
    );
    assert_eq!(
        refused(
            &held.state,
            Event::GuardFired(alarm(GuardAction::Rollback)),
            45
        ),
        "already held: stage 2/4 at 25%, held by guard error-ratio"
    );
    // The captain acknowledges; the stage's timer starts again.
    let resumed = go(&held.state, Event::Resume, 60).state;
    assert!(matches!(
        resumed.phase,
        Phase::Paused {
            by: PausedBy::Timed { .. },
            ..
        }
    ));
}

#[test]
fn guards_act_by_themselves_with_auto() {
    let mut s = at_timed_stage(&plan(CANARY));
    s.course.auto = true;
    let rolled = go(&s, Event::GuardFired(alarm(GuardAction::Rollback)), 30);
    assert_eq!(rolled.effects, [weights(0)]);
    assert!(matches!(rolled.state.phase, Phase::Aborted { .. }));

    let gradual = go(
        &s,
        Event::GuardFired(alarm(GuardAction::GradualRollback)),
        30,
    );
    assert_eq!(gradual.effects, [weights(10)]);
    assert!(matches!(gradual.state.phase, Phase::RollingBack { .. }));
    // A rollback guard does not wait for the gradual one.
    let cut = go(
        &gradual.state,
        Event::GuardFired(alarm(GuardAction::Rollback)),
        31,
    );
    assert_eq!(cut.effects, [weights(0)]);
    assert!(matches!(cut.state.phase, Phase::Aborted { .. }));

    let hold = go(&s, Event::GuardFired(alarm(GuardAction::Hold)), 30);
    assert!(matches!(
        hold.state.phase,
        Phase::Paused {
            by: PausedBy::Guard { .. },
            ..
        }
    ));
    let notify = go(&s, Event::GuardFired(alarm(GuardAction::Notify)), 30);
    assert_eq!(notify.state.phase, s.phase);
    assert!(notify.effects.is_empty());
    assert_eq!(notify.record.unwrap().action, "guard");
}

#[test]
fn a_guard_before_the_start_is_refused() {
    let s = RolloutState::new(&plan(CANARY), true);
    assert_eq!(
        refused(&s, Event::GuardFired(alarm(GuardAction::Rollback)), 0),
        "the rollout has not started"
    );
}

const BLUE_GREEN: &str = r#"
app = "web"
namespace = "frontend"
strategy = "blue-green"
[blue_green]
preview_service = "web-preview"
keep_old_for = "10m"
"#;

#[test]
fn blue_green_previews_then_switches_and_keeps_the_old_slot() {
    let p = plan(BLUE_GREEN);
    let fresh = RolloutState::new(&p, false);
    assert_eq!(
        refused(
            &fresh,
            Event::Start {
                image: None,
                active_slot: None
            },
            0
        ),
        "a blue-green start needs the slot the active Service selects"
    );
    let started = go(
        &fresh,
        Event::Start {
            image: Some("registry.local/frontend/web:7.1.0".into()),
            active_slot: Some(Slot::Blue),
        },
        0,
    );
    assert_eq!(
        started.effects,
        [
            Effect::SetImage {
                target: ImageTarget::Slot(Slot::Green),
                image: "registry.local/frontend/web:7.1.0".into(),
            },
            Effect::ScaleUpSlot { slot: Slot::Green },
            Effect::PointPreview { slot: Slot::Green },
        ]
    );
    assert_eq!(started.state.describe(), "previewing, waiting for the go");
    let switched = go(&started.state, Event::Advance, 60);
    assert_eq!(
        switched.effects,
        [
            Effect::SwitchSelector { slot: Slot::Green },
            Effect::ScaleDownSlot {
                slot: Slot::Blue,
                after: Duration::from_secs(600)
            },
        ]
    );
    assert_eq!(switched.state.weights, Some(Weights::ALL_CANARY));

    let aborted = go(
        &started.state,
        Event::Abort {
            mode: None,
            reason: "preview looks wrong".into(),
        },
        60,
    );
    assert_eq!(
        aborted.effects,
        [Effect::SwitchSelector { slot: Slot::Blue }]
    );
    assert_eq!(aborted.state.weights, Some(Weights::ALL_STABLE));
}

#[test]
fn weighted_blue_green_shifts_through_the_router() {
    let p = plan(
        r#"
app = "web"
namespace = "frontend"
strategy = "blue-green"
[blue_green]
switch = "weighted"
stages = [{ weight = 10, pause = "1m" }, { weight = 50, pause = "1m" }, { weight = 100 }]
[blue_green.router]
kind = "gateway-api"
"#,
    );
    let s = go(
        &RolloutState::new(&p, false),
        Event::Start {
            image: None,
            active_slot: Some(Slot::Green),
        },
        0,
    );
    assert_eq!(
        s.effects,
        [
            Effect::ScaleUpSlot { slot: Slot::Blue },
            Effect::PointPreview { slot: Slot::Blue },
            weights(10),
        ]
    );
    let s = go(&s.state, Event::Tick, 60);
    assert_eq!(s.effects, [weights(50)]);
    let done = go(&s.state, Event::Tick, 120);
    assert_eq!(
        done.effects,
        [
            weights(100),
            Effect::SwitchSelector { slot: Slot::Blue },
            Effect::ScaleDownSlot {
                slot: Slot::Green,
                after: Duration::from_secs(600)
            },
        ]
    );
}

const ROLLING: &str = r#"
app = "api"
namespace = "backend"
strategy = "rolling"
[rolling]
image = "registry.local/backend/api:10.5.0"
"#;

#[test]
fn rolling_sets_the_image_pauses_resumes_and_undoes() {
    let p = plan(ROLLING);
    let started = go(
        &RolloutState::new(&p, false),
        Event::Start {
            image: None,
            active_slot: None,
        },
        0,
    );
    assert_eq!(
        started.effects,
        [
            Effect::SetPaused { paused: false },
            Effect::SetImage {
                target: ImageTarget::Deployment,
                image: "registry.local/backend/api:10.5.0".into(),
            },
        ]
    );
    assert_eq!(started.state.weights, None);
    assert_eq!(started.state.describe(), "rolling out, waiting for the go");

    let paused = go(&started.state, Event::Pause, 10);
    assert_eq!(paused.effects, [Effect::SetPaused { paused: true }]);
    let resumed = go(&paused.state, Event::Resume, 20);
    assert_eq!(resumed.effects, [Effect::SetPaused { paused: false }]);
    assert_eq!(resumed.state.stage(), Some(0));

    let undone = go(&resumed.state, Event::Undo { revision: Some(3) }, 30);
    assert_eq!(
        undone.effects,
        [
            Effect::SetPaused { paused: false },
            Effect::UndoTo { revision: Some(3) },
        ]
    );
    assert_eq!(
        undone.state.phase,
        Phase::Aborted {
            at: t(30),
            reason: "undo to revision 3".into()
        }
    );

    let aborted = go(
        &resumed.state,
        Event::Abort {
            mode: Some(RollbackMode::Gradual),
            reason: "5xx".into(),
        },
        30,
    );
    assert_eq!(
        aborted.effects,
        [
            Effect::SetPaused { paused: false },
            Effect::UndoTo { revision: None },
        ]
    );

    let done = go(&resumed.state, Event::Resume, 40);
    assert_eq!(done.effects, [Effect::SetPaused { paused: false }]);
    assert!(matches!(done.state.phase, Phase::Promoted { .. }));
}

#[test]
fn undo_is_only_for_rolling_plans() {
    let s = start(&plan(CANARY)).state;
    assert_eq!(
        refused(&s, Event::Undo { revision: None }, 1),
        "undo is for rolling plans; this one is canary: abort instead"
    );
}

#[test]
fn the_state_resumes_from_json_at_the_same_stage() {
    let s = at_timed_stage(&with_analysis());
    let json = serde_json::to_string(&s).unwrap();
    let back: RolloutState = serde_json::from_str(&json).unwrap();
    assert_eq!(back, s);
    assert_eq!(
        go(&back, Event::Tick, 130).state.phase,
        Phase::Progressing {
            stage: 1,
            since: t(130)
        }
    );
}
