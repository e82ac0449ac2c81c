//! Everything the screen shows, as plain data. Workers fill it through
//! [`Msg`](super::Msg); the plan fills the stages; drawing only reads it.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::time::Duration;

use chrono::{DateTime, Utc};

use super::logs::Logs;
use super::msg::{Connection, EventInfo, MetricsSample, PodInfo, Source, TrafficInfo, Trouble};

/// The panes, in focus order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Pane {
    Pods,
    Traffic,
    Metrics,
    Logs,
    Events,
    Stages,
}

impl Pane {
    pub const ALL: [Pane; 6] = [
        Pane::Pods,
        Pane::Traffic,
        Pane::Stages,
        Pane::Metrics,
        Pane::Events,
        Pane::Logs,
    ];

    pub fn title(self) -> &'static str {
        match self {
            Pane::Pods => "Pods",
            Pane::Traffic => "Traffic",
            Pane::Metrics => "Metrics",
            Pane::Logs => "Logs",
            Pane::Events => "Events",
            Pane::Stages => "Stages",
        }
    }

    /// The worker whose troubles show in this pane.
    pub fn source(self) -> Option<Source> {
        match self {
            Pane::Pods => Some(Source::Pods),
            Pane::Traffic => Some(Source::Traffic),
            Pane::Metrics => Some(Source::Metrics),
            Pane::Logs => Some(Source::Logs),
            Pane::Events => Some(Source::Events),
            Pane::Stages => None,
        }
    }

    #[must_use]
    pub fn next(self) -> Pane {
        let i = Self::ALL.iter().position(|p| *p == self).unwrap_or(0);
        Self::ALL[(i + 1) % Self::ALL.len()]
    }

    #[must_use]
    pub fn prev(self) -> Pane {
        let i = Self::ALL.iter().position(|p| *p == self).unwrap_or(0);
        Self::ALL[(i + Self::ALL.len() - 1) % Self::ALL.len()]
    }
}

/// A layer of key bindings: the focused pane's, an input's, or the fallback.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Layer {
    Global,
    Pods,
    Traffic,
    Metrics,
    Logs,
    Events,
    Stages,
    Search,
    Help,
    /// A yes/no question.
    Dialog,
    /// A dialog taking typed text.
    Prompt,
    /// The fleet's table.
    Fleet,
    /// The fleet's filter input.
    FleetFilter,
}

impl Layer {
    pub const ALL: [Layer; 13] = [
        Layer::Global,
        Layer::Pods,
        Layer::Traffic,
        Layer::Metrics,
        Layer::Logs,
        Layer::Events,
        Layer::Stages,
        Layer::Search,
        Layer::Help,
        Layer::Dialog,
        Layer::Prompt,
        Layer::Fleet,
        Layer::FleetFilter,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Layer::Global => "global",
            Layer::Pods => "pods",
            Layer::Traffic => "traffic",
            Layer::Metrics => "metrics",
            Layer::Logs => "logs",
            Layer::Events => "events",
            Layer::Stages => "stages",
            Layer::Search => "search",
            Layer::Help => "help",
            Layer::Dialog => "dialog",
            Layer::Prompt => "prompt",
            Layer::Fleet => "fleet",
            Layer::FleetFilter => "fleet-filter",
        }
    }

    pub fn of_pane(pane: Pane) -> Layer {
        match pane {
            Pane::Pods => Layer::Pods,
            Pane::Traffic => Layer::Traffic,
            Pane::Metrics => Layer::Metrics,
            Pane::Logs => Layer::Logs,
            Pane::Events => Layer::Events,
            Pane::Stages => Layer::Stages,
        }
    }

    /// Whether unmatched keys fall through to `[global]`.
    pub fn falls_back(self) -> bool {
        !matches!(
            self,
            Layer::Search | Layer::Global | Layer::Dialog | Layer::Prompt | Layer::FleetFilter
        )
    }

    /// Whether the layer belongs to the fleet screen rather than the cockpit.
    pub fn is_fleet(self) -> bool {
        matches!(self, Layer::Fleet | Layer::FleetFilter)
    }
}

/// One key binding as the footer and help show it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyHint {
    pub keys: String,
    pub desc: String,
}

/// The active keymap's bindings per layer, for the footer and help overlay.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct KeyHelp {
    pub layers: BTreeMap<Layer, Vec<KeyHint>>,
}

impl KeyHelp {
    pub fn layer(&self, layer: Layer) -> &[KeyHint] {
        self.layers.get(&layer).map_or(&[], Vec::as_slice)
    }
}

/// Who may drive the rollout from this cockpit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Helm {
    /// Started with `--read-only`.
    ReadOnly,
    /// This cockpit holds the lease.
    Held,
    /// Another cockpit holds it.
    HeldBy(String),
    /// Nobody holds it (or it cannot be read): this cockpit does not drive.
    Free,
}

/// Facts for the header line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Header {
    pub context: String,
    pub namespace: String,
    pub app: String,
    pub strategy: String,
    pub helm: Helm,
    pub connection: Connection,
    /// Configuration problems to keep visible (a bad theme file, say).
    pub warnings: Vec<String>,
    /// Facts worth a line of their own (where the demo wrote its kubeconfig).
    pub notes: Vec<String>,
}

impl Default for Header {
    fn default() -> Self {
        Self {
            context: String::new(),
            namespace: String::new(),
            app: String::new(),
            strategy: String::new(),
            helm: Helm::ReadOnly,
            connection: Connection::Connecting,
            warnings: Vec::new(),
            notes: Vec::new(),
        }
    }
}

/// How a pod is doing, worst first: the order of the Pods pane.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Health {
    Failed,
    Degraded,
    Progressing,
    Unknown,
    Healthy,
}

impl Health {
    pub fn of(pod: &PodInfo) -> Health {
        match pod.status.as_str() {
            "CrashLoopBackOff"
            | "ImagePullBackOff"
            | "ErrImagePull"
            | "OOMKilled"
            | "Failed"
            | "Error"
            | "CreateContainerConfigError"
            | "InvalidImageName" => Health::Failed,
            "Pending" | "ContainerCreating" | "PodInitializing" | "Terminating" => {
                Health::Progressing
            }
            "Running" if pod.ready >= pod.containers && pod.containers > 0 => {
                if pod.restarts > 0 {
                    Health::Degraded
                } else {
                    Health::Healthy
                }
            }
            "Running" => Health::Degraded,
            "Succeeded" | "Completed" => Health::Healthy,
            _ => Health::Unknown,
        }
    }
}

/// The pods, kept sorted by health then name so drawing never sorts.
#[derive(Debug, Clone, Default)]
pub struct Pods {
    sorted: BTreeMap<(Health, String), PodInfo>,
    health: HashMap<String, Health>,
}

impl Pods {
    pub fn reset(&mut self, pods: Vec<PodInfo>) {
        self.sorted.clear();
        self.health.clear();
        for pod in pods {
            self.apply(pod);
        }
    }

    pub fn apply(&mut self, pod: PodInfo) {
        let health = Health::of(&pod);
        if let Some(old) = self.health.insert(pod.name.clone(), health) {
            self.sorted.remove(&(old, pod.name.clone()));
        }
        self.sorted.insert((health, pod.name.clone()), pod);
    }

    pub fn remove(&mut self, name: &str) -> bool {
        match self.health.remove(name) {
            Some(health) => self.sorted.remove(&(health, name.to_string())).is_some(),
            None => false,
        }
    }

    pub fn len(&self) -> usize {
        self.sorted.len()
    }

    pub fn is_empty(&self) -> bool {
        self.sorted.is_empty()
    }

    /// Worst first.
    pub fn iter(&self) -> impl DoubleEndedIterator<Item = (Health, &PodInfo)> + ExactSizeIterator {
        self.sorted.iter().map(|((h, _), p)| (*h, p))
    }

    /// The row a pod is drawn on, worst first.
    pub fn row_of(&self, name: &str) -> Option<usize> {
        let health = *self.health.get(name)?;
        Some(self.sorted.range(..(health, name.to_string())).count())
    }

    pub fn at_row(&self, row: usize) -> Option<&PodInfo> {
        self.sorted.values().nth(row)
    }

    pub fn count(&self, health: Health) -> usize {
        self.health.values().filter(|h| **h == health).count()
    }
}

/// Limits the guards hold a stage on; drawn as lines on the charts.
#[derive(Debug, Clone, PartialEq)]
pub struct Guards {
    pub max_error_ratio: f64,
    pub max_p99: Duration,
}

impl Default for Guards {
    fn default() -> Self {
        Self {
            max_error_ratio: 0.05,
            max_p99: Duration::from_secs(2),
        }
    }
}

/// Recent metric samples, oldest first.
#[derive(Debug, Clone)]
pub struct MetricsHistory {
    pub samples: VecDeque<MetricsSample>,
    /// How far back the charts reach.
    pub window: Duration,
    /// How often samples are expected; two missed intervals make data stale.
    pub interval: Duration,
}

impl Default for MetricsHistory {
    fn default() -> Self {
        Self {
            samples: VecDeque::new(),
            window: Duration::from_secs(5 * 60),
            interval: Duration::from_secs(10),
        }
    }
}

impl MetricsHistory {
    pub fn push(&mut self, sample: MetricsSample) {
        let at = sample.at;
        let pos = self.samples.partition_point(|s| s.at <= at);
        self.samples.insert(pos, sample);
        let newest = self.samples.back().map_or(at, |s| s.at);
        let window = chrono::Duration::from_std(self.window).unwrap_or(chrono::Duration::MAX);
        while self.samples.front().is_some_and(|s| newest - s.at > window) {
            self.samples.pop_front();
        }
    }

    pub fn latest(&self) -> Option<&MetricsSample> {
        self.samples.back()
    }

    /// The age of the newest sample when it is older than two intervals.
    pub fn stale_age(&self, now: DateTime<Utc>) -> Option<Duration> {
        let latest = self.latest()?;
        let age = (now - latest.at).to_std().ok()?;
        (age > self.interval * 2).then_some(age)
    }
}

/// One stage of the plan as the Stages pane shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StageRow {
    pub name: String,
    /// Canary weight in percent during this stage.
    pub weight: u8,
    /// How long the stage holds before advancing; `None` waits for a person.
    pub pause: Option<Duration>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StagesView {
    pub stages: Vec<StageRow>,
    pub current: Option<usize>,
    pub entered_at: Option<DateTime<Utc>>,
    /// Whether the rollout is paused by a person.
    pub paused: bool,
}

pub const MAX_EVENTS: usize = 500;

/// Everything the cockpit shows.
#[derive(Debug, Clone)]
pub struct State {
    /// The time drawing measures ages against; set by the loop's tick.
    pub now: DateTime<Utc>,
    pub header: Header,
    pub pods: Pods,
    /// The selected pod, by name: rows move as pods change health, the
    /// selection stays on its pod.
    pub pods_selected: Option<String>,
    /// The selected row when last known, where the selection falls back to
    /// when its pod goes.
    pub pods_row: usize,
    pub traffic: Option<TrafficInfo>,
    pub metrics: MetricsHistory,
    pub guards: Guards,
    /// Each guard's latest state and numbers, in plan order.
    pub guard_states: super::guard_board::GuardBoard,
    /// Webhooks whose notices are not getting through.
    pub webhooks: super::webhooks::Webhooks,
    pub logs: Logs,
    /// Newest first.
    pub events: Vec<EventInfo>,
    pub events_offset: usize,
    pub stages: StagesView,
    pub stages_offset: usize,
    pub troubles: BTreeMap<Source, Trouble>,
    pub focus: Pane,
    pub zoom: bool,
    pub help: bool,
    pub diagnostics: bool,
    pub keys: KeyHelp,
    /// Rows of the terminal, so a page is about a pane's height.
    pub screen_rows: u16,
    /// The live rollout, once the driver has read it.
    pub rollout: Option<super::msg::RolloutView>,
    /// What the driver is doing and did last.
    pub drive: super::drive::DriveLog,
    /// A question waiting for an answer (confirmation, image, revision).
    pub dialog: Option<super::drive::Dialog>,
    /// The Argo Rollout or Flagger Canary the cockpit is opened on, if any.
    pub external: Option<super::external::ExternalView>,
    /// Where the cockpit was opened from: closing with nothing left to
    /// close goes back to the fleet.
    pub opened_from: OpenedFrom,
}

/// Where the cockpit was opened from.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum OpenedFrom {
    #[default]
    CommandLine,
    Fleet,
}

impl State {
    pub fn new(now: DateTime<Utc>) -> Self {
        Self {
            now,
            header: Header::default(),
            pods: Pods::default(),
            pods_selected: None,
            pods_row: 0,
            traffic: None,
            metrics: MetricsHistory::default(),
            guards: Guards::default(),
            guard_states: super::guard_board::GuardBoard::default(),
            webhooks: super::webhooks::Webhooks::default(),
            logs: Logs::default(),
            events: Vec::new(),
            events_offset: 0,
            stages: StagesView::default(),
            stages_offset: 0,
            troubles: BTreeMap::new(),
            focus: Pane::Pods,
            zoom: false,
            help: false,
            diagnostics: false,
            keys: KeyHelp::default(),
            screen_rows: 24,
            rollout: None,
            drive: super::drive::DriveLog::default(),
            dialog: None,
            opened_from: OpenedFrom::CommandLine,
            external: None,
        }
    }

    /// The layer whose bindings apply now, before `[global]`.
    pub fn key_layer(&self) -> Layer {
        if let Some(dialog) = &self.dialog {
            dialog.layer()
        } else if self.logs.search_input.is_some() {
            Layer::Search
        } else if self.help {
            Layer::Help
        } else {
            Layer::of_pane(self.focus)
        }
    }

    /// The row of the selected pod in the Pods pane.
    pub fn pods_cursor(&self) -> usize {
        self.pods_selected
            .as_deref()
            .and_then(|name| self.pods.row_of(name))
            .unwrap_or(self.pods_row)
            .min(self.pods.len().saturating_sub(1))
    }

    pub fn selected_pod(&self) -> Option<&PodInfo> {
        self.pods.at_row(self.pods_cursor())
    }

    /// Selects the pod on `row` (clamped to the list).
    pub fn select_pod_row(&mut self, row: usize) {
        let row = row.min(self.pods.len().saturating_sub(1));
        self.pods_row = row;
        self.pods_selected = self.pods.at_row(row).map(|p| p.name.clone());
    }

    /// The share of requests each version actually served, from the newest sample.
    pub fn actual_shares(&self) -> Vec<(String, f64)> {
        let Some(sample) = self.metrics.latest() else {
            return Vec::new();
        };
        let total: f64 = sample
            .versions
            .iter()
            .filter_map(|v| v.requests_per_second)
            .sum();
        if total <= 0.0 {
            return Vec::new();
        }
        sample
            .versions
            .iter()
            .filter_map(|v| Some((v.version.clone(), v.requests_per_second? / total * 100.0)))
            .collect()
    }
}
