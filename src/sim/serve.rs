//! `flightdeck sim serve`: the simulated cluster on a port, until Ctrl-C.

use color_eyre::eyre::{Result, WrapErr};

use super::Scenario;
use super::host::{HostOptions, SimHost};
use crate::cli::SimServeArgs;

pub async fn run(args: SimServeArgs) -> Result<()> {
    let scenario = Scenario::load(&args.sim.scenario)?;
    let name = scenario.name.clone();
    let mut opts = HostOptions::new(scenario);
    opts.seed = args.sim.seed;
    opts.speed = args.sim.speed;
    opts.addr = args.addr;
    opts.allow_remote = args.allow_remote;
    opts.token = args.token;
    let host = SimHost::start(opts).await?;
    // Scripts read these two lines to find the server, so they go to stdout.
    println!("flightdeck sim: scenario {name} serving at {}", host.url());
    if let Some(path) = &args.kubeconfig_out {
        host.write_kubeconfig(path)?;
        println!("kubeconfig: {} (context flightdeck-sim)", path.display());
    }
    tokio::signal::ctrl_c()
        .await
        .wrap_err("cannot wait for Ctrl-C")?;
    host.shutdown().await;
    Ok(())
}
