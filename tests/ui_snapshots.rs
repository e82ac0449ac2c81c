//! Every pane and the whole screen, drawn through ratatui's `TestBackend` at a
//! fixed time: healthy, degraded (worker troubles, crashlooping pods, stale
//! metrics) and empty, at 80x24 and 200x50, plus the help overlay; and a
//! guarded rollout in auto mode (guards ok, pending, firing and without data,
//! a failed analysis verdict, a webhook that loses notices).
#![allow(clippy::unwrap_used)]

use std::time::Duration;

use chrono::{DateTime, TimeZone, Utc};
use flightdeck::app::msg::RolloutView;
use flightdeck::app::msg::{
    Connection, EventInfo, LogLine, MetricsSample, PodInfo, RouterKind, Source, TrafficInfo,
    Trouble, VersionMetrics,
};
use flightdeck::app::state::{Helm, StageRow};
use flightdeck::app::{Action, Msg, Pane, State, handle_action, type_char, update};
use flightdeck::config::keymap::Keymap;
use flightdeck::config::theme::Theme;
use flightdeck::rollout::analysis::{Point, Series};
use flightdeck::rollout::guards::{Alarm, GuardAction, GuardMetric, GuardState};
use flightdeck::rollout::state::StageVerdict;
use flightdeck::rollout::{Observations, PausedBy, Phase, Plan, RolloutState, Weights, analyse};
use flightdeck::workers::guard_watch::GuardUpdate;
use flightdeck::workers::notify::{Delivery, NoticeKind};
use ratatui::Terminal;
use ratatui::backend::TestBackend;

fn now() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 3, 14, 12, 30, 0).unwrap()
}

fn ago(secs: i64) -> DateTime<Utc> {
    now() - chrono::Duration::seconds(secs)
}

const MI: u64 = 1024 * 1024;

fn pod(name: &str, version: &str, status: &str, ready: u32, restarts: u32, age: i64) -> PodInfo {
    PodInfo {
        name: name.into(),
        version: version.into(),
        status: status.into(),
        ready,
        containers: 1,
        restarts,
        created: Some(ago(age)),
        node: format!("node-{}", name.len() % 3 + 1),
        cpu_millicores: Some(120 + u64::from(restarts) * 40),
        memory_bytes: Some(180 * MI + u64::from(restarts) * 150 * MI),
        memory_limit_bytes: Some(512 * MI),
    }
}

fn base() -> State {
    let mut s = State::new(now());
    s.header.context = "kind-flightdeck".into();
    s.header.namespace = "shop".into();
    s.header.app = "checkout".into();
    s.header.strategy = "canary".into();
    s.header.helm = Helm::Held;
    s.header.connection = Connection::Connected;
    s.keys = Keymap::preset("default").unwrap().help();
    s.screen_rows = 50;
    s
}

fn stages(s: &mut State, current: usize, entered: i64) {
    s.stages.stages = [10u8, 25, 50, 75, 100]
        .iter()
        .enumerate()
        .map(|(i, w)| StageRow {
            name: format!("canary-{w}"),
            weight: *w,
            pause: (i < 4).then(|| Duration::from_secs(300)),
        })
        .collect();
    s.stages.current = Some(current);
    s.stages.entered_at = Some(ago(entered));
}

fn metrics(s: &mut State, last: i64, canary_errors: f64, canary_p99_ms: u64) {
    for i in (0..30).rev() {
        let at = ago(last + i * 10);
        let wobble = (i % 5) as f64 / 100.0;
        let sample = MetricsSample {
            at,
            versions: vec![
                VersionMetrics {
                    version: "stable".into(),
                    requests_per_second: Some(142.0 + wobble * 100.0),
                    error_ratio: Some(0.004 + wobble / 20.0),
                    p50: Some(Duration::from_millis(38)),
                    p95: Some(Duration::from_millis(190)),
                    p99: Some(Duration::from_millis(420 + (i % 4) as u64 * 30)),
                },
                VersionMetrics {
                    version: "canary".into(),
                    requests_per_second: Some(47.0 + wobble * 30.0),
                    error_ratio: Some(canary_errors * (1.0 - i as f64 / 40.0)),
                    p50: Some(Duration::from_millis(41)),
                    p95: Some(Duration::from_millis(230)),
                    p99: Some(Duration::from_millis(
                        canary_p99_ms - (i as u64 * 7).min(canary_p99_ms / 2),
                    )),
                },
            ],
        };
        update(s, Msg::Metrics(sample));
    }
}

fn log(secs: i64, pod: &str, version: &str, text: &str) -> LogLine {
    LogLine {
        at: ago(secs),
        pod: pod.into(),
        container: "app".into(),
        version: version.into(),
        text: text.into(),
    }
}

fn logs(s: &mut State, errors: bool) {
    let mut lines = Vec::new();
    for i in 0..40 {
        let t = 120 - i * 3;
        lines.push(log(
            t,
            "checkout-stable-6f7c9d8b4-k2x7p",
            "stable",
            // The app stamps its own lines, as most do: the pane shows the time once.
            &format!(
                "{} GET /cart/{} status=200 took={}ms",
                ago(t).to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
                1000 + i,
                30 + i % 7
            ),
        ));
        if i % 3 == 0 {
            let text = if errors && i % 2 == 0 {
                "POST /pay status=503 took=2210ms upstream=payments".to_string()
            } else {
                format!(
                    r#"{{"time":"2026-03-14T12:28:00Z","level":"info","msg":"order placed","order":{},"ms":{}}}"#,
                    880 + i,
                    41 + i
                )
            };
            lines.push(log(
                t - 1,
                "checkout-canary-8d5b7f6c9-q4wz2",
                "canary",
                &text,
            ));
        }
    }
    if errors {
        lines.push(log(
            5,
            "checkout-canary-8d5b7f6c9-q4wz2",
            "canary",
            r#"{"level":"error","msg":"payment gateway timeout","attempt":3}"#,
        ));
        lines.push(log(4, "checkout-canary-8d5b7f6c9-q4wz2", "canary", "thread 'tokio-runtime-worker' panicked at src/pay.rs:88: called `Option::unwrap()` on a `None` value"));
    }
    update(s, Msg::LogLines(lines));
    if errors {
        update(
            s,
            Msg::LogStreamEnded {
                pod: "checkout-canary-8d5b7f6c9-q4wz2".into(),
            },
        );
    }
}

fn event(
    secs: i64,
    warning: bool,
    reason: &str,
    object: &str,
    message: &str,
    count: u32,
) -> EventInfo {
    EventInfo {
        last_seen: ago(secs),
        warning,
        reason: reason.into(),
        object: object.into(),
        message: message.into(),
        count,
    }
}

fn traffic(s: &mut State, canary: u8) {
    update(
        s,
        Msg::Traffic(TrafficInfo {
            router: RouterKind::IstioVirtualService,
            object: "VirtualService shop/checkout".into(),
            desired: vec![("stable".into(), 100 - canary), ("canary".into(), canary)],
        }),
    );
}

fn healthy() -> State {
    let mut s = base();
    update(
        &mut s,
        Msg::PodsReset(vec![
            pod(
                "checkout-stable-6f7c9d8b4-k2x7p",
                "stable",
                "Running",
                1,
                0,
                86_400 * 3,
            ),
            pod(
                "checkout-stable-6f7c9d8b4-m9d4r",
                "stable",
                "Running",
                1,
                0,
                86_400 * 3,
            ),
            pod(
                "checkout-stable-6f7c9d8b4-t5v8n",
                "stable",
                "Running",
                1,
                0,
                86_400 * 3,
            ),
            pod(
                "checkout-canary-8d5b7f6c9-q4wz2",
                "canary",
                "Running",
                1,
                0,
                420,
            ),
        ]),
    );
    traffic(&mut s, 25);
    metrics(&mut s, 4, 0.006, 480);
    logs(&mut s, false);
    update(
        &mut s,
        Msg::EventsReset(vec![
            event(
                400,
                false,
                "ScalingReplicaSet",
                "Deployment/checkout-canary",
                "Scaled up replica set checkout-canary-8d5b7f6c9 to 1",
                1,
            ),
            event(
                395,
                false,
                "Pulled",
                "Pod/checkout-canary-8d5b7f6c9-q4wz2",
                "Container image \"shop/checkout:1.8.0\" already present on machine",
                1,
            ),
            event(
                394,
                false,
                "Started",
                "Pod/checkout-canary-8d5b7f6c9-q4wz2",
                "Started container app",
                1,
            ),
        ]),
    );
    stages(&mut s, 1, 133);
    s
}

fn degraded() -> State {
    let mut s = base();
    s.header.helm = Helm::HeldBy("ana@laptop".into());
    s.header.connection = Connection::Lost { since: ago(45) };
    s.header.warnings.push("/home/ana/.config/flightdeck/themes/default.toml:4:9: unknown colour `reddish`; using the built-in default theme".into());
    update(
        &mut s,
        Msg::PodsReset(vec![
            pod(
                "checkout-stable-6f7c9d8b4-k2x7p",
                "stable",
                "Running",
                1,
                0,
                86_400 * 3,
            ),
            pod(
                "checkout-stable-6f7c9d8b4-m9d4r",
                "stable",
                "Running",
                1,
                2,
                86_400 * 3,
            ),
            pod(
                "checkout-canary-8d5b7f6c9-q4wz2",
                "canary",
                "CrashLoopBackOff",
                0,
                6,
                610,
            ),
            pod(
                "checkout-canary-8d5b7f6c9-h7c3x",
                "canary",
                "OOMKilled",
                0,
                3,
                610,
            ),
            pod(
                "checkout-canary-7a1e2b3c4-zz9k1",
                "canary",
                "ImagePullBackOff",
                0,
                0,
                95,
            ),
            pod(
                "checkout-canary-8d5b7f6c9-p0l1a",
                "canary",
                "Pending",
                0,
                0,
                12,
            ),
        ]),
    );
    traffic(&mut s, 50);
    metrics(&mut s, 47, 0.12, 2600);
    logs(&mut s, true);
    update(
        &mut s,
        Msg::EventsReset(vec![
            event(
                30,
                true,
                "BackOff",
                "Pod/checkout-canary-8d5b7f6c9-q4wz2",
                "Back-off restarting failed container app",
                14,
            ),
            event(
                62,
                true,
                "OOMKilling",
                "Pod/checkout-canary-8d5b7f6c9-h7c3x",
                "Memory cgroup out of memory: Killed process 1 (checkout)",
                3,
            ),
            event(
                90,
                true,
                "Failed",
                "Pod/checkout-canary-7a1e2b3c4-zz9k1",
                "Failed to pull image \"shop/checkout:1.8.1\": not found",
                4,
            ),
            event(
                600,
                false,
                "ScalingReplicaSet",
                "Deployment/checkout-canary",
                "Scaled up replica set checkout-canary-8d5b7f6c9 to 2",
                1,
            ),
        ]),
    );
    update(
        &mut s,
        Msg::Trouble {
            source: Source::Pods,
            trouble: Trouble::Disconnected {
                since: ago(45),
                reason: "watch stream closed".into(),
            },
        },
    );
    update(
        &mut s,
        Msg::Trouble {
            source: Source::Metrics,
            trouble: Trouble::Unreachable {
                target: "Prometheus at http://prometheus.monitoring:9090".into(),
                reason: "connection refused".into(),
            },
        },
    );
    update(
        &mut s,
        Msg::Trouble {
            source: Source::Events,
            trouble: Trouble::Forbidden {
                message: "events is forbidden: cannot list resource \"events\"".into(),
            },
        },
    );
    stages(&mut s, 2, 410);
    s.stages.paused = true;
    guards_without_data(&mut s);
    s
}

fn guard(
    name: &str,
    metric: GuardMetric,
    action: GuardAction,
    state: GuardState,
    latest: Option<f64>,
    threshold: f64,
) -> Msg {
    Msg::Guard(GuardUpdate {
        guard: name.into(),
        metric,
        action,
        state,
        latest,
        threshold,
        reason: None,
        at: now(),
    })
}

/// Every guard without data, because Prometheus cannot be reached.
fn guards_without_data(s: &mut State) {
    for (name, metric, action, threshold) in [
        (
            "error-ratio",
            GuardMetric::ErrorRatio,
            GuardAction::Rollback,
            0.05,
        ),
        (
            "latency-p99",
            GuardMetric::LatencyP99,
            GuardAction::GradualRollback,
            2.0,
        ),
    ] {
        update(
            s,
            Msg::Guard(GuardUpdate {
                guard: name.into(),
                metric,
                action,
                state: GuardState::NoData {
                    since: Some(ago(47)),
                },
                latest: None,
                threshold,
                reason: Some(
                    "Prometheus at http://prometheus.monitoring:9090 unreachable: connection refused"
                        .into(),
                ),
                at: now(),
            }),
        );
    }
}

fn flat(value: f64) -> Vec<Point> {
    (0..=8)
        .map(|i| Point {
            at: ago(i * 15),
            value,
        })
        .collect()
}

/// checkout 1.8.0 at 25% in auto mode: the p99 guard fired and holds the
/// stage, the analysis failed on latency, and the Slack webhook is down.
fn guarded() -> State {
    let mut s = healthy();
    // As the cockpit sets them from this plan's guards.
    s.guards.max_error_ratio = 0.02;
    metrics(&mut s, 4, 0.006, 2600);
    let plan = Plan::load(std::path::Path::new(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/assets/plans/canary-istio.toml"
    )))
    .unwrap();
    let mut rollout = RolloutState::new(&plan, true);
    let alarm = Alarm {
        guard: "latency-p99".into(),
        metric: GuardMetric::LatencyP99,
        action: GuardAction::Hold,
        value: 2.6,
        threshold: 2.0,
        since: ago(300),
        held_for: Duration::from_secs(300),
    };
    rollout.phase = Phase::Paused {
        stage: 1,
        since: ago(20),
        by: PausedBy::Guard {
            alarm: alarm.clone(),
        },
    };
    rollout.weights = Some(Weights::canary(25));
    rollout.stage_began = Some(ago(133));
    let observations = Observations {
        weights: Some(Weights::canary(25)),
        request_rate: Series {
            canary: flat(47.0),
            stable: flat(142.0),
        },
        error_ratio: Series {
            canary: flat(0.006),
            stable: flat(0.004),
        },
        p99: Series {
            canary: flat(2.6),
            stable: flat(0.45),
        },
        memory: Series {
            canary: flat(230.0 * MI as f64),
            stable: Vec::new(),
        },
    };
    let verdict = analyse(
        plan.analysis.as_ref().unwrap(),
        Ok(&observations),
        rollout.stage_began,
        ago(30),
    );
    rollout.verdict = Some(StageVerdict { stage: 1, verdict });
    update(
        &mut s,
        Msg::Rollout(Box::new(RolloutView {
            state: rollout,
            history: Vec::new(),
            revisions: Vec::new(),
            clock_skew: chrono::TimeDelta::zero(),
        })),
    );
    update(
        &mut s,
        guard(
            "error-ratio",
            GuardMetric::ErrorRatio,
            GuardAction::Rollback,
            GuardState::Ok,
            Some(0.006),
            0.02,
        ),
    );
    update(
        &mut s,
        guard(
            "latency-p99",
            GuardMetric::LatencyP99,
            GuardAction::Hold,
            GuardState::Firing {
                since: ago(300),
                value: 2.6,
            },
            Some(2.6),
            2.0,
        ),
    );
    update(
        &mut s,
        guard(
            "memory",
            GuardMetric::MemoryRatioOfLimit,
            GuardAction::GradualRollback,
            GuardState::Pending {
                since: ago(75),
                value: 0.93,
            },
            Some(0.93),
            0.9,
        ),
    );
    for event in [NoticeKind::GuardFired, NoticeKind::Paused] {
        update(
            &mut s,
            Msg::Delivery(Delivery::Failed {
                webhook: "slack".into(),
                event,
                attempts: 4,
                reason: "HTTP 503 Service Unavailable".into(),
            }),
        );
    }
    s
}

fn empty() -> State {
    let mut s = base();
    s.header.helm = Helm::ReadOnly;
    s.header.connection = Connection::Connecting;
    s
}

fn screen(state: &State, width: u16, height: u16) -> String {
    let theme = Theme::default();
    let mut terminal = Terminal::new(TestBackend::new(width, height)).unwrap();
    terminal
        .draw(|f| flightdeck::ui::draw(f, state, &theme))
        .unwrap();
    terminal.backend().to_string()
}

fn pane(state: &State, pane: Pane, width: u16, height: u16) -> String {
    let theme = Theme::default();
    let mut s = state.clone();
    s.focus = pane;
    let mut terminal = Terminal::new(TestBackend::new(width, height)).unwrap();
    terminal
        .draw(|f| flightdeck::ui::draw_pane(f, f.area(), pane, &s, &theme))
        .unwrap();
    terminal.backend().to_string()
}

#[test]
fn whole_screen() {
    for (name, state) in [
        ("healthy", healthy()),
        ("degraded", degraded()),
        ("empty", empty()),
    ] {
        for (w, h) in [(80, 24), (200, 50)] {
            insta::assert_snapshot!(format!("screen_{name}_{w}x{h}"), screen(&state, w, h));
        }
    }
}

#[test]
fn every_pane() {
    for (name, state) in [
        ("healthy", healthy()),
        ("degraded", degraded()),
        ("empty", empty()),
    ] {
        for p in Pane::ALL {
            let title = p.title().to_lowercase();
            let height = if p == Pane::Metrics { 16 } else { 10 };
            insta::assert_snapshot!(format!("pane_{title}_{name}"), pane(&state, p, 100, height));
        }
    }
}

#[test]
fn help_overlay() {
    let mut s = healthy();
    handle_action(&mut s, Action::FocusLogs);
    handle_action(&mut s, Action::Help);
    insta::assert_snapshot!("help_80x24", screen(&s, 80, 24));
    insta::assert_snapshot!("help_200x50", screen(&s, 200, 50));
}

#[test]
fn logs_zoomed_with_search_and_filter() {
    let mut s = degraded();
    handle_action(&mut s, Action::FocusLogs);
    handle_action(&mut s, Action::Zoom);
    handle_action(&mut s, Action::LogSearch);
    for c in "pay".chars() {
        type_char(&mut s, c);
    }
    handle_action(&mut s, Action::SearchSubmit);
    handle_action(&mut s, Action::LogSearchPrev);
    handle_action(&mut s, Action::LogFilterVersion);
    handle_action(&mut s, Action::LogFilterVersion);
    insta::assert_snapshot!("logs_zoomed_search_canary_80x24", screen(&s, 80, 24));
}

/// The app's own time at the start of a line repeats the time column, so it
/// is shown once: in the column. With the column hidden (`t`), the line keeps
/// its own.
#[test]
fn a_line_shows_its_time_once() {
    let mut s = healthy();
    let shown = pane(&s, Pane::Logs, 100, 10);
    let own_time = ago(3).to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
    let column = ago(3).format("%H:%M:%S%.3f").to_string();
    assert!(shown.contains(&column), "{shown}");
    assert!(!shown.contains(&own_time), "{shown}");
    handle_action(&mut s, Action::LogTimestamps);
    let shown = pane(&s, Pane::Logs, 100, 10);
    assert!(shown.contains(&own_time), "{shown}");
    insta::assert_snapshot!("pane_logs_healthy_without_time_column", shown);
}

#[test]
fn pane_titles_are_exact() {
    let text = screen(&healthy(), 200, 50);
    for p in Pane::ALL {
        assert!(
            text.contains(&format!(" {} ", p.title())),
            "missing {} in\n{text}",
            p.title()
        );
    }
}

#[test]
fn hostile_text_never_reaches_the_screen() {
    let mut s = healthy();
    update(
        &mut s,
        Msg::LogLines(vec![log(
            0,
            "evil\u{1b}]0;x\u{7}-pod",
            "canary",
            "steal\u{1b}]52;c;cm0gLXJm\u{7} \u{1b}[2Jnow",
        )]),
    );
    update(
        &mut s,
        Msg::EventApplied(event(0, true, "Bad\u{1b}[31m", "Pod/x", "msg\u{9b}1;1H", 1)),
    );
    let theme = Theme::default();
    let mut terminal = Terminal::new(TestBackend::new(200, 50)).unwrap();
    terminal
        .draw(|f| flightdeck::ui::draw(f, &s, &theme))
        .unwrap();
    let buffer = terminal.backend().buffer();
    assert!(
        buffer
            .content()
            .iter()
            .all(|c| !c.symbol().chars().any(char::is_control))
    );
    let text = terminal.backend().to_string();
    assert!(text.contains("steal now"), "{text}");
    assert!(text.contains("evil-pod"), "{text}");
}

#[test]
fn search_hits_are_highlighted_and_the_current_one_stands_out() {
    let mut s = healthy();
    handle_action(&mut s, Action::FocusLogs);
    handle_action(&mut s, Action::Zoom);
    handle_action(&mut s, Action::LogSearch);
    for c in "/cart/1038".chars() {
        type_char(&mut s, c);
    }
    handle_action(&mut s, Action::SearchSubmit);
    let theme = Theme::default();
    let mut terminal = Terminal::new(TestBackend::new(100, 30)).unwrap();
    terminal
        .draw(|f| flightdeck::ui::draw(f, &s, &theme))
        .unwrap();
    let buffer = terminal.backend().buffer();
    let current = theme.style("search.current");
    let (x, y) = (0..buffer.area.height)
        .find_map(|y| {
            let row: String = (0..buffer.area.width)
                .map(|x| buffer[(x, y)].symbol().to_string())
                .collect();
            // The title repeats the query; the hit is on the line with the request.
            row.find("GET /cart/1038")
                .map(|i| (row[..i].chars().count() as u16 + 4, y))
        })
        .expect("the match is on screen");
    for dx in 0..10 {
        assert_eq!(
            buffer[(x + dx, y)].bg,
            current.bg.unwrap(),
            "cell {dx} of the match"
        );
    }
    assert!(!s.logs.follow, "a search pauses the view on its hit");
}

#[test]
fn diagnostics_pane_opens_below_the_panes() {
    let mut s = healthy();
    handle_action(&mut s, Action::ToggleDiagnostics);
    let text = screen(&s, 80, 24);
    assert!(text.contains(" Diagnostics "), "{text}");
    assert!(text.contains(" Logs "), "the panes stay: {text}");
    handle_action(&mut s, Action::Close);
    assert!(!screen(&s, 80, 24).contains(" Diagnostics "));
}

#[test]
fn degraded_screen_says_what_is_wrong_in_words() {
    let text = screen(&degraded(), 200, 50);
    for words in [
        "CrashLoopBackOff",
        "OOMKilled",
        "ImagePullBackOff",
        "disconnected since 12:29:15 — reconnecting",
        "cannot reach Prometheus at http://prometheus.monitoring:9090",
        "forbidden by RBAC in namespace shop",
        "stale: last sample 47s ago",
        "helm held by ana@laptop",
        "12.0% ▲",
        "gone · canary",
    ] {
        assert!(text.contains(words), "missing {words:?} in\n{text}");
    }
}

#[test]
fn guards_verdicts_and_webhooks() {
    let s = guarded();
    for (w, h) in [(80, 24), (120, 35), (160, 45), (200, 50)] {
        insta::assert_snapshot!(format!("screen_guarded_{w}x{h}"), screen(&s, w, h));
    }
    insta::assert_snapshot!("pane_stages_guarded", pane(&s, Pane::Stages, 100, 22));
    insta::assert_snapshot!("pane_metrics_guarded", pane(&s, Pane::Metrics, 100, 16));
    let mut zoomed = s.clone();
    handle_action(&mut zoomed, Action::FocusStages);
    handle_action(&mut zoomed, Action::Zoom);
    insta::assert_snapshot!("stages_zoomed_guarded_80x24", screen(&zoomed, 80, 24));
}

#[test]
fn the_metrics_charts_stay_in_view_beside_the_guards_from_120x35() {
    let s = guarded();
    for (w, h) in [(120, 35), (140, 40), (160, 45), (200, 50)] {
        let text = screen(&s, w, h);
        for words in [
            "error % (guard 2.0%)",
            "p99 s (guard 2.00s)",
            "-5m",
            "guards: ✗ FIRING latency-p99",
        ] {
            assert!(
                text.contains(words),
                "{w}x{h}: missing {words:?} in\n{text}"
            );
        }
    }
}

#[test]
fn a_firing_guard_and_a_lost_notice_are_on_the_main_screen_in_words() {
    let text = screen(&guarded(), 200, 50);
    for words in [
        "strategy canary · auto",
        "✗ 1 guard firing · 2/5 · ‖ paused",
        "✗ FIRING  latency-p99",
        "2.60s (limit 2.00s) for 5m00s",
        "! pending memory",
        "93.0% (limit 90.0%) for 1m15s",
        "✓ ok      error-ratio",
        "latency-p99: latency-p99 2.60s > 2.00s for 5m00s",
        "✗ analysis: fail p99 (absolute): canary 2.60s > 1.00s",
        "✗ 2 notices lost · slack: paused notice lost after 4 tries: HTTP 503 Service Unavailable",
        "guards: ✗ FIRING latency-p99 2.60s (limit 2.00s) for 5m00s",
    ] {
        assert!(text.contains(words), "missing {words:?} in\n{text}");
    }
    // Recovered: the webhook line goes, the rest stays.
    let mut s = guarded();
    update(
        &mut s,
        Msg::Delivery(Delivery::Recovered {
            webhook: "slack".into(),
        }),
    );
    let text = screen(&s, 200, 50);
    assert!(!text.contains("notices lost"), "{text}");
    assert!(text.contains("✗ 1 guard firing"), "{text}");
}

#[test]
fn hostile_guard_names_and_reasons_are_cleaned() {
    let mut s = guarded();
    update(
        &mut s,
        Msg::Guard(GuardUpdate {
            guard: "evil\u{1b}]52;c;cm0gLXJm\u{7}-guard".into(),
            metric: GuardMetric::HealthCheck,
            action: GuardAction::Rollback,
            state: GuardState::NoData { since: None },
            latest: None,
            threshold: 3.0,
            reason: Some("probe said \u{1b}[2Jhello".into()),
            at: now(),
        }),
    );
    update(
        &mut s,
        Msg::Delivery(Delivery::Failed {
            webhook: "ops".into(),
            event: NoticeKind::Stage,
            attempts: 1,
            reason: "bad \u{9b}1;1Hgateway".into(),
        }),
    );
    let theme = Theme::default();
    let mut terminal = Terminal::new(TestBackend::new(200, 50)).unwrap();
    terminal
        .draw(|f| flightdeck::ui::draw(f, &s, &theme))
        .unwrap();
    assert!(
        terminal
            .backend()
            .buffer()
            .content()
            .iter()
            .all(|c| !c.symbol().chars().any(char::is_control))
    );
    let text = terminal.backend().to_string();
    assert!(text.contains("evil-guard"), "{text}");
    assert!(text.contains("probe said hello"), "{text}");
    assert!(text.contains("bad gateway"), "{text}");
}

// The fleet screen: rows of every kind across two clusters, one of which
// stopped answering, most in need first; a filter; the help overlay.

mod fleet_screen {
    use super::{ago, now};
    use flightdeck::app::Action;
    use flightdeck::config::keymap::Keymap;
    use flightdeck::config::theme::Theme;
    use flightdeck::fleet::{
        AnalysisMetric, FleetScreen, FleetView, Kind, Phase, Pods, Row, Skip, Update,
    };
    use ratatui::Terminal;
    use ratatui::backend::TestBackend;

    #[allow(clippy::too_many_arguments)]
    fn row(
        cluster: &str,
        ns: &str,
        app: &str,
        kind: Kind,
        strategy: &str,
        step: Option<(u32, u32)>,
        weight: Option<u8>,
        phase: Phase,
        pods: (u32, u32, u32),
        changed: i64,
    ) -> Row {
        let mut r = Row::new(cluster, ns, app, kind);
        r.strategy = strategy.into();
        r.step = step;
        r.weight = weight;
        r.phase = phase;
        r.pods = Pods {
            ready: pods.0,
            total: pods.1,
            restarts: pods.2,
        };
        r.changed = Some(ago(changed));
        r
    }

    fn fleet() -> FleetScreen {
        let mut view = FleetView::new(&["prod-eu".into(), "prod-us".into(), "edge".into()]);
        let mut checkout = row(
            "prod-eu",
            "shop",
            "checkout",
            Kind::Argo,
            "canary",
            Some((4, 8)),
            Some(40),
            Phase::Degraded {
                reason: "analysis error-rate failed".into(),
            },
            (9, 10, 7),
            30,
        );
        checkout.detail.steps = vec![
            "setWeight 20".into(),
            "pause".into(),
            "setWeight 40".into(),
            "analysis error-rate".into(),
        ];
        checkout.detail.current = Some(3);
        checkout.detail.analysis = vec![AnalysisMetric {
            name: "error-rate".into(),
            phase: "Failed".into(),
            measured: vec!["0.031".into(), "0.074".into()],
            limit: "result[0] < 0.05".into(),
        }];
        view.apply(Update::Rows {
            cluster: "prod-eu".into(),
            rows: vec![
                checkout,
                row(
                    "prod-eu",
                    "shop",
                    "cart",
                    Kind::Flightdeck,
                    "canary",
                    Some((2, 5)),
                    Some(25),
                    Phase::Paused {
                        until: Some(now() + chrono::Duration::seconds(150)),
                        reason: "timed stage".into(),
                    },
                    (5, 5, 0),
                    60,
                ),
                row(
                    "prod-eu",
                    "pay\u{1b}]0;owned\u{7}",
                    "payments\u{1b}[2J",
                    Kind::Flagger,
                    "canary",
                    None,
                    Some(0),
                    Phase::Aborted {
                        reason: "Canary failed 5 checks".into(),
                    },
                    (3, 3, 0),
                    300,
                ),
                row(
                    "prod-eu",
                    "web",
                    "frontend",
                    Kind::Deployment,
                    "rolling",
                    None,
                    None,
                    Phase::Progressing,
                    (6, 8, 1),
                    10,
                ),
            ],
        });
        view.apply(Update::Rows {
            cluster: "prod-us".into(),
            rows: vec![row(
                "prod-us",
                "shop",
                "search",
                Kind::Flightdeck,
                "blue-green",
                Some((1, 2)),
                Some(0),
                Phase::Paused {
                    until: None,
                    reason: "waiting for the go".into(),
                },
                (8, 8, 0),
                120,
            )],
        });
        view.apply(Update::Unreachable {
            cluster: "edge".into(),
            reason: "connection refused".into(),
        });
        view.apply(Update::Skipped {
            cluster: "prod-us".into(),
            kind: "canaries.flagger.app".into(),
            why: Skip::Forbidden("canaries.flagger.app is forbidden".into()),
        });
        let mut s = FleetScreen::new(view, "all namespaces", now());
        s.keys = Keymap::preset("default").unwrap().help();
        s
    }

    fn draw(s: &FleetScreen, width: u16, height: u16) -> String {
        let theme = Theme::default();
        let mut terminal = Terminal::new(TestBackend::new(width, height)).unwrap();
        terminal
            .draw(|f| flightdeck::ui::fleet::draw(f, s, &theme))
            .unwrap();
        let buffer = terminal.backend().buffer();
        assert!(
            buffer
                .content()
                .iter()
                .all(|c| !c.symbol().chars().any(char::is_control)),
            "no control character reaches the screen"
        );
        terminal.backend().to_string()
    }

    #[test]
    fn fleet_rows_most_in_need_first() {
        let s = fleet();
        for (w, h) in [(120, 30), (80, 24)] {
            insta::assert_snapshot!(format!("fleet_{w}x{h}"), draw(&s, w, h));
        }
        let shown = draw(&s, 160, 30);
        let line = |app: &str| shown.lines().position(|l| l.contains(app)).unwrap();
        // Aborted, degraded, waiting for the go, a timed pause, progressing.
        assert!(line("payments") < line("checkout"), "{shown}");
        assert!(line("checkout") < line("search"), "{shown}");
        assert!(line("search") < line("cart"), "{shown}");
        assert!(line("cart") < line("frontend"), "{shown}");
        assert!(shown.contains("4/8") && shown.contains("40%"), "{shown}");
        assert!(shown.contains("paused 2m30s left"), "{shown}");
        assert!(
            shown.contains("edge does not answer: connection refused"),
            "{shown}"
        );
        assert!(
            shown.contains("cannot watch canaries.flagger.app"),
            "{shown}"
        );
    }

    #[test]
    fn fleet_prometheus_columns_and_the_footer_line_when_it_is_down() {
        let mut s = fleet();
        assert!(!draw(&s, 200, 30).contains("ERR C/S"), "no URL, no columns");
        s.view.with_metrics = true;
        let cart = s.view.visible().find(|r| r.app == "cart").unwrap().key();
        s.view.apply(Update::Metrics {
            key: cart,
            metrics: flightdeck::fleet::Versus {
                canary_error_ratio: Some(0.2),
                stable_error_ratio: Some(0.001),
                canary_p99_ms: Some(420.0),
                stable_p99_ms: Some(180.0),
            },
        });
        let shown = draw(&s, 200, 30);
        let line = |app: &str| shown.lines().find(|l| l.contains(app)).unwrap();
        assert!(
            shown.contains("ERR C/S") && shown.contains("P99 C/S"),
            "{shown}"
        );
        assert!(
            line("cart").contains("20.0%/0.1%") && line("cart").contains("420/180ms"),
            "{shown}"
        );
        assert!(line("frontend").contains('—'), "{shown}");
        let at = |app: &str| shown.lines().position(|l| l.contains(app)).unwrap();
        assert!(
            at("cart") < at("search"),
            "a failing canary comes before a pause for the go: {shown}"
        );

        s.view.apply(Update::Prometheus {
            down: Some("Prometheus at http://prom:9090 is unreachable: refused".into()),
        });
        let shown = draw(&s, 200, 30);
        assert!(!shown.contains("20.0%"), "{shown}");
        let footer = shown.lines().last().unwrap();
        assert!(
            footer.contains("⚠ Prometheus at http://prom:9090 is unreachable"),
            "{shown}"
        );
    }

    #[test]
    fn fleet_filter_sort_and_help() {
        let mut s = fleet();
        s.handle_action(Action::FleetFilter);
        for c in "shop".chars() {
            s.type_char(c);
        }
        insta::assert_snapshot!("fleet_filter_120x30", draw(&s, 120, 30));
        s.handle_action(Action::SearchSubmit);
        s.handle_action(Action::FleetSort);
        s.handle_action(Action::ScrollDown);
        let shown = draw(&s, 120, 30);
        assert!(shown.contains("sort changed"), "{shown}");
        assert!(shown.contains("3 of 5 rollouts"), "{shown}");
        assert!(!shown.contains("frontend"), "{shown}");
        s.handle_action(Action::Help);
        insta::assert_snapshot!("fleet_help_120x30", draw(&s, 120, 30));
    }

    #[test]
    fn an_empty_fleet_says_so() {
        let mut view = FleetView::new(&["prod".into()]);
        let s = FleetScreen::new(view.clone(), "ns shop", now());
        assert!(draw(&s, 80, 24).contains("waiting for the clusters to answer"));
        view.apply(Update::Rows {
            cluster: "prod".into(),
            rows: Vec::new(),
        });
        let s = FleetScreen::new(view, "ns shop", now());
        assert!(draw(&s, 80, 24).contains("nothing to release"));
    }
}

#[test]
fn a_freeze_shows_in_the_header_with_who_and_why() {
    let mut s = guarded();
    let rollout = &mut s.rollout.as_mut().unwrap().state;
    rollout.freeze = Some(Box::new(flightdeck::rollout::freeze::Freeze {
        by: flightdeck::workers::audit::Actor {
            kube_user: "admin".into(),
            os_user: "alice".into(),
            host: "laptop".into(),
        },
        reason: "checkout errors\u{1b}[2J in EU".into(),
        at: now(),
    }));
    for (w, h) in [(80, 24), (200, 50)] {
        let text = screen(&s, w, h);
        let second = text.lines().nth(1).unwrap();
        assert!(
            second.contains("❄ FROZEN by alice: checkout errors in EU"),
            "{w}x{h}:\n{text}"
        );
    }
}
