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

async fn list_crd(
    client: &Client,
    scope: &Scope,
    resource: &ApiResource,
    what: &'static str,
) -> Result<Vec<Arc<DynamicObject>>, ReadError> {
    match dynamic_api(client, scope, resource)
        .list(&ListParams::default())
        .await
    {
        Ok(l) => Ok(l.items.into_iter().map(Arc::new).collect()),
        Err(e) if not_served(&e) => Ok(Vec::new()),
        Err(source) => Err(ReadError { what, source }),
    }
}

/// Every object the fleet's rows are made of, listed once.
pub async fn objects(client: &Client, scope: &Scope) -> Result<Objects, ReadError> {
    let all = ListParams::default();
    let managed = ListParams::default().labels(flightdeck::LABEL_SELECTOR);
    let (configmaps, deployments, pods) = tokio::try_join!(
        list(api::<ConfigMap>(client, scope), &managed, "configmaps"),
        list(api::<Deployment>(client, scope), &all, "deployments"),
        list(api::<Pod>(client, scope), &all, "pods"),
    )?;
    let (rollout, run, canary) = (argo::rollouts(), argo::analysis_runs(), flagger::canaries());
    let (rollouts, analysis_runs, canaries) = tokio::try_join!(
        list_crd(client, scope, &rollout, "rollouts.argoproj.io"),
        list_crd(client, scope, &run, "analysisruns.argoproj.io"),
        list_crd(client, scope, &canary, "canaries.flagger.app"),
    )?;
    Ok(Objects {
        configmaps,
        deployments,
        rollouts,
        analysis_runs,
        canaries,
        pods,
    })
}
