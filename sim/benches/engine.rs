//! Engine benchmarks: simulated requests per wall-second on the standard swarm world (every
//! fault kind drawn), with and without the trace; one hour of traffic at 100 req/s; one
//! judged swarm seed (two runs and the invariant checker), the unit of a sweep.
//!
//! Run with `cargo bench -p gatesim-sim --bench engine`. Throughput is reported by divan
//! as items (simulated requests) per second.

use divan::counter::ItemsCount;
use divan::Bencher;
use gatesim_sim::bench::swarm_world;
use gatesim_sim::engine::{self, RunOptions};
use gatesim_sim::runner::{judge, Judge};
use gatesim_sim::swarm;

fn main() {
    divan::main();
}

const SEED: u64 = 1;

/// The swarm seeds the throughput figure is taken over, as `gatesim bench` does: each seed
/// draws different faults, and the figure is total requests over total wall time.
const SEEDS: [u64; 3] = [0, 1, 2];

/// The swarm world at 100 req/s for 10 simulated minutes (about 60 000 requests per seed),
/// for seeds 0, 1 and 2 in turn, faults drawn outside the timing. `record`: trace on or off.
#[divan::bench(args = [false, true], sample_count = 10, sample_size = 1)]
fn swarm_600s_at_100rps(bencher: Bencher, record: bool) {
    let worlds: Vec<_> = SEEDS
        .iter()
        .map(|seed| swarm::resolve(&swarm_world(100, 600), *seed))
        .collect();
    let requests: usize = worlds
        .iter()
        .zip(SEEDS)
        .map(|(world, seed)| {
            let options = RunOptions { seed, record };
            engine::run(world, options).expect("runs").arrivals.len()
        })
        .sum();
    // The runs are returned, so divan drops them outside the timing (as `gatesim bench`).
    bencher.counter(ItemsCount::new(requests)).bench_local(|| {
        worlds
            .iter()
            .zip(SEEDS)
            .map(|(world, seed)| engine::run(world, RunOptions { seed, record }).expect("runs"))
            .collect::<Vec<_>>()
    });
}

/// Seed 1 alone: the heaviest of the three (its faults cause the most failovers), so the
/// slowest figure of the swarm world.
#[divan::bench(sample_count = 10, sample_size = 1)]
fn swarm_600s_at_100rps_seed_1(bencher: Bencher) {
    let world = swarm::resolve(&swarm_world(100, 600), SEED);
    let options = RunOptions {
        seed: SEED,
        record: false,
    };
    let requests = engine::run(&world, options).expect("runs").arrivals.len();
    bencher
        .counter(ItemsCount::new(requests))
        .bench_local(|| engine::run(&world, options).expect("runs"));
}

/// One simulated hour at 100 req/s (about 360 000 requests): the wall time here against
/// 3 600 s is the simulated-to-wall ratio.
#[divan::bench(args = [false, true], sample_count = 3, sample_size = 1)]
fn hour_at_100rps(bencher: Bencher, record: bool) {
    let world = swarm::resolve(&swarm_world(100, 3600), SEED);
    let options = RunOptions { seed: SEED, record };
    let requests = engine::run(&world, options).expect("runs").arrivals.len();
    bencher
        .counter(ItemsCount::new(requests))
        .bench_local(|| engine::run(&world, options).expect("runs"));
}

/// One seed of a swarm sweep as `gatesim sweep` judges it: the standard swarm at its
/// sweep size (10 req/s × 1 000 s), run twice (determinism) and checked.
#[divan::bench(sample_count = 10, sample_size = 1)]
fn judge_swarm_seed(bencher: Bencher) {
    let world = swarm_world(10, 1000);
    bencher.bench_local(|| judge(&world, SEED, Judge::default()).expect("runs"));
}
