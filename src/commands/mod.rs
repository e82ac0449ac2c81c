//! The CLI twins of the cockpit's keys: `flightdeck status|start|advance|
//! pause|resume|promote|abort|rollback|undo|retry --plan FILE`, and
//! `freeze|unfreeze` ([`freezing`]). Each builds a driver, carries out one
//! request and prints where the rollout stands.
//! Progress goes to stderr; the result (text or JSON) to stdout; a failure
//! is one line and an exit code ([`failure`]). Beside them: `info`, the
//! completions and man pages ([`conventions`]) and the log file.
//!
//! A verb that changes traffic waits until the change has landed, and a
//! gradual rollback until stable carries everything again, driving the
//! steps itself on the cluster's clock: a rollback from a shell always
//! finishes. `--no-wait` returns once the change is written; `--timeout`
//! bounds the wait and fails with where the rollout stands.
//!
//! An abort or rollback while another driver holds the helm is asked of it
//! ([`crate::driver::asked`]) rather than refused: the verb then follows the
//! rollout, and carries the request out itself if that driver's Lease
//! lapses first.

pub mod check;
mod confirm;
pub mod conventions;
pub mod failure;
mod freezing;
pub mod info;
pub mod list;
pub mod logfile;
mod print;
pub mod report;
pub mod run;
pub mod signals;
pub mod snapshot;

use std::sync::Arc;
use std::time::Duration;

use color_eyre::eyre::{Result, WrapErr};

use failure::{Kind, Stop};

use crate::cli::{Command as Cli, Output, VerbArgs};
use crate::cluster::client;
use crate::cluster::clock::Clock;
use crate::driver::asked::Asked;
use crate::driver::helm::HelmView;
use crate::driver::{Driver, Outcome, Settings};
use crate::rollout::machine::Refusal;
use crate::rollout::plan::{Plan, RollbackMode};
use crate::rollout::state::Phase;
use crate::rollout::{Request, RolloutState};
use crate::workers::audit::{AuditLog, default_path};

/// Runs a rollout verb; `None` when `command` is not one.
pub async fn run(command: Cli) -> Option<Result<()>> {
    let (args, request) = match command {
        Cli::Status(a) => return Some(status(a).await),
        Cli::Start(a) => (a.verb, Request::Start { image: a.image }),
        Cli::Advance(a) => (a, Request::Advance),
        Cli::Pause(a) => (a, Request::Pause),
        Cli::Resume(a) => (a, Request::Resume),
        Cli::Promote(a) => (a, Request::PromoteFull),
        Cli::Abort(a) => (
            a,
            Request::Abort {
                mode: Some(RollbackMode::Immediate),
            },
        ),
        Cli::Rollback(a) => (
            a,
            Request::Abort {
                mode: Some(RollbackMode::Gradual),
            },
        ),
        Cli::Undo(a) => (
            a.verb,
            Request::Undo {
                revision: a.to_revision,
            },
        ),
        Cli::Retry(a) => (a, Request::Retry),
        Cli::Check(a) => return Some(Box::pin(check::run(a)).await),
        Cli::Freeze(a) => return Some(Box::pin(freezing::freeze(a)).await),
        Cli::Unfreeze(a) => return Some(freezing::unfreeze(a).await),
        Cli::Demo(_)
        | Cli::Sim(_)
        | Cli::Run(_)
        | Cli::Completions(_)
        | Cli::Man(_)
        | Cli::Info(_)
        | Cli::List(_)
        | Cli::Snapshot(_)
        | Cli::Report(_) => return None,
    };
    Some(Box::pin(drive(args, request)).await)
}

pub(crate) async fn driver(args: &VerbArgs) -> Result<Driver> {
    // A bad plan stops here, before anything is connected or changed.
    let plan = Plan::load(&args.plan)?;
    let (client, info) = client::connect(
        args.cluster.kubeconfig.as_deref(),
        args.cluster.context.as_deref(),
    )
    .await
    .wrap_err("cannot connect to the cluster")?;
    let audit = if args.read_only {
        None
    } else {
        let path = args.audit.clone().map_or_else(default_path, Ok)?;
        Some(AuditLog::open(&path)?)
    };
    let settings = Settings {
        read_only: args.read_only,
        progress: Arc::new(|line| eprintln!("  {}", crate::sanitize::clean(&line))),
        // The plan's times (a rollback's steps) are the cluster's, as in the
        // cockpit and `flightdeck run`.
        clock: Clock::of_cluster(&client).await,
        wait: !args.no_wait,
        ..Settings::default()
    };
    Ok(Driver::new(client, plan, &info.user, audit, settings))
}

async fn status(args: VerbArgs) -> Result<()> {
    let driver = driver(&args).await?;
    let helm = crate::driver::helm::observed(read_lease(&driver).await.as_ref());
    let status = driver.status(&helm).await?;
    print::status(&status, args.output)
}

async fn read_lease(driver: &Driver) -> Option<k8s_openapi::api::coordination::v1::Lease> {
    let api: kube::Api<k8s_openapi::api::coordination::v1::Lease> =
        kube::Api::namespaced(driver.client().clone(), &driver.plan().namespace);
    api.get_opt(driver.helm().lease_name()).await.ok().flatten()
}

async fn drive(args: VerbArgs, request: Request) -> Result<()> {
    if args.read_only {
        return Err(Stop::new(
            Kind::Refused,
            format!(
                "read-only: refusing to {}: flightdeck was started with --read-only and changes nothing",
                request.name()
            ),
        )
        .into());
    }
    if request.is_destructive() && !args.yes {
        confirm::ask(&request.question())?;
    }
    let driver = driver(&args).await?;
    if args.take_over {
        driver.execute(Request::TakeHelm).await?;
    }
    // Renewed while the request runs, so a long wait never lets it lapse.
    let keeper = driver.helm().spawn_keeper();
    let carried = Box::pin(carry(&driver, &request, !args.no_wait));
    let finished = match args.timeout {
        None => Some(carried.await),
        Some(limit) => tokio::time::timeout(limit, carried).await.ok(),
    };
    let Some(result) = finished else {
        keeper.abort();
        if driver.helm().view().is_ours() {
            driver.helm().release().await;
        }
        let now = driver.load().await?.rollout.state.describe();
        return Err(Stop::new(
            Kind::TimedOut,
            format!(
                "{} did not finish within {}: {}",
                request.name(),
                crate::units::format_duration(args.timeout.unwrap_or_default()),
                crate::sanitize::clean(&now)
            ),
        )
        .hint("what was written stays; the cockpit or `flightdeck run` carries on from there")
        .into());
    };
    keeper.abort();
    if driver.helm().view().is_ours() {
        driver.helm().release().await;
    }
    let outcome = match result {
        Err(crate::driver::DriveError::HelmHeld(view)) => {
            return Err(Stop::new(Kind::Conflict, view.describe())
                .hint("pass --take-over to take it (the take-over is recorded)")
                .into());
        }
        other => other?,
    };
    let Some(outcome) = outcome else {
        if args.output == Output::Json {
            let status = driver.status(&crate::driver::helm::HelmView::Free).await?;
            return print::status(&status, Output::Json);
        }
        println!(
            "{}: asked of the driver at the helm; not waiting for it",
            request.name()
        );
        return Ok(());
    };
    if args.output == Output::Json {
        let status = driver.status(&crate::driver::helm::HelmView::Free).await?;
        return print::status(&status, Output::Json);
    }
    println!(
        "{}: {}",
        request.name(),
        crate::sanitize::clean(&outcome.state.describe())
    );
    Ok(())
}

/// How often a gradual rollback followed from the shell looks again.
const FOLLOW: Duration = Duration::from_secs(1);

/// Carries out `request`; with `wait`, also follows a gradual rollback it
/// began (or found under way) down to stable at 100%. A way back while
/// another driver holds the helm is asked of it instead; `None` when it
/// was asked and not waited for.
async fn carry(
    driver: &Driver,
    request: &Request,
    wait: bool,
) -> Result<Option<Outcome>, crate::driver::DriveError> {
    let helm = driver.helm().acquire().await?;
    let asked = if let (Request::Abort { .. }, HelmView::Theirs { .. }) = (request, &helm) {
        let asked = driver.ask(request).await?;
        eprintln!(
            "  {}: asked of the driver at the helm ({})",
            crate::sanitize::clean(&asked.asker()),
            crate::sanitize::clean(&helm.describe())
        );
        if !wait {
            return Ok(None);
        }
        Some(answered(driver, &asked).await?)
    } else {
        None
    };
    let executed = match asked {
        Some(state) => Ok(Outcome { state, entry: None }),
        None => driver.execute(request.clone()).await,
    };
    let mut outcome = match executed {
        // A rollback already under way with nobody driving it: follow it.
        Err(crate::driver::DriveError::Refused(refusal))
            if wait && matches!(request, Request::Abort { .. }) =>
        {
            let state = driver.load().await?.rollout.state;
            if !rolling_back(&state) {
                return Err(refusal.into());
            }
            eprintln!(
                "  {}: following it down to stable",
                crate::sanitize::clean(&state.describe())
            );
            Outcome { state, entry: None }
        }
        other => other?,
    };
    if !wait {
        if matches!(outcome.state.phase, Phase::RollingBack { .. }) {
            eprintln!(
                "  {}; not waiting: the next steps need a driver (the cockpit, \
                 `flightdeck run`, or this verb without --no-wait)",
                crate::sanitize::clean(&outcome.state.describe())
            );
        }
        return Ok(Some(outcome));
    }
    let mut shown = outcome.state.describe();
    while rolling_back(&outcome.state) {
        tokio::time::sleep(FOLLOW).await;
        // Another driver at the helm may take the steps: only the state says
        // when stable has everything again.
        driver.tick().await?;
        outcome.state = driver.load().await?.rollout.state;
        let now = outcome.state.describe();
        if now != shown {
            eprintln!("  {}", crate::sanitize::clean(&now));
            shown = now;
        }
    }
    Ok(Some(outcome))
}

/// Waits for the driver at the helm to answer `asked`: the state it left
/// the rollout in. If its Lease lapses meanwhile (the keeper takes the
/// helm then), the request is carried out here.
async fn answered(
    driver: &Driver,
    asked: &Asked,
) -> Result<RolloutState, crate::driver::DriveError> {
    loop {
        let loaded = driver.load().await?;
        let pending = loaded.asked.as_ref().is_some_and(|a| a.id == asked.id);
        if !pending {
            let state = loaded.rollout.state;
            if matches!(
                state.phase,
                Phase::RollingBack { .. } | Phase::Aborted { .. }
            ) {
                eprintln!(
                    "  carried out by the driver at the helm: {}",
                    crate::sanitize::clean(&state.describe())
                );
                return Ok(state);
            }
            return Err(Refusal(format!(
                "the driver at the helm answered the {} without going back; the rollout \
                 stands at {} (its audit file says why)",
                asked.request().name(),
                state.describe()
            ))
            .into());
        }
        if driver.helm().view().is_ours() {
            eprintln!(
                "  the helm fell free: carrying out the {} here",
                asked.request().name()
            );
            return driver.carry_asked(asked).await.map(|o| o.state);
        }
        tokio::time::sleep(FOLLOW).await;
    }
}

fn rolling_back(state: &RolloutState) -> bool {
    matches!(state.phase, Phase::RollingBack { .. })
}
