//! Flagger's writes: `spec.suspend`, `spec.skipAnalysis`, and the
//! loadtester's manual gates, opened and closed by posting the Canary's
//! name to the loadtester the Canary's own webhooks call, reached through
//! the API server's service proxy (no route from the laptop is needed).

use serde::Deserialize;
use serde_json::{Value, json};

use super::Writes;

/// Suspend (`true`) or resume the Canary's analysis (`spec.suspend`).
pub fn suspend(on: bool) -> Writes {
    Writes::object(json!({"spec": {"suspend": on}}))
}

/// Promote now: Flagger skips the analysis and promotes (`spec.skipAnalysis`).
pub fn promote_now() -> Writes {
    Writes::object(json!({"spec": {"skipAnalysis": true}}))
}

/// The loadtester's gates a person can move.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Gate {
    /// Let the promotion go ahead (`/gate/open`).
    OpenPromotion,
    /// Hold the promotion (`/gate/close`).
    ClosePromotion,
    /// Roll back now (`/rollback/open`).
    OpenRollback,
}

impl Gate {
    /// The webhook type that checks this gate, and the loadtester's path it
    /// checks.
    fn hook(self) -> (&'static str, &'static str) {
        match self {
            Gate::OpenPromotion | Gate::ClosePromotion => ("confirm-promotion", "/gate/check"),
            Gate::OpenRollback => ("rollback", "/rollback/check"),
        }
    }

    /// The loadtester's path that moves this gate.
    fn path(self) -> &'static str {
        match self {
            Gate::OpenPromotion => "/gate/open",
            Gate::ClosePromotion => "/gate/close",
            Gate::OpenRollback => "/rollback/open",
        }
    }
}

/// A gate call, through the API server's proxy to the loadtester's Service.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GateCall {
    pub namespace: String,
    pub service: String,
    pub port: u16,
    /// The loadtester's path (`/gate/open`).
    pub path: &'static str,
    /// The payload the loadtester reads: the Canary's name and namespace.
    pub body: Value,
}

impl GateCall {
    /// The API server's path for the call (a POST).
    pub fn proxy_path(&self) -> String {
        format!(
            "/api/v1/namespaces/{}/services/{}:{}/proxy{}",
            self.namespace, self.service, self.port, self.path
        )
    }
}

/// Why a gate cannot be moved from here.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum GateUnavailable {
    #[error("no {kind} webhook on {path}: this Canary has no such gate ({why})")]
    NoGate {
        kind: &'static str,
        path: &'static str,
        why: &'static str,
    },
    #[error("the {kind} webhook's URL {url:?} is not a cluster Service's address")]
    NotAService { kind: &'static str, url: String },
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct Canary {
    metadata: Meta,
    spec: Spec,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct Meta {
    name: String,
    namespace: String,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct Spec {
    analysis: Analysis,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct Analysis {
    webhooks: Vec<Webhook>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct Webhook {
    #[serde(rename = "type")]
    kind: String,
    url: String,
}

/// The call that moves `gate` for this Canary, found from the webhook
/// that checks it; or why there is none.
pub fn gate(obj: &Value, gate: Gate) -> Result<GateCall, GateUnavailable> {
    let canary: Canary = serde_json::from_value(obj.clone()).unwrap_or_default();
    let (kind, check) = gate.hook();
    let why = match gate {
        Gate::OpenRollback => "it rolls back only on failed checks, so abort is not offered",
        Gate::OpenPromotion | Gate::ClosePromotion => "it promotes by itself after the analysis",
    };
    let hook = canary
        .spec
        .analysis
        .webhooks
        .iter()
        .find(|w| w.kind == kind && path_of(&w.url) == Some(check))
        .ok_or(GateUnavailable::NoGate {
            kind,
            path: check,
            why,
        })?;
    let (service, namespace, port) =
        service_of(&hook.url, &canary.metadata.namespace).ok_or_else(|| {
            GateUnavailable::NotAService {
                kind,
                url: crate::sanitize::clean(&hook.url).into_owned(),
            }
        })?;
    Ok(GateCall {
        namespace,
        service,
        port,
        path: gate.path(),
        body: json!({"name": canary.metadata.name, "namespace": canary.metadata.namespace}),
    })
}

fn path_of(url: &str) -> Option<&str> {
    let rest = url.split_once("://")?.1;
    let path = &rest[rest.find('/')?..];
    Some(path.split(['?', '#']).next().unwrap_or(path))
}

/// `http://NAME[.NAMESPACE[.svc[.cluster.local]]][:PORT]/…` as (name,
/// namespace, port). Names are checked as DNS labels, since they go into
/// the API server's path.
fn service_of(url: &str, default_ns: &str) -> Option<(String, String, u16)> {
    let (scheme, rest) = url.split_once("://")?;
    let authority = rest.split('/').next()?;
    let (host, port) = match authority.rsplit_once(':') {
        Some((h, p)) => (h, p.parse().ok()?),
        None => (authority, if scheme == "https" { 443 } else { 80 }),
    };
    let mut labels = host.split('.');
    let name = labels.next()?.to_string();
    let namespace = labels.next().unwrap_or(default_ns).to_string();
    let tail: Vec<&str> = labels.collect();
    let cluster_suffix = tail.is_empty() || tail[0] == "svc";
    (cluster_suffix && dns_label(&name) && dns_label(&namespace)).then_some((name, namespace, port))
}

fn dns_label(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 63
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !s.starts_with('-')
        && !s.ends_with('-')
}

#[cfg(test)]
mod tests {
    use super::super::Patch;
    use super::*;

    #[allow(clippy::needless_pass_by_value)]
    fn canary(webhooks: Value) -> Value {
        json!({
            "metadata": {"name": "podinfo", "namespace": "test"},
            "spec": {"analysis": {"interval": "1m", "webhooks": webhooks}}
        })
    }

    #[test]
    fn suspend_resume_and_promote_now_patch_the_spec() {
        assert_eq!(
            suspend(true).object,
            Some(Patch::Merge(json!({"spec": {"suspend": true}})))
        );
        assert_eq!(
            suspend(false).object,
            Some(Patch::Merge(json!({"spec": {"suspend": false}})))
        );
        assert_eq!(
            promote_now().object,
            Some(Patch::Merge(json!({"spec": {"skipAnalysis": true}})))
        );
    }

    #[test]
    fn gates_go_to_the_loadtester_the_webhooks_call() {
        let c = canary(json!([
            {"name": "load", "type": "rollout", "url": "http://flagger-loadtester.test/"},
            {"name": "gate", "type": "confirm-promotion",
             "url": "http://flagger-loadtester.test/gate/check"},
            {"name": "rb", "type": "rollback",
             "url": "http://flagger-loadtester.tools.svc.cluster.local:8080/rollback/check"}
        ]));
        let open = gate(&c, Gate::OpenPromotion).unwrap();
        assert_eq!(
            open.proxy_path(),
            "/api/v1/namespaces/test/services/flagger-loadtester:80/proxy/gate/open"
        );
        assert_eq!(open.body, json!({"name": "podinfo", "namespace": "test"}));
        assert_eq!(
            gate(&c, Gate::ClosePromotion).unwrap().proxy_path(),
            "/api/v1/namespaces/test/services/flagger-loadtester:80/proxy/gate/close"
        );
        assert_eq!(
            gate(&c, Gate::OpenRollback).unwrap().proxy_path(),
            "/api/v1/namespaces/tools/services/flagger-loadtester:8080/proxy/rollback/open"
        );
    }

    #[test]
    fn without_a_rollback_gate_abort_is_not_offered_and_says_why() {
        let c = canary(json!([
            {"name": "gate", "type": "confirm-promotion", "url": "http://lt/gate/check"},
            // A rollback hook that is not the loadtester's gate cannot be opened.
            {"name": "rb", "type": "rollback", "url": "http://checker.test/verdict"}
        ]));
        let call = gate(&c, Gate::OpenPromotion).unwrap();
        assert_eq!(
            (call.service.as_str(), call.namespace.as_str()),
            ("lt", "test")
        );
        let err = gate(&c, Gate::OpenRollback).unwrap_err();
        assert_eq!(
            err.to_string(),
            "no rollback webhook on /rollback/check: this Canary has no such gate \
             (it rolls back only on failed checks, so abort is not offered)"
        );
    }

    #[test]
    fn hosts_outside_the_cluster_or_not_names_are_refused() {
        for url in [
            "http://lt.test.example.org/rollback/check",
            "http://LT../rollback/check",
            "http://lt%2F..:80/rollback/check",
        ] {
            let c = canary(json!([{"type": "rollback", "url": url}]));
            assert!(
                matches!(
                    gate(&c, Gate::OpenRollback),
                    Err(GateUnavailable::NotAService { .. })
                ),
                "{url}"
            );
        }
    }
}
