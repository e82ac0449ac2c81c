//! A webhook sink, so the demo's notices go somewhere a captain can see:
//! `POST /sim/webhooks/{name}` keeps each body in a bounded ring (listed by
//! `GET /sim/webhooks`) and records it as a Kubernetes Event on the app, which
//! the cockpit's Events pane shows. It sits beside the API, outside its
//! authentication and faults, as a webhook receiver would.

use std::collections::VecDeque;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::response::{IntoResponse, Response};
use http::StatusCode;
use serde::Serialize;
use serde_json::{Value, json};

use super::Api;
use crate::sim::resources::kinds;

/// Where the sink is served; a webhook posts to `{PATH}/{name}`.
pub const PATH: &str = "/sim/webhooks";
/// Notices kept; older ones make room.
pub const KEPT: usize = 200;
/// A body longer than this is refused, as a webhook service would.
const MAX_BODY: usize = 64 * 1024;

/// One notice the sink received.
#[derive(Debug, Clone, Serialize)]
pub struct Received {
    /// The `{name}` it was posted to.
    pub name: String,
    /// The simulated cluster's time.
    pub at: String,
    /// `namespace/app: what happened`, as read from the body.
    pub text: String,
    pub body: Value,
}

#[derive(Debug, Default)]
pub struct Sink {
    received: Mutex<VecDeque<Received>>,
    count: AtomicU64,
}

impl Sink {
    fn keep(&self, received: Received) {
        let mut ring = self
            .received
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if ring.len() >= KEPT {
            ring.pop_front();
        }
        ring.push_back(received);
    }

    pub fn list(&self) -> Vec<Received> {
        self.received
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .iter()
            .cloned()
            .collect()
    }
}

/// The namespace, app and one line of text of a Slack or generic body.
fn read(body: &Value) -> (Option<(String, String)>, String) {
    if let Some(text) = body.get("text").and_then(Value::as_str) {
        // Slack: `shop/checkout: rollout started (…)`, first line.
        let line = text.lines().next().unwrap_or_default().to_string();
        let target = line
            .split_once(": ")
            .and_then(|(who, _)| who.split_once('/'))
            .map(|(ns, app)| (ns.to_string(), app.to_string()));
        return (target, line);
    }
    let field = |key: &str| body.get(key).and_then(Value::as_str).map(str::to_string);
    match (field("namespace"), field("app"), field("event")) {
        (Some(ns), Some(app), Some(event)) => {
            let mut line = format!("{ns}/{app}: {event}");
            if let Some(reason) = field("reason").filter(|r| !r.is_empty()) {
                line.push_str(" — ");
                line.push_str(&reason);
            }
            (Some((ns, app)), line)
        }
        _ => (None, body.to_string().chars().take(200).collect()),
    }
}

/// A Kubernetes name part: lowercase letters, digits and dashes.
fn dns_part(text: &str) -> String {
    let part: String = text
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_lowercase()
            } else {
                '-'
            }
        })
        .take(40)
        .collect();
    part.trim_matches('-').to_string()
}

pub async fn receive(State(api): State<Api>, Path(name): Path<String>, body: Bytes) -> Response {
    if body.len() > MAX_BODY {
        return (StatusCode::PAYLOAD_TOO_LARGE, "body too large").into_response();
    }
    let Ok(body) = serde_json::from_slice::<Value>(&body) else {
        return (StatusCode::BAD_REQUEST, "expected a JSON body").into_response();
    };
    let store = &api.shared.store;
    let (target, text) = read(&body);
    let at = store.now_rfc3339();
    let n = api.sink.count.fetch_add(1, Ordering::Relaxed);
    if let Some((namespace, app)) = &target {
        let involved = format!("{}-{}", dns_part(app), dns_part(&name));
        let event = json!({
            "metadata": {"name": format!("{involved}.notice-{n}")},
            "involvedObject": {"kind": "Webhook", "name": involved, "namespace": namespace},
            "reason": "NoticeReceived",
            "message": text,
            "type": "Normal",
            "source": {"component": "flightdeck-sim-webhook"},
            "firstTimestamp": at,
            "lastTimestamp": at,
            "count": 1,
        });
        // A notice about a namespace the sim does not have is still kept.
        if let Err(e) = store.create(kinds::events(), namespace, event) {
            tracing::debug!("webhook sink: no event for {namespace}/{app}: {e}");
        }
    }
    api.sink.keep(Received {
        name,
        at,
        text,
        body,
    });
    StatusCode::OK.into_response()
}

pub async fn list(State(api): State<Api>) -> Json<Vec<Received>> {
    Json(api.sink.list())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slack_and_generic_bodies_name_their_app() {
        let (target, text) = read(&json!({
            "text": "shop/checkout: rollout started (stage 1, stable 90% / canary 10%)\nvalue: 1"
        }));
        assert_eq!(target, Some(("shop".into(), "checkout".into())));
        assert_eq!(
            text,
            "shop/checkout: rollout started (stage 1, stable 90% / canary 10%)"
        );
        let (target, text) = read(&json!({
            "event": "guard-fired", "app": "checkout", "namespace": "shop", "reason": "p99 high"
        }));
        assert_eq!(target, Some(("shop".into(), "checkout".into())));
        assert_eq!(text, "shop/checkout: guard-fired — p99 high");
        assert_eq!(read(&json!([1, 2])).0, None);
    }

    #[test]
    fn the_ring_keeps_the_latest() {
        let sink = Sink::default();
        for i in 0..KEPT + 5 {
            sink.keep(Received {
                name: "slack".into(),
                at: String::new(),
                text: i.to_string(),
                body: Value::Null,
            });
        }
        let kept = sink.list();
        assert_eq!(kept.len(), KEPT);
        assert_eq!(kept[0].text, "5");
    }
}
