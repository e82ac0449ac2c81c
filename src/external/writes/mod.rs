//! The writes that drive another controller's rollout: the same fields
//! Argo Rollouts' kubectl plugin and Flagger's loadtester write, so their
//! controllers do the work. Pure: each write is built from the object as
//! read; [`super::drive`] sends it.

pub mod argo;
pub mod flagger;

use serde_json::Value;

pub use crate::cluster::routers::Patch;

/// The patches one action sends, in the order Argo's plugin sends them: the
/// status subresource first, then the object. When the API server does not
/// serve the status subresource (a controller older than it), `unified`
/// goes to the object instead of both.
#[derive(Debug, Clone, PartialEq)]
pub struct Writes {
    /// A merge patch (`{"status": …}`) for the status subresource.
    pub status: Option<Value>,
    /// A patch for the object itself.
    pub object: Option<Patch>,
    /// A merge patch for the object, in place of both when the status
    /// subresource is not served.
    pub unified: Option<Value>,
}

impl Writes {
    /// One merge patch of the object.
    pub fn object(body: Value) -> Self {
        Self {
            status: None,
            object: Some(Patch::Merge(body)),
            unified: None,
        }
    }

    /// One JSON patch of the object.
    pub fn json(ops: Value) -> Self {
        Self {
            status: None,
            object: Some(Patch::Json(ops)),
            unified: None,
        }
    }

    /// One status write, sent to the object when the subresource is not served.
    pub fn status(body: &Value) -> Self {
        Self {
            status: Some(body.clone()),
            object: None,
            unified: Some(body.clone()),
        }
    }

    /// The fields written, for the audit line and the pane (`spec.paused:
    /// false, status.pauseConditions: null`).
    pub fn summary(&self) -> String {
        let mut parts = Vec::new();
        if let Some(status) = &self.status {
            fields("", status, &mut parts);
        }
        match &self.object {
            Some(Patch::Merge(body)) => fields("", body, &mut parts),
            Some(Patch::Json(ops)) => {
                for op in ops.as_array().into_iter().flatten() {
                    if op["op"] == "test" {
                        continue;
                    }
                    let path = op["path"].as_str().unwrap_or_default();
                    let shown = path.trim_start_matches('/').replace('/', ".");
                    match &op["value"] {
                        Value::Object(_) | Value::Array(_) => {
                            parts.push(format!("{shown} replaced"));
                        }
                        v => parts.push(format!("{shown}: {v}")),
                    }
                }
            }
            None => {}
        }
        parts.join(", ")
    }
}

/// `a.b: value` for every leaf of a merge patch.
fn fields(prefix: &str, body: &Value, out: &mut Vec<String>) {
    match body {
        Value::Object(map) if !map.is_empty() => {
            for (k, v) in map {
                let path = if prefix.is_empty() {
                    k.clone()
                } else {
                    format!("{prefix}.{k}")
                };
                fields(&path, v, out);
            }
        }
        v => out.push(format!("{prefix}: {v}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn summaries_name_each_field_written() {
        let w = Writes {
            status: Some(json!({"status": {"pauseConditions": null, "currentStepIndex": 3}})),
            object: Some(Patch::Merge(json!({"spec": {"paused": false}}))),
            unified: None,
        };
        assert_eq!(
            w.summary(),
            "status.currentStepIndex: 3, status.pauseConditions: null, spec.paused: false"
        );
        let w = Writes::json(json!([
            {"op": "test", "path": "/spec/template/spec/containers/0/name", "value": "app"},
            {"op": "add", "path": "/spec/template/spec/containers/0/image", "value": "x:2"}
        ]));
        assert_eq!(
            w.summary(),
            "spec.template.spec.containers.0.image: \"x:2\""
        );
    }
}
