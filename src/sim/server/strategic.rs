//! Strategic merge patch for the built-in kinds: maps merge like a JSON merge
//! patch, but lists of objects merge element by element on their patch merge
//! key (containers by name, ports by containerPort, ...), and the `$patch`,
//! `$setElementOrder`, `$retainKeys` and `$deleteFromPrimitiveList` directives
//! that kubectl sends are honoured.

use serde_json::{Map, Value};

const SET_ORDER: &str = "$setElementOrder/";
const DELETE_PRIMITIVE: &str = "$deleteFromPrimitiveList/";

/// The patch merge key of a list field, given the field that holds it.
fn merge_key(parent: Option<&str>, field: &str) -> Option<&'static str> {
    Some(match field {
        "containers"
        | "initContainers"
        | "ephemeralContainers"
        | "env"
        | "volumes"
        | "volumeMounts"
        | "imagePullSecrets"
        | "resourceClaims"
        | "readinessGates" => {
            if field == "readinessGates" {
                "conditionType"
            } else {
                "name"
            }
        }
        "ports" => match parent {
            Some("containers" | "initContainers" | "ephemeralContainers") => "containerPort",
            _ => "port",
        },
        "conditions" | "addresses" => "type",
        "ownerReferences" => "uid",
        "hostAliases" => "ip",
        "topologySpreadConstraints" => "topologyKey",
        "volumeDevices" => "devicePath",
        "taints" => "key",
        _ => return None,
    })
}

/// Primitive lists whose strategy is merge (a set union), not replace.
fn merges_primitives(field: &str) -> bool {
    matches!(field, "finalizers")
}

/// Applies a strategic merge patch to `target`.
pub fn apply(target: &mut Value, patch: &Value) -> Result<(), String> {
    let Value::Object(patch) = patch else {
        return Err("strategic merge patch must be a JSON object".into());
    };
    if !target.is_object() {
        *target = Value::Object(Map::new());
    }
    let Value::Object(map) = target else {
        return Err("the object is not a JSON object".into());
    };
    merge_map(map, patch, None)
}

fn merge_map(
    target: &mut Map<String, Value>,
    patch: &Map<String, Value>,
    field: Option<&str>,
) -> Result<(), String> {
    match patch.get("$patch").map(|v| v.as_str()) {
        Some(Some("replace")) => {
            let mut fresh = Map::new();
            let mut rest = patch.clone();
            rest.remove("$patch");
            merge_map(&mut fresh, &rest, field)?;
            *target = fresh;
            return Ok(());
        }
        None | Some(Some("merge")) => {}
        Some(Some("delete")) => {
            target.clear();
            return Ok(());
        }
        Some(other) => return Err(format!("unknown patch type: {other:?}")),
    }
    for (key, value) in patch {
        if key == "$patch" || key == "$retainKeys" || key.starts_with(SET_ORDER) {
            continue;
        }
        if let Some(list) = key.strip_prefix(DELETE_PRIMITIVE) {
            let Value::Array(doomed) = value else {
                return Err(format!("{key} must be a list"));
            };
            if let Some(Value::Array(items)) = target.get_mut(list) {
                items.retain(|i| !doomed.contains(i));
            }
            continue;
        }
        if key.starts_with('$') {
            return Err(format!("unknown directive {key}"));
        }
        match value {
            Value::Null => {
                target.remove(key);
            }
            Value::Object(sub) => {
                if sub.get("$patch").and_then(Value::as_str) == Some("delete") {
                    target.remove(key);
                    continue;
                }
                let slot = target
                    .entry(key.clone())
                    .or_insert_with(|| Value::Object(Map::new()));
                if !slot.is_object() {
                    *slot = Value::Object(Map::new());
                }
                if let Value::Object(inner) = slot {
                    merge_map(inner, sub, Some(key))?;
                }
            }
            Value::Array(items) => {
                let current = target.remove(key);
                let merged = merge_list(current, items, field, key)?;
                target.insert(key.clone(), merged);
            }
            scalar => {
                target.insert(key.clone(), scalar.clone());
            }
        }
    }
    for (key, order) in patch {
        if let Some(list) = key.strip_prefix(SET_ORDER) {
            let Value::Array(order) = order else {
                return Err(format!("{key} must be a list"));
            };
            if let Some(Value::Array(items)) = target.get_mut(list) {
                reorder(items, order, merge_key(field, list));
            }
        }
    }
    if let Some(keep) = patch.get("$retainKeys") {
        let Value::Array(keep) = keep else {
            return Err("$retainKeys must be a list".into());
        };
        let keep: Vec<&str> = keep.iter().filter_map(Value::as_str).collect();
        target.retain(|k, _| keep.contains(&k.as_str()));
    }
    Ok(())
}

fn merge_list(
    current: Option<Value>,
    patch: &[Value],
    parent: Option<&str>,
    field: &str,
) -> Result<Value, String> {
    let replace = patch
        .iter()
        .any(|i| i.get("$patch").and_then(Value::as_str) == Some("replace"));
    let mut items = match current {
        Some(Value::Array(items)) if !replace => items,
        _ => Vec::new(),
    };
    let patch: Vec<&Value> = patch
        .iter()
        .filter(|i| i.get("$patch").and_then(Value::as_str) != Some("replace"))
        .collect();
    let key = merge_key(parent, field);
    let all_objects = !patch.is_empty() && patch.iter().all(|i| i.is_object());
    match key {
        Some(key) if all_objects => {
            for item in patch {
                let id = item.get(key);
                let directive = item.get("$patch").and_then(Value::as_str);
                let pos = items.iter().position(|i| id.is_some() && i.get(key) == id);
                match (directive, pos) {
                    (Some("delete"), Some(pos)) => {
                        items.remove(pos);
                    }
                    (Some("delete"), None) => {}
                    (_, Some(pos)) => {
                        if let (Value::Object(existing), Value::Object(p)) = (&mut items[pos], item)
                        {
                            merge_map(existing, p, Some(field))?;
                        }
                    }
                    (_, None) => {
                        let mut fresh = Map::new();
                        if let Value::Object(p) = item {
                            merge_map(&mut fresh, p, Some(field))?;
                        }
                        items.push(Value::Object(fresh));
                    }
                }
            }
            Ok(Value::Array(items))
        }
        _ if merges_primitives(field) && !replace => {
            for item in patch {
                if !items.contains(item) {
                    items.push(item.clone());
                }
            }
            Ok(Value::Array(items))
        }
        _ => {
            // Lists without a merge key are replaced whole, directives stripped.
            let mut out = Vec::with_capacity(patch.len());
            for item in patch {
                if let Value::Object(p) = item {
                    let mut fresh = Map::new();
                    merge_map(&mut fresh, p, Some(field))?;
                    out.push(Value::Object(fresh));
                } else {
                    out.push(item.clone());
                }
            }
            Ok(Value::Array(out))
        }
    }
}

/// Puts the elements named in `order` in that order; the others keep their
/// relative place after them.
fn reorder(items: &mut Vec<Value>, order: &[Value], key: Option<&str>) {
    let id = |v: &Value| -> Value {
        match key {
            Some(k) => v.get(k).cloned().unwrap_or(Value::Null),
            None => v.clone(),
        }
    };
    let wanted: Vec<Value> = order.iter().map(&id).collect();
    let mut taken = std::mem::take(items);
    for w in &wanted {
        if let Some(pos) = taken.iter().position(|i| id(i) == *w) {
            items.push(taken.remove(pos));
        }
    }
    items.append(&mut taken);
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn deploy() -> Value {
        json!({"spec": {"template": {"spec": {"containers": [
            {"name": "app", "image": "web:1", "ports": [{"containerPort": 80, "name": "http"}],
             "env": [{"name": "A", "value": "1"}, {"name": "B", "value": "2"}]},
            {"name": "sidecar", "image": "proxy:1"}
        ]}}}, "metadata": {"finalizers": ["a"]}})
    }

    #[test]
    fn set_image_merges_by_name() {
        let mut d = deploy();
        let patch = json!({"spec": {"template": {"spec": {
            "$setElementOrder/containers": [{"name": "app"}, {"name": "sidecar"}],
            "containers": [{"image": "web:2", "name": "app"}]
        }}}});
        apply(&mut d, &patch).unwrap();
        let containers = &d["spec"]["template"]["spec"]["containers"];
        assert_eq!(containers[0]["image"], "web:2");
        assert_eq!(containers[0]["env"][1]["value"], "2");
        assert_eq!(containers[1]["image"], "proxy:1");
    }

    #[test]
    fn delete_and_replace_directives() {
        let mut d = deploy();
        let patch = json!({"spec": {"template": {"spec": {"containers": [
            {"name": "sidecar", "$patch": "delete"},
            {"name": "app", "env": [{"name": "A", "$patch": "delete"}, {"name": "C", "value": "3"}]}
        ]}}}});
        apply(&mut d, &patch).unwrap();
        let containers = d["spec"]["template"]["spec"]["containers"]
            .as_array()
            .unwrap();
        assert_eq!(containers.len(), 1);
        let env: Vec<_> = containers[0]["env"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["name"].clone())
            .collect();
        assert_eq!(env, [json!("B"), json!("C")]);

        let mut d = deploy();
        apply(&mut d, &json!({"spec": {"template": {"$patch": "replace", "spec": {"containers": [{"name": "x"}]}}}})).unwrap();
        assert_eq!(
            d["spec"]["template"],
            json!({"spec": {"containers": [{"name": "x"}]}})
        );
    }

    #[test]
    fn ports_merge_on_container_port_and_order_is_set() {
        let mut d = deploy();
        let patch = json!({"spec": {"template": {"spec": {"containers": [
            {"name": "app", "ports": [{"containerPort": 9090, "name": "metrics"}],
             "$setElementOrder/ports": [{"containerPort": 9090}, {"containerPort": 80}]}
        ]}}}});
        apply(&mut d, &patch).unwrap();
        let ports = &d["spec"]["template"]["spec"]["containers"][0]["ports"];
        assert_eq!(ports[0]["containerPort"], 9090);
        assert_eq!(ports[1]["containerPort"], 80);
    }

    #[test]
    fn primitive_lists_and_retain_keys() {
        let mut d = deploy();
        apply(&mut d, &json!({"metadata": {"finalizers": ["b"]}})).unwrap();
        assert_eq!(d["metadata"]["finalizers"], json!(["a", "b"]));
        apply(
            &mut d,
            &json!({"metadata": {"$deleteFromPrimitiveList/finalizers": ["a"]}}),
        )
        .unwrap();
        assert_eq!(d["metadata"]["finalizers"], json!(["b"]));
        let mut s =
            json!({"strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 1}}});
        apply(
            &mut s,
            &json!({"strategy": {"$retainKeys": ["type"], "type": "Recreate"}}),
        )
        .unwrap();
        assert_eq!(s, json!({"strategy": {"type": "Recreate"}}));
    }

    #[test]
    fn null_removes_and_bad_directive_fails() {
        let mut d = deploy();
        apply(&mut d, &json!({"metadata": {"finalizers": null}})).unwrap();
        assert!(d["metadata"].get("finalizers").is_none());
        assert!(apply(&mut d, &json!({"metadata": {"$patch": "explode"}})).is_err());
        assert!(apply(&mut d, &json!([1])).is_err());
    }
}
