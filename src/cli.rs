//! Command-line definitions. Parsing only: each subcommand's work lives with
//! the module it belongs to.

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

#[derive(Debug, Parser)]
#[command(
    name = "flightdeck",
    version,
    about = "A terminal cockpit for progressive delivery on Kubernetes"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the simulated cluster
    #[command(subcommand)]
    Sim(SimCommand),
}

#[derive(Debug, Subcommand)]
pub enum SimCommand {
    /// Serve the simulated cluster's Kubernetes API over HTTP
    Serve(SimServeArgs),
    /// List the built-in scenarios
    Scenarios,
}

#[derive(Debug, Clone, Args)]
pub struct SimArgs {
    /// Built-in scenario name or path to a scenario file
    #[arg(long, default_value = "healthy-canary")]
    pub scenario: String,
    /// Simulated seconds per real second (1 = real time)
    #[arg(long, default_value_t = 1.0)]
    pub speed: f64,
    /// Seed for every random choice; the same seed repeats the same run
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
}

#[derive(Debug, Clone, Args)]
pub struct SimServeArgs {
    #[command(flatten)]
    pub sim: SimArgs,
    /// Address to bind; port 0 picks a free port
    #[arg(long, default_value = "127.0.0.1:0")]
    pub addr: SocketAddr,
    /// Write a kubeconfig (context `flightdeck-sim`) for this server here
    #[arg(long)]
    pub kubeconfig_out: Option<PathBuf>,
    /// Allow binding an address other than loopback
    #[arg(long)]
    pub allow_remote: bool,
    /// Require this bearer token on every request
    #[arg(long, env = "FLIGHTDECK_SIM_TOKEN")]
    pub token: Option<String>,
}
