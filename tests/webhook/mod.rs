//! A webhook receiver on loopback for the tests: it keeps every JSON body it
//! is sent, and can be told to fail the first requests.
#![allow(dead_code, clippy::unwrap_used)]

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Json;
use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::post;
use serde_json::Value;

#[derive(Clone, Default)]
pub struct Receiver {
    pub bodies: Arc<Mutex<Vec<Value>>>,
    /// Answer 500 to this many requests before accepting.
    pub fail_first: Arc<AtomicU32>,
}

impl Receiver {
    pub fn bodies(&self) -> Vec<Value> {
        self.bodies.lock().unwrap().clone()
    }
}

async fn accept(State(r): State<Receiver>, Json(body): Json<Value>) -> StatusCode {
    let left = r.fail_first.load(Ordering::SeqCst);
    if left > 0 {
        r.fail_first.store(left - 1, Ordering::SeqCst);
        return StatusCode::INTERNAL_SERVER_ERROR;
    }
    r.bodies.lock().unwrap().push(body);
    StatusCode::OK
}

/// A receiver and its URL (with a secret in the path, as Slack's have).
pub async fn receiver(fail_first: u32) -> (Receiver, String) {
    let r = Receiver::default();
    r.fail_first.store(fail_first, Ordering::SeqCst);
    let app = Router::new()
        .route("/hook/{secret}", post(accept))
        .with_state(r.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/hook/s3cr3t", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    (r, url)
}

pub async fn wait_for_bodies(r: &Receiver, n: usize) -> Vec<Value> {
    for _ in 0..200 {
        let bodies = r.bodies();
        if bodies.len() >= n {
            return bodies;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    panic!("the receiver got {:?}", r.bodies());
}
