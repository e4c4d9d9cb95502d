//! Random worlds under every peer's preset, and under weighted selection and a weighted
//! shuffle with drawn weights. The peers break invariants by design (docs/presets.md), so this does not ask
//! for them to hold: it asks that every run ends, that the same seed gives the same trace
//! (the `deterministic` invariant, two runs compared), and that the world with the peer's
//! rules is a scenario file that reads back as itself.

use crate::strategies;
use crate::worlds::failure_report;
use gatesim_core::KeySelection;
use gatesim_sim::presets::under;
use gatesim_sim::runner::{judge, Judge};
use gatesim_sim::scenario::{self, preset_names};
use gatesim_sim::world::World;
use proptest::collection::vec;
use proptest::test_runner::{TestCaseError, TestError, TestRunner};

/// Worlds per `cargo test` run (`PROPTEST_CASES` overrides); each runs under seven policies.
const CASES: u32 = 256;

/// The world under each preset, then with `weights` dealt to the credentials in turn:
/// under CLIProxyAPI's rules with `weighted` selection, and under LiteLLM's (a weighted
/// shuffle).
fn variants(world: &World, weights: &[u32]) -> Vec<(String, World)> {
    let mut out: Vec<(String, World)> = preset_names()
        .map(|name| {
            (
                name.to_string(),
                under(world, name).expect("a shipped preset"),
            )
        })
        .collect();
    let dealt = |mut w: World| {
        for (c, weight) in w.catalog.credentials.iter_mut().zip(weights.iter().cycle()) {
            c.weight = *weight;
        }
        w
    };
    let mut weighted = dealt(under(world, "cliproxyapi").expect("a shipped preset"));
    weighted.policy.key_selection = KeySelection::Weighted;
    out.push(("cliproxyapi, weighted".to_string(), weighted));
    let shuffled = dealt(under(world, "litellm").expect("a shipped preset"));
    out.push(("litellm, weighted shuffle".to_string(), shuffled));
    out
}

/// What is wrong with one variant's run, if anything.
fn problem(world: &World) -> Option<String> {
    match judge(world, world.seed, Judge { determinism: true }) {
        Err(e) => return Some(format!("the run did not complete: {e}")),
        Ok(v) => {
            if let Some(x) = v
                .violations
                .iter()
                .find(|x| x.invariant.name() == "deterministic")
            {
                return Some(format!("{x}"));
            }
        }
    }
    match scenario::parse(&scenario::to_json(world)) {
        Ok(back) if back == *world => None,
        Ok(_) => Some("its scenario file reads back as a different world".into()),
        Err(errors) => Some(
            errors
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join("; "),
        ),
    }
}

fn first_problem(world: &World, weights: &[u32]) -> Option<(World, String)> {
    variants(world, weights)
        .into_iter()
        .find_map(|(name, w)| problem(&w).map(|p| (w, format!("under {name}: {p}"))))
}

#[test]
fn every_preset_runs_random_worlds_to_the_end_deterministically() {
    let config = crate::config(CASES, 0x7072_6573_6574_0001, regressions_file!("presets"));
    let mut runner = TestRunner::new(config);
    let cases = (strategies::world(), vec(1u32..=5, 1..6));
    let result = runner.run(&cases, |(world, weights)| {
        match first_problem(&world, &weights) {
            None => Ok(()),
            Some((_, found)) => Err(TestCaseError::fail(found)),
        }
    });
    match result {
        Ok(()) => {}
        Err(TestError::Fail(why, (world, weights))) => {
            let (w, found) = first_problem(&world, &weights)
                .unwrap_or_else(|| (world.clone(), format!("{why} (passes when run again)")));
            panic!(
                "{}",
                failure_report(
                    &w,
                    w.seed,
                    &format!("a preset run went wrong (shrunk): {found}")
                )
            )
        }
        Err(TestError::Abort(why)) => panic!("preset property aborted: {why}"),
    }
}
