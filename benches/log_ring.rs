//! The cockpit's largest log ring, `--log-lines 1000000`: what a million
//! lines cost in memory (budget: the cockpit process within 256 MB, measured
//! whole by `benches/idle.sh … large-full-ring`), and a search over all of
//! them answered within one frame (33 ms): a hit at the far end of the ring
//! and a miss, which reads every line. The lines are shaped as the simulator's
//! pods write them: their own RFC 3339 time, a level, an access-log body.
#![allow(clippy::unwrap_used)]

mod support;

use std::hint::black_box;
use std::time::Duration;

use chrono::{SecondsFormat, TimeZone, Utc};
use criterion::{Criterion, criterion_group};
use flightdeck::app::logs::Logs;
use flightdeck::app::msg::LogLine;
use flightdeck::app::{Action, State, handle_action, type_char};
use flightdeck::config::theme::Theme;
use ratatui::Terminal;
use ratatui::backend::TestBackend;

const RING: usize = 1_000_000;
/// Lines per batch, as the log worker sends them.
const BATCH: usize = 2_500;
const START_MS: i64 = 1_700_000_000_000;
/// The one line with `/refund`: still in the full ring, near its oldest end.
const FAR_LINE: usize = 500;

/// One batch of access-log lines from 100 pods of two versions.
fn batch(first: usize) -> Vec<LogLine> {
    let paths = ["/cart", "/checkout", "/products/42", "/pay", "/healthz"];
    (first..first + BATCH)
        .map(|i| {
            let at = Utc.timestamp_millis_opt(START_MS + i as i64).unwrap();
            let (version, level, code) = if i % 4 == 0 {
                ("canary", "INFO", 200)
            } else if i % 97 == 0 {
                ("stable", "WARN", 503)
            } else {
                ("stable", "INFO", 200)
            };
            LogLine {
                at,
                pod: format!("checkout-{version}-7d9f8c6b5-{:05}", i % 100),
                container: "app".into(),
                version: version.into(),
                text: format!(
                    "{} {level} GET {}/{} {code} {}.{}ms",
                    at.to_rfc3339_opts(SecondsFormat::Millis, true),
                    // One line near the oldest end, for a search to travel to.
                    if i == FAR_LINE {
                        "/refund"
                    } else {
                        paths[i % paths.len()]
                    },
                    i % 1000,
                    i % 90,
                    i % 10
                ),
            }
        })
        .collect()
}

fn full_ring() -> Logs {
    let mut logs = Logs::with_capacity(RING);
    let mut first = 0;
    while logs.len() < RING {
        logs.ingest(batch(first));
        first += BATCH;
    }
    logs
}

/// Prints what a full ring of a million lines adds to the process, then
/// what it holds after a second million has gone through it (eviction must
/// give the memory back for reuse). A size, not a time: printed once.
fn report_memory() {
    let Some(before) = support::rss_bytes() else {
        eprintln!("memory: /proc/self/status is not readable here; skipped");
        return;
    };
    let mib = |b: u64| b as f64 / (1024.0 * 1024.0);
    let mut logs = full_ring();
    let full = support::rss_bytes().unwrap_or(before);
    let mut first = RING;
    while first < 2 * RING {
        logs.ingest(batch(first));
        first += BATCH;
    }
    let wrapped = support::rss_bytes().unwrap_or(before);
    eprintln!(
        "memory: {} lines in the ring: {:.1} MiB resident growth ({:.0} bytes a line); \
         after another {RING} lines through it: {:.1} MiB",
        logs.len(),
        mib(full.saturating_sub(before)),
        full.saturating_sub(before) as f64 / RING as f64,
        mib(wrapped.saturating_sub(before)),
    );
    black_box(&logs);
}

fn state_with_full_ring() -> State {
    let mut state = State::new(Utc.timestamp_opt(1_700_001_000, 0).unwrap());
    state.header.app = "checkout".into();
    state.logs = full_ring();
    state.focus = flightdeck::app::Pane::Logs;
    state
}

/// A search typed and submitted, then the frame that shows where it landed:
/// what the person waits for after Enter. The ring is not changed by a
/// search, so one state serves every run: the search is cleared and the view
/// set following again before each.
fn search(c: &mut Criterion) {
    let theme = Theme::default();
    let mut group = c.benchmark_group("search a 1M-line ring");
    group.sample_size(20);
    let mut state = state_with_full_ring();
    let mut terminal = Terminal::new(TestBackend::new(200, 50)).unwrap();
    for (name, query, lands) in [
        ("hit at the far end", "/refund", true),
        ("miss, every line read", "no-such-text", false),
        ("common word, hit at once", "get", true),
    ] {
        group.bench_function(name, |b| {
            b.iter(|| {
                handle_action(&mut state, Action::LogClearFilter);
                state.logs.set_follow(true);
                handle_action(&mut state, Action::LogSearch);
                for ch in query.chars() {
                    type_char(&mut state, ch);
                }
                handle_action(&mut state, Action::SearchSubmit);
                terminal
                    .draw(|f| flightdeck::ui::draw(f, &state, &theme))
                    .unwrap();
            });
        });
        // What the person sees: the far line is on screen, or "no match".
        assert_eq!(state.logs.current_match().is_some(), lands, "{query}");
    }
    group.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default().measurement_time(Duration::from_secs(5));
    targets = search
}

fn main() {
    report_memory();
    benches();
    Criterion::default().configure_from_args().final_summary();
}
