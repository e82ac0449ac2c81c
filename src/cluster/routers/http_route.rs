//! Gateway API HTTPRoute: `spec.rules[0].backendRefs[]`, one Service per
//! version (`app-stable`, `app-canary`), each with a `weight` (default 1).

use serde_json::Value;

use super::{
    Patch, RouterError, WeightedList, Weights, check_weights, meta_name, percentages,
    version_of_service, weight_field,
};

const KIND: &str = "HTTPRoute";
const BACKENDS: WeightedList = WeightedList {
    list: "/spec/rules/0/backendRefs",
    key: "/name",
    op: "add",
};

/// (version, raw weight) per backendRef, in order.
fn backends(route: &Value) -> Result<Vec<(String, u64)>, RouterError> {
    let bad = |problem: &str| RouterError::malformed(KIND, route, problem);
    let app = meta_name(route).unwrap_or_default();
    let refs = route
        .pointer("/spec/rules/0/backendRefs")
        .ok_or_else(|| bad("expected spec.rules[0].backendRefs, a list of weighted Services"))?
        .as_array()
        .ok_or_else(|| bad("spec.rules[0].backendRefs must be a list"))?;
    if refs.is_empty() {
        return Err(bad("spec.rules[0].backendRefs is empty"));
    }
    refs.iter()
        .enumerate()
        .map(|(i, r)| {
            let at = format!("spec.rules[0].backendRefs[{i}]");
            let service = r
                .get("name")
                .and_then(Value::as_str)
                .ok_or_else(|| bad(&format!("{at}.name: expected a Service name")))?;
            // The Gateway API's default weight is 1, not 100.
            let weight = weight_field(KIND, route, &format!("{at}.weight"), r.get("weight"), 1)?;
            Ok((version_of_service(app, service), weight))
        })
        .collect()
}

/// The split the HTTPRoute asks for, per version.
pub fn weights(route: &Value) -> Result<Weights, RouterError> {
    Ok(percentages(&backends(route)?))
}

/// A JSON patch setting each backendRef's weight, guarded by a `test` of its name.
pub fn set_weights(route: &Value, wanted: &Weights) -> Result<Patch, RouterError> {
    let backends = backends(route)?;
    let known: Vec<String> = backends.iter().map(|(v, _)| v.clone()).collect();
    check_weights(wanted, &known)?;
    Ok(BACKENDS.patch(route, &known, wanted))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn route(stable: &Value, canary: &Value) -> Value {
        json!({
            "metadata": {"name": "checkout", "namespace": "shop"},
            "spec": {"rules": [{"backendRefs": [
                {"name": "checkout-stable", "port": 8080, "weight": stable},
                {"name": "checkout-canary", "port": 8080, "weight": canary},
            ]}]}
        })
    }

    #[test]
    fn reads_backend_weights_by_version() {
        let w = weights(&route(&json!(80), &json!(20))).unwrap();
        assert_eq!(w, vec![("stable".into(), 80), ("canary".into(), 20)]);
    }

    #[test]
    fn missing_weight_defaults_to_one() {
        let w = weights(&route(&Value::Null, &Value::Null)).unwrap();
        assert_eq!(w, vec![("stable".into(), 50), ("canary".into(), 50)]);
    }

    #[test]
    fn patch_applies_to_the_object() {
        let object = route(&json!(100), &json!(0));
        let wanted = vec![("stable".to_string(), 50), ("canary".to_string(), 50)];
        let patch = set_weights(&object, &wanted).unwrap();
        let ops: json_patch::Patch = serde_json::from_value(patch.body().clone()).unwrap();
        let mut patched = object.clone();
        json_patch::patch(&mut patched, &ops).unwrap();
        assert_eq!(weights(&patched).unwrap(), wanted);
    }

    #[test]
    fn malformed_objects_are_explained() {
        let err = weights(&json!({"metadata": {"name": "x"}, "spec": {"rules": []}}))
            .unwrap_err()
            .to_string();
        assert!(err.contains("backendRefs"), "{err}");
        let err = weights(&route(&json!(-5), &json!(0)))
            .unwrap_err()
            .to_string();
        assert!(err.contains("backendRefs[0].weight"), "{err}");
        let nameless = json!({"spec": {"rules": [{"backendRefs": [{"weight": 1}]}]}});
        assert!(
            weights(&nameless)
                .unwrap_err()
                .to_string()
                .contains(".name")
        );
    }
}
