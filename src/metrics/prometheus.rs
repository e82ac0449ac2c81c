//! A client for the Prometheus HTTP API (`/api/v1/query`, `/api/v1/query_range`).

use std::collections::BTreeMap;
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::Deserialize;
use serde_json::Value;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PrometheusError {
    #[error("Prometheus at {url} is unreachable: {reason}")]
    Unreachable { url: String, reason: String },
    #[error("Prometheus answered HTTP {status}: {body}")]
    Status { status: u16, body: String },
    /// Prometheus refused or failed the query (its `errorType` and `error`).
    #[error("query failed ({error_type}): {error}")]
    Query { error_type: String, error: String },
    #[error("Prometheus answered something unexpected: {0}")]
    Decode(String),
}

/// One series of an instant query's result.
#[derive(Debug, Clone, PartialEq)]
pub struct InstantSample {
    pub metric: BTreeMap<String, String>,
    pub at: f64,
    pub value: f64,
}

/// One series of a range query's result.
#[derive(Debug, Clone, PartialEq)]
pub struct RangeSeries {
    pub metric: BTreeMap<String, String>,
    pub points: Vec<(f64, f64)>,
}

#[derive(Deserialize)]
struct Envelope {
    status: String,
    #[serde(default)]
    data: Option<Data>,
    #[serde(default, rename = "errorType")]
    error_type: Option<String>,
    #[serde(default)]
    error: Option<String>,
}

#[derive(Deserialize)]
struct Data {
    #[serde(rename = "resultType")]
    result_type: String,
    result: Value,
}

#[derive(Deserialize)]
struct VectorItem {
    #[serde(default)]
    metric: BTreeMap<String, String>,
    value: (f64, String),
}

#[derive(Deserialize)]
struct MatrixItem {
    #[serde(default)]
    metric: BTreeMap<String, String>,
    values: Vec<(f64, String)>,
}

#[derive(Debug, Clone)]
pub struct Prometheus {
    base: String,
    http: reqwest::Client,
}

impl Prometheus {
    /// A client for the Prometheus at `base` (e.g. `http://127.0.0.1:9090`).
    pub fn new(base: &str, timeout: Duration) -> Result<Self, PrometheusError> {
        let http = reqwest::Client::builder()
            .timeout(timeout)
            .build()
            .map_err(|e| PrometheusError::Unreachable {
                url: base.to_string(),
                reason: e.to_string(),
            })?;
        Ok(Self {
            base: base.trim_end_matches('/').to_string(),
            http,
        })
    }

    pub fn base_url(&self) -> &str {
        &self.base
    }

    /// An instant query (at `at`, or now).
    pub async fn query(
        &self,
        promql: &str,
        at: Option<DateTime<Utc>>,
    ) -> Result<Vec<InstantSample>, PrometheusError> {
        let mut params = vec![("query", promql.to_string())];
        if let Some(at) = at {
            params.push(("time", seconds(at)));
        }
        let data = self.get("/api/v1/query", &params).await?;
        match data.result_type.as_str() {
            "vector" => {
                let items: Vec<VectorItem> = decode(data.result)?;
                items
                    .into_iter()
                    .map(|i| {
                        Ok(InstantSample {
                            metric: i.metric,
                            at: i.value.0,
                            value: number(&i.value.1)?,
                        })
                    })
                    .collect()
            }
            "scalar" => {
                let (at, v): (f64, String) = decode(data.result)?;
                Ok(vec![InstantSample {
                    metric: BTreeMap::new(),
                    at,
                    value: number(&v)?,
                }])
            }
            other => Err(PrometheusError::Decode(format!(
                "expected a vector or scalar result, got {other}"
            ))),
        }
    }

    /// The value of a query that yields one series; `None` when it yields none
    /// (no data yet) or NaN (no requests to divide by).
    pub async fn query_value(&self, promql: &str) -> Result<Option<f64>, PrometheusError> {
        let samples = self.query(promql, None).await?;
        Ok(samples.first().map(|s| s.value).filter(|v| v.is_finite()))
    }

    pub async fn query_range(
        &self,
        promql: &str,
        start: DateTime<Utc>,
        end: DateTime<Utc>,
        step: Duration,
    ) -> Result<Vec<RangeSeries>, PrometheusError> {
        let params = [
            ("query", promql.to_string()),
            ("start", seconds(start)),
            ("end", seconds(end)),
            ("step", format!("{}", step.as_secs_f64())),
        ];
        let data = self.get("/api/v1/query_range", &params).await?;
        if data.result_type != "matrix" {
            return Err(PrometheusError::Decode(format!(
                "expected a matrix result, got {}",
                data.result_type
            )));
        }
        let items: Vec<MatrixItem> = decode(data.result)?;
        items
            .into_iter()
            .map(|i| {
                Ok(RangeSeries {
                    metric: i.metric,
                    points: i
                        .values
                        .iter()
                        .map(|(t, v)| Ok((*t, number(v)?)))
                        .collect::<Result<_, PrometheusError>>()?,
                })
            })
            .collect()
    }

    async fn get(&self, path: &str, params: &[(&str, String)]) -> Result<Data, PrometheusError> {
        let url = format!("{}{path}", self.base);
        let response = self
            .http
            .get(&url)
            .query(params)
            .send()
            .await
            .map_err(|e| PrometheusError::Unreachable {
                url: url.clone(),
                reason: e.to_string(),
            })?;
        let status = response.status();
        let body = response
            .text()
            .await
            .map_err(|e| PrometheusError::Unreachable {
                url: url.clone(),
                reason: e.to_string(),
            })?;
        // Prometheus reports bad queries with 400/422/503 and a JSON error body;
        // anything else that is not JSON is the HTTP failure itself.
        match serde_json::from_str::<Envelope>(&body) {
            Ok(env) if env.status == "error" => Err(PrometheusError::Query {
                error_type: env.error_type.unwrap_or_default(),
                error: env.error.unwrap_or_default(),
            }),
            Ok(env) if status.is_success() => env
                .data
                .ok_or_else(|| PrometheusError::Decode("a success without data".into())),
            _ if !status.is_success() => Err(PrometheusError::Status {
                status: status.as_u16(),
                body: body.chars().take(200).collect(),
            }),
            Ok(env) => Err(PrometheusError::Decode(format!(
                "unknown status {:?}",
                env.status
            ))),
            Err(e) => Err(PrometheusError::Decode(e.to_string())),
        }
    }
}

fn seconds(at: DateTime<Utc>) -> String {
    format!("{:.3}", at.timestamp_millis() as f64 / 1000.0)
}

fn decode<T: serde::de::DeserializeOwned>(value: Value) -> Result<T, PrometheusError> {
    serde_json::from_value(value).map_err(|e| PrometheusError::Decode(e.to_string()))
}

fn number(text: &str) -> Result<f64, PrometheusError> {
    match text {
        "+Inf" => Ok(f64::INFINITY),
        "-Inf" => Ok(f64::NEG_INFINITY),
        "NaN" => Ok(f64::NAN),
        _ => text
            .parse()
            .map_err(|_| PrometheusError::Decode(format!("not a number: {text:?}"))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn unreachable_is_typed() {
        // Port 9 (discard) on loopback: nothing listens there in a test sandbox.
        let p = Prometheus::new("http://127.0.0.1:9", Duration::from_secs(2)).unwrap();
        let err = p.query("up", None).await.unwrap_err();
        assert!(matches!(err, PrometheusError::Unreachable { .. }), "{err}");
    }

    #[tokio::test]
    async fn query_errors_and_results_are_decoded() {
        use axum::routing::get;
        let app = axum::Router::new().route(
            "/api/v1/query",
            get(|q: axum::extract::Query<BTreeMap<String, String>>| async move {
                let query = q.get("query").cloned().unwrap_or_default();
                match query.as_str() {
                    "up" => (
                        http::StatusCode::OK,
                        r#"{"status":"success","data":{"resultType":"vector","result":[{"metric":{"job":"sim"},"value":[1700000000.5,"1"]}]}}"#,
                    ),
                    "nan" => (
                        http::StatusCode::OK,
                        r#"{"status":"success","data":{"resultType":"vector","result":[{"metric":{},"value":[1,"NaN"]}]}}"#,
                    ),
                    "teapot" => (http::StatusCode::IM_A_TEAPOT, "short and stout"),
                    _ => (
                        http::StatusCode::BAD_REQUEST,
                        r#"{"status":"error","errorType":"bad_data","error":"parse error at char 3"}"#,
                    ),
                }
            }),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await });
        let p = Prometheus::new(&format!("http://{addr}/"), Duration::from_secs(5)).unwrap();
        let up = p.query("up", None).await.unwrap();
        assert_eq!(up[0].metric["job"], "sim");
        assert!((up[0].value - 1.0).abs() < f64::EPSILON);
        assert_eq!(p.query_value("nan").await.unwrap(), None);
        assert_eq!(
            p.query("su(", None).await.unwrap_err(),
            PrometheusError::Query {
                error_type: "bad_data".into(),
                error: "parse error at char 3".into()
            }
        );
        assert!(matches!(
            p.query("teapot", None).await.unwrap_err(),
            PrometheusError::Status { status: 418, .. }
        ));
    }
}
