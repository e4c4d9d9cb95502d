//! Printing verdicts: one scenario in detail, or a library as a table.

use super::{load, replay_line_with_policy};
use crate::check::Invariant;
use crate::runner::{judge, Judge, Verdict};
use gatesim_core::Regression;
use std::path::{Path, PathBuf};

/// Prints one verdict: metrics, invariants, expectations, result and replay line.
pub(super) fn verdict(path: &Path, v: &Verdict, policy: Option<&Path>, knobs: &[Regression]) {
    let w = &v.world;
    println!();
    println!("== {} (seed {}): {}", w.id, v.seed, w.title);
    if !w.source.is_empty() {
        println!("   source: {}", w.source);
    }
    if !w.policy.regressions.is_empty() {
        let names: Vec<&str> = w.policy.regressions.iter().map(|k| k.name()).collect();
        println!("   regression knobs ON: {}", names.join(", "));
    }
    println!("-- metrics");
    for line in v.summary.to_string().lines() {
        println!("   {line}");
    }
    if v.violations.is_empty() {
        println!("-- invariants: all {} hold", Invariant::ALL.len());
    } else {
        println!(
            "-- invariants: {} violated ({} violations)",
            v.failed_invariants().len(),
            v.violations.len()
        );
        for x in &v.violations {
            println!("   {x}");
        }
    }
    let n = w.expect.len();
    if v.failed_expectations.is_empty() {
        println!("-- expectations: {n}/{n} met");
    } else {
        println!("-- expectations: {}/{n} met", v.expectations_met());
        for e in &v.failed_expectations {
            println!("   {e}");
        }
    }
    println!(
        "{} trace {:016x}",
        if v.passed() { "PASS" } else { "FAIL" },
        v.trace_hash
    );
    if !v.passed() {
        println!(
            "replay: {}",
            replay_line_with_policy(path, v.seed, policy, knobs)
        );
    }
}

/// Runs a library of scenarios and prints one line each; returns the exit status.
pub(super) fn library(
    files: &[PathBuf],
    seed: Option<u64>,
    policy: Option<&Path>,
    knobs: &[Regression],
) -> u8 {
    println!(
        "{:<32} {:>6} {:>8} {:>8} {:>8}  {:<34} {:<7} result",
        "scenario", "seed", "requests", "success", "attempts", "invariants", "expect"
    );
    let (mut passed, mut failed, mut invalid) = (0, 0, 0);
    let mut replays = Vec::new();
    for f in files {
        let Some(world) = load(f, policy, knobs) else {
            invalid += 1;
            continue;
        };
        let seed = seed.unwrap_or(world.seed);
        let v = match judge(&world, seed, Judge::default()) {
            Ok(v) => v,
            Err(e) => {
                println!("{:<32} {seed:>6} engine error: {e}", world.id);
                failed += 1;
                replays.push(replay_line_with_policy(f, seed, policy, knobs));
                continue;
            }
        };
        let invariants = if v.violations.is_empty() {
            "ok".to_string()
        } else {
            v.failed_invariants().join(",")
        };
        let n = world.expect.len();
        let expect = format!("{}/{n}", v.expectations_met());
        println!(
            "{:<32} {seed:>6} {:>8} {:>8} {:>8}  {:<34} {:<7} {}",
            world.id,
            v.summary.requests,
            v.summary.successes,
            v.summary.attempts,
            invariants,
            expect,
            if v.passed() { "pass" } else { "FAIL" }
        );
        if v.passed() {
            passed += 1;
        } else {
            failed += 1;
            for e in &v.failed_expectations {
                println!("    {e}");
            }
            for x in v.violations.iter().take(3) {
                println!("    {x}");
            }
            replays.push(replay_line_with_policy(f, seed, policy, knobs));
        }
    }
    println!();
    println!(
        "{} scenarios: {passed} passed, {failed} failed, {invalid} invalid",
        files.len()
    );
    for r in &replays {
        println!("replay: {r}");
    }
    if invalid > 0 {
        2
    } else {
        u8::from(failed > 0)
    }
}
