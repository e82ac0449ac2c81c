//! The simulator's object store: every object of every kind, one resourceVersion
//! counter, and a bounded history of changes that watches resume from.
//!
//! Objects are `serde_json::Value` so that custom kinds (Istio, Gateway API, SMI)
//! need no Rust types; controllers convert to k8s-openapi types where they reason
//! about a kind. Stored objects are immutable `Arc`s: an update swaps the `Arc`, so
//! a list or a watch event costs a pointer copy, not a deep clone.

use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use chrono::{DateTime, SecondsFormat, TimeZone, Utc};
use serde_json::{Value, json};
use tokio::sync::broadcast;

use super::resources::{RESOURCES, Resource, kinds};

/// Changes kept for watches that resume from an older resourceVersion. Older
/// versions answer 410 Gone, and clients re-list, as against a real API server.
pub const DEFAULT_HISTORY: usize = 10_000;
/// Changes a slow watcher may fall behind by before its watch is closed.
const BROADCAST_CAPACITY: usize = 8_192;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChangeKind {
    Added,
    Modified,
    Deleted,
}

impl ChangeKind {
    /// The word a watch stream uses for this change.
    pub fn as_watch_type(self) -> &'static str {
        match self {
            ChangeKind::Added => "ADDED",
            ChangeKind::Modified => "MODIFIED",
            ChangeKind::Deleted => "DELETED",
        }
    }
}

/// One change to one object, as a watch reports it.
#[derive(Debug, Clone)]
pub struct Change {
    pub kind: ChangeKind,
    pub resource: &'static Resource,
    pub namespace: String,
    pub name: String,
    pub resource_version: u64,
    pub object: Arc<Value>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StoreError {
    #[error("{plural}{group_suffix} \"{name}\" not found", group_suffix = dotted(group))]
    NotFound {
        group: &'static str,
        plural: &'static str,
        name: String,
    },
    #[error("{plural}{group_suffix} \"{name}\" already exists", group_suffix = dotted(group))]
    AlreadyExists {
        group: &'static str,
        plural: &'static str,
        name: String,
    },
    #[error(
        "Operation cannot be fulfilled on {plural}{group_suffix} \"{name}\": the object has been modified; please apply your changes to the latest version and try again",
        group_suffix = dotted(group)
    )]
    Conflict {
        group: &'static str,
        plural: &'static str,
        name: String,
    },
    #[error("too old resource version: {requested} ({oldest})")]
    Gone { requested: u64, oldest: u64 },
    #[error("{0}")]
    Invalid(String),
    #[error("{0}")]
    BadRequest(String),
}

fn dotted(group: &str) -> String {
    if group.is_empty() {
        String::new()
    } else {
        format!(".{group}")
    }
}

impl StoreError {
    /// The HTTP status a Kubernetes API server answers with for this error.
    pub fn code(&self) -> u16 {
        match self {
            StoreError::NotFound { .. } => 404,
            StoreError::AlreadyExists { .. } | StoreError::Conflict { .. } => 409,
            StoreError::Gone { .. } => 410,
            StoreError::Invalid(_) => 422,
            StoreError::BadRequest(_) => 400,
        }
    }

    /// The `reason` field of the `metav1.Status` for this error.
    pub fn reason(&self) -> &'static str {
        match self {
            StoreError::NotFound { .. } => "NotFound",
            StoreError::AlreadyExists { .. } => "AlreadyExists",
            StoreError::Conflict { .. } => "Conflict",
            StoreError::Gone { .. } => "Expired",
            StoreError::Invalid(_) => "Invalid",
            StoreError::BadRequest(_) => "BadRequest",
        }
    }
}

type Key = (String, String);

/// An object named by an owner reference: its kind (an index into
/// [`RESOURCES`]), namespace and name. Ordered as the garbage collector
/// visits them: by kind, then namespace, then name.
type Dependent = (usize, String, String);

struct State {
    resource_version: u64,
    objects: HashMap<(&'static str, &'static str), BTreeMap<Key, Arc<Value>>>,
    /// Every object by the uid of each owner its `ownerReferences` name, so
    /// that a delete finds what it takes with it, and a controller its pods,
    /// without reading every object in the store.
    dependents: HashMap<String, BTreeSet<Dependent>>,
    history: VecDeque<Arc<Change>>,
    history_capacity: usize,
    /// The oldest resourceVersion a watch may still resume from.
    oldest_resumable: u64,
    uid_counter: u64,
    name_counter: u64,
}

/// A watch opened on the store: what happened since the requested version, then
/// the live feed. Nothing is lost between the two: both are taken under one lock.
pub struct WatchStart {
    pub backlog: Vec<Arc<Change>>,
    pub live: broadcast::Receiver<Arc<Change>>,
}

/// A list and a live feed taken at the same instant (a watch with no version).
pub struct SnapshotStart {
    pub objects: Vec<Arc<Value>>,
    pub resource_version: u64,
    pub live: broadcast::Receiver<Arc<Change>>,
}

pub struct Store {
    state: Mutex<State>,
    changes: broadcast::Sender<Arc<Change>>,
    /// Simulated time in milliseconds since the Unix epoch; the world loop moves it.
    now_ms: AtomicI64,
    seed: u64,
}

impl Store {
    pub fn new(seed: u64, start: DateTime<Utc>) -> Self {
        Self::with_history(seed, start, DEFAULT_HISTORY)
    }

    pub fn with_history(seed: u64, start: DateTime<Utc>, history_capacity: usize) -> Self {
        let (changes, _) = broadcast::channel(BROADCAST_CAPACITY);
        Self {
            state: Mutex::new(State {
                resource_version: 1,
                objects: HashMap::new(),
                dependents: HashMap::new(),
                history: VecDeque::new(),
                history_capacity: history_capacity.max(1),
                oldest_resumable: 1,
                uid_counter: 0,
                name_counter: 0,
            }),
            changes,
            now_ms: AtomicI64::new(start.timestamp_millis()),
            seed,
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // A panic while holding the lock leaves the maps consistent (every mutation
        // is a single insert or remove), so a poisoned lock is safe to keep using.
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The simulated clock.
    pub fn now(&self) -> DateTime<Utc> {
        Utc.timestamp_millis_opt(self.now_ms.load(Ordering::Relaxed))
            .single()
            .unwrap_or_default()
    }

    /// The simulated clock as Kubernetes writes timestamps (RFC 3339, seconds).
    pub fn now_rfc3339(&self) -> String {
        self.now().to_rfc3339_opts(SecondsFormat::Secs, true)
    }

    pub fn set_now(&self, now: DateTime<Utc>) {
        self.now_ms.store(now.timestamp_millis(), Ordering::Relaxed);
    }

    pub fn seed(&self) -> u64 {
        self.seed
    }

    pub fn current_resource_version(&self) -> u64 {
        self.lock().resource_version
    }

    /// Forgets the change history, so that any watch resuming from an older
    /// version gets 410 Gone. Used by fault injection and by tests.
    pub fn compact(&self) {
        let mut st = self.lock();
        st.history.clear();
        st.oldest_resumable = st.resource_version;
    }

    pub fn get(&self, res: &Resource, namespace: &str, name: &str) -> Option<Arc<Value>> {
        let st = self.lock();
        st.objects
            .get(&(res.group, res.plural))
            .and_then(|m| m.get(&(scope(res, namespace), name.to_string())))
            .cloned()
    }

    /// Objects of a kind, in one namespace or all (`None`), ordered by namespace
    /// then name, with the resourceVersion the list was taken at.
    pub fn list(&self, res: &Resource, namespace: Option<&str>) -> (Vec<Arc<Value>>, u64) {
        let st = self.lock();
        (list_locked(&st, res, namespace), st.resource_version)
    }

    /// Objects of a kind in one namespace whose names start with `prefix`, in
    /// name order; costs the matches, not the namespace.
    pub fn list_prefixed(&self, res: &Resource, namespace: &str, prefix: &str) -> Vec<Arc<Value>> {
        let st = self.lock();
        let Some(map) = st.objects.get(&(res.group, res.plural)) else {
            return Vec::new();
        };
        let ns = scope(res, namespace);
        map.range((ns.clone(), prefix.to_string())..)
            .take_while(|((n, name), _)| *n == ns && name.starts_with(prefix))
            .map(|(_, v)| v.clone())
            .collect()
    }

    /// Objects of a kind that name `owner_uid` in their `ownerReferences`,
    /// ordered by namespace then name; costs the dependents, not the kind.
    pub fn dependents(&self, res: &Resource, owner_uid: &str) -> Vec<Arc<Value>> {
        let st = self.lock();
        let Some(kind) = resource_index(res) else {
            return Vec::new();
        };
        st.dependents
            .get(owner_uid)
            .into_iter()
            .flatten()
            .filter(|(i, _, _)| *i == kind)
            .filter_map(|(_, ns, n)| get_locked(&st, res, ns, n))
            .collect()
    }

    pub fn create(
        &self,
        res: &'static Resource,
        namespace: &str,
        mut object: Value,
    ) -> Result<Arc<Value>, StoreError> {
        if !object.is_object() {
            return Err(StoreError::BadRequest(
                "the body of the request was not a JSON object".into(),
            ));
        }
        let mut st = self.lock();
        let ns = scope(res, namespace);
        if res.namespaced {
            if ns.is_empty() {
                return Err(StoreError::BadRequest(
                    "the namespace of the object must be set".into(),
                ));
            }
            let namespaces = kinds::namespaces();
            let exists = st
                .objects
                .get(&(namespaces.group, namespaces.plural))
                .is_some_and(|m| m.contains_key(&(String::new(), ns.clone())));
            if !exists {
                return Err(StoreError::NotFound {
                    group: namespaces.group,
                    plural: namespaces.plural,
                    name: ns,
                });
            }
        }
        let name = match meta_str(&object, "name") {
            Some(n) if !n.is_empty() => n.to_string(),
            _ => match meta_str(&object, "generateName") {
                Some(prefix) if !prefix.is_empty() => {
                    st.name_counter += 1;
                    format!("{prefix}{}", name_suffix(self.seed, st.name_counter))
                }
                _ => {
                    return Err(StoreError::Invalid(format!(
                        "{} \"\" is invalid: metadata.name: Required value: name or generateName is required",
                        res.kind
                    )));
                }
            },
        };
        validate_name(res, &name)?;
        if let Some(given) = meta_str(&object, "namespace")
            && res.namespaced
            && !given.is_empty()
            && given != ns
        {
            return Err(StoreError::BadRequest(format!(
                "the namespace of the provided object ({given}) does not match the namespace sent on the request ({ns})"
            )));
        }
        let key = (ns.clone(), name.clone());
        if st
            .objects
            .get(&(res.group, res.plural))
            .is_some_and(|m| m.contains_key(&key))
        {
            return Err(StoreError::AlreadyExists {
                group: res.group,
                plural: res.plural,
                name,
            });
        }
        st.uid_counter += 1;
        let uid = make_uid(self.seed, st.uid_counter);
        let now = self.now_rfc3339();
        st.resource_version += 1;
        let rv = st.resource_version;
        {
            let api_version = object
                .get("apiVersion")
                .and_then(Value::as_str)
                .filter(|v| super::resources::group_of(v) == res.group)
                .map_or_else(|| res.api_version(res.preferred_version()), str::to_string);
            let obj = object.as_object_mut().ok_or_else(|| {
                StoreError::BadRequest("the body of the request was not a JSON object".into())
            })?;
            obj.insert("apiVersion".into(), Value::String(api_version));
            obj.insert("kind".into(), Value::String(res.kind.to_string()));
            let meta = obj
                .entry("metadata")
                .or_insert_with(|| json!({}))
                .as_object_mut()
                .ok_or_else(|| StoreError::BadRequest("metadata must be an object".into()))?;
            meta.insert("name".into(), Value::String(name.clone()));
            if res.namespaced {
                meta.insert("namespace".into(), Value::String(ns.clone()));
            } else {
                meta.remove("namespace");
            }
            meta.insert("uid".into(), Value::String(uid));
            meta.insert("resourceVersion".into(), Value::String(rv.to_string()));
            meta.insert("creationTimestamp".into(), Value::String(now));
            if has_spec_generation(res) {
                meta.insert("generation".into(), json!(1));
            }
        }
        let object = Arc::new(object);
        index_owners(&mut st, res, &ns, &name, None, Some(object.as_ref()));
        st.objects
            .entry((res.group, res.plural))
            .or_default()
            .insert(key, object.clone());
        self.record(
            &mut st,
            ChangeKind::Added,
            res,
            &ns,
            &name,
            rv,
            object.clone(),
        );
        Ok(object)
    }

    /// A client's update (PUT). A resourceVersion in the body must match the stored
    /// one, or the update is refused with 409 Conflict. With `subresource` set to
    /// `status` only the status is taken from the body; otherwise the status is
    /// kept, as for every kind with a status subresource.
    pub fn update(
        &self,
        res: &'static Resource,
        namespace: &str,
        name: &str,
        object: Value,
        subresource: Option<&str>,
    ) -> Result<Arc<Value>, StoreError> {
        if !object.is_object() {
            return Err(StoreError::BadRequest(
                "the body of the request was not a JSON object".into(),
            ));
        }
        if let Some(body_name) = meta_str(&object, "name")
            && body_name != name
        {
            return Err(StoreError::BadRequest(format!(
                "the name of the object ({body_name}) does not match the name on the URL ({name})"
            )));
        }
        let mut st = self.lock();
        let ns = scope(res, namespace);
        let current = get_locked(&st, res, &ns, name).ok_or_else(|| StoreError::NotFound {
            group: res.group,
            plural: res.plural,
            name: name.to_string(),
        })?;
        if let Some(rv) = meta_str(&object, "resourceVersion")
            && !rv.is_empty()
            && Some(rv) != meta_str(&current, "resourceVersion")
        {
            return Err(StoreError::Conflict {
                group: res.group,
                plural: res.plural,
                name: name.to_string(),
            });
        }
        let mut next = if subresource == Some("status") {
            let mut next = (*current).clone();
            if let (Some(obj), Some(status)) = (next.as_object_mut(), object.get("status")) {
                obj.insert("status".into(), status.clone());
            }
            next
        } else {
            let mut next = object;
            carry_server_fields(&current, &mut next, res);
            next
        };
        if let Some(obj) = next.as_object_mut() {
            obj.insert(
                "apiVersion".into(),
                current.get("apiVersion").cloned().unwrap_or(Value::Null),
            );
            obj.insert("kind".into(), Value::String(res.kind.to_string()));
        }
        Ok(self.commit_update(&mut st, res, &ns, name, &current, next))
    }

    /// Server-side read-modify-write, for controllers and for patches: `edit`
    /// sees the stored object and may change anything, status included. An edit
    /// that changes nothing writes nothing, so controllers can reconcile freely.
    pub fn modify<E>(
        &self,
        res: &'static Resource,
        namespace: &str,
        name: &str,
        edit: impl FnOnce(&mut Value) -> Result<(), E>,
    ) -> Result<Arc<Value>, ModifyError<E>> {
        let mut st = self.lock();
        let ns = scope(res, namespace);
        let current = get_locked(&st, res, &ns, name).ok_or_else(|| {
            ModifyError::Store(StoreError::NotFound {
                group: res.group,
                plural: res.plural,
                name: name.to_string(),
            })
        })?;
        let mut next = (*current).clone();
        edit(&mut next).map_err(ModifyError::Edit)?;
        // Identity fields are the server's: an edit cannot move or rename an object.
        for field in ["name", "namespace", "uid", "creationTimestamp"] {
            if let Some(v) = current.pointer(&format!("/metadata/{field}")) {
                set_meta(&mut next, field, v.clone());
            }
        }
        Ok(self.commit_update(&mut st, res, &ns, name, &current, next))
    }

    fn commit_update(
        &self,
        st: &mut State,
        res: &'static Resource,
        ns: &str,
        name: &str,
        current: &Arc<Value>,
        mut next: Value,
    ) -> Arc<Value> {
        let current_rv = current
            .pointer("/metadata/resourceVersion")
            .cloned()
            .unwrap_or(Value::Null);
        set_meta(&mut next, "resourceVersion", current_rv);
        if let Some(generation) = current.pointer("/metadata/generation").cloned() {
            set_meta(&mut next, "generation", generation);
        }
        if next == **current {
            return current.clone();
        }
        if has_spec_generation(res) && next.get("spec") != current.get("spec") {
            let generation = current
                .pointer("/metadata/generation")
                .and_then(Value::as_i64)
                .unwrap_or(0);
            set_meta(&mut next, "generation", json!(generation + 1));
        }
        st.resource_version += 1;
        let rv = st.resource_version;
        set_meta(&mut next, "resourceVersion", Value::String(rv.to_string()));
        let object = Arc::new(next);
        index_owners(
            st,
            res,
            ns,
            name,
            Some(current.as_ref()),
            Some(object.as_ref()),
        );
        st.objects
            .entry((res.group, res.plural))
            .or_default()
            .insert((ns.to_string(), name.to_string()), object.clone());
        self.record(st, ChangeKind::Modified, res, ns, name, rv, object.clone());
        object
    }

    /// Deletes an object, then everything it owns (and, for a namespace,
    /// everything in it), as the garbage collector would.
    pub fn delete(
        &self,
        res: &'static Resource,
        namespace: &str,
        name: &str,
    ) -> Result<Arc<Value>, StoreError> {
        let mut st = self.lock();
        let ns = scope(res, namespace);
        let removed = self.delete_locked(&mut st, res, &ns, name)?;
        let mut owners: Vec<String> = vec![meta_str(&removed, "uid").unwrap_or("").to_string()];
        if std::ptr::eq(res, kinds::namespaces()) {
            let doomed: Vec<(&'static Resource, String, String)> = super::resources::RESOURCES
                .iter()
                .filter(|r| r.namespaced && !r.read_only)
                .flat_map(|r| {
                    list_locked(&st, r, Some(name))
                        .into_iter()
                        .filter_map(move |o| {
                            meta_str(&o, "name").map(|n| (r, name.to_string(), n.to_string()))
                        })
                })
                .collect();
            for (r, ns, n) in doomed {
                let _ = self.delete_locked(&mut st, r, &ns, &n);
            }
        }
        while let Some(owner) = owners.pop() {
            if owner.is_empty() {
                continue;
            }
            let dependents: Vec<(&'static Resource, String, String, String)> = st
                .dependents
                .get(&owner)
                .into_iter()
                .flatten()
                .filter_map(|(i, ns, n)| {
                    let r = RESOURCES.get(*i).filter(|r| !r.read_only)?;
                    let o = get_locked(&st, r, ns, n)?;
                    let uid = meta_str(&o, "uid").unwrap_or("").to_string();
                    Some((r, ns.clone(), n.clone(), uid))
                })
                .collect();
            for (r, ns, n, uid) in dependents {
                if self.delete_locked(&mut st, r, &ns, &n).is_ok() {
                    owners.push(uid);
                }
            }
        }
        Ok(removed)
    }

    fn delete_locked(
        &self,
        st: &mut State,
        res: &'static Resource,
        ns: &str,
        name: &str,
    ) -> Result<Arc<Value>, StoreError> {
        let removed = st
            .objects
            .get_mut(&(res.group, res.plural))
            .and_then(|m| m.remove(&(ns.to_string(), name.to_string())))
            .ok_or_else(|| StoreError::NotFound {
                group: res.group,
                plural: res.plural,
                name: name.to_string(),
            })?;
        index_owners(st, res, ns, name, Some(removed.as_ref()), None);
        st.resource_version += 1;
        let rv = st.resource_version;
        let mut gone = (*removed).clone();
        set_meta(&mut gone, "resourceVersion", Value::String(rv.to_string()));
        self.record(st, ChangeKind::Deleted, res, ns, name, rv, Arc::new(gone));
        Ok(removed)
    }

    /// Opens a watch from `since`: the changes after it, then the live feed.
    /// Versions older than the kept history answer [`StoreError::Gone`].
    pub fn watch_from(&self, since: u64) -> Result<WatchStart, StoreError> {
        let st = self.lock();
        if since < st.oldest_resumable {
            return Err(StoreError::Gone {
                requested: since,
                oldest: st.oldest_resumable,
            });
        }
        let backlog = st
            .history
            .iter()
            .filter(|c| c.resource_version > since)
            .cloned()
            .collect();
        Ok(WatchStart {
            backlog,
            live: self.changes.subscribe(),
        })
    }

    /// Lists a kind and opens the live feed at the same instant, for watches that
    /// start with no version (the API sends the list as synthetic ADDED events).
    pub fn snapshot(&self, res: &Resource, namespace: Option<&str>) -> SnapshotStart {
        let st = self.lock();
        SnapshotStart {
            objects: list_locked(&st, res, namespace),
            resource_version: st.resource_version,
            live: self.changes.subscribe(),
        }
    }

    /// A live feed of every change from now on.
    pub fn subscribe(&self) -> broadcast::Receiver<Arc<Change>> {
        self.changes.subscribe()
    }

    #[allow(clippy::too_many_arguments)]
    fn record(
        &self,
        st: &mut State,
        kind: ChangeKind,
        res: &'static Resource,
        ns: &str,
        name: &str,
        rv: u64,
        object: Arc<Value>,
    ) {
        let change = Arc::new(Change {
            kind,
            resource: res,
            namespace: ns.to_string(),
            name: name.to_string(),
            resource_version: rv,
            object,
        });
        st.history.push_back(change.clone());
        while st.history.len() > st.history_capacity {
            if let Some(dropped) = st.history.pop_front() {
                st.oldest_resumable = dropped.resource_version;
            }
        }
        // Sent under the lock so that every receiver sees changes in version order
        // and a new watch's backlog and live feed neither overlap nor leave a gap.
        let _ = self.changes.send(change);
    }
}

/// The failure of a [`Store::modify`]: the store's, or the edit's own.
#[derive(Debug, thiserror::Error)]
pub enum ModifyError<E> {
    #[error(transparent)]
    Store(StoreError),
    #[error("{0}")]
    Edit(E),
}

fn scope(res: &Resource, namespace: &str) -> String {
    if res.namespaced {
        namespace.to_string()
    } else {
        String::new()
    }
}

fn get_locked(st: &State, res: &Resource, ns: &str, name: &str) -> Option<Arc<Value>> {
    st.objects
        .get(&(res.group, res.plural))
        .and_then(|m| m.get(&(ns.to_string(), name.to_string())))
        .cloned()
}

fn list_locked(st: &State, res: &Resource, namespace: Option<&str>) -> Vec<Arc<Value>> {
    let Some(map) = st.objects.get(&(res.group, res.plural)) else {
        return Vec::new();
    };
    match namespace.filter(|_| res.namespaced) {
        Some(ns) => map
            .range((ns.to_string(), String::new())..)
            .take_while(|((n, _), _)| n == ns)
            .map(|(_, v)| v.clone())
            .collect(),
        None => map.values().cloned().collect(),
    }
}

/// Reads a string field of `metadata`.
pub fn meta_str<'a>(object: &'a Value, field: &str) -> Option<&'a str> {
    object.get("metadata")?.get(field)?.as_str()
}

fn set_meta(object: &mut Value, field: &str, value: Value) {
    if let Some(obj) = object.as_object_mut() {
        let meta = obj.entry("metadata").or_insert_with(|| json!({}));
        if let Some(meta) = meta.as_object_mut() {
            meta.insert(field.to_string(), value);
        }
    }
}

/// The uids an object's `ownerReferences` name.
fn owner_uids(object: &Value) -> BTreeSet<&str> {
    object
        .get("metadata")
        .and_then(|m| m.get("ownerReferences"))
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|r| r.get("uid").and_then(Value::as_str))
        .collect()
}

fn resource_index(res: &Resource) -> Option<usize> {
    RESOURCES
        .iter()
        .position(|r| r.group == res.group && r.plural == res.plural)
}

/// Moves an object's entries in the owner index from what `before` named to
/// what `after` names (`None`: the object did not exist, or no longer does).
fn index_owners(
    st: &mut State,
    res: &Resource,
    ns: &str,
    name: &str,
    before: Option<&Value>,
    after: Option<&Value>,
) {
    let old = before.map(owner_uids).unwrap_or_default();
    let new = after.map(owner_uids).unwrap_or_default();
    if old == new {
        return;
    }
    let Some(kind) = resource_index(res) else {
        return;
    };
    let entry = || (kind, ns.to_string(), name.to_string());
    for gone in old.difference(&new) {
        if let Some(set) = st.dependents.get_mut(*gone) {
            set.remove(&entry());
            if set.is_empty() {
                st.dependents.remove(*gone);
            }
        }
    }
    for added in new.difference(&old) {
        st.dependents
            .entry((*added).to_string())
            .or_default()
            .insert(entry());
    }
}

/// Kinds whose `metadata.generation` counts spec changes (what controllers and
/// `observedGeneration` are measured against).
fn has_spec_generation(res: &Resource) -> bool {
    matches!(
        (res.group, res.plural),
        (
            "apps"
                | "networking.istio.io"
                | "gateway.networking.k8s.io"
                | "split.smi-spec.io"
                | "argoproj.io"
                | "flagger.app",
            _
        ) | ("networking.k8s.io", "ingresses")
    )
}

/// Keeps what the server owns when a client replaces an object: identity,
/// creation time, and the status (which only the status subresource may change).
fn carry_server_fields(current: &Value, next: &mut Value, res: &Resource) {
    for field in ["uid", "creationTimestamp", "namespace", "name"] {
        if let Some(v) = current.pointer(&format!("/metadata/{field}")) {
            set_meta(next, field, v.clone());
        }
    }
    if res.subresources.contains(&"status")
        && let Some(obj) = next.as_object_mut()
    {
        match current.get("status") {
            Some(status) => {
                obj.insert("status".into(), status.clone());
            }
            None => {
                obj.remove("status");
            }
        }
    }
}

/// DNS-1123 subdomain names, as the API server validates them.
fn validate_name(res: &Resource, name: &str) -> Result<(), StoreError> {
    let ok = !name.is_empty()
        && name.len() <= 253
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'.')
        && name
            .bytes()
            .next()
            .is_some_and(|b| b.is_ascii_alphanumeric())
        && name
            .bytes()
            .last()
            .is_some_and(|b| b.is_ascii_alphanumeric());
    if ok {
        Ok(())
    } else {
        Err(StoreError::Invalid(format!(
            "{} \"{name}\" is invalid: metadata.name: Invalid value: \"{name}\": a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character",
            res.kind
        )))
    }
}

/// A 64-bit mix (splitmix64), so that uids and generated names depend only on
/// the seed and the order of creation.
pub fn mix(seed: u64, n: u64) -> u64 {
    let mut z = seed ^ n.wrapping_mul(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

fn make_uid(seed: u64, n: u64) -> String {
    let a = mix(seed, n);
    let b = mix(seed ^ 0xA5A5_A5A5, n);
    format!(
        "{:08x}-{:04x}-4{:03x}-{:04x}-{:012x}",
        a >> 32,
        (a >> 16) & 0xffff,
        a & 0xfff,
        0x8000 | ((b >> 48) & 0x3fff),
        b & 0xffff_ffff_ffff
    )
}

/// The five-character suffix Kubernetes appends to `generateName`, drawn from
/// the same alphabet (no vowels, no look-alike digits).
pub fn name_suffix(seed: u64, n: u64) -> String {
    const ALPHABET: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";
    let mut x = mix(seed.rotate_left(17), n);
    (0..5)
        .map(|_| {
            let c = ALPHABET[(x % ALPHABET.len() as u64) as usize] as char;
            x /= ALPHABET.len() as u64;
            c
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn store() -> Store {
        let s = Store::with_history(7, Utc.timestamp_opt(1_700_000_000, 0).unwrap(), 4);
        s.create(
            kinds::namespaces(),
            "",
            json!({"metadata": {"name": "shop"}}),
        )
        .unwrap();
        s
    }

    fn cm(name: &str) -> Value {
        json!({"metadata": {"name": name}, "data": {"k": "v"}})
    }

    #[test]
    fn create_fills_server_fields() {
        let s = store();
        let o = s.create(kinds::configmaps(), "shop", cm("a")).unwrap();
        assert_eq!(o["apiVersion"], "v1");
        assert_eq!(o["kind"], "ConfigMap");
        assert_eq!(o["metadata"]["namespace"], "shop");
        assert_eq!(o["metadata"]["creationTimestamp"], "2023-11-14T22:13:20Z");
        assert!(meta_str(&o, "uid").is_some_and(|u| u.len() == 36));
        assert_eq!(
            s.create(kinds::configmaps(), "shop", cm("a"))
                .unwrap_err()
                .code(),
            409
        );
    }

    #[test]
    fn create_in_missing_namespace_is_not_found() {
        let s = store();
        let err = s.create(kinds::configmaps(), "nope", cm("a")).unwrap_err();
        assert_eq!(err.to_string(), "namespaces \"nope\" not found");
    }

    #[test]
    fn generate_name_is_deterministic() {
        let a = store();
        let b = store();
        let obj = json!({"metadata": {"generateName": "web-"}});
        let na = a.create(kinds::configmaps(), "shop", obj.clone()).unwrap();
        let nb = b.create(kinds::configmaps(), "shop", obj).unwrap();
        assert_eq!(na["metadata"]["name"], nb["metadata"]["name"]);
        assert_eq!(meta_str(&na, "name").map(str::len), Some(9));
    }

    #[test]
    fn stale_update_conflicts() {
        let s = store();
        let o = s.create(kinds::configmaps(), "shop", cm("a")).unwrap();
        let mut first = (*o).clone();
        first["data"]["k"] = json!("w");
        s.update(kinds::configmaps(), "shop", "a", first, None)
            .unwrap();
        let mut stale = (*o).clone();
        stale["data"]["k"] = json!("x");
        let err = s
            .update(kinds::configmaps(), "shop", "a", stale, None)
            .unwrap_err();
        assert_eq!(err.code(), 409);
        assert_eq!(
            s.get(kinds::configmaps(), "shop", "a").unwrap()["data"]["k"],
            "w"
        );
    }

    #[test]
    fn noop_modify_writes_nothing() {
        let s = store();
        s.create(kinds::configmaps(), "shop", cm("a")).unwrap();
        let before = s.current_resource_version();
        s.modify::<()>(kinds::configmaps(), "shop", "a", |_| Ok(()))
            .unwrap();
        assert_eq!(s.current_resource_version(), before);
    }

    #[test]
    fn spec_change_bumps_generation_status_does_not() {
        let s = store();
        let d = json!({"metadata": {"name": "web"}, "spec": {"replicas": 1}});
        s.create(kinds::deployments(), "shop", d).unwrap();
        let o = s
            .modify::<()>(kinds::deployments(), "shop", "web", |o| {
                o["status"] = json!({"replicas": 1});
                Ok(())
            })
            .unwrap();
        assert_eq!(o["metadata"]["generation"], 1);
        let o = s
            .modify::<()>(kinds::deployments(), "shop", "web", |o| {
                o["spec"]["replicas"] = json!(3);
                Ok(())
            })
            .unwrap();
        assert_eq!(o["metadata"]["generation"], 2);
    }

    #[test]
    fn delete_cascades_to_owned_objects() {
        let s = store();
        let owner = s
            .create(
                kinds::deployments(),
                "shop",
                json!({"metadata": {"name": "web"}, "spec": {}}),
            )
            .unwrap();
        let uid = meta_str(&owner, "uid").unwrap().to_string();
        let rs = s
            .create(
                kinds::replicasets(),
                "shop",
                json!({"metadata": {"name": "web-1", "ownerReferences": [{"uid": uid, "kind": "Deployment", "name": "web"}]}}),
            )
            .unwrap();
        let rs_uid = meta_str(&rs, "uid").unwrap().to_string();
        s.create(
            kinds::pods(),
            "shop",
            json!({"metadata": {"name": "web-1-x", "ownerReferences": [{"uid": rs_uid, "kind": "ReplicaSet", "name": "web-1"}]}}),
        )
        .unwrap();
        s.delete(kinds::deployments(), "shop", "web").unwrap();
        assert!(s.get(kinds::replicasets(), "shop", "web-1").is_none());
        assert!(s.get(kinds::pods(), "shop", "web-1-x").is_none());
    }

    #[test]
    fn watch_resumes_or_answers_gone() {
        let s = store();
        let start = s.current_resource_version();
        s.create(kinds::configmaps(), "shop", cm("a")).unwrap();
        s.create(kinds::configmaps(), "shop", cm("b")).unwrap();
        let w = s.watch_from(start).unwrap();
        let names: Vec<_> = w.backlog.iter().map(|c| c.name.clone()).collect();
        assert_eq!(names, ["a", "b"]);
        for n in ["c", "d", "e", "f"] {
            s.create(kinds::configmaps(), "shop", cm(n)).unwrap();
        }
        assert_eq!(s.watch_from(start).err().map(|e| e.code()), Some(410));
    }

    #[test]
    fn list_is_scoped_by_namespace() {
        let s = store();
        s.create(
            kinds::namespaces(),
            "",
            json!({"metadata": {"name": "other"}}),
        )
        .unwrap();
        s.create(kinds::configmaps(), "shop", cm("a")).unwrap();
        s.create(kinds::configmaps(), "other", cm("b")).unwrap();
        assert_eq!(s.list(kinds::configmaps(), Some("shop")).0.len(), 1);
        assert_eq!(s.list(kinds::configmaps(), None).0.len(), 2);
    }

    #[test]
    fn invalid_names_are_refused() {
        let s = store();
        let err = s
            .create(kinds::configmaps(), "shop", cm("Bad_Name"))
            .unwrap_err();
        assert_eq!(err.code(), 422);
    }
}
