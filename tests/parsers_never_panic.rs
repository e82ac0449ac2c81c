//! No input from outside may panic flightdeck: every parser of files,
//! units, selectors, Prometheus answers, webhook answers and the sim's
//! request bodies and parameters is fed arbitrary and mutated input (starting
//! from the shipped files and from valid bodies) and must answer with a value
//! or an error. A panic fails the property; proptest shrinks it to the
//! smallest input that panics.
//!
//! A few hundred cases each keep CI fast; `PROPTEST_CASES=5000` digs deeper.
#![allow(clippy::unwrap_used)]

mod common;

use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{TimeZone, Utc};
use flightdeck::config::keymap::check_keymap_file;
use flightdeck::config::theme::check_theme_file;
use flightdeck::metrics::exposition;
use flightdeck::metrics::prometheus::Prometheus;
use flightdeck::rollout::plan::Plan;
use flightdeck::sim::Scenario;
use flightdeck::sim::resources::kinds;
use flightdeck::units;
use flightdeck::workers::notify::retry_after;
use proptest::prelude::*;
use serde_json::{Value, json};

use common::{SimServer, shipped_files};

/// `PROPTEST_CASES` when set, else `default`.
fn config(default: u32) -> ProptestConfig {
    let cases = std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default);
    ProptestConfig {
        cases,
        failure_persistence: None,
        ..ProptestConfig::default()
    }
}

/// Values people (or a bad generator) put where another was expected.
fn odd_text() -> impl Strategy<Value = String> {
    prop_oneof![
        Just(String::new()),
        Just("-1".to_string()),
        Just("0".to_string()),
        Just("99999999999999999999h".to_string()),
        Just("1e400".to_string()),
        Just("NaN".to_string()),
        Just("inf".to_string()),
        Just("18446744073709551616".to_string()),
        Just("-9223372036854775809".to_string()),
        Just("\u{1b}[2J\u{7}".to_string()),
        Just("a in (b".to_string()),
        Just("[[[[".to_string()),
        Just("{\"".to_string()),
        Just("é😀\u{0}".to_string()),
        "[0-9.]{1,30}[a-zA-Z]{0,3}",
        "\\PC{0,40}",
        any::<String>(),
    ]
}

/// Arrays in arrays, `depth` deep.
fn nested(depth: usize) -> Value {
    (0..depth).fold(json!([]), |inner, _| json!([inner]))
}

/// A JSON value in place of whatever a field held.
fn odd_json() -> impl Strategy<Value = Value> {
    prop_oneof![
        odd_text().prop_map(Value::String),
        any::<i64>().prop_map(Value::from),
        any::<f64>().prop_map(Value::from),
        Just(Value::Null),
        Just(json!(u64::MAX)),
        Just(json!([])),
        Just(json!({})),
        Just(json!([{"name": null}, {"$patch": "delete"}, 7])),
        Just(json!({"$patch": "replace"})),
        Just(json!({"$retainKeys": ["x"], "$patch": "merge"})),
        Just(nested(64)),
    ]
}

/// What happens to a text: bytes replaced, inserted, removed, or the tail cut.
#[derive(Debug, Clone)]
enum Edit {
    Replace(usize, u8),
    Insert(usize, String),
    Remove(usize, usize),
    Truncate(usize),
}

fn edit() -> impl Strategy<Value = Edit> {
    prop_oneof![
        (any::<usize>(), any::<u8>()).prop_map(|(i, b)| Edit::Replace(i, b)),
        (any::<usize>(), odd_text()).prop_map(|(i, s)| Edit::Insert(i, s)),
        (any::<usize>(), 1usize..40).prop_map(|(i, n)| Edit::Remove(i, n)),
        any::<usize>().prop_map(Edit::Truncate),
    ]
}

fn apply_edits(text: &str, edits: &[Edit]) -> String {
    let mut bytes = text.as_bytes().to_vec();
    for e in edits {
        let at = |i: usize| if bytes.is_empty() { 0 } else { i % bytes.len() };
        match e {
            Edit::Replace(i, b) => {
                if !bytes.is_empty() {
                    let i = at(*i);
                    bytes[i] = *b;
                }
            }
            Edit::Insert(i, s) => {
                let i = at(*i);
                let tail = bytes.split_off(i);
                bytes.extend(s.bytes());
                bytes.extend(tail);
            }
            Edit::Remove(i, n) => {
                let i = at(*i);
                let end = (i + n).min(bytes.len());
                bytes.drain(i..end);
            }
            Edit::Truncate(i) => {
                let i = at(*i);
                bytes.truncate(i);
            }
        }
    }
    String::from_utf8_lossy(&bytes).into_owned()
}

/// What happens to one entry (object key or array element) of a document.
#[derive(Debug, Clone)]
enum KeyEdit {
    /// The n-th entry (in document order) holds another value.
    Set(usize, Value),
    /// The n-th entry goes.
    Drop(usize),
    /// The n-th entry, if a key, is renamed.
    Rename(usize, String),
}

fn key_edit() -> impl Strategy<Value = KeyEdit> {
    prop_oneof![
        3 => (any::<usize>(), odd_json()).prop_map(|(i, v)| KeyEdit::Set(i, v)),
        1 => any::<usize>().prop_map(KeyEdit::Drop),
        1 => (any::<usize>(), "[a-zA-Z_$-]{0,12}").prop_map(|(i, k)| KeyEdit::Rename(i, k)),
    ]
}

#[derive(Debug, Clone)]
enum Seg {
    Key(String),
    Index(usize),
}

fn entries(value: &Value, at: &mut Vec<Seg>, out: &mut Vec<Vec<Seg>>) {
    match value {
        Value::Object(map) => {
            for (k, v) in map {
                at.push(Seg::Key(k.clone()));
                out.push(at.clone());
                entries(v, at, out);
                at.pop();
            }
        }
        Value::Array(items) => {
            for (i, v) in items.iter().enumerate() {
                at.push(Seg::Index(i));
                out.push(at.clone());
                entries(v, at, out);
                at.pop();
            }
        }
        _ => {}
    }
}

fn edit_json(doc: &mut Value, e: &KeyEdit) {
    let mut all = Vec::new();
    entries(doc, &mut Vec::new(), &mut all);
    if all.is_empty() {
        if let KeyEdit::Set(_, v) = e {
            *doc = v.clone();
        }
        return;
    }
    let n = match e {
        KeyEdit::Set(n, _) | KeyEdit::Drop(n) | KeyEdit::Rename(n, _) => n % all.len(),
    };
    let (last, parents) = all[n].split_last().unwrap();
    let mut parent = &mut *doc;
    for seg in parents {
        parent = match seg {
            Seg::Key(k) => parent.get_mut(k.as_str()).unwrap(),
            Seg::Index(i) => parent.get_mut(*i).unwrap(),
        };
    }
    match (e, last, parent) {
        (KeyEdit::Set(_, v), Seg::Key(k), Value::Object(map)) => {
            map.insert(k.clone(), v.clone());
        }
        (KeyEdit::Set(_, v), Seg::Index(i), Value::Array(items)) => items[*i] = v.clone(),
        (KeyEdit::Drop(_), Seg::Key(k), Value::Object(map)) => {
            map.remove(k);
        }
        (KeyEdit::Drop(_), Seg::Index(i), Value::Array(items)) => {
            items.remove(*i);
        }
        (KeyEdit::Rename(_, to), Seg::Key(k), Value::Object(map)) => {
            if let Some(v) = map.remove(k) {
                map.insert(to.clone(), v);
            }
        }
        _ => {}
    }
}

/// `text` (TOML) with `edits` made to its keys and values; the text itself
/// when it is not TOML or the edit has no TOML form (a null).
fn edit_toml(text: &str, edits: &[KeyEdit]) -> String {
    let Ok(doc) = toml::from_str::<toml::Value>(text) else {
        return text.to_string();
    };
    let Ok(mut doc) = serde_json::to_value(doc) else {
        return text.to_string();
    };
    for e in edits {
        edit_json(&mut doc, e);
    }
    toml::Value::try_from(doc)
        .ok()
        .and_then(|v| toml::to_string(&v).ok())
        .unwrap_or_else(|| text.to_string())
}

/// A shipped file of `dir`, then edited as text or as TOML.
fn mutated_file(dir: &'static str) -> impl Strategy<Value = (PathBuf, String)> {
    let files = shipped_files(dir);
    (
        0..files.len(),
        prop::collection::vec(key_edit(), 0..4),
        prop::collection::vec(edit(), 0..4),
    )
        .prop_map(move |(i, keys, bytes)| {
            let (path, text) = &files[i];
            let text = apply_edits(&edit_toml(text, &keys), &bytes);
            (path.clone(), text)
        })
}

proptest! {
    #![proptest_config(config(256))]

    #[test]
    fn plans_never_panic((path, text) in mutated_file("assets/plans")) {
        let _ = Plan::parse(&path, &text);
    }

    #[test]
    fn scenarios_never_panic((path, text) in mutated_file("assets/scenarios")) {
        let _ = Scenario::parse(&path, &text);
    }

    #[test]
    fn themes_never_panic((path, text) in mutated_file("themes")) {
        let _ = check_theme_file(&path, &text, None);
    }

    #[test]
    fn keymaps_never_panic((path, text) in mutated_file("keymaps")) {
        let _ = check_keymap_file(&path, &text, "default");
    }

    #[test]
    fn durations_and_quantities_never_panic(text in odd_text()) {
        let _ = units::parse_duration(&text);
        let _ = units::parse_bytes(&text);
        let _ = units::parse_millicores(&text);
    }

    #[test]
    fn huge_durations_are_errors(n in "[1-9][0-9]{25,40}", unit in "(ms|s|m|h|d)") {
        let text = format!("{n}{unit}");
        prop_assert!(units::parse_duration(&text).is_err(), "{text} parsed");
    }

    #[test]
    fn retry_after_never_panics(text in odd_text()) {
        let now = Utc.timestamp_opt(1_700_000_000, 0).unwrap();
        let wait = retry_after(&text, now);
        let trimmed = text.trim();
        if !trimmed.is_empty() && trimmed.bytes().all(|b| b.is_ascii_digit()) {
            prop_assert!(wait.is_some(), "{text:?} is a number of seconds");
        }
    }

    #[test]
    fn exposition_never_panics(edits in prop::collection::vec(edit(), 0..6)) {
        let text = apply_edits(EXPOSITION, &edits);
        let _ = exposition::parse(&text);
    }

    #[test]
    fn exposition_of_any_text_never_panics(text in "\\PC{0,200}") {
        let _ = exposition::parse(&text);
    }
}

/// A scrape with every line kind: help, type, counters, a histogram, labels
/// with escapes, timestamps and special values.
const EXPOSITION: &str = r#"# HELP http_requests_total Requests served.
# TYPE http_requests_total counter
http_requests_total{version="stable",code="200"} 1027 1700000000000
http_requests_total{version="canary",code="500",path="/a\"b\\c\n"} 3
# TYPE http_request_duration_seconds histogram
http_request_duration_seconds_bucket{version="stable",le="0.1"} 900
http_request_duration_seconds_bucket{version="stable",le="+Inf"} 1027
http_request_duration_seconds_sum{version="stable"} 52.3
http_request_duration_seconds_count{version="stable"} 1027
process_resident_memory_bytes 1.2e+08
up NaN
"#;

/// Valid Prometheus answers to start mutating from.
fn prometheus_answers() -> Vec<Value> {
    vec![
        json!({"status": "success", "data": {"resultType": "vector", "result": [
            {"metric": {"version": "canary"}, "value": [1_700_000_000.5, "0.0123"]},
            {"metric": {}, "value": [1_700_000_000, "+Inf"]}
        ]}}),
        json!({"status": "success", "data": {"resultType": "scalar", "result": [1_700_000_000, "NaN"]}}),
        json!({"status": "success", "data": {"resultType": "matrix", "result": [
            {"metric": {"version": "stable"}, "values": [[1_700_000_000, "1"], [1_700_000_015, "2.5"]]}
        ]}}),
        json!({"status": "error", "errorType": "bad_data", "error": "parse error"}),
    ]
}

/// A loopback server answering whatever status and body the case sets.
fn answering_server(runtime: &tokio::runtime::Runtime) -> (String, Arc<Mutex<(u16, String)>>) {
    use axum::extract::State;
    use axum::http::StatusCode;
    let answer = Arc::new(Mutex::new((200, String::new())));
    let app = axum::Router::new()
        .fallback(|State(a): State<Arc<Mutex<(u16, String)>>>| async move {
            let (status, body) = a.lock().unwrap().clone();
            (StatusCode::from_u16(status).unwrap_or(StatusCode::OK), body)
        })
        .with_state(answer.clone());
    let listener = runtime
        .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
        .unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    runtime.spawn(async move { axum::serve(listener, app).await });
    (url, answer)
}

#[test]
fn prometheus_answers_never_panic() {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let (url, answer) = answering_server(&runtime);
    let client = Prometheus::new(&url, Duration::from_secs(10)).unwrap();
    let answers = prometheus_answers();
    let strategy = (
        0..answers.len(),
        prop::sample::select(vec![200u16, 400, 422, 500, 503]),
        prop::collection::vec(key_edit(), 0..4),
        prop::collection::vec(edit(), 0..3),
    );
    let mut runner = proptest::test_runner::TestRunner::new(config(256));
    runner
        .run(&strategy, |(i, status, keys, bytes)| {
            let mut doc = answers[i].clone();
            for e in &keys {
                edit_json(&mut doc, e);
            }
            let body = apply_edits(&doc.to_string(), &bytes);
            *answer.lock().unwrap() = (status, body);
            let now = Utc.timestamp_opt(1_700_000_100, 0).unwrap();
            runtime.block_on(async {
                let _ = client.query("up", None).await;
                let _ = client.query_value("up").await;
                let _ = client
                    .query_range("up", now, now, Duration::from_secs(15))
                    .await;
            });
            Ok(())
        })
        .unwrap();
}

/// Requests a client could send the sim: a method, a path, a query and a
/// body of a content type.
#[derive(Debug, Clone)]
struct SimRequest {
    method: &'static str,
    path: &'static str,
    query: Vec<(&'static str, String)>,
    content_type: &'static str,
    body: String,
}

const PATHS: &[&str] = &[
    "/api/v1/namespaces/default/configmaps",
    "/api/v1/namespaces/default/configmaps/cm",
    "/api/v1/namespaces/default/pods",
    "/api/v1/namespaces/default/pods/web-1",
    "/api/v1/namespaces/default/pods/web-1/log",
    "/api/v1/namespaces/default/pods/nobody/log",
    "/api/v1/pods",
    "/api/v1/namespaces",
    "/api/v1/namespaces/default",
    "/apis/apps/v1/deployments",
    "/apis/apps/v1/namespaces/default/deployments",
    "/apis/apps/v1/namespaces/default/deployments/web",
    "/apis/apps/v1/namespaces/default/deployments/web/scale",
    "/apis/apps/v1/namespaces/default/deployments/web/status",
    "/apis/coordination.k8s.io/v1/namespaces/default/leases/helm",
    "/api/v1/namespaces/default/events",
    "/apis/example.com/v1/widgets",
    "/api/v1/namespaces/default/services/web/proxy/metrics",
    "/api/v1/namespaces/%ff/pods/..%2f",
];

const PARAMS: &[&str] = &[
    "labelSelector",
    "fieldSelector",
    "limit",
    "continue",
    "resourceVersion",
    "resourceVersionMatch",
    "timeoutSeconds",
    "tailLines",
    "sinceSeconds",
    "sinceTime",
    "limitBytes",
    "container",
    "previous",
    "timestamps",
    "dryRun",
    "fieldManager",
    "force",
    "propagationPolicy",
    "gracePeriodSeconds",
    "includeObject",
];

const CONTENT_TYPES: &[&str] = &[
    "application/json",
    "application/merge-patch+json",
    "application/json-patch+json",
    "application/strategic-merge-patch+json",
    "application/apply-patch+yaml",
    "text/plain",
    "",
];

fn selector_text() -> impl Strategy<Value = String> {
    prop_oneof![
        odd_text(),
        "[a-z.!=,() /-]{0,30}",
        Just("app in (web,api),tier notin (db),!legacy,env".to_string()),
        Just("metadata.name=web-1,status.phase!=Running".to_string()),
        Just("spec.nodeName==,metadata.namespace=default".to_string()),
    ]
}

/// Valid bodies to start from.
fn bodies() -> Vec<Value> {
    vec![
        common::deployment("web", "shop/web:1.0", 3),
        json!({"metadata": {"name": "cm", "labels": {"a": "b"}}, "data": {"k": "v"}}),
        json!({"spec": {"replicas": 4}}),
        json!([{"op": "replace", "path": "/spec/replicas", "value": 2},
               {"op": "add", "path": "/metadata/labels/x", "value": "y"},
               {"op": "test", "path": "/spec/replicas", "value": 2},
               {"op": "move", "from": "/metadata/labels/x", "path": "/metadata/labels/z"}]),
        json!({"spec": {"template": {"spec": {
            "containers": [{"name": "app", "image": "shop/web:2.0"}, {"name": "side", "$patch": "delete"}],
            "$setElementOrder/containers": [{"name": "app"}]
        }}}}),
        json!({"metadata": {"labels": {"a": null}, "$retainKeys": ["labels"]}, "$patch": "merge"}),
        json!({"spec": {"replicas": 9}, "kind": "Scale", "apiVersion": "autoscaling/v1",
               "metadata": {"name": "web", "namespace": "default"}}),
        json!({"metadata": {"name": "helm"}, "spec": {"holderIdentity": "ana", "leaseDurationSeconds": 15}}),
    ]
}

fn sim_request() -> impl Strategy<Value = SimRequest> {
    let bodies = bodies();
    (
        prop::sample::select(vec!["GET", "POST", "PUT", "PATCH", "DELETE"]),
        prop::sample::select(PATHS.to_vec()),
        prop::collection::vec(
            (prop::sample::select(PARAMS.to_vec()), selector_text()),
            0..4,
        ),
        prop::sample::select(CONTENT_TYPES.to_vec()),
        0..bodies.len(),
        prop::collection::vec(key_edit(), 0..4),
        prop::collection::vec(edit(), 0..2),
    )
        .prop_map(move |(method, path, query, content_type, i, keys, bytes)| {
            let mut doc = bodies[i].clone();
            for e in &keys {
                edit_json(&mut doc, e);
            }
            SimRequest {
                method,
                path,
                query,
                content_type,
                body: apply_edits(&doc.to_string(), &bytes),
            }
        })
}

/// Puts back what earlier cases may have deleted or bent.
fn seed(sim: &SimServer) {
    let store = sim.store();
    let _ = store.create(
        kinds::deployments(),
        "default",
        common::deployment("web", "shop/web:1.0", 3),
    );
    let _ = store.create(
        kinds::pods(),
        "default",
        common::running_pod("web-1", "web", "shop/web:1.0", "node-1", "10.0.0.5"),
    );
    let _ = store.create(
        kinds::configmaps(),
        "default",
        json!({"metadata": {"name": "cm"}, "data": {"k": "v"}}),
    );
}

#[test]
fn sim_requests_never_panic_and_errors_are_status() {
    let sim = SimServer::start();
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(20))
        .build()
        .unwrap();
    // Answers by status class, to show the cases reach the handlers and do
    // not all stop at the first check.
    let seen = Mutex::new([0u32; 6]);
    let mut runner = proptest::test_runner::TestRunner::new(config(256));
    runner
        .run(&sim_request(), |req| {
            seed(&sim);
            let url = format!("{}{}", sim.url(), req.path);
            let method = reqwest::Method::from_bytes(req.method.as_bytes()).unwrap();
            let (status, body) = runtime.block_on(async {
                let mut builder = http.request(method, &url).query(&req.query);
                if !req.content_type.is_empty() {
                    builder = builder.header("content-type", req.content_type);
                }
                let response = builder
                    .body(req.body.clone())
                    .send()
                    .await
                    .map_err(|e| TestCaseError::fail(format!("no answer (a panic?): {e}")))?;
                let status = response.status().as_u16();
                let body = response
                    .text()
                    .await
                    .map_err(|e| TestCaseError::fail(format!("answer cut (a panic?): {e}")))?;
                Ok::<_, TestCaseError>((status, body))
            })?;
            prop_assert!((200..600).contains(&status));
            seen.lock().unwrap()[usize::from(status / 100)] += 1;
            if status >= 400 {
                let parsed: Value = serde_json::from_str(&body).map_err(|_| {
                    TestCaseError::fail(format!("{status} without a Status: {body}"))
                })?;
                prop_assert_eq!(parsed["kind"].as_str(), Some("Status"), "{}", body);
                prop_assert_eq!(parsed["code"].as_u64(), Some(u64::from(status)), "{}", body);
            }
            Ok(())
        })
        .unwrap();
    let seen = seen.into_inner().unwrap();
    eprintln!("answers by class (1xx..5xx): {:?}", &seen[1..]);
    assert!(seen[2] > 0, "no request was accepted: {seen:?}");
    assert!(seen[4] > 0, "no request was refused: {seen:?}");
}

/// The status and `Retry-After` a case's webhook answers.
type WebhookAnswer = Arc<Mutex<(u16, Option<String>)>>;

/// A loopback webhook answering whatever status and `Retry-After` the case sets.
fn answering_webhook(runtime: &tokio::runtime::Runtime) -> (String, WebhookAnswer) {
    use axum::extract::State;
    use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
    let answer = Arc::new(Mutex::new((200, None)));
    let app = axum::Router::new()
        .fallback(|State(a): State<WebhookAnswer>| async move {
            let (status, retry_after) = a.lock().unwrap().clone();
            let mut headers = HeaderMap::new();
            if let Some(v) = retry_after.and_then(|v| HeaderValue::from_str(&v).ok()) {
                headers.insert(header::RETRY_AFTER, v);
            }
            (StatusCode::from_u16(status).unwrap(), headers)
        })
        .with_state(answer.clone());
    let listener = runtime
        .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
        .unwrap();
    let url = format!("http://{}/hook/s3cr3t", listener.local_addr().unwrap());
    runtime.spawn(async move { axum::serve(listener, app).await });
    (url, answer)
}

#[test]
fn webhook_answers_never_panic_and_are_judged_by_status() {
    use flightdeck::rollout::plan::WebhookKind;
    use flightdeck::workers::notify::{
        Delivery, Notice, NoticeKind, Notifier, NotifyOptions, Webhook,
    };
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let (url, answer) = answering_webhook(&runtime);
    let options = NotifyOptions {
        queue: 4,
        attempts: 2,
        first_retry: Duration::from_millis(5),
        max_retry: Duration::from_millis(10),
        timeout: Duration::from_secs(10),
        open_after: 1000,
        cool_down: Duration::from_millis(1),
        max_retry_after: Duration::from_millis(30),
    };
    let strategy = (200u16..600, prop::option::of(odd_text()));
    let mut runner = proptest::test_runner::TestRunner::new(config(64));
    runner
        .run(&strategy, |(status, retry_after)| {
            *answer.lock().unwrap() = (status, retry_after);
            let verdict = runtime.block_on(async {
                let (reports_tx, mut reports) = tokio::sync::mpsc::channel(8);
                let hooks = vec![Webhook {
                    kind: WebhookKind::Generic,
                    url: url.clone(),
                }];
                let (notifier, tasks) = Notifier::spawn(hooks, &options, reports_tx);
                notifier.send(&Notice::new(NoticeKind::Started, "checkout", "shop", ""));
                drop(notifier);
                // The task ends once its queue is empty: every report is in.
                for task in tasks {
                    task.await.unwrap();
                }
                reports.try_recv().ok()
            });
            let refused = (400..500).contains(&status) && status != 408 && status != 429;
            match verdict {
                None => prop_assert!((200..300).contains(&status), "{status} went unreported"),
                Some(Delivery::Refused { status: s, .. }) => {
                    prop_assert!(refused, "{status} was refused");
                    prop_assert_eq!(s, status);
                }
                Some(Delivery::Failed { attempts, .. }) => {
                    prop_assert!(!refused && status >= 300, "{status} was retried");
                    prop_assert_eq!(attempts, 2);
                }
                Some(other) => prop_assert!(false, "{status}: {other:?}"),
            }
            Ok(())
        })
        .unwrap();
}
