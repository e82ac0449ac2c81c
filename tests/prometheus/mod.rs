//! A real Prometheus (Debian's package) for the tests that prove numbers with
//! it: found on PATH, started on a free loopback port with its own config and
//! storage, and killed when the test ends, however it ends.

// Each test crate that includes this module uses a part of it.
#![allow(dead_code)]

use std::fmt::Write as _;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// The prometheus binary, or `None` (after saying the test is skipped) where it
/// is not installed; with `FLIGHTDECK_REQUIRE_PROMETHEUS=1` a missing one fails.
pub fn find() -> Option<PathBuf> {
    let found = std::env::var_os("PATH").and_then(|path| {
        std::env::split_paths(&path)
            .map(|dir| dir.join("prometheus"))
            .find(|p| p.is_file())
    });
    if found.is_none() {
        assert!(
            std::env::var("FLIGHTDECK_REQUIRE_PROMETHEUS").as_deref() != Ok("1"),
            "FLIGHTDECK_REQUIRE_PROMETHEUS=1 but no prometheus on PATH"
        );
        eprintln!("skipped: prometheus is not installed (apt-get install prometheus)");
    }
    found
}

pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free loopback port")
}

/// A running Prometheus; killed on drop.
pub struct Running(Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Starts Prometheus on `port`, scraping each `(job, port)` on loopback every
/// second, with its config and data under `dir`.
pub fn start(bin: &Path, dir: &Path, port: u16, targets: &[(&str, u16)]) -> Running {
    let mut jobs = String::new();
    for (job, p) in targets {
        let _ = write!(
            jobs,
            "  - job_name: {job}\n    static_configs:\n      - targets: [\"127.0.0.1:{p}\"]\n"
        );
    }
    let config = format!(
        "global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\n  evaluation_interval: 1s\nscrape_configs:\n{jobs}"
    );
    let config_path = dir.join("prometheus.yml");
    std::fs::write(&config_path, config).expect("the config is written");
    let child = Command::new(bin)
        .arg(format!("--config.file={}", config_path.display()))
        .arg(format!(
            "--storage.tsdb.path={}",
            dir.join("data").display()
        ))
        .arg(format!("--web.listen-address=127.0.0.1:{port}"))
        .arg("--log.level=warn")
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("prometheus starts");
    Running(child)
}

/// Waits until Prometheus at `base` says it is ready.
pub async fn wait_ready(base: &str) {
    let http = reqwest::Client::new();
    for _ in 0..300 {
        if let Ok(r) = http.get(format!("{base}/-/ready")).send().await
            && r.status().is_success()
        {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("Prometheus at {base} did not become ready in 30 s");
}
