//! Traffic routers: read the split between versions from the object that
//! carries it, and build the patch that changes it.
//!
//! Everything here is a pure function on `serde_json::Value`, so the same code
//! reads a watch event in the cockpit and a stored object in the simulator, and
//! the driver sends the patches built here. Objects come from the cluster and
//! are untrusted: a malformed one is an error that says what was expected.

pub mod http_route;
pub mod istio;
pub mod nginx;
pub mod replica_ratio;
pub mod service_selector;
pub mod traffic_split;

use serde_json::Value;

pub use crate::app::msg::RouterKind;

/// Percent of traffic per version, in the order the object lists them. The
/// percentages add up to 100 (or are all zero when nothing routes anywhere).
pub type Weights = Vec<(String, u8)>;

/// A body for the API server's PATCH verb.
#[derive(Debug, Clone, PartialEq)]
pub enum Patch {
    /// `application/merge-patch+json`
    Merge(Value),
    /// `application/json-patch+json`
    Json(Value),
}

impl Patch {
    /// The `Content-Type` the API server expects for this body.
    pub fn content_type(&self) -> &'static str {
        match self {
            Patch::Merge(_) => "application/merge-patch+json",
            Patch::Json(_) => "application/json-patch+json",
        }
    }

    pub fn body(&self) -> &Value {
        match self {
            Patch::Merge(v) | Patch::Json(v) => v,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RouterError {
    /// The object lacks a field the router needs, or holds the wrong type there.
    #[error("{kind} {name}: {problem}")]
    Malformed {
        kind: &'static str,
        name: String,
        problem: String,
    },
    /// The requested weights cannot be applied.
    #[error("cannot set weights: {0}")]
    BadWeights(String),
}

impl RouterError {
    pub(crate) fn malformed(
        kind: &'static str,
        object: &Value,
        problem: impl Into<String>,
    ) -> Self {
        RouterError::Malformed {
            kind,
            name: object_name(object),
            problem: problem.into(),
        }
    }
}

/// `namespace/name` of an object, for messages.
fn object_name(object: &Value) -> String {
    let meta = object.get("metadata");
    let field = |f: &str| meta.and_then(|m| m.get(f)).and_then(Value::as_str);
    match (field("namespace"), field("name")) {
        (Some(ns), Some(name)) => format!("{ns}/{name}"),
        (None, Some(name)) => name.to_string(),
        _ => "(unnamed)".to_string(),
    }
}

/// The router kind the simulator's scenario names, as the cockpit labels it.
pub fn from_scenario(kind: crate::sim::scenario::RouterKind) -> RouterKind {
    use crate::sim::scenario::RouterKind as Scenario;
    match kind {
        Scenario::Istio => RouterKind::IstioVirtualService,
        Scenario::GatewayApi => RouterKind::HttpRoute,
        Scenario::Smi => RouterKind::TrafficSplit,
        Scenario::Nginx => RouterKind::NginxCanary,
    }
}

/// Turns raw weights (any non-negative scale: Gateway API defaults to 1, SMI
/// may use 1000) into percentages adding up to 100, by largest remainder so
/// rounding never loses or invents a percent.
pub fn percentages(raw: &[(String, u64)]) -> Weights {
    let total: u128 = raw.iter().map(|(_, w)| u128::from(*w)).sum();
    if total == 0 {
        return raw.iter().map(|(v, _)| (v.clone(), 0)).collect();
    }
    let mut shares: Vec<(usize, u128, u128)> = raw
        .iter()
        .enumerate()
        .map(|(i, (_, w))| {
            let scaled = u128::from(*w) * 100;
            (i, scaled / total, scaled % total)
        })
        .collect();
    let assigned: u128 = shares.iter().map(|(_, q, _)| q).sum();
    let mut left = 100 - assigned;
    let mut order: Vec<usize> = (0..shares.len()).collect();
    order.sort_by(|a, b| shares[*b].2.cmp(&shares[*a].2).then(a.cmp(b)));
    for i in order {
        if left == 0 {
            break;
        }
        if shares[i].2 > 0 {
            shares[i].1 += 1;
            left -= 1;
        }
    }
    shares
        .into_iter()
        .map(|(i, q, _)| (raw[i].0.clone(), q as u8))
        .collect()
}

/// Checks weights a caller wants to set: known versions, each once, adding up to 100.
pub(crate) fn check_weights(wanted: &Weights, known: &[String]) -> Result<(), RouterError> {
    let sum: u32 = wanted.iter().map(|(_, w)| u32::from(*w)).sum();
    if sum != 100 {
        return Err(RouterError::BadWeights(format!(
            "weights {wanted:?} add up to {sum}, not 100"
        )));
    }
    for (i, (version, _)) in wanted.iter().enumerate() {
        if !known.contains(version) {
            return Err(RouterError::BadWeights(format!(
                "version {version:?} is not routed by this object (it routes {known:?})"
            )));
        }
        if wanted[..i].iter().any(|(v, _)| v == version) {
            return Err(RouterError::BadWeights(format!(
                "version {version:?} is given twice"
            )));
        }
    }
    Ok(())
}

/// Where a router keeps its weighted entries: the list, the field naming
/// each entry's target, and whether its `weight` may be missing (`add`) or
/// must be there (`replace`).
pub(crate) struct WeightedList {
    /// JSON pointer of the list, e.g. `/spec/http/0/route`.
    pub list: &'static str,
    /// Pointer inside an entry to what names it, e.g. `/destination/subset`.
    pub key: &'static str,
    pub op: &'static str,
}

impl WeightedList {
    /// A JSON patch setting entry `i`'s weight to what `wanted` asks for
    /// its version (`versions[i]`). Each write is preceded by a `test` of the
    /// entry's name as read, so a list reordered in the meantime makes the
    /// API server refuse the patch instead of weighting the wrong target.
    pub fn patch(&self, object: &Value, versions: &[String], wanted: &Weights) -> Patch {
        let ops = versions
            .iter()
            .enumerate()
            .flat_map(|(i, version)| {
                let key = format!("{}/{i}{}", self.list, self.key);
                let named = object.pointer(&key).cloned().unwrap_or(Value::Null);
                [
                    serde_json::json!({"op": "test", "path": key, "value": named}),
                    serde_json::json!({
                        "op": self.op,
                        "path": format!("{}/{i}/weight", self.list),
                        "value": wanted_for(wanted, version),
                    }),
                ]
            })
            .collect();
        Patch::Json(Value::Array(ops))
    }
}

/// The weight wanted for `version`; versions left out get none.
pub(crate) fn wanted_for(wanted: &Weights, version: &str) -> u8 {
    wanted
        .iter()
        .find(|(v, _)| v == version)
        .map_or(0, |(_, w)| *w)
}

/// A non-negative integer weight, or a clear complaint.
pub(crate) fn weight_field(
    kind: &'static str,
    object: &Value,
    at: &str,
    value: Option<&Value>,
    default: u64,
) -> Result<u64, RouterError> {
    match value {
        None | Some(Value::Null) => Ok(default),
        Some(v) => v.as_u64().ok_or_else(|| {
            RouterError::malformed(
                kind,
                object,
                format!("{at}: expected a non-negative integer weight, found {v}"),
            )
        }),
    }
}

/// The version a backend Service stands for: `checkout-canary` of app
/// `checkout` is `canary`; a name without the prefix is its own version.
pub(crate) fn version_of_service(app: &str, service: &str) -> String {
    service
        .strip_prefix(app)
        .and_then(|rest| rest.strip_prefix('-'))
        .filter(|v| !v.is_empty())
        .unwrap_or(service)
        .to_string()
}

pub(crate) fn meta_name(object: &Value) -> Option<&str> {
    object.get("metadata")?.get("name")?.as_str()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn raw(ws: &[(&str, u64)]) -> Vec<(String, u64)> {
        ws.iter().map(|(v, w)| ((*v).to_string(), *w)).collect()
    }

    #[test]
    fn percentages_add_up_to_100() {
        let p = percentages(&raw(&[("a", 1), ("b", 1), ("c", 1)]));
        assert_eq!(p.iter().map(|(_, w)| u32::from(*w)).sum::<u32>(), 100);
        assert_eq!(p[0].1, 34);
        assert_eq!(percentages(&raw(&[("a", 900), ("b", 100)]))[1].1, 10);
        assert_eq!(percentages(&raw(&[("a", 0), ("b", 0)]))[0].1, 0);
    }

    #[test]
    fn weights_to_set_are_checked() {
        let known = vec!["stable".to_string(), "canary".to_string()];
        let w = |a: u8, b: u8| vec![("stable".to_string(), a), ("canary".to_string(), b)];
        assert!(check_weights(&w(75, 25), &known).is_ok());
        assert!(check_weights(&w(75, 20), &known).is_err());
        let unknown = vec![("green".to_string(), 100)];
        let err = check_weights(&unknown, &known).unwrap_err().to_string();
        assert!(err.contains("green"), "{err}");
    }

    #[test]
    fn service_names_map_to_versions() {
        assert_eq!(version_of_service("checkout", "checkout-canary"), "canary");
        assert_eq!(version_of_service("checkout", "other"), "other");
        assert_eq!(version_of_service("checkout", "checkout"), "checkout");
    }
}
