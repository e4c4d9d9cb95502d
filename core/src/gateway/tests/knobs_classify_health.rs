//! Knob tests for classification and key health: the same inputs with the knob off and
//! on, asserting the reference behaviour and the incident's bug.

use super::*;

pub(super) const TESTS: &[(Regression, fn())] = &[
    (
        Regression::InvalidKey400IsRequestError,
        invalid_key_400_is_request_error,
    ),
    (
        Regression::InvalidKeyCodeUnmatched,
        invalid_key_code_unmatched,
    ),
    (
        Regression::ModelSupportIsTerminal,
        model_support_is_terminal,
    ),
    (
        Regression::ModelNotAvailableUnmatched,
        model_not_available_unmatched,
    ),
    (Regression::RetryRequestInvalid, retry_request_invalid),
    (
        Regression::UnscopedTransientHealth,
        unscoped_transient_health,
    ),
    (Regression::ScopedAuthBlacklist, scoped_auth_blacklist),
    (
        Regression::StaleUptimeForBlacklisted,
        stale_uptime_for_blacklisted,
    ),
    (Regression::UnscopedHealthWrites, unscoped_health_writes),
    (Regression::RequestIdAsScope, request_id_as_scope),
    (Regression::UnboundedScopes, unbounded_scopes),
    (Regression::CooldownNeverExpires, cooldown_never_expires),
    (Regression::LastWriterCooldown, last_writer_cooldown),
    (Regression::FirstWriterCooldown, first_writer_cooldown),
    (Regression::UncappedRetryAfter, uncapped_retry_after),
    (Regression::CountSuccessResumes, count_success_resumes),
    (
        Regression::SuspendAliasNotUpstream,
        suspend_alias_not_upstream,
    ),
];

/// One request to `MODEL` on the three-key pool, answered by `upstream`; the run and
/// whether `k0` ended up blacklisted.
fn pool_request(policy: Policy, upstream: impl FnMut(&Attempt) -> Response) -> (Run, bool) {
    let pool = pool();
    let mut d = pool.world.gateway(policy);
    let run = d.chat(pool.project, MODEL, upstream);
    let blacklisted = d
        .gateway
        .is_blacklisted(pool.keys[0], Scope::of(OTHER_MODEL));
    (run, blacklisted)
}

#[test]
fn invalid_key_400_is_request_error() {
    let [k0, k1, _] = pool().keys;
    let policy = knob(Regression::InvalidKey400IsRequestError);
    let (reference, ref_blacklisted) =
        pool_request(Policy::reference(), failing(&[k0], invalid_key_400));
    let (bug, bug_blacklisted) = pool_request(policy.clone(), failing(&[k0], invalid_key_400));
    assert_eq!(
        (reference.sent(), reference.answer.status),
        (vec![k0, k1], 200)
    );
    assert!(ref_blacklisted);
    assert_eq!(bug.sent(), vec![k0], "the bad key's 400 went to the client");
    assert_eq!(
        (bug.answer.outcome, bug.answer.status),
        (Outcome::RequestInvalid, 400)
    );
    assert!(!bug_blacklisted);
    // Only the 400 status is affected: a 404 with the same body still rotates.
    let invalid_404 = || http(404, "API key not valid. Please pass a valid API key.");
    let (bug, _) = pool_request(policy, failing(&[k0], invalid_404));
    assert_eq!(bug.sent(), vec![k0, k1]);
}

#[test]
fn invalid_key_code_unmatched() {
    let [k0, k1, _] = pool().keys;
    let policy = knob(Regression::InvalidKeyCodeUnmatched);
    let incorrect = || http(400, "Incorrect API key provided: sk-****1234.");
    for shape in [invalid_key_code_400, incorrect] {
        let (reference, ref_blacklisted) = pool_request(Policy::reference(), failing(&[k0], shape));
        let (bug, bug_blacklisted) = pool_request(policy.clone(), failing(&[k0], shape));
        assert_eq!(reference.sent(), vec![k0, k1]);
        assert!(ref_blacklisted);
        assert_eq!(bug.sent(), vec![k0], "the structured shape slipped past");
        assert_eq!(bug.answer.outcome, Outcome::RequestInvalid);
        assert!(!bug_blacklisted);
    }
    // The text patterns still work with the knob on.
    let (bug, bug_blacklisted) = pool_request(policy, failing(&[k0], invalid_key_400));
    assert_eq!(bug.sent(), vec![k0, k1]);
    assert!(bug_blacklisted);
}

#[test]
fn model_support_is_terminal() {
    let [k0, k1, _] = pool().keys;
    let (reference, _) = pool_request(Policy::reference(), failing(&[k0], model_unsupported));
    let (bug, _) = pool_request(
        knob(Regression::ModelSupportIsTerminal),
        failing(&[k0], model_unsupported),
    );
    assert_eq!(reference.sent(), vec![k0, k1]);
    assert_eq!(reference.answer.outcome, Outcome::Success);
    assert_eq!(bug.sent(), vec![k0], "another key served the model");
    assert_eq!(
        (bug.answer.outcome, bug.answer.status),
        (Outcome::RequestInvalid, 400)
    );
}

#[test]
fn model_not_available_unmatched() {
    let [k0, k1, _] = pool().keys;
    let unknown_model = || http(400, "unknown model: gpt-4o-2024-08-06");
    let (reference, _) = pool_request(Policy::reference(), failing(&[k0], unknown_model));
    let policy = knob(Regression::ModelNotAvailableUnmatched);
    let (bug, _) = pool_request(policy.clone(), failing(&[k0], unknown_model));
    assert_eq!(reference.sent(), vec![k0, k1]);
    assert_eq!(reference.answer.outcome, Outcome::Success);
    assert_eq!(bug.sent(), vec![k0], "another key served the model");
    assert_eq!(bug.answer.outcome, Outcome::RequestInvalid);

    // A bare 404: the reference suspends k0 for the model, the knob lets it be retried.
    let twice = |policy: Policy| {
        let pool = pool();
        let mut d = pool.world.gateway(policy);
        let not_found = || http(404, "Not Found");
        let first = d
            .chat(pool.project, MODEL, failing(&[k0], not_found))
            .sent();
        d.at(1_000);
        let second = d
            .chat(pool.project, MODEL, failing(&[k0], not_found))
            .sent();
        (first, second)
    };
    assert_eq!(twice(Policy::reference()), (vec![k0, k1], vec![k1]));
    assert_eq!(
        twice(policy),
        (vec![k0, k1], vec![k0, k1]),
        "the missing deployment was asked again"
    );
}

#[test]
fn retry_request_invalid() {
    let keys = pool().keys;
    let (reference, _) = pool_request(Policy::reference(), |_| bad_request());
    let (bug, _) = pool_request(knob(Regression::RetryRequestInvalid), |_| bad_request());
    assert_eq!(reference.sent(), vec![keys[0]]);
    assert_eq!(reference.answer.attempts, 1);
    assert_eq!(
        bug.sent(),
        keys.to_vec(),
        "a malformed request hit every key"
    );
    assert_eq!(bug.answer.status, 400);
}

/// `k0` rate-limited on `MODEL`, then a request for `OTHER_MODEL`: what it sends.
fn other_model_after_rate_limit(policy: Policy) -> Vec<KeyId> {
    let pool = pool();
    let [k0, _, _] = pool.keys;
    let mut d = pool.world.gateway(policy);
    d.chat(
        pool.project,
        MODEL,
        failing(&[k0], || rate_limited(Some("60"))),
    );
    d.at(1_000);
    d.chat(pool.project, OTHER_MODEL, |_| ok()).sent()
}

#[test]
fn unscoped_transient_health() {
    let [k0, k1, _] = pool().keys;
    assert_eq!(other_model_after_rate_limit(Policy::reference()), vec![k0]);
    assert_eq!(
        other_model_after_rate_limit(knob(Regression::UnscopedTransientHealth)),
        vec![k1],
        "a 429 on gpt-4o fenced gpt-4o-mini too"
    );
}

#[test]
fn scoped_auth_blacklist() {
    let scenario = |policy: Policy| {
        let pool = pool();
        let [k0, _, _] = pool.keys;
        let mut d = pool.world.gateway(policy);
        let unauthorized = || http(401, "unauthorized");
        d.chat(pool.project, MODEL, failing(&[k0], unauthorized));
        d.chat(pool.project, OTHER_MODEL, failing(&[k0], unauthorized))
            .sent()
    };
    let [k0, k1, _] = pool().keys;
    assert_eq!(scenario(Policy::reference()), vec![k1]);
    assert_eq!(
        scenario(knob(Regression::ScopedAuthBlacklist)),
        vec![k0, k1],
        "the dead key failed once more on the next model"
    );
}

#[test]
fn stale_uptime_for_blacklisted() {
    let scenario = |policy: Policy| {
        let pool = pool();
        let [k0, _, _] = pool.keys;
        let mut d = pool.world.gateway(policy);
        for _ in 0..3 {
            d.chat(pool.project, MODEL, |_| ok());
        }
        d.chat(pool.project, OTHER_MODEL, failing(&[k0], invalid_key_400));
        assert!(d.gateway.is_blacklisted(k0, Scope::of(MODEL)));
        d.gateway.key_uptime_bp(k0, Scope::of(MODEL), d.now)
    };
    assert_eq!(scenario(Policy::reference()), 0);
    assert_eq!(
        scenario(knob(Regression::StaleUptimeForBlacklisted)),
        10_000
    );
}

/// `k0` always answers 429; two requests for `MODEL`: what the second sends.
fn second_request_after_rate_limit(policy: Policy) -> (Vec<KeyId>, usize) {
    let pool = pool();
    let [k0, _, _] = pool.keys;
    let mut d = pool.world.gateway(policy);
    d.chat(
        pool.project,
        MODEL,
        failing(&[k0], || rate_limited(Some("60"))),
    );
    d.at(1_000);
    let sent = d
        .chat(
            pool.project,
            MODEL,
            failing(&[k0], || rate_limited(Some("60"))),
        )
        .sent();
    (sent, d.gateway.tracked_entries())
}

#[test]
fn unscoped_health_writes() {
    let [k0, k1, _] = pool().keys;
    let (reference, _) = second_request_after_rate_limit(Policy::reference());
    let (bug, _) = second_request_after_rate_limit(knob(Regression::UnscopedHealthWrites));
    assert_eq!(reference, vec![k1]);
    assert_eq!(bug, vec![k0, k1], "the failing key was reselected");
}

#[test]
fn request_id_as_scope() {
    let [k0, k1, _] = pool().keys;
    let (reference, ref_entries) = second_request_after_rate_limit(Policy::reference());
    let (bug, bug_entries) = second_request_after_rate_limit(knob(Regression::RequestIdAsScope));
    assert_eq!(reference, vec![k1]);
    assert_eq!(bug, vec![k0, k1], "every request saw a fresh bucket");
    assert_eq!(ref_entries, 2, "(k0, gpt-4o) and (k1, gpt-4o)");
    assert_eq!(bug_entries, 4, "two entries per request");
}

#[test]
fn unbounded_scopes() {
    let scenario = |policy: Policy| {
        let mut world = World::new();
        let us = world.region("us");
        let provider = world.open_provider("custom", &[us]);
        world.key("c0", provider, Source::Org);
        let project = world.project("p", Mode::ApiKeys);
        let mut d = world.gateway(Policy {
            scopes_max: 16,
            ..policy
        });
        for i in 0..100 {
            d.chat(project, &format!("custom-{i}"), |_| ok());
        }
        d.gateway.tracked_entries()
    };
    assert_eq!(scenario(Policy::reference()), 16);
    assert_eq!(scenario(knob(Regression::UnboundedScopes)), 100);
}

#[test]
fn cooldown_never_expires() {
    let scenario = |policy: Policy| {
        let pool = pool();
        let [k0, _, _] = pool.keys;
        let mut d = pool.world.gateway(policy);
        d.chat(
            pool.project,
            MODEL,
            failing(&[k0], || rate_limited(Some("10"))),
        );
        d.at(20_000);
        d.chat(pool.project, MODEL, |_| ok()).sent()
    };
    let [k0, k1, _] = pool().keys;
    assert_eq!(scenario(Policy::reference()), vec![k0]);
    assert_eq!(scenario(knob(Regression::CooldownNeverExpires)), vec![k1]);
}

/// Two concurrent requests on `k0`, answered 429 with `first` then, a second later,
/// `second` as Retry-After; then the cooldown end of `k0` and who serves at t+10 s.
pub(super) fn two_concurrent_429s(
    policy: Policy,
    first: &str,
    second: &str,
) -> (Option<Instant>, Vec<KeyId>) {
    let pool = pool();
    let mut d = pool.world.gateway(policy);
    d.submit(Request::chat(pool.project, MODEL));
    d.submit(Request::chat(pool.project, MODEL));
    let (a, b) = (d.take_attempt(), d.take_attempt());
    d.respond(a.id, rate_limited(Some(first)));
    d.at(1_000);
    d.respond(b.id, rate_limited(Some(second)));
    while d.has_pending() {
        let next = d.take_attempt();
        d.respond(next.id, ok());
    }
    let until = d.gateway.cooldown_until(pool.keys[0], Scope::of(MODEL));
    d.at(10_000);
    (until, d.chat(pool.project, MODEL, |_| ok()).sent())
}

#[test]
fn last_writer_cooldown() {
    let [k0, k1, _] = pool().keys;
    assert_eq!(
        two_concurrent_429s(Policy::reference(), "60", "5"),
        (Some(Instant(60_000)), vec![k1])
    );
    assert_eq!(
        two_concurrent_429s(knob(Regression::LastWriterCooldown), "60", "5"),
        (Some(Instant(6_000)), vec![k0]),
        "the shorter, later hint shrank the cooldown"
    );
}

#[test]
fn first_writer_cooldown() {
    let [k0, k1, _] = pool().keys;
    assert_eq!(
        two_concurrent_429s(Policy::reference(), "5", "60"),
        (Some(Instant(61_000)), vec![k1])
    );
    assert_eq!(
        two_concurrent_429s(knob(Regression::FirstWriterCooldown), "5", "60"),
        (Some(Instant(5_000)), vec![k0]),
        "the longer, later hint did not extend the cooldown"
    );
}

#[test]
fn uncapped_retry_after() {
    let scenario = |policy: Policy| {
        let pool = pool();
        let [k0, _, _] = pool.keys;
        let mut d = pool.world.gateway(policy);
        d.chat(
            pool.project,
            MODEL,
            failing(&[k0], || rate_limited(Some("1580000"))),
        );
        d.gateway.cooldown_until(k0, Scope::of(MODEL))
    };
    assert_eq!(
        scenario(Policy::reference()),
        Some(Instant(3_600_000)),
        "capped at an hour"
    );
    assert_eq!(
        scenario(knob(Regression::UncappedRetryAfter)),
        Some(Instant(1_580_000_000)),
        "18 days"
    );
}

#[test]
fn count_success_resumes() {
    let scenario = |policy: Policy| {
        let pool = pool();
        let [k0, _, _] = pool.keys;
        let mut d = pool.world.gateway(policy);
        d.chat(
            pool.project,
            MODEL,
            failing(&[k0], || rate_limited(Some("60"))),
        );
        d.at(1_000);
        let count = Request {
            kind: RequestKind::CountTokens,
            ..Request::chat(pool.project, MODEL)
        };
        d.serve(count, |_| ok());
        let resumed = d
            .take_events()
            .iter()
            .any(|e| matches!(e, Event::Resumed { .. }));
        d.at(2_000);
        (resumed, d.chat(pool.project, MODEL, |_| ok()).sent())
    };
    let [k0, k1, _] = pool().keys;
    assert_eq!(scenario(Policy::reference()), (false, vec![k1]));
    assert_eq!(
        scenario(knob(Regression::CountSuccessResumes)),
        (true, vec![k0]),
        "a token count routed traffic back to the throttled key"
    );
}

#[test]
fn suspend_alias_not_upstream() {
    // Alias over two upstreams of one provider; k0 cannot serve `up-1`.
    let scenario = |policy: Policy| {
        let mut world = World::new();
        let us = world.region("us");
        let p = world.provider("p", &[us]);
        let m1 = world.model("m1", &[(p, us, "up-1")]);
        let m2 = world.model("m2", &[(p, us, "up-2")]);
        world.alias("pool", &[m1, m2]);
        let k0 = world.key("k0", p, Source::Org);
        world.key("k1", p, Source::Org);
        let project = world.project("proj", Mode::ApiKeys);
        let mut d = world.gateway(policy);
        let upstream = |a: &Attempt| {
            if a.credential == k0 && a.upstream.as_ref() == "up-1" {
                model_unsupported()
            } else {
                ok()
            }
        };
        // Two concurrent requests: the alias rotation starts one on m1 and one on m2.
        d.submit(Request::chat(project, "pool"));
        d.submit(Request::chat(project, "pool"));
        while d.has_pending() {
            let a = d.take_attempt();
            d.respond(a.id, upstream(&a));
        }
        d.at(1_000);
        let run = d.chat(project, "pool", upstream);
        let first = &run.attempts[0];
        (
            (first.credential, first.upstream.to_string()),
            run.attempts.len(),
        )
    };
    let k0 = KeyId(0);
    let k1 = KeyId(1);
    assert_eq!(scenario(Policy::reference()), ((k1, "up-1".to_string()), 1));
    assert_eq!(
        scenario(knob(Regression::SuspendAliasNotUpstream)),
        ((k0, "up-1".to_string()), 2),
        "the sibling's success lifted the suspension"
    );
}
