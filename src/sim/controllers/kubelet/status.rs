//! The pod status the kubelet reports, derived from its in-memory state.

use serde_json::{Value, json};

use super::lifecycle::backoff;
use super::{PodRun, Stage};
use crate::sim::Store;
use crate::sim::controllers::hash::digest;
use crate::sim::controllers::{resource_version, timestamp, uid};
use crate::sim::resources::kinds;

pub(super) fn container_id(run: &PodRun) -> String {
    format!(
        "containerd://{}",
        digest(&[uid(&run.stub), &run.restarts.to_string()])
    )
}

/// A back-off the way the kubelet (Go's `time.Duration`) prints it: `40s`, `5m0s`.
fn go_duration(d: std::time::Duration) -> String {
    let secs = d.as_secs();
    if secs < 60 {
        format!("{secs}s")
    } else {
        format!("{}m{}s", secs / 60, secs % 60)
    }
}

pub(super) fn container_state(run: &PodRun) -> Value {
    let c = run.containers.first().map_or("", String::as_str);
    match &run.stage {
        Stage::Pulling { .. } => json!({"waiting": {"reason": "ContainerCreating"}}),
        Stage::PullFailed { .. } => {
            json!({"waiting": {"reason": "ErrImagePull", "message": format!("failed to pull and unpack image \"{}\": not found", run.image)}})
        }
        Stage::PullBackOff { .. } => {
            json!({"waiting": {"reason": "ImagePullBackOff", "message": format!("Back-off pulling image \"{}\"", run.image)}})
        }
        Stage::Running { started } => json!({"running": {"startedAt": timestamp(*started)}}),
        Stage::Exited { .. } => run
            .last_terminated
            .clone()
            .unwrap_or_else(|| json!({"waiting": {}})),
        Stage::CrashBackOff { .. } => json!({"waiting": {
            "reason": "CrashLoopBackOff",
            "message": format!(
                "back-off {} restarting failed container={c} pod={}_{}({})",
                go_duration(backoff(run.crashes_in_a_row.saturating_sub(1))),
                run.name, run.namespace, uid(&run.stub)
            ),
        }}),
        Stage::Terminating { container, .. } => container.clone(),
    }
}

pub(super) fn write_status(store: &Store, run: &mut PodRun, gone: &mut Vec<String>, id: &str) {
    let status = status_of(run);
    let written = store.modify::<()>(kinds::pods(), &run.namespace, &run.name, |p| {
        p["status"] = status;
        Ok(())
    });
    match written {
        Ok(p) => run.last_rv = resource_version(&p).to_string(),
        Err(_) => gone.push(id.to_string()),
    }
}

pub(super) fn status_of(run: &PodRun) -> Value {
    let admitted = timestamp(run.admitted);
    let ready_since = timestamp(run.ready_changed);
    let running = matches!(run.stage, Stage::Running { .. });
    let condition = |kind: &str, ok: bool, since: &str| {
        let mut c = json!({"type": kind, "status": if ok {"True"} else {"False"}, "lastProbeTime": null, "lastTransitionTime": since});
        if !ok && matches!(kind, "Ready" | "ContainersReady") {
            c["reason"] = json!("ContainersNotReady");
            c["message"] = json!(format!(
                "containers with unready status: [{}]",
                run.containers.join(" ")
            ));
        }
        c
    };
    let state = container_state(run);
    let pulled = run.first_start.is_some();
    let statuses: Vec<Value> = run
        .containers
        .iter()
        .map(|c| {
            let mut s = json!({
                "name": c,
                "image": run.image,
                "imageID": if pulled {
                    format!("{}@sha256:{}", run.image.split(':').next().unwrap_or(""), digest(&[&run.image]))
                } else {
                    String::new()
                },
                "ready": run.ready,
                "started": running,
                "restartCount": run.restarts,
                "state": state,
                "lastState": run.last_terminated.clone().unwrap_or_else(|| json!({})),
            });
            if pulled {
                s["containerID"] = json!(container_id(run));
            }
            s
        })
        .collect();
    json!({
        "phase": if pulled { "Running" } else { "Pending" },
        "conditions": [
            condition("PodReadyToStartContainers", true, &admitted),
            condition("Initialized", true, &admitted),
            condition("Ready", run.ready, &ready_since),
            condition("ContainersReady", run.ready, &ready_since),
            condition("PodScheduled", true, &run.scheduled_at),
        ],
        "hostIP": run.host_ip,
        "hostIPs": [{"ip": run.host_ip}],
        "podIP": run.pod_ip,
        "podIPs": [{"ip": run.pod_ip}],
        "startTime": admitted,
        "containerStatuses": statuses,
        "qosClass": run.qos,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn back_off_reads_like_the_kubelet_writes_it() {
        assert_eq!(go_duration(std::time::Duration::from_secs(40)), "40s");
        assert_eq!(go_duration(std::time::Duration::from_secs(80)), "1m20s");
        assert_eq!(go_duration(std::time::Duration::from_secs(300)), "5m0s");
    }
}
