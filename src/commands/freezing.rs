//! `flightdeck freeze --plan FILE --reason TEXT` and `flightdeck unfreeze
//! --plan FILE`: setting and lifting an incident freeze from a shell, with
//! or without the helm (see [`crate::driver::freezing`]).

use color_eyre::eyre::Result;

use super::failure::{Kind, Stop};
use super::{confirm, driver, print};
use crate::cli::{FreezeArgs, Output, VerbArgs};
use crate::driver::freezing::Frozen;
use crate::sanitize::clean;

pub async fn freeze(args: FreezeArgs) -> Result<()> {
    let verb = &args.verb;
    refuse_read_only(verb, "freeze")?;
    if !verb.yes {
        confirm::ask("Freeze the rollout: pause it and refuse every step forward until unfreeze?")?;
    }
    // The freeze's snapshot holds the plan as written, beside the audit file.
    crate::snapshot::auto::set_context(crate::snapshot::auto::Context {
        plan_text: std::fs::read_to_string(&verb.plan).ok(),
        prometheus: None,
        dir: crate::snapshot::auto::beside(verb.audit.as_deref()),
    });
    let driver = driver(verb).await?;
    let frozen = Box::pin(driver.freeze(&args.reason)).await?;
    if driver.helm().view().is_ours() {
        driver.helm().release().await;
    }
    show(&driver, &frozen, "frozen", verb.output).await
}

pub async fn unfreeze(args: VerbArgs) -> Result<()> {
    refuse_read_only(&args, "unfreeze")?;
    if !args.yes {
        confirm::ask("Unfreeze the rollout: allow it to move on again?")?;
    }
    let driver = driver(&args).await?;
    let frozen = driver.unfreeze().await?;
    show(&driver, &frozen, "unfrozen", args.output).await
}

fn refuse_read_only(args: &VerbArgs, verb: &str) -> Result<()> {
    if args.read_only {
        return Err(Stop::new(
            Kind::Refused,
            format!(
                "read-only: refusing to {verb}: flightdeck was started with --read-only and changes nothing"
            ),
        )
        .into());
    }
    Ok(())
}

async fn show(
    driver: &crate::driver::Driver,
    frozen: &Frozen,
    done: &str,
    output: Output,
) -> Result<()> {
    if output == Output::Json {
        let status = driver.status(&crate::driver::helm::HelmView::Free).await?;
        return print::status(&status, Output::Json);
    }
    match &frozen.freeze {
        Some(f) => println!("{done}: {}", clean(&f.describe())),
        None => println!("{done}"),
    }
    if let Some(line) = &frozen.snapshot {
        println!("{}", clean(line));
    }
    println!("rollout: {}", clean(&frozen.state));
    Ok(())
}
