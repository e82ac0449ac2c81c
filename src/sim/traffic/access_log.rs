//! Access and error lines for a sample of the requests a pod served. The
//! sample is drawn from the same tick's counts, so the log agrees with the
//! metrics: a version with more 5xx logs more errors.

use chrono::{DateTime, Duration as ChronoDuration, SecondsFormat, Utc};
use rand::Rng;
use serde_json::json;

use super::histogram::Latency;
use crate::sim::rng::SimRng;
use crate::sim::scenario::LogFormat;

/// Access lines a pod writes per second at most, on average.
pub const LINES_PER_SECOND: f64 = 2.0;

/// One tick of one pod, as the log needs it.
pub struct Tick<'a> {
    pub app: &'a str,
    pub paths: &'a [String],
    pub format: LogFormat,
    /// Requests served this tick by (code, method).
    pub served: &'a [((u16, &'static str), u64)],
    pub latency: &'a Latency,
    pub now: DateTime<Utc>,
    pub dt: std::time::Duration,
}

/// Writes the lines for `logged` requests picked at random among those served.
pub fn lines(tick: &Tick<'_>, logged: u64, rng: &mut SimRng) -> Vec<(DateTime<Utc>, String)> {
    let mut left: Vec<((u16, &'static str), u64)> = tick.served.to_vec();
    let mut total: u64 = left.iter().map(|(_, n)| n).sum();
    let mut out = Vec::new();
    let span_ms = tick.dt.as_millis().max(1) as i64;
    for _ in 0..logged.min(total) {
        // Without replacement, so the lines never claim more errors than were counted.
        let mut pick = rng.random_range(0..total);
        let Some(slot) = left.iter_mut().find(|(_, n)| {
            if pick < *n {
                true
            } else {
                pick -= *n;
                false
            }
        }) else {
            break;
        };
        slot.1 -= 1;
        total -= 1;
        let (code, method) = slot.0;
        let path = pick_path(tick.paths, method, rng);
        let ms = tick.latency.sample(rng) * 1000.0;
        let at = tick.now - ChronoDuration::milliseconds(rng.random_range(0..span_ms));
        out.push((at, access(tick, at, method, path, code, ms)));
        if code >= 500 {
            out.extend(error(tick, at, method, path, code, rng));
        }
    }
    out.sort_by_key(|(t, _)| *t);
    out
}

/// Whether clients only ever read `path`: probes, metrics and the like.
/// A load balancer's health check is a GET; nobody POSTs to `/health`.
pub fn read_only(path: &str) -> bool {
    let first = path
        .trim_start_matches('/')
        .split(['/', '?'])
        .next()
        .unwrap_or_default();
    matches!(
        first,
        "" | "health"
            | "healthz"
            | "livez"
            | "readyz"
            | "ready"
            | "live"
            | "ping"
            | "metrics"
            | "status"
            | "version"
    )
}

/// A path a request with `method` plausibly went to.
fn pick_path<'a>(paths: &'a [String], method: &str, rng: &mut SimRng) -> &'a str {
    let fits = |p: &&String| method == "GET" || !read_only(p);
    let count = paths.iter().filter(fits).count();
    if count == 0 {
        return "/";
    }
    paths
        .iter()
        .filter(fits)
        .nth(rng.random_range(0..count))
        .map_or("/", String::as_str)
}

fn access(
    tick: &Tick<'_>,
    at: DateTime<Utc>,
    method: &str,
    path: &str,
    code: u16,
    ms: f64,
) -> String {
    let level = if code >= 500 { "warn" } else { "info" };
    match tick.format {
        LogFormat::Plain => format!(
            "{} {} {method} {path} {code} {ms:.1}ms",
            at.to_rfc3339_opts(SecondsFormat::Millis, true),
            level.to_uppercase()
        ),
        LogFormat::Json => json!({
            "ts": at.to_rfc3339_opts(SecondsFormat::Millis, true),
            "level": level,
            "msg": "request",
            "method": method,
            "path": path,
            "status": code,
            "duration_ms": (ms * 10.0).round() / 10.0,
        })
        .to_string(),
    }
}

const CAUSES: [(&str, &str); 4] = [
    (
        "db::pool::Pool::get",
        "database connection pool exhausted (waited 2s)",
    ),
    ("client::payments::charge", "upstream payments returned 502"),
    ("cache::redis::get", "redis GET timed out after 500ms"),
    (
        "handlers::decode_body",
        "invalid state: order total is negative",
    ),
];

fn error(
    tick: &Tick<'_>,
    at: DateTime<Utc>,
    method: &str,
    path: &str,
    code: u16,
    rng: &mut SimRng,
) -> Vec<(DateTime<Utc>, String)> {
    let (frame, message) = CAUSES[rng.random_range(0..CAUSES.len())];
    let handler = path.trim_matches('/').replace('/', "::");
    let handler = if handler.is_empty() {
        "index".to_string()
    } else {
        handler
    };
    let stack = [
        format!("    at {}::{frame}", tick.app),
        format!("    at {}::handlers::{handler}", tick.app),
        format!("    at {}::server::dispatch", tick.app),
    ];
    let ts = at.to_rfc3339_opts(SecondsFormat::Millis, true);
    match tick.format {
        LogFormat::Plain => {
            let mut lines = vec![(
                at,
                format!("{ts} ERROR {method} {path} failed with {code}: {message}"),
            )];
            lines.extend(stack.into_iter().map(|l| (at, l)));
            lines
        }
        LogFormat::Json => vec![(
            at,
            json!({
                "ts": ts,
                "level": "error",
                "msg": message,
                "method": method,
                "path": path,
                "status": code,
                "stack": stack.iter().map(|l| l.trim()).collect::<Vec<_>>(),
            })
            .to_string(),
        )],
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_agree_with_the_counts() {
        let latency = Latency::fit(40.0, 180.0);
        let paths = vec!["/api/cart".to_string()];
        let served = [((200, "GET"), 3), ((500, "POST"), 1)];
        let tick = Tick {
            app: "checkout",
            paths: &paths,
            format: LogFormat::Plain,
            served: &served,
            latency: &latency,
            now: DateTime::<Utc>::UNIX_EPOCH + ChronoDuration::days(20_000),
            dt: std::time::Duration::from_millis(100),
        };
        let mut rng = SimRng::new(1);
        // Asking for more lines than requests logs each request once.
        let lines = lines(&tick, 10, &mut rng);
        let access: Vec<_> = lines
            .iter()
            .filter(|(_, l)| l.contains(" /api/cart ") && !l.contains(" ERROR "))
            .collect();
        assert_eq!(access.len(), 4);
        assert_eq!(
            access
                .iter()
                .filter(|(_, l)| l.contains("GET /api/cart 200"))
                .count(),
            3
        );
        assert_eq!(
            lines
                .iter()
                .filter(|(_, l)| l.contains(" ERROR POST /api/cart failed with 500"))
                .count(),
            1
        );
        assert!(
            lines
                .iter()
                .any(|(_, l)| l.starts_with("    at checkout::handlers::api::cart"))
        );
    }

    #[test]
    fn health_checks_are_only_read() {
        let latency = Latency::fit(40.0, 180.0);
        let paths: Vec<String> = ["/api/cart", "/health", "/healthz/ready"]
            .map(String::from)
            .to_vec();
        let served = [((200, "GET"), 200), ((200, "POST"), 200)];
        let tick = Tick {
            app: "checkout",
            paths: &paths,
            format: LogFormat::Plain,
            served: &served,
            latency: &latency,
            now: DateTime::<Utc>::UNIX_EPOCH + ChronoDuration::days(20_000),
            dt: std::time::Duration::from_millis(100),
        };
        let lines = lines(&tick, 400, &mut SimRng::new(3));
        let count = |needle: &str| lines.iter().filter(|(_, l)| l.contains(needle)).count();
        assert_eq!(count(" POST "), 200);
        assert_eq!(count(" POST /api/cart "), 200);
        assert!(count(" GET /health ") > 0);
        assert!(count(" GET /healthz/ready ") > 0);
        assert!(count(" GET /api/cart ") > 0);
        assert!(read_only("/metrics") && read_only("/") && !read_only("/api/health-report"));
    }

    #[test]
    fn json_lines_are_json() {
        let latency = Latency::fit(40.0, 180.0);
        let served = [((503, "GET"), 1)];
        let tick = Tick {
            app: "web",
            paths: &[],
            format: LogFormat::Json,
            served: &served,
            latency: &latency,
            now: DateTime::<Utc>::UNIX_EPOCH,
            dt: std::time::Duration::from_millis(100),
        };
        let lines = lines(&tick, 1, &mut SimRng::new(2));
        assert_eq!(lines.len(), 2);
        let access: serde_json::Value = serde_json::from_str(&lines[0].1).unwrap();
        assert_eq!(access["status"], 503);
        let error: serde_json::Value = serde_json::from_str(&lines[1].1).unwrap();
        assert_eq!(error["level"], "error");
        assert_eq!(error["stack"].as_array().unwrap().len(), 3);
    }
}
