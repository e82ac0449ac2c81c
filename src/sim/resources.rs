//! The kinds the simulated API server knows, in one table.
//!
//! Discovery, routing, tables and the store all read this table, so a kind is
//! added in one place. Objects are stored once per (group, plural): a kind served
//! at several versions (Istio's v1 and v1beta1) is the same object seen through
//! another `apiVersion`, as on a real cluster.

/// One served resource: where it lives in the API and what it is called.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Resource {
    /// API group; empty for the core group.
    pub group: &'static str,
    /// Versions served, preferred first.
    pub versions: &'static [&'static str],
    pub plural: &'static str,
    pub singular: &'static str,
    pub kind: &'static str,
    pub namespaced: bool,
    pub short_names: &'static [&'static str],
    /// Subresources served under `{name}/{sub}`.
    pub subresources: &'static [&'static str],
    /// Read-only resources (metrics.k8s.io) answer only get, list and watch.
    pub read_only: bool,
    pub categories: &'static [&'static str],
}

impl Resource {
    /// `group/version` for the preferred version, `v1` style for the core group.
    pub fn api_version(&self, version: &str) -> String {
        if self.group.is_empty() {
            version.to_string()
        } else {
            format!("{}/{}", self.group, version)
        }
    }

    pub fn preferred_version(&self) -> &'static str {
        self.versions[0]
    }

    pub fn serves_version(&self, version: &str) -> bool {
        self.versions.contains(&version)
    }

    pub fn verbs(&self) -> &'static [&'static str] {
        if self.read_only {
            &["get", "list", "watch"]
        } else {
            &[
                "create",
                "delete",
                "deletecollection",
                "get",
                "list",
                "patch",
                "update",
                "watch",
            ]
        }
    }
}

const RW: &[&str] = &[];
const ALL: &[&str] = &["all"];

macro_rules! resource {
    ($group:expr, $versions:expr, $plural:expr, $singular:expr, $kind:expr, $ns:expr, $short:expr, $sub:expr, $ro:expr, $cat:expr) => {
        Resource {
            group: $group,
            versions: $versions,
            plural: $plural,
            singular: $singular,
            kind: $kind,
            namespaced: $ns,
            short_names: $short,
            subresources: $sub,
            read_only: $ro,
            categories: $cat,
        }
    };
}

/// Every kind the simulator serves.
pub static RESOURCES: &[Resource] = &[
    resource!(
        "",
        &["v1"],
        "namespaces",
        "namespace",
        "Namespace",
        false,
        &["ns"],
        &["status"],
        false,
        RW
    ),
    resource!(
        "",
        &["v1"],
        "nodes",
        "node",
        "Node",
        false,
        &["no"],
        &["status"],
        false,
        RW
    ),
    resource!(
        "",
        &["v1"],
        "pods",
        "pod",
        "Pod",
        true,
        &["po"],
        &["status", "log", "proxy"],
        false,
        ALL
    ),
    resource!(
        "",
        &["v1"],
        "services",
        "service",
        "Service",
        true,
        &["svc"],
        &["status", "proxy"],
        false,
        ALL
    ),
    resource!(
        "",
        &["v1"],
        "endpoints",
        "endpoints",
        "Endpoints",
        true,
        &["ep"],
        RW,
        false,
        RW
    ),
    resource!(
        "",
        &["v1"],
        "events",
        "event",
        "Event",
        true,
        &["ev"],
        RW,
        false,
        RW
    ),
    resource!(
        "",
        &["v1"],
        "configmaps",
        "configmap",
        "ConfigMap",
        true,
        &["cm"],
        RW,
        false,
        RW
    ),
    resource!(
        "apps",
        &["v1"],
        "deployments",
        "deployment",
        "Deployment",
        true,
        &["deploy"],
        &["status", "scale"],
        false,
        ALL
    ),
    resource!(
        "apps",
        &["v1"],
        "replicasets",
        "replicaset",
        "ReplicaSet",
        true,
        &["rs"],
        &["status", "scale"],
        false,
        ALL
    ),
    resource!(
        "coordination.k8s.io",
        &["v1"],
        "leases",
        "lease",
        "Lease",
        true,
        RW,
        RW,
        false,
        RW
    ),
    resource!(
        "networking.istio.io",
        &["v1", "v1beta1"],
        "virtualservices",
        "virtualservice",
        "VirtualService",
        true,
        &["vs"],
        RW,
        false,
        RW
    ),
    resource!(
        "networking.istio.io",
        &["v1", "v1beta1"],
        "destinationrules",
        "destinationrule",
        "DestinationRule",
        true,
        &["dr"],
        RW,
        false,
        RW
    ),
    resource!(
        "gateway.networking.k8s.io",
        &["v1"],
        "httproutes",
        "httproute",
        "HTTPRoute",
        true,
        RW,
        RW,
        false,
        RW
    ),
    resource!(
        "split.smi-spec.io",
        &["v1alpha2"],
        "trafficsplits",
        "trafficsplit",
        "TrafficSplit",
        true,
        &["ts"],
        RW,
        false,
        RW
    ),
    resource!(
        "networking.k8s.io",
        &["v1"],
        "ingresses",
        "ingress",
        "Ingress",
        true,
        &["ing"],
        &["status"],
        false,
        RW
    ),
    resource!(
        "argoproj.io",
        &["v1alpha1"],
        "rollouts",
        "rollout",
        "Rollout",
        true,
        &["ro"],
        &["status", "scale"],
        false,
        RW
    ),
    resource!(
        "argoproj.io",
        &["v1alpha1"],
        "analysisruns",
        "analysisrun",
        "AnalysisRun",
        true,
        &["ar"],
        &["status"],
        false,
        RW
    ),
    resource!(
        "argoproj.io",
        &["v1alpha1"],
        "analysistemplates",
        "analysistemplate",
        "AnalysisTemplate",
        true,
        &["at"],
        RW,
        false,
        RW
    ),
    resource!(
        "flagger.app",
        &["v1beta1"],
        "canaries",
        "canary",
        "Canary",
        true,
        &["canary"],
        &["status"],
        false,
        ALL
    ),
    resource!(
        "metrics.k8s.io",
        &["v1beta1"],
        "pods",
        "pod",
        "PodMetrics",
        true,
        RW,
        RW,
        true,
        RW
    ),
    resource!(
        "metrics.k8s.io",
        &["v1beta1"],
        "nodes",
        "node",
        "NodeMetrics",
        false,
        RW,
        RW,
        true,
        RW
    ),
];

/// Finds a resource by group and plural name.
pub fn lookup(group: &str, plural: &str) -> Option<&'static Resource> {
    RESOURCES
        .iter()
        .find(|r| r.group == group && r.plural == plural)
}

/// Finds a resource by group and kind, as written in an object's `apiVersion`/`kind`.
pub fn lookup_kind(group: &str, kind: &str) -> Option<&'static Resource> {
    RESOURCES
        .iter()
        .find(|r| r.group == group && r.kind == kind)
}

/// The group part of an `apiVersion` (`apps/v1` → `apps`, `v1` → ``).
pub fn group_of(api_version: &str) -> &str {
    api_version.rsplit_once('/').map_or("", |(g, _)| g)
}

/// The groups served, in discovery order, each with its versions.
pub fn groups() -> Vec<(&'static str, Vec<&'static str>)> {
    let mut out: Vec<(&'static str, Vec<&'static str>)> = Vec::new();
    for r in RESOURCES.iter().filter(|r| !r.group.is_empty()) {
        match out.iter_mut().find(|(g, _)| *g == r.group) {
            Some((_, versions)) => {
                for v in r.versions {
                    if !versions.contains(v) {
                        versions.push(v);
                    }
                }
            }
            None => out.push((r.group, r.versions.to_vec())),
        }
    }
    out
}

/// Shorthands for the kinds the controllers touch, so they do not repeat lookups.
pub mod kinds {
    use super::{RESOURCES, Resource};

    fn by_plural(group: &str, plural: &str) -> &'static Resource {
        // The table is static and these names are in it; a miss is a programming error
        // caught by the `well_known_kinds_exist` test.
        RESOURCES
            .iter()
            .find(|r| r.group == group && r.plural == plural)
            .unwrap_or(&RESOURCES[0])
    }

    pub fn namespaces() -> &'static Resource {
        by_plural("", "namespaces")
    }
    pub fn nodes() -> &'static Resource {
        by_plural("", "nodes")
    }
    pub fn pods() -> &'static Resource {
        by_plural("", "pods")
    }
    pub fn services() -> &'static Resource {
        by_plural("", "services")
    }
    pub fn endpoints() -> &'static Resource {
        by_plural("", "endpoints")
    }
    pub fn events() -> &'static Resource {
        by_plural("", "events")
    }
    pub fn configmaps() -> &'static Resource {
        by_plural("", "configmaps")
    }
    pub fn deployments() -> &'static Resource {
        by_plural("apps", "deployments")
    }
    pub fn replicasets() -> &'static Resource {
        by_plural("apps", "replicasets")
    }
    pub fn leases() -> &'static Resource {
        by_plural("coordination.k8s.io", "leases")
    }
    pub fn virtualservices() -> &'static Resource {
        by_plural("networking.istio.io", "virtualservices")
    }
    pub fn destinationrules() -> &'static Resource {
        by_plural("networking.istio.io", "destinationrules")
    }
    pub fn httproutes() -> &'static Resource {
        by_plural("gateway.networking.k8s.io", "httproutes")
    }
    pub fn trafficsplits() -> &'static Resource {
        by_plural("split.smi-spec.io", "trafficsplits")
    }
    pub fn ingresses() -> &'static Resource {
        by_plural("networking.k8s.io", "ingresses")
    }
    pub fn rollouts() -> &'static Resource {
        by_plural("argoproj.io", "rollouts")
    }
    pub fn analysisruns() -> &'static Resource {
        by_plural("argoproj.io", "analysisruns")
    }
    pub fn analysistemplates() -> &'static Resource {
        by_plural("argoproj.io", "analysistemplates")
    }
    pub fn canaries() -> &'static Resource {
        by_plural("flagger.app", "canaries")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn well_known_kinds_exist() {
        assert_eq!(kinds::pods().kind, "Pod");
        assert_eq!(kinds::deployments().kind, "Deployment");
        assert_eq!(kinds::replicasets().kind, "ReplicaSet");
        assert_eq!(kinds::events().kind, "Event");
        assert_eq!(kinds::leases().kind, "Lease");
        assert_eq!(kinds::virtualservices().kind, "VirtualService");
        assert_eq!(kinds::destinationrules().kind, "DestinationRule");
        assert_eq!(kinds::httproutes().kind, "HTTPRoute");
        assert_eq!(kinds::trafficsplits().kind, "TrafficSplit");
        assert_eq!(kinds::ingresses().kind, "Ingress");
        assert_eq!(kinds::services().kind, "Service");
        assert_eq!(kinds::endpoints().kind, "Endpoints");
        assert_eq!(kinds::configmaps().kind, "ConfigMap");
        assert_eq!(kinds::nodes().kind, "Node");
        assert_eq!(kinds::namespaces().kind, "Namespace");
        assert_eq!(kinds::rollouts().kind, "Rollout");
        assert_eq!(kinds::analysisruns().kind, "AnalysisRun");
        assert_eq!(kinds::analysistemplates().kind, "AnalysisTemplate");
        assert_eq!(kinds::canaries().kind, "Canary");
    }

    #[test]
    fn group_of_splits_api_version() {
        assert_eq!(group_of("apps/v1"), "apps");
        assert_eq!(group_of("v1"), "");
        assert_eq!(
            group_of("networking.istio.io/v1beta1"),
            "networking.istio.io"
        );
    }

    #[test]
    fn groups_merge_versions() {
        let groups = groups();
        let istio = groups
            .iter()
            .find(|(g, _)| *g == "networking.istio.io")
            .map(|(_, v)| v.clone());
        assert_eq!(istio, Some(vec!["v1", "v1beta1"]));
    }
}
