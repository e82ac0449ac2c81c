//! The CLI twins of the cockpit's keys: `flightdeck status|start|advance|
//! pause|resume|promote|abort|rollback|undo|retry --plan FILE`. Each builds
//! a driver, carries out one request and prints where the rollout stands.
//! Progress goes to stderr; the result (text or JSON) to stdout.

mod confirm;
mod print;
pub mod run;
pub mod signals;

use std::sync::Arc;

use color_eyre::eyre::{Result, WrapErr, bail};

use crate::cli::{Command as Cli, Output, VerbArgs};
use crate::cluster::client;
use crate::driver::{Driver, Settings};
use crate::rollout::Request;
use crate::rollout::plan::{Plan, RollbackMode};
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
        Cli::Demo(_) | Cli::Sim(_) | Cli::Run(_) => return None,
    };
    Some(drive(args, request).await)
}

async fn driver(args: &VerbArgs) -> Result<Driver> {
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
        let path = args.audit.clone().unwrap_or_else(default_path);
        Some(AuditLog::open(&path)?)
    };
    let settings = Settings {
        read_only: args.read_only,
        progress: Arc::new(|line| eprintln!("  {}", crate::sanitize::clean(&line))),
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
        bail!(
            "read-only: refusing to {}: flightdeck was started with --read-only and changes nothing",
            request.name()
        );
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
    let result = driver.execute(request.clone()).await;
    keeper.abort();
    if driver.helm().view().is_ours() {
        driver.helm().release().await;
    }
    let outcome = match result {
        Err(crate::driver::DriveError::HelmHeld(view)) => bail!(
            "{}: pass --take-over to take it (the take-over is recorded)",
            view.describe()
        ),
        other => other?,
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
