//! The preset matrix: every incident under every peer's rules (`presets/*.json`), and the
//! invariants each breaks. The scenario's contract and its fake providers judge; the
//! preset replaces only the gateway's policy section (its rules and settings, so a
//! scenario's own `policy.overrides` give way to the peer's), never the contract.

use crate::runner::{judge, Judge};
use crate::scenario::{preset, preset_names};
use crate::world::World;
use std::fmt::Write as _;

/// One incident's row: per preset, the invariants that failed (empty: all held).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Row {
    /// Scenario id.
    pub id: String,
    /// Per preset, in [`preset_names`] order.
    pub failed: Vec<Result<Vec<&'static str>, String>>,
}

/// The matrix.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PresetMatrix {
    /// The presets, in column order.
    pub presets: Vec<&'static str>,
    /// One row per incident, in the order given.
    pub rows: Vec<Row>,
}

/// The world as a peer's gateway would run it: the preset's policy, the scenario's own
/// regression knobs kept (none in the shipped incidents). `reference` runs the scenario
/// as written, its overrides included: the reference gateway configured for it.
///
/// `None` for an unknown preset.
pub fn under(world: &World, name: &str) -> Option<World> {
    let mut w = world.clone();
    if name != "reference" {
        let regressions = w.policy.regressions;
        w.policy = preset(name)?;
        w.policy.regressions = regressions;
    }
    Some(w)
}

/// Runs every world under every preset, at each world's own seed; `step` after each run.
pub fn build(worlds: &[World], step: &dyn Fn()) -> PresetMatrix {
    let presets: Vec<&'static str> = preset_names().collect();
    let rows = worlds
        .iter()
        .map(|world| Row {
            id: world.id.clone(),
            failed: presets
                .iter()
                .map(|name| {
                    let verdict = under(world, name)
                        .ok_or_else(|| format!("no preset {name}"))
                        .and_then(|w| {
                            judge(&w, w.seed, Judge { determinism: false })
                                .map_err(|e| e.to_string())
                        });
                    step();
                    verdict.map(|v| v.failed_invariants())
                })
                .collect(),
        })
        .collect();
    PresetMatrix { presets, rows }
}

impl PresetMatrix {
    /// The table as Markdown: one row per incident, one column per preset, each cell the
    /// invariants broken (`ok` when all hold), then how many incidents each preset holds.
    pub fn render(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(out, "| incident | {} |", self.presets.join(" | "));
        let _ = writeln!(out, "|---|{}", "---|".repeat(self.presets.len()));
        for row in &self.rows {
            let cells: Vec<String> = row
                .failed
                .iter()
                .map(|cell| match cell {
                    Ok(f) if f.is_empty() => "ok".to_owned(),
                    Ok(f) => f.join(", "),
                    Err(e) => format!("error: {e}"),
                })
                .collect();
            let _ = writeln!(out, "| {} | {} |", row.id, cells.join(" | "));
        }
        let held: Vec<String> = (0..self.presets.len())
            .map(|i| {
                let ok = self
                    .rows
                    .iter()
                    .filter(|r| matches!(&r.failed[i], Ok(f) if f.is_empty()))
                    .count();
                format!("{ok}/{}", self.rows.len())
            })
            .collect();
        let _ = writeln!(out, "| **all invariants hold** | {} |", held.join(" | "));
        out
    }

    /// Whether some run could not be made at all.
    pub fn has_errors(&self) -> bool {
        self.rows
            .iter()
            .any(|r| r.failed.iter().any(Result::is_err))
    }
}
