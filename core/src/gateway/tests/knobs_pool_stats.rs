//! Knob tests for uptime statistics and the key pool walker.

use super::routing::regional_world;
use super::stats::{counted, scored};
use super::*;

pub(super) const TESTS: &[(Regression, fn())] = &[
    (
        Regression::ExcludeUnsuccessfulRetries,
        exclude_unsuccessful_retries,
    ),
    (
        Regression::ModelHistoryIgnoresRegion,
        model_history_ignores_region,
    ),
    (
        Regression::ProviderFailedOnKeyRetry,
        provider_failed_on_key_retry,
    ),
    (Regression::SharedWalkerCursor, shared_walker_cursor),
    (
        Regression::ExhaustionWithoutRetryAfter,
        exhaustion_without_retry_after,
    ),
    (Regression::ByokFailsOver, byok_fails_over),
    (
        Regression::ReuseWalkerAcrossIterations,
        reuse_walker_across_iterations,
    ),
    (
        Regression::BodyConsumedOnFirstAttempt,
        body_consumed_on_first_attempt,
    ),
    (Regression::HintFromFirstKey, hint_from_first_key),
    (Regression::FailoverMidStream, failover_mid_stream),
    (
        Regression::ExhaustionStatusAfterStream,
        exhaustion_status_after_stream,
    ),
];

#[test]
fn exclude_unsuccessful_retries() {
    let scenario = |policy: Policy| {
        let pool = pool();
        let mut d = pool.world.gateway(policy);
        d.chat(pool.project, MODEL, |_| server_error());
        let in_mapping: Vec<bool> = counted(&d.take_events()).iter().map(|c| c.1).collect();
        let uptime = d
            .gateway
            .stats()
            .model_uptime_bp(Scope::of(MODEL), d.now, d.gateway.policy());
        (in_mapping, uptime)
    };
    assert_eq!(scenario(Policy::reference()), (vec![true, true, true], 0));
    assert_eq!(
        scenario(knob(Regression::ExcludeUnsuccessfulRetries)),
        (vec![false, false, true], 0),
        "failures dropped because a (failing) retry existed"
    );
}

#[test]
fn model_history_ignores_region() {
    let scenario = |policy: Policy| {
        let (world, project, _, u0, _) = regional_world();
        let mut d = world.gateway(policy);
        d.chat(project, "m", failing(&[u0], server_error));
        let first = counted(&d.take_events())[0];
        let uptime = d
            .gateway
            .stats()
            .model_uptime_bp(Scope::of("m"), d.now, d.gateway.policy());
        ((first.1, first.2, first.3), uptime)
    };
    assert_eq!(scenario(Policy::reference()), ((true, true, false), 5_000));
    assert_eq!(
        scenario(knob(Regression::ModelHistoryIgnoresRegion)),
        ((true, false, false), 10_000),
        "the us failure vanished from model history"
    );
}

#[test]
fn provider_failed_on_key_retry() {
    let scenario = |policy: Policy| {
        let pool = pool();
        let [k0, _, _] = pool.keys;
        let mut d = pool.world.gateway(policy);
        d.chat(pool.project, MODEL, failing(&[k0], server_error));
        scored(&d.take_events())
            .iter()
            .map(|s| s.2)
            .collect::<Vec<_>>()
    };
    assert_eq!(scenario(Policy::reference()), vec![false]);
    assert_eq!(
        scenario(knob(Regression::ProviderFailedOnKeyRetry)),
        vec![true]
    );
}

#[test]
fn shared_walker_cursor() {
    let scenario = |policy: Policy| {
        let pool = pool();
        let mut d = pool.world.gateway(policy);
        let first = d.chat(pool.project, MODEL, |_| ok()).sent();
        let second = d.chat(pool.project, MODEL, |_| ok()).sent();
        [first, second].concat()
    };
    let [k0, k1, _] = pool().keys;
    assert_eq!(scenario(Policy::reference()), vec![k0, k0]);
    assert_eq!(
        scenario(knob(Regression::SharedWalkerCursor)),
        vec![k0, k1],
        "the second walk did not start at the primary"
    );
}

#[test]
fn exhaustion_without_retry_after() {
    let scenario = |policy: Policy| {
        let pool = pool();
        let mut d = pool.world.gateway(policy);
        d.chat(pool.project, MODEL, |_| rate_limited(Some("90")));
        d.at(500);
        let answer = d.chat(pool.project, MODEL, |_| ok()).answer;
        (answer.outcome, answer.status, answer.retry_after_s)
    };
    assert_eq!(
        scenario(Policy::reference()),
        (Outcome::ExhaustedTransient, 429, Some(90))
    );
    assert_eq!(
        scenario(knob(Regression::ExhaustionWithoutRetryAfter)),
        (Outcome::ExhaustedTransient, 429, None)
    );
}

#[test]
fn byok_fails_over() {
    let scenario = |policy: Policy| {
        let mut pool = pool();
        let user = pool.world.key("user", pool.provider, Source::Byok);
        let mut d = pool.world.gateway(policy);
        let byok = Request {
            byok: Some(user),
            ..Request::chat(pool.project, MODEL)
        };
        let run = d.serve(byok, failing(&[user], server_error));
        (run.sent(), run.answer.status)
    };
    let [k0, _, _] = pool().keys;
    let user = KeyId(3);
    assert_eq!(scenario(Policy::reference()), (vec![user], 500));
    assert_eq!(
        scenario(knob(Regression::ByokFailsOver)),
        (vec![user, k0], 200),
        "the user's request went to the organisation's pool"
    );
}

#[test]
fn reuse_walker_across_iterations() {
    let scenario = |policy: Policy| {
        let pool = pool();
        let mut d = pool.world.gateway(policy);
        let agentic = Request {
            iterations: 2,
            ..Request::chat(pool.project, MODEL)
        };
        d.serve(agentic, |_| ok()).sent()
    };
    let [k0, k1, _] = pool().keys;
    assert_eq!(scenario(Policy::reference()), vec![k0, k0]);
    assert_eq!(
        scenario(knob(Regression::ReuseWalkerAcrossIterations)),
        vec![k0, k1],
        "iteration 2 inherited iteration 1's walk"
    );
}

#[test]
fn body_consumed_on_first_attempt() {
    let scenario = |policy: Policy| {
        let pool = pool();
        let [k0, _, _] = pool.keys;
        let mut d = pool.world.gateway(policy);
        let passthrough = Request {
            kind: RequestKind::Passthrough,
            body_bytes: 512,
            body_digest: 42,
            ..Request::chat(pool.project, MODEL)
        };
        let run = d.serve(passthrough, failing(&[k0], server_error));
        run.attempts
            .iter()
            .map(|a| (a.body_bytes, a.body_digest))
            .collect::<Vec<_>>()
    };
    assert_eq!(scenario(Policy::reference()), vec![(512, 42), (512, 42)]);
    assert_eq!(
        scenario(knob(Regression::BodyConsumedOnFirstAttempt)),
        vec![(512, 42), (0, 0)]
    );
}

#[test]
fn hint_from_first_key() {
    let scenario = |policy: Policy| {
        let pool = pool();
        let [k0, _, _] = pool.keys;
        let mut d = pool.world.gateway(policy);
        let answer = d
            .chat(pool.project, MODEL, failing(&[k0], server_error))
            .answer;
        (answer.hint_key, answer.hint)
    };
    let pool = pool();
    let [k0, k1, _] = pool.keys;
    let hint = |k: KeyId| Some(std::sync::Arc::<str>::from(pool.world.hint(k)));
    assert_eq!(scenario(Policy::reference()), (Some(k1), hint(k1)));
    assert_eq!(
        scenario(knob(Regression::HintFromFirstKey)),
        (Some(k0), hint(k0)),
        "the hint named the first key, not the one that answered"
    );
}

#[test]
fn failover_mid_stream() {
    let scenario = |policy: Policy| {
        let pool = pool();
        let [k0, _, _] = pool.keys;
        let mut d = pool.world.gateway(policy);
        let stream = Request {
            stream: true,
            ..Request::chat(pool.project, MODEL)
        };
        let run = d.serve(stream, failing(&[k0], || broken_stream(true)));
        (run.sent(), run.answer.outcome)
    };
    let [k0, k1, _] = pool().keys;
    assert_eq!(
        scenario(Policy::reference()),
        (vec![k0], Outcome::StreamInterrupted)
    );
    assert_eq!(
        scenario(knob(Regression::FailoverMidStream)),
        (vec![k0, k1], Outcome::Success),
        "output after the first byte was duplicated by a retry"
    );
}

#[test]
fn exhaustion_status_after_stream() {
    let scenario = |policy: Policy| {
        let pool = pool();
        let mut d = pool.world.gateway(policy);
        let agentic = Request {
            iterations: 2,
            stream: true,
            ..Request::chat(pool.project, MODEL)
        };
        let answer = d
            .serve(agentic, |a| {
                if a.iteration == 1 {
                    ok()
                } else {
                    rate_limited(Some("90"))
                }
            })
            .answer;
        (answer.status, answer.retry_after_s, answer.stream_error)
    };
    let in_stream = StreamError {
        status: 429,
        retry_after_s: Some(90),
    };
    assert_eq!(scenario(Policy::reference()), (200, None, Some(in_stream)));
    assert_eq!(
        scenario(knob(Regression::ExhaustionStatusAfterStream)),
        (429, Some(90), None),
        "a second status line after the 200 of iteration 1"
    );
}
