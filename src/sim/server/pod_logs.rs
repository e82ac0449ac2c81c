//! `pods/{name}/log`: a container's log, filtered as kubectl asks, streamed
//! with `follow` until the pod goes or the client does.

use std::convert::Infallible;
use std::sync::Arc;

use axum::body::{Body, Bytes};
use axum::response::Response;
use chrono::{DateTime, SecondsFormat, TimeDelta, Utc};
use http::{HeaderValue, StatusCode, header};
use serde_json::Value;
use tokio::sync::broadcast::error::RecvError;

use super::crud::{fetch, name};
use super::routes::Request;
use super::status::ApiError;
use crate::sim::logs::ContainerKey;
use crate::sim::store::ChangeKind;

/// The parameters of a log request.
struct LogQuery {
    key: ContainerKey,
    follow: bool,
    previous: bool,
    timestamps: bool,
    tail: Option<usize>,
    since: Option<DateTime<Utc>>,
    limit_bytes: Option<usize>,
}

fn container_names(pod: &Value, list: &str) -> Vec<String> {
    pod.pointer(&format!("/spec/{list}"))
        .and_then(Value::as_array)
        .map(|cs| {
            cs.iter()
                .filter_map(|c| c.get("name").and_then(Value::as_str).map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

fn query(req: &Request, pod: &Value) -> Result<LogQuery, ApiError> {
    let pod_name = name(&req.target);
    let containers = container_names(pod, "containers");
    let container = match req.params.get("container").filter(|c| !c.is_empty()) {
        Some(c) => {
            let init = container_names(pod, "initContainers");
            if !containers.iter().chain(&init).any(|n| n == c) {
                return Err(ApiError::bad_request(format!(
                    "container {c} is not valid for pod {pod_name}"
                )));
            }
            c.to_string()
        }
        None => match containers.as_slice() {
            [only] => only.clone(),
            [] => {
                return Err(ApiError::bad_request(format!(
                    "pod {pod_name} has no containers"
                )));
            }
            many => {
                return Err(ApiError::bad_request(format!(
                    "a container name must be specified for pod {pod_name}, choose one of: [{}]",
                    many.join(" ")
                )));
            }
        },
    };
    let now = req.api.shared.store.now();
    let since = match (
        req.params.number::<i64>("sinceSeconds")?,
        req.params.get("sinceTime"),
    ) {
        (Some(s), _) if s <= 0 => {
            return Err(ApiError::invalid(
                "sinceSeconds: Invalid value: must be greater than 0",
            ));
        }
        (Some(s), _) => Some(now - TimeDelta::seconds(s)),
        (None, Some(t)) => Some(
            DateTime::parse_from_rfc3339(t)
                .map_err(|_| ApiError::bad_request(format!("invalid sinceTime: {t:?}")))?
                .with_timezone(&Utc),
        ),
        (None, None) => None,
    };
    Ok(LogQuery {
        key: ContainerKey::new(req.target.ns(), pod_name, &container),
        follow: req.params.flag("follow"),
        previous: req.params.flag("previous"),
        timestamps: req.params.flag("timestamps"),
        tail: req
            .params
            .number::<i64>("tailLines")?
            .and_then(|n| usize::try_from(n).ok()),
        since,
        limit_bytes: req
            .params
            .number::<i64>("limitBytes")?
            .and_then(|n| usize::try_from(n).ok())
            .filter(|n| *n > 0),
    })
}

fn render(q: &LogQuery, time: DateTime<Utc>, text: &str) -> String {
    if q.timestamps {
        format!(
            "{} {text}\n",
            time.to_rfc3339_opts(SecondsFormat::Nanos, true)
        )
    } else {
        format!("{text}\n")
    }
}

/// The lines a request sees from what is already written.
fn backlog(q: &LogQuery, lines: Vec<(DateTime<Utc>, String)>) -> Vec<(DateTime<Utc>, String)> {
    let mut lines: Vec<_> = lines
        .into_iter()
        .filter(|(t, _)| q.since.is_none_or(|s| *t >= s))
        .collect();
    if let Some(tail) = q.tail
        && lines.len() > tail
    {
        lines.drain(..lines.len() - tail);
    }
    lines
}

/// Cuts `text` to what `budget` allows, and spends it.
fn within_budget(budget: &mut Option<usize>, mut text: String) -> Option<String> {
    match budget {
        None => Some(text),
        Some(0) => None,
        Some(left) => {
            if text.len() > *left {
                let mut cut = *left;
                while !text.is_char_boundary(cut) {
                    cut -= 1;
                }
                text.truncate(cut);
            }
            *left -= text.len();
            Some(text)
        }
    }
}

fn text_response(body: Body) -> Response {
    let mut response = Response::new(body);
    *response.status_mut() = StatusCode::OK;
    response
        .headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static("text/plain"));
    response
}

pub fn logs(req: &Request) -> Result<Response, ApiError> {
    let pod = fetch(req)?;
    let q = query(req, &pod)?;
    let logs = &req.api.shared.logs;
    if q.previous {
        let lines = logs.read(&q.key, true).ok_or_else(|| {
            ApiError::bad_request(format!(
                "previous terminated container \"{}\" in pod \"{}\" not found",
                q.key.container, q.key.pod
            ))
        })?;
        return Ok(text_response(Body::from(collect(&q, backlog(&q, lines)))));
    }
    if !q.follow {
        let lines = logs.read(&q.key, false).unwrap_or_default();
        return Ok(text_response(Body::from(collect(&q, backlog(&q, lines)))));
    }
    // Subscribe to the store before reading the log, so a deletion in between is seen.
    let mut changes = req.api.shared.store.subscribe();
    let follow = logs.follow(&q.key);
    let still_there = req
        .api
        .shared
        .store
        .get(req.target.res, &q.key.namespace, &q.key.pod);
    let uid = pod.pointer("/metadata/uid").cloned();
    let gone_already = still_there.is_none_or(|p| p.pointer("/metadata/uid").cloned() != uid);
    let mut budget = q.limit_bytes;
    let first: Vec<String> = backlog(&q, follow.lines)
        .into_iter()
        .map_while(|(t, text)| within_budget(&mut budget, render(&q, t, &text)))
        .collect();
    let mut live = follow.live;
    // The sequence number of the next line to send: what the live feed brings
    // below it was already sent, and after a lag the stored log has the rest.
    let mut next = follow.next_seq;
    let logs = Arc::clone(logs);
    let key = Arc::new(q.key.clone());
    let stream = async_stream::stream! {
        for chunk in first {
            yield Ok::<Bytes, Infallible>(Bytes::from(chunk));
        }
        if gone_already || budget == Some(0) {
            return;
        }
        loop {
            let lines = tokio::select! {
                line = live.recv() => match line {
                    Ok(line) if *line.key == *key && line.seq >= next => {
                        next = line.seq + 1;
                        vec![(line.time, line.text.clone())]
                    }
                    Ok(_) => continue,
                    // The feed is shared by every container, so a slow reader can
                    // fall behind it; this container's log still has the lines.
                    Err(RecvError::Lagged(_)) => {
                        let (lines, after) = logs.read_from(&key, next);
                        next = after;
                        lines
                    }
                    Err(RecvError::Closed) => break,
                },
                change = changes.recv() => match change {
                    Ok(c) if c.kind == ChangeKind::Deleted
                        && c.resource.group.is_empty()
                        && c.resource.plural == "pods"
                        && c.namespace == key.namespace
                        && c.name == key.pod => break,
                    Ok(_) | Err(RecvError::Lagged(_)) => continue,
                    Err(RecvError::Closed) => break,
                },
            };
            for (time, text) in lines {
                if q.since.is_some_and(|s| time < s) {
                    continue;
                }
                match within_budget(&mut budget, render(&q, time, &text)) {
                    Some(text) if !text.is_empty() => yield Ok(Bytes::from(text)),
                    _ => return,
                }
            }
        }
    };
    Ok(text_response(Body::from_stream(stream)))
}

fn collect(q: &LogQuery, lines: Vec<(DateTime<Utc>, String)>) -> String {
    let mut budget = q.limit_bytes;
    lines
        .into_iter()
        .map_while(|(t, text)| within_budget(&mut budget, render(q, t, &text)))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn budget_cuts_at_char_boundaries() {
        let mut budget = Some(5);
        assert_eq!(
            within_budget(&mut budget, "abc\n".into()).as_deref(),
            Some("abc\n")
        );
        assert_eq!(
            within_budget(&mut budget, "é\n".into()).as_deref(),
            Some("")
        );
        assert_eq!(budget, Some(1));
        let mut none = None;
        assert_eq!(within_budget(&mut none, "x".into()).as_deref(), Some("x"));
    }
}
