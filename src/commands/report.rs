//! `flightdeck report --plan FILE [--format html|md] [--out FILE]`: the
//! release report of the app's latest rollout, to a file or stdout. The
//! same report ends `flightdeck run --report FILE`.

use std::path::Path;

use color_eyre::eyre::{Result, WrapErr};

use super::failure::{Kind, Stop};
use crate::cli::{ReportArgs, ReportFormat};
use crate::cluster::client;
use crate::cluster::clock::Clock;
use crate::report::{self, Report, gather};
use crate::rollout::plan::Plan;

pub async fn run(args: ReportArgs) -> Result<()> {
    // A bad plan stops here, before anything is connected.
    let plan = Plan::load(&args.plan)?;
    let (client, _) = client::connect(
        args.cluster.kubeconfig.as_deref(),
        args.cluster.context.as_deref(),
    )
    .await
    .wrap_err("cannot connect to the cluster")?;
    let clock = Clock::of_cluster(&client).await;
    let audit = match args.audit.clone() {
        Some(path) => Some(path),
        None => crate::workers::audit::default_path().ok(),
    };
    let report = gather::gather(
        &client,
        &plan,
        &clock,
        gather::Sources {
            audit: audit.as_deref(),
            prometheus: args.prometheus.as_deref(),
            observed: None,
        },
    )
    .await;
    match &args.out {
        Some(path) => {
            write(&report, args.format, path)?;
            println!("{}", path.display());
        }
        None => print!("{}", report::render(&report, args.format)),
    }
    Ok(())
}

/// Writes the report to `path` in `format`.
pub fn write(report: &Report, format: ReportFormat, path: &Path) -> Result<()> {
    std::fs::write(path, report::render(report, format)).map_err(|e| {
        Stop::new(
            Kind::Usage,
            format!("cannot write the report to {}: {e}", path.display()),
        )
        .hint("give --out (or --report) a path in a folder you can write to")
        .into()
    })
}
