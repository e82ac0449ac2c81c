//! The tick: per app, the request rate with its wobble, split by the router
//! in the data path, served by the ready pods of each version with that
//! version's behaviour at this moment.

use std::collections::{BTreeSet, HashMap, HashSet};
use std::f64::consts::TAU;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use rand_distr::{Binomial, Distribution, Poisson};

use super::TrafficHandle;
use super::access_log::{self, LINES_PER_SECOND};
use super::counters::{PodState, PodView};
use super::histogram::Latency;
use super::pod_metrics::{self, WINDOW_SECONDS};
use super::routing;
use super::schedule::Schedule;
use crate::sim::Shared;
use crate::sim::controllers::feed::{Changes, Feed};
use crate::sim::faults::FaultState;
use crate::sim::logs::ContainerKey;
use crate::sim::resources::kinds;
use crate::sim::rng::SimRng;
use crate::sim::scenario::{AppSpec, Behaviour};
use crate::sim::store::{meta_str, mix};

/// Share of requests that are GETs (the rest POST), when the app has paths
/// that take writes; an app serving only read-only paths gets only GETs.
const GET_SHARE: f64 = 0.8;
/// Share of 5xx answered 503 (the rest 500).
const UNAVAILABLE_SHARE: f64 = 0.3;
/// CPU a pod burns with no traffic, as a share of its scenario `cpu_cores`.
const IDLE_CPU: f64 = 0.35;

pub struct Traffic {
    handle: Arc<TrafficHandle>,
    schedule: Schedule,
    last_report: Option<DateTime<Utc>>,
    /// Counts full syncs, to find the pods one did not see.
    generation: u64,
    /// Pod changes since the last tick: only those pods are read again.
    feed: Feed,
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
            schedule: Schedule::new(&shared.scenario.faults),
            last_report: None,
            generation: 0,
            feed: Feed::default(),
            wobble,
        }
    }

    /// What the HTTP side reads: `/metrics`, the pod proxy.
    pub fn handle(&self) -> Arc<TrafficHandle> {
        self.handle.clone()
    }

    /// Advances the model by `dt` ending at `now`.
    pub fn tick(
        &mut self,
        shared: &Shared,
        now: DateTime<Utc>,
        since_start: Duration,
        dt: Duration,
        rng: &mut SimRng,
    ) {
        self.schedule.tick(shared, since_start);
        let faults = shared.faults.current();
        let handle = self.handle.clone();
        let mut pods = handle.pods();
        match self.feed.drain(&shared.store) {
            Changes::All => {
                sync_pods(shared, &mut pods, self.generation);
                self.generation += 1;
            }
            Changes::Some(changes) => {
                let touched: BTreeSet<(&str, &str)> = changes
                    .iter()
                    .filter(|c| std::ptr::eq(c.resource, kinds::pods()))
                    .map(|c| (c.namespace.as_str(), c.name.as_str()))
                    .collect();
                for (ns, name) in touched {
                    let key = (ns.to_string(), name.to_string());
                    let tracked = shared
                        .store
                        .get(kinds::pods(), ns, name)
                        .is_some_and(|object| track(shared, &mut pods, &key, object));
                    if !tracked {
                        pods.remove(&key);
                    }
                }
            }
        }
        // First what each pod of each app gets, then one pass over the pods,
        // so the cost grows with the pods, not with pods × apps. Both passes
        // walk the map in the same order, so a pod's place indexes its rate.
        let apps = &shared.scenario.apps;
        let mut members: Vec<Vec<(usize, &PodView)>> = vec![Vec::new(); apps.len()];
        for (i, p) in pods.values().enumerate() {
            members[p.app_index].push((i, &p.view));
        }
        let mut rates = vec![0.0; pods.len()];
        let plans: Vec<HashMap<String, Plan>> = apps
            .iter()
            .zip(&members)
            .enumerate()
            .map(|(i, (app, members))| {
                let rate = app.requests_per_second * self.wobble_at(i, since_start);
                let views: Vec<&PodView> = members.iter().map(|(_, v)| *v).collect();
                let backends = routing::backends(&shared.store, app);
                let per_pod = routing::rates(&backends, &views, rate);
                for ((at, _), r) in members.iter().zip(&per_pod) {
                    rates[*at] = *r;
                }
                Self::plan_app(shared, app, &views, &per_pod, &faults, now, since_start)
            })
            .collect();
        drop(members);
        let silenced: HashSet<&str> = faults.silenced_pods.iter().map(String::as_str).collect();
        for (at, ((ns, name), pod)) in pods.iter_mut().enumerate() {
            let app = &apps[pod.app_index];
            let Some(plan) = plans[pod.app_index].get(&pod.view.version) else {
                continue;
            };
            let is_silenced =
                !silenced.is_empty() && silenced.contains(format!("{ns}/{name}").as_str());
            serve_pod(shared, app, pod, plan, rates[at], is_silenced, now, dt, rng);
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

    /// How each version of `app` behaves this tick, by version name;
    /// `rates` are what each of `members` receives.
    fn plan_app(
        shared: &Shared,
        app: &AppSpec,
        members: &[&PodView],
        rates: &[f64],
        faults: &FaultState,
        now: DateTime<Utc>,
        since_start: Duration,
    ) -> HashMap<String, Plan> {
        let replicas: u32 = app.versions.iter().map(|v| v.replicas).sum();
        let nominal = app.requests_per_second / f64::from(replicas.max(1));
        let mut versions: Vec<&str> = Vec::new();
        for p in members {
            if !versions.contains(&p.version.as_str()) {
                versions.push(&p.version);
            }
        }
        let get_share = if app.paths.iter().any(|p| !access_log::read_only(p)) {
            GET_SHARE
        } else {
            1.0
        };
        let mut plans = HashMap::new();
        for version in versions {
            let served = members
                .iter()
                .zip(rates)
                .any(|(p, r)| p.version == version && *r > 0.0);
            let first = &shared.first_traffic;
            if served {
                first.record(&app.namespace, &app.name, version, now);
            }
            let since_first = first.since(&app.namespace, &app.name, version, now);
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
            plans.insert(
                version.to_string(),
                Plan {
                    nominal,
                    get_share,
                    error_ratio: (now_is.error_ratio + spike).clamp(0.0, 1.0),
                    latency: Latency::fit(now_is.latency_p50_ms, now_is.latency_p99_ms),
                    behaviour,
                },
            );
        }
        plans
    }
}

/// Brings the tracked pods in line with the store: new pods and restarted
/// containers start from zero, gone pods are dropped. Run on the first tick
/// and whenever the change feed was missed; otherwise only changed pods are
/// looked at again ([`track`]).
fn sync_pods(
    shared: &Shared,
    pods: &mut std::collections::BTreeMap<(String, String), PodState>,
    generation: u64,
) {
    let (objects, _) = shared.store.list(kinds::pods(), None);
    for object in objects {
        let (Some(ns), Some(name)) = (meta_str(&object, "namespace"), meta_str(&object, "name"))
        else {
            continue;
        };
        let key = (ns.to_string(), name.to_string());
        if track(shared, pods, &key, object)
            && let Some(state) = pods.get_mut(&key)
        {
            state.seen = generation;
        }
    }
    pods.retain(|_, p| p.seen == generation);
}

/// Brings one tracked pod in line with its stored object. A stored pod is an
/// immutable `Arc`, so an unchanged one is recognised without reading it.
/// Answers whether the pod is tracked; when not, the caller drops its state.
fn track(
    shared: &Shared,
    pods: &mut std::collections::BTreeMap<(String, String), PodState>,
    key: &(String, String),
    object: Arc<serde_json::Value>,
) -> bool {
    if let Some(state) = pods.get_mut(key)
        && Arc::ptr_eq(&state.source, &object)
    {
        return true;
    }
    let Some(view) = PodView::read(&object) else {
        return false;
    };
    let Some(app_index) = shared
        .scenario
        .apps
        .iter()
        .position(|a| a.namespace == view.namespace && a.name == view.app)
    else {
        return false;
    };
    match pods.get_mut(key) {
        Some(state) if state.view.same_container(&view) => {
            state.view = view;
            state.source = object;
        }
        _ => {
            pods.insert(key.clone(), PodState::new(view, object, app_index));
        }
    }
    true
}

/// One version's numbers for one tick.
struct Plan {
    /// Requests per second a pod gets when the app's pods share evenly.
    nominal: f64,
    /// Share of the requests that are GETs.
    get_share: f64,
    error_ratio: f64,
    latency: Latency,
    behaviour: Behaviour,
}

#[allow(clippy::too_many_arguments)]
fn serve_pod(
    shared: &Shared,
    app: &AppSpec,
    pod: &mut PodState,
    s: &Plan,
    rate: f64,
    silenced: bool,
    now: DateTime<Utc>,
    dt: Duration,
    rng: &mut SimRng,
) {
    if !pod.view.alive {
        return;
    }
    let rate = if pod.view.ready { rate } else { 0.0 };
    let secs = dt.as_secs_f64();
    let n = poisson(rate * secs, rng);
    let served = split_requests(n, s.get_share, s.error_ratio, rng);
    for (key, count) in &served {
        *pod.counters.requests.entry(*key).or_insert(0) += count;
    }
    s.latency.record(n, &mut pod.counters.latency, rng);
    let load = if s.nominal > 0.0 {
        (rate / s.nominal).min(4.0)
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
    if n == 0 || silenced {
        return;
    }
    let keep = (LINES_PER_SECOND / rate.max(f64::MIN_POSITIVE)).min(1.0);
    let logged = Binomial::new(n, keep).map_or(0, |b| b.sample(rng));
    if logged == 0 {
        return;
    }
    let tick = access_log::Tick {
        app: &app.name,
        paths: &app.paths,
        format: app.log_format,
        served: &served,
        latency: &s.latency,
        now,
        dt,
    };
    let key = ContainerKey::new(&pod.view.namespace, &pod.view.name, &app.name);
    for (at, line) in access_log::lines(&tick, logged, rng) {
        shared.logs.append(&key, at, line);
    }
}

fn poisson(mean: f64, rng: &mut SimRng) -> u64 {
    if mean <= 0.0 {
        return 0;
    }
    Poisson::new(mean).map_or(0, |p| p.sample(rng) as u64)
}

fn binomial(n: u64, p: f64, rng: &mut SimRng) -> u64 {
    Binomial::new(n, p.clamp(0.0, 1.0)).map_or(0, |b| b.sample(rng))
}

/// Splits `n` requests by method and outcome.
fn split_requests(
    n: u64,
    get_share: f64,
    error_ratio: f64,
    rng: &mut SimRng,
) -> Vec<((u16, &'static str), u64)> {
    let gets = binomial(n, get_share, rng);
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
