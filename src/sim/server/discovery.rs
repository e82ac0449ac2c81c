//! Discovery: `/version`, `/api`, `/apis` and each group's and version's
//! resource list, built from the resource table. Aggregated discovery is not
//! served: the legacy documents with `Content-Type: application/json` make
//! clients fall back to them.

use axum::extract::State;
use axum::response::Response;
use http::StatusCode;
use serde_json::{Value, json};

use super::Api;
use super::status::{ApiError, json_response};
use crate::sim::resources::{RESOURCES, Resource, groups};

fn ok(body: &Value) -> Response {
    json_response(StatusCode::OK, body.to_string().into_bytes())
}

pub async fn version(State(api): State<Api>) -> Response {
    let git_version = api.opts.version.clone();
    let mut parts = git_version.trim_start_matches('v').split('.');
    let major = parts.next().unwrap_or("1").to_string();
    let minor = parts.next().unwrap_or("0").to_string();
    ok(&json!({
        "major": major,
        "minor": minor,
        "gitVersion": git_version,
        "gitCommit": "0000000000000000000000000000000000000000",
        "gitTreeState": "clean",
        "buildDate": "2025-01-01T00:00:00Z",
        "goVersion": "go1.24.0",
        "compiler": "gc",
        "platform": "linux/amd64",
    }))
}

pub async fn core_versions() -> Response {
    ok(&json!({
        "kind": "APIVersions",
        "versions": ["v1"],
        "serverAddressByClientCIDRs": [],
    }))
}

fn group_doc(name: &str, versions: &[&str]) -> Value {
    let versions: Vec<Value> = versions
        .iter()
        .map(|v| json!({ "groupVersion": format!("{name}/{v}"), "version": v }))
        .collect();
    json!({
        "name": name,
        "versions": versions,
        "preferredVersion": versions.first().cloned().unwrap_or(Value::Null),
    })
}

pub async fn group_list() -> Response {
    let mut groups: Vec<Value> = groups().iter().map(|(g, vs)| group_doc(g, vs)).collect();
    groups.push(group_doc(super::identity::GROUP, &["v1"]));
    ok(&json!({ "kind": "APIGroupList", "apiVersion": "v1", "groups": groups }))
}

pub fn group(name: &str) -> Response {
    match groups().iter().find(|(g, _)| *g == name) {
        Some((g, vs)) => {
            let mut doc = group_doc(g, vs);
            doc["kind"] = json!("APIGroup");
            doc["apiVersion"] = json!("v1");
            ok(&doc)
        }
        None => axum::response::IntoResponse::into_response(ApiError::no_such_path()),
    }
}

fn subresource_entry(res: &Resource, sub: &str) -> Value {
    let (kind, verbs, group, version): (&str, &[&str], Option<&str>, Option<&str>) = match sub {
        "status" => (res.kind, &["get", "patch", "update"], None, None),
        "scale" => (
            "Scale",
            &["get", "patch", "update"],
            Some("autoscaling"),
            Some("v1"),
        ),
        "proxy" => (
            if res.plural == "pods" {
                "PodProxyOptions"
            } else {
                "ServiceProxyOptions"
            },
            &["create", "delete", "get", "patch", "update"],
            None,
            None,
        ),
        _ => (res.kind, &["get"], None, None),
    };
    let mut entry = json!({
        "name": format!("{}/{sub}", res.plural),
        "singularName": "",
        "namespaced": res.namespaced,
        "kind": kind,
        "verbs": verbs,
    });
    if let (Some(g), Some(v)) = (group, version) {
        entry["group"] = json!(g);
        entry["version"] = json!(v);
    }
    entry
}

pub fn resources(group: &str, version: &str) -> Response {
    let mut list = Vec::new();
    for res in RESOURCES
        .iter()
        .filter(|r| r.group == group && r.serves_version(version))
    {
        let mut entry = json!({
            "name": res.plural,
            "singularName": res.singular,
            "namespaced": res.namespaced,
            "kind": res.kind,
            "verbs": res.verbs(),
        });
        if !res.short_names.is_empty() {
            entry["shortNames"] = json!(res.short_names);
        }
        if !res.categories.is_empty() {
            entry["categories"] = json!(res.categories);
        }
        list.push(entry);
        for sub in res.subresources {
            list.push(subresource_entry(res, sub));
        }
    }
    let group_version = if group.is_empty() {
        version.to_string()
    } else {
        format!("{group}/{version}")
    };
    ok(&json!({
        "kind": "APIResourceList",
        "apiVersion": "v1",
        "groupVersion": group_version,
        "resources": list,
    }))
}
