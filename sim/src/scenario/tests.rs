//! Tests of scenario files: a full valid file, defaults, round trips, every broken fixture,
//! the incident library, collected errors, secrets and arbitrary input.

use super::*;
use crate::world::{
    Arrivals, CredentialState, Expectation, FaultKind, Means, OutageMode, RetryStyle, Style,
};
use gatesim_core::{
    Duration, Instant, KeyId, Mode, ModelId, Outcome, Policy, ProjectId, ProviderId, RegionId,
    Regression, RequestKind, Source,
};

/// A file using every feature of the format (every fault kind, generators, swarm).
pub(super) const FULL: &str = r#"{
  "version": 1,
  "id": "full",
  "title": "Every feature once",
  "source": "tests",
  "seed": 7,
  "epoch_unix_s": 1800000000,
  "regions": ["us-east", "singapore"],
  "providers": [
    { "id": "google-ai-studio", "style": "google", "regions": ["us-east"],
      "latency": { "p50": "250ms", "p99": "1.5s" } },
    { "id": "alibaba", "style": "generic", "regions": ["us-east", "singapore"] },
    { "id": "openrouter", "regions": ["us-east"], "accepts_any_model": true }
  ],
  "models": [
    { "id": "gemini-2.5-flash", "served_by": [
        { "provider": "google-ai-studio", "region": "us-east", "upstream": "gemini-2.5-flash-001" } ] },
    { "id": "pool-alias", "alias_of": ["qwen3.5-plus", "glm-5"] },
    { "id": "qwen3.5-plus", "served_by": [
        { "provider": "alibaba", "region": "singapore" }, { "provider": "alibaba", "region": "us-east" } ] },
    { "id": "glm-5", "served_by": [ { "provider": "openrouter", "region": "us-east", "upstream": "z-ai/glm-5" } ] }
  ],
  "credentials": [
    { "id": "k0", "provider": "google-ai-studio", "source": "org" },
    { "id": "k1", "provider": "google-ai-studio", "source": "org", "endpoint": "https://proxy.example/v1" },
    { "id": "env-sg", "provider": "alibaba", "source": "platform", "region": "singapore" },
    { "id": "user", "provider": "openrouter", "source": "byok" }
  ],
  "projects": [ { "id": "p1", "mode": "api-keys" }, { "id": "p2", "mode": "hybrid" }, { "id": "p3", "mode": "credits" } ],
  "policy": { "preset": "reference",
              "overrides": { "attempts_max": 4, "wait_max": "45s", "uptime_bar_bp": 8000, "scopes_max": 100 },
              "regressions": ["invalid-key-400", "SkipCostsBudget"] },
  "faults": [
    { "at": "2m", "until": "5m", "kind": "region_outage", "provider": "alibaba", "region": "singapore", "mode": "timeout" },
    { "at": "0s", "kind": "key_invalid", "credential": "k0", "body": "API key not valid. Please pass a valid API key." },
    { "at": "1m", "until": "3m", "kind": "rate_limit", "credential": "k1", "model": "gemini-2.5-flash",
      "capacity_per_min": 10, "retry_after": "30s", "retry_after_style": "http_date" },
    { "at": "0s", "kind": "key_revoked", "credential": "k1", "status": 403 },
    { "at": "0s", "kind": "model_unsupported", "credential": "k0", "model": "gemini-2.5-flash", "status": 422 },
    { "at": "0s", "until": "1m", "kind": "server_errors", "provider": "alibaba", "rate": 0.25 },
    { "at": "0s", "until": "1m", "kind": "latency_spike", "provider": "openrouter", "extra": "2s" },
    { "at": "0s", "kind": "stream_break", "provider": "google-ai-studio", "credential": "k1", "after_first_byte": true, "rate": 0.5 },
    { "at": "0s", "until": "10s", "kind": "request_invalid" },
    { "at": "4m", "kind": "model_withdrawn", "provider": "openrouter", "upstream": "z-ai/glm-5" },
    { "at": "30s", "until": "90s", "kind": "answer", "means": "rate_limited", "credential": "k0",
      "model": "gemini-2.5-flash", "status": 429,
      "headers": { "retry-after": "5", "x-ratelimit-reset-requests": "5s" }, "rate": 0.5 }
  ],
  "workload": {
    "requests": [
      { "at": "0s", "project": "p1", "model": "gemini-2.5-flash" },
      { "at": "1.5s", "project": "p2", "model": "pool-alias", "stream": true, "agentic_iterations": 3 },
      { "at": "2s", "project": "p1", "model": "alibaba/qwen3.5-plus", "kind": "passthrough", "body_bytes": 4096 },
      { "at": "3s", "project": "p3", "model": "my-custom-model", "byok": "user", "kind": "count_tokens" }
    ],
    "generators": [
      { "from": "10s", "until": "6m", "rate_per_s": 2.5, "project": "p2", "arrivals": "bursts",
        "custom_model_fraction": 0.1,
        "mix": [ { "model": "gemini-2.5-flash", "weight": 9 }, { "model": "pool-alias", "stream": true } ] }
    ]
  },
  "expect": [
    { "request": 0, "outcome": "success", "served_by": "k1", "attempts": 2 },
    { "request": 3, "status": 429 },
    { "credential": "k0", "state_at_end": "blacklisted" },
    { "metric": "client_errors", "max": 0 }
  ],
  "swarm": { "faults": [ { "kind": "rate_limit", "weight": 3, "count_max": 2 }, { "kind": "region_outage" } ] }
}"#;

fn ok(text: &str) -> World {
    match parse(text) {
        Ok(w) => w,
        Err(errors) => panic!("expected a valid scenario, got:\n{}", render(&errors)),
    }
}

fn errors(text: &str) -> Vec<String> {
    match parse(text) {
        Ok(_) => panic!("expected errors, the scenario is valid"),
        Err(errors) => errors.iter().map(ToString::to_string).collect(),
    }
}

pub(super) fn render(errors: &[ScenarioError]) -> String {
    errors.iter().map(|e| format!("  {e}\n")).collect()
}

/// A minimal valid file with `extra` spliced in as further top-level fields.
fn minimal(extra: &str) -> String {
    format!(
        r#"{{ "version": 1, "id": "m", "regions": ["r"],
             "providers": [ {{ "id": "p", "regions": ["r"] }} ],
             "models": [ {{ "id": "m1", "served_by": [ {{ "provider": "p", "region": "r" }} ] }} ],
             "credentials": [ {{ "id": "k0", "provider": "p", "source": "org" }} ],
             "projects": [ {{ "id": "p1", "mode": "api-keys" }} ]{extra} }}"#
    )
}

#[test]
fn full_file_builds_its_catalog() {
    let w = ok(FULL);
    assert_eq!((w.id.as_str(), w.seed), ("full", 7));
    let c = &w.catalog;
    assert_eq!(c.epoch_unix_s, 1_800_000_000);
    assert_eq!(c.regions, ["us-east", "singapore"]);
    assert_eq!(w.providers[0].style, Style::Google);
    assert_eq!(w.providers[0].latency_p99, Duration::from_ms(1500));
    assert_eq!(w.providers[2].style, Style::OpenAi, "default style");
    assert_eq!(
        w.providers[2].latency_p50,
        Duration::from_ms(400),
        "default p50"
    );
    assert!(c.providers[2].accepts_any_model);
    assert_eq!(c.models[0].served_by[0].upstream, "gemini-2.5-flash-001");
    assert_eq!(
        c.models[2].served_by[1].upstream, "qwen3.5-plus",
        "upstream defaults to the id"
    );
    assert_eq!(
        c.models[1].alias_of,
        [ModelId(2), ModelId(3)],
        "aliases may name later models"
    );
    assert_eq!(c.credentials[2].region, Some(RegionId(1)));
    assert_eq!(c.credentials[2].source, Source::Platform);
    assert_eq!(
        c.credentials[1].endpoint.as_deref(),
        Some("https://proxy.example/v1")
    );
    assert_eq!(c.projects[1].mode, Mode::Hybrid);
}

#[test]
fn full_file_builds_its_policy() {
    let w = ok(FULL);
    let p = &w.policy;
    assert_eq!(p.attempts_max, 4);
    assert_eq!(p.wait_max, Duration::from_secs(45));
    assert_eq!(p.uptime_bar_bp, 8000);
    assert_eq!(
        p.retry_after_default,
        Policy::reference().retry_after_default
    );
    assert!(p.has(Regression::InvalidKey400IsRequestError) && p.has(Regression::SkipCostsBudget));
    assert_eq!(p.regressions.iter().count(), 2);
}

#[test]
fn full_file_builds_every_fault_kind() {
    let w = ok(FULL);
    let f = &w.faults.faults;
    assert_eq!(f.len(), 11);
    assert!(f.windows(2).all(|p| p[0].at <= p[1].at), "sorted by start");
    let mut kinds: Vec<&str> = f.iter().map(|f| f.kind.name()).collect();
    kinds.sort_unstable();
    let mut every = FAULT_KINDS.to_vec();
    every.sort_unstable();
    assert_eq!(kinds, every, "one fault of every kind");
    for fault in f {
        match &fault.kind {
            FaultKind::KeyInvalid { status, .. } => assert_eq!(*status, 400, "default status"),
            FaultKind::RateLimit {
                retry_after,
                style,
                capacity_per_min,
                ..
            } => {
                assert_eq!(
                    (*retry_after, *style, *capacity_per_min),
                    (Some(Duration::from_secs(30)), RetryStyle::HttpDate, 10)
                );
            }
            FaultKind::ModelUnsupported {
                upstream, status, ..
            } => {
                assert_eq!(
                    (upstream.as_str(), *status),
                    ("gemini-2.5-flash-001", 422),
                    "model → its upstream"
                );
            }
            FaultKind::ServerErrors {
                rate_bp,
                status,
                region,
                ..
            } => {
                assert_eq!((*rate_bp, *status, *region), (2500, 503, None));
            }
            FaultKind::RegionOutage { mode, .. } => {
                assert_eq!(*mode, OutageMode::Timeout);
                assert_eq!(
                    (fault.at, fault.until),
                    (Instant(120_000), Some(Instant(300_000)))
                );
            }
            FaultKind::StreamBreak {
                rate_bp,
                after_first_byte,
                credential,
                ..
            } => {
                assert_eq!(
                    (*rate_bp, *after_first_byte, *credential),
                    (5000, true, Some(KeyId(1)))
                );
            }
            FaultKind::RequestInvalid { rate_bp } => assert_eq!(*rate_bp, 10_000, "default rate"),
            FaultKind::Answer(a) => full_file_answer(a),
            FaultKind::KeyRevoked { .. }
            | FaultKind::LatencySpike { .. }
            | FaultKind::ModelWithdrawn { .. } => {}
        }
    }
}

/// The rate-limited answer of the full file, as written: only what it names.
fn full_file_answer(a: &crate::world::Answer) {
    assert_eq!(
        (a.means, a.status, a.rate_bp, a.credential, a.provider),
        (Means::RateLimited, 429, 5000, Some(KeyId(0)), None)
    );
    assert_eq!(a.header("Retry-After"), Some("5"), "names ignore case");
    assert_eq!(
        (a.body.as_deref(), a.model.as_deref()),
        (None, Some("gemini-2.5-flash"))
    );
}

#[test]
fn full_file_builds_its_workload_expectations_and_swarm() {
    let w = ok(FULL);
    let r = &w.workload.requests;
    assert_eq!(r[1].at, Instant(1500));
    assert_eq!(
        (r[1].stream, r[1].agentic_iterations, r[1].project),
        (true, 3, ProjectId(1))
    );
    assert_eq!(
        (r[2].kind, r[2].body_bytes),
        (RequestKind::Passthrough, 4096)
    );
    assert_eq!(
        (r[3].kind, r[3].byok),
        (RequestKind::CountTokens, Some(KeyId(3)))
    );
    assert_eq!(
        (r[0].stream, r[0].kind, r[0].agentic_iterations, r[0].byok),
        (false, RequestKind::Chat, 1, None)
    );

    let g = &w.workload.generators[0];
    assert_eq!(
        (g.rate_milli_per_s, g.arrivals, g.custom_model_bp),
        (2500, Arrivals::Bursts { size: 5 }, 1000)
    );
    assert_eq!((g.mix[0].0, g.mix[1].0), (9, 1), "weight defaults to 1");
    assert!(g.mix[1].1.stream);
    assert_eq!(
        w.duration,
        Duration::from_secs(360),
        "default: the latest end (generator until 6m)"
    );

    assert_eq!(
        w.expect[0],
        Expectation::Request {
            index: 0,
            outcome: Some(Outcome::Success),
            status: None,
            served_by: Some(KeyId(1)),
            attempts: Some(2),
            retry_after_s: None,
            hint: None,
            attempt_order: None,
        }
    );
    assert_eq!(
        w.expect[2],
        Expectation::CredentialState {
            credential: KeyId(0),
            state: CredentialState::Blacklisted
        }
    );
    assert_eq!(w.swarm.len(), 2);
    assert_eq!(
        (w.swarm[1].weight, w.swarm[1].count_max),
        (1, 1),
        "swarm defaults"
    );
}

#[test]
fn defaults_of_a_minimal_file() {
    let w = ok(&minimal(""));
    assert_eq!(
        (w.seed, w.duration, w.title.as_str(), w.source.as_str()),
        (0, Duration::ZERO, "", "")
    );
    assert_eq!(w.catalog.epoch_unix_s, EPOCH_UNIX_S_DEFAULT);
    assert_eq!(w.policy, Policy::reference());
    assert!(w.faults.faults.is_empty() && w.workload.requests.is_empty() && w.swarm.is_empty());
    assert_eq!(w.catalog.providers[0].regions, [RegionId(0)]);
    assert_eq!(w.catalog.credentials[0].provider, ProviderId(0));
}

#[test]
fn duration_defaults_to_the_latest_end() {
    let faults = r#", "faults": [ { "at": "1m", "until": "4m", "kind": "request_invalid" }, { "at": "5m", "kind": "request_invalid" } ]"#;
    let requests =
        r#", "workload": { "requests": [ { "at": "2m", "project": "p1", "model": "m1" } ] }"#;
    assert_eq!(
        ok(&minimal(faults)).duration,
        Duration::from_secs(300),
        "an open fault counts by its start"
    );
    assert_eq!(ok(&minimal(requests)).duration, Duration::from_secs(120));
    let both = format!("{faults}{requests}");
    assert_eq!(ok(&minimal(&both)).duration, Duration::from_secs(300));
    let late = r#", "duration": "1m", "workload": { "requests": [ { "at": "2m", "project": "p1", "model": "m1" } ] }"#;
    let e = errors(&minimal(late));
    assert!(
        e.iter()
            .any(|e| e == "workload.requests[0].at: after the scenario's duration (2m > 1m)"),
        "{e:?}"
    );
}

#[test]
fn full_file_round_trips() {
    let w = ok(FULL);
    let text = to_json(&w);
    assert_eq!(parse(&text).as_ref(), Ok(&w), "{text}");
    assert_eq!(to_json(&ok(&text)), text, "writing is stable");
    assert!(text.contains("\"retry_after_style\": \"http_date\""));
    assert!(text.contains("\"rate_per_s\": 2.5") && text.contains("\"extra\": \"2s\""));
    assert!(text.contains(
        "\"regressions\": [\n      \"InvalidKey400IsRequestError\",\n      \"SkipCostsBudget\""
    ));
}

#[test]
fn written_durations_use_the_largest_exact_unit() {
    let mut w = ok(FULL);
    w.duration = Duration::from_ms(5_400_000);
    w.policy.wait_max = Duration::from_ms(1500);
    let text = to_json(&w);
    assert!(text.contains("\"duration\": \"90m\""), "{text}");
    assert!(text.contains("\"wait_max\": \"1500ms\""), "{text}");
    assert_eq!(parse(&text), Ok(w));
}

#[test]
fn every_problem_is_reported_not_just_the_first() {
    let text = r#"{
      "version": 1, "id": "many", "regions": ["r"], "typo": 1,
      "providers": [ { "id": "p", "regions": ["r"], "stlye": "openai" }, { "id": "q", "regions": ["nowhere"] } ],
      "models": [ { "id": "m1", "served_by": [ { "provider": "p", "region": "r" } ] } ],
      "credentials": [ { "id": "k0", "provider": "p", "source": "org" }, { "id": "k1", "provider": "zz", "source": "own" } ],
      "projects": [ { "id": "p1", "mode": "api-keys" } ],
      "faults": [
        { "at": "5m", "until": "2m", "kind": "key_invalid", "credential": "k0", "rate": 0.5 },
        { "at": "1x", "kind": "rate_limit", "credential": "k7" }
      ],
      "workload": { "requests": [ { "at": "0s", "project": "p2", "model": "m2", "agentic_iterations": 0 } ] }
    }"#;
    let e = errors(text);
    for expected in [
        "typo: unknown field",
        "providers[0].stlye: unknown field (did you mean \"style\"?)",
        "providers[1].regions[0]: unknown region \"nowhere\" (known: r)",
        "credentials[1].provider: unknown provider \"zz\"",
        "credentials[1].source: unknown source \"own\" (known: org, platform, byok)",
        "faults[0].until: before faults[0].at (2m < 5m)",
        "faults[0].rate: not a field of key_invalid",
        "faults[1].at: \"1x\" is not a duration",
        "faults[1].credential: unknown credential \"k7\" (known: k0, k1)",
        "workload.requests[0].project: unknown project \"p2\" (known: p1)",
        "workload.requests[0].model: unknown model \"m2\"",
        "workload.requests[0].agentic_iterations: 0 (at least 1 upstream call)",
    ] {
        assert!(
            e.iter().any(|m| m.starts_with(expected)),
            "missing {expected:?} in:\n{}",
            e.join("\n")
        );
    }
    assert_eq!(e.len(), 12, "no cascades, no duplicates:\n{}", e.join("\n"));
}

#[test]
fn an_unreadable_element_does_not_cascade_into_unknown_references() {
    // credentials[0] cannot be read at all (no id): references to credentials stay quiet.
    let text =
        minimal(r#", "faults": [ { "at": "0s", "kind": "key_revoked", "credential": "k0" } ]"#)
            .replace(
                r#"{ "id": "k0", "provider": "p", "source": "org" }"#,
                r#"{ "provider": "p", "source": "org" }"#,
            );
    let e = errors(&text);
    assert_eq!(e, ["credentials[0].id: missing (this field is required)"]);
}

#[test]
fn a_wrong_value_is_not_reported_again_as_missing() {
    let e = errors(&minimal("").replace(r#""version": 1"#, r#""version": "1""#));
    assert_eq!(
        e,
        [r#"version: invalid type: string "1", expected an integer of 0 or more"#]
    );
    let e = errors(&minimal("").replace(r#""mode": "api-keys""#, r#""mode": 3"#));
    assert_eq!(
        e,
        ["projects[0].mode: invalid type: integer `3`, expected a string"]
    );
}

#[test]
fn syntax_errors_give_line_and_column() {
    let e = parse("{\n  \"version\": 1,\n  \"id\": \n}").expect_err("bad json");
    assert!(
        matches!(
            e[0],
            ScenarioError::Syntax {
                line: 4,
                column: 1,
                ..
            }
        ),
        "{e:?}"
    );
    assert!(e[0].to_string().starts_with("line 4, column 1: "));
    let e = errors("[1, 2]");
    assert_eq!(
        e,
        ["(file): a scenario is a JSON object ({ \"version\": 1, ... })"]
    );
    let e = errors("{ \"version\": 1, \"version\": 1 }");
    assert!(e[0].contains("duplicate key \"version\""), "{e:?}");
    assert_eq!(errors(""), ["line 1, column 0: EOF while parsing a value"]);
}

#[test]
fn secrets_are_rejected_wherever_they_are_and_never_echoed() {
    let secret = format!("sk-proj-{}", "Ab3De5Gh7Jk9".repeat(4));
    let google = format!("AIzaSy{}", "Xy7".repeat(12));
    let places = [
        minimal("").replace(
            "\"k0\", \"provider\"",
            &format!("\"{secret}\", \"provider\""),
        ),
        minimal(&format!(r#", "title": "leaked {google} here""#)),
        minimal("").replace(
            "\"source\": \"org\" }",
            &format!("\"source\": \"org\", \"endpoint\": \"https://x.example/v1?key={google}\" }}"),
        ),
        minimal(&format!(r#", "{secret}": 1"#)),
        minimal(&format!(r#", "seed": "{secret}""#)),
    ];
    for text in &places {
        let shown = render(&parse(text).expect_err("a secret is an error"));
        assert!(shown.contains("looks like a real API key"), "{shown}");
        assert!(shown.contains("never secrets"), "{shown}");
        assert!(
            !shown.contains(&secret) && !shown.contains(&google),
            "echoed: {shown}"
        );
        assert!(text::find_secret(&shown).is_none(), "echoed: {shown}");
    }
}

#[test]
fn fault_kinds_take_only_their_own_fields() {
    let fault = |body: &str| {
        errors(&minimal(&format!(
            r#", "faults": [ {{ "at": "0s", {body} }} ]"#
        )))
    };
    let e = fault(r#""kind": "key_invalid", "credential": "k0", "capacity_per_min": 5"#);
    assert!(e[0].starts_with("faults[0].capacity_per_min: not a field of key_invalid (its fields: at, until, credential, status, body)"), "{e:?}");
    let e = fault(r#""kind": "region_outage", "provider": "p""#);
    assert_eq!(e, ["faults[0].region: missing (region_outage needs it)"]);
    let e = fault(r#""kind": "rate_limit", "credential": "k0", "retry_after_style": "seconds ""#);
    assert!(e[0].starts_with("faults[0].retry_after_style: unknown retry_after_style \"seconds \" (known: seconds, http_date, ms, none)"), "{e:?}");
    let e = fault(r#""kind": "model_unsupported", "credential": "k0", "upstream": "m9""#);
    assert!(e[0].starts_with("faults[0].upstream: provider \"p\" serves no upstream model \"m9\" (its upstreams: m1)"), "{e:?}");
    let e = fault(r#""kind": "server_errors", "provider": "p""#);
    assert!(e[0].starts_with("faults[0].rate: missing"), "{e:?}");
    let e = fault(r#""kind": "latency_spike", "provider": "p", "extra": "-1s""#);
    assert!(e[0].contains("is negative"), "{e:?}");
}

#[test]
fn model_unsupported_wording_is_checked_with_its_statuses() {
    let fault = |body: &str| {
        minimal(&format!(
            r#", "faults": [ {{ "at": "0s", "kind": "model_unsupported", "credential": "k0", "upstream": "m1", {body} }} ]"#
        ))
    };
    let kind_of = |text: &str| ok(text).faults.faults[0].kind.clone();
    let wording_status = |text: &str| match kind_of(text) {
        FaultKind::ModelUnsupported {
            wording, status, ..
        } => (wording, status),
        other => panic!("not model_unsupported: {other:?}"),
    };
    use crate::world::UnsupportedWording as W;
    assert_eq!(wording_status(&fault(r#""status": 422"#)), (W::Style, 422));
    assert_eq!(
        wording_status(&fault(r#""wording": "unknown_model""#)),
        (W::UnknownModel, 400)
    );
    assert_eq!(
        wording_status(&fault(r#""wording": "azure_deployment""#)),
        (W::AzureDeployment, 404),
        "Azure's DeploymentNotFound is a 404 unless told otherwise"
    );
    assert_eq!(
        wording_status(&fault(r#""wording": "azure_deployment", "status": 400"#)),
        (W::AzureDeployment, 400)
    );
    assert_eq!(
        wording_status(&fault(r#""wording": "not_found""#)),
        (W::NotFound, 404)
    );

    // A shrunk scenario keeps the wording; the style's own is left implicit.
    let w = ok(&fault(r#""wording": "azure_deployment""#));
    let text = to_json(&w);
    assert!(text.contains("\"wording\": \"azure_deployment\""), "{text}");
    assert_eq!(parse(&text).as_ref(), Ok(&w), "{text}");
    assert!(!to_json(&ok(&fault(r#""status": 400"#))).contains("wording"));

    let e = errors(&fault(r#""wording": "missing_model""#));
    assert_eq!(
        e,
        ["faults[0].wording: unknown wording \"missing_model\" (known: style, unknown_model, azure_deployment, not_found)"]
    );
    let e = errors(&fault(r#""wording": "not_found", "status": 400"#));
    assert_eq!(
        e,
        ["faults[0].status: 400 is not a status model_unsupported answers with wording \"not_found\" (404)"]
    );
    let e = errors(&fault(r#""status": 404"#));
    assert_eq!(
        e,
        ["faults[0].status: 404 is not a status model_unsupported answers with the provider's own wording (400 or 422)"]
    );
    let e = errors(&fault(r#""wording": "unknown_model", "body": "nope""#));
    assert_eq!(
        e,
        ["faults[0].wording: given with body (the body replaces the wording: give one)"]
    );
    let e = errors(&minimal(
        r#", "faults": [ { "at": "0s", "kind": "key_invalid", "credential": "k0", "wording": "not_found" } ]"#,
    ));
    assert!(
        e[0].starts_with("faults[0].wording: not a field of key_invalid"),
        "{e:?}"
    );
}

#[test]
fn request_models_resolve_like_the_gateway() {
    let req = |model: &str| {
        minimal(&format!(
            r#", "workload": {{ "requests": [ {{ "at": "0s", "project": "p1", "model": "{model}" }} ] }}"#
        ))
    };
    ok(&req("m1"));
    ok(&req("p/m1"));
    assert!(errors(&req("p/nope"))[0].contains("provider \"p\" does not accept any model"));
    assert!(
        errors(&req("custom"))[0].contains("custom names need a provider with accepts_any_model")
    );
    let any = req("custom").replace(
        r#""regions": ["r"] }"#,
        r#""regions": ["r"], "accepts_any_model": true }"#,
    );
    ok(&any);
    ok(&any.replace("\"custom\"", "\"p/custom\""));
}

#[test]
fn compound_and_fractional_durations() {
    let w = ok(&minimal(
        r#", "duration": "1m30s", "faults": [ { "at": "0.25s", "kind": "request_invalid" } ]"#,
    ));
    assert_eq!(w.duration, Duration::from_secs(90));
    assert_eq!(w.faults.faults[0].at, Instant(250));
    assert_eq!(format_duration(90_000), "90s");
    assert_eq!(parse_duration("1h"), Ok(3_600_000));
}

mod answer;
mod bad_input;
mod contract;
mod expect_pins;
mod fixed_latency;
mod library;
mod presets;
