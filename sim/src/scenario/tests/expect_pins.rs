//! The request pins `retry_after_s`, `hint` and `attempt_order`: loaded, written back,
//! and judged met or unmet against a run.

use super::{errors, ok};
use crate::runner::{judge, Judge};
use crate::scenario::to_json;

/// `exhaustion-retry-after` with `expect` replaced. Its request 0 is answered 429 with
/// `Retry-After: 120` after attempts with k0 then k1, carrying k1's hint.
fn incident(expect: &str) -> String {
    let text = std::fs::read_to_string("../scenarios/incidents/exhaustion-retry-after.json")
        .expect("the incident library");
    let start = text.find("\"expect\"").expect("an expect section");
    format!("{}\"expect\": [ {expect} ]\n}}\n", &text[..start])
}

/// The failed expectations of the incident's run with `expect`.
fn failures(expect: &str) -> Vec<String> {
    let w = ok(&incident(expect));
    let v = judge(&w, w.seed, Judge { determinism: false }).expect("the run ends");
    v.failed_expectations
}

#[test]
fn met_pins_pass() {
    let met = r#"{ "request": 0, "retry_after_s": 120, "hint": "k1", "attempt_order": ["k0", "k1"] },
                 { "request": 1, "retry_after_s": 111 },
                 { "request": 3, "attempt_order": ["k0", "k1"] }"#;
    assert_eq!(failures(met), Vec::<String>::new());
}

#[test]
fn unmet_pins_fail_each_with_what_was_seen() {
    let unmet = r#"{ "request": 0, "retry_after_s": 180, "hint": "k0", "attempt_order": ["k1", "k0"] },
                   { "request": 3, "retry_after_s": 1 },
                   { "request": 1, "attempt_order": ["k0"], "hint": "k1" }"#;
    assert_eq!(
        failures(unmet),
        [
            "expect[0]: request 0 got Retry-After 120, expected Retry-After 180",
            "expect[0]: request 0 carries the hint of k1, expected the hint of k0",
            "expect[0]: request 0 sent attempts with [k0, k1], expected [k1, k0]",
            "expect[1]: request 3 got no Retry-After, expected Retry-After 1",
            "expect[2]: request 1 carries no hint, expected the hint of k1",
            "expect[2]: request 1 sent attempts with [], expected [k0]",
        ]
    );
}

#[test]
fn a_failed_hint_pin_names_labels_never_the_hint() {
    let f = failures(r#"{ "request": 0, "hint": "k0" }"#);
    assert_eq!(f.len(), 1, "{f:?}");
    assert!(
        !f[0].contains('…'),
        "a redacted hint reached the message: {}",
        f[0]
    );
}

#[test]
fn pins_write_back_unchanged() {
    let w = ok(&incident(
        r#"{ "request": 0, "retry_after_s": 120, "hint": "k1", "attempt_order": ["k0", "k1"] }"#,
    ));
    let text = to_json(&w);
    assert!(
        text.contains("\"attempt_order\": [\n        \"k0\",\n        \"k1\"\n      ]"),
        "{text}"
    );
    assert_eq!(ok(&text), w);
}

#[test]
fn bad_pins_are_errors_at_their_field() {
    let e = errors(&incident(
        r#"{ "request": 0, "hint": "k9", "attempt_order": ["k0", "kx"] },
           { "request": 1, "attempt_order": [] },
           { "credential": "k0", "state_at_end": "usable", "retry_after_s": 3 },
           { "request": 2, "retry_after": 3 },
           { "request": 2, "retry_after_s": -1 }"#,
    ));
    let want = [
        "expect[0].hint: unknown credential \"k9\" (known: k0, k1)",
        "expect[0].attempt_order[1]: unknown credential \"kx\" (known: k0, k1)",
        "expect[1].attempt_order: empty",
        "expect[2].retry_after_s: not a field of a credential expectation",
        "expect[3].retry_after: unknown field",
        "expect[4].retry_after_s: ",
    ];
    for w in want {
        assert!(e.iter().any(|x| x.starts_with(w)), "no {w:?} in {e:#?}");
    }
}

/// `cooled_until` pins the end of the last cooldown the gateway wrote for a credential:
/// k0's 429 at t+0.107s with `Retry-After: 120` cools it until t+120.107s, k1's until
/// t+180.180s; none in another model's scope.
#[test]
fn a_cooldown_end_is_pinned_per_credential_and_model() {
    let met = r#"{ "credential": "k0", "cooled_until": "120107ms" },
                 { "credential": "k1", "cooled_until": "180180ms", "model": "claude-sonnet-4" }"#;
    assert_eq!(failures(met), Vec::<String>::new());
    let unmet = r#"{ "credential": "k0", "cooled_until": "2m" },
                   { "credential": "k1", "cooled_until": "3m", "model": "claude-sonnet-4" }"#;
    assert_eq!(
        failures(unmet),
        [
            "expect[0]: k0's last cooldown ends at t+120.107s, expected t+120.000s",
            "expect[1]: k1's last cooldown for claude-sonnet-4 ends at t+180.180s, expected t+180.000s",
        ]
    );
    let w = ok(&incident(met));
    assert_eq!(ok(&to_json(&w)), w, "written back unchanged");
    let e = errors(&incident(
        r#"{ "credential": "k0", "cooled_until": "2m", "state_at_end": "usable" },
           { "credential": "k0", "cooled_until": "2m", "model": "gpt-9" },
           { "credential": "k0", "state_at_end": "usable", "model": "claude-sonnet-4" },
           { "credential": "k0", "cooled_until": "soon" }"#,
    ));
    let want = [
        "expect[0].cooled_until: with state_at_end",
        "expect[1].model: unknown model \"gpt-9\"",
        "expect[2].model: only with cooled_until",
        "expect[3].cooled_until: ",
    ];
    for w in want {
        assert!(e.iter().any(|x| x.starts_with(w)), "no {w:?} in {e:#?}");
    }
}
