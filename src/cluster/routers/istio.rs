//! Istio VirtualService: `spec.http[0].route[]`, one destination per subset
//! (the subset is named after the version), each with a `weight`.

use serde_json::Value;

use super::{Patch, RouterError, WeightedList, Weights, check_weights, percentages, weight_field};

const KIND: &str = "VirtualService";
const ROUTES: WeightedList = WeightedList {
    list: "/spec/http/0/route",
    key: "/destination/subset",
    op: "add",
};

/// The routes of the first HTTP rule: (subset, raw weight), in order.
fn routes(vs: &Value) -> Result<Vec<(String, u64)>, RouterError> {
    let bad = |problem: &str| RouterError::malformed(KIND, vs, problem);
    let route = vs
        .pointer("/spec/http/0/route")
        .ok_or_else(|| bad("expected spec.http[0].route, a list of weighted destinations"))?
        .as_array()
        .ok_or_else(|| bad("spec.http[0].route must be a list"))?;
    if route.is_empty() {
        return Err(bad("spec.http[0].route is empty"));
    }
    // A lone destination takes everything, with or without a weight.
    let default = u64::from(route.len() == 1) * 100;
    route
        .iter()
        .enumerate()
        .map(|(i, r)| {
            let at = format!("spec.http[0].route[{i}]");
            let subset = r
                .pointer("/destination/subset")
                .and_then(Value::as_str)
                .ok_or_else(|| bad(&format!("{at}.destination.subset: expected a subset name")))?;
            let weight = weight_field(KIND, vs, &format!("{at}.weight"), r.get("weight"), default)?;
            Ok((subset.to_string(), weight))
        })
        .collect()
}

/// The split the VirtualService asks for, per subset (= version).
pub fn weights(vs: &Value) -> Result<Weights, RouterError> {
    Ok(percentages(&routes(vs)?))
}

/// A JSON patch setting every route's weight. Each `replace` is preceded by a
/// `test` of the route's subset, so a route list reordered in the meantime
/// makes the API server refuse the patch instead of weighting the wrong subset.
pub fn set_weights(vs: &Value, wanted: &Weights) -> Result<Patch, RouterError> {
    let routes = routes(vs)?;
    let known: Vec<String> = routes.iter().map(|(s, _)| s.clone()).collect();
    check_weights(wanted, &known)?;
    Ok(ROUTES.patch(vs, &known, wanted))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn vs(stable: &Value, canary: &Value) -> Value {
        json!({
            "metadata": {"name": "checkout", "namespace": "shop"},
            "spec": {"hosts": ["checkout"], "http": [{"route": [
                {"destination": {"host": "checkout", "subset": "stable"}, "weight": stable},
                {"destination": {"host": "checkout", "subset": "canary"}, "weight": canary},
            ]}]}
        })
    }

    #[test]
    fn reads_route_weights() {
        let w = weights(&vs(&json!(90), &json!(10))).unwrap();
        assert_eq!(w, vec![("stable".into(), 90), ("canary".into(), 10)]);
    }

    #[test]
    fn lone_destination_takes_all() {
        let one = json!({"metadata": {"name": "a"}, "spec": {"http": [{"route": [
            {"destination": {"host": "a", "subset": "stable"}}
        ]}]}});
        assert_eq!(weights(&one).unwrap(), vec![("stable".into(), 100)]);
    }

    #[test]
    fn patch_applies_to_the_object() {
        let object = vs(&json!(100), &json!(0));
        let wanted = vec![("stable".to_string(), 75), ("canary".to_string(), 25)];
        let patch = set_weights(&object, &wanted).unwrap();
        assert_eq!(patch.content_type(), "application/json-patch+json");
        let ops: json_patch::Patch = serde_json::from_value(patch.body().clone()).unwrap();
        let mut patched = object.clone();
        json_patch::patch(&mut patched, &ops).unwrap();
        assert_eq!(weights(&patched).unwrap(), wanted);
    }

    #[test]
    fn malformed_objects_are_explained() {
        let err = weights(&json!({"metadata": {"name": "x", "namespace": "shop"}, "spec": {}}))
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("shop/x") && err.contains("spec.http[0].route"),
            "{err}"
        );
        let err = weights(&vs(&json!("ninety"), &json!(10)))
            .unwrap_err()
            .to_string();
        assert!(err.contains("route[0].weight"), "{err}");
        let no_subset = json!({"spec": {"http": [{"route": [{"destination": {"host": "a"}}]}]}});
        assert!(
            weights(&no_subset)
                .unwrap_err()
                .to_string()
                .contains("subset")
        );
        assert!(weights(&json!(null)).is_err());
    }

    #[test]
    fn weights_not_adding_up_are_refused() {
        let wanted = vec![("stable".to_string(), 60), ("canary".to_string(), 60)];
        assert!(matches!(
            set_weights(&vs(&json!(100), &json!(0)), &wanted),
            Err(RouterError::BadWeights(_))
        ));
    }
}
