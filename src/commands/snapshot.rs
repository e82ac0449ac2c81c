//! `flightdeck snapshot --plan FILE [--out DIR]`: an incident snapshot on
//! demand. The bundle's path goes to stdout (with `-o json`, the manifest
//! with the path); parts that could not be read are listed on stderr and
//! do not fail the command.

use color_eyre::eyre::{Result, WrapErr};
use serde_json::json;

use super::failure::{Kind, Stop};
use crate::cli::{Output, SnapshotArgs};
use crate::cluster::client;
use crate::cluster::clock::Clock;
use crate::rollout::plan::Plan;
use crate::sanitize::clean;
use crate::snapshot::{self, Options};
use crate::workers::audit::Actor;

pub async fn run(args: SnapshotArgs) -> Result<()> {
    // A bad plan stops here, before anything is connected.
    let plan = Plan::load(&args.plan)?;
    let plan_text = std::fs::read_to_string(&args.plan).ok();
    let (client, info) = client::connect(
        args.cluster.kubeconfig.as_deref(),
        args.cluster.context.as_deref(),
    )
    .await
    .wrap_err("cannot connect to the cluster")?;
    let clock = Clock::of_cluster(&client).await;
    let actor = Actor::current(&info.user);
    let opts = Options {
        plan_text,
        prometheus: args.prometheus.clone(),
        reason: "on demand".into(),
        by: format!("{} ({})", actor.os_user, actor.kube_user),
    };
    let bundle = snapshot::collect(&client, &plan, &clock, &opts).await;
    let dir = args.out.clone().unwrap_or_else(snapshot::auto::default_dir);
    let path = snapshot::write(&dir, &bundle).map_err(|e| {
        Stop::new(
            Kind::Usage,
            format!("cannot write the snapshot into {}: {e}", dir.display()),
        )
        .hint("give --out a folder you can write to")
    })?;
    for m in &bundle.manifest.missing {
        eprintln!("  not in the snapshot: {}: {}", m.part, clean(&m.why));
    }
    match args.output {
        Output::Text => println!("{}", path.display()),
        Output::Json => println!(
            "{}",
            json!({"path": path.display().to_string(), "manifest": bundle.manifest})
        ),
    }
    Ok(())
}
