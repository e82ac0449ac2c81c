//! Webhooks told about each step of a rollout: Slack-compatible incoming
//! webhooks (`{"text": …, "blocks": […]}`) and a generic JSON body
//! (`{event, app, namespace, stage, weights, reason, numbers, at}`).
//!
//! Each webhook has its own task and bounded queue, retries with back-off
//! and sits behind a [`Breaker`], so a dead endpoint never slows the rollout:
//! [`Notifier::send`] only enqueues, and never waits. What goes wrong (a
//! failed delivery, an open circuit, a full queue) is reported on a channel
//! for the cockpit to show; it is not hidden, and reporting never blocks
//! either.

use std::collections::BTreeMap;
use std::fmt::{self, Write as _};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::{Value, json};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use super::backoff::Backoff;
use super::circuit::Breaker;
use crate::rollout::Weights;
use crate::rollout::analysis::Verdict;
use crate::rollout::guards::Alarm;
use crate::rollout::plan::{Notification, UrlSource, WebhookKind};

/// What happened to the rollout.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum NoticeKind {
    Started,
    Stage,
    Paused,
    Resumed,
    Promoted,
    RolledBack,
    GuardFired,
    Analysis,
}

impl NoticeKind {
    pub fn name(self) -> &'static str {
        match self {
            NoticeKind::Started => "started",
            NoticeKind::Stage => "stage",
            NoticeKind::Paused => "paused",
            NoticeKind::Resumed => "resumed",
            NoticeKind::Promoted => "promoted",
            NoticeKind::RolledBack => "rolled-back",
            NoticeKind::GuardFired => "guard-fired",
            NoticeKind::Analysis => "analysis",
        }
    }
}

impl fmt::Display for NoticeKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// One message to every webhook. This is also the generic webhook's body.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Notice {
    pub event: NoticeKind,
    pub app: String,
    pub namespace: String,
    /// 1-based, as the captain counts stages.
    pub stage: Option<usize>,
    pub weights: Option<Weights>,
    pub reason: String,
    /// The numbers behind the reason, by name (`value`, `threshold`, …).
    pub numbers: BTreeMap<String, f64>,
    pub at: DateTime<Utc>,
}

impl Notice {
    pub fn new(event: NoticeKind, app: &str, namespace: &str, reason: impl Into<String>) -> Self {
        Self {
            event,
            app: app.to_string(),
            namespace: namespace.to_string(),
            stage: None,
            weights: None,
            reason: reason.into(),
            numbers: BTreeMap::new(),
            at: Utc::now(),
        }
    }

    #[must_use]
    pub fn at_stage(mut self, stage: usize, weights: Weights) -> Self {
        self.stage = Some(stage);
        self.weights = Some(weights);
        self
    }

    #[must_use]
    pub fn at_time(mut self, at: DateTime<Utc>) -> Self {
        self.at = at;
        self
    }

    /// A guard fired: its reason and the numbers that fired it.
    pub fn guard_fired(app: &str, namespace: &str, alarm: &Alarm) -> Self {
        Self::new(NoticeKind::GuardFired, app, namespace, alarm.to_string())
            .with_alarm_numbers(alarm)
    }

    /// The numbers that fired `alarm`: value, threshold, how long it held.
    #[must_use]
    pub fn with_alarm_numbers(mut self, alarm: &Alarm) -> Self {
        self.numbers.insert("value".into(), alarm.value);
        self.numbers.insert("threshold".into(), alarm.threshold);
        self.numbers
            .insert("held_for_seconds".into(), alarm.held_for.as_secs_f64());
        self
    }

    /// An analysis verdict, with each check's canary, stable and limit.
    pub fn verdict(app: &str, namespace: &str, verdict: &Verdict) -> Self {
        let mut notice = Self::new(NoticeKind::Analysis, app, namespace, verdict.to_string())
            .at_time(verdict.at);
        for check in &verdict.checks {
            for (side, value) in [
                ("canary", check.canary),
                ("stable", check.stable),
                ("limit", check.limit),
            ] {
                if let Some(v) = value {
                    notice.numbers.insert(format!("{} {side}", check.name), v);
                }
            }
        }
        notice
    }

    /// One line for humans, as Slack shows it.
    pub fn headline(&self) -> String {
        let what = match self.event {
            NoticeKind::Started => "rollout started",
            NoticeKind::Stage => "stage reached",
            NoticeKind::Paused => "rollout paused",
            NoticeKind::Resumed => "rollout resumed",
            NoticeKind::Promoted => "rollout promoted",
            NoticeKind::RolledBack => "rollout rolled back",
            NoticeKind::GuardFired => "guard fired",
            NoticeKind::Analysis => "analysis",
        };
        let mut line = format!("{}/{}: {what}", self.namespace, self.app);
        if let Some(stage) = self.stage {
            let _ = write!(line, " (stage {stage}");
            if let Some(w) = self.weights {
                let _ = write!(line, ", {w}");
            }
            line.push(')');
        }
        if !self.reason.is_empty() {
            line.push_str(" — ");
            line.push_str(&self.reason);
        }
        line
    }

    fn numbers_line(&self) -> String {
        self.numbers
            .iter()
            .map(|(k, v)| format!("{k}: {}", short(*v)))
            .collect::<Vec<_>>()
            .join(", ")
    }
}

fn short(v: f64) -> String {
    let text = format!("{v:.4}");
    let text = text.trim_end_matches('0').trim_end_matches('.');
    text.to_string()
}

/// The body a webhook of `kind` receives for `notice`.
pub fn payload(kind: WebhookKind, notice: &Notice) -> Value {
    match kind {
        WebhookKind::Generic => serde_json::to_value(notice).unwrap_or(Value::Null),
        WebhookKind::Slack => {
            let headline = notice.headline();
            let numbers = notice.numbers_line();
            let text = if numbers.is_empty() {
                headline.clone()
            } else {
                format!("{headline}\n{numbers}")
            };
            let mut blocks = vec![json!({
                "type": "section",
                "text": {"type": "mrkdwn", "text": headline},
            })];
            if !numbers.is_empty() {
                blocks.push(json!({
                    "type": "context",
                    "elements": [{"type": "mrkdwn", "text": numbers}],
                }));
            }
            json!({"text": text, "blocks": blocks})
        }
    }
}

/// A webhook with its URL resolved.
#[derive(Clone, PartialEq, Eq)]
pub struct Webhook {
    pub kind: WebhookKind,
    pub url: String,
}

impl Webhook {
    /// Where it points, without the path: Slack URLs carry their secret there.
    pub fn label(&self) -> String {
        let kind = match self.kind {
            WebhookKind::Slack => "slack",
            WebhookKind::Generic => "generic",
        };
        let host = reqwest::Url::parse(&self.url)
            .ok()
            .and_then(|u| {
                let host = u.host_str()?.to_string();
                Some(match u.port() {
                    Some(p) => format!("{host}:{p}"),
                    None => host,
                })
            })
            .unwrap_or_else(|| "an invalid URL".into());
        format!("{kind} webhook at {host}")
    }
}

impl fmt::Debug for Webhook {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.label())
    }
}

/// Resolves the plan's webhooks; `env` reads a variable. A webhook whose
/// variable is unset or empty is left out, with a problem saying so.
pub fn resolve(
    notifications: &[Notification],
    env: impl Fn(&str) -> Option<String>,
) -> (Vec<Webhook>, Vec<String>) {
    let mut hooks = Vec::new();
    let mut problems = Vec::new();
    for n in notifications {
        let url = match &n.url {
            UrlSource::Literal(url) => Some(url.clone()),
            UrlSource::Env(var) => {
                let found = env(var).filter(|v| !v.trim().is_empty());
                if found.is_none() {
                    problems.push(format!("webhook skipped: ${var} is not set"));
                }
                found
            }
        };
        let Some(url) = url else { continue };
        match reqwest::Url::parse(&url) {
            Ok(u) if matches!(u.scheme(), "http" | "https") => {
                hooks.push(Webhook { kind: n.kind, url });
            }
            _ => problems.push("webhook skipped: its URL is not an http(s) URL".to_string()),
        }
    }
    (hooks, problems)
}

/// How hard to try.
#[derive(Debug, Clone)]
pub struct NotifyOptions {
    /// Notices waiting per webhook; more are dropped (and reported).
    pub queue: usize,
    /// Tries per notice while the circuit is closed.
    pub attempts: u32,
    pub first_retry: Duration,
    pub max_retry: Duration,
    /// Per request.
    pub timeout: Duration,
    /// Failed tries in a row that open the circuit.
    pub open_after: u32,
    pub cool_down: Duration,
    /// The longest a 429's `Retry-After` may hold a webhook's queue.
    pub max_retry_after: Duration,
}

impl Default for NotifyOptions {
    fn default() -> Self {
        Self {
            queue: 64,
            attempts: 3,
            first_retry: Duration::from_secs(1),
            max_retry: Duration::from_secs(10),
            timeout: Duration::from_secs(5),
            open_after: 3,
            cool_down: Duration::from_secs(60),
            max_retry_after: Duration::from_secs(60),
        }
    }
}

/// What the cockpit is told about deliveries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Delivery {
    /// Every try failed; the notice is lost.
    Failed {
        webhook: String,
        event: NoticeKind,
        attempts: u32,
        reason: String,
    },
    /// The circuit is open: the notice was not sent.
    CircuitOpen { webhook: String, event: NoticeKind },
    /// The webhook's queue was full: the notice was not sent.
    Dropped { webhook: String, event: NoticeKind },
    /// The webhook answered a client error (4xx other than 408 and 429):
    /// sending the same body again would be refused again, so it was not.
    Refused {
        webhook: String,
        event: NoticeKind,
        status: u16,
    },
    /// A delivery succeeded after failures: the webhook works again.
    Recovered { webhook: String },
}

impl fmt::Display for Delivery {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Delivery::Failed {
                webhook,
                event,
                attempts,
                reason,
            } => write!(
                f,
                "{webhook}: {event} notice lost after {attempts} tries: {reason}"
            ),
            Delivery::CircuitOpen { webhook, event } => {
                write!(f, "{webhook}: circuit open, {event} notice not sent")
            }
            Delivery::Dropped { webhook, event } => {
                write!(f, "{webhook}: queue full, {event} notice dropped")
            }
            Delivery::Refused {
                webhook,
                event,
                status,
            } => write!(f, "{webhook}: {event} notice refused with HTTP {status}"),
            Delivery::Recovered { webhook } => write!(f, "{webhook}: delivering again"),
        }
    }
}

/// The sending side; cheap to clone. Dropping every clone ends the tasks
/// once their queues are empty.
#[derive(Clone)]
pub struct Notifier {
    hooks: Vec<(String, mpsc::Sender<Notice>)>,
    reports: mpsc::Sender<Delivery>,
}

impl Notifier {
    /// Starts one delivery task per webhook; problems go to `reports`.
    pub fn spawn(
        hooks: Vec<Webhook>,
        options: &NotifyOptions,
        reports: mpsc::Sender<Delivery>,
    ) -> (Notifier, Vec<JoinHandle<()>>) {
        let http = reqwest::Client::builder()
            .timeout(options.timeout)
            .build()
            .unwrap_or_default();
        let mut senders = Vec::with_capacity(hooks.len());
        let mut tasks = Vec::with_capacity(hooks.len());
        for hook in hooks {
            let (tx, rx) = mpsc::channel(options.queue.max(1));
            senders.push((hook.label(), tx));
            tasks.push(tokio::spawn(deliver(
                hook,
                http.clone(),
                options.clone(),
                rx,
                reports.clone(),
            )));
        }
        (
            Notifier {
                hooks: senders,
                reports,
            },
            tasks,
        )
    }

    /// The webhooks `notifications` name, URLs read from the environment,
    /// each with its delivery task; `None` when there are none. Also the
    /// problems of webhooks left out (an unset variable, a bad URL).
    pub fn for_plan(
        notifications: &[Notification],
        reports: mpsc::Sender<Delivery>,
    ) -> (Option<Notifier>, Vec<JoinHandle<()>>, Vec<String>) {
        let (hooks, problems) = resolve(notifications, |var| std::env::var(var).ok());
        if hooks.is_empty() {
            return (None, Vec::new(), problems);
        }
        let (notifier, tasks) = Self::spawn(hooks, &NotifyOptions::default(), reports);
        (Some(notifier), tasks, problems)
    }

    /// Queues `notice` for every webhook without waiting.
    pub fn send(&self, notice: &Notice) {
        for (label, tx) in &self.hooks {
            if tx.try_send(notice.clone()).is_err() {
                report(
                    &self.reports,
                    Delivery::Dropped {
                        webhook: label.clone(),
                        event: notice.event,
                    },
                );
            }
        }
    }
}

/// Reports never wait either: a cockpit that is not reading loses reports,
/// not the rollout's time.
fn report(reports: &mpsc::Sender<Delivery>, delivery: Delivery) {
    if reports.try_send(delivery).is_err() {
        tracing::warn!("a webhook delivery report was dropped");
    }
}

async fn deliver(
    hook: Webhook,
    http: reqwest::Client,
    options: NotifyOptions,
    mut rx: mpsc::Receiver<Notice>,
    reports: mpsc::Sender<Delivery>,
) {
    let label = hook.label();
    let mut breaker = Breaker::new(options.open_after, options.cool_down);
    let mut failing = false;
    while let Some(notice) = rx.recv().await {
        let body = payload(hook.kind, &notice);
        let mut backoff = Backoff::new(options.first_retry, options.max_retry);
        let mut tries = 0;
        loop {
            if !breaker.allow(Instant::now()) {
                report(
                    &reports,
                    Delivery::CircuitOpen {
                        webhook: label.clone(),
                        event: notice.event,
                    },
                );
                break;
            }
            tries += 1;
            let mut delay = backoff.next_delay();
            match post(&http, &hook.url, &body).await {
                Ok(()) => {
                    breaker.success();
                    if failing {
                        failing = false;
                        report(
                            &reports,
                            Delivery::Recovered {
                                webhook: label.clone(),
                            },
                        );
                    }
                    break;
                }
                // The endpoint is up and said no to this body: it answers, so
                // the circuit (which is about reaching it) closes, and the
                // next notice may well be accepted.
                Err(PostError::Refused(status)) => {
                    breaker.success();
                    failing = true;
                    report(
                        &reports,
                        Delivery::Refused {
                            webhook: label.clone(),
                            event: notice.event,
                            status,
                        },
                    );
                    break;
                }
                Err(PostError::Failed {
                    reason,
                    retry_after,
                }) => {
                    if let Some(asked) = retry_after {
                        delay = delay.max(asked.min(options.max_retry_after));
                    }
                    breaker.failure(Instant::now());
                    if tries >= options.attempts || breaker.is_open() {
                        failing = true;
                        report(
                            &reports,
                            Delivery::Failed {
                                webhook: label.clone(),
                                event: notice.event,
                                attempts: tries,
                                reason,
                            },
                        );
                        break;
                    }
                }
            }
            tokio::time::sleep(delay).await;
        }
    }
}

/// Why a post did not deliver.
#[derive(Debug, Clone, PartialEq, Eq)]
enum PostError {
    /// A client error that trying again will not change.
    Refused(u16),
    /// Worth another try, after `retry_after` if the webhook asked for it.
    Failed {
        reason: String,
        retry_after: Option<Duration>,
    },
}

async fn post(http: &reqwest::Client, url: &str, body: &Value) -> Result<(), PostError> {
    let response = http
        .post(url)
        .json(body)
        .send()
        .await
        .map_err(|e| PostError::Failed {
            reason: without_url(&e),
            retry_after: None,
        })?;
    let retry_after = response
        .headers()
        .get(reqwest::header::RETRY_AFTER)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| retry_after(v, Utc::now()));
    judge(response.status(), retry_after)
}

/// What an answer's status means for the notice: delivered, refused for
/// good, or worth another try (408 and 429 are the client errors that are).
fn judge(status: reqwest::StatusCode, retry_after: Option<Duration>) -> Result<(), PostError> {
    use reqwest::StatusCode;
    if status.is_success() {
        return Ok(());
    }
    let again = matches!(
        status,
        StatusCode::REQUEST_TIMEOUT | StatusCode::TOO_MANY_REQUESTS
    );
    if status.is_client_error() && !again {
        return Err(PostError::Refused(status.as_u16()));
    }
    Err(PostError::Failed {
        reason: format!("HTTP {status}"),
        retry_after,
    })
}

/// A `Retry-After` header's wait: delay-seconds or an HTTP date (a date in
/// the past is no wait). `None` when the value is neither.
pub fn retry_after(value: &str, now: DateTime<Utc>) -> Option<Duration> {
    let value = value.trim();
    if !value.is_empty() && value.bytes().all(|b| b.is_ascii_digit()) {
        // Too many digits for u64 is still "a very long time"; the caller bounds it.
        return Some(Duration::from_secs(value.parse().unwrap_or(u64::MAX)));
    }
    let at = DateTime::parse_from_rfc2822(value).ok()?;
    Some(
        (at.with_timezone(&Utc) - now)
            .to_std()
            .unwrap_or(Duration::ZERO),
    )
}

/// reqwest's errors quote the URL, and a Slack URL is a secret.
fn without_url(e: &reqwest::Error) -> String {
    let kind = if e.is_timeout() {
        "timed out"
    } else if e.is_connect() {
        "cannot connect"
    } else {
        "request failed"
    };
    let mut source = std::error::Error::source(e);
    let mut cause = None;
    while let Some(s) = source {
        cause = Some(s.to_string());
        source = s.source();
    }
    match cause {
        Some(c) => format!("{kind}: {c}"),
        None => kind.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rollout::fixtures;
    use chrono::TimeZone;

    fn alarm() -> Alarm {
        fixtures::alarm(
            Utc.timestamp_opt(1_700_000_000, 0).unwrap(),
            Duration::from_secs(121),
        )
    }

    #[test]
    fn generic_body_carries_every_field() {
        let at = Utc.timestamp_opt(1_700_000_121, 0).unwrap();
        let notice = Notice::guard_fired("checkout", "shop", &alarm())
            .at_stage(2, Weights::canary(25))
            .at_time(at);
        let body = payload(WebhookKind::Generic, &notice);
        assert_eq!(body["event"], "guard-fired");
        assert_eq!(body["app"], "checkout");
        assert_eq!(body["namespace"], "shop");
        assert_eq!(body["stage"], 2);
        assert_eq!(
            body["weights"],
            serde_json::to_value(Weights::canary(25)).unwrap()
        );
        assert_eq!(
            body["reason"],
            "checkout 5xx: error-ratio 8.1% > 5.0% for 2m01s"
        );
        assert_eq!(body["numbers"]["value"], 0.081);
        assert_eq!(body["numbers"]["threshold"], 0.05);
        assert_eq!(body["at"], "2023-11-14T22:15:21Z");
    }

    #[test]
    fn slack_text_says_what_and_why_with_numbers() {
        let notice =
            Notice::guard_fired("checkout", "shop", &alarm()).at_stage(2, Weights::canary(25));
        let body = payload(WebhookKind::Slack, &notice);
        assert_eq!(
            body["text"],
            "shop/checkout: guard fired (stage 2, stable 75% / canary 25%) — \
             checkout 5xx: error-ratio 8.1% > 5.0% for 2m01s\n\
             held_for_seconds: 121, threshold: 0.05, value: 0.081"
        );
        assert_eq!(body["blocks"][0]["type"], "section");
    }

    #[test]
    fn client_errors_are_refused_except_timeout_and_too_many_requests() {
        let status = |code| reqwest::StatusCode::from_u16(code).unwrap();
        assert_eq!(judge(status(204), None), Ok(()));
        assert_eq!(judge(status(400), None), Err(PostError::Refused(400)));
        assert_eq!(judge(status(404), None), Err(PostError::Refused(404)));
        for code in [408, 429, 500, 503] {
            assert!(
                matches!(judge(status(code), None), Err(PostError::Failed { .. })),
                "{code} is retried"
            );
        }
    }

    #[test]
    fn retry_after_reads_seconds_and_http_dates() {
        let now = Utc.timestamp_opt(1_700_000_000, 0).unwrap();
        assert_eq!(retry_after("120", now), Some(Duration::from_secs(120)));
        assert_eq!(retry_after(" 0 ", now), Some(Duration::ZERO));
        assert_eq!(
            retry_after("99999999999999999999999", now),
            Some(Duration::from_secs(u64::MAX))
        );
        // 2023-11-14T22:13:20Z is `now`; the header says 30 s later.
        assert_eq!(
            retry_after("Tue, 14 Nov 2023 22:13:50 GMT", now),
            Some(Duration::from_secs(30))
        );
        assert_eq!(
            retry_after("Tue, 14 Nov 2023 22:00:00 GMT", now),
            Some(Duration::ZERO)
        );
        assert_eq!(retry_after("-5", now), None);
        assert_eq!(retry_after("soon", now), None);
        assert_eq!(retry_after("", now), None);
    }

    #[test]
    fn env_urls_resolve_and_missing_ones_are_reported() {
        let plan = [
            Notification {
                kind: WebhookKind::Slack,
                url: UrlSource::Env("HOOK".into()),
            },
            Notification {
                kind: WebhookKind::Generic,
                url: UrlSource::Env("UNSET".into()),
            },
            Notification {
                kind: WebhookKind::Generic,
                url: UrlSource::Literal("file:///etc/passwd".into()),
            },
        ];
        let (hooks, problems) = resolve(&plan, |v| {
            (v == "HOOK").then(|| "https://hooks.slack.test/T/B/secret".to_string())
        });
        assert_eq!(hooks.len(), 1);
        assert_eq!(hooks[0].label(), "slack webhook at hooks.slack.test");
        assert_eq!(
            problems,
            [
                "webhook skipped: $UNSET is not set",
                "webhook skipped: its URL is not an http(s) URL"
            ]
        );
    }
}
