//! get, create, update and delete of one object, and how objects are written
//! back to clients (at the version they asked for, as JSON or as a Table).

use std::sync::Arc;

use axum::response::Response;
use http::StatusCode;
use serde_json::{Value, json};

use super::routes::{Request, Target};
use super::status::{ApiError, json_response};
use super::table;
use crate::sim::store::meta_str;

/// An object as seen through the version the client asked for.
pub fn present(object: &Value, target: &Target) -> Value {
    let mut object = object.clone();
    if let Some(map) = object.as_object_mut() {
        map.insert("apiVersion".into(), Value::String(target.api_version()));
    }
    object
}

/// Writes one object, or a one-row Table when the client asked for tables.
pub fn respond(req: &Request, code: StatusCode, object: &Value) -> Response {
    let object = present(object, &req.target);
    let body = match req.table {
        Some(include) => {
            let meta = json!({ "resourceVersion": meta_str(&object, "resourceVersion").unwrap_or_default() });
            table::table(
                req.target.res,
                [&object],
                include,
                req.api.shared.store.now(),
                &meta,
            )
        }
        None => object,
    };
    json_response(code, body.to_string().into_bytes())
}

pub fn name(target: &Target) -> &str {
    target.name.as_deref().unwrap_or_default()
}

pub fn fetch(req: &Request) -> Result<Arc<Value>, ApiError> {
    let t = &req.target;
    req.api
        .shared
        .store
        .get(t.res, t.ns(), name(t))
        .ok_or_else(|| ApiError::not_found(t.res, name(t)))
}

pub fn get(req: &Request) -> Result<Response, ApiError> {
    let object = fetch(req)?;
    Ok(respond(req, StatusCode::OK, &object))
}

/// Checks that a body names the kind the path names.
fn check_kind(req: &Request, body: &Value) -> Result<(), ApiError> {
    let res = req.target.res;
    if let Some(kind) = body.get("kind").and_then(Value::as_str)
        && kind != res.kind
    {
        return Err(ApiError::bad_request(format!(
            "the kind of the object ({kind}) does not match the resource ({}, kind {})",
            res.plural, res.kind
        )));
    }
    Ok(())
}

pub fn create(req: &Request) -> Result<Response, ApiError> {
    let t = &req.target;
    if t.res.namespaced && t.namespace.is_none() {
        return Err(ApiError::method_not_allowed(format!(
            "{} must be created in a namespace: POST to /namespaces/{{namespace}}/{}",
            t.res.plural, t.res.plural
        )));
    }
    let mut body = req.json_body()?;
    check_kind(req, &body)?;
    if let Some(map) = body.as_object_mut() {
        // Stored at the group's preferred version; the client sees the one it used.
        map.insert(
            "apiVersion".into(),
            Value::String(t.res.api_version(t.res.preferred_version())),
        );
    }
    let created = req.api.shared.store.create(t.res, t.ns(), body)?;
    Ok(respond(req, StatusCode::CREATED, &created))
}

pub fn update(req: &Request) -> Result<Response, ApiError> {
    let t = &req.target;
    let mut body = req.json_body()?;
    check_kind(req, &body)?;
    if let (Some(given), Some(ns)) = (meta_str(&body, "namespace"), t.namespace.as_deref())
        && !given.is_empty()
        && given != ns
    {
        return Err(ApiError::bad_request(format!(
            "the namespace of the provided object ({given}) does not match the namespace sent on the request ({ns})"
        )));
    }
    if let Some(map) = body.as_object_mut() {
        map.remove("apiVersion");
    }
    let updated = req
        .api
        .shared
        .store
        .update(t.res, t.ns(), name(t), body, t.sub.as_deref())?;
    Ok(respond(req, StatusCode::OK, &updated))
}

pub fn delete(req: &Request) -> Result<Response, ApiError> {
    let t = &req.target;
    let removed = req.api.shared.store.delete(t.res, t.ns(), name(t))?;
    Ok(respond(req, StatusCode::OK, &removed))
}
