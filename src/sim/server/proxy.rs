//! The API server's proxy to pods and services
//! (`…/pods/{name}[:{port}]/proxy/{path}`), answered by whoever models the
//! workloads (the traffic model serves each pod's `/metrics` and `/health`).

use axum::body::{Body, Bytes};
use axum::response::Response;
use futures::future::BoxFuture;
use http::{HeaderValue, Method, StatusCode, header};

use super::crud::name;
use super::routes::Request;
use super::status::ApiError;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProxyKind {
    Pod,
    Service,
}

/// A request proxied to a pod or a service.
#[derive(Debug, Clone)]
pub struct ProxyRequest {
    pub kind: ProxyKind,
    pub namespace: String,
    pub name: String,
    /// The port named in the path (`web-1:9090`), if any.
    pub port: Option<String>,
    pub method: Method,
    /// The path after `proxy/`, with its leading slash.
    pub path: String,
    pub query: Option<String>,
    pub body: Bytes,
}

#[derive(Debug, Clone)]
pub struct ProxyResponse {
    pub status: StatusCode,
    pub content_type: String,
    pub body: Bytes,
}

/// Answers proxied requests. The API server has already checked that the pod
/// or service exists.
pub trait ProxyBackend: Send + Sync {
    fn call(&self, request: ProxyRequest) -> BoxFuture<'static, ProxyResponse>;
}

pub async fn proxy(req: Request) -> Result<Response, ApiError> {
    let t = &req.target;
    let kind = match t.res.plural {
        "pods" => ProxyKind::Pod,
        "services" => ProxyKind::Service,
        _ => return Err(ApiError::no_such_path()),
    };
    let (object_name, port) = match name(t).split_once(':') {
        Some((n, p)) => (n.to_string(), Some(p.to_string())),
        None => (name(t).to_string(), None),
    };
    if req
        .api
        .shared
        .store
        .get(t.res, t.ns(), &object_name)
        .is_none()
    {
        return Err(ApiError::not_found(t.res, &object_name));
    }
    let Some(backend) = req.api.proxy.clone() else {
        return Err(ApiError::service_unavailable(format!(
            "no endpoints available for {} \"{object_name}\"",
            t.res.singular
        )));
    };
    let request = ProxyRequest {
        kind,
        namespace: t.ns().to_string(),
        name: object_name,
        port,
        method: req.method.clone(),
        path: format!("/{}", t.rest),
        query: req.query.clone(),
        body: req.body.clone(),
    };
    let answer = backend.call(request).await;
    let mut response = Response::new(Body::from(answer.body));
    *response.status_mut() = answer.status;
    if let Ok(ct) = HeaderValue::from_str(&answer.content_type) {
        response.headers_mut().insert(header::CONTENT_TYPE, ct);
    }
    Ok(response)
}
