//! Blue-green through a Service's selector: the active Service selects one
//! slot, which gets all the traffic.

use serde_json::{Map, Value, json};

use super::{Patch, RouterError, Weights};

const KIND: &str = "Service";

/// The slot (or version) the Service selects, by its `slot` or `version` label.
pub fn active(service: &Value) -> Result<String, RouterError> {
    let selector = service
        .pointer("/spec/selector")
        .and_then(Value::as_object)
        .ok_or_else(|| {
            RouterError::malformed(KIND, service, "expected spec.selector, a map of labels")
        })?;
    ["slot", "version"]
        .iter()
        .find_map(|k| selector.get(*k).and_then(Value::as_str))
        .map(str::to_string)
        .ok_or_else(|| {
            RouterError::malformed(
                KIND,
                service,
                "spec.selector selects no slot: expected a `slot` or `version` label",
            )
        })
}

/// 100 for the selected version, 0 for the others of `versions`.
pub fn weights(service: &Value, versions: &[String]) -> Result<Weights, RouterError> {
    let active = active(service)?;
    if !versions.contains(&active) {
        return Err(RouterError::malformed(
            KIND,
            service,
            format!("selects {active:?}, which is none of the versions {versions:?}"),
        ));
    }
    Ok(versions
        .iter()
        .map(|v| (v.clone(), if *v == active { 100 } else { 0 }))
        .collect())
}

/// A merge patch pointing the Service at the version that gets 100. A selector
/// can only send everything to one slot, so any other split is refused.
pub fn set_weights(service: &Value, wanted: &Weights) -> Result<Patch, RouterError> {
    let selector = service
        .pointer("/spec/selector")
        .and_then(Value::as_object)
        .ok_or_else(|| {
            RouterError::malformed(KIND, service, "expected spec.selector, a map of labels")
        })?;
    let target = match wanted
        .iter()
        .filter(|(_, w)| *w > 0)
        .collect::<Vec<_>>()
        .as_slice()
    {
        [(version, 100)] => version.clone(),
        _ => {
            return Err(RouterError::BadWeights(format!(
                "a Service selector sends all traffic to one slot; {wanted:?} is a split"
            )));
        }
    };
    let mut change = Map::new();
    for key in ["slot", "version"] {
        if selector.contains_key(key) {
            change.insert(key.to_string(), Value::String(target.clone()));
        }
    }
    if change.is_empty() {
        change.insert("slot".to_string(), Value::String(target));
    }
    Ok(Patch::Merge(json!({"spec": {"selector": change}})))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn svc() -> Value {
        json!({"metadata": {"name": "web", "namespace": "frontend"},
               "spec": {"selector": {"app": "web", "slot": "blue", "version": "blue"}}})
    }

    fn versions() -> Vec<String> {
        vec!["blue".into(), "green".into()]
    }

    #[test]
    fn active_slot_gets_everything() {
        assert_eq!(
            weights(&svc(), &versions()).unwrap(),
            vec![("blue".into(), 100), ("green".into(), 0)]
        );
    }

    #[test]
    fn switch_patch_moves_the_selector() {
        let wanted = vec![("blue".to_string(), 0), ("green".to_string(), 100)];
        let patch = set_weights(&svc(), &wanted).unwrap();
        let mut patched = svc();
        json_patch::merge(&mut patched, patch.body());
        assert_eq!(weights(&patched, &versions()).unwrap(), wanted);
        assert_eq!(patched.pointer("/spec/selector/app"), Some(&json!("web")));
    }

    #[test]
    fn splits_and_bad_objects_are_refused() {
        let half = vec![("blue".to_string(), 50), ("green".to_string(), 50)];
        assert!(matches!(
            set_weights(&svc(), &half),
            Err(RouterError::BadWeights(_))
        ));
        let no_slot = json!({"metadata": {"name": "web"}, "spec": {"selector": {"app": "web"}}});
        assert!(
            weights(&no_slot, &versions())
                .unwrap_err()
                .to_string()
                .contains("slot")
        );
        let err =
            weights(&json!({"spec": {"selector": {"slot": "red"}}}), &versions()).unwrap_err();
        assert!(err.to_string().contains("red"));
        assert!(weights(&json!([]), &versions()).is_err());
    }
}
