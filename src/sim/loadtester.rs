//! Flagger's loadtester, as far as its gates go: the sim answers a Service
//! labelled `app: flagger-loadtester` itself, through the API server's proxy
//! and for the Flagger controller's webhooks, with one gate per Canary.
//!
//! A gate is keyed `{canary}.{namespace}` (the rollback gate
//! `rollback.{canary}.{namespace}`) and starts closed, as the loadtester's
//! in-memory store does. `check` answers 200 when open and 403 when closed;
//! `open` and `close` answer 202; `approve` always passes and `halt` always
//! refuses. The body of each is Flagger's webhook payload, of which only
//! `name` and `namespace` are read.

use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};

use serde::Deserialize;
use serde_json::Value;

use crate::sim::Store;
use crate::sim::resources::kinds;

/// The label value the sim answers as a loadtester.
pub const APP: &str = "flagger-loadtester";

#[derive(Debug, Default)]
pub struct Loadtester {
    gates: Mutex<HashMap<String, bool>>,
}

/// What the loadtester answered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Answer {
    pub status: u16,
    pub body: String,
}

impl Answer {
    fn new(status: u16, body: &str) -> Self {
        Self {
            status,
            body: body.to_string(),
        }
    }

    pub fn passed(&self) -> bool {
        (200..300).contains(&self.status)
    }
}

#[derive(Deserialize)]
struct Payload {
    name: String,
    namespace: String,
}

impl Loadtester {
    /// The answer to a request on `path` (query ignored) with `body`.
    pub fn answer(&self, path: &str, body: &[u8]) -> Answer {
        let path = path.split('?').next().unwrap_or_default();
        match path.trim_end_matches('/') {
            "/healthz" => Answer::new(200, "OK"),
            "/gate/approve" => Answer::new(200, "Approved"),
            "/gate/halt" => Answer::new(403, "Forbidden"),
            "/gate/check" => self.check(body, ""),
            "/gate/open" => self.set(body, "", true),
            "/gate/close" => self.set(body, "", false),
            "/rollback/check" => self.check(body, "rollback."),
            "/rollback/open" => self.set(body, "rollback.", true),
            "/rollback/close" => self.set(body, "rollback.", false),
            _ => Answer::new(
                400,
                "the simulated loadtester answers its gates only, it runs no commands",
            ),
        }
    }

    /// Whether a gate is open: `rollback.` prefixes the rollback gate's key.
    pub fn is_open(&self, prefix: &str, canary: &str, namespace: &str) -> bool {
        self.gates()
            .get(&format!("{prefix}{canary}.{namespace}"))
            .copied()
            .unwrap_or(false)
    }

    fn check(&self, body: &[u8], prefix: &str) -> Answer {
        match serde_json::from_slice::<Payload>(body) {
            Ok(p) if self.is_open(prefix, &p.name, &p.namespace) => Answer::new(200, "Approved"),
            Ok(_) => Answer::new(403, "Forbidden"),
            Err(e) => Answer::new(400, &format!("decoding the request body failed: {e}")),
        }
    }

    fn set(&self, body: &[u8], prefix: &str, open: bool) -> Answer {
        match serde_json::from_slice::<Payload>(body) {
            Ok(p) => {
                self.gates()
                    .insert(format!("{prefix}{}.{}", p.name, p.namespace), open);
                Answer::new(202, "")
            }
            Err(e) => Answer::new(400, &format!("decoding the request body failed: {e}")),
        }
    }

    fn gates(&self) -> std::sync::MutexGuard<'_, HashMap<String, bool>> {
        // A map of booleans is whole after any statement.
        self.gates.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// Whether a Service is one the sim answers as the loadtester.
pub fn is_loadtester(service: &Value) -> bool {
    service
        .pointer("/metadata/labels/app")
        .and_then(Value::as_str)
        == Some(APP)
}

/// Calls a webhook `url` the way Flagger's controller does (a POST of its
/// payload), from a Canary in `namespace`. Only the loadtester's Services
/// answer in the sim; any other address fails as an unreachable one would.
pub fn call(
    store: &Store,
    loadtester: &Loadtester,
    namespace: &str,
    url: &str,
    payload: &Value,
) -> Result<Answer, String> {
    let rest = url
        .strip_prefix("http://")
        .or_else(|| url.strip_prefix("https://"))
        .ok_or_else(|| format!("{url}: expected an http URL"))?;
    let (authority, path) = rest
        .find('/')
        .map_or((rest, "/"), |at| (&rest[..at], &rest[at..]));
    let host = authority.split(':').next().unwrap_or_default();
    let mut parts = host.split('.');
    let service = parts.next().unwrap_or_default();
    let ns = parts.next().unwrap_or(namespace);
    let found = store
        .get(kinds::services(), ns, service)
        .filter(|s| is_loadtester(s));
    if found.is_none() {
        return Err(format!(
            "Post \"{url}\": dial tcp: lookup {host}: no such host"
        ));
    }
    let body = serde_json::to_vec(payload).map_err(|e| e.to_string())?;
    Ok(loadtester.answer(path, &body))
}

#[cfg(test)]
mod tests {
    use super::*;

    const BODY: &[u8] = br#"{"name": "payments", "namespace": "pay", "phase": "Progressing"}"#;

    #[test]
    fn gates_start_closed_and_follow_open_and_close() {
        let lt = Loadtester::default();
        assert_eq!(lt.answer("/gate/check", BODY).status, 403);
        assert_eq!(lt.answer("/gate/open", BODY).status, 202);
        assert_eq!(lt.answer("/gate/check", BODY), Answer::new(200, "Approved"));
        // The rollback gate is a gate of its own.
        assert_eq!(lt.answer("/rollback/check", BODY).status, 403);
        assert_eq!(lt.answer("/rollback/open", BODY).status, 202);
        assert!(lt.is_open("rollback.", "payments", "pay"));
        assert_eq!(lt.answer("/gate/close", BODY).status, 202);
        assert_eq!(lt.answer("/gate/check", BODY).status, 403);
        let other = br#"{"name": "payments", "namespace": "shop"}"#;
        assert_eq!(lt.answer("/rollback/check", other).status, 403);
    }

    #[test]
    fn fixed_gates_and_bad_bodies() {
        let lt = Loadtester::default();
        assert_eq!(lt.answer("/gate/approve", b"").status, 200);
        assert_eq!(lt.answer("/gate/halt", b"").status, 403);
        assert_eq!(lt.answer("/gate/check", b"{").status, 400);
        assert_eq!(lt.answer("/", BODY).status, 400);
    }
}
