//! Black-box mode on loopback, through the real binary: fake providers over HTTP,
//! `gatesim serve` as the gateway, the history judged from outside. A subset of the
//! black-box library runs as a detection matrix (every knob its files catch in process is
//! caught again over HTTP, every clean run passes); the whole library is
//! `cargo gatesim blackbox scenarios/blackbox --matrix --jobs 8` (docs/blackbox.md).

use std::path::Path;
use std::process::Command;

fn gatesim() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_gatesim"));
    c.current_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/.."));
    c
}

/// One file per mechanism: auth, suspension, request-invalid, Retry-After, streams broken
/// before and after the first byte, region locks, cooldown merging.
const SUBSET: &[&str] = &[
    "bb-invalid-key-400",
    "bb-model-support-400",
    "bb-request-invalid-terminal",
    "bb-exhaustion-retry-after",
    "bb-mid-stream-no-failover",
    "bb-stream-bootstrap-rotation",
    "bb-region-lock-consistency",
    "bb-longer-cooldown-wins",
];

#[test]
fn a_subset_of_the_library_is_a_detection_matrix_over_http() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let dir = std::env::temp_dir().join(format!("gatesim-http-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("a temp dir");
    for id in SUBSET {
        let from = root.join(format!("scenarios/blackbox/{id}.json"));
        std::fs::copy(&from, dir.join(format!("{id}.json"))).expect("copy a scenario");
    }
    let out = gatesim()
        .args(["blackbox", "--matrix", "--jobs", "8"])
        .arg(&dir)
        .output()
        .expect("gatesim runs");
    let _ = std::fs::remove_dir_all(&dir);
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stdout}\n{stderr}");
    assert!(
        stdout.contains(&format!("{} clean runs, 0 failed", SUBSET.len())),
        "{stdout}"
    );
    let tally = stdout
        .lines()
        .find(|l| l.contains("knobs caught over HTTP"))
        .expect("a tally line");
    let (caught, of) = tally
        .split_once(' ')
        .and_then(|(n, _)| n.split_once('/'))
        .expect("N/M");
    assert_eq!(caught, of, "{stdout}");
    assert!(
        caught.parse::<usize>().expect("a number") >= SUBSET.len(),
        "{stdout}"
    );
    // The bugs of the subset's own incidents, each on its invariant, over HTTP.
    for (knob, invariant) in [
        ("InvalidKey400IsRequestError", "auth-blacklist-global"),
        ("ModelSupportIsTerminal", "suspension-sticky"),
        ("RetryRequestInvalid", "terminal-request-invalid"),
        ("ExhaustionWithoutRetryAfter", "exhaustion-typed"),
        ("FailoverMidStream", "no-failover-after-first-byte"),
        ("StreamBootstrapTerminal", "no-false-exhaustion"),
        ("RegionFromFirstKey", "region-lock"),
        ("LastWriterCooldown", "cooldown-respected"),
    ] {
        let line = stdout
            .lines()
            .find(|l| l.starts_with(knob))
            .unwrap_or_else(|| panic!("{knob} is in the matrix\n{stdout}"));
        let http = line.rsplit("  ").next().unwrap_or_default();
        assert!(http.contains(invariant), "{knob}: {line}");
    }
}

/// One run, with the history kept: the file is the documented format, judged the same
/// way again by `check-history`; a knob's run fails with the replay line.
#[test]
fn a_black_box_run_keeps_its_history_and_prints_its_replay() {
    let dir = std::env::temp_dir().join(format!("gatesim-http-one-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("a temp dir");
    let history = dir.join("h.jsonl");
    let scenario = "scenarios/blackbox/bb-invalid-key-400.json";
    let out = gatesim()
        .args([
            "blackbox",
            scenario,
            "--regression",
            "invalid-key-400",
            "--history",
        ])
        .arg(&history)
        .output()
        .expect("gatesim runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{stdout}");
    assert!(stdout.contains("auth-blacklist-global at t+"), "{stdout}");
    assert!(
        stdout.contains("replay: cargo gatesim blackbox scenarios/blackbox/bb-invalid-key-400.json --gateway reference --regression invalid-key-400"),
        "{stdout}"
    );
    let text = std::fs::read_to_string(&history).expect("the history was written");
    let header = text.lines().next().expect("a header");
    assert!(
        header.contains(r#""gateway":"reference""#) && header.contains(r#""slack_ms":50"#),
        "{header}"
    );
    assert!(
        !text.contains("gatesim-fake-token"),
        "no token in a history"
    );
    let again = gatesim()
        .arg("check-history")
        .arg(&history)
        .args(["--scenario", scenario])
        .output()
        .expect("gatesim runs");
    let judged = String::from_utf8_lossy(&again.stdout);
    assert_eq!(again.status.code(), Some(1), "{judged}");
    assert!(judged.contains("auth-blacklist-global"), "{judged}");
    // The run's world file (it holds the run's tokens) is gone.
    let world = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../target/blackbox/reference/bb-invalid-key-400+invalid-key-400/world.json");
    assert!(!world.exists(), "{}", world.display());
    let _ = std::fs::remove_dir_all(&dir);
}

/// Scripted answers over HTTP: k0's 403 means a bad key; k1's 429 carries `Retry-After:
/// 120` among headers the gateway does not read, for longer than the gateway waits.
const ANSWERS: &str = r#"{
  "version": 1, "id": "bb-answer-headers", "seed": 1, "regions": ["us"],
  "title": "Scripted answers over HTTP: a 403 that means a bad key, a 429 whose Retry-After the gateway must read off the wire",
  "providers": [ { "id": "openai", "style": "openai", "regions": ["us"], "latency": { "fixed": "20ms" } } ],
  "models": [ { "id": "gpt-4o", "served_by": [ { "provider": "openai", "region": "us" } ] } ],
  "credentials": [ { "id": "k0", "provider": "openai", "source": "org" },
                   { "id": "k1", "provider": "openai", "source": "org" } ],
  "projects": [ { "id": "p1", "mode": "api-keys" } ],
  "faults": [
    { "at": "0s", "kind": "answer", "means": "key_invalid", "credential": "k0", "status": 403,
      "headers": { "x-request-id": "req_403" } },
    { "at": "1s", "until": "3s", "kind": "answer", "means": "rate_limited", "credential": "k1",
      "status": 429, "headers": { "Retry-After": "120", "x-ratelimit-reset-requests": "2m" } }
  ],
  "workload": { "requests": [ { "at": "0s", "project": "p1", "model": "gpt-4o" },
                              { "at": "1500ms", "project": "p1", "model": "gpt-4o" } ] }
}"#;

/// `gatesim serve` reads a scripted answer's Retry-After off the wire: the exhaustion it
/// answers carries the 120 s the fake's header said, and the run is clean; the knob that
/// drops the client's Retry-After is caught on `exhaustion-typed`.
#[test]
fn scripted_answers_cross_the_wire_to_the_gateway() {
    let dir = std::env::temp_dir().join(format!("gatesim-http-answer-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("a temp dir");
    let scenario = dir.join("bb-answer-headers.json");
    std::fs::write(&scenario, ANSWERS).expect("the scenario is written");
    let history = dir.join("h.jsonl");
    let out = gatesim()
        .arg("blackbox")
        .arg(&scenario)
        .arg("--history")
        .arg(&history)
        .output()
        .expect("gatesim runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{stdout}");
    let text = std::fs::read_to_string(&history).expect("the history was written");
    for line in [
        r#""status":403,"cause":"key_invalid""#,
        r#""status":429,"cause":"rate_limited","hint_ms":120000"#,
        r#""request":1,"status":429,"retry_after_s":120"#,
    ] {
        assert!(
            text.contains(line),
            "{line} in:
{text}"
        );
    }
    let out = gatesim()
        .arg("blackbox")
        .arg(&scenario)
        .args(["--regression", "exhaustion-retry-after"])
        .output()
        .expect("gatesim runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{stdout}");
    assert!(
        stdout.contains("exhaustion-typed at t+") && stdout.contains("retry-after 120s"),
        "{stdout}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

/// What black-box mode cannot drive is an error naming the field, exit 2.
#[test]
fn an_unsupported_scenario_is_an_error_naming_the_field() {
    let out = gatesim()
        .args(["blackbox", "scenarios/incidents/byok-single-attempt.json"])
        .output()
        .expect("gatesim runs");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("byok: a client's own key is not driven over HTTP yet"),
        "{stderr}"
    );
    let out = gatesim()
        .args(["blackbox", "scenarios/swarm/standard.json"])
        .output()
        .expect("gatesim runs");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("swarm: a swarm world"), "{stderr}");
    let out = gatesim()
        .args([
            "blackbox",
            "scenarios/blackbox/bb-invalid-key-400.json",
            "--gateway",
            "nope",
        ])
        .output()
        .expect("gatesim runs");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("adapters/nope.toml"), "{stderr}");
}

/// `--bench` measures what a gateway adds: every request of the open loop answered, one
/// row for the provider itself and one per gateway.
#[test]
fn the_benchmark_reports_each_target() {
    let out = gatesim()
        .args(["blackbox", "scenarios/bench/loopback.json", "--bench"])
        .args(["--rate", "50", "--seconds", "1"])
        .output()
        .expect("gatesim runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{stdout}");
    for target in ["direct (fake provider)", "reference"] {
        let row = stdout
            .lines()
            .find(|l| l.starts_with(target))
            .unwrap_or_else(|| panic!("a row for {target}\n{stdout}"));
        let cells: Vec<&str> = row[26..].split_whitespace().collect();
        assert_eq!(cells[0], "50", "{row}");
        assert_eq!(cells[1], "50", "every request answered: {row}");
    }
}

/// `--fidelity`: gatesim's own gateway served under a peer's preset over HTTP agrees,
/// invariant by invariant, with the engine under the same preset; held against another
/// preset's engine, the disagreements are found and the exit status says so.
#[test]
fn a_preset_served_over_http_agrees_with_the_engine_under_it() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let dir = std::env::temp_dir().join(format!("gatesim-fidelity-{}", std::process::id()));
    let scenarios = dir.join("scenarios");
    std::fs::create_dir_all(&scenarios).expect("a temp dir");
    for id in [
        "bb-invalid-key-400",
        "bb-model-support-400",
        "bb-retry-after-cap",
        "bb-stream-bootstrap-rotation",
    ] {
        let from = root.join(format!("scenarios/blackbox/{id}.json"));
        std::fs::copy(&from, scenarios.join(format!("{id}.json"))).expect("copy a scenario");
    }
    let adapter = std::fs::read_to_string(root.join("adapters/reference.toml"))
        .expect("the reference adapter")
        .replace("name = \"reference\"", "name = \"serve-aibridge\"")
        .replace(
            r#""serve", "--world", "{world}"]"#,
            r#""serve", "--world", "{world}", "--preset", "aibridge"]"#,
        );
    assert!(adapter.contains("--preset"), "{adapter}");
    let adapter_path = dir.join("serve-aibridge.toml");
    std::fs::write(&adapter_path, adapter).expect("write the adapter");
    let fidelity = |preset: &str| {
        gatesim()
            .args(["blackbox", "--jobs", "4", "--fidelity", preset, "--gateway"])
            .arg(&adapter_path)
            .arg(&scenarios)
            .output()
            .expect("gatesim runs")
    };
    let same = fidelity("aibridge");
    let other = fidelity("reference");
    let _ = std::fs::remove_dir_all(&dir);
    let stdout = String::from_utf8_lossy(&same.stdout);
    assert_eq!(
        same.status.code(),
        Some(0),
        "{stdout}\n{}",
        String::from_utf8_lossy(&same.stderr)
    );
    let summary = stdout
        .lines()
        .find(|l| l.contains("pairs broken by either side"))
        .expect("a summary line");
    let pairs: usize = summary
        .split_whitespace()
        .next()
        .and_then(|n| n.parse().ok())
        .expect("a count");
    assert!(
        pairs >= 4,
        "aibridge's rules break the reference contract: {stdout}"
    );
    assert!(
        summary.ends_with(&format!("{pairs} agree, 0 vary between runs, 0 disagree")),
        "{summary}"
    );
    assert!(
        stdout.contains("| bb-invalid-key-400 | auth-blacklist-global | breaks | 1/1 | agree |"),
        "{stdout}"
    );
    let stdout = String::from_utf8_lossy(&other.stdout);
    assert_eq!(other.status.code(), Some(1), "{stdout}");
    assert!(
        stdout.contains(
            "| bb-invalid-key-400 | auth-blacklist-global | holds | 1/1 | **disagree** |"
        ),
        "{stdout}"
    );
}
