//! The black-box detection matrix: every knob a directory of black-box scenarios catches
//! from outside in process, caught again over real HTTP through a gateway with knobs
//! (gatesim's own, `gatesim serve`); the knobs it cannot catch listed with the reason.

use crate::adapter::Adapter;
use crate::drive::{run_units, supported, Unit};
use gatesim_core::{Regression, Regressions};
use gatesim_sim::history;
use gatesim_sim::world::World;
use std::fmt::Write as _;
use std::path::Path;
use std::sync::Arc;

/// The invariants the history path catches for `world` with `knob` on, in process.
pub fn caught_in_process(world: &World, seed: u64, knob: Regression) -> Vec<&'static str> {
    let mut w = world.clone();
    w.policy.regressions = Regressions::only(knob);
    history::broken_outside(&w, seed, "reference").unwrap_or_default()
}

/// Why no black-box file catches `knob`: read off its incident file.
fn reason(knob: Regression) -> String {
    let path = Path::new("scenarios/incidents").join(format!("{}.json", knob.incident()));
    let Ok(world) = gatesim_sim::scenario::load(&path) else {
        return "no black-box file catches it (and its incident file does not load)".to_string();
    };
    if caught_in_process(&world, world.seed, knob).is_empty() {
        return "not visible from outside: a bug in the gateway's own reports".to_string();
    }
    match supported(&world) {
        Err(e) => format!("caught from outside on its incident, which needs what black-box mode does not drive yet ({e})"),
        Ok(()) => "caught from outside on its incident, but no black-box file catches it".to_string(),
    }
}

/// A knob, the file that catches it in process, and the invariants that do.
type Pick = (Regression, Unit, Vec<&'static str>);

/// Which file catches each knob in process (its own incident's first); the knobs none does.
fn pick(units: &[Unit]) -> (Vec<Pick>, Vec<Regression>) {
    let mut picks = Vec::new();
    let mut unpicked = Vec::new();
    for &knob in Regression::ALL {
        let own = format!("bb-{}", knob.incident());
        let mut order: Vec<&Unit> = units.iter().filter(|u| u.world.id == own).collect();
        order.extend(units.iter().filter(|u| u.world.id != own));
        let pick = order.into_iter().find_map(|u| {
            let caught = caught_in_process(&u.world, u.seed, knob);
            (!caught.is_empty()).then(|| (u.clone(), caught))
        });
        match pick {
            Some((u, caught)) => picks.push((knob, u, caught)),
            None => unpicked.push(knob),
        }
    }
    (picks, unpicked)
}

/// Reports the clean runs that did not pass; how many.
fn clean_failures(
    units: &[Unit],
    clean: &[Result<crate::drive::Outcome, String>],
    out: &mut String,
) -> usize {
    let mut failures = 0;
    for (u, r) in units.iter().zip(clean) {
        match r {
            Ok(o) if o.violations == 0 => {}
            Ok(o) => {
                failures += 1;
                let _ = writeln!(out, "clean run FAILED: {}", o.row);
            }
            Err(e) => {
                failures += 1;
                let _ = writeln!(out, "clean run could not run: {}: {e}", u.file.display());
            }
        }
    }
    failures
}

/// Runs the matrix and prints it; the exit status.
pub async fn matrix(units: &[Unit], adapter: &Arc<Adapter>, jobs: u16, invalid: usize) -> u8 {
    let (picks, unpicked) = pick(units);
    let mut runs: Vec<Unit> = units.to_vec();
    for (knob, u, _) in &picks {
        runs.push(Unit {
            knobs: vec![knob.name().to_string()],
            ..u.clone()
        });
    }
    let what = (units.len(), picks.len(), &adapter.name);
    eprintln!(
        "black-box matrix: {} clean runs and {} knob runs through {}, {jobs} at once",
        what.0, what.1, what.2
    );
    let results = run_units(&runs, adapter, usize::from(jobs)).await;
    let (clean, knobbed) = results.split_at(units.len());
    let mut out = String::new();
    let mut ok = invalid == 0;
    let clean_failures = clean_failures(units, clean, &mut out);
    ok &= clean_failures == 0;
    let _ = writeln!(
        out,
        "{:<34} {:<34} {:<44} over HTTP",
        "knob", "file", "in process (history)"
    );
    let mut caught_http = 0;
    for ((knob, u, in_process), r) in picks.iter().zip(knobbed) {
        let http = match r {
            Ok(o) if !o.failed.is_empty() => {
                caught_http += 1;
                o.failed.join(", ")
            }
            Ok(_) => {
                ok = false;
                "NOT CAUGHT".to_string()
            }
            Err(e) => {
                ok = false;
                format!("could not run: {e}")
            }
        };
        let _ = writeln!(
            out,
            "{:<34} {:<34} {:<44} {http}",
            knob.name(),
            u.world.id,
            in_process.join(", ")
        );
    }
    let _ = writeln!(
        out,
        "\n{caught_http}/{} knobs caught over HTTP (every knob the files catch in process); {} clean runs, {clean_failures} failed",
        picks.len(),
        units.len()
    );
    for knob in unpicked {
        let _ = writeln!(
            out,
            "not in the matrix: {:<34} {}",
            knob.name(),
            reason(knob)
        );
    }
    print!("{out}");
    if invalid > 0 {
        2
    } else {
        u8::from(!ok)
    }
}
