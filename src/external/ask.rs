//! What a key asks of a Rollout or a Canary: the cockpit's requests
//! translated into each source's own actions, or refused with the reason.
//! Pure.

use crate::rollout::Request;

use super::writes::flagger::Gate;

/// Which controller drives the rollout.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    /// An Argo Rollouts `Rollout`.
    Argo,
    /// A Flagger `Canary`.
    Flagger,
}

impl Source {
    pub fn label(self) -> &'static str {
        match self {
            Source::Argo => "Argo Rollout",
            Source::Flagger => "Flagger Canary",
        }
    }

    /// The object's kind, as the API names it.
    pub fn kind(self) -> &'static str {
        match self {
            Source::Argo => "Rollout",
            Source::Flagger => "Canary",
        }
    }
}

/// The rollout object the cockpit is opened on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    pub source: Source,
    pub namespace: String,
    pub name: String,
}

/// One action of a source.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Ask {
    Promote,
    PromoteFull,
    Abort,
    Retry,
    Pause,
    Resume,
    Restart,
    /// To a revision (`None`: the previous one).
    Undo(Option<u64>),
    SetImage(String),
    Gate(Gate),
}

impl Ask {
    /// The action's name in the audit file and the Events.
    pub fn name(&self) -> &'static str {
        match self {
            Ask::Promote => "promote",
            Ask::PromoteFull => "promote-full",
            Ask::Abort => "abort",
            Ask::Retry => "retry",
            Ask::Pause => "pause",
            Ask::Resume => "resume",
            Ask::Restart => "restart",
            Ask::Undo(_) => "undo",
            Ask::SetImage(_) => "set-image",
            Ask::Gate(Gate::OpenPromotion) => "open-promotion-gate",
            Ask::Gate(Gate::ClosePromotion) => "close-promotion-gate",
            Ask::Gate(Gate::OpenRollback) => "open-rollback-gate",
        }
    }
}

/// The action a cockpit request makes of `source`, or why it has none.
/// Starting with an image sets the Rollout's image; starting without one
/// restarts its pods.
pub fn of(source: Source, request: &Request) -> Result<Ask, String> {
    let refused = |what: &str, why: &str| {
        Err(format!(
            "{what} is not offered for a {}: {why}",
            source.label()
        ))
    };
    match (source, request) {
        (Source::Argo, Request::Advance) => Ok(Ask::Promote),
        (_, Request::PromoteFull) => Ok(Ask::PromoteFull),
        (Source::Argo, Request::Abort { .. }) => Ok(Ask::Abort),
        (Source::Argo, Request::Retry) => Ok(Ask::Retry),
        (_, Request::Pause) => Ok(Ask::Pause),
        (_, Request::Resume) => Ok(Ask::Resume),
        (Source::Argo, Request::Undo { revision }) => Ok(Ask::Undo(*revision)),
        (Source::Argo, Request::Start { image: Some(image) }) => Ok(Ask::SetImage(image.clone())),
        (Source::Argo, Request::Start { image: None }) => Ok(Ask::Restart),
        (Source::Flagger, Request::Advance) => Ok(Ask::Gate(Gate::OpenPromotion)),
        (Source::Flagger, Request::Abort { .. }) => Ok(Ask::Gate(Gate::OpenRollback)),
        (Source::Flagger, Request::Retry | Request::Undo { .. } | Request::Start { .. }) => {
            refused(
                request.name(),
                "Flagger starts a new analysis when the target Deployment changes",
            )
        }
        (_, Request::TakeHelm) => refused(
            "take-helm",
            "its controller keeps the rollout's state, so there is no helm",
        ),
        (_, Request::Freeze { .. } | Request::Unfreeze) => refused(
            request.name(),
            "a freeze is kept by flightdeck's own rollouts; pause it instead",
        ),
    }
}

/// What the confirmation asks before a destructive request.
pub fn question(source: Source, request: &Request) -> String {
    match (source, request) {
        (Source::Argo, Request::PromoteFull) => {
            "Promote fully: skip the remaining steps, analysis and pauses (status.promoteFull)?"
                .into()
        }
        (Source::Argo, Request::Abort { .. }) => {
            "Abort: send all traffic back to stable (status.abort)?".into()
        }
        (Source::Argo, Request::Undo { revision: Some(r) }) => {
            format!("Undo the Rollout's template to revision {r}?")
        }
        (Source::Argo, Request::Undo { revision: None }) => {
            "Undo the Rollout's template to the previous revision?".into()
        }
        (Source::Flagger, Request::PromoteFull) => {
            "Promote now: skip the analysis (spec.skipAnalysis)?".into()
        }
        (Source::Flagger, Request::Abort { .. }) => {
            "Abort: open the loadtester's rollback gate?".into()
        }
        _ => request.question(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rollout::plan::RollbackMode;

    #[test]
    fn argo_keys_become_the_plugins_actions() {
        let a = |r: Request| of(Source::Argo, &r);
        assert_eq!(a(Request::Advance), Ok(Ask::Promote));
        assert_eq!(a(Request::PromoteFull), Ok(Ask::PromoteFull));
        assert_eq!(
            a(Request::Abort {
                mode: Some(RollbackMode::Gradual)
            }),
            Ok(Ask::Abort)
        );
        assert_eq!(
            a(Request::Undo { revision: Some(2) }),
            Ok(Ask::Undo(Some(2)))
        );
        assert_eq!(a(Request::Start { image: None }), Ok(Ask::Restart));
        assert_eq!(
            a(Request::Start {
                image: Some("c:2".into())
            }),
            Ok(Ask::SetImage("c:2".into()))
        );
        assert!(a(Request::TakeHelm).unwrap_err().contains("no helm"));
    }

    #[test]
    fn flagger_keys_become_spec_fields_and_gates() {
        let f = |r: Request| of(Source::Flagger, &r);
        assert_eq!(f(Request::Advance), Ok(Ask::Gate(Gate::OpenPromotion)));
        assert_eq!(
            f(Request::Abort { mode: None }),
            Ok(Ask::Gate(Gate::OpenRollback))
        );
        assert_eq!(f(Request::Pause), Ok(Ask::Pause));
        assert_eq!(
            f(Request::Retry),
            Err(
                "retry is not offered for a Flagger Canary: Flagger starts a new analysis \
                 when the target Deployment changes"
                    .into()
            )
        );
    }
}
