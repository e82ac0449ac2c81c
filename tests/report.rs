//! The release report against the simulator: a bad canary run to its
//! rollback by `flightdeck run --report`, then `flightdeck report` on the
//! same rollout. The page and its Markdown twin say why it went back and
//! carry the numbers: the guards' readings as the run took them, or, with
//! a real Prometheus scraping the simulator, `query_range` over the rollout.
#![allow(clippy::unwrap_used)]

use std::process::{Command, Stdio};

mod prometheus;
mod report_run;
mod sim_dir;

use report_run::{bin, charts, run_bad_canary};
use sim_dir::SimDir;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rolled_back_canary_is_reported_with_why_and_its_numbers() {
    let cluster = SimDir::start("bad-canary", 20.0).await;
    let page = cluster.dir.path().join("report.html");
    let run = run_bad_canary(&cluster, &page, &[]).await;
    let stderr = String::from_utf8_lossy(&run.stderr).to_string();
    assert_eq!(run.status.code(), Some(3), "{stderr}");
    assert!(
        stderr.contains(&format!("report: {}", page.display())),
        "{stderr}"
    );

    let html = std::fs::read_to_string(&page).unwrap();
    assert!(html.contains("id=\"ending\">rolled back</span>"), "{html}");
    let why = html.split("<div class=\"why\" id=\"why\">").nth(1).unwrap();
    let why = why.split("</div>").next().unwrap();
    assert!(
        why.contains("checkout 5xx: error-ratio") && why.contains("&gt; 5.0% for 2m"),
        "{why}"
    );
    // Without Prometheus the charts are the run's own readings, and say so.
    assert!(
        html.contains("readings the run&#39;s guards took"),
        "{html}"
    );
    let charts = charts(&html);
    let errors = charts.iter().find(|c| c.metric == "Error ratio").unwrap();
    let canary = errors.points("canary");
    // A reading every 15 s over the four minutes or so to the rollback.
    assert!(canary.len() >= 10, "{errors:?}");
    assert!(
        canary.iter().any(|v| *v < 0.02),
        "the healthy start: {canary:?}"
    );
    assert!(
        canary.iter().any(|v| *v > 0.05),
        "the climb past the guard: {canary:?}"
    );
    assert_eq!(errors.thresholds, [0.05]);
    assert_eq!(
        errors.marks.first().map(String::as_str),
        Some("stage 1 · 10%")
    );
    assert_eq!(errors.marks.last().map(String::as_str), Some("rolled back"));
    // The timeline: who started it and that the guard acted, automatically.
    let timeline = html.split("id=\"timeline\"").nth(1).unwrap();
    assert!(
        timeline.contains("<td>start</td><td>pipeline ("),
        "{timeline}"
    );
    assert!(
        timeline.contains("<td>guard</td><td>pipeline (flightdeck auto) ("),
        "{timeline}"
    );
    // The time stage 1 took, and the pods with their restarts.
    let stages = html.split("id=\"stages\"").nth(1).unwrap();
    assert!(
        stages.contains("<td>1</td><td class=\"num\">10%</td>"),
        "{stages}"
    );
    assert!(html.contains("<td>canary</td><td>"), "{html}");

    // `flightdeck report` afterwards, as Markdown on stdout: the same story,
    // from the records.
    let out = Command::new(bin())
        .args(["report", "--format", "md", "--plan"])
        .arg(std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("assets/plans/bad-canary.toml"))
        .arg("--kubeconfig")
        .arg(cluster.kubeconfig())
        .arg("--audit")
        .arg(cluster.audit())
        .env_remove("FLIGHTDECK_PROMETHEUS")
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let md = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        md.starts_with("# Release report: shop/checkout — rolled back: checkout 5xx: error-ratio"),
        "{md}"
    );
    assert!(
        md.contains("> **Why it was rolled back:** checkout 5xx"),
        "{md}"
    );
    assert!(
        md.contains("what the rollout's history and the audit file recorded"),
        "{md}"
    );
    assert!(md.contains("| start | pipeline ("), "{md}");
    assert!(
        md.contains("- threshold: guard checkout 5xx: 5.00% → rollback"),
        "{md}"
    );
    cluster.host.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_prometheus_the_charts_are_its_series_over_the_whole_rollout() {
    let Some(prom) = prometheus::find() else {
        return;
    };
    let cluster = SimDir::start("bad-canary", 20.0).await;
    let dir = tempfile::tempdir().unwrap();
    let port = prometheus::free_port();
    let base = format!("http://127.0.0.1:{port}");
    let _server = prometheus::start(
        &prom,
        dir.path(),
        port,
        &[("sim", cluster.host.addr().port())],
    );
    prometheus::wait_ready(&base).await;
    let page = cluster.dir.path().join("report.html");
    let run = run_bad_canary(&cluster, &page, &["--prometheus", &base]).await;
    let stderr = String::from_utf8_lossy(&run.stderr).to_string();
    assert_eq!(run.status.code(), Some(3), "{stderr}");
    let html = std::fs::read_to_string(&page).unwrap();
    assert!(
        html.contains(&format!("Charts from Prometheus at {base}")),
        "{html}"
    );
    let charts = charts(&html);
    assert_eq!(charts.len(), 3);
    for chart in &charts {
        for version in ["canary", "stable"] {
            assert!(
                chart.points(version).len() >= 10,
                "{} {version}: {:?}",
                chart.metric,
                chart.series
            );
        }
    }
    let errors = charts.iter().find(|c| c.metric == "Error ratio").unwrap();
    assert!(
        errors.points("canary").iter().any(|v| *v > 0.05),
        "{errors:?}"
    );
    assert!(
        errors.points("stable").iter().all(|v| *v < 0.05),
        "{errors:?}"
    );
    let rate = charts.iter().find(|c| c.metric == "Request rate").unwrap();
    assert!(rate.points("stable").iter().any(|v| *v > 0.0), "{rate:?}");
    cluster.host.shutdown().await;
}
