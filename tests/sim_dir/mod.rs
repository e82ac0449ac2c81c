//! A simulated cluster in the test's process and a scratch folder beside it
//! (its kubeconfig, the audit file) for runs of the real binary: what the
//! cluster, the audit file and the Events hold afterwards.
#![allow(dead_code, clippy::unwrap_used)]

use std::path::{Path, PathBuf};
use std::process::Command;

use flightdeck::cluster::routers::{http_route, istio};
use flightdeck::sim::Scenario;
use flightdeck::sim::host::{HostOptions, SimHost};
use flightdeck::sim::resources::kinds;
use serde_json::Value;

pub struct SimDir {
    pub host: SimHost,
    pub dir: tempfile::TempDir,
}

impl SimDir {
    /// `scenario` at `speed` simulated seconds per real second.
    pub async fn start(scenario: &str, speed: f64) -> Self {
        let mut opts = HostOptions::new(Scenario::load(scenario).unwrap());
        opts.speed = speed;
        let host = SimHost::start(opts).await.unwrap();
        let dir = tempfile::tempdir().unwrap();
        let this = Self { host, dir };
        this.host.write_kubeconfig(&this.kubeconfig()).unwrap();
        this
    }

    /// `BIN ARGS --plan assets/plans/PLAN --kubeconfig … --audit …` against
    /// this cluster, with backtraces off; the caller adds the rest.
    pub fn command(&self, bin: &str, args: &[&str], plan: &str) -> Command {
        let plan = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("assets/plans")
            .join(plan);
        let mut cmd = Command::new(bin);
        cmd.args(args)
            .arg("--plan")
            .arg(plan)
            .arg("--kubeconfig")
            .arg(self.kubeconfig())
            .arg("--audit")
            .arg(self.audit())
            .env("RUST_BACKTRACE", "0")
            .env("RUST_LIB_BACKTRACE", "0");
        cmd
    }

    pub fn kubeconfig(&self) -> PathBuf {
        self.dir.path().join("kubeconfig")
    }

    /// A kube client from the kubeconfig, as flightdeck makes its own.
    pub async fn client(&self) -> kube::Client {
        let (client, _) =
            flightdeck::cluster::client::connect(Some(&self.kubeconfig()), Some("flightdeck-sim"))
                .await
                .unwrap();
        client
    }

    pub fn audit(&self) -> PathBuf {
        self.dir.path().join("audit.jsonl")
    }

    /// The audit file's entries, oldest first.
    pub fn audit_entries(&self) -> Vec<Value> {
        std::fs::read_to_string(self.audit())
            .unwrap()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    }

    /// The canary's weight on the router object (a VirtualService, or an
    /// HTTPRoute with `gateway_api`), as the cluster holds it.
    pub fn canary_weight(&self, namespace: &str, app: &str, gateway_api: bool) -> u8 {
        let store = &self.host.shared().store;
        let weights = if gateway_api {
            http_route::weights(&store.get(kinds::httproutes(), namespace, app).unwrap())
        } else {
            istio::weights(&store.get(kinds::virtualservices(), namespace, app).unwrap())
        }
        .unwrap();
        weights
            .into_iter()
            .find(|(v, _)| v.contains("canary"))
            .map_or(0, |(_, w)| w)
    }

    /// flightdeck's Kubernetes Events in `namespace`: (reason, message).
    pub fn flightdeck_events(&self, namespace: &str) -> Vec<(String, String)> {
        self.host
            .shared()
            .store
            .list(kinds::events(), Some(namespace))
            .0
            .iter()
            .filter(|e| e["source"]["component"] == "flightdeck")
            .map(|e| {
                let text = |k: &str| e[k].as_str().unwrap_or_default().to_string();
                (text("reason"), text("message"))
            })
            .collect()
    }
}
