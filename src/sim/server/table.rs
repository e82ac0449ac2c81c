//! Server-side tables (`Accept: application/json;as=Table;g=meta.k8s.io;v=v1`):
//! the columns kubectl's own printers show, computed on the server so that any
//! client prints what kubectl prints.

use chrono::{DateTime, Utc};
use serde_json::{Value, json};

use crate::sim::resources::Resource;

/// What each row carries besides its cells (`includeObject`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IncludeObject {
    None,
    Metadata,
    Object,
}

impl IncludeObject {
    pub fn parse(text: Option<&str>) -> Result<Self, String> {
        match text {
            None | Some("" | "Metadata") => Ok(Self::Metadata),
            Some("None") => Ok(Self::None),
            Some("Object") => Ok(Self::Object),
            Some(other) => Err(format!(
                "includeObject: Unsupported value: \"{other}\": supported values: \"Metadata\", \"None\", \"Object\""
            )),
        }
    }
}

/// Does this Accept header ask for a Table?
pub fn wants_table(accept: &str) -> bool {
    accept
        .split(',')
        .next()
        .is_some_and(|first| first.contains("as=Table"))
}

struct Column {
    name: &'static str,
    kind: &'static str,
    format: &'static str,
    priority: u8,
    description: &'static str,
}

const fn col(name: &'static str, kind: &'static str, priority: u8) -> Column {
    Column {
        name,
        kind,
        format: "",
        priority,
        description: "",
    }
}

const NAME: Column = Column {
    name: "Name",
    kind: "string",
    format: "name",
    priority: 0,
    description: "Name must be unique within a namespace.",
};
const AGE: Column = Column {
    name: "Age",
    kind: "string",
    format: "",
    priority: 0,
    description: "CreationTimestamp is a timestamp representing the server time when this object was created.",
};

fn columns(res: &Resource) -> Vec<Column> {
    match (res.group, res.plural) {
        ("", "pods") => vec![
            NAME,
            col("Ready", "string", 0),
            col("Status", "string", 0),
            col("Restarts", "string", 0),
            AGE,
            col("IP", "string", 1),
            col("Node", "string", 1),
            col("Nominated Node", "string", 1),
            col("Readiness Gates", "string", 1),
        ],
        ("apps", "deployments") => vec![
            NAME,
            col("Ready", "string", 0),
            col("Up-to-date", "integer", 0),
            col("Available", "integer", 0),
            AGE,
            col("Containers", "string", 1),
            col("Images", "string", 1),
            col("Selector", "string", 1),
        ],
        ("apps", "replicasets") => vec![
            NAME,
            col("Desired", "integer", 0),
            col("Current", "integer", 0),
            col("Ready", "integer", 0),
            AGE,
            col("Containers", "string", 1),
            col("Images", "string", 1),
            col("Selector", "string", 1),
        ],
        ("", "services") => vec![
            NAME,
            col("Type", "string", 0),
            col("Cluster-IP", "string", 0),
            col("External-IP", "string", 0),
            col("Port(s)", "string", 0),
            AGE,
            col("Selector", "string", 1),
        ],
        ("", "endpoints") => vec![NAME, col("Endpoints", "string", 0), AGE],
        ("", "events") => vec![
            col("Last Seen", "string", 0),
            col("Type", "string", 0),
            col("Reason", "string", 0),
            col("Object", "string", 0),
            col("Message", "string", 0),
        ],
        ("", "nodes") => vec![
            NAME,
            col("Status", "string", 0),
            col("Roles", "string", 0),
            AGE,
            col("Version", "string", 0),
            col("Internal-IP", "string", 1),
        ],
        ("", "namespaces") | ("argoproj.io", "analysisruns") => {
            vec![NAME, col("Status", "string", 0), AGE]
        }
        ("", "configmaps") => vec![NAME, col("Data", "integer", 0), AGE],
        ("coordination.k8s.io", "leases") => vec![NAME, col("Holder", "string", 0), AGE],
        ("networking.istio.io", "virtualservices") => vec![
            NAME,
            col("Gateways", "string", 0),
            col("Hosts", "string", 0),
            AGE,
        ],
        ("networking.istio.io", "destinationrules") => {
            vec![NAME, col("Host", "string", 0), AGE]
        }
        ("gateway.networking.k8s.io", "httproutes") => {
            vec![NAME, col("Hostnames", "string", 0), AGE]
        }
        ("networking.k8s.io", "ingresses") => vec![
            NAME,
            col("Class", "string", 0),
            col("Hosts", "string", 0),
            col("Address", "string", 0),
            col("Ports", "string", 0),
            AGE,
        ],
        // The printer columns of Argo Rollouts' and Flagger's own CRDs.
        ("argoproj.io", "rollouts") => vec![
            NAME,
            col("Desired", "integer", 0),
            col("Current", "integer", 0),
            col("Up-to-date", "integer", 0),
            col("Available", "integer", 0),
            AGE,
        ],
        ("flagger.app", "canaries") => vec![
            NAME,
            col("Status", "string", 0),
            col("Weight", "string", 0),
            col("LastTransitionTime", "string", 0),
        ],
        _ => vec![NAME, AGE],
    }
}

fn cells(res: &Resource, o: &Value, now: DateTime<Utc>) -> Vec<Value> {
    let name = json!(text(o, "/metadata/name"));
    let age = json!(age(o, now));
    match (res.group, res.plural) {
        ("", "pods") => pod_cells(o, name, age, now),
        ("apps", "deployments") => vec![
            name,
            json!(format!(
                "{}/{}",
                int(o, "/status/readyReplicas"),
                o.pointer("/spec/replicas")
                    .and_then(Value::as_i64)
                    .unwrap_or(1)
            )),
            json!(int(o, "/status/updatedReplicas")),
            json!(int(o, "/status/availableReplicas")),
            age,
            json!(container_field(o, "name")),
            json!(container_field(o, "image")),
            json!(selector_text(o.pointer("/spec/selector"))),
        ],
        ("apps", "replicasets") => vec![
            name,
            json!(
                o.pointer("/spec/replicas")
                    .and_then(Value::as_i64)
                    .unwrap_or(1)
            ),
            json!(int(o, "/status/replicas")),
            json!(int(o, "/status/readyReplicas")),
            age,
            json!(container_field(o, "name")),
            json!(container_field(o, "image")),
            json!(selector_text(o.pointer("/spec/selector"))),
        ],
        ("", "services") => service_cells(o, name, age),
        ("", "endpoints") => vec![name, json!(endpoints_text(o)), age],
        ("", "events") => {
            let last = [
                "/lastTimestamp",
                "/eventTime",
                "/metadata/creationTimestamp",
            ]
            .iter()
            .find_map(|p| o.pointer(p).and_then(Value::as_str))
            .and_then(|t| DateTime::parse_from_rfc3339(t).ok())
            .map_or_else(
                || "<unknown>".to_string(),
                |t| human_duration(now - t.with_timezone(&Utc)),
            );
            vec![
                json!(last),
                json!(text(o, "/type")),
                json!(text(o, "/reason")),
                json!(format!(
                    "{}/{}",
                    text(o, "/involvedObject/kind").to_lowercase(),
                    text(o, "/involvedObject/name")
                )),
                json!(text(o, "/message").trim()),
            ]
        }
        ("", "nodes") => node_cells(o, name, age),
        ("", "namespaces") => vec![
            name,
            json!(
                o.pointer("/status/phase")
                    .and_then(Value::as_str)
                    .unwrap_or("Active")
            ),
            age,
        ],
        ("", "configmaps") => {
            let count = |p: &str| {
                o.pointer(p)
                    .and_then(Value::as_object)
                    .map_or(0, serde_json::Map::len)
            };
            vec![name, json!(count("/data") + count("/binaryData")), age]
        }
        ("coordination.k8s.io", "leases") => {
            vec![name, json!(text(o, "/spec/holderIdentity")), age]
        }
        ("networking.istio.io", "virtualservices") => vec![
            name,
            json_cell(o.pointer("/spec/gateways")),
            json_cell(o.pointer("/spec/hosts")),
            age,
        ],
        ("networking.istio.io", "destinationrules") => {
            vec![name, json!(text(o, "/spec/host")), age]
        }
        ("gateway.networking.k8s.io", "httproutes") => {
            vec![name, json_cell(o.pointer("/spec/hostnames")), age]
        }
        ("networking.k8s.io", "ingresses") => ingress_cells(o, name, age),
        ("argoproj.io", "rollouts") => vec![
            name,
            json!(
                o.pointer("/spec/replicas")
                    .and_then(Value::as_i64)
                    .unwrap_or(1)
            ),
            json!(int(o, "/status/replicas")),
            json!(int(o, "/status/updatedReplicas")),
            json!(int(o, "/status/availableReplicas")),
            age,
        ],
        ("argoproj.io", "analysisruns") => vec![name, json!(text(o, "/status/phase")), age],
        ("flagger.app", "canaries") => vec![
            name,
            json!(text(o, "/status/phase")),
            json!(int(o, "/status/canaryWeight")),
            json!(text(o, "/status/lastTransitionTime")),
        ],
        _ => vec![name, age],
    }
}

fn text(o: &Value, pointer: &str) -> String {
    o.pointer(pointer)
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string()
}

fn int(o: &Value, pointer: &str) -> i64 {
    o.pointer(pointer).and_then(Value::as_i64).unwrap_or(0)
}

fn or_none(s: String) -> String {
    if s.is_empty() {
        "<none>".to_string()
    } else {
        s
    }
}

/// A CRD printer column over a list prints the JSON of the list.
fn json_cell(v: Option<&Value>) -> Value {
    match v {
        None | Some(Value::Null) => Value::Null,
        Some(Value::String(s)) => json!(s),
        Some(other) => json!(other.to_string()),
    }
}

fn age(o: &Value, now: DateTime<Utc>) -> String {
    o.pointer("/metadata/creationTimestamp")
        .and_then(Value::as_str)
        .and_then(|t| DateTime::parse_from_rfc3339(t).ok())
        .map_or_else(
            || "<unknown>".to_string(),
            |t| human_duration(now - t.with_timezone(&Utc)),
        )
}

/// kubectl's short durations: 45s, 5m12s, 3h, 2d.
pub fn human_duration(d: chrono::TimeDelta) -> String {
    let seconds = d.num_seconds();
    if seconds < -1 {
        return "<invalid>".into();
    }
    if seconds < 0 {
        return "0s".into();
    }
    if seconds < 120 {
        return format!("{seconds}s");
    }
    let minutes = seconds / 60;
    if minutes < 10 {
        let s = seconds % 60;
        return if s == 0 {
            format!("{minutes}m")
        } else {
            format!("{minutes}m{s}s")
        };
    }
    if minutes < 180 {
        return format!("{minutes}m");
    }
    let hours = minutes / 60;
    if hours < 8 {
        let m = minutes % 60;
        return if m == 0 {
            format!("{hours}h")
        } else {
            format!("{hours}h{m}m")
        };
    }
    if hours < 48 {
        return format!("{hours}h");
    }
    if hours < 24 * 8 {
        let h = hours % 24;
        return if h == 0 {
            format!("{}d", hours / 24)
        } else {
            format!("{}d{h}h", hours / 24)
        };
    }
    if hours < 24 * 365 * 2 {
        return format!("{}d", hours / 24);
    }
    if hours < 24 * 365 * 8 {
        let days = (hours / 24) % 365;
        return if days == 0 {
            format!("{}y", hours / 24 / 365)
        } else {
            format!("{}y{days}d", hours / 24 / 365)
        };
    }
    format!("{}y", hours / 24 / 365)
}

fn container_field(o: &Value, field: &str) -> String {
    o.pointer("/spec/template/spec/containers")
        .and_then(Value::as_array)
        .map(|cs| {
            cs.iter()
                .filter_map(|c| c.get(field).and_then(Value::as_str))
                .collect::<Vec<_>>()
                .join(",")
        })
        .unwrap_or_default()
}

/// A label selector as `kubectl` writes it: `app=web,track in (canary)`.
pub fn selector_text(selector: Option<&Value>) -> String {
    let Some(selector) = selector else {
        return "<none>".into();
    };
    let mut parts: Vec<String> = selector
        .get("matchLabels")
        .and_then(Value::as_object)
        .map(|m| {
            m.iter()
                .map(|(k, v)| format!("{k}={}", v.as_str().unwrap_or_default()))
                .collect()
        })
        .unwrap_or_default();
    for expr in selector
        .get("matchExpressions")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let key = expr.get("key").and_then(Value::as_str).unwrap_or_default();
        let values: Vec<&str> = expr
            .get("values")
            .and_then(Value::as_array)
            .map(|v| v.iter().filter_map(Value::as_str).collect())
            .unwrap_or_default();
        match expr.get("operator").and_then(Value::as_str) {
            Some("In") => parts.push(format!("{key} in ({})", values.join(","))),
            Some("NotIn") => parts.push(format!("{key} notin ({})", values.join(","))),
            Some("Exists") => parts.push(key.to_string()),
            Some("DoesNotExist") => parts.push(format!("!{key}")),
            _ => {}
        }
    }
    or_none(parts.join(","))
}

/// The STATUS column, derived from the container states as kubectl does.
pub fn pod_status(o: &Value) -> (String, usize, i64, Option<String>) {
    let mut reason = o
        .pointer("/status/reason")
        .and_then(Value::as_str)
        .filter(|r| !r.is_empty())
        .or_else(|| o.pointer("/status/phase").and_then(Value::as_str))
        .unwrap_or("Pending")
        .to_string();
    let mut restarts = 0;
    let mut ready = 0;
    let mut last_restart: Option<String> = None;
    let mut initializing = false;
    let init_total = o
        .pointer("/spec/initContainers")
        .and_then(Value::as_array)
        .map_or(0, Vec::len);
    let statuses = |p: &str| -> &[Value] {
        o.pointer(p)
            .and_then(Value::as_array)
            .map_or(&[], Vec::as_slice)
    };
    for (i, c) in statuses("/status/initContainerStatuses").iter().enumerate() {
        restarts += c.get("restartCount").and_then(Value::as_i64).unwrap_or(0);
        let terminated = c.pointer("/state/terminated");
        let waiting = c.pointer("/state/waiting/reason").and_then(Value::as_str);
        if terminated
            .and_then(|t| t.get("exitCode"))
            .and_then(Value::as_i64)
            == Some(0)
        {
            continue;
        }
        if let Some(t) = terminated {
            reason = match t
                .get("reason")
                .and_then(Value::as_str)
                .filter(|r| !r.is_empty())
            {
                Some(r) => format!("Init:{r}"),
                None => format!(
                    "Init:ExitCode:{}",
                    t.get("exitCode").and_then(Value::as_i64).unwrap_or(0)
                ),
            };
        } else if let Some(w) = waiting.filter(|w| !w.is_empty() && *w != "PodInitializing") {
            reason = format!("Init:{w}");
        } else {
            reason = format!("Init:{i}/{init_total}");
        }
        initializing = true;
        break;
    }
    if !initializing {
        restarts = 0;
        let mut has_running = false;
        for c in statuses("/status/containerStatuses").iter().rev() {
            restarts += c.get("restartCount").and_then(Value::as_i64).unwrap_or(0);
            if let Some(t) = c
                .pointer("/lastState/terminated/finishedAt")
                .and_then(Value::as_str)
                && last_restart.as_deref().is_none_or(|l| l < t)
            {
                last_restart = Some(t.to_string());
            }
            let waiting = c
                .pointer("/state/waiting/reason")
                .and_then(Value::as_str)
                .filter(|r| !r.is_empty());
            let terminated = c.pointer("/state/terminated");
            if let Some(w) = waiting {
                reason = w.to_string();
            } else if let Some(t) = terminated {
                reason = match t
                    .get("reason")
                    .and_then(Value::as_str)
                    .filter(|r| !r.is_empty())
                {
                    Some(r) => r.to_string(),
                    None => match t.get("signal").and_then(Value::as_i64).filter(|s| *s != 0) {
                        Some(s) => format!("Signal:{s}"),
                        None => format!(
                            "ExitCode:{}",
                            t.get("exitCode").and_then(Value::as_i64).unwrap_or(0)
                        ),
                    },
                };
            } else if c.get("ready").and_then(Value::as_bool) == Some(true)
                && c.pointer("/state/running").is_some()
            {
                has_running = true;
                ready += 1;
            }
        }
        if reason == "Completed" && has_running {
            let pod_ready = o
                .pointer("/status/conditions")
                .and_then(Value::as_array)
                .is_some_and(|cs| {
                    cs.iter().any(|c| {
                        c.get("type").and_then(Value::as_str) == Some("Ready")
                            && c.get("status").and_then(Value::as_str) == Some("True")
                    })
                });
            reason = if pod_ready { "Running" } else { "NotReady" }.to_string();
        }
    }
    if o.pointer("/metadata/deletionTimestamp")
        .is_some_and(|t| !t.is_null())
    {
        reason = if o.pointer("/status/reason").and_then(Value::as_str) == Some("NodeLost") {
            "Unknown".into()
        } else {
            "Terminating".into()
        };
    }
    (reason, ready, restarts, last_restart)
}

fn pod_cells(o: &Value, name: Value, age: Value, now: DateTime<Utc>) -> Vec<Value> {
    let (status, ready, restarts, last_restart) = pod_status(o);
    let total = o
        .pointer("/spec/containers")
        .and_then(Value::as_array)
        .map_or(0, Vec::len);
    let restarts = match last_restart.and_then(|t| DateTime::parse_from_rfc3339(&t).ok()) {
        Some(t) if restarts > 0 => {
            format!(
                "{restarts} ({} ago)",
                human_duration(now - t.with_timezone(&Utc))
            )
        }
        _ => restarts.to_string(),
    };
    let gates = o.pointer("/spec/readinessGates").and_then(Value::as_array);
    let gates = match gates {
        Some(g) if !g.is_empty() => {
            let conditions = o.pointer("/status/conditions").and_then(Value::as_array);
            let passed = g
                .iter()
                .filter(|gate| {
                    let want = gate.get("conditionType");
                    conditions.is_some_and(|cs| {
                        cs.iter().any(|c| {
                            c.get("type") == want
                                && c.get("status").and_then(Value::as_str) == Some("True")
                        })
                    })
                })
                .count();
            format!("{passed}/{}", g.len())
        }
        _ => "<none>".into(),
    };
    vec![
        name,
        json!(format!("{ready}/{total}")),
        json!(status),
        json!(restarts),
        age,
        json!(or_none(text(o, "/status/podIP"))),
        json!(or_none(text(o, "/spec/nodeName"))),
        json!(or_none(text(o, "/status/nominatedNodeName"))),
        json!(gates),
    ]
}

fn service_cells(o: &Value, name: Value, age: Value) -> Vec<Value> {
    let kind = o
        .pointer("/spec/type")
        .and_then(Value::as_str)
        .unwrap_or("ClusterIP");
    let cluster_ip = or_none(text(o, "/spec/clusterIP"));
    let mut external: Vec<String> = o
        .pointer("/spec/externalIPs")
        .and_then(Value::as_array)
        .map(|v| {
            v.iter()
                .filter_map(Value::as_str)
                .map(str::to_string)
                .collect()
        })
        .unwrap_or_default();
    if kind == "LoadBalancer" {
        for ing in o
            .pointer("/status/loadBalancer/ingress")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            if let Some(ip) = ing
                .get("ip")
                .or_else(|| ing.get("hostname"))
                .and_then(Value::as_str)
            {
                external.push(ip.to_string());
            }
        }
    }
    let external = match (kind, external.is_empty()) {
        ("LoadBalancer", true) => "<pending>".to_string(),
        ("ExternalName", _) => text(o, "/spec/externalName"),
        (_, true) => "<none>".to_string(),
        _ => external.join(","),
    };
    let ports: Vec<String> = o
        .pointer("/spec/ports")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .map(|p| {
            let port = p.get("port").and_then(Value::as_i64).unwrap_or(0);
            let proto = p.get("protocol").and_then(Value::as_str).unwrap_or("TCP");
            match p.get("nodePort").and_then(Value::as_i64) {
                Some(node) => format!("{port}:{node}/{proto}"),
                None => format!("{port}/{proto}"),
            }
        })
        .collect();
    let selector = o
        .pointer("/spec/selector")
        .and_then(Value::as_object)
        .map(|m| {
            m.iter()
                .map(|(k, v)| format!("{k}={}", v.as_str().unwrap_or_default()))
                .collect::<Vec<_>>()
                .join(",")
        })
        .unwrap_or_default();
    vec![
        name,
        json!(kind),
        json!(cluster_ip),
        json!(external),
        json!(or_none(ports.join(","))),
        age,
        json!(or_none(selector)),
    ]
}

fn endpoints_text(o: &Value) -> String {
    let mut all = Vec::new();
    for subset in o
        .get("subsets")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let ports: Vec<i64> = subset
            .get("ports")
            .and_then(Value::as_array)
            .map(|p| {
                p.iter()
                    .filter_map(|p| p.get("port").and_then(Value::as_i64))
                    .collect()
            })
            .unwrap_or_default();
        for addr in subset
            .get("addresses")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            let ip = addr.get("ip").and_then(Value::as_str).unwrap_or_default();
            if ports.is_empty() {
                all.push(ip.to_string());
            }
            for port in &ports {
                all.push(format!("{ip}:{port}"));
            }
        }
    }
    if all.len() > 3 {
        format!("{} + {} more...", all[..3].join(","), all.len() - 3)
    } else {
        or_none(all.join(","))
    }
}

fn node_cells(o: &Value, name: Value, age: Value) -> Vec<Value> {
    let ready = o
        .pointer("/status/conditions")
        .and_then(Value::as_array)
        .and_then(|cs| {
            cs.iter()
                .find(|c| c.get("type").and_then(Value::as_str) == Some("Ready"))
        })
        .and_then(|c| c.get("status").and_then(Value::as_str));
    let mut status = match ready {
        Some("True") => "Ready".to_string(),
        Some(_) => "NotReady".to_string(),
        None => "Unknown".to_string(),
    };
    if o.pointer("/spec/unschedulable").and_then(Value::as_bool) == Some(true) {
        status.push_str(",SchedulingDisabled");
    }
    let roles: Vec<&str> = o
        .pointer("/metadata/labels")
        .and_then(Value::as_object)
        .map(|l| {
            l.keys()
                .filter_map(|k| k.strip_prefix("node-role.kubernetes.io/"))
                .collect()
        })
        .unwrap_or_default();
    let internal = o
        .pointer("/status/addresses")
        .and_then(Value::as_array)
        .and_then(|a| {
            a.iter()
                .find(|a| a.get("type").and_then(Value::as_str) == Some("InternalIP"))
        })
        .and_then(|a| a.get("address").and_then(Value::as_str))
        .unwrap_or("<none>");
    vec![
        name,
        json!(status),
        json!(or_none(roles.join(","))),
        age,
        json!(text(o, "/status/nodeInfo/kubeletVersion")),
        json!(internal),
    ]
}

fn ingress_cells(o: &Value, name: Value, age: Value) -> Vec<Value> {
    let rules = o.pointer("/spec/rules").and_then(Value::as_array);
    let hosts: Vec<&str> = rules
        .into_iter()
        .flatten()
        .filter_map(|r| r.get("host").and_then(Value::as_str))
        .collect();
    let address: Vec<&str> = o
        .pointer("/status/loadBalancer/ingress")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|i| {
            i.get("ip")
                .or_else(|| i.get("hostname"))
                .and_then(Value::as_str)
        })
        .collect();
    let ports = if o
        .pointer("/spec/tls")
        .and_then(Value::as_array)
        .is_some_and(|t| !t.is_empty())
    {
        "80, 443"
    } else {
        "80"
    };
    vec![
        name,
        json!(or_none(text(o, "/spec/ingressClassName"))),
        json!(if hosts.is_empty() {
            "*".to_string()
        } else {
            hosts.join(",")
        }),
        json!(address.join(",")),
        json!(ports),
        age,
    ]
}

/// A `PartialObjectMetadata` carrying an object's metadata.
fn partial_metadata(o: &Value) -> Value {
    json!({
        "kind": "PartialObjectMetadata",
        "apiVersion": "meta.k8s.io/v1",
        "metadata": o.get("metadata").cloned().unwrap_or_else(|| json!({})),
    })
}

/// One table row for an object.
pub fn row(res: &Resource, o: &Value, include: IncludeObject, now: DateTime<Utc>) -> Value {
    let mut row = json!({ "cells": cells(res, o, now) });
    match include {
        IncludeObject::None => {}
        IncludeObject::Metadata => row["object"] = partial_metadata(o),
        IncludeObject::Object => row["object"] = o.clone(),
    }
    row
}

/// A `meta.k8s.io/v1` Table of `objects`, with list metadata, written
/// straight to JSON: the same document as [`table`] gives, without building a
/// copy of each object's metadata first. `whole` writes an object for
/// `includeObject=Object` (already presented at the asked version).
pub fn table_json(
    res: &Resource,
    objects: &[std::sync::Arc<Value>],
    include: IncludeObject,
    now: DateTime<Utc>,
    list_meta: &Value,
    mut whole: impl FnMut(&std::sync::Arc<Value>, &mut Vec<u8>),
) -> Vec<u8> {
    let columns: Vec<Value> = columns(res).iter().map(column_json).collect();
    let mut out = Vec::with_capacity(objects.len() * 512 + 1024);
    // Keys in the order `serde_json::Map` keeps them (sorted), as `table` writes them.
    out.extend_from_slice(b"{\"apiVersion\":\"meta.k8s.io/v1\",\"columnDefinitions\":");
    write_value(&mut out, &Value::Array(columns));
    out.extend_from_slice(b",\"kind\":\"Table\",\"metadata\":");
    write_value(&mut out, list_meta);
    out.extend_from_slice(b",\"rows\":[");
    for (i, o) in objects.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        out.extend_from_slice(b"{\"cells\":");
        write_value(&mut out, &Value::Array(cells(res, o, now)));
        match include {
            IncludeObject::None => {}
            IncludeObject::Metadata => {
                out.extend_from_slice(
                    b",\"object\":{\"apiVersion\":\"meta.k8s.io/v1\",\"kind\":\"PartialObjectMetadata\",\"metadata\":",
                );
                match o.get("metadata") {
                    Some(meta) => write_value(&mut out, meta),
                    None => out.extend_from_slice(b"{}"),
                }
                out.push(b'}');
            }
            IncludeObject::Object => {
                out.extend_from_slice(b",\"object\":");
                whole(o, &mut out);
            }
        }
        out.push(b'}');
    }
    out.extend_from_slice(b"]}");
    out
}

fn write_value(out: &mut Vec<u8>, value: &Value) {
    if serde_json::to_writer(&mut *out, value).is_err() {
        // Values always serialize; keep the document well-formed regardless.
        out.extend_from_slice(b"null");
    }
}

fn column_json(c: &Column) -> Value {
    json!({
        "name": c.name,
        "type": c.kind,
        "format": c.format,
        "description": c.description,
        "priority": c.priority,
    })
}

/// A `meta.k8s.io/v1` Table of `objects`, with list metadata.
pub fn table<'a>(
    res: &Resource,
    objects: impl IntoIterator<Item = &'a Value>,
    include: IncludeObject,
    now: DateTime<Utc>,
    list_meta: &Value,
) -> Value {
    let columns: Vec<Value> = columns(res).iter().map(column_json).collect();
    let rows: Vec<Value> = objects
        .into_iter()
        .map(|o| row(res, o, include, now))
        .collect();
    json!({
        "kind": "Table",
        "apiVersion": "meta.k8s.io/v1",
        "metadata": list_meta,
        "columnDefinitions": columns,
        "rows": rows,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sim::resources::kinds;
    use chrono::{TimeDelta, TimeZone};

    fn now() -> DateTime<Utc> {
        Utc.timestamp_opt(1_700_000_000, 0).unwrap()
    }

    #[test]
    fn a_table_written_straight_is_the_table_built_whole() {
        let pods: Vec<std::sync::Arc<Value>> = (0..3)
            .map(|i| {
                std::sync::Arc::new(json!({
                    "apiVersion": "v1", "kind": "Pod",
                    "metadata": {"name": format!("web-{i}"), "namespace": "shop",
                        "creationTimestamp": "2023-11-14T22:00:00Z", "labels": {"app": "web"}},
                    "spec": {"nodeName": "node-1", "containers": [{"name": "app"}]},
                    "status": {"phase": "Running", "podIP": format!("10.0.0.{i}"),
                        "containerStatuses": [{"name": "app", "ready": i != 1, "restartCount": i,
                            "state": {"running": {"startedAt": "2023-11-14T22:00:05Z"}}}]},
                }))
            })
            .collect();
        let meta = json!({"resourceVersion": "42"});
        for include in [
            IncludeObject::None,
            IncludeObject::Metadata,
            IncludeObject::Object,
        ] {
            let built = table(
                kinds::pods(),
                pods.iter().map(AsRef::as_ref),
                include,
                now(),
                &meta,
            );
            let written = table_json(kinds::pods(), &pods, include, now(), &meta, |o, out| {
                serde_json::to_writer(out, o.as_ref()).unwrap();
            });
            assert_eq!(String::from_utf8(written).unwrap(), built.to_string());
        }
    }

    #[test]
    fn durations_read_like_kubectl() {
        for (secs, want) in [
            (45, "45s"),
            (119, "119s"),
            (312, "5m12s"),
            (600, "10m"),
            (3 * 3600, "3h"),
            (3 * 3600 + 60 * 5, "3h5m"),
            (10 * 3600, "10h"),
            (2 * 86400, "2d"),
            (2 * 86400 + 3600, "2d1h"),
            (30 * 86400, "30d"),
        ] {
            assert_eq!(human_duration(TimeDelta::seconds(secs)), want);
        }
    }

    #[test]
    fn pod_status_follows_container_states() {
        let crash = json!({"spec": {"containers": [{"name": "app"}]}, "status": {"phase": "Running",
            "containerStatuses": [{"name": "app", "ready": false, "restartCount": 4,
              "state": {"waiting": {"reason": "CrashLoopBackOff"}},
              "lastState": {"terminated": {"exitCode": 1, "finishedAt": "2023-11-14T22:12:20Z"}}}]}});
        let cells = cells(kinds::pods(), &crash, now());
        assert_eq!(cells[1], "0/1");
        assert_eq!(cells[2], "CrashLoopBackOff");
        assert_eq!(cells[3], "4 (60s ago)");
        let oom = json!({"status": {"containerStatuses": [{"state": {"terminated": {"reason": "OOMKilled"}}}]}});
        assert_eq!(pod_status(&oom).0, "OOMKilled");
        let mut running = json!({"status": {"phase": "Running", "containerStatuses": [
            {"ready": true, "state": {"running": {}}}]}});
        assert_eq!(pod_status(&running).0, "Running");
        assert_eq!(pod_status(&running).1, 1);
        running["metadata"] = json!({"deletionTimestamp": "2023-11-14T22:13:00Z"});
        assert_eq!(pod_status(&running).0, "Terminating");
    }

    #[test]
    fn deployment_row() {
        let d = json!({"metadata": {"name": "web", "creationTimestamp": "2023-11-14T22:08:08Z"},
            "spec": {"replicas": 3, "selector": {"matchLabels": {"app": "web"}},
              "template": {"spec": {"containers": [{"name": "app", "image": "web:1"}]}}},
            "status": {"readyReplicas": 2, "updatedReplicas": 3, "availableReplicas": 2}});
        let t = table(
            kinds::deployments(),
            [&d],
            IncludeObject::None,
            now(),
            &json!({}),
        );
        assert_eq!(
            t["rows"][0]["cells"],
            json!(["web", "2/3", 3, 2, "5m12s", "app", "web:1", "app=web"])
        );
        assert!(t["rows"][0].get("object").is_none());
        assert_eq!(t["columnDefinitions"][1]["name"], "Ready");
    }

    #[test]
    fn accept_header_detection() {
        assert!(wants_table(
            "application/json;as=Table;v=v1;g=meta.k8s.io,application/json"
        ));
        assert!(!wants_table("application/json"));
    }
}
