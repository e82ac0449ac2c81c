//! What changed in the store since a controller last looked, so that a tick
//! over a quiet cluster of thousands of pods does no work. A controller that
//! falls too far behind the change feed is told to look at everything again.

use std::sync::Arc;

use tokio::sync::broadcast::{self, error::TryRecvError};

use crate::sim::Store;
use crate::sim::store::Change;

#[derive(Default)]
pub struct Feed {
    rx: Option<broadcast::Receiver<Arc<Change>>>,
}

pub enum Changes {
    /// Look at everything (the first tick, or the feed overflowed).
    All,
    Some(Vec<Arc<Change>>),
}

impl Feed {
    pub fn drain(&mut self, store: &Store) -> Changes {
        let Some(rx) = self.rx.as_mut() else {
            self.rx = Some(store.subscribe());
            return Changes::All;
        };
        let mut changes = Vec::new();
        loop {
            match rx.try_recv() {
                Ok(change) => changes.push(change),
                Err(TryRecvError::Empty | TryRecvError::Closed) => return Changes::Some(changes),
                Err(TryRecvError::Lagged(_)) => {
                    *rx = store.subscribe();
                    return Changes::All;
                }
            }
        }
    }
}
