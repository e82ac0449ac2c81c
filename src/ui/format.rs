//! Numbers and times as the panes print them.

use std::time::Duration;

use chrono::{DateTime, Utc};

/// `45s`, `3m12s`, `42m`, `2h10m`, `4d`: short like kubectl, precise when recent.
pub fn age(d: Duration) -> String {
    let s = d.as_secs();
    match s {
        0..60 => format!("{s}s"),
        60..600 => format!("{}m{:02}s", s / 60, s % 60),
        600..3600 => format!("{}m", s / 60),
        3600..86_400 => format!("{}h{:02}m", s / 3600, (s % 3600) / 60),
        _ => format!("{}d", s / 86_400),
    }
}

/// A configured length of time, as it would be written: `5m`, `90s`, `1h30m`.
pub fn span(d: Duration) -> String {
    let s = d.as_secs();
    let (h, m, sec) = (s / 3600, (s % 3600) / 60, s % 60);
    let mut out = String::new();
    for (n, unit) in [(h, 'h'), (m, 'm'), (sec, 's')] {
        if n > 0 || (unit == 's' && out.is_empty()) {
            out.push_str(&n.to_string());
            out.push(unit);
        }
    }
    out
}

/// Age of `then` at `now`; `None` when unknown, zero when in the future.
pub fn age_since(then: Option<DateTime<Utc>>, now: DateTime<Utc>) -> Option<String> {
    let then = then?;
    Some(age((now - then).to_std().unwrap_or_default()))
}

pub fn clock(t: DateTime<Utc>) -> String {
    t.format("%H:%M:%S").to_string()
}

/// `512Mi`, `1.5Gi`, `900Ki`.
pub fn bytes(b: u64) -> String {
    const KI: f64 = 1024.0;
    let b = b as f64;
    if b >= KI * KI * KI {
        format!("{:.1}Gi", b / (KI * KI * KI))
    } else if b >= KI * KI {
        format!("{:.0}Mi", b / (KI * KI))
    } else {
        format!("{:.0}Ki", b / KI)
    }
}

/// `250m`, `1.2` (cores).
pub fn millicores(m: u64) -> String {
    if m >= 1000 {
        format!("{:.1}", m as f64 / 1000.0)
    } else {
        format!("{m}m")
    }
}

/// `12ms`, `1.25s`.
pub fn latency(d: Duration) -> String {
    let ms = d.as_secs_f64() * 1000.0;
    if ms >= 1000.0 {
        format!("{:.2}s", ms / 1000.0)
    } else if ms >= 10.0 {
        format!("{ms:.0}ms")
    } else {
        format!("{ms:.1}ms")
    }
}

pub fn percent(ratio: f64) -> String {
    let p = ratio * 100.0;
    if p > 0.0 && p < 0.1 {
        "<0.1%".to_string()
    } else {
        format!("{p:.1}%")
    }
}

pub fn rate(rps: f64) -> String {
    if rps >= 100.0 {
        format!("{rps:.0}/s")
    } else {
        format!("{rps:.1}/s")
    }
}

/// Shortens `text` to `width` columns by cutting its middle, where pod names
/// repeat themselves (`checkout-canary-7d9f…-x2x9k`).
pub fn middle_ellipsis(text: &str, width: usize) -> String {
    let count = text.chars().count();
    if count <= width || width < 5 {
        return text.chars().take(width).collect();
    }
    let tail = (width - 1) / 2;
    let head = width - 1 - tail;
    let mut out: String = text.chars().take(head).collect();
    out.push('…');
    out.extend(text.chars().skip(count - tail));
    out
}

/// A pod name in `width` columns: when it does not fit, the app's name in
/// front goes first (every pod has it), then the middle.
pub fn pod_label(name: &str, app: &str, width: usize) -> String {
    if name.chars().count() <= width {
        return name.to_string();
    }
    let short = name
        .strip_prefix(app)
        .and_then(|rest| rest.strip_prefix('-'))
        .filter(|_| !app.is_empty())
        .unwrap_or(name);
    middle_ellipsis(short, width)
}

/// Cuts `text` to `width` columns with an ellipsis at the end.
pub fn truncate(text: &str, width: usize) -> String {
    if text.chars().count() <= width {
        return text.to_string();
    }
    let mut out: String = text.chars().take(width.saturating_sub(1)).collect();
    out.push('…');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ages_read_like_kubectl() {
        assert_eq!(age(Duration::from_secs(45)), "45s");
        assert_eq!(age(Duration::from_secs(192)), "3m12s");
        assert_eq!(age(Duration::from_secs(2520)), "42m");
        assert_eq!(age(Duration::from_secs(7800)), "2h10m");
        assert_eq!(age(Duration::from_secs(4 * 86_400)), "4d");
    }

    #[test]
    fn spans_read_as_written() {
        assert_eq!(span(Duration::from_secs(300)), "5m");
        assert_eq!(span(Duration::from_secs(5400)), "1h30m");
        assert_eq!(span(Duration::from_secs(90)), "1m30s");
        assert_eq!(span(Duration::ZERO), "0s");
    }

    #[test]
    fn sizes_and_latencies() {
        assert_eq!(bytes(512 * 1024 * 1024), "512Mi");
        assert_eq!(bytes(3 * 1024 * 1024 * 1024 / 2), "1.5Gi");
        assert_eq!(millicores(250), "250m");
        assert_eq!(latency(Duration::from_millis(1250)), "1.25s");
        assert_eq!(latency(Duration::from_micros(4200)), "4.2ms");
        assert_eq!(percent(0.0523), "5.2%");
    }

    #[test]
    fn pod_labels_drop_the_app_name_first() {
        assert_eq!(
            pod_label("checkout-canary-8d5b7f6c9-q4wz2", "checkout", 14),
            "canary-…-q4wz2"
        );
        assert_eq!(pod_label("web-1", "checkout", 14), "web-1");
    }

    #[test]
    fn long_names_keep_both_ends() {
        assert_eq!(
            middle_ellipsis("checkout-canary-7d9f8b6c5-x2x9k", 16),
            "checkout…5-x2x9k"
        );
        assert_eq!(middle_ellipsis("short", 16), "short");
    }
}
