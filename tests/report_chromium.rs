//! The HTML release report of a bad-canary run, opened in headless Chromium
//! (Debian's `chromium`) as a person would open the file: the page holds
//! its charts with their data points, and the screenshot shows them drawn
//! (not a blank page, and the canary's colour is on it). Skipped where
//! Chromium is not installed, unless `FLIGHTDECK_REQUIRE_CHROMIUM=1`.
#![allow(clippy::unwrap_used)]

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

mod report_run;
mod sim_dir;

use report_run::{charts, run_bad_canary};
use sim_dir::SimDir;

/// The chromium binary, or `None` (after saying the test is skipped).
fn chromium() -> Option<PathBuf> {
    let found = std::env::var_os("PATH").and_then(|path| {
        std::env::split_paths(&path)
            .map(|dir| dir.join("chromium"))
            .find(|p| p.is_file())
    });
    if found.is_none() {
        assert!(
            std::env::var("FLIGHTDECK_REQUIRE_CHROMIUM").as_deref() != Ok("1"),
            "FLIGHTDECK_REQUIRE_CHROMIUM=1 but no chromium on PATH"
        );
        eprintln!("skipped: chromium is not installed (apt-get install chromium)");
    }
    found
}

/// `chromium --headless --screenshot` of `page` at 1200x1600, killed after a minute.
fn screenshot(bin: &Path, page: &Path, shot: &Path, profile: &Path) {
    let mut child = Command::new(bin)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--hide-scrollbars",
        ])
        .arg(format!("--user-data-dir={}", profile.display()))
        .arg(format!("--screenshot={}", shot.display()))
        .arg("--window-size=1200,1600")
        .arg(format!("file://{}", page.display()))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            assert!(status.success(), "chromium exited {status}");
            return;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("chromium did not finish its screenshot within a minute");
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// (width, height, RGB pixels) of a PNG.
fn decode(path: &Path) -> (u32, u32, Vec<[u8; 3]>) {
    let decoder = png::Decoder::new(std::io::BufReader::new(std::fs::File::open(path).unwrap()));
    let mut reader = decoder.read_info().unwrap();
    let mut buf = vec![0; reader.output_buffer_size().unwrap()];
    let info = reader.next_frame(&mut buf).unwrap();
    let channels = info.color_type.samples();
    assert_eq!(info.bit_depth, png::BitDepth::Eight);
    let pixels = buf[..info.buffer_size()]
        .chunks(channels)
        .map(|c| match channels {
            1 | 2 => [c[0], c[0], c[0]],
            _ => [c[0], c[1], c[2]],
        })
        .collect();
    (info.width, info.height, pixels)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_report_of_a_bad_canary_renders_its_charts_in_chromium() {
    let Some(bin) = chromium() else {
        return;
    };
    let cluster = SimDir::start("bad-canary", 20.0).await;
    let page = cluster.dir.path().join("report.html");
    let run = run_bad_canary(&cluster, &page, &[]).await;
    assert_eq!(
        run.status.code(),
        Some(3),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
    cluster.host.shutdown().await;

    // The page: three charts, the error ratio's canary with its readings.
    let html = std::fs::read_to_string(&page).unwrap();
    let charts = charts(&html);
    let metrics: Vec<&str> = charts.iter().map(|c| c.metric.as_str()).collect();
    assert_eq!(metrics, ["Error ratio", "p99 latency", "Request rate"]);
    let errors = &charts[0];
    assert!(errors.points("canary").len() >= 10, "{errors:?}");
    assert_eq!(errors.thresholds, [0.05]);

    // The screenshot: Chromium drew it, and drew the charts.
    let shot = cluster.dir.path().join("report.png");
    let profile = cluster.dir.path().join("chromium-profile");
    let (page_path, shot_path) = (page.clone(), shot.clone());
    tokio::task::spawn_blocking(move || screenshot(&bin, &page_path, &shot_path, &profile))
        .await
        .unwrap();
    let (width, height, pixels) = decode(&shot);
    assert_eq!((width, height), (1200, 1600));
    let mut colours: Vec<[u8; 3]> = pixels.clone();
    colours.sort_unstable();
    colours.dedup();
    assert!(
        colours.len() > 16,
        "a blank page: {} distinct colours",
        colours.len()
    );
    // The canary's line and points (#e67e22) and the threshold's (#c0392b).
    let near = |p: &[u8; 3], c: [u8; 3]| p.iter().zip(c).all(|(a, b)| a.abs_diff(b) <= 24);
    let canary = pixels
        .iter()
        .filter(|p| near(p, [0xe6, 0x7e, 0x22]))
        .count();
    let threshold = pixels
        .iter()
        .filter(|p| near(p, [0xc0, 0x39, 0x2b]))
        .count();
    assert!(canary > 200, "{canary} canary-coloured pixels");
    assert!(threshold > 100, "{threshold} threshold-coloured pixels");
}
