//! The cockpit's budgets as a person feels them:
//!
//! - the first frame after start (theme, keymap, state, first draw) under 100 ms;
//! - a key answered within one frame (33 ms) while log lines pour in at
//!   50,000 a second: the lines that arrive in one batch window, then the key,
//!   then the frame that shows its effect;
//! - the memory a full state takes (the `large` scenario's 5,000 pods and a
//!   full ring of 100,000 lines), under 100 MB: printed once, read from the
//!   process's resident set since it is a size, not a time.
//!
//! The frame with 5,000 pods and 100,000 lines is `benches/frame.rs`.
#![allow(clippy::unwrap_used)]

mod fixtures;
mod support;

use std::hint::black_box;
use std::time::Duration;

use chrono::{TimeZone, Utc};
use criterion::{BatchSize, Criterion, criterion_group};
use fixtures::{PODS, RING, busy_state, lines, pod};
use flightdeck::app::{Action, Msg, Pane, State, handle_action, update};
use flightdeck::config::keymap::Keymap;
use flightdeck::config::theme::Theme;
use ratatui::Terminal;
use ratatui::backend::TestBackend;

/// Lines that arrive in one of the log worker's batch windows (50 ms) at
/// 50,000 lines per second.
const LINES_PER_BATCH: usize = 2_500;

fn first_frame(c: &mut Criterion) {
    let now = Utc.timestamp_opt(1_700_000_600, 0).unwrap();
    c.bench_function("first frame: theme, keymap, state, draw 200x50", |b| {
        b.iter(|| {
            let theme = Theme::preset("default", false).unwrap();
            let keymap = Keymap::preset("default").unwrap();
            let mut state = State::new(now);
            state.header.app = "checkout".into();
            state.keys = keymap.help();
            let mut terminal = Terminal::new(TestBackend::new(200, 50)).unwrap();
            terminal
                .draw(|f| flightdeck::ui::draw(f, black_box(&state), &theme))
                .unwrap();
            terminal
        });
    });
}

/// A key that costs the most on a full ring: refiltering 100,000 lines.
fn key_while_ingesting(c: &mut Criterion) {
    let theme = Theme::default();
    let mut group = c.benchmark_group("key while ingesting 50k lines/s");
    group.sample_size(30);
    for (name, action) in [
        ("focus-next", Action::FocusNext),
        ("log-filter-version", Action::LogFilterVersion),
        ("log-search-next", Action::LogSearchNext),
    ] {
        group.bench_function(name, |b| {
            b.iter_batched(
                || {
                    let mut state = busy_state();
                    state.focus = Pane::Logs;
                    state.logs.search = Some("cart/9".into());
                    let terminal = Terminal::new(TestBackend::new(200, 50)).unwrap();
                    (state, lines(LINES_PER_BATCH, 1_700_000_600_000), terminal)
                },
                |(mut state, batch, mut terminal)| {
                    update(&mut state, Msg::LogLines(batch));
                    handle_action(&mut state, action);
                    terminal
                        .draw(|f| flightdeck::ui::draw(f, &state, &theme))
                        .unwrap();
                    (state, terminal)
                },
                BatchSize::LargeInput,
            );
        });
    }
    group.finish();
}

/// Prints how much the process grows for a full state. Run before any bench
/// so that nothing freed earlier is reused.
fn report_memory() {
    let Some(before) = support::rss_bytes() else {
        eprintln!("memory: /proc/self/status is not readable here; skipped");
        return;
    };
    let now = Utc.timestamp_opt(1_700_000_600, 0).unwrap();
    let mut state = State::new(now);
    update(&mut state, Msg::PodsReset((0..PODS).map(pod).collect()));
    // Several batches, as the log worker sends them, to fill and then wrap the ring.
    for i in 0..12 {
        let start = 1_699_990_000_000 + i64::from(i) * 100_000_000;
        update(&mut state, Msg::LogLines(lines(RING / 10, start)));
    }
    let after = support::rss_bytes().unwrap_or(before);
    let mib = |b: u64| b as f64 / (1024.0 * 1024.0);
    eprintln!(
        "memory: state with {} pods and {} log lines (ring full): {:.1} MiB resident growth \
         (process {:.1} MiB)",
        state.pods.len(),
        state.logs.len(),
        mib(after.saturating_sub(before)),
        mib(after)
    );
    black_box(&state);
}

criterion_group! {
    name = benches;
    config = Criterion::default().measurement_time(Duration::from_secs(5));
    targets = first_frame, key_while_ingesting
}

fn main() {
    report_memory();
    benches();
    Criterion::default().configure_from_args().final_summary();
}
