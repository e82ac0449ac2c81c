//! One 100 ms tick of the `large` world (5,000 pods in 50 Deployments on 100
//! nodes, with its traffic model) while five Deployments roll at once: the
//! simulator keeps real time when a tick takes well under 100 ms.
//!
//! Criterion times `World::step` over rollouts that follow one another (a new
//! round starts when the last one is done). Before that, one whole rollout is
//! stepped tick by tick and its per-tick wall and thread-CPU times are printed
//! (p50, p99, max, mean): on a shared machine the CPU time is the steadier
//! figure, as it does not count time spent waiting for a core.

#![allow(clippy::unwrap_used)]

use std::time::{Duration, Instant};

use criterion::{Criterion, criterion_group, criterion_main};

mod support;

use support::large::{ROLLED, rolled_out, start_rollout, steady_world, thread_cpu};

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

fn summary(label: &str, mut ticks: Vec<Duration>) -> String {
    ticks.sort();
    let total: Duration = ticks.iter().sum();
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    format!(
        "{label}: p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms, mean {:.2} ms",
        ms(percentile(&ticks, 0.5)),
        ms(percentile(&ticks, 0.99)),
        ms(*ticks.last().unwrap()),
        ms(total / ticks.len() as u32),
    )
}

fn bench(c: &mut Criterion) {
    let mut world = steady_world();
    let shared = world.shared();

    let mut round = 1;
    let rolling = start_rollout(&shared, round);
    let (mut wall, mut cpu) = (Vec::new(), Vec::new());
    while !rolled_out(&shared, &rolling) {
        let (w0, c0) = (Instant::now(), thread_cpu());
        world.step();
        wall.push(w0.elapsed());
        cpu.push(thread_cpu().saturating_sub(c0));
    }
    eprintln!(
        "sim_tick: a rollout of {ROLLED} Deployments took {} ticks ({:.1} s of sim time)",
        wall.len(),
        wall.len() as f64 / 10.0
    );
    eprintln!("sim_tick: {}", summary("wall per tick", wall));
    eprintln!("sim_tick: {}", summary("thread CPU per tick", cpu));

    let mut group = c.benchmark_group("sim_tick");
    group.sample_size(20);
    group.measurement_time(Duration::from_secs(20));
    let mut rolling = Vec::new();
    group.bench_function("World::step during a rollout of 5 Deployments", |b| {
        b.iter_custom(|iters| {
            let mut spent = Duration::ZERO;
            for _ in 0..iters {
                if rolling.is_empty() || rolled_out(&shared, &rolling) {
                    round += 1;
                    rolling = start_rollout(&shared, round);
                }
                let began = Instant::now();
                world.step();
                spent += began.elapsed();
            }
            spent
        });
    });
    group.finish();
}

/// One tick of a `fleet` cluster (15 apps of the four kinds, 60-odd pods,
/// their controllers and traffic): `demo --scenario fleet` runs two.
fn fleet(c: &mut Criterion) {
    use chrono::TimeZone as _;
    let scenario = flightdeck::sim::Scenario::load("fleet-east").unwrap();
    let start = chrono::Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap();
    let mut world = flightdeck::sim::World::new(scenario, 1, start).unwrap();
    let shared = world.shared();
    world.add_controller(Box::new(support::large::TrafficController(
        flightdeck::sim::traffic::Traffic::new(&shared),
    )));
    // Past the start: pods up, Rollouts at their pauses, Canaries checking.
    world.step_for(Duration::from_secs(120));
    let mut group = c.benchmark_group("sim_tick");
    group.sample_size(20);
    group.bench_function("World::step of a fleet cluster", |b| {
        b.iter(|| world.step());
    });
    group.finish();
}

criterion_group!(benches, bench, fleet);
criterion_main!(benches);
