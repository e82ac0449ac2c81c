//! The audit file: one JSON object per line, appended and fsync'd before the
//! action is reported done, so the record survives a crash right after it.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};

use serde::Serialize;

#[derive(Debug, thiserror::Error)]
pub enum AuditError {
    #[error("cannot open the audit file {path}: {source}")]
    Open {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot write the audit file {path}: {source}")]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot encode an audit record: {0}")]
    Encode(#[from] serde_json::Error),
    #[error(
        "no folder for the audit file (HOME is not set and XDG_STATE_HOME is not an absolute path): pass --audit FILE"
    )]
    NoStateDir,
}

/// Who did something: the cluster identity and the person at the keyboard.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct Actor {
    /// The kubeconfig user of the context in use.
    pub kube_user: String,
    /// The operating-system user running flightdeck.
    pub os_user: String,
    pub host: String,
}

impl Actor {
    pub fn current(kube_user: &str) -> Self {
        let os_user = ["USER", "LOGNAME", "USERNAME"]
            .iter()
            .find_map(|v| std::env::var(v).ok().filter(|s| !s.is_empty()))
            .or_else(system_user)
            .unwrap_or_else(|| "unknown".into());
        let host = std::env::var("HOSTNAME")
            .ok()
            .filter(|s| !s.is_empty())
            .or_else(|| {
                std::fs::read_to_string("/etc/hostname")
                    .ok()
                    .map(|s| s.trim().to_string())
            })
            .filter(|s| !s.is_empty())
            .unwrap_or_else(|| "localhost".into());
        Self {
            kube_user: kube_user.to_string(),
            os_user,
            host,
        }
    }

    /// How a Lease names this cockpit: the person, the machine and the process,
    /// so two cockpits of one person are still told apart.
    pub fn identity(&self) -> String {
        format!("{}@{}#{}", self.os_user, self.host, std::process::id())
    }
}

/// The user running this process as the system knows it, for containers and
/// CI jobs that set no `$USER`: the owner of `/proc/self` looked up in
/// `/etc/passwd`, or `uid-N` when the uid has no entry there.
#[cfg(unix)]
fn system_user() -> Option<String> {
    use std::os::unix::fs::MetadataExt;
    let uid = std::fs::metadata("/proc/self").ok()?.uid();
    let passwd = std::fs::read_to_string("/etc/passwd").unwrap_or_default();
    Some(passwd_name(&passwd, uid).unwrap_or_else(|| format!("uid-{uid}")))
}

#[cfg(not(unix))]
fn system_user() -> Option<String> {
    None
}

/// The name of `uid` in an `/etc/passwd` text (`name:x:uid:gid:…`).
fn passwd_name(passwd: &str, uid: u32) -> Option<String> {
    passwd.lines().find_map(|line| {
        let mut fields = line.split(':');
        let name = fields.next()?;
        let id: u32 = fields.nth(1)?.parse().ok()?;
        (id == uid && !name.is_empty() && !line.starts_with('#')).then(|| name.to_string())
    })
}

/// An append-only JSONL file.
pub struct AuditLog {
    file: File,
    path: PathBuf,
}

impl AuditLog {
    /// Opens (creating it and its folder) the audit file for appending.
    pub fn open(path: &Path) -> Result<Self, AuditError> {
        let open_err = |source| AuditError::Open {
            path: path.to_path_buf(),
            source,
        };
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(open_err)?;
        }
        let file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .map_err(open_err)?;
        Ok(Self {
            file,
            path: path.to_path_buf(),
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Appends one record as one line and waits until it is on disk.
    pub fn append<T: Serialize>(&mut self, record: &T) -> Result<(), AuditError> {
        let mut line = serde_json::to_vec(record)?;
        line.push(b'\n');
        let write_err = |source| AuditError::Write {
            path: self.path.clone(),
            source,
        };
        // One write call per record keeps lines whole when two cockpits append.
        self.file.write_all(&line).map_err(write_err)?;
        self.file.sync_data().map_err(write_err)
    }
}

/// `$XDG_STATE_HOME/flightdeck/audit.jsonl`, or `~/.local/state/flightdeck/audit.jsonl`.
/// Without either there is no safe default: the current folder would scatter
/// audit files wherever flightdeck happens to be started.
pub fn default_path() -> Result<PathBuf, AuditError> {
    crate::config::dirs::state_dir()
        .map(|dir| dir.join("audit.jsonl"))
        .ok_or(AuditError::NoStateDir)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_uid_is_named_from_the_passwd_file() {
        let passwd =
            "# users\nroot:x:0:0:root:/root:/bin/bash\nci:x:1001:1001::/home/ci:/bin/sh\nbroken\n";
        assert_eq!(passwd_name(passwd, 0).as_deref(), Some("root"));
        assert_eq!(passwd_name(passwd, 1001).as_deref(), Some("ci"));
        assert_eq!(passwd_name(passwd, 1002), None);
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn the_system_names_the_current_user() {
        let name = system_user().unwrap();
        assert!(!name.is_empty() && name != "unknown", "{name}");
    }
    use serde_json::json;

    #[test]
    fn appends_one_line_per_record() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("nested/audit.jsonl");
        let mut log = AuditLog::open(&path).unwrap();
        log.append(&json!({"action": "advance", "to": 25})).unwrap();
        log.append(&json!({"action": "pause"})).unwrap();
        drop(log);
        let mut log = AuditLog::open(&path).unwrap();
        log.append(&json!({"action": "resume"})).unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        let actions: Vec<String> = text
            .lines()
            .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap()["action"].to_string())
            .collect();
        assert_eq!(actions, ["\"advance\"", "\"pause\"", "\"resume\""]);
    }

    #[test]
    fn identity_names_person_machine_and_process() {
        let a = Actor {
            kube_user: "flightdeck-sim".into(),
            os_user: "ana".into(),
            host: "laptop".into(),
        };
        assert!(a.identity().starts_with("ana@laptop#"));
    }
}
