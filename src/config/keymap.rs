//! Keymaps: which keys run which [`Action`], per focus layer.
//!
//! A keymap file has one table per layer (`[global]`, `[pods]`, `[logs]`, …,
//! `[search]` for the search input, `[help]` for the overlay), each with
//! `keymap = [{ on = "j", run = "scroll-down", desc = "…" }]`. `on` is a key or
//! a sequence of keys (`["g", "g"]`). A user file replaces a layer with
//! `keymap` or adds to it with `prepend_keymap` / `append_keymap`; the focused
//! layer is tried first, then `[global]`.

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};

use serde::Deserialize;
use toml::Spanned;

use super::source::{FileError, parse_toml};
use crate::app::Action;
use crate::app::state::{KeyHelp, KeyHint, Layer};

/// Shipped keymaps, embedded in the binary.
pub const PRESETS: &[(&str, &str)] = &[
    ("default", include_str!("../../keymaps/default.toml")),
    ("vim", include_str!("../../keymaps/vim.toml")),
];

/// A key as keymaps name it, independent of the terminal library.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum KeyCode {
    Char(char),
    Enter,
    Esc,
    Tab,
    BackTab,
    Backspace,
    Delete,
    Up,
    Down,
    Left,
    Right,
    Home,
    End,
    PageUp,
    PageDown,
    F(u8),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Key {
    pub code: KeyCode,
    pub ctrl: bool,
    pub alt: bool,
}

impl Key {
    pub const fn plain(code: KeyCode) -> Key {
        Key {
            code,
            ctrl: false,
            alt: false,
        }
    }

    pub const fn char(c: char) -> Key {
        Key::plain(KeyCode::Char(c))
    }
}

const NAMED: &[(&str, KeyCode)] = &[
    ("Enter", KeyCode::Enter),
    ("Esc", KeyCode::Esc),
    ("Tab", KeyCode::Tab),
    ("BackTab", KeyCode::BackTab),
    ("Backspace", KeyCode::Backspace),
    ("Delete", KeyCode::Delete),
    ("Up", KeyCode::Up),
    ("Down", KeyCode::Down),
    ("Left", KeyCode::Left),
    ("Right", KeyCode::Right),
    ("Home", KeyCode::Home),
    ("End", KeyCode::End),
    ("PageUp", KeyCode::PageUp),
    ("PageDown", KeyCode::PageDown),
    ("Space", KeyCode::Char(' ')),
    ("lt", KeyCode::Char('<')),
];

impl std::str::FromStr for Key {
    type Err = String;

    /// `j`, `G`, `?`, `<Enter>`, `<C-c>`, `<A-x>`, `<S-Tab>`, `<F1>`, `<Space>`, `<lt>`.
    fn from_str(s: &str) -> Result<Key, String> {
        let mut chars = s.chars();
        if let (Some(c), None) = (chars.next(), chars.next()) {
            return Ok(Key::char(c));
        }
        let inner = s
            .strip_prefix('<')
            .and_then(|s| s.strip_suffix('>'))
            .ok_or_else(|| {
                format!("invalid key `{s}`; expected one character or a name like <Enter> or <C-c>")
            })?;
        let mut key = Key::char(' ');
        let mut shift = false;
        let mut rest = inner;
        while let Some((prefix, tail)) = rest
            .split_once('-')
            .filter(|(p, t)| p.len() == 1 && !t.is_empty())
        {
            match prefix {
                "C" => key.ctrl = true,
                "A" | "M" => key.alt = true,
                "S" => shift = true,
                _ => {
                    return Err(format!(
                        "invalid modifier `{prefix}` in `{s}`; expected C, A or S"
                    ));
                }
            }
            rest = tail;
        }
        let mut rest_chars = rest.chars();
        key.code = if let (Some(c), None) = (rest_chars.next(), rest_chars.next()) {
            KeyCode::Char(if shift { c.to_ascii_uppercase() } else { c })
        } else if let Some(n) = rest.strip_prefix('F').and_then(|n| n.parse::<u8>().ok()) {
            KeyCode::F(n)
        } else {
            let code = NAMED
                .iter()
                .find(|(n, _)| n.eq_ignore_ascii_case(rest))
                .map(|(_, c)| *c)
                .ok_or_else(|| format!("unknown key name `{rest}` in `{s}`"))?;
            if shift && code == KeyCode::Tab {
                KeyCode::BackTab
            } else {
                code
            }
        };
        Ok(key)
    }
}

impl fmt::Display for Key {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let name = match self.code {
            KeyCode::Char(' ') => "Space".to_string(),
            KeyCode::Char('<') => "lt".to_string(),
            KeyCode::Char(c) => c.to_string(),
            KeyCode::F(n) => format!("F{n}"),
            KeyCode::BackTab => "S-Tab".to_string(),
            code => NAMED
                .iter()
                .find(|(_, c)| *c == code)
                .map_or("?", |(n, _)| n)
                .to_string(),
        };
        let plain_char = matches!(self.code, KeyCode::Char(c) if c != ' ' && c != '<');
        if !self.ctrl && !self.alt && plain_char {
            return f.write_str(&name);
        }
        f.write_str("<")?;
        if self.ctrl {
            f.write_str("C-")?;
        }
        if self.alt {
            f.write_str("A-")?;
        }
        write!(f, "{name}>")
    }
}

/// One binding: a key sequence, the action it runs, and what help says about it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Binding {
    pub on: Vec<Key>,
    pub run: Action,
    pub desc: String,
}

impl Binding {
    pub fn keys_label(&self) -> String {
        self.on
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join(" ")
    }
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Keymap {
    layers: BTreeMap<Layer, Vec<Binding>>,
}

#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum OnSpec {
    One(String),
    Seq(Vec<String>),
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct EntryFile {
    on: Spanned<OnSpec>,
    run: Spanned<String>,
    #[serde(default)]
    desc: String,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct LayerFile {
    keymap: Option<Vec<EntryFile>>,
    #[serde(default)]
    prepend_keymap: Vec<EntryFile>,
    #[serde(default)]
    append_keymap: Vec<EntryFile>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct KeymapFile {
    inherits: Option<Spanned<String>>,
    global: Option<LayerFile>,
    pods: Option<LayerFile>,
    traffic: Option<LayerFile>,
    metrics: Option<LayerFile>,
    logs: Option<LayerFile>,
    events: Option<LayerFile>,
    stages: Option<LayerFile>,
    search: Option<LayerFile>,
    help: Option<LayerFile>,
    dialog: Option<LayerFile>,
    prompt: Option<LayerFile>,
    fleet: Option<LayerFile>,
    #[serde(rename = "fleet-filter")]
    fleet_filter: Option<LayerFile>,
}

impl KeymapFile {
    fn layer(&self, layer: Layer) -> Option<&LayerFile> {
        match layer {
            Layer::Global => self.global.as_ref(),
            Layer::Pods => self.pods.as_ref(),
            Layer::Traffic => self.traffic.as_ref(),
            Layer::Metrics => self.metrics.as_ref(),
            Layer::Logs => self.logs.as_ref(),
            Layer::Events => self.events.as_ref(),
            Layer::Stages => self.stages.as_ref(),
            Layer::Search => self.search.as_ref(),
            Layer::Help => self.help.as_ref(),
            Layer::Dialog => self.dialog.as_ref(),
            Layer::Prompt => self.prompt.as_ref(),
            Layer::Fleet => self.fleet.as_ref(),
            Layer::FleetFilter => self.fleet_filter.as_ref(),
        }
    }
}

fn convert(path: &Path, text: &str, entries: &[EntryFile]) -> Result<Vec<Binding>, FileError> {
    entries
        .iter()
        .map(|entry| {
            let run = Action::from_name(entry.run.get_ref()).ok_or_else(|| {
                let names: Vec<&str> = Action::ALL.iter().map(|a| a.name()).collect();
                FileError::at_span(
                    path,
                    text,
                    &entry.run.span(),
                    format!(
                        "unknown action `{}`; expected one of: {}",
                        entry.run.get_ref(),
                        names.join(", ")
                    ),
                )
            })?;
            let strings = match entry.on.get_ref() {
                OnSpec::One(s) => std::slice::from_ref(s),
                OnSpec::Seq(v) => v.as_slice(),
            };
            if strings.is_empty() {
                return Err(FileError::at_span(
                    path,
                    text,
                    &entry.on.span(),
                    "empty key sequence; expected at least one key",
                ));
            }
            let on = strings
                .iter()
                .map(|s| s.parse::<Key>())
                .collect::<Result<Vec<_>, _>>()
                .map_err(|m| FileError::at_span(path, text, &entry.on.span(), m))?;
            Ok(Binding {
                on,
                run,
                desc: entry.desc.clone(),
            })
        })
        .collect()
}

impl Keymap {
    /// Applies one file over this keymap: `keymap` replaces a layer, the others add to it.
    fn layer_file(&mut self, path: &Path, text: &str, file: &KeymapFile) -> Result<(), FileError> {
        for layer in Layer::ALL {
            let Some(lf) = file.layer(layer) else {
                continue;
            };
            let bindings = self.layers.entry(layer).or_default();
            if let Some(replace) = &lf.keymap {
                *bindings = convert(path, text, replace)?;
            }
            let mut front = convert(path, text, &lf.prepend_keymap)?;
            front.append(bindings);
            front.extend(convert(path, text, &lf.append_keymap)?);
            *bindings = front;
        }
        Ok(())
    }

    pub fn preset(name: &str) -> Option<Keymap> {
        let mut keymap = Keymap::default();
        apply_preset(&mut keymap, name, 0).ok()?;
        Some(keymap)
    }

    pub fn bindings(&self, layer: Layer) -> &[Binding] {
        self.layers.get(&layer).map_or(&[], Vec::as_slice)
    }

    /// What the footer and help overlay show.
    pub fn help(&self) -> KeyHelp {
        let mut help = KeyHelp::default();
        for (layer, bindings) in &self.layers {
            let hints = bindings
                .iter()
                .filter(|b| !b.desc.is_empty())
                .map(|b| KeyHint {
                    keys: b.keys_label(),
                    desc: b.desc.clone(),
                })
                .collect();
            help.layers.insert(*layer, hints);
        }
        help
    }

    /// Every binding tried for `layer`, in order.
    fn chain(&self, layer: Layer) -> impl Iterator<Item = &Binding> {
        let fallback = if layer.falls_back() {
            self.bindings(Layer::Global)
        } else {
            &[]
        };
        self.bindings(layer).iter().chain(fallback)
    }
}

fn preset_text(name: &str) -> Option<&'static str> {
    PRESETS.iter().find(|(n, _)| *n == name).map(|(_, t)| *t)
}

fn apply_preset(keymap: &mut Keymap, name: &str, depth: usize) -> Result<(), FileError> {
    let path = PathBuf::from(format!("keymaps/{name}.toml"));
    let text = preset_text(name).ok_or_else(|| {
        let known: Vec<&str> = PRESETS.iter().map(|(n, _)| *n).collect();
        FileError::whole(
            Path::new(name),
            format!(
                "unknown keymap; expected one of {} or a file in the keymaps folder",
                known.join(", ")
            ),
        )
    })?;
    let file: KeymapFile = parse_toml(&path, text)?;
    if let Some(parent) = &file.inherits {
        if depth > 4 || parent.get_ref() == name {
            return Err(FileError::at_span(
                &path,
                text,
                &parent.span(),
                "keymaps inherit in a loop",
            ));
        }
        apply_preset(keymap, parent.get_ref(), depth + 1)?;
    }
    keymap.layer_file(&path, text, &file)
}

/// A keymap plus what went wrong finding it, for the header to show.
#[derive(Debug, Clone)]
pub struct KeymapLoad {
    pub keymap: Keymap,
    pub warnings: Vec<String>,
}

/// Loads keymap `name`: a user file in `config_dir/keymaps/` layered over the
/// preset of that name (or the one it `inherits`, or `default`).
pub fn load_keymap(name: &str, config_dir: Option<&Path>) -> KeymapLoad {
    let user = config_dir
        .map(|d| d.join("keymaps").join(format!("{name}.toml")))
        .filter(|p| p.is_file());
    let result = if let Some(path) = &user {
        std::fs::read_to_string(path)
            .map_err(|e| FileError::whole(path, format!("cannot read: {e}")))
            .and_then(|text| {
                check_keymap_file(path, &text, preset_text(name).map_or("default", |_| name))
            })
    } else {
        let mut keymap = Keymap::default();
        apply_preset(&mut keymap, name, 0).map(|()| keymap)
    };
    match result {
        Ok(keymap) => KeymapLoad {
            keymap,
            warnings: Vec::new(),
        },
        Err(e) => {
            let fallback = if preset_text(name).is_some() {
                name
            } else {
                "default"
            };
            KeymapLoad {
                keymap: Keymap::preset(fallback).unwrap_or_default(),
                warnings: vec![
                    e.to_string(),
                    format!("using the built-in {fallback} keymap"),
                ],
            }
        }
    }
}

/// Parses a user keymap file over `base` (or the preset it `inherits`).
pub fn check_keymap_file(path: &Path, text: &str, base: &str) -> Result<Keymap, FileError> {
    let file: KeymapFile = parse_toml(path, text)?;
    let mut keymap = Keymap::default();
    match &file.inherits {
        Some(parent) => apply_preset(&mut keymap, parent.get_ref(), 1).map_err(|_| {
            FileError::at_span(
                path,
                text,
                &parent.span(),
                format!("unknown keymap `{}` to inherit from", parent.get_ref()),
            )
        })?,
        None => apply_preset(&mut keymap, base, 0)?,
    }
    keymap.layer_file(path, text, &file)?;
    Ok(keymap)
}

/// What a key did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Matched {
    Action(Action),
    /// The start of a longer sequence: wait for the next key.
    Pending,
    /// No binding; an input may take it as text.
    Unbound,
}

/// Follows key sequences (`g g`) across key presses.
#[derive(Debug, Clone, Default)]
pub struct KeyMatcher {
    pending: Vec<Key>,
}

impl KeyMatcher {
    pub fn pending(&self) -> &[Key] {
        &self.pending
    }

    pub fn feed(&mut self, keymap: &Keymap, layer: Layer, key: Key) -> Matched {
        self.pending.push(key);
        let mut prefix = false;
        for binding in keymap.chain(layer) {
            if binding.on == self.pending {
                self.pending.clear();
                return Matched::Action(binding.run);
            }
            prefix |= binding.on.starts_with(&self.pending);
        }
        if prefix {
            return Matched::Pending;
        }
        // A broken sequence: the last key may still start or be a binding alone.
        let retry = self.pending.len() > 1;
        self.pending.clear();
        if retry {
            self.feed(keymap, layer, key)
        } else {
            Matched::Unbound
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_parse_and_print_back() {
        for s in [
            "j",
            "G",
            "?",
            "<Enter>",
            "<C-c>",
            "<A-x>",
            "<S-Tab>",
            "<F5>",
            "<Space>",
            "<lt>",
            "<PageDown>",
        ] {
            let key: Key = s.parse().unwrap();
            assert_eq!(key.to_string(), s);
        }
        assert_eq!(
            "<C-d>".parse::<Key>().unwrap(),
            Key {
                code: KeyCode::Char('d'),
                ctrl: true,
                alt: false
            }
        );
        assert!("<Hyper-x>".parse::<Key>().is_err());
        assert!("jj".parse::<Key>().is_err());
    }

    #[test]
    fn presets_load() {
        for (name, _) in PRESETS {
            let load = load_keymap(name, None);
            assert!(load.warnings.is_empty(), "{name}: {:?}", load.warnings);
            assert!(!load.keymap.bindings(Layer::Global).is_empty());
        }
    }

    #[test]
    fn sequences_wait_for_their_second_key() {
        let text = "[logs]\nkeymap = [{ on = [\"g\", \"g\"], run = \"scroll-top\" }, { on = \"G\", run = \"scroll-bottom\" }]\n[global]\nkeymap = [{ on = \"q\", run = \"quit\" }]\n";
        let km = check_keymap_file(Path::new("k.toml"), text, "default").unwrap();
        let mut m = KeyMatcher::default();
        assert_eq!(m.feed(&km, Layer::Logs, Key::char('g')), Matched::Pending);
        assert_eq!(
            m.feed(&km, Layer::Logs, Key::char('g')),
            Matched::Action(Action::ScrollTop)
        );
        assert_eq!(m.feed(&km, Layer::Logs, Key::char('g')), Matched::Pending);
        assert_eq!(
            m.feed(&km, Layer::Logs, Key::char('q')),
            Matched::Action(Action::Quit)
        );
        assert!(m.pending().is_empty());
    }

    #[test]
    fn focused_layer_wins_over_global_and_search_does_not_fall_back() {
        let km = Keymap::preset("default").unwrap();
        let mut m = KeyMatcher::default();
        assert_eq!(
            m.feed(&km, Layer::Pods, Key::char('q')),
            Matched::Action(Action::Quit)
        );
        assert_eq!(m.feed(&km, Layer::Search, Key::char('q')), Matched::Unbound);
        assert_eq!(
            m.feed(&km, Layer::Search, Key::plain(KeyCode::Enter)),
            Matched::Action(Action::SearchSubmit)
        );
    }

    #[test]
    fn unknown_action_is_located_and_lists_valid_names() {
        let text = "[pods]\nkeymap = [\n  { on = \"x\", run = \"explode\", desc = \"boom\" },\n]\n";
        let err = check_keymap_file(Path::new("mine.toml"), text, "default").unwrap_err();
        assert_eq!((err.line, err.column), (3, 21));
        assert!(
            err.to_string().starts_with(
                "mine.toml:3:21: unknown action `explode`; expected one of: quit, help,"
            ),
            "{err}"
        );
    }

    #[test]
    fn the_fleet_has_its_keys_in_every_preset() {
        for (name, _) in PRESETS {
            let km = Keymap::preset(name).unwrap();
            let mut m = KeyMatcher::default();
            for (layer, key, action) in [
                (Layer::Fleet, Key::plain(KeyCode::Enter), Action::FleetOpen),
                (Layer::Fleet, Key::char('/'), Action::FleetFilter),
                (Layer::Fleet, Key::char('s'), Action::FleetSort),
                (Layer::Fleet, Key::char('q'), Action::Quit),
                (
                    Layer::FleetFilter,
                    Key::plain(KeyCode::Esc),
                    Action::SearchCancel,
                ),
                (
                    Layer::FleetFilter,
                    Key::plain(KeyCode::Enter),
                    Action::SearchSubmit,
                ),
            ] {
                assert_eq!(m.feed(&km, layer, key), Matched::Action(action), "{name}");
            }
            // Typed text is the filter's, never a command.
            assert_eq!(
                m.feed(&km, Layer::FleetFilter, Key::char('q')),
                Matched::Unbound
            );
        }
        let vim = Keymap::preset("vim").unwrap();
        let mut m = KeyMatcher::default();
        assert_eq!(
            m.feed(&vim, Layer::Fleet, Key::char('j')),
            Matched::Action(Action::ScrollDown)
        );
    }

    #[test]
    fn bad_key_is_located() {
        let text = "[global]\nprepend_keymap = [{ on = \"<Hyper-q>\", run = \"quit\" }]\n";
        let err = check_keymap_file(Path::new("k.toml"), text, "default").unwrap_err();
        assert_eq!(err.line, 2);
        assert_eq!(err.message, "unknown key name `Hyper-q` in `<Hyper-q>`");
    }

    #[test]
    fn user_file_prepends_and_appends() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("keymaps")).unwrap();
        std::fs::write(
            dir.path().join("keymaps/default.toml"),
            "[logs]\nprepend_keymap = [{ on = \"x\", run = \"log-clear-filter\", desc = \"Clear\" }]\nappend_keymap = [{ on = \"<F2>\", run = \"log-wrap\" }]\n",
        )
        .unwrap();
        let load = load_keymap("default", Some(dir.path()));
        assert!(load.warnings.is_empty(), "{:?}", load.warnings);
        let logs = load.keymap.bindings(Layer::Logs);
        assert_eq!(logs.first().unwrap().run, Action::LogClearFilter);
        assert_eq!(logs.last().unwrap().run, Action::LogWrap);
        let preset = Keymap::preset("default").unwrap();
        assert_eq!(logs.len(), preset.bindings(Layer::Logs).len() + 2);
    }

    #[test]
    fn bad_user_file_falls_back_with_warning() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("keymaps")).unwrap();
        std::fs::write(
            dir.path().join("keymaps/vim.toml"),
            "[pods]\nkeymap = [{ on = \"x\", run = \"nope\" }]\n",
        )
        .unwrap();
        let load = load_keymap("vim", Some(dir.path()));
        assert!(
            load.warnings[0].contains("vim.toml:2:"),
            "{:?}",
            load.warnings
        );
        assert_eq!(load.warnings[1], "using the built-in vim keymap");
        assert_eq!(load.keymap, Keymap::preset("vim").unwrap());
    }
}
