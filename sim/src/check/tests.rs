//! Checker tests: for each invariant, a world that breaks it (reported) and one that
//! keeps it (silent).

use super::*;
use crate::build::WorldBuilder;
use crate::runner::{judge, Judge};
use crate::world::Style;
use gatesim_core::{Regression, Regressions};

fn invalid_key_world() -> WorldBuilder {
    let mut b = WorldBuilder::new("invalid-key-400");
    let us = b.region("us-east");
    let g = b.provider("google-ai-studio", Style::Google, &[us]);
    b.model("gemini-2.5-flash", &[(g, us, "gemini-2.5-flash")]);
    b.model("gemini-2.5-pro", &[(g, us, "gemini-2.5-pro")]);
    let k0 = b.key("k0", g, Source::Org, None, None);
    b.key("k1", g, Source::Org, None, None);
    let p = b.project("p1", Mode::ApiKeys);
    b.fault(
        0,
        None,
        FaultKind::KeyInvalid {
            credential: k0,
            status: 400,
            body: None,
        },
    );
    for i in 0..6 {
        let model = if i % 2 == 0 {
            "gemini-2.5-flash"
        } else {
            "gemini-2.5-pro"
        };
        b.request(i * 1000, p, model);
    }
    b
}

fn verdict(b: &WorldBuilder, knob: Option<Regression>) -> crate::runner::Verdict {
    let mut w = b.build();
    if let Some(k) = knob {
        w.policy.regressions = Regressions::only(k);
    }
    judge(&w, 1, Judge::default()).expect("run completes")
}

#[test]
fn reference_invalid_key_world_is_clean() {
    let v = verdict(&invalid_key_world(), None);
    let text = v.run.trace.to_text(&v.run.names);
    assert!(v.violations.is_empty(), "{:#?}\n{text}", v.violations);
    assert_eq!(v.summary.successes, 6, "{text}");
}

#[test]
fn invalid_key_400_knob_is_caught() {
    let v = verdict(
        &invalid_key_world(),
        Some(Regression::InvalidKey400IsRequestError),
    );
    let failed = v.failed_invariants();
    assert!(
        failed.contains(&"auth-blacklist-global"),
        "{failed:?}\n{}",
        v.run.trace.to_text(&v.run.names)
    );
    assert!(failed.contains(&"no-false-exhaustion"), "{failed:?}");
}
