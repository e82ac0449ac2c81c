//! Which webhook notices a transition makes: the rollout started, reached
//! a stage, paused or resumed, was promoted or rolled back, or its analysis
//! did not pass. Pure: read off the states before and after, so the same
//! transition always tells the same story.

use chrono::{DateTime, Utc};

use crate::rollout::Verdict;
use crate::rollout::analysis::Outcome;
use crate::rollout::guards::Alarm;
use crate::rollout::machine::Record;
use crate::rollout::state::{PausedBy, Phase, RolloutState};
use crate::workers::notify::{Notice, NoticeKind};

/// Whether the rollout is somewhere between its start and its end.
fn running(s: &RolloutState) -> bool {
    s.stage().is_some()
}

fn rolling_back(s: &RolloutState) -> bool {
    matches!(s.phase, Phase::RollingBack { .. } | Phase::Aborted { .. })
}

/// Held by someone or something other than the stage's own timer.
fn held(s: &RolloutState) -> bool {
    matches!(
        s.phase,
        Phase::Paused {
            by: PausedBy::Manual | PausedBy::Guard { .. } | PausedBy::Analysis { .. },
            ..
        }
    )
}

fn alarm_of(s: &RolloutState) -> Option<&Alarm> {
    match &s.phase {
        Phase::Paused {
            by: PausedBy::Guard { alarm },
            ..
        } => Some(alarm),
        _ => None,
    }
}

/// The notices `record` (the transition from `old` to `new` at `at`) makes.
/// `alarm` is the guard finding that caused it, if one did: its numbers go
/// with the pause or the rollback it caused.
pub fn for_transition(
    old: &RolloutState,
    new: &RolloutState,
    record: &Record,
    alarm: Option<&Alarm>,
    at: DateTime<Utc>,
) -> Vec<Notice> {
    let make = |kind: NoticeKind, reason: String| {
        let n = Notice::new(kind, &new.app, &new.namespace, reason).at_time(at);
        at_stage_of(n, new)
    };
    let because = |default: String| record.detail.clone().unwrap_or(default);
    let mut out = Vec::new();
    if let Some(verdict) = &record.verdict
        && verdict.outcome != Outcome::Pass
        && changed_verdict(old, verdict)
    {
        let n = Notice::verdict(&new.app, &new.namespace, verdict).at_time(at);
        out.push(at_stage_of(n, old));
    }
    let with_alarm = |n: Notice| match alarm.or_else(|| alarm_of(new)) {
        Some(a) => n.with_alarm_numbers(a),
        None => n,
    };
    if !running(old) && running(new) {
        let what = new.image.as_deref().map_or_else(
            || format!("{} started", record.action),
            |image| format!("rolling out {image}"),
        );
        out.push(make(NoticeKind::Started, what));
    } else if matches!(new.phase, Phase::Promoted { .. })
        && !matches!(old.phase, Phase::Promoted { .. })
    {
        out.push(make(NoticeKind::Promoted, because(record.action.clone())));
    } else if rolling_back(new) && !rolling_back(old) {
        let reason = match &new.phase {
            Phase::RollingBack { reason, .. } | Phase::Aborted { reason, .. } => reason.clone(),
            _ => because(record.action.clone()),
        };
        let mut n = with_alarm(make(NoticeKind::RolledBack, reason));
        if let Some(w) = new.weights {
            n.weights = Some(w);
        }
        out.push(n);
    } else if running(old) && running(new) {
        if held(new) && !held(old) {
            out.push(with_alarm(make(NoticeKind::Paused, new.describe())));
        } else if held(old) && !held(new) {
            out.push(make(NoticeKind::Resumed, new.describe()));
        }
        if new.stage() != old.stage() {
            out.push(make(NoticeKind::Stage, because(new.describe())));
        }
    }
    out
}

/// `n` placed at the stage `s` stands at (1-based), with its weights.
fn at_stage_of(n: Notice, s: &RolloutState) -> Notice {
    match (s.stage(), s.stage_weights()) {
        (Some(stage), Some(weights)) => n.at_stage(stage + 1, weights),
        _ => n,
    }
}

/// Whether `verdict` says something new about the stage: a repeated
/// inconclusive verdict while a source is down is not worth a message each
/// window.
fn changed_verdict(old: &RolloutState, verdict: &Verdict) -> bool {
    match (&old.verdict, old.stage()) {
        (Some(previous), Some(stage)) if previous.stage == stage => {
            previous.verdict.outcome != verdict.outcome || verdict.outcome == Outcome::Fail
        }
        _ => true,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rollout::Weights;
    use crate::rollout::fixtures;
    use crate::rollout::machine::{Event, step};

    fn at(s: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(1_700_000_000 + s, 0).unwrap()
    }

    fn state(auto: bool) -> RolloutState {
        let plan = fixtures::canary(
            r#"[{ weight = 10, pause = "1m" }, { weight = 50 }, { weight = 100 }]"#,
            "",
        );
        RolloutState::new(&plan, auto)
    }

    /// A rollout started at 0 s, in its first stage.
    fn started(auto: bool) -> RolloutState {
        let mut s = state(auto);
        notices(
            &mut s,
            Event::Start {
                image: None,
                active_slot: None,
            },
            0,
        );
        s
    }

    /// Steps `s` through `event` and returns the notices' kinds and reasons.
    fn notices(s: &mut RolloutState, event: Event, t: i64) -> Vec<(NoticeKind, String)> {
        let alarm = match &event {
            Event::GuardFired(a) => Some(a.clone()),
            _ => None,
        };
        let tr = step(s, event, at(t)).unwrap();
        let record = tr.record.unwrap();
        let out = for_transition(s, &tr.state, &record, alarm.as_ref(), at(t));
        *s = tr.state;
        out.into_iter().map(|n| (n.event, n.reason)).collect()
    }

    fn alarm() -> Alarm {
        fixtures::alarm(at(0), std::time::Duration::from_secs(120))
    }

    #[test]
    fn start_stages_and_promotion_each_tell_once() {
        let mut s = state(false);
        let start = Event::Start {
            image: Some("shop/checkout:1.5.0".into()),
            active_slot: None,
        };
        assert_eq!(
            notices(&mut s, start, 0),
            vec![(
                NoticeKind::Started,
                "rolling out shop/checkout:1.5.0".into()
            )]
        );
        let kinds = |v: Vec<(NoticeKind, String)>| v.into_iter().map(|n| n.0).collect::<Vec<_>>();
        assert_eq!(
            kinds(notices(&mut s, Event::Pause, 10)),
            vec![NoticeKind::Paused]
        );
        assert_eq!(
            kinds(notices(&mut s, Event::Resume, 20)),
            vec![NoticeKind::Resumed]
        );
        let moved = notices(&mut s, Event::Tick, 81);
        assert_eq!(moved.len(), 1);
        assert_eq!(moved[0].0, NoticeKind::Stage);
        let promoted = notices(&mut s, Event::PromoteFull, 90);
        assert_eq!(promoted.len(), 1);
        assert_eq!(promoted[0].0, NoticeKind::Promoted);
    }

    #[test]
    fn a_guard_rollback_carries_the_alarm_and_its_numbers() {
        let s = started(true);
        let a = alarm();
        let tr = step(&s, Event::GuardFired(a.clone()), at(130)).unwrap();
        let out = for_transition(
            &s,
            &tr.state,
            tr.record.as_ref().unwrap(),
            Some(&a),
            at(130),
        );
        assert_eq!(out.len(), 1, "{out:#?}");
        let n = &out[0];
        assert_eq!(n.event, NoticeKind::RolledBack);
        assert!(n.reason.contains("checkout 5xx"), "{}", n.reason);
        assert!((n.numbers["value"] - 0.081).abs() < 1e-9);
        assert!((n.numbers["threshold"] - 0.05).abs() < 1e-9);
        assert_eq!(n.weights, Some(Weights::ALL_STABLE));
        assert_eq!(n.at, at(130));
    }

    #[test]
    fn without_auto_a_guard_holds_and_says_so_with_numbers() {
        let s = started(false);
        let tr = step(&s, Event::GuardFired(alarm()), at(130)).unwrap();
        let out = for_transition(&s, &tr.state, tr.record.as_ref().unwrap(), None, at(130));
        assert_eq!(out.len(), 1);
        assert_eq!(out[0].event, NoticeKind::Paused);
        assert!(out[0].reason.contains("held by guard checkout 5xx"));
        assert_eq!(out[0].stage, Some(1));
        assert!(out[0].numbers.contains_key("value"));
    }

    #[test]
    fn repeated_inconclusive_verdicts_tell_once() {
        let mut s = started(false);
        let verdict = |t| Event::Verdict {
            stage: 0,
            verdict: Verdict::unreachable("Prometheus at http://p:9090 unreachable", at(t)),
        };
        let first = notices(&mut s, verdict(30), 30);
        assert_eq!(first.len(), 1);
        assert_eq!(first[0].0, NoticeKind::Analysis);
        assert!(first[0].1.contains("Prometheus"), "{}", first[0].1);
        assert!(notices(&mut s, verdict(60), 60).is_empty());
    }
}
