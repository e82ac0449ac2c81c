//! No router: traffic spreads over ready pods, so the split is the share of
//! ready pods per version, and changing it means scaling the Deployments.

use serde_json::{Value, json};

use super::{Patch, RouterError, Weights, percentages};

/// Whether a pod passes its readiness check (its `Ready` condition is `True`).
pub fn is_ready(pod: &Value) -> bool {
    pod.pointer("/status/conditions")
        .and_then(Value::as_array)
        .is_some_and(|cs| {
            cs.iter().any(|c| {
                c.get("type").and_then(Value::as_str) == Some("Ready")
                    && c.get("status").and_then(Value::as_str) == Some("True")
            })
        })
        && pod.pointer("/metadata/deletionTimestamp").is_none()
}

/// The share of ready pods per version (by the `version` label), for `versions`
/// in that order; pods of other versions are ignored.
pub fn weights(pods: &[&Value], versions: &[String]) -> Weights {
    let raw: Vec<(String, u64)> = versions
        .iter()
        .map(|v| {
            let ready = pods
                .iter()
                .filter(|p| {
                    p.pointer("/metadata/labels/version")
                        .and_then(Value::as_str)
                        == Some(v)
                        && is_ready(p)
                })
                .count() as u64;
            (v.clone(), ready)
        })
        .collect();
    percentages(&raw)
}

/// Replica counts per version out of `total` that come closest to `wanted`,
/// as merge patches for each version's Deployment (`app-version`).
pub fn set_weights(
    app: &str,
    total: u32,
    wanted: &Weights,
) -> Result<Vec<(String, Patch)>, RouterError> {
    let sum: u32 = wanted.iter().map(|(_, w)| u32::from(*w)).sum();
    if sum != 100 {
        return Err(RouterError::BadWeights(format!(
            "weights {wanted:?} add up to {sum}, not 100"
        )));
    }
    let raw: Vec<(String, u64)> = wanted
        .iter()
        .map(|(v, w)| (v.clone(), u64::from(*w)))
        .collect();
    // Largest remainder over `total` replicas instead of over 100 percent.
    let replicas: Vec<(String, u32)> = {
        let mut out: Vec<(String, u32, u64)> = raw
            .iter()
            .map(|(v, w)| {
                let scaled = w * u64::from(total);
                (v.clone(), (scaled / 100) as u32, scaled % 100)
            })
            .collect();
        let mut left = total - out.iter().map(|(_, r, _)| r).sum::<u32>();
        let mut order: Vec<usize> = (0..out.len()).collect();
        order.sort_by(|a, b| out[*b].2.cmp(&out[*a].2).then(a.cmp(b)));
        for i in order {
            if left == 0 {
                break;
            }
            out[i].1 += 1;
            left -= 1;
        }
        out.into_iter().map(|(v, r, _)| (v, r)).collect()
    };
    Ok(replicas
        .into_iter()
        .map(|(v, r)| {
            (
                format!("{app}-{v}"),
                Patch::Merge(json!({"spec": {"replicas": r}})),
            )
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pod(version: &str, ready: bool) -> Value {
        json!({"metadata": {"labels": {"app": "a", "version": version}},
               "status": {"conditions": [{"type": "Ready", "status": if ready {"True"} else {"False"}}]}})
    }

    #[test]
    fn ready_pods_decide_the_split() {
        let pods = [
            pod("stable", true),
            pod("stable", true),
            pod("stable", true),
            pod("canary", true),
            pod("canary", false),
        ];
        let refs: Vec<&Value> = pods.iter().collect();
        let w = weights(&refs, &["stable".into(), "canary".into()]);
        assert_eq!(w, vec![("stable".into(), 75), ("canary".into(), 25)]);
    }

    #[test]
    fn pods_without_status_are_not_ready() {
        assert!(!is_ready(&json!({"metadata": {}})));
        assert!(!is_ready(&json!({"status": {"conditions": "yes"}})));
    }

    #[test]
    fn scaling_follows_the_weights() {
        let wanted = vec![("stable".to_string(), 75), ("canary".to_string(), 25)];
        let patches = set_weights("a", 4, &wanted).unwrap();
        assert_eq!(patches[0].0, "a-stable");
        assert_eq!(patches[0].1.body(), &json!({"spec": {"replicas": 3}}));
        assert_eq!(patches[1].1.body(), &json!({"spec": {"replicas": 1}}));
        assert!(set_weights("a", 4, &vec![("stable".to_string(), 10)]).is_err());
    }
}
