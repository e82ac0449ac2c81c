//! flightdeck's own rollouts, read from their state ConfigMaps (labelled
//! `app.kubernetes.io/managed-by=flightdeck`, key `rollout.json`).

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::ConfigMap;

use super::text;
use crate::driver::store::KEY;
use crate::fleet::{Detail, Kind, Phase as FleetPhase, Row};
use crate::rollout::history::StoredRollout;
use crate::rollout::plan::Pause;
use crate::rollout::state::{PausedBy, Phase};

/// The label flightdeck puts on the ConfigMaps it keeps rollouts in.
pub const LABEL_SELECTOR: &str = "app.kubernetes.io/managed-by=flightdeck";

pub fn row(cluster: &str, cm: &ConfigMap) -> Option<Row> {
    let stored_text = cm.data.as_ref()?.get(KEY)?;
    let namespace = cm.metadata.namespace.as_deref().unwrap_or_default();
    let stored = match StoredRollout::from_json(stored_text) {
        Ok(s) => s,
        Err(e) => {
            // Kept as a row: a state nobody can read needs a person.
            let name = cm.metadata.name.as_deref()?;
            let app = name.strip_suffix("-flightdeck-rollout").unwrap_or(name);
            let mut row = Row::new(cluster, &text(namespace), &text(app), Kind::Flightdeck);
            row.phase = FleetPhase::Degraded {
                reason: text(&e.to_string()),
            };
            return Some(row);
        }
    };
    let state = &stored.state;
    let mut row = Row::new(
        cluster,
        &text(&state.namespace),
        &text(&state.app),
        Kind::Flightdeck,
    );
    row.strategy = state.course.strategy.to_string();
    let total = state.course.stages.len() as u32;
    row.step = match &state.phase {
        Phase::Promoted { .. } => Some((total, total)),
        _ => state.stage().map(|s| (s as u32 + 1, total)),
    };
    row.weight = match &state.phase {
        Phase::Promoted { .. } => Some(100),
        Phase::Aborted { .. } => Some(0),
        Phase::RollingBack { weight, .. } => Some(*weight),
        _ => state
            .stage_weights()
            .map(crate::rollout::effects::Weights::canary_percent),
    };
    row.phase = match &state.phase {
        Phase::NotStarted => FleetPhase::Paused {
            until: None,
            reason: "not started".into(),
        },
        Phase::Progressing { .. } => FleetPhase::Progressing,
        Phase::Paused { by, .. } => match by {
            PausedBy::Stage => FleetPhase::Paused {
                until: None,
                reason: "waiting for the go".into(),
            },
            PausedBy::Manual => FleetPhase::Paused {
                until: None,
                reason: "paused by the captain".into(),
            },
            PausedBy::Timed { until } => FleetPhase::Paused {
                until: Some(*until),
                reason: "timed stage".into(),
            },
            PausedBy::Guard { alarm } => FleetPhase::FailingGuard {
                reason: format!("guard {}", text(&alarm.guard)),
            },
            PausedBy::Analysis { reason } => FleetPhase::FailingGuard {
                reason: text(reason),
            },
        },
        Phase::Promoted { .. } => FleetPhase::Promoted,
        Phase::RollingBack { reason, .. } => FleetPhase::Degraded {
            reason: format!("rolling back: {}", text(reason)),
        },
        Phase::Aborted { reason, .. } => FleetPhase::Aborted {
            reason: text(reason),
        },
    };
    row.changed = stored
        .history
        .entries()
        .map(|e| e.at)
        .max()
        .or(match &state.phase {
            Phase::Progressing { since: at, .. }
            | Phase::Paused { since: at, .. }
            | Phase::RollingBack { since: at, .. }
            | Phase::Promoted { at }
            | Phase::Aborted { at, .. } => Some(*at),
            Phase::NotStarted => None,
        });
    row.selector = vec![BTreeMap::from([("app".to_string(), state.app.clone())])];
    row.detail = Detail {
        steps: state
            .course
            .stages
            .iter()
            .map(|s| match s.pause {
                Pause::Manual => format!("{}%, waits for the go", s.weight),
                Pause::Timed(d) => format!("{}%, {}", s.weight, crate::units::format_duration(d)),
            })
            .collect(),
        current: state.stage(),
        analysis: Vec::new(),
        notes: vec![text(&state.describe())],
    };
    Some(row)
}
