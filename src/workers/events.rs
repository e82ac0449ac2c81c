//! Watches the namespace's events and reports those about the app's objects.

use chrono::{DateTime, Utc};
use futures::StreamExt;
use k8s_openapi::api::core::v1::Event;
use kube::Api;
use kube::runtime::watcher;
use tokio::sync::mpsc;

use super::{Target, trouble};
use crate::app::Msg;
use crate::app::msg::{EventInfo, Source};

pub async fn run(target: Target, tx: mpsc::Sender<Msg>) {
    let api: Api<Event> = Api::namespaced(target.client.clone(), &target.namespace);
    let mut stream = super::watch::relisting(api, watcher::Config::default()).boxed();
    let mut initial = Vec::new();
    let mut troubled = false;
    while let Some(event) = stream.next().await {
        let msg = match event {
            Ok(watcher::Event::Init) => {
                initial.clear();
                continue;
            }
            Ok(watcher::Event::InitApply(ev)) => {
                if concerns_app(&ev, &target.app) {
                    initial.push(event_info(&ev));
                }
                continue;
            }
            Ok(watcher::Event::InitDone) => {
                if troubled {
                    troubled = false;
                    let _ = tx
                        .send(Msg::Recovered {
                            source: Source::Events,
                        })
                        .await;
                }
                Msg::EventsReset(std::mem::take(&mut initial))
            }
            Ok(watcher::Event::Apply(ev)) if concerns_app(&ev, &target.app) => {
                Msg::EventApplied(event_info(&ev))
            }
            // Expired events leave the pane when it trims; deletions say nothing new.
            Ok(watcher::Event::Apply(_) | watcher::Event::Delete(_)) => continue,
            Err(err) => {
                troubled = true;
                Msg::Trouble {
                    source: Source::Events,
                    trouble: trouble::from_watcher(&err, "the API server"),
                }
            }
        };
        if tx.send(msg).await.is_err() {
            return;
        }
    }
}

/// Events about the app itself or any object named after it (its Deployments,
/// ReplicaSets, pods, Services and routers all start with `{app}-` or are `{app}`).
pub fn concerns_app(ev: &Event, app: &str) -> bool {
    ev.involved_object.name.as_deref().is_some_and(|name| {
        name == app
            || name
                .strip_prefix(app)
                .is_some_and(|rest| rest.starts_with('-'))
    })
}

pub fn event_info(ev: &Event) -> EventInfo {
    let to_chrono = |t: &k8s_openapi::apimachinery::pkg::apis::meta::v1::Time| {
        DateTime::from_timestamp_millis(t.0.as_millisecond())
    };
    let last_seen = ev
        .last_timestamp
        .as_ref()
        .and_then(to_chrono)
        .or_else(|| {
            ev.event_time
                .as_ref()
                .and_then(|t| DateTime::from_timestamp_millis(t.0.as_millisecond()))
        })
        .or_else(|| ev.metadata.creation_timestamp.as_ref().and_then(to_chrono))
        .unwrap_or(DateTime::<Utc>::UNIX_EPOCH);
    EventInfo {
        last_seen,
        warning: ev.type_.as_deref() == Some("Warning"),
        reason: ev.reason.clone().unwrap_or_default(),
        object: format!(
            "{}/{}",
            ev.involved_object.kind.as_deref().unwrap_or("?"),
            ev.involved_object.name.as_deref().unwrap_or("?")
        ),
        message: ev.message.clone().unwrap_or_default(),
        count: ev.count.unwrap_or(1).max(1) as u32,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn ev(name: &str) -> Event {
        serde_json::from_value(json!({
            "metadata": {"name": format!("{name}.1"), "namespace": "shop"},
            "involvedObject": {"kind": "Pod", "name": name},
            "reason": "BackOff", "message": "Back-off restarting failed container",
            "type": "Warning", "count": 3, "lastTimestamp": "2026-01-01T00:01:00Z"
        }))
        .unwrap()
    }

    #[test]
    fn only_the_apps_objects_concern_it() {
        assert!(concerns_app(&ev("checkout"), "checkout"));
        assert!(concerns_app(&ev("checkout-canary-abc"), "checkout"));
        assert!(!concerns_app(&ev("checkouts-api"), "checkout"));
        assert!(!concerns_app(&ev("cart"), "checkout"));
    }

    #[test]
    fn event_info_keeps_what_matters() {
        let info = event_info(&ev("checkout-canary-abc"));
        assert!(info.warning);
        assert_eq!(info.object, "Pod/checkout-canary-abc");
        assert_eq!(info.count, 3);
        assert_eq!(info.last_seen.to_rfc3339(), "2026-01-01T00:01:00+00:00");
    }
}
