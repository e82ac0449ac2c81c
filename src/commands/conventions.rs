//! What a command-line tool is expected to ship: shell completions and a man
//! page per command, both made from the same clap definition as `--help`.

use std::io::Write;
use std::path::{Path, PathBuf};

/// Writes the completion script for `shell` to `out`.
pub fn completions(shell: clap_complete::Shell, out: &mut dyn Write) -> std::io::Result<()> {
    let mut cmd = crate::cli::command();
    clap_complete::generate(shell, &mut cmd, "flightdeck", out);
    out.flush()
}

/// Writes `flightdeck.1` and one page per command (`flightdeck-status.1`,
/// `flightdeck-sim-serve.1`, …) into `dir`, creating it; returns the files.
pub fn man_pages(dir: &Path) -> std::io::Result<Vec<PathBuf>> {
    std::fs::create_dir_all(dir)?;
    let mut cmd = crate::cli::command().disable_help_subcommand(true);
    // Building names each subcommand `flightdeck-status` and so on.
    cmd.build();
    let mut written = Vec::new();
    write_pages(cmd, dir, &mut written)?;
    Ok(written)
}

fn write_pages(cmd: clap::Command, dir: &Path, written: &mut Vec<PathBuf>) -> std::io::Result<()> {
    for sub in cmd.get_subcommands().filter(|s| !s.is_hide_set()) {
        write_pages(sub.clone(), dir, written)?;
    }
    written.push(clap_mangen::Man::new(cmd).generate_to(dir)?);
    Ok(())
}
