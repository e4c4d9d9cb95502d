//! Shared helpers of the `gatesim-tests` targets: where the scenario files are, loading
//! them, and failure messages that name the invariant and the command that replays it.

pub mod loader_fuzz;

use gatesim_sim::cli::replay_line;
use gatesim_sim::runner::Verdict;
use gatesim_sim::world::World;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

/// The workspace root (where `scenarios/` lives).
pub fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("tests/ sits in the workspace root")
        .to_path_buf()
}

/// The path of an incident file, relative to the workspace root.
pub fn incident_path(id: &str) -> PathBuf {
    PathBuf::from("scenarios/incidents").join(format!("{id}.json"))
}

/// Loads a scenario file (path relative to the workspace root), panicking with every
/// problem found.
pub fn load(relative: &Path) -> World {
    match gatesim_sim::scenario::load(&root().join(relative)) {
        Ok(w) => w,
        Err(errors) => {
            let list: Vec<String> = errors.iter().map(ToString::to_string).collect();
            panic!(
                "{} does not load:\n  {}",
                relative.display(),
                list.join("\n  ")
            )
        }
    }
}

/// The incident ids that have a file, in name order.
pub fn incident_ids() -> Vec<String> {
    let mut ids: Vec<String> = std::fs::read_dir(root().join("scenarios/incidents"))
        .expect("scenarios/incidents exists")
        .filter_map(|e| e.ok())
        .filter_map(|e| {
            e.path()
                .file_stem()
                .map(|s| s.to_string_lossy().into_owned())
        })
        .collect();
    ids.sort();
    ids
}

/// A failure report: every violation and failed expectation, and the replay command.
pub fn failure_report(relative: &Path, v: &Verdict) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "{} (seed {}) failed:", relative.display(), v.seed);
    for x in &v.violations {
        let _ = writeln!(out, "  invariant {x}");
    }
    for e in &v.failed_expectations {
        let _ = writeln!(out, "  {e}");
    }
    let knobs: Vec<_> = v.world.policy.regressions.iter().collect();
    let _ = writeln!(out, "replay: {}", replay_line(relative, v.seed, &knobs));
    out
}
