//! `gatesim snapshot`: compare each scenario's decision trace with its snapshot, print
//! the decision diffs, and write pending or accepted snapshot files.

use super::KnobParser;
use crate::snapshot::{self, Options, Outcome, Snapshot, Status};
use gatesim_core::Regression;
use std::path::{Path, PathBuf};

/// The arguments of `gatesim snapshot`.
#[derive(Debug, clap::Args)]
pub(super) struct Args {
    /// A scenario file, or a directory of them (each runs with its own seed).
    path: PathBuf,
    /// Write the snapshots (of the runs that pass) instead of comparing.
    #[arg(long)]
    accept: bool,
    /// Seed for every scenario (default: each scenario's own `seed`).
    #[arg(long)]
    seed: Option<u64>,
    /// A policy file replacing each scenario's `policy` section (same shape).
    #[arg(long)]
    policy: Option<PathBuf>,
    /// Put a production bug back (knob name or incident id); repeatable.
    #[arg(long = "regression", value_parser = KnobParser)]
    regressions: Vec<Regression>,
}

/// Runs the command; returns the exit status: 2 when a scenario does not load or a
/// snapshot file cannot be written, else 1 when a run failed or (without `--accept`)
/// a snapshot is new, changed or orphaned (no scenario has its id), else 0.
pub(super) fn snapshot(args: Args) -> u8 {
    let Args {
        path,
        accept,
        seed,
        policy,
        regressions,
    } = args;
    let opts = Options {
        seed,
        policy,
        regressions,
    };
    let (path, opts) = (path.as_path(), &opts);
    let outcomes = match snapshot::compare(path, opts) {
        Ok(o) => o,
        Err(e) => {
            eprintln!("gatesim: {e}");
            return 2;
        }
    };
    let written = if accept {
        snapshot::accept(&outcomes).map(Some)
    } else {
        snapshot::write_pending(&outcomes).map(|()| None)
    };
    let written = match written {
        Ok(w) => w,
        Err(e) => {
            eprintln!("gatesim: {e}");
            return 2;
        }
    };
    let mut counts = Counts::default();
    match orphans(path, &outcomes, accept) {
        Ok(n) => counts.orphans = n,
        Err(e) => {
            eprintln!("gatesim: {e}");
            return 2;
        }
    }
    for o in &outcomes {
        match o {
            Outcome::Compared(s) => print_one(s, accept, &mut counts),
            Outcome::Invalid { scenario, problems } => {
                counts.invalid += 1;
                eprintln!(
                    "{}: {} problem{}",
                    scenario.display(),
                    problems.len(),
                    if problems.len() == 1 { "" } else { "s" }
                );
                for p in problems {
                    eprintln!("  {p}");
                }
            }
            Outcome::Aborted {
                scenario,
                seed,
                error,
            } => {
                counts.failed += 1;
                eprintln!("gatesim: {}: seed {seed}: {error}", scenario.display());
            }
        }
    }
    print_summary(path, opts, accept, &counts, written.as_deref());
    counts.exit_status(accept)
}

#[derive(Debug, Default)]
struct Counts {
    matched: usize,
    new: usize,
    changed: usize,
    failed: usize,
    invalid: usize,
    /// Snapshots no scenario of the directory has (reported, or removed with `--accept`).
    orphans: usize,
}

/// Snapshot files in a directory's `snapshots/` that no scenario there names (its
/// scenario was deleted or renamed): each reported, or removed with `--accept`, as
/// `cargo insta test --unreferenced` would. Only for a directory whose every scenario
/// loaded and ran (the id of one that did not is not known for sure); the count.
fn orphans(path: &Path, outcomes: &[Outcome], accept: bool) -> Result<usize, String> {
    let ids: Option<Vec<&str>> = outcomes
        .iter()
        .map(|o| match o {
            Outcome::Compared(s) => Some(s.id.as_str()),
            Outcome::Aborted { .. } | Outcome::Invalid { .. } => None,
        })
        .collect();
    let Some(ids) = ids.filter(|_| path.is_dir()) else {
        return Ok(0);
    };
    let dir = path.join("snapshots");
    let Ok(entries) = std::fs::read_dir(&dir) else {
        return Ok(0);
    };
    let mut files: Vec<PathBuf> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "snap"))
        .collect();
    files.sort();
    let mut n = 0;
    for f in files {
        let id = f.file_stem().and_then(|s| s.to_str()).unwrap_or_default();
        if ids.contains(&id) {
            continue;
        }
        n += 1;
        if accept {
            std::fs::remove_file(&f).map_err(|e| format!("cannot remove {}: {e}", f.display()))?;
            println!(
                "removed {}: no scenario in {} has id {id:?}",
                f.display(),
                path.display()
            );
        } else {
            println!(
                "orphan  {}: no scenario in {} has id {id:?} (restore it, or --accept removes the snapshot)",
                f.display(),
                path.display()
            );
        }
    }
    Ok(n)
}

impl Counts {
    fn exit_status(&self, accept: bool) -> u8 {
        if self.invalid > 0 {
            2
        } else if self.failed > 0 || (!accept && self.new + self.changed + self.orphans > 0) {
            1
        } else {
            0
        }
    }
}

fn print_one(s: &Snapshot, accept: bool, counts: &mut Counts) {
    let label = format!("{} (seed {})", s.id, s.seed);
    match s.status {
        Status::Matches => {
            counts.matched += 1;
            println!("ok      {label}");
        }
        Status::New => {
            counts.new += 1;
            let lines = s.new.lines().count();
            println!("new     {label}: {lines} lines, no snapshot yet");
        }
        Status::Changed => {
            counts.changed += 1;
            let old = s.old.as_deref().map_or(0, |o| o.lines().count());
            let new = s.new.lines().count();
            println!(
                "changed {label}: the decisions differ from {} ({old} lines -> {new})",
                s.file.display()
            );
            for line in s.diff().lines() {
                println!("    {line}");
            }
        }
    }
    if !s.passed {
        counts.failed += 1;
        println!("FAIL    {label}: {}", s.scenario.display());
        for f in &s.failures {
            println!("    {f}");
        }
        if accept && s.status != Status::Matches {
            println!("    not accepted: a failing run is never the reference");
        }
    }
    if !accept && s.status != Status::Matches {
        println!("    wrote {}", snapshot::pending_path(&s.file).display());
    }
}

fn print_summary(
    path: &Path,
    opts: &Options,
    accept: bool,
    c: &Counts,
    written: Option<&[std::path::PathBuf]>,
) {
    for w in written.unwrap_or_default() {
        println!("accepted {}", w.display());
    }
    let total = c.matched + c.new + c.changed + c.invalid;
    let mut line = format!(
        "{total} scenario{}: {} match, {} changed, {} new",
        if total == 1 { "" } else { "s" },
        c.matched,
        c.changed,
        c.new
    );
    if c.failed > 0 {
        line.push_str(&format!(", {} failing", c.failed));
    }
    if c.invalid > 0 {
        line.push_str(&format!(", {} invalid", c.invalid));
    }
    if c.orphans > 0 {
        let what = if accept { "removed" } else { "orphaned" };
        line.push_str(&format!(
            ", {} snapshot{} {what}",
            c.orphans,
            if c.orphans == 1 { "" } else { "s" }
        ));
    }
    println!("{line}");
    if !accept && c.new + c.changed > 0 {
        println!(
            "review the .snap.new files (or `cargo insta review`), then accept: {}",
            snapshot::accept_command(path, opts)
        );
    }
}
