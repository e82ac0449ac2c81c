//! A webhook receiver on loopback for the tests: it keeps every JSON body it
//! is sent, and can be told to fail the first requests or to answer a script
//! of statuses (with a `Retry-After`) before accepting.
#![allow(dead_code, clippy::unwrap_used)]

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Json;
use axum::Router;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::routing::post;
use serde_json::Value;

/// One scripted answer: a status and, if any, its `Retry-After` value.
pub type Answer = (u16, Option<String>);

#[derive(Clone, Default)]
pub struct Receiver {
    pub bodies: Arc<Mutex<Vec<Value>>>,
    /// Answer 500 to this many requests before accepting.
    pub fail_first: Arc<AtomicU32>,
    /// Answered in order (after `fail_first`) before accepting.
    pub script: Arc<Mutex<VecDeque<Answer>>>,
    /// When each request arrived, accepted or not, with its body.
    pub requests: Arc<Mutex<Vec<(Instant, Value)>>>,
}

impl Receiver {
    pub fn bodies(&self) -> Vec<Value> {
        self.bodies.lock().unwrap().clone()
    }

    pub fn requests(&self) -> Vec<(Instant, Value)> {
        self.requests.lock().unwrap().clone()
    }

    /// The `event` of each notice accepted, in order (`started`, `stage`…).
    pub fn events(&self) -> Vec<String> {
        self.bodies()
            .iter()
            .filter_map(|b| b["event"].as_str().map(String::from))
            .collect()
    }
}

async fn accept(State(r): State<Receiver>, Json(body): Json<Value>) -> (StatusCode, HeaderMap) {
    r.requests
        .lock()
        .unwrap()
        .push((Instant::now(), body.clone()));
    let left = r.fail_first.load(Ordering::SeqCst);
    if left > 0 {
        r.fail_first.store(left - 1, Ordering::SeqCst);
        return (StatusCode::INTERNAL_SERVER_ERROR, HeaderMap::new());
    }
    if let Some((status, retry_after)) = r.script.lock().unwrap().pop_front() {
        let mut headers = HeaderMap::new();
        if let Some(value) = retry_after {
            headers.insert(header::RETRY_AFTER, HeaderValue::from_str(&value).unwrap());
        }
        return (StatusCode::from_u16(status).unwrap(), headers);
    }
    r.bodies.lock().unwrap().push(body);
    (StatusCode::OK, HeaderMap::new())
}

/// A receiver and its URL (with a secret in the path, as Slack's have).
pub async fn receiver(fail_first: u32) -> (Receiver, String) {
    scripted(fail_first, Vec::new()).await
}

/// A receiver that answers `script` in order, then accepts.
pub async fn scripted(fail_first: u32, script: Vec<Answer>) -> (Receiver, String) {
    let r = Receiver::default();
    r.fail_first.store(fail_first, Ordering::SeqCst);
    r.script.lock().unwrap().extend(script);
    let app = Router::new()
        .route("/hook/{secret}", post(accept))
        .with_state(r.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/hook/s3cr3t", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    (r, url)
}

pub async fn wait_for_bodies(r: &Receiver, n: usize) -> Vec<Value> {
    for _ in 0..400 {
        let bodies = r.bodies();
        if bodies.len() >= n {
            return bodies;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    panic!("the receiver got {:?}", r.bodies());
}
