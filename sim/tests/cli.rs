//! The `gatesim` binary as a shell sees it: exit statuses and what reaches the terminal.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

fn gatesim() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_gatesim"));
    c.current_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/.."));
    c
}

/// F07: `gatesim run ... | head -1` closes the pipe early; that is no error.
#[test]
fn f07_a_reader_that_stops_early_is_no_panic() {
    let mut child = gatesim()
        .args(["run", "scenarios/swarm/standard.json"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("gatesim starts");
    let mut first = String::new();
    let stdout = child.stdout.take().expect("piped stdout");
    BufReader::new(stdout)
        .read_line(&mut first)
        .expect("a first trace line");
    // Dropping the reader closes the pipe, as `head -1` does.
    let out = child.wait_with_output().expect("gatesim ends");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(first.starts_with("t+"), "{first}");
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert_eq!(out.status.code(), Some(0), "{stderr}");
}

/// An expectation that fails in two ways (outcome and served-by) is one unmet
/// expectation: the count never goes below zero and wraps (`18446744073709551610/9`).
#[test]
fn failed_expectations_are_counted_once_each_and_the_replay_keeps_the_policy() {
    let path = std::env::temp_dir().join(format!("gatesim-policy-{}.json", std::process::id()));
    std::fs::write(&path, r#"{ "preset": "reference" }"#).expect("write the policy");
    let policy = path.to_str().expect("a UTF-8 temp path");
    let out = gatesim()
        .args(["run", "scenarios/incidents/invalid-key-400.json", "-q"])
        .args(["--regression", "invalid-key-400", "--policy", policy])
        .output()
        .expect("gatesim runs");
    let _ = std::fs::remove_file(&path);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("-- expectations: 1/9 met\n"), "{stdout}");
    let replay = format!(
        "replay: cargo gatesim run scenarios/incidents/invalid-key-400.json --seed 7 --policy {policy} --regression invalid-key-400"
    );
    assert!(stdout.contains(&replay), "{stdout}");
    assert_eq!(out.status.code(), Some(1));
}
