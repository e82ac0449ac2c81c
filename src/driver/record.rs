//! The record of every action: one line in the audit file (fsync'd) and one
//! Kubernetes Event on the app's Deployment, so `kubectl get events` tells
//! the same story as the file.

use std::fmt::Write;
use std::sync::Mutex;

use chrono::{DateTime, Utc};
use serde::Serialize;

use super::rest::{self, Obj};
use crate::cluster::record::{Subject, emit};
use crate::workers::audit::{Actor, AuditError, AuditLog};

/// One action as the audit file holds it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Entry {
    pub at: DateTime<Utc>,
    pub who: Actor,
    pub app: String,
    pub namespace: String,
    pub action: String,
    pub from: String,
    pub to: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
    /// `done`, `failed` or `refused`.
    pub result: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// The analysis verdict behind the action, with every check's numbers.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub verdict: Option<crate::rollout::Verdict>,
}

impl Entry {
    /// Whether the Event is a Warning: a failure, or a freeze, which every
    /// on-call engineer watching the Events should notice.
    fn failed(&self) -> bool {
        !matches!(self.result.as_str(), "done" | "asked") || self.action == "freeze"
    }

    /// The Event's reason: `RolloutAdvance`, `RolloutAbortFailed`, …
    pub fn event_reason(&self) -> String {
        let mut camel = String::from("Rollout");
        for part in self.action.split(['-', ' ', '_']) {
            let mut chars = part.chars();
            if let Some(first) = chars.next() {
                camel.extend(first.to_uppercase());
                camel.push_str(chars.as_str());
            }
        }
        match self.result.as_str() {
            "failed" => camel.push_str("Failed"),
            "refused" => camel.push_str("Refused"),
            "cancelled" => camel.push_str("Cancelled"),
            "asked" => camel.push_str("Asked"),
            _ => {}
        }
        camel
    }

    pub fn event_message(&self) -> String {
        let mut text = format!(
            "{} by {} ({}): {} → {}",
            self.action, self.who.os_user, self.who.kube_user, self.from, self.to
        );
        if let Some(detail) = &self.detail {
            let _ = write!(text, " ({detail})");
        }
        if let Some(reason) = &self.reason {
            let _ = write!(text, ": {reason}");
        }
        text
    }
}

pub struct Recorder {
    audit: Option<Mutex<AuditLog>>,
    subject: Obj,
}

impl Recorder {
    pub fn new(audit: Option<AuditLog>, subject: Obj) -> Self {
        Self {
            audit: audit.map(Mutex::new),
            subject,
        }
    }

    pub fn audit_path(&self) -> Option<std::path::PathBuf> {
        let log = self.audit.as_ref()?.lock().ok()?;
        Some(log.path().to_path_buf())
    }

    /// Writes the audit line, then the Event. An audit failure is returned
    /// (the record matters); an Event that cannot be created is logged.
    pub async fn record(&self, client: &kube::Client, entry: &Entry) -> Result<(), AuditError> {
        if let Some(audit) = &self.audit {
            let mut log = audit
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            log.append(entry)?;
        }
        let uid = rest::get(client, &self.subject)
            .await
            .ok()
            .and_then(|d| Some(d.pointer("/metadata/uid")?.as_str()?.to_string()));
        let subject = Subject {
            api_version: self.subject.kind.api_version(),
            kind: self.subject.kind.kind.to_string(),
            namespace: self.subject.namespace.clone(),
            name: self.subject.name.clone(),
            uid,
        };
        if let Err(e) = emit(
            client.clone(),
            &subject,
            &entry.event_reason(),
            &entry.event_message(),
            entry.failed(),
        )
        .await
        {
            tracing::warn!(error = %e, "cannot record the action as a Kubernetes Event");
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reasons_are_camel_case_and_say_failures() {
        let mut e = Entry {
            at: Utc::now(),
            who: Actor {
                kube_user: "admin".into(),
                os_user: "ana".into(),
                host: "laptop".into(),
            },
            app: "checkout".into(),
            namespace: "shop".into(),
            action: "take-helm".into(),
            from: "a".into(),
            to: "b".into(),
            detail: None,
            result: "done".into(),
            reason: None,
            verdict: None,
        };
        assert_eq!(e.event_reason(), "RolloutTakeHelm");
        e.result = "failed".into();
        e.reason = Some("409".into());
        assert_eq!(e.event_reason(), "RolloutTakeHelmFailed");
        e.result = "asked".into();
        assert_eq!(e.event_reason(), "RolloutTakeHelmAsked");
        assert!(!e.failed(), "asking is no failure");
        assert!(
            e.event_message()
                .contains("take-helm by ana (admin): a → b: 409")
        );
    }
}
