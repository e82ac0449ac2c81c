//! core/v1 Events, recorded the way Kubernetes' event recorder does.
//!
//! A repeat of the same reason and message about the same object bumps `count`
//! and `lastTimestamp` of one Event instead of adding another, so a crash loop
//! leaves one `BackOff` Event with a growing count. The name is
//! `{object}.{hex nanoseconds}` of the first occurrence on the sim clock, as a
//! real cluster names them, so `kubectl get events` and `describe` list an
//! object's Events in the order they happened and a seeded run names them the same.
//! [`EventTtl`] deletes Events not seen for an hour of sim time, as the API
//! server's event TTL does, so a long session stays bounded.

use std::time::Duration;

use chrono::{DateTime, Utc};
use serde_json::{Value, json};

use super::{name, namespace, parse_timestamp, timestamp, uid};
use crate::sim::Store;
use crate::sim::resources::kinds;
use crate::sim::store::StoreError;
use crate::sim::world::{Controller, TickCtx};

/// How long an Event lives after it was last seen.
pub const EVENT_TTL: Duration = Duration::from_secs(3600);
/// How often expired Events are swept.
const SWEEP_EVERY: Duration = Duration::from_secs(60);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventType {
    Normal,
    Warning,
}

impl EventType {
    fn as_str(self) -> &'static str {
        match self {
            EventType::Normal => "Normal",
            EventType::Warning => "Warning",
        }
    }
}

/// Who reports an Event: the component and, for the kubelet, its node.
#[derive(Debug, Clone, Copy)]
pub struct Source<'a> {
    pub component: &'a str,
    pub host: Option<&'a str>,
}

impl<'a> Source<'a> {
    pub const fn component(component: &'a str) -> Self {
        Self {
            component,
            host: None,
        }
    }

    pub const fn kubelet(node: &'a str) -> Self {
        Self {
            component: "kubelet",
            host: Some(node),
        }
    }
}

/// One thing that happened to an object.
pub struct Event<'a> {
    pub object: &'a Value,
    /// `spec.containers{name}` for container events.
    pub field_path: Option<&'a str>,
    pub kind: EventType,
    pub reason: &'a str,
    pub message: &'a str,
    pub source: Source<'a>,
}

/// Records an Event, or counts a repeat of one. Failures (the namespace being
/// deleted under us) are dropped: an Event is best effort, as in Kubernetes.
pub fn record(store: &Store, now: DateTime<Utc>, event: &Event<'_>) {
    let object = event.object;
    let ns = match namespace(object) {
        "" => "default",
        ns => ns,
    };
    let stamp = timestamp(now);
    // A repeat is the same kind of Event about the same object: find it among
    // the object's Events (named `{object}.…`) and count it.
    let same = |e: &Value| {
        e.pointer("/involvedObject/uid").and_then(Value::as_str) == Some(uid(object))
            && e.pointer("/involvedObject/fieldPath")
                .and_then(Value::as_str)
                == event.field_path
            && e.get("type").and_then(Value::as_str) == Some(event.kind.as_str())
            && e.get("reason").and_then(Value::as_str) == Some(event.reason)
            && e.get("message").and_then(Value::as_str) == Some(event.message)
    };
    let prefix = format!("{}.", name(object));
    if let Some(repeat) = store
        .list_prefixed(kinds::events(), ns, &prefix)
        .into_iter()
        .find(|e| same(e))
    {
        let _ = store.modify::<()>(kinds::events(), ns, super::name(&repeat), |e| {
            let count = e.get("count").and_then(Value::as_i64).unwrap_or(1);
            e["count"] = json!(count + 1);
            e["lastTimestamp"] = json!(stamp);
            Ok(())
        });
        return;
    }
    let mut involved = json!({
        "kind": object.get("kind").cloned().unwrap_or(Value::Null),
        "name": name(object),
        "uid": uid(object),
        "apiVersion": object.get("apiVersion").cloned().unwrap_or(Value::Null),
    });
    if let Some(rv) = object.pointer("/metadata/resourceVersion") {
        involved["resourceVersion"] = rv.clone();
    }
    if !namespace(object).is_empty() {
        involved["namespace"] = json!(namespace(object));
    }
    if let Some(path) = event.field_path {
        involved["fieldPath"] = json!(path);
    }
    let mut source = json!({"component": event.source.component});
    if let Some(host) = event.source.host {
        source["host"] = json!(host);
    }
    let body = json!({
        "metadata": {"namespace": ns},
        "involvedObject": involved,
        "reason": event.reason,
        "message": event.message,
        "type": event.kind.as_str(),
        "source": source,
        "reportingComponent": event.source.component,
        "reportingInstance": event.source.host.unwrap_or(""),
        "firstTimestamp": stamp,
        "lastTimestamp": stamp,
        "count": 1,
        "eventTime": null,
    });
    // Named as the API server's recorder names them, by the moment in
    // nanoseconds, so an object's Events list in the order they happened; the
    // next free nanosecond breaks a tie within one tick.
    let mut nanos = now.timestamp_nanos_opt().unwrap_or_default();
    loop {
        let mut attempt = body.clone();
        attempt["metadata"]["name"] = json!(format!("{prefix}{nanos:x}"));
        match store.create(kinds::events(), ns, attempt) {
            Err(StoreError::AlreadyExists { .. }) => nanos += 1,
            _ => return,
        }
    }
}

/// Deletes Events last seen more than [`EVENT_TTL`] ago.
#[derive(Default)]
pub struct EventTtl {
    last_sweep: Option<DateTime<Utc>>,
}

impl Controller for EventTtl {
    fn tick(&mut self, ctx: &mut TickCtx<'_>) {
        if self.last_sweep.is_some_and(|t| {
            ctx.now
                .signed_duration_since(t)
                .to_std()
                .unwrap_or_default()
                < SWEEP_EVERY
        }) {
            return;
        }
        self.last_sweep = Some(ctx.now);
        sweep(&ctx.shared.store, ctx.now);
    }
}

pub fn sweep(store: &Store, now: DateTime<Utc>) {
    let ttl = chrono::Duration::from_std(EVENT_TTL).unwrap_or_default();
    let (events, _) = store.list(kinds::events(), None);
    for e in events {
        let last = e
            .get("lastTimestamp")
            .and_then(Value::as_str)
            .and_then(parse_timestamp);
        if last.is_some_and(|t| t + ttl < now) {
            let _ = store.delete(kinds::events(), namespace(&e), name(&e));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn setup() -> (Store, std::sync::Arc<Value>) {
        let store = Store::new(1, Utc.timestamp_opt(1_700_000_000, 0).unwrap());
        store
            .create(
                kinds::namespaces(),
                "",
                json!({"metadata": {"name": "shop"}}),
            )
            .unwrap();
        let pod = store
            .create(
                kinds::pods(),
                "shop",
                json!({"metadata": {"name": "web-1"}}),
            )
            .unwrap();
        (store, pod)
    }

    fn backoff(pod: &Value) -> Event<'_> {
        Event {
            object: pod,
            field_path: Some("spec.containers{web}"),
            kind: EventType::Warning,
            reason: "BackOff",
            message: "Back-off restarting failed container web",
            source: Source::kubelet("node-1"),
        }
    }

    #[test]
    fn repeats_bump_the_count() {
        let (store, pod) = setup();
        let t0 = store.now();
        record(&store, t0, &backoff(&pod));
        record(&store, t0 + chrono::Duration::seconds(10), &backoff(&pod));
        let (events, _) = store.list(kinds::events(), Some("shop"));
        assert_eq!(events.len(), 1);
        let e = &events[0];
        assert_eq!(e["count"], 2);
        assert_eq!(e["involvedObject"]["kind"], "Pod");
        assert_eq!(e["involvedObject"]["fieldPath"], "spec.containers{web}");
        assert_eq!(e["source"]["host"], "node-1");
        assert_eq!(e["firstTimestamp"], "2023-11-14T22:13:20Z");
        assert_eq!(e["lastTimestamp"], "2023-11-14T22:13:30Z");
        let n = name(e);
        assert!(n.starts_with("web-1."), "{n}");
        assert_eq!(n.len(), "web-1.".len() + 16);
    }

    #[test]
    fn old_events_expire() {
        let (store, pod) = setup();
        let t0 = store.now();
        record(&store, t0, &backoff(&pod));
        sweep(&store, t0 + chrono::Duration::minutes(59));
        assert_eq!(store.list(kinds::events(), None).0.len(), 1);
        sweep(&store, t0 + chrono::Duration::minutes(61));
        assert_eq!(store.list(kinds::events(), None).0.len(), 0);
    }
}
