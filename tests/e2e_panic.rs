//! A worker that panics ends the cockpit: the real binary in tmux, one
//! worker made to panic by the `FLIGHTDECK_FAULT_PANIC` test hook. The shell
//! gets its normal screen back in cooked mode, the error names the worker,
//! and the exit status is not zero.
#![allow(clippy::unwrap_used)]

mod tmux;

use std::time::{Duration, Instant};

use tmux::Session;

/// Generous: a debug build on a loaded machine starts slowly.
const START: Duration = Duration::from_secs(90);
/// The worker panics this long after it starts, so that it strikes a
/// cockpit that is already drawing.
const PANIC_AFTER: &str = "10s";

#[test]
fn a_panicking_worker_ends_the_cockpit_and_names_itself() {
    if !tmux::available() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let command = format!(
        "FLIGHTDECK_FAULT_PANIC=logs@{PANIC_AFTER} RUST_BACKTRACE=0 '{}' demo --speed 5; \
         echo \"exit=$?\"; PS1='prompt$ ' exec sh -i",
        tmux::binary()
    );
    let s = Session::start("panic", &command, 120, 40, dir.path());

    // The cockpit draws on the alternate screen first.
    let start = Instant::now();
    while !(s.alternate_screen() && s.screen().contains(" Logs ")) {
        assert!(
            start.elapsed() < START,
            "the cockpit never showed:\n{}",
            s.screen()
        );
        assert!(
            !s.screen().contains("exit="),
            "ended before it drew:\n{}",
            s.screen()
        );
        std::thread::sleep(Duration::from_millis(100));
    }

    // Then the logs worker panics: the cockpit ends instead of drawing on.
    let screen = s.wait_for("the shell's prompt", START, |screen| {
        screen.contains("prompt$")
    });
    assert!(
        !s.alternate_screen(),
        "still on the alternate screen:\n{screen}"
    );
    assert!(
        screen.contains("the logs worker panicked"),
        "the error names the worker:\n{screen}"
    );
    let code = screen
        .lines()
        .find_map(|l| l.trim().strip_prefix("exit="))
        .unwrap_or_else(|| panic!("no exit status:\n{screen}"));
    assert_ne!(code, "0", "{screen}");
    assert!(
        !screen.contains("╭ Logs") && !screen.contains(" Traffic "),
        "the cockpit is still on screen:\n{screen}"
    );

    // The terminal is in cooked mode again: the shell echoes what is typed.
    s.type_text("echo back-in-$((40+2))");
    s.keys(&["Enter"]);
    s.wait_for_text("back-in-42", Duration::from_secs(15));
}
