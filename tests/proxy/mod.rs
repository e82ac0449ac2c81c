//! A forward proxy on loopback, for clients configured with a proxy (a
//! kubeconfig's `proxy-url`): a plain HTTP request in absolute form is
//! passed on to its origin, CONNECT opens a tunnel. It keeps the request
//! lines it saw, so a test can tell that the traffic went through it.

#![allow(dead_code)]

use std::sync::{Arc, Mutex};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;

/// The longest request head the proxy reads before giving up.
const HEAD_LIMIT: usize = 64 * 1024;

pub struct Proxy {
    pub url: String,
    seen: Arc<Mutex<Vec<String>>>,
    task: JoinHandle<()>,
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Proxy {
    pub async fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let seen = Arc::new(Mutex::new(Vec::new()));
        let log = seen.clone();
        let task = tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                let log = log.clone();
                tokio::spawn(async move {
                    let _ = forward(client, log).await;
                });
            }
        });
        Self { url, seen, task }
    }

    /// The request lines it forwarded, in order: a CONNECT's, then those
    /// inside its tunnel when they are plain HTTP.
    pub fn seen(&self) -> Vec<String> {
        self.seen.lock().unwrap().clone()
    }
}

async fn forward(mut client: TcpStream, seen: Arc<Mutex<Vec<String>>>) -> std::io::Result<()> {
    let mut head = Vec::new();
    let mut buf = vec![0u8; 4096];
    let end = loop {
        let n = client.read(&mut buf).await?;
        if n == 0 || head.len() > HEAD_LIMIT {
            return Ok(());
        }
        head.extend_from_slice(&buf[..n]);
        if let Some(i) = head.windows(4).position(|w| w == b"\r\n\r\n") {
            break i;
        }
    };
    let text = String::from_utf8_lossy(&head[..end]).to_string();
    let first = text.lines().next().unwrap_or_default().to_string();
    let mut parts = first.split(' ');
    let (method, target) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""));
    if method == "CONNECT" {
        seen.lock().unwrap().push(first.clone());
        let upstream = TcpStream::connect(target).await?;
        client
            .write_all(b"HTTP/1.1 200 Connection established\r\n\r\n")
            .await?;
        // What followed the CONNECT's head already belongs to the tunnel.
        return relay(client, upstream, &head[end + 4..], &seen).await;
    }
    let Some(rest) = target.strip_prefix("http://") else {
        client
            .write_all(b"HTTP/1.1 400 Bad Request\r\ncontent-length: 0\r\n\r\n")
            .await?;
        return Ok(());
    };
    let host = rest.split('/').next().unwrap_or(rest).to_string();
    let upstream = TcpStream::connect(&host).await?;
    // Origin servers take the absolute form too (RFC 9112 §3.2.2): the
    // bytes go on as they came.
    relay(client, upstream, &head, &seen).await
}

/// Copies both ways until either side closes, noting the request lines
/// going up (plain HTTP, or inside a tunnel to a plain HTTP server).
async fn relay(
    client: TcpStream,
    upstream: TcpStream,
    first: &[u8],
    seen: &Mutex<Vec<String>>,
) -> std::io::Result<()> {
    let (mut from_client, mut to_client) = client.into_split();
    let (mut from_upstream, mut to_upstream) = upstream.into_split();
    note(seen, first);
    to_upstream.write_all(first).await?;
    let up = async {
        let mut buf = vec![0u8; 16 * 1024];
        loop {
            let n = from_client.read(&mut buf).await?;
            if n == 0 {
                return to_upstream.shutdown().await;
            }
            note(seen, &buf[..n]);
            to_upstream.write_all(&buf[..n]).await?;
        }
    };
    let down = async {
        let mut buf = vec![0u8; 16 * 1024];
        loop {
            let n = from_upstream.read(&mut buf).await?;
            if n == 0 {
                return to_client.shutdown().await;
            }
            to_client.write_all(&buf[..n]).await?;
        }
    };
    let _ = tokio::join!(up, down);
    Ok(())
}

/// Keeps the request lines in `chunk` (a line that ends in ` HTTP/1.1`).
fn note(seen: &Mutex<Vec<String>>, chunk: &[u8]) {
    let text = String::from_utf8_lossy(chunk);
    let mut seen = seen.lock().unwrap();
    for line in text.split("\r\n").filter(|l| l.ends_with(" HTTP/1.1")) {
        seen.push(line.to_string());
    }
}
