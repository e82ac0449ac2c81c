//! The rollout plan: what a captain writes to say how a release goes out.
//!
//! A plan is a TOML file. Unknown keys are errors, and every error names the
//! file, line and column (`plan.toml:12:10: weight must be between 0 and 100,
//! found 120`). A plan is checked completely before anything touches the
//! cluster; whether the objects it names exist is checked by the driver, from
//! [`Plan::referenced_objects`].
//!
//! # Top level
//!
//! | key              | type            | meaning                                              |
//! |------------------|-----------------|------------------------------------------------------|
//! | `app`            | string          | the app's name (a DNS label), e.g. `"checkout"`       |
//! | `namespace`      | string          | its namespace (a DNS label), e.g. `"shop"`            |
//! | `strategy`       | string          | `"canary"`, `"blue-green"` or `"rolling"`             |
//! | `auto`           | bool            | timed stages advance on a passing analysis and guards act by themselves (default `false`) |
//! | `default_guards` | bool            | start from the built-in guards (default `true`)       |
//! | `[canary]`       | table           | required when `strategy = "canary"`, refused otherwise |
//! | `[blue_green]`   | table           | required when `strategy = "blue-green"`               |
//! | `[rolling]`      | table           | required when `strategy = "rolling"`                  |
//! | `[analysis]`     | table           | how a stage is judged before it may advance (optional) |
//! | `[[guards]]`     | array of tables | watches that hold or roll back (optional)             |
//! | `[[notifications]]` | array of tables | webhooks told about each step (optional)          |
//! | `[queries]`      | table           | PromQL templates (optional; defaults below)           |
//! | `[[checks]]`     | array of tables | approvals and commands at points of the rollout (optional; see the README) |
//!
//! Durations are written as strings: `"500ms"`, `"30s"`, `"2m"`, `"1h30m"`.
//!
//! # `[canary]`
//!
//! | key             | type   | meaning                                                       |
//! |-----------------|--------|---------------------------------------------------------------|
//! | `stable`        | string | the stable Deployment (default `"{app}-stable"`)               |
//! | `canary`        | string | the canary Deployment (default `"{app}-canary"`)               |
//! | `rollback`      | string | how an abort goes by default: `"immediate"` (all traffic to stable at once) or `"gradual"` (step back down through the stages); default `"immediate"` |
//! | `rollback_step` | duration | time between two steps of a gradual rollback (default `"30s"`) |
//! | `stages`        | array  | the stages, in order; see below                                 |
//! | `[canary.router]` | table | the traffic router; see below                                 |
//!
//! A stage is `{ weight = 25, pause = "5m", canary_replicas = 2 }`:
//! `weight` is the canary's share of traffic in percent (0–100); weights must
//! increase from stage to stage and the last one must be 100. `pause` is
//! `"manual"` (wait for the captain) or a duration after which the stage moves
//! on by itself, but only once its analysis has passed (or when the plan has no
//! analysis). Without `pause` a stage waits for the captain, except the last,
//! which completes the rollout as soon as it is reached (and its analysis
//! passes). `canary_replicas` (optional) scales the canary Deployment when the
//! stage begins.
//!
//! # Routers (`[canary.router]`, and `[blue_green.router]` for a weighted switch)
//!
//! `kind` picks the router; the other keys name its objects and default to the
//! usual names derived from `app` (shown here for `app = "checkout"`). A key
//! that belongs to another router is an error.
//!
//! - `kind = "istio"`: `virtual_service` (`"checkout"`), `route` (the name of
//!   the HTTP route inside it; default: its first route), `destination_rule`
//!   (`"checkout"`), `stable_subset` (`"stable"`), `canary_subset` (`"canary"`).
//! - `kind = "gateway-api"`: `http_route` (`"checkout"`), `stable_service`
//!   (`"checkout-stable"`), `canary_service` (`"checkout-canary"`).
//! - `kind = "smi"`: `traffic_split` (`"checkout"`), `root_service`
//!   (`"checkout"`), `stable_service`, `canary_service`.
//! - `kind = "nginx"`: `ingress` (`"checkout"`, the stable Ingress),
//!   `canary_ingress` (`"checkout-canary"`, the one carrying the
//!   `canary-weight` annotation).
//! - `kind = "replica-ratio"`: no router object; the weight is approximated by
//!   the ratio of canary to stable replicas out of `total_replicas` (default:
//!   the stable Deployment's replicas when the rollout starts).
//!
//! For a blue-green weighted switch, "stable" means the active slot's side
//! and "canary" the slot being switched to; the subset and Service defaults
//! are then `blue`/`green` and `checkout-blue`/`checkout-green`.
//!
//! # `[blue_green]`
//!
//! | key              | type     | meaning                                                   |
//! |------------------|----------|-----------------------------------------------------------|
//! | `blue`, `green`  | string   | the Deployment of each slot (default `"{app}-blue"`, `"{app}-green"`) |
//! | `slot_label`     | string   | the pod label that tells the slots apart (default `"slot"`) |
//! | `active_service` | string   | the Service users reach (default: the app's name)          |
//! | `preview_service`| string   | optional Service that always selects the slot being released |
//! | `switch`         | string   | `"selector"` (flip the active Service's selector at once; default) or `"weighted"` (shift through a router in `stages`) |
//! | `preview_pause`  | pause    | with `switch = "selector"`: how long the new slot is previewed before the switch (default `"manual"`) |
//! | `stages`         | array    | with `switch = "weighted"`: stages as for a canary (e.g. 10 → 50 → 100) |
//! | `[blue_green.router]` | table | with `switch = "weighted"`: the router                    |
//! | `keep_old_for`   | duration | after the switch, the old slot keeps running this long so the way back is instant (default `"10m"`) |
//!
//! # `[rolling]`
//!
//! | key          | type    | meaning                                                         |
//! |--------------|---------|-----------------------------------------------------------------|
//! | `deployment` | string  | the Deployment (default: the app's name)                        |
//! | `container`  | string  | the container whose image changes (default: the app's name)     |
//! | `image`      | string  | the new image                                                   |
//! | `pause`      | pause   | how long to watch before the rollout counts as done (default `"manual"`) |
//! | `undo_to`    | integer | revision a rollback returns to (default: the previous revision) |
//!
//! # `[analysis]`
//!
//! | key             | type     | meaning                                                    |
//! |-----------------|----------|------------------------------------------------------------|
//! | `enabled`       | bool     | judge stages before they advance (default `true` when the table is present) |
//! | `window`        | duration | how far back samples count (default `"2m"`)                 |
//! | `interval`      | duration | how often samples arrive (default `"15s"`)                  |
//! | `min_samples`   | integer  | samples needed per version and metric (default `4`)         |
//! | `max_staleness` | duration | newest sample older than this makes the verdict inconclusive (default: 2 × interval) |
//! | `max_error_ratio` | number or `"5%"` | absolute ceiling on the canary's error ratio (optional) |
//! | `max_p99`       | duration | absolute ceiling on the canary's p99 latency (optional)     |
//! | `error_ratio_factor` | number | canary ≤ stable × this (default `2.0`)                 |
//! | `error_ratio_floor`  | number or `"0.1%"` | the canary always passes below this ratio (default `0.001`) |
//! | `p99_factor`    | number   | canary p99 ≤ stable × this (default `1.2`)                  |
//! | `memory_factor` | number   | canary memory ≤ stable × this (default `1.3`)               |
//! | `throughput_factor` | number | canary requests per weight point ≥ stable's × this (default `0.8`) |
//!
//! A verdict is `pass`, `fail` or `inconclusive`; no data, stale data or an
//! unreachable source is inconclusive, and an inconclusive stage holds. A
//! failed verdict holds the stage for the captain, or with `auto` aborts the
//! rollout in the plan's `rollback` mode.
//!
//! # `[[guards]]`
//!
//! `{ metric = "error-ratio", threshold = "5%", for = "2m", action = "rollback" }`.
//! `metric` is `error-ratio` (threshold a ratio, `"5%"` or `0.05`),
//! `latency-p99`, `latency-p95` (a duration such as `"2s"`, or seconds), `memory-ratio-of-limit` (a ratio, `"90%"` or
//! `0.9`), `health-check` (threshold: consecutive failures; `path`, default
//! `"/health"`) or `restarts` (threshold: canary restarts since the stage
//! began; any CrashLoopBackOff counts). `action` is `hold`, `rollback`,
//! `gradual-rollback` or `notify`. `name` is optional. A guard replaces the
//! built-in one watching the same metric; the built-ins are: error ratio > 5%
//! for 2m → rollback; p99 > 2s for 5m → gradual-rollback; 3 consecutive
//! health-check failures → rollback; memory > 90% of the limit for 3m →
//! gradual-rollback; more than 0 restarts → rollback. Set `default_guards =
//! false` to start from none. Without `auto`, a guard that would roll back
//! holds the stage instead and waits for the captain.
//!
//! Keys left out are taken from the built-in guard on the same metric
//! (`latency-p95` starts from the p99 numbers).
//!
//! # How a rollout moves through its stages
//!
//! Starting applies the first stage. A manual stage waits for the captain's
//! go (advance, or resume); a timed stage moves on when its time is up and
//! its analysis has passed, and otherwise keeps waiting and says why. The
//! captain can pause at any time, and time never ends that pause. Reaching
//! the last stage (100) promotes: for blue-green that switches the active
//! Service and schedules the old slot's scale-down after `keep_old_for`.
//! Aborting sends all traffic back to stable (for blue-green, the selector
//! back to the old slot; for rolling, `rollout undo` to `undo_to`).
//!
//! # `[[notifications]]`
//!
//! `{ kind = "slack", url_env = "SLACK_WEBHOOK" }` or `{ kind = "generic", url =
//! "https://hooks.example/rollouts" }`: exactly one of `url` and `url_env`.
//!
//! # `[queries]`
//!
//! PromQL templates with the placeholders `{namespace}`, `{app}`, `{version}`
//! and `{window}`: `request_rate`, `error_ratio`, `latency_p50`,
//! `latency_p95`, `latency_p99` (in seconds), `memory` (bytes) and
//! `memory_ratio` (of the limit). Each defaults to a query over the
//! conventional `http_requests_total`, `http_request_duration_seconds_bucket`
//! and container memory series; see [`Queries::default`].

use std::fmt;
use std::path::Path;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::analysis::AnalysisSpec;
use super::guards::GuardSpec;
use crate::config::source::FileError;

/// A checked plan: every name is a valid Kubernetes name, every weight is in
/// 0–100 and increasing, every strategy has what it needs.
#[derive(Debug, Clone, PartialEq)]
pub struct Plan {
    pub app: String,
    pub namespace: String,
    pub auto: bool,
    pub strategy: Strategy,
    pub analysis: Option<AnalysisSpec>,
    pub guards: Vec<GuardSpec>,
    pub notifications: Vec<Notification>,
    pub queries: Queries,
    /// The runbook's steps around the rollout, in the plan's order.
    pub checks: Vec<super::checks::Check>,
    /// The file it was read from: check commands run in its folder.
    pub path: std::path::PathBuf,
    /// The TOML it was read from, kept beside a started rollout so another
    /// cockpit (the fleet's) can drive it with the same plan.
    pub source: String,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Strategy {
    Canary(Canary),
    BlueGreen(BlueGreen),
    Rolling(Rolling),
}

/// Which strategy, without its details.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum StrategyKind {
    Canary,
    BlueGreen,
    Rolling,
}

impl fmt::Display for StrategyKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            StrategyKind::Canary => "canary",
            StrategyKind::BlueGreen => "blue-green",
            StrategyKind::Rolling => "rolling",
        })
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Canary {
    /// The stable Deployment.
    pub stable: String,
    /// The canary Deployment.
    pub canary: String,
    pub router: Router,
    pub stages: Vec<Stage>,
    pub rollback: RollbackMode,
    pub rollback_step: Duration,
}

/// One stage: a canary weight and what ends the wait there.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Stage {
    pub weight: u8,
    pub pause: Pause,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub canary_replicas: Option<u32>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Pause {
    /// Wait for the captain.
    Manual,
    /// Move on by itself after this long (analysis permitting).
    Timed(#[serde(with = "duration_secs")] Duration),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum RollbackMode {
    Immediate,
    Gradual,
}

/// The object that carries the traffic split, with the names it needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Router {
    Istio {
        virtual_service: String,
        /// The HTTP route inside the VirtualService; `None` means its first.
        route: Option<String>,
        destination_rule: String,
        stable_subset: String,
        canary_subset: String,
    },
    GatewayApi {
        http_route: String,
        stable_service: String,
        canary_service: String,
    },
    Smi {
        traffic_split: String,
        root_service: String,
        stable_service: String,
        canary_service: String,
    },
    Nginx {
        ingress: String,
        canary_ingress: String,
    },
    ReplicaRatio {
        /// `None`: the stable Deployment's replicas when the rollout starts.
        total_replicas: Option<u32>,
    },
}

impl Router {
    pub fn kind_name(&self) -> &'static str {
        match self {
            Router::Istio { .. } => "istio",
            Router::GatewayApi { .. } => "gateway-api",
            Router::Smi { .. } => "smi",
            Router::Nginx { .. } => "nginx",
            Router::ReplicaRatio { .. } => "replica-ratio",
        }
    }
}

/// A blue-green slot.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Slot {
    Blue,
    Green,
}

impl Slot {
    #[must_use]
    pub fn other(self) -> Slot {
        match self {
            Slot::Blue => Slot::Green,
            Slot::Green => Slot::Blue,
        }
    }

    /// The label value pods of this slot carry.
    pub fn label(self) -> &'static str {
        match self {
            Slot::Blue => "blue",
            Slot::Green => "green",
        }
    }
}

impl fmt::Display for Slot {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.label())
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct BlueGreen {
    pub blue: String,
    pub green: String,
    pub slot_label: String,
    pub active_service: String,
    pub preview_service: Option<String>,
    pub switch: Switch,
    pub keep_old_for: Duration,
}

impl BlueGreen {
    pub fn deployment(&self, slot: Slot) -> &str {
        match slot {
            Slot::Blue => &self.blue,
            Slot::Green => &self.green,
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub enum Switch {
    /// Flip the active Service's selector at once, after a preview.
    Selector { preview_pause: Pause },
    /// Shift traffic through a router, stage by stage.
    Weighted { router: Router, stages: Vec<Stage> },
}

#[derive(Debug, Clone, PartialEq)]
pub struct Rolling {
    pub deployment: String,
    pub container: String,
    pub image: String,
    pub pause: Pause,
    /// `None`: the previous revision.
    pub undo_to: Option<u64>,
}

/// Where a webhook's URL comes from: the plan itself or the environment
/// (so a secret URL need not be committed).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UrlSource {
    Literal(String),
    Env(String),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WebhookKind {
    /// Slack-compatible incoming webhook (`{"text": ...}`).
    Slack,
    /// A JSON body describing the event.
    Generic,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Notification {
    pub kind: WebhookKind,
    pub url: UrlSource,
}

pub use crate::metrics::queries::{PLACEHOLDERS, Queries};

/// An object a plan names, for the driver to check before it changes anything.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct ObjectRef {
    /// `apiVersion` as Kubernetes writes it (`apps/v1`, `networking.istio.io/v1`).
    pub api_version: &'static str,
    pub kind: &'static str,
    pub namespace: String,
    pub name: String,
}

impl fmt::Display for ObjectRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}/{}", self.kind, self.namespace, self.name)
    }
}

impl Plan {
    /// The folder check commands run in: the plan file's own.
    pub fn folder(&self) -> &Path {
        match self.path.parent() {
            Some(dir) if !dir.as_os_str().is_empty() => dir,
            _ => Path::new("."),
        }
    }

    /// Parses and checks a plan; the text is what was read from `path`.
    pub fn parse(path: &Path, text: &str) -> Result<Plan, FileError> {
        super::validate::parse_plan(path, text)
    }

    /// Reads, parses and checks a plan file.
    pub fn load(path: &Path) -> Result<Plan, FileError> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| FileError::whole(path, format!("cannot read the plan: {e}")))?;
        Self::parse(path, &text)
    }

    pub fn kind(&self) -> StrategyKind {
        match self.strategy {
            Strategy::Canary(_) => StrategyKind::Canary,
            Strategy::BlueGreen(_) => StrategyKind::BlueGreen,
            Strategy::Rolling(_) => StrategyKind::Rolling,
        }
    }

    /// Every object the plan will read or change, so the driver can refuse a
    /// plan naming something the cluster does not have.
    pub fn referenced_objects(&self) -> Vec<ObjectRef> {
        let ns = &self.namespace;
        let obj = |api_version, kind, name: &str| ObjectRef {
            api_version,
            kind,
            namespace: ns.clone(),
            name: name.to_string(),
        };
        let deployment = |name: &str| obj("apps/v1", "Deployment", name);
        let mut out = Vec::new();
        match &self.strategy {
            Strategy::Canary(c) => {
                out.push(deployment(&c.stable));
                out.push(deployment(&c.canary));
                out.extend(router_objects(&c.router, &obj));
            }
            Strategy::BlueGreen(b) => {
                out.push(deployment(&b.blue));
                out.push(deployment(&b.green));
                out.push(obj("v1", "Service", &b.active_service));
                if let Some(preview) = &b.preview_service {
                    out.push(obj("v1", "Service", preview));
                }
                if let Switch::Weighted { router, .. } = &b.switch {
                    out.extend(router_objects(router, &obj));
                }
            }
            Strategy::Rolling(r) => out.push(deployment(&r.deployment)),
        }
        out.sort();
        out.dedup();
        out
    }
}

fn router_objects(
    router: &Router,
    obj: &dyn Fn(&'static str, &'static str, &str) -> ObjectRef,
) -> Vec<ObjectRef> {
    let service = |name: &str| obj("v1", "Service", name);
    match router {
        Router::Istio {
            virtual_service,
            destination_rule,
            ..
        } => vec![
            obj("networking.istio.io/v1", "VirtualService", virtual_service),
            obj(
                "networking.istio.io/v1",
                "DestinationRule",
                destination_rule,
            ),
        ],
        Router::GatewayApi {
            http_route,
            stable_service,
            canary_service,
        } => vec![
            obj("gateway.networking.k8s.io/v1", "HTTPRoute", http_route),
            service(stable_service),
            service(canary_service),
        ],
        Router::Smi {
            traffic_split,
            root_service,
            stable_service,
            canary_service,
        } => vec![
            obj("split.smi-spec.io/v1alpha2", "TrafficSplit", traffic_split),
            service(root_service),
            service(stable_service),
            service(canary_service),
        ],
        Router::Nginx {
            ingress,
            canary_ingress,
        } => vec![
            obj("networking.k8s.io/v1", "Ingress", ingress),
            obj("networking.k8s.io/v1", "Ingress", canary_ingress),
        ],
        Router::ReplicaRatio { .. } => Vec::new(),
    }
}

/// Durations stored as whole seconds in the state kept on the cluster.
pub(crate) mod duration_secs {
    use std::time::Duration;

    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_u64(d.as_secs())
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        u64::deserialize(d).map(Duration::from_secs)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_queries_render_every_placeholder() {
        use crate::metrics::queries::{Vars, prom_duration, render};
        fn vars(window: &str) -> Vars<'_> {
            Vars {
                namespace: "shop",
                app: "checkout",
                version: "canary",
                window,
            }
        }
        let q = Queries::default();
        let two_minutes = prom_duration(Duration::from_secs(120));
        assert_eq!(
            render(&q.error_ratio, vars(&two_minutes)),
            concat!(
                r#"sum(rate(http_requests_total{namespace="shop",app="checkout",version="canary",code=~"5.."}[2m]))"#,
                " / ",
                r#"sum(rate(http_requests_total{namespace="shop",app="checkout",version="canary"}[2m]))"#,
            )
        );
        let ninety = prom_duration(Duration::from_secs(90));
        let p99 = render(&q.p99, vars(&ninety));
        assert!(p99.starts_with("histogram_quantile(0.99, "), "{p99}");
        assert!(p99.ends_with("[90s])))"), "{p99}");
        for template in [&q.memory, &q.memory_ratio, &q.p50, &q.request_rate] {
            let text = render(template, vars("1m"));
            assert!(!text.contains("{namespace}") && !text.contains("{window}"));
        }
    }

    #[test]
    fn slots_pair_up() {
        assert_eq!(Slot::Blue.other(), Slot::Green);
        assert_eq!(Slot::Green.other().label(), "blue");
    }
}
