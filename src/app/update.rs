//! How facts and keys change the state.

use super::action::{Action, Command};
use super::msg::{Connection, EventInfo, Msg};
use super::state::{MAX_EVENTS, Pane, State};

/// Applies a worker's fact.
pub fn update(state: &mut State, msg: Msg) {
    match msg {
        Msg::Rollout(view) => super::drive::apply_view(state, *view),
        Msg::Drive(report) => state.drive.apply(report),
        Msg::Helm(helm) => {
            if !state.drive.read_only {
                state.header.helm = helm;
            }
        }
        Msg::PodsReset(pods) => {
            let row = state.pods_cursor();
            state.pods.reset(pods);
            keep_selection(state, row);
        }
        Msg::PodApplied(pod) => state.pods.apply(pod),
        Msg::PodDeleted { name } => {
            let row = state.pods_cursor();
            state.pods.remove(&name);
            keep_selection(state, row);
        }
        Msg::Traffic(info) => state.traffic = Some(info),
        Msg::Metrics(sample) => state.metrics.push(sample),
        Msg::LogLines(lines) => state.logs.ingest(lines),
        Msg::LogStreamEnded { pod } => {
            state.logs.pod_gone(&pod, state.now);
        }
        Msg::EventsReset(mut events) => {
            events.sort_by_key(|e| std::cmp::Reverse(e.last_seen));
            events.truncate(MAX_EVENTS);
            state.events = events;
        }
        Msg::EventApplied(event) => apply_event(&mut state.events, event),
        Msg::Connection(connection) => state.header.connection = connection,
        Msg::Trouble { source, trouble } => {
            state.troubles.insert(source, trouble);
        }
        Msg::Recovered { source } => {
            state.troubles.remove(&source);
            if state.troubles.is_empty()
                && matches!(state.header.connection, Connection::Lost { .. })
            {
                state.header.connection = Connection::Connected;
            }
        }
        Msg::Guard(update) => state.guard_states.apply(update),
        Msg::Delivery(delivery) => state.webhooks.apply(delivery),
        Msg::External(update) => {
            if let Some(view) = &mut state.external {
                view.apply(*update);
            }
        }
    }
}

/// Replaces the event with the same object and reason, keeping newest first.
fn apply_event(events: &mut Vec<EventInfo>, event: EventInfo) {
    events.retain(|e| !(e.object == event.object && e.reason == event.reason));
    let pos = events.partition_point(|e| e.last_seen > event.last_seen);
    events.insert(pos, event);
    events.truncate(MAX_EVENTS);
}

/// After pods went, the selection stays on its pod, or takes the pod now on
/// the row it had.
fn keep_selection(state: &mut State, row: usize) {
    let kept = state
        .pods_selected
        .as_deref()
        .and_then(|name| state.pods.row_of(name));
    match kept {
        Some(row) => state.pods_row = row,
        None if state.pods_selected.is_some() => state.select_pod_row(row),
        None => state.pods_row = state.pods_row.min(state.pods.len().saturating_sub(1)),
    }
}

/// Rows a page moves: about the height of a pane.
fn page(state: &State) -> usize {
    usize::from(state.screen_rows / 3).max(3)
}

/// Applies what a key asked for and says what the loop must do.
pub fn handle_action(state: &mut State, action: Action) -> Vec<Command> {
    if let Some(commands) = super::drive::handle(state, action) {
        return commands;
    }
    match action {
        Action::Quit => return vec![Command::Quit],
        Action::Help => state.help = !state.help,
        Action::Close => {
            if state.help {
                state.help = false;
            } else if state.zoom {
                state.zoom = false;
            } else if state.diagnostics {
                state.diagnostics = false;
            } else if state.opened_from == crate::app::state::OpenedFrom::Fleet {
                return vec![Command::Back];
            }
        }
        Action::FocusNext => state.focus = state.focus.next(),
        Action::FocusPrev => state.focus = state.focus.prev(),
        Action::FocusPods => state.focus = Pane::Pods,
        Action::FocusTraffic => state.focus = Pane::Traffic,
        Action::FocusMetrics => state.focus = Pane::Metrics,
        Action::FocusLogs => state.focus = Pane::Logs,
        Action::FocusEvents => state.focus = Pane::Events,
        Action::FocusStages => state.focus = Pane::Stages,
        Action::Zoom => state.zoom = !state.zoom,
        Action::ToggleDiagnostics => state.diagnostics = !state.diagnostics,
        Action::ScrollUp => scroll(state, -1),
        Action::ScrollDown => scroll(state, 1),
        Action::PageUp => scroll(state, -(page(state) as isize)),
        Action::PageDown => scroll(state, page(state) as isize),
        Action::ScrollTop => scroll(state, isize::MIN),
        Action::ScrollBottom => scroll(state, isize::MAX),
        Action::LogFollow => {
            let follow = !state.logs.follow;
            state.logs.set_follow(follow);
        }
        Action::LogWrap => state.logs.wrap = !state.logs.wrap,
        Action::LogTimestamps => state.logs.timestamps = !state.logs.timestamps,
        Action::LogFilterVersion => state.logs.cycle_version_filter(),
        Action::LogFilterPod => state.logs.cycle_pod_filter(),
        Action::LogSearch => state.logs.open_search(),
        Action::LogSearchNext => state.logs.search_next(),
        Action::LogSearchPrev => state.logs.search_prev(),
        Action::LogNextError => state.logs.next_error(),
        Action::LogClearFilter => state.logs.clear_filters(),
        Action::SearchSubmit => state.logs.submit_search(),
        Action::SearchCancel => state.logs.cancel_search(),
        Action::SearchDelete => state.logs.delete_char(),
        // Answered by `drive::handle` above.
        Action::AdvanceStage
        | Action::Pause
        | Action::Resume
        | Action::PromoteFull
        | Action::Abort
        | Action::RollbackGradual
        | Action::StartRollout
        | Action::Retry
        | Action::Undo
        | Action::TakeHelm
        | Action::Freeze
        | Action::DialogConfirm
        | Action::DialogCancel
        | Action::DialogDelete
        // The fleet screen's own; the cockpit has no use for them.
        | Action::FleetOpen
        | Action::FleetFilter
        | Action::FleetSort => {}
    }
    Vec::new()
}

/// A character typed into the open input (the log search).
pub fn type_char(state: &mut State, c: char) {
    if super::drive::type_char(state, c) {
        return;
    }
    state.logs.type_char(c);
}

/// Moves the focused pane by `delta` rows; the extremes mean top and bottom.
fn scroll(state: &mut State, delta: isize) {
    let step = delta.unsigned_abs();
    match state.focus {
        Pane::Logs => match delta {
            isize::MIN => state.logs.scroll_top(),
            isize::MAX => state.logs.scroll_bottom(),
            d if d < 0 => state.logs.scroll_up(step),
            _ => state.logs.scroll_down(step),
        },
        Pane::Pods => {
            let last = state.pods.len().saturating_sub(1);
            let row = moved(state.pods_cursor(), delta, last);
            state.select_pod_row(row);
        }
        Pane::Events => {
            let last = state.events.len().saturating_sub(1);
            state.events_offset = moved(state.events_offset, delta, last);
        }
        Pane::Stages => {
            let last = state.stages.stages.len().saturating_sub(1);
            state.stages_offset = moved(state.stages_offset, delta, last);
        }
        Pane::Traffic | Pane::Metrics => {}
    }
}

fn moved(at: usize, delta: isize, last: usize) -> usize {
    let step = delta.unsigned_abs();
    if delta < 0 {
        at.saturating_sub(step)
    } else {
        at.saturating_add(step).min(last)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::app::msg::{LogLine, PodInfo, Source, Trouble};
    use chrono::{TimeZone, Utc};

    fn state() -> State {
        State::new(Utc.timestamp_opt(1_700_000_000, 0).unwrap())
    }

    fn pod(name: &str, status: &str, ready: u32) -> PodInfo {
        PodInfo {
            name: name.into(),
            version: "stable".into(),
            status: status.into(),
            ready,
            containers: 1,
            restarts: 0,
            created: None,
            node: "node-1".into(),
            cpu_millicores: None,
            memory_bytes: None,
            memory_limit_bytes: None,
        }
    }

    #[test]
    fn focus_cycles_through_every_pane() {
        let mut s = state();
        let mut seen = vec![s.focus];
        for _ in 0..5 {
            handle_action(&mut s, Action::FocusNext);
            seen.push(s.focus);
        }
        seen.sort();
        seen.dedup();
        assert_eq!(seen.len(), 6);
        handle_action(&mut s, Action::FocusNext);
        assert_eq!(s.focus, Pane::Pods);
        handle_action(&mut s, Action::FocusPrev);
        assert_eq!(s.focus, Pane::Logs);
        handle_action(&mut s, Action::FocusEvents);
        assert_eq!(s.focus, Pane::Events);
    }

    #[test]
    fn zoom_toggles_and_close_unwinds_help_then_zoom() {
        let mut s = state();
        handle_action(&mut s, Action::Zoom);
        handle_action(&mut s, Action::Help);
        assert!(s.zoom && s.help);
        handle_action(&mut s, Action::Close);
        assert!(s.zoom && !s.help);
        handle_action(&mut s, Action::Close);
        assert!(!s.zoom);
    }

    #[test]
    fn close_goes_back_to_the_fleet_only_when_nothing_else_is_open() {
        let mut s = state();
        assert_eq!(handle_action(&mut s, Action::Close), vec![]);
        s.opened_from = crate::app::state::OpenedFrom::Fleet;
        s.help = true;
        assert_eq!(handle_action(&mut s, Action::Close), vec![]);
        assert!(!s.help);
        assert_eq!(handle_action(&mut s, Action::Close), vec![Command::Back]);
    }

    #[test]
    fn quit_asks_the_loop_to_quit() {
        assert_eq!(
            handle_action(&mut state(), Action::Quit),
            vec![Command::Quit]
        );
    }

    #[test]
    fn failing_pods_sort_first_and_deleted_pods_leave() {
        let mut s = state();
        update(
            &mut s,
            Msg::PodsReset(vec![pod("a", "Running", 1), pod("b", "Running", 1)]),
        );
        update(&mut s, Msg::PodApplied(pod("b", "CrashLoopBackOff", 0)));
        let names: Vec<_> = s.pods.iter().map(|(_, p)| p.name.as_str()).collect();
        assert_eq!(names, ["b", "a"]);
        update(&mut s, Msg::PodDeleted { name: "b".into() });
        assert_eq!(s.pods.len(), 1);
    }

    #[test]
    fn trouble_is_shown_then_cleared() {
        let mut s = state();
        let trouble = Trouble::Forbidden {
            message: "pods is forbidden".into(),
        };
        update(
            &mut s,
            Msg::Trouble {
                source: Source::Pods,
                trouble: trouble.clone(),
            },
        );
        assert_eq!(s.troubles.get(&Source::Pods), Some(&trouble));
        update(
            &mut s,
            Msg::Recovered {
                source: Source::Pods,
            },
        );
        assert!(s.troubles.is_empty());
    }

    #[test]
    fn log_stream_end_marks_the_pod_gone() {
        let mut s = state();
        let now = s.now;
        update(
            &mut s,
            Msg::LogLines(vec![LogLine {
                at: now,
                pod: "web-1".into(),
                container: "app".into(),
                version: "canary".into(),
                text: "hello".into(),
            }]),
        );
        update(
            &mut s,
            Msg::LogStreamEnded {
                pod: "web-1".into(),
            },
        );
        let kinds: Vec<_> = s
            .logs
            .window(10, |_| 1)
            .into_iter()
            .map(|(_, e)| e.kind)
            .collect();
        assert_eq!(
            kinds,
            [
                crate::app::logs::EntryKind::Joined,
                crate::app::logs::EntryKind::Line,
                crate::app::logs::EntryKind::Gone
            ]
        );
    }

    #[test]
    fn log_keys_toggle_follow_wrap_and_timestamps() {
        let mut s = state();
        assert!(s.logs.follow);
        handle_action(&mut s, Action::LogFollow);
        assert!(!s.logs.follow);
        handle_action(&mut s, Action::LogFollow);
        assert!(s.logs.follow);
        handle_action(&mut s, Action::LogWrap);
        assert!(s.logs.wrap);
        handle_action(&mut s, Action::LogTimestamps);
        assert!(!s.logs.timestamps);
    }

    #[test]
    fn search_input_takes_typed_text() {
        let mut s = state();
        handle_action(&mut s, Action::LogSearch);
        assert_eq!(s.key_layer(), crate::app::state::Layer::Search);
        type_char(&mut s, 'x');
        type_char(&mut s, 'y');
        handle_action(&mut s, Action::SearchDelete);
        assert_eq!(s.logs.search_input.as_deref(), Some("x"));
        handle_action(&mut s, Action::SearchSubmit);
        assert_eq!(s.logs.search.as_deref(), Some("x"));
        assert!(s.logs.search_input.is_none());
    }

    #[test]
    fn pods_cursor_stays_in_range() {
        let mut s = state();
        update(
            &mut s,
            Msg::PodsReset(vec![pod("a", "Running", 1), pod("b", "Running", 1)]),
        );
        handle_action(&mut s, Action::ScrollBottom);
        assert_eq!(s.pods_cursor(), 1);
        handle_action(&mut s, Action::PageDown);
        assert_eq!(s.pods_cursor(), 1);
        update(&mut s, Msg::PodDeleted { name: "b".into() });
        assert_eq!(s.pods_cursor(), 0);
        assert_eq!(s.selected_pod().map(|p| p.name.as_str()), Some("a"));
    }

    #[test]
    fn the_selection_follows_its_pod_when_rows_reorder() {
        let mut s = state();
        update(
            &mut s,
            Msg::PodsReset(vec![
                pod("a", "Running", 1),
                pod("b", "Running", 1),
                pod("c", "Running", 1),
            ]),
        );
        handle_action(&mut s, Action::ScrollDown);
        assert_eq!(s.selected_pod().map(|p| p.name.as_str()), Some("b"));
        // "c" starts crash-looping and sorts first: "b" moves down a row.
        update(&mut s, Msg::PodApplied(pod("c", "CrashLoopBackOff", 0)));
        assert_eq!(s.pods_cursor(), 2);
        assert_eq!(s.selected_pod().map(|p| p.name.as_str()), Some("b"));
        // The selected pod goes: the pod now on its row is selected.
        update(&mut s, Msg::PodDeleted { name: "b".into() });
        assert_eq!(s.selected_pod().map(|p| p.name.as_str()), Some("a"));
        handle_action(&mut s, Action::ScrollUp);
        assert_eq!(s.selected_pod().map(|p| p.name.as_str()), Some("c"));
    }

    #[test]
    fn events_stay_newest_first_and_deduplicated() {
        let mut s = state();
        let ev = |sec: i64, reason: &str| EventInfo {
            last_seen: Utc.timestamp_opt(1_700_000_000 + sec, 0).unwrap(),
            warning: false,
            reason: reason.into(),
            object: "Pod/web-1".into(),
            message: String::new(),
            count: 1,
        };
        update(&mut s, Msg::EventApplied(ev(1, "Pulled")));
        update(&mut s, Msg::EventApplied(ev(2, "Started")));
        update(&mut s, Msg::EventApplied(ev(3, "Pulled")));
        let reasons: Vec<_> = s.events.iter().map(|e| e.reason.as_str()).collect();
        assert_eq!(reasons, ["Pulled", "Started"]);
    }
    #[test]
    fn guard_reports_and_webhook_failures_reach_the_state() {
        use crate::rollout::guards::{GuardAction, GuardMetric, GuardState};
        use crate::workers::guard_watch::GuardUpdate;
        use crate::workers::notify::{Delivery, NoticeKind};
        let mut s = state();
        let now = s.now;
        let report = |state: GuardState| {
            Msg::Guard(GuardUpdate {
                guard: "latency-p99".into(),
                metric: GuardMetric::LatencyP99,
                action: GuardAction::GradualRollback,
                state,
                latest: Some(2.6),
                threshold: 2.0,
                reason: None,
                at: now,
            })
        };
        update(&mut s, report(GuardState::Ok));
        update(
            &mut s,
            report(GuardState::Firing {
                since: now - chrono::Duration::minutes(5),
                value: 2.6,
            }),
        );
        assert_eq!(s.guard_states.len(), 1);
        assert_eq!(s.guard_states.firing(), 1);

        update(
            &mut s,
            Msg::Delivery(Delivery::CircuitOpen {
                webhook: "slack".into(),
                event: NoticeKind::GuardFired,
            }),
        );
        assert!(!s.webhooks.is_empty());
        update(
            &mut s,
            Msg::Delivery(Delivery::Recovered {
                webhook: "slack".into(),
            }),
        );
        assert!(s.webhooks.is_empty());
    }
}
