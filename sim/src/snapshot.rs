//! Decision-trace snapshots of scenario files: one insta-compatible `.snap` file per
//! scenario, in `snapshots/<id>.snap` beside it, compared with a fresh run, written
//! pending (`<id>.snap.new`, which `cargo insta review` also reads) or accepted.
//!
//! `gatesim snapshot` and the `scenarios/user/` test both go through [`compare`], then
//! [`write_pending`] or [`accept`], so the command and `cargo test` agree.

pub mod diff;

use crate::check::Violation;
use crate::cli::{load_world, replay_line_with_policy, scenario_files};
use crate::runner::{judge, Judge, Verdict};
use gatesim_core::Regression;
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

/// How the scenarios are run: as `gatesim run` would, with these overrides.
#[derive(Clone, Debug, Default)]
pub struct Options {
    /// A seed for every scenario instead of each file's own `seed`.
    pub seed: Option<u64>,
    /// A policy file replacing each scenario's `policy` section.
    pub policy: Option<PathBuf>,
    /// Production bugs put back.
    pub regressions: Vec<Regression>,
}

/// How a fresh run compares with the accepted snapshot.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Status {
    /// The snapshot holds exactly this run.
    Matches,
    /// There is no snapshot yet.
    New,
    /// The snapshot holds another run.
    Changed,
}

/// One scenario run and compared with its snapshot.
#[derive(Debug)]
pub struct Snapshot {
    /// The scenario id (the snapshot's file name).
    pub id: String,
    /// The scenario file.
    pub scenario: PathBuf,
    /// The seed it ran with.
    pub seed: u64,
    /// Whether every invariant held and every expectation was met.
    pub passed: bool,
    /// When it did not pass: each violation and failed expectation (the first few),
    /// then the command that replays the run.
    pub failures: Vec<String>,
    /// The accepted snapshot file, `snapshots/<id>.snap` beside the scenario.
    pub file: PathBuf,
    /// How the run compares with it.
    pub status: Status,
    /// The accepted content, if there is a snapshot.
    pub old: Option<String>,
    /// The content of this run: a short verdict header and the decision trace.
    pub new: String,
}

/// What became of one scenario file.
#[derive(Debug)]
pub enum Outcome {
    /// It ran and was compared.
    Compared(Box<Snapshot>),
    /// It does not load: every problem, each with its field path.
    Invalid {
        /// The scenario file.
        scenario: PathBuf,
        /// The problems.
        problems: Vec<String>,
    },
    /// The engine could not finish the run.
    Aborted {
        /// The scenario file.
        scenario: PathBuf,
        /// The seed.
        seed: u64,
        /// Why.
        error: String,
    },
}

/// A problem with the snapshot files or the directory, as opposed to one scenario.
#[derive(Debug, thiserror::Error)]
pub enum SnapshotError {
    /// The path names no scenario files.
    #[error("{0}")]
    Path(String),
    /// Two scenarios would write the same snapshot file.
    #[error(
        "{} and {} both have id {id:?}: snapshots are named by id, so ids must differ",
        first.display(),
        second.display()
    )]
    DuplicateId {
        /// The id.
        id: String,
        /// The first file with it.
        first: PathBuf,
        /// The second.
        second: PathBuf,
    },
    /// A snapshot file could not be read, written or removed.
    #[error("cannot {action} {}: {source}", path.display())]
    Io {
        /// `read`, `write` or `remove`.
        action: &'static str,
        /// The file.
        path: PathBuf,
        /// The error.
        source: std::io::Error,
    },
}

/// Violations and failed expectations listed in a snapshot's failures at most.
const FAILURES_MAX: usize = 10;

/// Runs every scenario named by `path` (a file, or the `.json` files of a directory in
/// name order, policy files skipped) and compares each with its snapshot. Writes nothing.
pub fn compare(path: &Path, opts: &Options) -> Result<Vec<Outcome>, SnapshotError> {
    let files = scenario_files(path).map_err(SnapshotError::Path)?;
    let mut outcomes = Vec::with_capacity(files.len());
    let mut ids: BTreeMap<String, PathBuf> = BTreeMap::new();
    for file in files {
        let outcome = compare_one(&file, opts)?;
        if let Outcome::Compared(s) = &outcome {
            if let Some(first) = ids.insert(s.id.clone(), file.clone()) {
                return Err(SnapshotError::DuplicateId {
                    id: s.id.clone(),
                    first,
                    second: file,
                });
            }
        }
        outcomes.push(outcome);
    }
    Ok(outcomes)
}

/// Writes `<id>.snap.new` for every new or changed snapshot and removes the stale
/// `.snap.new` of every one that matches.
pub fn write_pending(outcomes: &[Outcome]) -> Result<(), SnapshotError> {
    for s in compared(outcomes) {
        let pending = pending_path(&s.file);
        match s.status {
            Status::Matches => remove_if_present(&pending)?,
            Status::New | Status::Changed => write(&pending, &file_text(s))?,
        }
    }
    Ok(())
}

/// Writes the `.snap` of every new or changed snapshot whose run passed and removes
/// its `.snap.new`; returns the files written. A run that broke an invariant or an
/// expectation is never accepted: its snapshot would record a bug as the reference.
pub fn accept(outcomes: &[Outcome]) -> Result<Vec<PathBuf>, SnapshotError> {
    let mut written = Vec::new();
    for s in compared(outcomes) {
        if !s.passed {
            continue;
        }
        if s.status != Status::Matches {
            write(&s.file, &file_text(s))?;
            written.push(s.file.clone());
        }
        remove_if_present(&pending_path(&s.file))?;
    }
    Ok(written)
}

/// The snapshot content of a verdict: which run, its verdict, then the decision trace
/// (the rendering the incident replay snapshots use).
pub fn content(v: &Verdict) -> String {
    let w = &v.world;
    let mut out = String::new();
    let _ = writeln!(out, "scenario: {} (seed {})", w.id, v.seed);
    let knobs: Vec<&str> = w.policy.regressions.iter().map(|k| k.name()).collect();
    if !knobs.is_empty() {
        let _ = writeln!(out, "regression knobs ON: {}", knobs.join(", "));
    }
    let invariants = if v.violations.is_empty() {
        "all hold".to_string()
    } else {
        format!("violated: {}", v.failed_invariants().join(", "))
    };
    let _ = writeln!(
        out,
        "verdict: {}, invariants {invariants}, expectations {}/{} met",
        if v.passed() { "PASS" } else { "FAIL" },
        v.expectations_met(),
        w.expect.len()
    );
    out.push_str("-- decision trace\n");
    out.push_str(&v.run.trace.to_text(&v.run.names));
    out
}

/// A snapshot file as insta writes one: a `---` metadata header (`source`,
/// `expression`), `---`, the content without trailing blank space, one newline.
pub fn file_text(s: &Snapshot) -> String {
    let file_name = s
        .scenario
        .file_name()
        .map_or_else(|| s.id.clone(), |n| n.to_string_lossy().into_owned());
    format!(
        "---\nsource: gatesim snapshot\nexpression: {file_name}\n---\n{}\n",
        s.new.trim_end()
    )
}

/// The content of a snapshot file: what follows its metadata header, without
/// trailing blank space (insta compares the same way).
pub fn parse_file(text: &str) -> String {
    let text = text.replace("\r\n", "\n");
    let body = text
        .strip_prefix("---\n")
        .and_then(|rest| rest.split_once("\n---\n").map(|(_, body)| body))
        .unwrap_or(&text);
    body.trim_end().to_string()
}

/// The command that accepts the snapshots of `path` run with `opts`.
pub fn accept_command(path: &Path, opts: &Options) -> String {
    let mut line = format!("cargo gatesim snapshot {} --accept", path.display());
    if let Some(seed) = opts.seed {
        let _ = write!(line, " --seed {seed}");
    }
    if let Some(p) = &opts.policy {
        let _ = write!(line, " --policy {}", p.display());
    }
    for k in &opts.regressions {
        let _ = write!(line, " --regression {}", k.incident());
    }
    line
}

/// The pending file of a snapshot: `<id>.snap.new`.
pub fn pending_path(snap: &Path) -> PathBuf {
    snap.with_extension("snap.new")
}

impl Snapshot {
    /// The decision diff from the accepted snapshot to this run (empty for a new one).
    pub fn diff(&self) -> String {
        match &self.old {
            Some(old) => diff::lines(old, self.new.trim_end(), diff::HUNKS_MAX),
            None => String::new(),
        }
    }
}

fn compare_one(file: &Path, opts: &Options) -> Result<Outcome, SnapshotError> {
    let world = match load_world(file, opts.policy.as_deref(), &opts.regressions) {
        Ok(w) => w,
        Err(errors) => {
            return Ok(Outcome::Invalid {
                scenario: file.to_path_buf(),
                problems: errors.iter().map(ToString::to_string).collect(),
            })
        }
    };
    let seed = opts.seed.unwrap_or(world.seed);
    let v = match judge(&world, seed, Judge::default()) {
        Ok(v) => v,
        Err(e) => {
            return Ok(Outcome::Aborted {
                scenario: file.to_path_buf(),
                seed,
                error: e.to_string(),
            })
        }
    };
    let dir = file.parent().unwrap_or(Path::new(""));
    let snap = dir.join("snapshots").join(format!("{}.snap", world.id));
    let old = match std::fs::read_to_string(&snap) {
        Ok(text) => Some(parse_file(&text)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
        Err(source) => {
            return Err(SnapshotError::Io {
                action: "read",
                path: snap,
                source,
            })
        }
    };
    let new = content(&v);
    let status = match &old {
        None => Status::New,
        Some(old) if *old == new.trim_end() => Status::Matches,
        Some(_) => Status::Changed,
    };
    Ok(Outcome::Compared(Box::new(Snapshot {
        id: world.id.clone(),
        scenario: file.to_path_buf(),
        seed,
        passed: v.passed(),
        failures: failures(file, &v, opts),
        file: snap,
        status,
        old,
        new,
    })))
}

fn failures(file: &Path, v: &Verdict, opts: &Options) -> Vec<String> {
    if v.passed() {
        return Vec::new();
    }
    let mut out: Vec<String> = v
        .violations
        .iter()
        .map(|x: &Violation| format!("invariant {x}"))
        .chain(v.failed_expectations.iter().cloned())
        .take(FAILURES_MAX)
        .collect();
    let total = v.violations.len() + v.failed_expectations.len();
    if total > FAILURES_MAX {
        out.push(format!("... {} more", total - FAILURES_MAX));
    }
    out.push(format!(
        "replay: {}",
        replay_line_with_policy(file, v.seed, opts.policy.as_deref(), &opts.regressions)
    ));
    out
}

fn compared(outcomes: &[Outcome]) -> impl Iterator<Item = &Snapshot> {
    outcomes.iter().filter_map(|o| match o {
        Outcome::Compared(s) => Some(&**s),
        _ => None,
    })
}

fn write(path: &Path, text: &str) -> Result<(), SnapshotError> {
    let io = |source| SnapshotError::Io {
        action: "write",
        path: path.to_path_buf(),
        source,
    };
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(io)?;
    }
    std::fs::write(path, text).map_err(io)
}

fn remove_if_present(path: &Path) -> Result<(), SnapshotError> {
    match std::fs::remove_file(path) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(source) => Err(SnapshotError::Io {
            action: "remove",
            path: path.to_path_buf(),
            source,
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn two_files_with_one_id_would_share_a_snapshot_and_are_refused() {
        let dir = std::env::temp_dir().join(format!("gatesim-dup-id-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("temp dir");
        for name in ["a.json", "b.json"] {
            std::fs::copy(
                "../scenarios/incidents/invalid-key-400.json",
                dir.join(name),
            )
            .expect("the incident library");
        }
        let e = compare(&dir, &Options::default()).expect_err("one id twice");
        let _ = std::fs::remove_dir_all(&dir);
        let e = e.to_string();
        assert!(
            e.contains("a.json and ") && e.contains("b.json both have id \"invalid-key-400\""),
            "{e}"
        );
    }

    #[test]
    fn a_snapshot_file_reads_back_as_its_content() {
        let s = Snapshot {
            id: "x".into(),
            scenario: PathBuf::from("dir/x.json"),
            seed: 1,
            passed: true,
            failures: Vec::new(),
            file: PathBuf::from("dir/snapshots/x.snap"),
            status: Status::New,
            old: None,
            new: "scenario: x (seed 1)\nt+0.000s a\n\n".into(),
        };
        let text = file_text(&s);
        assert_eq!(
            text,
            "---\nsource: gatesim snapshot\nexpression: x.json\n---\nscenario: x (seed 1)\nt+0.000s a\n"
        );
        assert_eq!(parse_file(&text), "scenario: x (seed 1)\nt+0.000s a");
        assert_eq!(parse_file(&text.replace('\n', "\r\n")), parse_file(&text));
        assert_eq!(
            pending_path(&s.file),
            PathBuf::from("dir/snapshots/x.snap.new")
        );
    }
}
