use clap::Parser;
use color_eyre::eyre::Result;
use flightdeck::cli::{Cli, Command, SimCommand};
use flightdeck::sim::Scenario;

fn main() -> Result<()> {
    color_eyre::install()?;
    let cli = Cli::parse();
    match cli.command {
        Some(Command::Sim(SimCommand::Scenarios)) => {
            for name in Scenario::builtin_names() {
                println!("{name}");
            }
            Ok(())
        }
        Some(Command::Sim(SimCommand::Serve(_))) | None => {
            color_eyre::eyre::bail!("this command is not wired yet")
        }
    }
}
