//! Turning client errors into the words a pane shows.

use chrono::Utc;
use kube::runtime::watcher;

use crate::app::msg::Trouble;

/// What a failed Kubernetes request means for the person looking at the pane.
pub fn from_kube(err: &kube::Error, target: &str) -> Trouble {
    match err {
        kube::Error::Api(status) if status.code == 403 => Trouble::Forbidden {
            message: status.message.clone(),
        },
        kube::Error::Api(status) => Trouble::Failed {
            reason: format!("{} ({})", status.message, status.code),
        },
        kube::Error::HyperError(e) => Trouble::Unreachable {
            target: target.to_string(),
            reason: e.to_string(),
        },
        kube::Error::Service(e) => Trouble::Unreachable {
            target: target.to_string(),
            reason: e.to_string(),
        },
        other => Trouble::Disconnected {
            since: Utc::now(),
            reason: other.to_string(),
        },
    }
}

/// The same for a watcher's error, which wraps the client's.
pub fn from_watcher(err: &watcher::Error, target: &str) -> Trouble {
    match err {
        watcher::Error::InitialListFailed(e)
        | watcher::Error::WatchStartFailed(e)
        | watcher::Error::WatchFailed(e) => from_kube(e, target),
        watcher::Error::WatchError(status) if status.code == 403 => Trouble::Forbidden {
            message: status.message.clone(),
        },
        other => Trouble::Disconnected {
            since: Utc::now(),
            reason: other.to_string(),
        },
    }
}
