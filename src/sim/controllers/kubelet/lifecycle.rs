//! A container's life: pulling, starting, readiness, crashes with back-off,
//! restarts and termination.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use chrono::{DateTime, Utc};
use rand::Rng;
use serde_json::{Value, json};

use super::status::{container_id, container_state};
use super::{
    BACKOFF_MAX, BACKOFF_RESET, BACKOFF_START, CRASH_ANNOTATION, DRAIN_FOR, EXITED_FOR,
    FATAL_CONFIG_AFTER, PROBE_PERIOD, PULL_ERROR_FOR, PodRun, Stage, behaviour_of, kubelet_event,
    later, log_of, since, version_of,
};
use crate::sim::Shared;
use crate::sim::controllers::container_log::Crash;
use crate::sim::controllers::events::EventType;
use crate::sim::controllers::hash::fnv1a64;
use crate::sim::controllers::{
    annotation, is_terminating, parse_timestamp, resource_version, timestamp, uid,
};
use crate::sim::resources::kinds;
use crate::sim::rng::SimRng;

/// Reacts to a change someone else made to the pod: deletion, or a crash asked for.
pub(super) fn observe(shared: &Shared, now: DateTime<Utc>, run: &mut PodRun, pod: &Value) {
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

pub(super) fn crash(
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

pub(super) fn set_ready(run: &mut PodRun, now: DateTime<Utc>, ready: bool) {
    if run.ready != ready {
        run.ready = ready;
        run.ready_changed = now;
        run.dirty = true;
    }
}

pub(super) fn backoff(n: u32) -> Duration {
    let doublings = n.saturating_sub(1).min(16);
    (BACKOFF_START * 2u32.pow(doublings)).min(BACKOFF_MAX)
}

/// Moves a pod's life forward to `now`.
pub(super) fn advance(
    shared: &Shared,
    now: DateTime<Utc>,
    since_start: Duration,
    rng: &mut SimRng,
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

pub(super) fn running(
    shared: &Shared,
    now: DateTime<Utc>,
    since_start: Duration,
    rng: &mut SimRng,
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
        let since_first = run
            .origin
            .app
            .and_then(|a| shared.scenario.apps.get(a))
            .and_then(|a| {
                shared
                    .first_traffic
                    .since(&a.namespace, &a.name, &run.serving, now)
            });
        let rate = b.effective(since_start, since_first).crashes_per_hour;
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

pub(super) fn start_container(shared: &Shared, now: DateTime<Utc>, run: &mut PodRun) {
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

pub(super) fn restart(shared: &Shared, now: DateTime<Utc>, run: &mut PodRun) {
    run.restarts += 1;
    shared.logs.restart(&log_of(shared, run).key);
    let msg = format!(
        "Container image \"{}\" already present on machine",
        run.image
    );
    kubelet_event(shared, now, run, EventType::Normal, "Pulled", &msg);
    start_container(shared, now, run);
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
