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
