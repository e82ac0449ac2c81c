//! The terminal loop: owns the screen, turns keys into actions and worker
//! messages into state, and redraws at most once a frame when something changed
//! on screen: a render that changes no cell writes nothing to the terminal.
//!
//! One `select!` over keys, worker messages and a one-second tick. Everything
//! queued is applied before the next frame; drawing is capped at [`FRAME`] so a
//! burst of log lines costs one frame, and keys are read first so they never
//! wait behind messages or drawing.

use std::time::Duration;

use chrono::Utc;
use crossterm::event::{Event, EventStream, KeyEvent, KeyEventKind, KeyModifiers};
use futures::StreamExt;
use ratatui::backend::Backend;
use ratatui::buffer::Buffer;
use tokio::sync::mpsc::{Receiver, Sender, UnboundedReceiver};
use tokio::time::{Instant, MissedTickBehavior};

use crate::app::{self, Command, Layer, Msg, State};
use crate::config::keymap::{Key, KeyCode, KeyMatcher, Keymap, Matched};
use crate::config::theme::Theme;
use crate::fleet::{FleetCommand, FleetScreen, Row, Update};
use crate::rollout::Request;
use crate::workers::supervise::Death;

/// The shortest time between two frames (about 30 per second).
pub const FRAME: Duration = Duration::from_millis(33);
/// Messages applied before keys are looked at again.
const MSG_BATCH: usize = 1024;

/// Sends `tracing` output to tui-logger so nothing writes over the screen.
/// Installs once per process, however often it is called: call it before the
/// workers start so their first warnings reach the diagnostics pane too.
/// Harmless when a subscriber is already installed.
///
/// tui-logger's own `init_logger` starts a thread that wakes every 10 ms to
/// move new lines into the widget's buffer; at rest that thread alone cost
/// about a third of the cockpit's CPU. The event loop moves them instead,
/// before each frame (see [`event_loop`]), so lines cost nothing until drawn.
pub fn init_tracing() {
    static INSTALLED: std::sync::Once = std::sync::Once::new();
    INSTALLED.call_once(|| {
        use tracing_subscriber::layer::SubscriberExt;
        use tracing_subscriber::util::SubscriberInitExt;
        tui_logger::set_default_level(tui_logger::LevelFilter::Info);
        // Filtered before the layer, so the HTTP stack's debug and trace
        // events are not built only to be dropped.
        let filter = tracing_subscriber::EnvFilter::try_from_env("FLIGHTDECK_LOG")
            .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
        let _ = tracing_subscriber::registry()
            .with(filter)
            .with(tui_logger::TuiTracingSubscriberLayer)
            .try_init();
    });
}

/// Runs the cockpit until the person quits. The terminal is restored on
/// return, on error and on panic.
pub async fn run(
    state: State,
    msgs: Receiver<Msg>,
    theme: Theme,
    keymap: Keymap,
) -> color_eyre::Result<()> {
    run_driving(state, msgs, theme, keymap, None, None).await
}

/// [`run`], with the driver's queue: requests made by keys go there. A
/// worker reported on `deaths` ends the cockpit with an error naming it.
pub async fn run_driving(
    mut state: State,
    mut msgs: Receiver<Msg>,
    theme: Theme,
    keymap: Keymap,
    driver: Option<Sender<Request>>,
    mut deaths: Option<UnboundedReceiver<Death>>,
) -> color_eyre::Result<()> {
    init_tracing();
    state.keys = keymap.help();
    // Restored exactly once: below, or by the panic hook if this thread panics.
    let mut terminal = crate::terminal::enter()?;
    let keys = Keys {
        keymap: &keymap,
        driver: driver.as_ref(),
    };
    let result = event_loop(
        &mut terminal,
        &mut state,
        &mut msgs,
        &theme,
        keys,
        &mut deaths,
    )
    .await;
    crate::terminal::leave();
    result.map(|_| ())
}

/// How the cockpit's loop ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Exit {
    Quit,
    /// Back to the fleet it was opened from.
    Back,
}

/// A cockpit ready to run on a screen the fleet already holds.
pub struct Cockpit {
    pub state: State,
    pub msgs: Receiver<Msg>,
    pub theme: Theme,
    pub keymap: Keymap,
    pub driver: Option<Sender<Request>>,
    pub deaths: Option<UnboundedReceiver<Death>>,
    /// Keeps its workers running; dropped (and so stopped) when it closes.
    pub keep: Box<dyn std::any::Any + Send>,
}

/// Runs the fleet screen until the person quits. Enter on a row asks `open`
/// for a cockpit and runs it on the same screen; Esc there comes back. The
/// terminal stays in the alternate screen across the switch and is restored
/// once, on return, on error or on panic.
pub async fn run_fleet<F, Fut>(
    mut fleet: FleetScreen,
    mut updates: Receiver<Update>,
    theme: Theme,
    keymap: Keymap,
    shown: Option<tokio::sync::watch::Sender<Vec<crate::fleet::RowKey>>>,
    mut open: F,
) -> color_eyre::Result<()>
where
    F: FnMut(Row) -> Fut,
    Fut: std::future::Future<Output = color_eyre::Result<Cockpit>>,
{
    init_tracing();
    fleet.keys = keymap.help();
    let mut terminal = crate::terminal::enter()?;
    let result = fleet_loop(
        &mut terminal,
        &mut fleet,
        (&mut updates, shown.as_ref()),
        (&theme, &keymap),
        &mut open,
    )
    .await;
    crate::terminal::leave();
    result
}

async fn fleet_loop<F, Fut>(
    terminal: &mut ratatui::DefaultTerminal,
    fleet: &mut FleetScreen,
    (updates, shown): (
        &mut Receiver<Update>,
        Option<&tokio::sync::watch::Sender<Vec<crate::fleet::RowKey>>>,
    ),
    (theme, keymap): (&Theme, &Keymap),
    open: &mut F,
) -> color_eyre::Result<()>
where
    F: FnMut(Row) -> Fut,
    Fut: std::future::Future<Output = color_eyre::Result<Cockpit>>,
{
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    tick.set_missed_tick_behavior(MissedTickBehavior::Skip);
    let mut matcher = KeyMatcher::default();
    let mut updates_open = true;
    'screen: loop {
        // Entered first, and again after a cockpit: whatever it drew goes.
        wipe(terminal)?;
        let mut events = EventStream::new();
        let mut screen = Screen::default();
        let mut dirty = true;
        let mut last_frame = Instant::now() - FRAME;
        fleet.page = usize::from(terminal.size()?.height.saturating_sub(12).max(1));
        loop {
            if dirty && last_frame.elapsed() >= FRAME {
                screen.render(terminal, |frame| {
                    crate::ui::fleet::draw(frame, fleet, theme);
                })?;
                last_frame = Instant::now();
                dirty = false;
                if let Some(shown) = shown {
                    // Prometheus is asked about the rows on screen only.
                    let keys = fleet.view.visible_keys(fleet.page);
                    shown.send_if_modified(|old| {
                        let changed = *old != keys;
                        if changed {
                            *old = keys;
                        }
                        changed
                    });
                }
            }
            let next_frame = last_frame + FRAME;
            tokio::select! {
                biased;
                event = events.next() => match event {
                    Some(Ok(Event::Key(key))) if key.kind != KeyEventKind::Release => {
                        dirty = true;
                        let Some(command) = fleet_key(fleet, &mut matcher, keymap, key) else {
                            continue;
                        };
                        let row = match command {
                            FleetCommand::Quit => return Ok(()),
                            FleetCommand::Open(row) => *row,
                        };
                        fleet.status = Some(format!("opening {}…", row.app));
                        screen.render(terminal, |frame| crate::ui::fleet::draw(frame, fleet, theme))?;
                        let app = row.app.clone();
                        match open(row).await {
                            Ok(cockpit) => {
                                fleet.status = None;
                                drop(events);
                                if run_cockpit(terminal, cockpit).await? == Exit::Quit {
                                    return Ok(());
                                }
                                continue 'screen;
                            }
                            Err(e) => fleet.status = Some(format!("cannot open {app}: {e}")),
                        }
                    }
                    Some(Ok(Event::Resize(_, rows))) => {
                        terminal.autoresize()?;
                        fleet.page = usize::from(rows.saturating_sub(12).max(1));
                        dirty = true;
                    }
                    Some(Ok(_)) => {}
                    Some(Err(e)) => return Err(e.into()),
                    None => return Ok(()),
                },
                update = updates.recv(), if updates_open => {
                    if let Some(update) = update {
                        fleet.view.apply(update);
                        while let Ok(update) = updates.try_recv() {
                            fleet.view.apply(update);
                        }
                        dirty = true;
                    } else {
                        tracing::warn!("the fleet's watches stopped");
                        updates_open = false;
                    }
                }
                _ = tick.tick() => {
                    fleet.now = Utc::now();
                    dirty = true;
                }
                () = tokio::time::sleep_until(next_frame), if dirty => {}
            }
        }
    }
}

/// Runs a cockpit opened from the fleet on the fleet's screen.
async fn run_cockpit(
    terminal: &mut ratatui::DefaultTerminal,
    cockpit: Cockpit,
) -> color_eyre::Result<Exit> {
    let Cockpit {
        mut state,
        mut msgs,
        theme,
        keymap,
        driver,
        mut deaths,
        keep,
    } = cockpit;
    state.keys = keymap.help();
    state.opened_from = crate::app::state::OpenedFrom::Fleet;
    wipe(terminal)?;
    let keys = Keys {
        keymap: &keymap,
        driver: driver.as_ref(),
    };
    let exit = event_loop(terminal, &mut state, &mut msgs, &theme, keys, &mut deaths).await;
    drop(keep);
    exit
}

/// Clears the screen for the other view's first frame. Not
/// `Terminal::clear`: it asks the terminal where the cursor is, an answer
/// that arrives as input and races the key reader.
fn wipe(terminal: &mut ratatui::DefaultTerminal) -> std::io::Result<()> {
    let backend = terminal.backend_mut();
    Backend::clear(backend)?;
    Backend::flush(backend)
}

/// Applies a key on the fleet screen; returns what the loop must do.
fn fleet_key(
    fleet: &mut FleetScreen,
    matcher: &mut KeyMatcher,
    keymap: &Keymap,
    event: KeyEvent,
) -> Option<FleetCommand> {
    let key = to_key(event)?;
    let layer = fleet.key_layer();
    match matcher.feed(keymap, layer, key) {
        Matched::Action(action) => fleet.handle_action(action),
        Matched::Unbound if layer == Layer::FleetFilter => {
            if let KeyCode::Char(c) = key.code
                && !key.ctrl
                && !key.alt
            {
                fleet.type_char(c);
            }
            None
        }
        Matched::Pending | Matched::Unbound => None,
    }
}

/// The next worker to die, or never.
async fn next_death(deaths: &mut Option<UnboundedReceiver<Death>>) -> Death {
    match deaths {
        Some(rx) => match rx.recv().await {
            Some(death) => death,
            None => std::future::pending().await,
        },
        None => std::future::pending().await,
    }
}

/// Where keys go: the keymap that reads them and the driver that carries
/// out the requests they make.
#[derive(Clone, Copy)]
struct Keys<'a> {
    keymap: &'a Keymap,
    driver: Option<&'a Sender<Request>>,
}

async fn event_loop(
    terminal: &mut ratatui::DefaultTerminal,
    state: &mut State,
    msgs: &mut Receiver<Msg>,
    theme: &Theme,
    keys: Keys<'_>,
    deaths: &mut Option<UnboundedReceiver<Death>>,
) -> color_eyre::Result<Exit> {
    let mut events = EventStream::new();
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    tick.set_missed_tick_behavior(MissedTickBehavior::Skip);
    let mut matcher = KeyMatcher::default();
    let mut msgs_open = true;
    let mut dirty = true;
    let mut last_frame = Instant::now() - FRAME;
    state.screen_rows = terminal.size()?.height;
    tracing::info!("cockpit started");

    let mut screen = Screen::default();
    let mut stats = FrameStats::from_env();

    loop {
        if dirty && last_frame.elapsed() >= FRAME {
            // The one-second tick renders at least that often, so the
            // diagnostics' hot buffer (1,000 lines) is emptied in time.
            tui_logger::move_events();
            if screen.draw(terminal, state, theme)? {
                stats.frames += 1;
            }
            stats.renders += 1;
            last_frame = Instant::now();
            dirty = false;
        }
        stats.wakeups += 1;
        stats.write();
        let next_frame = last_frame + FRAME;
        tokio::select! {
            biased;
            // A dead worker's pane would only go stale: end, saying which.
            death = next_death(deaths) => return Err(death.into()),
            event = events.next() => match event {
                Some(Ok(Event::Key(key))) if key.kind != KeyEventKind::Release => {
                    for command in key_commands(state, &mut matcher, keys.keymap, key) {
                        match command {
                            Command::Quit => return Ok(Exit::Quit),
                            Command::Back => return Ok(Exit::Back),
                            Command::Drive(request) => send(state, keys.driver, request),
                        }
                    }
                    dirty = true;
                }
                Some(Ok(Event::Resize(_, rows))) => {
                    // Asked here only: asking on every frame opens the tty each time.
                    terminal.autoresize()?;
                    state.screen_rows = rows;
                    dirty = true;
                }
                Some(Ok(_)) => {}
                Some(Err(e)) => return Err(e.into()),
                None => return Ok(Exit::Quit),
            },
            msg = msgs.recv(), if msgs_open => {
                if let Some(msg) = msg {
                    app::update(state, msg);
                    // Take what else is queued now, but give keys a turn every batch.
                    for _ in 0..MSG_BATCH {
                        match msgs.try_recv() {
                            Ok(msg) => app::update(state, msg),
                            Err(_) => break,
                        }
                    }
                    dirty = true;
                } else {
                    tracing::warn!("all workers stopped");
                    msgs_open = false;
                }
            }
            _ = tick.tick() => {
                state.now = Utc::now();
                dirty = true;
            }
            () = tokio::time::sleep_until(next_frame), if dirty => {}
        }
    }
}

/// What the terminal shows, so that a render which changes no cell (a tick
/// where every age still reads "5m", a lease renewed by the same holder)
/// writes nothing. Comparing cells is the exact test of "visible": no list of
/// fields to keep in step with the panes.
///
/// It writes its own diff instead of ratatui's `flush`, which would compare
/// the same two screens a second time, and it swaps buffers instead of copying
/// them: at rest a frame costs one render and one pass over the cells.
#[derive(Default)]
struct Screen {
    /// The cells on the terminal.
    shown: Buffer,
    /// The render just made, swapped out of the terminal.
    next: Buffer,
}

impl Screen {
    /// Renders the state and writes what changed. Returns whether anything did.
    fn draw<B: Backend>(
        &mut self,
        terminal: &mut ratatui::Terminal<B>,
        state: &State,
        theme: &Theme,
    ) -> Result<bool, B::Error> {
        self.render(terminal, |frame| crate::ui::draw(frame, state, theme))
    }

    /// Renders with `draw` and writes what changed. Returns whether anything did.
    fn render<B: Backend>(
        &mut self,
        terminal: &mut ratatui::Terminal<B>,
        draw: impl FnOnce(&mut ratatui::Frame<'_>),
    ) -> Result<bool, B::Error> {
        let mut frame = terminal.get_frame();
        draw(&mut frame);
        // The terminal gets the spare buffer back, blank for the next render.
        std::mem::swap(&mut self.next, terminal.current_buffer_mut());
        let spare = terminal.current_buffer_mut();
        spare.resize(self.next.area);
        spare.reset();
        if self.next.area != self.shown.area {
            // First frame or a new size: the screen is blank, so draw it all.
            self.shown = Buffer::empty(self.next.area);
            terminal.hide_cursor()?;
        }
        let changes = self.shown.diff(&self.next);
        if changes.is_empty() {
            return Ok(false);
        }
        let backend = terminal.backend_mut();
        backend.draw(changes.into_iter())?;
        Backend::flush(backend)?;
        std::mem::swap(&mut self.shown, &mut self.next);
        Ok(true)
    }
}

/// Counts of the loop's work, for the idle benchmark: written to the file
/// named by `FLIGHTDECK_FRAME_STATS` after each wake-up, nowhere otherwise.
#[derive(Default)]
struct FrameStats {
    /// Frames written to the terminal.
    frames: u64,
    /// Renders into memory, written or not.
    renders: u64,
    /// Times the loop woke (a key, a message batch, a tick, a frame timer).
    wakeups: u64,
    file: Option<std::fs::File>,
}

impl FrameStats {
    fn from_env() -> Self {
        let file = std::env::var_os("FLIGHTDECK_FRAME_STATS").and_then(|path| {
            std::fs::File::create(&path)
                .inspect_err(|e| tracing::warn!("frame stats: {}: {e}", path.display()))
                .ok()
        });
        Self {
            file,
            ..Self::default()
        }
    }

    fn write(&self) {
        use std::os::unix::fs::FileExt as _;
        let Some(file) = &self.file else { return };
        // Fixed width, written in place: a reader never sees half a line.
        let line = format!(
            "frames {:>12} renders {:>12} wakeups {:>12}\n",
            self.frames, self.renders, self.wakeups
        );
        let _ = file.write_at(line.as_bytes(), 0);
    }
}

/// Hands a request to the driver without ever waiting for it.
fn send(state: &mut State, driver: Option<&Sender<Request>>, request: Request) {
    let action = request.name().to_string();
    let failed = |reason: &str| app::msg::DriveReport::Failed {
        action: action.clone(),
        reason: reason.to_string(),
    };
    match driver {
        None => state.drive.apply(failed(
            "no plan: open the cockpit with --plan FILE to drive",
        )),
        Some(tx) => {
            if tx.try_send(request).is_err() {
                state
                    .drive
                    .apply(failed("the driver is busy or stopped; try again"));
            }
        }
    }
}

/// Applies a key; returns whether to quit.
#[cfg(test)]
fn on_key(state: &mut State, matcher: &mut KeyMatcher, keymap: &Keymap, event: KeyEvent) -> bool {
    key_commands(state, matcher, keymap, event).contains(&Command::Quit)
}

/// Applies a key; returns what the loop must do.
fn key_commands(
    state: &mut State,
    matcher: &mut KeyMatcher,
    keymap: &Keymap,
    event: KeyEvent,
) -> Vec<Command> {
    let Some(key) = to_key(event) else {
        return Vec::new();
    };
    let layer = state.key_layer();
    match matcher.feed(keymap, layer, key) {
        Matched::Action(action) => app::handle_action(state, action),
        Matched::Unbound if matches!(layer, Layer::Search | Layer::Prompt) => {
            if let KeyCode::Char(c) = key.code
                && !key.ctrl
                && !key.alt
            {
                app::type_char(state, c);
            }
            Vec::new()
        }
        Matched::Pending | Matched::Unbound => Vec::new(),
    }
}

fn to_key(event: KeyEvent) -> Option<Key> {
    use crossterm::event::KeyCode as K;
    let code = match event.code {
        K::Char(c) => KeyCode::Char(c),
        K::Enter => KeyCode::Enter,
        K::Esc => KeyCode::Esc,
        K::Tab => KeyCode::Tab,
        K::BackTab => KeyCode::BackTab,
        K::Backspace => KeyCode::Backspace,
        K::Delete => KeyCode::Delete,
        K::Up => KeyCode::Up,
        K::Down => KeyCode::Down,
        K::Left => KeyCode::Left,
        K::Right => KeyCode::Right,
        K::Home => KeyCode::Home,
        K::End => KeyCode::End,
        K::PageUp => KeyCode::PageUp,
        K::PageDown => KeyCode::PageDown,
        K::F(n) => KeyCode::F(n),
        _ => return None,
    };
    Some(Key {
        code,
        ctrl: event.modifiers.contains(KeyModifiers::CONTROL),
        alt: event.modifiers.contains(KeyModifiers::ALT),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crossterm::event::KeyCode as K;

    #[test]
    fn terminal_keys_map_to_keymap_keys() {
        let ctrl_c = KeyEvent::new(K::Char('c'), KeyModifiers::CONTROL);
        assert_eq!(to_key(ctrl_c), Some("<C-c>".parse().unwrap()));
        let shift_g = KeyEvent::new(K::Char('G'), KeyModifiers::SHIFT);
        assert_eq!(to_key(shift_g), Some(Key::char('G')));
        assert_eq!(
            to_key(KeyEvent::new(K::BackTab, KeyModifiers::SHIFT)),
            Some("<S-Tab>".parse().unwrap())
        );
    }

    /// Draws through [`Screen`] into a test terminal; whether a frame was written.
    fn frame_written(
        screen: &mut Screen,
        terminal: &mut ratatui::Terminal<ratatui::backend::TestBackend>,
        state: &State,
    ) -> bool {
        let theme = Theme::preset("default", false).unwrap();
        match screen.draw(terminal, state, &theme) {
            Ok(written) => written,
            Err(never) => match never {},
        }
    }

    #[test]
    fn a_tick_that_changes_no_visible_text_writes_no_frame() {
        use crate::app::msg::PodInfo;
        let start = chrono::DateTime::parse_from_rfc3339("2026-03-14T12:00:00Z")
            .unwrap()
            .with_timezone(&Utc);
        let mut state = State::new(start);
        app::update(
            &mut state,
            Msg::PodsReset(vec![PodInfo {
                name: "checkout-stable-1".into(),
                version: "stable".into(),
                status: "Running".into(),
                ready: 1,
                containers: 1,
                restarts: 0,
                // Old enough to read in whole minutes.
                created: Some(start - chrono::Duration::minutes(15)),
                node: "node-1".into(),
                cpu_millicores: None,
                memory_bytes: None,
                memory_limit_bytes: None,
            }]),
        );
        let mut terminal =
            ratatui::Terminal::new(ratatui::backend::TestBackend::new(120, 40)).unwrap();
        let mut screen = Screen::default();
        assert!(frame_written(&mut screen, &mut terminal, &state));
        assert!(terminal.backend().to_string().contains("15m"));
        // Ten ticks inside the same minute: the age still reads "15m".
        for secs in 1..=10 {
            state.now = start + chrono::Duration::seconds(secs);
            assert!(
                !frame_written(&mut screen, &mut terminal, &state),
                "a frame at +{secs}s"
            );
        }
        // The minute turns: the age changes, so a frame is written and shows it.
        state.now = start + chrono::Duration::seconds(60);
        assert!(frame_written(&mut screen, &mut terminal, &state));
        let shown = terminal.backend().to_string();
        assert!(shown.contains("16m"), "{shown}");
        // A key that changes what is shown writes one too.
        handle_key(&mut state, 'z');
        assert!(frame_written(&mut screen, &mut terminal, &state));
        assert!(!frame_written(&mut screen, &mut terminal, &state));
    }

    #[test]
    fn a_new_size_redraws_the_whole_screen_and_then_only_changes() {
        let state = State::new(Utc::now());
        let mut terminal =
            ratatui::Terminal::new(ratatui::backend::TestBackend::new(120, 40)).unwrap();
        let mut screen = Screen::default();
        assert!(frame_written(&mut screen, &mut terminal, &state));
        terminal.backend_mut().resize(90, 30);
        terminal.autoresize().unwrap();
        // The resize cleared the screen; the frame after it fills it again.
        assert!(frame_written(&mut screen, &mut terminal, &state));
        let after = terminal.backend().to_string();
        assert_eq!(after.lines().count(), 30);
        for pane in ["flightdeck", "Pods", "Traffic", "Logs", "Events"] {
            assert!(after.contains(pane), "{pane} missing:\n{after}");
        }
        assert!(!frame_written(&mut screen, &mut terminal, &state));
    }

    fn handle_key(state: &mut State, c: char) {
        let keymap = Keymap::preset("default").unwrap();
        let mut matcher = KeyMatcher::default();
        on_key(
            state,
            &mut matcher,
            &keymap,
            KeyEvent::new(K::Char(c), KeyModifiers::NONE),
        );
    }

    #[test]
    fn typed_text_goes_to_the_search_input() {
        let keymap = Keymap::preset("default").unwrap();
        let mut state = State::new(Utc::now());
        let mut matcher = KeyMatcher::default();
        state.focus = crate::app::Pane::Logs;
        let press = |c| KeyEvent::new(K::Char(c), KeyModifiers::NONE);
        assert!(!on_key(&mut state, &mut matcher, &keymap, press('/')));
        for c in "q5".chars() {
            assert!(!on_key(&mut state, &mut matcher, &keymap, press(c)));
        }
        assert_eq!(state.logs.search_input.as_deref(), Some("q5"));
        on_key(
            &mut state,
            &mut matcher,
            &keymap,
            KeyEvent::new(K::Esc, KeyModifiers::NONE),
        );
        assert!(on_key(&mut state, &mut matcher, &keymap, press('q')));
    }
}
