//! Budgets for the cockpit's hot paths: a full frame at 200x50 with 5,000 pods
//! and 100,000 log lines (budget 5 ms), ingesting 50,000 log lines (they must
//! take well under a second), and a burst of pod updates.
#![allow(clippy::unwrap_used)]

use std::hint::black_box;
use std::time::Duration;

use chrono::{TimeZone, Utc};
use criterion::{BatchSize, Criterion, criterion_group, criterion_main};
use flightdeck::app::msg::{
    LogLine, MetricsSample, PodInfo, RouterKind, TrafficInfo, VersionMetrics,
};
use flightdeck::app::{Msg, State, update};
use flightdeck::config::keymap::Keymap;
use flightdeck::config::theme::Theme;
use ratatui::Terminal;
use ratatui::backend::TestBackend;

fn pod(i: usize) -> PodInfo {
    let statuses = [
        "Running",
        "Running",
        "Running",
        "CrashLoopBackOff",
        "Pending",
    ];
    PodInfo {
        name: format!(
            "checkout-{}-{i:05}",
            if i.is_multiple_of(4) {
                "canary"
            } else {
                "stable"
            }
        ),
        version: if i.is_multiple_of(4) {
            "canary".into()
        } else {
            "stable".into()
        },
        status: statuses[i % statuses.len()].into(),
        ready: u32::from(i % 5 < 3),
        containers: 1,
        restarts: (i % 7) as u32,
        created: Some(Utc.timestamp_opt(1_700_000_000 - i as i64, 0).unwrap()),
        node: format!("node-{}", i % 40),
        cpu_millicores: Some(100 + (i % 300) as u64),
        memory_bytes: Some(200 << 20),
        memory_limit_bytes: Some(512 << 20),
    }
}

fn lines(n: usize, start: i64) -> Vec<LogLine> {
    (0..n)
        .map(|i| LogLine {
            at: Utc.timestamp_millis_opt(start + i as i64 * 5).unwrap(),
            pod: format!("checkout-stable-{:05}", i % 50),
            container: "app".into(),
            version: if i.is_multiple_of(4) {
                "canary".into()
            } else {
                "stable".into()
            },
            text: if i.is_multiple_of(9) {
                format!(r#"{{"level":"info","msg":"order placed","order":{i},"ms":41}}"#)
            } else {
                format!("GET /cart/{i} status=200 took={}ms", i % 90)
            },
        })
        .collect()
}

fn busy_state() -> State {
    let now = Utc.timestamp_opt(1_700_000_600, 0).unwrap();
    let mut s = State::new(now);
    s.header.app = "checkout".into();
    s.keys = Keymap::preset("default").unwrap().help();
    update(&mut s, Msg::PodsReset((0..5000).map(pod).collect()));
    update(
        &mut s,
        Msg::Traffic(TrafficInfo {
            router: RouterKind::HttpRoute,
            object: "HTTPRoute shop/checkout".into(),
            desired: vec![("stable".into(), 75), ("canary".into(), 25)],
        }),
    );
    for i in 0..30 {
        update(
            &mut s,
            Msg::Metrics(MetricsSample {
                at: now - chrono::Duration::seconds(300 - i * 10),
                versions: ["stable", "canary"]
                    .iter()
                    .map(|v| VersionMetrics {
                        version: (*v).into(),
                        requests_per_second: Some(100.0),
                        error_ratio: Some(0.01),
                        p50: Some(Duration::from_millis(40)),
                        p95: Some(Duration::from_millis(200)),
                        p99: Some(Duration::from_millis(400)),
                    })
                    .collect(),
            }),
        );
    }
    update(&mut s, Msg::LogLines(lines(100_000, 1_700_000_000_000)));
    s
}

fn frame(c: &mut Criterion) {
    let state = busy_state();
    let theme = Theme::default();
    let mut terminal = Terminal::new(TestBackend::new(200, 50)).unwrap();
    c.bench_function("frame 200x50, 5k pods, 100k log lines", |b| {
        b.iter(|| {
            terminal
                .draw(|f| flightdeck::ui::draw(f, black_box(&state), &theme))
                .unwrap();
        });
    });
    let mut wrapped = state.clone();
    wrapped.logs.wrap = true;
    wrapped.logs.search = Some("cart/9".into());
    c.bench_function("frame 200x50, wrapped logs with search", |b| {
        b.iter(|| {
            terminal
                .draw(|f| flightdeck::ui::draw(f, black_box(&wrapped), &theme))
                .unwrap();
        });
    });
}

fn ingest(c: &mut Criterion) {
    let now = Utc.timestamp_opt(1_700_000_600, 0).unwrap();
    let batch = lines(50_000, 1_700_000_000_000);
    c.bench_function("ingest 50k log lines into a full ring", |b| {
        b.iter_batched(
            || {
                let mut s = State::new(now);
                update(&mut s, Msg::LogLines(lines(100_000, 1_699_999_000_000)));
                (s, batch.clone())
            },
            |(mut s, batch)| {
                update(&mut s, Msg::LogLines(batch));
                s
            },
            BatchSize::LargeInput,
        );
    });
}

fn pod_burst(c: &mut Criterion) {
    let now = Utc.timestamp_opt(1_700_000_600, 0).unwrap();
    let msgs: Vec<Msg> = (0..5000).map(|i| Msg::PodApplied(pod(i))).collect();
    c.bench_function("update: burst of 5k pod messages", |b| {
        b.iter_batched(
            || (State::new(now), msgs.clone()),
            |(mut s, msgs)| {
                for m in msgs {
                    update(&mut s, m);
                }
                s
            },
            BatchSize::LargeInput,
        );
    });
}

criterion_group!(benches, frame, ingest, pod_burst);
criterion_main!(benches);
