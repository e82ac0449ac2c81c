//! flightdeck's own log in a file: what the cockpit's workers say reaches
//! the file given with `--log-file` (or the default one), as plain lines.

#![allow(clippy::unwrap_used)]

use flightdeck::commands::logfile;

#[test]
fn diagnostics_reach_the_log_file_as_plain_lines() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("state/flightdeck.log");
    logfile::init_cockpit_tracing(Some(logfile::open(&path).unwrap()));
    tracing::warn!(target: "flightdeck::workers::pods", "watch dropped: connection reset");
    tracing::debug!("below the default filter");
    let text = std::fs::read_to_string(&path).unwrap();
    let line = text.lines().find(|l| l.contains("watch dropped")).unwrap();
    assert!(line.contains("WARN"), "{line}");
    assert!(line.contains("flightdeck::workers::pods"), "{line}");
    assert!(!text.contains("below the default filter"), "{text}");
}
