//! Keeps the cockpit's view of a Rollout or a Canary live: a watch on the
//! one object (and, for a Rollout, on its namespace's AnalysisRuns), each
//! change read into a row by the same readers as the fleet's and sent to
//! the screen. Watches only at steady state: no polling.

use std::collections::BTreeMap;

use futures::StreamExt;
use kube::Api;
use kube::api::DynamicObject;
use kube::runtime::watcher::{self, Event};
use tokio::sync::mpsc;

use super::ask::{Source, Target};
use super::writes::flagger::{Gate, gate};
use super::{argo, flagger};
use crate::app::Msg;
use crate::app::external::ExternalUpdate;
use crate::workers::watch::relisting;

enum Seen {
    Object(Result<Event<DynamicObject>, watcher::Error>),
    Run(Result<Event<DynamicObject>, watcher::Error>),
}

/// Watches `target` until the screen goes away.
pub async fn run(client: kube::Client, target: Target, cluster: String, tx: mpsc::Sender<Msg>) {
    let resource = match target.source {
        Source::Argo => argo::rollouts(),
        Source::Flagger => flagger::canaries(),
    };
    let api: Api<DynamicObject> =
        Api::namespaced_with(client.clone(), &target.namespace, &resource);
    let one = watcher::Config::default().fields(&format!("metadata.name={}", target.name));
    let objects = relisting(api, one).map(Seen::Object).boxed();
    let runs = match target.source {
        Source::Argo => {
            let runs: Api<DynamicObject> =
                Api::namespaced_with(client, &target.namespace, &argo::analysis_runs());
            relisting(runs, watcher::Config::default())
                .map(Seen::Run)
                .boxed()
        }
        Source::Flagger => futures::stream::pending().boxed(),
    };
    let mut events = futures::stream::select(objects, runs);
    let mut object: Option<DynamicObject> = None;
    let mut runs: BTreeMap<String, DynamicObject> = BTreeMap::new();
    let mut listing: BTreeMap<String, DynamicObject> = BTreeMap::new();
    while let Some(seen) = events.next().await {
        match seen {
            Seen::Object(Ok(Event::Apply(o) | Event::InitApply(o))) => object = Some(o),
            Seen::Object(Ok(Event::Delete(_))) => object = None,
            Seen::Object(Ok(Event::Init | Event::InitDone)) => {}
            Seen::Run(Ok(Event::Init)) => {
                listing.clear();
                continue;
            }
            Seen::Run(Ok(Event::InitApply(r))) => {
                listing.insert(name(&r), r);
                continue;
            }
            Seen::Run(Ok(Event::InitDone)) => runs = std::mem::take(&mut listing),
            Seen::Run(Ok(Event::Apply(r))) => {
                runs.insert(name(&r), r);
            }
            Seen::Run(Ok(Event::Delete(r))) => {
                runs.remove(&name(&r));
            }
            Seen::Object(Err(e)) | Seen::Run(Err(e)) => {
                tracing::warn!(error = %e, "watching {} {}/{}", target.source.kind(), target.namespace, target.name);
                continue;
            }
        }
        let Some(obj) = &object else { continue };
        let Some(update) = read(&cluster, target.source, obj, &runs) else {
            continue;
        };
        if tx.send(Msg::External(Box::new(update))).await.is_err() {
            return;
        }
    }
}

fn name(o: &DynamicObject) -> String {
    o.metadata.name.clone().unwrap_or_default()
}

/// The object read into what the pane shows.
pub fn read(
    cluster: &str,
    source: Source,
    obj: &DynamicObject,
    runs: &BTreeMap<String, DynamicObject>,
) -> Option<ExternalUpdate> {
    match source {
        Source::Argo => {
            let runs: Vec<&DynamicObject> = runs.values().collect();
            Some(ExternalUpdate {
                row: argo::row(cluster, obj, &runs)?,
                abort_refusal: None,
            })
        }
        Source::Flagger => {
            let value = serde_json::to_value(obj).ok()?;
            Some(ExternalUpdate {
                row: flagger::row(cluster, obj)?,
                abort_refusal: gate(&value, Gate::OpenRollback)
                    .err()
                    .map(|e| e.to_string()),
            })
        }
    }
}
