//! Behaviour fingerprint for refactors: the trace hash, client answers, attempts, steps and
//! final state of the standard swarm world (every fault kind, 10 req/s × 1 000 s) for seeds
//! 0..20, one line per seed. Run it before and after a change that must not alter
//! behaviour and compare the output byte for byte:
//!
//! ```sh
//! cargo run --release -p gatesim-sim --example fingerprint > before.txt
//! ```

use gatesim_sim::bench::swarm_world;
use gatesim_sim::engine::{self, RunOptions};
use gatesim_sim::swarm;

fn main() {
    for seed in 0..20u64 {
        let world = swarm::resolve(&swarm_world(10, 1000), seed);
        let traced = engine::run(&world, RunOptions { seed, record: true }).expect("runs");
        let bare = engine::run(
            &world,
            RunOptions {
                seed,
                record: false,
            },
        )
        .expect("runs");
        let answers = format!("{:?}", bare.responses);
        println!(
            "seed {seed}: trace {:016x} answers {:016x} attempts {} steps {} final {:016x}",
            traced.trace.hash(&traced.names),
            fnv(answers.as_bytes()),
            bare.attempts,
            bare.steps,
            fnv(format!("{:?} {:?}", bare.final_state, bare.arrivals).as_bytes()),
        );
    }
}

fn fnv(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(*b)).wrapping_mul(0x0100_0000_01b3)
    })
}
