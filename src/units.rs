//! Durations and Kubernetes quantities as people write them in plans and
//! scenarios (`90s`, `2m`, `1h30m`, `512Mi`, `250m`). Pure parsing, no I/O.

use std::time::Duration;

use serde::{Deserialize, Deserializer};

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UnitError {
    #[error("expected a duration such as 500ms, 30s, 2m or 1h30m, found {0:?}")]
    Duration(String),
    #[error("expected a quantity such as 512Mi, 2Gi, 250m or 1.5, found {0:?}")]
    Quantity(String),
    #[error("{0:?} is too long: a duration may be at most 100 years")]
    TooLong(String),
}

/// The longest duration accepted. Deadlines are added to timestamps, which
/// overflow long before `Duration::MAX`; a century is past any rollout.
pub const MAX_DURATION: Duration = Duration::from_secs(100 * 365 * 86_400);

/// Parses `500ms`, `30s`, `2m`, `1h30m`, `1d`; a bare `0` is zero.
pub fn parse_duration(text: &str) -> Result<Duration, UnitError> {
    let err = || UnitError::Duration(text.to_string());
    let s = text.trim();
    if s == "0" {
        return Ok(Duration::ZERO);
    }
    if s.is_empty() {
        return Err(err());
    }
    let mut total = Duration::ZERO;
    let mut rest = s;
    while !rest.is_empty() {
        let digits = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .ok_or_else(err)?;
        if digits == 0 {
            return Err(err());
        }
        let value: f64 = rest[..digits].parse().map_err(|_| err())?;
        rest = &rest[digits..];
        let unit_len = rest
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(rest.len());
        let seconds = match &rest[..unit_len] {
            "ms" => value / 1000.0,
            "s" => value,
            "m" => value * 60.0,
            "h" => value * 3600.0,
            "d" => value * 86_400.0,
            _ => return Err(err()),
        };
        let too_long = || UnitError::TooLong(text.to_string());
        let part = Duration::try_from_secs_f64(seconds).map_err(|_| too_long())?;
        total = total
            .checked_add(part)
            .filter(|t| *t <= MAX_DURATION)
            .ok_or_else(too_long)?;
        rest = &rest[unit_len..];
    }
    Ok(total)
}

/// A simulation speed as given, or real time (1) when it is not a positive
/// finite number.
pub fn speed_or_real_time(speed: f64) -> f64 {
    if speed.is_finite() && speed > 0.0 {
        speed
    } else {
        1.0
    }
}

/// Writes a duration the short way people read it: `850ms`, `42s`, `3m05s`, `2h10m`.
pub fn format_duration(d: Duration) -> String {
    let secs = d.as_secs();
    if secs == 0 {
        return format!("{}ms", d.as_millis());
    }
    if secs < 60 {
        return format!("{secs}s");
    }
    if secs < 3600 {
        return format!("{}m{:02}s", secs / 60, secs % 60);
    }
    if secs < 86_400 {
        return format!("{}h{:02}m", secs / 3600, (secs % 3600) / 60);
    }
    format!("{}d{:02}h", secs / 86_400, (secs % 86_400) / 3600)
}

/// Parses a memory quantity (`512Mi`, `2G`, `1048576`) into bytes.
pub fn parse_bytes(text: &str) -> Result<u64, UnitError> {
    let s = text.trim();
    let err = || UnitError::Quantity(text.to_string());
    let split = s
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(s.len());
    if split == 0 {
        return Err(err());
    }
    let value: f64 = s[..split].parse().map_err(|_| err())?;
    let factor: f64 = match &s[split..] {
        "" => 1.0,
        "k" => 1e3,
        "M" => 1e6,
        "G" => 1e9,
        "T" => 1e12,
        "Ki" => 1024.0,
        "Mi" => 1024.0 * 1024.0,
        "Gi" => 1024.0 * 1024.0 * 1024.0,
        "Ti" => 1024.0 * 1024.0 * 1024.0 * 1024.0,
        _ => return Err(err()),
    };
    let bytes = (value * factor).round();
    // `as` would silently clamp a huge value to u64::MAX.
    if !bytes.is_finite() || bytes > u64::MAX as f64 {
        return Err(err());
    }
    Ok(bytes as u64)
}

/// Parses a CPU quantity (`250m`, `1.5`, `2`) into millicores.
pub fn parse_millicores(text: &str) -> Result<u64, UnitError> {
    let s = text.trim();
    let err = || UnitError::Quantity(text.to_string());
    if let Some(m) = s.strip_suffix('m') {
        return m.parse::<u64>().map_err(|_| err());
    }
    if let Some(n) = s.strip_suffix('n') {
        return n.parse::<u64>().map(|n| n / 1_000_000).map_err(|_| err());
    }
    let cores: f64 = s.parse().map_err(|_| err())?;
    let millis = (cores * 1000.0).round();
    // `inf`, `NaN` and values past u64 parse as floats but are no quantity.
    if !millis.is_finite() || millis < 0.0 || millis > u64::MAX as f64 {
        return Err(err());
    }
    Ok(millis as u64)
}

/// Bytes the way `kubectl top` writes them (`Mi` granularity, `Ki` when small).
pub fn format_bytes(bytes: u64) -> String {
    const MI: u64 = 1024 * 1024;
    if bytes >= 10 * 1024 * MI {
        format!("{}Gi", bytes / (1024 * MI))
    } else if bytes >= MI {
        format!("{}Mi", bytes / MI)
    } else {
        format!("{}Ki", bytes / 1024)
    }
}

/// Serde adapter: a duration written as a string in TOML.
pub fn de_duration<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
    let text = String::deserialize(d)?;
    parse_duration(&text).map_err(serde::de::Error::custom)
}

/// Serde adapter: an optional duration written as a string in TOML.
pub fn de_opt_duration<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Duration>, D::Error> {
    let text = Option::<String>::deserialize(d)?;
    text.map(|t| parse_duration(&t).map_err(serde::de::Error::custom))
        .transpose()
}

/// Serde adapter: a memory quantity written as a string in TOML.
pub fn de_bytes<'de, D: Deserializer<'de>>(d: D) -> Result<u64, D::Error> {
    let text = String::deserialize(d)?;
    parse_bytes(&text).map_err(serde::de::Error::custom)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_parse() {
        assert_eq!(parse_duration("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(parse_duration("2m"), Ok(Duration::from_secs(120)));
        assert_eq!(parse_duration("1h30m"), Ok(Duration::from_secs(5400)));
        assert_eq!(parse_duration("0"), Ok(Duration::ZERO));
        assert!(parse_duration("2 minutes").is_err());
        assert!(parse_duration("m").is_err());
        assert!(parse_duration("").is_err());
        assert!(parse_duration("10").is_err());
    }

    #[test]
    fn durations_too_long_are_errors_not_panics() {
        for text in [
            "99999999999999999999h",
            "36501d",
            "100000000000000000000000000000000000000000m",
        ] {
            assert_eq!(
                parse_duration(text),
                Err(UnitError::TooLong(text.to_string())),
                "{text}"
            );
        }
        assert_eq!(parse_duration("36500d"), Ok(MAX_DURATION));
        let message = parse_duration("99999999999999999999h")
            .unwrap_err()
            .to_string();
        assert_eq!(
            message,
            "\"99999999999999999999h\" is too long: a duration may be at most 100 years"
        );
    }

    #[test]
    fn durations_whose_parts_overflow_are_errors() {
        assert!(parse_duration("9999999999999999999s9999999999999999999s").is_err());
        assert!(parse_duration("1e400s").is_err());
    }

    #[test]
    fn durations_format() {
        assert_eq!(format_duration(Duration::from_millis(850)), "850ms");
        assert_eq!(format_duration(Duration::from_secs(42)), "42s");
        assert_eq!(format_duration(Duration::from_secs(185)), "3m05s");
        assert_eq!(format_duration(Duration::from_secs(7800)), "2h10m");
    }

    #[test]
    fn quantities_parse() {
        assert_eq!(parse_bytes("512Mi"), Ok(512 * 1024 * 1024));
        assert_eq!(parse_bytes("1G"), Ok(1_000_000_000));
        assert_eq!(parse_millicores("250m"), Ok(250));
        assert_eq!(parse_millicores("1.5"), Ok(1500));
        assert!(parse_bytes("lots").is_err());
        assert!(parse_bytes("99999999999999999999999Ti").is_err());
        assert!(parse_millicores("inf").is_err());
        assert!(parse_millicores("NaN").is_err());
        assert_eq!(format_bytes(300 * 1024 * 1024), "300Mi");
    }
}
