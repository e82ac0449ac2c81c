//! The state ConfigMap a flightdeck rollout keeps on the cluster, written as
//! the sim finds it after `flightdeck start` (and later stages) of
//! `canary-istio.toml`: the format the driver stores (`format: 1`), so the
//! fleet view and `list` read a seeded one as they read a real one.

use serde_json::{Value, json};

use super::scenario::{AppSpec, RolloutSeed, RolloutSeedState};

/// The course of `assets/plans/canary-istio.toml`: (weight, pause).
const STAGES: [(u8, &str); 5] = [
    (10, "manual"),
    (25, "timed"),
    (50, "timed"),
    (75, "timed"),
    (100, "manual"),
];
const TIMED_SECS: u64 = 120;

/// The stage's index, within the course.
fn index(rollout: &RolloutSeed) -> usize {
    rollout.stage.clamp(1, STAGES.len()) - 1
}

/// The canary's weight in force: the stage's, or none once aborted.
pub fn canary_weight(rollout: &RolloutSeed) -> u8 {
    match rollout.state {
        RolloutSeedState::Aborted => 0,
        _ => STAGES[index(rollout)].0,
    }
}

pub fn config_map(
    app: &AppSpec,
    rollout: &RolloutSeed,
    owner: &str,
    owner_uid: &str,
    now: &str,
) -> Value {
    let stage = index(rollout);
    let total = STAGES.len();
    let stages: Vec<Value> = STAGES
        .iter()
        .map(|(weight, pause)| match *pause {
            "timed" => json!({"weight": weight, "pause": {"timed": TIMED_SECS}}),
            _ => json!({"weight": weight, "pause": "manual"}),
        })
        .collect();
    let (phase, to) = match rollout.state {
        RolloutSeedState::Paused => (
            json!({"phase": "paused", "stage": stage, "since": now, "by": "stage"}),
            format!(
                "stage {}/{total} at {}%, waiting for the go",
                stage + 1,
                STAGES[stage].0
            ),
        ),
        RolloutSeedState::Progressing => (
            json!({"phase": "progressing", "stage": stage, "since": now}),
            format!("stage {}/{total} at {}%", stage + 1, STAGES[stage].0),
        ),
        RolloutSeedState::FailingAnalysis => {
            let reason = "error ratio 6.2% above the 5% limit";
            (
                json!({"phase": "paused", "stage": stage, "since": now, "by": "analysis", "reason": reason}),
                format!("stage {}/{total} held: {reason}", stage + 1),
            )
        }
        RolloutSeedState::Aborted => (
            json!({"phase": "aborted", "at": now, "reason": "guard error-rate fired"}),
            "aborted: all traffic on stable".to_string(),
        ),
    };
    let canary = canary_weight(rollout);
    let state = json!({
        "format": 1,
        "state": {
            "app": app.name,
            "namespace": app.namespace,
            "course": {
                "strategy": "canary", "stages": stages, "routed": true,
                "rollback": "immediate", "rollback_step": 30, "auto": false,
                "analysis": true, "keep_old_for": 0, "image": null, "undo_to": null,
            },
            "phase": phase,
            "weights": {"stable": 100 - canary, "canary": canary},
            "stage_began": now,
            "verdict": null,
            "slots": null,
            "image": null,
            "generation": 1,
        },
        "history": [{
            "at": now,
            "who": {"kube_user": "flightdeck-sim", "os_user": "captain"},
            "action": "start",
            "from": "not started",
            "to": to,
            "result": "done",
        }],
    });
    json!({
        "metadata": {
            "name": format!("{}-flightdeck-rollout", app.name),
            "labels": {"app.kubernetes.io/managed-by": "flightdeck"},
            "ownerReferences": [{"apiVersion": "apps/v1", "kind": "Deployment",
                                 "name": owner, "uid": owner_uid}],
        },
        "data": {"rollout.json": state.to_string()},
    })
}
