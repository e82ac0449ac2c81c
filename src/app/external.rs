//! The cockpit opened on an Argo Rollout or a Flagger Canary: the object
//! as last read (its row and detail, built by [`crate::external`]'s
//! readers), and which keys it refuses and why. Pure.

use crate::external::ask::{self, Source, Target};
use crate::fleet::Row;
use crate::rollout::Request;

/// What the Stages pane shows of another controller's rollout.
#[derive(Debug, Clone, PartialEq)]
pub struct ExternalView {
    pub target: Target,
    /// `None` until the watch has read the object.
    pub row: Option<Row>,
    /// Why abort is not offered (a Canary without the loadtester's
    /// rollback gate); `None` when it is.
    pub abort_refusal: Option<String>,
}

impl ExternalView {
    pub fn new(target: Target) -> Self {
        Self {
            target,
            row: None,
            abort_refusal: None,
        }
    }

    /// The object as read again by the watch.
    pub fn apply(&mut self, update: ExternalUpdate) {
        self.row = Some(update.row);
        self.abort_refusal = update.abort_refusal;
    }

    /// Why this rollout's source refuses `request`, if it does.
    pub fn refusal(&self, request: &Request) -> Option<String> {
        if let (Request::Abort { .. }, Some(why)) = (request, &self.abort_refusal) {
            return Some(why.clone());
        }
        ask::of(self.target.source, request).err()
    }

    pub fn question(&self, request: &Request) -> String {
        ask::question(self.target.source, request)
    }

    /// What the image prompt asks: a Rollout sets its image, or restarts.
    pub fn image_prompt(&self) -> Option<&'static str> {
        match self.target.source {
            Source::Argo => Some("Set the Rollout's image (empty: restart its pods):"),
            Source::Flagger => None,
        }
    }
}

/// The watched object, read again.
#[derive(Debug, Clone, PartialEq)]
pub struct ExternalUpdate {
    pub row: Row,
    pub abort_refusal: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::app::drive::handle;
    use crate::app::state::{Helm, Layer, State};
    use crate::app::{Action, Command};
    use crate::fleet::Kind;
    use crate::rollout::plan::RollbackMode;
    use chrono::{TimeZone, Utc};

    fn state(source: Source) -> State {
        let mut s = State::new(Utc.timestamp_opt(1_700_000_000, 0).unwrap());
        s.header.helm = Helm::Free;
        let mut view = ExternalView::new(Target {
            source,
            namespace: "shop".into(),
            name: "checkout".into(),
        });
        view.apply(ExternalUpdate {
            row: Row::new("c", "shop", "checkout", Kind::Argo),
            abort_refusal: None,
        });
        s.external = Some(view);
        s
    }

    #[test]
    fn abort_asks_in_the_sources_words_then_goes_to_the_driver() {
        let mut s = state(Source::Argo);
        assert_eq!(handle(&mut s, Action::Abort), Some(vec![]));
        assert_eq!(s.key_layer(), Layer::Dialog);
        let Some(crate::app::drive::Dialog::Confirm { question, .. }) = &s.dialog else {
            panic!("no confirmation");
        };
        assert_eq!(
            question,
            "Abort: send all traffic back to stable (status.abort)?"
        );
        assert_eq!(
            handle(&mut s, Action::DialogConfirm),
            Some(vec![Command::Drive(Request::Abort {
                mode: Some(RollbackMode::Immediate)
            })])
        );
    }

    #[test]
    fn a_canary_without_a_rollback_gate_refuses_abort_with_the_reason() {
        let mut s = state(Source::Flagger);
        if let Some(view) = &mut s.external {
            view.abort_refusal = Some("no rollback webhook: abort is not offered".into());
        }
        assert_eq!(handle(&mut s, Action::Abort), Some(vec![]));
        assert!(s.dialog.is_none());
        assert_eq!(
            s.drive.error.as_deref(),
            Some("no rollback webhook: abort is not offered")
        );
        assert_eq!(handle(&mut s, Action::Retry), Some(vec![]));
        assert!(
            s.drive
                .error
                .as_deref()
                .unwrap()
                .starts_with("retry is not offered")
        );
        assert_eq!(
            handle(&mut s, Action::Pause),
            Some(vec![Command::Drive(Request::Pause)])
        );
    }

    #[test]
    fn read_only_refuses_before_the_source_is_asked() {
        let mut s = state(Source::Argo);
        s.drive.read_only = true;
        s.header.helm = Helm::ReadOnly;
        assert_eq!(handle(&mut s, Action::AdvanceStage), Some(vec![]));
        assert!(s.drive.error.as_deref().unwrap().starts_with("read-only"));
    }

    #[test]
    fn the_image_prompt_of_a_rollout_offers_restart() {
        let mut s = state(Source::Argo);
        assert_eq!(handle(&mut s, Action::StartRollout), Some(vec![]));
        let Some(crate::app::drive::Dialog::Prompt { question, .. }) = &s.dialog else {
            panic!("no prompt");
        };
        assert_eq!(
            question,
            "Set the Rollout's image (empty: restart its pods):"
        );
        assert_eq!(
            handle(&mut s, Action::DialogConfirm),
            Some(vec![Command::Drive(Request::Start { image: None })])
        );
    }
}
