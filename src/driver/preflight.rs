//! Before anything changes: every object the plan names must exist, and the
//! router must know the versions the plan will weigh. A plan that fails here
//! is refused with every problem listed, and the cluster is left as it was.
//!
//! Going back to stable checks less: only the objects the way back writes.
//! An object it does not touch (a DestinationRule, a preview Service, the
//! canary's Deployment) missing must never hold up an emergency abort.

use std::fmt;

use serde_json::Value;

use super::apply::read_weights;
use super::rest::{self, Kind, Obj};
use super::targets::{Shape, Targets, router_objects};
use crate::rollout::plan::{Plan, Router, Strategy, Switch};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problems(pub Vec<String>);

impl fmt::Display for Problems {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "the plan cannot be carried out: {}", self.0.join("; "))
    }
}

impl std::error::Error for Problems {}

/// Checks the plan against the cluster; `Err` lists what is wrong.
pub async fn check(client: &kube::Client, plan: &Plan) -> Result<(), Problems> {
    let mut problems = stage_problems(plan);
    let targets = Targets::of(plan);
    for reference in plan.referenced_objects() {
        let Some(kind) = Kind::of(reference.api_version, reference.kind) else {
            problems.push(format!("{reference}: flightdeck does not drive this kind"));
            continue;
        };
        let obj = Obj::new(kind, &reference.namespace, &reference.name);
        match rest::get_opt(client, &obj).await {
            Ok(Some(_)) => {}
            Ok(None) => problems.push(format!("{reference} does not exist")),
            Err(e) => problems.push(format!("cannot read {reference}: {e}")),
        }
    }
    if problems.is_empty()
        && let Some(router) = targets.router()
    {
        problems.extend(router_problems(client, &targets, router).await);
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(Problems(problems))
    }
}

/// Checks the objects an abort or a rollback writes; `Err` lists what is wrong.
pub async fn check_way_back(client: &kube::Client, plan: &Plan) -> Result<(), Problems> {
    let targets = Targets::of(plan);
    let mut needed = match &targets.shape {
        Shape::Canary { .. } => Vec::new(),
        Shape::BlueGreen { active_service, .. } => {
            let mut v = vec![targets.service(active_service)];
            v.extend(targets.deployments());
            v
        }
        Shape::Rolling { .. } => vec![targets.primary()],
    };
    match targets.router() {
        Some(Router::ReplicaRatio { .. }) => needed.extend(targets.deployments()),
        // The DestinationRule names the subsets; the weights live in the
        // VirtualService alone.
        Some(router @ Router::Istio { .. }) => {
            needed.extend(
                router_objects(&targets.namespace, router)
                    .into_iter()
                    .take(1),
            );
        }
        Some(router) => needed.extend(router_objects(&targets.namespace, router)),
        None => {}
    }
    needed.dedup();
    let mut problems = Vec::new();
    for obj in needed {
        match rest::get_opt(client, &obj).await {
            Ok(Some(_)) => {}
            Ok(None) => problems.push(format!("{obj} does not exist")),
            Err(e) => problems.push(format!("cannot read {obj}: {e}")),
        }
    }
    if problems.is_empty()
        && let Some(router) = targets.router()
    {
        problems.extend(router_problems(client, &targets, router).await);
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(Problems(problems))
    }
}

/// Weights in 0–100, rising, ending at 100 (the plan parser checks this too;
/// a plan built in code gets the same scrutiny).
fn stage_problems(plan: &Plan) -> Vec<String> {
    let stages = match &plan.strategy {
        Strategy::Canary(c) => &c.stages,
        Strategy::BlueGreen(b) => match &b.switch {
            Switch::Weighted { stages, .. } => stages,
            Switch::Selector { .. } => return Vec::new(),
        },
        Strategy::Rolling(_) => return Vec::new(),
    };
    let mut problems = Vec::new();
    let mut last = None;
    for (i, stage) in stages.iter().enumerate() {
        if stage.weight > 100 {
            problems.push(format!(
                "stage {} has weight {}, outside 0–100",
                i + 1,
                stage.weight
            ));
        }
        if last.is_some_and(|w| stage.weight <= w) {
            problems.push(format!("stage {} does not raise the weight", i + 1));
        }
        last = Some(stage.weight);
    }
    if last != Some(100) {
        problems.push("the last stage must send 100% to the new version".into());
    }
    problems
}

async fn router_problems(client: &kube::Client, targets: &Targets, router: &Router) -> Vec<String> {
    let objects = router_objects(&targets.namespace, router);
    let read = |obj: Obj| async move { rest::get(client, &obj).await.ok() };
    let (main, object) = match router {
        Router::ReplicaRatio { .. } => return Vec::new(),
        Router::Nginx { .. } => (
            read(objects[0].clone()).await,
            read(objects[1].clone()).await,
        ),
        _ => (None, read(objects[0].clone()).await),
    };
    let Some(object) = object else {
        return Vec::new();
    };
    match read_weights(router, main.as_ref(), &object) {
        Ok(weights) => {
            let known: Vec<&str> = weights.iter().map(|(v, _)| v.as_str()).collect();
            let wanted = wanted_versions(router, &object);
            wanted
                .into_iter()
                .filter(|v| !known.contains(&v.as_str()))
                .map(|v| {
                    format!(
                        "{} routes {known:?}, not {v:?} as the plan expects",
                        objects[objects.len() - 1]
                    )
                })
                .collect()
        }
        Err(e) => vec![e.to_string()],
    }
}

fn wanted_versions(router: &Router, object: &Value) -> Vec<String> {
    let name = crate::cluster::routers::meta_name(object).unwrap_or_default();
    match router {
        Router::Istio {
            stable_subset,
            canary_subset,
            ..
        } => vec![stable_subset.clone(), canary_subset.clone()],
        Router::GatewayApi {
            stable_service,
            canary_service,
            ..
        } => vec![
            crate::cluster::routers::version_of_service(name, stable_service),
            crate::cluster::routers::version_of_service(name, canary_service),
        ],
        _ => Vec::new(),
    }
}
