//! Reading a cluster's rollout objects once, with lists: what
//! `flightdeck list` does (the fleet view watches instead).

use std::sync::Arc;

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{ConfigMap, Pod};
use kube::api::{ApiResource, DynamicObject, ListParams};
use kube::{Api, Client};

use super::{Objects, argo, flagger, flightdeck};

/// Which namespaces are read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Scope {
    Namespace(String),
    All,
}

#[derive(Debug, thiserror::Error)]
#[error("cannot list {what}: {source}")]
pub struct ReadError {
    pub what: &'static str,
    #[source]
    pub source: kube::Error,
}

fn api<K>(client: &Client, scope: &Scope) -> Api<K>
where
    K: kube::Resource<Scope = k8s_openapi::NamespaceResourceScope>,
    K::DynamicType: Default,
{
    match scope {
        Scope::Namespace(ns) => Api::namespaced(client.clone(), ns),
        Scope::All => Api::all(client.clone()),
    }
}

pub fn dynamic_api(client: &Client, scope: &Scope, resource: &ApiResource) -> Api<DynamicObject> {
    match scope {
        Scope::Namespace(ns) => Api::namespaced_with(client.clone(), ns, resource),
        Scope::All => Api::all_with(client.clone(), resource),
    }
}

/// Whether an error means the kind is not served here (its controller is
/// not installed), which is no failure: the cluster simply has none.
pub fn not_served(e: &kube::Error) -> bool {
    matches!(e, kube::Error::Api(s) if s.code == 404)
}

/// A kind left out of a cluster's rows, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Skipped {
    /// `plural.group`, as RBAC names it.
    pub what: &'static str,
    pub why: SkipReason,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SkipReason {
    /// The kind is not served: its controller is not installed.
    NotServed,
    /// RBAC refuses the list; the API server's message.
    Forbidden(String),
}

impl SkipReason {
    pub fn word(&self) -> &'static str {
        match self {
            SkipReason::NotServed => "not served",
            SkipReason::Forbidden(_) => "forbidden",
        }
    }
}

async fn list<K>(
    api: Api<K>,
    params: &ListParams,
    what: &'static str,
) -> Result<Vec<Arc<K>>, ReadError>
where
    K: Clone + serde::de::DeserializeOwned + std::fmt::Debug,
{
    api.list(params)
        .await
        .map(|l| l.items.into_iter().map(Arc::new).collect())
        .map_err(|source| ReadError { what, source })
}

/// A Rollout or Canary kind's objects. One the cluster does not serve, or
/// that RBAC does not let us list, is skipped rather than failing the
/// cluster: its other rows still stand.
async fn list_crd(
    client: &Client,
    scope: &Scope,
    resource: &ApiResource,
    what: &'static str,
) -> Result<(Vec<Arc<DynamicObject>>, Option<Skipped>), ReadError> {
    match dynamic_api(client, scope, resource)
        .list(&ListParams::default())
        .await
    {
        Ok(l) => Ok((l.items.into_iter().map(Arc::new).collect(), None)),
        Err(e) if not_served(&e) => Ok((
            Vec::new(),
            Some(Skipped {
                what,
                why: SkipReason::NotServed,
            }),
        )),
        Err(kube::Error::Api(s)) if s.code == 403 => Ok((
            Vec::new(),
            Some(Skipped {
                what,
                why: SkipReason::Forbidden(s.message),
            }),
        )),
        Err(source) => Err(ReadError { what, source }),
    }
}

/// Every object the fleet's rows are made of, listed once, and the kinds
/// skipped.
pub async fn objects(client: &Client, scope: &Scope) -> Result<(Objects, Vec<Skipped>), ReadError> {
    let all = ListParams::default();
    let managed = ListParams::default().labels(flightdeck::LABEL_SELECTOR);
    let (configmaps, deployments, pods) = tokio::try_join!(
        list(api::<ConfigMap>(client, scope), &managed, "configmaps"),
        list(api::<Deployment>(client, scope), &all, "deployments"),
        list(api::<Pod>(client, scope), &all, "pods"),
    )?;
    let (rollout, run, canary) = (argo::rollouts(), argo::analysis_runs(), flagger::canaries());
    let ((rollouts, a), (analysis_runs, b), (canaries, c)) = tokio::try_join!(
        list_crd(client, scope, &rollout, "rollouts.argoproj.io"),
        list_crd(client, scope, &run, "analysisruns.argoproj.io"),
        list_crd(client, scope, &canary, "canaries.flagger.app"),
    )?;
    let objects = Objects {
        configmaps,
        deployments,
        rollouts,
        analysis_runs,
        canaries,
        pods,
    };
    Ok((objects, [a, b, c].into_iter().flatten().collect()))
}
