//! Reading the cluster into a [`Bundle`]. Every part is read on its own: a
//! part that is forbidden, missing or unreachable is noted in the manifest
//! and the others still go in, because a half snapshot of an incident is
//! worth more than none.

use std::path::{Path, PathBuf};
use std::time::Duration;

use k8s_openapi::api::core::v1::Pod;
use kube::api::{Api, LogParams};
use serde_json::{Value, json};

use super::bundle::{self, Bundle, GuardReadings, LINE_BYTES, LOG_LINES, safe_segment};
use crate::cluster::clock::Clock;
use crate::driver::guarded;
use crate::driver::rest::{self, Kind, Obj, POD};
use crate::driver::store::StateStore;
use crate::driver::targets::{Shape, Targets, router_objects};
use crate::rollout::plan::{Plan, Router};
use crate::workers::guard_watch::{self, GuardWatch};
use crate::workers::{self, Target};

const EVENT: Kind = Kind::new("", "v1", "Event", "events");
/// Pods whose logs are kept; an app larger than this keeps the first ones.
pub const POD_LOGS: usize = 50;
/// Longest wait between the two scrapes a rate takes without Prometheus.
const SCRAPE_GAP: Duration = Duration::from_secs(5);

/// What a snapshot is taken with.
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// The plan file's text, kept as it was written.
    pub plan_text: Option<String>,
    /// Prometheus base URL; without it the pods are scraped.
    pub prometheus: Option<String>,
    /// Why it is taken (`on demand`, the rollback's reason).
    pub reason: String,
    /// Who takes it.
    pub by: String,
}

/// Reads every part of the snapshot of `plan`'s app.
pub async fn collect(client: &kube::Client, plan: &Plan, clock: &Clock, opts: &Options) -> Bundle {
    let mut b = Bundle::new(
        &plan.app,
        &plan.namespace,
        clock.now(),
        &opts.by,
        &opts.reason,
    );
    let targets = Targets::of(plan);

    let stored = match StateStore::new(&targets).load(client, plan).await {
        Ok(loaded) if loaded.version.is_some() => Some(loaded.rollout),
        Ok(_) => {
            b.missing(
                "rollout/state.json",
                "no rollout is stored on the cluster for this app",
            );
            None
        }
        Err(e) => {
            b.missing("rollout/state.json", &e.to_string());
            None
        }
    };
    if let Some(stored) = &stored {
        b.add_json(
            "rollout/state.json",
            "the rollout's state as stored on the cluster",
            &stored.state,
        );
        let history: Vec<_> = stored.history.entries().collect();
        b.add_json(
            "rollout/history.json",
            "who did what, oldest first",
            &history,
        );
        b.add(
            "rollout/state.txt",
            "where the rollout stands, in a line",
            format!("{}\n", stored.state.describe()).into_bytes(),
        );
    }

    match &opts.plan_text {
        Some(text) => b.add("plan.toml", "the plan", text.clone().into_bytes()),
        None => b.missing(
            "plan.toml",
            "the plan file is not known here; the rollout's course is in rollout/state.json",
        ),
    }

    let pods = match rest::list(client, POD, &plan.namespace, &format!("app={}", plan.app)).await {
        Ok(pods) => {
            b.add_json(
                "pods/pods.json",
                "the app's pods as the API returns them",
                &json!({"items": pods}),
            );
            b.add(
                "pods/pods.txt",
                "the pods in a table",
                bundle::pods_table(&pods).into_bytes(),
            );
            pods
        }
        Err(e) => {
            b.missing("pods/pods.json", &why(&e));
            Vec::new()
        }
    };
    let pod_names: Vec<String> = pods
        .iter()
        .filter_map(|p| {
            p.pointer("/metadata/name")
                .and_then(Value::as_str)
                .map(String::from)
        })
        .collect();

    let mut names = pod_names.clone();
    names.extend(targets.deployments().into_iter().map(|d| d.name));
    match rest::list(client, EVENT, &plan.namespace, "").await {
        Ok(events) => {
            let mine = bundle::concerning(&events, &plan.app, &names);
            b.add(
                "events/events.txt",
                "the app's Events, newest first",
                bundle::events_table(&mine).into_bytes(),
            );
            b.add_json(
                "events/events.json",
                "the app's Events as the API returns them",
                &json!({"items": mine}),
            );
        }
        Err(e) => b.missing("events/events.json", &why(&e)),
    }

    logs(client, plan, &pods, &mut b).await;

    let readings = guards(
        client,
        plan,
        clock,
        opts,
        stored
            .as_ref()
            .and_then(|s| guarded::stage_window(&s.state)),
        stored.as_ref().and_then(|s| s.state.verdict.clone()),
    )
    .await;
    b.add_json(
        "guards/readings.json",
        "one reading of the guards' metrics and each guard's state",
        &readings,
    );
    b.add(
        "guards/readings.txt",
        "the same, as text",
        readings.text().into_bytes(),
    );

    for obj in objects(&targets) {
        let name = format!(
            "objects/{}-{}.json",
            obj.kind.kind.to_lowercase(),
            safe_segment(&obj.name)
        );
        match rest::get_opt(client, &obj).await {
            Ok(Some(value)) => b.add_json(&name, &format!("{obj} as the API returns it"), &value),
            Ok(None) => b.missing(&name, &format!("{obj} not found")),
            Err(e) => b.missing(&name, &why(&e)),
        }
    }
    b
}

/// The router objects, the Services and the Deployments the plan names.
fn objects(targets: &Targets) -> Vec<Obj> {
    let ns = &targets.namespace;
    let mut out = Vec::new();
    if let Some(router) = targets.router() {
        out.extend(router_objects(ns, router));
    }
    let mut services = vec![targets.app.clone()];
    match &targets.shape {
        Shape::Canary { router, .. } => match router {
            Router::GatewayApi {
                stable_service,
                canary_service,
                ..
            } => {
                services.extend([stable_service.clone(), canary_service.clone()]);
            }
            Router::Smi {
                root_service,
                stable_service,
                canary_service,
                ..
            } => {
                services.extend([
                    root_service.clone(),
                    stable_service.clone(),
                    canary_service.clone(),
                ]);
            }
            _ => {}
        },
        Shape::BlueGreen {
            active_service,
            preview_service,
            ..
        } => {
            services.push(active_service.clone());
            services.extend(preview_service.clone());
        }
        Shape::Rolling { .. } => {}
    }
    services.sort();
    services.dedup();
    out.extend(services.iter().map(|s| targets.service(s)));
    out.extend(targets.deployments());
    out
}

async fn logs(client: &kube::Client, plan: &Plan, pods: &[Value], b: &mut Bundle) {
    let api: Api<Pod> = Api::namespaced(client.clone(), &plan.namespace);
    for value in pods.iter().take(POD_LOGS) {
        let Ok(pod) = serde_json::from_value::<Pod>(value.clone()) else {
            continue;
        };
        let Some(name) = pod.metadata.name.clone() else {
            continue;
        };
        let containers: Vec<String> = pod
            .spec
            .as_ref()
            .map(|s| s.containers.iter().map(|c| c.name.clone()).collect())
            .unwrap_or_default();
        let single = containers.len() == 1;
        for container in containers {
            let part = if single {
                format!("logs/{}.log", safe_segment(&name))
            } else {
                format!(
                    "logs/{}.{}.log",
                    safe_segment(&name),
                    safe_segment(&container)
                )
            };
            let params = LogParams {
                container: Some(container.clone()),
                tail_lines: Some(LOG_LINES as i64),
                limit_bytes: Some((LOG_LINES * LINE_BYTES) as i64),
                timestamps: true,
                ..LogParams::default()
            };
            match api.logs(&name, &params).await {
                Ok(text) => b.add(
                    &part,
                    &format!("the last {LOG_LINES} log lines of {name}/{container}, cleaned"),
                    bundle::log_tail(&text, LOG_LINES).into_bytes(),
                ),
                Err(e) => b.missing(&part, &why(&e)),
            }
        }
    }
    if pods.len() > POD_LOGS {
        b.missing(
            "logs/",
            &format!(
                "{} pods; the logs of the first {POD_LOGS} are kept",
                pods.len()
            ),
        );
    }
}

async fn guards(
    client: &kube::Client,
    plan: &Plan,
    clock: &Clock,
    opts: &Options,
    stage: Option<guard_watch::StageWindow>,
    verdict: Option<crate::rollout::state::StageVerdict>,
) -> GuardReadings {
    let target = Target {
        client: client.clone(),
        namespace: plan.namespace.clone(),
        app: plan.app.clone(),
    };
    let (source, label) = match guarded::source(opts.prometheus.as_deref(), plan, clock) {
        Ok(source) => (
            source,
            opts.prometheus.as_deref().map_or_else(
                || "the pods' /metrics through the API server".to_string(),
                |u| format!("Prometheus at {u}"),
            ),
        ),
        Err(e) => (
            crate::workers::guard_watch::GuardSource::PodProxy,
            format!("the pods' /metrics through the API server ({e})"),
        ),
    };
    let pods = workers::pods_only(&target);
    let watch = GuardWatch::for_plan(plan, target, source, clock.clone(), pods.pods());
    let gap = clock
        .real(watch.interval)
        .clamp(Duration::from_millis(200), SCRAPE_GAP);
    let (reading, updates) = guard_watch::read_once(watch, stage, gap).await;
    drop(pods);
    GuardReadings::new(clock.now(), &label, &reading, &updates, verdict)
}

/// An API error as the manifest says it: forbidden, not found, or the error.
fn why(e: &kube::Error) -> String {
    match rest::status_code(e) {
        Some(403) => format!("forbidden: {e}"),
        Some(404) => format!("not found: {e}"),
        _ => e.to_string(),
    }
}

/// Writes `bundle` into `dir` (made if needed); the archive's path. Written
/// under a temporary name and renamed, so a half-written bundle never
/// passes for a whole one.
pub fn write(dir: &Path, bundle: &Bundle) -> std::io::Result<PathBuf> {
    std::fs::create_dir_all(dir)?;
    let path = dir.join(bundle.file_name());
    let partial = dir.join(format!(".{}.partial", bundle.file_name()));
    let file = std::fs::File::create(&partial)?;
    let file = bundle.write_tar_gz(std::io::BufWriter::new(file))?;
    file.into_inner()
        .map_err(std::io::IntoInnerError::into_error)?
        .sync_all()?;
    std::fs::rename(&partial, &path)?;
    Ok(path)
}
