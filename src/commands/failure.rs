//! How a failed command ends: one line for a person (`error: what (why)`,
//! then a hint of the next command when there is one), a JSON object for a
//! script with `-o json`, and an exit code that says which kind of failure it
//! was, so a pipeline can tell "refused" from "cluster unreachable".
//!
//! The kind is read off the error chain: flightdeck's own typed errors first,
//! then what the Kubernetes API answered, then the operating system's errors.

use std::fmt::Write as _;
use std::path::Path;

use serde::Serialize;

use crate::config::source::FileError;
use crate::driver::DriveError;
use crate::driver::apply::ApplyError;
use crate::driver::store::StoreError;
use crate::sanitize::clean;

/// What kind of failure ended a command; each has its own exit code.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Kind {
    /// Anything not sorted below.
    Failed,
    /// The command line is wrong (clap's own errors exit with this code too).
    Usage,
    /// The request is understood and refused: the rollout's state does not
    /// allow it, `--read-only`, or a destructive step was not confirmed.
    Refused,
    /// A file, kubeconfig or cluster object named does not exist.
    NotFound,
    /// Someone else holds the helm, or the object changed under the write.
    Conflict,
    /// A wait or a request ran out of time.
    TimedOut,
    /// The cluster refused the credentials or the permission (401, 403).
    Forbidden,
    /// The cluster does not answer.
    Unreachable,
    /// A plan or other file is malformed; the message names file:line:col.
    Invalid,
}

impl Kind {
    /// The process exit code. `flightdeck run` also exits 0 (promoted),
    /// 3 (rolled back) and 4 (held), so the codes here go around those.
    pub fn code(self) -> u8 {
        match self {
            Kind::Failed => 1,
            Kind::Usage => 2,
            Kind::Refused => 5,
            Kind::NotFound => 6,
            Kind::Conflict => 7,
            Kind::TimedOut => 8,
            Kind::Forbidden => 9,
            Kind::Unreachable => 10,
            Kind::Invalid => 11,
        }
    }
}

/// The exit codes as `--help` lists them under every verb.
pub const EXIT_CODES: &str = "\
Exit codes:
  0   done (for `run`: promoted)
  1   failed for another reason
  2   usage: the command line is wrong
  3   `run`: rolled back
  4   `run`: held past --hold-deadline
  5   refused: the rollout's state, --read-only, or no confirmation
  6   not found: a file, the kubeconfig or a cluster object
  7   conflict: another cockpit holds the helm, or a write conflicted
  8   timed out
  9   forbidden: the cluster refused the credentials or the permission
  10  unreachable: the cluster does not answer
  11  invalid: a plan or other file is malformed (file:line:col)
Errors print one line on stderr (`error: what (why)`) and, with -o json, a
JSON object on stdout. FLIGHTDECK_DEBUG=1 prints the full report.";

/// An error a command raises itself, already sorted, with the next step.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct Stop {
    pub kind: Kind,
    pub message: String,
    pub hint: Option<String>,
}

impl Stop {
    pub fn new(kind: Kind, message: impl Into<String>) -> Self {
        Self {
            kind,
            message: message.into(),
            hint: None,
        }
    }

    #[must_use]
    pub fn hint(mut self, hint: impl Into<String>) -> Self {
        self.hint = Some(hint.into());
        self
    }
}

/// What the command was asked, for hints that name the next command.
#[derive(Debug, Clone, Default)]
pub struct Asked<'a> {
    pub plan: Option<&'a Path>,
}

/// A failure as it is shown: sorted, cleaned of terminal escapes, ready to
/// print as a line or as JSON.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Failure {
    pub message: String,
    pub causes: Vec<String>,
    pub hint: Option<String>,
    pub code: u8,
    pub kind: Kind,
}

impl Failure {
    /// Sorts an error chain: the first link that says what kind it is wins.
    pub fn of(error: &(dyn std::error::Error + 'static), asked: &Asked<'_>) -> Self {
        let mut chain: Vec<&(dyn std::error::Error + 'static)> = Vec::new();
        let mut next = Some(error);
        while let Some(e) = next {
            chain.push(e);
            next = e.source();
        }
        let (kind, hint) = chain
            .iter()
            .find_map(|e| sort(*e, asked))
            .unwrap_or((Kind::Failed, None));
        let hint = hint.or_else(|| chain.iter().find_map(|e| hint_of(*e, kind)));
        // kube prints an API error with its whole Status in Debug form; the
        // server's own message says the same in words.
        let shorter: Vec<(String, String)> = chain
            .iter()
            .filter_map(|e| match e.downcast_ref::<kube::Error>() {
                Some(kube::Error::Api(status)) if !status.message.is_empty() => {
                    Some((e.to_string(), status.message.clone()))
                }
                _ => None,
            })
            .collect();
        let say = |e: &dyn std::error::Error| {
            let mut text = e.to_string();
            for (long, short) in &shorter {
                text = text.replace(long.as_str(), short);
            }
            one_line(&text)
        };
        let message = say(error);
        let mut causes: Vec<String> = Vec::new();
        let mut said = message.clone();
        for e in &chain[1..] {
            let text = say(*e);
            // thiserror messages often repeat their source; say it once.
            if text.is_empty() || said.contains(&text) {
                continue;
            }
            said.clone_from(&text);
            causes.push(text);
        }
        Self {
            message,
            causes,
            hint,
            code: kind.code(),
            kind,
        }
    }

    /// From a color-eyre report (what the commands return).
    pub fn of_report(report: &color_eyre::eyre::Report, asked: &Asked<'_>) -> Self {
        Self::of(report.as_ref(), asked)
    }

    /// `what (why: deeper)`, without the `error:` label or the hint.
    pub fn summary(&self) -> String {
        if self.causes.is_empty() {
            self.message.clone()
        } else {
            format!("{} ({})", self.message, self.causes.join(": "))
        }
    }

    /// `error: what (why: deeper)` and, on a line of its own, the hint.
    pub fn text(&self, colour: bool) -> String {
        let (on, off) = if colour {
            ("\x1b[1;31m", "\x1b[0m")
        } else {
            ("", "")
        };
        let mut out = format!("{on}error:{off} {}", self.summary());
        if let Some(hint) = &self.hint {
            let (on, off) = if colour {
                ("\x1b[1m", "\x1b[0m")
            } else {
                ("", "")
            };
            let _ = write!(out, "\n{on}hint:{off} {hint}");
        }
        out
    }

    /// `{"error": {"message", "causes", "hint", "code", "kind"}}`.
    pub fn json(&self) -> String {
        serde_json::json!({ "error": self }).to_string()
    }
}

/// Error text may carry the cluster's words: no escapes, and one line.
fn one_line(text: &str) -> String {
    clean(&text.trim().replace(['\n', '\r'], " ")).into_owned()
}

/// Whether stderr should be coloured: a terminal, and `NO_COLOR` not set.
pub fn colour_stderr() -> bool {
    use std::io::IsTerminal;
    std::io::stderr().is_terminal() && !crate::config::theme::no_color_requested()
}

fn start_hint(asked: &Asked<'_>) -> String {
    let plan = asked
        .plan
        .map_or_else(|| "FILE".to_string(), |p| p.display().to_string());
    format!("run \"flightdeck start --plan {plan}\" first")
}

fn unfreeze_hint(asked: &Asked<'_>) -> String {
    let plan = asked
        .plan
        .map_or_else(|| "FILE".to_string(), |p| p.display().to_string());
    format!("when the incident is over: flightdeck unfreeze --plan {plan}")
}

/// The kind (and a hint) one link of the chain gives, if it says.
fn sort(
    e: &(dyn std::error::Error + 'static),
    asked: &Asked<'_>,
) -> Option<(Kind, Option<String>)> {
    if let Some(stop) = e.downcast_ref::<Stop>() {
        return Some((stop.kind, stop.hint.clone()));
    }
    if let Some(drive) = e.downcast_ref::<DriveError>() {
        return match drive {
            DriveError::ReadOnly => Some((
                Kind::Refused,
                Some("run it without --read-only to change the cluster".into()),
            )),
            DriveError::HelmHeld(_) => Some((
                Kind::Conflict,
                Some("pass --take-over to take the helm (the take-over is recorded)".into()),
            )),
            DriveError::Refused(r) => {
                let hint = if r.0.starts_with("frozen by ") {
                    Some(unfreeze_hint(asked))
                } else {
                    r.0.contains("has not started").then(|| start_hint(asked))
                };
                Some((Kind::Refused, hint))
            }
            DriveError::Preflight(_) => Some((
                Kind::NotFound,
                Some("check the plan's object names against the cluster (flightdeck status --plan FILE)".into()),
            )),
            // What went wrong underneath says more.
            _ => None,
        };
    }
    if let Some(apply) = e.downcast_ref::<ApplyError>() {
        return match apply {
            ApplyError::NotLanded { .. } => Some((Kind::TimedOut, None)),
            ApplyError::Contended { .. } => Some((Kind::Conflict, None)),
            _ => None,
        };
    }
    if let Some(StoreError::Conflict { .. }) = e.downcast_ref::<StoreError>() {
        return Some((Kind::Conflict, None));
    }
    if let Some(crate::workers::audit::AuditError::NoStateDir) =
        e.downcast_ref::<crate::workers::audit::AuditError>()
    {
        return Some((Kind::Usage, None));
    }
    if let Some(crate::cluster::client::ConnectError::NoConfig { .. }) =
        e.downcast_ref::<crate::cluster::client::ConnectError>()
    {
        return Some((Kind::NotFound, Some(KUBECONFIG_HINT.into())));
    }
    if let Some(file) = e.downcast_ref::<FileError>() {
        let missing = file.line == 0 && !file.path.exists();
        return Some(if missing {
            (
                Kind::NotFound,
                Some("check the path; example plans are in assets/plans/".into()),
            )
        } else {
            (Kind::Invalid, None)
        });
    }
    if let Some(kube::Error::Api(status)) = e.downcast_ref::<kube::Error>() {
        return Some(match status.code {
            401 | 403 => (
                Kind::Forbidden,
                Some(
                    "check the context's credentials and permissions (kubectl auth can-i --list)"
                        .into(),
                ),
            ),
            404 => (Kind::NotFound, None),
            409 => (Kind::Conflict, None),
            408 | 504 => (Kind::TimedOut, None),
            _ => (Kind::Failed, None),
        });
    }
    if e.downcast_ref::<tokio::time::error::Elapsed>().is_some() {
        return Some((Kind::TimedOut, None));
    }
    if let Some(io) = e.downcast_ref::<std::io::Error>() {
        use std::io::ErrorKind as K;
        return match io.kind() {
            K::ConnectionRefused
            | K::ConnectionReset
            | K::ConnectionAborted
            | K::HostUnreachable
            | K::NetworkUnreachable
            | K::AddrNotAvailable => Some((
                Kind::Unreachable,
                Some("check the kubeconfig's server and the network (flightdeck info)".into()),
            )),
            K::TimedOut => Some((Kind::TimedOut, None)),
            K::PermissionDenied => Some((Kind::Forbidden, None)),
            K::NotFound => Some((Kind::NotFound, None)),
            _ => None,
        };
    }
    None
}

const KUBECONFIG_HINT: &str =
    "pass --kubeconfig FILE or set KUBECONFIG (flightdeck info shows what is found)";

/// A hint from a link that does not decide the kind.
fn hint_of(e: &(dyn std::error::Error + 'static), kind: Kind) -> Option<String> {
    if kind == Kind::NotFound
        && e.downcast_ref::<crate::cluster::client::ConnectError>()
            .is_some()
    {
        return Some(KUBECONFIG_HINT.into());
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rollout::Refusal;

    fn failure(e: impl std::error::Error + Send + Sync + 'static) -> Failure {
        let report = color_eyre::eyre::Report::new(e);
        Failure::of_report(
            &report,
            &Asked {
                plan: Some(Path::new("plans/shop.toml")),
            },
        )
    }

    #[test]
    fn a_refusal_before_start_names_the_start_command() {
        let f = failure(DriveError::Refused(Refusal(
            "the rollout has not started".into(),
        )));
        assert_eq!(f.kind, Kind::Refused);
        assert_eq!(f.code, 5);
        assert_eq!(
            f.text(false),
            "error: refused: the rollout has not started\n\
             hint: run \"flightdeck start --plan plans/shop.toml\" first"
        );
    }

    #[test]
    fn causes_are_kept_once_and_the_line_is_plain_without_colour() {
        let report = color_eyre::eyre::Report::new(std::io::Error::new(
            std::io::ErrorKind::ConnectionRefused,
            "connection refused",
        ))
        .wrap_err("cannot reach the cluster: connection refused")
        .wrap_err("cannot connect to the cluster");
        let f = Failure::of_report(&report, &Asked::default());
        assert_eq!(f.kind, Kind::Unreachable);
        assert_eq!(f.code, 10);
        assert_eq!(
            f.causes,
            ["cannot reach the cluster: connection refused"],
            "{f:?}"
        );
        let text = f.text(false);
        assert!(text.starts_with(
            "error: cannot connect to the cluster (cannot reach the cluster: connection refused)\nhint: "
        ));
        assert!(!text.contains('\x1b'));
        assert!(f.text(true).contains("\x1b[1;31merror:\x1b[0m"));
    }

    #[test]
    fn json_has_every_field() {
        let f = failure(Stop::new(Kind::Usage, "no app").hint("pass --app NAME"));
        let v: serde_json::Value = serde_json::from_str(&f.json()).unwrap();
        assert_eq!(v["error"]["message"], "no app");
        assert_eq!(v["error"]["hint"], "pass --app NAME");
        assert_eq!(v["error"]["code"], 2);
        assert_eq!(v["error"]["kind"], "usage");
        assert_eq!(v["error"]["causes"], serde_json::json!([]));
    }

    #[test]
    fn a_missing_plan_is_not_found_and_a_bad_one_invalid() {
        let missing = failure(FileError::whole(
            Path::new("/nonexistent/plan.toml"),
            "cannot read the plan: No such file or directory (os error 2)",
        ));
        assert_eq!(missing.kind, Kind::NotFound);
        let dir = tempfile::tempdir().unwrap();
        let bad = failure(FileError {
            path: dir.path().to_path_buf(),
            line: 3,
            column: 7,
            message: "weight must be between 0 and 100".into(),
        });
        assert_eq!(bad.kind, Kind::Invalid);
        assert_eq!(bad.code, 11);
    }

    #[test]
    fn text_from_the_cluster_is_cleaned() {
        let f = failure(Stop::new(Kind::Failed, "bad \x1b]0;title\x07name"));
        assert!(!f.text(false).contains('\x1b'), "{:?}", f.text(false));
    }

    #[test]
    fn every_code_is_distinct_and_listed() {
        let kinds = [
            Kind::Failed,
            Kind::Usage,
            Kind::Refused,
            Kind::NotFound,
            Kind::Conflict,
            Kind::TimedOut,
            Kind::Forbidden,
            Kind::Unreachable,
            Kind::Invalid,
        ];
        let mut codes: Vec<u8> = kinds.iter().map(|k| k.code()).collect();
        codes.sort_unstable();
        codes.dedup();
        assert_eq!(codes.len(), kinds.len());
        for code in codes {
            assert!(
                EXIT_CODES.contains(&format!("\n  {code} ")),
                "{code} missing from the help"
            );
        }
    }
}
