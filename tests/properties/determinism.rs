//! Determinism: the same world and seed give the same trace hash, and on a world with a
//! seeded generator and swarm faults the seed actually matters.

use crate::strategies;
use crate::worlds::failure_report;
use gatesim_sim::runner::{judge, Judge};
use proptest::test_runner::{TestCaseError, TestError, TestRunner};

/// Worlds per `cargo test` run (`PROPTEST_CASES` overrides).
const CASES: u32 = 64;
/// Seeds run per world.
const SEEDS: u64 = 4;

#[test]
fn same_seed_same_trace_other_seeds_other_traces() {
    let config = crate::config(
        CASES,
        0x6465_7465_726d_0001,
        regressions_file!("determinism"),
    );
    let mut runner = TestRunner::new(config);
    let result = runner.run(&strategies::traffic_world(), |world| {
        let mut hashes = Vec::new();
        for seed in 0..SEEDS {
            let hash = |how| {
                judge(&world, seed, Judge { determinism: how })
                    .map(|v| v.trace_hash)
                    .map_err(|e| {
                        TestCaseError::fail(format!("seed {seed}: run did not complete: {e}"))
                    })
            };
            // Judged twice from scratch: swarm faults and traffic are drawn again each time.
            let (first, second) = (hash(false)?, hash(false)?);
            if first != second {
                return Err(TestCaseError::fail(format!(
                    "seed {seed}: trace hash {first:016x} then {second:016x}"
                )));
            }
            hashes.push(first);
        }
        hashes.sort_unstable();
        hashes.dedup();
        if hashes.len() < 2 {
            return Err(TestCaseError::fail(format!(
                "{SEEDS} seeds of a world with a generator gave one trace"
            )));
        }
        Ok(())
    });
    match result {
        Ok(()) => {}
        Err(TestError::Fail(why, world)) => {
            let seed = why
                .message()
                .split(':')
                .next()
                .and_then(|s| s.strip_prefix("seed "));
            let seed = seed.and_then(|s| s.parse().ok()).unwrap_or(0);
            let headline = format!("determinism broken on a generated world (shrunk): {why}");
            panic!("{}", failure_report(&world, seed, &headline))
        }
        Err(TestError::Abort(why)) => panic!("determinism property aborted: {why}"),
    }
}
