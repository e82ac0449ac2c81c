//! Holding the helm: the app's Lease, renewed every few seconds by a task of
//! its own so a long wait for a rollout never lets it lapse. Every cockpit
//! and CLI call sees the helm through a `watch` channel.

use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::cluster::lease::{
    Decision, Helm, Holder, LeaseClient, LeaseError, Observer, decide, holder_of,
};

/// How often a Lease of the default duration is renewed (a third of it).
pub const RENEW_EVERY: Duration = Duration::from_secs(5);

/// The helm as the cockpit shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HelmView {
    /// Not known yet (first read under way) or not asked (read-only).
    Unknown,
    Ours {
        since: DateTime<Utc>,
    },
    /// The times are the holder's clock's: information, never compared
    /// with ours.
    Theirs {
        holder: String,
        since: Option<DateTime<Utc>>,
        renewed: Option<DateTime<Utc>>,
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
            Helm::Theirs(holder) => holder.into(),
        }
    }
}

impl From<Holder> for HelmView {
    fn from(
        Holder {
            holder,
            since,
            renewed,
        }: Holder,
    ) -> Self {
        HelmView::Theirs {
            holder,
            since,
            renewed,
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
            HelmView::Theirs { holder, since, .. } => match since {
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

    /// How often the Lease is renewed: a third of its duration, so one
    /// late renewal never lets it lapse.
    pub fn renew_every(&self) -> Duration {
        self.lease.duration() / 3
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
            let mut every = tokio::time::interval(handle.renew_every());
            every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                every.tick().await;
                if let Err(e) = handle.acquire().await {
                    tracing::warn!(error = %e, "cannot renew the helm");
                }
            }
        })
    }

    /// Reads who holds the helm without taking it (read-only cockpits). A
    /// holder that stops renewing is shown gone after the Lease's duration
    /// of watching it stand still.
    pub fn spawn_observer(&self, client: kube::Client, namespace: String) -> JoinHandle<()> {
        let handle = self.clone();
        tokio::spawn(async move {
            let api: kube::Api<k8s_openapi::api::coordination::v1::Lease> =
                kube::Api::namespaced(client, &namespace);
            let mut every = tokio::time::interval(handle.renew_every());
            let mut seen = Observer::default();
            loop {
                every.tick().await;
                let view = match api.get_opt(handle.lease_name()).await {
                    Ok(lease) => {
                        let unchanged_for = seen.observe(lease.as_ref(), Instant::now());
                        match decide(lease.and_then(|l| l.spec).as_ref(), "", unchanged_for) {
                            Decision::Respect(holder) => holder.into(),
                            Decision::Take { .. } => HelmView::Free,
                        }
                    }
                    Err(e) => HelmView::Trouble(e.to_string()),
                };
                handle.view.send_replace(view);
            }
        })
    }
}

/// Who holds a Lease by one reading of it (`flightdeck status`). One
/// reading cannot tell whether the holder still renews it, and the holder's
/// `renewTime` is its own clock's, so a holder is shown as holding.
pub fn observed(lease: Option<&k8s_openapi::api::coordination::v1::Lease>) -> HelmView {
    holder_of(lease).map_or(HelmView::Free, HelmView::from)
}
