//! The helm's Lease between two cockpits whose wall clocks disagree by far
//! more than the Lease's duration, against the in-process simulator: exactly
//! one of them drives at every moment, and the other takes over only after
//! the first has stopped renewing for a Lease duration of its own watching.

#![allow(clippy::unwrap_used)]

mod sim_dir;

use std::time::{Duration, Instant};

use chrono::Utc;
use flightdeck::cluster::clock::Clock;
use flightdeck::cluster::lease::LeaseClient;
use flightdeck::driver::helm::{HelmHandle, HelmView};
use k8s_openapi::api::coordination::v1::Lease;

use sim_dir::SimDir;

/// Short, so the test is quick; renewed at a third of it.
const DURATION: Duration = Duration::from_secs(4);
/// How often who drives is sampled.
const SAMPLE: Duration = Duration::from_millis(100);
/// A renewal may come late on a loaded machine; the take-over still has to
/// come, but it may take this much longer than a Lease duration.
const GENEROUS: Duration = Duration::from_secs(30);

struct Helms {
    _cluster: SimDir,
    api: kube::Api<Lease>,
    ana: HelmHandle,
    bo: HelmHandle,
}

/// Ana's cockpit, whose clock is `skew` off, and Bo's, whose clock is right.
async fn helms(skew: chrono::TimeDelta) -> Helms {
    let cluster = SimDir::start("healthy-canary", 1.0).await;
    let client = cluster.client().await;
    let lease = |who: &str| {
        LeaseClient::new(client.clone(), "shop", "checkout", who).with_duration(DURATION)
    };
    let ana = lease("ana@laptop#1").with_wall_clock(Clock::scaled(move || Utc::now() + skew, 1.0));
    Helms {
        _cluster: cluster,
        api: kube::Api::namespaced(client.clone(), "shop"),
        ana: HelmHandle::new(ana),
        bo: HelmHandle::new(lease("bo@desk#2")),
    }
}

fn holder(lease: &Lease) -> Option<String> {
    lease.spec.as_ref()?.holder_identity.clone()
}

async fn one_helm_despite_skewed_clocks(skew: chrono::TimeDelta) {
    let h = helms(skew).await;
    assert!(h.ana.acquire().await.unwrap().is_ours());
    let written = h.api.get("flightdeck-checkout").await.unwrap();
    let renewed = written.spec.as_ref().unwrap().renew_time.as_ref().unwrap();
    let off = renewed.0.as_millisecond() - Utc::now().timestamp_millis();
    assert!(
        (off - skew.num_milliseconds()).abs() < 60_000,
        "Ana's renewTime is stamped by her skewed clock ({off} ms off)"
    );

    let ana_keeper = h.ana.spawn_keeper();
    let bo_keeper = h.bo.spawn_keeper();
    // Both keepers run for three Lease durations: Ana keeps driving, Bo
    // never does, whatever their clocks say.
    let until = Instant::now() + DURATION * 3;
    let mut renewals = std::collections::HashSet::new();
    while Instant::now() < until {
        assert!(
            h.ana.view().is_ours(),
            "Ana lost the helm: {:?}",
            h.ana.view()
        );
        let bo = h.bo.view();
        assert!(!bo.is_ours(), "both drive; Bo sees {bo:?}");
        let lease = h.api.get("flightdeck-checkout").await.unwrap();
        assert_eq!(holder(&lease).as_deref(), Some("ana@laptop#1"));
        renewals.insert(lease.metadata.resource_version.clone());
        tokio::time::sleep(SAMPLE).await;
    }
    assert!(
        renewals.len() >= 3,
        "Ana renewed while she drove: {renewals:?}"
    );
    assert!(
        matches!(h.bo.view(), HelmView::Theirs { ref holder, .. } if holder == "ana@laptop#1"),
        "{:?}",
        h.bo.view()
    );

    // Ana's cockpit stops renewing (it hangs or its laptop sleeps): from now
    // on she drives no more. Bo takes over once the Lease has stood still a
    // whole duration, and not before.
    ana_keeper.abort();
    let mut last_change = Instant::now();
    let mut last_version = None;
    let took = loop {
        // Bo's view is read before the Lease: a view that says "ours" must
        // find Bo's name written already.
        let bo_drives = h.bo.view().is_ours();
        let lease = h.api.get("flightdeck-checkout").await.unwrap();
        if bo_drives {
            assert_eq!(holder(&lease).as_deref(), Some("bo@desk#2"));
            break Instant::now();
        }
        // Bo's take-over may have landed on the server a moment before his
        // view says so: nobody drives in that moment, which is allowed.
        if holder(&lease).as_deref() == Some("bo@desk#2") {
            tokio::time::sleep(SAMPLE).await;
            continue;
        }
        assert_eq!(holder(&lease).as_deref(), Some("ana@laptop#1"));
        if lease.metadata.resource_version != last_version {
            last_version = lease.metadata.resource_version.clone();
            last_change = Instant::now();
        }
        assert!(
            last_change.elapsed() < GENEROUS,
            "Bo never took the lapsed helm: {:?}",
            h.bo.view()
        );
        tokio::time::sleep(SAMPLE).await;
    };
    // The sampler sees a change at most one sample (and a request) after it
    // happened; Bo cannot have seen it earlier than it happened.
    let stood_still = took - last_change;
    assert!(
        stood_still + SAMPLE * 5 >= DURATION,
        "Bo took the helm after the Lease stood still only {stood_still:?}"
    );
    // And Bo keeps it.
    tokio::time::sleep(h.bo.renew_every() * 2).await;
    assert!(h.bo.view().is_ours());
    let lease = h.api.get("flightdeck-checkout").await.unwrap();
    assert_eq!(holder(&lease).as_deref(), Some("bo@desk#2"));
    assert_eq!(lease.spec.unwrap().lease_transitions, Some(1));
    bo_keeper.abort();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_holder_whose_clock_is_an_hour_slow_is_not_taken_over_while_it_renews() {
    one_helm_despite_skewed_clocks(chrono::TimeDelta::hours(-1)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_holder_whose_clock_is_an_hour_fast_is_taken_over_once_it_stops_renewing() {
    one_helm_despite_skewed_clocks(chrono::TimeDelta::hours(1)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_cockpit_waits_a_duration_for_a_lease_it_never_saw_move_but_not_for_a_released_one() {
    let h = helms(chrono::TimeDelta::zero()).await;
    assert!(h.ana.acquire().await.unwrap().is_ours());
    // Ana is gone without releasing: Bo has just started and never saw the
    // Lease change, so it is Ana's for one more duration of Bo's watching.
    let first = Instant::now();
    assert!(!h.bo.acquire().await.unwrap().is_ours());
    let took = loop {
        tokio::time::sleep(SAMPLE).await;
        if h.bo.acquire().await.unwrap().is_ours() {
            break Instant::now();
        }
        assert!(first.elapsed() < GENEROUS, "{:?}", h.bo.view());
    };
    assert!(took - first >= DURATION, "{:?}", took - first);

    // Bo lets go: Ana takes it back at once.
    h.bo.release().await;
    assert!(h.ana.acquire().await.unwrap().is_ours());
}
