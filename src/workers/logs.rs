//! Follows the log of every container of every live pod of the app and merges
//! them into batches for the Logs pane. A stream that breaks resumes from the
//! last timestamp it saw, without repeating lines.

use std::collections::HashMap;
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
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Resume {
    /// The newest stamp sent.
    last: Option<DateTime<Utc>>,
    /// Lines already sent that carry exactly `last` (a resumed stream repeats them,
    /// since the API server resumes from the start of that instant).
    at_last: Vec<String>,
    /// The stream began again from `last`: what it sends up to `last` was sent before.
    replaying: bool,
}

impl Resume {
    /// A new stream starts; after a break it opens with lines already sent.
    pub fn restart(&mut self) {
        self.replaying = self.last.is_some();
    }

    /// Whether a line is new; records it when it is. Only the replayed start of a
    /// resumed stream is filtered: within a stream every line is new, even one
    /// stamped before the line above it (a container's stamps need not be in order).
    pub fn accept(&mut self, at: DateTime<Utc>, text: &str) -> bool {
        if self.replaying {
            match self.last {
                Some(last) if at < last => return false,
                Some(last) if at == last => {
                    if self.at_last.iter().any(|t| t == text) {
                        return false;
                    }
                }
                _ => self.replaying = false,
            }
        }
        match self.last {
            Some(last) if at < last => {}
            Some(last) if at == last => self.at_last.push(text.to_string()),
            _ => {
                self.last = Some(at);
                self.at_last.clear();
                self.at_last.push(text.to_string());
            }
        }
        true
    }

    fn params(&self, container: &str) -> LogParams {
        LogParams {
            container: Some(container.to_string()),
            follow: true,
            timestamps: true,
            since_time: self.last.and_then(|t| {
                k8s_openapi::jiff::Timestamp::from_millisecond(t.timestamp_millis()).ok()
            }),
            tail_lines: if self.last.is_none() {
                Some(INITIAL_TAIL)
            } else {
                None
            },
            ..LogParams::default()
        }
    }
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
        // After a break the server repeats from 21.539; nothing shows twice.
        r.restart();
        assert!(!r.accept(t(21_539), "POST /api/orders 200"));
        assert!(r.accept(t(21_540), "GET /health 200"));
        // Once past the repeats, an earlier stamp is again a new line.
        assert!(r.accept(t(21_400), "GET /api/cart 200"));
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
