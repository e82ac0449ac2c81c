//! SMI TrafficSplit: `spec.backends[]` of `{service, weight}` behind the root
//! `spec.service`. Older SMI versions wrote weights as quantities (`"500m"`).

use serde_json::Value;

use super::{
    Patch, RouterError, WeightedList, Weights, check_weights, percentages, version_of_service,
};

const KIND: &str = "TrafficSplit";
const BACKENDS: WeightedList = WeightedList {
    list: "/spec/backends",
    key: "/service",
    op: "replace",
};

fn backends(split: &Value) -> Result<Vec<(String, u64)>, RouterError> {
    let bad = |problem: &str| RouterError::malformed(KIND, split, problem);
    let root = split
        .pointer("/spec/service")
        .and_then(Value::as_str)
        .ok_or_else(|| bad("expected spec.service, the root Service name"))?;
    let list = split
        .pointer("/spec/backends")
        .and_then(Value::as_array)
        .ok_or_else(|| bad("expected spec.backends, a list of {service, weight}"))?;
    if list.is_empty() {
        return Err(bad("spec.backends is empty"));
    }
    list.iter()
        .enumerate()
        .map(|(i, b)| {
            let at = format!("spec.backends[{i}]");
            let service = b
                .get("service")
                .and_then(Value::as_str)
                .ok_or_else(|| bad(&format!("{at}.service: expected a Service name")))?;
            let weight = match b.get("weight") {
                Some(Value::Number(n)) => n.as_u64(),
                Some(Value::String(s)) => quantity_milli(s),
                _ => None,
            }
            .ok_or_else(|| bad(&format!("{at}.weight: expected a non-negative number")))?;
            Ok((version_of_service(root, service), weight))
        })
        .collect()
}

/// `"500m"` → 500, `"1"` → 1000: SMI v1alpha1 quantities, compared in millis.
fn quantity_milli(text: &str) -> Option<u64> {
    match text.strip_suffix('m') {
        Some(milli) => milli.parse().ok(),
        None => text.parse::<u64>().ok()?.checked_mul(1000),
    }
}

pub fn weights(split: &Value) -> Result<Weights, RouterError> {
    Ok(percentages(&backends(split)?))
}

/// A JSON patch setting each backend's weight (as integers, the current SMI
/// form), guarded by a `test` of its Service name.
pub fn set_weights(split: &Value, wanted: &Weights) -> Result<Patch, RouterError> {
    let backends = backends(split)?;
    let known: Vec<String> = backends.iter().map(|(v, _)| v.clone()).collect();
    check_weights(wanted, &known)?;
    Ok(BACKENDS.patch(split, &known, wanted))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn split(stable: &Value, canary: &Value) -> Value {
        json!({
            "metadata": {"name": "checkout", "namespace": "shop"},
            "spec": {"service": "checkout", "backends": [
                {"service": "checkout-stable", "weight": stable},
                {"service": "checkout-canary", "weight": canary},
            ]}
        })
    }

    #[test]
    fn reads_numbers_and_quantities() {
        let w = weights(&split(&json!(90), &json!(10))).unwrap();
        assert_eq!(w, vec![("stable".into(), 90), ("canary".into(), 10)]);
        let w = weights(&split(&json!("750m"), &json!("250m"))).unwrap();
        assert_eq!(w, vec![("stable".into(), 75), ("canary".into(), 25)]);
    }

    #[test]
    fn patch_applies_to_the_object() {
        let object = split(&json!(100), &json!(0));
        let wanted = vec![("stable".to_string(), 40), ("canary".to_string(), 60)];
        let patch = set_weights(&object, &wanted).unwrap();
        let ops: json_patch::Patch = serde_json::from_value(patch.body().clone()).unwrap();
        let mut patched = object.clone();
        json_patch::patch(&mut patched, &ops).unwrap();
        assert_eq!(weights(&patched).unwrap(), wanted);
    }

    #[test]
    fn malformed_objects_are_explained() {
        let err = weights(&json!({"spec": {"backends": []}}))
            .unwrap_err()
            .to_string();
        assert!(err.contains("spec.service"), "{err}");
        let err = weights(&split(&json!("lots"), &json!(0)))
            .unwrap_err()
            .to_string();
        assert!(err.contains("backends[0].weight"), "{err}");
    }
}
