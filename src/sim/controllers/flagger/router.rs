//! Flagger's Istio router as far as weights go: the VirtualService named
//! after the Canary's service routes to the hosts `{target}-primary` and
//! `{target}-canary`, and each step sets their two weights.

use serde_json::{Value, json};

use crate::sim::Shared;
use crate::sim::controllers::put;
use crate::sim::resources::kinds;
use crate::sim::store::Store;

/// The VirtualService a Canary routes with: `provider: istio` and the
/// VirtualService named after `spec.service.name` (else the target) there.
pub fn virtual_service(store: &Store, canary: &Value, ns: &str, target: &str) -> Option<String> {
    if canary.pointer("/spec/provider").and_then(Value::as_str) != Some("istio") {
        return None;
    }
    let apex = canary
        .pointer("/spec/service/name")
        .and_then(Value::as_str)
        .unwrap_or(target);
    store
        .get(kinds::virtualservices(), ns, apex)
        .map(|_| apex.to_string())
}

/// Sets the canary host's weight and the primary's to the rest; writes
/// nothing when they already are so.
pub fn set_routes(shared: &Shared, ns: &str, vs: &str, target: &str, canary_weight: u64) {
    let primary_host = format!("{target}-primary");
    let canary_host = format!("{target}-canary");
    let _ = shared
        .store
        .modify::<()>(kinds::virtualservices(), ns, vs, |object| {
            let Some(routes) = object
                .pointer_mut("/spec/http/0/route")
                .and_then(Value::as_array_mut)
            else {
                return Err(());
            };
            let mut changed = false;
            for route in routes {
                let host = route
                    .pointer("/destination/host")
                    .and_then(Value::as_str)
                    .and_then(|h| h.split('.').next())
                    .unwrap_or("")
                    .to_string();
                let wanted = if host == primary_host {
                    100 - canary_weight
                } else if host == canary_host {
                    canary_weight
                } else {
                    continue;
                };
                if route.get("weight").and_then(Value::as_u64) != Some(wanted) {
                    put(route, &["weight"], json!(wanted));
                    changed = true;
                }
            }
            if changed { Ok(()) } else { Err(()) }
        });
}
