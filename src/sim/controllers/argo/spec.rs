//! What the controller reads from a Rollout's spec: the canary steps, the
//! traffic routing and the analyses, each with Argo's defaults. Pure.

use std::time::Duration;

use serde_json::Value;

/// One entry of `spec.strategy.canary.steps`.
#[derive(Debug, Clone, PartialEq)]
pub enum Step {
    SetWeight(u8),
    /// `pause: {}` waits for a person; `pause: {duration: 30s}` for the clock.
    Pause(Option<Duration>),
    /// `analysis: {templates: [...]}`: the template names.
    Analysis(Vec<String>),
    /// A step the sim does not model (experiment, setCanaryScale, plugin):
    /// passed over at once.
    Other,
}

/// Istio routing as `spec.strategy.canary.trafficRouting.istio` names it.
#[derive(Debug, Clone, PartialEq)]
pub struct IstioRouting {
    pub virtual_service: String,
    /// The DestinationRule whose subsets Argo pins to pod hashes; may be empty.
    pub destination_rule: String,
    /// Named HTTP routes to weight; empty means every route.
    pub routes: Vec<String>,
    pub canary_subset: String,
    pub stable_subset: String,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Canary {
    pub steps: Vec<Step>,
    pub istio: Option<IstioRouting>,
    pub canary_service: String,
    pub stable_service: String,
    /// Background analysis: its templates and the step it starts at.
    pub background: Option<(Vec<String>, usize)>,
}

impl Canary {
    pub fn traffic_routed(&self) -> bool {
        self.istio.is_some()
    }
}

/// Reads `spec.strategy.canary`; `None` when the Rollout is not a canary.
pub fn canary(rollout: &Value) -> Option<Canary> {
    let c = rollout.pointer("/spec/strategy/canary")?;
    let steps = c
        .get("steps")
        .and_then(Value::as_array)
        .map(|s| s.iter().map(step).collect())
        .unwrap_or_default();
    let text = |v: &Value, p: &str| v.pointer(p).and_then(Value::as_str).map(str::to_string);
    let istio = c.pointer("/trafficRouting/istio").map(|i| IstioRouting {
        virtual_service: text(i, "/virtualService/name").unwrap_or_default(),
        destination_rule: text(i, "/destinationRule/name").unwrap_or_default(),
        routes: i
            .pointer("/virtualService/routes")
            .and_then(Value::as_array)
            .map(|r| {
                r.iter()
                    .filter_map(Value::as_str)
                    .map(str::to_string)
                    .collect()
            })
            .unwrap_or_default(),
        canary_subset: text(i, "/destinationRule/canarySubsetName")
            .unwrap_or_else(|| "canary".into()),
        stable_subset: text(i, "/destinationRule/stableSubsetName")
            .unwrap_or_else(|| "stable".into()),
    });
    let background = c.get("analysis").map(|a| {
        let start = a
            .get("startingStep")
            .and_then(Value::as_u64)
            .map_or(0, |n| usize::try_from(n).unwrap_or(usize::MAX));
        (template_names(a), start)
    });
    Some(Canary {
        steps,
        istio,
        canary_service: text(c, "/canaryService").unwrap_or_default(),
        stable_service: text(c, "/stableService").unwrap_or_default(),
        background,
    })
}

fn step(v: &Value) -> Step {
    if let Some(w) = v.get("setWeight").and_then(Value::as_u64) {
        return Step::SetWeight(u8::try_from(w.min(100)).unwrap_or(100));
    }
    if let Some(p) = v.get("pause") {
        return Step::Pause(p.get("duration").and_then(duration));
    }
    if let Some(a) = v.get("analysis") {
        return Step::Analysis(template_names(a));
    }
    Step::Other
}

fn template_names(analysis: &Value) -> Vec<String> {
    analysis
        .get("templates")
        .and_then(Value::as_array)
        .map(|t| {
            t.iter()
                .filter_map(|t| t.get("templateName").and_then(Value::as_str))
                .map(str::to_string)
                .collect()
        })
        .unwrap_or_default()
}

/// A duration as Argo takes it: an integer of seconds, or a string with a
/// unit (`30s`, `5m`, `1h`), or digits in a string meaning seconds.
pub fn duration(v: &Value) -> Option<Duration> {
    if let Some(n) = v.as_u64() {
        return Some(Duration::from_secs(n));
    }
    let text = v.as_str()?.trim();
    if let Ok(n) = text.parse::<u64>() {
        return Some(Duration::from_secs(n));
    }
    crate::units::parse_duration(text).ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn steps_and_routing_read_with_argos_defaults() {
        let ro = json!({"spec": {"strategy": {"canary": {
            "canaryService": "web-canary",
            "steps": [{"setWeight": 20}, {"pause": {}}, {"pause": {"duration": "1m"}},
                      {"pause": {"duration": 30}}, {"analysis": {"templates": [{"templateName": "errors"}]}},
                      {"experiment": {}}],
            "trafficRouting": {"istio": {"virtualService": {"name": "web", "routes": ["primary"]}}},
            "analysis": {"templates": [{"templateName": "bg"}], "startingStep": 2}
        }}}});
        let c = canary(&ro).unwrap();
        assert_eq!(
            c.steps,
            [
                Step::SetWeight(20),
                Step::Pause(None),
                Step::Pause(Some(Duration::from_secs(60))),
                Step::Pause(Some(Duration::from_secs(30))),
                Step::Analysis(vec!["errors".into()]),
                Step::Other,
            ]
        );
        let istio = c.istio.unwrap();
        assert_eq!(
            (istio.virtual_service.as_str(), istio.routes.as_slice()),
            ("web", ["primary".to_string()].as_slice())
        );
        assert_eq!(
            (istio.stable_subset.as_str(), istio.canary_subset.as_str()),
            ("stable", "canary")
        );
        assert_eq!(c.background, Some((vec!["bg".into()], 2)));
        assert!(canary(&json!({"spec": {"strategy": {"blueGreen": {}}}})).is_none());
    }
}
