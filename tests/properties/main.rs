//! Property tests of gatesim: random worlds keep every invariant under the reference
//! policy, the gateway agrees with a naive model of the key pool at every dispatch, runs
//! are deterministic, every peer preset runs random worlds to the end deterministically,
//! and the scenario loader answers malformed files without panicking.
//!
//! Every property runs a fixed number of cases from a fixed proptest seed, so plain
//! `cargo test` is deterministic and fast. To go deeper, raise the count (and, for new
//! cases, change the seed):
//!
//! ```sh
//! PROPTEST_CASES=2000 cargo test -p gatesim-tests --test properties
//! PROPTEST_CASES=500 PROPTEST_RNG_SEED=7 cargo test -p gatesim-tests --test properties
//! ```
//!
//! A failing case's seed is appended to `properties/proptest-regressions/<property>.txt`
//! and replayed first on every later run; commit that file with the fix.

/// The absolute path of a property's regressions file.
macro_rules! regressions_file {
    ($name:literal) => {
        concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/properties/proptest-regressions/",
            $name,
            ".txt"
        )
    };
}

mod determinism;
mod keypool;
mod loader_fuzz;
mod naive;
mod ops;
mod plan;
mod presets;
mod strategies;
mod worlds;

use proptest::test_runner::{Config, FailurePersistence, FileFailurePersistence, RngSeed};

/// The proptest configuration of a property: `default_cases` cases (unless
/// `PROPTEST_CASES` says otherwise), from the fixed `rng_seed` (unless
/// `PROPTEST_RNG_SEED` says otherwise), failures persisted in `regressions` (an absolute
/// path under `properties/proptest-regressions/`).
pub fn config(default_cases: u32, rng_seed: u64, regressions: &'static str) -> Config {
    // `Config::default()` has already read the `PROPTEST_*` variables: only fill in
    // what the environment left unset.
    let base = Config::default();
    let cases = if std::env::var_os("PROPTEST_CASES").is_some() {
        base.cases
    } else {
        default_cases
    };
    let rng_seed = match base.rng_seed {
        RngSeed::Random => RngSeed::Fixed(rng_seed),
        from_env @ RngSeed::Fixed(_) => from_env,
    };
    let max_shrink_iters = if std::env::var_os("PROPTEST_MAX_SHRINK_ITERS").is_some() {
        base.max_shrink_iters
    } else {
        // A bound on shrinking too: each step runs a whole simulation.
        4_096
    };
    let persistence: Option<Box<dyn FailurePersistence>> =
        if std::env::var_os("PROPTEST_DISABLE_FAILURE_PERSISTENCE").is_some() {
            None
        } else {
            Some(Box::new(FileFailurePersistence::Direct(regressions)))
        };
    Config {
        cases,
        rng_seed,
        max_shrink_iters,
        failure_persistence: persistence,
        ..base
    }
}
