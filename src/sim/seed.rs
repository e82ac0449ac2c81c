//! The objects a scenario starts with.
//!
//! The names below are a contract: the cockpit, the driver and the traffic
//! model find objects by them.
//!
//! - Namespaces: `default`, `kube-system`, `kube-public`, `kube-node-lease` and
//!   every namespace the scenario lists.
//! - Nodes `{node_prefix}{n}`, n = 1…nodes, Ready, with capacity and allocatable
//!   cpu/memory/pods, an InternalIP and `nodeInfo.kubeletVersion` = cluster.version.
//! - A canary app `{app}`: Deployments `{app}-stable` and `{app}-canary`
//!   (labels and selector `app={app}`, `version=stable|canary`), Service `{app}`
//!   selecting `app`, Services `{app}-stable` and `{app}-canary` selecting app and
//!   version. Per router: `istio` → DestinationRule `{app}` (subsets `stable`,
//!   `canary` by the version label) and VirtualService `{app}` (host `{app}`, one
//!   http route to subsets stable and canary with the scenario's weights);
//!   `gateway-api` → HTTPRoute `{app}` (parentRef Gateway `mesh-gateway`,
//!   backendRefs Services `{app}-stable`/`{app}-canary` with the weights); `smi` →
//!   TrafficSplit `{app}` (service `{app}`, backends `{app}-stable`/`{app}-canary`);
//!   `nginx` → Ingress `{app}` (→ `{app}-stable`) and Ingress `{app}-canary`
//!   (→ `{app}-canary`, annotations `nginx.ingress.kubernetes.io/canary: "true"`
//!   and `canary-weight`).
//! - A blue-green app: Deployments `{app}-{slot}` (labels app, `slot`, and
//!   `version` = slot), Service `{app}` selecting app and the active slot, Service
//!   `{app}-preview` selecting app and the other slot. With routers, Services
//!   `{app}-{slot}` and router objects as for a canary, with subsets named by slot.
//! - A rolling app: Deployment `{app}` (label `version=stable`) and Service `{app}`.
//! - A canary app with `flightdeck`: also the state ConfigMap
//!   `{app}-flightdeck-rollout` of a rollout at that stage, owned by
//!   `{app}-stable`, and router weights at that stage's.
//! - An Argo canary app: Rollout `{app}` (selector `app={app}`, template of the
//!   canary version, steps setWeight 20, pause, setWeight 40, pause 30s,
//!   analysis `error-rate`, setWeight 60, pause 30s, setWeight 80, pause 30s;
//!   Istio traffic routing when the app has the `istio` router), its stable
//!   ReplicaSet `{app}-{hash}` already running the stable version, an
//!   AnalysisTemplate `error-rate`, Services as for a canary app, and the
//!   router objects of a canary app, the DestinationRule's subsets without
//!   labels (Argo pins them to pod-template hashes).
//! - An Argo blue-green app: Rollout `{app}` (template of the second version,
//!   `activeService` `{app}`, `previewService` `{app}-preview`,
//!   `autoPromotionEnabled: false`), its stable ReplicaSet running the first
//!   version, Service `{app}` selecting it by `rollouts-pod-template-hash`, and
//!   Service `{app}-preview`.
//! - A Flagger canary app: Deployment `{app}` just given the canary version,
//!   Deployment `{app}-primary` running the stable one, Canary `{app}`
//!   targeting `{app}` (interval 30s, stepWeight 20, maxWeight 60, threshold 3,
//!   request-success-rate ≥ 99) initialised at the stable version, and
//!   Service `{app}`. With the `istio` router: `provider: istio`, pods labelled
//!   `role: primary|canary`, Services and DestinationRules `{app}-primary` and
//!   `{app}-canary`, and VirtualService `{app}` routing to those two hosts.
//!   Service `flagger-loadtester` in the namespace; with `gates`,
//!   `confirm-promotion` and `rollback` webhooks on the loadtester's gates.
//!
//! Every pod template has one container named `{app}`: the image, the port
//! (named `http`), env `VERSION` (the image tag), limits and requests, a readiness
//! probe on `/health/ready` and a liveness probe on `/health/live`. Deployments
//! roll with RollingUpdate 25%/25%, keep 10 revisions and have a 600 s progress
//! deadline. Service cluster IPs are 10.96.x.y, in the order seeded.

use serde_json::{Value, json};

use super::Shared;
use super::loadtester;
use super::resources::{Resource, kinds};
use super::rollout_state;
use super::scenario::{AppSpec, RouterKind, Strategy, VersionSpec};
use super::store::StoreError;

/// The Gateway every seeded HTTPRoute attaches to.
pub const MESH_GATEWAY: &str = "mesh-gateway";
/// Namespaces every cluster has.
const SYSTEM_NAMESPACES: &[&str] = &["default", "kube-system", "kube-public", "kube-node-lease"];

#[derive(Debug, thiserror::Error)]
pub enum SeedError {
    /// `object` reads `Kind namespace/name`.
    #[error("cannot create {object}: {source}")]
    Create { object: String, source: StoreError },
}

/// One backend of a router: the subset / Service it names and its weight.
struct Backend {
    subset: String,
    /// The DestinationRule subset's labels.
    subset_labels: Value,
    service: String,
    weight: u8,
}

struct Seeder<'a> {
    shared: &'a Shared,
    next_cluster_ip: u32,
}

/// Creates everything the scenario describes, in a fixed order.
pub fn seed_cluster(shared: &Shared) -> Result<(), SeedError> {
    let mut seeder = Seeder {
        shared,
        next_cluster_ip: 1,
    };
    seeder.run()
}

impl Seeder<'_> {
    fn create(
        &self,
        res: &'static Resource,
        namespace: &str,
        object: Value,
    ) -> Result<(), SeedError> {
        let name = object
            .pointer("/metadata/name")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string();
        self.shared
            .store
            .create(res, namespace, object)
            .map(|_| ())
            .map_err(|source| SeedError::Create {
                object: format!("{} {namespace}/{name}", res.kind),
                source,
            })
    }

    fn run(&mut self) -> Result<(), SeedError> {
        let scenario = self.shared.scenario.clone();
        let mut namespaces: Vec<&str> = SYSTEM_NAMESPACES.to_vec();
        for ns in &scenario.cluster.namespaces {
            if !namespaces.contains(&ns.as_str()) {
                namespaces.push(ns);
            }
        }
        for ns in namespaces {
            self.create(
                kinds::namespaces(),
                "",
                json!({
                    "metadata": {"name": ns, "labels": {"kubernetes.io/metadata.name": ns}},
                    "spec": {"finalizers": ["kubernetes"]},
                    "status": {"phase": "Active"},
                }),
            )?;
        }
        for n in 1..=scenario.cluster.nodes {
            let since = self.shared.store.now_rfc3339();
            self.create(kinds::nodes(), "", node(&scenario.cluster, n, &since))?;
        }
        for app in &scenario.apps {
            match app.strategy {
                Strategy::Canary => self.canary(app)?,
                Strategy::BlueGreen => self.blue_green(app)?,
                Strategy::Rolling => self.rolling(app)?,
                Strategy::ArgoCanary => self.argo_canary(app)?,
                Strategy::ArgoBlueGreen => self.argo_blue_green(app)?,
                Strategy::FlaggerCanary => self.flagger_canary(app)?,
            }
        }
        Ok(())
    }

    fn canary(&mut self, app: &AppSpec) -> Result<(), SeedError> {
        let (stable, canary) = canary_versions(app);
        let mut backends = Vec::new();
        // A started flightdeck rollout has set its stage's weight.
        let canary_weight = app
            .flightdeck
            .as_ref()
            .map_or(0, rollout_state::canary_weight);
        for (role, version, default_weight) in [
            ("stable", stable, 100 - canary_weight),
            ("canary", canary, canary_weight),
        ] {
            let labels = json!({"app": app.name, "version": role});
            self.create(
                kinds::deployments(),
                &app.namespace,
                deployment(app, version, &format!("{}-{role}", app.name), &labels),
            )?;
            backends.push(Backend {
                subset_labels: json!({"version": role}),
                subset: role.to_string(),
                service: format!("{}-{role}", app.name),
                weight: version.weight.unwrap_or(default_weight),
            });
        }
        self.service(app, &app.name, &json!({"app": app.name}))?;
        for b in &backends {
            self.service(
                app,
                &b.service,
                &json!({"app": app.name, "version": b.subset}),
            )?;
        }
        self.routers(app, &backends)?;
        if let Some(rollout) = &app.flightdeck {
            let owner = format!("{}-stable", app.name);
            let uid = self
                .shared
                .store
                .get(kinds::deployments(), &app.namespace, &owner)
                .and_then(|d| {
                    d.pointer("/metadata/uid")
                        .and_then(Value::as_str)
                        .map(String::from)
                })
                .unwrap_or_default();
            let now = self.shared.store.now_rfc3339();
            self.create(
                kinds::configmaps(),
                &app.namespace,
                rollout_state::config_map(app, rollout, &owner, &uid, &now),
            )?;
        }
        Ok(())
    }

    fn blue_green(&mut self, app: &AppSpec) -> Result<(), SeedError> {
        let slot_of = |v: &VersionSpec| v.slot.clone().unwrap_or_else(|| v.name.clone());
        let active = app
            .active_slot
            .clone()
            .or_else(|| app.versions.first().map(slot_of))
            .unwrap_or_default();
        let mut backends = Vec::new();
        for version in &app.versions {
            let slot = slot_of(version);
            let labels = json!({"app": app.name, "slot": slot, "version": slot});
            self.create(
                kinds::deployments(),
                &app.namespace,
                deployment(app, version, &format!("{}-{slot}", app.name), &labels),
            )?;
            let default_weight = if slot == active { 100 } else { 0 };
            backends.push(Backend {
                subset_labels: json!({"version": slot}),
                service: format!("{}-{slot}", app.name),
                weight: version.weight.unwrap_or(default_weight),
                subset: slot,
            });
        }
        self.service(app, &app.name, &json!({"app": app.name, "slot": active}))?;
        if let Some(preview) = backends.iter().find(|b| b.subset != active) {
            let selector = json!({"app": app.name, "slot": preview.subset});
            self.service(app, &format!("{}-preview", app.name), &selector)?;
        }
        if !app.routers.is_empty() {
            for b in &backends {
                self.service(app, &b.service, &json!({"app": app.name, "slot": b.subset}))?;
            }
            self.routers(app, &backends)?;
        }
        Ok(())
    }

    fn rolling(&mut self, app: &AppSpec) -> Result<(), SeedError> {
        if let Some(version) = app.versions.first() {
            let labels = json!({"app": app.name, "version": "stable"});
            self.create(
                kinds::deployments(),
                &app.namespace,
                deployment(app, version, &app.name, &labels),
            )?;
        }
        self.service(app, &app.name, &json!({"app": app.name}))
    }

    fn argo_canary(&mut self, app: &AppSpec) -> Result<(), SeedError> {
        use super::controllers::argo::replicas::{HASH_LABEL, REVISION, pod_hash};
        let (stable, canary) = canary_versions(app);
        let ns = &app.namespace;
        let selector = json!({"app": app.name});
        let stable_template = pod_template(app, stable, &selector);
        let stable_hash = pod_hash(&stable_template, None);
        let istio = app.routers.contains(&RouterKind::Istio);
        let mut strategy = json!({
            "canaryService": format!("{}-canary", app.name),
            "stableService": format!("{}-stable", app.name),
            "steps": [
                {"setWeight": 20}, {"pause": {}}, {"setWeight": 40}, {"pause": {"duration": "30s"}},
                {"analysis": {"templates": [{"templateName": "error-rate"}],
                              "args": [{"name": "app", "value": app.name}]}},
                {"setWeight": 60}, {"pause": {"duration": "30s"}},
                {"setWeight": 80}, {"pause": {"duration": "30s"}},
            ],
        });
        if istio {
            strategy["trafficRouting"] = json!({"istio": {
                "virtualService": {"name": app.name, "routes": ["primary"]},
                "destinationRule": {"name": app.name, "canarySubsetName": "canary", "stableSubsetName": "stable"},
            }});
        }
        if self
            .shared
            .store
            .get(kinds::analysistemplates(), ns, "error-rate")
            .is_none()
        {
            let query = "sum(rate(http_requests_total{app=\"{{args.app}}\",version=\"canary\",code=~\"5..\"}[1m])) / sum(rate(http_requests_total{app=\"{{args.app}}\",version=\"canary\"}[1m]))";
            self.create(
                kinds::analysistemplates(),
                ns,
                json!({
                    "apiVersion": "argoproj.io/v1alpha1",
                    "metadata": {"name": "error-rate"},
                    "spec": {
                        "args": [{"name": "app"}],
                        "metrics": [{
                            "name": "error-rate",
                            "interval": "10s",
                            "count": 3,
                            "successCondition": "result[0] < 0.05",
                            "failureLimit": 1,
                            "provider": {"prometheus": {"address": "http://prometheus.monitoring:9090", "query": query}},
                        }],
                    },
                }),
            )?;
        }
        let rollout = self
            .shared
            .store
            .create(
                kinds::rollouts(),
                ns,
                json!({
                    "apiVersion": "argoproj.io/v1alpha1",
                    "metadata": {"name": app.name, "labels": {"app": app.name},
                                 "annotations": {REVISION: "2"}},
                    "spec": {
                        "replicas": stable.replicas,
                        "revisionHistoryLimit": 10,
                        "selector": {"matchLabels": selector},
                        "template": pod_template(app, canary, &selector),
                        "strategy": {"canary": strategy},
                    },
                    "status": {"stableRS": stable_hash, "currentPodHash": stable_hash,
                               "currentStepIndex": 0, "phase": "Progressing"},
                }),
            )
            .map_err(|source| SeedError::Create {
                object: format!("Rollout {ns}/{}", app.name),
                source,
            })?;
        let mut template = stable_template;
        template["metadata"]["labels"][HASH_LABEL] = json!(stable_hash);
        template["metadata"]["labels"]["version"] = json!("stable");
        let owner = super::controllers::controller_ref(&rollout, "argoproj.io/v1alpha1", "Rollout");
        self.create(
            kinds::replicasets(),
            ns,
            json!({
                "metadata": {
                    "name": format!("{}-{stable_hash}", app.name),
                    "labels": template["metadata"]["labels"],
                    "annotations": {REVISION: "1"},
                    "ownerReferences": [owner],
                },
                "spec": {
                    "replicas": stable.replicas,
                    "selector": {"matchLabels": {"app": app.name, HASH_LABEL: stable_hash}},
                    "template": template,
                },
            }),
        )?;
        // The subsets select nothing by themselves: Argo pins each to its
        // ReplicaSet's pod-template hash, so the stable subset follows a
        // promotion to the new pods.
        let backends = [("stable", 100), ("canary", 0)].map(|(role, weight)| Backend {
            subset_labels: json!({}),
            subset: role.to_string(),
            service: format!("{}-{role}", app.name),
            weight,
        });
        self.service(app, &app.name, &selector)?;
        for b in &backends {
            self.service(
                app,
                &b.service,
                &json!({"app": app.name, "version": b.subset}),
            )?;
        }
        self.routers(app, &backends)
    }

    fn argo_blue_green(&mut self, app: &AppSpec) -> Result<(), SeedError> {
        use super::controllers::argo::replicas::{HASH_LABEL, REVISION, pod_hash};
        let (active, next) = canary_versions(app);
        let ns = &app.namespace;
        let selector = json!({"app": app.name});
        let active_template = pod_template(app, active, &selector);
        let active_hash = pod_hash(&active_template, None);
        let rollout = self
            .shared
            .store
            .create(
                kinds::rollouts(),
                ns,
                json!({
                    "apiVersion": "argoproj.io/v1alpha1",
                    "metadata": {"name": app.name, "labels": {"app": app.name},
                                 "annotations": {REVISION: "2"}},
                    "spec": {
                        "replicas": active.replicas,
                        "revisionHistoryLimit": 10,
                        "selector": {"matchLabels": selector},
                        "template": pod_template(app, next, &selector),
                        "strategy": {"blueGreen": {
                            "activeService": app.name,
                            "previewService": format!("{}-preview", app.name),
                            "autoPromotionEnabled": false,
                        }},
                    },
                    "status": {"stableRS": active_hash, "currentPodHash": active_hash,
                               "phase": "Progressing"},
                }),
            )
            .map_err(|source| SeedError::Create {
                object: format!("Rollout {ns}/{}", app.name),
                source,
            })?;
        let mut template = active_template;
        template["metadata"]["labels"][HASH_LABEL] = json!(active_hash);
        template["metadata"]["labels"]["version"] = json!(active.name);
        let owner = super::controllers::controller_ref(&rollout, "argoproj.io/v1alpha1", "Rollout");
        self.create(
            kinds::replicasets(),
            ns,
            json!({
                "metadata": {
                    "name": format!("{}-{active_hash}", app.name),
                    "labels": template["metadata"]["labels"],
                    "annotations": {REVISION: "1"},
                    "ownerReferences": [owner],
                },
                "spec": {
                    "replicas": active.replicas,
                    "selector": {"matchLabels": {"app": app.name, HASH_LABEL: active_hash}},
                    "template": template,
                },
            }),
        )?;
        self.service(
            app,
            &app.name,
            &json!({"app": app.name, HASH_LABEL: active_hash}),
        )?;
        self.service(app, &format!("{}-preview", app.name), &selector)
    }

    fn flagger_canary(&mut self, app: &AppSpec) -> Result<(), SeedError> {
        use super::controllers::hash::template_hash;
        let (stable, canary) = canary_versions(app);
        let ns = &app.namespace;
        let labels = json!({"app": app.name});
        // Behind Istio the primary and canary pods are told apart by a role
        // label, so the `{app}-primary` and `{app}-canary` Services the
        // VirtualService routes to each reach their own.
        let routed = app.routers.contains(&RouterKind::Istio);
        let with_role = |role: &str| {
            let mut l = labels.clone();
            if routed {
                l["role"] = json!(role);
            }
            l
        };
        // Flagger initialised the Canary at the stable version (the primary
        // runs it); the canary's image has just been applied to the target.
        let promoted = deployment(app, stable, &app.name, &with_role("canary"));
        let promoted_hash = template_hash(&promoted["spec"]["template"], None);
        let mut primary = deployment(
            app,
            stable,
            &format!("{}-primary", app.name),
            &with_role("primary"),
        );
        primary["spec"]["template"]["metadata"]["labels"]["version"] = json!(stable.name);
        self.create(kinds::deployments(), ns, primary)?;
        let mut target = deployment(app, canary, &app.name, &with_role("canary"));
        target["spec"]["template"]["metadata"]["labels"]["version"] = json!(canary.name);
        self.create(kinds::deployments(), ns, target)?;
        self.service(app, &app.name, &labels)?;
        let mut analysis = json!({
            "interval": "30s",
            "threshold": 3,
            "maxWeight": 60,
            "stepWeight": 20,
            "metrics": [{"name": "request-success-rate", "interval": "1m",
                         "thresholdRange": {"min": 99}}],
        });
        self.loadtester(ns)?;
        if app.gates {
            let url = |path: &str| format!("http://{}.{ns}/{path}", loadtester::APP);
            analysis["webhooks"] = json!([
                {"name": "approve-promotion", "type": "confirm-promotion", "url": url("gate/check")},
                {"name": "rollback-gate", "type": "rollback", "url": url("rollback/check")},
            ]);
        }
        let mut spec = json!({
            "targetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": app.name},
            "service": {"port": app.port},
            "analysis": analysis,
        });
        if app.paused {
            spec["suspend"] = json!(true);
        }
        if routed {
            spec["provider"] = json!("istio");
            self.flagger_istio(app)?;
        }
        self.create(
            kinds::canaries(),
            ns,
            json!({
                "apiVersion": "flagger.app/v1beta1",
                "metadata": {"name": app.name},
                "spec": spec,
                "status": {
                    "phase": "Initialized",
                    "canaryWeight": 0,
                    "failedChecks": 0,
                    "iterations": 0,
                    "lastAppliedSpec": promoted_hash,
                    "lastPromotedSpec": promoted_hash,
                },
            }),
        )
    }

    /// What Flagger's Istio router makes: Services and DestinationRules
    /// `{app}-primary` and `{app}-canary`, and the VirtualService `{app}`
    /// routing to the two hosts, all traffic on the primary.
    fn flagger_istio(&mut self, app: &AppSpec) -> Result<(), SeedError> {
        let ns = &app.namespace;
        let mut route = Vec::new();
        for (role, weight) in [("primary", 100), ("canary", 0)] {
            let host = format!("{}-{role}", app.name);
            self.service(app, &host, &json!({"app": app.name, "role": role}))?;
            self.create(
                kinds::destinationrules(),
                ns,
                json!({
                    "apiVersion": "networking.istio.io/v1",
                    "metadata": {"name": host, "labels": {"app": app.name}},
                    "spec": {"host": host},
                }),
            )?;
            route.push(json!({"destination": {"host": host}, "weight": weight}));
        }
        self.create(
            kinds::virtualservices(),
            ns,
            json!({
                "apiVersion": "networking.istio.io/v1",
                "metadata": {"name": app.name, "labels": {"app": app.name}},
                "spec": {"hosts": [app.name], "http": [{"route": route}]},
            }),
        )
    }

    /// Flagger's loadtester Service, once per namespace: the sim answers its
    /// gates itself.
    fn loadtester(&mut self, ns: &str) -> Result<(), SeedError> {
        if self
            .shared
            .store
            .get(kinds::services(), ns, loadtester::APP)
            .is_some()
        {
            return Ok(());
        }
        let n = self.next_cluster_ip;
        self.next_cluster_ip += 1;
        let ip = format!("10.96.{}.{}", n / 250, n % 250 + 1);
        let labels = json!({"app": loadtester::APP});
        self.create(
            kinds::services(),
            ns,
            json!({
                "metadata": {"name": loadtester::APP, "labels": labels},
                "spec": {
                    "type": "ClusterIP", "clusterIP": ip, "clusterIPs": [ip],
                    "selector": labels,
                    "ports": [{"name": "http", "port": 80, "targetPort": "http", "protocol": "TCP"}],
                },
                "status": {"loadBalancer": {}},
            }),
        )
    }

    fn service(&mut self, app: &AppSpec, name: &str, selector: &Value) -> Result<(), SeedError> {
        let n = self.next_cluster_ip;
        self.next_cluster_ip += 1;
        let ip = format!("10.96.{}.{}", n / 250, n % 250 + 1);
        self.create(
            kinds::services(),
            &app.namespace,
            json!({
                "metadata": {"name": name, "labels": {"app": app.name}},
                "spec": {
                    "type": "ClusterIP",
                    "clusterIP": ip,
                    "clusterIPs": [ip],
                    "ipFamilies": ["IPv4"],
                    "ipFamilyPolicy": "SingleStack",
                    "internalTrafficPolicy": "Cluster",
                    "sessionAffinity": "None",
                    "selector": selector,
                    "ports": [{"name": "http", "port": app.port, "targetPort": app.port, "protocol": "TCP"}],
                },
                "status": {"loadBalancer": {}},
            }),
        )
    }

    fn routers(&self, app: &AppSpec, backends: &[Backend]) -> Result<(), SeedError> {
        let ns = &app.namespace;
        let labels = json!({"app": app.name});
        for router in &app.routers {
            match router {
                RouterKind::Istio => {
                    let subsets: Vec<Value> = backends
                        .iter()
                        .map(|b| json!({"name": b.subset, "labels": b.subset_labels}))
                        .collect();
                    self.create(
                        kinds::destinationrules(),
                        ns,
                        json!({
                            "apiVersion": "networking.istio.io/v1",
                            "metadata": {"name": app.name, "labels": labels},
                            "spec": {"host": app.name, "subsets": subsets},
                        }),
                    )?;
                    let route: Vec<Value> = backends
                        .iter()
                        .map(|b| json!({"destination": {"host": app.name, "subset": b.subset, "port": {"number": app.port}}, "weight": b.weight}))
                        .collect();
                    self.create(
                        kinds::virtualservices(),
                        ns,
                        json!({
                            "apiVersion": "networking.istio.io/v1",
                            "metadata": {"name": app.name, "labels": labels},
                            "spec": {"hosts": [app.name], "http": [{"name": "primary", "route": route}]},
                        }),
                    )?;
                }
                RouterKind::GatewayApi => {
                    let refs: Vec<Value> = backends
                        .iter()
                        .map(|b| json!({"group": "", "kind": "Service", "name": b.service, "port": app.port, "weight": b.weight}))
                        .collect();
                    let parent = json!({"group": "gateway.networking.k8s.io", "kind": "Gateway", "name": MESH_GATEWAY});
                    self.create(
                        kinds::httproutes(),
                        ns,
                        json!({
                            "apiVersion": "gateway.networking.k8s.io/v1",
                            "metadata": {"name": app.name, "labels": labels},
                            "spec": {
                                "parentRefs": [parent],
                                "rules": [{
                                    "matches": [{"path": {"type": "PathPrefix", "value": "/"}}],
                                    "backendRefs": refs,
                                }],
                            },
                            "status": {"parents": [{
                                "parentRef": parent,
                                "controllerName": "flightdeck.dev/sim-gateway",
                                "conditions": [
                                    {"type": "Accepted", "status": "True", "reason": "Accepted", "message": "Route is accepted", "observedGeneration": 1},
                                    {"type": "ResolvedRefs", "status": "True", "reason": "ResolvedRefs", "message": "Resolved all the Object references for the Route", "observedGeneration": 1},
                                ],
                            }]},
                        }),
                    )?;
                }
                RouterKind::Smi => {
                    let split: Vec<Value> = backends
                        .iter()
                        .map(|b| json!({"service": b.service, "weight": b.weight}))
                        .collect();
                    self.create(
                        kinds::trafficsplits(),
                        ns,
                        json!({
                            "apiVersion": "split.smi-spec.io/v1alpha2",
                            "metadata": {"name": app.name, "labels": labels},
                            "spec": {"service": app.name, "backends": split},
                        }),
                    )?;
                }
                RouterKind::Nginx => self.nginx(app, backends)?,
            }
        }
        Ok(())
    }

    fn nginx(&self, app: &AppSpec, backends: &[Backend]) -> Result<(), SeedError> {
        let host = format!("{}.{}.sim.local", app.name, app.namespace);
        let ingress = |name: &str, service: &str, annotations: Value| {
            json!({
                "metadata": {"name": name, "labels": {"app": app.name}, "annotations": annotations},
                "spec": {
                    "ingressClassName": "nginx",
                    "rules": [{"host": host, "http": {"paths": [{
                        "path": "/",
                        "pathType": "Prefix",
                        "backend": {"service": {"name": service, "port": {"number": app.port}}},
                    }]}}],
                },
                "status": {"loadBalancer": {"ingress": [{"ip": "10.0.255.1"}]}},
            })
        };
        let (Some(primary), Some(canary)) = (backends.first(), backends.get(1)) else {
            return Ok(());
        };
        self.create(
            kinds::ingresses(),
            &app.namespace,
            ingress(&app.name, &primary.service, json!({})),
        )?;
        self.create(
            kinds::ingresses(),
            &app.namespace,
            ingress(
                &format!("{}-canary", app.name),
                &canary.service,
                json!({
                    "nginx.ingress.kubernetes.io/canary": "true",
                    "nginx.ingress.kubernetes.io/canary-weight": canary.weight.to_string(),
                }),
            ),
        )
    }
}

/// The stable and canary versions of a canary app: by name when they are named
/// so, otherwise first and second.
fn canary_versions(app: &AppSpec) -> (&VersionSpec, &VersionSpec) {
    let by_name = |n: &str| app.versions.iter().find(|v| v.name == n);
    let first = &app.versions[0];
    let second = app.versions.get(1).unwrap_or(first);
    match (by_name("stable"), by_name("canary")) {
        (Some(s), Some(c)) => (s, c),
        _ => (first, second),
    }
}

/// The release a version runs: its image tag, or the version's name.
pub fn release_of(image: &str, fallback: &str) -> String {
    image
        .rsplit_once(':')
        .filter(|(repo, tag)| !tag.contains('/') && !repo.is_empty())
        .map_or_else(|| fallback.to_string(), |(_, tag)| tag.to_string())
}

fn deployment(app: &AppSpec, version: &VersionSpec, name: &str, labels: &Value) -> Value {
    json!({
        "metadata": {"name": name, "labels": labels},
        "spec": {
            "replicas": version.replicas,
            "selector": {"matchLabels": labels},
            "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": "25%", "maxUnavailable": "25%"}},
            "revisionHistoryLimit": 10,
            "progressDeadlineSeconds": 600,
            "template": pod_template(app, version, labels),
        },
    })
}

fn pod_template(app: &AppSpec, version: &VersionSpec, labels: &Value) -> Value {
    let mib = |bytes: u64| format!("{}Mi", bytes.div_ceil(1024 * 1024));
    let memory_request = version.behaviour.memory.min(version.memory_limit);
    let cpu_request = format!(
        "{}m",
        ((version.behaviour.cpu_cores * 1000.0).round() as u64).max(10)
    );
    let probe = |path: &str, delay: u32, period: u32| {
        json!({
            "httpGet": {"path": path, "port": "http", "scheme": "HTTP"},
            "initialDelaySeconds": delay,
            "periodSeconds": period,
            "timeoutSeconds": 1,
            "successThreshold": 1,
            "failureThreshold": 3,
        })
    };
    json!({
        "metadata": {"labels": labels},
        "spec": {
            "containers": [{
                "name": app.name,
                "image": version.image,
                "imagePullPolicy": "IfNotPresent",
                "ports": [{"name": "http", "containerPort": app.port, "protocol": "TCP"}],
                "env": [{"name": "VERSION", "value": release_of(&version.image, &version.name)}],
                "resources": {
                    "limits": {"cpu": version.cpu_limit, "memory": mib(version.memory_limit)},
                    "requests": {"cpu": cpu_request, "memory": mib(memory_request)},
                },
                "readinessProbe": probe("/health/ready", 0, 5),
                "livenessProbe": probe("/health/live", 10, 10),
                "terminationMessagePath": "/dev/termination-log",
                "terminationMessagePolicy": "File",
            }],
            "restartPolicy": "Always",
            "terminationGracePeriodSeconds": 30,
            "dnsPolicy": "ClusterFirst",
            "schedulerName": "default-scheduler",
            "securityContext": {},
        },
    })
}

fn node(cluster: &super::scenario::ClusterSpec, n: u32, since: &str) -> Value {
    let name = format!("{}{n}", cluster.node_prefix);
    let ip = format!("10.0.{}.{}", n / 200, n % 200 + 10);
    let zone = ["a", "b", "c"][(n as usize - 1) % 3];
    let resources = json!({
        "cpu": cluster.node_cpu,
        "memory": cluster.node_memory,
        "pods": "110",
        "ephemeral-storage": "100Gi",
    });
    let ready_since = since;
    let condition = |kind: &str, status: &str, reason: &str, message: &str| {
        json!({
            "type": kind, "status": status, "reason": reason, "message": message,
            "lastHeartbeatTime": ready_since, "lastTransitionTime": ready_since,
        })
    };
    json!({
        "metadata": {
            "name": name,
            "labels": {
                "kubernetes.io/hostname": name,
                "kubernetes.io/os": "linux",
                "kubernetes.io/arch": "amd64",
                "node.kubernetes.io/instance-type": "sim.large",
                "topology.kubernetes.io/zone": format!("sim-zone-{zone}"),
            },
        },
        "spec": {"podCIDR": format!("10.244.{n}.0/24"), "podCIDRs": [format!("10.244.{n}.0/24")]},
        "status": {
            "capacity": resources,
            "allocatable": resources,
            "conditions": [
                condition("MemoryPressure", "False", "KubeletHasSufficientMemory", "kubelet has sufficient memory available"),
                condition("DiskPressure", "False", "KubeletHasNoDiskPressure", "kubelet has no disk pressure"),
                condition("PIDPressure", "False", "KubeletHasSufficientPID", "kubelet has sufficient PID available"),
                condition("Ready", "True", "KubeletReady", "kubelet is posting ready status"),
            ],
            "addresses": [{"type": "InternalIP", "address": ip}, {"type": "Hostname", "address": name}],
            "daemonEndpoints": {"kubeletEndpoint": {"Port": 10250}},
            "nodeInfo": {
                "kubeletVersion": cluster.version,
                "kubeProxyVersion": cluster.version,
                "containerRuntimeVersion": "containerd://1.7.24",
                "osImage": "Debian GNU/Linux 12 (bookworm)",
                "kernelVersion": "6.1.0-28-amd64",
                "operatingSystem": "linux",
                "architecture": "amd64",
                "machineID": format!("{:032x}", super::store::mix(u64::from(n), 1)),
                "systemUUID": format!("{:032x}", super::store::mix(u64::from(n), 2)),
                "bootID": format!("{:032x}", super::store::mix(u64::from(n), 3)),
            },
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn release_is_the_tag() {
        assert_eq!(
            release_of("registry.local/shop/checkout:1.5.0", "canary"),
            "1.5.0"
        );
        assert_eq!(release_of("localhost:5000/web", "blue"), "blue");
        assert_eq!(release_of("web", "blue"), "blue");
    }
}

#[cfg(test)]
mod seeding_tests {
    use std::collections::BTreeSet;

    use chrono::{TimeZone, Utc};

    use super::*;
    use crate::sim::{Scenario, World};

    fn seeded(name: &str) -> Shared {
        World::new(
            Scenario::load(name).unwrap(),
            1,
            Utc.timestamp_opt(1_700_000_000, 0).unwrap(),
        )
        .unwrap()
        .shared()
    }

    fn names(shared: &Shared, res: &'static Resource, ns: Option<&str>) -> Vec<String> {
        shared
            .store
            .list(res, ns)
            .0
            .iter()
            .map(|o| o["metadata"]["name"].as_str().unwrap().to_string())
            .collect()
    }

    #[test]
    fn canary_objects_follow_the_naming_contract() {
        let s = seeded("healthy-canary");
        assert_eq!(
            names(&s, kinds::nodes(), None),
            ["sim-node-1", "sim-node-2", "sim-node-3"]
        );
        assert_eq!(
            names(&s, kinds::namespaces(), None),
            [
                "default",
                "kube-node-lease",
                "kube-public",
                "kube-system",
                "shop"
            ]
        );
        assert_eq!(
            names(&s, kinds::deployments(), Some("shop")),
            ["checkout-canary", "checkout-stable"]
        );
        assert_eq!(
            names(&s, kinds::services(), Some("shop")),
            ["checkout", "checkout-canary", "checkout-stable"]
        );
        assert_eq!(
            names(&s, kinds::virtualservices(), Some("shop")),
            ["checkout"]
        );
        assert_eq!(
            names(&s, kinds::destinationrules(), Some("shop")),
            ["checkout"]
        );
        assert_eq!(names(&s, kinds::httproutes(), Some("shop")), ["checkout"]);

        let node = s.store.get(kinds::nodes(), "", "sim-node-1").unwrap();
        assert_eq!(node["status"]["nodeInfo"]["kubeletVersion"], "v1.33.0");
        assert_eq!(node["status"]["allocatable"]["pods"], "110");
        assert_eq!(node["status"]["conditions"][3]["type"], "Ready");

        let canary = s
            .store
            .get(kinds::deployments(), "shop", "checkout-canary")
            .unwrap();
        assert_eq!(
            canary["spec"]["selector"]["matchLabels"],
            json!({"app": "checkout", "version": "canary"})
        );
        let container = &canary["spec"]["template"]["spec"]["containers"][0];
        assert_eq!(container["name"], "checkout");
        assert_eq!(
            container["env"][0],
            json!({"name": "VERSION", "value": "1.5.0"})
        );
        assert_eq!(
            container["readinessProbe"]["httpGet"]["path"],
            "/health/ready"
        );
        assert_eq!(
            container["livenessProbe"]["httpGet"]["path"],
            "/health/live"
        );
        assert_eq!(container["resources"]["limits"]["memory"], "512Mi");
        assert_eq!(
            canary["spec"]["strategy"]["rollingUpdate"]["maxSurge"],
            "25%"
        );

        let dr = s
            .store
            .get(kinds::destinationrules(), "shop", "checkout")
            .unwrap();
        assert_eq!(
            dr["spec"]["subsets"][1],
            json!({"name": "canary", "labels": {"version": "canary"}})
        );
        let svc = s
            .store
            .get(kinds::services(), "shop", "checkout-stable")
            .unwrap();
        assert_eq!(
            svc["spec"]["selector"],
            json!({"app": "checkout", "version": "stable"})
        );

        let ips: BTreeSet<String> = s
            .store
            .list(kinds::services(), None)
            .0
            .iter()
            .map(|svc| svc["spec"]["clusterIP"].as_str().unwrap().to_string())
            .collect();
        assert_eq!(ips.len(), 3);
        assert!(ips.iter().all(|ip| ip.starts_with("10.96.")));
    }

    #[test]
    fn rolling_and_large_seed_one_deployment_per_app() {
        let s = seeded("rolling");
        assert_eq!(names(&s, kinds::deployments(), Some("backend")), ["api"]);
        let api = s.store.get(kinds::deployments(), "backend", "api").unwrap();
        assert_eq!(api["metadata"]["labels"]["version"], "stable");
        let s = seeded("large");
        assert_eq!(names(&s, kinds::nodes(), None).len(), 100);
        assert_eq!(names(&s, kinds::deployments(), Some("fleet")).len(), 50);
    }
}
