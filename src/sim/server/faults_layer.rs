//! What stands before every API request: the bearer token, then the faults in
//! force (latency, 500s, 429s), drawn deterministically from the seed and the
//! request count so that a run repeats exactly.

use std::sync::atomic::Ordering;
use std::time::Duration;

use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use http::header;

use super::Api;
use super::status::ApiError;
use crate::sim::store::mix;

/// Seconds a throttled client is told to wait.
const RETRY_AFTER_SECS: u64 = 1;

/// A uniform draw in [0, 1) from the seed, a stream and the request number.
fn draw(seed: u64, stream: u64, n: u64) -> f64 {
    (mix(seed ^ stream, n) >> 11) as f64 / (1u64 << 53) as f64
}

fn authorized(api: &Api, request: &Request) -> bool {
    let Some(token) = &api.opts.token else {
        return true;
    };
    request
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .is_some_and(|given| given.trim() == token)
}

pub async fn guard(State(api): State<Api>, request: Request, next: Next) -> Response {
    if !authorized(&api, &request) {
        return ApiError::unauthorized().into_response();
    }
    let faults = api.shared.faults.current();
    let n = api.requests.fetch_add(1, Ordering::Relaxed);
    let seed = api.shared.store.seed();
    if faults.api_latency_ms > 0 {
        tokio::time::sleep(Duration::from_millis(faults.api_latency_ms)).await;
    }
    if faults.api_error_ratio > 0.0 && draw(seed, 0x5e77_0500, n) < faults.api_error_ratio {
        return ApiError::internal(
            "an error on the server (\"injected fault\") has prevented the request from succeeding",
        )
        .into_response();
    }
    if faults.api_throttle_ratio > 0.0 && draw(seed, 0x5e77_0429, n) < faults.api_throttle_ratio {
        return ApiError::too_many_requests(RETRY_AFTER_SECS).into_response();
    }
    next.run(request).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn draws_are_uniform_enough_and_repeat() {
        let hits = (0..10_000).filter(|n| draw(7, 1, *n) < 0.25).count();
        assert!((2_200..2_800).contains(&hits), "{hits}");
        assert_eq!(draw(7, 1, 3).to_bits(), draw(7, 1, 3).to_bits());
    }
}
