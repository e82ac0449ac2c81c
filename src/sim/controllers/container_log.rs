//! What a simulated container writes about its own life: startup, readiness,
//! crashes with a short stack, and shutdown. Request lines belong to the
//! traffic model; these are the lines that agree with what the kubelet does.
//! Plain lines read `LEVEL message`; JSON lines carry `time`, `level`, `msg`,
//! `app` and `version` (and `stack` for a crash).

use chrono::{DateTime, SecondsFormat, Utc};
use serde_json::json;

use crate::sim::PodLogs;
use crate::sim::logs::ContainerKey;
use crate::sim::scenario::LogFormat;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Level {
    Info,
    Warn,
    Error,
}

impl Level {
    fn word(self) -> &'static str {
        match self {
            Level::Info => "info",
            Level::Warn => "warn",
            Level::Error => "error",
        }
    }
}

/// How a container dies, which decides its last words.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Crash {
    /// A configuration the release cannot start with (exit 1 right after start).
    FatalConfig,
    /// A runtime panic while serving (exit 2).
    Panic,
    /// Killed by the kernel at its memory limit (exit 137, nothing written).
    OutOfMemory,
}

impl Crash {
    pub fn exit_code(self) -> i64 {
        match self {
            Crash::FatalConfig => 1,
            Crash::Panic => 2,
            Crash::OutOfMemory => 137,
        }
    }

    pub fn reason(self) -> &'static str {
        match self {
            Crash::OutOfMemory => "OOMKilled",
            Crash::FatalConfig | Crash::Panic => "Error",
        }
    }
}

/// One container's log, in its app's format.
pub struct ContainerLog<'a> {
    pub logs: &'a PodLogs,
    pub key: ContainerKey,
    pub format: LogFormat,
    pub app: &'a str,
    pub release: &'a str,
}

impl ContainerLog<'_> {
    pub fn line(&self, now: DateTime<Utc>, level: Level, msg: &str) {
        self.write(now, level, msg, &[]);
    }

    fn write(&self, now: DateTime<Utc>, level: Level, msg: &str, stack: &[String]) {
        match self.format {
            LogFormat::Plain => {
                let word = level.word().to_uppercase();
                self.logs.append(&self.key, now, format!("{word:<5} {msg}"));
                for frame in stack {
                    self.logs.append(&self.key, now, format!("\t{frame}"));
                }
            }
            LogFormat::Json => {
                let mut line = json!({
                    "time": now.to_rfc3339_opts(SecondsFormat::Millis, true),
                    "level": level.word(),
                    "msg": msg,
                    "app": self.app,
                    "version": self.release,
                });
                if !stack.is_empty() {
                    line["stack"] = json!(stack);
                }
                self.logs.append(&self.key, now, line.to_string());
            }
        }
    }

    pub fn starting(&self, now: DateTime<Utc>, port: u16, namespace: &str) {
        self.line(
            now,
            Level::Info,
            &format!("starting {} {} on :{port}", self.app, self.release),
        );
        self.line(
            now,
            Level::Info,
            &format!(
                "config loaded from /etc/{}/config.yaml (namespace={namespace})",
                self.app
            ),
        );
    }

    pub fn ready(&self, now: DateTime<Utc>) {
        self.line(now, Level::Info, "ready: accepting traffic");
    }

    pub fn not_ready(&self, now: DateTime<Utc>) {
        self.line(
            now,
            Level::Warn,
            "readiness probe /health/ready answered 503: still warming up",
        );
    }

    pub fn memory_pressure(&self, now: DateTime<Utc>, used_mib: u64, limit_mib: u64) {
        self.line(
            now,
            Level::Warn,
            &format!(
                "heap at {used_mib}Mi of {limit_mib}Mi limit; garbage collection is not keeping up"
            ),
        );
    }

    /// The last words before a crash (none for an OOM kill).
    pub fn crash(&self, now: DateTime<Utc>, crash: Crash) {
        let app = self.app;
        match crash {
            Crash::FatalConfig => self.write(
                now,
                Level::Error,
                &format!(
                    "fatal config error: /etc/{app}/config.yaml: key \"upstream.pool.max_open\" must be a positive integer, got \"-1\""
                ),
                &[
                    "at config.(*Loader).Validate (internal/config/loader.go:142)".into(),
                    format!("at main.run (cmd/{app}/main.go:57)"),
                    format!("at main.main (cmd/{app}/main.go:31)"),
                ],
            ),
            Crash::Panic => self.write(
                now,
                Level::Error,
                "panic: runtime error: invalid memory address or nil pointer dereference",
                &[
                    "[signal SIGSEGV: segmentation violation code=0x1 addr=0x18 pc=0x6c4f2e]".into(),
                    "goroutine 1187 [running]:".into(),
                    format!("{app}/internal/handler.(*Orders).lookup(...) internal/handler/orders.go:88"),
                    format!("{app}/internal/handler.(*Orders).ServeHTTP(0xc000182a80, ...) internal/handler/orders.go:41"),
                    "net/http.serverHandler.ServeHTTP(...) net/http/server.go:3210".into(),
                ],
            ),
            Crash::OutOfMemory => {}
        }
    }

    pub fn sigterm(&self, now: DateTime<Utc>) {
        self.line(now, Level::Info, "received SIGTERM, draining connections");
    }

    pub fn shutdown(&self, now: DateTime<Utc>) {
        self.line(now, Level::Info, "shutdown complete");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn plain_and_json_lines() {
        let logs = PodLogs::new();
        let key = ContainerKey::new("shop", "web-1", "web");
        let now = Utc.timestamp_opt(1_700_000_000, 0).unwrap();
        let mut log = ContainerLog {
            logs: &logs,
            key: key.clone(),
            format: LogFormat::Plain,
            app: "web",
            release: "1.5.0",
        };
        log.starting(now, 8080, "shop");
        log.crash(now, Crash::FatalConfig);
        log.format = LogFormat::Json;
        log.shutdown(now);
        let lines: Vec<String> = logs
            .read(&key, false)
            .unwrap()
            .into_iter()
            .map(|(_, l)| l)
            .collect();
        assert_eq!(lines[0], "INFO  starting web 1.5.0 on :8080");
        assert!(lines[2].starts_with("ERROR fatal config error"));
        assert!(lines[3].starts_with("\tat config."));
        let last: serde_json::Value = serde_json::from_str(lines.last().unwrap()).unwrap();
        assert_eq!(last["msg"], "shutdown complete");
        assert_eq!(last["version"], "1.5.0");
    }
}
