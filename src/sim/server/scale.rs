//! The `/scale` subresource of deployments and replicasets: an
//! `autoscaling/v1` Scale whose `spec.replicas` writes the owner's.

use axum::response::Response;
use http::{Method, StatusCode};
use serde_json::{Value, json};

use super::crud::{fetch, name};
use super::patch::{Patch, PatchKind};
use super::routes::Request;
use super::status::{ApiError, json_response};
use super::table::selector_text;
use crate::sim::store::{ModifyError, meta_str};

fn scale_of(object: &Value) -> Value {
    let meta = object.get("metadata").cloned().unwrap_or_else(|| json!({}));
    let pick = |field: &str| meta.get(field).cloned().unwrap_or(Value::Null);
    let selector = object
        .pointer("/spec/selector")
        .map(|s| selector_text(Some(s)))
        .filter(|s| s != "<none>")
        .unwrap_or_default();
    json!({
        "kind": "Scale",
        "apiVersion": "autoscaling/v1",
        "metadata": {
            "name": pick("name"),
            "namespace": pick("namespace"),
            "uid": pick("uid"),
            "resourceVersion": pick("resourceVersion"),
            "creationTimestamp": pick("creationTimestamp"),
        },
        "spec": { "replicas": object.pointer("/spec/replicas").and_then(Value::as_i64).unwrap_or(1) },
        "status": {
            "replicas": object.pointer("/status/replicas").and_then(Value::as_i64).unwrap_or(0),
            "selector": selector,
        },
    })
}

fn wanted_replicas(scale: &Value) -> Result<i64, ApiError> {
    match scale.pointer("/spec/replicas").and_then(Value::as_i64) {
        Some(n) if n >= 0 => Ok(n),
        Some(n) => Err(ApiError::invalid(format!(
            "Scale.autoscaling \"{}\" is invalid: spec.replicas: Invalid value: {n}: must be greater than or equal to 0",
            meta_str(scale, "name").unwrap_or_default()
        ))),
        None => Err(ApiError::invalid("spec.replicas: Required value")),
    }
}

pub fn scale(req: &Request) -> Result<Response, ApiError> {
    let t = &req.target;
    let current = fetch(req)?;
    let mut scale = scale_of(&current);
    if req.method == Method::GET {
        return Ok(json_response(
            StatusCode::OK,
            scale.to_string().into_bytes(),
        ));
    }
    if req.method == Method::PUT {
        scale = req.json_body()?;
    } else {
        // A Scale has no merge keys: strategic merge reads as a merge patch.
        let kind = match PatchKind::from_content_type(&req.content_type, t.res)? {
            PatchKind::Strategic => PatchKind::Merge,
            other => other,
        };
        Patch::parse(kind, &req.body)?.apply(&mut scale)?;
    }
    let replicas = wanted_replicas(&scale)?;
    let precondition = meta_str(&scale, "resourceVersion")
        .filter(|v| !v.is_empty())
        .map(str::to_string);
    let object_name = name(t).to_string();
    let res = t.res;
    let updated = req
        .api
        .shared
        .store
        .modify(res, t.ns(), name(t), |object| {
            if precondition.is_some()
                && precondition.as_deref() != meta_str(object, "resourceVersion")
            {
                return Err(ApiError::conflict(res, &object_name));
            }
            if !object.get("spec").is_some_and(Value::is_object) {
                object["spec"] = json!({});
            }
            object["spec"]["replicas"] = json!(replicas);
            Ok(())
        })
        .map_err(|e| match e {
            ModifyError::Store(e) => e.into(),
            ModifyError::Edit(e) => e,
        })?;
    Ok(json_response(
        StatusCode::OK,
        scale_of(&updated).to_string().into_bytes(),
    ))
}
