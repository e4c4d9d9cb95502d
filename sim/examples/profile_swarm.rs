//! The callgrind reference run of `docs/performance.md`: the standard swarm world (every
//! fault kind) at 100 req/s × 200 s, seed 0 unless given, trace off. Faults are drawn
//! before the run; compare the `Ir` of `engine::run` (or the whole program) before and
//! after a change:
//!
//! ```sh
//! cargo build --release -p gatesim-sim --example profile_swarm
//! valgrind --tool=callgrind target/release/examples/profile_swarm 0
//! ```

use gatesim_sim::bench::swarm_world;
use gatesim_sim::engine::{self, RunOptions};
use gatesim_sim::swarm;

fn main() {
    let seed = std::env::args()
        .nth(1)
        .map_or(0, |s| s.parse().expect("seed is a number"));
    let world = swarm::resolve(&swarm_world(100, 200), seed);
    let run = engine::run(
        &world,
        RunOptions {
            seed,
            record: false,
        },
    )
    .expect("runs");
    println!(
        "seed {seed}: {} requests, {} attempts",
        run.arrivals.len(),
        run.attempts
    );
}
