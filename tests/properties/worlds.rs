//! Random worlds under the reference policy: every invariant holds, and every generated
//! world (with or without generators and swarm faults) is a scenario file that reads
//! back as itself, so a failure's replay file loads.

use crate::strategies;
use gatesim_sim::cli::replay_line;
use gatesim_sim::runner::{judge, Judge};
use gatesim_sim::scenario;
use gatesim_sim::world::World;
use proptest::prop_oneof;
use proptest::test_runner::{TestCaseError, TestError, TestRunner};
use std::fmt::Write as _;
use std::path::PathBuf;

/// Worlds per `cargo test` run (`PROPTEST_CASES` overrides).
const CASES: u32 = 1024;
/// Round-trip cases per run (cheap: no simulation).
const ROUND_TRIP_CASES: u32 = 512;

#[test]
fn every_invariant_holds_on_random_worlds() {
    let config = crate::config(CASES, 0x7761_726c_6473_0001, regressions_file!("worlds"));
    let mut runner = TestRunner::new(config);
    let result = runner.run(&strategies::world(), |world| match violations(&world) {
        None => Ok(()),
        Some(found) => Err(TestCaseError::fail(found)),
    });
    match result {
        Ok(()) => {}
        Err(TestError::Fail(_, world)) => {
            let found = violations(&world).unwrap_or_else(|| "  (passes when run again)".into());
            let headline = format!(
                "invariants broken on a generated world (shrunk), seed {}:\n{found}",
                world.seed
            );
            panic!("{}", failure_report(&world, world.seed, &headline))
        }
        Err(TestError::Abort(why)) => panic!("world property aborted: {why}"),
    }
}

#[test]
fn generated_worlds_are_scenario_files() {
    let config = crate::config(
        ROUND_TRIP_CASES,
        0x7761_726c_6473_0002,
        regressions_file!("scenario-files"),
    );
    let mut runner = TestRunner::new(config);
    let worlds = prop_oneof![strategies::world(), strategies::traffic_world()];
    let result = runner.run(&worlds, |world| {
        let text = scenario::to_json(&world);
        match scenario::parse(&text) {
            Ok(back) if back == world => Ok(()),
            Ok(_) => Err(TestCaseError::fail("reads back as a different world")),
            Err(errors) => {
                let list: Vec<String> = errors.iter().map(ToString::to_string).collect();
                Err(TestCaseError::fail(list.join("; ")))
            }
        }
    });
    match result {
        Ok(()) => {}
        Err(TestError::Fail(why, world)) => panic!(
            "a generated world does not read back from its scenario file: {why}\n{}",
            scenario::to_json(&world)
        ),
        Err(TestError::Abort(why)) => panic!("scenario-file property aborted: {why}"),
    }
}

/// The broken invariants of a world run with its own seed, one per line; `None` when
/// every invariant held.
pub(crate) fn violations(world: &World) -> Option<String> {
    match judge(world, world.seed, Judge { determinism: true }) {
        Err(e) => Some(format!("the run did not complete: {e}")),
        Ok(v) if v.violations.is_empty() => None,
        Ok(v) => {
            let mut out = String::new();
            for x in &v.violations {
                let _ = writeln!(out, "  invariant {x}");
            }
            Some(out)
        }
    }
}

/// The failure message for a (shrunk) world: what broke (`found`, one line per
/// problem), the world as a scenario file (also written under the temp dir) and the
/// command that replays it with `seed`.
pub(crate) fn failure_report(world: &World, seed: u64, found: &str) -> String {
    let text = scenario::to_json(world);
    let path = std::env::temp_dir().join(format!(
        "gatesim-property-{:016x}.json",
        gatesim_core::fnv1a(text.as_bytes())
    ));
    let written = match std::fs::write(&path, &text) {
        Ok(()) => format!("written to {}", path.display()),
        Err(e) => format!("could not be written to {}: {e}", path.display()),
    };
    let loads = match scenario::parse(&text) {
        Ok(_) => String::new(),
        Err(errors) => format!(
            "warning: the scenario file does not load back: {}\n",
            errors
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join("; ")
        ),
    };
    let replay = replay_line(&PathBuf::from(&path), seed, &[]);
    format!("{found}\nscenario file ({written}):\n{text}{loads}replay: {replay}\n")
}
