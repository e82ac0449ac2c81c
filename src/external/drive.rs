//! Sending the writes built in [`super::writes`] to the cluster: merge and
//! JSON patches of a Rollout or a Canary (status subresource first, as
//! Argo's plugin does), and the loadtester's gates through the API
//! server's service proxy. The only I/O of the external sources' actions.

use chrono::{DateTime, Utc};
use http::Request;
use serde_json::Value;

use super::ask::{Ask, Source, Target};
use super::writes::{Patch, Writes, argo, flagger};
use crate::driver::rest::{self, Kind, Obj, REPLICASET};

pub const ROLLOUT: Kind = Kind::new("argoproj.io", "v1alpha1", "Rollout", "rollouts");
pub const CANARY: Kind = Kind::new("flagger.app", "v1beta1", "Canary", "canaries");

#[derive(Debug, thiserror::Error)]
pub enum DriveError {
    #[error(transparent)]
    Argo(#[from] argo::ArgoWriteError),
    #[error(transparent)]
    Gate(#[from] flagger::GateUnavailable),
    #[error("{0}")]
    NotOffered(String),
    #[error("{what}: {source}")]
    Api {
        what: String,
        #[source]
        source: kube::Error,
    },
}

impl Target {
    pub fn object(&self) -> Obj {
        let kind = match self.source {
            Source::Argo => ROLLOUT,
            Source::Flagger => CANARY,
        };
        Obj::new(kind, &self.namespace, &self.name)
    }
}

fn api_err(what: impl Into<String>) -> impl FnOnce(kube::Error) -> DriveError {
    let what = what.into();
    move |source| DriveError::Api { what, source }
}

async fn send_patch(
    client: &kube::Client,
    obj: &Obj,
    sub: &str,
    patch: &Patch,
) -> Result<Value, kube::Error> {
    let bytes = serde_json::to_vec(patch.body()).map_err(kube::Error::SerdeError)?;
    let url = format!("{}{sub}", url_of(obj));
    let req = Request::patch(url)
        .header(http::header::CONTENT_TYPE, patch.content_type())
        .body(bytes)
        .map_err(kube::Error::HttpError)?;
    client.request(req).await
}

fn url_of(obj: &Obj) -> String {
    let k = obj.kind;
    let root = if k.group.is_empty() {
        format!("/api/{}", k.version)
    } else {
        format!("/apis/{}/{}", k.group, k.version)
    };
    format!(
        "{root}/namespaces/{}/{}/{}",
        obj.namespace, k.plural, obj.name
    )
}

/// Sends `writes` to `obj`: the status write to the status subresource,
/// and when that is not served (404), the unified write to the object in
/// place of both; then the object's own patch.
pub async fn apply(client: &kube::Client, obj: &Obj, writes: &Writes) -> Result<(), DriveError> {
    if let Some(status) = &writes.status {
        match send_patch(client, obj, "/status", &Patch::Merge(status.clone())).await {
            Ok(_) => {}
            Err(e) if rest::status_code(&e) == Some(404) => {
                let unified = writes.unified.clone().unwrap_or_else(|| status.clone());
                send_patch(client, obj, "", &Patch::Merge(unified))
                    .await
                    .map_err(api_err(format!("cannot patch {obj}")))?;
                return Ok(());
            }
            Err(e) => return Err(api_err(format!("cannot patch {obj}/status"))(e)),
        }
    }
    if let Some(patch) = &writes.object {
        send_patch(client, obj, "", patch)
            .await
            .map_err(api_err(format!("cannot patch {obj}")))?;
    }
    Ok(())
}

/// Moves a loadtester gate: a POST through the API server's service proxy.
pub async fn call_gate(client: &kube::Client, call: &flagger::GateCall) -> Result<(), DriveError> {
    let what = format!(
        "cannot reach the loadtester {}/{} ({})",
        call.namespace, call.service, call.path
    );
    let body = serde_json::to_vec(&call.body).map_err(|e| DriveError::Api {
        what: what.clone(),
        source: kube::Error::SerdeError(e),
    })?;
    let req = Request::post(call.proxy_path())
        .header(http::header::CONTENT_TYPE, "application/json")
        .body(body)
        .map_err(|e| DriveError::Api {
            what: what.clone(),
            source: kube::Error::HttpError(e),
        })?;
    client.request_text(req).await.map_err(api_err(what))?;
    Ok(())
}

/// Carries out `ask` on `target`: reads the object, builds the writes the
/// source's own tools would send, sends them. Returns the fields written.
pub async fn carry_out(
    client: &kube::Client,
    target: &Target,
    ask: &Ask,
    now: DateTime<Utc>,
) -> Result<String, DriveError> {
    let obj = target.object();
    let read = || async {
        rest::get(client, &obj)
            .await
            .map_err(api_err(format!("cannot read {obj}")))
    };
    let writes = match (target.source, ask) {
        (Source::Argo, Ask::Promote) => argo::promote(&read().await?)?,
        (Source::Argo, Ask::PromoteFull) => argo::promote_full(&read().await?)?,
        (Source::Argo, Ask::Abort) => argo::abort(),
        (Source::Argo, Ask::Retry) => argo::retry(),
        (Source::Argo, Ask::Pause) => argo::pause(),
        (Source::Argo, Ask::Resume) => argo::resume(&read().await?)?,
        (Source::Argo, Ask::Restart) => argo::restart(now),
        (Source::Argo, Ask::SetImage(image)) => {
            let ro = read().await?;
            argo::set_image(&ro, &argo::main_container(&ro)?, image)?
        }
        (Source::Argo, Ask::Undo(to)) => {
            let ro = read().await?;
            let sets = rest::list(client, REPLICASET, &target.namespace, "")
                .await
                .map_err(api_err("cannot list the ReplicaSets"))?;
            argo::undo(&ro, &sets, *to)?
        }
        (Source::Flagger, Ask::Pause) => flagger::suspend(true),
        (Source::Flagger, Ask::Resume) => flagger::suspend(false),
        (Source::Flagger, Ask::PromoteFull) => flagger::promote_now(),
        (Source::Flagger, Ask::Gate(gate)) => {
            let call = flagger::gate(&read().await?, *gate)?;
            call_gate(client, &call).await?;
            return Ok(format!("{} {}", call.service, call.path));
        }
        // `Ask`s are made by `ask::of`, which offers each source only its own.
        (source, ask) => {
            return Err(DriveError::NotOffered(format!(
                "{} is not an action of {}",
                ask.name(),
                source.label()
            )));
        }
    };
    apply(client, &obj, &writes).await?;
    Ok(writes.summary())
}
