//! The gatesim-shell tests: worlds through the async gateway shell on madsim, judged by
//! the engine's invariant checker.
//!
//! They need `--cfg madsim`, which `.cargo/config.toml` sets for the workspace. Without
//! it (an environment `RUSTFLAGS` replaces the config's flags) this target compiles to
//! the single test `madsim_cfg_missing`, which fails with the fix instead of letting the
//! shell tests vanish silently. Seeds are fixed per test; `MADSIM_TEST_SEED` overrides
//! them to reproduce a failure, `MADSIM_TEST_CHECK_DETERMINISM` runs every world twice.

#[cfg(not(madsim))]
#[test]
fn madsim_cfg_missing() {
    panic!(
        "the gatesim-shell tests were compiled without `--cfg madsim`, so none of them ran. \
         `.cargo/config.toml` sets it, but an environment RUSTFLAGS (or CARGO_ENCODED_RUSTFLAGS) \
         replaces the config's flags: run `cargo test` without RUSTFLAGS, or keep the cfg in it, \
         e.g. RUSTFLAGS=\"--cfg madsim $RUSTFLAGS\""
    );
}

#[cfg(madsim)]
mod broken;
#[cfg(madsim)]
mod cancellation;
#[cfg(madsim)]
mod determinism;
#[cfg(madsim)]
mod load;
#[cfg(madsim)]
mod outages;
#[cfg(madsim)]
mod support;
#[cfg(madsim)]
mod worlds;
