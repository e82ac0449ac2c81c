//! The plan file as written: its shape, for serde to check (unknown keys,
//! wrong types, unknown routers), with the place of every value kept for
//! the checks in [`super::validate`].

use serde::Deserialize;
use toml::Spanned;

use super::guards::{GuardAction, GuardMetric};
use super::plan::{RollbackMode, StrategyKind};

pub(super) type S<T> = Spanned<T>;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct PlanFile {
    pub(super) app: S<String>,
    pub(super) namespace: S<String>,
    pub(super) strategy: S<StrategyKind>,
    #[serde(default)]
    pub(super) auto: bool,
    #[serde(default = "yes")]
    pub(super) default_guards: bool,
    pub(super) canary: Option<S<CanaryFile>>,
    pub(super) blue_green: Option<S<BlueGreenFile>>,
    pub(super) rolling: Option<S<RollingFile>>,
    pub(super) analysis: Option<AnalysisFile>,
    #[serde(default)]
    pub(super) guards: Vec<GuardFile>,
    #[serde(default)]
    pub(super) notifications: Vec<NotificationFile>,
    pub(super) queries: Option<QueriesFile>,
    #[serde(default)]
    pub(super) checks: Vec<S<CheckFile>>,
}

pub(super) fn yes() -> bool {
    true
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct CanaryFile {
    pub(super) stable: Option<S<String>>,
    pub(super) canary: Option<S<String>>,
    pub(super) router: S<RouterFile>,
    pub(super) stages: S<Vec<StageFile>>,
    pub(super) rollback: Option<RollbackMode>,
    pub(super) rollback_step: Option<S<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct StageFile {
    pub(super) weight: S<i64>,
    pub(super) pause: Option<S<String>>,
    pub(super) canary_replicas: Option<S<i64>>,
}

#[derive(Deserialize, Clone, Copy, PartialEq, Eq)]
#[serde(rename_all = "kebab-case")]
pub(super) enum RouterKind {
    Istio,
    GatewayApi,
    Smi,
    Nginx,
    ReplicaRatio,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RouterFile {
    pub(super) kind: S<RouterKind>,
    pub(super) virtual_service: Option<S<String>>,
    pub(super) route: Option<S<String>>,
    pub(super) destination_rule: Option<S<String>>,
    pub(super) stable_subset: Option<S<String>>,
    pub(super) canary_subset: Option<S<String>>,
    pub(super) http_route: Option<S<String>>,
    pub(super) stable_service: Option<S<String>>,
    pub(super) canary_service: Option<S<String>>,
    pub(super) traffic_split: Option<S<String>>,
    pub(super) root_service: Option<S<String>>,
    pub(super) ingress: Option<S<String>>,
    pub(super) canary_ingress: Option<S<String>>,
    pub(super) total_replicas: Option<S<i64>>,
}

#[derive(Deserialize, Clone, Copy, PartialEq, Eq)]
#[serde(rename_all = "kebab-case")]
pub(super) enum SwitchKind {
    Selector,
    Weighted,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct BlueGreenFile {
    pub(super) blue: Option<S<String>>,
    pub(super) green: Option<S<String>>,
    pub(super) slot_label: Option<S<String>>,
    pub(super) active_service: Option<S<String>>,
    pub(super) preview_service: Option<S<String>>,
    pub(super) switch: Option<S<SwitchKind>>,
    pub(super) preview_pause: Option<S<String>>,
    pub(super) stages: Option<S<Vec<StageFile>>>,
    pub(super) router: Option<S<RouterFile>>,
    pub(super) keep_old_for: Option<S<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RollingFile {
    pub(super) deployment: Option<S<String>>,
    pub(super) container: Option<S<String>>,
    pub(super) image: S<String>,
    pub(super) pause: Option<S<String>>,
    pub(super) undo_to: Option<S<i64>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct AnalysisFile {
    pub(super) enabled: Option<bool>,
    pub(super) window: Option<S<String>>,
    pub(super) interval: Option<S<String>>,
    pub(super) min_samples: Option<S<i64>>,
    pub(super) max_staleness: Option<S<String>>,
    pub(super) max_error_ratio: Option<S<toml::Value>>,
    pub(super) max_p99: Option<S<String>>,
    pub(super) error_ratio_factor: Option<S<f64>>,
    pub(super) error_ratio_floor: Option<S<toml::Value>>,
    pub(super) p99_factor: Option<S<f64>>,
    pub(super) memory_factor: Option<S<f64>>,
    pub(super) throughput_factor: Option<S<f64>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct GuardFile {
    pub(super) name: Option<String>,
    pub(super) metric: S<GuardMetric>,
    pub(super) threshold: Option<S<toml::Value>>,
    #[serde(rename = "for")]
    pub(super) hold_for: Option<S<String>>,
    pub(super) action: Option<GuardAction>,
    pub(super) path: Option<S<String>>,
}

#[derive(Deserialize, Clone, Copy)]
#[serde(rename_all = "kebab-case")]
pub(super) enum WebhookKindFile {
    Slack,
    Generic,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct NotificationFile {
    pub(super) kind: S<WebhookKindFile>,
    pub(super) url: Option<S<String>>,
    pub(super) url_env: Option<S<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct QueriesFile {
    pub(super) request_rate: Option<S<String>>,
    pub(super) error_ratio: Option<S<String>>,
    pub(super) latency_p50: Option<S<String>>,
    pub(super) latency_p95: Option<S<String>>,
    pub(super) latency_p99: Option<S<String>>,
    pub(super) memory: Option<S<String>>,
    pub(super) memory_ratio: Option<S<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct CheckFile {
    pub(super) id: S<String>,
    pub(super) at: S<String>,
    pub(super) manual: Option<S<String>>,
    pub(super) who: Option<S<String>>,
    pub(super) run: Option<S<Vec<String>>>,
    pub(super) job: Option<S<String>>,
    pub(super) timeout: Option<S<String>>,
    pub(super) on_fail: Option<S<String>>,
}
