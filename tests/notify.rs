//! Webhooks against a receiver on loopback: what arrives, and what a dead
//! endpoint does to the sender (nothing that slows it) and to the cockpit
//! (it is told).
#![allow(clippy::unwrap_used)]

use std::time::Duration;

use chrono::Utc;
use flightdeck::rollout::Weights;
use flightdeck::rollout::guards::{Alarm, GuardAction, GuardMetric};
use flightdeck::rollout::plan::WebhookKind;
use flightdeck::workers::notify::{Delivery, Notice, NoticeKind, Notifier, NotifyOptions, Webhook};
use tokio::sync::mpsc;

mod webhook;

use webhook::{receiver, scripted, wait_for_bodies};

async fn next_report(rx: &mut mpsc::Receiver<Delivery>) -> Delivery {
    tokio::time::timeout(Duration::from_secs(10), rx.recv())
        .await
        .expect("a delivery report within 10 s")
        .expect("the reports channel is open")
}

fn alarm() -> Alarm {
    Alarm {
        guard: "checkout 5xx".into(),
        metric: GuardMetric::ErrorRatio,
        action: GuardAction::Rollback,
        value: 0.079,
        threshold: 0.05,
        since: Utc::now(),
        held_for: Duration::from_secs(125),
    }
}

fn quick() -> NotifyOptions {
    NotifyOptions {
        queue: 8,
        attempts: 2,
        first_retry: Duration::from_millis(20),
        max_retry: Duration::from_millis(50),
        timeout: Duration::from_secs(2),
        open_after: 2,
        cool_down: Duration::from_millis(400),
        max_retry_after: Duration::from_secs(3),
    }
}

#[tokio::test]
async fn slack_and_generic_payloads_arrive_with_reason_and_numbers() {
    let (slack, slack_url) = receiver(0).await;
    let (generic, generic_url) = receiver(0).await;
    let (reports_tx, mut reports) = mpsc::channel(16);
    let (notifier, _tasks) = Notifier::spawn(
        vec![
            Webhook {
                kind: WebhookKind::Slack,
                url: slack_url,
            },
            Webhook {
                kind: WebhookKind::Generic,
                url: generic_url,
            },
        ],
        &quick(),
        reports_tx,
    );
    notifier.send(
        &Notice::new(NoticeKind::Started, "checkout", "shop", "image 1.5.0")
            .at_stage(1, Weights::canary(10)),
    );
    notifier
        .send(&Notice::guard_fired("checkout", "shop", &alarm()).at_stage(2, Weights::canary(25)));

    let slack = wait_for_bodies(&slack, 2).await;
    assert_eq!(
        slack[0]["text"],
        "shop/checkout: rollout started (stage 1, stable 90% / canary 10%) — image 1.5.0"
    );
    let fired = slack[1]["text"].as_str().unwrap();
    assert!(
        fired.starts_with(
            "shop/checkout: guard fired (stage 2, stable 75% / canary 25%) — \
             checkout 5xx: error-ratio 7.9% > 5.0% for 2m05s"
        ),
        "{fired}"
    );
    assert!(fired.contains("value: 0.079"), "{fired}");

    let generic = wait_for_bodies(&generic, 2).await;
    assert_eq!(generic[1]["event"], "guard-fired");
    assert_eq!(generic[1]["app"], "checkout");
    assert_eq!(generic[1]["namespace"], "shop");
    assert_eq!(generic[1]["stage"], 2);
    assert_eq!(
        generic[1]["reason"],
        "checkout 5xx: error-ratio 7.9% > 5.0% for 2m05s"
    );
    assert_eq!(generic[1]["numbers"]["value"], 0.079);
    assert_eq!(generic[1]["numbers"]["threshold"], 0.05);
    assert!(generic[1]["at"].is_string());
    assert!(reports.try_recv().is_err(), "nothing went wrong");
}

#[tokio::test]
async fn a_dead_webhook_opens_the_circuit_without_slowing_the_sender() {
    // A port nobody listens on.
    let closed = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap()
    };
    let (reports_tx, mut reports) = mpsc::channel(64);
    let (notifier, _tasks) = Notifier::spawn(
        vec![Webhook {
            kind: WebhookKind::Generic,
            url: format!("http://{closed}/hook/s3cr3t"),
        }],
        &quick(),
        reports_tx,
    );
    // Sending only enqueues: were `send` to wait for delivery, the queue of 8
    // could never overflow; that most notices are dropped (and said so) proves
    // the sender never waited on the dead endpoint.
    for _ in 0..40 {
        notifier.send(&Notice::new(NoticeKind::Stage, "checkout", "shop", "next"));
    }

    let mut seen = Vec::new();
    while seen.len() < 40 {
        seen.push(next_report(&mut reports).await);
    }
    let dropped = seen
        .iter()
        .filter(|d| matches!(d, Delivery::Dropped { .. }))
        .count();
    assert!(dropped >= 40 - 9, "{seen:#?}");
    let failed = seen
        .iter()
        .find(|d| matches!(d, Delivery::Failed { .. }))
        .expect("a failure is reported");
    let text = failed.to_string();
    assert!(
        text.starts_with(&format!(
            "generic webhook at {closed}: stage notice lost after 2 tries: cannot connect"
        )),
        "{text}"
    );
    assert!(!text.contains("s3cr3t"), "the URL's secret leaked: {text}");
    assert!(
        seen.iter()
            .any(|d| matches!(d, Delivery::CircuitOpen { .. })),
        "the circuit opened: {seen:#?}"
    );
}

#[tokio::test]
async fn an_open_circuit_half_opens_and_closes_when_the_webhook_is_back() {
    // Three 500s: two tries of the first notice open the circuit; the trial
    // after the cool-down fails once more; the next trial gets through.
    let (r, url) = receiver(3).await;
    let (reports_tx, mut reports) = mpsc::channel(64);
    let (notifier, _tasks) = Notifier::spawn(
        vec![Webhook {
            kind: WebhookKind::Generic,
            url,
        }],
        &quick(),
        reports_tx,
    );
    let notice = |reason: &str| Notice::new(NoticeKind::Paused, "checkout", "shop", reason);

    notifier.send(&notice("first"));
    let Delivery::Failed {
        attempts, reason, ..
    } = next_report(&mut reports).await
    else {
        panic!("expected a failure")
    };
    assert_eq!(
        (attempts, reason.as_str()),
        (2, "HTTP 500 Internal Server Error")
    );

    // Open: refused at once.
    notifier.send(&notice("while open"));
    assert!(matches!(
        next_report(&mut reports).await,
        Delivery::CircuitOpen { .. }
    ));

    // After the cool-down one trial goes through and fails: open again.
    tokio::time::sleep(Duration::from_millis(500)).await;
    notifier.send(&notice("trial one"));
    assert!(matches!(
        next_report(&mut reports).await,
        Delivery::Failed { attempts: 1, .. }
    ));

    tokio::time::sleep(Duration::from_millis(500)).await;
    notifier.send(&notice("trial two"));
    assert!(matches!(
        next_report(&mut reports).await,
        Delivery::Recovered { .. }
    ));
    let bodies = wait_for_bodies(&r, 1).await;
    assert_eq!(bodies.len(), 1);
    assert_eq!(bodies[0]["reason"], "trial two");

    notifier.send(&notice("closed again"));
    let bodies = wait_for_bodies(&r, 2).await;
    assert_eq!(bodies[1]["reason"], "closed again");
}

fn generic(url: String) -> Vec<Webhook> {
    vec![Webhook {
        kind: WebhookKind::Generic,
        url,
    }]
}

#[tokio::test]
async fn a_client_error_is_refused_once_and_does_not_open_the_circuit() {
    // More refusals in a row than `open_after`: were they counted as
    // failures, the third notice would meet an open circuit.
    let (r, url) = scripted(0, vec![(400, None), (404, None), (410, None)]).await;
    let (reports_tx, mut reports) = mpsc::channel(64);
    let (notifier, _tasks) = Notifier::spawn(generic(url), &quick(), reports_tx);
    let notice = |reason: &str| Notice::new(NoticeKind::Stage, "checkout", "shop", reason);
    for reason in ["one", "two", "three", "four"] {
        notifier.send(&notice(reason));
    }

    let mut statuses = Vec::new();
    for _ in 0..3 {
        match next_report(&mut reports).await {
            Delivery::Refused {
                webhook,
                event,
                status,
            } => {
                assert_eq!(event, NoticeKind::Stage);
                assert!(!webhook.contains("s3cr3t"), "{webhook}");
                statuses.push(status);
            }
            other => panic!("expected a refusal, got {other:?}"),
        }
    }
    assert_eq!(statuses, [400, 404, 410]);
    assert!(matches!(
        next_report(&mut reports).await,
        Delivery::Recovered { .. }
    ));
    let bodies = wait_for_bodies(&r, 1).await;
    assert_eq!(bodies[0]["reason"], "four");
    // One request per notice: no refused body was sent twice.
    let reasons: Vec<_> = r
        .requests()
        .iter()
        .map(|(_, body)| body["reason"].clone())
        .collect();
    assert_eq!(reasons, ["one", "two", "three", "four"]);
}

#[tokio::test]
async fn a_refusal_reads_as_refused_with_its_status() {
    let (_r, url) = scripted(0, vec![(403, None)]).await;
    let (reports_tx, mut reports) = mpsc::channel(8);
    let (notifier, _tasks) = Notifier::spawn(generic(url.clone()), &quick(), reports_tx);
    notifier.send(&Notice::new(NoticeKind::Promoted, "checkout", "shop", ""));
    let text = next_report(&mut reports).await.to_string();
    let host = url
        .trim_start_matches("http://")
        .trim_end_matches("/hook/s3cr3t");
    assert_eq!(
        text,
        format!("generic webhook at {host}: promoted notice refused with HTTP 403")
    );
}

/// The gap between the first request and the one after it.
async fn gap_after_first_answer(answer: (u16, Option<String>)) -> Duration {
    let (r, url) = scripted(0, vec![answer]).await;
    let (reports_tx, _reports) = mpsc::channel(8);
    let (notifier, _tasks) = Notifier::spawn(generic(url), &quick(), reports_tx);
    notifier.send(&Notice::new(NoticeKind::Started, "checkout", "shop", ""));
    wait_for_bodies(&r, 1).await;
    let requests = r.requests();
    assert_eq!(requests.len(), 2, "one retry");
    requests[1].0 - requests[0].0
}

#[tokio::test]
async fn too_many_requests_waits_the_seconds_retry_after_asks() {
    // The back-off alone would retry after 20 ms.
    let gap = gap_after_first_answer((429, Some("2".into()))).await;
    assert!(gap >= Duration::from_secs(2), "retried after {gap:?}");
}

#[tokio::test]
async fn too_many_requests_waits_until_the_date_retry_after_names() {
    // An HTTP date has whole seconds: 3 s from now is at least 2 s away.
    let at = chrono::Utc::now() + chrono::Duration::seconds(3);
    let date = at.format("%a, %d %b %Y %H:%M:%S GMT").to_string();
    let gap = gap_after_first_answer((429, Some(date))).await;
    assert!(gap >= Duration::from_secs(2), "retried after {gap:?}");
}

#[tokio::test]
async fn a_retry_after_longer_than_the_bound_is_cut_to_it() {
    // An hour asked, 3 s allowed (`quick().max_retry_after`): the retry
    // comes after the bound, and the notice gets through.
    let gap = gap_after_first_answer((429, Some("3600".into()))).await;
    assert!(gap >= Duration::from_secs(3), "retried after {gap:?}");
    assert!(gap < Duration::from_secs(60), "retried after {gap:?}");
}

#[tokio::test]
async fn request_timeout_is_retried() {
    let gap = gap_after_first_answer((408, None)).await;
    assert!(gap < Duration::from_secs(60), "retried after {gap:?}");
}
