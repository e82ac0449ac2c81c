//! Holding the helm: the app's Lease, renewed every few seconds by a task of
//! its own so a long wait for a rollout never lets it lapse. Every cockpit
//! and CLI call sees the helm through a `watch` channel.

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::cluster::lease::{Helm, LeaseClient, LeaseError};

/// How often the Lease is renewed (a third of its duration).
pub const RENEW_EVERY: Duration = Duration::from_secs(5);

/// The helm as the cockpit shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HelmView {
    /// Not known yet (first read under way) or not asked (read-only).
    Unknown,
    Ours {
        since: DateTime<Utc>,
    },
    Theirs {
        holder: String,
        since: Option<DateTime<Utc>>,
    },
    /// Nobody holds it.
    Free,
    /// The Lease could not be read or written.
    Trouble(String),
}

impl From<Helm> for HelmView {
    fn from(h: Helm) -> Self {
        match h {
            Helm::Ours { since } => HelmView::Ours { since },
            Helm::Theirs { holder, since } => HelmView::Theirs { holder, since },
        }
    }
}

impl HelmView {
    pub fn is_ours(&self) -> bool {
        matches!(self, HelmView::Ours { .. })
    }

    /// "held by ana@laptop#42 since 10:02:11" and the like.
    pub fn describe(&self) -> String {
        match self {
            HelmView::Unknown => "helm not known".into(),
            HelmView::Ours { since } => format!("at the helm since {}", since.format("%H:%M:%S")),
            HelmView::Theirs { holder, since } => match since {
                Some(s) => format!("helm held by {holder} since {}", s.format("%H:%M:%S")),
                None => format!("helm held by {holder}"),
            },
            HelmView::Free => "helm free".into(),
            HelmView::Trouble(why) => format!("helm unknown: {why}"),
        }
    }
}

/// The shared handle: the Lease and what is known of it.
#[derive(Clone)]
pub struct HelmHandle {
    lease: Arc<LeaseClient>,
    view: Arc<watch::Sender<HelmView>>,
}

impl HelmHandle {
    pub fn new(lease: LeaseClient) -> Self {
        Self {
            lease: Arc::new(lease),
            view: Arc::new(watch::channel(HelmView::Unknown).0),
        }
    }

    pub fn lease_name(&self) -> &str {
        self.lease.name()
    }

    pub fn view(&self) -> HelmView {
        self.view.borrow().clone()
    }

    pub fn subscribe(&self) -> watch::Receiver<HelmView> {
        self.view.subscribe()
    }

    /// Takes the helm if free (or renews it); says who has it otherwise.
    pub async fn acquire(&self) -> Result<HelmView, LeaseError> {
        let view = match self.lease.acquire_or_renew().await {
            Ok(h) => HelmView::from(h),
            Err(e) => {
                self.view.send_replace(HelmView::Trouble(e.to_string()));
                return Err(e);
            }
        };
        self.view.send_replace(view.clone());
        Ok(view)
    }

    /// Takes the helm from whoever holds it; the caller confirmed and records it.
    pub async fn take_over(&self) -> Result<HelmView, LeaseError> {
        let view = HelmView::from(self.lease.take_over().await?);
        self.view.send_replace(view.clone());
        Ok(view)
    }

    pub async fn release(&self) {
        if let Err(e) = self.lease.release().await {
            tracing::warn!(error = %e, "cannot release the helm");
        }
        self.view.send_replace(HelmView::Unknown);
    }

    /// Keeps the helm: renews it while ours, takes it when it falls free,
    /// and keeps reporting who holds it otherwise. Never takes it from a
    /// live holder: that is [`HelmHandle::take_over`]'s, and explicit.
    pub fn spawn_keeper(&self) -> JoinHandle<()> {
        let handle = self.clone();
        tokio::spawn(async move {
            let mut every = tokio::time::interval(RENEW_EVERY);
            every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                every.tick().await;
                if let Err(e) = handle.acquire().await {
                    tracing::warn!(error = %e, "cannot renew the helm");
                }
            }
        })
    }

    /// Reads who holds the helm without taking it (read-only cockpits).
    pub fn spawn_observer(&self, client: kube::Client, namespace: String) -> JoinHandle<()> {
        let handle = self.clone();
        tokio::spawn(async move {
            let api: kube::Api<k8s_openapi::api::coordination::v1::Lease> =
                kube::Api::namespaced(client, &namespace);
            let mut every = tokio::time::interval(RENEW_EVERY);
            loop {
                every.tick().await;
                let view = match api.get_opt(handle.lease_name()).await {
                    Ok(lease) => observed(lease.as_ref(), Utc::now()),
                    Err(e) => HelmView::Trouble(e.to_string()),
                };
                handle.view.send_replace(view);
            }
        })
    }
}

/// Who holds a Lease, read without taking it.
pub fn observed(
    lease: Option<&k8s_openapi::api::coordination::v1::Lease>,
    now: DateTime<Utc>,
) -> HelmView {
    use crate::cluster::lease::{Decision, decide};
    match decide(lease.and_then(|l| l.spec.as_ref()), "", now) {
        Decision::Respect { holder, since } => HelmView::Theirs { holder, since },
        Decision::Take { .. } => HelmView::Free,
    }
}
