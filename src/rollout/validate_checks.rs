//! The `[[checks]]` of a plan, checked with the place of every value kept,
//! so a bad point or a duplicate id is reported where it is written.

use std::collections::BTreeSet;
use std::path::Path;

use super::checks::{Action, Check, DEFAULT_TIMEOUT, OnFail, PLACEHOLDERS, Point};
use super::file::{CheckFile, S};
use super::plan::Plan;
use super::state::Course;
use crate::config::source::FileError;
use crate::units::parse_duration;

pub(super) fn checks(
    path: &Path,
    text: &str,
    files: &[S<CheckFile>],
    plan: &Plan,
) -> Result<Vec<Check>, FileError> {
    let err = |span: std::ops::Range<usize>, message: String| {
        FileError::at_span(path, text, &span, message)
    };
    let stages = Course::from_plan(plan, false).stages.len();
    let mut seen = BTreeSet::new();
    let mut out = Vec::with_capacity(files.len());
    for file in files {
        let c = file.get_ref();
        let id = c.id.get_ref();
        let id_ok = !id.is_empty()
            && id
                .chars()
                .all(|ch| ch.is_ascii_alphanumeric() || matches!(ch, '-' | '_' | '.'));
        if !id_ok {
            return Err(err(
                c.id.span(),
                format!("check id {id:?} must be letters, digits, '-', '_' or '.'"),
            ));
        }
        if !seen.insert(id.clone()) {
            return Err(err(
                c.id.span(),
                format!("check id {id:?} is used twice; each check needs its own id"),
            ));
        }
        let at = point(c.at.get_ref(), stages).map_err(|m| err(c.at.span(), m))?;
        if let Some(job) = &c.job {
            return Err(err(job.span(), "job checks are not supported yet".into()));
        }
        let action = match (&c.manual, &c.run) {
            (Some(_), Some(run)) => {
                return Err(err(
                    run.span(),
                    "a check is either manual or run, not both".into(),
                ));
            }
            (None, None) => {
                return Err(err(
                    file.span(),
                    format!("check {id:?} needs manual = \"…\" or run = [\"program\", …]"),
                ));
            }
            (Some(sentence), None) => Action::Manual {
                text: sentence.get_ref().clone(),
                who: c.who.as_ref().map(|w| w.get_ref().clone()),
            },
            (None, Some(run)) => {
                if let Some(who) = &c.who {
                    return Err(err(
                        who.span(),
                        "who is for manual checks: the person expected to tick it".into(),
                    ));
                }
                let argv = run.get_ref();
                if argv.first().is_none_or(String::is_empty) {
                    return Err(err(
                        run.span(),
                        "run needs a program: run = [\"./scripts/backup.sh\", \"{app}\"]".into(),
                    ));
                }
                if let Some(bad) = argv.iter().find_map(|a| unknown_placeholder(a)) {
                    return Err(err(
                        run.span(),
                        format!(
                            "unknown placeholder {{{bad}}}; known: {}",
                            PLACEHOLDERS.map(|p| format!("{{{p}}}")).join(", ")
                        ),
                    ));
                }
                Action::Run { argv: argv.clone() }
            }
        };
        let timeout = match &c.timeout {
            Some(t) => parse_duration(t.get_ref()).map_err(|e| err(t.span(), e.to_string()))?,
            None => DEFAULT_TIMEOUT,
        };
        if timeout.is_zero() {
            return Err(err(
                c.timeout.as_ref().map_or(file.span(), S::span),
                "timeout must be more than 0".into(),
            ));
        }
        let on_fail = match c.on_fail.as_ref().map(|v| (v.get_ref().as_str(), v.span())) {
            None | Some(("hold", _)) => OnFail::Hold,
            Some(("rollback", _)) => OnFail::Rollback,
            Some(("continue", _)) => OnFail::Continue,
            Some((other, span)) => {
                return Err(err(
                    span,
                    format!(
                        "on_fail must be \"hold\", \"rollback\" or \"continue\", found {other:?}"
                    ),
                ));
            }
        };
        out.push(Check {
            id: id.clone(),
            at,
            action,
            timeout,
            on_fail,
        });
    }
    Ok(out)
}

/// A point as written: `before-start`, `before-stage 2`, `before-promote`,
/// `after-promote`, `after-rollback`. Stages are numbered from 1.
fn point(text: &str, stages: usize) -> Result<Point, String> {
    match text.trim() {
        "before-start" => return Ok(Point::BeforeStart),
        "before-promote" => return Ok(Point::BeforePromote),
        "after-promote" => return Ok(Point::AfterPromote),
        "after-rollback" => return Ok(Point::AfterRollback),
        _ => {}
    }
    let Some(stage) = text.trim().strip_prefix("before-stage ") else {
        return Err(format!(
            "unknown point {text:?}: expected \"before-start\", \"before-stage N\", \
             \"before-promote\", \"after-promote\" or \"after-rollback\""
        ));
    };
    match stage.trim().parse::<usize>() {
        Ok(n) if (1..=stages).contains(&n) => Ok(Point::BeforeStage(n)),
        Ok(n) => Err(format!(
            "stage {n} is out of range: the plan has stages 1 to {stages}"
        )),
        Err(_) => Err(format!(
            "stages are named by their number, 1 to {stages}; found {stage:?}"
        )),
    }
}

/// The first `{name}` in `arg` that looks like a placeholder but is none
/// (a typo would otherwise reach the program as written).
fn unknown_placeholder(arg: &str) -> Option<String> {
    let mut rest = arg;
    while let Some(open) = rest.find('{') {
        let after = &rest[open + 1..];
        let close = after.find('}')?;
        let name = &after[..close];
        let looks_like_one =
            !name.is_empty() && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
        if looks_like_one && !PLACEHOLDERS.contains(&name) {
            return Some(name.to_string());
        }
        rest = &after[close + 1..];
    }
    None
}
