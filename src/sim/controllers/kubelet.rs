//! A kubelet for every node at once: runs the pods the scheduler placed.
//!
//! Each pod's life is kept in memory (pulling, running, crashed, backing off,
//! terminating) and its status is written only when something changes, so a
//! tick over thousands of quiet pods touches nothing in the store. How a pod
//! behaves comes from the scenario version its image (or its `version` label)
//! belongs to: when it becomes ready, whether its image exists, whether it
//! crashes at start or at random, and how its memory grows.

use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::time::Duration;

use chrono::{DateTime, Utc};
use rand::Rng;
use serde_json::{Value, json};

use super::container_log::{ContainerLog, Crash};
use super::events::{self, Event, EventType, Source};
use super::feed::{Changes, Feed};
use super::hash::{digest, fnv1a64};
use super::replicaset::qos_class;
use super::{
    annotation, is_terminating, labels, name, namespace, parse_timestamp, resource_version,
    timestamp, uid,
};
use crate::sim::logs::ContainerKey;
use crate::sim::resources::kinds;
use crate::sim::scenario::{Behaviour, LogFormat, Scenario, VersionSpec};
use crate::sim::seed::release_of;
use crate::sim::store::ChangeKind;
use crate::sim::world::{Controller, TickCtx};
use crate::sim::{Shared, Store};

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
            if matches!(run.stage, Stage::Terminating { until, .. } if until <= ctx.now) {
                log_of(shared, run).shutdown(ctx.now);
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

/// Reacts to a change someone else made to the pod: deletion, or a crash asked for.
fn observe(shared: &Shared, now: DateTime<Utc>, run: &mut PodRun, pod: &Value) {
    if is_terminating(pod) {
        if !matches!(run.stage, Stage::Terminating { .. }) {
            let deadline = pod
                .pointer("/metadata/deletionTimestamp")
                .and_then(Value::as_str)
                .and_then(parse_timestamp)
                .unwrap_or(now);
            let until = deadline
                .min(later(now, DRAIN_FOR))
                .max(later(now, Duration::from_millis(200)));
            let container = container_state(run);
            let c = run.containers.first().cloned().unwrap_or_default();
            kubelet_event(
                shared,
                now,
                run,
                EventType::Normal,
                "Killing",
                &format!("Stopping container {c}"),
            );
            if matches!(run.stage, Stage::Running { .. }) {
                log_of(shared, run).sigterm(now);
            }
            run.stage = Stage::Terminating { until, container };
            run.dirty = true;
        }
        return;
    }
    if annotation(pod, CRASH_ANNOTATION).is_some() {
        let cleared = shared
            .store
            .modify::<()>(kinds::pods(), &run.namespace, &run.name, |p| {
                if let Some(a) = p
                    .pointer_mut("/metadata/annotations")
                    .and_then(Value::as_object_mut)
                {
                    a.remove(CRASH_ANNOTATION);
                }
                Ok(())
            });
        if let Ok(p) = cleared {
            run.last_rv = resource_version(&p).to_string();
        }
        if let Stage::Running { started } = run.stage {
            crash(shared, now, run, started, Crash::Panic);
        }
    }
}

fn crash(
    shared: &Shared,
    now: DateTime<Utc>,
    run: &mut PodRun,
    started: DateTime<Utc>,
    how: Crash,
) {
    log_of(shared, run).crash(now, how);
    run.last_terminated = Some(json!({"terminated": {
        "exitCode": how.exit_code(),
        "reason": how.reason(),
        "startedAt": timestamp(started),
        "finishedAt": timestamp(now),
        "containerID": container_id(run),
    }}));
    if since(now, started) >= BACKOFF_RESET {
        run.crashes_in_a_row = 0;
    }
    run.crashes_in_a_row += 1;
    set_ready(run, now, false);
    run.stage = Stage::Exited {
        until: later(now, EXITED_FOR),
    };
    run.dirty = true;
}

fn set_ready(run: &mut PodRun, now: DateTime<Utc>, ready: bool) {
    if run.ready != ready {
        run.ready = ready;
        run.ready_changed = now;
        run.dirty = true;
    }
}

fn backoff(n: u32) -> Duration {
    let doublings = n.saturating_sub(1).min(16);
    (BACKOFF_START * 2u32.pow(doublings)).min(BACKOFF_MAX)
}

/// Moves a pod's life forward to `now`.
fn advance(
    shared: &Shared,
    now: DateTime<Utc>,
    since_start: Duration,
    rng: &mut rand::rngs::SmallRng,
    images: &mut BTreeMap<String, BTreeSet<String>>,
    run: &mut PodRun,
) {
    let version = version_of(&shared.scenario, run.origin);
    let missing = version.is_some_and(|v| v.missing_image && v.image == run.image);
    match run.stage.clone() {
        Stage::Pulling {
            began,
            until,
            cached,
        } if until <= now => {
            if missing {
                let image = &run.image;
                let msg = format!(
                    "Failed to pull image \"{image}\": rpc error: code = NotFound desc = failed to pull and unpack image \"{image}\": failed to resolve reference \"{image}\": {image}: not found"
                );
                kubelet_event(shared, now, run, EventType::Warning, "Failed", &msg);
                kubelet_event(
                    shared,
                    now,
                    run,
                    EventType::Warning,
                    "Failed",
                    "Error: ErrImagePull",
                );
                run.pull_failures += 1;
                run.stage = Stage::PullFailed {
                    until: later(now, PULL_ERROR_FOR),
                };
                run.dirty = true;
                return;
            }
            let msg = if cached {
                format!(
                    "Container image \"{}\" already present on machine",
                    run.image
                )
            } else {
                let took = since(now, began).as_secs_f64();
                let size = 30_000_000 + fnv1a64(&[&run.image]) % 90_000_000;
                format!(
                    "Successfully pulled image \"{}\" in {took:.3}s ({took:.3}s including waiting). Image size: {size} bytes.",
                    run.image
                )
            };
            images
                .entry(run.node.clone())
                .or_default()
                .insert(run.image.clone());
            kubelet_event(shared, now, run, EventType::Normal, "Pulled", &msg);
            start_container(shared, now, run);
        }
        Stage::PullFailed { until } if until <= now => {
            let msg = format!("Back-off pulling image \"{}\"", run.image);
            kubelet_event(shared, now, run, EventType::Normal, "BackOff", &msg);
            kubelet_event(
                shared,
                now,
                run,
                EventType::Warning,
                "Failed",
                "Error: ImagePullBackOff",
            );
            run.stage = Stage::PullBackOff {
                until: later(now, backoff(run.pull_failures)),
            };
            run.dirty = true;
        }
        Stage::PullBackOff { until } if until <= now => {
            let msg = format!("Pulling image \"{}\"", run.image);
            kubelet_event(shared, now, run, EventType::Normal, "Pulling", &msg);
            run.stage = Stage::Pulling {
                began: now,
                until: later(now, Duration::from_secs(1)),
                cached: false,
            };
            run.dirty = true;
        }
        Stage::Running { started } => running(shared, now, since_start, rng, run, started),
        Stage::Exited { until } if until <= now => {
            if run.crashes_in_a_row <= 1 {
                restart(shared, now, run);
            } else {
                let wait = backoff(run.crashes_in_a_row - 1);
                let c = run.containers.first().cloned().unwrap_or_default();
                let msg = format!(
                    "Back-off restarting failed container {c} in pod {}_{}({})",
                    run.name,
                    run.namespace,
                    uid(&run.stub)
                );
                kubelet_event(shared, now, run, EventType::Warning, "BackOff", &msg);
                run.stage = Stage::CrashBackOff {
                    until: later(now, wait.saturating_sub(EXITED_FOR)),
                };
                run.dirty = true;
            }
        }
        Stage::CrashBackOff { until } if until <= now => restart(shared, now, run),
        _ => {}
    }
}

fn running(
    shared: &Shared,
    now: DateTime<Utc>,
    since_start: Duration,
    rng: &mut rand::rngs::SmallRng,
    run: &mut PodRun,
    started: DateTime<Utc>,
) {
    let up = since(now, started);
    let version = version_of(&shared.scenario, run.origin);
    let behaviour = behaviour_of(&shared.scenario, run.origin);
    if behaviour.is_some_and(|b| b.crash_on_start) {
        if up >= FATAL_CONFIG_AFTER {
            crash(shared, now, run, started, Crash::FatalConfig);
        }
        return;
    }
    if let (Some(b), Some(limit)) = (behaviour, run.memory_limit) {
        let used = b.memory_at(up);
        if used >= limit {
            crash(shared, now, run, started, Crash::OutOfMemory);
            return;
        }
        if !run.memory_warned && used * 10 >= limit * 9 {
            run.memory_warned = true;
            log_of(shared, run).memory_pressure(now, used >> 20, limit >> 20);
        }
    }
    if let Some(b) = behaviour
        && (b.crashes_per_hour > 0.0 || b.phases.iter().any(|p| p.crashes_per_hour.is_some()))
    {
        let rate = b.effective(since_start, None).crashes_per_hour;
        let dt = crate::sim::world::TICK.as_secs_f64();
        if rate > 0.0 && rng.random::<f64>() < rate * dt / 3600.0 {
            crash(shared, now, run, started, Crash::Panic);
            return;
        }
    }
    if !run.ready {
        let ready_after = version.map_or(Duration::from_secs(5), |v| v.ready_after);
        if up >= ready_after {
            set_ready(run, now, true);
            log_of(shared, run).ready(now);
        } else if up >= PROBE_PERIOD * (run.probes_failed + 1) {
            run.probes_failed += 1;
            kubelet_event(
                shared,
                now,
                run,
                EventType::Warning,
                "Unhealthy",
                "Readiness probe failed: HTTP probe failed with statuscode: 503",
            );
            log_of(shared, run).not_ready(now);
        }
    }
}

fn start_container(shared: &Shared, now: DateTime<Utc>, run: &mut PodRun) {
    let c = run.containers.first().cloned().unwrap_or_default();
    kubelet_event(
        shared,
        now,
        run,
        EventType::Normal,
        "Created",
        &format!("Created container: {c}"),
    );
    kubelet_event(
        shared,
        now,
        run,
        EventType::Normal,
        "Started",
        &format!("Started container {c}"),
    );
    run.stage = Stage::Running { started: now };
    run.first_start.get_or_insert(now);
    run.probes_failed = 0;
    run.memory_warned = false;
    run.dirty = true;
    log_of(shared, run).starting(now, run.port, &run.namespace);
}

fn restart(shared: &Shared, now: DateTime<Utc>, run: &mut PodRun) {
    run.restarts += 1;
    shared.logs.restart(&log_of(shared, run).key);
    let msg = format!(
        "Container image \"{}\" already present on machine",
        run.image
    );
    kubelet_event(shared, now, run, EventType::Normal, "Pulled", &msg);
    start_container(shared, now, run);
}

fn container_id(run: &PodRun) -> String {
    format!(
        "containerd://{}",
        digest(&[uid(&run.stub), &run.restarts.to_string()])
    )
}

fn container_state(run: &PodRun) -> Value {
    let c = run.containers.first().map_or("", String::as_str);
    match &run.stage {
        Stage::Pulling { .. } => json!({"waiting": {"reason": "ContainerCreating"}}),
        Stage::PullFailed { .. } => {
            json!({"waiting": {"reason": "ErrImagePull", "message": format!("failed to pull and unpack image \"{}\": not found", run.image)}})
        }
        Stage::PullBackOff { .. } => {
            json!({"waiting": {"reason": "ImagePullBackOff", "message": format!("Back-off pulling image \"{}\"", run.image)}})
        }
        Stage::Running { started } => json!({"running": {"startedAt": timestamp(*started)}}),
        Stage::Exited { .. } => run
            .last_terminated
            .clone()
            .unwrap_or_else(|| json!({"waiting": {}})),
        Stage::CrashBackOff { .. } => json!({"waiting": {
            "reason": "CrashLoopBackOff",
            "message": format!(
                "back-off {} restarting failed container={c} pod={}_{}({})",
                crate::units::format_duration(backoff(run.crashes_in_a_row.saturating_sub(1))),
                run.name, run.namespace, uid(&run.stub)
            ),
        }}),
        Stage::Terminating { container, .. } => container.clone(),
    }
}

fn write_status(store: &Store, run: &mut PodRun, gone: &mut Vec<String>, id: &str) {
    let status = status_of(run);
    let written = store.modify::<()>(kinds::pods(), &run.namespace, &run.name, |p| {
        p["status"] = status;
        Ok(())
    });
    match written {
        Ok(p) => run.last_rv = resource_version(&p).to_string(),
        Err(_) => gone.push(id.to_string()),
    }
}

fn status_of(run: &PodRun) -> Value {
    let admitted = timestamp(run.admitted);
    let ready_since = timestamp(run.ready_changed);
    let running = matches!(run.stage, Stage::Running { .. });
    let condition = |kind: &str, ok: bool, since: &str| {
        let mut c = json!({"type": kind, "status": if ok {"True"} else {"False"}, "lastProbeTime": null, "lastTransitionTime": since});
        if !ok && matches!(kind, "Ready" | "ContainersReady") {
            c["reason"] = json!("ContainersNotReady");
            c["message"] = json!(format!(
                "containers with unready status: [{}]",
                run.containers.join(" ")
            ));
        }
        c
    };
    let state = container_state(run);
    let pulled = run.first_start.is_some();
    let statuses: Vec<Value> = run
        .containers
        .iter()
        .map(|c| {
            let mut s = json!({
                "name": c,
                "image": run.image,
                "imageID": if pulled {
                    format!("{}@sha256:{}", run.image.split(':').next().unwrap_or(""), digest(&[&run.image]))
                } else {
                    String::new()
                },
                "ready": run.ready,
                "started": running,
                "restartCount": run.restarts,
                "state": state,
                "lastState": run.last_terminated.clone().unwrap_or_else(|| json!({})),
            });
            if pulled {
                s["containerID"] = json!(container_id(run));
            }
            s
        })
        .collect();
    json!({
        "phase": if pulled { "Running" } else { "Pending" },
        "conditions": [
            condition("PodReadyToStartContainers", true, &admitted),
            condition("Initialized", true, &admitted),
            condition("Ready", run.ready, &ready_since),
            condition("ContainersReady", run.ready, &ready_since),
            condition("PodScheduled", true, &run.scheduled_at),
        ],
        "hostIP": run.host_ip,
        "hostIPs": [{"ip": run.host_ip}],
        "podIP": run.pod_ip,
        "podIPs": [{"ip": run.pod_ip}],
        "startTime": admitted,
        "containerStatuses": statuses,
        "qosClass": run.qos,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_to_five_minutes() {
        let secs: Vec<u64> = (1..=7).map(|n| backoff(n).as_secs()).collect();
        assert_eq!(secs, [10, 20, 40, 80, 160, 300, 300]);
    }
}
