//! Properties of the rollout domain that must hold whatever happens: the
//! stage machine under any sequence of events, guards over any series of
//! samples, analysis over any observations.
#![allow(clippy::unwrap_used)]

use std::fmt::Write as _;
use std::path::Path;
use std::time::Duration;

use chrono::{DateTime, TimeZone, Utc};
use proptest::prelude::*;

use flightdeck::rollout::analysis::{Point, Series};
use flightdeck::rollout::guards::{Rule, builtin};
use flightdeck::rollout::plan::{RollbackMode, Slot};
use flightdeck::rollout::{
    Alarm, AnalysisSpec, Effect, Event, GuardAction, GuardMetric, GuardState, Observations,
    Outcome, PausedBy, Phase, Plan, RolloutState, Sample, StrategyKind, Verdict, Weights, analyse,
    step,
};

fn t(secs: i64) -> DateTime<Utc> {
    Utc.timestamp_opt(1_750_000_000 + secs, 0).unwrap()
}

// ---------------------------------------------------------------- plans

#[derive(Debug, Clone)]
struct StageGen {
    weight: u8,
    pause: Option<u32>,
}

fn stages() -> impl Strategy<Value = Vec<StageGen>> {
    prop::collection::btree_set(0u8..100, 1..6).prop_flat_map(|weights| {
        let n = weights.len();
        (
            Just(weights.into_iter().collect::<Vec<_>>()),
            prop::collection::vec(prop::option::of(0u32..400), n),
        )
            .prop_map(|(weights, pauses)| {
                weights
                    .into_iter()
                    .zip(pauses)
                    .map(|(weight, pause)| StageGen { weight, pause })
                    .collect()
            })
    })
}

fn stage_list(stages: &[StageGen]) -> String {
    let mut out = String::from("stages = [");
    for s in stages {
        match s.pause {
            Some(secs) => write!(out, "{{ weight = {}, pause = \"{secs}s\" }}, ", s.weight),
            None => write!(out, "{{ weight = {}, pause = \"manual\" }}, ", s.weight),
        }
        .unwrap();
    }
    out.push_str("{ weight = 100 }]\n");
    out
}

/// Any plan flightdeck can drive: canary (with or without analysis, either
/// rollback mode), blue-green (selector or weighted), rolling.
fn plans() -> impl Strategy<Value = Plan> {
    let head =
        |strategy: &str| format!("app = \"a\"\nnamespace = \"n\"\nstrategy = \"{strategy}\"\n");
    prop_oneof![
        (stages(), any::<bool>(), any::<bool>(), any::<bool>()).prop_map(
            move |(st, analysis, gradual, auto)| {
                let mode = if gradual { "gradual" } else { "immediate" };
                let mut text = head("canary");
                write!(
                    text,
                    "auto = {auto}\n[canary]\nrollback = \"{mode}\"\n{}",
                    stage_list(&st)
                )
                .unwrap();
                text.push_str("[canary.router]\nkind = \"smi\"\n");
                if analysis {
                    text.push_str("[analysis]\n");
                }
                Plan::parse(Path::new("p.toml"), &text).unwrap()
            }
        ),
        prop::option::of(0u32..400).prop_map(move |pause| {
            let mut text = head("blue-green");
            text.push_str("[blue_green]\n");
            if let Some(secs) = pause {
                writeln!(text, "preview_pause = \"{secs}s\"").unwrap();
            }
            Plan::parse(Path::new("p.toml"), &text).unwrap()
        }),
        stages().prop_map(move |st| {
            let mut text = head("blue-green");
            write!(
                text,
                "[blue_green]\nswitch = \"weighted\"\n{}",
                stage_list(&st)
            )
            .unwrap();
            text.push_str("[blue_green.router]\nkind = \"nginx\"\n");
            Plan::parse(Path::new("p.toml"), &text).unwrap()
        }),
        Just(()).prop_map(move |()| {
            let text = format!("{}[rolling]\nimage = \"r/a:2\"\n", head("rolling"));
            Plan::parse(Path::new("p.toml"), &text).unwrap()
        }),
    ]
}

// ---------------------------------------------------------------- events

fn alarm(action: GuardAction) -> Alarm {
    Alarm {
        guard: "g".into(),
        metric: GuardMetric::ErrorRatio,
        action,
        value: 0.1,
        threshold: 0.05,
        since: t(0),
        held_for: Duration::from_secs(120),
    }
}

fn verdict(outcome: Outcome) -> Verdict {
    Verdict {
        outcome,
        at: t(0),
        reason: "r".into(),
        checks: Vec::new(),
    }
}

fn events() -> impl Strategy<Value = Event> {
    let mode = prop::option::of(prop_oneof![
        Just(RollbackMode::Immediate),
        Just(RollbackMode::Gradual)
    ]);
    let action = prop_oneof![
        Just(GuardAction::Hold),
        Just(GuardAction::Rollback),
        Just(GuardAction::GradualRollback),
        Just(GuardAction::Notify),
    ];
    let outcome = prop_oneof![
        Just(Outcome::Pass),
        Just(Outcome::Fail),
        Just(Outcome::Inconclusive)
    ];
    prop_oneof![
        2 => prop::option::of(prop_oneof![Just(Slot::Blue), Just(Slot::Green)])
            .prop_map(|active_slot| Event::Start { image: None, active_slot }),
        3 => Just(Event::Advance),
        2 => Just(Event::Pause),
        2 => Just(Event::Resume),
        1 => Just(Event::PromoteFull),
        1 => mode.prop_map(|mode| Event::Abort { mode, reason: "why".into() }),
        1 => Just(Event::Retry),
        1 => prop::option::of(1u64..5).prop_map(|revision| Event::Undo { revision }),
        6 => Just(Event::Tick),
        2 => action.prop_map(|a| Event::GuardFired(alarm(a))),
        3 => (0usize..6, outcome)
            .prop_map(|(stage, o)| Event::Verdict { stage, verdict: verdict(o) }),
    ]
}

/// Events with the seconds that pass before each.
fn timeline() -> impl Strategy<Value = Vec<(u32, Event)>> {
    prop::collection::vec((0u32..200, events()), 0..60)
}

fn is_held(phase: &Phase) -> bool {
    matches!(
        phase,
        Phase::Paused {
            by: PausedBy::Manual
                | PausedBy::Stage
                | PausedBy::Guard { .. }
                | PausedBy::Analysis { .. },
            ..
        }
    )
}

/// The invariants of one step from `before` on `event`.
fn check_step(before: &RolloutState, event: &Event, now: DateTime<Utc>) -> RolloutState {
    let Ok(tr) = step(before, event.clone(), now) else {
        return before.clone();
    };
    let after = &tr.state;

    // Weights always add up to 100, as stored and as sent to the cluster.
    for w in after
        .weights
        .iter()
        .chain(tr.effects.iter().filter_map(|e| match e {
            Effect::SetWeights { weights } => Some(weights),
            _ => None,
        }))
    {
        let json: serde_json::Value = serde_json::to_value(w).unwrap();
        let sum = json["stable"].as_u64().unwrap() + json["canary"].as_u64().unwrap();
        assert_eq!(sum, 100, "{json}");
    }

    // Promoted is final.
    if matches!(before.phase, Phase::Promoted { .. }) {
        assert_eq!(after, before, "{event:?} left Promoted");
        assert!(tr.effects.is_empty() && tr.record.is_none());
    }

    // Aborted is left only by a retry.
    if matches!(before.phase, Phase::Aborted { .. })
        && !matches!(after.phase, Phase::Aborted { .. })
    {
        assert_eq!(event, &Event::Retry, "left Aborted on {event:?}");
    }

    // An abort ends with all traffic on stable (rolling has no weights).
    if matches!(after.phase, Phase::Aborted { .. }) {
        if after.course.strategy == StrategyKind::Rolling {
            assert_eq!(after.weights, None);
        } else {
            assert_eq!(after.weights, Some(Weights::ALL_STABLE));
        }
        if !matches!(before.phase, Phase::Aborted { .. }) && after.course.routed {
            assert_eq!(
                tr.effects.iter().rev().find_map(|e| match e {
                    Effect::SetWeights { weights } => Some(*weights),
                    _ => None,
                }),
                Some(Weights::ALL_STABLE)
            );
        }
    }

    // While a stage runs, the weights are that stage's.
    if let Some(stage) = after.stage()
        && after.course.strategy != StrategyKind::Rolling
    {
        assert_eq!(
            after.weights,
            Some(Weights::canary(after.course.stages[stage].weight)),
            "{}",
            after.describe()
        );
    }

    // Time never ends a pause that waits for a person.
    if event == &Event::Tick && is_held(&before.phase) {
        assert_eq!(after.phase, before.phase);
    }

    // Every change is recorded, and only changes are.
    assert_eq!(
        tr.record.is_some(),
        after.generation == before.generation + 1
    );
    tr.state
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(400))]

    #[test]
    fn the_stage_machine_keeps_its_promises(plan in plans(), timeline in timeline()) {
        let mut state = RolloutState::new(&plan, false);
        let mut now = 0i64;
        for (wait, event) in &timeline {
            now += i64::from(*wait);
            state = check_step(&state, event, t(now));
        }
    }

    #[test]
    fn every_abort_lands_with_stable_at_100(
        plan in plans(),
        timeline in timeline(),
        gradual in any::<bool>(),
    ) {
        let mut state = RolloutState::new(&plan, false);
        let mut now = 0i64;
        for (wait, event) in &timeline {
            now += i64::from(*wait);
            state = check_step(&state, event, t(now));
        }
        let mode = Some(if gradual { RollbackMode::Gradual } else { RollbackMode::Immediate });
        let abort = Event::Abort { mode, reason: "end".into() };
        if let Ok(tr) = step(&state, abort, t(now)) {
            state = tr.state;
            // A gradual rollback takes one step per rollback_step at most per stage.
            for _ in 0..=state.course.stages.len() {
                now += 31;
                state = check_step(&state, &Event::Tick, t(now));
            }
            prop_assert!(matches!(state.phase, Phase::Aborted { .. }), "{}", state.describe());
        }
    }
}

// ---------------------------------------------------------------- guards

const INTERVAL: Duration = Duration::from_secs(15);

fn error_guard(hold_secs: u64) -> flightdeck::rollout::GuardSpec {
    let mut g = builtin(GuardMetric::ErrorRatio);
    g.rule = Rule::Above {
        threshold: 0.05,
        hold_for: Duration::from_secs(hold_secs),
    };
    g
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]

    /// Runs of bad samples, each shorter than `for`, split by good samples
    /// or gaps, never fire, whenever they are looked at.
    #[test]
    fn a_breach_shorter_than_for_never_fires(
        hold_secs in 30u64..600,
        runs in prop::collection::vec((1usize..40, any::<bool>(), 0.051f64..1.0), 1..8),
    ) {
        let g = error_guard(hold_secs);
        let max_len = (hold_secs - 1) / 15 + 1; // (len - 1) × 15s < for
        let mut samples = Vec::new();
        let mut at = 0i64;
        for (len, split_by_gap, value) in runs {
            for _ in 0..len.min(max_len as usize) {
                samples.push(Sample { at: t(at), value: Some(value) });
                at += 15;
            }
            if split_by_gap {
                at += 45;
            } else {
                samples.push(Sample { at: t(at), value: Some(0.01) });
                at += 15;
            }
        }
        for end in 1..=samples.len() {
            let now = samples[end - 1].at;
            let state = g.evaluate(&samples[..end], INTERVAL, now);
            prop_assert!(!matches!(state, GuardState::Firing { .. }), "{state:?} at {end}");
        }
    }

    /// An unbroken breach lasting at least `for` fires.
    #[test]
    fn a_breach_lasting_for_fires(
        hold_secs in 0u64..600,
        extra in 0i64..20,
        value in 0.051f64..1.0,
    ) {
        let g = error_guard(hold_secs);
        let last = (hold_secs as i64 + 14) / 15 + extra;
        let mut samples = vec![Sample { at: t(-15), value: Some(0.0) }];
        samples.extend((0..=last).map(|i| Sample { at: t(i * 15), value: Some(value) }));
        let now = t(last * 15);
        let state = g.evaluate(&samples, INTERVAL, now);
        prop_assert_eq!(state, GuardState::Firing { since: t(0), value });
    }

    /// Missing samples are never a pass: a series ending in missing values,
    /// or one that stopped, is no data, never Ok.
    #[test]
    fn missing_samples_never_pass(
        values in prop::collection::vec(prop::option::of(0.0f64..0.2), 0..30),
        missing_tail in 1usize..5,
        silence in 31i64..3600,
    ) {
        let g = error_guard(120);
        let mut samples: Vec<Sample> = values
            .iter()
            .enumerate()
            .map(|(i, v)| Sample { at: t(i as i64 * 15), value: *v })
            .collect();
        let end = samples.len() as i64 * 15;
        samples.extend(
            (0..missing_tail).map(|i| Sample { at: t(end + i as i64 * 15), value: None }),
        );
        let now = samples.last().unwrap().at;
        let at_end = g.evaluate(&samples, INTERVAL, now);
        prop_assert!(matches!(at_end, GuardState::NoData { .. }), "{:?}", at_end);
        // The source went quiet.
        let quiet = now + chrono::Duration::seconds(silence);
        let later = g.evaluate(&samples, INTERVAL, quiet);
        prop_assert!(matches!(later, GuardState::NoData { .. }), "{:?}", later);
    }
}

// ---------------------------------------------------------------- analysis

fn points(max: usize) -> impl Strategy<Value = Vec<Point>> {
    prop::collection::vec((0i64..400, 0.0f64..2.0), 0..max).prop_map(|v| {
        v.into_iter()
            .map(|(s, value)| Point { at: t(s), value })
            .collect()
    })
}

fn series() -> impl Strategy<Value = Series> {
    (points(10), points(10)).prop_map(|(canary, stable)| Series { canary, stable })
}

fn usable(points: &[Point], spec: &AnalysisSpec, now: DateTime<Utc>) -> bool {
    let window = chrono::Duration::from_std(spec.window).unwrap();
    let inside: Vec<_> = points
        .iter()
        .filter(|p| p.at >= now - window && p.at <= now)
        .collect();
    let fresh = inside
        .iter()
        .map(|p| p.at)
        .max()
        .is_some_and(|newest| (now - newest).to_std().unwrap() <= spec.max_staleness);
    fresh && inside.len() >= spec.min_samples
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(500))]

    /// A pass needs enough fresh samples of every compared metric for both
    /// versions; without them the verdict is never a pass.
    #[test]
    fn analysis_never_passes_without_data(
        error_ratio in series(), p99 in series(), memory in series(), request_rate in series(),
        min_samples in 1usize..6, canary_weight in 0u8..=100,
    ) {
        let spec = AnalysisSpec { min_samples, ..AnalysisSpec::default() };
        let obs = Observations {
            weights: Some(Weights::canary(canary_weight)),
            request_rate, error_ratio, p99, memory,
        };
        let now = t(400);
        let v = analyse(&spec, Ok(&obs), None, now);
        if v.outcome == Outcome::Pass {
            for s in [&obs.error_ratio, &obs.p99, &obs.memory] {
                let enough = usable(&s.canary, &spec, now) && usable(&s.stable, &spec, now);
                prop_assert!(enough, "{v:#?}");
            }
        }
        let empty = Observations { weights: obs.weights, ..Observations::default() };
        prop_assert_eq!(analyse(&spec, Ok(&empty), None, now).outcome, Outcome::Inconclusive);
        prop_assert_eq!(analyse(&spec, Err("timeout"), None, now).outcome, Outcome::Inconclusive);
    }
}
