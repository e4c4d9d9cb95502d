//! The detection matrix: for every regression knob, which invariants catch it on its
//! incident file and how many swarm seeds a sweep needs to catch it.

use crate::runner::{judge, Judge};
use crate::world::World;
use gatesim_core::{Regression, Regressions};
use std::fmt::Write as _;

/// One knob's row.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Row {
    /// The knob.
    pub knob: Regression,
    /// Invariants that failed on the knob's incident file (empty: not caught there, or no file).
    pub incident: Vec<&'static str>,
    /// Whether the incident file exists.
    pub has_incident: bool,
    /// First swarm seed (counting from 0) whose run failed an invariant, if any within the sweep.
    pub swarm_seed: Option<u64>,
    /// Invariants that failed on that seed.
    pub swarm: Vec<&'static str>,
}

impl Row {
    /// Caught at all?
    pub fn caught(&self) -> bool {
        !self.incident.is_empty() || self.swarm_seed.is_some()
    }
}

/// The matrix and the all-knobs-off baseline.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Matrix {
    /// One row per knob, in catalogue order.
    pub rows: Vec<Row>,
    /// Swarm seeds swept per knob at most.
    pub seeds: u64,
    /// Violations found with every knob off (must be empty): `(what, invariant)`.
    pub baseline: Vec<(String, &'static str)>,
}

/// Builds the matrix. `incident_of(id)` loads the incident world for an incident id
/// (`None` when there is no file); `swarm` is the generic swarm world.
pub fn build(incident_of: &dyn Fn(&str) -> Option<World>, swarm: &World, seeds: u64) -> Matrix {
    build_with_progress(incident_of, swarm, seeds, &|| {})
}

/// The steps [`build_with_progress`] reports: the all-knobs-off baseline, then each knob.
pub fn steps() -> u64 {
    Regression::ALL.len() as u64 + 1
}

/// [`build`], calling `step` after each of its [`steps`].
pub fn build_with_progress(
    incident_of: &dyn Fn(&str) -> Option<World>,
    swarm: &World,
    seeds: u64,
    step: &dyn Fn(),
) -> Matrix {
    let mut baseline = Vec::new();
    for knob in Regression::ALL {
        if let Some(w) = incident_of(knob.incident()) {
            for inv in failed(&w, w.seed, Regressions::NONE) {
                baseline.push((format!("incident {}", knob.incident()), inv));
            }
        }
    }
    for seed in 0..seeds {
        for inv in failed(swarm, seed, Regressions::NONE) {
            baseline.push((format!("swarm seed {seed}"), inv));
        }
    }
    step();
    let rows = Regression::ALL
        .iter()
        .map(|knob| {
            let on = Regressions::only(*knob);
            let incident_world = incident_of(knob.incident());
            let incident = incident_world
                .as_ref()
                .map(|w| failed(w, w.seed, on))
                .unwrap_or_default();
            let mut swarm_seed = None;
            let mut swarm_caught = Vec::new();
            for seed in 0..seeds {
                let f = failed(swarm, seed, on);
                if !f.is_empty() {
                    swarm_seed = Some(seed);
                    swarm_caught = f;
                    break;
                }
            }
            step();
            Row {
                knob: *knob,
                incident,
                has_incident: incident_world.is_some(),
                swarm_seed,
                swarm: swarm_caught,
            }
        })
        .collect();
    Matrix {
        rows,
        seeds,
        baseline,
    }
}

fn failed(world: &World, seed: u64, knobs: Regressions) -> Vec<&'static str> {
    let mut w = world.clone();
    w.policy.regressions = knobs;
    match judge(&w, seed, Judge { determinism: false }) {
        Ok(v) => v.failed_invariants(),
        Err(_) => vec!["engine-error"],
    }
}

impl Matrix {
    /// Whether every knob is caught and the baseline is clean.
    pub fn complete(&self) -> bool {
        self.baseline.is_empty() && self.rows.iter().all(Row::caught)
    }

    /// The table, one knob a line (stable text: it is kept as a snapshot).
    pub fn render(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(
            out,
            "{:<34} {:<30} {:<44} {:<12} swarm: caught by",
            "knob", "incident", "incident: caught by", "swarm seeds"
        );
        for r in &self.rows {
            let incident = if !r.has_incident {
                "(no file)".to_string()
            } else if r.incident.is_empty() {
                "-".to_string()
            } else {
                r.incident.join(", ")
            };
            let seeds = r
                .swarm_seed
                .map_or(format!(">{}", self.seeds), |s| (s + 1).to_string());
            let _ = writeln!(
                out,
                "{:<34} {:<30} {:<44} {:<12} {}",
                r.knob.name(),
                r.knob.incident(),
                incident,
                seeds,
                if r.swarm.is_empty() {
                    "-".to_string()
                } else {
                    r.swarm.join(", ")
                }
            );
        }
        let caught = self.rows.iter().filter(|r| r.caught()).count();
        let _ = writeln!(
            out,
            "{caught}/{} knobs caught by the invariants alone",
            self.rows.len()
        );
        if self.baseline.is_empty() {
            let _ = writeln!(
                out,
                "all knobs off: every invariant holds on every incident and on swarm seeds 0..{}",
                self.seeds
            );
        } else {
            for (what, inv) in &self.baseline {
                let _ = writeln!(out, "BASELINE VIOLATION: {what}: {inv}");
            }
        }
        out
    }
}
