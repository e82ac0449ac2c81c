//! A kubeconfig that points kubectl, kube-rs and other clients at the simulator.

use std::fmt::Write as _;

/// The user the kubeconfig names, and the one the server says every
/// authenticated caller is (SelfSubjectReview).
pub const USER: &str = "flightdeck-sim";

/// YAML with a cluster, user and context all named `flightdeck-sim`, the
/// context current and set to `namespace`.
pub fn kubeconfig(server_url: &str, token: Option<&str>, namespace: &str) -> String {
    let user = match token {
        Some(token) => format!("    token: {}\n", quote(token)),
        None => "    {}\n".to_string(),
    };
    let user = if token.is_some() {
        format!("  user:\n{user}")
    } else {
        "  user: {}\n".to_string()
    };
    format!(
        "apiVersion: v1\nkind: Config\nclusters:\n- name: flightdeck-sim\n  cluster:\n    server: {server}\ncontexts:\n- name: flightdeck-sim\n  context:\n    cluster: flightdeck-sim\n    user: {USER}\n    namespace: {ns}\ncurrent-context: flightdeck-sim\nusers:\n- name: {USER}\n{user}preferences: {{}}\n",
        server = quote(server_url),
        ns = quote(namespace),
    )
}

/// YAML naming several simulated clusters, each `(context, server url,
/// namespace)` with a cluster and context of that name, the first current.
pub fn fleet_kubeconfig(clusters: &[(&str, &str, &str)]) -> String {
    let mut out = String::from("apiVersion: v1\nkind: Config\nclusters:\n");
    for (name, server, _) in clusters {
        let _ = write!(
            out,
            "- name: {}\n  cluster:\n    server: {}\n",
            quote(name),
            quote(server)
        );
    }
    out.push_str("contexts:\n");
    for (name, _, ns) in clusters {
        let _ = write!(
            out,
            "- name: {n}\n  context:\n    cluster: {n}\n    user: {USER}\n    namespace: {}\n",
            quote(ns),
            n = quote(name)
        );
    }
    if let Some((first, _, _)) = clusters.first() {
        let _ = writeln!(out, "current-context: {}", quote(first));
    }
    let _ = write!(
        out,
        "users:\n- name: {USER}\n  user: {{}}\npreferences: {{}}\n"
    );
    out
}

/// A YAML double-quoted scalar.
fn quote(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 2);
    out.push('"');
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if c.is_control() => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_as_a_kubeconfig() {
        let text = kubeconfig("http://127.0.0.1:1234", Some("s3cret"), "shop");
        let doc: serde_yaml::Value = serde_yaml::from_str(&text).unwrap();
        assert_eq!(doc["current-context"].as_str(), Some("flightdeck-sim"));
        assert_eq!(
            doc["clusters"][0]["cluster"]["server"].as_str(),
            Some("http://127.0.0.1:1234")
        );
        assert_eq!(
            doc["contexts"][0]["context"]["namespace"].as_str(),
            Some("shop")
        );
        assert_eq!(doc["users"][0]["user"]["token"].as_str(), Some("s3cret"));
        let fleet = fleet_kubeconfig(&[
            ("east", "http://127.0.0.1:1", "shop"),
            ("west", "http://127.0.0.1:2", "web"),
        ]);
        let doc: serde_yaml::Value = serde_yaml::from_str(&fleet).unwrap();
        assert_eq!(doc["current-context"].as_str(), Some("east"));
        assert_eq!(
            doc["contexts"][1]["context"]["cluster"].as_str(),
            Some("west")
        );
        assert_eq!(
            doc["clusters"][1]["cluster"]["server"].as_str(),
            Some("http://127.0.0.1:2")
        );
        let open = kubeconfig("http://127.0.0.1:1", None, "default");
        let doc: serde_yaml::Value = serde_yaml::from_str(&open).unwrap();
        assert!(doc["users"][0]["user"].as_mapping().is_some());
    }
}
