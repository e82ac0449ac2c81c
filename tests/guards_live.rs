//! The guard watcher against the simulated cluster's scenarios, through the
//! real kube client: pods scraped through the API server's proxy, or a real
//! Prometheus scraping the sim. Times are the sim's (it runs faster than
//! real time); the plans' guards are the shipped ones.
#![allow(clippy::unwrap_used)]

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use chrono::{DateTime, Utc};
use flightdeck::cluster::client::connect;
use flightdeck::cluster::routers::{self, Patch};
use flightdeck::metrics::prometheus::Prometheus;
use flightdeck::rollout::analysis::Outcome;
use flightdeck::rollout::guards::{Alarm, GuardMetric, GuardState};
use flightdeck::rollout::{Plan, Weights};
use flightdeck::sim::Scenario;
use flightdeck::sim::host::{HostOptions, SimHost};
use flightdeck::sim::resources::kinds;
use flightdeck::sim::server::REQUEST_COUNTS_PATH;
use flightdeck::workers::guard_watch::{
    self, Clock, GuardFact, GuardSource, GuardUpdate, GuardWatch, StageWindow,
};
use flightdeck::workers::{self, Target, Workers};
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;

mod prometheus;
mod requests;

struct Live {
    host: SimHost,
    target: Target,
    /// The pods' watch the guards read, as `flightdeck run` starts it.
    pods: Workers,
    speed: f64,
    _dir: tempfile::TempDir,
}

impl Live {
    async fn start(scenario: &str, speed: f64) -> Live {
        let mut opts = HostOptions::new(Scenario::load(scenario).unwrap());
        opts.speed = speed;
        let host = SimHost::start(opts).await.unwrap();
        let dir = tempfile::tempdir().unwrap();
        let kubeconfig = dir.path().join("kubeconfig");
        host.write_kubeconfig(&kubeconfig).unwrap();
        let (client, _) = connect(Some(&kubeconfig), None).await.unwrap();
        let app = &host.shared().scenario.apps[0];
        let target = Target {
            client,
            namespace: app.namespace.clone(),
            app: app.name.clone(),
        };
        Live {
            host,
            pods: workers::pods_only(&target),
            target,
            speed,
            _dir: dir,
        }
    }

    fn now(&self) -> DateTime<Utc> {
        self.host.shared().store.now()
    }

    /// How many list requests the API server has answered, by resource.
    async fn lists(&self) -> BTreeMap<String, f64> {
        let url = format!("{}{REQUEST_COUNTS_PATH}", self.host.url());
        let text = reqwest::get(url).await.unwrap().text().await.unwrap();
        requests::lists(&requests::parse(&text))
    }

    fn clock(&self) -> Clock {
        let store = self.host.shared().store.clone();
        Clock::scaled(move || store.now(), self.speed)
    }

    /// Puts `canary` percent of the traffic on the canary, as the driver
    /// would through the VirtualService, and says the stage began now.
    fn set_canary_weight(&self, canary: u8) -> StageWindow {
        let wanted: routers::Weights = [
            ("stable".to_string(), 100 - canary),
            ("canary".to_string(), canary),
        ]
        .into_iter()
        .collect();
        let (ns, app) = (&self.target.namespace, &self.target.app);
        self.host
            .shared()
            .store
            .modify(kinds::virtualservices(), ns, app, |vs| {
                let Patch::Json(ops) = routers::istio::set_weights(vs, &wanted).unwrap() else {
                    unreachable!("Istio weights are a JSON patch")
                };
                let ops: json_patch::Patch = serde_json::from_value(ops).unwrap();
                json_patch::patch(vs, &ops).map_err(|e| e.to_string())
            })
            .unwrap();
        StageWindow {
            stage: 2,
            began: self.now(),
            weights: Weights::canary(canary),
        }
    }

    fn watch(&self, plan: &Plan, source: GuardSource) -> GuardWatch {
        GuardWatch::for_plan(
            plan,
            self.target.clone(),
            source,
            self.clock(),
            self.pods.pods(),
        )
    }
}

fn plan(name: &str) -> Plan {
    Plan::load(&Path::new(env!("CARGO_MANIFEST_DIR")).join(format!("assets/plans/{name}.toml")))
        .unwrap()
}

struct Running {
    facts: mpsc::Receiver<GuardFact>,
    seen: Vec<GuardFact>,
    _stage: watch::Sender<Option<StageWindow>>,
    task: JoinHandle<()>,
}

impl Drop for Running {
    fn drop(&mut self) {
        self.task.abort();
    }
}

fn spawn(config: GuardWatch, stage: StageWindow) -> Running {
    let (stage_tx, stage_rx) = watch::channel(Some(stage));
    let (tx, facts) = mpsc::channel(256);
    Running {
        facts,
        seen: Vec::new(),
        _stage: stage_tx,
        task: tokio::spawn(guard_watch::run(config, stage_rx, tx)),
    }
}

impl Running {
    /// Collects facts until one matches, or fails after `real` seconds.
    async fn until(
        &mut self,
        real: u64,
        what: &str,
        hit: impl Fn(&GuardFact) -> bool,
    ) -> GuardFact {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(real);
        loop {
            let fact = tokio::time::timeout_at(deadline, self.facts.recv())
                .await
                .unwrap_or_else(|_| {
                    panic!(
                        "no {what} within {real} s; last facts: {:#?}",
                        tail(&self.seen)
                    )
                })
                .expect("the watcher stopped");
            self.seen.push(fact.clone());
            if hit(&fact) {
                return fact;
            }
        }
    }

    async fn fired(&mut self, real: u64, metric: GuardMetric) -> Alarm {
        let fact = self
            .until(
                real,
                &format!("{metric} alarm"),
                |f| matches!(f, GuardFact::Fired(a) if a.metric == metric),
            )
            .await;
        let GuardFact::Fired(alarm) = fact else {
            unreachable!()
        };
        alarm
    }

    fn updates(&self, guard: &str) -> Vec<&GuardUpdate> {
        self.seen
            .iter()
            .filter_map(|f| match f {
                GuardFact::Update(u) if u.guard == guard => Some(u),
                _ => None,
            })
            .collect()
    }

    fn alarms(&self) -> Vec<&Alarm> {
        self.seen
            .iter()
            .filter_map(|f| match f {
                GuardFact::Fired(a) => Some(a),
                _ => None,
            })
            .collect()
    }
}

fn tail(facts: &[GuardFact]) -> &[GuardFact] {
    &facts[facts.len().saturating_sub(8)..]
}

fn secs(d: chrono::Duration) -> f64 {
    d.num_milliseconds() as f64 / 1000.0
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_canary_error_ratio_goes_pending_then_fires_within_for_plus_an_interval() {
    let live = Live::start("bad-canary", 30.0).await;
    let plan = plan("bad-canary");
    let config = live.watch(&plan, GuardSource::PodProxy);
    let interval = config.interval;
    let guard = plan
        .guards
        .iter()
        .find(|g| g.metric == GuardMetric::ErrorRatio)
        .unwrap()
        .clone();
    let flightdeck::rollout::guards::Rule::Above {
        hold_for,
        threshold,
    } = guard.rule
    else {
        panic!("the error-ratio guard holds for a time")
    };
    let stage = live.set_canary_weight(50);
    let mut run = spawn(config, stage);

    let alarm = run.fired(60, GuardMetric::ErrorRatio).await;
    assert_eq!(alarm.guard, "checkout 5xx");
    assert!(alarm.value > threshold, "{alarm:?}");
    assert!((alarm.threshold - 0.05).abs() < 1e-12);
    assert!(alarm.held_for >= hold_for, "{alarm}");
    assert!(
        alarm.to_string().starts_with("checkout 5xx: error-ratio "),
        "{alarm}"
    );

    let updates = run.updates("checkout 5xx");
    let firing = updates
        .iter()
        .position(|u| matches!(u.state, GuardState::Firing { .. }))
        .unwrap();
    let GuardState::Firing { since, .. } = updates[firing].state else {
        unreachable!()
    };
    let pending: Vec<_> = updates[..firing]
        .iter()
        .filter(|u| matches!(u.state, GuardState::Pending { since: s, .. } if s == since))
        .collect();
    assert!(!pending.is_empty(), "pending came first: {updates:#?}");
    assert!(
        updates[..firing].iter().any(|u| u.state == GuardState::Ok),
        "ok before the breach"
    );
    let last_pending = pending.last().unwrap();
    let fired_after = secs(updates[firing].at - since);
    let window = hold_for.as_secs_f64();
    println!(
        "error-ratio over 5% since {since}; pending at {}s, firing {fired_after:.1}s after the breach \
         (for {window}s, interval {}s): {}",
        secs(last_pending.at - since),
        interval.as_secs(),
        alarm
    );
    assert!(secs(last_pending.at - since) < window);
    // Fired at the first reading after `for` had elapsed: within one interval
    // (plus the sim clock's 100 ms ticks, scaled).
    assert!(
        fired_after <= window + interval.as_secs_f64() + 1.0,
        "fired {fired_after}s after the breach"
    );
    assert!(
        updates[firing].numbers().contains("(limit 5.0%)"),
        "{}",
        updates[firing].numbers()
    );
    live.host.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_canary_fires_the_latency_guard() {
    let live = Live::start("slow-canary", 30.0).await;
    let plan = plan("slow-canary");
    let stage = live.set_canary_weight(50);
    let mut run = spawn(live.watch(&plan, GuardSource::PodProxy), stage);
    let alarm = run.fired(60, GuardMetric::LatencyP99).await;
    assert!(alarm.value > 2.0, "{alarm:?}");
    assert_eq!(
        alarm.action,
        flightdeck::rollout::GuardAction::GradualRollback
    );
    assert!(alarm.held_for >= Duration::from_secs(120), "{alarm}");
    println!("{alarm}");
    live.host.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn crashloop_fires_the_restarts_guard() {
    let live = Live::start("crashloop", 30.0).await;
    let plan = plan("crashloop");
    let stage = live.set_canary_weight(10);
    let mut run = spawn(live.watch(&plan, GuardSource::PodProxy), stage);
    let alarm = run.fired(60, GuardMetric::Restarts).await;
    assert!(alarm.value >= 1.0, "{alarm:?}");
    assert_eq!(alarm.action, flightdeck::rollout::GuardAction::Rollback);
    // The health checks of a canary with no ready pod fail too.
    let health = run.fired(60, GuardMetric::HealthCheck).await;
    assert!((health.value - 3.0).abs() < f64::EPSILON, "{health:?}");
    println!("{alarm}; {health}");
    live.host.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn memory_leak_fires_the_memory_guard() {
    // 12 MiB a minute from 220Mi reaches 90% of 512Mi after about 20 minutes.
    let live = Live::start("memory-leak", 60.0).await;
    let plan = plan("memory-leak");
    let stage = live.set_canary_weight(10);
    let mut run = spawn(live.watch(&plan, GuardSource::PodProxy), stage);
    let alarm = run.fired(90, GuardMetric::MemoryRatioOfLimit).await;
    assert!(alarm.value > 0.9 && alarm.value < 1.0, "{alarm:?}");
    assert!(alarm.held_for >= Duration::from_secs(180), "{alarm}");
    // Dozens of readings of restarts and memory, from the pods' watch and
    // their usage's: one list each, then watch events only.
    let readings = run
        .seen
        .iter()
        .filter(|f| {
            matches!(f, GuardFact::Update(u)
                if u.metric == GuardMetric::MemoryRatioOfLimit && u.latest.is_some())
        })
        .count();
    assert!(readings > 12, "{readings} readings with a value");
    let lists = live.lists().await;
    assert_eq!(lists.get("/pods"), Some(&1.0), "{lists:?}");
    assert_eq!(lists.get("metrics.k8s.io/pods"), Some(&1.0), "{lists:?}");
    println!("{alarm}");
    live.host.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn healthy_canary_fires_nothing_and_its_analysis_passes() {
    let live = Live::start("healthy-canary", 30.0).await;
    let plan = plan("canary-istio");
    let stage = live.set_canary_weight(50);
    let mut run = spawn(live.watch(&plan, GuardSource::PodProxy), stage);
    let fact = run
        .until(30, "verdict", |f| matches!(f, GuardFact::Verdict { .. }))
        .await;
    let GuardFact::Verdict { stage, verdict } = fact else {
        unreachable!()
    };
    assert_eq!(stage, 2);
    assert_eq!(verdict.outcome, Outcome::Pass, "{verdict:#?}");
    assert!(run.alarms().is_empty(), "{:#?}", run.alarms());
    for g in &plan.guards {
        let last = *run.updates(&g.name).last().unwrap();
        assert_eq!(last.state, GuardState::Ok, "{}: {}", g.name, last.numbers());
    }
    println!("{verdict}");
    live.host.shutdown().await;
}

async fn wait_scraped(p: &Prometheus) {
    for _ in 0..300 {
        if let Ok(up) = p.query("up == 1", None).await
            && up.len() == 1
        {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("Prometheus did not scrape the sim within 30 s");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prometheus_mode_fires_holds_without_prometheus_and_resumes() {
    let Some(bin) = prometheus::find() else {
        return;
    };
    let live = Live::start("bad-canary", 30.0).await;
    let dir = tempfile::tempdir().unwrap();
    let port = prometheus::free_port();
    let base = format!("http://127.0.0.1:{port}");
    let mut server = Some(prometheus::start(
        &bin,
        dir.path(),
        port,
        &[("sim", live.host.addr().port())],
    ));
    let client = Prometheus::new(&base, Duration::from_secs(2)).unwrap();
    wait_scraped(&client).await;

    let plan = plan("bad-canary");
    let source = GuardSource::Prometheus {
        client: Box::new(client),
        queries: plan.queries.clone(),
        // Prometheus keeps real time: 5 s of scrapes is 2.5 minutes of sim.
        window: Duration::from_secs(5),
    };
    let stage = live.set_canary_weight(50);
    let mut run = spawn(live.watch(&plan, source), stage);
    let alarm = run.fired(60, GuardMetric::ErrorRatio).await;
    assert!(alarm.value > 0.05, "{alarm}");
    println!("Prometheus mode: {alarm}");

    // Prometheus stops: the guard has no data and says why; the stage's
    // verdict is inconclusive; nothing passes.
    drop(server.take());
    run.until(30, "no data", |f| {
        matches!(f, GuardFact::Update(u) if u.guard == "checkout 5xx"
            && matches!(u.state, GuardState::NoData { .. })
            && u.reason.as_deref().is_some_and(|r| r.contains("Prometheus")))
    })
    .await;
    let fact = run
        .until(30, "verdict without Prometheus", |f| {
            matches!(f, GuardFact::Verdict { .. })
        })
        .await;
    let GuardFact::Verdict { verdict, .. } = fact else {
        unreachable!()
    };
    assert_eq!(verdict.outcome, Outcome::Inconclusive, "{verdict:#?}");
    assert!(
        verdict
            .reason
            .starts_with("metrics unavailable: Prometheus at"),
        "{}",
        verdict.reason
    );

    // Back again, on the same data: samples resume.
    server = Some(prometheus::start(
        &bin,
        dir.path(),
        port,
        &[("sim", live.host.addr().port())],
    ));
    let update = run
        .until(60, "samples after Prometheus restarted", |f| {
            matches!(f, GuardFact::Update(u) if u.guard == "checkout 5xx" && u.latest.is_some())
        })
        .await;
    println!("after the restart: {update:?}");
    let passed = run.seen.iter().any(
        |f| matches!(f, GuardFact::Verdict { verdict, .. } if verdict.outcome == Outcome::Pass),
    );
    assert!(!passed, "a bad canary never passes");
    drop(server);
    live.host.shutdown().await;
}
