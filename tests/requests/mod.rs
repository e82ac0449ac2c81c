//! The simulated API server's request counts (`/sim/apiserver/metrics`), as
//! the steady-state tests compare them: (verb, `group/resource`) → requests.
#![allow(dead_code, clippy::unwrap_used)]

use std::collections::BTreeMap;

use flightdeck::metrics::exposition;

pub type Counts = BTreeMap<(String, String), f64>;

/// Parses the counts the simulator serves at `REQUEST_COUNTS_PATH`.
pub fn parse(text: &str) -> Counts {
    exposition::parse(text)
        .unwrap()
        .samples
        .into_iter()
        .filter(|s| s.name == "apiserver_request_total")
        .map(|s| {
            let verb = s.label("verb").unwrap().to_string();
            let resource = format!(
                "{}/{}",
                s.label("group").unwrap(),
                s.label("resource").unwrap()
            );
            ((verb, resource), s.value)
        })
        .collect()
}

/// The list requests among `counts`, by resource.
pub fn lists(counts: &Counts) -> BTreeMap<String, f64> {
    counts
        .iter()
        .filter(|((verb, _), _)| verb == "list")
        .map(|((_, res), n)| (res.clone(), *n))
        .collect()
}

/// What `after` counts beyond `before`, only where it grew.
pub fn grown(before: &Counts, after: &Counts) -> Counts {
    after
        .iter()
        .map(|(k, n)| (k.clone(), n - before.get(k).copied().unwrap_or(0.0)))
        .filter(|(_, n)| *n > 0.0)
        .collect()
}
