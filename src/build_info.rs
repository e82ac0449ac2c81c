//! What this binary is: its version and the git commit it was built from.

/// The git commit (short), or "unknown" when built without git.
pub const COMMIT: &str = env!("FLIGHTDECK_GIT_COMMIT");

/// `0.1.0 (abc1234)`, as `--version` and `flightdeck info` print it.
pub const VERSION: &str = concat!(
    env!("CARGO_PKG_VERSION"),
    " (",
    env!("FLIGHTDECK_GIT_COMMIT"),
    ")"
);
