//! Colour themes: semantic roles mapped to styles.
//!
//! Widgets ask for a role (`border.focused`, `status.failed`, `version.canary`),
//! never a colour. A role missing from the theme falls back along its dots
//! (`border.focused` → `border` → `text`). Themes are TOML files with
//! `inherits`, a `[palette]` of named colours and `[ui]`, `[status]` and
//! `[version]` tables of styles. Presets are embedded; a user file with the same
//! name (or any other name) in `$XDG_CONFIG_HOME/flightdeck/themes/` layers over them.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::str::FromStr;

use ratatui::style::{Color, Modifier, Style};
use serde::Deserialize;
use toml::Spanned;

use super::source::{FileError, parse_toml};

/// Shipped themes, embedded in the binary.
pub const PRESETS: &[(&str, &str)] = &[
    ("default", include_str!("../../themes/default.toml")),
    ("light", include_str!("../../themes/light.toml")),
    (
        "high-contrast",
        include_str!("../../themes/high-contrast.toml"),
    ),
    (
        "colour-blind",
        include_str!("../../themes/colour-blind.toml"),
    ),
];

/// Roles of the `[ui]` table.
pub const UI_ROLES: &[&str] = &[
    "text",
    "muted",
    "title",
    "title.focused",
    "border",
    "border.focused",
    "selection",
    "header",
    "header.app",
    "footer",
    "key",
    "warning",
    "error",
    "search",
    "search.current",
    "threshold",
    "gauge",
];

/// Roles of the `[status]` table.
pub const STATUS_ROLES: &[&str] = &[
    "healthy",
    "progressing",
    "paused",
    "degraded",
    "failed",
    "unknown",
];

const MODIFIERS: &[(&str, Modifier)] = &[
    ("bold", Modifier::BOLD),
    ("dim", Modifier::DIM),
    ("italic", Modifier::ITALIC),
    ("underlined", Modifier::UNDERLINED),
    ("slow_blink", Modifier::SLOW_BLINK),
    ("rapid_blink", Modifier::RAPID_BLINK),
    ("reversed", Modifier::REVERSED),
    ("hidden", Modifier::HIDDEN),
    ("crossed_out", Modifier::CROSSED_OUT),
];

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ThemeFile {
    inherits: Option<Spanned<String>>,
    #[serde(default)]
    palette: BTreeMap<String, Spanned<String>>,
    #[serde(default)]
    ui: BTreeMap<Spanned<String>, StyleSpec>,
    #[serde(default)]
    status: BTreeMap<Spanned<String>, StyleSpec>,
    #[serde(default)]
    version: BTreeMap<Spanned<String>, StyleSpec>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct StyleSpec {
    fg: Option<Spanned<String>>,
    bg: Option<Spanned<String>>,
    #[serde(default)]
    modifiers: Vec<Spanned<String>>,
}

/// A theme ready to draw with.
#[derive(Debug, Clone, PartialEq)]
pub struct Theme {
    roles: HashMap<String, Style>,
    /// Colours stripped for `NO_COLOR`; only modifiers remain.
    pub no_color: bool,
}

impl Theme {
    /// The style of a role, falling back along its dots to `text`.
    pub fn style(&self, role: &str) -> Style {
        let base = self.roles.get("text").copied().unwrap_or_default();
        let mut name = role;
        loop {
            if let Some(style) = self.roles.get(name) {
                return base.patch(*style);
            }
            match name.rfind('.') {
                Some(dot) => name = &name[..dot],
                None => return base,
            }
        }
    }

    /// The style of a version (`stable`, `canary`, `blue`, `green`, …).
    pub fn version(&self, version: &str) -> Style {
        self.style(&format!("version.{version}"))
    }

    /// Whether the role is set by the theme itself rather than inherited by fallback.
    pub fn has(&self, role: &str) -> bool {
        self.roles.contains_key(role)
    }

    /// The embedded preset, never failing: presets are checked by tests.
    pub fn preset(name: &str, no_color: bool) -> Option<Theme> {
        let mut layers = Vec::new();
        collect(
            &Origin::Preset(name.to_string()),
            None,
            &mut HashSet::new(),
            &mut layers,
        )
        .ok()?;
        resolve(&layers, no_color).ok()
    }
}

impl Default for Theme {
    fn default() -> Self {
        Theme::preset("default", false).unwrap_or(Theme {
            roles: HashMap::new(),
            no_color: false,
        })
    }
}

/// A theme plus what went wrong finding it, for the header to show.
#[derive(Debug, Clone)]
pub struct ThemeLoad {
    pub theme: Theme,
    pub warnings: Vec<String>,
}

/// Whether `NO_COLOR` asks for no colours (any non-empty value).
pub fn no_color_requested() -> bool {
    std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty())
}

/// Loads theme `name`: a user file in `config_dir/themes/` layered over the
/// preset of that name. A bad or unknown theme falls back to a preset and says why.
pub fn load_theme(name: &str, config_dir: Option<&Path>, no_color: bool) -> ThemeLoad {
    let mut warnings = Vec::new();
    match load_layers(name, config_dir) {
        Ok(layers) => match resolve(&layers, no_color) {
            Ok(theme) => return ThemeLoad { theme, warnings },
            Err(e) => warnings.push(e.to_string()),
        },
        Err(e) => warnings.push(e.to_string()),
    }
    let fallback = if preset_text(name).is_some() {
        name
    } else {
        "default"
    };
    warnings.push(format!("using the built-in {fallback} theme"));
    let theme = Theme::preset(fallback, no_color).unwrap_or_else(|| Theme {
        roles: HashMap::new(),
        no_color,
    });
    ThemeLoad { theme, warnings }
}

/// Parses and resolves one theme file over its parents, for checking a file.
pub fn check_theme_file(
    path: &Path,
    text: &str,
    config_dir: Option<&Path>,
) -> Result<Theme, FileError> {
    let file: ThemeFile = parse_toml(path, text)?;
    let mut layers = Vec::new();
    if let Some(parent) = &file.inherits {
        let origin = find(parent.get_ref(), config_dir, &HashSet::new())
            .ok_or_else(|| unknown_theme(path, text, parent))?;
        collect(&origin, config_dir, &mut HashSet::new(), &mut layers)?;
    }
    layers.push(Layer {
        path: path.to_path_buf(),
        text: text.to_string(),
        file,
    });
    resolve(&layers, false)
}

fn preset_text(name: &str) -> Option<&'static str> {
    PRESETS.iter().find(|(n, _)| *n == name).map(|(_, t)| *t)
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum Origin {
    Preset(String),
    User(PathBuf, String),
}

struct Layer {
    path: PathBuf,
    text: String,
    file: ThemeFile,
}

fn user_path(dir: Option<&Path>, name: &str) -> Option<PathBuf> {
    let path = dir?.join("themes").join(format!("{name}.toml"));
    path.is_file().then_some(path)
}

fn find(name: &str, dir: Option<&Path>, visited: &HashSet<Origin>) -> Option<Origin> {
    if let Some(path) = user_path(dir, name) {
        let origin = Origin::User(path, name.to_string());
        if !visited.contains(&origin) {
            return Some(origin);
        }
    }
    preset_text(name).map(|_| Origin::Preset(name.to_string()))
}

fn load_layers(name: &str, dir: Option<&Path>) -> Result<Vec<Layer>, FileError> {
    let origin = find(name, dir, &HashSet::new()).ok_or_else(|| {
        let known: Vec<&str> = PRESETS.iter().map(|(n, _)| *n).collect();
        FileError::whole(
            Path::new(name),
            format!(
                "unknown theme; expected one of {} or a file in the themes folder",
                known.join(", ")
            ),
        )
    })?;
    let mut layers = Vec::new();
    collect(&origin, dir, &mut HashSet::new(), &mut layers)?;
    Ok(layers)
}

fn unknown_theme(path: &Path, text: &str, name: &Spanned<String>) -> FileError {
    FileError::at_span(
        path,
        text,
        &name.span(),
        format!("unknown theme `{}` to inherit from", name.get_ref()),
    )
}

/// Pushes the layers of `origin`, parents first.
fn collect(
    origin: &Origin,
    dir: Option<&Path>,
    visited: &mut HashSet<Origin>,
    layers: &mut Vec<Layer>,
) -> Result<(), FileError> {
    if !visited.insert(origin.clone()) {
        return Ok(());
    }
    let (path, text) = match origin {
        Origin::Preset(name) => (
            PathBuf::from(format!("themes/{name}.toml")),
            preset_text(name).unwrap_or_default().to_string(),
        ),
        Origin::User(path, _) => {
            let text = std::fs::read_to_string(path)
                .map_err(|e| FileError::whole(path, format!("cannot read: {e}")))?;
            (path.clone(), text)
        }
    };
    let file: ThemeFile = parse_toml(&path, &text)?;
    let parent = match (&file.inherits, origin) {
        (Some(parent), Origin::Preset(_)) => Some(
            preset_text(parent.get_ref())
                .map(|_| Origin::Preset(parent.get_ref().clone()))
                .ok_or_else(|| unknown_theme(&path, &text, parent))?,
        ),
        (Some(parent), Origin::User(..)) => Some(
            find(parent.get_ref(), dir, visited)
                .ok_or_else(|| unknown_theme(&path, &text, parent))?,
        ),
        // A user file without `inherits` layers over the preset of its name, else the default.
        (None, Origin::User(_, name)) => Some(Origin::Preset(if preset_text(name).is_some() {
            name.clone()
        } else {
            "default".to_string()
        })),
        (None, Origin::Preset(_)) => None,
    };
    if let Some(parent) = parent {
        collect(&parent, dir, visited, layers)?;
    }
    layers.push(Layer { path, text, file });
    Ok(())
}

/// Merges layers (later wins) and turns specs into styles.
fn resolve(layers: &[Layer], no_color: bool) -> Result<Theme, FileError> {
    let mut palette: HashMap<&str, (&Spanned<String>, &Layer)> = HashMap::new();
    let mut specs: BTreeMap<String, (&StyleSpec, &Layer)> = BTreeMap::new();
    for layer in layers {
        for (name, value) in &layer.file.palette {
            palette.insert(name, (value, layer));
        }
        for (table, known) in [
            ("ui", Some(UI_ROLES)),
            ("status", Some(STATUS_ROLES)),
            ("version", None),
        ] {
            let entries = match table {
                "ui" => &layer.file.ui,
                "status" => &layer.file.status,
                _ => &layer.file.version,
            };
            for (name, spec) in entries {
                let role = name.get_ref();
                if let Some(known) = known
                    && !known.contains(&role.as_str())
                {
                    return Err(FileError::at_span(
                        &layer.path,
                        &layer.text,
                        &name.span(),
                        format!(
                            "unknown role `{role}`; expected one of {}",
                            known.join(", ")
                        ),
                    ));
                }
                let key = if table == "ui" {
                    role.clone()
                } else {
                    format!("{table}.{role}")
                };
                specs.insert(key, (spec, layer));
            }
        }
    }
    let colour = |value: &Spanned<String>, layer: &Layer| -> Result<Color, FileError> {
        let name = value.get_ref();
        let (name, layer, span) = match palette.get(name.as_str()) {
            Some((v, l)) => (v.get_ref(), *l, v.span()),
            None => (name, layer, value.span()),
        };
        Color::from_str(name).map_err(|_| {
            FileError::at_span(
                &layer.path,
                &layer.text,
                &span,
                format!(
                    "unknown colour `{name}`; expected a palette name, a colour name or #rrggbb"
                ),
            )
        })
    };
    let mut roles = HashMap::new();
    for (role, (spec, layer)) in specs {
        let mut style = Style::default();
        if let Some(fg) = &spec.fg {
            style = style.fg(colour(fg, layer)?);
        }
        if let Some(bg) = &spec.bg {
            style = style.bg(colour(bg, layer)?);
        }
        for m in &spec.modifiers {
            let modifier = MODIFIERS
                .iter()
                .find(|(n, _)| n == m.get_ref())
                .map(|(_, m)| *m)
                .ok_or_else(|| {
                    let names: Vec<&str> = MODIFIERS.iter().map(|(n, _)| *n).collect();
                    FileError::at_span(
                        &layer.path,
                        &layer.text,
                        &m.span(),
                        format!(
                            "unknown modifier `{}`; expected one of {}",
                            m.get_ref(),
                            names.join(", ")
                        ),
                    )
                })?;
            style = style.add_modifier(modifier);
        }
        if no_color {
            style = strip_colour(style);
        }
        roles.insert(role, style);
    }
    Ok(Theme { roles, no_color })
}

/// Keeps what colour meant: a background becomes reverse video.
fn strip_colour(style: Style) -> Style {
    let mut plain = Style::default().add_modifier(style.add_modifier);
    if style.bg.is_some_and(|bg| bg != Color::Reset) {
        plain = plain.add_modifier(Modifier::REVERSED);
    }
    plain
}

#[cfg(test)]
mod tests {
    use super::*;

    fn user_dir(files: &[(&str, &str)]) -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("themes")).unwrap();
        for (name, text) in files {
            std::fs::write(dir.path().join("themes").join(format!("{name}.toml")), text).unwrap();
        }
        dir
    }

    #[test]
    fn every_preset_resolves() {
        for (name, _) in PRESETS {
            let load = load_theme(name, None, false);
            assert!(load.warnings.is_empty(), "{name}: {:?}", load.warnings);
            for role in STATUS_ROLES {
                assert!(
                    load.theme.has(&format!("status.{role}")),
                    "{name} lacks status.{role}"
                );
            }
        }
    }

    #[test]
    fn dotted_roles_fall_back() {
        let dir = user_dir(&[(
            "mine",
            "[ui]\ntext = { fg = \"white\" }\n[status]\nfailed = { fg = \"blue\" }\n",
        )]);
        let theme = load_theme("mine", Some(dir.path()), false).theme;
        assert_eq!(theme.style("status.failed.crashloop").fg, Some(Color::Blue));
        assert_eq!(theme.version("purple").fg, Some(Color::White));
        assert_eq!(theme.style("no.such.role").fg, Some(Color::White));
    }

    #[test]
    fn user_file_layers_over_preset_of_same_name() {
        let dir = user_dir(&[(
            "default",
            "[palette]\nmine = \"#010203\"\n[status]\nfailed = { fg = \"mine\" }\n",
        )]);
        let theme = load_theme("default", Some(dir.path()), false).theme;
        assert_eq!(theme.style("status.failed").fg, Some(Color::Rgb(1, 2, 3)));
        let preset = Theme::preset("default", false).unwrap();
        assert_eq!(
            theme.style("status.healthy"),
            preset.style("status.healthy")
        );
    }

    #[test]
    fn inherits_picks_the_parent() {
        let dir = user_dir(&[(
            "soft",
            "inherits = \"light\"\n[ui]\nmuted = { fg = \"gray\" }\n",
        )]);
        let theme = load_theme("soft", Some(dir.path()), false).theme;
        let light = Theme::preset("light", false).unwrap();
        assert_eq!(theme.style("text"), light.style("text"));
        assert_eq!(theme.style("muted").fg, Some(Color::Gray));
    }

    #[test]
    fn bad_colour_falls_back_with_located_warning() {
        let dir = user_dir(&[("default", "[status]\nfailed = { fg = \"reddish\" }\n")]);
        let load = load_theme("default", Some(dir.path()), false);
        let path = dir.path().join("themes/default.toml");
        assert_eq!(
            load.warnings[0],
            format!(
                "{}:2:17: unknown colour `reddish`; expected a palette name, a colour name or #rrggbb",
                path.display()
            )
        );
        assert_eq!(load.warnings[1], "using the built-in default theme");
        assert_eq!(load.theme, Theme::preset("default", false).unwrap());
    }

    #[test]
    fn unknown_role_is_located() {
        let text = "[ui]\ntext = { fg = \"white\" }\nboarder = { fg = \"red\" }\n";
        let err = check_theme_file(Path::new("t.toml"), text, None).unwrap_err();
        assert_eq!((err.line, err.column), (3, 1));
        assert!(
            err.message.starts_with("unknown role `boarder`"),
            "{}",
            err.message
        );
    }

    #[test]
    fn syntax_error_is_located() {
        let dir = user_dir(&[("broken", "[ui\ntext = 1\n")]);
        let load = load_theme("broken", Some(dir.path()), false);
        assert!(
            load.warnings[0].contains("broken.toml:1:"),
            "{:?}",
            load.warnings
        );
    }

    #[test]
    fn unknown_theme_name_falls_back_to_default() {
        let load = load_theme("neon", None, false);
        assert!(
            load.warnings[0].contains("unknown theme"),
            "{:?}",
            load.warnings
        );
        assert_eq!(load.theme, Theme::preset("default", false).unwrap());
    }

    #[test]
    fn no_color_keeps_only_modifiers() {
        let theme = load_theme("default", None, true).theme;
        for role in ["text", "status.failed", "version.canary", "selection"] {
            let style = theme.style(role);
            assert_eq!((style.fg, style.bg), (None, None), "{role}");
        }
        assert!(
            theme
                .style("selection")
                .add_modifier
                .contains(Modifier::REVERSED)
        );
    }

    #[test]
    fn colour_blind_theme_never_pairs_red_with_green() {
        let theme = Theme::preset("colour-blind", false).unwrap();
        let colours: Vec<_> = STATUS_ROLES
            .iter()
            .filter_map(|r| theme.style(&format!("status.{r}")).fg)
            .chain(
                ["stable", "canary", "blue", "green"]
                    .iter()
                    .filter_map(|v| theme.version(v).fg),
            )
            .collect();
        let reddish = |c: &Color| {
            matches!(c, Color::Red | Color::LightRed)
                || matches!(c, Color::Rgb(r, g, _) if *r > 180 && *g < 100)
        };
        let greenish = |c: &Color| {
            matches!(c, Color::Green | Color::LightGreen)
                || matches!(c, Color::Rgb(r, g, b) if *g > 150 && *r < 120 && *b < 120)
        };
        assert!(
            !(colours.iter().any(reddish) && colours.iter().any(greenish)),
            "{colours:?}"
        );
    }
}
