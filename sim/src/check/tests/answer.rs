//! `answer` faults judged: the meaning an answer declares is the ground truth, whatever
//! its status and body say, and the reference gateway reads each meaning off a fitting
//! answer.

use crate::build::WorldBuilder;
use crate::runner::{judge, Judge, Verdict};
use crate::world::{Answer, FaultKind, Means, Style};
use gatesim_core::{KeyId, Mode, Outcome, Regression, Regressions, Source};
use std::collections::BTreeMap;

/// OpenAI-style keys k0 (primary) and k1; `k0_answers` from 0 s on; six requests a
/// second apart.
fn world(k0_answers: Answer) -> WorldBuilder {
    let mut b = WorldBuilder::new("answer");
    let us = b.region("us");
    let p = b.provider("openai", Style::OpenAi, &[us]);
    b.model("gpt-4o", &[(p, us, "gpt-4o")]);
    b.key("k0", p, Source::Org, None, None);
    b.key("k1", p, Source::Org, None, None);
    let project = b.project("p1", Mode::ApiKeys);
    b.fault(0, None, FaultKind::Answer(Box::new(k0_answers)));
    for i in 0..6 {
        b.request(i * 1000, project, "gpt-4o");
    }
    b
}

fn answer(means: Means, status: u16, headers: &[(&str, &str)]) -> Answer {
    Answer {
        means,
        credential: Some(KeyId(0)),
        provider: None,
        region: None,
        model: None,
        status,
        body: None,
        headers: headers
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect::<BTreeMap<_, _>>(),
        rate_bp: 10_000,
    }
}

fn verdict(b: &WorldBuilder, knob: Option<Regression>) -> Verdict {
    let mut w = b.build();
    if let Some(k) = knob {
        w.policy.regressions = Regressions::only(k);
    }
    judge(&w, 1, Judge::default()).expect("run completes")
}

fn clean(v: &Verdict) {
    assert!(
        v.violations.is_empty(),
        "{:#?}\n{}",
        v.violations,
        v.run.trace.to_text(&v.run.names)
    );
}

#[test]
fn the_reference_reads_every_meaning_off_a_fitting_answer() {
    let date = gatesim_core::format_http_date(1_767_225_600 + 20);
    for a in [
        answer(Means::KeyInvalid, 401, &[]),
        answer(Means::KeyInvalid, 403, &[("retry-after", "5")]),
        answer(Means::RateLimited, 429, &[]),
        answer(Means::RateLimited, 429, &[("Retry-After", "3")]),
        answer(Means::RateLimited, 429, &[("retry-after-ms", "2500.5")]),
        answer(Means::RateLimited, 429, &[("retry-after", &date)]),
        answer(Means::ModelUnsupported, 404, &[]),
        answer(Means::ModelUnsupported, 422, &[]),
        answer(Means::UpstreamError, 503, &[]),
        answer(Means::UpstreamError, 529, &[("retry-after", "30")]),
    ] {
        let label = format!("{} {} {:?}", a.means.name(), a.status, a.headers);
        let v = verdict(&world(a), None);
        clean(&v);
        assert_eq!(v.summary.successes, 6, "{label}: k1 serves them all");
    }
}

/// A request-invalid answer is terminal and reaches the client with its own status.
#[test]
fn a_request_invalid_answer_is_passed_on_with_its_status() {
    let b = world(answer(Means::RequestInvalid, 422, &[]));
    let v = verdict(&b, None);
    clean(&v);
    assert!(
        v.run
            .responses
            .iter()
            .all(|(_, _, r)| (r.status, r.outcome) == (422, Outcome::RequestInvalid)),
        "{:?}",
        v.run.responses
    );
    let v = verdict(&b, Some(Regression::RetryRequestInvalid));
    assert!(
        v.failed_invariants().contains(&"terminal-request-invalid"),
        "{:?}",
        v.failed_invariants()
    );
}

/// Google's invalid-key wording under a 400, scripted: the knob that reads it as the
/// request's fault is caught on the invariants the `invalid-key-400` incident names.
#[test]
fn an_invalid_key_answered_400_is_caught_under_the_knob() {
    let mut a = answer(Means::KeyInvalid, 400, &[("x-request-id", "req_1")]);
    a.body = Some(
        r#"{"error":{"code":400,"message":"API key not valid. Please pass a valid API key.","status":"INVALID_ARGUMENT"}}"#
            .to_owned(),
    );
    let b = world(a);
    let v = verdict(&b, None);
    clean(&v);
    let v = verdict(&b, Some(Regression::InvalidKey400IsRequestError));
    let failed = v.failed_invariants();
    assert!(
        failed.contains(&"auth-blacklist-global") && failed.contains(&"no-false-exhaustion"),
        "{failed:?}"
    );
}

/// The meaning, not the wording, is the truth: the same 400 declared a request error is
/// one, and the knob's gateway is right about it.
#[test]
fn the_declared_meaning_is_the_ground_truth() {
    let mut a = answer(Means::RequestInvalid, 400, &[]);
    a.body = Some("API key not valid. Please pass a valid API key.".to_owned());
    let v = verdict(&world(a), Some(Regression::InvalidKey400IsRequestError));
    clean(&v);
}

/// One key, rate limited for longer than the gateway waits: the exhaustion carries the
/// hint the answer's header gave, and the knob that drops it is caught.
#[test]
fn a_rate_limited_answer_holds_the_exhaustion_to_its_hint() {
    let mut b = WorldBuilder::new("answer-429");
    let us = b.region("us");
    let p = b.provider("openai", Style::OpenAi, &[us]);
    b.model("gpt-4o", &[(p, us, "gpt-4o")]);
    b.key("k0", p, Source::Org, None, None);
    let project = b.project("p1", Mode::ApiKeys);
    let a = answer(Means::RateLimited, 429, &[("retry-after", "120")]);
    b.fault(0, Some(60_000), FaultKind::Answer(Box::new(a)));
    b.request(0, project, "gpt-4o");
    let v = verdict(&b, None);
    clean(&v);
    let (_, _, r) = &v.run.responses[0];
    assert_eq!(
        (r.outcome, r.retry_after_s),
        (Outcome::ExhaustedTransient, Some(120)),
        "{r:?}"
    );
    let v = verdict(&b, Some(Regression::ExhaustionWithoutRetryAfter));
    assert!(
        v.failed_invariants().contains(&"exhaustion-typed"),
        "{:?}",
        v.failed_invariants()
    );
}
