//! Label and field selectors, parsed as the API server parses them.

use serde_json::Value;

use crate::sim::resources::Resource;

#[derive(Debug, Clone, PartialEq, Eq)]
enum Op {
    Equals(String),
    NotEquals(String),
    In(Vec<String>),
    NotIn(Vec<String>),
    Exists,
    DoesNotExist,
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct Requirement {
    key: String,
    op: Op,
}

/// A parsed `labelSelector`; the empty selector matches everything.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LabelSelector {
    requirements: Vec<Requirement>,
}

impl LabelSelector {
    pub fn parse(text: &str) -> Result<Self, String> {
        let mut requirements = Vec::new();
        for term in split_terms(text)? {
            let term = term.trim();
            if term.is_empty() {
                continue;
            }
            requirements.push(parse_requirement(term)?);
        }
        Ok(Self { requirements })
    }

    pub fn is_empty(&self) -> bool {
        self.requirements.is_empty()
    }

    pub fn matches(&self, object: &Value) -> bool {
        let labels = object.pointer("/metadata/labels");
        self.requirements.iter().all(|r| {
            let value = labels.and_then(|l| l.get(&r.key)).and_then(Value::as_str);
            match (&r.op, value) {
                (Op::Equals(want), Some(v)) => v == want,
                (Op::NotEquals(want), v) => v != Some(want.as_str()),
                (Op::In(set), Some(v)) => set.iter().any(|s| s == v),
                (Op::NotIn(set), v) => v.is_none_or(|v| !set.iter().any(|s| s == v)),
                (Op::Exists, v) => v.is_some(),
                (Op::DoesNotExist, v) => v.is_none(),
                (Op::Equals(_) | Op::In(_), None) => false,
            }
        })
    }
}

/// Splits on commas outside parentheses (`a in (x,y),b` is two terms).
fn split_terms(text: &str) -> Result<Vec<&str>, String> {
    let mut terms = Vec::new();
    let mut depth = 0usize;
    let mut start = 0;
    for (i, c) in text.char_indices() {
        match c {
            '(' => depth += 1,
            ')' => {
                depth = depth.checked_sub(1).ok_or_else(|| {
                    format!("unable to parse requirement: unexpected ')' in {text:?}")
                })?;
            }
            ',' if depth == 0 => {
                terms.push(&text[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    if depth != 0 {
        return Err(format!(
            "unable to parse requirement: found '', expected: ')' in {text:?}"
        ));
    }
    terms.push(&text[start..]);
    Ok(terms)
}

fn parse_requirement(term: &str) -> Result<Requirement, String> {
    if let Some(key) = term.strip_prefix('!') {
        let key = key.trim();
        check_key(key)?;
        return Ok(Requirement {
            key: key.to_string(),
            op: Op::DoesNotExist,
        });
    }
    for (word, negate) in [(" notin ", true), (" in ", false)] {
        if let Some(pos) = term.find(word) {
            let key = term[..pos].trim();
            check_key(key)?;
            let set = term[pos + word.len()..].trim();
            let inner = set
                .strip_prefix('(')
                .and_then(|s| s.strip_suffix(')'))
                .ok_or_else(|| {
                    format!("unable to parse requirement: found '{set}', expected: '('")
                })?;
            let values: Vec<String> = inner.split(',').map(|v| v.trim().to_string()).collect();
            for v in &values {
                check_value(v)?;
            }
            let op = if negate {
                Op::NotIn(values)
            } else {
                Op::In(values)
            };
            return Ok(Requirement {
                key: key.to_string(),
                op,
            });
        }
    }
    for (sym, negate) in [("!=", true), ("==", false), ("=", false)] {
        if let Some(pos) = term.find(sym) {
            let key = term[..pos].trim();
            let value = term[pos + sym.len()..].trim();
            check_key(key)?;
            check_value(value)?;
            let op = if negate {
                Op::NotEquals(value.to_string())
            } else {
                Op::Equals(value.to_string())
            };
            return Ok(Requirement {
                key: key.to_string(),
                op,
            });
        }
    }
    check_key(term)?;
    Ok(Requirement {
        key: term.to_string(),
        op: Op::Exists,
    })
}

fn check_key(key: &str) -> Result<(), String> {
    let (prefix, name) = key.rsplit_once('/').unwrap_or(("", key));
    let name_ok = !name.is_empty()
        && name.len() <= 63
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
        && name.starts_with(|c: char| c.is_ascii_alphanumeric())
        && name.ends_with(|c: char| c.is_ascii_alphanumeric());
    let prefix_ok = prefix.len() <= 253
        && prefix
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '-' | '.'));
    if name_ok && prefix_ok && (!key.contains('/') || !prefix.is_empty()) {
        Ok(())
    } else {
        Err(format!(
            "unable to parse requirement: invalid label key \"{key}\": name part must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character"
        ))
    }
}

fn check_value(value: &str) -> Result<(), String> {
    let ok = value.is_empty()
        || (value.len() <= 63
            && value
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
            && value.starts_with(|c: char| c.is_ascii_alphanumeric())
            && value.ends_with(|c: char| c.is_ascii_alphanumeric()));
    if ok {
        Ok(())
    } else {
        Err(format!(
            "unable to parse requirement: invalid label value: \"{value}\": a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character"
        ))
    }
}

/// A parsed `fieldSelector`: `field=value`, `field==value` or `field!=value` terms.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FieldSelector {
    terms: Vec<(String, bool, String)>,
}

impl FieldSelector {
    /// Parses a selector, accepting only the fields `res` supports, as the API
    /// server does (`field label not supported: ...`).
    pub fn parse(text: &str, res: &Resource) -> Result<Self, String> {
        let mut terms = Vec::new();
        for term in text.split(',').map(str::trim).filter(|t| !t.is_empty()) {
            let (field, equal, value) = if let Some((f, v)) = term.split_once("!=") {
                (f, false, v)
            } else if let Some((f, v)) = term.split_once("==") {
                (f, true, v)
            } else if let Some((f, v)) = term.split_once('=') {
                (f, true, v)
            } else {
                return Err(format!(
                    "invalid selector: '{text}'; can't understand '{term}'"
                ));
            };
            let field = field.trim();
            if !supported_field(res, field) {
                return Err(format!("field label not supported: {field}"));
            }
            terms.push((field.to_string(), equal, value.trim().to_string()));
        }
        Ok(Self { terms })
    }

    pub fn is_empty(&self) -> bool {
        self.terms.is_empty()
    }

    pub fn matches(&self, object: &Value) -> bool {
        self.terms.iter().all(|(field, equal, want)| {
            let pointer = format!("/{}", field.replace('.', "/"));
            let value = match object.pointer(&pointer) {
                Some(Value::String(s)) => s.clone(),
                Some(Value::Null) | None => String::new(),
                Some(other) => other.to_string(),
            };
            (value == *want) == *equal
        })
    }
}

fn supported_field(res: &Resource, field: &str) -> bool {
    if matches!(field, "metadata.name" | "metadata.namespace") {
        return true;
    }
    match (res.group, res.plural) {
        ("", "pods") => matches!(
            field,
            "status.phase"
                | "spec.nodeName"
                | "status.podIP"
                | "spec.restartPolicy"
                | "spec.schedulerName"
                | "spec.serviceAccountName"
        ),
        ("", "events") => matches!(
            field,
            "involvedObject.name"
                | "involvedObject.kind"
                | "involvedObject.namespace"
                | "involvedObject.uid"
                | "involvedObject.apiVersion"
                | "involvedObject.resourceVersion"
                | "involvedObject.fieldPath"
                | "reason"
                | "reportingComponent"
                | "source"
                | "type"
        ),
        ("", "namespaces") => field == "status.phase",
        ("", "nodes") => field == "spec.unschedulable",
        ("apps", "replicasets") => field == "status.replicas",
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sim::resources::kinds;
    use serde_json::json;

    fn pod(labels: &Value) -> Value {
        json!({"metadata": {"name": "p", "labels": labels}, "status": {"phase": "Running"}, "spec": {"nodeName": "n1"}})
    }

    #[test]
    fn equality_and_sets() {
        let p = pod(&json!({"app": "web", "track": "canary"}));
        for (sel, want) in [
            ("app=web", true),
            ("app==web", true),
            ("app!=web", false),
            ("app=web,track=stable", false),
            ("track in (canary, stable)", true),
            ("track notin (canary)", false),
            ("missing notin (x)", true),
            ("app", true),
            ("!app", false),
            ("!missing", true),
            ("app in (web),track", true),
            ("", true),
        ] {
            assert_eq!(
                LabelSelector::parse(sel).unwrap().matches(&p),
                want,
                "{sel}"
            );
        }
    }

    #[test]
    fn bad_selectors_are_refused() {
        for sel in ["app in (web", "a b=c", "app=we b", "=x", "app in web", "a)"] {
            assert!(LabelSelector::parse(sel).is_err(), "{sel}");
        }
    }

    #[test]
    fn field_selectors() {
        let p = pod(&json!({}));
        let pods = kinds::pods();
        assert!(
            FieldSelector::parse("status.phase=Running", pods)
                .unwrap()
                .matches(&p)
        );
        assert!(
            !FieldSelector::parse("spec.nodeName!=n1", pods)
                .unwrap()
                .matches(&p)
        );
        assert!(
            FieldSelector::parse("metadata.name==p", pods)
                .unwrap()
                .matches(&p)
        );
        assert!(FieldSelector::parse("spec.bogus=1", pods).is_err());
        assert!(FieldSelector::parse("status.phase", pods).is_err());
        let ev = json!({"involvedObject": {"name": "web", "kind": "Pod"}});
        assert!(
            FieldSelector::parse(
                "involvedObject.name=web,involvedObject.kind=Pod",
                kinds::events()
            )
            .unwrap()
            .matches(&ev)
        );
    }
}
