//! The tick: per app, the request rate with its wobble, split by the router
//! in the data path, served by the ready pods of each version with that
//! version's behaviour at this moment.

use std::collections::{BTreeSet, HashMap};
use std::f64::consts::TAU;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use rand::rngs::SmallRng;
use rand_distr::{Binomial, Distribution, Poisson};

use super::TrafficHandle;
use super::access_log::{self, LINES_PER_SECOND};
use super::counters::{PodState, PodView};
use super::histogram::Latency;
use super::pod_metrics::{self, WINDOW_SECONDS};
use super::routing;
use super::schedule::Schedule;
use crate::sim::Shared;
use crate::sim::faults::FaultState;
use crate::sim::logs::ContainerKey;
use crate::sim::resources::kinds;
use crate::sim::scenario::{AppSpec, Behaviour};
use crate::sim::store::mix;

/// Share of requests that are GETs (the rest POST).
const GET_SHARE: f64 = 0.8;
/// Share of 5xx answered 503 (the rest 500).
const UNAVAILABLE_SHARE: f64 = 0.3;
/// CPU a pod burns with no traffic, as a share of its scenario `cpu_cores`.
const IDLE_CPU: f64 = 0.35;

pub struct Traffic {
    handle: Arc<TrafficHandle>,
    /// When each (namespace, app, version) first received a request.
    first_seen: HashMap<(String, String, String), DateTime<Utc>>,
    schedule: Schedule,
    last_report: Option<DateTime<Utc>>,
    /// Phases of each app's two wobble waves, from the seed.
    wobble: Vec<(f64, f64)>,
}

impl Traffic {
    pub fn new(shared: &Shared) -> Self {
        let seed = shared.store.seed();
        let unit = |x: u64| (x >> 11) as f64 / (1u64 << 53) as f64;
        let wobble = (0..shared.scenario.apps.len() as u64)
            .map(|i| {
                (
                    unit(mix(seed, 2 * i)) * TAU,
                    unit(mix(seed, 2 * i + 1)) * TAU,
                )
            })
            .collect();
        Self {
            handle: Arc::new(TrafficHandle::new(shared)),
            first_seen: HashMap::new(),
            schedule: Schedule::new(&shared.scenario.faults),
            last_report: None,
            wobble,
        }
    }

    /// What the HTTP side reads: `/metrics`, the pod proxy.
    pub fn handle(&self) -> Arc<TrafficHandle> {
        self.handle.clone()
    }

    /// When a version first got traffic, if it has.
    pub fn first_traffic(
        &self,
        namespace: &str,
        app: &str,
        version: &str,
    ) -> Option<DateTime<Utc>> {
        self.first_seen
            .get(&(namespace.to_string(), app.to_string(), version.to_string()))
            .copied()
    }

    /// Advances the model by `dt` ending at `now`.
    pub fn tick(
        &mut self,
        shared: &Shared,
        now: DateTime<Utc>,
        since_start: Duration,
        dt: Duration,
        rng: &mut SmallRng,
    ) {
        self.schedule.tick(shared, since_start);
        let faults = shared.faults.current();
        let handle = self.handle.clone();
        let mut pods = handle.pods();
        sync_pods(shared, &mut pods);
        for (i, app) in shared.scenario.apps.iter().enumerate() {
            let rate = app.requests_per_second * self.wobble_at(i, since_start);
            self.serve_app(
                shared,
                app,
                rate,
                &faults,
                &mut pods,
                now,
                since_start,
                dt,
                rng,
            );
        }
        let due = self
            .last_report
            .is_none_or(|t| (now - t).num_seconds() >= WINDOW_SECONDS);
        if due {
            if let Some(last) = self.last_report {
                let elapsed = (now - last).num_milliseconds() as f64 / 1000.0;
                pod_metrics::write(&shared.store, &mut pods, now, elapsed);
            }
            self.last_report = Some(now);
        }
    }

    /// A gentle wobble around 1: two slow waves, their phases from the seed.
    fn wobble_at(&self, app: usize, since_start: Duration) -> f64 {
        let t = since_start.as_secs_f64();
        let (a, b) = self.wobble.get(app).copied().unwrap_or_default();
        1.0 + 0.06 * (TAU * t / 173.0 + a).sin() + 0.03 * (TAU * t / 37.0 + b).sin()
    }

    #[allow(clippy::too_many_arguments)]
    fn serve_app(
        &mut self,
        shared: &Shared,
        app: &AppSpec,
        rate: f64,
        faults: &FaultState,
        pods: &mut std::collections::BTreeMap<(String, String), PodState>,
        now: DateTime<Utc>,
        since_start: Duration,
        dt: Duration,
        rng: &mut SmallRng,
    ) {
        let mine = |p: &PodState| p.view.namespace == app.namespace && p.view.app == app.name;
        let split = {
            let views: Vec<&PodView> = pods.values().filter(|p| mine(p)).map(|p| &p.view).collect();
            routing::split(&shared.store, app, &views)
        };
        let replicas: u32 = app.versions.iter().map(|v| v.replicas).sum();
        let nominal = app.requests_per_second / f64::from(replicas.max(1));
        let mut versions: Vec<String> = split.weights.iter().map(|(v, _)| v.clone()).collect();
        for p in pods.values().filter(|p| mine(p)) {
            if !versions.contains(&p.view.version) {
                versions.push(p.view.version.clone());
            }
        }
        for version in versions {
            let weight = split
                .weights
                .iter()
                .find(|(v, _)| *v == version)
                .map_or(0.0, |(_, w)| f64::from(*w) / 100.0);
            let keys: Vec<(String, String)> = pods
                .iter()
                .filter(|(_, p)| mine(p) && p.view.version == version)
                .map(|(k, _)| k.clone())
                .collect();
            let ready = keys.iter().filter(|k| pods[*k].view.ready).count();
            let id = (app.namespace.clone(), app.name.clone(), version.clone());
            if weight > 0.0 && ready > 0 && rate > 0.0 {
                self.first_seen.entry(id.clone()).or_insert(now);
            }
            let since_first = self
                .first_seen
                .get(&id)
                .and_then(|t| (now - *t).to_std().ok());
            let behaviour = app
                .versions
                .iter()
                .find(|v| v.name == version)
                .map(|v| v.behaviour.clone())
                .unwrap_or_default();
            let now_is = behaviour.effective(since_start, since_first);
            let spike: f64 = faults
                .error_spikes
                .iter()
                .filter(|s| {
                    s.namespace == app.namespace && s.app == app.name && s.version == version
                })
                .map(|s| s.error_ratio)
                .sum();
            let error_ratio = (now_is.error_ratio + spike).clamp(0.0, 1.0);
            let latency = Latency::fit(now_is.latency_p50_ms, now_is.latency_p99_ms);
            let per_pod = if ready > 0 {
                rate * weight / ready as f64
            } else {
                0.0
            };
            for key in keys {
                let Some(pod) = pods.get_mut(&key) else {
                    continue;
                };
                let pod_rate = if pod.view.ready { per_pod } else { 0.0 };
                serve_pod(
                    shared,
                    app,
                    pod,
                    &Serving {
                        rate: pod_rate,
                        nominal,
                        error_ratio,
                        latency: &latency,
                        behaviour: &behaviour,
                        silenced: faults
                            .silenced_pods
                            .iter()
                            .any(|p| *p == format!("{}/{}", key.0, key.1)),
                    },
                    now,
                    dt,
                    rng,
                );
            }
        }
    }
}

/// Brings the tracked pods in line with the store: new pods and restarted
/// containers start from zero, gone pods are dropped.
fn sync_pods(shared: &Shared, pods: &mut std::collections::BTreeMap<(String, String), PodState>) {
    let (objects, _) = shared.store.list(kinds::pods(), None);
    let known = |v: &PodView| {
        shared
            .scenario
            .apps
            .iter()
            .any(|a| a.namespace == v.namespace && a.name == v.app)
    };
    let mut seen = BTreeSet::new();
    for view in objects
        .iter()
        .filter_map(|o| PodView::read(o))
        .filter(known)
    {
        let key = (view.namespace.clone(), view.name.clone());
        seen.insert(key.clone());
        match pods.get_mut(&key) {
            Some(state) if state.view.same_container(&view) => state.view = view,
            _ => {
                pods.insert(key, PodState::new(view));
            }
        }
    }
    pods.retain(|k, _| seen.contains(k));
}

/// One version's numbers for one tick.
struct Serving<'a> {
    rate: f64,
    nominal: f64,
    error_ratio: f64,
    latency: &'a Latency,
    behaviour: &'a Behaviour,
    silenced: bool,
}

fn serve_pod(
    shared: &Shared,
    app: &AppSpec,
    pod: &mut PodState,
    s: &Serving<'_>,
    now: DateTime<Utc>,
    dt: Duration,
    rng: &mut SmallRng,
) {
    if !pod.view.alive {
        return;
    }
    let secs = dt.as_secs_f64();
    let n = poisson(s.rate * secs, rng);
    let served = split_requests(n, s.error_ratio, rng);
    for (key, count) in &served {
        *pod.counters.requests.entry(*key).or_insert(0) += count;
    }
    s.latency.record(n, &mut pod.counters.latency, rng);
    let load = if s.nominal > 0.0 {
        (s.rate / s.nominal).min(4.0)
    } else {
        0.0
    };
    pod.counters.cpu_seconds += s.behaviour.cpu_cores * secs * (IDLE_CPU + (1.0 - IDLE_CPU) * load);
    let uptime = pod
        .view
        .started
        .and_then(|t| (now - t).to_std().ok())
        .unwrap_or_default();
    pod.counters.memory_bytes = s.behaviour.memory_at(uptime);
    if n == 0 || s.silenced {
        return;
    }
    let keep = (LINES_PER_SECOND / s.rate.max(f64::MIN_POSITIVE)).min(1.0);
    let logged = Binomial::new(n, keep).map_or(0, |b| b.sample(rng));
    if logged == 0 {
        return;
    }
    let tick = access_log::Tick {
        app: &app.name,
        paths: &app.paths,
        format: app.log_format,
        served: &served,
        latency: s.latency,
        now,
        dt,
    };
    let key = ContainerKey::new(&pod.view.namespace, &pod.view.name, &app.name);
    for (at, line) in access_log::lines(&tick, logged, rng) {
        shared.logs.append(&key, at, line);
    }
}

fn poisson(mean: f64, rng: &mut SmallRng) -> u64 {
    if mean <= 0.0 {
        return 0;
    }
    Poisson::new(mean).map_or(0, |p| p.sample(rng) as u64)
}

fn binomial(n: u64, p: f64, rng: &mut SmallRng) -> u64 {
    Binomial::new(n, p.clamp(0.0, 1.0)).map_or(0, |b| b.sample(rng))
}

/// Splits `n` requests by method and outcome.
fn split_requests(n: u64, error_ratio: f64, rng: &mut SmallRng) -> Vec<((u16, &'static str), u64)> {
    let gets = binomial(n, GET_SHARE, rng);
    let mut out = Vec::with_capacity(6);
    for (method, m) in [("GET", gets), ("POST", n - gets)] {
        let errors = binomial(m, error_ratio, rng);
        let unavailable = binomial(errors, UNAVAILABLE_SHARE, rng);
        out.push(((200, method), m - errors));
        out.push(((500, method), errors - unavailable));
        out.push(((503, method), unavailable));
    }
    out
}
