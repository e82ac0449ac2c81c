//! `flightdeck demo` as a person uses it: the real binary in a real terminal
//! (tmux), read back with `capture-pane`. Every wait polls the screen and ends
//! as soon as it shows what is expected.
#![allow(clippy::unwrap_used)]

mod tmux;

use std::time::Duration;

use tmux::Session;

/// Generous: a debug build on a loaded machine starts slowly; a passing run
/// never waits this long.
const START: Duration = Duration::from_secs(90);
const REACT: Duration = Duration::from_secs(15);

const TITLES: [&str; 6] = ["Pods", "Traffic", "Metrics", "Logs", "Events", "Stages"];

fn demo(tag: &str, width: u16, height: u16) -> Option<(Session, tempfile::TempDir)> {
    if !tmux::available() {
        return None;
    }
    let dir = tempfile::tempdir().unwrap();
    let command = format!("'{}' demo --speed 5", tmux::binary());
    let session = Session::start(tag, &command, width, height, dir.path());
    Some((session, dir))
}

/// Whether every pane's title is on screen, as a bordered block's title.
fn all_titles(screen: &str) -> bool {
    TITLES.iter().all(|t| has_title(screen, t))
}

fn has_title(screen: &str, title: &str) -> bool {
    screen.contains(&format!(" {title} ")) || focused(screen, title)
}

/// The focused pane's title carries the marker.
fn focused(screen: &str, title: &str) -> bool {
    screen.contains(&format!("▶ {title} "))
}

/// The Metrics pane's row for `version` shows a request rate above zero.
fn rate_of(screen: &str, version: &str) -> Option<f64> {
    screen.lines().find_map(|line| {
        let cells: Vec<&str> = line
            .split(['│', '┃'])
            .find(|cell| cell.trim_start().starts_with(&format!("{version} ")))?
            .split_whitespace()
            .collect();
        cells.get(1)?.strip_suffix("/s")?.parse().ok()
    })
}

/// The rows of the Logs pane (below its title, above its bottom border).
fn log_rows(screen: &str) -> Vec<&str> {
    screen
        .lines()
        .skip_while(|l| !(l.contains(" Logs ") || l.contains("▶ Logs ")))
        .skip(1)
        .take_while(|l| !l.starts_with('╰') && !l.starts_with('┗'))
        .collect()
}

/// The Logs title's filter, `only X` (the header's `read-only` is not one).
fn filter_label(screen: &str) -> Option<String> {
    let (_, rest) = screen.split_once(" only ")?;
    Some(rest.split_whitespace().next()?.to_string())
}

/// Whether `word` appears with a background colour (or reverse video) that
/// starts exactly at it, as a search highlight does.
fn highlighted(styled: &str, word: &str) -> bool {
    styled.match_indices(word).any(|(at, _)| {
        let before = &styled[..at];
        before.rfind('\u{1b}').is_some_and(|esc| {
            let last = &before[esc..];
            last.ends_with('m') && (last.starts_with("\u{1b}[48;") || last == "\u{1b}[7m")
        })
    })
}

fn filled(screen: &str) -> bool {
    all_titles(screen)
        && screen.contains("Running")
        && screen.contains("1/1")
        && rate_of(screen, "stable").is_some_and(|r| r > 0.0)
}

/// Presses Tab until `title` has focus.
fn focus(s: &Session, title: &str) {
    for _ in 0..TITLES.len() {
        if focused(&s.screen(), title) {
            return;
        }
        s.keys(&["Tab"]);
        s.wait_for("the focus to move", REACT, |screen| screen.contains("▶ "));
        std::thread::sleep(Duration::from_millis(100));
    }
    s.wait_for(&format!("focus on {title}"), REACT, |screen| {
        focused(screen, title)
    });
}

fn quits_cleanly(s: &Session) {
    s.type_text("q");
    let screen = s.wait_for_text("[exited 0]", REACT);
    // The alternate screen is gone: the shell's own screen is back.
    assert!(
        !TITLES.iter().any(|t| focused(&screen, t)) && !screen.contains("╭ Logs"),
        "the cockpit is still on screen after quitting:\n{screen}"
    );
}

#[test]
fn demo_at_200x50_fills_answers_keys_and_quits() {
    let Some((s, _dir)) = demo("wide", 200, 50) else {
        return;
    };
    let screen = s.wait_for("every pane filled", START, filled);
    assert!(screen.contains("Istio VirtualService"), "{screen}");
    assert!(
        focused(&screen, "Pods"),
        "Pods has the focus first:\n{screen}"
    );
    assert!(
        screen.contains("canary") && screen.contains("stable"),
        "{screen}"
    );

    // Tab moves the focus marker to the next pane.
    s.keys(&["Tab"]);
    let screen = s.wait_for("focus on Traffic", REACT, |sc| focused(sc, "Traffic"));
    assert!(!focused(&screen, "Pods"), "{screen}");

    focus(&s, "Logs");
    s.wait_for("log lines", START, |sc| {
        log_rows(sc).len() > 5 && sc.contains("GET /")
    });

    // Search: the query shows in the Logs title and a matching line is in view.
    s.type_text("/");
    s.type_text("POST");
    s.keys(&["Enter"]);
    let screen = s.wait_for("the search to apply", REACT, |sc| sc.contains("/POST"));
    assert!(!screen.contains("no match"), "{screen}");
    assert!(
        log_rows(&screen).iter().any(|r| r.contains("POST")),
        "{screen}"
    );
    // The match has a background of its own, set right where it starts.
    assert!(
        highlighted(&s.styled_screen(), "POST"),
        "the search match is not highlighted"
    );

    // Filter by version: cycle to stable; only stable pods' lines remain.
    let mut label = filter_label(&s.screen());
    for _ in 0..3 {
        if label.as_deref() == Some("stable") {
            break;
        }
        s.type_text("v");
        let before = label.clone();
        let screen = s.wait_for("the version filter to change", REACT, |sc| {
            filter_label(sc) != before
        });
        label = filter_label(&screen);
    }
    let screen = s.wait_for("only stable", REACT, |sc| sc.contains("only stable"));
    let rows = log_rows(&screen);
    assert!(
        rows.iter().any(|r| r.contains("checkout-stable-")),
        "{screen}"
    );
    assert!(
        !rows.iter().any(|r| r.contains("checkout-canary-")),
        "{screen}"
    );
    s.type_text("c");
    s.wait_for("filters cleared", REACT, |sc| !sc.contains("only stable"));

    // Help lists the active keymap's descriptions.
    // Help lists the active keymap's layers and descriptions, beyond the
    // footer's (which shows the focused pane's keys only).
    s.type_text("?");
    let screen = s.wait_for("help", REACT, |sc| focused(sc, "Help"));
    for shown in [
        "[global]",
        "[pods]",
        "Previous pane",
        "Select up",
        "Newer",
        "Jump to error",
    ] {
        assert!(screen.contains(shown), "help lacks {shown:?}:\n{screen}");
    }
    s.keys(&["Escape"]);
    s.wait_for("help closed", REACT, |sc| {
        !sc.contains("[global]") && all_titles(sc)
    });

    // Zoom: the focused pane alone fills the screen, then comes back.
    s.type_text("z");
    let screen = s.wait_for("Logs zoomed", REACT, |sc| {
        focused(sc, "Logs") && !has_title(sc, "Pods") && !has_title(sc, "Metrics")
    });
    assert!(
        log_rows(&screen).len() > 30,
        "zoomed Logs is tall:\n{screen}"
    );
    s.type_text("z");
    s.wait_for("every pane again", REACT, all_titles);

    // flightdeck's own log, as tracing wrote it since the start.
    s.type_text("D");
    let screen = s.wait_for("the diagnostics pane", REACT, |sc| {
        has_title(sc, "Diagnostics")
    });
    assert!(screen.contains("cockpit started"), "{screen}");
    s.type_text("D");
    s.wait_for("diagnostics closed", REACT, |sc| {
        !has_title(sc, "Diagnostics")
    });

    quits_cleanly(&s);
}

#[test]
fn demo_at_80x24_fills_and_quits() {
    let Some((s, _dir)) = demo("narrow", 80, 24) else {
        return;
    };
    s.wait_for("every pane filled", START, filled);
    s.keys(&["Tab"]);
    s.wait_for("focus on Traffic", REACT, |sc| focused(sc, "Traffic"));
    // The small Traffic pane names its router once zoomed.
    s.type_text("z");
    let screen = s.wait_for("Traffic zoomed", REACT, |sc| {
        sc.contains("Istio VirtualService") && !has_title(sc, "Logs")
    });
    assert!(screen.contains("100%"), "{screen}");
    s.type_text("z");
    s.wait_for("every pane again", REACT, all_titles);
    quits_cleanly(&s);
}
