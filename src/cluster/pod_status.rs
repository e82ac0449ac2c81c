//! The one-word status of a pod, as a captain wants to read it: kubectl's own
//! rule (the container reason that matters beats the phase), except that a
//! container in back-off after an OOM kill says `OOMKilled`, which is the cause.

use k8s_openapi::api::core::v1::Pod;

/// The status word for a pod, e.g. `Running`, `CrashLoopBackOff`, `Terminating`.
pub fn pod_status(pod: &Pod) -> String {
    if pod.metadata.deletion_timestamp.is_some() {
        return "Terminating".into();
    }
    let status = pod.status.as_ref();
    let mut reason = status
        .and_then(|s| s.reason.clone())
        .or_else(|| status.and_then(|s| s.phase.clone()))
        .unwrap_or_else(|| "Pending".into());
    let mut running_and_ready = false;
    let containers = status
        .and_then(|s| s.container_statuses.as_deref())
        .unwrap_or_default();
    // kubectl walks the containers from last to first, so the first container's
    // reason is the one that shows when several have one.
    for c in containers.iter().rev() {
        let state = c.state.as_ref();
        let last_oom = c
            .last_state
            .as_ref()
            .and_then(|s| s.terminated.as_ref())
            .and_then(|t| t.reason.as_deref())
            == Some("OOMKilled");
        if let Some(waiting) = state.and_then(|s| s.waiting.as_ref())
            && let Some(r) = waiting.reason.as_deref().filter(|r| !r.is_empty())
        {
            reason = if r == "CrashLoopBackOff" && last_oom {
                "OOMKilled".into()
            } else {
                r.to_string()
            };
        } else if let Some(t) = state.and_then(|s| s.terminated.as_ref()) {
            reason = match (&t.reason, t.signal) {
                (Some(r), _) if !r.is_empty() => r.clone(),
                (_, Some(sig)) if sig != 0 => format!("Signal:{sig}"),
                _ => format!("ExitCode:{}", t.exit_code),
            };
        } else if state.and_then(|s| s.running.as_ref()).is_some() && c.ready {
            running_and_ready = true;
        }
    }
    if reason == "Completed" && running_and_ready {
        reason = "Running".into();
    }
    reason
}

/// Ready containers and all containers.
pub fn ready_counts(pod: &Pod) -> (u32, u32) {
    let total = pod.spec.as_ref().map_or(0, |s| s.containers.len()) as u32;
    let ready = pod
        .status
        .as_ref()
        .and_then(|s| s.container_statuses.as_deref())
        .map_or(0, |cs| cs.iter().filter(|c| c.ready).count()) as u32;
    (ready, total)
}

/// Restarts summed over the pod's containers.
pub fn restarts(pod: &Pod) -> u32 {
    pod.status
        .as_ref()
        .and_then(|s| s.container_statuses.as_deref())
        .map_or(0, |cs| {
            cs.iter().map(|c| c.restart_count.max(0) as u32).sum()
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[allow(clippy::needless_pass_by_value)]
    fn pod(status: serde_json::Value) -> Pod {
        serde_json::from_value(json!({
            "metadata": {"name": "p"},
            "spec": {"containers": [{"name": "app"}]},
            "status": status
        }))
        .unwrap()
    }

    #[test]
    fn running_ready_pod_is_running() {
        let p = pod(json!({"phase": "Running", "containerStatuses": [
            {"name": "app", "ready": true, "restartCount": 0, "image": "i", "imageID": "",
             "state": {"running": {"startedAt": "2026-01-01T00:00:00Z"}}}]}));
        assert_eq!(pod_status(&p), "Running");
        assert_eq!(ready_counts(&p), (1, 1));
    }

    #[test]
    fn waiting_reason_beats_phase() {
        let p = pod(json!({"phase": "Running", "containerStatuses": [
            {"name": "app", "ready": false, "restartCount": 4, "image": "i", "imageID": "",
             "state": {"waiting": {"reason": "CrashLoopBackOff"}},
             "lastState": {"terminated": {"exitCode": 1, "reason": "Error"}}}]}));
        assert_eq!(pod_status(&p), "CrashLoopBackOff");
        assert_eq!(restarts(&p), 4);
    }

    #[test]
    fn back_off_after_oom_names_the_cause() {
        let p = pod(json!({"phase": "Running", "containerStatuses": [
            {"name": "app", "ready": false, "restartCount": 2, "image": "i", "imageID": "",
             "state": {"waiting": {"reason": "CrashLoopBackOff"}},
             "lastState": {"terminated": {"exitCode": 137, "reason": "OOMKilled"}}}]}));
        assert_eq!(pod_status(&p), "OOMKilled");
    }

    #[test]
    fn deleting_pod_is_terminating() {
        let mut p = pod(json!({"phase": "Running"}));
        p.metadata.deletion_timestamp = Some(k8s_openapi::apimachinery::pkg::apis::meta::v1::Time(
            k8s_openapi::jiff::Timestamp::UNIX_EPOCH,
        ));
        assert_eq!(pod_status(&p), "Terminating");
    }

    #[test]
    fn pending_without_status() {
        let p: Pod = serde_json::from_value(json!({"metadata": {"name": "p"}})).unwrap();
        assert_eq!(pod_status(&p), "Pending");
    }
}
