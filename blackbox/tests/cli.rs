//! The `gatesim` binary as a shell sees it: exit statuses and what reaches the terminal.

use std::ffi::OsStr;
use std::io::{BufRead, BufReader};
use std::path::Path;
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

/// `gatesim knobs`: one row per knob, each with its bug and an incident file that exists.
#[test]
fn knobs_lists_every_knob_with_its_bug_and_incident_file() {
    let out = gatesim().arg("knobs").output().expect("gatesim runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{stdout}");
    let lines: Vec<&str> = stdout.lines().collect();
    assert!(lines[0].starts_with("knob "), "{stdout}");
    let row = lines
        .iter()
        .find(|l| l.starts_with("InvalidKey400IsRequestError "))
        .expect("a row for the invalid-key knob");
    assert!(
        row.contains(" invalid-key-400 ")
            && row.contains("A 400 with an invalid-key body is a bad request")
            && row.ends_with(" scenarios/incidents/invalid-key-400.json"),
        "{row}"
    );
    let rows = &lines[1..lines.len() - 1];
    assert!(rows.len() >= 30, "{stdout}");
    assert!(
        rows.iter().all(|r| r.ends_with(".json")),
        "a knob without its incident file: {stdout}"
    );

    let out = gatesim()
        .args(["knobs", "--json"])
        .output()
        .expect("gatesim runs");
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("one JSON array");
    let rows = v.as_array().expect("an array");
    assert_eq!(rows.len(), lines.len() - 2);
    for r in rows {
        for field in ["name", "incident", "summary", "file"] {
            assert!(r[field].is_string(), "{field} in {r}");
        }
    }
}

/// Field types of the trace schema (`docs/trace-schema.md`): `u` an unsigned integer,
/// `s` a string, `b` a boolean, `a` an array, `?` also null.
fn check_fields(record: &serde_json::Value, fields: &[(&str, &str)]) {
    for (name, ty) in fields {
        let v = &record[*name];
        let nullable = ty.ends_with('?');
        let ok = (nullable && v.is_null())
            || match ty.trim_end_matches('?') {
                "u" => v.is_u64(),
                "s" => v.is_string(),
                "b" => v.is_boolean(),
                "a" => v.is_array(),
                "o" => v.is_object(),
                other => panic!("unknown type {other}"),
            };
        assert!(ok, "field {name} is not {ty} in {record}");
    }
}

/// The fields every record of one kind (or core event) has, beyond `v`, `scenario`, `kind`.
// The schema document's tables, one arm per kind: clearer whole than split.
#[allow(clippy::too_many_lines)]
fn schema(kind: &str, event: Option<&str>) -> &'static [(&'static str, &'static str)] {
    match (kind, event) {
        ("arrived", None) => &[
            ("request", "u"),
            ("project", "s"),
            ("model", "s"),
            ("request_kind", "s"),
            ("stream", "b"),
            ("byok", "s?"),
            ("iterations", "u"),
            ("body_digest", "s"),
        ],
        ("dispatched", None) => &[
            ("request", "u"),
            ("attempt", "u"),
            ("iteration", "u"),
            ("provider", "s"),
            ("region", "s"),
            ("credential", "s"),
            ("selected", "s"),
            ("scope", "s"),
            ("upstream", "s"),
            ("endpoint", "s?"),
            ("request_kind", "s"),
            ("stream", "b"),
            ("body_bytes", "u"),
            ("charged", "b"),
        ],
        ("answered", None) => &[("attempt", "u"), ("status", "u"), ("cause", "s")],
        ("responded", None) => &[
            ("request", "u"),
            ("status", "u"),
            ("outcome", "s"),
            ("retry_after_s", "u?"),
            ("credential", "s?"),
            ("hint", "s?"),
            ("attempts", "u"),
            ("stream_error", "o?"),
        ],
        ("fault", None) => &[
            ("fault", "u"),
            ("started", "b"),
            ("fault_kind", "s"),
            ("at_ms", "u"),
            ("until_ms", "u?"),
            ("credential", "s?"),
            ("provider", "s?"),
            ("region", "s?"),
        ],
        ("tracked", None) => &[("entries", "u")],
        ("event", Some("skipped")) => &[
            ("request", "u"),
            ("provider", "s"),
            ("region", "s"),
            ("credential", "s"),
            ("scope", "s"),
            ("block", "s"),
        ],
        ("event", Some("classified")) => &[("attempt", "u"), ("class", "s")],
        ("event", Some("cooled_down" | "marked_unhealthy" | "suspended")) => &[
            ("credential", "s"),
            ("scope", "s"),
            ("until_ms", "u"),
            ("attempt", "u"),
        ],
        ("event", Some("blacklisted")) => &[("credential", "s"), ("scope", "s?"), ("attempt", "u")],
        ("event", Some("evicted")) => &[("credential", "s"), ("scope", "s")],
        ("event", Some("waiting")) => &[("request", "u"), ("until_ms", "u")],
        ("event", Some("counted")) => &[
            ("attempt", "u"),
            ("mapping", "b"),
            ("model", "b"),
            ("ok", "b"),
        ],
        ("event", Some("provider_scored")) => &[
            ("request", "u"),
            ("provider", "s"),
            ("region", "s"),
            ("failed", "b"),
        ],
        ("verdict", None) => &[
            ("file", "s"),
            ("seed", "u"),
            ("passed", "b"),
            ("trace_hash", "s"),
            ("knobs", "a"),
            ("requests", "u"),
            ("successes", "u"),
            ("attempts", "u"),
            ("invariants", "u"),
            ("invariants_failed", "a"),
            ("violations", "a"),
            ("expectations", "u"),
            ("expectations_met", "u"),
            ("failed_expectations", "a"),
            ("replay", "s?"),
        ],
        other => panic!("a record kind the schema does not document: {other:?}"),
    }
}

/// Parses every stdout line as a JSON record and checks it against the schema; returns
/// the `kind` (and `kind event`) of every record.
fn parse_json_trace(stdout: &str) -> Vec<String> {
    let mut kinds = Vec::new();
    for line in stdout.lines() {
        let r: serde_json::Value = serde_json::from_str(line)
            .unwrap_or_else(|e| panic!("stdout line is not JSON ({e}): {line}"));
        check_fields(&r, &[("v", "u"), ("scenario", "s"), ("kind", "s")]);
        assert_eq!(r["v"], 1, "{line}");
        let kind = r["kind"].as_str().expect("checked").to_string();
        if kind != "verdict" {
            check_fields(&r, &[("t_ms", "u"), ("text", "s")]);
        }
        let event = r["event"].as_str();
        check_fields(&r, schema(&kind, event));
        kinds.push(match event {
            Some(e) => format!("{kind} {e}"),
            None => kind,
        });
    }
    kinds
}

/// `--trace json` on the incident library: stdout is JSON lines only, each record has
/// the structured fields of its kind, each scenario ends with a verdict record, and the
/// human table goes to stderr.
#[test]
fn a_json_trace_is_json_lines_with_structured_fields_per_kind() {
    let out = gatesim()
        .args(["run", "scenarios/incidents", "--trace", "json"])
        .output()
        .expect("gatesim runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert!(
        stderr.contains("scenarios: "),
        "the table on stderr: {stderr}"
    );
    let kinds = parse_json_trace(&stdout);
    let incidents = std::fs::read_dir(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../scenarios/incidents"
    ))
    .expect("the incident library")
    .count();
    assert_eq!(kinds.iter().filter(|k| *k == "verdict").count(), incidents);
    assert_eq!(kinds.last().map(String::as_str), Some("verdict"));
    // The library exercises these; a kind that stops appearing is a lost test.
    for kind in [
        "arrived",
        "dispatched",
        "answered",
        "responded",
        "fault",
        "tracked",
        "event skipped",
        "event classified",
        "event cooled_down",
        "event marked_unhealthy",
        "event blacklisted",
        "event suspended",
        "event evicted",
        "event waiting",
        "event counted",
        "event provider_scored",
    ] {
        assert!(kinds.iter().any(|k| k == kind), "no {kind} record");
    }
}

/// A failing run's verdict record names the broken invariants and the replay line.
#[test]
fn a_json_trace_of_a_failing_run_ends_with_a_failing_verdict_record() {
    let out = gatesim()
        .args([
            "run",
            "scenarios/incidents/invalid-key-400.json",
            "--trace",
            "json",
        ])
        .args(["--regression", "invalid-key-400"])
        .output()
        .expect("gatesim runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1));
    parse_json_trace(&stdout);
    let last: serde_json::Value =
        serde_json::from_str(stdout.lines().last().expect("records")).expect("JSON");
    assert_eq!(last["kind"], "verdict");
    assert_eq!(last["passed"], false);
    assert_eq!(last["knobs"][0], "InvalidKey400IsRequestError");
    let failed = last["invariants_failed"].as_array().expect("an array");
    assert!(
        failed.iter().any(|i| i == "auth-blacklist-global"),
        "{last}"
    );
    assert_eq!(
        last["replay"],
        "cargo gatesim run scenarios/incidents/invalid-key-400.json --seed 7 --regression invalid-key-400"
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("\nFAIL trace "),
        "the human verdict on stderr: {stderr}"
    );
}

/// `-q` drops the trace whatever `--trace` says; a directory prints traces only when
/// `--trace` asks.
#[test]
fn quiet_drops_the_trace_and_a_directory_honours_trace() {
    let file = "scenarios/incidents/invalid-key-400.json";
    let out = gatesim()
        .args(["run", file, "--trace", "json", "-q"])
        .output()
        .expect("gatesim runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("PASS trace f3fb0363f8f065d4"), "{stdout}");
    assert!(
        !stdout
            .lines()
            .any(|l| l.starts_with('{') || l.starts_with("t+")),
        "{stdout}"
    );

    let dir = std::env::temp_dir().join(format!("gatesim-trace-dir-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let root = concat!(env!("CARGO_MANIFEST_DIR"), "/..");
    for id in ["invalid-key-400", "longer-cooldown-wins"] {
        std::fs::copy(
            format!("{root}/scenarios/incidents/{id}.json"),
            dir.join(format!("{id}.json")),
        )
        .expect("copy an incident");
    }
    let run = |extra: &[&str]| {
        let out = gatesim()
            .arg("run")
            .arg(&dir)
            .args(extra)
            .output()
            .expect("gatesim runs");
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    let (plain, text, quiet) = (
        run(&[]),
        run(&["--trace", "text"]),
        run(&["--trace", "text", "-q"]),
    );
    std::fs::remove_dir_all(&dir).expect("clean up");
    assert!(!plain.contains("\nt+"), "{plain}");
    assert_eq!(plain, quiet);
    assert!(
        text.contains("-- trace invalid-key-400 (seed 7)\nt+0.000s fault#0"),
        "{text}"
    );
    assert!(text.contains("-- trace longer-cooldown-wins"), "{text}");
    let summary = plain.lines().last().expect("a summary");
    assert!(text.trim_end().ends_with(summary), "{text}");
}

/// The `FAIL` lines of a sweep report.
fn failing(report: &str) -> Vec<String> {
    report
        .lines()
        .filter(|l| l.starts_with("FAIL "))
        .map(str::to_string)
        .collect()
}

/// The seed of a `FAIL <scenario> seed <N>: ...` line.
fn seed_of(line: &str) -> u64 {
    line.split(" seed ")
        .nth(1)
        .and_then(|s| s.split(':').next())
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("no seed in {line}"))
}

/// A temporary directory holding copies of scenario files (`swarm/standard.json`, ...).
fn scenario_dir(tag: &str, files: &[&str]) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("gatesim-{tag}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let root = concat!(env!("CARGO_MANIFEST_DIR"), "/..");
    for f in files {
        let name = f.split_once('/').expect("a folder").1;
        std::fs::copy(format!("{root}/scenarios/{f}"), dir.join(name)).expect("copy");
    }
    dir
}

/// A summary file path outside any swept directory (a summary there would be swept as a
/// scenario file).
fn summary_path(tag: &str) -> std::path::PathBuf {
    std::env::temp_dir().join(format!("gatesim-{tag}-{}.json", std::process::id()))
}

/// Runs `gatesim sweep DIR --seeds SEEDS --regression invalid-key-400 EXTRA...`.
fn sweep_with_knob(dir: &Path, seeds: &str, extra: &[&OsStr]) -> (Option<i32>, String) {
    let out = gatesim()
        .arg("sweep")
        .arg(dir)
        .args([
            "--seeds",
            seeds,
            "--regression",
            "invalid-key-400",
            "--jobs",
            "2",
        ])
        .args(extra)
        .output()
        .expect("gatesim runs");
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
    )
}

/// `sweep --shard I/N`: the shards together run every seed once, and `merge-sweeps` of
/// their summaries reports exactly what the unsharded sweep reports, under a knob that
/// fails some seeds and not others, over two scenario files.
#[test]
fn sweep_shards_merge_into_the_unsharded_report() {
    let dir = scenario_dir(
        "shards",
        &["swarm/standard.json", "incidents/invalid-key-400.json"],
    );
    let (code, full) = sweep_with_knob(&dir, "10..17", &[]);
    assert_eq!(code, Some(1), "{full}");
    assert!(
        full.starts_with("2 scenarios × 7 seeds = 14 runs: "),
        "{full}"
    );
    let swarm_failing = failing(&full)
        .iter()
        .filter(|l| l.starts_with("FAIL standard"))
        .count();
    assert!(
        (1..7).contains(&swarm_failing),
        "some swarm seeds fail, not all: {full}"
    );

    let (s1, s2) = (summary_path("shard1"), summary_path("shard2"));
    let shard = |i: &str, file: &Path| {
        let args: [&OsStr; 4] = [
            "--shard".as_ref(),
            i.as_ref(),
            "--summary-json".as_ref(),
            file.as_ref(),
        ];
        sweep_with_knob(&dir, "10..17", &args)
    };
    let ((c1, one), (_, two)) = (shard("1/2", &s1), shard("2/2", &s2));
    assert_eq!(c1, Some(1));
    let head = "shard 1/2 (seed index mod 2 = 0): 2 scenarios × 4 of 7 seeds = 8 runs";
    assert!(one.starts_with(head), "{one}");
    let head = "shard 2/2 (seed index mod 2 = 1): 2 scenarios × 3 of 7 seeds = 6 runs";
    assert!(two.starts_with(head), "{two}");
    // Shard 1 runs seeds 10, 12, 14, 16 and shard 2 runs 11, 13, 15: each failure is in
    // the shard that owns its seed, and together they are the unsharded failures.
    for (report, parity) in [(&one, 0), (&two, 1)] {
        for line in failing(report) {
            assert_eq!(seed_of(&line) % 2, parity, "{line}");
        }
    }
    let mut union = [failing(&one), failing(&two)].concat();
    let mut expected = failing(&full);
    union.sort();
    expected.sort();
    assert_eq!(union, expected);

    let merge = |files: &[&std::path::PathBuf]| {
        let out = gatesim().arg("merge-sweeps").args(files).output();
        out.expect("gatesim runs")
    };
    let (merged, incomplete, twice) = (merge(&[&s2, &s1]), merge(&[&s1]), merge(&[&s1, &s2, &s1]));
    std::fs::remove_dir_all(&dir).expect("clean up");
    for f in [&s1, &s2] {
        std::fs::remove_file(f).expect("clean up");
    }
    assert_eq!(String::from_utf8_lossy(&merged.stdout), full);
    assert_eq!(merged.status.code(), Some(1));
    for (out, problem) in [
        (incomplete, "shard 2/2 is missing"),
        (twice, "shard 1/2 is given twice"),
    ] {
        assert_eq!(out.status.code(), Some(2));
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains(problem), "{stderr}");
    }
}

/// A temporary copy of two incidents, for `gatesim snapshot`.
struct SnapDir {
    dir: std::path::PathBuf,
}

impl SnapDir {
    fn new(name: &str) -> SnapDir {
        let dir = std::env::temp_dir().join(format!("gatesim-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("temp dir");
        let root = Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/.."));
        for id in ["invalid-key-400", "model-support-400"] {
            let from = root.join(format!("scenarios/incidents/{id}.json"));
            std::fs::copy(&from, dir.join(format!("{id}.json"))).expect("copy an incident");
        }
        SnapDir { dir }
    }

    fn snap(&self, id: &str) -> std::path::PathBuf {
        self.dir.join("snapshots").join(format!("{id}.snap"))
    }

    fn pending(&self, id: &str) -> std::path::PathBuf {
        self.dir.join("snapshots").join(format!("{id}.snap.new"))
    }

    /// `gatesim snapshot DIR ...`: the exit status and stdout then stderr.
    fn run(&self, extra: &[&str]) -> (Option<i32>, String) {
        let out = gatesim()
            .arg("snapshot")
            .arg(&self.dir)
            .args(extra)
            .output()
            .expect("gatesim runs");
        let text = String::from_utf8_lossy(&out.stdout).into_owned()
            + &String::from_utf8_lossy(&out.stderr);
        (out.status.code(), text)
    }
}

impl Drop for SnapDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// `gatesim snapshot DIR`: new snapshots are pending until accepted, accepting writes
/// what was pending, and then the runs match.
#[test]
fn snapshot_writes_pending_files_until_they_are_accepted() {
    let d = SnapDir::new("snapshot-accept");
    let (code, out) = d.run(&[]);
    assert_eq!(code, Some(1), "{out}");
    assert!(out.contains("new     invalid-key-400 (seed 7)"), "{out}");
    assert!(out.contains("cargo gatesim snapshot "), "{out}");
    for id in ["invalid-key-400", "model-support-400"] {
        assert!(d.pending(id).exists() && !d.snap(id).exists(), "{out}");
    }
    let pending = std::fs::read_to_string(d.pending("invalid-key-400")).expect("pending");
    assert!(
        pending.starts_with("---\nsource: gatesim snapshot\nexpression: invalid-key-400.json\n---\nscenario: invalid-key-400 (seed 7)\n"),
        "{pending}"
    );

    let (code, out) = d.run(&["--accept"]);
    assert_eq!(code, Some(0), "{out}");
    for id in ["invalid-key-400", "model-support-400"] {
        assert!(d.snap(id).exists() && !d.pending(id).exists(), "{out}");
    }
    let accepted = std::fs::read_to_string(d.snap("invalid-key-400")).expect("accepted");
    assert_eq!(accepted, pending, "accepting writes what was pending");

    let (code, out) = d.run(&[]);
    assert_eq!(code, Some(0), "{out}");
    assert!(
        out.contains("2 scenarios: 2 match, 0 changed, 0 new"),
        "{out}"
    );
}

/// A regression shows up as a decision diff naming the scenario and is never
/// accepted; an edited fault changes its scenario only; a file that does not load is
/// an input error naming its path.
#[test]
fn snapshot_diffs_a_changed_run_and_names_the_scenario() {
    let d = SnapDir::new("snapshot-diff");
    assert_eq!(d.run(&["--accept"]).0, Some(0));
    let accepted = std::fs::read_to_string(d.snap("invalid-key-400")).expect("accepted");

    let (code, out) = d.run(&["--regression", "invalid-key-400"]);
    assert_eq!(code, Some(1), "{out}");
    assert!(out.contains("changed invalid-key-400 (seed 7)"), "{out}");
    assert!(
        out.contains("\n    - t+0.150s attempt#0 classified auth\n"),
        "{out}"
    );
    assert!(
        out.contains("\n    + t+0.150s attempt#0 classified request_invalid\n"),
        "{out}"
    );
    assert!(out.contains("FAIL    invalid-key-400 (seed 7)"), "{out}");
    assert!(
        out.contains("--accept --regression invalid-key-400"),
        "{out}"
    );
    assert!(d.pending("invalid-key-400").exists(), "{out}");

    // Back to the accepted behaviour: a match, and the stale pending file goes.
    let (code, out) = d.run(&[]);
    assert_eq!(code, Some(0), "{out}");
    assert!(!d.pending("invalid-key-400").exists(), "{out}");

    // A failing run is never accepted; a passing one is, knobs and all.
    let (code, out) = d.run(&["--accept", "--regression", "invalid-key-400"]);
    assert_eq!(code, Some(1), "{out}");
    assert!(out.contains("not accepted"), "{out}");
    let kept = std::fs::read_to_string(d.snap("invalid-key-400")).expect("kept");
    assert_eq!(kept, accepted);
    let knobbed = std::fs::read_to_string(d.snap("model-support-400")).expect("accepted");
    assert!(
        knobbed.contains("\nregression knobs ON: InvalidKey400IsRequestError\n"),
        "{knobbed}"
    );
    assert_eq!(d.run(&["--accept"]).0, Some(0));

    // Editing a fault changes the decisions of that scenario only.
    let file = d.dir.join("model-support-400.json");
    let text = std::fs::read_to_string(&file).expect("scenario");
    let edited = text.replacen("\"at\": \"0s\"", "\"at\": \"15s\"", 1);
    assert_ne!(edited, text, "the incident has a fault at 0s");
    std::fs::write(&file, edited).expect("write");
    let (code, out) = d.run(&[]);
    assert_eq!(code, Some(1), "{out}");
    assert!(out.contains("ok      invalid-key-400"), "{out}");
    assert!(out.contains("changed model-support-400 (seed 13)"), "{out}");
    assert!(out.contains("\n    @@ -"), "{out}");

    std::fs::write(d.dir.join("broken.json"), "{ \"version\": 1 }").expect("write");
    let (code, out) = d.run(&[]);
    assert_eq!(code, Some(2), "{out}");
    assert!(out.contains("broken.json: "), "{out}");
}

/// `gatesim timeline`: the page is written whatever the verdict, the exit status is the
/// run's, and an unwritable page is an input problem.
#[test]
fn timeline_writes_a_page_and_exits_with_the_verdict() {
    let dir = std::env::temp_dir().join(format!("gatesim-timeline-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let draw = |knob: bool, out: &Path| {
        let mut c = gatesim();
        c.args([
            "timeline",
            "scenarios/incidents/keypool-states.json",
            "--out",
        ])
        .arg(out);
        if knob {
            c.args(["--regression", "keypool-states"]);
        }
        c.output().expect("gatesim runs")
    };
    let (pass, fail) = (dir.join("pass.html"), dir.join("fail.html"));
    let out = draw(false, &pass);
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("keypool-states seed 113 PASS"), "{stdout}");
    let out = draw(true, &fail);
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    let page = std::fs::read_to_string(&fail).expect("the page is written");
    assert!(page.starts_with("<!DOCTYPE html>") && page.contains("id=\"violation\""));
    assert!(page.contains(
        "cargo gatesim run scenarios/incidents/keypool-states.json --seed 113 --regression keypool-states"
    ));
    assert!(!std::fs::read_to_string(&pass)
        .expect("written")
        .contains("id=\"violation\""));
    let out = draw(false, &dir.join("no-such-dir").join("x.html"));
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    assert!(String::from_utf8_lossy(&out.stderr).contains("cannot write"));
    std::fs::remove_dir_all(&dir).expect("clean up");
}

/// `run --history` writes what a black-box harness would record; `check-history` judges
/// it again from the wire alone: clean for the reference, the knob's invariant for a
/// knob, 2 for a history that does not fit its scenario.
#[test]
fn a_recorded_history_is_judged_again_from_outside() {
    let dir = std::env::temp_dir().join(format!("gatesim-history-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("a temp dir");
    let scenario = "scenarios/incidents/invalid-key-400.json";
    let judge_again = |knob: Option<&str>| {
        let file = dir.join(format!("{}.jsonl", knob.unwrap_or("clean")));
        let mut run = gatesim();
        run.args(["run", scenario, "-q", "--history"]).arg(&file);
        if let Some(k) = knob {
            run.args(["--regression", k]);
        }
        let ran = run.output().expect("gatesim runs");
        assert!(file.exists(), "{}", String::from_utf8_lossy(&ran.stderr));
        let out = gatesim()
            .arg("check-history")
            .arg(&file)
            .args(["--scenario", scenario])
            .output()
            .expect("gatesim runs");
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            file,
        )
    };
    let (code, stdout, _) = judge_again(None);
    assert_eq!(code, Some(0), "{stdout}");
    assert!(
        stdout.contains("-- invariants: all 17 hold\nPASS"),
        "{stdout}"
    );
    let (code, stdout, file) = judge_again(Some("invalid-key-400"));
    assert_eq!(code, Some(1), "{stdout}");
    assert!(
        stdout.contains("auth-blacklist-global at t+10.000s req#1"),
        "{stdout}"
    );
    let out = gatesim()
        .arg("check-history")
        .arg(&file)
        .args(["--scenario", "scenarios/incidents/byok-single-attempt.json"])
        .output()
        .expect("gatesim runs");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("history line 1: scenario: the history is of \"invalid-key-400\""),
        "{stderr}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

/// A policy file outside any swept directory that puts the invalid-key bug back: runs of
/// `invalid-key-400` fail under it and pass without it.
fn buggy_policy(tag: &str) -> std::path::PathBuf {
    let path = summary_path(tag);
    let text = r#"{ "preset": "reference", "regressions": ["invalid-key-400"] }"#;
    std::fs::write(&path, text).expect("write the policy");
    path
}

/// `sweep --policy`: the policy file replaces the scenario's, the replay lines keep it,
/// and a summary merged back keeps it too.
#[test]
fn sweep_takes_a_policy_file_and_its_replay_lines_keep_it() {
    let policy = buggy_policy("sweep-policy");
    let summary = summary_path("sweep-policy-summary");
    let sweep = |extra: &[&OsStr]| {
        let out = gatesim()
            .args(["sweep", "scenarios/incidents/invalid-key-400.json"])
            .args(["--seeds", "7..9", "--jobs", "1"])
            .args(extra)
            .output()
            .expect("gatesim runs");
        let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
        (out.status.code(), stdout)
    };
    let (clean, clean_out) = sweep(&[]);
    let (code, stdout) = sweep(&[
        "--policy".as_ref(),
        policy.as_os_str(),
        "--summary-json".as_ref(),
        summary.as_os_str(),
    ]);
    let merged = gatesim()
        .arg("merge-sweeps")
        .arg(&summary)
        .output()
        .expect("gatesim runs");
    let _ = std::fs::remove_file(&summary);
    let _ = std::fs::remove_file(&policy);
    assert_eq!(clean, Some(0), "{clean_out}");
    assert_eq!(code, Some(1), "{stdout}");
    assert_eq!(failing(&stdout).len(), 2, "{stdout}");
    let replay = format!(
        "     replay: cargo gatesim run scenarios/incidents/invalid-key-400.json --seed 8 --policy {}\n",
        policy.display()
    );
    assert!(stdout.contains(&replay), "{stdout}");
    assert_eq!(String::from_utf8_lossy(&merged.stdout), stdout);
}

/// `shrink --policy`: the failure only the policy file puts back is shrunk, and the
/// minimal scenario carries that policy, so its replay line fails without `--policy`.
#[test]
fn shrink_takes_a_policy_file_and_the_minimal_scenario_keeps_it() {
    let policy = buggy_policy("shrink-policy");
    let min = summary_path("shrink-policy-min");
    let shrink = |extra: &[&OsStr]| {
        let out = gatesim()
            .args([
                "shrink",
                "scenarios/incidents/invalid-key-400.json",
                "--seed",
                "7",
            ])
            .arg("--out")
            .arg(&min)
            .args(extra)
            .output()
            .expect("gatesim runs");
        let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
        (out.status.code(), stdout)
    };
    let (clean, clean_out) = shrink(&[]);
    let (code, stdout) = shrink(&["--policy".as_ref(), policy.as_os_str()]);
    let written = std::fs::read_to_string(&min).unwrap_or_default();
    let replay = gatesim()
        .args(["run", "-q", "--seed", "7"])
        .arg(&min)
        .output()
        .expect("gatesim runs");
    let _ = std::fs::remove_file(&min);
    let _ = std::fs::remove_file(&policy);
    assert_eq!(clean, Some(0), "{clean_out}");
    assert!(clean_out.contains("nothing to shrink"), "{clean_out}");
    assert_eq!(code, Some(1), "{stdout}");
    let line = format!("replay: cargo gatesim run {} --seed 7\n", min.display());
    assert!(stdout.ends_with(&line), "{stdout}");
    assert!(
        written.contains("\"InvalidKey400IsRequestError\""),
        "{written}"
    );
    assert_eq!(replay.status.code(), Some(1));
}

/// Policy files kept beside scenarios are skipped by name (`*.policy.json`) by every
/// command that takes a directory, and only by name: `policy-x.json` is a scenario.
#[test]
fn policy_files_in_a_scenario_directory_are_skipped_by_name() {
    let dir = scenario_dir("policy-files", &["incidents/invalid-key-400.json"]);
    let policy = dir.join("strict.policy.json");
    let text = r#"{ "preset": "reference", "regressions": ["invalid-key-400"] }"#;
    std::fs::write(&policy, text).expect("write the policy");
    let run = |args: &[&OsStr]| {
        let out = gatesim().args(args).output().expect("gatesim runs");
        let text = String::from_utf8_lossy(&out.stdout).into_owned()
            + &String::from_utf8_lossy(&out.stderr);
        (out.status.code(), text)
    };
    let d = dir.as_os_str();
    let check = run(&["check".as_ref(), d]);
    let library = run(&["run".as_ref(), d]);
    let sweep = run(&[
        "sweep".as_ref(),
        d,
        "--seeds".as_ref(),
        "7..8".as_ref(),
        "--policy".as_ref(),
        policy.as_os_str(),
    ]);
    std::fs::remove_file(dir.join("invalid-key-400.json")).expect("clean up");
    let only_policies = run(&["check".as_ref(), d]);
    std::fs::rename(&policy, dir.join("policy-strict.json")).expect("rename");
    let misnamed = run(&["check".as_ref(), d]);
    std::fs::remove_dir_all(&dir).expect("clean up");
    assert_eq!(check.0, Some(0), "{}", check.1);
    assert!(
        check.1.ends_with("1 files: 1 valid, 0 with problems\n"),
        "{}",
        check.1
    );
    assert_eq!(library.0, Some(0), "{}", library.1);
    assert!(!library.1.contains("policy"), "{}", library.1);
    assert_eq!(sweep.0, Some(1), "{}", sweep.1);
    assert!(
        sweep
            .1
            .starts_with("1 scenarios × 1 seeds = 1 runs: 1 failing"),
        "{}",
        sweep.1
    );
    assert_eq!(only_policies.0, Some(2), "{}", only_policies.1);
    assert!(
        only_policies
            .1
            .contains("holds no .json scenario files (1 policy file skipped)"),
        "{}",
        only_policies.1
    );
    assert_eq!(misnamed.0, Some(2), "{}", misnamed.1);
    assert!(
        misnamed.1.contains("policy-strict.json: "),
        "{}",
        misnamed.1
    );
}

/// Progress bars are for terminals only: a sweep (with failures, which update the bar's
/// message) and the matrix, with stderr a pipe as in CI, print nothing on stderr, and
/// their reports on stdout are unchanged.
#[test]
fn sweep_and_matrix_print_no_progress_when_stderr_is_not_a_terminal() {
    let sweep = gatesim()
        .args([
            "sweep",
            "scenarios/incidents/invalid-key-400.json",
            "--seeds",
            "0..40",
        ])
        .args(["--regression", "invalid-key-400"])
        .output()
        .expect("gatesim runs");
    let stdout = String::from_utf8_lossy(&sweep.stdout);
    assert_eq!(String::from_utf8_lossy(&sweep.stderr), "");
    assert!(
        stdout.starts_with("1 scenarios × 40 seeds = 40 runs: 40 failing\nFAIL "),
        "{stdout}"
    );
    let matrix = gatesim()
        .args(["matrix", "--seeds", "0"])
        .output()
        .expect("gatesim runs");
    let stdout = String::from_utf8_lossy(&matrix.stdout);
    assert_eq!(String::from_utf8_lossy(&matrix.stderr), "");
    assert!(stdout.starts_with("knob "), "{stdout}");
    assert!(
        stdout.contains(" knobs caught by the invariants alone\n"),
        "{stdout}"
    );
}

/// On a terminal (a pseudo-terminal from util-linux `script`), a sweep draws its bar on
/// stderr: the runs done, the failures so far and the time left.
#[test]
fn a_sweep_on_a_terminal_draws_a_progress_bar() {
    let bin = env!("CARGO_BIN_EXE_gatesim");
    let command = format!(
        "{bin} sweep scenarios/incidents/invalid-key-400.json --seeds 0..3 --jobs 1 --regression invalid-key-400 >/dev/null"
    );
    let out = Command::new("script")
        .args(["-qec", &command, "/dev/null"])
        .current_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/.."))
        .stdin(Stdio::null())
        .output()
        .expect("script (util-linux) runs");
    let terminal = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{terminal}");
    assert!(terminal.contains("/3 runs, "), "{terminal}");
    assert!(terminal.contains(" failing ("), "{terminal}");
    assert!(terminal.contains(" left)"), "{terminal}");
}

/// A snapshot whose scenario was deleted or renamed is reported (exit 1), and removed by
/// `--accept`, as `cargo insta test --unreferenced` would.
#[test]
fn an_orphaned_snapshot_is_reported_then_removed_by_accept() {
    let dir = std::env::temp_dir().join(format!("gatesim-orphan-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(dir.join("snapshots")).expect("a temp dir");
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    std::fs::copy(
        root.join("scenarios/incidents/invalid-key-400.json"),
        dir.join("invalid-key-400.json"),
    )
    .expect("copy a scenario");
    let accept = gatesim()
        .arg("snapshot")
        .arg(&dir)
        .arg("--accept")
        .output()
        .expect("gatesim runs");
    assert_eq!(accept.status.code(), Some(0));
    let orphan = dir.join("snapshots/renamed-away.snap");
    std::fs::copy(dir.join("snapshots/invalid-key-400.snap"), &orphan).expect("an orphan");
    let out = gatesim()
        .arg("snapshot")
        .arg(&dir)
        .output()
        .expect("gatesim runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{stdout}");
    assert!(
        stdout.contains("renamed-away.snap: no scenario in"),
        "{stdout}"
    );
    assert!(stdout.contains("1 snapshot orphaned"), "{stdout}");
    assert!(orphan.exists(), "reported, not removed");
    let out = gatesim()
        .arg("snapshot")
        .arg(&dir)
        .arg("--accept")
        .output()
        .expect("gatesim runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{stdout}");
    assert!(stdout.contains("1 snapshot removed"), "{stdout}");
    assert!(!orphan.exists());
    assert!(dir.join("snapshots/invalid-key-400.snap").exists());
    let _ = std::fs::remove_dir_all(&dir);
}
