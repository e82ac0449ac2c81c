//! Driving from the keyboard: which keys become requests for the driver,
//! which ask first, and what the driver reported back. Pure: the loop sends
//! the [`Command::Drive`] this returns.

use std::collections::VecDeque;

use super::action::{Action, Command};
use super::msg::{DriveReport, RolloutView};
use super::state::{Helm, Layer, State};
use crate::rollout::plan::RollbackMode;
use crate::rollout::{Phase, Request};

/// Lines of driver progress kept for the Stages pane.
const LOG_LINES: usize = 50;

/// What the driver is doing and did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DriveLog {
    /// The request under way (landing): abort, rollback and pause are still
    /// taken, anything else is refused until it lands.
    pub busy: Option<String>,
    /// The last step the request under way reported: what it waits for.
    pub landing: Option<String>,
    /// Newest last.
    pub lines: VecDeque<String>,
    /// The last failure or refusal, until the next success.
    pub error: Option<String>,
    /// `--read-only`: every request that would change the cluster is refused.
    pub read_only: bool,
}

impl DriveLog {
    fn push(&mut self, line: String) {
        while self.lines.len() >= LOG_LINES {
            self.lines.pop_front();
        }
        self.lines.push_back(line);
    }

    pub fn apply(&mut self, report: DriveReport) {
        match report {
            DriveReport::Started { action } => {
                self.push(format!("{action}…"));
                self.busy = Some(action);
                self.landing = None;
            }
            DriveReport::Progress(line) => {
                if self.busy.is_some() {
                    self.landing = Some(line.clone());
                }
                self.push(line);
            }
            DriveReport::Done { action, to } => {
                self.push(format!("{action}: {to}"));
                self.end(&action);
                self.error = None;
            }
            DriveReport::Failed { action, reason } => {
                self.push(format!("{action} failed: {reason}"));
                self.end(&action);
                self.error = Some(format!("{action}: {reason}"));
            }
            DriveReport::Cancelled { action, by } => {
                let line = format!("{action} cancelled: {by} went first");
                self.push(line.clone());
                self.end(&action);
                self.error = Some(line);
            }
        }
    }

    /// `action` is over; a report about another (a refused second command)
    /// leaves the one under way as it is.
    fn end(&mut self, action: &str) {
        if self.busy.as_deref() == Some(action) {
            self.busy = None;
            self.landing = None;
        }
    }

    /// Says why a key did nothing.
    fn refuse(&mut self, why: String) {
        self.push(why.clone());
        self.error = Some(why);
    }
}

/// What a dialog's typed text is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PromptFor {
    /// The image to roll out (empty: the plan's).
    Image,
    /// The revision to undo to (empty: the previous one).
    Revision,
    /// Why the rollout is frozen (empty: said to be from the cockpit).
    FreezeReason,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Dialog {
    Confirm {
        request: Request,
        question: String,
    },
    Prompt {
        purpose: PromptFor,
        question: String,
        text: String,
        error: Option<String>,
    },
}

impl Dialog {
    pub fn layer(&self) -> Layer {
        match self {
            Dialog::Confirm { .. } => Layer::Dialog,
            Dialog::Prompt { .. } => Layer::Prompt,
        }
    }
}

/// Applies the driver's view of the rollout.
pub fn apply_view(state: &mut State, view: RolloutView) {
    let rows = state.stages.stages.len();
    state.stages.current = match &view.state.phase {
        Phase::NotStarted => None,
        Phase::Promoted { .. } => Some(rows),
        _ => view.state.stage().map(|s| s.min(rows.saturating_sub(1))),
    };
    // Shown against the screen's clock, so moved off the driver's.
    state.stages.entered_at = match &view.state.phase {
        Phase::Paused { since, .. } | Phase::Progressing { since, .. } => {
            Some(view.state.stage_began.unwrap_or(*since) - view.clock_skew)
        }
        _ => None,
    };
    state.stages.paused = matches!(
        &view.state.phase,
        Phase::Paused { by, .. } if !matches!(by, crate::rollout::PausedBy::Timed { .. })
    );
    state.rollout = Some(view);
}

/// The request a drive key makes, if the key is one.
fn request_of(action: Action) -> Option<Request> {
    Some(match action {
        Action::AdvanceStage => Request::Advance,
        Action::Pause => Request::Pause,
        Action::Resume => Request::Resume,
        Action::PromoteFull => Request::PromoteFull,
        Action::Abort => Request::Abort {
            mode: Some(RollbackMode::Immediate),
        },
        Action::RollbackGradual => Request::Abort {
            mode: Some(RollbackMode::Gradual),
        },
        Action::Retry => Request::Retry,
        Action::TakeHelm => Request::TakeHelm,
        _ => return None,
    })
}

/// Handles a drive key or a dialog key; `None` when the action is neither.
pub fn handle(state: &mut State, action: Action) -> Option<Vec<Command>> {
    match action {
        Action::DialogConfirm => return Some(confirm(state)),
        Action::DialogCancel => {
            state.dialog = None;
            return Some(Vec::new());
        }
        Action::DialogDelete => {
            if let Some(Dialog::Prompt { text, .. }) = &mut state.dialog {
                text.pop();
            }
            return Some(Vec::new());
        }
        _ => {}
    }
    let image_question = match &state.external {
        Some(view) => view.image_prompt(),
        None => Some("Start a rollout with image (empty: the plan's):"),
    };
    let prompt = match action {
        Action::StartRollout => image_question.map(|question| {
            (
                PromptFor::Image,
                question,
                state
                    .rollout
                    .as_ref()
                    .and_then(|r| r.state.course.image.clone())
                    .unwrap_or_default(),
            )
        }),
        Action::Undo => Some((
            PromptFor::Revision,
            "Undo to revision (empty: the previous one):",
            String::new(),
        )),
        Action::Freeze if !frozen(state) => Some((
            PromptFor::FreezeReason,
            "Freeze the rollout: why? (shown in every cockpit)",
            String::new(),
        )),
        _ => None,
    };
    let request = match (action, &state.external) {
        // A Rollout's image prompt is the way to its restart too; a Canary has none.
        (Action::StartRollout, Some(_)) if prompt.is_none() => Some(Request::Start { image: None }),
        (Action::Freeze, _) if frozen(state) => Some(Request::Unfreeze),
        (Action::Freeze, _) => Some(Request::Freeze {
            reason: String::new(),
        }),
        _ => request_of(action),
    };
    if prompt.is_none() && request.is_none() {
        return None;
    }
    if let Some(why) = refusal(state, request.as_ref()) {
        state.drive.refuse(why);
        return Some(Vec::new());
    }
    if let Some((purpose, question, text)) = prompt {
        state.dialog = Some(Dialog::Prompt {
            purpose,
            question: question.into(),
            text,
            error: None,
        });
        return Some(Vec::new());
    }
    Some(ask_or_send(state, request?))
}

/// Why this cockpit may not send `request` now.
fn refusal(state: &State, request: Option<&Request>) -> Option<String> {
    if state.drive.read_only || state.header.helm == Helm::ReadOnly {
        return Some("read-only: this cockpit was started with --read-only".into());
    }
    // Another controller's rollout: only what its own tools do is offered.
    if let (Some(view), Some(request)) = (&state.external, request)
        && let Some(why) = view.refusal(request)
    {
        return Some(why);
    }
    // The way back and a pause never wait for a step to land: the driver
    // cancels the step for the first, queues the second.
    let goes_anyway = matches!(
        request,
        Some(
            Request::Abort { .. }
                | Request::Pause
                | Request::TakeHelm
                | Request::Freeze { .. }
                | Request::Unfreeze
        )
    );
    if let (Some(busy), false) = (&state.drive.busy, goes_anyway) {
        let landing = state
            .drive
            .landing
            .as_deref()
            .map(|l| format!(": {}", l.trim_end_matches('…')))
            .unwrap_or_default();
        return Some(format!(
            "{busy} is landing{landing}; wait for it to land, or abort"
        ));
    }
    // The way back is asked of the cockpit at the helm, which carries it
    // out first; anything else takes the helm first.
    // A freeze is kept beside the rollout, not written by the helm's holder.
    let asks = matches!(
        request,
        Some(
            Request::Abort { .. } | Request::TakeHelm | Request::Freeze { .. } | Request::Unfreeze
        )
    );
    if let (Helm::HeldBy(who), false) = (&state.header.helm, asks) {
        return Some(format!(
            "read-only: the helm is held by {who}; take it over to drive from here"
        ));
    }
    if request == Some(&Request::TakeHelm) && state.header.helm == Helm::Held {
        return Some("this cockpit already holds the helm".into());
    }
    None
}

fn ask_or_send(state: &mut State, request: Request) -> Vec<Command> {
    if request.is_destructive() {
        state.dialog = Some(Dialog::Confirm {
            question: state
                .external
                .as_ref()
                .map_or_else(|| request.question(), |view| view.question(&request)),
            request,
        });
        Vec::new()
    } else {
        vec![Command::Drive(request)]
    }
}

fn confirm(state: &mut State) -> Vec<Command> {
    match state.dialog.take() {
        Some(Dialog::Confirm { request, .. }) => vec![Command::Drive(request)],
        Some(Dialog::Prompt {
            purpose: PromptFor::Image,
            text,
            ..
        }) => {
            let image = Some(text.trim().to_string()).filter(|t| !t.is_empty());
            ask_or_send(state, Request::Start { image })
        }
        Some(Dialog::Prompt {
            purpose: PromptFor::Revision,
            text,
            question,
            ..
        }) => {
            let text = text.trim();
            if text.is_empty() {
                return ask_or_send(state, Request::Undo { revision: None });
            }
            if let Ok(r) = text.parse::<u64>() {
                ask_or_send(state, Request::Undo { revision: Some(r) })
            } else {
                state.dialog = Some(Dialog::Prompt {
                    purpose: PromptFor::Revision,
                    question,
                    text: text.to_string(),
                    error: Some("a revision is a whole number".into()),
                });
                Vec::new()
            }
        }
        Some(Dialog::Prompt {
            purpose: PromptFor::FreezeReason,
            text,
            ..
        }) => {
            let reason = match text.trim() {
                "" => "frozen from the cockpit".to_string(),
                typed => typed.to_string(),
            };
            vec![Command::Drive(Request::Freeze { reason })]
        }
        None => Vec::new(),
    }
}

/// Whether the rollout shown is frozen.
fn frozen(state: &State) -> bool {
    state
        .rollout
        .as_ref()
        .is_some_and(|r| r.state.freeze.is_some())
}

/// A character typed into an open prompt; `false` when no prompt is open.
pub fn type_char(state: &mut State, c: char) -> bool {
    match &mut state.dialog {
        Some(Dialog::Prompt { text, .. }) => {
            if !c.is_control() && text.chars().count() < 200 {
                text.push(c);
            }
            true
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{TimeZone, Utc};

    fn state() -> State {
        let mut s = State::new(Utc.timestamp_opt(1_700_000_000, 0).unwrap());
        s.header.helm = Helm::Held;
        s
    }

    #[test]
    fn advance_goes_straight_to_the_driver() {
        let mut s = state();
        assert_eq!(
            handle(&mut s, Action::AdvanceStage),
            Some(vec![Command::Drive(Request::Advance)])
        );
        assert_eq!(handle(&mut s, Action::FocusNext), None);
    }

    #[test]
    fn destructive_requests_ask_first() {
        let mut s = state();
        assert_eq!(handle(&mut s, Action::PromoteFull), Some(vec![]));
        assert_eq!(s.key_layer(), Layer::Dialog);
        assert_eq!(handle(&mut s, Action::DialogCancel), Some(vec![]));
        assert!(s.dialog.is_none());
        handle(&mut s, Action::Abort);
        assert_eq!(
            handle(&mut s, Action::DialogConfirm),
            Some(vec![Command::Drive(Request::Abort {
                mode: Some(RollbackMode::Immediate)
            })])
        );
    }

    #[test]
    fn undo_asks_for_a_revision_then_confirms() {
        let mut s = state();
        handle(&mut s, Action::Undo);
        assert_eq!(s.key_layer(), Layer::Prompt);
        for c in "x".chars() {
            type_char(&mut s, c);
        }
        handle(&mut s, Action::DialogConfirm);
        assert!(matches!(
            s.dialog,
            Some(Dialog::Prompt { error: Some(_), .. })
        ));
        handle(&mut s, Action::DialogDelete);
        type_char(&mut s, '3');
        assert_eq!(handle(&mut s, Action::DialogConfirm), Some(vec![]));
        assert_eq!(
            handle(&mut s, Action::DialogConfirm),
            Some(vec![Command::Drive(Request::Undo { revision: Some(3) })])
        );
    }

    #[test]
    fn read_only_and_a_held_helm_refuse_with_a_reason() {
        let mut s = state();
        s.header.helm = Helm::ReadOnly;
        s.drive.read_only = true;
        assert_eq!(handle(&mut s, Action::AdvanceStage), Some(vec![]));
        assert!(s.drive.error.as_deref().unwrap().starts_with("read-only"));
        let mut s = state();
        s.header.helm = Helm::HeldBy("ana@laptop#7".into());
        assert_eq!(handle(&mut s, Action::Pause), Some(vec![]));
        assert!(s.drive.error.as_deref().unwrap().contains("ana@laptop#7"));
        handle(&mut s, Action::TakeHelm);
        assert_eq!(
            handle(&mut s, Action::DialogConfirm),
            Some(vec![Command::Drive(Request::TakeHelm)])
        );
        // The way back is not refused: the driver asks it of the holder.
        handle(&mut s, Action::RollbackGradual);
        assert_eq!(
            handle(&mut s, Action::DialogConfirm),
            Some(vec![Command::Drive(Request::Abort {
                mode: Some(RollbackMode::Gradual)
            })])
        );
    }

    #[test]
    fn while_a_step_lands_the_way_back_is_taken_and_a_second_step_is_refused() {
        let mut s = state();
        s.drive.apply(DriveReport::Started {
            action: "advance".into(),
        });
        s.drive.apply(DriveReport::Progress(
            "set weights stable 75% / canary 25%…".into(),
        ));
        assert_eq!(handle(&mut s, Action::AdvanceStage), Some(vec![]));
        assert_eq!(
            s.drive.error.as_deref(),
            Some(
                "advance is landing: set weights stable 75% / canary 25%; \
                 wait for it to land, or abort"
            )
        );
        assert_eq!(handle(&mut s, Action::StartRollout), Some(vec![]));
        assert!(s.dialog.is_none());
        assert_eq!(
            handle(&mut s, Action::Pause),
            Some(vec![Command::Drive(Request::Pause)])
        );
        assert_eq!(handle(&mut s, Action::Abort), Some(vec![]));
        assert_eq!(s.key_layer(), Layer::Dialog);
        assert_eq!(
            handle(&mut s, Action::DialogConfirm),
            Some(vec![Command::Drive(Request::Abort {
                mode: Some(RollbackMode::Immediate)
            })])
        );
        handle(&mut s, Action::RollbackGradual);
        assert_eq!(s.key_layer(), Layer::Dialog);
    }

    #[test]
    fn a_cancelled_step_ends_the_busy_state_and_says_what_went_first() {
        let mut log = DriveLog::default();
        log.apply(DriveReport::Started {
            action: "advance".into(),
        });
        log.apply(DriveReport::Failed {
            action: "resume".into(),
            reason: "advance is landing".into(),
        });
        assert_eq!(log.busy.as_deref(), Some("advance"));
        log.apply(DriveReport::Cancelled {
            action: "advance".into(),
            by: "abort by ana".into(),
        });
        assert!(log.busy.is_none());
        assert_eq!(
            log.lines.back().map(String::as_str),
            Some("advance cancelled: abort by ana went first")
        );
        log.apply(DriveReport::Started {
            action: "abort".into(),
        });
        assert_eq!(log.busy.as_deref(), Some("abort"));
    }

    #[test]
    fn reports_end_the_busy_state_and_keep_failures() {
        let mut log = DriveLog::default();
        log.apply(DriveReport::Started {
            action: "advance".into(),
        });
        assert_eq!(log.busy.as_deref(), Some("advance"));
        log.apply(DriveReport::Failed {
            action: "advance".into(),
            reason: "409".into(),
        });
        assert!(log.busy.is_none());
        assert_eq!(log.error.as_deref(), Some("advance: 409"));
    }
    #[test]
    fn the_freeze_key_asks_why_even_off_the_helm_and_unfreezes_once_frozen() {
        let mut s = state();
        s.header.helm = Helm::HeldBy("ana@laptop#7".into());
        assert_eq!(handle(&mut s, Action::Freeze), Some(vec![]));
        assert_eq!(s.key_layer(), Layer::Prompt);
        for c in "EU errors".chars() {
            type_char(&mut s, c);
        }
        assert_eq!(
            handle(&mut s, Action::DialogConfirm),
            Some(vec![Command::Drive(Request::Freeze {
                reason: "EU errors".into()
            })])
        );

        let plan = crate::rollout::fixtures::canary("[{ weight = 10 }, { weight = 100 }]", "");
        let mut rollout = crate::rollout::RolloutState::new(&plan, false);
        rollout.freeze = Some(Box::new(crate::rollout::freeze::Freeze {
            by: crate::workers::audit::Actor {
                kube_user: "admin".into(),
                os_user: "alice".into(),
                host: "laptop".into(),
            },
            reason: "EU errors".into(),
            at: Utc.timestamp_opt(1_700_000_000, 0).unwrap(),
        }));
        s.rollout = Some(RolloutView {
            state: rollout,
            history: Vec::new(),
            revisions: Vec::new(),
            clock_skew: chrono::TimeDelta::zero(),
        });
        assert_eq!(handle(&mut s, Action::Freeze), Some(vec![]));
        assert_eq!(s.key_layer(), Layer::Dialog);
        assert_eq!(
            handle(&mut s, Action::DialogConfirm),
            Some(vec![Command::Drive(Request::Unfreeze)])
        );
    }
}
