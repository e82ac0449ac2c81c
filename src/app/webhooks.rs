//! Webhooks that are not getting their notices through. A lost notice is
//! never hidden: it stays on the main screen until the webhook works again.

use std::collections::BTreeMap;

use crate::workers::notify::Delivery;

/// What went wrong with one webhook since it last delivered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebhookTrouble {
    /// The latest failure, as the notifier reported it.
    pub latest: String,
    /// Notices not delivered since the webhook last worked.
    pub lost: u32,
}

/// By webhook label.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Webhooks {
    troubles: BTreeMap<String, WebhookTrouble>,
}

impl Webhooks {
    pub fn apply(&mut self, delivery: Delivery) {
        let latest = delivery.to_string();
        let webhook = match delivery {
            Delivery::Recovered { webhook } => {
                self.troubles.remove(&webhook);
                return;
            }
            Delivery::Failed { webhook, .. }
            | Delivery::CircuitOpen { webhook, .. }
            | Delivery::Dropped { webhook, .. }
            | Delivery::Refused { webhook, .. } => webhook,
        };
        self.troubles
            .entry(webhook)
            .and_modify(|t| {
                t.lost = t.lost.saturating_add(1);
                t.latest.clone_from(&latest);
            })
            .or_insert(WebhookTrouble { latest, lost: 1 });
    }

    /// Failing webhooks, by label.
    pub fn troubles(&self) -> impl ExactSizeIterator<Item = (&str, &WebhookTrouble)> {
        self.troubles.iter().map(|(k, v)| (k.as_str(), v))
    }

    pub fn is_empty(&self) -> bool {
        self.troubles.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::workers::notify::NoticeKind;

    fn failed(webhook: &str, event: NoticeKind) -> Delivery {
        Delivery::Failed {
            webhook: webhook.into(),
            event,
            attempts: 4,
            reason: "HTTP 500".into(),
        }
    }

    #[test]
    fn failures_are_kept_per_webhook_and_counted() {
        let mut hooks = Webhooks::default();
        hooks.apply(failed("slack", NoticeKind::Stage));
        hooks.apply(Delivery::CircuitOpen {
            webhook: "slack".into(),
            event: NoticeKind::Paused,
        });
        hooks.apply(Delivery::Dropped {
            webhook: "ops".into(),
            event: NoticeKind::GuardFired,
        });
        let seen: Vec<_> = hooks
            .troubles()
            .map(|(w, t)| (w.to_string(), t.lost, t.latest.clone()))
            .collect();
        assert_eq!(
            seen,
            [
                (
                    "ops".to_string(),
                    1,
                    "ops: queue full, guard-fired notice dropped".to_string()
                ),
                (
                    "slack".to_string(),
                    2,
                    "slack: circuit open, paused notice not sent".to_string()
                ),
            ]
        );
    }

    #[test]
    fn recovery_clears_only_that_webhook() {
        let mut hooks = Webhooks::default();
        hooks.apply(failed("slack", NoticeKind::Stage));
        hooks.apply(failed("ops", NoticeKind::Stage));
        hooks.apply(Delivery::Recovered {
            webhook: "slack".into(),
        });
        let left: Vec<_> = hooks.troubles().map(|(w, _)| w.to_string()).collect();
        assert_eq!(left, ["ops"]);
        hooks.apply(Delivery::Recovered {
            webhook: "ops".into(),
        });
        assert!(hooks.is_empty());
        // A failure after recovering counts from one again.
        hooks.apply(failed("ops", NoticeKind::Promoted));
        assert_eq!(hooks.troubles().next().map(|(_, t)| t.lost), Some(1));
    }
}
