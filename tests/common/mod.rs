//! Test support: a simulated API server started in-process on 127.0.0.1:0,
//! its kubeconfig on disk, and kubectl run against it with a time bound.

#![allow(dead_code)]

pub mod driving;

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use chrono::{TimeZone, Utc};
use flightdeck::sim::host::{HostOptions, SimHost};
use flightdeck::sim::server::{self, ServerOptions};
use flightdeck::sim::{Faults, PodLogs, Scenario, Shared, Store};
use serde_json::json;

/// Where kubectl is looked for, unless `FLIGHTDECK_KUBECTL` names another.
const KUBECTL: &str = "kubectl";
/// The longest any kubectl call may take before it is killed.
pub const KUBECTL_TIMEOUT: Duration = Duration::from_secs(30);

pub struct SimServer {
    shared: Shared,
    url: String,
    dir: tempfile::TempDir,
    kubeconfig: PathBuf,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

/// A store with the `default` namespace, its clock at a fixed instant.
pub fn shared() -> Shared {
    let start = Utc.with_ymd_and_hms(2025, 6, 1, 12, 0, 0).single().unwrap();
    let store = Store::new(42, start);
    store
        .create(
            flightdeck::sim::resources::kinds::namespaces(),
            "",
            json!({"metadata": {"name": "default"}}),
        )
        .unwrap();
    Shared {
        store: Arc::new(store),
        logs: Arc::new(PodLogs::new()),
        scenario: Arc::new(Scenario::parse(Path::new("test.toml"), "name = \"test\"\n").unwrap()),
        faults: Arc::new(Faults::default()),
        first_traffic: Arc::default(),
        loadtester: Arc::default(),
    }
}

impl SimServer {
    pub fn start() -> Self {
        Self::start_with(ServerOptions::default())
    }

    pub fn start_with(opts: ServerOptions) -> Self {
        Self::start_on(shared(), opts, None)
    }

    pub fn start_on(
        shared: Shared,
        opts: ServerOptions,
        proxy: Option<Arc<dyn server::ProxyBackend>>,
    ) -> Self {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let token = opts.token.clone();
        let router = server::router(shared.clone(), opts, proxy);
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let thread = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()
                .unwrap();
            runtime.block_on(async move {
                let listener = tokio::net::TcpListener::from_std(listener).unwrap();
                server::serve(listener, router, async move {
                    let _ = stopped.await;
                })
                .await
                .unwrap();
            });
        });
        let dir = tempfile::tempdir().unwrap();
        let kubeconfig = dir.path().join("kubeconfig");
        std::fs::write(
            &kubeconfig,
            server::kubeconfig(&url, token.as_deref(), "default"),
        )
        .unwrap();
        Self {
            shared,
            url,
            dir,
            kubeconfig,
            stop: Some(stop),
            thread: Some(thread),
        }
    }

    pub fn store(&self) -> &Store {
        &self.shared.store
    }

    pub fn shared(&self) -> &Shared {
        &self.shared
    }

    pub fn url(&self) -> &str {
        &self.url
    }

    pub fn kubeconfig_path(&self) -> &Path {
        &self.kubeconfig
    }

    /// A kube client for this server (call inside a tokio runtime).
    pub fn client(&self) -> kube::Client {
        let config = kube::Config::new(self.url.parse().unwrap());
        kube::Client::try_from(config).unwrap()
    }

    /// Runs kubectl to completion, killed after [`KUBECTL_TIMEOUT`].
    pub fn kubectl(&self, args: &[&str]) -> Output {
        let child = kubectl_command(&self.kubeconfig, self.dir.path(), args)
            .spawn()
            .unwrap();
        finish(child, KUBECTL_TIMEOUT)
    }

    /// Starts kubectl in the background (for `-w` and `-f`); end it with [`finish`].
    pub fn kubectl_spawn(&self, args: &[&str]) -> Child {
        kubectl_command(&self.kubeconfig, self.dir.path(), args)
            .spawn()
            .unwrap()
    }
}

/// kubectl with its own kubeconfig, and its cache and home in `dir`.
fn kubectl_command(kubeconfig: &Path, dir: &Path, args: &[&str]) -> Command {
    let mut cmd = Command::new(kubectl_path());
    cmd.arg("--kubeconfig")
        .arg(kubeconfig)
        .args(args)
        .env("KUBECACHEDIR", dir.join("cache"))
        .env("HOME", dir)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    cmd
}

/// A whole simulated cluster (clock, controllers, traffic model and API
/// server, as `flightdeck sim serve` runs it) on its own runtime, with its
/// kubeconfig on disk.
pub struct SimCluster {
    host: Option<SimHost>,
    runtime: tokio::runtime::Runtime,
    dir: tempfile::TempDir,
    kubeconfig: PathBuf,
}

impl SimCluster {
    /// Starts a built-in scenario with the clock at `speed` × real time.
    pub fn start(scenario: &str, speed: f64) -> Self {
        let mut opts = HostOptions::new(Scenario::load(scenario).unwrap());
        opts.speed = speed;
        opts.seed = 7;
        Self::start_with(opts)
    }

    pub fn start_with(opts: HostOptions) -> Self {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        let host = runtime.block_on(SimHost::start(opts)).unwrap();
        let dir = tempfile::tempdir().unwrap();
        let kubeconfig = dir.path().join("kubeconfig");
        host.write_kubeconfig(&kubeconfig).unwrap();
        Self {
            host: Some(host),
            runtime,
            dir,
            kubeconfig,
        }
    }

    fn host(&self) -> &SimHost {
        self.host.as_ref().unwrap()
    }

    pub fn shared(&self) -> &Shared {
        self.host().shared()
    }

    pub fn store(&self) -> &Store {
        &self.shared().store
    }

    pub fn url(&self) -> String {
        self.host().url()
    }

    /// Runs a future on the cluster's runtime (kube clients live there).
    pub fn block_on<F: std::future::Future>(&self, f: F) -> F::Output {
        self.runtime.block_on(f)
    }

    /// A kube client from the kubeconfig, as any program would make it
    /// (call inside [`SimCluster::block_on`]).
    pub async fn client(&self) -> kube::Client {
        let kubeconfig = kube::config::Kubeconfig::read_from(&self.kubeconfig).unwrap();
        let config = kube::Config::from_custom_kubeconfig(
            kubeconfig,
            &kube::config::KubeConfigOptions::default(),
        )
        .await
        .unwrap();
        kube::Client::try_from(config).unwrap()
    }

    /// Runs kubectl to completion, killed after [`KUBECTL_TIMEOUT`].
    pub fn kubectl(&self, args: &[&str]) -> Output {
        let child = kubectl_command(&self.kubeconfig, self.dir.path(), args)
            .spawn()
            .unwrap();
        finish(child, KUBECTL_TIMEOUT)
    }

    /// Starts kubectl in the background (for `-w` and `-f`); end it with [`finish`].
    pub fn kubectl_spawn(&self, args: &[&str]) -> Child {
        kubectl_command(&self.kubeconfig, self.dir.path(), args)
            .spawn()
            .unwrap()
    }
}

impl Drop for SimCluster {
    fn drop(&mut self) {
        if let Some(host) = self.host.take() {
            self.runtime.block_on(host.shutdown());
        }
    }
}

impl Drop for SimServer {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

fn kubectl_path() -> String {
    std::env::var("FLIGHTDECK_KUBECTL").unwrap_or_else(|_| KUBECTL.to_string())
}

/// Whether kubectl can run here. When it cannot, the caller skips its test,
/// unless `FLIGHTDECK_REQUIRE_KUBECTL=1`, where that is a failure.
pub fn kubectl_available(test: &str) -> bool {
    let found = Command::new(kubectl_path())
        .args(["version", "--client"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !found {
        assert!(
            std::env::var("FLIGHTDECK_REQUIRE_KUBECTL").as_deref() != Ok("1"),
            "{test}: kubectl is required (FLIGHTDECK_REQUIRE_KUBECTL=1) but was not found"
        );
        eprintln!("{test}: skipped, kubectl not found");
    }
    found
}

/// Waits for `child` up to `timeout`, then kills it; returns what it wrote.
pub fn finish(mut child: Child, timeout: Duration) -> Output {
    let mut stdout = child.stdout.take().unwrap();
    let mut stderr = child.stderr.take().unwrap();
    let out = std::thread::spawn(move || {
        let mut buf = Vec::new();
        let _ = stdout.read_to_end(&mut buf);
        buf
    });
    let err = std::thread::spawn(move || {
        let mut buf = Vec::new();
        let _ = stderr.read_to_end(&mut buf);
        buf
    });
    let deadline = Instant::now() + timeout;
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if Instant::now() >= deadline {
            let _ = child.kill();
            break child.wait().unwrap();
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    Output {
        status,
        stdout: out.join().unwrap(),
        stderr: err.join().unwrap(),
    }
}

/// Polls `check` until it holds or `timeout` passes.
pub fn wait_until(timeout: Duration, mut check: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + timeout;
    while Instant::now() < deadline {
        if check() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(25));
    }
    check()
}

pub fn text(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

pub fn errors(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// A pod with status, as the kubelet would have written it.
pub fn running_pod(name: &str, app: &str, image: &str, node: &str, ip: &str) -> serde_json::Value {
    json!({
        "metadata": {"name": name, "labels": {"app": app}},
        "spec": {"nodeName": node, "containers": [{"name": "app", "image": image}]},
        "status": {
            "phase": "Running",
            "podIP": ip,
            "conditions": [{"type": "Ready", "status": "True"}],
            "containerStatuses": [{
                "name": "app", "image": image, "ready": true, "restartCount": 0,
                "state": {"running": {"startedAt": "2025-06-01T11:59:00Z"}}
            }]
        }
    })
}

pub fn deployment(name: &str, image: &str, replicas: i64) -> serde_json::Value {
    json!({
        "metadata": {"name": name, "labels": {"app": name}},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": {"app": name}},
            "template": {
                "metadata": {"labels": {"app": name}},
                "spec": {"containers": [{"name": "app", "image": image, "ports": [{"containerPort": 8080}]}]}
            }
        }
    })
}

/// The `*.toml` files shipped in `dir` (`themes`, `keymaps`, `assets/plans`…)
/// with their text, sorted by path.
pub fn shipped_files(dir: &str) -> Vec<(PathBuf, String)> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join(dir);
    let mut out: Vec<_> = std::fs::read_dir(&root)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "toml"))
        .map(|p| {
            let text = std::fs::read_to_string(&p).unwrap();
            (p, text)
        })
        .collect();
    out.sort();
    assert!(!out.is_empty(), "no files in {dir}");
    out
}
