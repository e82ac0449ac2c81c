//! `authentication.k8s.io/v1` SelfSubjectReview: who the API server takes the
//! caller for, what `kubectl auth whoami` and flightdeck's audit ask. The
//! simulator has one user, the one its kubeconfig names; a request that
//! reaches here has passed the bearer-token check already.

use axum::response::Response;
use http::StatusCode;
use serde_json::json;

use super::kubeconfig::USER;
use super::status::json_response;

pub const GROUP: &str = "authentication.k8s.io";

pub async fn review() -> Response {
    let body = json!({
        "kind": "SelfSubjectReview",
        "apiVersion": format!("{GROUP}/v1"),
        "metadata": { "creationTimestamp": null },
        "status": {
            "userInfo": {
                "username": USER,
                "groups": ["system:masters", "system:authenticated"],
            }
        }
    });
    json_response(StatusCode::CREATED, body.to_string().into_bytes())
}

pub async fn group() -> Response {
    let version = json!({ "groupVersion": format!("{GROUP}/v1"), "version": "v1" });
    let body = json!({
        "kind": "APIGroup",
        "apiVersion": "v1",
        "name": GROUP,
        "versions": [version],
        "preferredVersion": version,
    });
    json_response(StatusCode::OK, body.to_string().into_bytes())
}

pub async fn resources() -> Response {
    let body = json!({
        "kind": "APIResourceList",
        "apiVersion": "v1",
        "groupVersion": format!("{GROUP}/v1"),
        "resources": [{
            "name": "selfsubjectreviews",
            "singularName": "selfsubjectreview",
            "namespaced": false,
            "kind": "SelfSubjectReview",
            "verbs": ["create"],
        }],
    });
    json_response(StatusCode::OK, body.to_string().into_bytes())
}
