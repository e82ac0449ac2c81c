//! Connecting to a cluster from a kubeconfig, as kubectl would.

use std::path::Path;

use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::{Client, Config};

#[derive(Debug, thiserror::Error)]
pub enum ConnectError {
    #[error("cannot read kubeconfig {path}: {source}")]
    Read {
        path: String,
        source: kube::config::KubeconfigError,
    },
    #[error("kubeconfig: {0}")]
    Config(#[from] kube::config::KubeconfigError),
    #[error("cannot build a client: {0}")]
    Client(#[from] kube::Error),
}

/// What the header shows about where the cockpit is connected.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClusterInfo {
    pub context: String,
    pub namespace: String,
    pub user: String,
}

/// Builds a client from a kubeconfig file (or the usual `KUBECONFIG` /
/// `~/.kube/config` when `path` is `None`) and a context (its current one when
/// `None`).
pub async fn connect(
    path: Option<&Path>,
    context: Option<&str>,
) -> Result<(Client, ClusterInfo), ConnectError> {
    let kubeconfig = match path {
        Some(p) => Kubeconfig::read_from(p).map_err(|source| ConnectError::Read {
            path: p.display().to_string(),
            source,
        })?,
        None => Kubeconfig::read()?,
    };
    let options = KubeConfigOptions {
        context: context.map(str::to_string),
        ..KubeConfigOptions::default()
    };
    let context_name = context
        .map(str::to_string)
        .or_else(|| kubeconfig.current_context.clone())
        .unwrap_or_default();
    let user = kubeconfig
        .contexts
        .iter()
        .find(|c| c.name == context_name)
        .and_then(|c| c.context.as_ref())
        .and_then(|c| c.user.clone())
        .unwrap_or_default();
    let config = Config::from_custom_kubeconfig(kubeconfig, &options).await?;
    let info = ClusterInfo {
        context: context_name,
        namespace: config.default_namespace.clone(),
        user,
    };
    Ok((Client::try_from(config)?, info))
}
