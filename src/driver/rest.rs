//! The few REST calls the driver makes, on plain JSON: the routers' patch
//! builders work on `serde_json::Value`, and so does everything here, so an
//! object read from the cluster goes to them unchanged.

use std::fmt;

use http::Request;
use kube::api::{Api, ApiResource, DynamicObject};
use serde_json::Value;

use crate::cluster::routers::Patch;

/// A kind the driver reads or writes, with what its URL needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Kind {
    pub group: &'static str,
    pub version: &'static str,
    pub kind: &'static str,
    pub plural: &'static str,
}

impl Kind {
    pub const fn new(
        group: &'static str,
        version: &'static str,
        kind: &'static str,
        plural: &'static str,
    ) -> Self {
        Self {
            group,
            version,
            kind,
            plural,
        }
    }

    pub fn api_version(self) -> String {
        if self.group.is_empty() {
            self.version.to_string()
        } else {
            format!("{}/{}", self.group, self.version)
        }
    }

    pub fn api_resource(self) -> ApiResource {
        ApiResource {
            group: self.group.to_string(),
            version: self.version.to_string(),
            api_version: self.api_version(),
            kind: self.kind.to_string(),
            plural: self.plural.to_string(),
        }
    }

    /// The kind an `apiVersion`/`kind` pair of a plan names.
    pub fn of(api_version: &str, kind: &str) -> Option<Kind> {
        KINDS
            .iter()
            .copied()
            .find(|k| k.kind == kind && k.api_version() == api_version)
    }
}

pub const DEPLOYMENT: Kind = Kind::new("apps", "v1", "Deployment", "deployments");
pub const REPLICASET: Kind = Kind::new("apps", "v1", "ReplicaSet", "replicasets");
pub const SERVICE: Kind = Kind::new("", "v1", "Service", "services");
pub const POD: Kind = Kind::new("", "v1", "Pod", "pods");
pub const CONFIGMAP: Kind = Kind::new("", "v1", "ConfigMap", "configmaps");
pub const VIRTUAL_SERVICE: Kind = Kind::new(
    "networking.istio.io",
    "v1",
    "VirtualService",
    "virtualservices",
);
pub const DESTINATION_RULE: Kind = Kind::new(
    "networking.istio.io",
    "v1",
    "DestinationRule",
    "destinationrules",
);
pub const HTTP_ROUTE: Kind =
    Kind::new("gateway.networking.k8s.io", "v1", "HTTPRoute", "httproutes");
pub const TRAFFIC_SPLIT: Kind = Kind::new(
    "split.smi-spec.io",
    "v1alpha2",
    "TrafficSplit",
    "trafficsplits",
);
pub const INGRESS: Kind = Kind::new("networking.k8s.io", "v1", "Ingress", "ingresses");

const KINDS: &[Kind] = &[
    DEPLOYMENT,
    REPLICASET,
    SERVICE,
    POD,
    CONFIGMAP,
    VIRTUAL_SERVICE,
    DESTINATION_RULE,
    HTTP_ROUTE,
    TRAFFIC_SPLIT,
    INGRESS,
];

/// One object: its kind, namespace and name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Obj {
    pub kind: Kind,
    pub namespace: String,
    pub name: String,
}

impl Obj {
    pub fn new(kind: Kind, namespace: &str, name: &str) -> Self {
        Self {
            kind,
            namespace: namespace.to_string(),
            name: name.to_string(),
        }
    }

    fn collection(&self) -> String {
        collection(self.kind, &self.namespace)
    }

    fn url(&self) -> String {
        format!("{}/{}", self.collection(), self.name)
    }

    /// A watchable handle on the object's kind, for waiting on a condition.
    pub fn dynamic_api(&self, client: &kube::Client) -> Api<DynamicObject> {
        Api::namespaced_with(client.clone(), &self.namespace, &self.kind.api_resource())
    }
}

impl fmt::Display for Obj {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}/{}", self.kind.kind, self.namespace, self.name)
    }
}

fn collection(kind: Kind, namespace: &str) -> String {
    let root = if kind.group.is_empty() {
        format!("/api/{}", kind.version)
    } else {
        format!("/apis/{}/{}", kind.group, kind.version)
    };
    format!("{root}/namespaces/{namespace}/{}", kind.plural)
}

/// The HTTP status of an API error, if it is one.
pub fn status_code(e: &kube::Error) -> Option<u16> {
    match e {
        kube::Error::Api(s) => Some(s.code),
        _ => None,
    }
}

/// Whether trying the same call again may succeed: a conflict, throttling,
/// a server hiccup or a dropped connection.
pub fn is_transient(e: &kube::Error) -> bool {
    match status_code(e) {
        Some(code) => matches!(code, 409 | 429 | 500 | 502 | 503 | 504),
        None => !matches!(e, kube::Error::SerdeError(_)),
    }
}

fn request(
    builder: http::request::Builder,
    body: Vec<u8>,
) -> Result<Request<Vec<u8>>, kube::Error> {
    builder.body(body).map_err(kube::Error::HttpError)
}

pub async fn get(client: &kube::Client, obj: &Obj) -> Result<Value, kube::Error> {
    client
        .request(request(Request::get(obj.url()), Vec::new())?)
        .await
}

/// The object, or `None` when the cluster has no such object.
pub async fn get_opt(client: &kube::Client, obj: &Obj) -> Result<Option<Value>, kube::Error> {
    match get(client, obj).await {
        Ok(v) => Ok(Some(v)),
        Err(e) if status_code(&e) == Some(404) => Ok(None),
        Err(e) => Err(e),
    }
}

pub async fn list(
    client: &kube::Client,
    kind: Kind,
    namespace: &str,
    label_selector: &str,
) -> Result<Vec<Value>, kube::Error> {
    let mut url = collection(kind, namespace);
    if !label_selector.is_empty() {
        url.push_str("?labelSelector=");
        url.push_str(&encode(label_selector));
    }
    let list: Value = client
        .request(request(Request::get(url), Vec::new())?)
        .await?;
    Ok(list
        .get("items")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default())
}

pub async fn create(client: &kube::Client, obj: &Obj, body: &Value) -> Result<Value, kube::Error> {
    let bytes = serde_json::to_vec(body).map_err(kube::Error::SerdeError)?;
    let builder =
        Request::post(obj.collection()).header(http::header::CONTENT_TYPE, "application/json");
    client.request(request(builder, bytes)?).await
}

pub async fn patch(client: &kube::Client, obj: &Obj, patch: &Patch) -> Result<Value, kube::Error> {
    let bytes = serde_json::to_vec(patch.body()).map_err(kube::Error::SerdeError)?;
    let builder =
        Request::patch(obj.url()).header(http::header::CONTENT_TYPE, patch.content_type());
    client.request(request(builder, bytes)?).await
}

/// Percent-encodes a label selector for a query string.
fn encode(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// The object's `metadata.resourceVersion`.
pub fn resource_version(object: &Value) -> Option<&str> {
    object.pointer("/metadata/resourceVersion")?.as_str()
}

/// Makes `patch` conditional on the object still being at `rv`: the API
/// server answers 409 Conflict when it has moved on since we read it.
pub fn with_precondition(patch: Patch, rv: &str) -> Patch {
    match patch {
        Patch::Merge(mut body) => {
            if let Some(map) = body.as_object_mut() {
                let meta = map
                    .entry("metadata")
                    .or_insert_with(|| Value::Object(serde_json::Map::new()));
                if let Some(meta) = meta.as_object_mut() {
                    meta.insert("resourceVersion".into(), Value::String(rv.to_string()));
                }
            }
            Patch::Merge(body)
        }
        Patch::Json(mut ops) => {
            if let Some(list) = ops.as_array_mut() {
                list.push(serde_json::json!({
                    "op": "replace", "path": "/metadata/resourceVersion", "value": rv
                }));
            }
            Patch::Json(ops)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn urls_follow_the_api_layout() {
        let d = Obj::new(DEPLOYMENT, "shop", "checkout-stable");
        assert_eq!(
            d.url(),
            "/apis/apps/v1/namespaces/shop/deployments/checkout-stable"
        );
        let s = Obj::new(SERVICE, "shop", "checkout");
        assert_eq!(s.url(), "/api/v1/namespaces/shop/services/checkout");
        assert_eq!(
            Kind::of("networking.istio.io/v1", "VirtualService"),
            Some(VIRTUAL_SERVICE)
        );
        assert_eq!(
            encode("app=web,slot in (blue)"),
            "app%3Dweb%2Cslot%20in%20%28blue%29"
        );
    }

    #[test]
    fn preconditions_ride_in_the_patch() {
        let merge = with_precondition(Patch::Merge(json!({"spec": {"replicas": 2}})), "41");
        assert_eq!(merge.body()["metadata"]["resourceVersion"], "41");
        let ops = with_precondition(Patch::Json(json!([])), "41");
        let mut object = json!({"metadata": {"resourceVersion": "40"}});
        let ops: json_patch::Patch = serde_json::from_value(ops.body().clone()).unwrap();
        json_patch::patch(&mut object, &ops).unwrap();
        assert_eq!(object["metadata"]["resourceVersion"], "41");
    }
}
