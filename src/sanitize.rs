//! Making text from the cluster safe to put on the screen.
//!
//! Pod logs, event messages and even object names are written by whoever runs
//! in the cluster. Printed raw, an escape sequence in them could move the
//! cursor, retitle the window or write the captain's clipboard (OSC 52). Every
//! such sequence and every control character is dropped; tabs become spaces so
//! columns stay predictable.

use std::borrow::Cow;

const ESC: char = '\u{1b}';
const TAB_WIDTH: usize = 4;

/// Returns `text` without escape sequences or control characters.
///
/// Borrows when there is nothing to remove, which is the common case.
pub fn clean(text: &str) -> Cow<'_, str> {
    if !text.chars().any(needs_work) {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\t' => out.extend(std::iter::repeat_n(' ', TAB_WIDTH)),
            ESC => match chars.next() {
                // CSI: parameters and intermediates, then one final byte.
                Some('[') => skip_csi(&mut chars),
                // OSC, DCS, SOS, PM, APC: a string ended by BEL or ST.
                Some(']' | 'P' | 'X' | '^' | '_') => skip_string(&mut chars),
                // Two-character sequences (ESC 7, ESC c, ESC ( B ...).
                Some('(' | ')' | '*' | '+' | '#' | '%' | ' ') => {
                    chars.next();
                }
                Some(_) | None => {}
            },
            // 8-bit C1 introducers: CSI, OSC, DCS and the other string starters.
            '\u{9b}' => skip_csi(&mut chars),
            '\u{9d}' | '\u{90}' | '\u{98}' | '\u{9e}' | '\u{9f}' => skip_string(&mut chars),
            c if c.is_control() => {}
            // Bidirectional overrides can make a line read differently than it is.
            '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}' => {}
            c => out.push(c),
        }
    }
    Cow::Owned(out)
}

fn needs_work(c: char) -> bool {
    c.is_control() || matches!(c, '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
}

fn skip_csi(chars: &mut std::iter::Peekable<std::str::Chars<'_>>) {
    for c in chars.by_ref() {
        if ('\u{40}'..='\u{7e}').contains(&c) {
            return;
        }
        if !('\u{20}'..='\u{3f}').contains(&c) {
            // Not a well-formed sequence: stop swallowing text.
            return;
        }
    }
}

fn skip_string(chars: &mut std::iter::Peekable<std::str::Chars<'_>>) {
    while let Some(c) = chars.next() {
        match c {
            '\u{7}' | '\u{9c}' => return,
            ESC => {
                if chars.peek() == Some(&'\\') {
                    chars.next();
                }
                return;
            }
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_text_is_borrowed() {
        assert!(matches!(clean("GET /cart 200 12ms"), Cow::Borrowed(_)));
    }

    #[test]
    fn colours_are_removed() {
        assert_eq!(clean("\u{1b}[1;31mERROR\u{1b}[0m boom"), "ERROR boom");
    }

    #[test]
    fn osc52_clipboard_write_is_removed() {
        let hostile = "ok\u{1b}]52;c;cm0gLXJmIC8K\u{7}done";
        assert_eq!(clean(hostile), "okdone");
        let with_st = "a\u{1b}]52;c;ZWNobw==\u{1b}\\b";
        assert_eq!(clean(with_st), "ab");
    }

    #[test]
    fn window_title_and_hyperlinks_are_removed() {
        assert_eq!(clean("\u{1b}]0;pwned\u{7}x"), "x");
        assert_eq!(
            clean("\u{1b}]8;;http://evil\u{1b}\\link\u{1b}]8;;\u{1b}\\"),
            "link"
        );
    }

    #[test]
    fn cursor_moves_and_clears_are_removed() {
        assert_eq!(clean("a\u{1b}[2J\u{1b}[H\u{1b}[10;20Hb\u{1b}[?25l"), "ab");
        assert_eq!(clean("\u{1b}7saved\u{1b}8"), "saved");
    }

    #[test]
    fn dcs_and_apc_strings_are_removed() {
        assert_eq!(clean("x\u{1b}Pq#0;2;0;0;0\u{1b}\\y"), "xy");
        assert_eq!(clean("x\u{1b}_payload\u{1b}\\y"), "xy");
    }

    #[test]
    fn bell_backspace_and_carriage_return_are_removed() {
        assert_eq!(clean("ding\u{7}\u{8}\r\n"), "ding");
    }

    #[test]
    fn eight_bit_c1_sequences_are_removed() {
        assert_eq!(clean("a\u{9b}31mred\u{9b}0m"), "ared");
        assert_eq!(clean("a\u{9d}52;c;Zm9v\u{9c}b"), "ab");
        assert_eq!(clean("a\u{85}b"), "ab");
    }

    #[test]
    fn tabs_become_spaces() {
        assert_eq!(clean("k\tv"), "k    v");
    }

    #[test]
    fn bidi_overrides_are_removed() {
        assert_eq!(clean("user\u{202e}gpj.exe"), "usergpj.exe");
    }

    #[test]
    fn truncated_sequence_at_end_is_dropped() {
        assert_eq!(clean("text\u{1b}"), "text");
        assert_eq!(clean("text\u{1b}[12"), "text");
        assert_eq!(clean("text\u{1b}]52;c;abc"), "text");
    }

    #[test]
    fn unicode_text_is_kept() {
        assert_eq!(clean("café ✓ 日本"), "café ✓ 日本");
    }
}
