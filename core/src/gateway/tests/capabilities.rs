//! The policy capabilities the peer presets are made of (`../shared/spec/peers.md`): each
//! against the reference on the same inputs.

use super::*;
use crate::policy::{
    AuthFailure, CooldownMerge, ExhaustionAnswer, Forbidden, InvalidKeyBodies, KeySelection,
    ModelSupport, RateLimitBackoff, RetryAfterForms, SameKeyRetries, UnhealthyRule,
};

fn with(change: impl FnOnce(&mut Policy)) -> Policy {
    let mut p = Policy::reference();
    change(&mut p);
    p
}

#[test]
fn auth_failure_cooldown_rests_the_whole_key_then_lets_it_back() {
    let pool = pool();
    let [k0, k1, _] = pool.keys;
    let policy = with(|p| p.auth_failure = AuthFailure::Cooldown(Duration::from_secs(60)));
    let mut d = pool.world.gateway(policy);
    let run = d.chat(pool.project, MODEL, failing(&[k0], || http(401, "nope")));
    assert_eq!(run.sent(), vec![k0, k1], "fails over like a blacklist");
    assert!(
        !d.gateway.is_blacklisted(k0, Scope::of(MODEL)),
        "not blacklisted"
    );
    let events = d.take_events();
    assert!(events.contains(&Event::CooledDown {
        credential: k0,
        scope: Scope::UNSCOPED,
        until: Instant(60_000),
        attempt: run.attempts[0].id,
    }));
    // Resting for every model ...
    d.at(59_000);
    let run = d.chat(pool.project, OTHER_MODEL, |_| ok());
    assert_eq!(run.sent(), vec![k1], "the other model skips k0 too");
    // ... and back once the rest ends (aibridge after coder#27419).
    d.at(60_000);
    let run = d.chat(pool.project, OTHER_MODEL, |_| ok());
    assert_eq!(run.sent(), vec![k0]);
}

#[test]
fn auth_failure_model_cooldown_rests_only_that_model() {
    let pool = pool();
    let [k0, k1, _] = pool.keys;
    let policy = with(|p| p.auth_failure = AuthFailure::ModelCooldown(Duration::from_secs(1800)));
    let mut d = pool.world.gateway(policy);
    let run = d.chat(pool.project, MODEL, failing(&[k0], || http(401, "nope")));
    assert_eq!(run.sent(), vec![k0, k1]);
    assert_eq!(
        d.gateway.cooldown_until(k0, Scope::of(MODEL)),
        Some(Instant(1_800_000))
    );
    let run = d.chat(pool.project, OTHER_MODEL, |_| ok());
    assert_eq!(
        run.sent(),
        vec![k0],
        "CLIProxyAPI: other models keep the key"
    );
    let run = d.chat(pool.project, MODEL, |_| ok());
    assert_eq!(run.sent(), vec![k1], "this model does not");
}

#[test]
fn forbidden_and_invalid_key_bodies_can_be_passed_on_unmarked() {
    let pool = pool();
    let [k0, _, _] = pool.keys;
    let policy = with(|p| {
        p.forbidden = Forbidden::PassedOn;
        p.invalid_key_bodies = InvalidKeyBodies::None;
    });
    let mut d = pool.world.gateway(policy);
    let run = d.chat(
        pool.project,
        MODEL,
        failing(&[k0], || http(403, "forbidden")),
    );
    assert_eq!(run.sent(), vec![k0], "no failover on a 403");
    assert_eq!(
        (run.answer.status, run.answer.outcome),
        (403, Outcome::RequestInvalid)
    );
    let run = d.chat(pool.project, MODEL, failing(&[k0], invalid_key_400));
    assert_eq!(run.sent(), vec![k0], "nor on an invalid-key body");
    assert_eq!(run.answer.status, 400);
    assert!(!d.gateway.is_blacklisted(k0, Scope::of(MODEL)));
    // A 401 still is a key failure.
    let run = d.chat(pool.project, MODEL, failing(&[k0], || http(401, "nope")));
    assert_eq!(run.sent().len(), 2);
    assert!(d.gateway.is_blacklisted(k0, Scope::of(MODEL)));
}

#[test]
fn upstream_errors_can_be_passed_on_without_failover() {
    let pool = pool();
    let [k0, _, _] = pool.keys;
    let policy = with(|p| p.upstream_errors_fail_over = false);
    let mut d = pool.world.gateway(policy);
    for (failure, status) in [
        (server_error as fn() -> Response, 500),
        (connect_error, 502),
    ] {
        let run = d.chat(pool.project, MODEL, failing(&[k0], failure));
        assert_eq!(run.sent(), vec![k0], "aibridge forwards a {status}");
        assert_eq!(run.answer.status, status);
    }
    // A stream that broke before its first byte delivered nothing: a 502, never its 200.
    let run = d.chat(pool.project, MODEL, failing(&[k0], || broken_stream(false)));
    assert_eq!((run.sent(), run.answer.status), (vec![k0], 502));
    let run = d.chat(pool.project, MODEL, |_| ok());
    assert_eq!(run.sent(), vec![k0], "and never marks the key");
}

#[test]
fn model_support_can_be_terminal() {
    let pool = pool();
    let [k0, _, _] = pool.keys;
    let mut d = pool
        .world
        .gateway(with(|p| p.model_support = ModelSupport::Terminal));
    let run = d.chat(pool.project, MODEL, failing(&[k0], model_unsupported));
    assert_eq!(run.sent(), vec![k0]);
    assert_eq!(run.answer.outcome, Outcome::RequestInvalid);
}

#[test]
fn cooldown_merge_overwrite_and_keep_first() {
    use super::knobs_classify_health::two_concurrent_429s;
    let [k0, k1, _] = pool().keys;
    let merged = |merge, first, second| {
        two_concurrent_429s(with(|p| p.cooldown_merge = merge), first, second)
    };
    assert_eq!(
        merged(CooldownMerge::Max, "60", "5"),
        (Some(Instant(60_000)), vec![k1])
    );
    assert_eq!(
        merged(CooldownMerge::Overwrite, "60", "5"),
        (Some(Instant(6_000)), vec![k0]),
        "LiteLLM #40130: the later, shorter cooldown replaces the longer"
    );
    assert_eq!(
        merged(CooldownMerge::KeepFirst, "5", "60"),
        (Some(Instant(5_000)), vec![k0])
    );
    assert_eq!(
        merged(CooldownMerge::Max, "5", "60"),
        (Some(Instant(61_000)), vec![k1])
    );
}

#[test]
fn retry_after_forms_not_read_are_absent() {
    let pool = pool();
    let [k0, _, _] = pool.keys;
    let policy = with(|p| {
        p.retry_after_forms = RetryAfterForms {
            http_date: false,
            ..RetryAfterForms::ALL
        };
    });
    let mut d = pool.world.gateway(policy);
    let date = crate::classify::format_http_date(EPOCH_UNIX_S + 100);
    d.chat(
        pool.project,
        MODEL,
        failing(&[k0], || rate_limited(Some(&date))),
    );
    assert_eq!(
        d.gateway.cooldown_until(k0, Scope::of(MODEL)),
        Some(Instant(60_000)),
        "an HTTP-date it does not read: the 60 s default, not 100 s"
    );
}

#[test]
fn exponential_backoff_rises_once_per_window_and_resets_on_success() {
    let pool = pool();
    let [k0, _, _] = pool.keys;
    let policy = with(|p| {
        p.rate_limit_backoff = RateLimitBackoff::Exponential {
            base: Duration::from_secs(1),
            cap: Duration::from_secs(4),
        };
    });
    let mut d = pool.world.gateway(policy);
    let mut ends = Vec::new();
    for t in [0, 1_000, 3_000, 7_000, 11_000] {
        d.at(t);
        d.chat(pool.project, MODEL, failing(&[k0], || rate_limited(None)));
        ends.push(
            d.gateway
                .cooldown_until(k0, Scope::of(MODEL))
                .map(|i| i.as_ms()),
        );
    }
    // 1 s, 2 s, 4 s, then capped at 4 s.
    assert_eq!(
        ends,
        [
            Some(1_000),
            Some(3_000),
            Some(7_000),
            Some(11_000),
            Some(15_000)
        ]
    );
    d.at(15_000);
    d.chat(pool.project, MODEL, |_| ok());
    d.chat(pool.project, MODEL, failing(&[k0], || rate_limited(None)));
    assert_eq!(
        d.gateway.cooldown_until(k0, Scope::of(MODEL)),
        Some(Instant(16_000)),
        "a success starts over at 1 s"
    );
}

#[test]
fn rate_limit_as_error_counts_toward_the_unhealthy_threshold() {
    let pool = pool();
    let [k0, k1, _] = pool.keys;
    let mut d = pool
        .world
        .gateway(with(|p| p.rate_limit_backoff = RateLimitBackoff::AsError));
    for i in 0..3 {
        d.at(i * 1_000);
        let run = d.chat(
            pool.project,
            MODEL,
            failing(&[k0], || rate_limited(Some("100"))),
        );
        assert_eq!(run.sent(), vec![k0, k1], "request {i}: k0 is still first");
    }
    d.at(3_000);
    let run = d.chat(pool.project, MODEL, |_| ok());
    assert_eq!(run.sent(), vec![k1], "three in a row rest k0 (llmgateway)");
    d.at(32_000);
    let run = d.chat(pool.project, MODEL, |_| ok());
    assert_eq!(run.sent(), vec![k0], "for 30 s, whatever the hint said");
}

#[test]
fn exhaustion_answer_bare_or_last_error() {
    for (shape, status, retry_after) in [
        (ExhaustionAnswer::RetryAfter, 429, Some(100)),
        (ExhaustionAnswer::Bare429, 429, None),
        // llmgateway: the last attempt's answer, its own Retry-After passed on.
        (ExhaustionAnswer::LastError, 429, Some(100)),
    ] {
        let pool = pool();
        let mut d = pool.world.gateway(with(|p| {
            p.exhaustion_answer = shape;
            p.wait_rounds_max = 0;
        }));
        let run = d.chat(pool.project, MODEL, |_| rate_limited(Some("100")));
        assert_eq!(run.sent().len(), 3, "{shape:?}");
        assert_eq!(
            (run.answer.status, run.answer.retry_after_s),
            (status, retry_after),
            "{shape:?}"
        );
        let want = if shape == ExhaustionAnswer::LastError {
            Outcome::UpstreamFailed
        } else {
            Outcome::ExhaustedTransient
        };
        assert_eq!(run.answer.outcome, want, "{shape:?}");
    }
}

#[test]
fn round_robin_moves_the_first_key_per_attempt() {
    let pool = pool();
    let [k0, k1, k2] = pool.keys;
    let mut d = pool
        .world
        .gateway(with(|p| p.key_selection = KeySelection::RoundRobin));
    let firsts: Vec<KeyId> = (0..4)
        .map(|_| d.chat(pool.project, MODEL, |_| ok()).sent()[0])
        .collect();
    assert_eq!(firsts, [k0, k1, k2, k0]);
    let mut d = pool.world.gateway(Policy::reference());
    let firsts: Vec<KeyId> = (0..3)
        .map(|_| d.chat(pool.project, MODEL, |_| ok()).sent()[0])
        .collect();
    assert_eq!(firsts, [k0, k0, k0], "primary-first");
}

#[test]
fn weighted_selection_sends_by_weight_smoothly_and_repeats() {
    let mut pool = pool();
    let [k0, k1, k2] = pool.keys;
    for (k, w) in [(k0, 3), (k1, 1), (k2, 2)] {
        pool.world.weigh(k, w);
    }
    let mut d = pool
        .world
        .gateway(with(|p| p.key_selection = KeySelection::Weighted));
    let sent: Vec<KeyId> = (0..12)
        .map(|_| d.chat(pool.project, MODEL, |_| ok()).sent()[0])
        .collect();
    // nginx's smooth weighted round-robin for 3, 1, 2: interleaved, not k0 k0 k0 k2 k2 k1.
    let cycle = [k0, k2, k0, k1, k2, k0];
    assert_eq!(sent[..6], cycle);
    assert_eq!(sent[6..], cycle, "the cycle repeats");
    // Weights are read by `weighted` only: the reference stays primary-first.
    let mut d = pool.world.gateway(Policy::reference());
    let firsts: Vec<KeyId> = (0..3)
        .map(|_| d.chat(pool.project, MODEL, |_| ok()).sent()[0])
        .collect();
    assert_eq!(firsts, [k0, k0, k0]);
}

#[test]
fn weighted_selection_gives_a_cooling_key_no_credit() {
    let pool = pool();
    let [k0, k1, k2] = pool.keys;
    let mut d = pool
        .world
        .gateway(with(|p| p.key_selection = KeySelection::Weighted));
    // k0 cools 10 s on its first attempt; the request moves on.
    let first = d.chat(pool.project, MODEL, |a| {
        if a.credential == k0 {
            rate_limited(Some("10"))
        } else {
            ok()
        }
    });
    assert_eq!(first.sent(), vec![k0, k1]);
    let mut t = 0;
    let mut during = Vec::new();
    for _ in 0..8 {
        t += 1_000;
        d.at(t);
        during.push(d.chat(pool.project, MODEL, |_| ok()).sent()[0]);
    }
    assert!(!during.contains(&k0), "k0 cools: {during:?}");
    assert_eq!(during.iter().filter(|k| **k == k1).count(), 4, "{during:?}");
    // Back after its cooldown, k0 serves again, at most its share: it earned nothing
    // while it cooled (had it, eight requests' credit would send it eight times running),
    // and the attempt that drew the 429 was charged to it like any other.
    d.at(20_000);
    let after: Vec<KeyId> = (0..6)
        .map(|_| d.chat(pool.project, MODEL, |_| ok()).sent()[0])
        .collect();
    let k0s = after.iter().filter(|s| **s == k0).count();
    assert!((1..=2).contains(&k0s), "{after:?}");
    assert!(
        after.windows(2).all(|w| w != [k0, k0]),
        "k0 never twice in a row: {after:?}"
    );
    // From then on, one each per three.
    let steady: Vec<KeyId> = (0..9)
        .map(|_| d.chat(pool.project, MODEL, |_| ok()).sent()[0])
        .collect();
    for k in [k0, k1, k2] {
        assert_eq!(steady.iter().filter(|s| **s == k).count(), 3, "{steady:?}");
    }
}

#[test]
fn same_key_retries_back_off_on_a_single_key_provider() {
    let mut world = World::new();
    let region = world.region("us");
    let provider = world.provider("solo", &[region]);
    world.model(MODEL, &[(provider, region, "solo-model")]);
    let k0 = world.key("k0", provider, Source::Org);
    let project = world.project("p", Mode::ApiKeys);
    let policy = with(|p| {
        p.same_key_retries = Some(SameKeyRetries {
            max: 2,
            backoff: Duration::from_secs(1),
        });
        // The third 500 rests the path: the client gets that 500, not an exhaustion.
        p.exhaustion_answer = ExhaustionAnswer::LastError;
    });
    let mut d = world.gateway(policy.clone());
    let run = d.chat(project, MODEL, |_| server_error());
    assert_eq!(run.sent(), vec![k0, k0, k0], "two retries on the one key");
    assert_eq!(run.answer.status, 500);
    assert_eq!(d.now, Instant(3_000), "after 1 s, then 2 s");
    // A 4xx is never retried on the same key, nor is a pool of two.
    let mut d = world.gateway(policy.clone());
    let run = d.chat(project, MODEL, |_| bad_request());
    assert_eq!(run.sent(), vec![k0]);
    let pool = pool();
    let mut d = pool.world.gateway(policy);
    let run = d.chat(pool.project, MODEL, |_| server_error());
    assert_eq!(
        run.sent(),
        pool.keys.to_vec(),
        "each key once, no same-key retry"
    );
    // And the reference never retries the same key.
    let mut d = world.gateway(Policy::reference());
    assert_eq!(d.chat(project, MODEL, |_| server_error()).sent(), vec![k0]);
}

#[test]
fn forbidden_next_key_fails_over_and_records_nothing() {
    let pool = pool();
    let [k0, k1, _] = pool.keys;
    let mut d = pool
        .world
        .gateway(with(|p| p.forbidden = Forbidden::NextKey));
    let run = d.chat(
        pool.project,
        MODEL,
        failing(&[k0], || http(403, "forbidden")),
    );
    assert_eq!(run.sent(), vec![k0, k1], "the next key, within the request");
    assert!(!d.gateway.is_blacklisted(k0, Scope::of(MODEL)));
    assert_eq!(d.gateway.cooldown_until(k0, Scope::of(MODEL)), None);
    let run = d.chat(pool.project, MODEL, |_| ok());
    assert_eq!(
        run.sent(),
        vec![k0],
        "a later request sends k0 again (LiteLLM F4)"
    );
}

#[test]
fn invalid_key_wording_without_the_structured_code() {
    let pool = pool();
    let [k0, k1, _] = pool.keys;
    let policy = with(|p| p.invalid_key_bodies = InvalidKeyBodies::Wording);
    let mut d = pool.world.gateway(policy);
    let run = d.chat(pool.project, MODEL, failing(&[k0], invalid_key_400));
    assert_eq!(
        run.sent(),
        vec![k0, k1],
        "Gemini's wording is an auth failure"
    );
    let pool = self::pool();
    let mut d = pool
        .world
        .gateway(with(|p| p.invalid_key_bodies = InvalidKeyBodies::Wording));
    let run = d.chat(pool.project, MODEL, failing(&[k0], invalid_key_code_400));
    assert_eq!(
        (run.sent(), run.answer.status),
        (vec![k0], 400),
        "OpenAI's invalid_api_key code under a 400 is a bad request (LiteLLM F5)"
    );
}

#[test]
fn a_passed_on_429_can_lose_its_retry_after() {
    for (passed_on, want) in [(true, Some(30)), (false, None)] {
        let pool = pool();
        let mut d = pool.world.gateway(with(|p| {
            p.upstream_retry_after_passed_on = passed_on;
            p.exhaustion_answer = ExhaustionAnswer::LastError;
            p.wait_rounds_max = 0;
        }));
        let run = d.chat(pool.project, MODEL, |_| rate_limited(Some("30")));
        assert_eq!((run.answer.status, run.answer.retry_after_s), (429, want));
    }
}

#[test]
fn broken_streams_can_end_the_request_unrecorded() {
    let pool = pool();
    let [k0, _, _] = pool.keys;
    let mut d = pool
        .world
        .gateway(with(|p| p.stream_breaks_fail_over = false));
    for _ in 0..3 {
        let run = d.chat(pool.project, MODEL, failing(&[k0], || broken_stream(false)));
        assert_eq!((run.sent(), run.answer.status), (vec![k0], 502));
    }
    for _ in 0..3 {
        let run = d.chat(pool.project, MODEL, failing(&[k0], || broken_stream(true)));
        assert_eq!(run.sent(), vec![k0]);
    }
    let run = d.chat(pool.project, MODEL, |_| ok());
    assert_eq!(
        run.sent(),
        vec![k0],
        "six broken streams never rested k0 (LiteLLM F7)"
    );
}

#[test]
fn error_ratio_rests_a_path_over_the_share_with_enough_requests() {
    let pool = pool();
    let [k0, k1, _] = pool.keys;
    let policy = with(|p| {
        p.unhealthy_rule = UnhealthyRule::ErrorRatio {
            above_bp: 5000,
            min_requests: 5,
        };
        p.history_window = Duration::from_secs(60);
    });
    let mut d = pool.world.gateway(policy);
    // fail, ok, fail, ok: over half failed after the first and the third, but fewer
    // than 5 requests (PR #17464: a first failure alone, 1/1, must not rest the path).
    for (i, fails) in [true, false, true, false].into_iter().enumerate() {
        d.at(i as u64 * 1_000);
        let run = d.chat(pool.project, MODEL, move |a| {
            if fails && a.credential == k0 {
                server_error()
            } else {
                ok()
            }
        });
        assert_eq!(run.sent()[0], k0, "request {i}");
    }
    // A third failure: 3 of 5 failed, over half of at least 5.
    d.at(4_000);
    d.chat(pool.project, MODEL, failing(&[k0], server_error));
    d.at(5_000);
    let run = d.chat(pool.project, MODEL, |_| ok());
    assert_eq!(run.sent(), vec![k1], "k0 rests (LiteLLM PR #17464)");
}

#[test]
fn only_a_requests_first_failure_can_be_recorded() {
    let pool = pool();
    let [k0, k1, k2] = pool.keys;
    let mut d = pool
        .world
        .gateway(with(|p| p.retried_failures_mark_health = false));
    let run = d.chat(
        pool.project,
        MODEL,
        failing(&[k0, k1], || rate_limited(Some("60"))),
    );
    assert_eq!(run.sent(), vec![k0, k1, k2]);
    assert_eq!(
        d.gateway.cooldown_until(k0, Scope::of(MODEL)),
        Some(Instant(60_000))
    );
    assert_eq!(
        d.gateway.cooldown_until(k1, Scope::of(MODEL)),
        None,
        "k1's 429 came on a retry: not recorded (LiteLLM #32574)"
    );
    let run = d.chat(pool.project, MODEL, |_| ok());
    assert_eq!(run.sent(), vec![k1]);
}

#[test]
fn shuffle_spreads_first_picks_and_repeats_them() {
    let pool = pool();
    let firsts = |policy: Policy| -> Vec<KeyId> {
        let mut d = pool.world.gateway(policy);
        (0..30)
            .map(|_| d.chat(pool.project, MODEL, |_| ok()).sent()[0])
            .collect()
    };
    let shuffle = || with(|p| p.key_selection = KeySelection::Shuffle);
    let a = firsts(shuffle());
    assert_eq!(a, firsts(shuffle()), "the same picks on every run");
    for k in pool.keys {
        let n = a.iter().filter(|x| **x == k).count();
        assert!((5..=15).contains(&n), "{k}: {n} of 30 first picks");
    }
}

#[test]
fn shuffle_draws_by_weight_when_the_weights_differ() {
    let mut pool = pool();
    let [k0, k1, k2] = pool.keys;
    pool.world.weigh(k0, 8);
    let mut d = pool
        .world
        .gateway(with(|p| p.key_selection = KeySelection::Shuffle));
    let firsts: Vec<KeyId> = (0..200)
        .map(|_| d.chat(pool.project, MODEL, |_| ok()).sent()[0])
        .collect();
    let share = |k: KeyId| firsts.iter().filter(|x| **x == k).count();
    // 8 : 1 : 1 is 160 : 20 : 20 of 200.
    assert!((140..=180).contains(&share(k0)), "k0: {}", share(k0));
    for k in [k1, k2] {
        assert!((8..=35).contains(&share(k)), "{k}: {}", share(k));
    }
}
