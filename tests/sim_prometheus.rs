//! Fidelity: a real Prometheus (Debian's package) scrapes the sim's `/metrics`
//! while the traffic model runs, and its `rate()` and `histogram_quantile()`
//! find the error ratio and latency the scenarios set.
//!
//! Skipped (with a message) where `prometheus` is not installed, unless
//! `FLIGHTDECK_REQUIRE_PROMETHEUS=1`.
#![allow(clippy::unwrap_used)]

#[path = "sim_traffic/fixture.rs"]
// Shared with sim_traffic, which uses every helper; this test needs fewer.
#[allow(dead_code)]
mod fixture;
mod prometheus;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, Utc};
use fixture::Sim;
use flightdeck::metrics::prometheus::Prometheus;
use flightdeck::metrics::queries::{Queries, Vars, render};
use flightdeck::sim::traffic;

/// Sim time per tick, and real time between ticks: speed 20.
const TICK: Duration = Duration::from_millis(100);
const PAUSE: Duration = Duration::from_millis(5);
/// Sim seconds after the canaries first get traffic at which the test looks.
const EARLY: u64 = 100;
const LATE: u64 = 400;

async fn serve_metrics(sim: &Sim) -> u16 {
    let app = traffic::routes(sim.shared.clone(), sim.traffic.handle());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move { axum::serve(listener, app).await });
    port
}

async fn wait_scraped(p: &Prometheus) {
    for _ in 0..300 {
        if let Ok(up) = p.query("up == 1", None).await
            && up.len() == 2
        {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("Prometheus did not scrape both targets within 30 s");
}

/// Wall-clock moments at which the sims reached a given sim second.
type Marks = Arc<Mutex<Vec<(u64, DateTime<Utc>)>>>;

async fn value(
    p: &Prometheus,
    template: &str,
    app: &str,
    version: &str,
    window: &str,
    at: DateTime<Utc>,
) -> f64 {
    let q = render(
        template,
        Vars {
            namespace: "shop",
            app,
            version,
            window,
        },
    );
    let samples = p.query(&q, Some(at)).await.unwrap();
    assert_eq!(samples.len(), 1, "{q} gave {samples:?}");
    samples[0].value
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prometheus_sees_what_the_scenarios_set() {
    let Some(bin) = prometheus::find() else {
        return;
    };
    let mut bad = Sim::new("bad-canary", 21);
    let mut slow = Sim::new("slow-canary", 22);
    bad.set_weights("shop", "checkout", &[("stable", 50), ("canary", 50)]);
    slow.set_weights("shop", "search", &[("stable", 50), ("canary", 50)]);
    let bad_port = serve_metrics(&bad).await;
    let slow_port = serve_metrics(&slow).await;

    let dir = tempfile::tempdir().unwrap();
    let prom_port = prometheus::free_port();
    let _prometheus = prometheus::start(
        &bin,
        dir.path(),
        prom_port,
        &[("bad", bad_port), ("slow", slow_port)],
    );
    let base = format!("http://127.0.0.1:{prom_port}");
    prometheus::wait_ready(&base).await;
    let p = Prometheus::new(&base, Duration::from_secs(10)).unwrap();
    // Prometheus hands new targets to its scrapers every few seconds: start the
    // clock only once both are scraped, so the early window has its samples.
    wait_scraped(&p).await;

    // The sims tick on their own thread at speed 20 while Prometheus scrapes.
    let stop = Arc::new(AtomicBool::new(false));
    let marks: Marks = Arc::default();
    let ticker = {
        let (stop, marks) = (stop.clone(), marks.clone());
        std::thread::spawn(move || {
            let mut next_mark = 0;
            while !stop.load(Ordering::Relaxed) {
                bad.run(TICK, TICK);
                slow.run(TICK, TICK);
                let sim_secs = bad.elapsed.as_secs();
                if sim_secs >= next_mark {
                    marks.lock().unwrap().push((sim_secs, Utc::now()));
                    next_mark = sim_secs + 1;
                }
                if sim_secs > LATE {
                    break;
                }
                std::thread::sleep(PAUSE);
            }
        })
    };
    let when = |sim_secs: u64| {
        let marks = marks.clone();
        async move {
            loop {
                if let Some((_, at)) = marks.lock().unwrap().iter().find(|(s, _)| *s >= sim_secs) {
                    return *at;
                }
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        }
    };
    let early = when(EARLY).await;
    let late = when(LATE).await;
    // One more scrape after the last tick, so the late window is complete.
    tokio::time::sleep(Duration::from_millis(2_500)).await;
    stop.store(true, Ordering::Relaxed);
    ticker.join().unwrap();

    let up = p.query("up", None).await.unwrap();
    assert_eq!(up.len(), 2);
    assert!(
        up.iter().all(|s| (s.value - 1.0).abs() < f64::EPSILON),
        "{up:?}"
    );
    let q = Queries::default();
    // Windows are in real (scrape) time; at speed 20, 4 s is 80 s of sim time
    // and 10 s is 200 s: ratios and quantiles do not depend on the speed.
    let canary_early = value(&p, &q.error_ratio, "checkout", "canary", "4s", early).await;
    let canary_late = value(&p, &q.error_ratio, "checkout", "canary", "10s", late).await;
    let stable_late = value(&p, &q.error_ratio, "checkout", "stable", "10s", late).await;
    let slow_canary_p99 = value(&p, &q.p99, "search", "canary", "10s", late).await;
    let slow_stable_p99 = value(&p, &q.p99, "search", "stable", "10s", late).await;
    let slow_stable_p50 = value(&p, &q.p50, "search", "stable", "10s", late).await;
    println!(
        "Prometheus computed: bad-canary canary error ratio {canary_early:.4} before its phase \
         (scenario 0.005), {canary_late:.4} after its ramp (scenario 0.08); stable {stable_late:.4} \
         (scenario 0.004); slow-canary p99 canary {slow_canary_p99:.3} s (scenario 2.6 s), \
         stable {slow_stable_p99:.3} s (scenario 0.4 s), stable p50 {slow_stable_p50:.3} s (scenario 0.06 s)"
    );
    assert!(
        (canary_early - 0.005).abs() < 0.005,
        "early canary error ratio {canary_early}"
    );
    assert!(
        (canary_late - 0.08).abs() < 0.015,
        "late canary error ratio {canary_late}"
    );
    assert!(
        (stable_late - 0.004).abs() < 0.003,
        "stable error ratio {stable_late}"
    );
    assert!(slow_canary_p99 > 2.0, "slow canary p99 {slow_canary_p99}");
    assert!(
        (slow_canary_p99 / 2.6 - 1.0).abs() < 0.15,
        "slow canary p99 {slow_canary_p99}"
    );
    assert!(
        (slow_stable_p99 / 0.4 - 1.0).abs() < 0.15,
        "stable p99 {slow_stable_p99}"
    );
    assert!(
        (slow_stable_p50 / 0.06 - 1.0).abs() < 0.2,
        "stable p50 {slow_stable_p50}"
    );
}
