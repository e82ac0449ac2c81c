//! The plan file as written, and the checks that turn it into a [`Plan`].
//!
//! Serde checks the shape (unknown keys, wrong types, unknown routers); the
//! rest is checked here with the place of each value kept, so a weight of 120
//! is reported at the 120.

use std::ops::Range;
use std::path::Path;
use std::time::Duration;

use toml::Spanned;

use super::analysis::AnalysisSpec;
use super::guards::{GuardMetric, GuardSpec, Rule, builtin, default_guards};
use super::plan::{
    BlueGreen, Canary, Notification, PLACEHOLDERS, Pause, Plan, Queries, RollbackMode, Rolling,
    Router, Stage, Strategy, StrategyKind, Switch, UrlSource, WebhookKind,
};
use crate::config::source::{FileError, parse_toml};
use crate::units::parse_duration;

use super::file::{
    AnalysisFile, BlueGreenFile, CanaryFile, GuardFile, NotificationFile, PlanFile, QueriesFile,
    RollingFile, RouterFile, RouterKind, S, StageFile, SwitchKind, WebhookKindFile,
};

/// Where errors are reported: the file and its text.
struct Cx<'a> {
    path: &'a Path,
    text: &'a str,
}

impl Cx<'_> {
    fn err(&self, span: &Range<usize>, message: impl Into<String>) -> FileError {
        FileError::at_span(self.path, self.text, span, message)
    }

    fn duration(&self, v: &S<String>) -> Result<Duration, FileError> {
        parse_duration(v.get_ref()).map_err(|e| self.err(&v.span(), e.to_string()))
    }

    fn opt_duration(
        &self,
        v: Option<&S<String>>,
        default: Duration,
    ) -> Result<Duration, FileError> {
        v.map_or(Ok(default), |v| self.duration(v))
    }

    fn pause(&self, v: &S<String>) -> Result<Pause, FileError> {
        if v.get_ref() == "manual" {
            return Ok(Pause::Manual);
        }
        parse_duration(v.get_ref()).map(Pause::Timed).map_err(|e| {
            if matches!(e, crate::units::UnitError::TooLong(_)) {
                return self.err(&v.span(), e.to_string());
            }
            self.err(
                &v.span(),
                format!(
                    "expected \"manual\" or a duration such as 30s, 2m or 1h30m, found {:?}",
                    v.get_ref()
                ),
            )
        })
    }

    /// A DNS-1123 label: app, namespace and Service names.
    fn label(&self, v: &S<String>) -> Result<String, FileError> {
        let s = v.get_ref();
        let ok = !s.is_empty()
            && s.len() <= 63
            && s.chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
            && !s.starts_with('-')
            && !s.ends_with('-');
        if ok {
            Ok(s.clone())
        } else {
            Err(self.err(
                &v.span(),
                format!(
                    "{s:?} is not a valid Kubernetes name: at most 63 lowercase letters, digits \
                     and '-', starting and ending with a letter or digit"
                ),
            ))
        }
    }

    /// A DNS-1123 subdomain: Deployments and router objects.
    fn object(&self, v: &S<String>) -> Result<String, FileError> {
        let s = v.get_ref();
        let ok = !s.is_empty()
            && s.len() <= 253
            && s.split('.').all(|part| {
                !part.is_empty()
                    && part
                        .chars()
                        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
                    && !part.starts_with('-')
                    && !part.ends_with('-')
            });
        if ok {
            Ok(s.clone())
        } else {
            Err(self.err(
                &v.span(),
                format!(
                    "{s:?} is not a valid Kubernetes object name: lowercase letters, digits, '-' \
                     and '.', starting and ending with a letter or digit"
                ),
            ))
        }
    }

    /// A label key such as `slot` or `example.com/slot`.
    fn label_key(&self, v: &S<String>) -> Result<String, FileError> {
        let s = v.get_ref();
        let (prefix, name) = s
            .rsplit_once('/')
            .map_or((None, s.as_str()), |(p, n)| (Some(p), n));
        let name_ok = !name.is_empty()
            && name.len() <= 63
            && name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
            && name.starts_with(|c: char| c.is_ascii_alphanumeric())
            && name.ends_with(|c: char| c.is_ascii_alphanumeric());
        let prefix_ok = prefix.is_none_or(|p| {
            !p.is_empty()
                && p.len() <= 253
                && p.chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '-' | '.'))
        });
        if name_ok && prefix_ok {
            Ok(s.clone())
        } else {
            Err(self.err(
                &v.span(),
                format!("{s:?} is not a valid label key such as \"slot\" or \"example.com/slot\""),
            ))
        }
    }

    fn object_or(&self, v: Option<&S<String>>, default: String) -> Result<String, FileError> {
        v.map_or(Ok(default), |v| self.object(v))
    }

    fn label_or(&self, v: Option<&S<String>>, default: String) -> Result<String, FileError> {
        v.map_or(Ok(default), |v| self.label(v))
    }

    fn count(&self, v: &S<i64>, what: &str, max: i64) -> Result<u32, FileError> {
        let n = *v.get_ref();
        if (0..=max).contains(&n) {
            Ok(n as u32)
        } else {
            Err(self.err(
                &v.span(),
                format!("{what} must be between 0 and {max}, found {n}"),
            ))
        }
    }

    /// A ratio written as a number (`0.05`) or a percentage (`"5%"`).
    fn ratio(&self, v: &S<toml::Value>) -> Result<f64, FileError> {
        let value = match v.get_ref() {
            toml::Value::Float(f) => Some(*f),
            toml::Value::Integer(i) => Some(*i as f64),
            toml::Value::String(s) => s
                .strip_suffix('%')
                .and_then(|p| p.trim().parse::<f64>().ok())
                .map(|p| p / 100.0),
            _ => None,
        };
        match value {
            Some(r) if (0.0..=1.0).contains(&r) => Ok(r),
            _ => Err(self.err(
                &v.span(),
                format!(
                    "expected a ratio between 0 and 1 such as 0.05, \
                     or a percentage such as \"5%\", found {}",
                    v.get_ref()
                ),
            )),
        }
    }

    /// A latency threshold: a duration (`"2s"`) or a number of seconds.
    fn seconds(&self, v: &S<toml::Value>) -> Result<f64, FileError> {
        let value = match v.get_ref() {
            toml::Value::Float(f) if *f >= 0.0 => Some(*f),
            toml::Value::Integer(i) if *i >= 0 => Some(*i as f64),
            toml::Value::String(s) => parse_duration(s).ok().map(|d| d.as_secs_f64()),
            _ => None,
        };
        value.ok_or_else(|| {
            self.err(
                &v.span(),
                format!(
                    "expected a latency such as \"2s\" or \"800ms\", found {}",
                    v.get_ref()
                ),
            )
        })
    }

    fn whole(&self, v: &S<toml::Value>, what: &str) -> Result<f64, FileError> {
        match v.get_ref() {
            toml::Value::Integer(i) if (0..=1_000).contains(i) => Ok(*i as f64),
            other => Err(self.err(
                &v.span(),
                format!("expected {what} as a whole number, found {other}"),
            )),
        }
    }

    fn factor(&self, v: Option<&S<f64>>, default: f64) -> Result<f64, FileError> {
        match v {
            None => Ok(default),
            Some(f) if f.get_ref().is_finite() && *f.get_ref() > 0.0 => Ok(*f.get_ref()),
            Some(f) => Err(self.err(
                &f.span(),
                format!("expected a factor above 0, found {}", f.get_ref()),
            )),
        }
    }
}

pub(crate) fn parse_plan(path: &Path, text: &str) -> Result<Plan, FileError> {
    let file: PlanFile = parse_toml(path, text)?;
    let cx = Cx { path, text };
    let app = cx.label(&file.app)?;
    let namespace = cx.label(&file.namespace)?;
    let kind = *file.strategy.get_ref();

    let tables = [
        (
            StrategyKind::Canary,
            "canary",
            file.canary.as_ref().map(Spanned::span),
        ),
        (
            StrategyKind::BlueGreen,
            "blue_green",
            file.blue_green.as_ref().map(Spanned::span),
        ),
        (
            StrategyKind::Rolling,
            "rolling",
            file.rolling.as_ref().map(Spanned::span),
        ),
    ];
    for (k, name, span) in &tables {
        match span {
            Some(span) if *k != kind => {
                return Err(cx.err(
                    span,
                    format!("[{name}] does not apply to strategy = \"{kind}\""),
                ));
            }
            None if *k == kind => {
                return Err(cx.err(
                    &file.strategy.span(),
                    format!("strategy = \"{kind}\" needs a [{name}] table"),
                ));
            }
            _ => {}
        }
    }

    let strategy = match (&file.canary, &file.blue_green, &file.rolling) {
        (Some(c), _, _) => Strategy::Canary(canary(&cx, &app, c)?),
        (_, Some(b), _) => Strategy::BlueGreen(blue_green(&cx, &app, b)?),
        (_, _, Some(r)) => Strategy::Rolling(rolling(&cx, &app, r.get_ref())?),
        (None, None, None) => {
            return Err(cx.err(&file.strategy.span(), "the plan has no strategy table"));
        }
    };

    let analysis = match &file.analysis {
        Some(a) if a.enabled != Some(false) => Some(analysis(&cx, a)?),
        _ => None,
    };
    let own = file
        .guards
        .iter()
        .map(|g| guard(&cx, g))
        .collect::<Result<Vec<_>, _>>()?;
    // A plan's guard replaces the built-in one on the same metric.
    let mut guards: Vec<GuardSpec> = if file.default_guards {
        default_guards()
            .into_iter()
            .filter(|d| own.iter().all(|g| g.metric != d.metric))
            .collect()
    } else {
        Vec::new()
    };
    guards.extend(own);
    let notifications = file
        .notifications
        .iter()
        .map(|n| notification(&cx, n))
        .collect::<Result<Vec<_>, _>>()?;
    let queries = match &file.queries {
        Some(q) => queries(&cx, q)?,
        None => Queries::default(),
    };
    let mut plan = Plan {
        app,
        namespace,
        auto: file.auto,
        strategy,
        analysis,
        guards,
        notifications,
        queries,
        checks: Vec::new(),
        path: path.to_path_buf(),
        source: text.to_string(),
    };
    plan.checks = super::validate_checks::checks(path, text, &file.checks, &plan)?;
    Ok(plan)
}

fn canary(cx: &Cx<'_>, app: &str, file: &S<CanaryFile>) -> Result<Canary, FileError> {
    let c = file.get_ref();
    Ok(Canary {
        stable: cx.object_or(c.stable.as_ref(), format!("{app}-stable"))?,
        canary: cx.object_or(c.canary.as_ref(), format!("{app}-canary"))?,
        router: router(cx, app, &c.router, ("stable", "canary"))?,
        stages: stages(cx, &c.stages, "a canary")?,
        rollback: c.rollback.unwrap_or(RollbackMode::Immediate),
        rollback_step: cx.opt_duration(c.rollback_step.as_ref(), Duration::from_secs(30))?,
    })
}

fn stages(cx: &Cx<'_>, list: &S<Vec<StageFile>>, what: &str) -> Result<Vec<Stage>, FileError> {
    let files = list.get_ref();
    if files.len() < 2 {
        return Err(cx.err(
            &list.span(),
            format!(
                "{what} needs stages: at least one before the final {{ weight = 100 }}, \
                 e.g. [{{ weight = 10, pause = \"manual\" }}, {{ weight = 100 }}]"
            ),
        ));
    }
    let mut out: Vec<Stage> = Vec::with_capacity(files.len());
    for (i, s) in files.iter().enumerate() {
        let w = *s.weight.get_ref();
        if !(0..=100).contains(&w) {
            return Err(cx.err(
                &s.weight.span(),
                format!("weight must be between 0 and 100, found {w}"),
            ));
        }
        let weight = w as u8;
        if let Some(prev) = out.last().filter(|p| p.weight >= weight) {
            return Err(cx.err(
                &s.weight.span(),
                format!(
                    "weights must increase from stage to stage: stage {} has {weight} after {}",
                    i + 1,
                    prev.weight
                ),
            ));
        }
        let last = i + 1 == files.len();
        if last && weight != 100 {
            return Err(cx.err(
                &s.weight.span(),
                format!(
                    "the last stage must have weight 100 (it completes the rollout), found {weight}"
                ),
            ));
        }
        let pause = match (&s.pause, last) {
            (Some(p), true) => {
                return Err(cx.err(
                    &p.span(),
                    "the last stage completes the rollout; it takes no pause",
                ));
            }
            (Some(p), false) => cx.pause(p)?,
            (None, _) => Pause::Manual,
        };
        let canary_replicas = s
            .canary_replicas
            .as_ref()
            .map(|r| cx.count(r, "canary_replicas", 1_000))
            .transpose()?;
        out.push(Stage {
            weight,
            pause,
            canary_replicas,
        });
    }
    Ok(out)
}

/// A router key: its name, where it was written (if it was), and the routers it belongs to.
type RouterKey<'a> = (&'a str, Option<Range<usize>>, &'a [RouterKind]);

/// Checks a router table; `sides` are the version names the defaults use
/// (stable/canary, or blue/green for a weighted blue-green switch).
fn router(
    cx: &Cx<'_>,
    app: &str,
    file: &S<RouterFile>,
    sides: (&str, &str),
) -> Result<Router, FileError> {
    let r = file.get_ref();
    let kind = *r.kind.get_ref();
    let keys: [RouterKey<'_>; 12] = [
        (
            "virtual_service",
            r.virtual_service.as_ref().map(Spanned::span),
            &[RouterKind::Istio],
        ),
        (
            "route",
            r.route.as_ref().map(Spanned::span),
            &[RouterKind::Istio],
        ),
        (
            "destination_rule",
            r.destination_rule.as_ref().map(Spanned::span),
            &[RouterKind::Istio],
        ),
        (
            "stable_subset",
            r.stable_subset.as_ref().map(Spanned::span),
            &[RouterKind::Istio],
        ),
        (
            "canary_subset",
            r.canary_subset.as_ref().map(Spanned::span),
            &[RouterKind::Istio],
        ),
        (
            "http_route",
            r.http_route.as_ref().map(Spanned::span),
            &[RouterKind::GatewayApi],
        ),
        (
            "stable_service",
            r.stable_service.as_ref().map(Spanned::span),
            &[RouterKind::GatewayApi, RouterKind::Smi],
        ),
        (
            "canary_service",
            r.canary_service.as_ref().map(Spanned::span),
            &[RouterKind::GatewayApi, RouterKind::Smi],
        ),
        (
            "traffic_split",
            r.traffic_split.as_ref().map(Spanned::span),
            &[RouterKind::Smi],
        ),
        (
            "root_service",
            r.root_service.as_ref().map(Spanned::span),
            &[RouterKind::Smi],
        ),
        (
            "ingress",
            r.ingress.as_ref().map(Spanned::span),
            &[RouterKind::Nginx],
        ),
        (
            "canary_ingress",
            r.canary_ingress.as_ref().map(Spanned::span),
            &[RouterKind::Nginx],
        ),
    ];
    for (key, span, kinds) in &keys {
        if let Some(span) = span
            && !kinds.contains(&kind)
        {
            return Err(cx.err(
                span,
                format!("`{key}` is not a key of the {} router", kind_name(kind)),
            ));
        }
    }
    if let (Some(t), false) = (&r.total_replicas, kind == RouterKind::ReplicaRatio) {
        return Err(cx.err(
            &t.span(),
            format!(
                "`total_replicas` is not a key of the {} router",
                kind_name(kind)
            ),
        ));
    }
    let (stable, canary) = sides;
    let name = |v: &Option<S<String>>, default: String| cx.object_or(v.as_ref(), default);
    let service = |v: &Option<S<String>>, default: String| cx.label_or(v.as_ref(), default);
    Ok(match kind {
        RouterKind::Istio => Router::Istio {
            virtual_service: name(&r.virtual_service, app.to_string())?,
            route: r.route.as_ref().map(|v| v.get_ref().clone()),
            destination_rule: name(&r.destination_rule, app.to_string())?,
            stable_subset: service(&r.stable_subset, stable.to_string())?,
            canary_subset: service(&r.canary_subset, canary.to_string())?,
        },
        RouterKind::GatewayApi => Router::GatewayApi {
            http_route: name(&r.http_route, app.to_string())?,
            stable_service: service(&r.stable_service, format!("{app}-{stable}"))?,
            canary_service: service(&r.canary_service, format!("{app}-{canary}"))?,
        },
        RouterKind::Smi => Router::Smi {
            traffic_split: name(&r.traffic_split, app.to_string())?,
            root_service: service(&r.root_service, app.to_string())?,
            stable_service: service(&r.stable_service, format!("{app}-{stable}"))?,
            canary_service: service(&r.canary_service, format!("{app}-{canary}"))?,
        },
        RouterKind::Nginx => Router::Nginx {
            ingress: name(&r.ingress, app.to_string())?,
            canary_ingress: name(&r.canary_ingress, format!("{app}-{canary}"))?,
        },
        RouterKind::ReplicaRatio => Router::ReplicaRatio {
            total_replicas: r
                .total_replicas
                .as_ref()
                .map(|t| cx.count(t, "total_replicas", 1_000))
                .transpose()?,
        },
    })
}

fn kind_name(kind: RouterKind) -> &'static str {
    match kind {
        RouterKind::Istio => "istio",
        RouterKind::GatewayApi => "gateway-api",
        RouterKind::Smi => "smi",
        RouterKind::Nginx => "nginx",
        RouterKind::ReplicaRatio => "replica-ratio",
    }
}

fn blue_green(cx: &Cx<'_>, app: &str, file: &S<BlueGreenFile>) -> Result<BlueGreen, FileError> {
    let b = file.get_ref();
    let switch_kind = b
        .switch
        .as_ref()
        .map_or(SwitchKind::Selector, |s| *s.get_ref());
    let switch = match switch_kind {
        SwitchKind::Selector => {
            for (key, span) in [
                ("stages", b.stages.as_ref().map(Spanned::span)),
                ("router", b.router.as_ref().map(Spanned::span)),
            ] {
                if let Some(span) = span {
                    return Err(cx.err(&span, format!("`{key}` needs switch = \"weighted\"")));
                }
            }
            Switch::Selector {
                preview_pause: b
                    .preview_pause
                    .as_ref()
                    .map_or(Ok(Pause::Manual), |p| cx.pause(p))?,
            }
        }
        SwitchKind::Weighted => {
            let at = b.switch.as_ref().map_or(file.span(), Spanned::span);
            if let Some(p) = &b.preview_pause {
                return Err(cx.err(
                    &p.span(),
                    "`preview_pause` is for switch = \"selector\"; \
                     a weighted switch pauses in its stages",
                ));
            }
            let (Some(router_file), Some(stage_list)) = (&b.router, &b.stages) else {
                return Err(cx.err(
                    &at,
                    "switch = \"weighted\" needs `stages` and a [blue_green.router] table",
                ));
            };
            Switch::Weighted {
                router: router(cx, app, router_file, ("blue", "green"))?,
                stages: stages(cx, stage_list, "a weighted switch")?,
            }
        }
    };
    Ok(BlueGreen {
        blue: cx.object_or(b.blue.as_ref(), format!("{app}-blue"))?,
        green: cx.object_or(b.green.as_ref(), format!("{app}-green"))?,
        slot_label: b
            .slot_label
            .as_ref()
            .map_or(Ok("slot".to_string()), |s| cx.label_key(s))?,
        active_service: cx.label_or(b.active_service.as_ref(), app.to_string())?,
        preview_service: b
            .preview_service
            .as_ref()
            .map(|p| cx.label(p))
            .transpose()?,
        switch,
        keep_old_for: cx.opt_duration(b.keep_old_for.as_ref(), Duration::from_secs(600))?,
    })
}

fn rolling(cx: &Cx<'_>, app: &str, r: &RollingFile) -> Result<Rolling, FileError> {
    let image = r.image.get_ref();
    if image.is_empty() || image.chars().any(char::is_whitespace) {
        return Err(cx.err(
            &r.image.span(),
            format!(
                "expected an image reference such as \"registry.local/team/app:1.2.3\", \
                 found {image:?}"
            ),
        ));
    }
    Ok(Rolling {
        deployment: cx.object_or(r.deployment.as_ref(), app.to_string())?,
        container: cx.label_or(r.container.as_ref(), app.to_string())?,
        image: image.clone(),
        pause: r
            .pause
            .as_ref()
            .map_or(Ok(Pause::Manual), |p| cx.pause(p))?,
        undo_to: r
            .undo_to
            .as_ref()
            .map(|u| {
                u64::try_from(*u.get_ref())
                    .ok()
                    .filter(|&n| n > 0)
                    .ok_or_else(|| {
                        cx.err(
                            &u.span(),
                            format!("a revision is a number from 1, found {}", u.get_ref()),
                        )
                    })
            })
            .transpose()?,
    })
}

fn analysis(cx: &Cx<'_>, a: &AnalysisFile) -> Result<AnalysisSpec, FileError> {
    let d = AnalysisSpec::default();
    let interval = cx.opt_duration(a.interval.as_ref(), d.interval)?;
    Ok(AnalysisSpec {
        window: cx.opt_duration(a.window.as_ref(), d.window)?,
        interval,
        min_samples: a
            .min_samples
            .as_ref()
            .map_or(Ok(d.min_samples as u32), |m| {
                cx.count(m, "min_samples", 10_000)
            })?
            .max(1) as usize,
        max_staleness: cx.opt_duration(a.max_staleness.as_ref(), interval * 2)?,
        max_error_ratio: a
            .max_error_ratio
            .as_ref()
            .map(|r| cx.ratio(r))
            .transpose()?,
        max_p99: a.max_p99.as_ref().map(|p| cx.duration(p)).transpose()?,
        error_ratio_factor: cx.factor(a.error_ratio_factor.as_ref(), d.error_ratio_factor)?,
        error_ratio_floor: a
            .error_ratio_floor
            .as_ref()
            .map_or(Ok(d.error_ratio_floor), |r| cx.ratio(r))?,
        p99_factor: cx.factor(a.p99_factor.as_ref(), d.p99_factor)?,
        memory_factor: cx.factor(a.memory_factor.as_ref(), d.memory_factor)?,
        throughput_factor: cx.factor(a.throughput_factor.as_ref(), d.throughput_factor)?,
    })
}

fn guard(cx: &Cx<'_>, g: &GuardFile) -> Result<GuardSpec, FileError> {
    let metric = *g.metric.get_ref();
    // Unset keys come from the built-in guard for the same metric.
    let base = builtin(metric);
    let rule = match (metric, base.rule) {
        (GuardMetric::HealthCheck, Rule::Consecutive { failures }) => {
            if let Some(f) = &g.hold_for {
                return Err(cx.err(
                    &f.span(),
                    "a health-check guard counts consecutive failures (its threshold); \
                     it takes no `for`",
                ));
            }
            Rule::Consecutive {
                failures: g
                    .threshold
                    .as_ref()
                    .map_or(Ok(f64::from(failures)), |t| {
                        cx.whole(t, "consecutive failures")
                    })?
                    .max(1.0) as u32,
            }
        }
        (
            _,
            Rule::Above {
                threshold,
                hold_for,
            },
        ) => {
            let threshold = match &g.threshold {
                None => threshold,
                Some(t) => match metric {
                    GuardMetric::LatencyP99 | GuardMetric::LatencyP95 => cx.seconds(t)?,
                    GuardMetric::Restarts => cx.whole(t, "a number of restarts")?,
                    _ => cx.ratio(t)?,
                },
            };
            Rule::Above {
                threshold,
                hold_for: cx.opt_duration(g.hold_for.as_ref(), hold_for)?,
            }
        }
        (_, rule) => rule,
    };
    if let (Some(p), false) = (&g.path, metric == GuardMetric::HealthCheck) {
        return Err(cx.err(&p.span(), "`path` is for health-check guards"));
    }
    let path = match &g.path {
        Some(p) if !p.get_ref().starts_with('/') => {
            return Err(cx.err(
                &p.span(),
                format!(
                    "a health-check path starts with '/', found {:?}",
                    p.get_ref()
                ),
            ));
        }
        Some(p) => Some(p.get_ref().clone()),
        None => base.path,
    };
    Ok(GuardSpec {
        name: g.name.clone().unwrap_or_else(|| metric.name().to_string()),
        metric,
        rule,
        action: g.action.unwrap_or(base.action),
        path,
    })
}

fn notification(cx: &Cx<'_>, n: &NotificationFile) -> Result<Notification, FileError> {
    let kind = match n.kind.get_ref() {
        WebhookKindFile::Slack => WebhookKind::Slack,
        WebhookKindFile::Generic => WebhookKind::Generic,
    };
    let url = match (&n.url, &n.url_env) {
        (Some(u), None) => {
            let s = u.get_ref();
            if !(s.starts_with("https://") || s.starts_with("http://")) {
                return Err(cx.err(
                    &u.span(),
                    format!("expected an http:// or https:// URL, found {s:?}"),
                ));
            }
            UrlSource::Literal(s.clone())
        }
        (None, Some(e)) => {
            let s = e.get_ref();
            let ok = !s.is_empty()
                && !s.starts_with(|c: char| c.is_ascii_digit())
                && s.chars()
                    .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_');
            if !ok {
                return Err(cx.err(
                    &e.span(),
                    format!(
                        "expected an environment variable name such as SLACK_WEBHOOK_URL, \
                         found {s:?}"
                    ),
                ));
            }
            UrlSource::Env(s.clone())
        }
        _ => {
            return Err(cx.err(
                &n.kind.span(),
                "a notification needs exactly one of `url` and `url_env`",
            ));
        }
    };
    Ok(Notification { kind, url })
}

fn queries(cx: &Cx<'_>, q: &QueriesFile) -> Result<Queries, FileError> {
    let d = Queries::default();
    let pick = |v: &Option<S<String>>, default: String| -> Result<String, FileError> {
        let Some(v) = v else { return Ok(default) };
        let mut rest = v.get_ref().as_str();
        while let Some(open) = rest.find('{') {
            let after = &rest[open + 1..];
            let Some(close) = after.find('}') else { break };
            let name = &after[..close];
            // PromQL's own braces hold label matchers (`{a="b"}`), never a bare word.
            if name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
                && !PLACEHOLDERS.contains(&name)
            {
                return Err(cx.err(
                    &v.span(),
                    format!(
                        "unknown placeholder {{{name}}}; \
                         expected {{namespace}}, {{app}}, {{version}} or {{window}}"
                    ),
                ));
            }
            rest = &after[close + 1..];
        }
        Ok(v.get_ref().clone())
    };
    Ok(Queries {
        request_rate: pick(&q.request_rate, d.request_rate)?,
        error_ratio: pick(&q.error_ratio, d.error_ratio)?,
        p50: pick(&q.latency_p50, d.p50)?,
        p95: pick(&q.latency_p95, d.p95)?,
        p99: pick(&q.latency_p99, d.p99)?,
        memory: pick(&q.memory, d.memory)?,
        memory_ratio: pick(&q.memory_ratio, d.memory_ratio)?,
    })
}
