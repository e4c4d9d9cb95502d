//! Worlds under load through the shell: the standard swarm and the swarm library with
//! their seeded fault mixes, and the incident library, every invariant holding.

use crate::support::{bookkeeping, report, run_clean, seed, seeds};
use gatesim_core::Instant;
use gatesim_shell::{judge, ShellOptions, ShellRun};
use gatesim_sim::build::standard_swarm;
use gatesim_sim::metrics::Summary;
use gatesim_sim::runner::expectations;
use gatesim_sim::runner::Judge;
use gatesim_sim::world::{Arrivals, Generator, RequestSpec, World};
use gatesim_sim::{scenario, swarm};
use std::path::{Path, PathBuf};

#[test]
fn standard_swarm_holds_invariants_under_load() {
    let world = standard_swarm(40, 60);
    for seed in seeds(&[1, 2, 3]) {
        let options = ShellOptions::new(seed);
        let resolved = swarm::resolve(&world, options.seed);
        let shell = run_clean(&resolved, &options);
        assert!(
            shell.run.responses.len() > 1500,
            "{}",
            report(&resolved, &options, "the swarm answered its traffic")
        );
    }
}

/// The swarm library judged the way the engine's runner judges it (`gatesim_shell::judge`).
#[test]
fn swarm_library_through_the_shell() {
    for path in scenario_files("swarm") {
        let world = load(&path);
        for seed in seeds(&[world.seed, world.seed + 1]) {
            let options = ShellOptions::new(seed);
            let judged = judge(&world, &options, Judge { determinism: false })
                .unwrap_or_else(|e| panic!("{}", report(&world, &options, &e.to_string())));
            let v = judged.verdict;
            let mut problems: Vec<String> = v.violations.iter().map(ToString::to_string).collect();
            problems.extend(v.failed_expectations.iter().cloned());
            let (resolved, run) = (v.world, v.run);
            problems.extend(bookkeeping(&ShellRun {
                run,
                stats: judged.stats,
            }));
            assert!(
                problems.is_empty(),
                "{}",
                report(&resolved, &options, &problems.join("\n  "))
            );
        }
    }
}

/// Every incident scenario through the shell with its own seed: the invariants hold and
/// so do the scenario's own expectations (request ids follow arrival order, as in the
/// engine, so `expect` entries name the same requests).
#[test]
fn incident_library_through_the_shell() {
    let files = scenario_files("incidents");
    assert!(
        files.len() >= 30,
        "the incident library is in scenarios/incidents"
    );
    for path in files {
        let world = load(&path);
        let options = ShellOptions::new(seed(world.seed));
        let resolved = swarm::resolve(&world, options.seed);
        let shell = run_clean(&resolved, &options);
        let summary = Summary::of(&resolved, &shell.run);
        let failed = expectations(&resolved, &shell.run, &summary);
        // Fault windows shorter than the network's latency (2 to 25 ms an attempt) decide
        // ms-level races differently than the engine: only the invariants bind there.
        if !timed_finer_than_the_network(&resolved) {
            assert!(
                failed.is_empty(),
                "{}",
                report(&resolved, &options, &failed.join("\n  "))
            );
        }
    }
}

/// Each incident's own traffic multiplied into a steady stream (120 requests a second
/// for up to 15 s, drawn from its requests), so hundreds are open at once against its
/// faults: every invariant holds (its expectations were written for its own traffic).
#[test]
fn incident_library_under_concurrent_load() {
    let mut open_max = 0;
    for path in scenario_files("incidents") {
        let world = load(&path);
        let Some(loaded) = with_background(&world, 120, 15) else {
            continue;
        };
        let options = ShellOptions::new(seed(world.seed));
        let shell = run_clean(&swarm::resolve(&loaded, options.seed), &options);
        open_max = open_max.max(shell.stats.requests_in_flight_max);
    }
    assert!(
        open_max >= 100,
        "hundreds of concurrent requests (saw {open_max})"
    );
}

/// The world plus Poisson traffic of `rate_per_s` over its first `secs_max` seconds,
/// mixing its explicit requests (project, model, stream, kind, BYOK kept).
fn with_background(world: &World, rate_per_s: u64, secs_max: u64) -> Option<World> {
    let first = world.workload.requests.first()?;
    let mix: Vec<(u32, RequestSpec)> = world
        .workload
        .requests
        .iter()
        .map(|r| (1, r.clone()))
        .collect();
    let until = world.duration.as_ms().min(secs_max * 1000);
    let mut out = world.clone();
    out.id = format!("{}+load", world.id);
    out.workload.generators.push(Generator {
        from: Instant::ZERO,
        until: Instant(until),
        rate_milli_per_s: rate_per_s * 1000,
        arrivals: Arrivals::Poisson,
        project: first.project,
        mix,
        custom_model_bp: 0,
    });
    Some(out)
}

fn timed_finer_than_the_network(world: &World) -> bool {
    world.faults.faults.iter().any(|f| {
        f.until
            .is_some_and(|u| u.saturating_since(f.at).as_ms() < 50)
    })
}

fn scenario_files(dir: &str) -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../scenarios")
        .join(dir);
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|entry| entry.expect("a readable directory entry").path())
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .collect();
    files.sort();
    files
}

fn load(path: &Path) -> World {
    scenario::load(path).unwrap_or_else(|errors| {
        let errors: Vec<String> = errors.iter().map(ToString::to_string).collect();
        panic!("{}: {}", path.display(), errors.join("; "))
    })
}
