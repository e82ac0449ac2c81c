//! Every shipped theme and keymap parses, and every keymap binding names an Action.
#![allow(clippy::unwrap_used)]

mod common;

use flightdeck::app::Action;
use flightdeck::app::state::Layer;
use flightdeck::config::keymap::{self, Keymap, check_keymap_file};
use flightdeck::config::theme::{self, Theme, check_theme_file};

use common::shipped_files;

#[test]
fn every_theme_file_parses_and_is_embedded() {
    for (path, text) in shipped_files("themes") {
        let parsed = check_theme_file(&path, &text, None);
        assert!(parsed.is_ok(), "{}", parsed.unwrap_err());
        let name = path.file_stem().unwrap().to_str().unwrap();
        assert!(
            theme::PRESETS.iter().any(|(n, t)| *n == name && *t == text),
            "{name} is not embedded as shipped"
        );
        assert!(Theme::preset(name, false).is_some());
    }
}

#[test]
fn every_keymap_file_parses_and_names_actions() {
    for (path, text) in shipped_files("keymaps") {
        let keymap = check_keymap_file(&path, &text, "default");
        assert!(keymap.is_ok(), "{}", keymap.unwrap_err());
        let keymap = keymap.unwrap();
        for layer in Layer::ALL {
            for binding in keymap.bindings(layer) {
                assert_eq!(Action::from_name(binding.run.name()), Some(binding.run));
            }
        }
        // Every `run = "…"` in the raw text is a known action, even in layers a
        // later entry replaced.
        let value: toml::Value = toml::from_str(&text).unwrap();
        for (layer, table) in value.as_table().unwrap() {
            let Some(table) = table.as_table() else {
                continue;
            };
            for list in ["keymap", "prepend_keymap", "append_keymap"] {
                for entry in table
                    .get(list)
                    .and_then(|v| v.as_array())
                    .into_iter()
                    .flatten()
                {
                    let run = entry["run"].as_str().unwrap();
                    assert!(
                        Action::from_name(run).is_some(),
                        "{}: [{layer}] runs unknown `{run}`",
                        path.display()
                    );
                }
            }
        }
        let name = path.file_stem().unwrap().to_str().unwrap();
        assert!(
            keymap::PRESETS
                .iter()
                .any(|(n, t)| *n == name && *t == text),
            "{name} is not embedded"
        );
    }
}

#[test]
fn every_keymap_can_quit_get_help_and_leave_the_search_input() {
    for (name, _) in keymap::PRESETS {
        let km = Keymap::preset(name).unwrap();
        let runs = |layer| km.bindings(layer).iter().map(|b| b.run).collect::<Vec<_>>();
        assert!(runs(Layer::Global).contains(&Action::Quit), "{name}");
        assert!(runs(Layer::Global).contains(&Action::Help), "{name}");
        assert!(
            runs(Layer::Search).contains(&Action::SearchCancel),
            "{name}"
        );
        assert!(
            runs(Layer::Search).contains(&Action::SearchSubmit),
            "{name}"
        );
        assert!(runs(Layer::Logs).contains(&Action::LogSearch), "{name}");
    }
}
