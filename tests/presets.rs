//! The preset matrix (`gatesim matrix --presets`, docs/presets.md): every incident under
//! every peer's rules. The documented table is the matrix's output, so the two cannot
//! drift; the reference column holds everywhere; and each peer breaks, on the incidents
//! where its documented rules differ, the invariant those rules break.

use gatesim_sim::presets;
use gatesim_tests::{load, root};

fn matrix() -> presets::PresetMatrix {
    let files = gatesim_sim::cli::scenario_files(&root().join("scenarios/incidents"))
        .expect("the incident library");
    let worlds: Vec<_> = files
        .iter()
        .map(|f| load(f.strip_prefix(root()).expect("under the root")))
        .collect();
    presets::build(&worlds, &|| {})
}

#[test]
fn the_documented_preset_matrix_is_the_matrix() {
    let m = matrix();
    assert!(!m.has_errors(), "{}", m.render());
    let doc = std::fs::read_to_string(root().join("docs/presets.md")).expect("docs/presets.md");
    let start = doc
        .find("<!-- preset-matrix:start -->\n")
        .expect("a start marker")
        + "<!-- preset-matrix:start -->\n".len();
    let end = doc
        .find("<!-- preset-matrix:end -->")
        .expect("an end marker");
    assert_eq!(
        &doc[start..end],
        m.render(),
        "docs/presets.md is out of date: paste `cargo gatesim matrix --presets` between the markers"
    );
}

#[test]
fn each_peer_breaks_what_its_rules_break_and_the_reference_nothing() {
    let m = matrix();
    let column = |preset: &str| m.presets.iter().position(|p| *p == preset).expect(preset);
    let broke = |incident: &str, preset: &str| -> Vec<&'static str> {
        let row = m.rows.iter().find(|r| r.id == incident).expect(incident);
        row.failed[column(preset)].clone().expect("the run ends")
    };
    for row in &m.rows {
        assert_eq!(row.failed[column("reference")], Ok(vec![]), "{}", row.id);
    }
    // (incident, preset, invariant): a documented rule of the peer, caught.
    for (incident, preset, invariant) in [
        // llmgateway never reads Retry-After for key health (peers.md A2.8).
        ("longer-cooldown-wins", "llmgateway", "cooldown-respected"),
        // CLIProxyAPI rests an auth failure 30 min on one model only (A3.6).
        (
            "auth-blacklist-global",
            "cliproxyapi",
            "auth-blacklist-global",
        ),
        // CLIProxyAPI rotates round-robin (A3.20).
        ("walker-primary-first", "cliproxyapi", "primary-first"),
        // No cap on hints: CLIProxyAPI #5770, aibridge, LiteLLM (F3).
        ("retry-after-cap", "cliproxyapi", "recovers-after-cooldown"),
        ("retry-after-cap", "aibridge", "recovers-after-cooldown"),
        ("retry-after-cap", "litellm", "recovers-after-cooldown"),
        // aibridge reads the status only (A1.3): an invalid key's 400 goes to the client.
        ("invalid-key-400", "aibridge", "auth-blacklist-global"),
        // aibridge rests a 401ing key 60 s, then sends it again (coder#27419).
        ("auth-blacklist-global", "aibridge", "auth-blacklist-global"),
        // LiteLLM: model-support errors are terminal (F6).
        ("model-support-400", "litellm", "suspension-sticky"),
        // LiteLLM passes an OpenAI-style invalid key's 400 on as a bad request (F5) ...
        ("invalid-key-code", "litellm", "no-false-exhaustion"),
        // ... and ends a request whose stream broke before its first byte (F7, #29808).
        (
            "stream-bootstrap-rotation",
            "litellm",
            "no-false-exhaustion",
        ),
        // aibridge does not wait for a cooldown when every key is cooling.
        ("alias-cooldown-wait", "aibridge", "waits-for-cooldown"),
    ] {
        assert!(
            broke(incident, preset).contains(&invariant),
            "{incident} under {preset}: {:?}, expected {invariant}",
            broke(incident, preset)
        );
    }
    // LiteLLM sleeps for a cooldown of up to 60 s before a retry (A4.9).
    assert_eq!(broke("alias-cooldown-wait", "litellm"), Vec::<&str>::new());
    // And where a peer's rules are the reference's, it holds.
    assert_eq!(
        broke("auth-blacklist-global", "llmgateway"),
        Vec::<&str>::new()
    );
    assert_eq!(broke("invalid-key-400", "llmgateway"), Vec::<&str>::new());
}

/// docs/presets/forbidden-per-request.json: a 403 declared as the request's own answer
/// (a model the project may not use, coder#27419's AIGOV-533). The reference's rule, a 403
/// is a failed authentication, is wrong here and the contract says so; aibridge's, a 403
/// passed on with the key unmarked, is right. The same contract judges both.
#[test]
fn a_per_request_403_fails_the_reference_and_passes_aibridge() {
    use gatesim_sim::runner::{judge, Judge};
    let world = load(std::path::Path::new(
        "docs/presets/forbidden-per-request.json",
    ));
    let verdict = |preset: &str| {
        let w = presets::under(&world, preset).expect(preset);
        judge(&w, w.seed, Judge::default()).expect("runs")
    };
    let reference = verdict("reference");
    let failed = reference.failed_invariants();
    assert!(
        failed.contains(&"terminal-request-invalid"),
        "the reference blacklists both keys on a per-request 403: {failed:?}"
    );
    assert!(
        !reference.failed_expectations.is_empty(),
        "and the gpt-4o requests after it find no key"
    );
    let aibridge = verdict("aibridge");
    assert!(
        aibridge.passed(),
        "aibridge passes the 403 on and keeps both keys: {:?} {:?}",
        aibridge.violations,
        aibridge.failed_expectations
    );
}
