//! Plans for unit tests across the crate: the checkout canary the simulator
//! ships, with the stages and extra tables a test needs.

use std::path::Path;

use super::plan::Plan;

/// checkout's canary through Istio, with `stages` (a TOML array) and
/// `tables` (more TOML, such as an `[analysis]` table) after it.
pub fn canary(stages: &str, tables: &str) -> Plan {
    let text = format!(
        r#"
app = "checkout"
namespace = "shop"
strategy = "canary"
[canary]
stable = "checkout-stable"
canary = "checkout-canary"
stages = {stages}
[canary.router]
kind = "istio"
virtual_service = "checkout"
{tables}
"#
    );
    match Plan::parse(Path::new("test.toml"), &text) {
        Ok(plan) => plan,
        Err(e) => panic!("a test plan does not parse: {e}"),
    }
}
