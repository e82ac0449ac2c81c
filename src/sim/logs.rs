//! What the simulated containers have written: a bounded log per container,
//! the previous container's log after a restart, and a live feed for `follow`.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard};

use chrono::{DateTime, Utc};
use tokio::sync::broadcast;

/// Lines kept per container, as a kubelet's log rotation would bound them.
pub const LINES_PER_CONTAINER: usize = 5_000;
const FEED_CAPACITY: usize = 16_384;

#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ContainerKey {
    pub namespace: String,
    pub pod: String,
    pub container: String,
}

impl ContainerKey {
    pub fn new(namespace: &str, pod: &str, container: &str) -> Self {
        Self {
            namespace: namespace.to_string(),
            pod: pod.to_string(),
            container: container.to_string(),
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct LogLine {
    pub key: Arc<ContainerKey>,
    pub time: DateTime<Utc>,
    pub text: String,
}

#[derive(Default)]
struct ContainerLog {
    key: Option<Arc<ContainerKey>>,
    current: VecDeque<(DateTime<Utc>, String)>,
    previous: Option<VecDeque<(DateTime<Utc>, String)>>,
    /// A silenced container writes nothing (the "pod stops logging" fault).
    silenced: bool,
}

pub struct PodLogs {
    inner: Mutex<HashMap<ContainerKey, ContainerLog>>,
    feed: broadcast::Sender<Arc<LogLine>>,
}

impl Default for PodLogs {
    fn default() -> Self {
        Self::new()
    }
}

/// What a `follow` request starts from: the lines so far, then the live feed.
pub struct Follow {
    pub lines: Vec<(DateTime<Utc>, String)>,
    pub live: broadcast::Receiver<Arc<LogLine>>,
}

impl PodLogs {
    pub fn new() -> Self {
        let (feed, _) = broadcast::channel(FEED_CAPACITY);
        Self {
            inner: Mutex::new(HashMap::new()),
            feed,
        }
    }

    fn lock(&self) -> MutexGuard<'_, HashMap<ContainerKey, ContainerLog>> {
        self.inner
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Appends one line to a container's log and to the live feed.
    pub fn append(&self, key: &ContainerKey, time: DateTime<Utc>, text: impl Into<String>) {
        let text = text.into();
        let mut inner = self.lock();
        let log = inner.entry(key.clone()).or_default();
        if log.silenced {
            return;
        }
        log.current.push_back((time, text.clone()));
        while log.current.len() > LINES_PER_CONTAINER {
            log.current.pop_front();
        }
        let shared = log.key.get_or_insert_with(|| Arc::new(key.clone())).clone();
        // Sent under the lock so followers see lines in the order they were written.
        let _ = self.feed.send(Arc::new(LogLine {
            key: shared,
            time,
            text,
        }));
    }

    /// A container restarted: its log so far becomes the `previous` log.
    pub fn restart(&self, key: &ContainerKey) {
        let mut inner = self.lock();
        let log = inner.entry(key.clone()).or_default();
        let finished = std::mem::take(&mut log.current);
        log.previous = Some(finished);
    }

    /// Stops or restarts a container's logging (fault injection).
    pub fn set_silenced(&self, key: &ContainerKey, silenced: bool) {
        self.lock().entry(key.clone()).or_default().silenced = silenced;
    }

    /// Forgets every container of a pod (the pod was deleted).
    pub fn remove_pod(&self, namespace: &str, pod: &str) {
        self.lock()
            .retain(|k, _| !(k.namespace == namespace && k.pod == pod));
    }

    /// The current log, or the previous container's with `previous`. `None` when
    /// there is no such log (a pod that never ran, or never restarted).
    pub fn read(&self, key: &ContainerKey, previous: bool) -> Option<Vec<(DateTime<Utc>, String)>> {
        let inner = self.lock();
        let log = inner.get(key)?;
        if previous {
            log.previous.as_ref().map(|p| p.iter().cloned().collect())
        } else {
            Some(log.current.iter().cloned().collect())
        }
    }

    /// The lines so far and the live feed, taken together so none is lost or doubled.
    pub fn follow(&self, key: &ContainerKey) -> Follow {
        let inner = self.lock();
        let lines = inner
            .get(key)
            .map(|l| l.current.iter().cloned().collect())
            .unwrap_or_default();
        Follow {
            lines,
            live: self.feed.subscribe(),
        }
    }

    /// Containers with a log, for tests and diagnostics.
    pub fn containers(&self) -> Vec<ContainerKey> {
        let mut keys: Vec<_> = self.lock().keys().cloned().collect();
        keys.sort();
        keys
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn t(s: i64) -> DateTime<Utc> {
        Utc.timestamp_opt(s, 0).unwrap()
    }

    #[test]
    fn restart_moves_log_to_previous() {
        let logs = PodLogs::new();
        let k = ContainerKey::new("shop", "web-1", "app");
        logs.append(&k, t(1), "starting");
        logs.append(&k, t(2), "panic: boom");
        logs.restart(&k);
        logs.append(&k, t(3), "starting");
        assert_eq!(logs.read(&k, true).unwrap().len(), 2);
        assert_eq!(
            logs.read(&k, false).unwrap(),
            vec![(t(3), "starting".to_string())]
        );
    }

    #[test]
    fn ring_is_bounded() {
        let logs = PodLogs::new();
        let k = ContainerKey::new("shop", "web-1", "app");
        for i in 0..(LINES_PER_CONTAINER + 10) {
            logs.append(&k, t(i as i64), format!("line {i}"));
        }
        let lines = logs.read(&k, false).unwrap();
        assert_eq!(lines.len(), LINES_PER_CONTAINER);
        assert_eq!(lines[0].1, "line 10");
    }

    #[test]
    fn follow_sees_new_lines() {
        let logs = PodLogs::new();
        let k = ContainerKey::new("shop", "web-1", "app");
        logs.append(&k, t(1), "a");
        let mut f = logs.follow(&k);
        logs.append(&k, t(2), "b");
        assert_eq!(f.lines.len(), 1);
        assert_eq!(f.live.try_recv().unwrap().text, "b");
    }

    #[test]
    fn silenced_container_writes_nothing() {
        let logs = PodLogs::new();
        let k = ContainerKey::new("shop", "web-1", "app");
        logs.set_silenced(&k, true);
        logs.append(&k, t(1), "a");
        assert_eq!(logs.read(&k, false).unwrap().len(), 0);
    }
}
