//! Same seed, same trace: the shell's trace depends only on the seed, through madsim's
//! seeded scheduler and network and the world's seeded streams.

use crate::support::{report, seed};
use crate::worlds::outages;
use gatesim_shell::{run, run_in_sim, ShellOptions};
use gatesim_sim::check;
use madsim::runtime::Builder;
use std::sync::Mutex;

#[test]
fn same_seed_same_trace_hash() {
    let world = outages("determinism", 30);
    let options = ShellOptions {
        disconnect_bp: 1_000,
        ..ShellOptions::new(seed(31))
    };
    let first = run(&world, &options).expect("first run");
    let second = run(&world, &options).expect("second run");
    if let Some(v) = check::check_determinism(&first.run, &second.run) {
        panic!("{}", report(&world, &options, &v.to_string()));
    }
    assert_eq!(first.stats, second.stats);
    let other = run(
        &world,
        &ShellOptions {
            seed: options.seed + 1,
            ..options.clone()
        },
    )
    .expect("run with another seed");
    assert_ne!(
        first.run.trace.hash(&first.run.names),
        other.run.trace.hash(&other.run.names),
        "the seed reaches the trace"
    );
}

/// Trace hashes of the runs `madsim_check_determinism` made (its runs are `fn` items
/// that cannot capture).
static HASHES: Mutex<Vec<u64>> = Mutex::new(Vec::new());

const CHECKED_SEED: u64 = 32;

/// What `MADSIM_TEST_CHECK_DETERMINISM` does to a `#[madsim::test]`: madsim runs the
/// body twice with the same seed on fresh threads and fails at the first random draw
/// that differs; the two trace hashes must be equal too.
#[test]
fn madsim_check_determinism() {
    let builder = Builder {
        seed: seed(CHECKED_SEED),
        check: true,
        ..Builder::from_env()
    };
    builder.run(|| async {
        let world = outages("determinism-madsim", 20);
        let options = ShellOptions::new(madsim::runtime::Handle::current().seed());
        let shell = run_in_sim(&world, &options)
            .await
            .expect("the run completes");
        let hash = shell.run.trace.hash(&shell.run.names);
        HASHES.lock().expect("one test uses HASHES").push(hash);
    });
    let hashes = HASHES.lock().expect("one test uses HASHES");
    assert_eq!(hashes.len(), 2, "madsim ran the body twice");
    assert_eq!(hashes[0], hashes[1], "same seed, same trace hash");
}
