//! Checks: the runbook's steps around a rollout, written as `[[checks]]` in
//! the plan. A check stands at a point of the rollout (before it starts,
//! before a stage, before or after the promotion, after a rollback) and is
//! either a sentence a person ticks or a command flightdeck runs. Pure: the
//! model, the placeholders and the gate that says whether a point may be
//! passed, from the results stored on the cluster.

use std::collections::BTreeMap;
use std::fmt;
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::state::{Phase, RolloutState};

/// Where a check stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Point {
    BeforeStart,
    /// Before the stage with this number (1 is the first stage).
    BeforeStage(usize),
    BeforePromote,
    AfterPromote,
    AfterRollback,
}

impl Point {
    /// Whether the rollout waits on it; the points after the fact only run
    /// and record.
    pub fn holds(self) -> bool {
        !matches!(self, Point::AfterPromote | Point::AfterRollback)
    }
}

impl fmt::Display for Point {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Point::BeforeStart => f.write_str("before-start"),
            Point::BeforeStage(n) => write!(f, "before-stage {n}"),
            Point::BeforePromote => f.write_str("before-promote"),
            Point::AfterPromote => f.write_str("after-promote"),
            Point::AfterRollback => f.write_str("after-rollback"),
        }
    }
}

/// What a check is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// A sentence a person ticks; `who` is the role expected to tick it.
    Manual { text: String, who: Option<String> },
    /// A program and its arguments, run without a shell.
    Run { argv: Vec<String> },
}

/// What a failed command check does to the rollout.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum OnFail {
    /// The point is not passed until the check is run again and passes.
    #[default]
    Hold,
    /// The rollout is rolled back, naming the check.
    Rollback,
    /// Recorded, and the rollout goes on.
    Continue,
}

/// A command check's time limit when the plan sets none.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(300);

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Check {
    pub id: String,
    pub at: Point,
    pub action: Action,
    pub timeout: Duration,
    pub on_fail: OnFail,
}

/// The values placeholders stand for.
#[derive(Debug, Clone, Copy)]
pub struct Vars<'a> {
    pub app: &'a str,
    pub namespace: &'a str,
    pub image: &'a str,
    pub stage: Option<usize>,
    pub rollout: u64,
}

/// The placeholders a `run` argument may hold.
pub const PLACEHOLDERS: [&str; 5] = ["app", "namespace", "image", "stage", "rollout"];

/// `arg` with `{app}`, `{namespace}`, `{image}`, `{stage}` and `{rollout}`
/// replaced; any other brace is left as written.
pub fn expand(arg: &str, vars: Vars<'_>) -> String {
    let stage = vars.stage.map(|s| s.to_string()).unwrap_or_default();
    arg.replace("{app}", vars.app)
        .replace("{namespace}", vars.namespace)
        .replace("{image}", vars.image)
        .replace("{stage}", &stage)
        .replace("{rollout}", &vars.rollout.to_string())
}

/// A stored result's state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ResultState {
    Passed,
    Failed,
    Ticked,
    /// Being run by `runner`; found so by the helm's holder at a gate, its
    /// runner is gone (runs are finished within the gate that started them).
    Running,
    Interrupted,
}

impl fmt::Display for ResultState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ResultState::Passed => "passed",
            ResultState::Failed => "failed",
            ResultState::Ticked => "ticked",
            ResultState::Running => "running",
            ResultState::Interrupted => "interrupted",
        })
    }
}

/// One check's result, as stored on the cluster.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CheckResult {
    pub state: ResultState,
    /// The rollout it belongs to (see [`round`]).
    pub round: u64,
    pub who: String,
    pub at: DateTime<Utc>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exit_code: Option<i32>,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub output: String,
}

/// Every check's result, by id.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Results {
    /// Rollouts started so far; counted here because the history is bounded.
    #[serde(default)]
    pub starts: u64,
    pub checks: BTreeMap<String, CheckResult>,
}

impl Results {
    /// The result of `id` in rollout `round`; an older rollout's is none.
    pub fn of(&self, id: &str, round: u64) -> Option<&CheckResult> {
        self.checks.get(id).filter(|r| r.round == round)
    }
}

/// Which rollout checks belong to: the starts counted so far, and the next
/// one while none runs (so a before-start tick counts for the start it
/// precedes). A retry after an abort stays in the aborted rollout.
pub fn round(results: &Results, state: &RolloutState) -> u64 {
    match state.phase {
        Phase::NotStarted | Phase::Promoted { .. } => results.starts + 1,
        _ => results.starts,
    }
}

/// The points a move from `old` to `new` passes, in order.
pub fn crossed(old: &RolloutState, new: &RolloutState) -> Vec<Point> {
    let mut points = Vec::new();
    let running_before = old.stage();
    if let Some(to) = new.stage() {
        match running_before {
            None => {
                if matches!(old.phase, Phase::NotStarted | Phase::Promoted { .. }) {
                    points.push(Point::BeforeStart);
                }
                points.push(Point::BeforeStage(to + 1));
            }
            Some(from) if to > from => {
                points.extend((from + 1..=to).map(|s| Point::BeforeStage(s + 1)));
            }
            Some(_) => {}
        }
    }
    if matches!(new.phase, Phase::Promoted { .. }) && !matches!(old.phase, Phase::Promoted { .. }) {
        // Reaching the last stage is the promotion: the stages skipped on
        // the way are crossed too.
        if let Some(from) = running_before {
            points.extend((from + 1..=new.course.last()).map(|s| Point::BeforeStage(s + 1)));
        }
        points.push(Point::BeforePromote);
    }
    points
}

/// The points reached once a move from `old` to `new` is done.
pub fn reached(old: &RolloutState, new: &RolloutState) -> Vec<Point> {
    let mut points = Vec::new();
    if matches!(new.phase, Phase::Promoted { .. }) && !matches!(old.phase, Phase::Promoted { .. }) {
        points.push(Point::AfterPromote);
    }
    if matches!(new.phase, Phase::Aborted { .. }) && !matches!(old.phase, Phase::Aborted { .. }) {
        points.push(Point::AfterRollback);
    }
    points
}

/// What the checks at some points say.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Gate {
    Pass,
    /// Command checks to run now, in order; run, they are judged again.
    Run(Vec<String>),
    /// Not passed yet: manual checks left to tick, failed or interrupted
    /// command checks waiting for a re-run.
    Hold {
        open: Vec<String>,
        failed: Vec<String>,
        interrupted: Vec<String>,
    },
    /// A check whose failure rolls back failed.
    Rollback {
        failed: Vec<String>,
    },
}

impl Gate {
    /// One line for a refusal or a wait.
    pub fn describe(&self, plan_path: &str) -> String {
        match self {
            Gate::Pass => "every check has passed".into(),
            Gate::Run(ids) => format!("checks to run: {}", ids.join(", ")),
            Gate::Hold {
                open,
                failed,
                interrupted,
            } => {
                let mut parts = Vec::new();
                if !open.is_empty() {
                    parts.push(format!(
                        "waiting for checks to be ticked: {} (flightdeck check --plan {plan_path} {})",
                        open.join(", "),
                        flags("tick", open)
                    ));
                }
                if !failed.is_empty() {
                    parts.push(format!(
                        "checks failed: {} (flightdeck check --plan {plan_path} {})",
                        failed.join(", "),
                        flags("rerun", failed)
                    ));
                }
                if !interrupted.is_empty() {
                    parts.push(format!(
                        "checks interrupted: {} (flightdeck check --plan {plan_path} {})",
                        interrupted.join(", "),
                        flags("rerun", interrupted)
                    ));
                }
                parts.join("; ")
            }
            Gate::Rollback { failed } => format!("check {} failed", failed.join(", ")),
        }
    }
}

/// The command-line flags that act on `ids`, so the hint can be pasted as is.
fn flags(flag: &str, ids: &[String]) -> String {
    ids.iter()
        .map(|id| format!("--{flag} {id}"))
        .collect::<Vec<_>>()
        .join(" ")
}

/// Judges the checks standing at `points` on the results of rollout `round`.
/// A failure that rolls back wins; then anything open holds; then commands
/// not yet run are due (a person's approval comes before work is done).
pub fn gate(checks: &[Check], results: &Results, round: u64, points: &[Point]) -> Gate {
    let mut open = Vec::new();
    let mut failed = Vec::new();
    let mut interrupted = Vec::new();
    let mut rollback = Vec::new();
    let mut due = Vec::new();
    for check in checks.iter().filter(|c| points.contains(&c.at)) {
        let result = results.of(&check.id, round).map(|r| r.state);
        let id = check.id.clone();
        match (&check.action, result) {
            (Action::Manual { .. }, Some(ResultState::Ticked | ResultState::Passed))
            | (Action::Run { .. }, Some(ResultState::Passed)) => {}
            (Action::Manual { .. }, _) => open.push(id),
            (Action::Run { .. }, Some(ResultState::Failed)) => match check.on_fail {
                OnFail::Continue => {}
                OnFail::Rollback => rollback.push(id),
                OnFail::Hold => failed.push(id),
            },
            (Action::Run { .. }, Some(ResultState::Running | ResultState::Interrupted)) => {
                interrupted.push(id);
            }
            (Action::Run { .. }, Some(ResultState::Ticked) | None) => due.push(id),
        }
    }
    if !rollback.is_empty() {
        Gate::Rollback { failed: rollback }
    } else if !open.is_empty() || !failed.is_empty() || !interrupted.is_empty() {
        Gate::Hold {
            open,
            failed,
            interrupted,
        }
    } else if !due.is_empty() {
        Gate::Run(due)
    } else {
        Gate::Pass
    }
}

/// Output kept per check: the tail, where the error usually is.
pub const OUTPUT_LIMIT: usize = 64 * 1024;

/// The last `OUTPUT_LIMIT` bytes of `text`, cut at a character boundary.
pub fn bounded(text: &str) -> String {
    if text.len() <= OUTPUT_LIMIT {
        return text.to_string();
    }
    let mut start = text.len() - OUTPUT_LIMIT;
    while !text.is_char_boundary(start) {
        start += 1;
    }
    format!("…{}", &text[start..])
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rollout::fixtures;

    fn manual(id: &str, at: Point) -> Check {
        Check {
            id: id.into(),
            at,
            action: Action::Manual {
                text: "approved".into(),
                who: None,
            },
            timeout: DEFAULT_TIMEOUT,
            on_fail: OnFail::Hold,
        }
    }

    fn command(id: &str, at: Point, on_fail: OnFail) -> Check {
        Check {
            id: id.into(),
            at,
            action: Action::Run {
                argv: vec!["true".into()],
            },
            timeout: DEFAULT_TIMEOUT,
            on_fail,
        }
    }

    fn stored(pairs: &[(&str, ResultState, u64)]) -> Results {
        let at = DateTime::from_timestamp(1_700_000_000, 0).unwrap_or_default();
        Results {
            starts: 0,
            checks: pairs
                .iter()
                .map(|(id, state, round)| {
                    (
                        (*id).to_string(),
                        CheckResult {
                            state: *state,
                            round: *round,
                            who: "ana".into(),
                            at,
                            exit_code: None,
                            output: String::new(),
                        },
                    )
                })
                .collect(),
        }
    }

    #[test]
    fn placeholders_are_expanded_and_other_braces_kept() {
        let vars = Vars {
            app: "checkout",
            namespace: "shop",
            image: "shop/checkout:2.0",
            stage: Some(2),
            rollout: 7,
        };
        assert_eq!(
            expand(
                "{namespace}/{app}@{image} s{stage} r{rollout} {other}",
                vars
            ),
            "shop/checkout@shop/checkout:2.0 s2 r7 {other}"
        );
        assert_eq!(
            expand(
                "stage={stage}",
                Vars {
                    stage: None,
                    ..vars
                }
            ),
            "stage="
        );
    }

    #[test]
    fn a_point_holds_until_its_manual_checks_are_ticked() {
        let checks = [
            manual("approval", Point::BeforeStart),
            manual("later", Point::BeforePromote),
        ];
        let none = Results::default();
        assert_eq!(
            gate(&checks, &none, 1, &[Point::BeforeStart]),
            Gate::Hold {
                open: vec!["approval".into()],
                failed: vec![],
                interrupted: vec![]
            }
        );
        let ticked = stored(&[("approval", ResultState::Ticked, 1)]);
        assert_eq!(gate(&checks, &ticked, 1, &[Point::BeforeStart]), Gate::Pass);
        // A tick from an earlier rollout does not approve this one.
        assert!(matches!(
            gate(&checks, &ticked, 2, &[Point::BeforeStart]),
            Gate::Hold { .. }
        ));
    }

    #[test]
    fn commands_run_after_approval_and_once() {
        let checks = [
            manual("approval", Point::BeforeStart),
            command("backup", Point::BeforeStart, OnFail::Hold),
        ];
        let points = [Point::BeforeStart];
        assert!(matches!(
            gate(&checks, &Results::default(), 1, &points),
            Gate::Hold { .. }
        ));
        let ticked = stored(&[("approval", ResultState::Ticked, 1)]);
        assert_eq!(
            gate(&checks, &ticked, 1, &points),
            Gate::Run(vec!["backup".into()])
        );
        let done = stored(&[
            ("approval", ResultState::Ticked, 1),
            ("backup", ResultState::Passed, 1),
        ]);
        assert_eq!(gate(&checks, &done, 1, &points), Gate::Pass);
    }

    #[test]
    fn a_failure_holds_rolls_back_or_continues_as_the_plan_says() {
        let points = [Point::BeforePromote];
        let failed = stored(&[("smoke", ResultState::Failed, 3)]);
        let judge = |on_fail| {
            gate(
                &[command("smoke", Point::BeforePromote, on_fail)],
                &failed,
                3,
                &points,
            )
        };
        assert_eq!(
            judge(OnFail::Rollback),
            Gate::Rollback {
                failed: vec!["smoke".into()]
            }
        );
        assert_eq!(judge(OnFail::Continue), Gate::Pass);
        assert_eq!(
            judge(OnFail::Hold),
            Gate::Hold {
                open: vec![],
                failed: vec!["smoke".into()],
                interrupted: vec![]
            }
        );
    }

    #[test]
    fn a_run_left_running_is_interrupted_and_not_run_again() {
        let checks = [command("backup", Point::BeforeStart, OnFail::Hold)];
        let left = stored(&[("backup", ResultState::Running, 1)]);
        let gate = gate(&checks, &left, 1, &[Point::BeforeStart]);
        assert_eq!(
            gate,
            Gate::Hold {
                open: vec![],
                failed: vec![],
                interrupted: vec!["backup".into()]
            }
        );
        assert!(
            gate.describe("p.toml")
                .contains("checks interrupted: backup")
        );
    }

    #[test]
    fn the_points_a_move_crosses() {
        let plan = fixtures::canary("[{ weight = 10 }, { weight = 50 }, { weight = 100 }]", "");
        let idle = RolloutState::new(&plan, false);
        let now = DateTime::from_timestamp(1_700_000_000, 0).unwrap_or_default();
        let at = |stage| RolloutState {
            phase: Phase::Paused {
                stage,
                since: now,
                by: crate::rollout::PausedBy::Stage,
            },
            ..idle.clone()
        };
        let promoted = RolloutState {
            phase: Phase::Promoted { at: now },
            ..idle.clone()
        };
        let aborted = RolloutState {
            phase: Phase::Aborted {
                at: now,
                reason: "x".into(),
            },
            ..idle.clone()
        };
        assert_eq!(
            crossed(&idle, &at(0)),
            vec![Point::BeforeStart, Point::BeforeStage(1)]
        );
        assert_eq!(crossed(&at(0), &at(1)), vec![Point::BeforeStage(2)]);
        assert_eq!(
            crossed(&at(1), &promoted),
            vec![Point::BeforeStage(3), Point::BeforePromote]
        );
        assert_eq!(crossed(&at(1), &aborted), vec![]);
        assert_eq!(reached(&at(1), &promoted), vec![Point::AfterPromote]);
        assert_eq!(reached(&at(1), &aborted), vec![Point::AfterRollback]);
    }

    #[test]
    fn output_keeps_its_tail_within_the_limit() {
        let long = format!("{}end", "é".repeat(OUTPUT_LIMIT));
        let kept = bounded(&long);
        assert!(kept.len() <= OUTPUT_LIMIT + "…".len());
        assert!(kept.ends_with("end"));
        assert_eq!(bounded("short"), "short");
    }
}
