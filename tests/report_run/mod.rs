//! A bad-canary rollout run to its rollback by the real binary with
//! `--report`, and a look inside the HTML it wrote: the charts, their
//! series and data points, as the page holds them.
#![allow(dead_code, clippy::unwrap_used)]

use std::path::Path;
use std::process::{Output, Stdio};

use super::sim_dir::SimDir;

pub fn bin() -> String {
    std::env::var("FLIGHTDECK_E2E_BIN")
        .unwrap_or_else(|_| env!("CARGO_BIN_EXE_flightdeck").to_string())
}

/// `flightdeck run --auto --headless --report REPORT ARGS` on `bad-canary.toml`.
pub async fn run_bad_canary(cluster: &SimDir, report: &Path, args: &[&str]) -> Output {
    let mut cmd = cluster.command(&bin(), &["run", "--auto", "--headless"], "bad-canary.toml");
    cmd.arg("--report")
        .arg(report)
        .args(args)
        .env("USER", "pipeline")
        .env("XDG_STATE_HOME", cluster.dir.path().join("state"))
        .env_remove("FLIGHTDECK_PROMETHEUS")
        .env_remove("FLIGHTDECK_WEBHOOK_URL")
        .stdin(Stdio::null());
    tokio::task::spawn_blocking(move || cmd.output().unwrap())
        .await
        .unwrap()
}

/// One `<svg>` chart of the page.
#[derive(Debug)]
pub struct SvgChart {
    pub metric: String,
    /// (version, number of `<circle class="point">` in its series).
    pub series: Vec<(String, usize)>,
    /// The values of the points, by version.
    pub values: Vec<(String, Vec<f64>)>,
    pub thresholds: Vec<f64>,
    pub marks: Vec<String>,
}

fn attr(tag: &str, name: &str) -> Option<String> {
    let start = tag.find(&format!(" {name}=\""))? + name.len() + 3;
    let end = tag[start..].find('"')? + start;
    Some(tag[start..end].to_string())
}

/// The page's `<svg>` elements, read tag by tag.
pub fn charts(html: &str) -> Vec<SvgChart> {
    let mut out = Vec::new();
    for svg in html.split("<svg ").skip(1) {
        let svg = svg.split("</svg>").next().unwrap();
        let head = svg.split('>').next().unwrap();
        let mut chart = SvgChart {
            metric: attr(&format!(" {head}"), "data-metric").unwrap_or_default(),
            series: Vec::new(),
            values: Vec::new(),
            thresholds: Vec::new(),
            marks: Vec::new(),
        };
        for group in svg.split("<g ").skip(1) {
            let tag = format!(" {}", group.split('>').next().unwrap());
            let class = attr(&tag, "class").unwrap_or_default();
            if class.starts_with("series ") {
                let version = attr(&tag, "data-version").unwrap();
                let body = group.split("</g>").next().unwrap();
                let values: Vec<f64> = body
                    .split("<circle ")
                    .skip(1)
                    .filter_map(|c| attr(&format!(" {c}"), "data-value")?.parse().ok())
                    .collect();
                chart.series.push((version.clone(), values.len()));
                chart.values.push((version, values));
            } else if class == "threshold" {
                chart
                    .thresholds
                    .push(attr(&tag, "data-value").unwrap().parse().unwrap());
            } else if class == "mark" {
                // The label's text follows its tag, whatever attributes come after the class.
                let label = group
                    .split("class=\"mark-label\"")
                    .nth(1)
                    .and_then(|t| t.split_once('>'))
                    .and_then(|(_, t)| t.split('<').next())
                    .unwrap_or_default();
                chart.marks.push(label.to_string());
            }
        }
        out.push(chart);
    }
    out
}

impl SvgChart {
    pub fn points(&self, version: &str) -> &[f64] {
        self.values
            .iter()
            .find(|(v, _)| v == version)
            .map_or(&[], |(_, p)| p.as_slice())
    }
}
