//! Facts the workers report to the cockpit. Small, plain values: the workers
//! own the connections, the app owns the state built from these.

use std::time::Duration;

use chrono::{DateTime, Utc};

/// Which worker a fact or a problem comes from; each has a pane.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Source {
    Pods,
    Traffic,
    Metrics,
    Logs,
    Events,
}

/// Why a worker has no fresh data.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Trouble {
    /// The connection dropped; the worker is reconnecting with back-off.
    Disconnected {
        since: DateTime<Utc>,
        reason: String,
    },
    /// RBAC forbids this read in this namespace.
    Forbidden { message: String },
    /// The endpoint (Prometheus, the API server) cannot be reached.
    Unreachable { target: String, reason: String },
    /// Anything else the worker could not make sense of.
    Failed { reason: String },
}

/// What a pod looks like to the Pods pane.
#[derive(Debug, Clone, PartialEq)]
pub struct PodInfo {
    pub name: String,
    /// The `version` (or `slot`) label: stable, canary, blue, green.
    pub version: String,
    /// The pod's phase, or the reason that matters more (CrashLoopBackOff,
    /// ImagePullBackOff, OOMKilled, ContainerCreating, Terminating).
    pub status: String,
    pub ready: u32,
    pub containers: u32,
    pub restarts: u32,
    pub created: Option<DateTime<Utc>>,
    pub node: String,
    pub cpu_millicores: Option<u64>,
    pub memory_bytes: Option<u64>,
    pub memory_limit_bytes: Option<u64>,
}

/// Which object carries the traffic split.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RouterKind {
    IstioVirtualService,
    HttpRoute,
    TrafficSplit,
    NginxCanary,
    ServiceSelector,
    ReplicaRatio,
}

impl RouterKind {
    pub fn label(self) -> &'static str {
        match self {
            RouterKind::IstioVirtualService => "Istio VirtualService",
            RouterKind::HttpRoute => "HTTPRoute",
            RouterKind::TrafficSplit => "TrafficSplit",
            RouterKind::NginxCanary => "NGINX canary",
            RouterKind::ServiceSelector => "Service selector",
            RouterKind::ReplicaRatio => "replica ratio",
        }
    }
}

/// Desired (from the router object) and actual (from request counts) weights.
#[derive(Debug, Clone, PartialEq)]
pub struct TrafficInfo {
    pub router: RouterKind,
    /// Name of the router object, e.g. `VirtualService shop/checkout`.
    pub object: String,
    /// Percent per version, adding up to 100.
    pub desired: Vec<(String, u8)>,
}

/// One version's numbers at one sample.
#[derive(Debug, Clone, PartialEq)]
pub struct VersionMetrics {
    pub version: String,
    pub requests_per_second: Option<f64>,
    pub error_ratio: Option<f64>,
    pub p50: Option<Duration>,
    pub p95: Option<Duration>,
    pub p99: Option<Duration>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct MetricsSample {
    pub at: DateTime<Utc>,
    pub versions: Vec<VersionMetrics>,
}

/// One log line as it arrived: raw text, untrusted, not yet cleaned.
#[derive(Debug, Clone, PartialEq)]
pub struct LogLine {
    pub at: DateTime<Utc>,
    pub pod: String,
    pub container: String,
    pub version: String,
    pub text: String,
}

#[derive(Debug, Clone, PartialEq)]
pub struct EventInfo {
    pub last_seen: DateTime<Utc>,
    pub warning: bool,
    pub reason: String,
    /// `Kind/name` of the object the event is about.
    pub object: String,
    pub message: String,
    pub count: u32,
}

/// State of the connection to the API server, for the header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Connection {
    Connecting,
    Connected,
    Lost { since: DateTime<Utc> },
}

/// Where the rollout stands, as the driver last read it from the cluster.
#[derive(Debug, Clone, PartialEq)]
pub struct RolloutView {
    pub state: crate::rollout::RolloutState,
    /// The newest history entries, newest first, one line each.
    pub history: Vec<String>,
    /// Rolling: (revision, images, current?), oldest first.
    pub revisions: Vec<(u64, String, bool)>,
    /// The driver's clock minus the wall clock (a simulated cluster's clock
    /// runs fast), so times in the state read right against the screen's.
    pub clock_skew: chrono::TimeDelta,
}

/// What the driver is doing with a command.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DriveReport {
    Started {
        action: String,
    },
    /// A step of the command (a patch written, a change landed, a retry).
    Progress(String),
    Done {
        action: String,
        to: String,
    },
    Failed {
        action: String,
        reason: String,
    },
    /// Given up before it landed: `by` went first (an abort, a guard,
    /// another driver).
    Cancelled {
        action: String,
        by: String,
    },
}

/// A fact from a worker.
#[derive(Debug, Clone, PartialEq)]
pub enum Msg {
    /// The rollout's state changed (or was read for the first time).
    Rollout(Box<RolloutView>),
    Drive(DriveReport),
    /// Who holds the helm now.
    Helm(super::state::Helm),
    /// The pod list was (re)read from scratch: replaces what the pane holds.
    PodsReset(Vec<PodInfo>),
    PodApplied(PodInfo),
    PodDeleted {
        name: String,
    },
    Traffic(TrafficInfo),
    Metrics(MetricsSample),
    LogLines(Vec<LogLine>),
    /// A pod's log stream ended because the pod is gone.
    LogStreamEnded {
        pod: String,
    },
    EventsReset(Vec<EventInfo>),
    EventApplied(EventInfo),
    Connection(Connection),
    /// A worker has a problem; its pane shows it and the others go on.
    Trouble {
        source: Source,
        trouble: Trouble,
    },
    /// A worker's problem is over.
    Recovered {
        source: Source,
    },
    /// A guard's state and numbers as of the latest reading.
    Guard(crate::workers::guard_watch::GuardUpdate),
    /// A webhook delivery went wrong (or works again).
    Delivery(crate::workers::notify::Delivery),
    /// The Argo Rollout or Flagger Canary, read again by its watch.
    External(Box<super::external::ExternalUpdate>),
}
