//! Fidelity of a preset: the engine under a peer's preset against the real gateway over
//! HTTP, on the same scenarios, judged the same way (from outside, through a history), per
//! invariant. A gateway that routes at random gives samples (`--repeat`): an invariant it
//! breaks in some runs only is reported as varying, neither agreeing nor not.

use crate::adapter::Adapter;
use crate::drive::{run_units, Outcome, Unit};
use gatesim_sim::history;
use gatesim_sim::presets;
use gatesim_sim::world::World;
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::Path;
use std::sync::Arc;

/// The invariants the engine under `preset` breaks on `world`, judged from outside.
pub fn in_engine(world: &World, seed: u64, preset: &str) -> Result<Vec<&'static str>, String> {
    let w = presets::under(world, preset).ok_or_else(|| format!("no preset {preset}"))?;
    history::broken_outside(&w, seed, preset)
}

/// How the two sides compare on one (scenario, invariant).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Agreement {
    /// Both break it (the gateway in every run), or neither does.
    Agree,
    /// The gateway breaks it in some runs only.
    Varies,
    /// One side breaks it and the other never does.
    Disagree,
}

/// Compares: the engine breaks it or not; the gateway in `broke` of `runs` runs.
pub fn agreement(engine: bool, broke: usize, runs: usize) -> Agreement {
    match (engine, broke) {
        (_, b) if b > 0 && b < runs => Agreement::Varies,
        (true, b) if b == runs => Agreement::Agree,
        (false, 0) => Agreement::Agree,
        _ => Agreement::Disagree,
    }
}

/// One row: a scenario, an invariant either side broke, and how they compare.
struct Row {
    id: String,
    invariant: &'static str,
    engine: bool,
    broke: usize,
    runs: usize,
}

/// Runs `units` (each repeated `repeat` times) through `adapter` and the engine under
/// `preset`; prints the table and a summary. Exit 1 if any (scenario, invariant) disagrees.
pub async fn fidelity(
    units: &[Unit],
    adapter: &Arc<Adapter>,
    (jobs, repeat): (u16, u32),
    preset: &str,
    history: Option<&Path>,
) -> u8 {
    let runs: Vec<Unit> = units
        .iter()
        .flat_map(|u| {
            (1..=repeat).map(move |r| Unit {
                rep: Some(r),
                ..u.clone()
            })
        })
        .collect();
    eprintln!(
        "fidelity: {} scenarios x {repeat} runs through {}, against the engine under the {preset} preset",
        units.len(),
        adapter.name
    );
    let results = run_units(&runs, adapter, usize::from(jobs)).await;
    let mut problems = Vec::new();
    if let Some(dir) = history {
        keep_histories(dir, &runs, &results, &mut problems);
    }
    let mut rows = Vec::new();
    for (i, u) in units.iter().enumerate() {
        let mine = &results[i * repeat as usize..(i + 1) * repeat as usize];
        match in_engine(&u.world, u.seed, preset) {
            Ok(engine) => compare(&u.world.id, &engine, mine, &mut rows, &mut problems),
            Err(e) => problems.push(format!("{}: the engine run failed: {e}", u.world.id)),
        }
    }
    print!("{}", render(&rows, preset, &adapter.name));
    for p in &problems {
        println!("problem: {p}");
    }
    let disagree = rows
        .iter()
        .any(|r| agreement(r.engine, r.broke, r.runs) == Agreement::Disagree);
    if !problems.is_empty() {
        2
    } else {
        u8::from(disagree)
    }
}

/// The rows of one scenario: every invariant the engine broke (`engine`) or some of the
/// gateway's runs (`runs`) did, with how many runs broke it.
fn compare(
    id: &str,
    engine: &[&'static str],
    runs: &[Result<Outcome, String>],
    rows: &mut Vec<Row>,
    problems: &mut Vec<String>,
) {
    let mut broke: BTreeMap<&'static str, usize> = BTreeMap::new();
    let mut ran = 0;
    for r in runs {
        match r {
            Ok(o) => {
                ran += 1;
                for f in &o.failed {
                    *broke.entry(f).or_default() += 1;
                }
            }
            Err(e) => problems.push(format!("{id}: {e}")),
        }
    }
    if ran == 0 {
        return;
    }
    for name in engine {
        broke.entry(name).or_default();
    }
    for (invariant, n) in broke {
        rows.push(Row {
            id: id.to_owned(),
            invariant,
            engine: engine.contains(&invariant),
            broke: n,
            runs: ran,
        });
    }
}

/// Writes each run's history as `<dir>/<id>.<N>.jsonl`, for `check-history`.
fn keep_histories(
    dir: &Path,
    runs: &[Unit],
    results: &[Result<Outcome, String>],
    problems: &mut Vec<String>,
) {
    if let Err(e) = std::fs::create_dir_all(dir) {
        problems.push(format!("cannot create {}: {e}", dir.display()));
        return;
    }
    for (u, r) in runs.iter().zip(results) {
        if let Ok(o) = r {
            let path = dir.join(format!("{}.{}.jsonl", u.world.id, u.rep.unwrap_or(1)));
            if let Err(e) = std::fs::write(&path, &o.history) {
                problems.push(format!("cannot write {}: {e}", path.display()));
            }
        }
    }
}

fn render(rows: &[Row], preset: &str, gateway: &str) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "| scenario | invariant | engine ({preset} preset) | {gateway} (runs that broke it) | |"
    );
    let _ = writeln!(out, "|---|---|---|---|---|");
    let mut counts = [0usize; 3];
    for r in rows {
        let a = agreement(r.engine, r.broke, r.runs);
        counts[a as usize] += 1;
        let mark = match a {
            Agreement::Agree => "agree",
            Agreement::Varies => "varies",
            Agreement::Disagree => "**disagree**",
        };
        let engine = if r.engine { "breaks" } else { "holds" };
        let _ = writeln!(
            out,
            "| {} | {} | {engine} | {}/{} | {mark} |",
            r.id, r.invariant, r.broke, r.runs
        );
    }
    let _ = writeln!(
        out,
        "\n{} (scenario, invariant) pairs broken by either side: {} agree, {} vary between runs, {} disagree",
        rows.len(),
        counts[0],
        counts[1],
        counts[2]
    );
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn agreement_needs_every_run_or_none() {
        assert_eq!(agreement(true, 3, 3), Agreement::Agree);
        assert_eq!(agreement(false, 0, 3), Agreement::Agree);
        assert_eq!(agreement(true, 1, 3), Agreement::Varies);
        assert_eq!(agreement(false, 2, 3), Agreement::Varies);
        assert_eq!(agreement(true, 0, 3), Agreement::Disagree);
        assert_eq!(agreement(false, 1, 1), Agreement::Disagree);
    }
}
