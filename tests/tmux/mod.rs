//! Drives the real flightdeck binary in a detached tmux session: type keys,
//! read the screen. Used by the end-to-end tests.

// Each test crate that includes this module uses a part of it.
#![allow(dead_code)]

use std::path::Path;
use std::process::{Command, Output};
use std::time::{Duration, Instant};

/// Whether tmux is here; when it is not, the test says so and is skipped,
/// unless `FLIGHTDECK_REQUIRE_TMUX=1` (CI), where a missing tmux fails.
pub fn available() -> bool {
    let found = Command::new("tmux")
        .arg("-V")
        .output()
        .is_ok_and(|o| o.status.success());
    if !found {
        assert!(
            std::env::var("FLIGHTDECK_REQUIRE_TMUX").as_deref() != Ok("1"),
            "tmux is required (FLIGHTDECK_REQUIRE_TMUX=1) but not installed"
        );
        eprintln!("skipped: tmux is not installed");
    }
    found
}

/// A tmux session running one command; killed on drop, pass or fail.
pub struct Session {
    name: String,
    socket: String,
}

impl Session {
    /// Starts `command` (run by `sh -c`) in a `width`×`height` window.
    pub fn start(tag: &str, command: &str, width: u16, height: u16, dir: &Path) -> Session {
        let name = format!("fd-{tag}-{}", std::process::id());
        // A private server socket keeps parallel tests and a developer's own
        // tmux apart.
        let socket = dir.join("tmux.sock").display().to_string();
        let out = Command::new("tmux")
            .args([
                "-S",
                &socket,
                "-f",
                "/dev/null",
                "new-session",
                "-d",
                "-s",
                &name,
            ])
            .args(["-x", &width.to_string(), "-y", &height.to_string()])
            .arg("-c")
            .arg(dir)
            .arg(format!(
                "{command}; code=$?; echo; echo \"[exited $code]\"; sleep 600"
            ))
            .env("TERM", "xterm-256color")
            .output()
            .expect("tmux runs");
        assert!(
            out.status.success(),
            "tmux new-session failed: {}",
            text(&out)
        );
        Session { name, socket }
    }

    fn tmux(&self, args: &[&str]) -> Output {
        Command::new("tmux")
            .args(["-S", &self.socket])
            .args(args)
            .output()
            .expect("tmux runs")
    }

    /// The visible screen as text.
    pub fn screen(&self) -> String {
        text(&self.tmux(&["capture-pane", "-p", "-t", &self.name]))
    }

    /// The visible screen with its colours and attributes as escape sequences.
    pub fn styled_screen(&self) -> String {
        text(&self.tmux(&["capture-pane", "-e", "-p", "-t", &self.name]))
    }

    /// Whether the pane shows the alternate screen (a full-screen program
    /// owns it) rather than the normal one.
    pub fn alternate_screen(&self) -> bool {
        let out = self.tmux(&["display-message", "-p", "-t", &self.name, "#{alternate_on}"]);
        text(&out).trim() == "1"
    }

    /// Sends keys as tmux names them (`q`, `Tab`, `Enter`, `C-c`, `/`).
    pub fn keys(&self, keys: &[&str]) {
        let mut args = vec!["send-keys", "-t", self.name.as_str()];
        args.extend_from_slice(keys);
        self.tmux(&args);
    }

    /// Types text literally.
    pub fn type_text(&self, s: &str) {
        self.tmux(&["send-keys", "-t", &self.name, "-l", s]);
    }

    /// Waits until the screen satisfies `pred`, or panics with the last screen.
    pub fn wait_for(&self, what: &str, timeout: Duration, pred: impl Fn(&str) -> bool) -> String {
        let start = Instant::now();
        loop {
            let screen = self.screen();
            if pred(&screen) {
                return screen;
            }
            assert!(
                start.elapsed() < timeout,
                "timed out after {timeout:?} waiting for {what}; the screen was:\n{screen}"
            );
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    /// Waits until the screen shows `needle`.
    pub fn wait_for_text(&self, needle: &str, timeout: Duration) -> String {
        self.wait_for(&format!("{needle:?}"), timeout, |s| s.contains(needle))
    }
}

impl Drop for Session {
    fn drop(&mut self) {
        let _ = self.tmux(&["kill-server"]);
    }
}

fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// The binary the end-to-end tests drive: `FLIGHTDECK_E2E_BIN` (CI points it
/// at the release build), else the one cargo built for this test run.
pub fn binary() -> String {
    std::env::var("FLIGHTDECK_E2E_BIN")
        .unwrap_or_else(|_| env!("CARGO_BIN_EXE_flightdeck").to_string())
}
