//! NGINX ingress canary: a main Ingress and a second Ingress for the same host
//! marked `nginx.ingress.kubernetes.io/canary: "true"`, which receives
//! `canary-weight` out of `canary-weight-total` (default 100) of the requests.

use serde_json::{Value, json};

use super::{
    Patch, RouterError, Weights, check_weights, meta_name, percentages, version_of_service,
};

const KIND: &str = "Ingress";
pub const CANARY: &str = "nginx.ingress.kubernetes.io/canary";
pub const CANARY_WEIGHT: &str = "nginx.ingress.kubernetes.io/canary-weight";
pub const CANARY_WEIGHT_TOTAL: &str = "nginx.ingress.kubernetes.io/canary-weight-total";

fn annotation<'a>(ingress: &'a Value, key: &str) -> Option<&'a str> {
    ingress.pointer("/metadata/annotations")?.get(key)?.as_str()
}

/// The version an Ingress sends to: its first backend Service, relative to the
/// app (the main Ingress's name). `fallback` when it names no Service.
fn version(ingress: &Value, app: &str, fallback: &str) -> String {
    ingress
        .pointer("/spec/rules/0/http/paths/0/backend/service/name")
        .or_else(|| ingress.pointer("/spec/defaultBackend/service/name"))
        .and_then(Value::as_str)
        .map_or_else(|| fallback.to_string(), |s| version_of_service(app, s))
}

fn parse_annotation(ingress: &Value, key: &str, default: u64) -> Result<u64, RouterError> {
    match annotation(ingress, key) {
        None => Ok(default),
        Some(text) => text.trim().parse().map_err(|_| {
            RouterError::malformed(
                KIND,
                ingress,
                format!("annotation {key}: expected a whole number, found {text:?}"),
            )
        }),
    }
}

fn versions(main: &Value, canary: &Value) -> Result<(String, String), RouterError> {
    if annotation(canary, CANARY) != Some("true") {
        return Err(RouterError::malformed(
            KIND,
            canary,
            format!("expected the annotation {CANARY}: \"true\" on the canary Ingress"),
        ));
    }
    let app = meta_name(main).unwrap_or_default();
    Ok((version(main, app, "stable"), version(canary, app, "canary")))
}

/// The split of the pair: the canary's share, the main Ingress the rest.
pub fn weights(main: &Value, canary: &Value) -> Result<Weights, RouterError> {
    let (main_version, canary_version) = versions(main, canary)?;
    let total = parse_annotation(canary, CANARY_WEIGHT_TOTAL, 100)?;
    if total == 0 {
        return Err(RouterError::malformed(
            KIND,
            canary,
            format!("annotation {CANARY_WEIGHT_TOTAL} must be above 0"),
        ));
    }
    let weight = parse_annotation(canary, CANARY_WEIGHT, 0)?.min(total);
    Ok(percentages(&[
        (main_version, total - weight),
        (canary_version, weight),
    ]))
}

/// A merge patch for the canary Ingress setting its weight out of 100.
pub fn set_weights(main: &Value, canary: &Value, wanted: &Weights) -> Result<Patch, RouterError> {
    let (main_version, canary_version) = versions(main, canary)?;
    check_weights(wanted, &[main_version, canary_version.clone()])?;
    let weight = super::wanted_for(wanted, &canary_version);
    Ok(Patch::Merge(json!({"metadata": {"annotations": {
        CANARY_WEIGHT: weight.to_string(),
        CANARY_WEIGHT_TOTAL: "100",
    }}})))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pair(weight: &str) -> (Value, Value) {
        let backend = |svc: &str| {
            json!({"rules": [{"host": "shop.local", "http": {"paths": [
                {"path": "/", "pathType": "Prefix", "backend": {"service": {"name": svc, "port": {"number": 8080}}}}
            ]}}]})
        };
        (
            json!({"metadata": {"name": "checkout", "namespace": "shop"}, "spec": backend("checkout-stable")}),
            json!({"metadata": {"name": "checkout-canary", "namespace": "shop", "annotations": {
                CANARY: "true", CANARY_WEIGHT: weight}}, "spec": backend("checkout-canary")}),
        )
    }

    #[test]
    fn reads_the_canary_weight() {
        let (main, canary) = pair("30");
        assert_eq!(
            weights(&main, &canary).unwrap(),
            vec![("stable".into(), 70), ("canary".into(), 30)]
        );
    }

    #[test]
    fn merge_patch_sets_the_weight() {
        let (main, canary) = pair("0");
        let wanted = vec![("stable".to_string(), 75), ("canary".to_string(), 25)];
        let patch = set_weights(&main, &canary, &wanted).unwrap();
        assert_eq!(patch.content_type(), "application/merge-patch+json");
        let mut patched = canary.clone();
        json_patch::merge(&mut patched, patch.body());
        assert_eq!(weights(&main, &patched).unwrap(), wanted);
    }

    #[test]
    fn malformed_objects_are_explained() {
        let (main, canary) = pair("a lot");
        let err = weights(&main, &canary).unwrap_err().to_string();
        assert!(
            err.contains("canary-weight") && err.contains("a lot"),
            "{err}"
        );
        let err = weights(&main, &main).unwrap_err().to_string();
        assert!(err.contains("\"true\""), "{err}");
    }
}
