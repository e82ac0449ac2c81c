//! What a freeze refuses and what it leaves allowed, through the machine.

use std::time::Duration;

use chrono::{DateTime, TimeZone, Utc};

use super::Freeze;
use crate::rollout::analysis::{Outcome, Verdict};
use crate::rollout::effects::{Effect, Weights};
use crate::rollout::fixtures;
use crate::rollout::guards::GuardAction;
use crate::rollout::machine::{Event, step};
use crate::rollout::plan::{Plan, RollbackMode};
use crate::rollout::state::{PausedBy, Phase, RolloutState};
use crate::workers::audit::Actor;

fn t(secs: i64) -> DateTime<Utc> {
    Utc.timestamp_opt(1_750_000_000 + secs, 0).unwrap()
}

fn freeze() -> Freeze {
    Freeze {
        by: Actor {
            kube_user: "admin".into(),
            os_user: "alice".into(),
            host: "laptop".into(),
        },
        reason: "checkout errors in EU".into(),
        at: Utc.with_ymd_and_hms(2026, 12, 6, 14, 2, 0).unwrap(),
    }
}

fn plan(tables: &str) -> Plan {
    fixtures::canary(
        r#"[{ weight = 10, pause = "manual" }, { weight = 25, pause = "2m" }, { weight = 100 }]"#,
        tables,
    )
}

/// A canary at its timed second stage (25%, due at 130), frozen.
fn frozen_at_timed_stage(plan: &Plan) -> RolloutState {
    let started = step(
        &RolloutState::new(plan, false),
        Event::Start {
            image: Some("checkout:1.5.0".into()),
            active_slot: None,
        },
        t(0),
    )
    .unwrap()
    .state;
    let mut s = step(&started, Event::Resume, t(10)).unwrap().state;
    s.freeze = Some(Box::new(freeze()));
    s
}

#[test]
fn moving_on_is_refused_naming_who_froze_it_and_why() {
    let s = frozen_at_timed_stage(&plan(""));
    for event in [
        Event::Advance,
        Event::PromoteFull,
        Event::Resume,
        Event::Retry,
        Event::Start {
            image: None,
            active_slot: None,
        },
    ] {
        let name = event.name();
        let refusal = step(&s, event, t(20)).expect_err(name);
        assert_eq!(
            refusal.to_string(),
            "frozen by alice: checkout errors in EU (since 14:02); \
             unfreeze first: flightdeck unfreeze",
            "{name}"
        );
    }
}

#[test]
fn a_stage_that_comes_due_stays_and_a_passing_verdict_does_not_move_it_on() {
    let s = frozen_at_timed_stage(&plan(""));
    let tick = step(&s, Event::Tick, t(600)).unwrap();
    assert_eq!(tick.record, None, "time moved a frozen rollout on");
    assert_eq!(tick.state.phase, s.phase);

    let p = plan("[analysis]\nwindow = \"1m\"\n");
    let mut s = frozen_at_timed_stage(&p);
    s.phase = Phase::Progressing {
        stage: 1,
        since: t(130),
    };
    let pass = Verdict {
        outcome: Outcome::Pass,
        at: t(140),
        reason: "pass for the test".into(),
        checks: Vec::new(),
    };
    let tr = step(
        &s,
        Event::Verdict {
            stage: 1,
            verdict: pass,
        },
        t(140),
    )
    .unwrap();
    assert_eq!(tr.state.stage(), Some(1));
    assert!(tr.effects.is_empty(), "{:?}", tr.effects);
    assert_eq!(
        tr.state.verdict.map(|v| v.verdict.outcome),
        Some(Outcome::Pass)
    );
}

#[test]
fn the_ways_back_a_pause_and_the_guards_stay_allowed() {
    let s = frozen_at_timed_stage(&plan(""));
    let paused = step(&s, Event::Pause, t(20)).unwrap();
    assert!(matches!(
        paused.state.phase,
        Phase::Paused {
            by: PausedBy::Manual,
            ..
        }
    ));
    let aborted = step(
        &s,
        Event::Abort {
            mode: Some(RollbackMode::Immediate),
            reason: "abort by alice".into(),
        },
        t(20),
    )
    .unwrap();
    assert_eq!(
        aborted.effects,
        [Effect::SetWeights {
            weights: Weights::ALL_STABLE
        }]
    );
    let held = step(
        &s,
        Event::GuardFired(fixtures::alarm(t(0), Duration::from_secs(60))),
        t(20),
    )
    .unwrap();
    assert!(matches!(
        held.state.phase,
        Phase::Paused {
            by: PausedBy::Guard { .. },
            ..
        }
    ));
}

#[test]
fn a_gradual_rollback_keeps_stepping_down_and_an_automatic_guard_rolls_back() {
    let mut s = frozen_at_timed_stage(&plan(""));
    let back = step(
        &s,
        Event::Abort {
            mode: Some(RollbackMode::Gradual),
            reason: "rollback by alice".into(),
        },
        t(20),
    )
    .unwrap()
    .state;
    let next = step(&back, Event::Tick, t(600)).unwrap();
    assert!(
        next.record.is_some(),
        "a frozen rollback stopped stepping down"
    );

    s.course.auto = true;
    let mut alarm = fixtures::alarm(t(0), Duration::from_secs(60));
    alarm.action = GuardAction::Rollback;
    let tr = step(&s, Event::GuardFired(alarm), t(20)).unwrap();
    assert!(matches!(tr.state.phase, Phase::Aborted { .. }));
}

#[test]
fn the_freeze_round_trips_and_is_never_stored_with_the_rollout() {
    let f = freeze();
    assert_eq!(Freeze::parse(&f.to_json()).expect("it reads back"), f);
    assert!(Freeze::parse("{\"by\": 1}").is_err());
    let s = frozen_at_timed_stage(&plan(""));
    let text = serde_json::to_string(&s).unwrap();
    assert!(!text.contains("alice"), "{text}");
}
