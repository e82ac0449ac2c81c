//! What the simulated containers have written: a bounded log per container,
//! the previous container's log after a restart, and a live feed for `follow`.
//!
//! Each line a container writes gets the next number of its sequence, which
//! survives restarts, so a follower that falls behind the live feed can pick
//! up from the stored log exactly where it left off.

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
    /// The line's place in its container's sequence.
    pub seq: u64,
    pub time: DateTime<Utc>,
    pub text: String,
}

#[derive(Default)]
struct ContainerLog {
    key: Option<Arc<ContainerKey>>,
    current: VecDeque<(DateTime<Utc>, String)>,
    /// The sequence number of `current`'s first line.
    first_seq: u64,
    /// The number the next line will get.
    next_seq: u64,
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
    /// The sequence number of the first line not in `lines`.
    pub next_seq: u64,
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
    ///
    /// A container runtime stamps lines as it reads them, so a container's
    /// stamps never go back: a line stamped before the last one is stamped with
    /// the last one's time. Clients rely on it (`sinceTime` resumes a follow).
    pub fn append(&self, key: &ContainerKey, time: DateTime<Utc>, text: impl Into<String>) {
        let text = text.into();
        let mut inner = self.lock();
        let log = inner.entry(key.clone()).or_default();
        if log.silenced {
            return;
        }
        let time = log.current.back().map_or(time, |(last, _)| time.max(*last));
        let seq = log.next_seq;
        log.next_seq += 1;
        log.current.push_back((time, text.clone()));
        while log.current.len() > LINES_PER_CONTAINER {
            log.current.pop_front();
            log.first_seq += 1;
        }
        let shared = log.key.get_or_insert_with(|| Arc::new(key.clone())).clone();
        // Sent under the lock so followers see lines in the order they were written.
        let _ = self.feed.send(Arc::new(LogLine {
            key: shared,
            seq,
            time,
            text,
        }));
    }

    /// A container restarted: its log so far becomes the `previous` log.
    pub fn restart(&self, key: &ContainerKey) {
        let mut inner = self.lock();
        let log = inner.entry(key.clone()).or_default();
        let finished = std::mem::take(&mut log.current);
        log.first_seq = log.next_seq;
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
        let (lines, next_seq) = inner.get(key).map_or_else(
            || (Vec::new(), 0),
            |l| (l.current.iter().cloned().collect(), l.next_seq),
        );
        Follow {
            lines,
            next_seq,
            live: self.feed.subscribe(),
        }
    }

    /// The current log's lines numbered `seq` and after (those still kept), and
    /// the number after the last: how a follower that lagged behind the live
    /// feed catches up.
    pub fn read_from(&self, key: &ContainerKey, seq: u64) -> (Vec<(DateTime<Utc>, String)>, u64) {
        let inner = self.lock();
        let Some(log) = inner.get(key) else {
            return (Vec::new(), seq);
        };
        let skip = usize::try_from(seq.saturating_sub(log.first_seq)).unwrap_or(usize::MAX);
        let lines = log.current.iter().skip(skip).cloned().collect();
        (lines, log.next_seq.max(seq))
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
    fn a_line_stamped_before_the_last_takes_the_last_stamp() {
        let logs = PodLogs::new();
        let k = ContainerKey::new("shop", "web-1", "app");
        let ms = |n| Utc.timestamp_millis_opt(n).unwrap();
        logs.append(&k, ms(21_200), "INFO ready");
        logs.append(&k, ms(21_134), "POST /api/checkout 200");
        logs.append(&k, ms(21_539), "POST /api/orders 200");
        let stamps: Vec<_> = logs
            .read(&k, false)
            .unwrap()
            .into_iter()
            .map(|l| l.0)
            .collect();
        assert_eq!(stamps, [ms(21_200), ms(21_200), ms(21_539)]);
    }

    #[test]
    fn read_from_picks_up_at_a_sequence_number_across_restarts_and_rotation() {
        let logs = PodLogs::new();
        let k = ContainerKey::new("shop", "web-1", "app");
        let f = logs.follow(&k);
        assert_eq!(f.next_seq, 0);
        logs.append(&k, t(1), "a");
        logs.append(&k, t(2), "b");
        assert_eq!(logs.read_from(&k, 1), (vec![(t(2), "b".to_string())], 2));
        logs.restart(&k);
        logs.append(&k, t(3), "c");
        // Numbers go on after a restart; what the old container wrote is gone.
        assert_eq!(logs.read_from(&k, 1), (vec![(t(3), "c".to_string())], 3));
        assert_eq!(logs.read_from(&k, 3), (vec![], 3));
        assert_eq!(logs.follow(&k).next_seq, 3);
        for i in 0..LINES_PER_CONTAINER {
            logs.append(&k, t(4), format!("line {i}"));
        }
        // "c" rotated out: the oldest line kept comes first.
        let (lines, next) = logs.read_from(&k, 2);
        assert_eq!(lines.len(), LINES_PER_CONTAINER);
        assert_eq!(lines[0].1, "line 0");
        assert_eq!(next, 3 + LINES_PER_CONTAINER as u64);
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
