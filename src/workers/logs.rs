//! Follows the log of every container of every live pod of the app and merges
//! them into batches for the Logs pane. A stream that breaks resumes from the
//! second of the last timestamp it saw, without losing or repeating lines.

use std::collections::{HashMap, VecDeque};
use std::time::Duration;

use chrono::{DateTime, Utc};
use futures::{AsyncBufReadExt, StreamExt};
use k8s_openapi::api::core::v1::Pod;
use kube::Api;
use kube::api::LogParams;
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;

use super::backoff::Backoff;
use super::pods::LivePod;
use super::{Target, trouble};
use crate::app::Msg;
use crate::app::msg::{LogLine, Source};

/// Lines shown from a pod's past when the cockpit first follows it.
const INITIAL_TAIL: i64 = 200;
/// How long lines gather before they go to the cockpit as one message.
/// Each message costs a redraw; a quarter second keeps a busy app's logs
/// lively while the cockpit stays well under 1% of a core at rest.
const BATCH_WINDOW: Duration = Duration::from_millis(250);
const BATCH_MAX: usize = 2_000;

pub async fn run(target: Target, tx: mpsc::Sender<Msg>, mut pods: watch::Receiver<Vec<LivePod>>) {
    let (line_tx, line_rx) = mpsc::channel::<LogLine>(BATCH_MAX * 4);
    let batcher = tokio::spawn(batch(line_rx, tx.clone()));
    let mut follows: HashMap<(String, String), JoinHandle<()>> = HashMap::new();
    loop {
        let live = pods.borrow_and_update().clone();
        for pod in live.iter().filter(|p| p.started) {
            for container in &pod.containers {
                let key = (pod.name.clone(), container.clone());
                if follows.get(&key).is_none_or(JoinHandle::is_finished) {
                    let handle = tokio::spawn(follow(
                        target.clone(),
                        pod.clone(),
                        container.clone(),
                        line_tx.clone(),
                        tx.clone(),
                    ));
                    follows.insert(key, handle);
                }
            }
        }
        let gone: Vec<(String, String)> = follows
            .keys()
            .filter(|(name, _)| !live.iter().any(|p| &p.name == name))
            .cloned()
            .collect();
        for key in gone {
            if let Some(handle) = follows.remove(&key) {
                handle.abort();
            }
            if tx.send(Msg::LogStreamEnded { pod: key.0 }).await.is_err() {
                break;
            }
        }
        if pods.changed().await.is_err() {
            break;
        }
    }
    for handle in follows.values() {
        handle.abort();
    }
    batcher.abort();
}

/// Gathers lines for a short window so a busy app costs one message per frame,
/// not one per line.
async fn batch(mut lines: mpsc::Receiver<LogLine>, tx: mpsc::Sender<Msg>) {
    while let Some(first) = lines.recv().await {
        let mut out = vec![first];
        let deadline = tokio::time::sleep(BATCH_WINDOW);
        tokio::pin!(deadline);
        while out.len() < BATCH_MAX {
            tokio::select! {
                () = &mut deadline => break,
                next = lines.recv() => match next {
                    Some(line) => out.push(line),
                    None => break,
                },
            }
        }
        if tx.send(Msg::LogLines(out)).await.is_err() {
            return;
        }
    }
}

/// Where a follow resumes after a break, and how it skips lines it already sent.
///
/// `sinceTime` has whole-second precision (kube rounds it to the nearest
/// second), so a stream resumed from the newest stamp could begin after lines
/// written later in that same second. It resumes instead from the start of that
/// second, and the lines it sent before from that second on, which the new
/// stream sends again first, are dropped by stamp and text.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Resume {
    /// The newest stamp sent.
    newest: Option<DateTime<Utc>>,
    /// Lines sent that are stamped in or after `newest`'s second, in the order
    /// sent: what a stream resumed from that second sends again.
    window: VecDeque<(DateTime<Utc>, String)>,
    /// While a resumed stream repeats `window`, the lines it has not repeated yet.
    replay: Option<VecDeque<(DateTime<Utc>, String)>>,
}

impl Resume {
    /// A new stream starts; after a break it opens with lines already sent.
    pub fn restart(&mut self) {
        self.replay = self.newest.map(|_| self.window.clone());
    }

    /// Whether a line is new; records it when it is. Only the repeated start of a
    /// resumed stream is filtered: within a stream every line is new, even one
    /// stamped before the line above it or the same as it.
    pub fn accept(&mut self, at: DateTime<Utc>, text: &str) -> bool {
        let since = self.since();
        if let Some(replay) = &mut self.replay {
            if since.is_some_and(|since| at < since) {
                // Before what was asked for: a server that ignores sinceTime.
                return false;
            }
            if let Some(i) = replay.iter().position(|(t, x)| *t == at && x == text) {
                replay.remove(i);
                return false;
            }
            // The first line not sent before: the repeats are over.
            self.replay = None;
        }
        if self.newest.is_none_or(|newest| at > newest) {
            self.newest = Some(at);
            let from = whole_second(at);
            self.window.retain(|(t, _)| *t >= from);
        }
        if self.since().is_some_and(|since| at >= since) {
            self.window.push_back((at, text.to_string()));
        }
        true
    }

    /// The start of the newest stamp's second: where a resumed stream begins.
    fn since(&self) -> Option<DateTime<Utc>> {
        self.newest.map(whole_second)
    }

    fn params(&self, container: &str) -> LogParams {
        LogParams {
            container: Some(container.to_string()),
            follow: true,
            timestamps: true,
            since_time: self
                .since()
                .and_then(|t| k8s_openapi::jiff::Timestamp::from_second(t.timestamp()).ok()),
            tail_lines: if self.newest.is_none() {
                Some(INITIAL_TAIL)
            } else {
                None
            },
            ..LogParams::default()
        }
    }
}

fn whole_second(at: DateTime<Utc>) -> DateTime<Utc> {
    DateTime::from_timestamp(at.timestamp(), 0).unwrap_or(at)
}

async fn follow(
    target: Target,
    pod: LivePod,
    container: String,
    lines: mpsc::Sender<LogLine>,
    tx: mpsc::Sender<Msg>,
) {
    let api: Api<Pod> = Api::namespaced(target.client.clone(), &target.namespace);
    let mut resume = Resume::default();
    let mut backoff = Backoff::default();
    let mut troubled = false;
    loop {
        match api.log_stream(&pod.name, &resume.params(&container)).await {
            Ok(stream) => {
                backoff.reset();
                resume.restart();
                if std::mem::take(&mut troubled)
                    && tx
                        .send(Msg::Recovered {
                            source: Source::Logs,
                        })
                        .await
                        .is_err()
                {
                    return;
                }
                let mut stream = stream.lines();
                while let Some(Ok(raw)) = stream.next().await {
                    let Some((at, text)) = split_timestamp(&raw) else {
                        continue;
                    };
                    if !resume.accept(at, text) {
                        continue;
                    }
                    let line = LogLine {
                        at,
                        pod: pod.name.clone(),
                        container: container.clone(),
                        version: pod.version.clone(),
                        text: text.to_string(),
                    };
                    if lines.send(line).await.is_err() {
                        return;
                    }
                }
            }
            Err(kube::Error::Api(status)) if status.code == 404 => return,
            Err(err) => {
                troubled = true;
                let trouble = trouble::from_kube(&err, "the API server");
                if tx
                    .send(Msg::Trouble {
                        source: Source::Logs,
                        trouble,
                    })
                    .await
                    .is_err()
                {
                    return;
                }
            }
        }
        // The stream ended: the container restarted or the connection broke. The
        // pods worker aborts this task when the pod is gone, so keep following.
        tokio::time::sleep(backoff.next_delay()).await;
    }
}

/// Splits `2026-01-01T00:00:00.123456789Z text` into its time and text.
pub fn split_timestamp(raw: &str) -> Option<(DateTime<Utc>, &str)> {
    let (stamp, text) = raw.split_once(' ').unwrap_or((raw, ""));
    let at = DateTime::parse_from_rfc3339(stamp)
        .ok()?
        .with_timezone(&Utc);
    Some((at, text))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_timestamped_lines() {
        let (at, text) = split_timestamp("2026-01-01T00:00:01.5Z GET /api/cart 200 12ms").unwrap();
        assert_eq!(at.timestamp_millis(), 1_767_225_601_500);
        assert_eq!(text, "GET /api/cart 200 12ms");
        assert!(split_timestamp("no timestamp here").is_none());
    }

    #[test]
    fn resume_skips_what_was_already_sent() {
        let t = |s: i64| DateTime::from_timestamp(s, 0).unwrap();
        let mut r = Resume::default();
        r.restart();
        assert!(r.accept(t(10), "a"));
        assert!(r.accept(t(10), "b"));
        assert!(r.accept(t(11), "c"));
        // The stream breaks and resumes from second 10: "b" and "c" come again.
        r.restart();
        assert!(!r.accept(t(10), "b"));
        assert!(!r.accept(t(11), "c"));
        assert!(r.accept(t(11), "d"));
        assert!(r.accept(t(12), "e"));
    }

    #[test]
    fn a_line_stamped_before_the_one_above_it_is_still_shown() {
        // A container writes "ready" at 21.200 and then a request line it stamped
        // at 21.134: both are new, in the order written.
        let t = |ms: i64| DateTime::from_timestamp_millis(ms).unwrap();
        let mut r = Resume::default();
        r.restart();
        assert!(r.accept(t(21_200), "INFO ready"));
        assert!(r.accept(t(21_134), "POST /api/checkout 200"));
        assert!(r.accept(t(21_539), "POST /api/orders 200"));
        // After a break the server repeats second 21 (here only its last line);
        // nothing shows twice.
        r.restart();
        assert!(!r.accept(t(21_539), "POST /api/orders 200"));
        assert!(r.accept(t(21_540), "GET /health 200"));
        // Once past the repeats, an earlier stamp is again a new line.
        assert!(r.accept(t(21_400), "GET /api/cart 200"));
    }

    #[test]
    fn a_resume_asks_from_the_start_of_the_newest_second() {
        let t = |ms: i64| DateTime::from_timestamp_millis(ms).unwrap();
        let mut r = Resume::default();
        assert_eq!(r.params("app").since_time, None);
        assert_eq!(r.params("app").tail_lines, Some(INITIAL_TAIL));
        r.restart();
        assert!(r.accept(t(10_200), "a"));
        assert!(r.accept(t(10_600), "b"));
        let params = r.params("app");
        assert_eq!(params.tail_lines, None);
        // kube sends sinceTime rounded to the second: 10.6 would become 11 and
        // lose a line written at 10.8. Asking for 10 loses nothing.
        assert_eq!(
            params.since_time,
            Some(k8s_openapi::jiff::Timestamp::from_second(10).unwrap())
        );
        // The server repeats the second from its start, then the line written
        // at 10.8 while the stream was down.
        r.restart();
        assert!(!r.accept(t(10_200), "a"));
        assert!(!r.accept(t(10_600), "b"));
        assert!(r.accept(t(10_800), "c"));
        assert!(r.accept(t(11_100), "d"));
    }

    #[test]
    fn a_line_written_twice_in_the_same_instant_shows_twice() {
        // Two health checks in the same millisecond; the stream breaks between them.
        let t = |ms: i64| DateTime::from_timestamp_millis(ms).unwrap();
        let mut r = Resume::default();
        r.restart();
        assert!(r.accept(t(7_250), "GET /health 200"));
        r.restart();
        assert!(!r.accept(t(7_250), "GET /health 200"));
        assert!(r.accept(t(7_250), "GET /health 200"));
        // And a third break repeats both.
        r.restart();
        assert!(!r.accept(t(7_250), "GET /health 200"));
        assert!(!r.accept(t(7_250), "GET /health 200"));
        assert!(r.accept(t(7_900), "GET /health 200"));
    }

    #[test]
    fn only_the_newest_second_is_remembered() {
        let t = |ms: i64| DateTime::from_timestamp_millis(ms).unwrap();
        let mut r = Resume::default();
        r.restart();
        for ms in (0..5_000).step_by(10) {
            assert!(r.accept(t(ms), "GET /api/cart 200"));
        }
        assert_eq!(r.window.len(), 100);
        assert!(r.window.iter().all(|(at, _)| *at >= t(4_000)));
    }

    #[test]
    fn a_second_line_at_the_resume_instant_is_kept() {
        let t = |ms: i64| DateTime::from_timestamp_millis(ms).unwrap();
        let mut r = Resume::default();
        r.restart();
        assert!(r.accept(t(5_000), "first at 5.000"));
        // The stream breaks here; the resumed one repeats the first and then
        // brings a second line written at the same instant.
        r.restart();
        assert!(!r.accept(t(5_000), "first at 5.000"));
        assert!(r.accept(t(5_000), "second at 5.000"));
        assert!(r.accept(t(5_001), "later"));
    }
}
