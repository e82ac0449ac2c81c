//! Asking before a destructive action: on a terminal, a y/N question; in a
//! pipeline, a refusal that says to pass `--yes`.

use std::io::{BufRead, IsTerminal, Write};

use color_eyre::eyre::{Result, bail};

pub fn ask(question: &str) -> Result<()> {
    let stdin = std::io::stdin();
    if !stdin.is_terminal() {
        bail!("{question} This needs confirmation: pass --yes to confirm without a terminal");
    }
    eprint!("{question} [y/N] ");
    std::io::stderr().flush()?;
    let mut answer = String::new();
    stdin.lock().read_line(&mut answer)?;
    if matches!(answer.trim(), "y" | "Y" | "yes") {
        Ok(())
    } else {
        bail!("not confirmed: nothing was changed")
    }
}
