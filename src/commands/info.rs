//! `flightdeck info`: what this flightdeck is and what it would use: version
//! and commit, the folders and files, the theme and keymap in effect and
//! where each came from, the context, and whether the cluster answers.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::time::Duration;

use color_eyre::eyre::Result;
use serde::Serialize;

use crate::cli::{InfoArgs, Output};
use crate::cluster::client;
use crate::config::{dirs, keymap, theme};
use crate::sanitize::clean;

/// How long the cluster has to answer before info says it does not.
const CLUSTER_TIMEOUT: Duration = Duration::from_secs(5);

#[derive(Debug, Serialize)]
pub struct Info {
    pub version: String,
    pub commit: String,
    pub config_dir: Option<PathBuf>,
    pub themes_dir: Option<PathBuf>,
    pub keymaps_dir: Option<PathBuf>,
    pub state_dir: Option<PathBuf>,
    /// The default audit file.
    pub audit_file: Option<PathBuf>,
    /// Why there is no default audit file.
    pub audit_error: Option<String>,
    /// Where the cockpit keeps its own log by default.
    pub log_file: Option<PathBuf>,
    /// `FLIGHTDECK_LOG`, the tracing filter, when set.
    pub log_filter: Option<String>,
    pub theme: Look,
    pub keymap: Look,
    pub cluster: Cluster,
}

/// A theme or keymap: its name, where it comes from, what went wrong.
#[derive(Debug, Serialize)]
pub struct Look {
    pub name: String,
    /// `shipped`, `user` (a user file alone) or `user-over-shipped`.
    pub source: String,
    pub file: Option<PathBuf>,
    pub warnings: Vec<String>,
}

#[derive(Debug, Default, Serialize)]
pub struct Cluster {
    pub context: Option<String>,
    pub namespace: Option<String>,
    pub user: Option<String>,
    pub server: Option<String>,
    pub answers: bool,
    /// The API server's version when it answers.
    pub version: Option<String>,
    /// Why it could not be reached, when it does not answer.
    pub error: Option<String>,
}

pub async fn run(args: InfoArgs) -> Result<()> {
    let info = gather(&args).await;
    if args.output == Output::Json {
        println!("{}", serde_json::to_string_pretty(&info)?);
    } else {
        print!("{}", text(&info));
    }
    Ok(())
}

pub async fn gather(args: &InfoArgs) -> Info {
    let config_dir = dirs::config_dir();
    let state_dir = dirs::state_dir();
    let themes = theme::load_theme(&args.look.theme, config_dir.as_deref(), false);
    let keymaps = keymap::load_keymap(&args.look.keymap, config_dir.as_deref());
    let audit = crate::workers::audit::default_path();
    Info {
        version: crate::build_info::VERSION.to_string(),
        commit: crate::build_info::COMMIT.to_string(),
        themes_dir: config_dir.as_ref().map(|d| d.join("themes")),
        keymaps_dir: config_dir.as_ref().map(|d| d.join("keymaps")),
        theme: look(
            &args.look.theme,
            config_dir.as_deref(),
            "themes",
            theme::PRESETS,
            themes.warnings,
        ),
        keymap: look(
            &args.look.keymap,
            config_dir.as_deref(),
            "keymaps",
            keymap::PRESETS,
            keymaps.warnings,
        ),
        config_dir,
        audit_file: audit.as_ref().ok().cloned(),
        audit_error: audit.err().map(|e| e.to_string()),
        log_file: crate::commands::logfile::default_path(),
        state_dir,
        log_filter: std::env::var("FLIGHTDECK_LOG").ok(),
        cluster: cluster(args).await,
    }
}

fn look(
    name: &str,
    config_dir: Option<&Path>,
    folder: &str,
    presets: &[(&str, &str)],
    warnings: Vec<String>,
) -> Look {
    let file = config_dir
        .map(|d| d.join(folder).join(format!("{name}.toml")))
        .filter(|p| p.is_file());
    let shipped = presets.iter().any(|(n, _)| *n == name);
    let source = match (&file, shipped) {
        (Some(_), true) => "user-over-shipped",
        (Some(_), false) => "user",
        (None, true) => "shipped",
        (None, false) => "missing",
    };
    Look {
        name: name.to_string(),
        source: source.to_string(),
        file,
        warnings,
    }
}

async fn cluster(args: &InfoArgs) -> Cluster {
    let connect = client::connect(
        args.cluster.kubeconfig.as_deref(),
        args.cluster.context.as_deref(),
    );
    let (client, found) = match tokio::time::timeout(CLUSTER_TIMEOUT, connect).await {
        Ok(Ok(pair)) => pair,
        Ok(Err(e)) => {
            return Cluster {
                error: Some(said(&e)),
                ..Cluster::default()
            };
        }
        Err(_) => {
            return Cluster {
                error: Some(format!("no answer within {}s", CLUSTER_TIMEOUT.as_secs())),
                ..Cluster::default()
            };
        }
    };
    let mut out = Cluster {
        context: Some(found.context),
        namespace: Some(found.namespace),
        user: Some(clean(&found.user).into_owned()),
        server: Some(found.server),
        ..Cluster::default()
    };
    match tokio::time::timeout(CLUSTER_TIMEOUT, client.apiserver_version()).await {
        Ok(Ok(v)) => {
            out.answers = true;
            out.version = Some(clean(&v.git_version).into_owned());
        }
        Ok(Err(e)) => out.error = Some(said(&e)),
        Err(_) => out.error = Some(format!("no answer within {}s", CLUSTER_TIMEOUT.as_secs())),
    }
    out
}

/// An error with its causes, cleaned, on one line.
fn said(e: &(dyn std::error::Error + 'static)) -> String {
    crate::commands::failure::Failure::of(e, &crate::commands::failure::Asked::default()).summary()
}

fn path(p: Option<&PathBuf>) -> String {
    p.map_or_else(
        || "(none: HOME is not set)".to_string(),
        |p| p.display().to_string(),
    )
}

fn look_text(l: &Look) -> String {
    let from = match (l.source.as_str(), &l.file) {
        ("user-over-shipped", Some(f)) => format!("user file {} over the shipped one", f.display()),
        ("user", Some(f)) => format!("user file {}", f.display()),
        ("shipped", _) => "shipped".to_string(),
        _ => "not found".to_string(),
    };
    let mut out = format!("{} ({from})", l.name);
    for w in &l.warnings {
        let _ = write!(out, "; {w}");
    }
    out
}

/// The text `flightdeck info` prints: one `name  value` line each.
pub fn text(info: &Info) -> String {
    let c = &info.cluster;
    let or_none = |v: &Option<String>| v.clone().unwrap_or_else(|| "-".into());
    let answers = if c.answers {
        format!("answers ({})", or_none(&c.version))
    } else {
        format!("does not answer: {}", or_none(&c.error))
    };
    let audit = match (&info.audit_file, &info.audit_error) {
        (Some(p), _) => p.display().to_string(),
        (None, e) => or_none(e),
    };
    let rows = [
        ("version", info.version.clone()),
        ("config", path(info.config_dir.as_ref())),
        ("themes", path(info.themes_dir.as_ref())),
        ("keymaps", path(info.keymaps_dir.as_ref())),
        ("state", path(info.state_dir.as_ref())),
        ("audit file", audit),
        ("log file", path(info.log_file.as_ref())),
        (
            "log filter",
            info.log_filter.clone().map_or_else(
                || "info (FLIGHTDECK_LOG unset)".into(),
                |f| format!("FLIGHTDECK_LOG={f}"),
            ),
        ),
        ("theme", look_text(&info.theme)),
        ("keymap", look_text(&info.keymap)),
        ("context", or_none(&c.context)),
        ("namespace", or_none(&c.namespace)),
        ("user", or_none(&c.user)),
        ("server", or_none(&c.server)),
        ("cluster", answers),
    ];
    let mut out = String::new();
    for (name, value) in rows {
        let _ = writeln!(out, "{name:<11} {value}");
    }
    out
}
