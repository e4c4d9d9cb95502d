//! Hostile and absurd input (issue 15): each case is a field-path error or a documented
//! bound, never a panic, overflow, unbounded allocation or silently changed value.

use super::{errors, minimal, ok};
use crate::scenario::read_json;

/// `minimal` with `json` spliced into its provider object.
fn with_provider(json: &str) -> String {
    minimal("").replace(
        r#"{ "id": "p", "regions": ["r"] }"#,
        &format!(r#"{{ "id": "p", "regions": ["r"], {json} }}"#),
    )
}

fn one_error(text: &str) -> String {
    let e = errors(text);
    assert_eq!(e.len(), 1, "{e:?}");
    e[0].clone()
}

#[test]
fn f01_a_run_of_dashes_is_an_error_not_a_stack_overflow() {
    let dashes = "-".repeat(40_000);
    let e = one_error(&minimal(&format!(r#", "duration": "{dashes}""#)));
    assert!(e.starts_with(r#"duration: "----"#), "{e}");
    assert!(
        e.ends_with("… (40000 characters) is not a duration (use ms, s, m, h or d)"),
        "{e}"
    );
    assert!(
        e.len() < 200,
        "the value is not echoed whole: {} bytes",
        e.len()
    );
}

#[test]
fn f02_latencies_are_at_most_an_hour() {
    let e = one_error(&with_provider(
        r#""latency": { "p50": "100ms", "p99": "9223372036854775808ms" }"#,
    ));
    assert_eq!(
        e,
        r#"providers[0].latency.p99: "9223372036854775808ms" is too long (at most 1h)"#
    );
    let e = errors(&with_provider(
        r#""latency": { "p50": "61m", "p99": "2h" }"#,
    ));
    assert!(
        e[0].starts_with("providers[0].latency.p50: \"61m\" is too long"),
        "{e:?}"
    );
    ok(&with_provider(r#""latency": { "p50": "1h", "p99": "1h" }"#));
}

#[test]
fn f03_f16b_durations_are_at_most_ten_years() {
    let e = one_error(&minimal(r#", "duration": "6148914691236517206ms""#));
    assert_eq!(
        e,
        r#"duration: "6148914691236517206ms" is too long (at most 10 years (3650d))"#
    );
    ok(&minimal(r#", "duration": "87600h""#));
    ok(&minimal(r#", "duration": "3650d""#));
    let e = one_error(&minimal(r#", "duration": "3650d1ms""#));
    assert_eq!(
        e,
        r#"duration: "3650d1ms" is too long (at most 10 years (3650d))"#
    );
    let generator = r#", "workload": { "generators": [ { "from": "5124099990h",
        "until": "5124100000h", "rate_per_s": 1, "project": "p1",
        "mix": [ { "model": "m1" } ] } ] }"#;
    let e = errors(&minimal(generator));
    assert!(
        e.iter()
            .any(|e| e.starts_with("workload.generators[0].from: \"5124099990h\" is too long")),
        "{e:?}"
    );
}

#[test]
fn f04_a_swarm_draws_at_most_100_faults_of_a_kind() {
    let swarm = |n: u64| {
        minimal(&format!(
            r#", "swarm": {{ "faults": [ {{ "kind": "latency_spike", "count_max": {n} }} ] }}"#
        ))
    };
    assert_eq!(
        one_error(&swarm(4_294_967_295)),
        "swarm.faults[0].count_max: 4294967295 is too many (at most 100)"
    );
    ok(&swarm(100));
}

#[test]
fn f05_a_scenario_id_is_a_safe_file_name() {
    for id in [
        "../../escaped/pwned",
        "/tmp/fuzz/escaped/abs-pwned",
        ".hidden",
        "a\\b",
    ] {
        let text = minimal("").replace(r#""id": "m""#, &format!(r#""id": {id:?}"#));
        let e = one_error(&text);
        assert!(e.starts_with("id: "), "{e}");
        assert!(e.contains("is not a safe file name"), "{e}");
    }
    ok(&minimal("").replace(r#""id": "m""#, r#""id": "invalid-key-400.v2_b""#));
}

#[test]
fn f06_read_json_rejects_duplicate_keys_like_scenario_files() {
    let e =
        read_json(r#"{ "preset": "reference", "preset": "naive" }"#).expect_err("a duplicate key");
    assert!(e.to_string().contains("duplicate key \"preset\""), "{e}");
    assert!(read_json(r#"{ "preset": "reference" }"#).is_ok());
}

#[test]
fn f14a_keys_with_control_characters_are_quoted_in_paths() {
    let e = one_error(&with_provider(r#""x\nfake.path: looks fine\n  ok": 1"#));
    assert!(
        e.starts_with(r#"providers[0]["x\nfake.path: looks fine\n  ok"]: unknown field"#),
        "{e}"
    );
    let e = one_error(&minimal(r#", "\u001b]0;pwned\u0007title": 1"#));
    assert!(!e.chars().any(char::is_control), "{e:?}");
}

#[test]
fn f14b_titles_and_model_names_have_no_control_characters() {
    let e = one_error(&minimal(r#", "title": "T\u001b[31mRED\nfake line""#));
    assert_eq!(
        e,
        r#"title: "T\u001b[31mRED\nfake line" contains a control character"#
    );
    let request = r#", "workload": { "requests": [ { "at": "0s", "project": "p1",
        "model": "evil\n t+9.999s req#7 forged" } ] }"#;
    let e = one_error(&minimal(request));
    assert_eq!(
        e,
        r#"workload.requests[0].model: "evil\n t+9.999s req#7 forged" contains a control character"#
    );
    let e = one_error(&minimal("").replace(r#""k0", "provider""#, r#""k\u0007", "provider""#));
    assert!(
        e.contains("contains whitespace or a control character"),
        "{e}"
    );
}

#[test]
fn f15_anthropic_keys_with_short_segments_are_secrets() {
    let key = "sk-ant-api03-CXM4RJmHYLYx_EsXjeqgPQ_YzxfBXqCPhQ6P_UeuIoyMfaCeE3V574qP-x-g89_qd-ZLyNXDgwCukZ1-sXKVP3gqSVi0kAA";
    let e = one_error(&minimal(&format!(r#", "title": "key {key}""#)));
    assert!(e.contains("looks like a real API key (sk-ant-api…)"), "{e}");
    assert!(!e.contains("CXM4"), "echoed: {e}");
    ok(&minimal(r#", "title": "sk-ant-api-key-label""#));
}

#[test]
fn f16a_a_latency_spike_is_at_most_an_hour() {
    let fault = r#", "faults": [ { "at": "0s", "kind": "latency_spike", "provider": "p",
        "extra": "18446744073709551615ms" } ]"#;
    assert_eq!(
        one_error(&minimal(fault)),
        r#"faults[0].extra: "18446744073709551615ms" is too long (at most 1h)"#
    );
}

#[test]
fn f10c_an_unknown_metric_is_a_load_error() {
    let expect = r#", "expect": [ { "metric": "latency_p99", "max": 5 } ]"#;
    let e = one_error(&minimal(expect));
    assert!(
        e.starts_with(
            r#"expect[0].metric: unknown metric "latency_p99" (did you mean "latency_p99_ms"? known: "#
        ),
        "{e}"
    );
    ok(&minimal(
        r#", "expect": [ { "metric": "client_errors", "max": 0 } ]"#,
    ));
    ok(&minimal(
        r#", "expect": [ { "metric": "outcome_no_route", "max": 0 } ]"#,
    ));
    let e = one_error(&minimal(
        r#", "expect": [ { "metric": "outcome_typo", "max": 0 } ]"#,
    ));
    assert!(
        e.starts_with(r#"expect[0].metric: unknown metric "outcome_typo""#),
        "{e}"
    );
}

#[test]
fn f12_checking_many_ids_is_not_quadratic() {
    let n = 100_000;
    let credentials: Vec<String> = (0..n)
        .map(|i| format!(r#"{{ "id": "k{i}", "provider": "p", "source": "org" }}"#))
        .collect();
    let text = minimal("").replace(
        r#"{ "id": "k0", "provider": "p", "source": "org" }"#,
        &credentials.join(", "),
    );
    // Quadratic was ~5e9 comparisons (22 s in release); this is a step count, not a timing.
    let w = ok(&text);
    assert_eq!(w.catalog.credentials.len(), n);
}

#[test]
fn f11a_a_workload_beyond_the_arrivals_limit_is_an_error_not_truncated() {
    let generator = |until: &str| {
        format!(
            r#"{{ "from": "0s", "until": "{until}", "rate_per_s": 2600, "project": "p1",
            "mix": [ {{ "model": "m1" }} ] }}"#
        )
    };
    let two = |until: &str| {
        minimal(&format!(
            r#", "workload": {{ "generators": [ {g}, {g} ] }}"#,
            g = generator(until)
        ))
    };
    assert_eq!(
        one_error(&two("1000s")),
        "workload: would make about 5200000 requests in all (at most 5000000 per run)"
    );
    ok(&two("900s"));
}

#[test]
fn f10b_agentic_iterations_are_at_most_100() {
    let request = |n: u32| {
        minimal(&format!(
            r#", "workload": {{ "requests": [ {{ "at": "0s", "project": "p1", "model": "m1",
            "agentic_iterations": {n} }} ] }}"#
        ))
    };
    assert_eq!(
        one_error(&request(101)),
        "workload.requests[0].agentic_iterations: 101 is too many (at most 100)"
    );
    ok(&request(100));
}

#[test]
fn f11b_providers_times_regions_is_at_most_100_000() {
    let regions: Vec<String> = (0..1001).map(|i| format!("\"r{i}\"")).collect();
    let providers: Vec<String> = (0..1000)
        .map(|i| format!(r#"{{ "id": "p{i}", "regions": ["r"] }}"#))
        .collect();
    let text = minimal("")
        .replace(
            r#""regions": ["r"],"#,
            &format!(r#""regions": ["r", {}],"#, regions.join(", ")),
        )
        .replace(
            r#"{ "id": "p", "regions": ["r"] }"#,
            &format!(
                r#"{{ "id": "p", "regions": ["r"] }}, {}"#,
                providers.join(", ")
            ),
        );
    assert_eq!(
        one_error(&text),
        "providers: 1001 providers × 1002 regions is too many (at most 100000 pairs)"
    );
}

/// F13: serde reads a struct from a positional array too (`["k0", "google-ai-studio",
/// "org"]`). That second syntax is undocumented and changes meaning when a field is
/// added, so every place that takes an object refuses an array, naming the field.
#[test]
fn f13_positional_arrays_are_refused_where_objects_are_expected() {
    let e = one_error(&with_provider(r#""latency": ["100ms", "300ms"]"#));
    assert_eq!(
        e,
        "providers[0].latency: a positional array is not accepted here: write an object with named fields (p50, p99, fixed)"
    );
    let text = minimal("").replacen(
        r#"{ "id": "p", "regions": ["r"] }"#,
        r#"["p", "google", ["r"]]"#,
        1,
    );
    assert!(
        text.contains(r#"["p", "google""#),
        "the provider was replaced: {text}"
    );
    let e = errors(&text);
    assert!(
        e.iter().any(|e| e.starts_with(
            "providers[0]: a positional array is not accepted here: write an object with named fields (id, style, regions, …)"
        )),
        "{e:?}"
    );
    let e = errors(&minimal(
        r#", "workload": [[["0s", "p1", "m1"]]], "expect": [[0, "success"]]"#,
    ));
    for field in ["workload", "expect[0]"] {
        let prefix = format!("{field}: a positional array is not accepted here");
        assert!(e.iter().any(|e| e.starts_with(&prefix)), "{field}: {e:?}");
    }
    let e = one_error(&format!("[{}]", minimal("")));
    assert_eq!(
        e,
        r#"(file): a scenario is a JSON object ({ "version": 1, ... })"#
    );
    // Arrays stay arrays where the format has lists.
    ok(&minimal(""));
}
