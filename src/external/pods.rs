//! Counting each row's pods: ready, total and restarts, over every version.

use std::collections::{BTreeMap, HashMap};

use k8s_openapi::api::core::v1::Pod;

use crate::fleet::{Pods, Row};

/// Fills in each row's pods from `pods`, matched by the row's selector
/// within its namespace.
pub fn count<'a>(rows: &mut [Row], pods: impl IntoIterator<Item = &'a Pod>) {
    let mut by_namespace: HashMap<&str, Vec<&Pod>> = HashMap::new();
    for pod in pods {
        let ns = pod.metadata.namespace.as_deref().unwrap_or_default();
        by_namespace.entry(ns).or_default().push(pod);
    }
    let empty = BTreeMap::new();
    for row in rows {
        let mut tally = Pods::default();
        for pod in by_namespace
            .get(row.namespace.as_str())
            .into_iter()
            .flatten()
        {
            if !row.selects(pod.metadata.labels.as_ref().unwrap_or(&empty)) {
                continue;
            }
            tally.total += 1;
            let statuses = pod
                .status
                .as_ref()
                .and_then(|s| s.container_statuses.as_deref())
                .unwrap_or_default();
            tally.restarts += statuses
                .iter()
                .map(|c| c.restart_count.max(0) as u32)
                .sum::<u32>();
            let ready = pod
                .status
                .as_ref()
                .and_then(|s| s.conditions.as_deref())
                .unwrap_or_default()
                .iter()
                .any(|c| c.type_ == "Ready" && c.status == "True");
            tally.ready += u32::from(ready);
        }
        row.pods = tally;
    }
}
