//! Printing a rollout's status for a person or a script.

use color_eyre::eyre::Result;

use crate::cli::Output;
use crate::driver::status::Status;
use crate::sanitize::clean;
use crate::units::format_duration;

pub fn status(status: &Status, output: Output) -> Result<()> {
    if output == Output::Json {
        println!("{}", serde_json::to_string_pretty(status)?);
        return Ok(());
    }
    println!(
        "{} in {} ({}): {}",
        clean(&status.app),
        clean(&status.namespace),
        status.strategy,
        clean(&status.state)
    );
    if let Some(f) = &status.freeze {
        println!(
            "FROZEN by {} since {}: {}",
            clean(&f.by.os_user),
            f.at.format("%Y-%m-%d %H:%M:%S UTC"),
            clean(&f.reason)
        );
    }
    if let Some(w) = status.weights {
        println!("weights asked: {w}");
    }
    if !status.routed.is_empty() {
        let routed: Vec<String> = status
            .routed
            .iter()
            .map(|(v, w)| format!("{} {w}%", clean(v)))
            .collect();
        println!("router carries: {}", routed.join(" / "));
    }
    if let Some(s) = status.paused_for_secs {
        print!(
            "paused for {}",
            format_duration(std::time::Duration::from_secs(s))
        );
        match status.time_left_secs {
            Some(left) => println!(
                ", moves on in {}",
                format_duration(std::time::Duration::from_secs(left))
            ),
            None => println!(),
        }
    }
    match (&status.helm.holder, status.helm.renewed) {
        // The renewal is stamped by the holder's clock: shown, never judged.
        (Some(holder), Some(renewed)) => println!(
            "helm: {} ({}, last renewed {} by the holder's clock)",
            status.helm.state,
            clean(holder),
            renewed.format("%Y-%m-%d %H:%M:%S UTC")
        ),
        (Some(holder), None) => println!("helm: {} ({})", status.helm.state, clean(holder)),
        (None, _) => println!("helm: {}", status.helm.state),
    }
    if let Some(waiting) = &status.waiting_for_driver {
        println!("{}", clean(waiting));
    }
    if let Some(landing) = &status.landing {
        println!("{}", clean(&landing.text));
    }
    println!("pods:");
    for p in &status.pods {
        println!(
            "  {:<40} {:<8} {:<18} {:>5} restarts {}",
            clean(&p.name),
            clean(&p.version),
            clean(&p.status),
            p.ready,
            p.restarts
        );
    }
    if !status.revisions.is_empty() {
        println!("revisions:");
        for r in &status.revisions {
            println!(
                "  {}{:>3}  {}  ({} replicas)",
                if r.current { "*" } else { " " },
                r.revision,
                clean(&r.images.join(", ")),
                r.replicas
            );
        }
    }
    if !status.history.is_empty() {
        println!("history:");
        for e in status.history.iter().rev().take(10) {
            println!(
                "  {} {:<9} by {:<20} {} → {}",
                e.at.format("%Y-%m-%d %H:%M:%S"),
                e.action,
                clean(&e.who.os_user),
                clean(&e.from),
                clean(&e.to)
            );
        }
    }
    Ok(())
}
