//! Scenarios: what the simulated cluster holds and how its apps behave.
//!
//! A scenario is a TOML file (`assets/scenarios/*.toml`, embedded in the binary,
//! or any path). It is parsed strictly: an unknown field, a wrong type or an
//! impossible value is refused with the file, line and column.

use std::path::Path;
use std::time::Duration;

use serde::Deserialize;

use crate::config::{FileError, parse_toml};
use crate::units::{de_bytes, de_duration, de_opt_duration};

/// Scenarios shipped inside the binary, by name.
pub const BUILTIN: &[(&str, &str)] = &[
    (
        "healthy-canary",
        include_str!("../../assets/scenarios/healthy-canary.toml"),
    ),
    (
        "bad-canary",
        include_str!("../../assets/scenarios/bad-canary.toml"),
    ),
    (
        "slow-canary",
        include_str!("../../assets/scenarios/slow-canary.toml"),
    ),
    (
        "crashloop",
        include_str!("../../assets/scenarios/crashloop.toml"),
    ),
    (
        "memory-leak",
        include_str!("../../assets/scenarios/memory-leak.toml"),
    ),
    (
        "blue-green",
        include_str!("../../assets/scenarios/blue-green.toml"),
    ),
    (
        "rolling",
        include_str!("../../assets/scenarios/rolling.toml"),
    ),
    ("large", include_str!("../../assets/scenarios/large.toml")),
    (
        "argo-canary",
        include_str!("../../assets/scenarios/argo-canary.toml"),
    ),
    (
        "argo-blue-green",
        include_str!("../../assets/scenarios/argo-blue-green.toml"),
    ),
    (
        "flagger-canary",
        include_str!("../../assets/scenarios/flagger-canary.toml"),
    ),
    (
        "fleet-east",
        include_str!("../../assets/scenarios/fleet-east.toml"),
    ),
    (
        "fleet-west",
        include_str!("../../assets/scenarios/fleet-west.toml"),
    ),
];

/// Built-in fleets: several clusters started together, one scenario each,
/// every context named after its scenario.
pub const FLEETS: &[(&str, &[&str])] = &[("fleet", &["fleet-east", "fleet-west"])];

/// The scenarios of a built-in fleet, if `name` is one.
pub fn fleet(name: &str) -> Option<&'static [&'static str]> {
    FLEETS.iter().find(|(n, _)| *n == name).map(|(_, s)| *s)
}

#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Scenario {
    pub name: String,
    #[serde(default)]
    pub description: String,
    #[serde(default)]
    pub cluster: ClusterSpec,
    #[serde(default)]
    pub apps: Vec<AppSpec>,
    /// Faults that start on their own at a given time.
    #[serde(default)]
    pub faults: Vec<ScheduledFault>,
}

#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ClusterSpec {
    #[serde(default = "default_namespaces")]
    pub namespaces: Vec<String>,
    #[serde(default = "default_node_count")]
    pub nodes: u32,
    #[serde(default = "default_node_prefix")]
    pub node_prefix: String,
    #[serde(default = "default_node_cpu")]
    pub node_cpu: String,
    #[serde(default = "default_node_memory")]
    pub node_memory: String,
    /// Kubernetes version reported at `/version`.
    #[serde(default = "default_k8s_version")]
    pub version: String,
}

impl Default for ClusterSpec {
    fn default() -> Self {
        Self {
            namespaces: default_namespaces(),
            nodes: default_node_count(),
            node_prefix: default_node_prefix(),
            node_cpu: default_node_cpu(),
            node_memory: default_node_memory(),
            version: default_k8s_version(),
        }
    }
}

fn default_namespaces() -> Vec<String> {
    vec!["default".into()]
}
fn default_node_count() -> u32 {
    3
}
fn default_node_prefix() -> String {
    "sim-node-".into()
}
fn default_node_cpu() -> String {
    "8".into()
}
fn default_node_memory() -> String {
    "32Gi".into()
}
fn default_k8s_version() -> String {
    "v1.33.0".into()
}

#[derive(Debug, Clone, Copy, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "kebab-case")]
pub enum Strategy {
    Canary,
    BlueGreen,
    Rolling,
    /// An Argo Rollouts `Rollout` (canary steps), mid-way from stable to canary.
    ArgoCanary,
    /// An Argo Rollouts `Rollout` (blue-green), the new version up behind the preview Service.
    ArgoBlueGreen,
    /// A Flagger `Canary` over a Deployment, the canary's image just applied.
    FlaggerCanary,
}

/// The traffic routers a scenario can create objects for.
#[derive(Debug, Clone, Copy, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "kebab-case")]
pub enum RouterKind {
    Istio,
    GatewayApi,
    Smi,
    Nginx,
}

#[derive(Debug, Clone, Copy, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "kebab-case")]
pub enum LogFormat {
    #[default]
    Plain,
    Json,
}

#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct AppSpec {
    pub name: String,
    #[serde(default = "default_namespace")]
    pub namespace: String,
    pub strategy: Strategy,
    #[serde(default = "default_port")]
    pub port: u16,
    /// Requests per second the app receives in all, before the gentle wobble.
    #[serde(default = "default_rps")]
    pub requests_per_second: f64,
    /// Router objects to create for a canary (or a weighted blue-green).
    #[serde(default)]
    pub routers: Vec<RouterKind>,
    /// For blue-green: the slot the active Service selects at start.
    #[serde(default)]
    pub active_slot: Option<String>,
    #[serde(default)]
    pub log_format: LogFormat,
    /// Request paths the access log and metrics are spread over.
    #[serde(default = "default_paths")]
    pub paths: Vec<String>,
    /// A Flagger Canary's promotion waits on the loadtester's gate, and its
    /// rollback gate can fail it (`confirm-promotion` and `rollback` webhooks).
    #[serde(default)]
    pub gates: bool,
    /// Argo canary: promoted past each indefinite pause until the Rollout
    /// reaches this step (`status.currentStepIndex`), as a person would.
    #[serde(default)]
    pub step: Option<u32>,
    /// Argo canary: aborted once it first pauses, as a person would.
    #[serde(default)]
    pub abort: bool,
    /// Rolling: the Deployment is paused once its pods are up; Flagger: the
    /// Canary starts suspended.
    #[serde(default)]
    pub paused: bool,
    /// Canary: a flightdeck rollout already started on it, its state
    /// ConfigMap as `flightdeck start` and later stages leave it.
    #[serde(default)]
    pub flightdeck: Option<RolloutSeed>,
    pub versions: Vec<VersionSpec>,
}

/// Where a seeded flightdeck rollout stands.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct RolloutSeed {
    /// The stage it is at, from 1, of the five of `canary-istio.toml`
    /// (10, 25, 50, 75, 100%).
    pub stage: usize,
    #[serde(default)]
    pub state: RolloutSeedState,
}

#[derive(Debug, Clone, Copy, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "kebab-case")]
pub enum RolloutSeedState {
    /// Waiting for the captain's go.
    #[default]
    Paused,
    Progressing,
    /// Held by a failed analysis.
    FailingAnalysis,
    /// Rolled back: all traffic on stable.
    Aborted,
}

fn default_namespace() -> String {
    "default".into()
}
fn default_port() -> u16 {
    8080
}
fn default_rps() -> f64 {
    50.0
}
fn default_paths() -> Vec<String> {
    vec!["/".into()]
}

#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct VersionSpec {
    /// The `version` label: `stable`/`canary`, a slot name, or a release name.
    pub name: String,
    pub image: String,
    pub replicas: u32,
    /// Initial route weight (canary routers), in percent.
    #[serde(default)]
    pub weight: Option<u8>,
    /// Blue-green slot label (`blue` or `green`).
    #[serde(default)]
    pub slot: Option<String>,
    /// The image cannot be pulled: pods stay in ImagePullBackOff.
    #[serde(default)]
    pub missing_image: bool,
    /// Time from container start to passing its readiness probe.
    #[serde(default = "default_ready_after", deserialize_with = "de_duration")]
    pub ready_after: Duration,
    #[serde(default = "default_memory_limit", deserialize_with = "de_bytes")]
    pub memory_limit: u64,
    #[serde(default = "default_cpu_limit")]
    pub cpu_limit: String,
    #[serde(default)]
    pub behaviour: Behaviour,
}

fn default_ready_after() -> Duration {
    Duration::from_secs(5)
}
fn default_memory_limit() -> u64 {
    512 * 1024 * 1024
}
fn default_cpu_limit() -> String {
    "500m".into()
}

/// How a version serves: its numbers at rest and how they change over time.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Behaviour {
    /// Share of requests answered 5xx, 0.0–1.0.
    #[serde(default = "default_error_ratio")]
    pub error_ratio: f64,
    #[serde(default = "default_p50")]
    pub latency_p50_ms: f64,
    #[serde(default = "default_p99")]
    pub latency_p99_ms: f64,
    #[serde(default = "default_memory", deserialize_with = "de_bytes")]
    pub memory: u64,
    /// Memory growth per minute of uptime, in bytes (a slow leak).
    #[serde(default, deserialize_with = "de_opt_bytes")]
    pub memory_leak_per_minute: Option<u64>,
    #[serde(default = "default_cpu")]
    pub cpu_cores: f64,
    /// Chance per pod per hour of a crash (exit 1, then restart).
    #[serde(default)]
    pub crashes_per_hour: f64,
    /// Crash right after start every time (CrashLoopBackOff).
    #[serde(default)]
    pub crash_on_start: bool,
    /// Changes over time, applied in order.
    #[serde(default)]
    pub phases: Vec<Phase>,
}

fn de_opt_bytes<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<u64>, D::Error> {
    let text = Option::<String>::deserialize(d)?;
    text.map(|t| crate::units::parse_bytes(&t).map_err(serde::de::Error::custom))
        .transpose()
}

impl Default for Behaviour {
    fn default() -> Self {
        Self {
            error_ratio: default_error_ratio(),
            latency_p50_ms: default_p50(),
            latency_p99_ms: default_p99(),
            memory: default_memory(),
            memory_leak_per_minute: None,
            cpu_cores: default_cpu(),
            crashes_per_hour: 0.0,
            crash_on_start: false,
            phases: Vec::new(),
        }
    }
}

fn default_error_ratio() -> f64 {
    0.002
}
fn default_p50() -> f64 {
    40.0
}
fn default_p99() -> f64 {
    180.0
}
fn default_memory() -> u64 {
    160 * 1024 * 1024
}
fn default_cpu() -> f64 {
    0.15
}

/// When a phase's clock starts.
#[derive(Debug, Clone, Copy, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "kebab-case")]
pub enum PhaseAnchor {
    /// The start of the simulation.
    #[default]
    Start,
    /// The first moment the version receives traffic.
    FirstTraffic,
}

/// "5xx climbs from 0.5% to 8% two minutes after the canary first gets traffic":
/// `after = "2m"`, `from = "first-traffic"`, `ramp = "1m"`, `error_ratio = 0.08`.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Phase {
    #[serde(deserialize_with = "de_duration")]
    pub after: Duration,
    #[serde(default)]
    pub from: PhaseAnchor,
    /// Time to move linearly from the previous values to these.
    #[serde(default, deserialize_with = "de_opt_duration")]
    pub ramp: Option<Duration>,
    #[serde(default)]
    pub error_ratio: Option<f64>,
    #[serde(default)]
    pub latency_p50_ms: Option<f64>,
    #[serde(default)]
    pub latency_p99_ms: Option<f64>,
    #[serde(default)]
    pub crashes_per_hour: Option<f64>,
}

/// A fault that starts by itself at `at` (sim time since start).
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ScheduledFault {
    #[serde(deserialize_with = "de_duration")]
    pub at: Duration,
    /// How long it lasts; forever when absent.
    #[serde(default, deserialize_with = "de_opt_duration")]
    pub duration: Option<Duration>,
    /// The fault, in the same shape `POST /sim/faults` takes.
    pub fault: toml::Table,
}

impl Scenario {
    /// Loads a built-in scenario by name, or a file by path.
    pub fn load(name_or_path: &str) -> Result<Self, FileError> {
        if let Some((name, text)) = BUILTIN.iter().find(|(n, _)| *n == name_or_path) {
            return Self::parse(Path::new(&format!("assets/scenarios/{name}.toml")), text);
        }
        let path = Path::new(name_or_path);
        let text = std::fs::read_to_string(path).map_err(|e| {
            let known: Vec<&str> = BUILTIN.iter().map(|(n, _)| *n).collect();
            FileError::whole(
                path,
                format!(
                    "cannot read scenario ({e}); built-in scenarios are: {}",
                    known.join(", ")
                ),
            )
        })?;
        Self::parse(path, &text)
    }

    /// Parses and validates a scenario's text.
    pub fn parse(path: &Path, text: &str) -> Result<Self, FileError> {
        let scenario: Scenario = parse_toml(path, text)?;
        scenario.validate(path, text)?;
        Ok(scenario)
    }

    fn validate(&self, path: &Path, text: &str) -> Result<(), FileError> {
        // Semantic errors point at the app's table header, found by its name, so
        // the person editing lands next to the value that is wrong.
        let locate = |needle: &str| text.find(needle).unwrap_or(0);
        for app in &self.apps {
            let here = locate(&format!("\"{}\"", app.name));
            let fail = |msg: String| Err(FileError::at(path, text, here, msg));
            if !self.cluster.namespaces.contains(&app.namespace) {
                return fail(format!(
                    "app {:?} is in namespace {:?}, which is not in cluster.namespaces {:?}",
                    app.name, app.namespace, self.cluster.namespaces
                ));
            }
            if app.versions.is_empty() {
                return fail(format!("app {:?} has no versions", app.name));
            }
            if !(app.requests_per_second >= 0.0 && app.requests_per_second.is_finite()) {
                return fail(format!(
                    "app {:?}: requests_per_second must be a number ≥ 0",
                    app.name
                ));
            }
            let weights: Vec<u8> = app.versions.iter().filter_map(|v| v.weight).collect();
            if weights.iter().any(|w| *w > 100) {
                return fail(format!("app {:?}: weights must be within 0–100", app.name));
            }
            if !weights.is_empty() && weights.iter().map(|w| u32::from(*w)).sum::<u32>() != 100 {
                return fail(format!(
                    "app {:?}: version weights {weights:?} must add up to 100",
                    app.name
                ));
            }
            match app.strategy {
                Strategy::Canary
                | Strategy::ArgoCanary
                | Strategy::ArgoBlueGreen
                | Strategy::FlaggerCanary
                    if app.versions.len() != 2 =>
                {
                    return fail(format!(
                        "app {:?}: a canary app has exactly two versions (stable, canary)",
                        app.name
                    ));
                }
                Strategy::BlueGreen => {
                    let slots: Vec<&str> = app
                        .versions
                        .iter()
                        .filter_map(|v| v.slot.as_deref())
                        .collect();
                    if slots.len() != app.versions.len() || app.versions.len() != 2 {
                        return fail(format!(
                            "app {:?}: a blue-green app has two versions, each with a slot",
                            app.name
                        ));
                    }
                    if let Some(active) = &app.active_slot
                        && !slots.contains(&active.as_str())
                    {
                        return fail(format!(
                            "app {:?}: active_slot {active:?} is not one of the slots {slots:?}",
                            app.name
                        ));
                    }
                }
                _ => {}
            }
            for v in &app.versions {
                let b = &v.behaviour;
                let ratios = std::iter::once(b.error_ratio)
                    .chain(b.phases.iter().filter_map(|p| p.error_ratio));
                if ratios.into_iter().any(|r| !(0.0..=1.0).contains(&r)) {
                    return Err(FileError::at(
                        path,
                        text,
                        locate(&format!("\"{}\"", v.name)),
                        format!(
                            "version {:?} of app {:?}: error_ratio must be within 0.0–1.0",
                            v.name, app.name
                        ),
                    ));
                }
                if b.latency_p99_ms < b.latency_p50_ms {
                    return Err(FileError::at(
                        path,
                        text,
                        locate(&format!("\"{}\"", v.name)),
                        format!(
                            "version {:?} of app {:?}: latency_p99_ms must not be below latency_p50_ms",
                            v.name, app.name
                        ),
                    ));
                }
            }
        }
        Ok(())
    }

    pub fn builtin_names() -> impl Iterator<Item = &'static str> {
        BUILTIN.iter().map(|(n, _)| *n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_builtin_scenario_parses() {
        for (name, text) in BUILTIN {
            let s =
                Scenario::parse(Path::new(name), text).unwrap_or_else(|e| panic!("{name}: {e}"));
            assert_eq!(&s.name, name);
        }
    }

    #[test]
    fn wrong_type_is_located() {
        let text = "name = \"x\"\n[[apps]]\nname = \"a\"\nstrategy = \"canary\"\nport = \"eighty\"\nversions = []\n";
        let err = Scenario::parse(Path::new("s.toml"), text).unwrap_err();
        assert_eq!((err.line, err.column), (5, 8), "{err}");
    }

    #[test]
    fn unknown_strategy_is_explained() {
        let text = "name = \"x\"\n[[apps]]\nname = \"a\"\nstrategy = \"yolo\"\nversions = []\n";
        let err = Scenario::parse(Path::new("s.toml"), text).unwrap_err();
        assert_eq!(err.line, 4);
        assert!(err.message.contains("canary"), "{}", err.message);
    }

    #[test]
    fn weights_must_add_up() {
        let text = r#"name = "x"
[[apps]]
name = "a"
strategy = "canary"
[[apps.versions]]
name = "stable"
image = "a:1"
replicas = 1
weight = 90
[[apps.versions]]
name = "canary"
image = "a:2"
replicas = 1
weight = 20
"#;
        let err = Scenario::parse(Path::new("s.toml"), text).unwrap_err();
        assert!(err.message.contains("add up to 100"), "{err}");
        assert_eq!(err.line, 3);
    }
}

/// A version's numbers at one moment, after its phases are applied.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Effective {
    pub error_ratio: f64,
    pub latency_p50_ms: f64,
    pub latency_p99_ms: f64,
    pub crashes_per_hour: f64,
}

impl Behaviour {
    /// The numbers in force `since_start` after the simulation began, given how
    /// long ago the version first got traffic (`None`: it has not yet).
    pub fn effective(
        &self,
        since_start: Duration,
        since_first_traffic: Option<Duration>,
    ) -> Effective {
        let mut now = Effective {
            error_ratio: self.error_ratio,
            latency_p50_ms: self.latency_p50_ms,
            latency_p99_ms: self.latency_p99_ms,
            crashes_per_hour: self.crashes_per_hour,
        };
        for phase in &self.phases {
            let elapsed = match phase.from {
                PhaseAnchor::Start => Some(since_start),
                PhaseAnchor::FirstTraffic => since_first_traffic,
            };
            let Some(elapsed) = elapsed.and_then(|e| e.checked_sub(phase.after)) else {
                // Phases apply in order: a later phase cannot start before this one.
                break;
            };
            let t = match phase.ramp {
                Some(ramp) if !ramp.is_zero() => {
                    (elapsed.as_secs_f64() / ramp.as_secs_f64()).min(1.0)
                }
                _ => 1.0,
            };
            let lerp = |from: f64, to: Option<f64>| to.map_or(from, |to| from + (to - from) * t);
            now = Effective {
                error_ratio: lerp(now.error_ratio, phase.error_ratio),
                latency_p50_ms: lerp(now.latency_p50_ms, phase.latency_p50_ms),
                latency_p99_ms: lerp(now.latency_p99_ms, phase.latency_p99_ms),
                crashes_per_hour: lerp(now.crashes_per_hour, phase.crashes_per_hour),
            };
        }
        now
    }

    /// Resident memory of a container that has been up for `uptime`.
    pub fn memory_at(&self, uptime: Duration) -> u64 {
        let leak = self.memory_leak_per_minute.unwrap_or(0) as f64 * uptime.as_secs_f64() / 60.0;
        self.memory.saturating_add(leak as u64)
    }
}

#[cfg(test)]
mod behaviour_tests {
    use super::*;

    fn bad() -> Behaviour {
        Behaviour {
            error_ratio: 0.005,
            phases: vec![Phase {
                after: Duration::from_secs(120),
                from: PhaseAnchor::FirstTraffic,
                ramp: Some(Duration::from_secs(60)),
                error_ratio: Some(0.08),
                latency_p50_ms: None,
                latency_p99_ms: None,
                crashes_per_hour: None,
            }],
            ..Behaviour::default()
        }
    }

    #[test]
    fn phase_waits_for_first_traffic() {
        let e = bad().effective(Duration::from_secs(3600), None);
        assert!((e.error_ratio - 0.005).abs() < 1e-9);
    }

    #[test]
    fn phase_ramps_linearly() {
        let b = bad();
        let at = |s| {
            b.effective(Duration::from_secs(1000), Some(Duration::from_secs(s)))
                .error_ratio
        };
        assert!((at(119) - 0.005).abs() < 1e-9);
        assert!((at(150) - 0.0425).abs() < 1e-9);
        assert!((at(180) - 0.08).abs() < 1e-9);
        assert!((at(900) - 0.08).abs() < 1e-9);
    }

    #[test]
    fn memory_leaks_with_uptime() {
        let b = Behaviour {
            memory: 100,
            memory_leak_per_minute: Some(10),
            ..Behaviour::default()
        };
        assert_eq!(b.memory_at(Duration::from_secs(300)), 150);
    }
}
