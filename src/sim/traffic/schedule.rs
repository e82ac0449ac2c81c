//! The scenario's scheduled faults: applied at `at`, undone after `duration`.

use std::time::Duration;

use super::control::{self, FaultRequest, Undo};
use crate::sim::Shared;
use crate::sim::scenario::ScheduledFault;

enum Stage {
    Waiting,
    Active(Undo),
    Done,
}

pub struct Schedule {
    items: Vec<(ScheduledFault, Stage)>,
}

impl Schedule {
    pub fn new(faults: &[ScheduledFault]) -> Self {
        Self {
            items: faults.iter().map(|f| (f.clone(), Stage::Waiting)).collect(),
        }
    }

    /// Starts the faults whose time has come and ends those whose time is up.
    pub fn tick(&mut self, shared: &Shared, since_start: Duration) {
        for (fault, stage) in &mut self.items {
            if matches!(stage, Stage::Waiting) && since_start >= fault.at {
                *stage = match start(shared, fault) {
                    Ok(undo) => Stage::Active(undo),
                    Err(reason) => {
                        tracing::warn!(at = ?fault.at, %reason, "scheduled fault not applied");
                        Stage::Done
                    }
                };
            }
            if let Stage::Active(undo) = stage
                && fault.duration.is_some_and(|d| since_start >= fault.at + d)
            {
                control::undo(shared, undo);
                *stage = Stage::Done;
            }
        }
    }
}

fn start(shared: &Shared, fault: &ScheduledFault) -> Result<Undo, String> {
    let body = serde_json::to_value(&fault.fault).map_err(|e| e.to_string())?;
    let request = FaultRequest::from_value(body).map_err(|e| e.to_string())?;
    control::apply(shared, &request)
        .map(|(_, undo)| undo)
        .map_err(|e| e.to_string())
}
