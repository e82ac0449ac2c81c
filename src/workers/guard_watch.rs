//! The guards' eyes: every interval, read the canary's and stable's numbers,
//! keep the time series [`GuardSpec::evaluate`] and [`analyse`] judge, and
//! report what they find as [`GuardFact`]s: each guard's state with its
//! numbers, an [`Alarm`] the moment a guard fires (the stage machine's
//! `Event::GuardFired`), and a [`Verdict`] each time a stage's analysis
//! window completes (its `Event::Verdict`).
//!
//! The numbers come from Prometheus (the plan's [`Queries`]) or, without one,
//! from the pods' own `/metrics` through the API server's proxy (two scrapes
//! make a rate). Restarts and CrashLoopBackOff come from the pods; memory
//! against the limit from Prometheus, or from metrics.k8s.io and the pod spec;
//! health checks from a [`Prober`]. The pods and their usage are the Pods
//! worker's watch ([`PodSet`]), so a reading lists nothing.
//!
//! Fail-safe: a source that cannot be read gives samples without a value, so
//! the guards say "no data" with the reason and the verdict is inconclusive.
//! Nothing here ever turns missing numbers into a pass.

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use chrono::{DateTime, Utc};
use k8s_openapi::api::core::v1::Pod;
use tokio::sync::{mpsc, watch};

use super::Target;
use super::health::{HealthTarget, Prober};
use super::metrics::scrape_pods;
use super::pods::{PodSet, live_pod, version_of};
use crate::app::msg::Trouble;
use crate::cluster::pod_status;
use crate::metrics::exposition::Sample as Scraped;
use crate::metrics::prometheus::Prometheus;
use crate::metrics::queries::{Queries, Vars, prom_duration, render};
use crate::metrics::scrape;
use crate::rollout::Weights;
use crate::rollout::analysis::{AnalysisSpec, Observations, Point, Verdict, analyse};
use crate::rollout::guards::{
    Alarm, GuardAction, GuardMetric, GuardSpec, GuardState, Rule, Sample,
};
use crate::rollout::machine::Event;
use crate::rollout::plan::{Plan, Router, Strategy};
use crate::units::parse_bytes;

pub use crate::cluster::clock::Clock;

/// Where the canary's numbers come from.
#[derive(Clone)]
pub enum GuardSource {
    Prometheus {
        client: Box<Prometheus>,
        queries: Queries,
        /// The PromQL range rates are taken over (in Prometheus' time).
        window: Duration,
    },
    /// The pods' own `/metrics`, through the API server's pod proxy.
    PodProxy,
}

/// The stage being judged: set by the driver when a stage begins, `None`
/// while no stage runs (no verdicts then; guards still watch).
#[derive(Debug, Clone, PartialEq)]
pub struct StageWindow {
    /// 0-based, as `Event::Verdict` takes it.
    pub stage: usize,
    pub began: DateTime<Utc>,
    pub weights: Weights,
}

/// How to watch.
#[derive(Clone)]
pub struct GuardWatch {
    pub target: Target,
    /// The `version` label values of the two sides.
    pub canary: String,
    pub stable: String,
    pub guards: Vec<GuardSpec>,
    pub analysis: Option<AnalysisSpec>,
    /// Between two readings, in the clock's time.
    pub interval: Duration,
    pub source: GuardSource,
    /// Required by a `health-check` guard; without it that guard has no data.
    pub health: Option<Prober>,
    pub clock: Clock,
    /// The app's pods and their usage, as the Pods worker watches them.
    pub pods: watch::Receiver<PodSet>,
}

impl GuardWatch {
    /// How far back a reading's rates reach, in the clock's time: the
    /// PromQL range, or the time since the previous scrape. A stage's
    /// analysis only counts readings that reach no further back than the
    /// stage's start, so a stage is never judged on its predecessor's traffic.
    pub fn rate_lag(&self) -> Duration {
        match &self.source {
            GuardSource::Prometheus { window, .. } => window.mul_f64(self.clock.speed()),
            GuardSource::PodProxy => self.interval,
        }
    }
}

impl GuardWatch {
    /// The watch a plan asks for: its guards and analysis, readings at the
    /// analysis interval (15 s without one), the `version=canary|stable`
    /// labels, and, when a `health-check` guard is present, probes of the
    /// canary's Service (the router's canary Service, else `{app}-canary`)
    /// on its `http` port through the API server.
    pub fn for_plan(
        plan: &Plan,
        target: Target,
        source: GuardSource,
        clock: Clock,
        pods: watch::Receiver<PodSet>,
    ) -> Self {
        let analysis = plan.analysis.clone();
        let interval = analysis
            .as_ref()
            .map_or(Duration::from_secs(15), |a| a.interval);
        let health = plan
            .guards
            .iter()
            .find(|g| g.metric == GuardMetric::HealthCheck)
            .map(|g| {
                let service = match &plan.strategy {
                    Strategy::Canary(c) => match &c.router {
                        Router::GatewayApi { canary_service, .. }
                        | Router::Smi { canary_service, .. } => canary_service.clone(),
                        _ => format!("{}-canary", plan.app),
                    },
                    _ => format!("{}-canary", plan.app),
                };
                let check = HealthTarget::ServiceProxy {
                    namespace: plan.namespace.clone(),
                    service,
                    port: "http".into(),
                    path: g.path.clone().unwrap_or_else(|| "/health".into()),
                };
                // Half an interval: a probe ends before the next one is due.
                Prober::new(target.client.clone(), check, clock.real(interval) / 2)
            });
        Self {
            target,
            canary: "canary".into(),
            stable: "stable".into(),
            guards: plan.guards.clone(),
            analysis,
            interval,
            source,
            health,
            clock,
            pods,
        }
    }
}

/// One guard as of the latest reading.
#[derive(Debug, Clone, PartialEq)]
pub struct GuardUpdate {
    pub guard: String,
    pub metric: GuardMetric,
    pub action: GuardAction,
    pub state: GuardState,
    /// The latest reading, when it had a value.
    pub latest: Option<f64>,
    pub threshold: f64,
    /// Why there is no data, when there is none.
    pub reason: Option<String>,
    pub at: DateTime<Utc>,
}

impl GuardUpdate {
    /// The numbers as the Stages and Metrics panes show them.
    pub fn numbers(&self) -> String {
        let m = self.metric;
        let limit = match m {
            GuardMetric::HealthCheck => format!("{} failures in a row", self.threshold),
            _ => format!("limit {}", m.show(self.threshold)),
        };
        match (&self.state, self.latest) {
            (GuardState::NoData { .. }, _) => format!(
                "no data: {}",
                self.reason.as_deref().unwrap_or("no samples yet")
            ),
            (GuardState::Pending { since, value } | GuardState::Firing { since, value }, _) => {
                let held =
                    crate::units::format_duration((self.at - *since).to_std().unwrap_or_default());
                let value = match m {
                    GuardMetric::HealthCheck => format!("{value} failures"),
                    _ => m.show(*value),
                };
                format!("{value} ({limit}) for {held}")
            }
            (GuardState::Ok, Some(v)) => format!("{} ({limit})", m.show(v)),
            (GuardState::Ok, None) => limit,
        }
    }
}

/// What the watcher reports.
#[derive(Debug, Clone, PartialEq)]
pub enum GuardFact {
    Update(GuardUpdate),
    /// A guard started firing: `Event::GuardFired(alarm)`.
    Fired(Alarm),
    /// A stage's analysis window completed: `Event::Verdict { stage, verdict }`.
    Verdict {
        stage: usize,
        verdict: Verdict,
    },
}

impl GuardFact {
    /// The stage machine's event for an alarm or a verdict; an update is
    /// only there to be shown.
    pub fn into_event(self) -> Result<Event, GuardUpdate> {
        match self {
            GuardFact::Update(update) => Err(update),
            GuardFact::Fired(alarm) => Ok(Event::GuardFired(alarm)),
            GuardFact::Verdict { stage, verdict } => Ok(Event::Verdict { stage, verdict }),
        }
    }
}

/// One version's numbers at one reading.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct VersionReading {
    pub requests_per_second: Option<f64>,
    pub error_ratio: Option<f64>,
    pub p95: Option<f64>,
    pub p99: Option<f64>,
    pub memory_bytes: Option<f64>,
}

/// Everything read at one moment; `None` where a number could not be had.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Reading {
    pub canary: VersionReading,
    pub stable: VersionReading,
    /// Canary memory over its limit, the highest pod's.
    pub memory_ratio: Option<f64>,
    /// Canary restarts since the stage began; CrashLoopBackOff counts one.
    pub restarts: Option<f64>,
    /// 1 a failed health check, 0 a passed one.
    pub health: Option<f64>,
    /// The metrics source failed as a whole: why.
    pub source_down: Option<String>,
    /// Why particular numbers are missing, by metric.
    pub missing: HashMap<GuardMetric, String>,
}

impl Reading {
    fn value(&self, metric: GuardMetric) -> Option<f64> {
        match metric {
            GuardMetric::ErrorRatio => self.canary.error_ratio,
            GuardMetric::LatencyP99 => self.canary.p99,
            GuardMetric::LatencyP95 => self.canary.p95,
            GuardMetric::HealthCheck => self.health,
            GuardMetric::MemoryRatioOfLimit => self.memory_ratio,
            GuardMetric::Restarts => self.restarts,
        }
    }
}

/// The series and what has been reported: the pure half of the watcher.
pub struct Book {
    guards: Vec<GuardSpec>,
    interval: Duration,
    analysis: Option<AnalysisSpec>,
    samples: HashMap<GuardMetric, Vec<Sample>>,
    reasons: HashMap<GuardMetric, String>,
    observations: Observations,
    source_down: Option<String>,
    firing: HashSet<String>,
    /// The stage and when its next verdict is due.
    next_verdict: Option<(usize, DateTime<Utc>, DateTime<Utc>)>,
    keep: chrono::Duration,
    rate_lag: chrono::Duration,
}

impl Book {
    pub fn new(guards: Vec<GuardSpec>, analysis: Option<AnalysisSpec>, interval: Duration) -> Self {
        let longest_guard = guards
            .iter()
            .map(|g| match g.rule {
                Rule::Above { hold_for, .. } => hold_for,
                Rule::Consecutive { failures } => interval * failures,
            })
            .max()
            .unwrap_or_default();
        let window = analysis.as_ref().map_or(Duration::ZERO, |a| a.window);
        let keep = longest_guard.max(window) + interval * 4;
        Self {
            guards,
            interval,
            analysis,
            samples: HashMap::new(),
            reasons: HashMap::new(),
            observations: Observations::default(),
            source_down: None,
            firing: HashSet::new(),
            next_verdict: None,
            keep: chrono::Duration::from_std(keep).unwrap_or(chrono::Duration::MAX),
            rate_lag: chrono::Duration::zero(),
        }
    }

    /// Readings' rates reach `lag` back (see [`GuardWatch::rate_lag`]).
    #[must_use]
    pub fn with_rate_lag(mut self, lag: Duration) -> Self {
        self.rate_lag = chrono::Duration::from_std(lag).unwrap_or_default();
        self
    }

    /// Files a reading taken at `at`.
    pub fn record(&mut self, reading: &Reading, at: DateTime<Utc>) {
        let metrics: HashSet<GuardMetric> = self.guards.iter().map(|g| g.metric).collect();
        for metric in metrics {
            let value = reading.value(metric).filter(|v| v.is_finite());
            self.samples
                .entry(metric)
                .or_default()
                .push(Sample { at, value });
            if value.is_none() {
                let why = reading
                    .missing
                    .get(&metric)
                    .cloned()
                    .or_else(|| reading.source_down.clone())
                    .unwrap_or_else(|| "the source gave no number".into());
                self.reasons.insert(metric, why);
            }
        }
        let obs = &mut self.observations;
        let sides = [(&reading.canary, true), (&reading.stable, false)];
        for (side, canary) in sides {
            let pairs = [
                (&mut obs.request_rate, side.requests_per_second),
                (&mut obs.error_ratio, side.error_ratio),
                (&mut obs.p99, side.p99),
                (&mut obs.memory, side.memory_bytes),
            ];
            for (series, value) in pairs {
                if let Some(value) = value.filter(|v| v.is_finite()) {
                    let points = if canary {
                        &mut series.canary
                    } else {
                        &mut series.stable
                    };
                    points.push(Point { at, value });
                }
            }
        }
        self.source_down.clone_from(&reading.source_down);
        self.forget_before(at - self.keep);
    }

    fn forget_before(&mut self, cutoff: DateTime<Utc>) {
        for s in self.samples.values_mut() {
            s.retain(|s| s.at >= cutoff);
        }
        let obs = &mut self.observations;
        for series in [
            &mut obs.request_rate,
            &mut obs.error_ratio,
            &mut obs.p99,
            &mut obs.memory,
        ] {
            series.canary.retain(|p| p.at >= cutoff);
            series.stable.retain(|p| p.at >= cutoff);
        }
    }

    /// Judges every guard (and the stage, when its window is due) as of `now`.
    pub fn judge(&mut self, now: DateTime<Utc>, stage: Option<&StageWindow>) -> Vec<GuardFact> {
        let mut facts = Vec::new();
        for g in &self.guards {
            let samples = self.samples.get(&g.metric).map_or(&[][..], Vec::as_slice);
            let state = g.evaluate(samples, self.interval, now);
            let latest = samples
                .iter()
                .filter(|s| s.at <= now)
                .max_by_key(|s| s.at)
                .and_then(|s| s.value);
            let reason = match state {
                GuardState::NoData { since: None } if samples.is_empty() => {
                    Some("no samples yet".to_string())
                }
                GuardState::NoData { .. } => Some(
                    self.reasons
                        .get(&g.metric)
                        .cloned()
                        .filter(|_| latest.is_none())
                        .unwrap_or_else(|| "the newest sample is stale".into()),
                ),
                _ => None,
            };
            facts.push(GuardFact::Update(GuardUpdate {
                guard: g.name.clone(),
                metric: g.metric,
                action: g.action,
                state,
                latest,
                threshold: g.threshold(),
                reason,
                at: now,
            }));
            // After the update, so whoever acts on the alarm has its numbers.
            if let Some(alarm) = g.alarm(&state, now) {
                if self.firing.insert(g.name.clone()) {
                    facts.push(GuardFact::Fired(alarm));
                }
            } else {
                self.firing.remove(&g.name);
            }
        }
        if let Some(verdict) = self.verdict_due(now, stage) {
            facts.push(verdict);
        }
        facts
    }

    fn verdict_due(
        &mut self,
        now: DateTime<Utc>,
        stage: Option<&StageWindow>,
    ) -> Option<GuardFact> {
        let spec = self.analysis.as_ref()?;
        let Some(stage) = stage else {
            self.next_verdict = None;
            return None;
        };
        let window = chrono::Duration::from_std(spec.window).unwrap_or(chrono::Duration::MAX);
        let due = match self.next_verdict {
            Some((index, began, due)) if index == stage.stage && began == stage.began => due,
            _ => stage.began + self.rate_lag + window,
        };
        if now < due {
            self.next_verdict = Some((stage.stage, stage.began, due));
            return None;
        }
        self.observations.weights = Some(stage.weights);
        let obs = match &self.source_down {
            Some(why) => Err(why.as_str()),
            None => Ok(&self.observations),
        };
        let verdict = analyse(spec, obs, Some(stage.began + self.rate_lag), now);
        // The next look is one window later: a held stage gets a fresh verdict
        // once enough new samples have come in.
        self.next_verdict = Some((stage.stage, stage.began, now + window));
        Some(GuardFact::Verdict {
            stage: stage.stage,
            verdict,
        })
    }
}

/// Watches until `facts` is closed.
pub async fn run(
    config: GuardWatch,
    stage: watch::Receiver<Option<StageWindow>>,
    facts: mpsc::Sender<GuardFact>,
) {
    let mut book = Book::new(
        config.guards.clone(),
        config.analysis.clone(),
        config.interval,
    )
    .with_rate_lag(config.rate_lag());
    let mut reader = Reader::new(config.clone());
    // Readings keep their pace whatever a reading costs, so a guard's `for`
    // is met within one interval of the threshold holding that long.
    let period = config
        .clock
        .real(config.interval)
        .max(Duration::from_millis(1));
    let mut pace = tokio::time::interval(period);
    pace.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        pace.tick().await;
        let current = stage.borrow().clone();
        let reading = reader.read(current.as_ref()).await;
        let now = config.clock.now();
        book.record(&reading, now);
        for fact in book.judge(now, current.as_ref()) {
            if facts.send(fact).await.is_err() {
                return;
            }
        }
    }
}

/// One reading, now, and what each guard makes of it: for an incident
/// snapshot, through the same reader the watcher uses. From the pods' own
/// `/metrics` a rate takes two scrapes, so they are scraped `gap` apart.
pub async fn read_once(
    config: GuardWatch,
    stage: Option<StageWindow>,
    gap: Duration,
) -> (Reading, Vec<GuardUpdate>) {
    let mut book =
        Book::new(config.guards.clone(), None, config.interval).with_rate_lag(config.rate_lag());
    let two_scrapes = matches!(config.source, GuardSource::PodProxy);
    let clock = config.clock.clone();
    let mut reader = Reader::new(config);
    let mut reading = reader.read(stage.as_ref()).await;
    if two_scrapes {
        tokio::time::sleep(gap).await;
        reading = reader.read(stage.as_ref()).await;
    }
    let now = clock.now();
    book.record(&reading, now);
    let updates = book
        .judge(now, None)
        .into_iter()
        .filter_map(|fact| match fact {
            GuardFact::Update(u) => Some(u),
            _ => None,
        })
        .collect();
    (reading, updates)
}

/// The I/O half: reads the cluster and the metrics source.
struct Reader {
    config: GuardWatch,
    /// The previous scrape (clock time and samples), for rates.
    previous: Option<(DateTime<Utc>, Vec<Scraped>)>,
    /// Restart counts of canary pods when the stage began, by pod name.
    restart_base: HashMap<String, u64>,
    stage_began: Option<DateTime<Utc>>,
}

fn describe(t: &Trouble) -> String {
    match t {
        Trouble::Disconnected { reason, .. } => format!("disconnected: {reason}"),
        Trouble::Forbidden { message } => format!("forbidden: {message}"),
        Trouble::Unreachable { target, reason } => format!("{target} unreachable: {reason}"),
        Trouble::Failed { reason } => reason.clone(),
    }
}

impl Reader {
    fn new(config: GuardWatch) -> Self {
        Self {
            config,
            previous: None,
            restart_base: HashMap::new(),
            stage_began: None,
        }
    }

    async fn read(&mut self, stage: Option<&StageWindow>) -> Reading {
        let began = stage.map(|s| s.began);
        if began != self.stage_began {
            self.stage_began = began;
            self.restart_base.clear();
        }
        let mut reading = Reading::default();
        let set = self.pods(&mut reading).await;
        if let Some(set) = &set {
            reading.restarts = Some(self.restarts(&set.pods));
        }
        match self.config.source.clone() {
            GuardSource::Prometheus {
                client,
                queries,
                window,
            } => {
                self.read_prometheus(&client, &queries, window, &mut reading)
                    .await;
            }
            GuardSource::PodProxy => {
                if let Some(set) = &set {
                    self.read_pods(&set.pods, &mut reading).await;
                    self.memory_from_usage(set, &mut reading);
                }
            }
        }
        match &self.config.health {
            Some(prober) => {
                let probe = prober.probe().await;
                reading.health = Some(probe.sample_value());
            }
            None => {
                reading.missing.insert(
                    GuardMetric::HealthCheck,
                    "no health-check target is configured".into(),
                );
            }
        }
        reading
    }

    /// How long one read of the cluster may take: the kube client retries
    /// 429s and 503s with back-off, and a reading must not wait that out.
    fn deadline(&self) -> Duration {
        self.config
            .clock
            .real(self.config.interval)
            .max(Duration::from_secs(1))
    }

    /// The pods as last watched; waits (a little) for the first list.
    async fn pods(&self, reading: &mut Reading) -> Option<PodSet> {
        let mut feed = self.config.pods.clone();
        let listed = async {
            feed.wait_for(|s| s.synced || s.trouble.is_some())
                .await
                .map(|s| s.clone())
        };
        let why = match tokio::time::timeout(self.deadline(), listed).await {
            Ok(Ok(set)) => match set.trouble {
                None => return Some(set),
                Some(why) => why,
            },
            Ok(Err(_)) => "the pod watch has stopped".to_string(),
            Err(_) => "the pods are not listed yet".to_string(),
        };
        for m in [GuardMetric::Restarts, GuardMetric::MemoryRatioOfLimit] {
            reading.missing.insert(m, why.clone());
        }
        if matches!(self.config.source, GuardSource::PodProxy) {
            reading.source_down = Some(why);
        }
        None
    }

    /// Restarts of canary pods since the stage began (since the watcher
    /// started, outside a stage); a pod in CrashLoopBackOff counts one at least.
    fn restarts(&mut self, pods: &[Pod]) -> f64 {
        let began = self.stage_began;
        let mut total: u64 = 0;
        let mut crashlooping = false;
        for pod in pods.iter().filter(|p| version_of(p) == self.config.canary) {
            let name = pod.metadata.name.clone().unwrap_or_default();
            let count = u64::from(pod_status::restarts(pod));
            let created = pod
                .metadata
                .creation_timestamp
                .as_ref()
                .map(|t| t.0.as_second());
            // A pod born during the stage restarted only during the stage.
            let born_since = matches!((created, began), (Some(c), Some(b)) if c >= b.timestamp());
            let base = *self
                .restart_base
                .entry(name)
                .or_insert(if born_since { 0 } else { count });
            total += count.saturating_sub(base);
            crashlooping |=
                pod_status::pod_status(pod) == "CrashLoopBackOff" || waiting_in_crash_loop(pod);
        }
        let total = total as f64;
        if crashlooping { total.max(1.0) } else { total }
    }

    async fn read_prometheus(
        &self,
        client: &Prometheus,
        queries: &Queries,
        window: Duration,
        reading: &mut Reading,
    ) {
        let target = &self.config.target;
        let range = prom_duration(window);
        let mut failure = None;
        let mut ask = async |template: &str, version: &str| -> Option<f64> {
            if failure.is_some() {
                return None;
            }
            let promql = render(
                template,
                Vars {
                    namespace: &target.namespace,
                    app: &target.app,
                    version,
                    window: &range,
                },
            );
            match client.query_value(&promql).await {
                Ok(v) => v,
                Err(e) => {
                    failure = Some(format!(
                        "Prometheus at {} unreachable: {e}",
                        client.base_url()
                    ));
                    None
                }
            }
        };
        for (version, is_canary) in [
            (self.config.canary.clone(), true),
            (self.config.stable.clone(), false),
        ] {
            let side = VersionReading {
                requests_per_second: ask(&queries.request_rate, &version).await,
                error_ratio: ask(&queries.error_ratio, &version).await,
                p95: ask(&queries.p95, &version).await,
                p99: ask(&queries.p99, &version).await,
                memory_bytes: ask(&queries.memory, &version).await,
            };
            if is_canary {
                reading.memory_ratio = ask(&queries.memory_ratio, &version).await;
                reading.canary = side;
            } else {
                reading.stable = side;
            }
        }
        if let Some(why) = failure {
            for m in [
                GuardMetric::ErrorRatio,
                GuardMetric::LatencyP95,
                GuardMetric::LatencyP99,
                GuardMetric::MemoryRatioOfLimit,
            ] {
                reading.missing.insert(m, why.clone());
            }
            reading.source_down = Some(why);
        } else {
            for m in [
                GuardMetric::ErrorRatio,
                GuardMetric::LatencyP95,
                GuardMetric::LatencyP99,
            ] {
                reading
                    .missing
                    .insert(m, "Prometheus has no canary requests in the window".into());
            }
            reading.missing.insert(
                GuardMetric::MemoryRatioOfLimit,
                "Prometheus has no canary memory or limit series".into(),
            );
        }
    }

    async fn read_pods(&mut self, pods: &[Pod], reading: &mut Reading) {
        let live: Vec<_> = pods.iter().map(live_pod).filter(|p| p.ready).collect();
        let now = self.config.clock.now();
        let scrape = within(self.deadline(), scrape_pods(&self.config.target, &live));
        let scraped = match scrape.await {
            Ok(samples) => samples,
            Err(why) => {
                for m in [
                    GuardMetric::ErrorRatio,
                    GuardMetric::LatencyP95,
                    GuardMetric::LatencyP99,
                ] {
                    reading.missing.insert(m, why.clone());
                }
                reading.source_down = Some(why);
                // Rates restart from the next good scrape.
                self.previous = None;
                return;
            }
        };
        let Some((then, before)) = self.previous.replace((now, scraped.clone())) else {
            for m in [
                GuardMetric::ErrorRatio,
                GuardMetric::LatencyP95,
                GuardMetric::LatencyP99,
            ] {
                reading.missing.insert(
                    m,
                    "the first scrape only sets the baseline for rates".into(),
                );
            }
            return;
        };
        let seconds = (now - then).to_std().unwrap_or_default().as_secs_f64();
        let grown = scrape::increases(&before, &scraped);
        for (version, is_canary) in [
            (self.config.canary.clone(), true),
            (self.config.stable.clone(), false),
        ] {
            let n = scrape::numbers(&grown, seconds, &[("version", &version)]);
            let side = VersionReading {
                requests_per_second: Some(n.requests_per_second),
                error_ratio: n.error_ratio,
                p95: n.p95,
                p99: n.p99,
                memory_bytes: None,
            };
            if is_canary {
                reading.canary = side;
            } else {
                reading.stable = side;
            }
        }
        for m in [
            GuardMetric::ErrorRatio,
            GuardMetric::LatencyP95,
            GuardMetric::LatencyP99,
        ] {
            reading.missing.insert(
                m,
                "the canary served no requests since the last scrape".into(),
            );
        }
    }

    /// Working-set memory from metrics.k8s.io against each pod's limit.
    fn memory_from_usage(&self, set: &PodSet, reading: &mut Reading) {
        let pods = &set.pods;
        let usage: HashMap<&str, u64> = set
            .usage
            .iter()
            .map(|(name, u)| (name.as_str(), u.memory_bytes))
            .collect();
        let mut ratio: Option<f64> = None;
        for pod in pods {
            let version = version_of(pod);
            let Some(name) = pod.metadata.name.as_deref() else {
                continue;
            };
            let Some(used) = usage.get(name).copied() else {
                continue;
            };
            let side = if version == self.config.canary {
                &mut reading.canary
            } else if version == self.config.stable {
                &mut reading.stable
            } else {
                continue;
            };
            let used = used as f64;
            side.memory_bytes = Some(side.memory_bytes.map_or(used, |m| m.max(used)));
            if version == self.config.canary
                && let Some(limit) = memory_limit(pod).filter(|l| *l > 0)
            {
                let r = used / limit as f64;
                ratio = Some(ratio.map_or(r, |m| m.max(r)));
            }
        }
        reading.memory_ratio = ratio;
        if ratio.is_none() {
            reading.missing.insert(
                GuardMetric::MemoryRatioOfLimit,
                "no canary pod has both a memory usage and a memory limit".into(),
            );
        }
    }
}

/// `work`, or why it gave no result within `deadline`.
async fn within<T, E: Failure>(
    deadline: Duration,
    work: impl Future<Output = Result<T, E>>,
) -> Result<T, String> {
    match tokio::time::timeout(deadline, work).await {
        Ok(Ok(v)) => Ok(v),
        Ok(Err(e)) => Err(e.describe()),
        Err(_) => Err(format!(
            "no answer within {}",
            crate::units::format_duration(deadline)
        )),
    }
}

/// The errors [`within`] reads.
trait Failure {
    fn describe(&self) -> String;
}

impl Failure for kube::Error {
    fn describe(&self) -> String {
        self.to_string()
    }
}

impl Failure for Trouble {
    fn describe(&self) -> String {
        describe(self)
    }
}

fn waiting_in_crash_loop(pod: &Pod) -> bool {
    pod.status
        .as_ref()
        .and_then(|s| s.container_statuses.as_deref())
        .unwrap_or_default()
        .iter()
        .any(|c| {
            c.state
                .as_ref()
                .and_then(|s| s.waiting.as_ref())
                .and_then(|w| w.reason.as_deref())
                == Some("CrashLoopBackOff")
        })
}

/// The pod's memory limit summed over its containers; `None` when any
/// container has none (it could use the node's memory).
fn memory_limit(pod: &Pod) -> Option<u64> {
    let spec = pod.spec.as_ref()?;
    spec.containers.iter().try_fold(0u64, |sum, c| {
        let q = c.resources.as_ref()?.limits.as_ref()?.get("memory")?;
        Some(sum + parse_bytes(&q.0).ok()?)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rollout::analysis::Outcome;
    use crate::rollout::guards::default_guards;
    use chrono::TimeZone;

    fn t(secs: i64) -> DateTime<Utc> {
        Utc.timestamp_opt(1_700_000_000 + secs, 0).unwrap()
    }

    const EVERY_15S: Duration = Duration::from_secs(15);

    fn reading(canary_errors: Option<f64>) -> Reading {
        let side = |errors| VersionReading {
            requests_per_second: Some(50.0),
            error_ratio: errors,
            p95: Some(0.1),
            p99: Some(0.2),
            memory_bytes: Some(200.0 * 1024.0 * 1024.0),
        };
        Reading {
            canary: side(canary_errors),
            stable: side(Some(0.004)),
            memory_ratio: Some(0.4),
            restarts: Some(0.0),
            health: Some(0.0),
            ..Reading::default()
        }
    }

    fn error_guard() -> Vec<GuardSpec> {
        vec![default_guards().remove(0)]
    }

    fn updates(facts: &[GuardFact]) -> Vec<&GuardUpdate> {
        facts
            .iter()
            .filter_map(|f| match f {
                GuardFact::Update(u) => Some(u),
                _ => None,
            })
            .collect()
    }

    #[test]
    fn fires_once_after_for_and_rearms_when_it_clears() {
        let mut book = Book::new(error_guard(), None, EVERY_15S);
        let mut fired = 0;
        let mut first_firing = None;
        for i in 0..=10 {
            book.record(&reading(Some(0.08)), t(i * 15));
            let facts = book.judge(t(i * 15), None);
            fired += facts
                .iter()
                .filter(|f| matches!(f, GuardFact::Fired(_)))
                .count();
            if first_firing.is_none()
                && matches!(updates(&facts)[0].state, GuardState::Firing { .. })
            {
                first_firing = Some(i * 15);
            }
        }
        assert_eq!(fired, 1, "an alarm is raised once, not every interval");
        assert_eq!(first_firing, Some(120));
        book.record(&reading(Some(0.01)), t(165));
        assert_eq!(updates(&book.judge(t(165), None))[0].state, GuardState::Ok);
        for i in 12..=20 {
            book.record(&reading(Some(0.09)), t(i * 15));
            let facts = book.judge(t(i * 15), None);
            fired += facts
                .iter()
                .filter(|f| matches!(f, GuardFact::Fired(_)))
                .count();
        }
        assert_eq!(fired, 2, "a guard that cleared fires again");
    }

    #[test]
    fn a_dead_source_is_no_data_with_the_reason() {
        let mut book = Book::new(error_guard(), None, EVERY_15S);
        let down = Reading {
            source_down: Some("Prometheus at http://p:9090 unreachable: refused".into()),
            ..Reading::default()
        };
        book.record(&down, t(0));
        let facts = book.judge(t(0), None);
        let u = updates(&facts)[0];
        assert!(matches!(u.state, GuardState::NoData { .. }));
        assert_eq!(
            u.numbers(),
            "no data: Prometheus at http://p:9090 unreachable: refused"
        );
    }

    #[test]
    fn verdicts_come_once_per_window_and_never_pass_while_the_source_is_down() {
        let spec = AnalysisSpec {
            window: Duration::from_secs(60),
            ..AnalysisSpec::default()
        };
        let mut book = Book::new(error_guard(), Some(spec), EVERY_15S);
        let stage = StageWindow {
            stage: 1,
            began: t(0),
            weights: Weights::canary(50),
        };
        let mut verdicts = Vec::new();
        for i in 0..=8 {
            let mut r = reading(Some(0.003));
            if i >= 5 {
                r = Reading {
                    source_down: Some("refused".into()),
                    ..Reading::default()
                };
            }
            book.record(&r, t(i * 15));
            for f in book.judge(t(i * 15), Some(&stage)) {
                if let GuardFact::Verdict { stage, verdict } = f {
                    verdicts.push((stage, i * 15, verdict.outcome, verdict.reason));
                }
            }
        }
        assert_eq!(verdicts.len(), 2, "{verdicts:#?}");
        assert_eq!(verdicts[0].0, 1);
        assert_eq!((verdicts[0].1, verdicts[0].2), (60, Outcome::Pass));
        assert_eq!((verdicts[1].1, verdicts[1].2), (120, Outcome::Inconclusive));
        assert_eq!(verdicts[1].3, "metrics unavailable: refused");
    }

    #[test]
    fn a_stage_is_judged_only_on_readings_whose_rates_began_inside_it() {
        let spec = AnalysisSpec {
            window: Duration::from_secs(60),
            ..AnalysisSpec::default()
        };
        // Rates over 30 s: the readings of the stage's first 30 s still carry
        // the previous stage's traffic, here a bad one.
        let mut book =
            Book::new(error_guard(), Some(spec), EVERY_15S).with_rate_lag(Duration::from_secs(30));
        let stage = StageWindow {
            stage: 1,
            began: t(0),
            weights: Weights::canary(50),
        };
        let mut verdicts = Vec::new();
        for i in 0..=6 {
            let ratio = if i * 15 < 30 { 0.2 } else { 0.003 };
            book.record(&reading(Some(ratio)), t(i * 15));
            for f in book.judge(t(i * 15), Some(&stage)) {
                if let GuardFact::Verdict { verdict, .. } = f {
                    verdicts.push((i * 15, verdict.outcome));
                }
            }
        }
        assert_eq!(verdicts, vec![(90, Outcome::Pass)]);
    }

    proptest::proptest! {
        /// Whatever the pattern of readings, a verdict given while the source
        /// is down, or without numbers, is never a pass, and no guard fires
        /// on readings without a value.
        #[test]
        fn a_down_source_never_passes_nor_fires(
            pattern in proptest::collection::vec(0u8..3, 1..60),
        ) {
            let spec = AnalysisSpec { window: Duration::from_secs(60), ..AnalysisSpec::default() };
            let mut book = Book::new(error_guard(), Some(spec), EVERY_15S);
            let stage = StageWindow { stage: 0, began: t(0), weights: Weights::canary(50) };
            for (i, kind) in pattern.iter().enumerate() {
                let at = t(i as i64 * 15);
                let r = match kind {
                    0 => reading(Some(0.003)),
                    1 => reading(None),
                    _ => Reading { source_down: Some("refused".into()), ..Reading::default() },
                };
                book.record(&r, at);
                for fact in book.judge(at, Some(&stage)) {
                    match fact {
                        GuardFact::Verdict { verdict, .. } if *kind == 2 => {
                            proptest::prop_assert_eq!(verdict.outcome, Outcome::Inconclusive);
                        }
                        GuardFact::Fired(a) => proptest::prop_assert!(false, "fired: {}", a),
                        GuardFact::Update(u) if *kind != 0 => {
                            proptest::prop_assert!(
                                matches!(u.state, GuardState::NoData { .. }),
                                "{:?}", u
                            );
                        }
                        _ => {}
                    }
                }
            }
        }
    }

    #[test]
    fn update_numbers_read_like_the_panes() {
        let u = GuardUpdate {
            guard: "checkout 5xx".into(),
            metric: GuardMetric::ErrorRatio,
            action: GuardAction::Rollback,
            state: GuardState::Pending {
                since: t(0),
                value: 0.071,
            },
            latest: Some(0.071),
            threshold: 0.05,
            reason: None,
            at: t(45),
        };
        assert_eq!(u.numbers(), "7.1% (limit 5.0%) for 45s");
    }
}
