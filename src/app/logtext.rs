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

pub fn contains_ignore_ascii_case(hay: &str, needle: &str) -> bool {
    let (h, n) = (hay.as_bytes(), needle.as_bytes());
    if n.is_empty() {
        return true;
    }
    h.windows(n.len()).any(|w| w.eq_ignore_ascii_case(n))
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
