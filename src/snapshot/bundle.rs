//! What a snapshot holds, under which names, within which bounds: pure, so
//! the shape of a bundle is tested without a cluster. The tar and gzip
//! framing is written to any `Write`.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::io::Write;

use chrono::{DateTime, Utc};
use k8s_openapi::api::core::v1::Pod;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::rollout::state::StageVerdict;
use crate::workers::guard_watch::{GuardUpdate, Reading, VersionReading};

/// The format of [`Manifest`]; bumped when the bundle's layout changes.
pub const FORMAT: u32 = 1;
/// Log lines kept per pod: the tail, where an incident shows.
pub const LOG_LINES: usize = 200;
/// Longest log line kept; a longer one is cut and says so.
pub const LINE_BYTES: usize = 2_000;
/// Events kept, newest first.
pub const EVENTS: usize = 500;
/// The manifest's own name in the archive, always its first entry.
pub const MANIFEST: &str = "manifest.json";

/// One file of the bundle.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Part {
    pub name: String,
    pub bytes: Vec<u8>,
}

/// A part the manifest lists: its name, what it holds and its size.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Listed {
    pub name: String,
    pub what: String,
    pub bytes: usize,
}

/// A part that could not be read, and why (forbidden, missing, unreachable).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Missing {
    pub part: String,
    pub why: String,
}

/// `manifest.json`: what the bundle is about and what is (and is not) in it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Manifest {
    pub format: u32,
    pub app: String,
    pub namespace: String,
    /// In the cluster's time.
    pub taken_at: DateTime<Utc>,
    pub taken_by: String,
    /// Why it was taken: on demand, or the rollback that triggered it.
    pub reason: String,
    pub parts: Vec<Listed>,
    pub missing: Vec<Missing>,
}

/// A snapshot being assembled.
#[derive(Debug, Clone)]
pub struct Bundle {
    pub manifest: Manifest,
    pub parts: Vec<Part>,
}

impl Bundle {
    pub fn new(
        app: &str,
        namespace: &str,
        taken_at: DateTime<Utc>,
        by: &str,
        reason: &str,
    ) -> Self {
        Self {
            manifest: Manifest {
                format: FORMAT,
                app: app.to_string(),
                namespace: namespace.to_string(),
                taken_at,
                taken_by: by.to_string(),
                reason: reason.to_string(),
                parts: Vec::new(),
                missing: Vec::new(),
            },
            parts: Vec::new(),
        }
    }

    /// Adds a file; `name` is made safe to unpack (no `..`, no absolute path).
    pub fn add(&mut self, name: &str, what: &str, bytes: Vec<u8>) {
        let name = safe_path(name);
        self.manifest.parts.push(Listed {
            name: name.clone(),
            what: what.to_string(),
            bytes: bytes.len(),
        });
        self.parts.push(Part { name, bytes });
    }

    /// Adds `value` as pretty JSON.
    pub fn add_json<T: Serialize>(&mut self, name: &str, what: &str, value: &T) {
        match serde_json::to_vec_pretty(value) {
            Ok(bytes) => self.add(name, what, bytes),
            Err(e) => self.missing(name, &format!("cannot encode: {e}")),
        }
    }

    /// Notes a part that could not be had; the bundle is still written.
    pub fn missing(&mut self, part: &str, why: &str) {
        self.manifest.missing.push(Missing {
            part: safe_path(part),
            why: crate::sanitize::clean(why).into_owned(),
        });
    }

    /// `flightdeck-snapshot-shop-checkout-20260301T100000Z.tar.gz`.
    pub fn file_name(&self) -> String {
        format!(
            "flightdeck-snapshot-{}-{}-{}.tar.gz",
            safe_segment(&self.manifest.namespace),
            safe_segment(&self.manifest.app),
            self.manifest.taken_at.format("%Y%m%dT%H%M%SZ")
        )
    }

    /// The archive: the manifest first, then each part, gzip-compressed.
    pub fn write_tar_gz<W: Write>(&self, out: W) -> std::io::Result<W> {
        let gz = flate2::write::GzEncoder::new(out, flate2::Compression::default());
        let mut tar = tar::Builder::new(gz);
        let mtime = u64::try_from(self.manifest.taken_at.timestamp()).unwrap_or_default();
        let manifest = serde_json::to_vec_pretty(&self.manifest)?;
        let top = self.top_folder();
        for (name, bytes) in std::iter::once((MANIFEST, &manifest))
            .chain(self.parts.iter().map(|p| (p.name.as_str(), &p.bytes)))
        {
            let mut header = tar::Header::new_gnu();
            header.set_size(bytes.len() as u64);
            header.set_mode(0o644);
            header.set_mtime(mtime);
            header.set_entry_type(tar::EntryType::Regular);
            tar.append_data(&mut header, format!("{top}/{name}"), bytes.as_slice())?;
        }
        tar.into_inner()?.finish()
    }

    /// The folder every entry sits in, so unpacking never scatters files.
    pub fn top_folder(&self) -> String {
        self.file_name().trim_end_matches(".tar.gz").to_string()
    }
}

/// A name from the cluster as one path segment: DNS-ish characters only.
pub fn safe_segment(name: &str) -> String {
    let s: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.') {
                c
            } else {
                '_'
            }
        })
        .collect();
    match s.trim_matches('.') {
        "" => "_".to_string(),
        t => t.to_string(),
    }
}

fn safe_path(name: &str) -> String {
    name.split('/')
        .filter(|s| !s.is_empty())
        .map(safe_segment)
        .collect::<Vec<_>>()
        .join("/")
}

/// The last `lines` lines of a pod's log, stripped of escape sequences and
/// control characters, each cut at [`LINE_BYTES`].
pub fn log_tail(text: &str, lines: usize) -> String {
    let all: Vec<&str> = text.lines().collect();
    let start = all.len().saturating_sub(lines);
    let mut out = String::new();
    for line in &all[start..] {
        let clean = crate::sanitize::clean(line);
        if clean.len() > LINE_BYTES {
            let mut cut = LINE_BYTES;
            while !clean.is_char_boundary(cut) {
                cut -= 1;
            }
            let _ = writeln!(out, "{} [cut at {LINE_BYTES} bytes]", &clean[..cut]);
        } else {
            let _ = writeln!(out, "{clean}");
        }
    }
    out
}

/// The pods as a short table: name, version, status, ready, restarts, image.
pub fn pods_table(pods: &[Value]) -> String {
    let mut rows = vec![[
        "NAME".to_string(),
        "VERSION".into(),
        "STATUS".into(),
        "READY".into(),
        "RESTARTS".into(),
        "IMAGE".into(),
    ]];
    for value in pods {
        let Ok(pod) = serde_json::from_value::<Pod>(value.clone()) else {
            continue;
        };
        let (ready, total) = crate::cluster::pod_status::ready_counts(&pod);
        let image = pod
            .spec
            .as_ref()
            .and_then(|s| s.containers.first())
            .and_then(|c| c.image.clone())
            .unwrap_or_default();
        rows.push([
            pod.metadata.name.clone().unwrap_or_default(),
            crate::workers::pods::version_of(&pod),
            crate::cluster::pod_status::pod_status(&pod),
            format!("{ready}/{total}"),
            crate::cluster::pod_status::restarts(&pod).to_string(),
            image,
        ]);
    }
    table(&rows)
}

fn table<const N: usize>(rows: &[[String; N]]) -> String {
    let rows: Vec<Vec<String>> = rows
        .iter()
        .map(|r| {
            r.iter()
                .map(|c| crate::sanitize::clean(c).into_owned())
                .collect()
        })
        .collect();
    let mut widths = [0usize; N];
    for row in &rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let mut out = String::new();
    for row in rows {
        let mut line = String::new();
        for (i, (cell, w)) in row.iter().zip(widths).enumerate() {
            if i + 1 == N {
                line.push_str(cell);
            } else {
                let _ = write!(line, "{cell:<w$}  ");
            }
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}

/// Whether an Event is about the app: an object named after it
/// (`checkout`, `checkout-canary-7d9f…`) or one of `names`.
fn concerns(event: &Value, app: &str, names: &[String]) -> bool {
    let Some(name) = event
        .pointer("/involvedObject/name")
        .and_then(Value::as_str)
    else {
        return false;
    };
    name == app || name.starts_with(&format!("{app}-")) || names.iter().any(|n| n == name)
}

fn event_time(event: &Value) -> String {
    [
        "/lastTimestamp",
        "/eventTime",
        "/firstTimestamp",
        "/metadata/creationTimestamp",
    ]
    .iter()
    .find_map(|p| event.pointer(p).and_then(Value::as_str))
    .unwrap_or_default()
    .to_string()
}

/// The namespace's Events that concern the app, newest first, at most [`EVENTS`].
pub fn concerning(events: &[Value], app: &str, names: &[String]) -> Vec<Value> {
    let mut mine: Vec<Value> = events
        .iter()
        .filter(|e| concerns(e, app, names))
        .cloned()
        .collect();
    mine.sort_by_key(|e| std::cmp::Reverse(event_time(e)));
    mine.truncate(EVENTS);
    mine
}

/// The Events as lines: time, type, reason, object, message.
pub fn events_table(events: &[Value]) -> String {
    let text = |e: &Value, p: &str| {
        e.pointer(p)
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string()
    };
    let mut rows = vec![[
        "TIME".to_string(),
        "TYPE".into(),
        "REASON".into(),
        "OBJECT".into(),
        "MESSAGE".into(),
    ]];
    for e in events {
        rows.push([
            event_time(e),
            text(e, "/type"),
            text(e, "/reason"),
            format!(
                "{}/{}",
                text(e, "/involvedObject/kind"),
                text(e, "/involvedObject/name")
            ),
            text(e, "/message"),
        ]);
    }
    table(&rows)
}

/// One version's numbers at the reading.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Numbers {
    pub requests_per_second: Option<f64>,
    pub error_ratio: Option<f64>,
    pub p95_seconds: Option<f64>,
    pub p99_seconds: Option<f64>,
    pub memory_bytes: Option<f64>,
}

impl From<&VersionReading> for Numbers {
    fn from(v: &VersionReading) -> Self {
        Self {
            requests_per_second: v.requests_per_second,
            error_ratio: v.error_ratio,
            p95_seconds: v.p95,
            p99_seconds: v.p99,
            memory_bytes: v.memory_bytes,
        }
    }
}

/// One guard as judged on the reading.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GuardRow {
    pub guard: String,
    pub metric: String,
    pub action: String,
    /// `ok`, `pending`, `firing`, `no data`.
    pub state: String,
    pub latest: Option<f64>,
    pub threshold: f64,
    /// As the Stages pane shows them.
    pub numbers: String,
}

impl From<&GuardUpdate> for GuardRow {
    fn from(u: &GuardUpdate) -> Self {
        Self {
            guard: u.guard.clone(),
            metric: u.metric.name().to_string(),
            action: u.action.name().to_string(),
            state: u.state.word().to_string(),
            latest: u.latest,
            threshold: u.threshold,
            numbers: u.numbers(),
        }
    }
}

/// `guards.json`: one reading of the guards' metrics, what each guard makes
/// of it, and the last verdict stored with the rollout.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GuardReadings {
    pub at: DateTime<Utc>,
    /// `prometheus URL` or `pods through the API server`.
    pub source: String,
    pub canary: Numbers,
    pub stable: Numbers,
    pub memory_ratio: Option<f64>,
    pub restarts: Option<f64>,
    pub health_failed: Option<f64>,
    pub source_down: Option<String>,
    /// Why a number is missing, by metric.
    pub missing: BTreeMap<String, String>,
    pub guards: Vec<GuardRow>,
    pub last_verdict: Option<StageVerdict>,
}

impl GuardReadings {
    pub fn new(
        at: DateTime<Utc>,
        source: &str,
        reading: &Reading,
        updates: &[GuardUpdate],
        last_verdict: Option<StageVerdict>,
    ) -> Self {
        Self {
            at,
            source: source.to_string(),
            canary: (&reading.canary).into(),
            stable: (&reading.stable).into(),
            memory_ratio: reading.memory_ratio,
            restarts: reading.restarts,
            health_failed: reading.health,
            source_down: reading.source_down.clone(),
            missing: reading
                .missing
                .iter()
                .map(|(m, why)| (m.name().to_string(), why.clone()))
                .collect(),
            guards: updates.iter().map(GuardRow::from).collect(),
            last_verdict,
        }
    }

    /// The same as text: each guard with its numbers, then the verdict's checks.
    pub fn text(&self) -> String {
        let mut out = format!("read at {} from {}\n", self.at.to_rfc3339(), self.source);
        if let Some(why) = &self.source_down {
            let _ = writeln!(out, "source down: {why}");
        }
        for g in &self.guards {
            let _ = writeln!(
                out,
                "guard {} ({}, {}): {}, {}",
                g.guard, g.metric, g.action, g.state, g.numbers
            );
        }
        match &self.last_verdict {
            Some(v) => {
                let _ = writeln!(out, "last verdict, stage {}: {}", v.stage + 1, v.verdict);
                for c in &v.verdict.checks {
                    let _ = writeln!(
                        out,
                        "  {}: {} (canary {}, stable {}, limit {}) {}",
                        c.name,
                        c.outcome,
                        number(c.canary),
                        number(c.stable),
                        number(c.limit),
                        c.reason
                    );
                }
            }
            None => out.push_str("no verdict stored with the rollout\n"),
        }
        crate::sanitize::clean(&out).into_owned()
    }
}

fn number(v: Option<f64>) -> String {
    v.map_or_else(|| "-".to_string(), |v| format!("{v:.4}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;
    use serde_json::json;
    use std::io::Read;

    fn at() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 3, 1, 10, 0, 0).unwrap()
    }

    #[test]
    fn the_archive_holds_the_manifest_first_then_each_part_in_one_folder() {
        let mut b = Bundle::new("checkout", "shop", at(), "ana", "on demand");
        b.add("plan.toml", "the plan", b"app = \"checkout\"\n".to_vec());
        b.add("logs/../../etc/passwd", "hostile", b"x".to_vec());
        b.missing(
            "router/virtualservice-checkout.json",
            "forbidden: \u{1b}[31mno\u{1b}[0m",
        );
        let bytes = b.write_tar_gz(Vec::new()).unwrap();
        let mut archive = tar::Archive::new(flate2::read::GzDecoder::new(bytes.as_slice()));
        let mut names = Vec::new();
        let mut manifest = String::new();
        for entry in archive.entries().unwrap() {
            let mut entry = entry.unwrap();
            let name = entry.path().unwrap().display().to_string();
            if name.ends_with(MANIFEST) {
                entry.read_to_string(&mut manifest).unwrap();
            }
            names.push(name);
        }
        let top = "flightdeck-snapshot-shop-checkout-20260301T100000Z";
        assert_eq!(
            names,
            [
                format!("{top}/manifest.json"),
                format!("{top}/plan.toml"),
                format!("{top}/logs/_/_/etc/passwd"),
            ]
        );
        let m: Manifest = serde_json::from_str(&manifest).unwrap();
        assert_eq!(m.parts.len(), 2);
        assert_eq!(m.missing[0].why, "forbidden: no");
    }

    #[test]
    fn a_log_tail_is_bounded_and_clean() {
        let long = "y".repeat(LINE_BYTES + 10);
        let text = format!("one\ntwo\n\u{1b}]52;c;AAAA\u{7}three\n{long}\n");
        let tail = log_tail(&text, 2);
        let lines: Vec<&str> = tail.lines().collect();
        assert_eq!(lines[0], "three");
        assert!(lines[1].ends_with("[cut at 2000 bytes]"));
        assert_eq!(lines.len(), 2);
    }

    #[test]
    fn only_the_apps_events_are_kept_newest_first() {
        let ev = |name: &str, t: &str| {
            json!({"involvedObject": {"kind": "Pod", "name": name}, "lastTimestamp": t,
                   "reason": "Started", "message": "m", "type": "Normal"})
        };
        let events = [
            ev("checkout-canary-abc", "2026-03-01T10:00:00Z"),
            ev("cart-stable-x", "2026-03-01T10:00:05Z"),
            ev("checkout", "2026-03-01T10:00:09Z"),
            ev("checkoutx", "2026-03-01T10:00:10Z"),
        ];
        let kept = concerning(&events, "checkout", &[]);
        let names: Vec<&str> = kept
            .iter()
            .map(|e| e["involvedObject"]["name"].as_str().unwrap())
            .collect();
        assert_eq!(names, ["checkout", "checkout-canary-abc"]);
        assert!(events_table(&kept).contains("Pod/checkout-canary-abc"));
    }

    #[test]
    fn the_pods_table_names_each_pod_with_its_status() {
        let pod = json!({
            "metadata": {"name": "checkout-canary-1", "labels": {"app": "checkout", "version": "canary"}},
            "spec": {"containers": [{"name": "app", "image": "shop/checkout:1.5.0"}]},
            "status": {"phase": "Running", "containerStatuses": [{
                "name": "app", "image": "shop/checkout:1.5.0", "imageID": "", "ready": true,
                "restartCount": 2, "state": {"running": {}}
            }]}
        });
        let t = pods_table(&[pod]);
        let row = t.lines().nth(1).unwrap();
        assert!(row.starts_with("checkout-canary-1"), "{t}");
        assert!(
            row.contains("canary") && row.contains("1/1") && row.contains("shop/checkout:1.5.0"),
            "{t}"
        );
        assert!(row.split_whitespace().any(|c| c == "2"), "{t}");
    }
}
