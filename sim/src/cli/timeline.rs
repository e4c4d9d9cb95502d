//! `gatesim timeline`: one run judged and drawn as an HTML page.

use super::{load, replay_line_with_policy};
use crate::runner::{judge, Judge};
use crate::timeline::{self, Options};
use gatesim_core::Regression;
use std::path::Path;

/// Judges one run, writes its page to `out` and prints one line saying so. Exit status as
/// for `run`: 0 everything held, 1 an invariant or expectation failed (the page is
/// written either way), 2 the input is wrong or the page cannot be written.
pub(super) fn timeline(
    path: &Path,
    seed: Option<u64>,
    policy: Option<&Path>,
    knobs: &[Regression],
    out: &Path,
) -> u8 {
    let Some(world) = load(path, policy, knobs) else {
        return 2;
    };
    let seed = seed.unwrap_or(world.seed);
    let v = match judge(&world, seed, Judge::default()) {
        Ok(v) => v,
        Err(e) => {
            eprintln!("gatesim: {}: seed {seed}: {e}", path.display());
            return 1;
        }
    };
    let options = Options {
        replay: replay_line_with_policy(path, seed, policy, knobs),
        ..Options::default()
    };
    let page = timeline::render(&v, &options);
    if let Err(e) = std::fs::write(out, &page) {
        eprintln!("gatesim: cannot write {}: {e}", out.display());
        return 2;
    }
    println!(
        "wrote {} ({} bytes): {} seed {seed} {}",
        out.display(),
        page.len(),
        v.world.id,
        if v.passed() { "PASS" } else { "FAIL" }
    );
    u8::from(!v.passed())
}
