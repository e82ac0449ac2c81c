//! kube-rs, which nobody here wrote, against the simulated API server: typed
//! and dynamic APIs, subresources, tables, logs, errors, and kube's own
//! watcher and reflector through dropped watches and 410 Gone.

#![allow(clippy::unwrap_used)]

mod common;

use std::collections::BTreeMap;
use std::time::Duration;

use chrono::TimeDelta;
use common::{SimServer, deployment, running_pod};
use flightdeck::sim::logs::ContainerKey;
use flightdeck::sim::resources::kinds;
use flightdeck::sim::store::meta_str;
use futures::StreamExt;
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{ConfigMap, Pod};
use kube::api::{
    Api, ApiResource, DeleteParams, DynamicObject, GroupVersionKind, ListParams, LogParams, Patch,
    PatchParams, PostParams,
};
use kube::runtime::{WatchStreamExt, reflector, watcher};
use kube::{Client, ResourceExt};
use serde_json::json;

fn status_code(err: &kube::Error) -> u16 {
    match err {
        kube::Error::Api(status) => status.code,
        other => panic!("expected an API error, got {other:?}"),
    }
}

async fn raw(
    client: &Client,
    method: &str,
    path: &str,
    content_type: &str,
    body: &str,
) -> (u16, serde_json::Value) {
    let request = http::Request::builder()
        .method(method)
        .uri(path)
        .header("content-type", content_type)
        .body(body.as_bytes().to_vec())
        .unwrap();
    match client.request::<serde_json::Value>(request).await {
        Ok(v) => (200, v),
        Err(kube::Error::Api(status)) => (status.code, serde_json::to_value(&*status).unwrap()),
        Err(other) => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn typed_crud_with_conflicts() {
    let sim = SimServer::start();
    let pods: Api<Pod> = Api::namespaced(sim.client(), "default");
    let pod: Pod =
        serde_json::from_value(running_pod("web-1", "web", "web:1", "n1", "10.0.0.1")).unwrap();
    let created = pods.create(&PostParams::default(), &pod).await.unwrap();
    assert_eq!(created.metadata.namespace.as_deref(), Some("default"));
    assert!(created.metadata.uid.is_some());
    assert_eq!(
        status_code(&pods.create(&PostParams::default(), &pod).await.unwrap_err()),
        409
    );

    let listed = pods
        .list(&ListParams::default().labels("app=web"))
        .await
        .unwrap();
    assert_eq!(listed.items.len(), 1);
    assert_eq!(
        listed.metadata.resource_version.as_deref(),
        Some(sim.store().current_resource_version().to_string().as_str())
    );
    assert!(
        pods.list(&ListParams::default().labels("app notin (web)"))
            .await
            .unwrap()
            .items
            .is_empty()
    );
    let by_field = pods
        .list(&ListParams::default().fields("status.phase=Running,spec.nodeName=n1"))
        .await
        .unwrap();
    assert_eq!(by_field.items.len(), 1);

    let mut first = pods.get("web-1").await.unwrap();
    let stale = first.clone();
    first.labels_mut().insert("track".into(), "stable".into());
    let replaced = pods
        .replace("web-1", &PostParams::default(), &first)
        .await
        .unwrap();
    assert_eq!(replaced.labels()["track"], "stable");
    assert_eq!(
        status_code(
            &pods
                .replace("web-1", &PostParams::default(), &stale)
                .await
                .unwrap_err()
        ),
        409
    );

    let mut wrong_ns = pod.clone();
    wrong_ns.metadata.name = Some("web-2".into());
    wrong_ns.metadata.namespace = Some("other".into());
    assert_eq!(
        status_code(
            &pods
                .create(&PostParams::default(), &wrong_ns)
                .await
                .unwrap_err()
        ),
        400
    );
    assert_eq!(status_code(&pods.get("missing").await.unwrap_err()), 404);
}

#[tokio::test]
async fn list_pages_with_continue() {
    let sim = SimServer::start();
    for i in 0..7 {
        sim.store()
            .create(
                kinds::configmaps(),
                "default",
                json!({"metadata": {"name": format!("cm-{i}")}}),
            )
            .unwrap();
    }
    let cms: Api<ConfigMap> = Api::namespaced(sim.client(), "default");
    let mut names = Vec::new();
    let mut params = ListParams::default().limit(3);
    loop {
        let page = cms.list(&params).await.unwrap();
        names.extend(page.items.iter().map(ResourceExt::name_any));
        match page.metadata.continue_ {
            Some(token) if !token.is_empty() => params = params.continue_token(&token),
            _ => break,
        }
    }
    assert_eq!(names, (0..7).map(|i| format!("cm-{i}")).collect::<Vec<_>>());
}

#[tokio::test]
async fn patches_merge_json_and_strategic() {
    let sim = SimServer::start();
    let mut d = deployment("web", "web:1", 2);
    d["spec"]["template"]["spec"]["containers"]
        .as_array_mut()
        .unwrap()
        .push(json!({"name": "proxy", "image": "envoy:1"}));
    sim.store()
        .create(kinds::deployments(), "default", d)
        .unwrap();
    let deploys: Api<Deployment> = Api::namespaced(sim.client(), "default");
    let pp = PatchParams::default();

    let merged = deploys
        .patch(
            "web",
            &pp,
            &Patch::Merge(
                json!({"metadata": {"labels": {"team": "shop"}}, "status": {"replicas": 99}}),
            ),
        )
        .await
        .unwrap();
    assert_eq!(merged.labels()["team"], "shop");
    assert_eq!(
        merged.status.and_then(|s| s.replicas),
        None,
        "a patch of the object leaves status alone"
    );

    let ops: json_patch::Patch =
        serde_json::from_value(json!([{"op": "replace", "path": "/spec/replicas", "value": 4}]))
            .unwrap();
    let patched = deploys
        .patch("web", &pp, &Patch::<()>::Json(ops))
        .await
        .unwrap();
    assert_eq!(patched.spec.unwrap().replicas, Some(4));

    let strategic = json!({"spec": {"template": {"spec": {
        "$setElementOrder/containers": [{"name": "app"}, {"name": "proxy"}],
        "containers": [{"name": "app", "image": "web:2"}]}}}});
    let patched = deploys
        .patch("web", &pp, &Patch::Strategic(strategic))
        .await
        .unwrap();
    let containers = patched.spec.unwrap().template.spec.unwrap().containers;
    assert_eq!(containers.len(), 2);
    assert_eq!(containers[0].image.as_deref(), Some("web:2"));
    assert_eq!(containers[1].image.as_deref(), Some("envoy:1"));
    assert_eq!(
        containers[0].ports.as_ref().unwrap()[0].container_port,
        8080
    );

    let status = deploys
        .patch_status(
            "web",
            &pp,
            &Patch::Merge(json!({"status": {"replicas": 2}, "spec": {"replicas": 9}})),
        )
        .await
        .unwrap();
    assert_eq!(status.status.unwrap().replicas, Some(2));
    assert_eq!(
        status.spec.unwrap().replicas,
        Some(4),
        "the status subresource leaves spec alone"
    );

    let stale =
        Patch::Merge(json!({"metadata": {"resourceVersion": "1"}, "spec": {"replicas": 1}}));
    assert_eq!(
        status_code(&deploys.patch("web", &pp, &stale).await.unwrap_err()),
        409
    );
}

#[tokio::test]
async fn custom_kinds_at_both_versions() {
    let sim = SimServer::start();
    let client = sim.client();
    let gvk = |v: &str| GroupVersionKind::gvk("networking.istio.io", v, "VirtualService");
    let v1 = ApiResource::from_gvk(&gvk("v1"));
    let beta = ApiResource::from_gvk(&gvk("v1beta1"));
    let vs_v1: Api<DynamicObject> = Api::namespaced_with(client.clone(), "default", &v1);
    let vs_beta: Api<DynamicObject> = Api::namespaced_with(client.clone(), "default", &beta);
    let mut obj = DynamicObject::new("web", &beta);
    obj.data = json!({"spec": {"hosts": ["web"], "http": [{"route": [{"weight": 100}]}]}});
    vs_beta.create(&PostParams::default(), &obj).await.unwrap();
    let seen = vs_v1.get("web").await.unwrap();
    assert_eq!(seen.types.unwrap().api_version, "networking.istio.io/v1");
    let seen = vs_beta.get("web").await.unwrap();
    assert_eq!(
        seen.types.unwrap().api_version,
        "networking.istio.io/v1beta1"
    );

    let pp = PatchParams::default();
    let patched = vs_v1
        .patch(
            "web",
            &pp,
            &Patch::Merge(json!({"spec": {"http": [{"route": [{"weight": 80}, {"weight": 20}]}]}})),
        )
        .await
        .unwrap();
    assert_eq!(patched.data["spec"]["http"][0]["route"][1]["weight"], 20);
    let refused = vs_v1
        .patch("web", &pp, &Patch::Strategic(json!({"spec": {}})))
        .await
        .unwrap_err();
    assert_eq!(status_code(&refused), 415);
}

#[tokio::test]
async fn delete_cascades_to_owned_objects() {
    let sim = SimServer::start();
    let owner = sim
        .store()
        .create(
            kinds::deployments(),
            "default",
            deployment("web", "web:1", 1),
        )
        .unwrap();
    let mut rs = deployment("web-abc", "web:1", 1);
    rs["metadata"]["ownerReferences"] = json!([{"apiVersion": "apps/v1", "kind": "Deployment", "name": "web",
        "uid": meta_str(&owner, "uid").unwrap(), "controller": true}]);
    let rs = sim
        .store()
        .create(kinds::replicasets(), "default", rs)
        .unwrap();
    let mut pod = running_pod("web-abc-1", "web", "web:1", "n1", "10.0.0.2");
    pod["metadata"]["ownerReferences"] = json!([{"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": "web-abc",
        "uid": meta_str(&rs, "uid").unwrap(), "controller": true}]);
    sim.store().create(kinds::pods(), "default", pod).unwrap();

    let deploys: Api<Deployment> = Api::namespaced(sim.client(), "default");
    let deleted = deploys
        .delete("web", &DeleteParams::default())
        .await
        .unwrap();
    assert_eq!(
        deleted.left().map(|d| d.name_any()),
        Some("web".to_string())
    );
    assert!(
        sim.store()
            .get(kinds::replicasets(), "default", "web-abc")
            .is_none()
    );
    assert!(
        sim.store()
            .get(kinds::pods(), "default", "web-abc-1")
            .is_none()
    );
    assert_eq!(
        status_code(
            &deploys
                .delete("web", &DeleteParams::default())
                .await
                .unwrap_err()
        ),
        404
    );
}

#[tokio::test]
async fn scale_subresource() {
    let sim = SimServer::start();
    sim.store()
        .create(
            kinds::deployments(),
            "default",
            deployment("web", "web:1", 2),
        )
        .unwrap();
    let deploys: Api<Deployment> = Api::namespaced(sim.client(), "default");
    let scale = deploys.get_scale("web").await.unwrap();
    assert_eq!(scale.spec.unwrap().replicas, Some(2));
    assert_eq!(scale.status.unwrap().selector.as_deref(), Some("app=web"));
    let scaled = deploys
        .patch_scale(
            "web",
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"replicas": 6}})),
        )
        .await
        .unwrap();
    assert_eq!(scaled.spec.unwrap().replicas, Some(6));
    let stored = sim
        .store()
        .get(kinds::deployments(), "default", "web")
        .unwrap();
    assert_eq!(stored["spec"]["replicas"], 6);
    let negative = deploys
        .patch_scale(
            "web",
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"replicas": -1}})),
        )
        .await
        .unwrap_err();
    assert_eq!(status_code(&negative), 422);
}

#[tokio::test]
async fn tables_for_lists_and_objects() {
    let sim = SimServer::start();
    sim.store()
        .create(
            kinds::pods(),
            "default",
            running_pod("web-1", "web", "web:1", "n1", "10.0.0.1"),
        )
        .unwrap();
    sim.store()
        .set_now(sim.store().now() + TimeDelta::seconds(45));
    let client = sim.client();
    let table = |path: &str| {
        http::Request::builder()
            .uri(path)
            .header(
                "accept",
                "application/json;as=Table;v=v1;g=meta.k8s.io,application/json",
            )
            .body(Vec::new())
            .unwrap()
    };
    let t: serde_json::Value = client
        .request(table("/api/v1/namespaces/default/pods"))
        .await
        .unwrap();
    assert_eq!(t["kind"], "Table");
    let columns: Vec<&str> = t["columnDefinitions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["name"].as_str().unwrap())
        .collect();
    assert_eq!(columns[..5], ["Name", "Ready", "Status", "Restarts", "Age"]);
    assert_eq!(
        t["rows"][0]["cells"].as_array().unwrap()[..5],
        json!(["web-1", "1/1", "Running", "0", "45s"])
            .as_array()
            .unwrap()[..]
    );
    assert_eq!(t["rows"][0]["object"]["kind"], "PartialObjectMetadata");
    let t: serde_json::Value = client
        .request(table(
            "/api/v1/namespaces/default/pods/web-1?includeObject=Object",
        ))
        .await
        .unwrap();
    assert_eq!(t["rows"][0]["object"]["kind"], "Pod");
    let t: serde_json::Value = client
        .request(table("/api/v1/namespaces?includeObject=None"))
        .await
        .unwrap();
    assert_eq!(t["rows"][0]["cells"], json!(["default", "Active", "45s"]));
    assert!(t["rows"][0].get("object").is_none());
}

#[tokio::test]
async fn pod_log_parameters() {
    let sim = SimServer::start();
    let mut pod = running_pod("web-1", "web", "web:1", "n1", "10.0.0.1");
    pod["spec"]["containers"]
        .as_array_mut()
        .unwrap()
        .push(json!({"name": "proxy", "image": "envoy"}));
    sim.store().create(kinds::pods(), "default", pod).unwrap();
    let start = sim.store().now();
    let key = ContainerKey::new("default", "web-1", "app");
    for i in 0..10 {
        sim.shared()
            .logs
            .append(&key, start + TimeDelta::seconds(i), format!("line {i}"));
    }
    sim.store().set_now(start + TimeDelta::seconds(10));
    let pods: Api<Pod> = Api::namespaced(sim.client(), "default");
    let params = |f: &dyn Fn(&mut LogParams)| {
        let mut lp = LogParams {
            container: Some("app".into()),
            ..LogParams::default()
        };
        f(&mut lp);
        lp
    };
    let err = pods.logs("web-1", &LogParams::default()).await.unwrap_err();
    assert_eq!(status_code(&err), 400);
    assert!(
        err.to_string().contains(
            "a container name must be specified for pod web-1, choose one of: [app proxy]"
        ),
        "{err}"
    );
    assert_eq!(
        pods.logs("web-1", &params(&|lp| lp.tail_lines = Some(2)))
            .await
            .unwrap(),
        "line 8\nline 9\n"
    );
    assert_eq!(
        pods.logs("web-1", &params(&|lp| lp.since_seconds = Some(3)))
            .await
            .unwrap(),
        "line 7\nline 8\nline 9\n"
    );
    assert_eq!(
        pods.logs("web-1", &params(&|lp| lp.limit_bytes = Some(10)))
            .await
            .unwrap(),
        "line 0\nlin"
    );
    let stamped = pods
        .logs(
            "web-1",
            &params(&|lp| {
                lp.timestamps = true;
                lp.tail_lines = Some(1);
            }),
        )
        .await
        .unwrap();
    assert_eq!(stamped, "2025-06-01T12:00:09.000000000Z line 9\n");
    let err = pods
        .logs("web-1", &params(&|lp| lp.previous = true))
        .await
        .unwrap_err();
    assert!(
        err.to_string()
            .contains("previous terminated container \"app\" in pod \"web-1\" not found"),
        "{err}"
    );
    sim.shared().logs.restart(&key);
    assert_eq!(
        pods.logs(
            "web-1",
            &params(&|lp| {
                lp.previous = true;
                lp.tail_lines = Some(1);
            })
        )
        .await
        .unwrap(),
        "line 9\n"
    );
    assert_eq!(
        status_code(
            &pods
                .logs("missing", &LogParams::default())
                .await
                .unwrap_err()
        ),
        404
    );
}

#[tokio::test]
async fn bad_requests_answer_status() {
    let sim = SimServer::start();
    let client = sim.client();
    let (code, status) = raw(&client, "GET", "/apis/example.com/v1/widgets", "", "").await;
    assert_eq!((code, status["reason"].as_str()), (404, Some("NotFound")));
    assert_eq!(
        status["message"],
        "the server could not find the requested resource"
    );
    let (code, _) = raw(
        &client,
        "POST",
        "/api/v1/namespaces/default/configmaps",
        "application/json",
        "{not json",
    )
    .await;
    assert_eq!(code, 400);
    let (code, status) = raw(
        &client,
        "GET",
        "/api/v1/pods?labelSelector=app+in+(web",
        "",
        "",
    )
    .await;
    assert_eq!((code, status["reason"].as_str()), (400, Some("BadRequest")));
    let (code, _) = raw(
        &client,
        "GET",
        "/api/v1/pods?fieldSelector=spec.bogus%3Dx",
        "",
        "",
    )
    .await;
    assert_eq!(code, 400);
    sim.store()
        .create(
            kinds::configmaps(),
            "default",
            json!({"metadata": {"name": "cm"}}),
        )
        .unwrap();
    let cm = "/api/v1/namespaces/default/configmaps/cm";
    let (code, _) = raw(
        &client,
        "PATCH",
        cm,
        "application/json-patch+json",
        r#"{"op": "add"}"#,
    )
    .await;
    assert_eq!(code, 400);
    let (code, _) = raw(
        &client,
        "PATCH",
        cm,
        "application/json-patch+json",
        r#"[{"op":"remove","path":"/data/nope"}]"#,
    )
    .await;
    assert_eq!(code, 422);
    let (code, _) = raw(
        &client,
        "PATCH",
        cm,
        "application/apply-patch+yaml",
        "data: {}",
    )
    .await;
    assert_eq!(code, 415);
    let (code, _) = raw(
        &client,
        "PUT",
        "/apis/metrics.k8s.io/v1beta1/nodes/n1",
        "application/json",
        "{}",
    )
    .await;
    assert_eq!(code, 405);

    sim.shared()
        .faults
        .update(|f| f.forbidden_namespaces = vec!["default".into()]);
    let (code, status) = raw(&client, "GET", "/api/v1/namespaces/default/pods", "", "").await;
    assert_eq!(code, 403);
    assert_eq!(
        status["message"],
        "pods is forbidden: User \"flightdeck-sim\" cannot list resource \"pods\" in API group \"\" in the namespace \"default\""
    );
    // Plain HTTP here: kube's client would retry 500s and 429s on its own.
    sim.shared().faults.update(|f| {
        f.forbidden_namespaces.clear();
        f.api_error_ratio = 1.0;
    });
    let http = reqwest::Client::new();
    let namespaces = format!("{}/api/v1/namespaces", sim.url());
    let answer = http.get(&namespaces).send().await.unwrap();
    assert_eq!(answer.status().as_u16(), 500);
    let status: serde_json::Value = answer.json().await.unwrap();
    assert_eq!(status["reason"], "InternalError");
    sim.shared().faults.update(|f| {
        f.api_error_ratio = 0.0;
        f.api_throttle_ratio = 1.0;
    });
    let answer = http.get(&namespaces).send().await.unwrap();
    assert_eq!(answer.status().as_u16(), 429);
    assert_eq!(answer.headers()["retry-after"], "1");
    sim.shared().faults.update(|f| f.api_throttle_ratio = 0.0);
    assert_eq!(
        http.get(&namespaces)
            .send()
            .await
            .unwrap()
            .status()
            .as_u16(),
        200
    );
}

#[tokio::test]
async fn bearer_token_is_required_when_set() {
    let sim = SimServer::start_with(flightdeck::sim::server::ServerOptions {
        token: Some("s3cret".into()),
        ..Default::default()
    });
    let anonymous: Api<Pod> = Api::namespaced(sim.client(), "default");
    assert_eq!(
        status_code(&anonymous.list(&ListParams::default()).await.unwrap_err()),
        401
    );
    let kubeconfig = kube::config::Kubeconfig::read_from(sim.kubeconfig_path()).unwrap();
    let config = kube::Config::from_custom_kubeconfig(
        kubeconfig,
        &kube::config::KubeConfigOptions::default(),
    )
    .await
    .unwrap();
    assert_eq!(config.default_namespace, "default");
    let pods: Api<Pod> = Api::default_namespaced(Client::try_from(config).unwrap());
    assert!(
        pods.list(&ListParams::default())
            .await
            .unwrap()
            .items
            .is_empty()
    );
}

/// Names and resourceVersions, to compare a reflector's cache with the store.
fn versions<'a>(items: impl Iterator<Item = (&'a str, &'a str)>) -> BTreeMap<String, String> {
    items.map(|(n, v)| (n.to_string(), v.to_string())).collect()
}

fn store_pods(sim: &SimServer) -> BTreeMap<String, String> {
    let (pods, _) = sim.store().list(kinds::pods(), Some("default"));
    versions(pods.iter().map(|p| {
        (
            meta_str(p, "name").unwrap(),
            meta_str(p, "resourceVersion").unwrap(),
        )
    }))
}

async fn converge(sim: &SimServer, reader: &reflector::Store<Pod>) -> bool {
    for _ in 0..200 {
        let cached: BTreeMap<String, String> = reader
            .state()
            .iter()
            .map(|p| (p.name_any(), p.resource_version().unwrap_or_default()))
            .collect();
        if cached == store_pods(sim) {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    false
}

#[tokio::test]
async fn reflector_survives_drops_and_gone() {
    let sim = SimServer::start_with(flightdeck::sim::server::ServerOptions {
        bookmark_interval: Duration::from_millis(200),
        ..Default::default()
    });
    let store = sim.store();
    for i in 0..5 {
        store
            .create(
                kinds::pods(),
                "default",
                running_pod(&format!("web-{i}"), "web", "web:1", "n1", "10.0.0.1"),
            )
            .unwrap();
    }
    let pods: Api<Pod> = Api::namespaced(sim.client(), "default");
    let (reader, writer) = reflector::store();
    let stream = reflector(writer, watcher(pods, watcher::Config::default()))
        .default_backoff()
        .for_each(|_| async {});
    let task = tokio::spawn(stream);
    assert!(converge(&sim, &reader).await, "initial list");

    // A forced disconnect: the watcher resumes from its version and misses nothing.
    sim.shared().faults.update(|f| f.watch_drops += 1);
    store
        .create(
            kinds::pods(),
            "default",
            running_pod("web-5", "web", "web:1", "n1", "10.0.0.1"),
        )
        .unwrap();
    store.delete(kinds::pods(), "default", "web-0").unwrap();
    store
        .modify::<()>(kinds::pods(), "default", "web-1", |p| {
            p["metadata"]["labels"]["track"] = json!("canary");
            Ok(())
        })
        .unwrap();
    assert!(converge(&sim, &reader).await, "after a dropped watch");

    // Disconnected while the history is compacted: the resume answers 410 Gone
    // and the watcher re-lists.
    sim.shared().faults.update(|f| {
        f.api_error_ratio = 1.0;
        f.watch_drops += 1;
    });
    tokio::time::sleep(Duration::from_millis(300)).await;
    store.delete(kinds::pods(), "default", "web-2").unwrap();
    store
        .create(
            kinds::pods(),
            "default",
            running_pod("web-6", "web", "web:1", "n1", "10.0.0.1"),
        )
        .unwrap();
    store.compact();
    sim.shared().faults.update(|f| f.api_error_ratio = 0.0);
    assert!(converge(&sim, &reader).await, "after 410 Gone");
    let names: Vec<String> = store_pods(&sim).into_keys().collect();
    assert_eq!(names, ["web-1", "web-3", "web-4", "web-5", "web-6"]);
    task.abort();
}

#[tokio::test]
async fn watch_reports_objects_leaving_a_selector() {
    let sim = SimServer::start();
    sim.store()
        .create(
            kinds::pods(),
            "default",
            running_pod("web-1", "web", "web:1", "n1", "10.0.0.1"),
        )
        .unwrap();
    let pods: Api<Pod> = Api::namespaced(sim.client(), "default");
    let lp = kube::api::WatchParams::default()
        .labels("app=web")
        .timeout(5);
    let mut events = pods.watch(&lp, "0").await.unwrap().boxed();
    let first = events.next().await.unwrap().unwrap();
    assert!(matches!(first, kube::api::WatchEvent::Added(ref p) if p.name_any() == "web-1"));
    sim.store()
        .modify::<()>(kinds::pods(), "default", "web-1", |p| {
            p["metadata"]["labels"]["app"] = json!("other");
            Ok(())
        })
        .unwrap();
    let next = events.next().await.unwrap().unwrap();
    assert!(
        matches!(next, kube::api::WatchEvent::Deleted(ref p) if p.name_any() == "web-1"),
        "{next:?}"
    );

    sim.store().compact();
    let gone = pods
        .watch(&lp, "1")
        .await
        .unwrap()
        .boxed()
        .next()
        .await
        .unwrap()
        .unwrap();
    assert!(
        matches!(gone, kube::api::WatchEvent::Error(ref e) if e.code == 410),
        "{gone:?}"
    );
}

#[tokio::test]
async fn bookmarks_carry_only_the_version() {
    let sim = SimServer::start_with(flightdeck::sim::server::ServerOptions {
        bookmark_interval: Duration::from_millis(100),
        ..Default::default()
    });
    let http = reqwest::Client::new();
    let mut response = http
        .get(format!(
            "{}/api/v1/namespaces/default/pods?watch=1&allowWatchBookmarks=true&timeoutSeconds=2",
            sim.url()
        ))
        .send()
        .await
        .unwrap();
    let chunk = response.chunk().await.unwrap().unwrap();
    let event: serde_json::Value =
        serde_json::from_slice(chunk.split(|b| *b == b'\n').next().unwrap()).unwrap();
    assert_eq!(event["type"], "BOOKMARK");
    assert_eq!(
        event["object"],
        json!({"kind": "Pod", "apiVersion": "v1", "metadata": {
            "resourceVersion": sim.store().current_resource_version().to_string()}})
    );
    // timeoutSeconds ends the stream.
    while response.chunk().await.unwrap().is_some() {}
}

#[tokio::test]
async fn delete_collection_by_selector() {
    let sim = SimServer::start();
    for (name, app) in [("a", "web"), ("b", "web"), ("c", "db")] {
        sim.store()
            .create(
                kinds::pods(),
                "default",
                running_pod(name, app, "img", "n1", "10.0.0.1"),
            )
            .unwrap();
    }
    let pods: Api<Pod> = Api::namespaced(sim.client(), "default");
    let removed = pods
        .delete_collection(
            &DeleteParams::default(),
            &ListParams::default().labels("app=web"),
        )
        .await
        .unwrap();
    let names: Vec<String> = removed
        .left()
        .unwrap()
        .items
        .iter()
        .map(ResourceExt::name_any)
        .collect();
    assert_eq!(names, ["a", "b"]);
    assert_eq!(store_pods(&sim).into_keys().collect::<Vec<_>>(), ["c"]);
}

struct EchoBackend;

impl flightdeck::sim::server::ProxyBackend for EchoBackend {
    fn call(
        &self,
        request: flightdeck::sim::server::ProxyRequest,
    ) -> futures::future::BoxFuture<'static, flightdeck::sim::server::ProxyResponse> {
        Box::pin(async move {
            flightdeck::sim::server::ProxyResponse {
                status: http::StatusCode::OK,
                content_type: "text/plain".into(),
                body: format!(
                    "{:?} {}/{} port={:?} path={} query={:?}",
                    request.kind,
                    request.namespace,
                    request.name,
                    request.port,
                    request.path,
                    request.query
                )
                .into(),
            }
        })
    }
}

#[tokio::test]
async fn proxy_paths_reach_the_backend() {
    let shared = common::shared();
    shared
        .store
        .create(
            kinds::pods(),
            "default",
            running_pod("web-1", "web", "img", "n1", "10.0.0.1"),
        )
        .unwrap();
    let with = SimServer::start_on(
        shared.clone(),
        flightdeck::sim::server::ServerOptions::default(),
        Some(std::sync::Arc::new(EchoBackend)),
    );
    let without = SimServer::start_on(
        shared,
        flightdeck::sim::server::ServerOptions::default(),
        None,
    );
    let http = reqwest::Client::new();
    let path = "/api/v1/namespaces/default/pods/web-1:9090/proxy/metrics?x=1";
    let answer = http
        .get(format!("{}{path}", with.url()))
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status().as_u16(), 200);
    assert_eq!(
        answer.text().await.unwrap(),
        "Pod default/web-1 port=Some(\"9090\") path=/metrics query=Some(\"x=1\")"
    );
    let missing = http
        .get(format!(
            "{}/api/v1/namespaces/default/pods/nope/proxy/health",
            with.url()
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(missing.status().as_u16(), 404);
    let unavailable = http
        .get(format!("{}{path}", without.url()))
        .send()
        .await
        .unwrap();
    assert_eq!(unavailable.status().as_u16(), 503);
    let status: serde_json::Value = unavailable.json().await.unwrap();
    assert_eq!(status["kind"], "Status");
}

#[tokio::test]
async fn watcher_with_streaming_lists() {
    let sim = SimServer::start();
    for i in 0..3 {
        sim.store()
            .create(
                kinds::pods(),
                "default",
                running_pod(&format!("web-{i}"), "web", "img", "n1", "10.0.0.1"),
            )
            .unwrap();
    }
    let pods: Api<Pod> = Api::namespaced(sim.client(), "default");
    let (reader, writer) = reflector::store();
    let stream = reflector(
        writer,
        watcher(pods, watcher::Config::default().streaming_lists()),
    )
    .default_backoff()
    .for_each(|_| async {});
    let task = tokio::spawn(stream);
    assert!(converge(&sim, &reader).await);
    sim.store()
        .delete(kinds::pods(), "default", "web-1")
        .unwrap();
    assert!(converge(&sim, &reader).await);
    task.abort();
}
