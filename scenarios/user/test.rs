//! The user folder (`scenarios/user/`, see its README.md): every scenario file there must
//! hold its invariants and expectations, and its decision trace must match its snapshot,
//! `snapshots/<id>.snap`. This is `gatesim snapshot scenarios/user` run by `cargo test`:
//! the same library calls, so the two never disagree. A new or changed trace leaves
//! `<id>.snap.new` beside the snapshot and fails with the decision diff and the command
//! that accepts it.
//!
//! (This file is the `user` test target of gatesim-tests. It sits in the user folder
//! because `cargo insta review` looks for pending `.snap.new` files only under package
//! and test-target directories.)

use gatesim_sim::snapshot::{self, Options, Outcome, Status};
use gatesim_tests::root;
use std::fmt::Write as _;
use std::path::Path;

const USER_DIR: &str = "scenarios/user";

#[test]
fn every_user_scenario_holds_and_matches_its_snapshot() {
    let dir = root().join(USER_DIR);
    let outcomes = snapshot::compare(&dir, &Options::default()).unwrap_or_else(|e| panic!("{e}"));
    snapshot::write_pending(&outcomes).unwrap_or_else(|e| panic!("{e}"));
    let shown = |p: &Path| p.strip_prefix(root()).unwrap_or(p).display().to_string();
    let mut problems = String::new();
    for o in &outcomes {
        match o {
            Outcome::Invalid {
                scenario,
                problems: list,
            } => {
                let _ = writeln!(problems, "{} does not load:", shown(scenario));
                for p in list {
                    let _ = writeln!(problems, "  {p}");
                }
            }
            Outcome::Aborted {
                scenario,
                seed,
                error,
            } => {
                let _ = writeln!(problems, "{} (seed {seed}): {error}", shown(scenario));
            }
            Outcome::Compared(s) => {
                // Validate first, snapshot second: a snapshot is never the only thing
                // between a bug and a green run.
                if !s.passed {
                    let _ = writeln!(problems, "{} (seed {}) failed:", shown(&s.scenario), s.seed);
                    for f in &s.failures {
                        let _ = writeln!(problems, "  {f}");
                    }
                }
                match s.status {
                    Status::Matches => {}
                    Status::New => {
                        let _ = writeln!(problems, "{}: no snapshot yet", s.id);
                    }
                    Status::Changed => {
                        let _ = writeln!(
                            problems,
                            "{}: the decisions differ from {}",
                            s.id,
                            shown(&s.file)
                        );
                        problems.push_str(&s.diff());
                    }
                }
                if s.status != Status::Matches {
                    let pending = snapshot::pending_path(&s.file);
                    let _ = writeln!(problems, "  wrote {}", shown(&pending));
                }
            }
        }
    }
    let accept = snapshot::accept_command(Path::new(USER_DIR), &Options::default());
    assert!(
        problems.is_empty(),
        "{problems}\nif the new decisions are right, accept them: {accept} (or `cargo insta review`)"
    );
}

/// The accepted snapshots are insta's format: insta itself reads them back with the
/// metadata and the content gatesim wrote, so `cargo insta review` and `cargo insta
/// accept` work on the `.snap.new` files.
#[test]
fn insta_reads_the_user_snapshots() {
    let dir = root().join(USER_DIR);
    let outcomes = snapshot::compare(&dir, &Options::default()).unwrap_or_else(|e| panic!("{e}"));
    assert!(
        !outcomes.is_empty(),
        "the example scenario is kept in {USER_DIR}"
    );
    for o in &outcomes {
        let Outcome::Compared(s) = o else {
            panic!("{o:?}");
        };
        if s.status == Status::New {
            continue; // reported by the other test
        }
        let read = insta::Snapshot::from_file(&s.file)
            .unwrap_or_else(|e| panic!("insta cannot read {}: {e}", s.file.display()));
        assert_eq!(read.metadata().source(), Some("gatesim snapshot"));
        let file_name = s
            .scenario
            .file_name()
            .map(|n| n.to_string_lossy().into_owned());
        assert_eq!(read.metadata().expression(), file_name.as_deref());
        let text = read.as_text().expect("a text snapshot").to_string();
        assert_eq!(
            Some(text.as_str()),
            s.old.as_deref(),
            "{}",
            s.file.display()
        );
        if s.status == Status::Matches {
            let written = std::fs::read_to_string(&s.file).expect("the snapshot file");
            assert_eq!(
                written,
                snapshot::file_text(s),
                "{} is not byte for byte what gatesim writes",
                s.file.display()
            );
        }
    }
}
