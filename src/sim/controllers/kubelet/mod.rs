//! A kubelet for every node at once: runs the pods the scheduler placed.
//!
//! Each pod's life is kept in memory (pulling, running, crashed, backing off,
//! terminating) and its status is written only when something changes, so a
//! tick over thousands of quiet pods touches nothing in the store. How a pod
//! behaves comes from the scenario version its image (or its `version` label)
//! belongs to: when it becomes ready, whether its image exists, whether it
//! crashes at start or at random, and how its memory grows.

mod lifecycle;
mod status;

use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::time::Duration;

use chrono::{DateTime, Utc};
use rand::Rng;
use serde_json::{Value, json};

use super::container_log::ContainerLog;
use super::events::{self, Event, EventType, Source};
use super::feed::{Changes, Feed};
use super::hash::fnv1a64;
use super::replicaset::qos_class;
use super::{is_terminating, labels, name, namespace, resource_version, timestamp, uid};
use crate::sim::first_traffic::serving_version;
use crate::sim::logs::ContainerKey;
use crate::sim::resources::kinds;
use crate::sim::scenario::{Behaviour, LogFormat, Scenario, VersionSpec};
use crate::sim::seed::release_of;
use crate::sim::store::ChangeKind;
use crate::sim::world::{Controller, TickCtx};
use crate::sim::{Shared, Store};
use lifecycle::{advance, observe};
use status::write_status;

/// Put on a pod (by the fault endpoint) to make its container crash now.
pub const CRASH_ANNOTATION: &str = "sim.flightdeck.dev/crash";
/// The readiness probe's period: a container not yet ready fails one per period.
const PROBE_PERIOD: Duration = Duration::from_secs(5);
/// Back-off before restarting a crashed container: doubles from here…
const BACKOFF_START: Duration = Duration::from_secs(10);
/// …up to here, and resets after a container ran this long.
const BACKOFF_MAX: Duration = Duration::from_secs(300);
const BACKOFF_RESET: Duration = Duration::from_secs(600);
/// How long a crashed container shows as terminated before the kubelet acts.
const EXITED_FOR: Duration = Duration::from_secs(1);
/// How long a container runs before a bad configuration kills it.
const FATAL_CONFIG_AFTER: Duration = Duration::from_millis(1500);
/// How long ErrImagePull shows before ImagePullBackOff.
const PULL_ERROR_FOR: Duration = Duration::from_secs(2);
/// Time to drain after SIGTERM when the grace period allows it.
const DRAIN_FOR: Duration = Duration::from_secs(2);

fn later(t: DateTime<Utc>, d: Duration) -> DateTime<Utc> {
    t + chrono::Duration::from_std(d).unwrap_or_default()
}

fn since(now: DateTime<Utc>, t: DateTime<Utc>) -> Duration {
    now.signed_duration_since(t).to_std().unwrap_or_default()
}

#[derive(Debug, Clone)]
enum Stage {
    Pulling {
        began: DateTime<Utc>,
        until: DateTime<Utc>,
        cached: bool,
    },
    PullFailed {
        until: DateTime<Utc>,
    },
    PullBackOff {
        until: DateTime<Utc>,
    },
    Running {
        started: DateTime<Utc>,
    },
    Exited {
        until: DateTime<Utc>,
    },
    CrashBackOff {
        until: DateTime<Utc>,
    },
    Terminating {
        until: DateTime<Utc>,
        container: Value,
    },
}

/// Where a pod's behaviour comes from.
#[derive(Debug, Clone, Copy)]
struct Origin {
    app: Option<usize>,
    version: Option<usize>,
}

/// One pod as this kubelet runs it.
struct PodRun {
    stub: Value,
    namespace: String,
    name: String,
    node: String,
    containers: Vec<String>,
    image: String,
    port: u16,
    release: String,
    origin: Origin,
    /// The version the traffic model serves this pod as (its first traffic
    /// can start a scenario's crash phases).
    serving: String,
    memory_limit: Option<u64>,
    qos: &'static str,
    host_ip: String,
    pod_ip: String,
    scheduled_at: String,
    admitted: DateTime<Utc>,
    stage: Stage,
    /// When the first container started (the pod is Running from then on).
    first_start: Option<DateTime<Utc>>,
    ready: bool,
    ready_changed: DateTime<Utc>,
    restarts: u32,
    crashes_in_a_row: u32,
    pull_failures: u32,
    probes_failed: u32,
    memory_warned: bool,
    last_terminated: Option<Value>,
    last_rv: String,
    /// Status needs writing at the end of this tick.
    dirty: bool,
}

#[derive(Default)]
pub struct Kubelet {
    feed: Feed,
    pods: BTreeMap<String, PodRun>,
    nodes: BTreeMap<String, NodeNet>,
    /// Images each node has pulled (later pulls find them present).
    images: BTreeMap<String, BTreeSet<String>>,
}

struct NodeNet {
    host_ip: String,
    pod_prefix: String,
    used: BTreeSet<u8>,
}

impl Controller for Kubelet {
    fn tick(&mut self, ctx: &mut TickCtx<'_>) {
        let shared = ctx.shared;
        match self.feed.drain(&shared.store) {
            Changes::All => self.resync(ctx),
            Changes::Some(changes) => {
                let mut seen: HashSet<&str> = HashSet::new();
                for c in changes
                    .iter()
                    .filter(|c| std::ptr::eq(c.resource, kinds::pods()))
                {
                    let id = uid(&c.object);
                    if c.kind == ChangeKind::Deleted {
                        self.forget(shared, id);
                        continue;
                    }
                    if !seen.insert(id) {
                        continue;
                    }
                    if let Some(pod) = shared.store.get(kinds::pods(), &c.namespace, &c.name)
                        && uid(&pod) == id
                    {
                        self.consider(ctx, &pod);
                    }
                }
            }
        }
        let mut finished = Vec::new();
        for (id, run) in &mut self.pods {
            advance(
                ctx.shared,
                ctx.now,
                ctx.since_start,
                ctx.rng,
                &mut self.images,
                run,
            );
            if let Stage::Terminating { until, container } = &run.stage
                && *until <= ctx.now
            {
                if container.get("running").is_some() {
                    log_of(shared, run).shutdown(ctx.now);
                }
                let _ = shared
                    .store
                    .delete(kinds::pods(), &run.namespace, &run.name);
                shared.logs.remove_pod(&run.namespace, &run.name);
                finished.push(id.clone());
                continue;
            }
            if run.dirty {
                run.dirty = false;
                write_status(&shared.store, run, &mut finished, id);
            }
        }
        for id in finished {
            if let Some(run) = self.pods.remove(&id) {
                self.release_ip(&run);
            }
        }
    }
}

impl Kubelet {
    /// Looks at every pod: the first tick, and after missing changes.
    fn resync(&mut self, ctx: &mut TickCtx<'_>) {
        let shared = ctx.shared;
        let (pods, _) = shared.store.list(kinds::pods(), None);
        let present: HashSet<&str> = pods.iter().map(|p| uid(p)).collect();
        let gone: Vec<String> = self
            .pods
            .keys()
            .filter(|k| !present.contains(k.as_str()))
            .cloned()
            .collect();
        for id in gone {
            self.forget(shared, &id);
        }
        for pod in &pods {
            self.consider(ctx, pod);
        }
    }

    fn consider(&mut self, ctx: &mut TickCtx<'_>, pod: &Value) {
        match self.pods.get_mut(uid(pod)) {
            Some(run) if run.last_rv == resource_version(pod) => {}
            Some(run) => {
                run.last_rv = resource_version(pod).to_string();
                observe(ctx.shared, ctx.now, run, pod);
            }
            None => {
                let scheduled = pod
                    .pointer("/spec/nodeName")
                    .and_then(Value::as_str)
                    .is_some_and(|n| !n.is_empty());
                if is_terminating(pod) {
                    // Marked for deletion before this kubelet ran it: nothing
                    // to stop, so it goes now.
                    let _ = ctx
                        .shared
                        .store
                        .delete(kinds::pods(), namespace(pod), name(pod));
                } else if scheduled {
                    self.admit(ctx, pod);
                }
            }
        }
    }

    /// The pod is gone from the store: so are its containers and their logs.
    fn forget(&mut self, shared: &Shared, id: &str) {
        if let Some(run) = self.pods.remove(id) {
            self.release_ip(&run);
            shared.logs.remove_pod(&run.namespace, &run.name);
        }
    }

    fn node_net(&mut self, store: &Store, node: &str) -> Option<&mut NodeNet> {
        if !self.nodes.contains_key(node) {
            let (nodes, _) = store.list(kinds::nodes(), None);
            for n in &nodes {
                let host_ip = n
                    .pointer("/status/addresses")
                    .and_then(Value::as_array)
                    .and_then(|a| {
                        a.iter()
                            .find(|x| x.get("type").and_then(Value::as_str) == Some("InternalIP"))
                    })
                    .and_then(|x| x.get("address"))
                    .and_then(Value::as_str)
                    .unwrap_or("10.0.0.1")
                    .to_string();
                let pod_prefix = n
                    .pointer("/spec/podCIDR")
                    .and_then(Value::as_str)
                    .and_then(|c| c.split('/').next())
                    .and_then(|ip| ip.rsplit_once('.'))
                    .map_or_else(|| "10.244.0".to_string(), |(prefix, _)| prefix.to_string());
                self.nodes.entry(name(n).to_string()).or_insert(NodeNet {
                    host_ip,
                    pod_prefix,
                    used: BTreeSet::new(),
                });
            }
        }
        self.nodes.get_mut(node)
    }

    fn release_ip(&mut self, run: &PodRun) {
        if let Some(net) = self.nodes.get_mut(&run.node)
            && let Some(last) = run
                .pod_ip
                .rsplit('.')
                .next()
                .and_then(|o| o.parse::<u8>().ok())
        {
            net.used.remove(&last);
        }
    }

    fn admit(&mut self, ctx: &mut TickCtx<'_>, pod: &Value) {
        let shared = ctx.shared;
        let now = ctx.now;
        let named = pod
            .pointer("/spec/containers/0/name")
            .and_then(Value::as_str)
            .is_some_and(|n| !n.is_empty());
        if !named {
            // Nothing a runtime could start (the API server would have refused it).
            return;
        }
        let node = pod
            .pointer("/spec/nodeName")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string();
        let (host_ip, pod_ip) = match self.node_net(&shared.store, &node) {
            Some(net) => {
                let octet = (2..=254u8).find(|o| !net.used.contains(o)).unwrap_or(254);
                net.used.insert(octet);
                (net.host_ip.clone(), format!("{}.{octet}", net.pod_prefix))
            }
            None => (
                "10.0.0.1".to_string(),
                format!("10.244.255.{}", fnv1a64(&[uid(pod)]) % 250 + 2),
            ),
        };
        let spec = pod.get("spec").cloned().unwrap_or(Value::Null);
        let first = spec
            .pointer("/containers/0")
            .cloned()
            .unwrap_or(Value::Null);
        let containers: Vec<String> = spec
            .get("containers")
            .and_then(Value::as_array)
            .map(|cs| {
                cs.iter()
                    .filter_map(|c| c.get("name").and_then(Value::as_str))
                    .map(str::to_string)
                    .collect()
            })
            .unwrap_or_default();
        let image = first
            .get("image")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string();
        let origin = find_origin(&shared.scenario, pod, &image);
        let version = version_of(&shared.scenario, origin);
        let release = first
            .get("env")
            .and_then(Value::as_array)
            .and_then(|env| {
                env.iter()
                    .find(|e| e.get("name").and_then(Value::as_str) == Some("VERSION"))
            })
            .and_then(|e| e.get("value"))
            .and_then(Value::as_str)
            .map_or_else(
                || release_of(&image, version.map_or("", |v| v.name.as_str())),
                str::to_string,
            );
        let memory_limit = first
            .pointer("/resources/limits/memory")
            .and_then(Value::as_str)
            .and_then(|m| crate::units::parse_bytes(m).ok())
            .or_else(|| version.map(|v| v.memory_limit));
        let scheduled_at = pod
            .pointer("/status/conditions")
            .and_then(Value::as_array)
            .and_then(|c| super::find_condition(c, "PodScheduled"))
            .and_then(|c| c.get("lastTransitionTime"))
            .and_then(Value::as_str)
            .map_or_else(|| timestamp(now), str::to_string);
        let cached = self.images.get(&node).is_some_and(|i| i.contains(&image));
        let pull = if cached {
            Duration::from_millis(500)
        } else {
            Duration::from_millis(ctx.rng.random_range(800..3000))
        };
        let mut run = PodRun {
            stub: json!({"kind": "Pod", "apiVersion": "v1",
                         "metadata": {"name": name(pod), "namespace": namespace(pod), "uid": uid(pod)}}),
            namespace: namespace(pod).to_string(),
            name: name(pod).to_string(),
            node,
            containers,
            image,
            port: first
                .pointer("/ports/0/containerPort")
                .and_then(Value::as_u64)
                .and_then(|p| u16::try_from(p).ok())
                .unwrap_or(8080),
            release,
            origin,
            serving: serving_version(labels(pod)).to_string(),
            memory_limit,
            qos: qos_class(&spec),
            host_ip,
            pod_ip,
            scheduled_at,
            admitted: now,
            stage: Stage::Pulling {
                began: now,
                until: later(now, pull),
                cached,
            },
            first_start: None,
            ready: false,
            ready_changed: now,
            restarts: 0,
            crashes_in_a_row: 0,
            pull_failures: 0,
            probes_failed: 0,
            memory_warned: false,
            last_terminated: None,
            last_rv: String::new(),
            dirty: true,
        };
        if !cached {
            let msg = format!("Pulling image \"{}\"", run.image);
            kubelet_event(shared, now, &run, EventType::Normal, "Pulling", &msg);
        }
        let id = uid(pod).to_string();
        write_status(&shared.store, &mut run, &mut Vec::new(), &id);
        run.dirty = false;
        self.pods.insert(id, run);
    }
}

fn find_origin(scenario: &Scenario, pod: &Value, image: &str) -> Origin {
    let label = |k: &str| labels(pod).and_then(|l| l.get(k)).and_then(Value::as_str);
    let app = scenario
        .apps
        .iter()
        .position(|a| Some(a.name.as_str()) == label("app") && a.namespace == namespace(pod));
    let version = app.and_then(|a| {
        let versions = &scenario.apps[a].versions;
        versions
            .iter()
            .position(|v| v.image == image)
            .or_else(|| {
                let wanted = label("version").or_else(|| label("slot"));
                versions.iter().position(|v| {
                    Some(v.name.as_str()) == wanted
                        || v.slot.as_deref().is_some_and(|s| Some(s) == wanted)
                })
            })
            .or(Some(0))
    });
    Origin { app, version }
}

fn version_of(scenario: &Scenario, origin: Origin) -> Option<&VersionSpec> {
    scenario
        .apps
        .get(origin.app?)?
        .versions
        .get(origin.version?)
}

fn behaviour_of(scenario: &Scenario, origin: Origin) -> Option<&Behaviour> {
    version_of(scenario, origin).map(|v| &v.behaviour)
}

fn log_of<'a>(shared: &'a Shared, run: &'a PodRun) -> ContainerLog<'a> {
    let format = run
        .origin
        .app
        .and_then(|a| shared.scenario.apps.get(a))
        .map_or(LogFormat::Plain, |a| a.log_format);
    let container = run.containers.first().map_or("", String::as_str);
    ContainerLog {
        key: ContainerKey::new(&run.namespace, &run.name, container),
        logs: &shared.logs,
        format,
        app: container,
        release: &run.release,
    }
}

fn kubelet_event(
    shared: &Shared,
    now: DateTime<Utc>,
    run: &PodRun,
    kind: EventType,
    reason: &str,
    message: &str,
) {
    let path = run
        .containers
        .first()
        .map(|c| format!("spec.containers{{{c}}}"));
    events::record(
        &shared.store,
        now,
        &Event {
            object: &run.stub,
            field_path: path.as_deref(),
            kind,
            reason,
            message,
            source: Source::kubelet(&run.node),
        },
    );
}
