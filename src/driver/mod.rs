//! The driver: the one place that writes to the cluster. It takes a
//! [`Command`], checks it may act (not read-only, at the helm, the plan's
//! objects exist), runs it through the pure stage machine, carries out the
//! effects one by one ([`apply`]), stores the new state beside the app
//! ([`store`]) and records the action ([`record`]).
//!
//! - A write is a patch conditional on the resourceVersion it was built
//!   from; a 409 means "read again and rebuild", a few times, then failure.
//! - After each write the driver watches the object until the change has
//!   landed: the router reports the weights, the Deployment has rolled out.
//! - A step that fails half-way is undone (the weights go back to what the
//!   stored state says), stored as a failed entry of the history, written
//!   to the audit file and raised as a Warning Event: never silent.
//! - The helm is read again before every write: a wait may outlast it.
//! - One loop ([`task`]) runs it for the cockpit and `flightdeck run`: a
//!   command under way is a future the loop polls beside everything else,
//!   so an abort, a guard's alarm or another driver's abort cancels it
//!   ([`Driver::cancelled`] records that) instead of queueing behind it.
//!   The CLI verbs call [`Driver::execute`] once and follow a gradual
//!   rollback with [`Driver::tick`].
//! - Beside `rollout.json`, the state ConfigMap keeps a way back asked by
//!   someone not at the helm ([`asked`]), the wait under way
//!   ([`pending`]), the plan's checks' results ([`checks`]) and an incident
//!   freeze ([`freezing`]), each under its own key. A move that crosses a
//!   point with checks passes their gate first: open checks hold it, a
//!   failure may roll back.

pub mod apply;
pub mod asked;
pub mod checks;
pub mod external;
pub mod freezing;
pub mod guarded;
pub mod helm;
pub mod notices;
pub mod pending;
pub mod preflight;
pub mod record;
pub mod rest;
pub mod status;
pub mod store;
pub mod targets;
pub mod task;

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};

use self::apply::{Applier, ApplyError, Kept, SCALE_DOWN_AT, WriteHook};
use self::asked::Asked;
use self::helm::{HelmHandle, HelmView};
use self::preflight::Problems;
use self::record::{Entry, Recorder};
use self::store::{Loaded, StateStore, StoreError, Version};
use self::targets::{Shape, Targets};
use crate::cluster::lease::{LeaseClient, LeaseError};
use crate::cluster::routers::service_selector;
use crate::rollout::effects::Effect;
use crate::rollout::guards::Alarm;
use crate::rollout::history::{self, ActionResult, HistoryEntry, StoredRollout};
use crate::rollout::machine::{self, Event, Refusal, Transition, step};
use crate::rollout::plan::{Plan, Slot};
use crate::rollout::state::{Phase, RolloutState};
use crate::workers::audit::{Actor, AuditError, AuditLog};
use crate::workers::notify::{Notice, Notifier};

pub use crate::rollout::request::Request as Command;

#[derive(Debug, thiserror::Error)]
pub enum DriveError {
    #[error("read-only: flightdeck was started with --read-only and changes nothing")]
    ReadOnly,
    #[error("{}; take it over explicitly to drive from here", .0.describe())]
    HelmHeld(HelmView),
    #[error("refused: {0}")]
    Refused(#[from] Refusal),
    #[error(transparent)]
    Preflight(#[from] Problems),
    #[error("{action} failed while trying to {effect}: {source}{}", if *.undone { "; the change was undone" } else { "" })]
    Apply {
        action: String,
        effect: String,
        source: ApplyError,
        undone: bool,
    },
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("the helm: {0}")]
    Lease(#[from] LeaseError),
    #[error(transparent)]
    Audit(#[from] AuditError),
}

/// The clock transitions are stamped with: the wall clock, or a simulated one.
pub use crate::cluster::clock::Clock;

/// Where progress lines go (the UI, stderr, a test).
pub type Progress = Arc<dyn Fn(String) + Send + Sync>;

/// How the driver is set up.
#[derive(Clone)]
pub struct Settings {
    pub read_only: bool,
    /// How long a change may take to land before it counts as failed.
    pub landing_timeout: Duration,
    pub clock: Clock,
    pub before_write: Option<WriteHook>,
    pub progress: Progress,
    /// A rollout started here runs in automatic mode (the plan may ask too).
    pub auto: bool,
    /// Webhooks told about every step; sending never waits.
    pub notifier: Option<Notifier>,
    /// Watch the last write of a command until it lands (`--no-wait` says no;
    /// the writes before it are always watched, as the next depends on them).
    pub wait: bool,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            read_only: false,
            landing_timeout: Duration::from_secs(300),
            clock: Clock::wall(),
            before_write: None,
            progress: Arc::new(|line| tracing::info!("{line}")),
            auto: false,
            notifier: None,
            wait: true,
        }
    }
}

/// What a command did.
#[derive(Debug, Clone, PartialEq)]
pub struct Outcome {
    pub state: RolloutState,
    /// `None` when nothing changed (a tick with nothing due).
    pub entry: Option<HistoryEntry>,
}

pub struct Driver {
    client: kube::Client,
    plan: Plan,
    targets: Targets,
    store: StateStore,
    helm: HelmHandle,
    recorder: Recorder,
    actor: Actor,
    settings: Settings,
    /// The objects as they were before the start under way, so a start
    /// given up leaves the cluster as it found it.
    before_start: std::sync::Mutex<Option<Vec<Kept>>>,
    /// What the checks last held a tick at, so it is said once, not every tick.
    held: std::sync::Mutex<Option<String>>,
}

impl Driver {
    /// A driver for `plan`; `kube_user` is the kubeconfig user acting.
    pub fn new(
        client: kube::Client,
        plan: Plan,
        kube_user: &str,
        audit: Option<AuditLog>,
        settings: Settings,
    ) -> Self {
        let targets = Targets::of(&plan);
        let actor = Actor::current(kube_user);
        let lease = LeaseClient::new(
            client.clone(),
            &plan.namespace,
            &plan.app,
            &actor.identity(),
        );
        Self {
            store: StateStore::new(&targets),
            recorder: Recorder::new(audit, targets.primary()),
            helm: HelmHandle::new(lease),
            client,
            plan,
            targets,
            actor,
            settings,
            before_start: std::sync::Mutex::default(),
            held: std::sync::Mutex::default(),
        }
    }

    /// The same driver acting as someone else (tests; a second cockpit).
    #[must_use]
    pub fn with_actor(mut self, actor: Actor) -> Self {
        let lease = LeaseClient::new(
            self.client.clone(),
            &self.plan.namespace,
            &self.plan.app,
            &actor.identity(),
        );
        self.helm = HelmHandle::new(lease);
        self.actor = actor;
        self
    }

    pub fn plan(&self) -> &Plan {
        &self.plan
    }

    pub fn client(&self) -> &kube::Client {
        &self.client
    }

    pub fn helm(&self) -> &HelmHandle {
        &self.helm
    }

    pub fn actor(&self) -> &Actor {
        &self.actor
    }

    pub fn read_only(&self) -> bool {
        self.settings.read_only
    }

    /// The time on the driver's clock.
    pub fn now(&self) -> DateTime<Utc> {
        self.settings.clock.now()
    }

    /// The ConfigMap the rollout's state is stored in.
    pub fn state_object(&self) -> &rest::Obj {
        self.store.object()
    }

    /// Whether [`Driver::tick`] would have anything to do now, judged on
    /// `state` as last read: a timed stage that is due, or (blue-green) an
    /// old slot whose keep time may be over, which only the Deployments
    /// tell. So a cockpit at rest reads nothing on its tick.
    pub fn tick_due(&self, state: &RolloutState) -> bool {
        if self.settings.read_only || !self.helm.view().is_ours() {
            return false;
        }
        matches!(self.targets.shape, Shape::BlueGreen { .. })
            || step(state, Event::Tick, self.now()).is_ok_and(|t| t.record.is_some())
    }

    /// The rollout as stored on the cluster (a fresh one if none is).
    pub async fn load(&self) -> Result<Loaded, StoreError> {
        self.store.load(&self.client, &self.plan).await
    }

    /// Carries out one command, start to end.
    pub async fn execute(&self, command: Command) -> Result<Outcome, DriveError> {
        self.execute_for(command, None).await
    }

    /// Carries out a way back someone not at the helm asked for, naming
    /// them beside this driver in the record, and clears the request
    /// whatever became of it (a refusal is recorded too), so it is carried
    /// out once.
    pub async fn carry_asked(&self, asked: &Asked) -> Result<Outcome, DriveError> {
        let result = self.execute_for(asked.request(), Some(asked)).await;
        if !matches!(result, Err(DriveError::HelmHeld(_) | DriveError::ReadOnly))
            && let Err(e) = self.store.clear_asked(&self.client, &asked.id).await
        {
            tracing::warn!(error = %e, id = %asked.id, "cannot clear the request carried out");
        }
        result
    }

    /// Stores a way back for the driver at the helm to carry out; the
    /// machine must accept it as the rollout stands, so a request that
    /// would be refused is refused here, before anyone waits for it.
    pub async fn ask(&self, request: &Command) -> Result<Asked, DriveError> {
        if self.settings.read_only {
            return Err(DriveError::ReadOnly);
        }
        let now = self.now();
        let asked = Asked::new(
            request,
            self.actor.clone(),
            now,
            asked::id_for(&self.actor.identity(), chrono::Utc::now()),
        )
        .map_err(|e| Refusal(e.to_string()))?;
        let loaded = self.load().await?;
        if loaded.version.is_none() {
            return Err(Refusal("the rollout has not started".into()).into());
        }
        let probe = Event::Abort {
            mode: match request {
                Command::Abort { mode } => *mode,
                _ => None,
            },
            reason: asked.asker(),
        };
        step(&loaded.rollout.state, probe, now)?;
        self.store.ask(&self.client, &asked).await?;
        // The asker's own line: the holder's says it carried it out, this
        // one that it was asked, from where, and when.
        let state = loaded.rollout.state.describe();
        self.record(Entry {
            result: "asked".into(),
            ..self.entry(
                request.name(),
                &state,
                &state,
                Some(format!("{}; for the driver at the helm", asked.asker())),
                now,
            )
        })
        .await?;
        Ok(asked)
    }

    async fn execute_for(
        &self,
        command: Command,
        asked: Option<&Asked>,
    ) -> Result<Outcome, DriveError> {
        if self.settings.read_only {
            return Err(DriveError::ReadOnly);
        }
        match &command {
            Command::TakeHelm => return self.take_helm().await,
            Command::Freeze { .. } | Command::Unfreeze => {
                return Box::pin(self.freeze_as_command(&command)).await;
            }
            _ => {}
        }
        let helm = self.helm.acquire().await?;
        if !helm.is_ours() {
            return Err(DriveError::HelmHeld(helm));
        }
        if matches!(command, Command::Abort { .. }) {
            preflight::check_way_back(&self.client, &self.plan).await?;
        } else {
            preflight::check(&self.client, &self.plan).await?;
        }
        let loaded = self.load().await?;
        let mut rollout = loaded.rollout.clone();
        let event = match &command {
            Command::Start { image } => {
                if rollout.state.is_finished() || rollout.state.phase == Phase::NotStarted {
                    // A finished rollout stays in the history; the new one
                    // starts afresh, from the plan as it is now.
                    let generation = rollout.state.generation;
                    let freeze = rollout.state.freeze.take();
                    rollout.state = RolloutState::new(&self.plan, self.settings.auto);
                    rollout.state.generation = generation;
                    rollout.state.freeze = freeze;
                }
                Event::Start {
                    image: image.clone(),
                    active_slot: self.active_slot().await,
                }
            }
            Command::Advance => Event::Advance,
            Command::Pause => Event::Pause,
            Command::Resume => Event::Resume,
            Command::PromoteFull => Event::PromoteFull,
            Command::Abort { mode } => Event::Abort {
                mode: *mode,
                reason: match asked {
                    Some(a) => format!("{}, carried out by {}", a.asker(), self.actor.os_user),
                    None => format!("{} by {}", command.name(), self.actor.os_user),
                },
            },
            Command::Retry => {
                rollout.state.course.auto |= self.settings.auto;
                Event::Retry
            }
            Command::Undo { revision } => Event::Undo {
                revision: *revision,
            },
            Command::TakeHelm => return self.take_helm().await,
            Command::Freeze { .. } | Command::Unfreeze => {
                return Box::pin(self.freeze_as_command(&command)).await;
            }
        };
        let now = self.now();
        let transition = match step(&rollout.state, event, now) {
            Ok(t) => t,
            Err(refusal) => {
                let state = rollout.state.describe();
                self.record(Entry {
                    result: "refused".into(),
                    reason: Some(refusal.0.clone()),
                    ..self.entry(command.name(), &state, &state, asked.map(Asked::asker), now)
                })
                .await?;
                return Err(refusal.into());
            }
        };
        if matches!(command, Command::Start { .. } | Command::Retry) {
            let kept = self.keep_before_start().await;
            *self.kept_lock() = Some(kept);
        }
        let started = matches!(command, Command::Start { .. });
        let result = self
            .carry_out_checked(
                rollout,
                loaded.version,
                &loaded.checks,
                transition,
                self.actor.clone(),
                None,
                Some((command.name(), asked)),
            )
            .await
            .map(|outcome| {
                outcome.unwrap_or_else(|| Outcome {
                    state: RolloutState::new(&self.plan, false),
                    entry: None,
                })
            });
        self.kept_lock().take();
        if started && result.is_ok() {
            self.store.keep_plan(&self.client, &self.plan.source).await;
        }
        result
    }

    fn kept_lock(&self) -> std::sync::MutexGuard<'_, Option<Vec<Kept>>> {
        self.before_start
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// What a start may change, as it is now: the plan's Deployments and
    /// (blue-green) its Services. An object that cannot be read is left out;
    /// the start's own first write would fail on it anyway.
    async fn keep_before_start(&self) -> Vec<Kept> {
        let mut objects: Vec<(rest::Obj, &[&str])> = self
            .targets
            .deployments()
            .into_iter()
            .map(|d| (d, &apply::KEPT_OF_DEPLOYMENT[..]))
            .collect();
        if let Shape::BlueGreen {
            active_service,
            preview_service,
            ..
        } = &self.targets.shape
        {
            for service in std::iter::once(active_service).chain(preview_service) {
                objects.push((self.targets.service(service), &apply::KEPT_OF_SERVICE[..]));
            }
        }
        let mut kept = Vec::new();
        for (obj, fields) in objects {
            if let Ok(object) = rest::get(&self.client, &obj).await {
                kept.push(Kept::of(obj, &object, fields));
            }
        }
        kept
    }

    /// Lets time pass: a timed stage that is due moves on, a gradual
    /// rollback takes its next step, a kept blue-green slot whose time is up
    /// is scaled down. Only the helm's holder ticks.
    pub async fn tick(&self) -> Result<Option<Outcome>, DriveError> {
        if self.settings.read_only || !self.helm.view().is_ours() {
            return Ok(None);
        }
        self.scale_down_due().await?;
        let loaded = self.load().await?;
        if loaded.version.is_none() {
            return Ok(None);
        }
        let transition = match step(&loaded.rollout.state, Event::Tick, self.now()) {
            Ok(t) if t.record.is_some() => t,
            _ => return Ok(None),
        };
        self.carry_out_checked(
            loaded.rollout,
            loaded.version,
            &loaded.checks,
            transition,
            self.automatic(),
            None,
            None,
        )
        .await
    }

    /// Acts on what the guards found: an alarm or a stage's verdict, as the
    /// plan and the mode say (see the stage machine). Only the helm's holder
    /// acts. A finding the rollout has moved past (a verdict about a stage
    /// already left, an alarm after the end) changes nothing.
    pub async fn react(&self, event: Event) -> Result<Option<Outcome>, DriveError> {
        if self.settings.read_only || !self.helm.view().is_ours() {
            return Ok(None);
        }
        let loaded = self.load().await?;
        if loaded.version.is_none() {
            return Ok(None);
        }
        let alarm = match &event {
            Event::GuardFired(alarm) => Some(alarm.clone()),
            _ => None,
        };
        let state = &loaded.rollout.state;
        if let (Some(alarm), Some(notifier)) = (&alarm, &self.settings.notifier)
            && (state.stage().is_some() || matches!(state.phase, Phase::RollingBack { .. }))
        {
            notifier.send(
                &Notice::guard_fired(&self.plan.app, &self.plan.namespace, alarm)
                    .at_time(self.now()),
            );
        }
        let transition = match step(state, event, self.now()) {
            Ok(t) if t.record.is_some() => t,
            Ok(_) => return Ok(None),
            Err(refusal) => {
                tracing::debug!(%refusal, "a guard finding changes nothing");
                return Ok(None);
            }
        };
        self.carry_out_checked(
            loaded.rollout,
            loaded.version,
            &loaded.checks,
            transition,
            self.automatic(),
            alarm.as_ref(),
            None,
        )
        .await
    }

    /// [`Driver::carry_out`] behind the gate of the plan's checks. Checks
    /// left open hold the move: a command (`refuse_as`: its name and who
    /// asked) is refused and recorded, time and the guards just wait. A
    /// failed check that rolls back aborts the rollout, naming it.
    #[allow(clippy::too_many_arguments)]
    async fn carry_out_checked(
        &self,
        rollout: StoredRollout,
        since: Option<Version>,
        results: &crate::rollout::checks::Results,
        transition: Transition,
        who: Actor,
        alarm: Option<&Alarm>,
        refuse_as: Option<(&str, Option<&Asked>)>,
    ) -> Result<Option<Outcome>, DriveError> {
        use self::checks::Passage;
        let old = rollout.state.clone();
        let passage = if self.plan.checks.is_empty() {
            Passage::Pass
        } else {
            Box::pin(self.pass_checks(results, &old, &transition.state)).await?
        };
        let described = old.describe();
        let described = &described;
        let refuse = |reason: String| async move {
            let Some((action, asked)) = refuse_as else {
                let mut held = self
                    .held
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner);
                if held.as_deref() != Some(reason.as_str()) {
                    (self.settings.progress)(format!("held: {reason}"));
                    *held = Some(reason);
                }
                return Ok(None);
            };
            self.record(Entry {
                result: "refused".into(),
                reason: Some(reason.clone()),
                ..self.entry(
                    action,
                    described,
                    described,
                    asked.map(Asked::asker),
                    self.now(),
                )
            })
            .await?;
            Err(DriveError::Refused(Refusal(reason)))
        };
        match passage {
            Passage::Pass => {}
            Passage::Hold(reason) => return refuse(reason).await,
            Passage::Rollback(reason) => {
                let abort = Event::Abort {
                    mode: None,
                    reason: reason.clone(),
                };
                let Ok(back) = step(&old, abort, self.now()) else {
                    return refuse(reason).await;
                };
                let since = self.load().await?.version;
                let outcome =
                    Box::pin(self.carry_out(rollout, since, back, self.automatic(), None)).await?;
                Box::pin(self.after_checks(results, &old, &outcome.state, false)).await;
                if refuse_as.is_some() {
                    return refuse(format!("{reason}; the rollout was rolled back")).await;
                }
                return Ok(Some(outcome));
            }
        }
        // Checks run at the gate wrote beside the rollout; a rollout never
        // stored is written against the ConfigMap they created.
        let since = match since {
            Some(v) => Some(v),
            None => self.load().await?.version,
        };
        let started = transition
            .record
            .as_ref()
            .is_some_and(|r| r.action == Command::Start { image: None }.name());
        let outcome = Box::pin(self.carry_out(rollout, since, transition, who, alarm)).await?;
        Box::pin(self.after_checks(results, &old, &outcome.state, started)).await;
        Ok(Some(outcome))
    }

    /// Who acts when time or the guards move the rollout.
    fn automatic(&self) -> Actor {
        Actor {
            os_user: format!("{} (flightdeck auto)", self.actor.os_user),
            ..self.actor.clone()
        }
    }

    async fn take_helm(&self) -> Result<Outcome, DriveError> {
        let before = self.helm.acquire().await?;
        let now = self.now();
        let state = self.load().await?.rollout.state;
        let result = self.helm.take_over().await;
        let after = match &result {
            Ok(v) => v.describe(),
            Err(e) => format!("helm not taken: {e}"),
        };
        let mut entry = self.entry("take-helm", &before.describe(), &after, None, now);
        if let Err(e) = &result {
            entry.result = "failed".into();
            entry.reason = Some(e.to_string());
        }
        self.record(entry).await?;
        result?;
        Ok(Outcome { state, entry: None })
    }

    /// The slot the active Service selects now (blue-green).
    async fn active_slot(&self) -> Option<Slot> {
        let Shape::BlueGreen { active_service, .. } = &self.targets.shape else {
            return None;
        };
        let svc = rest::get(&self.client, &self.targets.service(active_service))
            .await
            .ok()?;
        match service_selector::active(&svc).ok()?.as_str() {
            "blue" => Some(Slot::Blue),
            "green" => Some(Slot::Green),
            _ => None,
        }
    }

    async fn carry_out(
        &self,
        mut rollout: StoredRollout,
        since: Option<Version>,
        transition: Transition,
        who: Actor,
        alarm: Option<&Alarm>,
    ) -> Result<Outcome, DriveError> {
        let now = self.now();
        let old = rollout.state.clone();
        let record = transition.record.clone();
        let action = record
            .as_ref()
            .map_or("tick", |r| r.action.as_str())
            .to_string();
        let progress = self.settings.progress.clone();
        let mut applier = Applier {
            client: &self.client,
            targets: &self.targets,
            slots: transition.state.slots.or(old.slots),
            now,
            landing_timeout: self.settings.landing_timeout,
            clock: &self.settings.clock,
            before_write: self.settings.before_write.as_ref(),
            progress: progress.as_ref(),
            helm: Some(&self.helm),
            wait: true,
            note: Some(apply::LandingNote {
                store: &self.store,
                action: action.clone(),
                by: self.actor.identity(),
                from: old.describe(),
                to: Some(transition.state.clone()),
                rest: Vec::new(),
                written: std::sync::Mutex::new(String::new()),
            }),
        };
        let history_who = history::Actor {
            kube_user: who.kube_user.clone(),
            os_user: who.os_user.clone(),
        };
        let last = transition.effects.len().saturating_sub(1);
        for (i, effect) in transition.effects.iter().enumerate() {
            applier.wait = self.settings.wait || i < last;
            if let Some(note) = applier.note.as_mut() {
                note.rest = transition.effects[i + 1..].to_vec();
            }
            if let Err(source) = applier.apply(effect).await {
                applier.wait = true;
                let promoting = transition.effects[..=i].contains(&Effect::PromoteStable);
                let undone = self.undo_half_way(&applier, &old, promoting).await;
                let reason = source.to_string();
                if let Some(record) = record.clone() {
                    rollout.history.push(HistoryEntry::new(
                        record,
                        history_who.clone(),
                        now,
                        ActionResult::Failed {
                            reason: reason.clone(),
                        },
                    ));
                    if let Err(e) = self
                        .store
                        .save(&self.client, &rollout, since.as_ref())
                        .await
                    {
                        tracing::warn!(error = %e, "cannot store the failed step in the history");
                    }
                }
                let to = record.as_ref().map_or_else(String::new, |r| r.to.clone());
                self.record(Entry {
                    result: "failed".into(),
                    reason: Some(format!(
                        "{effect}: {reason}{}",
                        if undone { "; undone" } else { "" }
                    )),
                    who,
                    ..self.entry(&action, &old.describe(), &to, None, now)
                })
                .await?;
                return Err(DriveError::Apply {
                    action,
                    effect: effect.to_string(),
                    source,
                    undone,
                });
            }
        }
        if let (Some(notifier), Some(record)) = (&self.settings.notifier, &record) {
            for notice in notices::for_transition(&old, &transition.state, record, alarm, now) {
                notifier.send(&notice);
            }
        }
        rollout.state = transition.state;
        let entry = record.map(|r| HistoryEntry::new(r, history_who, now, ActionResult::Done));
        if let Some(e) = &entry {
            rollout.history.push(e.clone());
        }
        self.store
            .save(&self.client, &rollout, since.as_ref())
            .await?;
        if let Some(e) = &entry {
            self.record(Entry {
                who,
                verdict: e.verdict.clone(),
                ..self.entry(&e.action, &e.from, &e.to, e.detail.clone(), now)
            })
            .await?;
        }
        Ok(Outcome {
            state: rollout.state,
            entry,
        })
    }

    /// Records that `action` was given up before it landed, because `by`
    /// came first: in the stored history, the audit file and an Event.
    /// Unless what came first moves the traffic itself (an abort), the
    /// half-done writes are undone so the cluster is where the stored state
    /// says; a promotion's copied template goes back whatever came.
    pub async fn cancelled(&self, action: &str, by: &str, settle: bool) -> Result<(), DriveError> {
        let loaded = self.load().await?;
        let mut rollout = loaded.rollout;
        let now = self.now();
        let state = rollout.state.clone();
        let mut applier = Applier {
            client: &self.client,
            targets: &self.targets,
            slots: state.slots,
            now,
            landing_timeout: self.settings.landing_timeout,
            clock: &self.settings.clock,
            before_write: self.settings.before_write.as_ref(),
            progress: self.settings.progress.as_ref(),
            helm: Some(&self.helm),
            wait: true,
            note: None,
        };
        // The wait given up is over; what it left is settled here.
        if let Err(e) = self.store.set_landing(&self.client, None).await {
            tracing::warn!(error = %e, "cannot clear the landing wait");
        }
        let promoting = action == Command::PromoteFull.name();
        let mut undone = false;
        if settle || promoting {
            // Stable taking its old template back is written, not waited for,
            // when what came first moves the traffic itself: an abort must not
            // wait for a rollout (which may never land) to send users back.
            applier.wait = settle;
            undone = self.undo_half_way(&applier, &state, promoting).await;
            applier.wait = true;
        }
        // A start given up leaves no stage to go back from: what it changed
        // is put back as it found it (templates, replicas, selectors), and
        // stable takes everything again.
        let starting =
            action == Command::Start { image: None }.name() || action == Command::Retry.name();
        let kept = if starting {
            self.kept_lock().take()
        } else {
            None
        };
        for kept in kept.iter().flatten() {
            match applier.restore(kept).await {
                Ok(wrote) => undone |= wrote,
                Err(e) => {
                    tracing::warn!(error = %e, obj = %kept.obj, "cannot put back what the start changed");
                }
            }
        }
        if starting && state.weights.is_none() && matches!(self.targets.shape, Shape::Canary { .. })
        {
            let all_stable = Effect::SetWeights {
                weights: crate::rollout::effects::Weights::ALL_STABLE,
            };
            undone |= applier.apply(&all_stable).await.is_ok();
        }
        let described = state.describe();
        let reason = format!(
            "cancelled before it landed: {by} goes first{}",
            if undone {
                "; its writes were undone"
            } else {
                ""
            }
        );
        if loaded.version.is_some() {
            rollout.history.push(HistoryEntry {
                at: now,
                who: history::Actor {
                    kube_user: self.actor.kube_user.clone(),
                    os_user: self.actor.os_user.clone(),
                },
                action: action.to_string(),
                from: described.clone(),
                to: described.clone(),
                detail: Some(reason.clone()),
                result: ActionResult::Cancelled { by: by.to_string() },
                verdict: None,
            });
            if let Err(e) = self
                .store
                .save(&self.client, &rollout, loaded.version.as_ref())
                .await
            {
                tracing::warn!(error = %e, "cannot store the cancelled step in the history");
            }
        }
        self.record(Entry {
            result: "cancelled".into(),
            reason: Some(reason),
            ..self.entry(action, &described, &described, None, now)
        })
        .await?;
        Ok(())
    }

    /// Settles a wait left by a driver that is gone (see [`pending`]): once
    /// at the helm, the condition is checked once. Landed, with the stored
    /// rollout still where the step began: the step is finished as its
    /// driver would have (the writes it had left are made and waited for)
    /// and stored as done, so what landed is kept, not undone. Otherwise the
    /// step is recorded as cancelled and its half-done writes are undone.
    /// Either way the wait is cleared.
    pub async fn settle(&self, landing: &pending::Landing) -> Result<Option<Outcome>, DriveError> {
        if self.settings.read_only || !self.helm.view().is_ours() {
            return Ok(None);
        }
        let gone = format!("its driver {} was gone", landing.by);
        let landed = self.landed(landing).await;
        let loaded = self.load().await?;
        let to = landing.to.as_deref().filter(|_| {
            landed && loaded.version.is_some() && loaded.rollout.state.describe() == landing.from
        });
        let Some(to) = to else {
            self.cancelled(&landing.action, &gone, true).await?;
            let state = self.load().await?.rollout.state;
            return Ok(Some(Outcome { state, entry: None }));
        };
        let finishing = if landing.rest.is_empty() {
            String::new()
        } else {
            let rest: Vec<String> = landing.rest.iter().map(ToString::to_string).collect();
            format!("; its last writes made here ({})", rest.join(", "))
        };
        let transition = Transition {
            state: to.clone(),
            effects: landing.rest.clone(),
            record: Some(machine::Record {
                action: landing.action.clone(),
                from: landing.from.clone(),
                to: to.describe(),
                detail: Some(format!(
                    "{} landed while {gone}{finishing}; settled by {}",
                    landing.written, self.actor.os_user
                )),
                verdict: None,
            }),
        };
        let outcome = self
            .carry_out(
                loaded.rollout,
                loaded.version,
                transition,
                self.actor.clone(),
                None,
            )
            .await;
        // Made with no wait of its own (nothing left to write), the settled
        // wait is still stored.
        if let Err(e) = self.store.set_landing(&self.client, None).await {
            tracing::warn!(error = %e, "cannot clear the settled landing wait");
        }
        outcome.map(Some)
    }

    /// Whether the condition of `landing` holds on its object now.
    async fn landed(&self, landing: &pending::Landing) -> bool {
        let o = &landing.object;
        let Some(kind) = rest::Kind::of(&o.api_version, &o.kind) else {
            return false;
        };
        let obj = rest::Obj::new(kind, &o.namespace, &o.name);
        let Ok(object) = rest::get(&self.client, &obj).await else {
            return false;
        };
        let routed = match (self.targets.router(), &landing.condition) {
            (Some(router), pending::Condition::Routes { .. }) => {
                let main = match router {
                    crate::rollout::plan::Router::Nginx { .. } => {
                        let objects = targets::router_objects(&self.targets.namespace, router);
                        rest::get(&self.client, &objects[0]).await.ok()
                    }
                    _ => None,
                };
                apply::read_weights(router, main.as_ref(), &object).ok()
            }
            _ => None,
        };
        landing.condition.holds(&object, routed.as_deref())
    }

    /// Records that `action` was given up before it landed because the helm
    /// passed to `by`: the audit line and a Warning Event. The stored
    /// history is left to the new holder, the only one who writes it now.
    pub async fn cancelled_off_helm(&self, action: &str, by: &str) -> Result<(), DriveError> {
        let state = self.load().await?.rollout.state.describe();
        self.record(Entry {
            result: "cancelled".into(),
            reason: Some(format!("cancelled before it landed: {by}")),
            ..self.entry(action, &state, &state, None, self.now())
        })
        .await?;
        Ok(())
    }

    /// Puts the traffic back where the stored state says it is (and, for a
    /// promotion, stable back on its previous template), so a half-done step
    /// does not leave the cluster between two states.
    async fn undo_half_way(
        &self,
        applier: &Applier<'_>,
        old: &RolloutState,
        promoting: bool,
    ) -> bool {
        if promoting && let Err(e) = applier.revert_stable().await {
            tracing::warn!(error = %e, "cannot put stable back after a failed promotion");
            return false;
        }
        let Some(weights) = old.weights else {
            return promoting;
        };
        if !old.course.routed {
            return false;
        }
        match applier.apply(&Effect::SetWeights { weights }).await {
            Ok(()) => true,
            Err(e) => {
                tracing::warn!(error = %e, "cannot undo a half-done step");
                false
            }
        }
    }

    /// Scales down the blue-green slots whose keep time is over, unless the
    /// active Service selects them again.
    async fn scale_down_due(&self) -> Result<(), DriveError> {
        if !matches!(self.targets.shape, Shape::BlueGreen { .. }) {
            return Ok(());
        }
        let active = self.active_slot().await;
        let now = self.now();
        for slot in [Slot::Blue, Slot::Green] {
            let Some(obj) = self.targets.slot(slot) else {
                continue;
            };
            let Ok(d) = rest::get(&self.client, &obj).await else {
                continue;
            };
            let due = d
                .pointer("/metadata/annotations")
                .and_then(|a| a.get(SCALE_DOWN_AT))
                .and_then(serde_json::Value::as_str)
                .and_then(|t| DateTime::parse_from_rfc3339(t).ok())
                .is_some_and(|at| at <= now);
            if !due {
                continue;
            }
            let replicas = if active == Some(slot) { None } else { Some(0) };
            let mut spec = serde_json::json!({"metadata": {"annotations": {SCALE_DOWN_AT: null}}});
            if let Some(r) = replicas {
                spec["spec"] = serde_json::json!({"replicas": r});
            }
            let rv = rest::resource_version(&d).unwrap_or_default().to_string();
            let patch = rest::with_precondition(crate::cluster::routers::Patch::Merge(spec), &rv);
            match rest::patch(&self.client, &obj, &patch).await {
                Ok(_) if replicas.is_some() => {
                    let state = self.load().await?.rollout.state.describe();
                    self.record(self.entry(
                        "scale-down-slot",
                        &state,
                        &state,
                        Some(format!("{obj} scaled to 0 after keep_old_for")),
                        now,
                    ))
                    .await?;
                }
                Ok(_) => {}
                // Someone else moved it on; the next tick looks again.
                Err(e) => tracing::info!(error = %e, %obj, "scale-down deferred"),
            }
        }
        Ok(())
    }

    fn entry(
        &self,
        action: &str,
        from: &str,
        to: &str,
        detail: Option<String>,
        at: DateTime<Utc>,
    ) -> Entry {
        Entry {
            at,
            who: self.actor.clone(),
            app: self.plan.app.clone(),
            namespace: self.plan.namespace.clone(),
            action: action.to_string(),
            from: from.to_string(),
            to: to.to_string(),
            detail,
            result: "done".into(),
            reason: None,
            verdict: None,
        }
    }

    async fn record(&self, entry: Entry) -> Result<(), AuditError> {
        self.recorder.record(&self.client, &entry).await
    }
}
