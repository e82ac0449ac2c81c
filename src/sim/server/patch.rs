//! PATCH: JSON merge patch (RFC 7386), JSON patch (RFC 6902) and, for the
//! built-in kinds, strategic merge patch.

use axum::response::Response;
use http::StatusCode;
use serde_json::Value;

use super::crud::{name, respond};
use super::routes::Request;
use super::status::ApiError;
use super::strategic;
use crate::sim::resources::Resource;
use crate::sim::store::{ModifyError, meta_str};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PatchKind {
    Merge,
    Json,
    Strategic,
}

/// Kinds compiled into the API server, which know their patch merge keys;
/// custom kinds do not, and refuse strategic merge as a real server does.
fn built_in(res: &Resource) -> bool {
    matches!(
        res.group,
        "" | "apps" | "coordination.k8s.io" | "networking.k8s.io"
    )
}

impl PatchKind {
    pub fn from_content_type(content_type: &str, res: &Resource) -> Result<Self, ApiError> {
        match content_type {
            "application/merge-patch+json" => Ok(Self::Merge),
            "application/json-patch+json" => Ok(Self::Json),
            "application/strategic-merge-patch+json" if built_in(res) => Ok(Self::Strategic),
            other => Err(ApiError::unsupported_media_type(other)),
        }
    }
}

/// A patch body, parsed and checked before anything is read or written.
pub enum Patch {
    Merge(Value),
    Json(json_patch::Patch),
    Strategic(Value),
}

impl Patch {
    pub fn parse(kind: PatchKind, body: &[u8]) -> Result<Self, ApiError> {
        let value: Value = serde_json::from_slice(body)
            .map_err(|e| ApiError::bad_request(format!("error decoding patch: {e}")))?;
        match kind {
            PatchKind::Merge => Ok(Self::Merge(value)),
            PatchKind::Strategic if value.is_object() => Ok(Self::Strategic(value)),
            PatchKind::Strategic => Err(ApiError::bad_request(
                "error decoding patch: a strategic merge patch must be a JSON object",
            )),
            PatchKind::Json => serde_json::from_value(value)
                .map(Self::Json)
                .map_err(|e| ApiError::bad_request(format!("error decoding patch: {e}"))),
        }
    }

    pub fn apply(&self, target: &mut Value) -> Result<(), ApiError> {
        match self {
            Self::Merge(p) => {
                json_patch::merge(target, p);
                Ok(())
            }
            Self::Json(p) => json_patch::patch(target, p).map_err(|e| {
                ApiError::invalid(format!(
                    "the server rejected our request due to an error in our request: {e}"
                ))
            }),
            Self::Strategic(p) => strategic::apply(target, p).map_err(ApiError::invalid),
        }
    }
}

pub fn patch(req: &Request) -> Result<Response, ApiError> {
    let t = &req.target;
    let kind = PatchKind::from_content_type(&req.content_type, t.res)?;
    let patch = Patch::parse(kind, &req.body)?;
    let status_only = t.sub.as_deref() == Some("status");
    let has_status = t.res.subresources.contains(&"status");
    let res = t.res;
    let object_name = name(t).to_string();
    let result = req.api.shared.store.modify(res, t.ns(), name(t), |object| {
        let before = object.clone();
        patch.apply(object)?;
        if !object.is_object() {
            return Err(ApiError::invalid("the patched object is not a JSON object"));
        }
        // A resourceVersion in the patch is a precondition, as on a real server.
        let asked = meta_str(object, "resourceVersion");
        if asked.is_some() && asked != meta_str(&before, "resourceVersion") {
            return Err(ApiError::conflict(res, &object_name));
        }
        if status_only {
            let status = object.get("status").cloned();
            *object = before;
            if let (Some(map), Some(status)) = (object.as_object_mut(), status) {
                map.insert("status".into(), status);
            }
        } else if let Some(map) = object.as_object_mut() {
            for field in ["apiVersion", "kind"] {
                if let Some(v) = before.get(field) {
                    map.insert(field.into(), v.clone());
                }
            }
            if has_status {
                match before.get("status") {
                    Some(s) => map.insert("status".into(), s.clone()),
                    None => map.remove("status"),
                };
            }
        }
        Ok(())
    });
    match result {
        Ok(object) => Ok(respond(req, StatusCode::OK, &object)),
        Err(ModifyError::Store(e)) => Err(e.into()),
        Err(ModifyError::Edit(e)) => Err(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sim::resources::kinds;
    use serde_json::json;

    #[test]
    fn content_types_pick_the_patch() {
        let ct = "application/strategic-merge-patch+json";
        assert_eq!(
            PatchKind::from_content_type(ct, kinds::deployments()),
            Ok(PatchKind::Strategic)
        );
        assert_eq!(
            PatchKind::from_content_type(ct, kinds::virtualservices())
                .unwrap_err()
                .code,
            415
        );
        assert_eq!(
            PatchKind::from_content_type("application/apply-patch+yaml", kinds::pods())
                .unwrap_err()
                .code,
            415
        );
    }

    #[test]
    fn json_patch_errors_are_classified() {
        assert_eq!(
            Patch::parse(PatchKind::Json, b"{\"op\":1}")
                .err()
                .map(|e| e.code),
            Some(400)
        );
        assert_eq!(
            Patch::parse(PatchKind::Merge, b"{nope")
                .err()
                .map(|e| e.code),
            Some(400)
        );
        let p = Patch::parse(
            PatchKind::Json,
            br#"[{"op":"replace","path":"/spec/missing/x","value":1}]"#,
        )
        .unwrap();
        let mut doc = json!({"spec": {}});
        assert_eq!(p.apply(&mut doc).unwrap_err().code, 422);
        let p = Patch::parse(
            PatchKind::Json,
            br#"[{"op":"add","path":"/spec/x","value":1}]"#,
        )
        .unwrap();
        p.apply(&mut doc).unwrap();
        assert_eq!(doc["spec"]["x"], 1);
    }
}
