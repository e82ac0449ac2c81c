//! Asking before a destructive action: on a terminal, a y/N question; in a
//! pipeline, a refusal that says to pass `--yes`.

use std::io::{BufRead, IsTerminal, Write};

use color_eyre::eyre::Result;

use super::failure::{Kind, Stop};

pub fn ask(question: &str) -> Result<()> {
    let stdin = std::io::stdin();
    if !stdin.is_terminal() {
        return Err(
            Stop::new(Kind::Refused, format!("{question} This needs confirmation"))
                .hint("pass --yes to confirm without a terminal")
                .into(),
        );
    }
    eprint!("{question} [y/N] ");
    std::io::stderr().flush()?;
    let mut answer = String::new();
    stdin.lock().read_line(&mut answer)?;
    if matches!(answer.trim(), "y" | "Y" | "yes") {
        Ok(())
    } else {
        Err(Stop::new(Kind::Refused, "not confirmed: nothing was changed").into())
    }
}
