//! The screen while the cockpit owns it: entered once and restored exactly
//! once, when the event loop returns (a quit, an error, a worker's death) or
//! when the thread that draws panics.
//!
//! A panic on any other thread (a worker, inside tokio) leaves the screen
//! alone: tokio catches it, the worker's supervisor reports it, and the loop
//! ends and restores the screen then. Restoring it from the worker's thread
//! would leave the cockpit drawing on a normal-mode screen, and printing the
//! panic over the cockpit would only garble it, so that panic goes to the
//! diagnostics log and the loop's error names the worker.

use std::io::{self, Stdout};
use std::sync::{Mutex, Once, PoisonError};
use std::thread::{self, ThreadId};

use crossterm::terminal::{EnterAlternateScreen, enable_raw_mode};
use ratatui::Terminal;
use ratatui::backend::CrosstermBackend;

/// The thread that draws, while the screen is the cockpit's.
static OWNER: Mutex<Option<ThreadId>> = Mutex::new(None);

/// Raw mode and the alternate screen, owned by the calling thread until
/// [`leave`].
pub fn enter() -> io::Result<Terminal<CrosstermBackend<Stdout>>> {
    static HOOK: Once = Once::new();
    HOOK.call_once(install_panic_hook);
    *OWNER.lock().unwrap_or_else(PoisonError::into_inner) = Some(thread::current().id());
    let entered = enable_raw_mode()
        .and_then(|()| crossterm::execute!(io::stdout(), EnterAlternateScreen))
        .and_then(|()| Terminal::new(CrosstermBackend::new(io::stdout())));
    if entered.is_err() {
        leave();
    }
    entered
}

/// Gives the screen back (normal mode, main screen), if it was not already.
pub fn leave() {
    let owned = OWNER
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .take()
        .is_some();
    if owned {
        ratatui::restore();
    }
}

fn install_panic_hook() {
    let previous = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        let mut owner = OWNER.lock().unwrap_or_else(PoisonError::into_inner);
        match *owner {
            Some(drawing) if drawing != thread::current().id() => {
                drop(owner);
                tracing::error!("{info}");
                return;
            }
            Some(_) => {
                *owner = None;
                drop(owner);
                ratatui::restore();
            }
            None => drop(owner),
        }
        previous(info);
    }));
}
