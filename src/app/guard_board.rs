//! The guards as the panes show them: each guard's latest state and numbers,
//! in the order the plan lists them (the order their first reports came in).

use crate::rollout::guards::GuardState;
use crate::workers::guard_watch::GuardUpdate;

#[derive(Debug, Clone, Default, PartialEq)]
pub struct GuardBoard {
    updates: Vec<GuardUpdate>,
}

impl GuardBoard {
    /// A guard's first report adds it at the end; later ones replace it in place,
    /// so rows never jump around while the captain reads them.
    pub fn apply(&mut self, update: GuardUpdate) {
        match self.updates.iter_mut().find(|u| u.guard == update.guard) {
            Some(slot) => *slot = update,
            None => self.updates.push(update),
        }
    }

    pub fn iter(&self) -> impl ExactSizeIterator<Item = &GuardUpdate> {
        self.updates.iter()
    }

    pub fn len(&self) -> usize {
        self.updates.len()
    }

    pub fn is_empty(&self) -> bool {
        self.updates.is_empty()
    }

    /// How many guards are firing now.
    pub fn firing(&self) -> usize {
        self.updates
            .iter()
            .filter(|u| matches!(u.state, GuardState::Firing { .. }))
            .count()
    }

    /// Worst first (firing, pending, no data, ok), plan order within each:
    /// where a line runs out of room, what matters most is still on it.
    pub fn worst_first(&self) -> Vec<&GuardUpdate> {
        let mut updates: Vec<&GuardUpdate> = self.updates.iter().collect();
        updates.sort_by_key(|u| severity(&u.state));
        updates
    }
}

fn severity(state: &GuardState) -> u8 {
    match state {
        GuardState::Firing { .. } => 0,
        GuardState::Pending { .. } => 1,
        GuardState::NoData { .. } => 2,
        GuardState::Ok => 3,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rollout::guards::{GuardAction, GuardMetric};
    use chrono::{DateTime, TimeZone, Utc};

    fn at(secs: i64) -> DateTime<Utc> {
        Utc.timestamp_opt(1_700_000_000 + secs, 0).unwrap()
    }

    fn update(guard: &str, state: GuardState, latest: f64) -> GuardUpdate {
        GuardUpdate {
            guard: guard.into(),
            metric: GuardMetric::ErrorRatio,
            action: GuardAction::Rollback,
            state,
            latest: Some(latest),
            threshold: 0.05,
            reason: None,
            at: at(0),
        }
    }

    #[test]
    fn first_reports_append_and_later_ones_replace_in_place() {
        let mut board = GuardBoard::default();
        board.apply(update("error-ratio", GuardState::Ok, 0.01));
        board.apply(update("latency-p99", GuardState::Ok, 0.4));
        let firing = GuardState::Firing {
            since: at(-120),
            value: 0.07,
        };
        board.apply(update("error-ratio", firing, 0.07));
        let rows: Vec<_> = board.iter().map(|u| (u.guard.as_str(), u.state)).collect();
        assert_eq!(
            rows,
            [("error-ratio", firing), ("latency-p99", GuardState::Ok)]
        );
        assert_eq!(board.len(), 2);
        assert_eq!(board.firing(), 1);
    }

    #[test]
    fn worst_first_puts_firing_before_pending_before_no_data_before_ok() {
        let mut board = GuardBoard::default();
        board.apply(update("a-ok", GuardState::Ok, 0.01));
        board.apply(update("b-nodata", GuardState::NoData { since: None }, 0.0));
        board.apply(update(
            "c-pending",
            GuardState::Pending {
                since: at(-10),
                value: 0.06,
            },
            0.06,
        ));
        board.apply(update(
            "d-firing",
            GuardState::Firing {
                since: at(-200),
                value: 0.09,
            },
            0.09,
        ));
        board.apply(update("e-ok", GuardState::Ok, 0.02));
        let order: Vec<_> = board
            .worst_first()
            .iter()
            .map(|u| u.guard.clone())
            .collect();
        assert_eq!(order, ["d-firing", "c-pending", "b-nodata", "a-ok", "e-ok"]);
    }
}
