//! Reading a log line: is it an error, and how to show a JSON line readably.

use std::fmt::Write as _;

/// Whether a line reports a failure: a 5xx status, an error level, a panic.
pub fn is_error(text: &str) -> bool {
    if text.contains("ERROR")
        || text.contains("panicked at")
        || text.contains("panic:")
        || text.contains("FATAL")
    {
        return true;
    }
    let lower_level = [
        "level=error",
        "level=fatal",
        "\"level\":\"error\"",
        "\"level\": \"error\"",
    ];
    if lower_level
        .iter()
        .any(|p| contains_ignore_ascii_case(text, p))
    {
        return true;
    }
    has_5xx_status(text)
}

/// Finds `status=5xx`, `"status":5xx`, `code=5xx` or an access-log `" 5xx `.
fn has_5xx_status(text: &str) -> bool {
    let bytes = text.as_bytes();
    for (i, w) in bytes.windows(3).enumerate() {
        if w[0] != b'5' || !w[1].is_ascii_digit() || !w[2].is_ascii_digit() {
            continue;
        }
        let after_ok = bytes.get(i + 3).is_none_or(|b| !b.is_ascii_digit());
        if !after_ok {
            continue;
        }
        let before = &text[..i];
        let before = before.trim_end_matches([' ', '"', ':', '=']);
        if before.len() == i {
            continue;
        }
        let key_ok = ["status", "status_code", "code", "statusCode"]
            .iter()
            .any(|k| before.ends_with(k));
        // Access logs: `"GET /x HTTP/1.1" 503 12`.
        let access_ok = text[..i].ends_with("\" ");
        if key_ok || access_ok {
            return true;
        }
    }
    false
}

/// Byte offsets of each case-insensitive (ASCII) occurrence of `needle`.
pub fn find_ignore_ascii_case(hay: &str, needle: &str) -> Vec<(usize, usize)> {
    let mut found = Vec::new();
    let (h, n) = (hay.as_bytes(), needle.as_bytes());
    if n.is_empty() || n.len() > h.len() {
        return found;
    }
    let mut i = 0;
    while i + n.len() <= h.len() {
        if h[i..i + n.len()].eq_ignore_ascii_case(n)
            && hay.is_char_boundary(i)
            && hay.is_char_boundary(i + n.len())
        {
            found.push((i, i + n.len()));
            i += n.len();
        } else {
            i += 1;
        }
    }
    found
}

/// Whether `needle` occurs in `hay`, ignoring ASCII case. Called on every
/// line of the ring by a search (a million lines within a frame), so it
/// looks for the needle's rarest byte with SIMD and compares only there.
pub fn contains_ignore_ascii_case(hay: &str, needle: &str) -> bool {
    let (h, n) = (hay.as_bytes(), needle.as_bytes());
    if n.is_empty() {
        return true;
    }
    if n.len() > h.len() {
        return false;
    }
    let at = rarest_byte(n);
    let (lower, upper) = (n[at].to_ascii_lowercase(), n[at].to_ascii_uppercase());
    // Where the rare byte may sit in `h` for a whole match to fit.
    let window = &h[at..=h.len() - n.len() + at];
    let found = |p: usize| h[p - at..p - at + n.len()].eq_ignore_ascii_case(n);
    if lower == upper {
        memchr::memchr_iter(lower, window).any(|i| found(i + at))
    } else {
        memchr::memchr2_iter(lower, upper, window).any(|i| found(i + at))
    }
}

/// A 64-bit summary of the adjacent byte pairs in `text`, ASCII case
/// folded: each pair sets one bit. A line can contain a needle only if every
/// bit of the needle's signature is set in the line's, so a search over a
/// million lines compares one word per line and reads the text of few.
/// A needle of one byte has no pairs (signature 0) and passes every line.
pub fn pair_signature(text: &str) -> u64 {
    let bytes = text.as_bytes();
    let mut sig = 0u64;
    for w in bytes.windows(2) {
        let pair = u32::from(w[0].to_ascii_lowercase()) << 8 | u32::from(w[1].to_ascii_lowercase());
        // Fibonacci hashing: the top six bits of the product pick the bit.
        sig |= 1u64 << (pair.wrapping_mul(0x9E37_79B1) >> 26);
    }
    sig
}

/// Whether a line with signature `line` may contain a needle with signature `needle`.
pub fn may_contain(line: u64, needle: u64) -> bool {
    line & needle == needle
}

/// The position of the byte in `needle` least likely in log text, so that
/// the scan stops on few false candidates.
fn rarest_byte(needle: &[u8]) -> usize {
    // Letters from most to least frequent in English and in logs.
    const COMMON: &[u8] = b" etaoinsrhldcumfpgwybvkxjqz";
    let rank = |b: u8| {
        let b = b.to_ascii_lowercase();
        match COMMON.iter().position(|c| *c == b) {
            Some(pos) => pos,
            // Digits and separators are about as common as the middle letters.
            None if b.is_ascii_digit() || b"/:.=-_\"".contains(&b) => 12,
            None => COMMON.len(),
        }
    };
    (0..needle.len())
        .max_by_key(|i| rank(needle[*i]))
        .unwrap_or(0)
}

/// The line without its own leading timestamp when that timestamp is within a
/// second of `at_ms` (the time the column shows), so the time is not read
/// twice. RFC 3339 and the common `2024-01-01 12:00:00,123` and
/// `2024/01/01 12:00:00` forms, optionally in `[…]`; a time without a zone is
/// taken as UTC. Any other line, or a timestamp that disagrees with the
/// column, is left whole: then the line's own time is news.
pub fn without_leading_time(text: &str, at_ms: i64) -> &str {
    let Some((stamp_ms, rest)) = leading_time(text) else {
        return text;
    };
    if (stamp_ms - at_ms).abs() <= 1000 {
        rest
    } else {
        text
    }
}

/// A timestamp at the start of `text`, in milliseconds, and what follows it
/// (without the blank that separates them). `None` when the line does not
/// start with one, or nothing follows it.
fn leading_time(text: &str) -> Option<(i64, &str)> {
    let b = text.as_bytes();
    let bracketed = b.first() == Some(&b'[');
    let mut i = usize::from(bracketed);
    let digits = |i: usize, n: usize| -> Option<u32> {
        let part = b.get(i..i + n)?;
        part.iter()
            .all(u8::is_ascii_digit)
            .then(|| part.iter().fold(0, |acc, d| acc * 10 + u32::from(d - b'0')))
    };
    let year = digits(i, 4)?;
    let date_sep = *b.get(i + 4)?;
    if !matches!(date_sep, b'-' | b'/') || b.get(i + 7) != Some(&date_sep) {
        return None;
    }
    let (month, day) = (digits(i + 5, 2)?, digits(i + 8, 2)?);
    if !matches!(b.get(i + 10), Some(b'T' | b' ')) || b.get(i + 13) != Some(&b':') {
        return None;
    }
    let (hour, minute) = (digits(i + 11, 2)?, digits(i + 14, 2)?);
    if b.get(i + 16) != Some(&b':') {
        return None;
    }
    let second = digits(i + 17, 2)?;
    i += 19;
    let mut millis = 0;
    if matches!(b.get(i), Some(b'.' | b',')) {
        i += 1;
        let start = i;
        while b.get(i).is_some_and(u8::is_ascii_digit) {
            if i - start < 3 {
                millis = millis * 10 + u32::from(b[i] - b'0');
            }
            i += 1;
        }
        if i == start {
            return None;
        }
        for _ in (i - start)..3 {
            millis *= 10;
        }
    }
    let mut offset_secs = 0;
    match b.get(i) {
        Some(b'Z' | b'z') => i += 1,
        Some(sign @ (b'+' | b'-')) => {
            let hours = digits(i + 1, 2)?;
            let with_colon = b.get(i + 3) == Some(&b':');
            let minutes = digits(i + 3 + usize::from(with_colon), 2)?;
            let secs = i32::try_from(hours * 3600 + minutes * 60).ok()?;
            offset_secs = if *sign == b'-' { -secs } else { secs };
            i += 5 + usize::from(with_colon);
        }
        _ => {}
    }
    if bracketed {
        if b.get(i) != Some(&b']') {
            return None;
        }
        i += 1;
    }
    let rest = text.get(i..)?;
    let trimmed = rest.trim_start();
    if trimmed.len() == rest.len() || trimmed.is_empty() {
        return None;
    }
    let date = chrono::NaiveDate::from_ymd_opt(i32::try_from(year).ok()?, month, day)?;
    let time = chrono::NaiveTime::from_hms_milli_opt(hour, minute, second, millis)?;
    let utc = date.and_time(time).and_utc().timestamp_millis() - i64::from(offset_secs) * 1000;
    Some((utc, trimmed))
}

/// A JSON object line as `LEVEL msg key=value …`; any other line unchanged.
pub fn readable(text: &str) -> Option<String> {
    let trimmed = text.trim_start();
    if !trimmed.starts_with('{') {
        return None;
    }
    let serde_json::Value::Object(map) = serde_json::from_str(trimmed).ok()? else {
        return None;
    };
    let level_keys = ["level", "lvl", "severity"];
    let msg_keys = ["msg", "message"];
    let skip_keys = ["time", "ts", "timestamp", "@timestamp"];
    let mut out = String::with_capacity(text.len());
    if let Some(level) = level_keys.iter().find_map(|k| map.get(*k)) {
        let _ = write!(out, "{} ", scalar(level).to_uppercase());
    }
    if let Some(msg) = msg_keys.iter().find_map(|k| map.get(*k)) {
        match msg {
            serde_json::Value::String(s) => out.push_str(s),
            other => out.push_str(&other.to_string()),
        }
    }
    for (key, value) in &map {
        let k = key.as_str();
        if level_keys.contains(&k) || msg_keys.contains(&k) || skip_keys.contains(&k) {
            continue;
        }
        let _ = write!(out, " {k}={}", scalar(value));
    }
    Some(out.trim_end().to_string())
}

fn scalar(value: &serde_json::Value) -> String {
    match value {
        serde_json::Value::String(s) if s.contains(' ') => format!("{s:?}"),
        serde_json::Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_are_recognised() {
        assert!(is_error("level=error msg=\"db down\""));
        assert!(is_error(r#"{"level":"error","msg":"boom"}"#));
        assert!(is_error("2024 ERROR payment failed"));
        assert!(is_error("thread 'main' panicked at src/main.rs:3"));
        assert!(is_error("GET /cart status=503 took=12ms"));
        assert!(is_error(r#"{"status":500}"#));
        assert!(is_error(r#""GET /cart HTTP/1.1" 502 17"#));
    }

    #[test]
    fn ordinary_lines_are_not_errors() {
        assert!(!is_error("GET /cart status=200 took=512ms"));
        assert!(!is_error("served 503 requests"));
        assert!(!is_error("level=info msg=ready port=5000"));
        assert!(!is_error("user error-prone input"));
    }

    #[test]
    fn a_leading_time_matching_the_column_is_dropped() {
        // 2024-01-01T12:00:00.250Z
        let at = 1_704_110_400_250;
        let cases = [
            (
                "2024-01-01T12:00:00.250Z INFO GET /cart 200",
                "INFO GET /cart 200",
            ),
            ("2024-01-01T12:00:00Z starting", "starting"),
            ("2024-01-01T13:00:00.900+01:00 ready", "ready"),
            ("2024-01-01T07:00:00.1-0500  ready", "ready"),
            ("2024-01-01 12:00:01,100 WARN slow", "WARN slow"),
            (
                "2024/01/01 12:00:00 listening on :8080",
                "listening on :8080",
            ),
            ("[2024-01-01T12:00:00.250Z] GET /", "GET /"),
        ];
        for (line, shown) in cases {
            assert_eq!(without_leading_time(line, at), shown, "{line}");
        }
    }

    #[test]
    fn other_lines_keep_their_text() {
        let at = 1_704_110_400_250;
        let kept = [
            // More than a second away from the column: the line's time is news.
            "2024-01-01T12:00:02.000Z retry scheduled",
            "2024-01-01T12:00:00.250+01:00 other zone",
            "GET /cart 2024-01-01T12:00:00Z",
            "2024-01-01T12:00:00.250Z",
            "2024-01-01T12:00:00.250Zstuck",
            "2024-13-01T12:00:00Z bad month",
            "[2024-01-01T12:00:00Z GET",
            "2024-01-01",
            "",
            "12:00:00 time only",
        ];
        for line in kept {
            assert_eq!(without_leading_time(line, at), line, "{line}");
        }
    }

    #[test]
    fn containment_ignores_case_wherever_the_rare_byte_falls() {
        for (hay, needle, want) in [
            ("GET /Cart/9 status=200", "cart/9", true),
            ("GET /Cart/9 status=200", "STATUS=200", true),
            ("GET /Cart/9 status=200", "status=2000", false),
            ("xyz", "xyz", true),
            ("xy", "xyz", false),
            ("zzz", "", true),
            ("ünïcode Zürich", "zürich", true),
            ("queue jammed", "JAMMED", true),
            ("aaaaq", "aq", true),
            ("qaaaa", "aq", false),
        ] {
            assert_eq!(
                contains_ignore_ascii_case(hay, needle),
                want,
                "{hay} / {needle}"
            );
        }
    }

    proptest::proptest! {
        #[test]
        fn containment_agrees_with_lowercased_find(hay in "[a-cA-C/ 0-9]{0,40}", needle in "[a-cA-C/ 0-9]{0,4}") {
            let want = hay.to_ascii_lowercase().contains(&needle.to_ascii_lowercase());
            proptest::prop_assert_eq!(contains_ignore_ascii_case(&hay, &needle), want);
        }
    }

    #[test]
    fn signature_rules_out_lines_without_the_pairs() {
        let line = pair_signature("2026-12-04T17:35:00.000Z INFO GET /Cart/9 200");
        assert!(may_contain(line, pair_signature("get /cart")));
        assert!(may_contain(line, pair_signature("x")));
        assert!(!may_contain(line, pair_signature("refund")));
        assert!(!may_contain(line, pair_signature("no-such-text")));
    }

    proptest::proptest! {
        #[test]
        fn signature_never_rules_out_a_match(hay in "[a-zA-Z/ 0-9.ü-]{0,60}", start in 0usize..60, len in 0usize..12) {
            let start = start.min(hay.len());
            let end = (start + len).min(hay.len());
            if let Some(needle) = hay.get(start..end) {
                let needle = needle.to_ascii_uppercase();
                proptest::prop_assert!(contains_ignore_ascii_case(&hay, &needle));
                proptest::prop_assert!(may_contain(pair_signature(&hay), pair_signature(&needle)));
            }
        }
    }

    #[test]
    fn json_is_made_readable() {
        let line = r#"{"time":"2024-01-01T00:00:00Z","level":"warn","msg":"slow request","path":"/cart","ms":812}"#;
        assert_eq!(
            readable(line).unwrap(),
            "WARN slow request ms=812 path=/cart"
        );
        assert_eq!(readable("plain text"), None);
        assert_eq!(readable("{not json"), None);
    }

    #[test]
    fn search_finds_every_occurrence_ignoring_case() {
        assert_eq!(
            find_ignore_ascii_case("Cart cart CART", "cart"),
            vec![(0, 4), (5, 9), (10, 14)]
        );
        assert!(find_ignore_ascii_case("abc", "").is_empty());
    }
}
