//! `metav1.Status`: the body of every error the API server answers, with the
//! reason and code a Kubernetes client branches on.

use axum::body::Body;
use axum::response::{IntoResponse, Response};
use http::{HeaderValue, StatusCode, header};
use serde_json::{Value, json};

use crate::sim::resources::Resource;
use crate::sim::store::StoreError;

/// An API error, answered as a `Status` object.
#[derive(Debug, Clone, PartialEq)]
pub struct ApiError {
    pub code: u16,
    pub reason: &'static str,
    pub message: String,
    details: Option<Value>,
    retry_after: Option<u64>,
}

impl ApiError {
    fn new(code: u16, reason: &'static str, message: impl Into<String>) -> Self {
        Self {
            code,
            reason,
            message: message.into(),
            details: None,
            retry_after: None,
        }
    }

    fn with_details(mut self, name: &str, group: &str, plural: &str) -> Self {
        let mut details = json!({ "kind": plural });
        if !name.is_empty() {
            details["name"] = json!(name);
        }
        if !group.is_empty() {
            details["group"] = json!(group);
        }
        self.details = Some(details);
        self
    }

    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(400, "BadRequest", message)
    }

    pub fn unauthorized() -> Self {
        Self::new(401, "Unauthorized", "Unauthorized")
    }

    /// What RBAC answers for a namespace the user may not touch.
    pub fn forbidden(verb: &str, res: &Resource, namespace: Option<&str>) -> Self {
        let place = namespace.map_or_else(
            || "at the cluster scope".to_string(),
            |ns| format!("in the namespace \"{ns}\""),
        );
        Self::new(
            403,
            "Forbidden",
            format!(
                "{} is forbidden: User \"flightdeck-sim\" cannot {verb} resource \"{}\" in API group \"{}\" {place}",
                res.plural, res.plural, res.group
            ),
        )
        .with_details("", res.group, res.plural)
    }

    /// A path that names no resource.
    pub fn no_such_path() -> Self {
        Self::new(
            404,
            "NotFound",
            "the server could not find the requested resource",
        )
    }

    pub fn not_found(res: &Resource, name: &str) -> Self {
        ApiError::from_store(&StoreError::NotFound {
            group: res.group,
            plural: res.plural,
            name: name.to_string(),
        })
    }

    pub fn method_not_allowed(message: impl Into<String>) -> Self {
        Self::new(405, "MethodNotAllowed", message)
    }

    pub fn conflict(res: &Resource, name: &str) -> Self {
        ApiError::from_store(&StoreError::Conflict {
            group: res.group,
            plural: res.plural,
            name: name.to_string(),
        })
    }

    pub fn unsupported_media_type(content_type: &str) -> Self {
        Self::new(
            415,
            "UnsupportedMediaType",
            format!(
                "the body of the request was in an unknown format - accepted media types include: application/json-patch+json, application/merge-patch+json, application/strategic-merge-patch+json (got {content_type})"
            ),
        )
    }

    pub fn invalid(message: impl Into<String>) -> Self {
        Self::new(422, "Invalid", message)
    }

    pub fn internal(message: impl Into<String>) -> Self {
        Self::new(500, "InternalError", message)
    }

    pub fn too_many_requests(retry_after: u64) -> Self {
        let mut err = Self::new(
            429,
            "TooManyRequests",
            "the server has received too many requests and has asked us to try again later",
        );
        err.details = Some(json!({ "retryAfterSeconds": retry_after }));
        err.retry_after = Some(retry_after);
        err
    }

    pub fn service_unavailable(message: impl Into<String>) -> Self {
        Self::new(503, "ServiceUnavailable", message)
    }

    pub fn from_store(err: &StoreError) -> Self {
        let base = Self::new(err.code(), err.reason(), err.to_string());
        match err {
            StoreError::NotFound {
                group,
                plural,
                name,
            }
            | StoreError::AlreadyExists {
                group,
                plural,
                name,
            }
            | StoreError::Conflict {
                group,
                plural,
                name,
            } => base.with_details(name, group, plural),
            StoreError::Gone { .. } | StoreError::Invalid(_) | StoreError::BadRequest(_) => base,
        }
    }

    /// The `metav1.Status` object for this error.
    pub fn to_status(&self) -> Value {
        let mut status = json!({
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Failure",
            "message": self.message,
            "reason": self.reason,
            "code": self.code,
        });
        if let Some(details) = &self.details {
            status["details"] = details.clone();
        }
        status
    }
}

impl From<StoreError> for ApiError {
    fn from(err: StoreError) -> Self {
        ApiError::from_store(&err)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let code = StatusCode::from_u16(self.code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let body = self.to_status().to_string();
        let mut response = Response::new(Body::from(body));
        *response.status_mut() = code;
        let headers = response.headers_mut();
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
        if let Some(secs) = self.retry_after {
            headers.insert(header::RETRY_AFTER, HeaderValue::from(secs));
        }
        response
    }
}

/// A JSON answer with a status code.
pub fn json_response(code: StatusCode, body: Vec<u8>) -> Response {
    let mut response = Response::new(Body::from(body));
    *response.status_mut() = code;
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    response
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sim::resources::kinds;

    #[test]
    fn not_found_names_the_object() {
        let status = ApiError::not_found(kinds::deployments(), "web").to_status();
        assert_eq!(status["code"], 404);
        assert_eq!(status["reason"], "NotFound");
        assert_eq!(status["message"], "deployments.apps \"web\" not found");
        assert_eq!(status["details"]["group"], "apps");
        assert_eq!(status["details"]["kind"], "deployments");
    }

    #[test]
    fn forbidden_reads_like_rbac() {
        let err = ApiError::forbidden("list", kinds::pods(), Some("vault"));
        assert_eq!(
            err.message,
            "pods is forbidden: User \"flightdeck-sim\" cannot list resource \"pods\" in API group \"\" in the namespace \"vault\""
        );
    }
}
