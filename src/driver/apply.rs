//! Carrying out one effect: read the object, build the change from what is
//! there now, write it on condition that nothing moved since the read (the
//! resourceVersion rides in the patch), re-read and retry on a conflict, then
//! watch the object until the change has landed.
//!
//! The helm is read again before every write: whoever held it when the
//! command began may have lost it during a wait, and a write made without it
//! would race the new holder's.

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use kube::api::DynamicObject;
use serde_json::{Value, json};

use super::helm::HelmHandle;
use super::pending::{Condition, Landing, Watched};
use super::rest::{self, Obj, REPLICASET};
use super::store::StateStore;
use super::targets::{Shape, Targets, router_objects};
use crate::cluster::routers::{
    self, Patch, RouterError, http_route, istio, nginx, replica_ratio, service_selector,
    traffic_split,
};
use crate::rollout::effects::{Effect, ImageTarget, Weights};
use crate::rollout::plan::{Router, Slot};
use crate::rollout::state::Slots;

/// The annotation on a blue-green slot's Deployment saying when it is to be
/// scaled down: kept on the cluster so a restarted cockpit still does it.
pub const SCALE_DOWN_AT: &str = "flightdeck.dev/scale-down-at";
/// The Deployment's revision, as its controller writes it.
pub const REVISION: &str = "deployment.kubernetes.io/revision";

/// Writes tried before a conflict is reported.
const TRIES: u32 = 6;

/// Called between the read and the write of every change (tests use it to
/// move the object on, as a second writer would).
pub type WriteHook = Arc<dyn Fn(&Obj) + Send + Sync>;

#[derive(Debug, thiserror::Error)]
pub enum ApplyError {
    #[error("{obj}: {source}")]
    Kube { obj: String, source: kube::Error },
    #[error("{obj} kept changing under us ({tries} conflicts in a row)")]
    Contended { obj: String, tries: u32 },
    #[error(transparent)]
    Router(#[from] RouterError),
    #[error("{obj}: {what} had not happened after {}s", .after.as_secs())]
    NotLanded {
        obj: String,
        what: String,
        after: Duration,
    },
    #[error("{0}")]
    Invalid(String),
    #[error("{obj} not written: {why}")]
    HelmLost { obj: String, why: String },
}

fn kube_err(obj: &Obj) -> impl Fn(kube::Error) -> ApplyError + '_ {
    move |source| ApplyError::Kube {
        obj: obj.to_string(),
        source,
    }
}

/// What one effect needs to know beyond the effect itself.
pub struct Applier<'a> {
    pub client: &'a kube::Client,
    pub targets: &'a Targets,
    pub slots: Option<Slots>,
    pub now: DateTime<Utc>,
    /// How long a change may take to land, in `clock`'s time.
    pub landing_timeout: Duration,
    /// The driver's clock (the cluster's): a wait's deadline is kept on it
    /// and a simulated cluster running fast gives up as soon in its own time.
    pub clock: &'a super::Clock,
    pub before_write: Option<&'a WriteHook>,
    pub progress: &'a (dyn Fn(String) + Send + Sync),
    /// The helm, read again before each write; `None` when nothing holds it
    /// (tests of the applier alone).
    pub helm: Option<&'a HelmHandle>,
    /// Whether to watch a change until it lands; `--no-wait` writes the
    /// last effect of a command and leaves its landing to whoever looks next.
    pub wait: bool,
    /// Where each wait is kept while it lasts (see [`super::pending`]).
    pub note: Option<LandingNote<'a>>,
}

/// What a wait is kept with: the step it belongs to.
pub struct LandingNote<'a> {
    pub store: &'a StateStore,
    pub action: String,
    pub by: String,
    pub from: String,
    /// The state the step stores once its writes have all landed.
    pub to: Option<crate::rollout::RolloutState>,
    /// The writes that follow the one under way.
    pub rest: Vec<Effect>,
    /// The effect under way, as written.
    pub written: std::sync::Mutex<String>,
}

/// Fields of an object as they were before a step began, to put back when
/// the step is given up: the Deployments' templates, replicas, pause and
/// scale-down mark, the Services' selectors.
#[derive(Debug, Clone, PartialEq)]
pub struct Kept {
    pub obj: Obj,
    /// JSON pointer and the value there (`None`: absent).
    pub fields: Vec<(String, Option<Value>)>,
}

/// What is kept of a Deployment.
pub const KEPT_OF_DEPLOYMENT: [&str; 4] = [
    "/spec/template",
    "/spec/replicas",
    "/spec/paused",
    "/metadata/annotations/flightdeck.dev~1scale-down-at",
];
/// What is kept of a Service.
pub const KEPT_OF_SERVICE: [&str; 1] = ["/spec/selector"];

impl Kept {
    pub fn of(obj: Obj, object: &Value, pointers: &[&str]) -> Self {
        let fields = pointers
            .iter()
            .map(|p| ((*p).to_string(), object.pointer(p).cloned()))
            .collect();
        Self { obj, fields }
    }

    /// The JSON patch that puts the kept fields back on `now`; `None` when
    /// they are as kept.
    pub fn patch(&self, now: &Value) -> Option<Patch> {
        let ops: Vec<Value> = self
            .fields
            .iter()
            .filter_map(|(path, kept)| match (kept, now.pointer(path)) {
                (Some(v), Some(n)) if v == n => None,
                (Some(v), Some(_)) => Some(json!({"op": "replace", "path": path, "value": v})),
                (Some(v), None) => Some(json!({"op": "add", "path": path, "value": v})),
                (None, Some(_)) => Some(json!({"op": "remove", "path": path})),
                (None, None) => None,
            })
            .collect();
        (!ops.is_empty()).then_some(Patch::Json(Value::Array(ops)))
    }
}

impl Applier<'_> {
    pub async fn apply(&self, effect: &Effect) -> Result<(), ApplyError> {
        (self.progress)(format!("{effect}…"));
        if let Some(note) = &self.note {
            *note
                .written
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner) = effect.to_string();
        }
        match effect {
            Effect::SetImage { target, image } => {
                let (obj, container) = self.targets.image_target(*target).ok_or_else(|| {
                    ApplyError::Invalid(format!("the plan has no Deployment for {target:?}"))
                })?;
                self.set_image(&obj, container.as_deref(), image).await?;
                if *target == ImageTarget::Canary {
                    self.canary_created(&obj).await
                } else {
                    self.rolled_out(&obj).await
                }
            }
            Effect::SetWeights { weights } => self.set_weights(*weights).await,
            Effect::ScaleCanary { replicas } => {
                let Shape::Canary { canary, .. } = &self.targets.shape else {
                    return Ok(());
                };
                let obj = self.targets.deployment(canary);
                self.scale(&obj, *replicas).await?;
                self.canary_created(&obj).await
            }
            Effect::ScaleUpSlot { slot } => self.scale_up_slot(*slot).await,
            Effect::ScaleDownSlot { slot, after } => self.schedule_scale_down(*slot, *after).await,
            Effect::PointPreview { slot } => {
                let Shape::BlueGreen {
                    preview_service: Some(preview),
                    ..
                } = &self.targets.shape
                else {
                    return Ok(());
                };
                self.select(&self.targets.service(preview), *slot).await
            }
            Effect::SwitchSelector { slot } => {
                let Shape::BlueGreen { active_service, .. } = &self.targets.shape else {
                    return Ok(());
                };
                self.select(&self.targets.service(active_service), *slot)
                    .await
            }
            Effect::SetPaused { paused } => {
                let obj = self.targets.primary();
                self.write(&obj, |d| {
                    let now = d.pointer("/spec/paused").and_then(Value::as_bool) == Some(true);
                    Ok((now != *paused).then(|| Patch::Merge(json!({"spec": {"paused": paused}}))))
                })
                .await?;
                self.wait_for(&obj, Condition::Observed, observed).await
            }
            Effect::UndoTo { revision } => self.undo(*revision).await,
            Effect::PromoteStable => self.promote_stable().await,
        }
    }

    /// Read, build, write with the resourceVersion as precondition; on a
    /// conflict read again and rebuild from what is there now.
    async fn write(
        &self,
        obj: &Obj,
        build: impl Fn(&Value) -> Result<Option<Patch>, ApplyError>,
    ) -> Result<Value, ApplyError> {
        let mut delay = Duration::from_millis(100);
        for attempt in 1..=TRIES {
            let current = rest::get(self.client, obj).await.map_err(kube_err(obj))?;
            let Some(patch) = build(&current)? else {
                return Ok(current);
            };
            let rv = rest::resource_version(&current)
                .unwrap_or_default()
                .to_string();
            let patch = rest::with_precondition(patch, &rv);
            self.still_at_helm(obj).await?;
            if let Some(hook) = self.before_write {
                hook(obj);
            }
            match rest::patch(self.client, obj, &patch).await {
                Ok(object) => return Ok(object),
                Err(e) if rest::is_transient(&e) && attempt < TRIES => {
                    let why = match rest::status_code(&e) {
                        Some(409) => "changed since we read it".to_string(),
                        _ => e.to_string(),
                    };
                    tracing::info!(%obj, attempt, %why, "write retried");
                    (self.progress)(format!("{obj} {why}: reading it again (try {attempt})"));
                    tokio::time::sleep(delay).await;
                    delay = (delay * 2).min(Duration::from_secs(2));
                }
                Err(e) if rest::status_code(&e) == Some(409) => {
                    return Err(ApplyError::Contended {
                        obj: obj.to_string(),
                        tries: TRIES,
                    });
                }
                Err(e) => return Err(kube_err(obj)(e)),
            }
        }
        Err(ApplyError::Contended {
            obj: obj.to_string(),
            tries: TRIES,
        })
    }

    /// The helm is still ours (the Lease is read, and renewed, now).
    async fn still_at_helm(&self, obj: &Obj) -> Result<(), ApplyError> {
        let Some(helm) = self.helm else {
            return Ok(());
        };
        match helm.acquire().await {
            Ok(view) if view.is_ours() => Ok(()),
            Ok(view) => Err(ApplyError::HelmLost {
                obj: obj.to_string(),
                why: view.describe(),
            }),
            Err(e) => Err(ApplyError::HelmLost {
                obj: obj.to_string(),
                why: format!("the helm cannot be read: {e}"),
            }),
        }
    }

    /// Watches the object until `landed` holds, keeping the wait in the
    /// state ConfigMap while it lasts. A wait cut short (its future dropped)
    /// stays there for whoever goes next to clear or settle.
    async fn wait_for(
        &self,
        obj: &Obj,
        condition: Condition,
        landed: impl Fn(&Value) -> bool + Send + 'static,
    ) -> Result<(), ApplyError> {
        let what = condition.describe();
        if !self.wait {
            (self.progress)(format!("{obj}: written; not waiting for {what}"));
            return Ok(());
        }
        let api = obj.dynamic_api(self.client);
        let condition_fn = move |o: Option<&DynamicObject>| {
            o.and_then(|o| serde_json::to_value(o).ok())
                .is_some_and(|v| landed(&v))
        };
        let watch = kube::runtime::wait::await_condition(api, &obj.name, condition_fn);
        self.keep(obj, condition).await;
        let result = tokio::time::timeout(self.clock.real(self.landing_timeout), watch).await;
        if let Some(note) = &self.note
            && let Err(e) = note.store.set_landing(self.client, None).await
        {
            tracing::warn!(error = %e, "cannot clear the landing wait");
        }
        match result {
            Ok(Ok(_)) => Ok(()),
            Ok(Err(e)) => Err(ApplyError::Invalid(format!(
                "{obj}: watching it failed: {e}"
            ))),
            Err(_) => Err(ApplyError::NotLanded {
                obj: obj.to_string(),
                what,
                after: self.landing_timeout,
            }),
        }
    }

    /// Stores the wait about to begin.
    async fn keep(&self, obj: &Obj, condition: Condition) {
        let Some(note) = &self.note else { return };
        let landing = Landing {
            action: note.action.clone(),
            by: note.by.clone(),
            written: note
                .written
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .clone(),
            object: Watched {
                api_version: obj.kind.api_version(),
                kind: obj.kind.kind.to_string(),
                namespace: obj.namespace.clone(),
                name: obj.name.clone(),
            },
            condition,
            deadline: self.clock.now()
                + chrono::TimeDelta::from_std(self.landing_timeout).unwrap_or_default(),
            to: note.to.clone().map(Box::new),
            rest: note.rest.clone(),
            from: note.from.clone(),
        };
        if let Err(e) = note.store.set_landing(self.client, Some(&landing)).await {
            tracing::warn!(error = %e, "cannot keep the landing wait");
        }
    }

    /// The canary's pods exist with its template. Whether they become
    /// healthy is for the guards and the analysis to judge: a canary that
    /// crash-loops is rolled back by its restarts and health-check guards
    /// within their window, where waiting for it here would hold every
    /// other decision (and the captain's abort) until the landing timeout.
    async fn canary_created(&self, obj: &Obj) -> Result<(), ApplyError> {
        self.wait_for(obj, Condition::PodsCreated, canary_created)
            .await?;
        if !self.wait {
            return Ok(());
        }
        (self.progress)(format!(
            "{obj}: pods created; the guards judge their health"
        ));
        Ok(())
    }

    async fn rolled_out(&self, obj: &Obj) -> Result<(), ApplyError> {
        self.wait_for(obj, Condition::RolledOut, rolled_out).await?;
        if self.wait {
            (self.progress)(format!("{obj} rolled out"));
        }
        Ok(())
    }

    async fn set_image(
        &self,
        obj: &Obj,
        container: Option<&str>,
        image: &str,
    ) -> Result<(), ApplyError> {
        let app = self.targets.app.clone();
        self.write(obj, |d| {
            let containers = d
                .pointer("/spec/template/spec/containers")
                .and_then(Value::as_array)
                .ok_or_else(|| ApplyError::Invalid(format!("{obj} has no containers")))?;
            let name_of = |c: &Value| c.get("name").and_then(Value::as_str).map(str::to_string);
            let index = match container {
                Some(name) => containers
                    .iter()
                    .position(|c| name_of(c).as_deref() == Some(name))
                    .ok_or_else(|| {
                        ApplyError::Invalid(format!("{obj} has no container named {name}"))
                    })?,
                None => containers
                    .iter()
                    .position(|c| name_of(c).as_deref() == Some(app.as_str()))
                    .unwrap_or(0),
            };
            let current = containers
                .get(index)
                .and_then(|c| c.get("image"))
                .and_then(Value::as_str);
            if current == Some(image) {
                return Ok(None);
            }
            let at = format!("/spec/template/spec/containers/{index}");
            let name = containers.get(index).and_then(name_of);
            Ok(Some(Patch::Json(json!([
                {"op": "test", "path": format!("{at}/name"), "value": name},
                {"op": "replace", "path": format!("{at}/image"), "value": image},
            ]))))
        })
        .await
        .map(|_| ())
    }

    async fn scale(&self, obj: &Obj, replicas: u32) -> Result<(), ApplyError> {
        self.write(obj, |d| {
            let now = d.pointer("/spec/replicas").and_then(Value::as_u64);
            Ok((now != Some(u64::from(replicas)))
                .then(|| Patch::Merge(json!({"spec": {"replicas": replicas}}))))
        })
        .await
        .map(|_| ())
    }

    async fn select(&self, service: &Obj, slot: Slot) -> Result<(), ApplyError> {
        let wanted = vec![(slot.label().to_string(), 100)];
        self.write(service, |svc| {
            if service_selector::active(svc).ok().as_deref() == Some(slot.label()) {
                return Ok(None);
            }
            Ok(Some(service_selector::set_weights(svc, &wanted)?))
        })
        .await?;
        let label = slot.label();
        let selects = Condition::Selects {
            slot: label.to_string(),
        };
        self.wait_for(service, selects, move |svc| {
            service_selector::active(svc).ok().as_deref() == Some(label)
        })
        .await
    }

    async fn scale_up_slot(&self, slot: Slot) -> Result<(), ApplyError> {
        let (Some(obj), Some(other)) = (self.targets.slot(slot), self.targets.slot(slot.other()))
        else {
            return Ok(());
        };
        let other = rest::get(self.client, &other)
            .await
            .map_err(kube_err(&other))?;
        let replicas = other
            .pointer("/spec/replicas")
            .and_then(Value::as_u64)
            .unwrap_or(1)
            .max(1);
        self.write(&obj, |d| {
            let now = d.pointer("/spec/replicas").and_then(Value::as_u64);
            let scheduled = d
                .pointer("/metadata/annotations")
                .and_then(|a| a.get(SCALE_DOWN_AT))
                .is_some();
            if now.is_some_and(|n| n >= replicas) && !scheduled {
                return Ok(None);
            }
            let want = now.unwrap_or(0).max(replicas);
            // A slot coming back into use is no longer due to go down.
            Ok(Some(Patch::Merge(json!({
                "metadata": {"annotations": {SCALE_DOWN_AT: null}},
                "spec": {"replicas": want},
            }))))
        })
        .await?;
        self.rolled_out(&obj).await
    }

    async fn schedule_scale_down(&self, slot: Slot, after: Duration) -> Result<(), ApplyError> {
        let Some(obj) = self.targets.slot(slot) else {
            return Ok(());
        };
        if after.is_zero() {
            self.scale(&obj, 0).await?;
            return self.rolled_out(&obj).await;
        }
        let at = self.now + chrono::Duration::from_std(after).unwrap_or(chrono::TimeDelta::MAX);
        let at = at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
        self.write(&obj, |_| {
            Ok(Some(Patch::Merge(
                json!({"metadata": {"annotations": {SCALE_DOWN_AT: at}}}),
            )))
        })
        .await
        .map(|_| ())
    }

    /// Blue-green: the router's "stable" names stand for the blue slot, so a
    /// rollout from green to blue swaps the sides.
    fn flipped(&self) -> bool {
        matches!(self.targets.shape, Shape::BlueGreen { .. })
            && self.slots.is_some_and(|s| s.from == Slot::Green)
    }

    fn sides(&self, weights: Weights, names: (String, String)) -> routers::Weights {
        let (from, to) = if self.flipped() {
            (names.1, names.0)
        } else {
            names
        };
        vec![
            (from, weights.stable_percent()),
            (to, weights.canary_percent()),
        ]
    }

    async fn set_weights(&self, weights: Weights) -> Result<(), ApplyError> {
        let Some(router) = self.targets.router().cloned() else {
            return Ok(());
        };
        let ns = &self.targets.namespace;
        let objects = router_objects(ns, &router);
        let (obj, main) = match &router {
            Router::ReplicaRatio { total_replicas } => {
                return self.set_replica_ratio(weights, *total_replicas).await;
            }
            Router::Nginx { .. } => {
                let main = rest::get(self.client, &objects[0])
                    .await
                    .map_err(kube_err(&objects[0]))?;
                (objects[1].clone(), Some(main))
            }
            _ => (objects[0].clone(), None),
        };
        let wanted = |object: &Value| -> Result<routers::Weights, ApplyError> {
            let names = match (&router, &main) {
                (Router::Nginx { .. }, Some(main)) => {
                    let w = nginx::weights(main, object)?;
                    match w.as_slice() {
                        [(a, _), (b, _)] => (a.clone(), b.clone()),
                        _ => return Err(ApplyError::Invalid(format!("{obj}: not a pair"))),
                    }
                }
                _ => router_versions(&router, object),
            };
            Ok(self.sides(weights, names))
        };
        let written = self
            .write(&obj, |object| {
                let wanted = wanted(object)?;
                if read_weights(&router, main.as_ref(), object).is_ok_and(|w| same(&w, &wanted)) {
                    return Ok(None);
                }
                Ok(Some(match (&router, &main) {
                    (Router::Istio { .. }, _) => istio::set_weights(object, &wanted)?,
                    (Router::GatewayApi { .. }, _) => http_route::set_weights(object, &wanted)?,
                    (Router::Smi { .. }, _) => traffic_split::set_weights(object, &wanted)?,
                    (Router::Nginx { .. }, Some(main)) => {
                        nginx::set_weights(main, object, &wanted)?
                    }
                    _ => return Err(ApplyError::Invalid("no router to patch".into())),
                }))
            })
            .await?;
        let want = wanted(&written)?;
        let shown = want
            .iter()
            .map(|(v, w)| format!("{v} {w}%"))
            .collect::<Vec<_>>()
            .join(" / ");
        let routes = Condition::Routes {
            weights: want.clone(),
        };
        self.wait_for(&obj, routes, move |object| {
            read_weights(&router, main.as_ref(), object).is_ok_and(|w| same(&w, &want))
        })
        .await?;
        if self.wait {
            (self.progress)(format!("{obj} routes {shown}"));
        }
        Ok(())
    }

    async fn set_replica_ratio(
        &self,
        weights: Weights,
        total: Option<u32>,
    ) -> Result<(), ApplyError> {
        let [stable, canary] = match &self.targets.shape {
            Shape::Canary { stable, canary, .. } => [
                self.targets.deployment(stable),
                self.targets.deployment(canary),
            ],
            Shape::BlueGreen { .. } => {
                let slots = self.slots.ok_or_else(|| {
                    ApplyError::Invalid("a blue-green split needs its slots".into())
                })?;
                let slot = |s| {
                    self.targets
                        .slot(s)
                        .ok_or_else(|| ApplyError::Invalid("no slot Deployment".into()))
                };
                [slot(slots.from)?, slot(slots.to)?]
            }
            Shape::Rolling { .. } => return Ok(()),
        };
        let total = if let Some(t) = total {
            t
        } else {
            let mut sum = 0;
            for d in [&stable, &canary] {
                let object = rest::get(self.client, d).await.map_err(kube_err(d))?;
                sum += object
                    .pointer("/spec/replicas")
                    .and_then(Value::as_u64)
                    .unwrap_or(0);
            }
            u32::try_from(sum.max(1)).unwrap_or(u32::MAX)
        };
        let wanted = vec![
            ("stable".to_string(), weights.stable_percent()),
            ("canary".to_string(), weights.canary_percent()),
        ];
        let split = replica_ratio::set_weights(&self.targets.app, total, &wanted)?;
        for (obj, (_, patch)) in [&stable, &canary].into_iter().zip(split) {
            let replicas = patch
                .body()
                .pointer("/spec/replicas")
                .and_then(Value::as_u64)
                .and_then(|r| u32::try_from(r).ok())
                .unwrap_or(0);
            self.scale(obj, replicas).await?;
        }
        for obj in [&stable, &canary] {
            self.rolled_out(obj).await?;
        }
        Ok(())
    }

    async fn undo(&self, revision: Option<u64>) -> Result<(), ApplyError> {
        self.undo_deployment(&self.targets.primary(), revision)
            .await
    }

    /// Puts `kept`'s fields back as they were; whether anything was written.
    /// Not waited for: what it undoes never went further than a write.
    pub async fn restore(&self, kept: &Kept) -> Result<bool, ApplyError> {
        let wrote = std::sync::atomic::AtomicBool::new(false);
        self.write(&kept.obj, |now| {
            let patch = kept.patch(now);
            wrote.store(patch.is_some(), std::sync::atomic::Ordering::Relaxed);
            Ok(patch)
        })
        .await?;
        let wrote = wrote.load(std::sync::atomic::Ordering::Relaxed);
        if wrote {
            (self.progress)(format!("{}: put back as it was before the step", kept.obj));
        }
        Ok(wrote)
    }

    /// A promotion that failed half-way: stable goes back to the template it
    /// ran before the canary's was copied over.
    pub async fn revert_stable(&self) -> Result<(), ApplyError> {
        let Shape::Canary { stable, canary, .. } = &self.targets.shape else {
            return Ok(());
        };
        let obj = self.targets.deployment(stable);
        let canary = self.targets.deployment(canary);
        let spec = |d: &Value| d.pointer("/spec/template/spec").cloned();
        let now = rest::get(self.client, &obj).await.map_err(kube_err(&obj))?;
        let copied = rest::get(self.client, &canary)
            .await
            .map_err(kube_err(&canary))?;
        if spec(&now) != spec(&copied) {
            // The copy never reached stable: there is nothing to take back.
            return Ok(());
        }
        (self.progress)(format!("{obj}: back to its previous revision…"));
        self.undo_deployment(&obj, None).await
    }

    async fn undo_deployment(&self, obj: &Obj, revision: Option<u64>) -> Result<(), ApplyError> {
        let obj = obj.clone();
        let deployment = rest::get(self.client, &obj).await.map_err(kube_err(&obj))?;
        let history = revisions(self.client, &obj, &deployment).await?;
        let current = annotation(&deployment, REVISION).and_then(|r| r.parse::<u64>().ok());
        let target = match revision {
            Some(r) => history.iter().find(|rev| rev.number == r),
            None => history
                .iter()
                .filter(|rev| current.is_none_or(|c| rev.number < c))
                .max_by_key(|rev| rev.number),
        };
        let Some(target) = target else {
            let known: Vec<String> = history.iter().map(|r| r.number.to_string()).collect();
            return Err(ApplyError::Invalid(format!(
                "{obj}: no revision {} to undo to (it has {})",
                revision.map_or_else(|| "before the current one".into(), |r| r.to_string()),
                if known.is_empty() {
                    "none".to_string()
                } else {
                    known.join(", ")
                }
            )));
        };
        let template = target.template.clone();
        self.write(&obj, |_| {
            Ok(Some(Patch::Json(json!([
                {"op": "replace", "path": "/spec/template", "value": template}
            ]))))
        })
        .await?;
        self.rolled_out(&obj).await
    }

    async fn promote_stable(&self) -> Result<(), ApplyError> {
        let Shape::Canary { stable, canary, .. } = &self.targets.shape else {
            return Ok(());
        };
        let (stable, canary) = (
            self.targets.deployment(stable),
            self.targets.deployment(canary),
        );
        let source = rest::get(self.client, &canary)
            .await
            .map_err(kube_err(&canary))?;
        let spec = source
            .pointer("/spec/template/spec")
            .cloned()
            .ok_or_else(|| ApplyError::Invalid(format!("{canary} has no pod template")))?;
        // The pod spec moves; stable's labels stay, so its selector and the
        // router's subsets keep pointing where they did.
        self.write(&stable, |d| {
            if d.pointer("/spec/template/spec") == Some(&spec) {
                return Ok(None);
            }
            Ok(Some(Patch::Json(json!([
                {"op": "replace", "path": "/spec/template/spec", "value": spec}
            ]))))
        })
        .await?;
        self.rolled_out(&stable).await
    }
}

/// The version names a router object gives the plan's stable and canary sides.
fn router_versions(router: &Router, object: &Value) -> (String, String) {
    let name = routers::meta_name(object).unwrap_or_default();
    match router {
        Router::Istio {
            stable_subset,
            canary_subset,
            ..
        } => (stable_subset.clone(), canary_subset.clone()),
        Router::GatewayApi {
            stable_service,
            canary_service,
            ..
        } => (
            routers::version_of_service(name, stable_service),
            routers::version_of_service(name, canary_service),
        ),
        Router::Smi {
            stable_service,
            canary_service,
            ..
        } => {
            let root = object
                .pointer("/spec/service")
                .and_then(Value::as_str)
                .unwrap_or(name);
            (
                routers::version_of_service(root, stable_service),
                routers::version_of_service(root, canary_service),
            )
        }
        Router::Nginx { .. } | Router::ReplicaRatio { .. } => {
            ("stable".to_string(), "canary".to_string())
        }
    }
}

/// The split a router object carries now.
pub fn read_weights(
    router: &Router,
    main: Option<&Value>,
    object: &Value,
) -> Result<routers::Weights, RouterError> {
    match (router, main) {
        (Router::Istio { .. }, _) => istio::weights(object),
        (Router::GatewayApi { .. }, _) => http_route::weights(object),
        (Router::Smi { .. }, _) => traffic_split::weights(object),
        (Router::Nginx { .. }, Some(main)) => nginx::weights(main, object),
        _ => Err(RouterError::BadWeights("no router object".into())),
    }
}

fn same(read: &routers::Weights, wanted: &routers::Weights) -> bool {
    wanted
        .iter()
        .all(|(v, w)| read.iter().any(|(rv, rw)| rv == v && rw == w))
}

fn annotation<'a>(object: &'a Value, key: &str) -> Option<&'a str> {
    object.pointer("/metadata/annotations")?.get(key)?.as_str()
}

fn int(object: &Value, at: &str) -> Option<i64> {
    object.pointer(at).and_then(Value::as_i64)
}

/// The controller has seen the latest spec.
pub fn observed(d: &Value) -> bool {
    int(d, "/status/observedGeneration") >= int(d, "/metadata/generation")
}

/// Every replica of the current template has been created (ready or not).
pub fn canary_created(d: &Value) -> bool {
    let want = int(d, "/spec/replicas").unwrap_or(1);
    observed(d) && int(d, "/status/updatedReplicas").unwrap_or(0) >= want
}

/// Every replica runs the current template and is available.
pub fn rolled_out(d: &Value) -> bool {
    if !observed(d) {
        return false;
    }
    if d.pointer("/spec/paused").and_then(Value::as_bool) == Some(true) {
        return true;
    }
    let want = int(d, "/spec/replicas").unwrap_or(1);
    let status = |f: &str| int(d, &format!("/status/{f}")).unwrap_or(0);
    status("updatedReplicas") == want
        && status("replicas") == want
        && status("availableReplicas") >= want
}

/// One revision of a Deployment, from its ReplicaSet.
#[derive(Debug, Clone, PartialEq)]
pub struct Revision {
    pub number: u64,
    pub images: Vec<String>,
    pub replicas: u64,
    template: Value,
}

/// The Deployment's revisions, oldest first.
pub async fn revisions(
    client: &kube::Client,
    obj: &Obj,
    deployment: &Value,
) -> Result<Vec<Revision>, ApplyError> {
    let uid = deployment.pointer("/metadata/uid").and_then(Value::as_str);
    let selector = deployment
        .pointer("/spec/selector/matchLabels")
        .and_then(Value::as_object)
        .map(|m| {
            m.iter()
                .filter_map(|(k, v)| Some(format!("{k}={}", v.as_str()?)))
                .collect::<Vec<_>>()
                .join(",")
        })
        .unwrap_or_default();
    let sets = rest::list(client, REPLICASET, &obj.namespace, &selector)
        .await
        .map_err(kube_err(obj))?;
    let mut out: Vec<Revision> = sets
        .iter()
        .filter(|rs| {
            rs.pointer("/metadata/ownerReferences")
                .and_then(Value::as_array)
                .is_some_and(|owners| {
                    owners
                        .iter()
                        .any(|o| o.get("uid").and_then(Value::as_str) == uid)
                })
        })
        .filter_map(|rs| {
            let number = annotation(rs, REVISION)?.parse().ok()?;
            let mut template = rs.pointer("/spec/template")?.clone();
            if let Some(labels) = template
                .pointer_mut("/metadata/labels")
                .and_then(Value::as_object_mut)
            {
                labels.remove("pod-template-hash");
            }
            let images = template
                .pointer("/spec/containers")
                .and_then(Value::as_array)
                .map(|cs| {
                    cs.iter()
                        .filter_map(|c| c.get("image").and_then(Value::as_str).map(str::to_string))
                        .collect()
                })
                .unwrap_or_default();
            Some(Revision {
                number,
                images,
                replicas: rs
                    .pointer("/status/replicas")
                    .and_then(Value::as_u64)
                    .unwrap_or(0),
                template,
            })
        })
        .collect();
    out.sort_by_key(|r| r.number);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rolled_out_needs_every_replica_on_the_new_template() {
        let d = |observed: i64, updated: i64, available: i64| {
            json!({"metadata": {"generation": 3}, "spec": {"replicas": 2},
                   "status": {"observedGeneration": observed, "replicas": 2,
                              "updatedReplicas": updated, "availableReplicas": available}})
        };
        assert!(rolled_out(&d(3, 2, 2)));
        assert!(!rolled_out(&d(2, 2, 2)));
        assert!(!rolled_out(&d(3, 1, 2)));
        assert!(!rolled_out(&d(3, 2, 1)));
        let zero = json!({"metadata": {"generation": 1}, "spec": {"replicas": 0},
                          "status": {"observedGeneration": 1}});
        assert!(rolled_out(&zero));
    }

    #[test]
    fn weights_match_whatever_the_order() {
        let read = vec![("canary".to_string(), 25), ("stable".to_string(), 75)];
        let wanted = vec![("stable".to_string(), 75), ("canary".to_string(), 25)];
        assert!(same(&read, &wanted));
        assert!(!same(&read, &vec![("stable".to_string(), 50)]));
    }
}
