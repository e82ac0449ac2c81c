//! Where flightdeck keeps files, after the XDG base directory spec: user
//! themes and keymaps under the config folder, the audit file and flightdeck's
//! own log under the state folder. A relative `XDG_*` value is ignored, as the
//! spec asks; reading the environment is all this does.

use std::ffi::OsString;
use std::path::PathBuf;

/// `$XDG_CONFIG_HOME/flightdeck`, or `~/.config/flightdeck`.
pub fn config_dir() -> Option<PathBuf> {
    config_dir_from(|var| std::env::var_os(var))
}

/// `$XDG_STATE_HOME/flightdeck`, or `~/.local/state/flightdeck`.
pub fn state_dir() -> Option<PathBuf> {
    state_dir_from(|var| std::env::var_os(var))
}

pub fn config_dir_from(env: impl Fn(&str) -> Option<OsString>) -> Option<PathBuf> {
    base(&env, "XDG_CONFIG_HOME", ".config").map(|b| b.join("flightdeck"))
}

pub fn state_dir_from(env: impl Fn(&str) -> Option<OsString>) -> Option<PathBuf> {
    base(&env, "XDG_STATE_HOME", ".local/state").map(|b| b.join("flightdeck"))
}

fn base(env: &impl Fn(&str) -> Option<OsString>, var: &str, under_home: &str) -> Option<PathBuf> {
    let absolute = |name: &str| env(name).map(PathBuf::from).filter(|p| p.is_absolute());
    absolute(var).or_else(|| absolute("HOME").map(|home| home.join(under_home)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env<'a>(pairs: &'a [(&'a str, &'a str)]) -> impl Fn(&str) -> Option<OsString> + 'a {
        move |name| {
            pairs
                .iter()
                .find(|(k, _)| *k == name)
                .map(|(_, v)| OsString::from(v))
        }
    }

    #[test]
    fn xdg_wins_over_home() {
        let vars = [
            ("XDG_CONFIG_HOME", "/etc/xdg-c"),
            ("XDG_STATE_HOME", "/var/xdg-s"),
            ("HOME", "/home/ana"),
        ];
        assert_eq!(
            config_dir_from(env(&vars)),
            Some(PathBuf::from("/etc/xdg-c/flightdeck"))
        );
        assert_eq!(
            state_dir_from(env(&vars)),
            Some(PathBuf::from("/var/xdg-s/flightdeck"))
        );
    }

    #[test]
    fn a_relative_or_empty_xdg_value_is_ignored() {
        for value in ["relative/dir", ""] {
            let vars = [
                ("XDG_CONFIG_HOME", value),
                ("XDG_STATE_HOME", value),
                ("HOME", "/home/ana"),
            ];
            assert_eq!(
                config_dir_from(env(&vars)),
                Some(PathBuf::from("/home/ana/.config/flightdeck"))
            );
            assert_eq!(
                state_dir_from(env(&vars)),
                Some(PathBuf::from("/home/ana/.local/state/flightdeck"))
            );
        }
    }

    #[test]
    fn without_home_there_is_no_folder_not_the_current_one() {
        assert_eq!(state_dir_from(env(&[])), None);
        assert_eq!(state_dir_from(env(&[("XDG_STATE_HOME", "state")])), None);
        assert_eq!(config_dir_from(env(&[("HOME", "relative")])), None);
    }
}
