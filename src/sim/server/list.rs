//! list and deletecollection: selectors, pagination with an opaque continue
//! token, and the list written as JSON or as a Table.

use std::fmt::Write as _;
use std::sync::Arc;

use axum::response::Response;
use http::StatusCode;
use serde_json::{Value, json};

use super::crud::present;
use super::encoded::Encoded;
use super::routes::{Request, Target};
use super::selector::{FieldSelector, LabelSelector};
use super::status::{ApiError, json_response};
use super::table;
use crate::sim::store::meta_str;

/// The selectors of a list or watch request.
pub struct Filter {
    pub labels: LabelSelector,
    pub fields: FieldSelector,
}

impl Filter {
    pub fn from_request(req: &Request) -> Result<Self, ApiError> {
        let labels = LabelSelector::parse(req.params.get("labelSelector").unwrap_or_default())
            .map_err(ApiError::bad_request)?;
        let fields = FieldSelector::parse(
            req.params.get("fieldSelector").unwrap_or_default(),
            req.target.res,
        )
        .map_err(ApiError::bad_request)?;
        Ok(Self { labels, fields })
    }

    pub fn is_empty(&self) -> bool {
        self.labels.is_empty() && self.fields.is_empty()
    }

    pub fn matches(&self, object: &Value) -> bool {
        self.labels.matches(object) && self.fields.matches(object)
    }
}

/// Where the next page starts: the list's version and the last key served.
#[derive(Debug, PartialEq, Eq)]
struct Continue {
    resource_version: u64,
    namespace: String,
    name: String,
}

impl Continue {
    fn encode(&self) -> String {
        let raw = format!(
            "{}\n{}\n{}",
            self.resource_version, self.namespace, self.name
        );
        raw.bytes()
            .fold(String::with_capacity(raw.len() * 2), |mut out, b| {
                let _ = write!(out, "{b:02x}");
                out
            })
    }

    fn decode(token: &str) -> Result<Self, ApiError> {
        let bad = || ApiError::bad_request(format!("continue key is not valid: {token:?}"));
        if !token.len().is_multiple_of(2) || !token.is_ascii() {
            return Err(bad());
        }
        let bytes = (0..token.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&token[i..i + 2], 16))
            .collect::<Result<Vec<u8>, _>>()
            .map_err(|_| bad())?;
        let text = String::from_utf8(bytes).map_err(|_| bad())?;
        let mut parts = text.splitn(3, '\n');
        let rv = parts.next().and_then(|v| v.parse().ok()).ok_or_else(bad)?;
        let namespace = parts.next().ok_or_else(bad)?.to_string();
        let name = parts.next().ok_or_else(bad)?.to_string();
        Ok(Self {
            resource_version: rv,
            namespace,
            name,
        })
    }
}

fn key(o: &Value) -> (&str, &str) {
    (
        meta_str(o, "namespace").unwrap_or_default(),
        meta_str(o, "name").unwrap_or_default(),
    )
}

/// One page of matching objects.
struct Page {
    items: Vec<Arc<Value>>,
    /// The version the list is at.
    resource_version: u64,
    /// The token for the next page, when there is one.
    next: Option<String>,
    /// Matching objects after this page.
    remaining: usize,
}

fn page(req: &Request) -> Result<Page, ApiError> {
    let filter = Filter::from_request(req)?;
    let limit: Option<usize> = req.params.number("limit")?.filter(|l| *l > 0);
    let from = req
        .params
        .get("continue")
        .filter(|c| !c.is_empty())
        .map(Continue::decode)
        .transpose()?;
    let t = &req.target;
    let (objects, current_rv) = req.api.shared.store.list(t.res, t.namespace.as_deref());
    let mut matching: Vec<Arc<Value>> = objects
        .into_iter()
        .filter(|o| {
            from.as_ref()
                .is_none_or(|c| key(o) > (c.namespace.as_str(), c.name.as_str()))
        })
        .filter(|o| filter.matches(o))
        .collect();
    // Later pages report the version of the first, so a watch started from it
    // replays whatever changed while the client paged.
    let rv = from.as_ref().map_or(current_rv, |c| c.resource_version);
    let mut remaining = 0;
    let mut next = None;
    if let Some(limit) = limit
        && matching.len() > limit
    {
        remaining = matching.len() - limit;
        matching.truncate(limit);
        if let Some(last) = matching.last() {
            let (namespace, name) = key(last);
            next = Some(
                Continue {
                    resource_version: rv,
                    namespace: namespace.to_string(),
                    name: name.to_string(),
                }
                .encode(),
            );
        }
    }
    Ok(Page {
        items: matching,
        resource_version: rv,
        next,
        remaining,
    })
}

pub fn list(req: &Request) -> Result<Response, ApiError> {
    let Page {
        items,
        resource_version,
        next,
        remaining,
    } = page(req)?;
    let mut meta = json!({ "resourceVersion": resource_version.to_string() });
    if let Some(token) = &next {
        meta["continue"] = json!(token);
        meta["remainingItemCount"] = json!(remaining);
    }
    let t = &req.target;
    if let Some(include) = req.table {
        let now = req.api.shared.store.now();
        // Only whole objects carry their apiVersion; cells and metadata do not.
        let api_version = t.api_version();
        let mut cache = req.api.encoded.lock();
        let body = table::table_json(t.res, &items, include, now, &meta, |o, out| {
            if o.get("apiVersion").and_then(Value::as_str) == Some(api_version.as_str()) {
                out.extend_from_slice(&cache.json(o));
            } else if serde_json::to_writer(&mut *out, &present(o, t)).is_err() {
                out.extend_from_slice(b"null");
            }
        });
        return Ok(json_response(StatusCode::OK, body));
    }
    Ok(json_response(
        StatusCode::OK,
        list_json(t, &items, &meta, &req.api.encoded),
    ))
}

/// Writes a `<Kind>List`. Objects already at the asked version are copied from
/// their one encoding; others are presented at that version and written here.
pub fn list_json(t: &Target, items: &[Arc<Value>], meta: &Value, encoded: &Encoded) -> Vec<u8> {
    let api_version = t.api_version();
    let mut cache = encoded.lock();
    let mut out = Vec::with_capacity(items.len() * 1024 + 128);
    out.extend_from_slice(
        format!(
            "{{\"kind\":\"{}List\",\"apiVersion\":\"{api_version}\",\"metadata\":{meta},\"items\":[",
            t.res.kind
        )
        .as_bytes(),
    );
    for (i, item) in items.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        let written =
            if item.get("apiVersion").and_then(Value::as_str) == Some(api_version.as_str()) {
                out.extend_from_slice(&cache.json(item));
                Ok(())
            } else {
                serde_json::to_writer(&mut out, &present(item, t))
            };
        if written.is_err() {
            // Values always serialize; keep the document well-formed regardless.
            out.extend_from_slice(b"null");
        }
    }
    out.extend_from_slice(b"]}");
    out
}

pub fn delete_collection(req: &Request) -> Result<Response, ApiError> {
    let items = page(req)?.items;
    let t = &req.target;
    let store = &req.api.shared.store;
    let mut removed = Vec::with_capacity(items.len());
    for item in &items {
        let (namespace, name) = key(item);
        // An earlier delete may have taken this one with it (owner cascade).
        if let Ok(gone) = store.delete(t.res, namespace, name) {
            removed.push(gone);
        }
    }
    let meta = json!({ "resourceVersion": store.current_resource_version().to_string() });
    Ok(json_response(
        StatusCode::OK,
        list_json(t, &removed, &meta, &req.api.encoded),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn continue_token_round_trips_and_rejects_garbage() {
        let c = Continue {
            resource_version: 42,
            namespace: "shop".into(),
            name: "web-1".into(),
        };
        assert_eq!(Continue::decode(&c.encode()).unwrap(), c);
        assert_eq!(Continue::decode("zz").unwrap_err().code, 400);
        assert_eq!(Continue::decode("abc").unwrap_err().code, 400);
    }
}
