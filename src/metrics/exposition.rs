//! A parser for the Prometheus text exposition format (version 0.0.4): what
//! a pod's `/metrics` answers. Input is untrusted; errors carry the line.

use std::collections::BTreeMap;

/// One sample: metric name, labels (sorted), value, optional timestamp (ms).
#[derive(Debug, Clone, PartialEq)]
pub struct Sample {
    pub name: String,
    pub labels: BTreeMap<String, String>,
    pub value: f64,
    pub timestamp_ms: Option<i64>,
}

impl Sample {
    pub fn label(&self, name: &str) -> Option<&str> {
        self.labels.get(name).map(String::as_str)
    }
}

/// HELP and TYPE of a metric family.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Family {
    pub help: Option<String>,
    pub kind: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct Exposition {
    pub families: BTreeMap<String, Family>,
    pub samples: Vec<Sample>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("line {line}: {message}")]
pub struct ParseError {
    pub line: usize,
    pub message: String,
}

const KINDS: &[&str] = &["counter", "gauge", "histogram", "summary", "untyped"];

pub fn parse(text: &str) -> Result<Exposition, ParseError> {
    let mut out = Exposition::default();
    for (i, raw) in text.lines().enumerate() {
        let line = i + 1;
        let fail = |message: String| ParseError { line, message };
        let trimmed = raw.trim();
        if trimmed.is_empty() {
            continue;
        }
        if let Some(comment) = trimmed.strip_prefix('#') {
            let comment = comment.trim_start();
            if let Some(rest) = comment.strip_prefix("HELP ") {
                let (name, help) = rest.split_once(' ').unwrap_or((rest, ""));
                check_name(name).map_err(fail)?;
                out.families.entry(name.to_string()).or_default().help = Some(unescape_help(help));
            } else if let Some(rest) = comment.strip_prefix("TYPE ") {
                let (name, kind) = rest
                    .split_once(' ')
                    .ok_or_else(|| fail(format!("TYPE needs a name and a type: {rest:?}")))?;
                check_name(name).map_err(fail)?;
                let kind = kind.trim();
                if !KINDS.contains(&kind) {
                    return Err(fail(format!(
                        "unknown metric type {kind:?}; expected one of {}",
                        KINDS.join(", ")
                    )));
                }
                out.families.entry(name.to_string()).or_default().kind = Some(kind.to_string());
            }
            continue;
        }
        out.samples.push(parse_sample(trimmed).map_err(fail)?);
    }
    Ok(out)
}

fn check_name(name: &str) -> Result<(), String> {
    let mut chars = name.chars();
    let first_ok = chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_' || c == ':');
    if first_ok && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':') {
        Ok(())
    } else {
        Err(format!("invalid metric name {name:?}"))
    }
}

fn parse_sample(line: &str) -> Result<Sample, String> {
    let name_end = line
        .find(|c: char| c == '{' || c.is_whitespace())
        .ok_or_else(|| format!("expected a value after the metric name: {line:?}"))?;
    let name = &line[..name_end];
    check_name(name)?;
    let mut rest = &line[name_end..];
    let mut labels = BTreeMap::new();
    if let Some(after) = rest.strip_prefix('{') {
        rest = parse_labels(after, &mut labels)?;
    }
    let mut fields = rest.split_whitespace();
    let value = fields
        .next()
        .ok_or_else(|| format!("{name}: expected a value"))
        .and_then(|v| parse_value(v).ok_or_else(|| format!("{name}: invalid value {v:?}")))?;
    let timestamp_ms = fields
        .next()
        .map(|t| {
            t.parse::<i64>()
                .map_err(|_| format!("{name}: invalid timestamp {t:?}"))
        })
        .transpose()?;
    if let Some(extra) = fields.next() {
        return Err(format!("{name}: unexpected {extra:?} after the timestamp"));
    }
    Ok(Sample {
        name: name.to_string(),
        labels,
        value,
        timestamp_ms,
    })
}

/// Parses `a="x",b="y"}` and returns what follows the closing brace.
fn parse_labels<'a>(
    mut text: &'a str,
    labels: &mut BTreeMap<String, String>,
) -> Result<&'a str, String> {
    loop {
        text = text.trim_start();
        if let Some(rest) = text.strip_prefix('}') {
            return Ok(rest);
        }
        let eq = text
            .find('=')
            .ok_or_else(|| format!("expected label=\"value\" in {text:?}"))?;
        let key = text[..eq].trim();
        if key.is_empty()
            || !key.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
            || key.starts_with(|c: char| c.is_ascii_digit())
        {
            return Err(format!("invalid label name {key:?}"));
        }
        let after = text[eq + 1..].trim_start();
        let mut chars = after
            .strip_prefix('"')
            .ok_or_else(|| format!("label {key}: expected a quoted value"))?
            .char_indices();
        let mut value = String::new();
        let end = loop {
            match chars.next() {
                None => return Err(format!("label {key}: unterminated value")),
                Some((i, '"')) => break i,
                Some((_, '\\')) => match chars.next() {
                    Some((_, 'n')) => value.push('\n'),
                    Some((_, '\\')) => value.push('\\'),
                    Some((_, '"')) => value.push('"'),
                    Some((_, c)) => return Err(format!("label {key}: unknown escape \\{c}")),
                    None => return Err(format!("label {key}: unterminated value")),
                },
                Some((_, c)) => value.push(c),
            }
        };
        labels.insert(key.to_string(), value);
        text = after[1 + end + 1..].trim_start();
        if let Some(rest) = text.strip_prefix(',') {
            text = rest;
        } else if !text.starts_with('}') {
            return Err(format!("expected ',' or '}}' after label {key}"));
        }
    }
}

fn parse_value(text: &str) -> Option<f64> {
    match text {
        "+Inf" | "Inf" => Some(f64::INFINITY),
        "-Inf" => Some(f64::NEG_INFINITY),
        "NaN" => Some(f64::NAN),
        _ => text.parse().ok(),
    }
}

fn unescape_help(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        match (c, chars.clone().next()) {
            ('\\', Some('n')) => {
                out.push('\n');
                chars.next();
            }
            ('\\', Some('\\')) => {
                out.push('\\');
                chars.next();
            }
            _ => out.push(c),
        }
    }
    out
}

/// Escapes a label value for the text format.
pub fn escape_label(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for c in value.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
    out
}

/// Formats a sample value as Prometheus does (`+Inf`, integers without `.0`).
pub fn format_value(v: f64) -> String {
    if v.is_infinite() {
        if v > 0.0 { "+Inf" } else { "-Inf" }.to_string()
    } else if v.is_nan() {
        "NaN".to_string()
    } else {
        format!("{v}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_families_samples_and_escapes() {
        let text = "# HELP http_requests_total Requests\\nserved.\n# TYPE http_requests_total counter\nhttp_requests_total{code=\"200\",path=\"/a\\\"b\\\\c\\nd\"} 1027 1395066363000\nhttp_requests_total{code=\"500\"} 3\nup 1\nlat_bucket{le=\"+Inf\",} 4\n";
        let e = parse(text).unwrap();
        let fam = &e.families["http_requests_total"];
        assert_eq!(fam.kind.as_deref(), Some("counter"));
        assert_eq!(fam.help.as_deref(), Some("Requests\nserved."));
        assert_eq!(e.samples.len(), 4);
        assert_eq!(e.samples[0].label("path"), Some("/a\"b\\c\nd"));
        assert_eq!(e.samples[0].timestamp_ms, Some(1_395_066_363_000));
        assert_eq!(e.samples[2].name, "up");
        assert_eq!(e.samples[3].label("le"), Some("+Inf"));
        assert!(parse("x +Inf").unwrap().samples[0].value.is_infinite());
    }

    #[test]
    fn errors_name_the_line() {
        let bad = |text: &str| parse(text).unwrap_err();
        assert_eq!(bad("up 1\nup{a=\"x\" 2\n").line, 2);
        assert!(bad("x{a=1} 2").message.contains("quoted"));
        assert!(bad("x{a=\"1\"} two").message.contains("invalid value"));
        assert!(
            bad("# TYPE x gauges")
                .message
                .contains("unknown metric type")
        );
        assert!(bad("9x 1").message.contains("invalid metric name"));
        assert!(bad("x{a=\"\\q\"} 1").message.contains("escape"));
        assert!(bad("x").message.contains("expected a value"));
    }

    #[test]
    fn escape_round_trips() {
        let nasty = "a\"b\\c\nd";
        let line = format!("m{{l=\"{}\"}} 1", escape_label(nasty));
        assert_eq!(parse(&line).unwrap().samples[0].label("l"), Some(nasty));
    }
}
