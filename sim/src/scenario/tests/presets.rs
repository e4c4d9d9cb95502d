//! Policy presets and capabilities: every shipped preset loads clean, a preset by name
//! sets its rules, capabilities are read, checked at their field and written back, and the
//! contract takes none of them.

use super::{errors, minimal, ok};
use crate::scenario::{preset, preset_names, to_json, PRESETS};
use gatesim_core::{
    AuthFailure, CooldownMerge, Duration, ExhaustionAnswer, Forbidden, InvalidKeyBodies,
    KeySelection, ModelSupport, Policy, RateLimitBackoff, RetryAfterForms, SameKeyRetries,
    UnhealthyRule,
};

#[test]
fn every_shipped_preset_loads_clean_and_the_files_match_the_embedded_text() {
    assert_eq!(
        preset_names().collect::<Vec<_>>(),
        [
            "reference",
            "llmgateway",
            "cliproxyapi",
            "aibridge",
            "litellm"
        ]
    );
    for (name, text) in PRESETS {
        // The same text a user reads and passes as `--policy`.
        let on_disk = std::fs::read_to_string(format!("../presets/{name}.json")).expect("file");
        assert_eq!(&on_disk, text, "{name}");
        // As a scenario's whole policy section, it loads without a problem.
        let w = ok(&minimal(&format!(r#", "policy": {text}"#)));
        assert_eq!(Some(w.policy.clone()), preset(name), "{name}");
        let by_name = ok(&minimal(&format!(
            r#", "policy": {{ "preset": "{name}" }}"#
        )));
        assert_eq!(by_name.policy, w.policy, "{name} by name");
        assert!(
            text.contains("\"about\""),
            "{name} says where its rules come from"
        );
    }
    assert_eq!(preset("reference"), Some(Policy::reference()));
    assert_eq!(preset("nginx"), None);
}

#[test]
fn the_peer_presets_differ_from_the_reference_where_the_peers_do() {
    let get = |n: &str| preset(n).expect("shipped");
    let aibridge = get("aibridge");
    assert_eq!(
        aibridge.auth_failure,
        AuthFailure::Cooldown(Duration::from_secs(60))
    );
    assert_eq!(aibridge.forbidden, Forbidden::PassedOn);
    assert!(!aibridge.upstream_errors_fail_over);
    assert!(!aibridge.retry_after_forms.http_date && aibridge.retry_after_forms.ms);
    let cli = get("cliproxyapi");
    assert_eq!(
        cli.auth_failure,
        AuthFailure::ModelCooldown(Duration::from_secs(1800))
    );
    assert_eq!(cli.key_selection, KeySelection::RoundRobin);
    assert!(matches!(
        cli.rate_limit_backoff,
        RateLimitBackoff::Exponential { .. }
    ));
    let llm = get("llmgateway");
    assert_eq!(llm.auth_failure, AuthFailure::Blacklist);
    assert_eq!(llm.rate_limit_backoff, RateLimitBackoff::AsError);
    assert_eq!(llm.exhaustion_answer, ExhaustionAnswer::LastError);
    assert_eq!(llm.retry_after_forms, RetryAfterForms::NONE);
    let lite = get("litellm");
    assert_eq!(lite.cooldown_merge, CooldownMerge::Overwrite);
    assert_eq!(lite.model_support, ModelSupport::Terminal);
    assert_eq!(lite.retry_after_default, Duration::from_secs(5));
}

#[test]
fn user_overrides_go_on_top_of_a_preset() {
    let w = ok(&minimal(
        r#", "policy": { "preset": "litellm", "overrides": { "cooldown_merge": "max",
              "attempts_max": 5 } }"#,
    ));
    let mut want = preset("litellm").expect("shipped");
    want.cooldown_merge = CooldownMerge::Max;
    want.attempts_max = 5;
    assert_eq!(w.policy, want);
    // Written back as reference + overrides, it is the same policy.
    assert_eq!(ok(&to_json(&w)).policy, w.policy);
}

#[test]
fn every_capability_is_read_and_written_back() {
    let w = ok(&minimal(
        r#", "policy": { "overrides": {
              "auth_failure": { "model_cooldown": "30m" },
              "forbidden": "next_key",
              "invalid_key_bodies": "wording",
              "upstream_retry_after_passed_on": false,
              "stream_breaks_fail_over": false,
              "unhealthy_rule": { "error_ratio": { "above_bp": 5000, "min_requests": 5 } },
              "retried_failures_mark_health": false,
              "same_key_retries": { "max": 2, "backoff": "1s" },
              "upstream_errors_fail_over": false,
              "model_support": "terminal",
              "cooldown_merge": "keep_first",
              "retry_after_forms": ["seconds"],
              "rate_limit_backoff": { "exponential": { "base": "2s", "cap": "1m" } },
              "exhaustion_answer": "bare_429",
              "key_selection": "round_robin" } }"#,
    ));
    let p = &w.policy;
    assert_eq!(
        p.auth_failure,
        AuthFailure::ModelCooldown(Duration::from_secs(1800))
    );
    assert_eq!(p.forbidden, Forbidden::NextKey);
    assert_eq!(p.invalid_key_bodies, InvalidKeyBodies::Wording);
    assert!(!p.upstream_retry_after_passed_on && !p.stream_breaks_fail_over);
    assert!(!p.retried_failures_mark_health);
    assert_eq!(
        p.same_key_retries,
        Some(SameKeyRetries {
            max: 2,
            backoff: Duration::from_secs(1)
        })
    );
    assert_eq!(
        p.unhealthy_rule,
        UnhealthyRule::ErrorRatio {
            above_bp: 5000,
            min_requests: 5
        }
    );
    assert!(!p.upstream_errors_fail_over);
    assert_eq!(p.model_support, ModelSupport::Terminal);
    assert_eq!(p.cooldown_merge, CooldownMerge::KeepFirst);
    assert_eq!(
        p.retry_after_forms,
        RetryAfterForms {
            seconds: true,
            ..RetryAfterForms::NONE
        }
    );
    assert_eq!(
        p.rate_limit_backoff,
        RateLimitBackoff::Exponential {
            base: Duration::from_secs(2),
            cap: Duration::from_secs(60)
        }
    );
    assert_eq!(p.exhaustion_answer, ExhaustionAnswer::Bare429);
    assert_eq!(p.key_selection, KeySelection::RoundRobin);
    let text = to_json(&w);
    assert!(text.contains(r#""cooldown_merge": "keep_first""#), "{text}");
    assert_eq!(ok(&text).policy, w.policy, "written back as read");
    assert!(
        !to_json(&ok(&minimal(""))).contains("auth_failure"),
        "the reference capabilities are not written out"
    );
}

#[test]
fn the_other_shapes_of_a_capability_are_read_and_written_back() {
    for other in [
        r#""auth_failure": { "cooldown": "1m" }"#,
        r#""rate_limit_backoff": "as_error""#,
        r#""retry_after_forms": []"#,
    ] {
        let w = ok(&minimal(&format!(
            r#", "policy": {{ "overrides": {{ {other} }} }}"#
        )));
        assert_ne!(w.policy, Policy::reference(), "{other}");
        assert_eq!(ok(&to_json(&w)).policy, w.policy, "{other}");
    }
}

#[test]
fn bad_capabilities_are_errors_naming_the_field() {
    let e = errors(&minimal(
        r#", "policy": { "preset": "nginx", "overrides": {
              "auth_failure": { "forever": "1s" },
              "model_support": "retry",
              "cooldown_merge": "min",
              "retry_after_forms": ["seconds", "seconds", "minutes"],
              "rate_limit_backoff": { "exponential": { "base": "10s", "cap": "1s", "jitter": "1s" } },
              "exhaustion_answer": "503",
              "key_selection": "random" } }"#,
    ));
    let expected = [
        "policy.preset: unknown preset \"nginx\" (known: ",
        "policy.overrides.auth_failure: unknown auth failure \"forever\"",
        "policy.overrides.model_support: unknown model-support handling \"retry\"",
        "policy.overrides.cooldown_merge: unknown cooldown merge \"min\"",
        "policy.overrides.retry_after_forms[1]: \"seconds\" is listed twice",
        "policy.overrides.retry_after_forms[2]: unknown Retry-After form \"minutes\"",
        "policy.overrides.rate_limit_backoff.exponential.jitter: unknown field",
        "policy.overrides.rate_limit_backoff.exponential.cap: shorter than base",
        "policy.overrides.exhaustion_answer: unknown exhaustion answer \"503\"",
        "policy.overrides.key_selection: unknown key selection \"random\"",
    ];
    for want in expected {
        assert!(e.iter().any(|x| x.starts_with(want)), "{want} in {e:#?}");
    }
    assert_eq!(e.len(), expected.len(), "{e:#?}");
    let e = errors(&minimal(
        r#", "policy": { "overrides": { "auth_failure": { "cooldown": "0s" },
              "rate_limit_backoff": "doubling" } }"#,
    ));
    assert!(
        e.iter()
            .any(|x| x == "policy.overrides.auth_failure.cooldown: must be more than 0s"),
        "{e:?}"
    );
    assert!(
        e.iter().any(|x| x.starts_with(
            "policy.overrides.rate_limit_backoff: \"doubling\" is not one of \"fixed\", \"as_error\""
        )),
        "{e:?}"
    );
    let e = errors(&minimal(
        r#", "policy": { "overrides": { "auth_failure": 5 } }"#,
    ));
    assert_eq!(
        e,
        [
            "policy.overrides.auth_failure: 5 is not one of \"blacklist\", \
          {\"cooldown\": \"60s\"} or {\"model_cooldown\": \"30m\"}"
        ]
    );
}

#[test]
fn the_contract_takes_no_capability() {
    let e = errors(&minimal(
        r#", "contract": { "cooldown_merge": "overwrite", "attempts_max": 2 }"#,
    ));
    assert_eq!(e.len(), 1, "{e:?}");
    assert!(
        e[0].starts_with("contract.cooldown_merge: a setting of the gateway, not a promise"),
        "{e:?}"
    );
}

#[test]
fn credential_weights_are_read_checked_and_written_back() {
    let file = |weights: &str| {
        format!(
            r#"{{ "version": 1, "id": "w", "regions": ["r"],
             "providers": [ {{ "id": "p", "regions": ["r"] }} ],
             "models": [ {{ "id": "m1", "served_by": [ {{ "provider": "p", "region": "r" }} ] }} ],
             "credentials": [ {weights} ],
             "projects": [ {{ "id": "p1", "mode": "api-keys" }} ],
             "policy": {{ "overrides": {{ "key_selection": "weighted" }} }} }}"#
        )
    };
    let w = ok(&file(
        r#"{ "id": "k0", "provider": "p", "source": "org", "weight": 3 },
           { "id": "k1", "provider": "p", "source": "org" }"#,
    ));
    assert_eq!(w.policy.key_selection, KeySelection::Weighted);
    let weights: Vec<u32> = w.catalog.credentials.iter().map(|c| c.weight).collect();
    assert_eq!(weights, [3, 1], "the default is 1");
    let text = to_json(&w);
    assert!(text.contains("\"weight\": 3"), "{text}");
    assert_eq!(
        text.matches("\"weight\"").count(),
        1,
        "a weight of 1 is not written"
    );
    assert_eq!(ok(&text).catalog, w.catalog);
    let e = errors(&file(
        r#"{ "id": "k0", "provider": "p", "source": "org", "weight": 0 },
           { "id": "k1", "provider": "p", "source": "org", "weight": 1000001 },
           { "id": "k2", "provider": "p", "source": "org", "weight": -1 }"#,
    ));
    for want in [
        "credentials[0].weight: 0 is not a weight: 1 to 1000000",
        "credentials[1].weight: 1000001 is not a weight: 1 to 1000000",
        "credentials[2].weight:",
    ] {
        assert!(e.iter().any(|x| x.starts_with(want)), "{want} in {e:#?}");
    }
    assert_eq!(e.len(), 3, "{e:#?}");
}
