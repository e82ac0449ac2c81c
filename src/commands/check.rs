//! `flightdeck check --plan P [--tick ID] [--rerun ID] [--run] [-o json]`:
//! the plan's checks with their results on the cluster; ticking a manual
//! one, clearing a failed one for a re-run, running the command checks due.

use std::fmt::Write;

use color_eyre::eyre::Result;
use serde::Serialize;

use super::failure::{Kind, Stop};
use crate::cli::{CheckArgs, Output};
use crate::driver::Driver;
use crate::rollout::checks::{Action, Gate};
use crate::sanitize::clean;

/// One check as listed.
#[derive(Debug, Serialize)]
struct Listed {
    id: String,
    at: String,
    kind: &'static str,
    /// The sentence, or the command as written.
    what: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    role: Option<String>,
    on_fail: String,
    /// `open`, `passed`, `failed`, `ticked`, `running`, `interrupted`.
    state: String,
    /// Which rollout of the app the result belongs to (1, 2, …).
    #[serde(skip_serializing_if = "Option::is_none")]
    rollout: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    who: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    at_time: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    exit_code: Option<i32>,
    #[serde(skip_serializing_if = "String::is_empty")]
    output: String,
}

pub async fn run(args: CheckArgs) -> Result<()> {
    let driver = super::driver(&args.verb).await?;
    for id in &args.tick {
        let ticked = driver.tick_check(id).await?;
        eprintln!("  ticked {} as {}", clean(id), clean(&ticked.who));
    }
    for id in &args.rerun {
        driver.rerun_check(id).await?;
        eprintln!("  {}: cleared, it runs again at its point", clean(id));
    }
    if args.run {
        let keeper = driver.helm().spawn_keeper();
        let judged = Box::pin(driver.run_due_checks()).await;
        keeper.abort();
        if driver.helm().view().is_ours() {
            driver.helm().release().await;
        }
        match judged {
            Err(crate::driver::DriveError::HelmHeld(view)) => {
                return Err(Stop::new(Kind::Conflict, view.describe())
                    .hint("the driver at the helm runs the checks when their point comes")
                    .into());
            }
            Err(e) => return Err(e.into()),
            Ok(Gate::Pass) => eprintln!("  every check due has passed"),
            Ok(other) => eprintln!(
                "  {}",
                clean(&other.describe(&driver.plan().path.display().to_string()))
            ),
        }
    }
    let listed = list(&driver).await?;
    if args.verb.output == Output::Json {
        println!("{}", serde_json::to_string_pretty(&listed)?);
        return Ok(());
    }
    if listed.is_empty() {
        println!("the plan has no checks");
    }
    for l in &listed {
        let mut line = format!("{:<12} {:<16} {:<12} {}", l.state, l.at, l.id, l.what);
        if let Some(role) = &l.role {
            let _ = write!(line, " (for the {role})");
        }
        if let Some(who) = &l.who {
            let _ = write!(line, " — {who}");
        }
        if let Some(code) = l.exit_code {
            let _ = write!(line, ", exit {code}");
        }
        println!("{}", clean(&line));
        if let Some(last) = l.output.lines().rev().find(|s| !s.trim().is_empty()) {
            println!("{:<12} {}", "", clean(last));
        }
    }
    Ok(())
}

/// The plan's checks, in its order, with the results of the rollout under
/// way (or the next one).
async fn list(driver: &Driver) -> Result<Vec<Listed>> {
    let (results, state, round) = driver.check_round().await?;
    // Once promoted, ticks count for the next rollout; until one is made,
    // the finished rollout's results are what there is to see.
    let promoted = matches!(state.phase, crate::rollout::Phase::Promoted { .. });
    Ok(driver
        .plan()
        .checks
        .iter()
        .map(|c| {
            let result = results.of(&c.id, round).or_else(|| {
                promoted
                    .then(|| results.of(&c.id, round.saturating_sub(1)))
                    .flatten()
            });
            let (kind, what, role) = match &c.action {
                Action::Manual { text, who } => ("manual", text.clone(), who.clone()),
                Action::Run { argv } => ("run", argv.join(" "), None),
            };
            Listed {
                id: c.id.clone(),
                at: c.at.to_string(),
                kind,
                what,
                role,
                on_fail: format!("{:?}", c.on_fail).to_lowercase(),
                state: result.map_or_else(|| "open".to_string(), |r| r.state.to_string()),
                rollout: result.map(|r| r.round),
                who: result.map(|r| r.who.clone()),
                at_time: result.map(|r| r.at.to_rfc3339()),
                exit_code: result.and_then(|r| r.exit_code),
                output: result.map(|r| r.output.clone()).unwrap_or_default(),
            }
        })
        .collect())
}
