//! `"latency": {"fixed": D}`: every answer exactly `D` late, exclusive with p50 and p99.

use super::{errors, ok};
use crate::runner::{judge, Judge};
use crate::scenario::to_json;
use crate::trace::Record;
use std::collections::BTreeMap;

/// `invalid-key-400` (two keys, six requests, one invalid key) with its provider's
/// latency object replaced by `latency`.
fn incident(latency: &str) -> String {
    let text = std::fs::read_to_string("../scenarios/incidents/invalid-key-400.json")
        .expect("the incident library");
    let old = r#""latency": {"p50": "100ms", "p99": "300ms"}"#;
    assert!(text.contains(old), "the incident's latency changed");
    text.replace(old, &format!(r#""latency": {latency}"#))
}

/// Every attempt's answer time minus its dispatch time, in milliseconds.
fn answer_delays_ms(text: &str) -> Vec<u64> {
    let w = ok(text);
    let v = judge(&w, w.seed, Judge::default()).expect("the run ends");
    assert!(
        v.passed(),
        "{:?} {:?}",
        v.failed_invariants(),
        v.failed_expectations
    );
    let mut sent = BTreeMap::new();
    let mut delays = Vec::new();
    for e in &v.run.trace.entries {
        match &e.record {
            Record::Dispatched(a) => {
                sent.insert(a.id, e.at);
            }
            Record::Answered { attempt, .. } => {
                let at = sent.get(attempt).expect("answered after it was sent");
                delays.push(e.at.as_ms() - at.as_ms());
            }
            _ => {}
        }
    }
    delays
}

#[test]
fn a_fixed_latency_makes_every_answer_exactly_that_late() {
    let delays = answer_delays_ms(&incident(r#"{"fixed": "20ms"}"#));
    assert!(delays.len() >= 7, "{delays:?}");
    assert!(delays.iter().all(|d| *d == 20), "{delays:?}");
    // The draw it replaces spreads answers out: the test can tell the two apart.
    let drawn = answer_delays_ms(&incident(r#"{"p50": "20ms", "p99": "20ms"}"#));
    assert!(drawn.iter().any(|d| *d != 20), "{drawn:?}");
}

#[test]
fn a_fixed_latency_writes_back_and_bounds_the_model() {
    let w = ok(&incident(r#"{"fixed": "1.5s"}"#));
    let spec = &w.providers[0];
    assert_eq!(spec.latency_fixed.map(|d| d.as_ms()), Some(1500));
    assert_eq!(spec.latency_max().as_ms(), 1500);
    let text = to_json(&w);
    assert!(text.contains("\"fixed\": \"1500ms\""), "{text}");
    assert!(!text.contains("\"p50\""), "{text}");
    assert_eq!(ok(&text), w);
}

#[test]
fn a_fixed_latency_with_p50_or_p99_or_too_long_is_an_error_naming_it() {
    for latency in [
        r#"{"fixed": "20ms", "p50": "10ms"}"#,
        r#"{"p99": "1s", "fixed": "20ms"}"#,
    ] {
        let e = errors(&incident(latency));
        assert_eq!(
            e,
            ["providers[0].latency.fixed: not with p50 or p99 (a fixed latency has no spread: give one or the other)"],
            "{latency}"
        );
    }
    let e = errors(&incident(r#"{"fixed": "2h"}"#));
    assert_eq!(
        e,
        [r#"providers[0].latency.fixed: "2h" is too long (at most 1h)"#]
    );
    let e = errors(&incident(r#"{"fixed": 20}"#));
    assert_eq!(e.len(), 1, "{e:?}");
    assert!(e[0].starts_with("providers[0].latency.fixed: "), "{e:?}");
}
