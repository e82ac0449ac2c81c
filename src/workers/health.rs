//! HTTP health checks of the canary, for the `health-check` guard: through
//! the API server's service proxy (`/api/v1/namespaces/NS/services/NAME:PORT/
//! proxy/PATH`, so the cockpit needs no route into the cluster's network) or
//! a plain URL. Each probe is one guard sample: 1 a failure, 0 a success, as
//! [`Rule::Consecutive`](crate::rollout::guards::Rule::Consecutive) counts them.

use std::time::Duration;

use kube::Client;

/// Where a probe goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HealthTarget {
    /// A Service of the canary, reached through the API server.
    ServiceProxy {
        namespace: String,
        service: String,
        /// The Service port's number or name.
        port: String,
        path: String,
    },
    /// Anything reachable from where the cockpit runs.
    Url(String),
}

impl HealthTarget {
    /// The API server path of a service-proxy probe.
    pub fn proxy_path(namespace: &str, service: &str, port: &str, path: &str) -> String {
        format!(
            "/api/v1/namespaces/{namespace}/services/{service}:{port}/proxy/{}",
            path.trim_start_matches('/')
        )
    }
}

/// One probe's result.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Probe {
    pub healthy: bool,
    /// What answered, e.g. `200` or `503: no endpoints available…`, kept short.
    pub detail: String,
}

impl Probe {
    /// The guard sample: 1 a failure, 0 a success.
    pub fn sample_value(&self) -> f64 {
        if self.healthy { 0.0 } else { 1.0 }
    }
}

/// Probes one target.
#[derive(Clone)]
pub struct Prober {
    client: Client,
    http: reqwest::Client,
    target: HealthTarget,
    timeout: Duration,
}

impl Prober {
    /// A probe taking longer than `timeout` is a failure.
    pub fn new(client: Client, target: HealthTarget, timeout: Duration) -> Self {
        let http = reqwest::Client::builder()
            .timeout(timeout)
            .build()
            .unwrap_or_default();
        Self {
            client,
            http,
            target,
            timeout,
        }
    }

    pub fn target(&self) -> &HealthTarget {
        &self.target
    }

    /// One probe. The kube client retries a 503 with back-off, which is what
    /// the service proxy answers when the canary has no ready endpoint: the
    /// deadline turns that (and any other silence) into a failure.
    pub async fn probe(&self) -> Probe {
        match tokio::time::timeout(self.timeout, self.ask()).await {
            Ok(probe) => probe,
            Err(_) => failed(&format!(
                "no healthy answer within {}",
                crate::units::format_duration(self.timeout)
            )),
        }
    }

    async fn ask(&self) -> Probe {
        match &self.target {
            HealthTarget::ServiceProxy {
                namespace,
                service,
                port,
                path,
            } => {
                let path = HealthTarget::proxy_path(namespace, service, port, path);
                let Ok(request) = http::Request::get(path).body(Vec::new()) else {
                    return failed("the probe path is not a valid URI");
                };
                match self.client.request_text(request).await {
                    Ok(_) => Probe {
                        healthy: true,
                        detail: "200".into(),
                    },
                    Err(kube::Error::Api(status)) => {
                        failed(&format!("{}: {}", status.code, status.message.trim()))
                    }
                    Err(e) => failed(&e.to_string()),
                }
            }
            HealthTarget::Url(url) => match self.http.get(url).send().await {
                Ok(r) if r.status().is_success() => Probe {
                    healthy: true,
                    detail: r.status().as_u16().to_string(),
                },
                Ok(r) => failed(&r.status().to_string()),
                Err(e) if e.is_timeout() => failed("timed out"),
                Err(e) if e.is_connect() => failed("cannot connect"),
                Err(_) => failed("request failed"),
            },
        }
    }
}

fn failed(detail: &str) -> Probe {
    // The answer comes from the cluster: keep it to one printable line.
    let mut detail = crate::sanitize::clean(&detail.replace('\n', " ")).into_owned();
    if detail.len() > 120 {
        let cut = (0..=120)
            .rev()
            .find(|i| detail.is_char_boundary(*i))
            .unwrap_or(0);
        detail.truncate(cut);
        detail.push('…');
    }
    Probe {
        healthy: false,
        detail,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn proxy_paths_join_the_probe_path() {
        assert_eq!(
            HealthTarget::proxy_path("shop", "checkout-canary", "http", "/health/ready"),
            "/api/v1/namespaces/shop/services/checkout-canary:http/proxy/health/ready"
        );
    }

    #[test]
    fn failures_are_one_short_printable_line() {
        let p = failed(&format!("503: no endpoints\n\u{1b}[31m{}", "x".repeat(300)));
        assert!(!p.healthy);
        assert!((p.sample_value() - 1.0).abs() < f64::EPSILON);
        assert!(!p.detail.contains('\n') && !p.detail.contains('\u{1b}'));
        assert!(p.detail.chars().count() <= 121, "{}", p.detail);
    }
}
