//! CPU and memory of the app's pods from metrics.k8s.io, as `kubectl top` reads
//! them. Watched where the server allows it (the simulator does); metrics-server
//! answers lists only, so there the worker lists at its resolution instead.

use std::collections::HashMap;
use std::time::Duration;

use futures::StreamExt;
use kube::api::{Api, ApiResource, DynamicObject, GroupVersionKind, ListParams};
use kube::runtime::watcher;
use serde_json::Value;
use tokio::sync::mpsc;

use super::Target;
use crate::units::{parse_bytes, parse_millicores};

/// metrics-server's resolution: listing faster only repeats the same numbers.
const POLL_EVERY: Duration = Duration::from_secs(15);

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Usage {
    pub cpu_millicores: u64,
    pub memory_bytes: u64,
}

fn pod_metrics_resource() -> ApiResource {
    ApiResource::from_gvk_with_plural(
        &GroupVersionKind::gvk("metrics.k8s.io", "v1beta1", "PodMetrics"),
        "pods",
    )
}

/// Sums a PodMetrics object's containers.
pub fn usage_of(object: &DynamicObject) -> Option<Usage> {
    let containers = object.data.get("containers")?.as_array()?;
    let mut usage = Usage::default();
    for c in containers {
        let field = |name: &str| c.pointer(&format!("/usage/{name}")).and_then(Value::as_str);
        usage.cpu_millicores += field("cpu").and_then(|q| parse_millicores(q).ok())?;
        usage.memory_bytes += field("memory").and_then(|q| parse_bytes(q).ok())?;
    }
    Some(usage)
}

/// Sends the usage of every pod of the app each time it changes.
pub async fn run(target: Target, tx: mpsc::Sender<HashMap<String, Usage>>) {
    let ar = pod_metrics_resource();
    let api: Api<DynamicObject> =
        Api::namespaced_with(target.client.clone(), &target.namespace, &ar);
    let config = watcher::Config::default().labels(&target.selector());
    let mut current: HashMap<String, Usage> = HashMap::new();
    let mut stream = super::watch::relisting(api.clone(), config).boxed();
    while let Some(event) = stream.next().await {
        match event {
            Ok(watcher::Event::Apply(o) | watcher::Event::InitApply(o)) => {
                if let (Some(name), Some(usage)) = (o.metadata.name.clone(), usage_of(&o)) {
                    current.insert(name, usage);
                }
            }
            Ok(watcher::Event::Delete(o)) => {
                if let Some(name) = &o.metadata.name {
                    current.remove(name);
                }
            }
            Ok(watcher::Event::Init) => {
                current.clear();
                continue;
            }
            Ok(watcher::Event::InitDone) => {}
            Err(err) if watch_unsupported(&err) => break,
            Err(err) => {
                tracing::debug!(error = %err, "pod metrics watch failed");
                continue;
            }
        }
        if tx.send(current.clone()).await.is_err() {
            return;
        }
    }
    poll(api, &target, tx).await;
}

fn watch_unsupported(err: &watcher::Error) -> bool {
    match err {
        watcher::Error::WatchStartFailed(kube::Error::Api(s))
        | watcher::Error::WatchFailed(kube::Error::Api(s)) => s.code == 405 || s.code == 404,
        watcher::Error::WatchError(s) => s.code == 405,
        _ => false,
    }
}

async fn poll(api: Api<DynamicObject>, target: &Target, tx: mpsc::Sender<HashMap<String, Usage>>) {
    let params = ListParams::default().labels(&target.selector());
    loop {
        if let Ok(list) = api.list(&params).await {
            let usage = list
                .items
                .iter()
                .filter_map(|o| Some((o.metadata.name.clone()?, usage_of(o)?)))
                .collect();
            if tx.send(usage).await.is_err() {
                return;
            }
        }
        tokio::time::sleep(POLL_EVERY).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn sums_container_usage() {
        let o: DynamicObject = serde_json::from_value(json!({
            "apiVersion": "metrics.k8s.io/v1beta1", "kind": "PodMetrics",
            "metadata": {"name": "web-1"},
            "containers": [
                {"name": "a", "usage": {"cpu": "125000000n", "memory": "102400Ki"}},
                {"name": "b", "usage": {"cpu": "5m", "memory": "1Mi"}}
            ]
        }))
        .unwrap();
        assert_eq!(
            usage_of(&o),
            Some(Usage {
                cpu_millicores: 130,
                memory_bytes: 101 * 1024 * 1024
            })
        );
    }
}
