//! Every shipped plan parses, fits the simulator's naming, and every kind of
//! mistake a captain makes is reported at its place with what was expected.
#![allow(clippy::unwrap_used)]

use std::path::{Path, PathBuf};
use std::time::Duration;

use flightdeck::rollout::plan::{Pause, Router, Switch};
use flightdeck::rollout::{GuardAction, GuardMetric, Plan, Strategy};

fn plans_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("assets/plans")
}

fn shipped(name: &str) -> Plan {
    Plan::load(&plans_dir().join(name)).unwrap()
}

/// The error a plan text gives, as the captain sees it.
fn error(text: &str) -> String {
    Plan::parse(Path::new("plan.toml"), text)
        .unwrap_err()
        .to_string()
}

#[test]
fn every_shipped_plan_parses_and_validates() {
    let mut names = Vec::new();
    for entry in std::fs::read_dir(plans_dir()).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "toml") {
            if let Err(e) = Plan::load(&path) {
                panic!("{e}");
            }
            names.push(path.file_stem().unwrap().to_string_lossy().into_owned());
        }
    }
    names.sort();
    assert_eq!(
        names,
        [
            "bad-canary",
            "blue-green",
            "canary-gateway-api",
            "canary-istio",
            "canary-runbook",
            "crashloop",
            "healthy-canary-auto",
            "memory-leak",
            "rolling",
            "slow-canary"
        ]
    );
}

fn objects(plan: &Plan) -> Vec<String> {
    plan.referenced_objects()
        .iter()
        .map(ToString::to_string)
        .collect()
}

#[test]
fn canary_plans_name_the_simulators_objects() {
    let plan = shipped("canary-istio.toml");
    assert_eq!(
        objects(&plan),
        [
            "Deployment shop/checkout-canary",
            "Deployment shop/checkout-stable",
            "DestinationRule shop/checkout",
            "VirtualService shop/checkout",
        ]
    );
    let Strategy::Canary(c) = &plan.strategy else {
        panic!("not a canary")
    };
    let weights: Vec<u8> = c.stages.iter().map(|s| s.weight).collect();
    assert_eq!(weights, [10, 25, 50, 75, 100]);
    assert_eq!(c.stages[0].pause, Pause::Manual);
    assert_eq!(c.stages[1].pause, Pause::Timed(Duration::from_secs(120)));
    let error_guard = plan
        .guards
        .iter()
        .find(|g| g.metric == GuardMetric::ErrorRatio)
        .unwrap();
    assert!((error_guard.threshold() - 0.02).abs() < 1e-12);
    // The plan's error guard replaced the built-in one; the others stay.
    assert_eq!(plan.guards.len(), 5);

    let gw = shipped("canary-gateway-api.toml");
    assert_eq!(
        objects(&gw),
        [
            "Deployment shop/checkout-canary",
            "Deployment shop/checkout-stable",
            "HTTPRoute shop/checkout",
            "Service shop/checkout-canary",
            "Service shop/checkout-stable",
        ]
    );
    assert_eq!(shipped("crashloop.toml").namespace, "payments");
    assert_eq!(
        objects(&shipped("memory-leak.toml"))[2],
        "HTTPRoute shop/catalog"
    );
    assert_eq!(
        objects(&shipped("slow-canary.toml"))[0],
        "Deployment shop/search-canary"
    );
}

#[test]
fn blue_green_and_rolling_plans_name_the_simulators_objects() {
    let bg = shipped("blue-green.toml");
    assert_eq!(
        objects(&bg),
        [
            "Deployment frontend/web-blue",
            "Deployment frontend/web-green",
            "Service frontend/web",
            "Service frontend/web-preview",
        ]
    );
    let Strategy::BlueGreen(b) = &bg.strategy else {
        panic!("not blue-green")
    };
    assert_eq!(b.keep_old_for, Duration::from_secs(600));
    assert_eq!(
        b.switch,
        Switch::Selector {
            preview_pause: Pause::Manual
        }
    );

    let rolling = shipped("rolling.toml");
    assert_eq!(objects(&rolling), ["Deployment backend/api"]);
    let Strategy::Rolling(r) = &rolling.strategy else {
        panic!("not rolling")
    };
    assert_eq!(r.image, "registry.local/backend/api:10.5.0");
    assert_eq!(r.undo_to, None);
}

const GOOD: &str = r#"app = "checkout"
namespace = "shop"
strategy = "canary"

[canary]
stages = [
  { weight = 10, pause = "manual" },
  { weight = 50, pause = "2m" },
  { weight = 100 },
]

[canary.router]
kind = "istio"
"#;

#[test]
fn a_minimal_plan_takes_the_usual_names() {
    let plan = Plan::parse(Path::new("plan.toml"), GOOD).unwrap();
    let Strategy::Canary(c) = &plan.strategy else {
        panic!("not a canary")
    };
    assert_eq!(c.stable, "checkout-stable");
    assert_eq!(c.canary, "checkout-canary");
    assert_eq!(
        c.router,
        Router::Istio {
            virtual_service: "checkout".into(),
            route: None,
            destination_rule: "checkout".into(),
            stable_subset: "stable".into(),
            canary_subset: "canary".into(),
        }
    );
    assert!(plan.analysis.is_none());
    assert!(!plan.auto);
    assert_eq!(
        plan.guards
            .iter()
            .map(|g| (g.metric, g.action))
            .collect::<Vec<_>>(),
        [
            (GuardMetric::ErrorRatio, GuardAction::Rollback),
            (GuardMetric::LatencyP99, GuardAction::GradualRollback),
            (GuardMetric::HealthCheck, GuardAction::Rollback),
            (
                GuardMetric::MemoryRatioOfLimit,
                GuardAction::GradualRollback
            ),
            (GuardMetric::Restarts, GuardAction::Rollback),
        ]
    );
}

#[test]
fn a_weight_over_100_is_reported_at_the_weight() {
    let text = GOOD.replace("weight = 50", "weight = 120");
    assert_eq!(
        error(&text),
        "plan.toml:8:14: weight must be between 0 and 100, found 120"
    );
}

#[test]
fn decreasing_weights_are_reported_at_the_later_weight() {
    let text = GOOD.replace("weight = 50", "weight = 5");
    assert_eq!(
        error(&text),
        "plan.toml:8:14: weights must increase from stage to stage: stage 2 has 5 after 10"
    );
}

#[test]
fn the_last_stage_must_reach_100_and_take_no_pause() {
    let text = GOOD.replace("{ weight = 100 }", "{ weight = 90 }");
    assert_eq!(
        error(&text),
        "plan.toml:9:14: the last stage must have weight 100 (it completes the rollout), found 90"
    );
    let text = GOOD.replace("{ weight = 100 }", "{ weight = 100, pause = \"5m\" }");
    assert_eq!(
        error(&text),
        "plan.toml:9:27: the last stage completes the rollout; it takes no pause"
    );
}

#[test]
fn a_canary_without_stages_is_refused() {
    let text = "app = \"checkout\"\nnamespace = \"shop\"\nstrategy = \"canary\"\n\n[canary]\nstages = []\n\n[canary.router]\nkind = \"istio\"\n";
    assert_eq!(
        error(text),
        "plan.toml:6:10: a canary needs stages: at least one before the final { weight = 100 }, e.g. [{ weight = 10, pause = \"manual\" }, { weight = 100 }]"
    );
}

#[test]
fn an_unknown_field_is_reported_where_it_is() {
    let text = GOOD.replace("kind = \"istio\"", "kind = \"istio\"\nmirror = true");
    assert_eq!(
        error(&text),
        "plan.toml:14:1: unknown field `mirror`, expected one of `kind`, `virtual_service`, `route`, `destination_rule`, `stable_subset`, `canary_subset`, `http_route`, `stable_service`, `canary_service`, `traffic_split`, `root_service`, `ingress`, `canary_ingress`, `total_replicas`"
    );
}

#[test]
fn a_wrong_type_is_reported_at_the_value() {
    let text = GOOD.replace("weight = 50", "weight = \"half\"");
    assert_eq!(
        error(&text),
        "plan.toml:8:14: invalid type: string \"half\", expected i64"
    );
}

#[test]
fn an_unknown_router_lists_the_known_ones() {
    let text = GOOD.replace("kind = \"istio\"", "kind = \"linkerd\"");
    assert_eq!(
        error(&text),
        "plan.toml:13:8: unknown variant `linkerd`, expected one of `istio`, `gateway-api`, `smi`, `nginx`, `replica-ratio`"
    );
}

#[test]
fn a_key_of_another_router_is_refused() {
    let text = GOOD.replace(
        "kind = \"istio\"",
        "kind = \"istio\"\nhttp_route = \"checkout\"",
    );
    assert_eq!(
        error(&text),
        "plan.toml:14:14: `http_route` is not a key of the istio router"
    );
}

#[test]
fn a_bad_duration_is_reported_at_the_pause() {
    let text = GOOD.replace("pause = \"2m\"", "pause = \"two minutes\"");
    assert_eq!(
        error(&text),
        "plan.toml:8:26: expected \"manual\" or a duration such as 30s, 2m or 1h30m, found \"two minutes\""
    );
    let text = format!("{GOOD}\n[analysis]\nwindow = \"2 min\"\n");
    assert_eq!(
        error(&text),
        "plan.toml:16:10: expected a duration such as 500ms, 30s, 2m or 1h30m, found \"2 min\""
    );
}

#[test]
fn a_duration_too_long_is_reported_at_its_place_not_a_panic() {
    let text = GOOD.replace("pause = \"2m\"", "pause = \"99999999999999999999h\"");
    assert_eq!(
        error(&text),
        "plan.toml:8:26: \"99999999999999999999h\" is too long: a duration may be at most 100 years"
    );
    let text = format!("{GOOD}\n[analysis]\nwindow = \"99999999999999999999h\"\n");
    assert_eq!(
        error(&text),
        "plan.toml:16:10: \"99999999999999999999h\" is too long: a duration may be at most 100 years"
    );
}

#[test]
fn a_strategy_needs_its_own_table_and_no_other() {
    let text = GOOD.replace("strategy = \"canary\"", "strategy = \"rolling\"");
    assert_eq!(
        error(&text),
        "plan.toml:5:1: [canary] does not apply to strategy = \"rolling\""
    );
    let text = "app = \"api\"\nnamespace = \"backend\"\nstrategy = \"blue-green\"\n";
    assert_eq!(
        error(text),
        "plan.toml:3:12: strategy = \"blue-green\" needs a [blue_green] table"
    );
}

#[test]
fn names_must_be_kubernetes_names() {
    let text = GOOD.replace("app = \"checkout\"", "app = \"Checkout\"");
    assert_eq!(
        error(&text),
        "plan.toml:1:7: \"Checkout\" is not a valid Kubernetes name: at most 63 lowercase letters, digits and '-', starting and ending with a letter or digit"
    );
}

#[test]
fn guard_thresholds_are_read_in_the_metrics_units() {
    let text = format!(
        "{GOOD}\n[[guards]]\nmetric = \"latency-p95\"\nthreshold = \"800ms\"\nfor = \"1m\"\naction = \"hold\"\n\n[[guards]]\nmetric = \"error-ratio\"\nthreshold = \"lots\"\n"
    );
    assert_eq!(
        error(&text),
        "plan.toml:23:13: expected a ratio between 0 and 1 such as 0.05, or a percentage such as \"5%\", found \"lots\""
    );
    let text = format!(
        "{GOOD}\n[[guards]]\nmetric = \"latency-p95\"\nthreshold = \"800ms\"\nfor = \"1m\"\naction = \"hold\"\n"
    );
    let plan = Plan::parse(Path::new("plan.toml"), &text).unwrap();
    let p95 = plan
        .guards
        .iter()
        .find(|g| g.metric == GuardMetric::LatencyP95)
        .unwrap();
    assert!((p95.threshold() - 0.8).abs() < 1e-12);
    assert_eq!(p95.action, GuardAction::Hold);
}

#[test]
fn notifications_need_exactly_one_url_source() {
    let text = format!("{GOOD}\n[[notifications]]\nkind = \"slack\"\n");
    assert_eq!(
        error(&text),
        "plan.toml:16:8: a notification needs exactly one of `url` and `url_env`"
    );
    let text = format!("{GOOD}\n[[notifications]]\nkind = \"generic\"\nurl = \"ftp://x\"\n");
    assert_eq!(
        error(&text),
        "plan.toml:17:7: expected an http:// or https:// URL, found \"ftp://x\""
    );
}

#[test]
fn query_templates_only_know_their_placeholders() {
    let text = format!(
        "{GOOD}\n[queries]\nerror_ratio = 'sum(rate(errors{{app=\"{{app}}\",pod=\"{{pod}}\"}}[{{window}}]))'\n"
    );
    assert_eq!(
        error(&text),
        "plan.toml:16:15: unknown placeholder {pod}; expected {namespace}, {app}, {version} or {window}"
    );
}

#[test]
fn a_weighted_blue_green_needs_stages_and_a_router() {
    let text = "app = \"web\"\nnamespace = \"frontend\"\nstrategy = \"blue-green\"\n\n[blue_green]\nswitch = \"weighted\"\n";
    assert_eq!(
        error(text),
        "plan.toml:6:10: switch = \"weighted\" needs `stages` and a [blue_green.router] table"
    );
    let ok = "app = \"web\"\nnamespace = \"frontend\"\nstrategy = \"blue-green\"\n\n[blue_green]\nswitch = \"weighted\"\nstages = [{ weight = 10, pause = \"1m\" }, { weight = 50, pause = \"1m\" }, { weight = 100 }]\n\n[blue_green.router]\nkind = \"gateway-api\"\n";
    let plan = Plan::parse(Path::new("plan.toml"), ok).unwrap();
    assert_eq!(
        objects(&plan),
        [
            "Deployment frontend/web-blue",
            "Deployment frontend/web-green",
            "HTTPRoute frontend/web",
            "Service frontend/web",
            "Service frontend/web-blue",
            "Service frontend/web-green",
        ]
    );
}

#[test]
fn a_slot_label_must_be_a_label_key() {
    let text = "app = \"web\"\nnamespace = \"frontend\"\nstrategy = \"blue-green\"\n\n[blue_green]\nslot_label = \"slot!\"\n";
    assert_eq!(
        error(text),
        "plan.toml:6:14: \"slot!\" is not a valid label key such as \"slot\" or \"example.com/slot\""
    );
}

/// GOOD with one `[[checks]]` entry whose lines are `body` (from line 15).
fn with_check(body: &str) -> String {
    format!("{GOOD}\n[[checks]]\n{body}\n")
}

#[test]
fn the_runbook_plan_reads_its_checks() {
    use flightdeck::rollout::checks::{Action, OnFail, Point};
    let plan = shipped("canary-runbook.toml");
    let points: Vec<(String, Point, OnFail)> = plan
        .checks
        .iter()
        .map(|c| (c.id.clone(), c.at, c.on_fail))
        .collect();
    assert_eq!(
        points,
        [
            ("approval".to_string(), Point::BeforeStart, OnFail::Hold),
            ("backup".to_string(), Point::BeforeStart, OnFail::Hold),
            ("smoke".to_string(), Point::BeforePromote, OnFail::Rollback),
        ]
    );
    assert!(matches!(
        &plan.checks[0].action,
        Action::Manual { who: Some(role), .. } if role == "release manager"
    ));
    assert_eq!(plan.checks[2].timeout, Duration::from_secs(30));
    let script = plan.folder().join("scripts/backup.sh");
    assert!(script.is_file(), "{}", script.display());
}

#[test]
fn a_malformed_check_is_reported_where_it_is_written() {
    let cases = [
        (
            "id = \"a\"\nat = \"before-lunch\"\nmanual = \"ok\"",
            "plan.toml:17:6: unknown point \"before-lunch\": expected \"before-start\", \
             \"before-stage N\", \"before-promote\", \"after-promote\" or \"after-rollback\"",
        ),
        (
            "id = \"a\"\nat = \"before-stage 4\"\nmanual = \"ok\"",
            "plan.toml:17:6: stage 4 is out of range: the plan has stages 1 to 3",
        ),
        (
            "id = \"a\"\nat = \"before-start\"\nmanual = \"ok\"\nrun = [\"true\"]",
            "plan.toml:19:7: a check is either manual or run, not both",
        ),
        (
            "id = \"a\"\nat = \"before-start\"\ntimeout = \"soon\"",
            "plan.toml:15:1: check \"a\" needs manual = \"…\" or run = [\"program\", …]",
        ),
        (
            "id = \"a\"\nat = \"before-start\"\nrun = [\"true\"]\ntimeout = \"soon\"",
            "plan.toml:19:11: expected a duration such as 500ms, 30s, 2m or 1h30m, found \"soon\"",
        ),
        (
            "id = \"a\"\nat = \"before-start\"\nrun = [\"true\"]\non_fail = \"panic\"",
            "plan.toml:19:11: on_fail must be \"hold\", \"rollback\" or \"continue\", found \"panic\"",
        ),
        (
            "id = \"a\"\nat = \"before-start\"\njob = \"manifests/migrate.yaml\"",
            "plan.toml:18:7: job checks are not supported yet",
        ),
        (
            "id = \"a\"\nat = \"before-start\"\nrun = [\"./x\", \"{ap}\"]",
            "plan.toml:18:7: unknown placeholder {ap}; known: {app}, {namespace}, {image}, {stage}, {rollout}",
        ),
    ];
    for (body, want) in cases {
        assert_eq!(error(&with_check(body)), want, "{body}");
    }
}

#[test]
fn a_check_id_used_twice_is_reported_at_the_second() {
    let text = format!(
        "{}[[checks]]\nid = \"a\"\nat = \"after-promote\"\nmanual = \"again\"\n",
        with_check("id = \"a\"\nat = \"before-start\"\nmanual = \"ok\"")
    );
    assert_eq!(
        error(&text),
        "plan.toml:20:6: check id \"a\" is used twice; each check needs its own id"
    );
}
