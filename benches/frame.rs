//! Budgets for the cockpit's hot paths: a full frame at 200x50 with 5,000 pods
//! and 100,000 log lines (budget 5 ms), ingesting 50,000 log lines (they must
//! take well under a second), and a burst of pod updates.
#![allow(clippy::unwrap_used)]

mod fixtures;

use std::hint::black_box;

use chrono::{TimeZone, Utc};
use criterion::{BatchSize, Criterion, criterion_group, criterion_main};
use fixtures::{busy_state, lines, pod};
use flightdeck::app::{Msg, State, update};
use flightdeck::config::theme::Theme;
use ratatui::Terminal;
use ratatui::backend::TestBackend;

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
