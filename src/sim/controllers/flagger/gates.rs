//! A Canary's webhooks of the kinds that gate it: `confirm-promotion` holds
//! the promotion until the hook passes, `rollback` rolls the canary back
//! when its hook passes. Each is a POST of Flagger's payload; in the sim only
//! the loadtester's Services answer ([`crate::sim::loadtester`]).

use serde_json::{Value, json};

use crate::sim::Shared;
use crate::sim::controllers::events::EventType;
use crate::sim::controllers::name;
use crate::sim::loadtester;

struct Hook {
    name: String,
    kind: String,
    url: String,
    metadata: Value,
}

pub struct Hooks<'a> {
    shared: &'a Shared,
    canary: &'a Value,
    namespace: &'a str,
    /// The phase the Canary was in when this pass read it.
    phase: &'a str,
    webhooks: Vec<Hook>,
}

impl<'a> Hooks<'a> {
    pub fn new(shared: &'a Shared, canary: &'a Value, namespace: &'a str, phase: &'a str) -> Self {
        let text = |h: &Value, k: &str| h.get(k).and_then(Value::as_str).unwrap_or("").to_string();
        let webhooks = canary
            .pointer("/spec/analysis/webhooks")
            .and_then(Value::as_array)
            .map(|list| {
                list.iter()
                    .map(|h| Hook {
                        name: text(h, "name"),
                        kind: text(h, "type"),
                        url: text(h, "url"),
                        metadata: h.get("metadata").cloned().unwrap_or_else(|| json!({})),
                    })
                    .collect()
            })
            .unwrap_or_default();
        Self {
            shared,
            canary,
            namespace,
            phase,
            webhooks,
        }
    }

    fn of(&self, kind: &'static str) -> impl Iterator<Item = &Hook> {
        self.webhooks.iter().filter(move |h| h.kind == kind)
    }

    /// Whether the hook passes (a 2xx answer).
    fn passes(&self, hook: &Hook) -> bool {
        let payload = json!({
            "name": name(self.canary),
            "namespace": self.namespace,
            "phase": self.phase,
            "checksum": self.canary.pointer("/status/lastAppliedSpec").cloned().unwrap_or(Value::Null),
            "metadata": hook.metadata,
        });
        loadtester::call(
            &self.shared.store,
            &self.shared.loadtester,
            self.namespace,
            &hook.url,
            &payload,
        )
        .is_ok_and(|a| a.passed())
    }

    /// Whether every confirm-promotion hook lets the promotion go. The first
    /// hold says so once, when the Canary starts waiting.
    pub fn confirm_promotion(&self, said: &mut Vec<(EventType, String)>) -> bool {
        for hook in self.of("confirm-promotion") {
            if !self.passes(hook) {
                if self.phase != "WaitingPromotion" {
                    said.push((
                        EventType::Warning,
                        format!(
                            "Halt {}.{} advancement waiting for promotion approval {}",
                            name(self.canary),
                            self.namespace,
                            hook.name
                        ),
                    ));
                }
                return false;
            }
            said.push((
                EventType::Normal,
                format!("Confirm-promotion check {} passed", hook.name),
            ));
        }
        true
    }

    /// The rollback hook that passed, if one did: Flagger asks them while the
    /// canary is under analysis or waiting.
    pub fn rollback(&self, said: &mut Vec<(EventType, String)>) -> Option<String> {
        if !matches!(self.phase, "Progressing" | "Waiting" | "WaitingPromotion") {
            return None;
        }
        for hook in self.of("rollback") {
            if self.passes(hook) {
                said.push((
                    EventType::Warning,
                    format!("Rollback check {} passed", hook.name),
                ));
                return Some(hook.name.clone());
            }
            said.push((
                EventType::Normal,
                format!("Rollback hook {} not signaling a rollback", hook.name),
            ));
        }
        None
    }
}
