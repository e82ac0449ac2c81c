//! kubectl, which nobody here wrote, against the simulated API server.
//! Skipped where kubectl is absent, unless `FLIGHTDECK_REQUIRE_KUBECTL=1`.

#![allow(clippy::unwrap_used)]

mod common;

use std::time::Duration;

use chrono::TimeDelta;
use common::{
    SimCluster, SimServer, errors, finish, kubectl_available, running_pod, text, wait_until,
};
use flightdeck::sim::logs::ContainerKey;
use flightdeck::sim::resources::kinds;
use serde_json::json;

fn virtual_service() -> serde_json::Value {
    json!({
        "apiVersion": "networking.istio.io/v1",
        "metadata": {"name": "web"},
        "spec": {
            "hosts": ["web"],
            "http": [{"route": [
                {"destination": {"host": "web", "subset": "stable"}, "weight": 90},
                {"destination": {"host": "web", "subset": "canary"}, "weight": 10}
            ]}]
        }
    })
}

fn weights(sim: &SimServer) -> Vec<i64> {
    let vs = sim
        .store()
        .get(kinds::virtualservices(), "default", "web")
        .unwrap();
    vs["spec"]["http"][0]["route"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["weight"].as_i64().unwrap())
        .collect()
}

fn ok(output: &std::process::Output) -> String {
    assert!(
        output.status.success(),
        "kubectl failed: {}\n{}",
        errors(output),
        text(output)
    );
    text(output)
}

#[test]
fn api_resources_lists_kinds_with_short_names() {
    if !kubectl_available("api_resources_lists_kinds_with_short_names") {
        return;
    }
    let sim = SimServer::start();
    let out = ok(&sim.kubectl(&["api-resources"]));
    let row = |name: &str| {
        out.lines()
            .find(|l| l.split_whitespace().next() == Some(name))
            .unwrap_or_else(|| panic!("{name} missing from:\n{out}"))
            .split_whitespace()
            .collect::<Vec<_>>()
    };
    assert_eq!(row("pods")[1..], ["po", "v1", "true", "Pod"]);
    assert_eq!(
        row("deployments")[1..],
        ["deploy", "apps/v1", "true", "Deployment"]
    );
    assert_eq!(
        row("virtualservices")[1..],
        ["vs", "networking.istio.io/v1", "true", "VirtualService"]
    );
}

#[test]
fn get_pods_wide_and_workloads() {
    if !kubectl_available("get_pods_wide_and_workloads") {
        return;
    }
    let sim = SimServer::start();
    let store = sim.store();
    store
        .create(
            kinds::pods(),
            "default",
            running_pod("web-1", "web", "web:1", "node-a", "10.1.0.7"),
        )
        .unwrap();
    let mut crashing = running_pod("web-2", "web", "web:1", "node-b", "10.1.0.8");
    crashing["status"]["containerStatuses"][0] = json!({
        "name": "app", "ready": false, "restartCount": 3,
        "state": {"waiting": {"reason": "CrashLoopBackOff"}}
    });
    store.create(kinds::pods(), "default", crashing).unwrap();
    store
        .create(
            kinds::deployments(),
            "default",
            common::deployment("web", "web:1", 2),
        )
        .unwrap();
    store
        .create(
            kinds::replicasets(),
            "default",
            json!({"metadata": {"name": "web-5d4f"}, "spec": {"replicas": 2,
                "selector": {"matchLabels": {"app": "web"}},
                "template": {"spec": {"containers": [{"name": "app", "image": "web:1"}]}}},
                "status": {"replicas": 2, "readyReplicas": 1}}),
        )
        .unwrap();
    store
        .create(
            kinds::services(),
            "default",
            json!({"metadata": {"name": "web"}, "spec": {"clusterIP": "10.96.0.10",
                "selector": {"app": "web"}, "ports": [{"port": 80, "protocol": "TCP"}]}}),
        )
        .unwrap();
    store.set_now(store.now() + TimeDelta::seconds(312));

    let pods = ok(&sim.kubectl(&["get", "pods", "-o", "wide"]));
    let lines: Vec<Vec<&str>> = pods
        .lines()
        .map(|l| l.split_whitespace().collect())
        .collect();
    assert_eq!(
        lines[0][..5],
        ["NAME", "READY", "STATUS", "RESTARTS", "AGE"]
    );
    assert!(
        pods.lines().next().unwrap().contains("NOMINATED NODE"),
        "{pods}"
    );
    assert_eq!(
        lines[1][..7],
        [
            "web-1", "1/1", "Running", "0", "5m12s", "10.1.0.7", "node-a"
        ]
    );
    assert_eq!(lines[2][..3], ["web-2", "0/1", "CrashLoopBackOff"]);

    let all = ok(&sim.kubectl(&["get", "deploy,rs,svc"]));
    assert!(all.contains("deployment.apps/web"), "{all}");
    assert!(all.contains("replicaset.apps/web-5d4f"), "{all}");
    let svc = all.lines().find(|l| l.starts_with("service/web")).unwrap();
    assert_eq!(
        svc.split_whitespace().collect::<Vec<_>>(),
        [
            "service/web",
            "ClusterIP",
            "10.96.0.10",
            "<none>",
            "80/TCP",
            "5m12s"
        ]
    );
}

#[test]
fn patch_virtualservice_merge_and_json() {
    if !kubectl_available("patch_virtualservice_merge_and_json") {
        return;
    }
    let sim = SimServer::start();
    sim.store()
        .create(kinds::virtualservices(), "default", virtual_service())
        .unwrap();
    let listed = ok(&sim.kubectl(&["get", "virtualservices"]));
    assert!(
        listed.lines().nth(1).unwrap().starts_with("web "),
        "{listed}"
    );
    assert!(listed.contains("[\"web\"]"), "{listed}");

    let merge = r#"{"spec":{"http":[{"route":[{"destination":{"host":"web","subset":"stable"},"weight":50},{"destination":{"host":"web","subset":"canary"},"weight":50}]}]}}"#;
    ok(&sim.kubectl(&[
        "patch",
        "virtualservice",
        "web",
        "--type",
        "merge",
        "-p",
        merge,
    ]));
    assert_eq!(weights(&sim), [50, 50]);

    let json_patch = r#"[{"op":"replace","path":"/spec/http/0/route/0/weight","value":0},{"op":"replace","path":"/spec/http/0/route/1/weight","value":100}]"#;
    ok(&sim.kubectl(&["patch", "vs", "web", "--type", "json", "-p", json_patch]));
    assert_eq!(weights(&sim), [0, 100]);
    let read_back = ok(&sim.kubectl(&[
        "get",
        "vs",
        "web",
        "-o",
        "jsonpath={.spec.http[0].route[*].weight}",
    ]));
    assert_eq!(read_back.trim(), "0 100");

    let refused = sim.kubectl(&["patch", "vs", "web", "-p", r#"{"spec":{"hosts":["x"]}}"#]);
    assert!(!refused.status.success());
    assert!(
        errors(&refused).contains("UnsupportedMediaType")
            || errors(&refused).contains("unknown format"),
        "{}",
        errors(&refused)
    );
}

#[test]
fn set_image_and_scale_write_the_deployment() {
    if !kubectl_available("set_image_and_scale_write_the_deployment") {
        return;
    }
    let sim = SimServer::start();
    let mut d = common::deployment("web", "web:1", 2);
    d["spec"]["template"]["spec"]["containers"]
        .as_array_mut()
        .unwrap()
        .push(json!({"name": "proxy", "image": "envoy:1"}));
    sim.store()
        .create(kinds::deployments(), "default", d)
        .unwrap();

    ok(&sim.kubectl(&["set", "image", "deploy/web", "app=web:2"]));
    let stored = sim
        .store()
        .get(kinds::deployments(), "default", "web")
        .unwrap();
    let containers = &stored["spec"]["template"]["spec"]["containers"];
    assert_eq!(containers[0]["image"], "web:2");
    assert_eq!(containers[0]["ports"][0]["containerPort"], 8080);
    assert_eq!(containers[1]["image"], "envoy:1");
    assert_eq!(stored["metadata"]["generation"], 2);

    ok(&sim.kubectl(&["scale", "deploy/web", "--replicas=5"]));
    let stored = sim
        .store()
        .get(kinds::deployments(), "default", "web")
        .unwrap();
    assert_eq!(stored["spec"]["replicas"], 5);
}

#[test]
fn logs_tail_and_follow() {
    if !kubectl_available("logs_tail_and_follow") {
        return;
    }
    let sim = SimServer::start();
    let store = sim.store();
    store
        .create(
            kinds::pods(),
            "default",
            running_pod("web-1", "web", "web:1", "node-a", "10.1.0.7"),
        )
        .unwrap();
    let key = ContainerKey::new("default", "web-1", "app");
    for i in 1..=5 {
        sim.shared()
            .logs
            .append(&key, store.now(), format!("line {i}"));
    }
    let tail = ok(&sim.kubectl(&["logs", "web-1", "--tail=2"]));
    assert_eq!(tail, "line 4\nline 5\n");

    let child = sim.kubectl_spawn(&["logs", "-f", "web-1", "--tail=1"]);
    // Appends until kubectl has had time to connect; the stream must carry them.
    let logs = sim.shared().logs.clone();
    let now = store.now();
    let writer = std::thread::spawn(move || {
        for i in 6..=30 {
            std::thread::sleep(Duration::from_millis(100));
            logs.append(&key, now, format!("line {i}"));
        }
    });
    writer.join().unwrap();
    std::thread::sleep(Duration::from_millis(300));
    store.delete(kinds::pods(), "default", "web-1").unwrap();
    let followed = finish(child, Duration::from_secs(10));
    let out = text(&followed);
    assert!(
        followed.status.success(),
        "follow did not end with the pod: {}",
        errors(&followed)
    );
    // `--tail=1` gives one line written before kubectl connected; every line
    // after it came through the follow stream, in order, up to the last.
    let numbers: Vec<u32> = out
        .lines()
        .map(|l| l.strip_prefix("line ").unwrap().parse().unwrap())
        .collect();
    assert!(numbers.len() >= 2, "{out}");
    let first = numbers[0];
    assert_eq!(numbers, (first..=30).collect::<Vec<_>>(), "{out}");
}

#[test]
fn missing_object_is_not_found() {
    if !kubectl_available("missing_object_is_not_found") {
        return;
    }
    let sim = SimServer::start();
    let out = sim.kubectl(&["get", "--raw", "/api/v1/namespaces/x/pods/missing"]);
    assert!(!out.status.success());
    assert!(
        errors(&out).contains("Error from server (NotFound): pods \"missing\" not found"),
        "{}",
        errors(&out)
    );
}

#[test]
fn get_pods_watch_prints_new_pods() {
    if !kubectl_available("get_pods_watch_prints_new_pods") {
        return;
    }
    let sim = SimServer::start();
    sim.store()
        .create(
            kinds::pods(),
            "default",
            running_pod("web-1", "web", "web:1", "node-a", "10.1.0.7"),
        )
        .unwrap();
    let child = sim.kubectl_spawn(&["get", "pods", "-w"]);
    let store = sim.shared().store.clone();
    std::thread::sleep(Duration::from_secs(2));
    let mut pending = running_pod("web-2", "web", "web:2", "node-b", "");
    pending["status"] = json!({"phase": "Pending", "containerStatuses": [{"name": "app", "ready": false,
        "restartCount": 0, "state": {"waiting": {"reason": "ContainerCreating"}}}]});
    store.create(kinds::pods(), "default", pending).unwrap();
    std::thread::sleep(Duration::from_millis(500));
    // This change can only reach kubectl through its watch.
    store
        .modify::<()>(kinds::pods(), "default", "web-2", |pod| {
            pod["status"] =
                running_pod("web-2", "web", "web:2", "node-b", "10.1.0.9")["status"].clone();
            Ok(())
        })
        .unwrap();
    std::thread::sleep(Duration::from_secs(1));
    let out = finish(child, Duration::from_secs(1));
    let printed = text(&out);
    let rows: Vec<Vec<&str>> = printed
        .lines()
        .map(|l| l.split_whitespace().collect())
        .collect();
    assert_eq!(rows[0][..3], ["NAME", "READY", "STATUS"], "{printed}");
    assert_eq!(rows[1][..3], ["web-1", "1/1", "Running"], "{printed}");
    assert!(
        rows.iter()
            .any(|r| r[..3] == ["web-2", "0/1", "ContainerCreating"]),
        "{printed}\n{}",
        errors(&out)
    );
    assert_eq!(
        rows.last().map(|r| r[..3].to_vec()),
        Some(vec!["web-2", "1/1", "Running"]),
        "{printed}"
    );
}

#[test]
fn auth_whoami_names_the_kubeconfigs_user() {
    if !kubectl_available("auth_whoami_names_the_kubeconfigs_user") {
        return;
    }
    let sim = SimServer::start();
    let out = ok(&sim.kubectl(&["auth", "whoami", "-o", "json"]));
    let review: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(review["kind"], "SelfSubjectReview");
    assert_eq!(review["status"]["userInfo"]["username"], "flightdeck-sim");
    let table = ok(&sim.kubectl(&["auth", "whoami"]));
    assert!(
        table
            .lines()
            .any(|l| l.split_whitespace().collect::<Vec<_>>() == ["Username", "flightdeck-sim"]),
        "{table}"
    );
}

fn rollout(name: &str) -> serde_json::Value {
    json!({
        "apiVersion": "argoproj.io/v1alpha1",
        "kind": "Rollout",
        "metadata": {"name": name},
        "spec": {
            "replicas": 5,
            "selector": {"matchLabels": {"app": name}},
            "template": {"metadata": {"labels": {"app": name}},
                         "spec": {"containers": [{"name": name, "image": "web:2"}]}},
            "strategy": {"canary": {"steps": [{"setWeight": 20}, {"pause": {}}]}}
        },
        "status": {"replicas": 5, "updatedReplicas": 1, "availableReplicas": 5,
                   "currentStepIndex": 1, "phase": "Paused"}
    })
}

#[test]
fn rollouts_and_canaries_are_listed_and_patched_like_their_crds() {
    if !kubectl_available("rollouts_and_canaries_are_listed_and_patched_like_their_crds") {
        return;
    }
    let sim = SimServer::start();
    sim.store()
        .create(kinds::rollouts(), "default", rollout("web"))
        .unwrap();
    sim.store()
        .create(
            kinds::canaries(),
            "default",
            json!({
                "apiVersion": "flagger.app/v1beta1",
                "metadata": {"name": "api"},
                "spec": {"targetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "api"},
                         "analysis": {"interval": "1m", "threshold": 5, "maxWeight": 50, "stepWeight": 10}},
                "status": {"phase": "Progressing", "canaryWeight": 30,
                           "lastTransitionTime": "2026-01-01T00:00:00Z"}
            }),
        )
        .unwrap();

    let resources = ok(&sim.kubectl(&["api-resources", "--api-group", "argoproj.io"]));
    let row = resources
        .lines()
        .find(|l| l.starts_with("rollouts "))
        .unwrap_or_else(|| panic!("{resources}"));
    assert_eq!(
        row.split_whitespace().collect::<Vec<_>>()[1..],
        ["ro", "argoproj.io/v1alpha1", "true", "Rollout"]
    );

    let listed = ok(&sim.kubectl(&["get", "ro"]));
    let rows: Vec<Vec<&str>> = listed
        .lines()
        .map(|l| l.split_whitespace().collect())
        .collect();
    assert_eq!(
        rows[0],
        [
            "NAME",
            "DESIRED",
            "CURRENT",
            "UP-TO-DATE",
            "AVAILABLE",
            "AGE"
        ],
        "{listed}"
    );
    assert_eq!(rows[1][..5], ["web", "5", "5", "1", "5"], "{listed}");
    let canaries = ok(&sim.kubectl(&["get", "canaries"]));
    let rows: Vec<Vec<&str>> = canaries
        .lines()
        .map(|l| l.split_whitespace().collect())
        .collect();
    assert_eq!(
        rows[0],
        ["NAME", "STATUS", "WEIGHT", "LASTTRANSITIONTIME"],
        "{canaries}"
    );
    assert_eq!(
        rows[1],
        ["api", "Progressing", "30", "2026-01-01T00:00:00Z"],
        "{canaries}"
    );
    let described = ok(&sim.kubectl(&["describe", "rollout", "web"]));
    assert!(described.contains("Current Step Index:  1"), "{described}");

    // What `kubectl argo rollouts pause` and `abort` send: spec through the
    // main resource, abort through the status subresource.
    ok(&sim.kubectl(&[
        "patch",
        "rollout",
        "web",
        "--type",
        "merge",
        "-p",
        r#"{"spec":{"paused":true}}"#,
    ]));
    ok(&sim.kubectl(&[
        "patch",
        "rollout",
        "web",
        "--subresource",
        "status",
        "--type",
        "merge",
        "-p",
        r#"{"status":{"abort":true}}"#,
    ]));
    let ro = sim
        .store()
        .get(kinds::rollouts(), "default", "web")
        .unwrap();
    assert_eq!(ro["spec"]["paused"], true);
    assert_eq!(ro["status"]["abort"], true);
    assert_eq!(
        ro["metadata"]["generation"], 2,
        "a spec change is a new generation"
    );
    // Status sent to the main resource is dropped, as with the CRD's status subresource.
    ok(&sim.kubectl(&[
        "patch",
        "rollout",
        "web",
        "--type",
        "merge",
        "-p",
        r#"{"status":{"abort":false}}"#,
    ]));
    let ro = sim
        .store()
        .get(kinds::rollouts(), "default", "web")
        .unwrap();
    assert_eq!(ro["status"]["abort"], true);

    ok(&sim.kubectl(&[
        "patch",
        "canary",
        "api",
        "--type",
        "merge",
        "-p",
        r#"{"spec":{"skipAnalysis":true}}"#,
    ]));
    let read_back = ok(&sim.kubectl(&[
        "get",
        "canary",
        "api",
        "-o",
        "jsonpath={.spec.skipAnalysis}",
    ]));
    assert_eq!(read_back.trim(), "true");
}

/// The VirtualService's (stable, canary) weights in the argo-canary scenario.
fn checkout_weights(sim: &SimCluster) -> (i64, i64) {
    let vs = sim
        .store()
        .get(kinds::virtualservices(), "shop", "checkout")
        .unwrap();
    let w = |i: usize| {
        vs["spec"]["http"][0]["route"][i]["weight"]
            .as_i64()
            .unwrap()
    };
    (w(0), w(1))
}

#[test]
fn kubectl_argo_rollouts_writes_drive_the_sims_controller() {
    if !kubectl_available("kubectl_argo_rollouts_writes_drive_the_sims_controller") {
        return;
    }
    let sim = SimCluster::start("argo-canary", 20.0);
    let ro = |field: &str| {
        sim.store()
            .get(kinds::rollouts(), "shop", "checkout")
            .unwrap()["status"][field]
            .clone()
    };
    assert!(
        wait_until(Duration::from_secs(30), || ro("phase") == "Paused"),
        "{}",
        ro("phase")
    );
    assert_eq!(ro("currentStepIndex"), 1);
    assert_eq!(checkout_weights(&sim), (80, 20));
    let phase = ok(&sim.kubectl(&[
        "get",
        "ro",
        "checkout",
        "-n",
        "shop",
        "-o",
        "jsonpath={.status.phase}",
    ]));
    assert_eq!(phase, "Paused");

    // `kubectl argo rollouts promote`: the pause conditions cleared through
    // the status subresource.
    ok(&sim.kubectl(&[
        "patch",
        "rollout",
        "checkout",
        "-n",
        "shop",
        "--subresource",
        "status",
        "--type",
        "merge",
        "-p",
        r#"{"status":{"pauseConditions":null}}"#,
    ]));
    assert!(
        wait_until(Duration::from_secs(30), || ro("currentStepIndex") == 3),
        "{}",
        ro("currentStepIndex")
    );
    assert_eq!(checkout_weights(&sim), (60, 40));

    // `kubectl argo rollouts abort`.
    ok(&sim.kubectl(&[
        "patch",
        "rollout",
        "checkout",
        "-n",
        "shop",
        "--subresource",
        "status",
        "--type",
        "merge",
        "-p",
        r#"{"status":{"abort":true}}"#,
    ]));
    assert!(
        wait_until(Duration::from_secs(30), || ro("phase") == "Degraded"),
        "{}",
        ro("phase")
    );
    assert_eq!(ro("abort"), true);
    assert_eq!(checkout_weights(&sim), (100, 0));
    let listed = ok(&sim.kubectl(&["get", "analysisruns,analysistemplates", "-n", "shop"]));
    assert!(
        listed.contains("analysistemplate.argoproj.io/error-rate"),
        "{listed}"
    );
}

#[test]
fn kubectl_sees_flagger_walk_a_canary() {
    if !kubectl_available("kubectl_sees_flagger_walk_a_canary") {
        return;
    }
    let sim = SimCluster::start("flagger-canary", 5.0);
    let weight = || {
        ok(&sim.kubectl(&[
            "get",
            "canary",
            "payments",
            "-n",
            "pay",
            "-o",
            "jsonpath={.status.canaryWeight}",
        ]))
    };
    assert!(
        wait_until(Duration::from_secs(30), || weight() == "20"),
        "{}",
        weight()
    );
    // The next step is one interval (6 s at this speed) away.
    let listed = ok(&sim.kubectl(&["get", "canaries", "-n", "pay"]));
    let row: Vec<&str> = listed.lines().nth(1).unwrap().split_whitespace().collect();
    assert_eq!(row[..2], ["payments", "Progressing"], "{listed}");
    assert!(matches!(row[2], "20" | "40"), "{listed}");
    let described = ok(&sim.kubectl(&["describe", "canary", "payments", "-n", "pay"]));
    assert!(
        described.contains("Advance payments.pay canary weight 20"),
        "{described}"
    );
}

#[test]
fn kubectl_opens_the_loadtesters_gates_through_the_service_proxy() {
    if !kubectl_available("kubectl_opens_the_loadtesters_gates_through_the_service_proxy") {
        return;
    }
    let sim = SimCluster::start("flagger-canary", 1.0);
    let dir = tempfile::tempdir().unwrap();
    let body = dir.path().join("payload.json");
    std::fs::write(&body, r#"{"name": "payments", "namespace": "pay"}"#).unwrap();
    let body = body.to_str().unwrap();
    let proxy = "/api/v1/namespaces/pay/services/flagger-loadtester:80/proxy";
    let call =
        |path: &str| sim.kubectl(&["create", "--raw", &format!("{proxy}{path}"), "-f", body]);
    // A closed gate answers 403, which kubectl reports as an error.
    let closed = call("/gate/check");
    assert!(!closed.status.success(), "{}", text(&closed));
    assert!(errors(&closed).contains("Forbidden"), "{}", errors(&closed));
    ok(&call("/gate/open"));
    assert!(sim.shared().loadtester.is_open("", "payments", "pay"));
    assert_eq!(ok(&call("/gate/check")).trim(), "Approved");
    ok(&call("/rollback/open"));
    assert!(
        sim.shared()
            .loadtester
            .is_open("rollback.", "payments", "pay")
    );
    ok(&call("/gate/close"));
    assert!(!sim.shared().loadtester.is_open("", "payments", "pay"));
}

#[test]
fn discovery_and_watch_serve_the_rollout_kinds() {
    if !kubectl_available("discovery_and_watch_serve_the_rollout_kinds") {
        return;
    }
    let sim = SimServer::start();
    let raw = ok(&sim.kubectl(&["get", "--raw", "/apis/argoproj.io/v1alpha1"]));
    let doc: serde_json::Value = serde_json::from_str(&raw).unwrap();
    let names: Vec<&str> = doc["resources"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["name"].as_str().unwrap())
        .collect();
    for name in [
        "rollouts",
        "rollouts/status",
        "rollouts/scale",
        "analysisruns",
        "analysistemplates",
    ] {
        assert!(names.contains(&name), "{name} missing from {names:?}");
    }
    let raw = ok(&sim.kubectl(&["get", "--raw", "/apis/flagger.app/v1beta1"]));
    assert!(raw.contains("\"canaries\""), "{raw}");

    sim.store()
        .create(kinds::rollouts(), "default", rollout("web"))
        .unwrap();
    let child = sim.kubectl_spawn(&["get", "rollouts", "-w"]);
    std::thread::sleep(Duration::from_secs(2));
    // This change reaches kubectl only through its watch.
    sim.store()
        .modify::<()>(kinds::rollouts(), "default", "web", |o| {
            o["status"]["availableReplicas"] = json!(3);
            Ok(())
        })
        .unwrap();
    std::thread::sleep(Duration::from_secs(1));
    let out = finish(child, Duration::from_secs(1));
    let rows: Vec<Vec<String>> = text(&out)
        .lines()
        .map(|l| l.split_whitespace().map(str::to_string).collect())
        .collect();
    assert_eq!(
        rows.first().map(|r| r[0].as_str()),
        Some("NAME"),
        "{rows:?}"
    );
    assert_eq!(
        rows.last().map(|r| r[..5].to_vec()),
        Some(["web", "5", "5", "1", "3"].map(String::from).to_vec()),
        "{rows:?}\n{}",
        errors(&out)
    );
}
