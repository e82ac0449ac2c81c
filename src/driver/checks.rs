//! The plan's checks on the cluster and at the helm: their results under
//! the key `checks.json` of the rollout's state ConfigMap (written alone,
//! against the resourceVersion read, again on a conflict), the command
//! runner, and the gate the driver passes before a start, a stage or a
//! promotion.
//!
//! A command check runs inside the driver's work under way (the loop in
//! [`super::task`] polls it beside everything else), so a long one never
//! freezes the cockpit, and an abort that cancels the work kills the child:
//! its result stays `running`, which the next gate reports as interrupted.

use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use serde_json::{Value, json};
use tokio::io::{AsyncRead, AsyncReadExt};

use super::record::Entry;
use super::rest;
use super::store::StoreError;
use super::{DriveError, Driver};
use crate::cluster::routers::Patch;
use crate::rollout::checks::{
    self, Action, Check, CheckResult, Gate, OUTPUT_LIMIT, Point, ResultState, Results, Vars,
};
use crate::rollout::machine::Refusal;
use crate::rollout::plan::Strategy;
use crate::rollout::state::RolloutState;

/// The ConfigMap key the results are kept under.
pub const KEY: &str = "checks.json";

/// Writes tried again on a conflict.
const TRIES: u32 = 5;

/// The results stored in `cm`; an unreadable record is logged and read as
/// none (it must not stop the rollout from being read).
pub fn results_in(cm: &Value) -> Results {
    cm.pointer("/data")
        .and_then(|d| d.get(KEY))
        .and_then(Value::as_str)
        .and_then(|text| {
            serde_json::from_str(text)
                .inspect_err(|e| tracing::warn!(error = %e, "ignoring unreadable check results"))
                .ok()
        })
        .unwrap_or_default()
}

/// What the checks at the points a move crosses say.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Passage {
    Pass,
    /// Not yet: the line says what is waited for.
    Hold(String),
    /// A check whose failure rolls back failed: the line names it.
    Rollback(String),
}

/// What a command did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ran {
    pub state: ResultState,
    pub exit_code: Option<i32>,
    /// stdout then stderr, each its last [`OUTPUT_LIMIT`] bytes, cleaned.
    pub output: String,
}

/// Runs `argv` (no shell) in `dir`, killed after `timeout`.
pub async fn run_command(argv: &[String], dir: &Path, timeout: Duration) -> Ran {
    let failed = |output: String| Ran {
        state: ResultState::Failed,
        exit_code: None,
        output,
    };
    let Some((program, args)) = argv.split_first() else {
        return failed("no program to run".into());
    };
    let spawned = tokio::process::Command::new(program)
        .args(args)
        .current_dir(dir)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn();
    let mut child = match spawned {
        Ok(child) => child,
        Err(e) => return failed(format!("cannot run {program}: {e}")),
    };
    let (Some(stdout), Some(stderr)) = (child.stdout.take(), child.stderr.take()) else {
        return failed(format!("cannot read the output of {program}"));
    };
    let work = async {
        let (out, err) = tokio::join!(tail(stdout), tail(stderr));
        (out, err, child.wait().await)
    };
    let Ok((out, err, status)) = tokio::time::timeout(timeout, work).await else {
        // Dropping the wait above let go of the child; kill it now.
        let _ = child.start_kill();
        let _ = child.wait().await;
        return failed(format!(
            "{program} did not finish within {}s and was killed",
            timeout.as_secs()
        ));
    };
    let mut text = String::from_utf8_lossy(&out).into_owned();
    text.push_str(&String::from_utf8_lossy(&err));
    // Cleaned line by line: the lines are worth keeping, the escapes not.
    let mut cleaned: String = text
        .lines()
        .map(crate::sanitize::clean)
        .collect::<Vec<_>>()
        .join("\n");
    if text.ends_with('\n') {
        cleaned.push('\n');
    }
    let output = checks::bounded(&cleaned);
    match status {
        Ok(status) => Ran {
            state: if status.success() {
                ResultState::Passed
            } else {
                ResultState::Failed
            },
            exit_code: status.code(),
            output,
        },
        Err(e) => failed(format!("{output}\ncannot wait for {program}: {e}")),
    }
}

/// The last bytes of a stream, read to its end.
async fn tail(mut reader: impl AsyncRead + Unpin) -> Vec<u8> {
    let mut kept = Vec::new();
    let mut buf = vec![0u8; 8192];
    while let Ok(n) = reader.read(&mut buf).await {
        if n == 0 {
            break;
        }
        kept.extend_from_slice(&buf[..n]);
        if kept.len() > 2 * OUTPUT_LIMIT {
            kept.drain(..kept.len() - OUTPUT_LIMIT);
        }
    }
    if kept.len() > OUTPUT_LIMIT {
        kept.drain(..kept.len() - OUTPUT_LIMIT);
    }
    kept
}

impl Driver {
    /// The checks' results as stored now.
    pub async fn check_results(&self) -> Result<Results, StoreError> {
        let obj = self.store.object();
        rest::get_opt(&self.client, obj)
            .await
            .map(|cm| cm.as_ref().map(results_in).unwrap_or_default())
            .map_err(|source| StoreError::Read {
                obj: obj.to_string(),
                source,
            })
    }

    /// Changes the stored results with `change` (which says whether it
    /// changed anything), touching only their key: read, change, write
    /// against the version read, again on a conflict. Creates the state
    /// ConfigMap when none is stored yet (a check ticked before the start).
    async fn change_results(
        &self,
        change: impl Fn(&mut Results) -> Result<bool, Refusal>,
    ) -> Result<Results, DriveError> {
        let obj = self.store.object();
        let read_err = |source| StoreError::Read {
            obj: obj.to_string(),
            source,
        };
        let write_err = |source| StoreError::Write {
            obj: obj.to_string(),
            source,
        };
        for _ in 0..TRIES {
            let found = rest::get_opt(&self.client, obj).await.map_err(read_err)?;
            let mut results = found.as_ref().map(results_in).unwrap_or_default();
            if !change(&mut results)? {
                return Ok(results);
            }
            // A map of strings, numbers and times always serialises.
            let text = serde_json::to_string(&results).unwrap_or_default();
            let written = match &found {
                None => self
                    .store
                    .create_with(&self.client, json!({KEY: text}))
                    .await
                    .map_err(write_err)?
                    .map(|_| ()),
                Some(cm) => {
                    let patch = rest::with_precondition(
                        Patch::Merge(json!({"data": {KEY: text}})),
                        rest::resource_version(cm).unwrap_or_default(),
                    );
                    rest::patch(&self.client, obj, &patch).await.map(|_| ())
                }
            };
            match written {
                Ok(()) => return Ok(results),
                Err(e) if rest::status_code(&e) == Some(409) => {}
                Err(e) => return Err(write_err(e).into()),
            }
        }
        Err(StoreError::Conflict {
            obj: obj.to_string(),
        }
        .into())
    }

    fn check(&self, id: &str) -> Result<&Check, Refusal> {
        self.plan.checks.iter().find(|c| c.id == id).ok_or_else(|| {
            let known: Vec<&str> = self.plan.checks.iter().map(|c| c.id.as_str()).collect();
            Refusal(format!(
                "the plan has no check {id:?}; its checks: {}",
                if known.is_empty() {
                    "none".to_string()
                } else {
                    known.join(", ")
                }
            ))
        })
    }

    /// The rollout checks belong to now.
    pub async fn check_round(&self) -> Result<(Results, RolloutState, u64), DriveError> {
        let loaded = self.load().await?;
        let round = checks::round(&loaded.checks, &loaded.rollout.state);
        Ok((loaded.checks, loaded.rollout.state, round))
    }

    /// Ticks the manual check `id` for the rollout under way (or the next),
    /// as this driver's kube user; recorded in the audit file and an Event.
    pub async fn tick_check(&self, id: &str) -> Result<CheckResult, DriveError> {
        if self.settings.read_only {
            return Err(DriveError::ReadOnly);
        }
        let check = self.check(id)?.clone();
        let Action::Manual { text, .. } = &check.action else {
            return Err(Refusal(format!(
                "check {id} is a command: it is run, not ticked (flightdeck check --plan {} --run)",
                self.plan.path.display()
            ))
            .into());
        };
        let (_, state, round) = self.check_round().await?;
        let now = self.now();
        let result = CheckResult {
            state: ResultState::Ticked,
            round,
            who: self.actor.kube_user.clone(),
            at: now,
            exit_code: None,
            output: String::new(),
        };
        let stored = result.clone();
        self.change_results(|r| {
            r.checks.insert(id.to_string(), stored.clone());
            Ok(true)
        })
        .await?;
        let described = state.describe();
        self.record(Entry {
            detail: Some(format!("{id}: {text}")),
            ..self.entry("check-tick", &described, &described, None, now)
        })
        .await?;
        Ok(result)
    }

    /// Clears a failed or interrupted result of `id`, so it runs again.
    pub async fn rerun_check(&self, id: &str) -> Result<(), DriveError> {
        if self.settings.read_only {
            return Err(DriveError::ReadOnly);
        }
        self.check(id)?;
        let (_, state, round) = self.check_round().await?;
        self.change_results(|r| match r.of(id, round).map(|c| c.state) {
            Some(ResultState::Failed | ResultState::Interrupted | ResultState::Running) => {
                r.checks.remove(id);
                Ok(true)
            }
            Some(other) => Err(Refusal(format!(
                "check {id} has {other}; only a failed or interrupted check is run again"
            ))),
            None => Ok(false),
        })
        .await?;
        let now = self.now();
        let described = state.describe();
        self.record(Entry {
            detail: Some(id.to_string()),
            ..self.entry("check-rerun", &described, &described, None, now)
        })
        .await?;
        Ok(())
    }

    /// Runs command check `check` for rollout `round` at `state`: marked
    /// running first (so a runner that dies leaves a trace), then its
    /// result; recorded in the audit file and an Event.
    async fn run_check(
        &self,
        check: &Check,
        round: u64,
        state: &RolloutState,
    ) -> Result<ResultState, DriveError> {
        let Action::Run { argv } = &check.action else {
            return Ok(ResultState::Ticked);
        };
        let image = state
            .image
            .clone()
            .or_else(|| match &self.plan.strategy {
                Strategy::Rolling(r) => Some(r.image.clone()),
                _ => None,
            })
            .unwrap_or_default();
        let vars = Vars {
            app: &self.plan.app,
            namespace: &self.plan.namespace,
            image: &image,
            stage: state.stage().map(|s| s + 1),
            rollout: round,
        };
        let argv: Vec<String> = argv.iter().map(|a| checks::expand(a, vars)).collect();
        let who = self.actor.identity();
        let at = self.now();
        let running = CheckResult {
            state: ResultState::Running,
            round,
            who: who.clone(),
            at,
            exit_code: None,
            output: String::new(),
        };
        self.change_results(|r| {
            r.checks.insert(check.id.clone(), running.clone());
            Ok(true)
        })
        .await?;
        (self.settings.progress)(format!("check {}: running {}", check.id, argv.join(" ")));
        let ran = run_command(&argv, self.plan.folder(), check.timeout).await;
        let done = CheckResult {
            state: ran.state,
            exit_code: ran.exit_code,
            output: ran.output.clone(),
            at: self.now(),
            ..running
        };
        self.change_results(|r| {
            r.checks.insert(check.id.clone(), done.clone());
            Ok(true)
        })
        .await?;
        let described = state.describe();
        let failed = ran.state != ResultState::Passed;
        self.record(Entry {
            result: if failed { "failed" } else { "done" }.into(),
            reason: failed.then(|| match ran.exit_code {
                Some(code) => format!("exit code {code}"),
                None => ran.output.lines().last().unwrap_or("failed").to_string(),
            }),
            detail: Some(format!("{}: {}", check.id, argv.join(" "))),
            ..self.entry("check-run", &described, &described, None, self.now())
        })
        .await?;
        (self.settings.progress)(format!("check {}: {}", check.id, ran.state));
        Ok(ran.state)
    }

    /// Runs the command checks due at `points` of rollout `round` at
    /// `state`, as long as the gate asks for them, and says what the gate
    /// makes of the results.
    async fn judge(
        &self,
        points: &[Point],
        round: u64,
        state: &RolloutState,
    ) -> Result<Gate, DriveError> {
        for _ in 0..=self.plan.checks.len() {
            let results = self.check_results().await?;
            match checks::gate(&self.plan.checks, &results, round, points) {
                Gate::Run(ids) => {
                    for id in ids {
                        let check = self.check(&id)?.clone();
                        Box::pin(self.run_check(&check, round, state)).await?;
                    }
                }
                other => return Ok(other),
            }
        }
        Ok(checks::gate(
            &self.plan.checks,
            &self.check_results().await?,
            round,
            points,
        ))
    }

    /// The gate before a move from `old` to `new`: the checks at the points
    /// it crosses, with due commands run first. Only the helm's holder calls it.
    pub(super) async fn pass_checks(
        &self,
        results: &Results,
        old: &RolloutState,
        new: &RolloutState,
    ) -> Result<Passage, DriveError> {
        let points: Vec<Point> = checks::crossed(old, new)
            .into_iter()
            .filter(|p| p.holds() && self.plan.checks.iter().any(|c| c.at == *p))
            .collect();
        if points.is_empty() {
            return Ok(Passage::Pass);
        }
        let round = checks::round(results, old);
        let path = self.plan.path.display().to_string();
        Ok(match Box::pin(self.judge(&points, round, new)).await? {
            Gate::Pass => Passage::Pass,
            hold @ (Gate::Hold { .. } | Gate::Run(_)) => Passage::Hold(hold.describe(&path)),
            rollback @ Gate::Rollback { .. } => Passage::Rollback(rollback.describe(&path)),
        })
    }

    /// After a move from `old` to `new` is stored: a start is counted (the
    /// next checks belong to it), and the command checks of the points
    /// reached (after the promotion, after a rollback) are run. Their
    /// failures are recorded; there is nothing left to hold.
    pub(super) async fn after_checks(
        &self,
        results: &Results,
        old: &RolloutState,
        new: &RolloutState,
        started: bool,
    ) {
        if self.plan.checks.is_empty() {
            return;
        }
        let round = checks::round(results, old);
        if started
            && let Err(e) = self
                .change_results(|r| {
                    r.starts = round;
                    Ok(true)
                })
                .await
        {
            tracing::warn!(error = %e, "cannot count the start for the checks");
        }
        let points: Vec<Point> = checks::reached(old, new)
            .into_iter()
            .filter(|p| self.plan.checks.iter().any(|c| c.at == *p))
            .collect();
        if points.is_empty() {
            return;
        }
        match Box::pin(self.judge(&points, round, new)).await {
            Ok(Gate::Pass) => {}
            Ok(other) => {
                (self.settings.progress)(other.describe(&self.plan.path.display().to_string()));
            }
            Err(e) => tracing::warn!(error = %e, "the checks after the step did not all run"),
        }
    }

    /// Runs the command checks due now (`flightdeck check --run`): those of
    /// the points the rollout stands before. Only the helm's holder runs.
    pub async fn run_due_checks(&self) -> Result<Gate, DriveError> {
        if self.settings.read_only {
            return Err(DriveError::ReadOnly);
        }
        let helm = self.helm.acquire().await?;
        if !helm.is_ours() {
            return Err(DriveError::HelmHeld(helm));
        }
        let (_, state, round) = self.check_round().await?;
        let points = next_points(&state, self.plan.checks.iter().map(|c| c.at));
        Box::pin(self.judge(&points, round, &state)).await
    }
}

/// The points a rollout at `state` stands before, among `points`.
pub fn next_points(state: &RolloutState, points: impl Iterator<Item = Point>) -> Vec<Point> {
    let next = match state.stage() {
        None => vec![Point::BeforeStart, Point::BeforeStage(1)],
        Some(s) if s + 1 >= state.course.last() => {
            vec![Point::BeforeStage(s + 2), Point::BeforePromote]
        }
        Some(s) => vec![Point::BeforeStage(s + 2)],
    };
    let mut wanted: Vec<Point> = points.filter(|p| next.contains(p)).collect();
    wanted.sort();
    wanted.dedup();
    wanted
}

#[cfg(test)]
mod tests {
    use super::*;

    fn argv(args: &[&str]) -> Vec<String> {
        args.iter().map(|a| (*a).to_string()).collect()
    }

    #[tokio::test]
    async fn a_command_runs_in_the_folder_without_a_shell_and_keeps_its_output() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        std::fs::write(dir.path().join("here.txt"), "found\n").unwrap_or_default();
        let ran = run_command(
            &argv(&[
                "sh",
                "-c",
                "cat here.txt; echo 'bad \u{1b}]0;x\u{7}' >&2; exit 4",
            ]),
            dir.path(),
            Duration::from_secs(60),
        )
        .await;
        assert_eq!(ran.state, ResultState::Failed);
        assert_eq!(ran.exit_code, Some(4));
        assert!(ran.output.starts_with("found\nbad "), "{:?}", ran.output);
        assert!(!ran.output.contains('\u{1b}'), "escapes are cleaned");

        let literal = run_command(
            &argv(&["echo", "$HOME;", "{app}"]),
            dir.path(),
            Duration::from_secs(60),
        )
        .await;
        assert_eq!(literal.state, ResultState::Passed);
        assert_eq!(literal.output, "$HOME; {app}\n", "no shell expands it");
    }

    #[tokio::test]
    async fn a_command_past_its_timeout_is_killed_and_fails() {
        let ran = run_command(
            &argv(&["sleep", "600"]),
            Path::new("."),
            Duration::from_millis(100),
        )
        .await;
        assert_eq!(ran.state, ResultState::Failed);
        assert_eq!(ran.exit_code, None);
        assert!(
            ran.output.contains("sleep did not finish"),
            "{}",
            ran.output
        );
        let missing = run_command(
            &argv(&["./no-such-program"]),
            Path::new("."),
            Duration::from_secs(5),
        )
        .await;
        assert!(
            missing.output.starts_with("cannot run ./no-such-program"),
            "{}",
            missing.output
        );
    }
}
