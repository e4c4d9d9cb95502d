//! Printing verdicts: one scenario in detail, or a library as a table.

use super::{load, replay_line_with_policy, TraceFormat};
use crate::check::Invariant;
use crate::runner::{judge, Judge, Verdict};
use crate::trace::TRACE_SCHEMA_VERSION;
use gatesim_core::Regression;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

/// One verdict as text: metrics, invariants, expectations, result and replay line.
pub(super) fn verdict(
    path: &Path,
    v: &Verdict,
    policy: Option<&Path>,
    knobs: &[Regression],
) -> String {
    // Writing to a String cannot fail, hence the `let _ =`.
    let mut out = String::new();
    let w = &v.world;
    out.push('\n');
    let _ = writeln!(out, "== {} (seed {}): {}", w.id, v.seed, w.title);
    if !w.source.is_empty() {
        let _ = writeln!(out, "   source: {}", w.source);
    }
    if !w.policy.regressions.is_empty() {
        let names: Vec<&str> = w.policy.regressions.iter().map(|k| k.name()).collect();
        let _ = writeln!(out, "   regression knobs ON: {}", names.join(", "));
    }
    let _ = writeln!(out, "-- metrics");
    for line in v.summary.to_string().lines() {
        let _ = writeln!(out, "   {line}");
    }
    if v.violations.is_empty() {
        let _ = writeln!(out, "-- invariants: all {} hold", Invariant::ALL.len());
    } else {
        let _ = writeln!(
            out,
            "-- invariants: {} violated ({} violations)",
            v.failed_invariants().len(),
            v.violations.len()
        );
        for x in &v.violations {
            let _ = writeln!(out, "   {x}");
        }
    }
    let n = w.expect.len();
    if v.failed_expectations.is_empty() {
        let _ = writeln!(out, "-- expectations: {n}/{n} met");
    } else {
        let _ = writeln!(out, "-- expectations: {}/{n} met", v.expectations_met());
        for e in &v.failed_expectations {
            let _ = writeln!(out, "   {e}");
        }
    }
    let _ = writeln!(
        out,
        "{} trace {:016x}",
        if v.passed() { "PASS" } else { "FAIL" },
        v.trace_hash
    );
    if !v.passed() {
        let _ = writeln!(
            out,
            "replay: {}",
            replay_line_with_policy(path, v.seed, policy, knobs)
        );
    }
    out
}

/// One verdict as the final JSON record of a `--trace json` run (`docs/trace-schema.md`).
pub(super) fn verdict_json(
    path: &Path,
    v: &Verdict,
    policy: Option<&Path>,
    knobs: &[Regression],
) -> serde_json::Value {
    let w = &v.world;
    serde_json::json!({
        "v": TRACE_SCHEMA_VERSION,
        "kind": "verdict",
        "scenario": w.id,
        "file": path.display().to_string(),
        "seed": v.seed,
        "passed": v.passed(),
        "trace_hash": format!("{:016x}", v.trace_hash),
        "knobs": w.policy.regressions.iter().map(|k| k.name()).collect::<Vec<_>>(),
        "requests": v.summary.requests,
        "successes": v.summary.successes,
        "attempts": v.summary.attempts,
        "invariants": Invariant::ALL.len(),
        "invariants_failed": v.failed_invariants(),
        "violations": v.violations.iter().map(ToString::to_string).collect::<Vec<_>>(),
        "expectations": w.expect.len(),
        "expectations_met": v.expectations_met(),
        "failed_expectations": v.failed_expectations,
        "replay": (!v.passed()).then(|| replay_line_with_policy(path, v.seed, policy, knobs)),
        "error": null,
    })
}

/// The verdict record of a run the engine could not finish.
pub(super) fn error_json(path: &Path, id: &str, seed: u64, error: &str) -> serde_json::Value {
    serde_json::json!({
        "v": TRACE_SCHEMA_VERSION,
        "kind": "verdict",
        "scenario": id,
        "file": path.display().to_string(),
        "seed": seed,
        "passed": false,
        "error": error,
    })
}

/// Prints one run: its trace in `format` and its verdict. With JSON lines the verdict is
/// the final record and its text goes to stderr, so that stdout holds JSON only.
pub(super) fn run_output(
    path: &Path,
    v: &Verdict,
    format: TraceFormat,
    policy: Option<&Path>,
    knobs: &[Regression],
) {
    let names = &v.run.names;
    let human = verdict(path, v, policy, knobs);
    match format {
        TraceFormat::Text => print!("{}{human}", v.run.trace.to_text(names)),
        TraceFormat::Json => {
            print!("{}", v.run.trace.to_json_lines(names));
            println!("{}", verdict_json(path, v, policy, knobs));
            eprint!("{human}");
        }
        TraceFormat::None => print!("{human}"),
    }
}

/// Runs a library of scenarios and prints one line each; returns the exit status.
pub(super) fn library(
    files: &[PathBuf],
    seed: Option<u64>,
    format: TraceFormat,
    policy: Option<&Path>,
    knobs: &[Regression],
) -> u8 {
    // With JSON lines on stdout, the table goes to stderr.
    let json = format == TraceFormat::Json;
    macro_rules! println {
        ($($arg:tt)*) => {
            if json { eprintln!($($arg)*) } else { std::println!($($arg)*) }
        };
    }
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
                if json {
                    std::println!("{}", error_json(f, &world.id, seed, &e.to_string()));
                }
                println!("{:<32} {seed:>6} engine error: {e}", world.id);
                failed += 1;
                replays.push(replay_line_with_policy(f, seed, policy, knobs));
                continue;
            }
        };
        library_trace(f, &v, format, policy, knobs);
        println!("{}", row(&v));
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

/// One scenario's trace in a library run: text under a `-- trace` heading, or JSON
/// records ending with the verdict record.
fn library_trace(
    path: &Path,
    v: &Verdict,
    format: TraceFormat,
    policy: Option<&Path>,
    knobs: &[Regression],
) {
    match format {
        TraceFormat::Text => {
            println!("-- trace {} (seed {})", v.world.id, v.seed);
            print!("{}", v.run.trace.to_text(&v.run.names));
        }
        TraceFormat::Json => {
            print!("{}", v.run.trace.to_json_lines(&v.run.names));
            println!("{}", verdict_json(path, v, policy, knobs));
        }
        TraceFormat::None => {}
    }
}

/// One scenario's line of the library table.
fn row(v: &Verdict) -> String {
    let invariants = if v.violations.is_empty() {
        "ok".to_string()
    } else {
        v.failed_invariants().join(",")
    };
    let n = v.world.expect.len();
    let expect = format!("{}/{n}", v.expectations_met());
    format!(
        "{:<32} {:>6} {:>8} {:>8} {:>8}  {:<34} {:<7} {}",
        v.world.id,
        v.seed,
        v.summary.requests,
        v.summary.successes,
        v.summary.attempts,
        invariants,
        expect,
        if v.passed() { "pass" } else { "FAIL" }
    )
}
