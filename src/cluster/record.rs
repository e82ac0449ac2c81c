//! Kubernetes Events from flightdeck, so `kubectl get events` tells the
//! rollout's story next to the cluster's own events.

use chrono::Utc;
use k8s_openapi::api::core::v1::{Event, EventSource, ObjectReference};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{MicroTime, Time};
use kube::Api;
use kube::api::{ObjectMeta, PostParams};

pub const COMPONENT: &str = "flightdeck";

/// The object an event is about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Subject {
    pub api_version: String,
    pub kind: String,
    pub namespace: String,
    pub name: String,
    pub uid: Option<String>,
}

/// A Normal event (`warning = false`) or a Warning one.
pub fn build(subject: &Subject, reason: &str, message: &str, warning: bool) -> Event {
    let now = k8s_openapi::jiff::Timestamp::from_millisecond(Utc::now().timestamp_millis())
        .unwrap_or(k8s_openapi::jiff::Timestamp::UNIX_EPOCH);
    Event {
        metadata: ObjectMeta {
            generate_name: Some(format!("{}.", subject.name)),
            namespace: Some(subject.namespace.clone()),
            ..ObjectMeta::default()
        },
        involved_object: ObjectReference {
            api_version: Some(subject.api_version.clone()),
            kind: Some(subject.kind.clone()),
            name: Some(subject.name.clone()),
            namespace: Some(subject.namespace.clone()),
            uid: subject.uid.clone(),
            ..ObjectReference::default()
        },
        reason: Some(reason.to_string()),
        message: Some(message.to_string()),
        type_: Some(if warning { "Warning" } else { "Normal" }.to_string()),
        source: Some(EventSource {
            component: Some(COMPONENT.to_string()),
            host: None,
        }),
        reporting_component: Some(COMPONENT.to_string()),
        reporting_instance: Some(COMPONENT.to_string()),
        first_timestamp: Some(Time(now)),
        last_timestamp: Some(Time(now)),
        event_time: Some(MicroTime(now)),
        action: Some(reason.to_string()),
        count: Some(1),
        ..Event::default()
    }
}

/// Creates the event on the cluster.
pub async fn emit(
    client: kube::Client,
    subject: &Subject,
    reason: &str,
    message: &str,
    warning: bool,
) -> Result<(), kube::Error> {
    let api: Api<Event> = Api::namespaced(client, &subject.namespace);
    api.create(
        &PostParams::default(),
        &build(subject, reason, message, warning),
    )
    .await
    .map(|_| ())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn event_names_flightdeck_as_source() {
        let s = Subject {
            api_version: "apps/v1".into(),
            kind: "Deployment".into(),
            namespace: "shop".into(),
            name: "checkout-canary".into(),
            uid: None,
        };
        let ev = build(&s, "StageAdvanced", "canary weight 10% → 25%", false);
        assert_eq!(
            ev.source.and_then(|s| s.component).as_deref(),
            Some("flightdeck")
        );
        assert_eq!(ev.involved_object.name.as_deref(), Some("checkout-canary"));
        assert_eq!(ev.type_.as_deref(), Some("Normal"));
        assert_eq!(
            ev.metadata.generate_name.as_deref(),
            Some("checkout-canary.")
        );
    }
}
