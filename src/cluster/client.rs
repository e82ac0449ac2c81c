//! Connecting to a cluster from a kubeconfig, as kubectl would, or from the
//! pod's service account when flightdeck runs inside the cluster (a CI job).

use std::path::Path;
use std::time::Duration;

use k8s_openapi::api::authentication::v1::SelfSubjectReview;
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
    #[error("no kubeconfig found ({kubeconfig}), and not inside a cluster ({in_cluster})")]
    NoConfig {
        kubeconfig: kube::config::KubeconfigError,
        in_cluster: kube::config::InClusterError,
    },
    #[error("cannot build a client: {0}")]
    Client(#[from] kube::Error),
}

/// What the header shows about where the cockpit is connected.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClusterInfo {
    pub context: String,
    pub namespace: String,
    /// The user as the API server knows it, else the kubeconfig's user name.
    pub user: String,
    /// The API server's URL.
    pub server: String,
}

/// The context name shown when the pod's service account is used.
pub const IN_CLUSTER: &str = "in-cluster";

/// How long asking the API server who we are may take before the
/// kubeconfig's user name stands in.
const WHOAMI_TIMEOUT: Duration = Duration::from_secs(3);

/// Builds a client from a kubeconfig file (or the usual `KUBECONFIG` /
/// `~/.kube/config` when `path` is `None`, then the in-cluster service
/// account) and a context (its current one when `None`).
pub async fn connect(
    path: Option<&Path>,
    context: Option<&str>,
) -> Result<(Client, ClusterInfo), ConnectError> {
    let kubeconfig = match path {
        Some(p) => Kubeconfig::read_from(p).map_err(|source| ConnectError::Read {
            path: p.display().to_string(),
            source,
        })?,
        None => match Kubeconfig::read() {
            Ok(k) => k,
            // As kube's `Config::infer`: no kubeconfig at all, so try the
            // service account a pod is given. A named context needs a file.
            Err(kubeconfig) if context.is_none() => {
                let config = Config::incluster().map_err(|in_cluster| ConnectError::NoConfig {
                    kubeconfig,
                    in_cluster,
                })?;
                return finish(config, IN_CLUSTER.to_string(), String::new()).await;
            }
            Err(e) => return Err(e.into()),
        },
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
    finish(config, context_name, user).await
}

async fn finish(
    config: Config,
    context: String,
    kubeconfig_user: String,
) -> Result<(Client, ClusterInfo), ConnectError> {
    let namespace = config.default_namespace.clone();
    let server = config.cluster_url.to_string();
    let client = Client::try_from(config)?;
    let user = match tokio::time::timeout(WHOAMI_TIMEOUT, whoami(&client)).await {
        Ok(Ok(name)) if !name.is_empty() => name,
        _ => kubeconfig_user,
    };
    let info = ClusterInfo {
        context,
        namespace,
        user,
        server,
    };
    Ok((client, info))
}

/// The user name the API server gives the client's credentials: a
/// `SelfSubjectReview`, what `kubectl auth whoami` asks.
pub async fn whoami(client: &Client) -> Result<String, kube::Error> {
    let api: kube::Api<SelfSubjectReview> = kube::Api::all(client.clone());
    let review = api
        .create(
            &kube::api::PostParams::default(),
            &SelfSubjectReview::default(),
        )
        .await?;
    Ok(review
        .status
        .and_then(|s| s.user_info)
        .and_then(|u| u.username)
        .unwrap_or_default())
}
