//! From a request path to what it names, then to the verb that serves it.

use axum::body::Bytes;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use http::{HeaderMap, Method, Uri, header};

use super::params::Params;
use super::status::ApiError;
use super::{Api, crud, discovery, list, patch, pod_logs, proxy, scale, table, watch};
use crate::sim::resources::{RESOURCES, Resource, lookup};

/// A resource path: the kind at a version, and which of its objects.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    pub res: &'static Resource,
    pub version: &'static str,
    pub namespace: Option<String>,
    pub name: Option<String>,
    pub sub: Option<String>,
    /// What follows `proxy/` for proxy paths.
    pub rest: String,
}

impl Target {
    pub fn ns(&self) -> &str {
        self.namespace.as_deref().unwrap_or_default()
    }

    pub fn api_version(&self) -> String {
        self.res.api_version(self.version)
    }
}

#[derive(Debug, PartialEq, Eq)]
enum Route {
    Resources {
        group: String,
        version: &'static str,
    },
    Group(String),
    Resource(Target),
}

fn served_version(group: &str, version: &str) -> Option<&'static str> {
    RESOURCES
        .iter()
        .filter(|r| r.group == group)
        .flat_map(|r| r.versions.iter().copied())
        .find(|v| *v == version)
}

fn parse(path: &str) -> Option<Route> {
    let segs: Vec<&str> = path.trim_matches('/').split('/').collect();
    let (group, version, rest) = match segs.as_slice() {
        ["api", "v1", rest @ ..] => ("", "v1", rest),
        ["apis", group] => {
            let known = !group.is_empty() && RESOURCES.iter().any(|r| r.group == *group);
            return known.then(|| Route::Group((*group).to_string()));
        }
        ["apis", group, version, rest @ ..] => (*group, *version, rest),
        _ => return None,
    };
    let version = served_version(group, version)?;
    let found = |plural: &str| lookup(group, plural).filter(|r| r.serves_version(version));
    let (res, namespace, tail) = match rest {
        [] => {
            return Some(Route::Resources {
                group: group.to_string(),
                version,
            });
        }
        ["namespaces", ns, plural, tail @ ..] if found(plural).is_some_and(|r| r.namespaced) => {
            (found(plural)?, Some((*ns).to_string()), tail)
        }
        [plural, tail @ ..] => {
            let res = found(plural)?;
            if res.namespaced && !tail.is_empty() {
                return None;
            }
            (res, None, tail)
        }
    };
    let (name, sub, rest) = match tail {
        [] => (None, None, String::new()),
        [name] => (Some(*name), None, String::new()),
        [name, sub, rest @ ..] => {
            if !res.subresources.contains(sub) || (!rest.is_empty() && *sub != "proxy") {
                return None;
            }
            (Some(*name), Some((*sub).to_string()), rest.join("/"))
        }
    };
    if name.is_some_and(str::is_empty) || namespace.as_deref().is_some_and(str::is_empty) {
        return None;
    }
    Some(Route::Resource(Target {
        res,
        version,
        namespace,
        name: name.map(str::to_string),
        sub,
        rest,
    }))
}

pub async fn not_found() -> Response {
    ApiError::no_such_path().into_response()
}

/// Everything under `/api/` and `/apis/`.
pub async fn handle(
    State(api): State<Api>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    match parse(uri.path()) {
        None => ApiError::no_such_path().into_response(),
        Some(Route::Group(group)) => discovery::group(&group),
        Some(Route::Resources { group, version }) => discovery::resources(&group, version),
        Some(Route::Resource(target)) => {
            let request = match Request::new(api, method, &uri, &headers, body, target) {
                Ok(r) => r,
                Err(e) => return e.into_response(),
            };
            dispatch(request)
                .await
                .unwrap_or_else(IntoResponse::into_response)
        }
    }
}

/// One resource request, parsed.
pub struct Request {
    pub api: Api,
    pub method: Method,
    pub target: Target,
    pub params: Params,
    pub table: Option<table::IncludeObject>,
    pub content_type: String,
    pub body: Bytes,
    pub query: Option<String>,
}

impl Request {
    fn new(
        api: Api,
        method: Method,
        uri: &Uri,
        headers: &HeaderMap,
        body: Bytes,
        target: Target,
    ) -> Result<Self, ApiError> {
        let params = Params::from_uri(uri)?;
        let accept = headers
            .get(header::ACCEPT)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default();
        let table = if table::wants_table(accept) {
            Some(
                table::IncludeObject::parse(params.get("includeObject"))
                    .map_err(ApiError::bad_request)?,
            )
        } else {
            None
        };
        let content_type = headers
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .split(';')
            .next()
            .unwrap_or_default()
            .trim()
            .to_ascii_lowercase();
        Ok(Self {
            api,
            method,
            target,
            params,
            table,
            content_type,
            body,
            query: uri.query().map(str::to_string),
        })
    }

    /// The request body as JSON, or 400 as the API server answers malformed input.
    pub fn json_body(&self) -> Result<serde_json::Value, ApiError> {
        // Protobuf and CBOR are not spoken here; client-go falls back to JSON on 415.
        if !self.content_type.is_empty() && !self.content_type.ends_with("json") {
            return Err(ApiError::unsupported_media_type(&self.content_type));
        }
        serde_json::from_slice(&self.body).map_err(|e| {
            ApiError::bad_request(format!(
                "the body of the request could not be decoded as JSON: {e}"
            ))
        })
    }

    fn verb(&self) -> &'static str {
        let t = &self.target;
        match (&self.method, t.name.is_some()) {
            (&Method::GET, false) if self.params.flag("watch") => "watch",
            (&Method::GET, false) => "list",
            (&Method::GET, true) => "get",
            (&Method::POST, _) => "create",
            (&Method::PUT, _) => "update",
            (&Method::PATCH, _) => "patch",
            (&Method::DELETE, false) => "deletecollection",
            (&Method::DELETE, true) => "delete",
            _ => "unknown",
        }
    }
}

async fn dispatch(req: Request) -> Result<Response, ApiError> {
    let verb = req.verb();
    req.api.counts.record(verb, req.target.res);
    req.api.writes.record(verb, &req.target);
    let faults = req.api.shared.faults.current();
    let res = req.target.res;
    let ns = req.target.namespace.as_deref();
    let forbidden_ns = ns.is_some_and(|ns| faults.forbidden_namespaces.iter().any(|f| f == ns));
    let forbidden_res = faults.forbidden_resources.iter().any(|f| {
        f.split_once('.').map_or_else(
            || res.group.is_empty() && f == res.plural,
            |(plural, group)| plural == res.plural && group == res.group,
        )
    });
    if forbidden_ns || forbidden_res {
        return Err(ApiError::forbidden(verb, res, ns));
    }
    if req.target.res.read_only && req.method != Method::GET {
        return Err(ApiError::method_not_allowed(format!(
            "the server does not allow this method on the requested resource ({verb} {})",
            req.target.res.plural
        )));
    }
    let not_allowed = || {
        ApiError::method_not_allowed(
            "the server does not allow this method on the requested resource",
        )
    };
    match (req.target.sub.as_deref(), req.target.name.is_some(), verb) {
        (None, false, "watch") => Ok(watch::watch(&req)),
        (None, false, "list") => list::list(&req),
        (None, false, "create") => crud::create(&req),
        (None, false, "deletecollection") => list::delete_collection(&req),
        (None | Some("status"), true, "get") => crud::get(&req),
        (None | Some("status"), true, "update") => crud::update(&req),
        (None | Some("status"), true, "patch") => patch::patch(&req),
        (None, true, "delete") => crud::delete(&req),
        (Some("scale"), true, "get" | "update" | "patch") => scale::scale(&req),
        (Some("log"), true, "get") => pod_logs::logs(&req),
        (Some("proxy"), true, _) => proxy::proxy(req).await,
        _ => Err(not_allowed()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn target(path: &str) -> Target {
        match parse(path) {
            Some(Route::Resource(t)) => t,
            other => panic!("{path}: {other:?}"),
        }
    }

    #[test]
    fn paths_name_resources() {
        let t = target("/api/v1/namespaces/shop/pods/web-1/log");
        assert_eq!(
            (t.res.plural, t.ns(), t.name.as_deref(), t.sub.as_deref()),
            ("pods", "shop", Some("web-1"), Some("log"))
        );
        let t = target("/api/v1/namespaces/shop");
        assert_eq!(
            (t.res.plural, t.name.as_deref()),
            ("namespaces", Some("shop"))
        );
        let t = target("/api/v1/namespaces/shop/status");
        assert_eq!(t.sub.as_deref(), Some("status"));
        let t = target("/apis/networking.istio.io/v1beta1/namespaces/shop/virtualservices");
        assert_eq!((t.version, t.name), ("v1beta1", None));
        let t = target("/apis/apps/v1/deployments");
        assert_eq!(t.namespace, None);
        let t = target("/api/v1/namespaces/shop/pods/web-1:9090/proxy/metrics/x");
        assert_eq!(
            (t.name.as_deref(), t.rest.as_str()),
            (Some("web-1:9090"), "metrics/x")
        );
    }

    #[test]
    fn unknown_paths_are_none() {
        for p in [
            "/api/v2/pods",
            "/api/v1/widgets",
            "/apis/apps/v2/deployments",
            "/apis/apps/v1/namespaces/x/pods",
            "/api/v1/pods/x",
            "/api/v1/namespaces/shop/pods/web/exec",
            "/api/v1/namespaces/shop/pods/web/log/extra",
            "/apis/nope.io",
        ] {
            assert!(!matches!(parse(p), Some(Route::Resource(_))), "{p}");
        }
        assert_eq!(parse("/apis/apps"), Some(Route::Group("apps".into())));
        assert!(matches!(
            parse("/apis/apps/v1"),
            Some(Route::Resources { .. })
        ));
    }
}
