//! A scenario seeded into a store the way the sim's controllers seed it
//! (pods, Services, router objects), and the traffic model ticking over it.

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, TimeZone, Utc};
use flightdeck::cluster::routers::{self, Patch};
use flightdeck::sim::resources::kinds;
use flightdeck::sim::rng::SimRng;
use flightdeck::sim::scenario::{RouterKind, Strategy};
use flightdeck::sim::traffic::Traffic;
use flightdeck::sim::{Faults, PodLogs, Scenario, Shared, Store};
use serde_json::{Value, json};

pub struct Sim {
    pub shared: Shared,
    pub traffic: Traffic,
    pub rng: SimRng,
    pub start: DateTime<Utc>,
    pub elapsed: Duration,
}

impl Sim {
    pub fn new(scenario: &str, seed: u64) -> Self {
        let scenario = Scenario::load(scenario).unwrap();
        let start = Utc.with_ymd_and_hms(2026, 3, 1, 12, 0, 0).unwrap();
        let store = Store::new(seed, start);
        for ns in &scenario.cluster.namespaces {
            store
                .create(kinds::namespaces(), "", json!({"metadata": {"name": ns}}))
                .unwrap();
        }
        for i in 0..scenario.cluster.nodes {
            let name = format!("{}{i}", scenario.cluster.node_prefix);
            store
                .create(kinds::nodes(), "", json!({"metadata": {"name": name}}))
                .unwrap();
        }
        let shared = Shared {
            store: Arc::new(store),
            logs: Arc::new(PodLogs::new()),
            scenario: Arc::new(scenario),
            faults: Arc::new(Faults::default()),
            first_traffic: Arc::default(),
            loadtester: Arc::default(),
        };
        seed_objects(&shared);
        let traffic = Traffic::new(&shared);
        Self {
            shared,
            traffic,
            rng: SimRng::new(seed),
            start,
            elapsed: Duration::ZERO,
        }
    }

    pub fn now(&self) -> DateTime<Utc> {
        self.start + chrono::Duration::from_std(self.elapsed).unwrap()
    }

    /// Ticks the model every `tick` for `span` of sim time.
    pub fn run(&mut self, span: Duration, tick: Duration) {
        let end = self.elapsed + span;
        while self.elapsed < end {
            self.elapsed += tick;
            let now = self.now();
            self.shared.store.set_now(now);
            self.traffic
                .tick(&self.shared, now, self.elapsed, tick, &mut self.rng);
        }
    }

    /// Sets an app's Istio VirtualService weights, as `kubectl patch` would.
    pub fn set_weights(&self, ns: &str, app: &str, weights: &[(&str, u8)]) {
        let wanted: routers::Weights = weights
            .iter()
            .map(|(v, w)| ((*v).to_string(), *w))
            .collect();
        self.shared
            .store
            .modify(kinds::virtualservices(), ns, app, |vs| {
                let Patch::Json(ops) = routers::istio::set_weights(vs, &wanted).unwrap() else {
                    unreachable!("Istio weights are a JSON patch")
                };
                let ops: json_patch::Patch = serde_json::from_value(ops).unwrap();
                json_patch::patch(vs, &ops).map_err(|e| e.to_string())
            })
            .unwrap();
    }

    /// Edits a pod in the store, as the kubelet would.
    pub fn edit_pod(&self, ns: &str, name: &str, edit: impl FnOnce(&mut Value)) {
        self.shared
            .store
            .modify(kinds::pods(), ns, name, |p| {
                edit(p);
                Ok::<(), String>(())
            })
            .unwrap();
    }

    /// Requests and 5xx counted so far by the pods of one version.
    pub fn totals(&self, app: &str, version: &str) -> (u64, u64) {
        let handle = self.traffic.handle();
        let pods = handle.pods();
        pods.values()
            .filter(|p| p.view.app == app && p.view.version == version)
            .fold((0, 0), |(t, e), p| {
                (t + p.counters.total(), e + p.counters.errors())
            })
    }
}

pub fn pod_name(app: &str, version: &str, i: u32) -> String {
    format!("{app}-{version}-{i}")
}

fn seed_objects(shared: &Shared) {
    let store = &shared.store;
    let now = store.now_rfc3339();
    let mut node = 0;
    for app in &shared.scenario.apps {
        let ns = app.namespace.as_str();
        let a = app.name.as_str();
        for v in &app.versions {
            let version = v.slot.clone().unwrap_or_else(|| v.name.clone());
            let mut labels = json!({"app": a, "version": version});
            if let Some(slot) = &v.slot {
                labels["slot"] = json!(slot);
            }
            for i in 0..v.replicas {
                node += 1;
                let pod = json!({
                    "metadata": {"name": pod_name(a, &version, i), "labels": labels},
                    "spec": {
                        "nodeName": format!("{}{}", shared.scenario.cluster.node_prefix, node % shared.scenario.cluster.nodes),
                        "containers": [{"name": a, "image": v.image}]
                    },
                    "status": {
                        "phase": "Running",
                        "podIP": format!("10.1.{}.{}", node / 250, node % 250),
                        "startTime": now,
                        "conditions": [{"type": "Ready", "status": "True"}],
                        "containerStatuses": [{"name": a, "ready": true, "restartCount": 0,
                            "state": {"running": {"startedAt": now}}}]
                    }
                });
                store.create(kinds::pods(), ns, pod).unwrap();
            }
            store
                .create(
                    kinds::services(),
                    ns,
                    json!({"metadata": {"name": format!("{a}-{version}")},
                           "spec": {"selector": {"app": a, "version": version},
                                    "ports": [{"port": app.port}]}}),
                )
                .unwrap();
        }
        let selector = match (&app.strategy, &app.active_slot) {
            (Strategy::BlueGreen, Some(slot)) => json!({"app": a, "slot": slot}),
            _ => json!({"app": a}),
        };
        store
            .create(
                kinds::services(),
                ns,
                json!({"metadata": {"name": a}, "spec": {"selector": selector, "ports": [{"port": app.port}]}}),
            )
            .unwrap();
        let weight = |name: &str| {
            app.versions
                .iter()
                .find(|v| v.name == name)
                .and_then(|v| v.weight)
                .unwrap_or(0)
        };
        for router in &app.routers {
            match router {
                RouterKind::Istio => {
                    let route: Vec<Value> = app
                        .versions
                        .iter()
                        .map(|v| json!({"destination": {"host": a, "subset": v.name}, "weight": weight(&v.name)}))
                        .collect();
                    store
                        .create(
                            kinds::virtualservices(),
                            ns,
                            json!({"metadata": {"name": a}, "spec": {"hosts": [a], "http": [{"route": route}]}}),
                        )
                        .unwrap();
                }
                RouterKind::GatewayApi => {
                    let refs: Vec<Value> = app
                        .versions
                        .iter()
                        .map(|v| json!({"name": format!("{a}-{}", v.name), "port": app.port, "weight": weight(&v.name)}))
                        .collect();
                    store
                        .create(
                            kinds::httproutes(),
                            ns,
                            json!({"metadata": {"name": a}, "spec": {"rules": [{"backendRefs": refs}]}}),
                        )
                        .unwrap();
                }
                RouterKind::Smi | RouterKind::Nginx => {}
            }
        }
    }
}
