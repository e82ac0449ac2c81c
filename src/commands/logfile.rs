//! flightdeck's own log in a file, beside the cockpit's log pane (`D`): what
//! the workers and the kube client said stays readable after the cockpit has
//! closed. `FLIGHTDECK_LOG` is the filter (tracing's `EnvFilter` syntax).

use std::fs::{File, OpenOptions};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

/// `$XDG_STATE_HOME/flightdeck/flightdeck.log`, or under `~/.local/state`.
pub fn default_path() -> Option<PathBuf> {
    crate::config::dirs::state_dir().map(|d| d.join("flightdeck.log"))
}

/// Opens `path` (creating its folder) for appending.
pub fn open(path: &Path) -> std::io::Result<File> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)?;
    }
    OpenOptions::new().create(true).append(true).open(path)
}

/// Sends flightdeck's diagnostics to the cockpit's log pane and, when given,
/// to `file` as plain lines. Installed before the cockpit's own set-up, which
/// then finds a subscriber in place and leaves it.
pub fn init_cockpit_tracing(file: Option<File>) {
    use tracing_subscriber::layer::SubscriberExt;
    use tracing_subscriber::util::SubscriberInitExt;
    tui_logger::set_default_level(tui_logger::LevelFilter::Info);
    let filter = tracing_subscriber::EnvFilter::try_from_env("FLIGHTDECK_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let file_layer = file.map(|f| {
        tracing_subscriber::fmt::layer()
            .with_ansi(false)
            .with_writer(Mutex::new(f))
    });
    let _ = tracing_subscriber::registry()
        .with(filter)
        .with(tui_logger::TuiTracingSubscriberLayer)
        .with(file_layer)
        .try_init();
}
