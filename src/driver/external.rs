//! Drives an Argo Rollout or a Flagger Canary from the cockpit's keys: each
//! request becomes the source's own write ([`crate::external::drive`]),
//! recorded like flightdeck's own actions, as a line in the audit file and
//! an Event on the Rollout or Canary. The state stays with the source's
//! controller, so there is no plan, stage machine or helm here.

use chrono::Utc;
use tokio::sync::mpsc;

use super::record::{Entry, Recorder};
use crate::app::Msg;
use crate::app::msg::DriveReport;
use crate::external::ask::{self, Target};
use crate::external::drive::carry_out;
use crate::rollout::Request;
use crate::workers::audit::{Actor, AuditLog};

/// Requests waiting for the driver; keys past this are refused by the loop.
const QUEUE: usize = 16;

/// What the driver needs.
pub struct ExternalDriver {
    pub client: kube::Client,
    pub target: Target,
    pub kube_user: String,
    pub audit: Option<AuditLog>,
    pub read_only: bool,
}

/// Starts the driver; requests go into the returned queue, reports come
/// back as [`Msg::Drive`].
pub fn spawn(
    driver: ExternalDriver,
    tx: mpsc::Sender<Msg>,
) -> (mpsc::Sender<Request>, tokio::task::JoinHandle<()>) {
    let (requests, mut rx) = mpsc::channel::<Request>(QUEUE);
    let handle = tokio::spawn(async move {
        let recorder = Recorder::new(driver.audit, driver.target.object());
        let who = Actor::current(&driver.kube_user);
        while let Some(request) = rx.recv().await {
            let report = act(
                &driver.client,
                &driver.target,
                driver.read_only,
                &recorder,
                &who,
                &request,
                &tx,
            )
            .await;
            if tx.send(Msg::Drive(report)).await.is_err() {
                return;
            }
        }
    });
    (requests, handle)
}

async fn act(
    client: &kube::Client,
    target: &Target,
    read_only: bool,
    recorder: &Recorder,
    who: &Actor,
    request: &Request,
    tx: &mpsc::Sender<Msg>,
) -> DriveReport {
    if read_only {
        return DriveReport::Failed {
            action: request.name().to_string(),
            reason: "read-only: this cockpit was started with --read-only".into(),
        };
    }
    let ask = match ask::of(target.source, request) {
        Ok(ask) => ask,
        Err(reason) => {
            return DriveReport::Failed {
                action: request.name().to_string(),
                reason,
            };
        }
    };
    let action = ask.name().to_string();
    let _ = tx
        .send(Msg::Drive(DriveReport::Started {
            action: action.clone(),
        }))
        .await;
    let outcome = carry_out(client, target, &ask, Utc::now()).await;
    let subject = format!(
        "{} {}/{}",
        target.source.kind(),
        target.namespace,
        target.name
    );
    let mut entry = Entry {
        at: Utc::now(),
        who: who.clone(),
        app: target.name.clone(),
        namespace: target.namespace.clone(),
        action: action.clone(),
        from: subject,
        to: String::new(),
        detail: None,
        result: "done".into(),
        reason: None,
        verdict: None,
    };
    match &outcome {
        Ok(written) => entry.to.clone_from(written),
        Err(e) => {
            entry.result = "failed".into();
            entry.reason = Some(e.to_string());
        }
    }
    let recorded = recorder.record(client, &entry).await;
    match (outcome, recorded) {
        (Ok(written), Ok(())) => DriveReport::Done {
            action,
            to: written,
        },
        (Ok(written), Err(e)) => DriveReport::Failed {
            action,
            reason: format!("{written}, but not recorded: {e}"),
        },
        (Err(e), _) => DriveReport::Failed {
            action,
            reason: e.to_string(),
        },
    }
}
