//! The `pod-template-hash`: a short, stable name for a pod template.
//!
//! Kubernetes hashes the template with FNV-1a (32 bits), prints the number in
//! decimal and maps each digit onto its "safe" alphabet (no vowels, no
//! look-alike characters), giving 8 to 10 characters. Templates are compared
//! after normalising away what a round trip through a typed client adds or drops
//! (nulls, empty maps and lists, and the zero values Go's `omitempty` leaves out,
//! such as `initialDelaySeconds: 0`), so `kubectl rollout undo`, which sends back
//! a ReplicaSet's template, finds that ReplicaSet again.

use std::fmt::Write;

use serde_json::{Map, Value};

/// The label every ReplicaSet and pod of a Deployment carries.
pub const POD_TEMPLATE_HASH: &str = "pod-template-hash";

const SAFE_ALPHABET: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";

/// The hash of a template (with the Deployment's `collisionCount`, if any).
pub fn template_hash(template: &Value, collision_count: Option<i64>) -> String {
    let mut text = String::new();
    write_canonical(&normalize(without_hash_label(template)), &mut text);
    if let Some(n) = collision_count {
        text.push_str(&n.to_string());
    }
    safe_encode(&fnv1a32(text.as_bytes()).to_string())
}

/// Whether two templates are the same once the hash label and the noise of a
/// client round trip are set aside.
pub fn same_template(a: &Value, b: &Value) -> bool {
    normalize(without_hash_label(a)) == normalize(without_hash_label(b))
}

fn without_hash_label(template: &Value) -> Value {
    let mut t = template.clone();
    if let Some(labels) = t
        .pointer_mut("/metadata/labels")
        .and_then(Value::as_object_mut)
    {
        labels.remove(POD_TEMPLATE_HASH);
    }
    t
}

/// Drops nulls, empty objects and arrays, and zero scalars, recursively. A
/// zero is what a typed client omits, so it cannot mean anything an absent
/// field does not.
pub fn normalize(value: Value) -> Value {
    match value {
        Value::Object(map) => Value::Object(
            map.into_iter()
                .map(|(k, v)| (k, normalize(v)))
                .filter(|(_, v)| !is_empty(v))
                .collect::<Map<String, Value>>(),
        ),
        Value::Array(items) => Value::Array(items.into_iter().map(normalize).collect()),
        other => other,
    }
}

fn is_empty(v: &Value) -> bool {
    match v {
        Value::Null => true,
        Value::Object(m) => m.is_empty(),
        Value::Array(a) => a.is_empty(),
        Value::Bool(b) => !b,
        Value::Number(n) => n.as_f64() == Some(0.0),
        Value::String(s) => s.is_empty(),
    }
}

/// JSON with object keys sorted, whatever order the map keeps them in.
fn write_canonical(value: &Value, out: &mut String) {
    match value {
        Value::Object(map) => {
            let mut keys: Vec<&String> = map.keys().collect();
            keys.sort();
            out.push('{');
            for (i, k) in keys.into_iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                out.push_str(&Value::String(k.clone()).to_string());
                out.push(':');
                write_canonical(&map[k], out);
            }
            out.push('}');
        }
        Value::Array(items) => {
            out.push('[');
            for (i, v) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_canonical(v, out);
            }
            out.push(']');
        }
        other => out.push_str(&other.to_string()),
    }
}

fn fnv1a32(bytes: &[u8]) -> u32 {
    bytes.iter().fold(0x811c_9dc5_u32, |h, b| {
        (h ^ u32::from(*b)).wrapping_mul(0x0100_0193)
    })
}

fn safe_encode(digits: &str) -> String {
    digits
        .bytes()
        .map(|b| SAFE_ALPHABET[usize::from(b) % SAFE_ALPHABET.len()] as char)
        .collect()
}

/// A 64-bit FNV-1a over several strings, for names that must be stable
/// (event names, addresses).
pub fn fnv1a64(parts: &[&str]) -> u64 {
    let mut h = 0xcbf2_9ce4_8422_2325_u64;
    for part in parts {
        for b in part.bytes().chain(std::iter::once(0)) {
            h = (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3);
        }
    }
    h
}

/// 64 hex digits derived from `parts`: stands in for a sha256 digest or a
/// container ID, stable for the same input.
pub fn digest(parts: &[&str]) -> String {
    (0..4u8).fold(String::with_capacity(64), |mut out, i| {
        let salt = i.to_string();
        let mut all: Vec<&str> = parts.to_vec();
        all.push(&salt);
        let _ = write!(out, "{:016x}", fnv1a64(&all));
        out
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn template(image: &str) -> Value {
        json!({"metadata": {"labels": {"app": "web"}},
               "spec": {"containers": [{"name": "web", "image": image}]}})
    }

    #[test]
    fn hash_is_short_safe_and_stable() {
        let h = template_hash(&template("web:1"), None);
        assert!((8..=10).contains(&h.len()), "{h}");
        assert!(h.bytes().all(|b| SAFE_ALPHABET.contains(&b)));
        assert_eq!(h, template_hash(&template("web:1"), None));
        assert_ne!(h, template_hash(&template("web:2"), None));
        assert_ne!(h, template_hash(&template("web:1"), Some(1)));
    }

    #[test]
    fn round_trip_noise_does_not_change_the_template() {
        let mut echoed = template("web:1");
        echoed["metadata"]["creationTimestamp"] = Value::Null;
        echoed["metadata"]["labels"][POD_TEMPLATE_HASH] = json!("abc");
        echoed["spec"]["containers"][0]["resources"] = json!({});
        echoed["spec"]["containers"][0]["readinessProbe"] = json!({"periodSeconds": 5});
        let mut stored = template("web:1");
        stored["spec"]["containers"][0]["readinessProbe"] =
            json!({"periodSeconds": 5, "initialDelaySeconds": 0, "tcpSocket": {"host": ""}});
        assert!(same_template(&stored, &echoed));
        echoed["spec"]["containers"][0]
            .as_object_mut()
            .unwrap()
            .remove("readinessProbe");
        assert!(same_template(&template("web:1"), &echoed));
        assert_eq!(
            template_hash(&template("web:1"), None),
            template_hash(&echoed, None)
        );
        assert!(!same_template(&template("web:1"), &template("web:2")));
    }

    #[test]
    fn key_order_does_not_matter() {
        let a: Value = serde_json::from_str(r#"{"a":1,"b":{"c":2,"d":3}}"#).unwrap();
        let b: Value = serde_json::from_str(r#"{"b":{"d":3,"c":2},"a":1}"#).unwrap();
        let (mut x, mut y) = (String::new(), String::new());
        write_canonical(&a, &mut x);
        write_canonical(&b, &mut y);
        assert_eq!(x, y);
    }
}
