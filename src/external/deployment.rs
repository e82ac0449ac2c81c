//! Plain Deployments: a row only while a rolling update is under way, or
//! when the Deployment is paused. A settled Deployment has nothing to release.

use k8s_openapi::api::apps::v1::Deployment;

use super::text;
use crate::fleet::{Kind, Phase, Row};

pub fn row(cluster: &str, d: &Deployment) -> Option<Row> {
    let name = d.metadata.name.as_deref()?;
    let namespace = d.metadata.namespace.as_deref().unwrap_or_default();
    let spec = d.spec.as_ref()?;
    let status = d.status.clone().unwrap_or_default();
    let desired = spec.replicas.unwrap_or(1).max(0) as u32;
    let updated = status.updated_replicas.unwrap_or(0).max(0) as u32;
    let unavailable = status.unavailable_replicas.unwrap_or(0).max(0) as u32;
    let unobserved = match (d.metadata.generation, status.observed_generation) {
        (Some(g), Some(seen)) => seen < g,
        (Some(_), None) => true,
        _ => false,
    };
    let paused = spec.paused.unwrap_or(false);
    let rolling = updated < desired || unavailable > 0 || unobserved;
    if !rolling && !paused {
        return None;
    }
    let mut row = Row::new(cluster, &text(namespace), &text(name), Kind::Deployment);
    row.strategy = spec
        .strategy
        .as_ref()
        .and_then(|s| s.type_.as_deref())
        .map_or_else(
            || "rolling".to_string(),
            |t| match t {
                "Recreate" => "recreate".to_string(),
                "RollingUpdate" => "rolling".to_string(),
                other => text(other).to_lowercase(),
            },
        );
    // The updated replicas' share stands for the canary's weight.
    row.weight = (updated.min(desired) * 100)
        .checked_div(desired)
        .map(|w| w as u8);
    let stuck = status
        .conditions
        .iter()
        .flatten()
        .find(|c| c.type_ == "Progressing" && c.status == "False");
    row.phase = if paused {
        Phase::Paused {
            until: None,
            reason: "spec.paused".into(),
        }
    } else if let Some(c) = stuck {
        Phase::Degraded {
            reason: text(c.reason.as_deref().unwrap_or("not progressing")),
        }
    } else {
        Phase::Progressing
    };
    row.changed = status
        .conditions
        .iter()
        .flatten()
        .filter_map(|c| c.last_update_time.as_ref().and_then(super::time))
        .chain(d.metadata.creation_timestamp.as_ref().and_then(super::time))
        .max();
    if let Some(labels) = spec.selector.match_labels.clone().filter(|l| !l.is_empty()) {
        row.selector = vec![labels];
    }
    Some(row)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[allow(clippy::needless_pass_by_value)]
    fn deployment(
        spec_extra: serde_json::Value,
        status: serde_json::Value,
        generation: i64,
    ) -> Deployment {
        let mut spec = json!({
            "replicas": 4,
            "selector": {"matchLabels": {"app": "api"}},
            "template": {"metadata": {"labels": {"app": "api"}}, "spec": {"containers": []}}
        });
        if let (Some(s), Some(extra)) = (spec.as_object_mut(), spec_extra.as_object()) {
            s.extend(extra.clone());
        }
        serde_json::from_value(json!({
            "metadata": {"name": "api", "namespace": "backend", "generation": generation},
            "spec": spec,
            "status": status
        }))
        .unwrap()
    }

    #[test]
    fn settled_deployments_have_no_row() {
        let d = deployment(
            json!({}),
            json!({"observedGeneration": 2, "replicas": 4, "updatedReplicas": 4, "readyReplicas": 4, "availableReplicas": 4}),
            2,
        );
        assert!(row("c", &d).is_none());
    }

    #[test]
    fn a_rolling_update_under_way_shows_its_updated_share() {
        let d = deployment(
            json!({}),
            json!({"observedGeneration": 3, "replicas": 5, "updatedReplicas": 1, "unavailableReplicas": 1}),
            3,
        );
        let r = row("c", &d).unwrap();
        assert_eq!((r.strategy.as_str(), r.weight), ("rolling", Some(25)));
        assert_eq!(r.phase, Phase::Progressing);
        // A new spec not yet seen by the controller counts as under way.
        let d = deployment(
            json!({}),
            json!({"observedGeneration": 2, "updatedReplicas": 4}),
            3,
        );
        assert!(row("c", &d).is_some());
    }

    #[test]
    fn paused_and_stuck_deployments_say_so() {
        let d = deployment(
            json!({"paused": true}),
            json!({"observedGeneration": 1, "updatedReplicas": 4}),
            1,
        );
        assert_eq!(row("c", &d).unwrap().phase.word(), "paused");
        let d = deployment(
            json!({}),
            json!({"observedGeneration": 1, "updatedReplicas": 2, "conditions": [
                {"type": "Progressing", "status": "False", "reason": "ProgressDeadlineExceeded"}]}),
            1,
        );
        assert_eq!(
            row("c", &d).unwrap().phase,
            Phase::Degraded {
                reason: "ProgressDeadlineExceeded".into()
            }
        );
    }
}
