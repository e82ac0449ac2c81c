//! Watches: newline-delimited watch events streamed from the store's history
//! and live feed, filtered by namespace and selectors, with bookmarks, a
//! timeout, and the faults that cut watches.

use std::collections::HashSet;
use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::response::{IntoResponse, Response};
use http::{HeaderValue, StatusCode, header};
use serde_json::{Value, json};
use tokio::sync::broadcast::{self, error::RecvError};

use super::crud::present;
use super::encoded::Encoded;
use super::list::Filter;
use super::routes::{Request, Target};
use super::status::ApiError;
use super::table::{self, IncludeObject};
use crate::sim::Shared;
use crate::sim::store::{Change, ChangeKind, StoreError};

/// How often an open watch checks whether the `watch_drops` fault moved.
const DROP_CHECK: Duration = Duration::from_millis(100);

/// How a watch was asked to start.
enum Start {
    /// No version, or "0": the current objects as ADDED, then live.
    Snapshot,
    /// A version: the changes after it, then live.
    From(u64),
}

struct Encoder {
    target: Target,
    /// The version the client asked for, e.g. `apps/v1`.
    api_version: String,
    table: Option<IncludeObject>,
    shared: Shared,
    encoded: Arc<Encoded>,
}

impl Encoder {
    fn event(&self, kind: &str, object: &Arc<Value>) -> Bytes {
        if self.table.is_none()
            && object.get("apiVersion").and_then(Value::as_str) == Some(self.api_version.as_str())
        {
            // Every watcher of this object shares its one encoding; the
            // envelope is written as `line` writes it (keys in order).
            let json = self.encoded.lock().json(object);
            let mut out = Vec::with_capacity(json.len() + kind.len() + 24);
            out.extend_from_slice(b"{\"object\":");
            out.extend_from_slice(&json);
            out.extend_from_slice(b",\"type\":\"");
            out.extend_from_slice(kind.as_bytes());
            out.extend_from_slice(b"\"}\n");
            return Bytes::from(out);
        }
        let object = present(object, &self.target);
        let object = match self.table {
            Some(include) => table::table(
                self.target.res,
                [&object],
                include,
                self.shared.store.now(),
                &json!({}),
            ),
            None => object,
        };
        line(&json!({ "type": kind, "object": object }))
    }

    fn bookmark(&self, resource_version: u64) -> Bytes {
        line(&json!({
            "type": "BOOKMARK",
            "object": {
                "kind": self.target.res.kind,
                "apiVersion": self.target.api_version(),
                "metadata": { "resourceVersion": resource_version.to_string() },
            },
        }))
    }

    /// The bookmark that ends the initial events of a streaming list.
    fn initial_events_end(&self, resource_version: u64) -> Bytes {
        line(&json!({
            "type": "BOOKMARK",
            "object": {
                "kind": self.target.res.kind,
                "apiVersion": self.target.api_version(),
                "metadata": {
                    "resourceVersion": resource_version.to_string(),
                    "annotations": { "k8s.io/initial-events-end": "true" },
                },
            },
        }))
    }
}

fn line(event: &Value) -> Bytes {
    let mut out = event.to_string().into_bytes();
    out.push(b'\n');
    Bytes::from(out)
}

/// Which objects the client holds, so that an object leaving the selector is
/// reported as DELETED and one entering it as ADDED. Without selectors every
/// change passes through as it is.
struct Matcher {
    filter: Filter,
    target: Target,
    held: Option<HashSet<(String, String)>>,
}

impl Matcher {
    fn relevant(&self, change: &Change) -> bool {
        std::ptr::eq(change.resource, self.target.res)
            || (change.resource.group == self.target.res.group
                && change.resource.plural == self.target.res.plural)
    }

    fn classify(&mut self, change: &Change) -> Option<&'static str> {
        if !self.relevant(change) {
            return None;
        }
        if let Some(ns) = &self.target.namespace
            && *ns != change.namespace
        {
            return None;
        }
        let matches = self.filter.matches(&change.object);
        let Some(held) = &mut self.held else {
            return Some(change.kind.as_watch_type());
        };
        let key = (change.namespace.clone(), change.name.clone());
        match change.kind {
            ChangeKind::Added => (matches && held.insert(key)).then_some("ADDED"),
            ChangeKind::Modified if matches => Some(if held.insert(key) {
                "ADDED"
            } else {
                "MODIFIED"
            }),
            ChangeKind::Modified => held.remove(&key).then_some("DELETED"),
            ChangeKind::Deleted => (held.remove(&key) || matches).then_some("DELETED"),
        }
    }
}

fn start_of(req: &Request) -> Result<Start, ApiError> {
    match req.params.get("resourceVersion") {
        None | Some("" | "0") => Ok(Start::Snapshot),
        Some(v) => v
            .parse()
            .map(Start::From)
            .map_err(|_| ApiError::bad_request(format!("invalid resource version: {v:?}"))),
    }
}

fn stream_response(body: Body) -> Response {
    let mut response = Response::new(body);
    *response.status_mut() = StatusCode::OK;
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    response
}

pub fn watch(req: &Request) -> Response {
    open(req).unwrap_or_else(IntoResponse::into_response)
}

fn open(req: &Request) -> Result<Response, ApiError> {
    let filter = Filter::from_request(req)?;
    let start = start_of(req)?;
    let timeout = req
        .params
        .number::<u64>("timeoutSeconds")?
        .map_or(req.api.opts.watch_timeout, Duration::from_secs);
    let bookmarks = req.params.flag("allowWatchBookmarks");
    let store = req.api.shared.store.clone();
    let t = req.target.clone();
    let encoder = Encoder {
        api_version: t.api_version(),
        encoded: req.api.encoded.clone(),
        target: t.clone(),
        table: req.table,
        shared: req.api.shared.clone(),
    };
    let mut matcher = Matcher {
        held: (!filter.is_empty()).then(HashSet::new),
        filter,
        target: t.clone(),
    };
    let mut first: Vec<Bytes> = Vec::new();
    let (live, mut last_rv) = match start {
        Start::Snapshot => {
            let snap = store.snapshot(t.res, t.namespace.as_deref());
            for object in &snap.objects {
                if matcher.filter.matches(object) {
                    if let (Some(held), Some((ns, name))) = (&mut matcher.held, key(object)) {
                        held.insert((ns, name));
                    }
                    first.push(encoder.event("ADDED", object));
                }
            }
            if req.params.flag("sendInitialEvents") {
                first.push(encoder.initial_events_end(snap.resource_version));
            }
            (snap.live, snap.resource_version)
        }
        Start::From(since) => {
            if let Some(held) = &mut matcher.held {
                let (objects, _) = store.list(t.res, t.namespace.as_deref());
                held.extend(
                    objects
                        .iter()
                        .filter(|o| matcher.filter.matches(o))
                        .filter_map(|o| key(o)),
                );
            }
            match store.watch_from(since) {
                Ok(w) => {
                    let mut last = since;
                    for change in &w.backlog {
                        last = last.max(change.resource_version);
                        if let Some(kind) = matcher.classify(change) {
                            first.push(encoder.event(kind, &change.object));
                        }
                    }
                    (w.live, last.max(since))
                }
                Err(err @ StoreError::Gone { .. }) => {
                    // A real server answers 200 and a single ERROR event.
                    let event = line(
                        &json!({ "type": "ERROR", "object": ApiError::from(err).to_status() }),
                    );
                    return Ok(stream_response(Body::from(event)));
                }
                Err(err) => return Err(err.into()),
            }
        }
    };
    let faults = req.api.shared.faults.clone();
    let drops_at_start = faults.current().watch_drops;
    let bookmark_every = req.api.opts.bookmark_interval;
    let stream = async_stream::stream! {
        for chunk in first {
            yield Ok::<Bytes, Infallible>(chunk);
        }
        let mut live: broadcast::Receiver<Arc<Change>> = live;
        let deadline = tokio::time::Instant::now() + timeout;
        let mut drop_check = tokio::time::interval(DROP_CHECK);
        let mut bookmark = tokio::time::interval_at(tokio::time::Instant::now() + bookmark_every, bookmark_every);
        loop {
            tokio::select! {
                () = tokio::time::sleep_until(deadline) => break,
                _ = drop_check.tick() => {
                    if faults.current().watch_drops != drops_at_start {
                        break;
                    }
                }
                _ = bookmark.tick(), if bookmarks => {
                    yield Ok(encoder.bookmark(last_rv));
                }
                change = live.recv() => match change {
                    Ok(change) => {
                        if change.resource_version <= last_rv {
                            continue;
                        }
                        last_rv = change.resource_version;
                        if let Some(kind) = matcher.classify(&change) {
                            yield Ok(encoder.event(kind, &change.object));
                        }
                    }
                    // A watcher that fell behind is closed; its client re-lists.
                    Err(RecvError::Lagged(_) | RecvError::Closed) => break,
                },
            }
        }
    };
    Ok(stream_response(Body::from_stream(stream)))
}

fn key(object: &Value) -> Option<(String, String)> {
    let meta = object.get("metadata")?;
    let name = meta.get("name")?.as_str()?.to_string();
    let ns = meta
        .get("namespace")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string();
    Some((ns, name))
}
