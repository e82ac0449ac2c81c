//! Watches the app's pods (a kube watcher: one list, then watch events) and
//! reports each change; shares the live pod names with the logs worker.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use futures::StreamExt;
use k8s_openapi::api::core::v1::Pod;
use kube::Api;
use kube::runtime::watcher;
use tokio::sync::{mpsc, watch};

use super::usage::{self, Usage};
use super::{Target, trouble};
use crate::app::Msg;
use crate::app::msg::{Connection, PodInfo, Source};
use crate::cluster::pod_status;
use crate::units::parse_bytes;

/// A pod the logs worker should follow.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LivePod {
    pub name: String,
    pub version: String,
    pub containers: Vec<String>,
    /// Only pods whose containers have started have logs to read.
    pub started: bool,
    /// Ready pods serve traffic, so only they have numbers worth scraping.
    pub ready: bool,
    /// The first container port, where the app serves `/metrics`.
    pub port: Option<u16>,
}

/// The app's pods as last watched, with their usage: what the guards read
/// each interval, so they list nothing of their own.
#[derive(Debug, Clone, Default)]
pub struct PodSet {
    pub pods: Vec<Pod>,
    /// By pod name, from metrics.k8s.io.
    pub usage: HashMap<String, Usage>,
    /// Whether a first list has arrived.
    pub synced: bool,
    /// Why the watch is failing, until a fresh list proves it back.
    pub trouble: Option<String>,
}

/// Where the Pods worker publishes what it watches.
pub struct Outlets {
    /// The pods the logs and metrics workers follow; changes only when one
    /// of those starts, stops or turns ready.
    pub live: watch::Sender<Vec<LivePod>>,
    /// Every pod in full; changes on every event, read without waking anyone.
    pub set: watch::Sender<PodSet>,
}

pub async fn run(target: Target, tx: mpsc::Sender<Msg>, out: Outlets) {
    let Outlets { live, set } = out;
    let api: Api<Pod> = Api::namespaced(target.client.clone(), &target.namespace);
    let config = watcher::Config::default().labels(&target.selector());
    let mut stream = super::watch::relisting(api, config).boxed();
    let (usage_tx, mut usage_rx) = mpsc::channel(4);
    let usage_task = tokio::spawn(usage::run(target.clone(), usage_tx));
    let mut initial: Vec<Pod> = Vec::new();
    let _ = tx.send(Msg::Connection(Connection::Connecting)).await;
    loop {
        let event = tokio::select! {
            event = stream.next() => match event {
                Some(event) => event,
                None => break,
            },
            Some(next) = usage_rx.recv() => {
                let changed: Vec<PodInfo> = {
                    let current = set.borrow();
                    current
                        .pods
                        .iter()
                        .filter(|p| {
                            let name = p.metadata.name.as_deref().unwrap_or_default();
                            current.usage.get(name) != next.get(name)
                        })
                        .map(|p| pod_info(p, next.get(p.metadata.name.as_deref().unwrap_or_default())))
                        .collect()
                };
                set.send_modify(|s| s.usage = next);
                for info in changed {
                    if tx.send(Msg::PodApplied(info)).await.is_err() {
                        usage_task.abort();
                        return;
                    }
                }
                continue;
            }
        };
        let msg = match event {
            Ok(watcher::Event::Init) => {
                initial.clear();
                continue;
            }
            Ok(watcher::Event::InitApply(pod)) => {
                initial.push(pod);
                continue;
            }
            Ok(watcher::Event::InitDone) => {
                let recovered = set.borrow().trouble.is_some();
                let pods = std::mem::take(&mut initial);
                set.send_modify(|s| {
                    s.pods = pods;
                    s.synced = true;
                    s.trouble = None;
                });
                if recovered {
                    let _ = tx
                        .send(Msg::Recovered {
                            source: Source::Pods,
                        })
                        .await;
                }
                let _ = tx.send(Msg::Connection(Connection::Connected)).await;
                let current = set.borrow();
                Msg::PodsReset(
                    current
                        .pods
                        .iter()
                        .map(|p| info(p, &current.usage))
                        .collect(),
                )
            }
            Ok(watcher::Event::Apply(pod)) => {
                let shown = info(&pod, &set.borrow().usage);
                set.send_modify(|s| upsert(&mut s.pods, pod));
                Msg::PodApplied(shown)
            }
            Ok(watcher::Event::Delete(pod)) => {
                let name = pod.metadata.name.clone().unwrap_or_default();
                set.send_modify(|s| {
                    s.pods
                        .retain(|p| p.metadata.name.as_deref() != Some(name.as_str()));
                });
                Msg::PodDeleted { name }
            }
            Err(err) => {
                let trouble = trouble::from_watcher(&err, "the API server");
                tracing::warn!(error = %err, "pod watch failed");
                set.send_modify(|s| s.trouble = Some(format!("the pod watch failed: {err}")));
                let _ = tx
                    .send(Msg::Connection(Connection::Lost { since: Utc::now() }))
                    .await;
                Msg::Trouble {
                    source: Source::Pods,
                    trouble,
                }
            }
        };
        live.send_if_modified(|current| {
            let next: Vec<LivePod> = set.borrow().pods.iter().map(live_pod).collect();
            let changed = *current != next;
            *current = next;
            changed
        });
        if tx.send(msg).await.is_err() {
            // The cockpit has gone; nothing is left to report to.
            break;
        }
    }
    usage_task.abort();
}

fn info(pod: &Pod, usage: &HashMap<String, Usage>) -> PodInfo {
    pod_info(
        pod,
        usage.get(pod.metadata.name.as_deref().unwrap_or_default()),
    )
}

fn upsert(known: &mut Vec<Pod>, pod: Pod) {
    match known
        .iter_mut()
        .find(|p| p.metadata.name == pod.metadata.name)
    {
        Some(slot) => *slot = pod,
        None => known.push(pod),
    }
}

pub fn live_pod(pod: &Pod) -> LivePod {
    let started = pod
        .status
        .as_ref()
        .and_then(|s| s.container_statuses.as_deref())
        .is_some_and(|cs| {
            cs.iter().any(|c| {
                c.restart_count > 0
                    || c.state
                        .as_ref()
                        .is_some_and(|s| s.running.is_some() || s.terminated.is_some())
            })
        });
    LivePod {
        name: pod.metadata.name.clone().unwrap_or_default(),
        version: version_of(pod),
        containers: pod
            .spec
            .as_ref()
            .map(|s| s.containers.iter().map(|c| c.name.clone()).collect())
            .unwrap_or_default(),
        started,
        ready: pod
            .status
            .as_ref()
            .and_then(|s| s.conditions.as_deref())
            .is_some_and(|cs| cs.iter().any(|c| c.type_ == "Ready" && c.status == "True")),
        port: pod
            .spec
            .as_ref()
            .and_then(|s| s.containers.first())
            .and_then(|c| c.ports.as_deref())
            .and_then(|p| p.first())
            .and_then(|p| u16::try_from(p.container_port).ok()),
    }
}

/// The version a pod belongs to: its `version` label, else its blue-green `slot`.
pub fn version_of(pod: &Pod) -> String {
    let labels = pod.metadata.labels.as_ref();
    labels
        .and_then(|l| l.get("version").or_else(|| l.get("slot")))
        .cloned()
        .unwrap_or_else(|| "-".into())
}

/// What the Pods pane shows of a pod, with its usage when metrics have it.
pub fn pod_info(pod: &Pod, usage: Option<&Usage>) -> PodInfo {
    let (ready, containers) = pod_status::ready_counts(pod);
    let memory_limit_bytes = pod
        .spec
        .as_ref()
        .and_then(|s| s.containers.first())
        .and_then(|c| c.resources.as_ref())
        .and_then(|r| r.limits.as_ref())
        .and_then(|l| l.get("memory"))
        .and_then(|q| parse_bytes(&q.0).ok());
    PodInfo {
        name: pod.metadata.name.clone().unwrap_or_default(),
        version: version_of(pod),
        status: pod_status::pod_status(pod),
        ready,
        containers,
        restarts: pod_status::restarts(pod),
        created: pod
            .metadata
            .creation_timestamp
            .as_ref()
            .and_then(|t| DateTime::from_timestamp_millis(t.0.as_millisecond())),
        node: pod
            .spec
            .as_ref()
            .and_then(|s| s.node_name.clone())
            .unwrap_or_default(),
        cpu_millicores: usage.map(|u| u.cpu_millicores),
        memory_bytes: usage.map(|u| u.memory_bytes),
        memory_limit_bytes,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn pod_info_reads_what_the_pane_shows() {
        let pod: Pod = serde_json::from_value(json!({
            "metadata": {"name": "checkout-canary-7d9f-abcde", "labels": {"app": "checkout", "version": "canary"},
                         "creationTimestamp": "2026-01-01T00:00:00Z"},
            "spec": {"nodeName": "sim-node-1", "containers": [{"name": "checkout",
                     "resources": {"limits": {"memory": "512Mi"}}}]},
            "status": {"phase": "Running", "containerStatuses": [{"name": "checkout", "ready": true,
                       "restartCount": 1, "image": "i", "imageID": "", "state": {"running": {}}}]}
        }))
        .unwrap();
        let info = pod_info(&pod, None);
        assert_eq!(info.version, "canary");
        assert_eq!(info.status, "Running");
        assert_eq!((info.ready, info.containers, info.restarts), (1, 1, 1));
        assert_eq!(info.node, "sim-node-1");
        assert_eq!(info.memory_limit_bytes, Some(512 * 1024 * 1024));
        assert_eq!(
            info.created.map(|c| c.to_rfc3339()),
            Some("2026-01-01T00:00:00+00:00".into())
        );
        assert!(live_pod(&pod).started);
    }
}
