//! What happens after a failure: terminal answers, BYOK, streams, agentic loops, body
//! replay, cooldown waits, typed exhaustion, the attempt budget and timeouts.

use super::*;

/// Providers `a` (keys `a0`, `a1`), `b`, `c`, `d` (one key each), all in `us`, all serving
/// model `m` in that order.
pub(super) struct Chain {
    pub(super) world: World,
    pub(super) project: ProjectId,
    pub(super) a: [KeyId; 2],
    pub(super) others: [KeyId; 3],
    pub(super) providers: [ProviderId; 4],
}

pub(super) fn chain() -> Chain {
    let mut world = World::new();
    let us = world.region("us");
    let providers = ["a", "b", "c", "d"].map(|name| world.provider(name, &[us]));
    let served: Vec<_> = providers.iter().map(|p| (*p, us, "m-up")).collect();
    world.model("m", &served);
    let a = [
        world.key("a0", providers[0], Source::Org),
        world.key("a1", providers[0], Source::Org),
    ];
    let others = [1, 2, 3].map(|i| world.key(&format!("k{i}"), providers[i], Source::Org));
    let project = world.project("p", Mode::ApiKeys);
    Chain {
        world,
        project,
        a,
        others,
        providers,
    }
}

#[test]
fn request_invalid_makes_exactly_one_attempt_and_returns_the_upstream_status() {
    for (status, body) in [
        (400, "messages: field required"),
        (409, "conflict"),
        (413, "request too large"),
        (422, "unprocessable"),
    ] {
        let pool = pool();
        let [k0, _, _] = pool.keys;
        let mut d = pool.world.gateway(Policy::reference());
        let run = d.chat(pool.project, MODEL, |_| http(status, body));
        assert_eq!(run.sent(), vec![k0], "{status}");
        assert_eq!(run.answer.status, status);
        assert_eq!(run.answer.outcome, Outcome::RequestInvalid);
        assert_eq!(run.answer.attempts, 1);
        // Not the key's fault: the next request still starts at the primary.
        assert_eq!(d.chat(pool.project, MODEL, |_| ok()).sent(), vec![k0]);
    }
}

#[test]
fn byok_makes_one_attempt_and_passes_status_and_retry_after_through() {
    let mut pool = pool();
    let user_key = pool.world.key("user", pool.provider, Source::Byok);
    let mut d = pool.world.gateway(Policy::reference());
    let byok = Request {
        byok: Some(user_key),
        ..Request::chat(pool.project, MODEL)
    };
    let run = d.serve(byok.clone(), |_| server_error());
    assert_eq!((run.sent(), run.answer.status), (vec![user_key], 500));
    assert_eq!(run.answer.outcome, Outcome::UpstreamFailed);
    assert_eq!(
        run.answer.hint_key,
        Some(user_key),
        "BYOK keeps its own hint"
    );
    let run = d.serve(byok.clone(), |_| ok());
    assert_eq!((run.sent(), run.answer.status), (vec![user_key], 200));

    // The upstream's Retry-After goes back as is, not capped or replaced.
    let run = d.serve(byok, |_| rate_limited(Some("7200")));
    assert_eq!(run.sent(), vec![user_key]);
    assert_eq!(run.answer.status, 429);
    assert_eq!(run.answer.retry_after_s, Some(7200));
    assert_eq!(run.answer.outcome, Outcome::UpstreamFailed);
}

#[test]
fn stream_broken_before_the_first_byte_fails_over() {
    let pool = pool();
    let [k0, k1, _] = pool.keys;
    let mut d = pool.world.gateway(Policy::reference());
    let stream = Request {
        stream: true,
        ..Request::chat(pool.project, MODEL)
    };
    let run = d.serve(stream, failing(&[k0], || broken_stream(false)));
    assert_eq!(run.sent(), vec![k0, k1]);
    assert_eq!(run.answer.outcome, Outcome::Success);
    let classes = events_of(&d.take_events(), |e| match e {
        Event::Classified { class, .. } => Some(*class),
        _ => None,
    });
    assert_eq!(classes, vec![Class::Network, Class::Success]);
}

#[test]
fn stream_broken_before_the_first_byte_everywhere_is_a_gateway_error() {
    let pool = pool();
    let mut d = pool.world.gateway(Policy::reference());
    let stream = Request {
        stream: true,
        ..Request::chat(pool.project, MODEL)
    };
    let run = d.serve(stream, |_| broken_stream(false));
    assert_eq!(run.sent(), pool.keys.to_vec());
    assert_eq!(run.answer.outcome, Outcome::UpstreamFailed);
    assert_eq!(
        run.answer.status, 502,
        "nothing reached the client: not a 200"
    );
}

#[test]
fn stream_broken_after_the_first_byte_is_relayed_without_failover() {
    let pool = pool();
    let [k0, _, _] = pool.keys;
    let mut d = pool.world.gateway(Policy::reference());
    let stream = Request {
        stream: true,
        ..Request::chat(pool.project, MODEL)
    };
    let run = d.serve(stream, |_| broken_stream(true));
    assert_eq!(run.sent(), vec![k0]);
    assert_eq!(run.answer.outcome, Outcome::StreamInterrupted);
    assert_eq!(run.answer.status, 200, "the error went in-stream under 200");
}

#[test]
fn each_agentic_iteration_walks_the_pool_afresh_from_the_primary() {
    let pool = pool();
    let [k0, k1, _] = pool.keys;
    let mut d = pool.world.gateway(Policy::reference());
    let agentic = Request {
        iterations: 3,
        ..Request::chat(pool.project, MODEL)
    };
    // k0 fails once per iteration with a 500 (not enough to mark it unhealthy).
    let mut k0_answers = 0;
    let run = d.serve(agentic, |a| {
        if a.credential == k0 {
            k0_answers += 1;
            if k0_answers == 1 {
                return server_error();
            }
        }
        ok()
    });
    let walk: Vec<(u32, KeyId)> = run
        .attempts
        .iter()
        .map(|a| (a.iteration, a.credential))
        .collect();
    assert_eq!(walk, vec![(1, k0), (1, k1), (2, k0), (3, k0)]);
    assert_eq!(run.answer.outcome, Outcome::Success);
    assert_eq!(run.answer.attempts, 4);
}

/// A request of `iterations` upstream calls, streamed or not.
fn agentic(pool: &Pool, iterations: u32, stream: bool) -> Request {
    Request {
        iterations,
        stream,
        ..Request::chat(pool.project, MODEL)
    }
}

/// Iteration 1 is served; every later call is answered with `later`.
fn served_then(later: fn() -> Response) -> impl FnMut(&Attempt) -> Response {
    move |a: &Attempt| if a.iteration == 1 { ok() } else { later() }
}

#[test]
fn exhaustion_after_a_streamed_iteration_is_an_in_stream_error_under_200() {
    let pool = pool();
    let mut d = pool.world.gateway(Policy::reference());
    let run = d.serve(
        agentic(&pool, 2, true),
        served_then(|| rate_limited(Some("90"))),
    );
    assert_eq!(run.answer.outcome, Outcome::ExhaustedTransient);
    assert_eq!(run.answer.status, 200, "the 200 of iteration 1 was sent");
    assert_eq!(run.answer.retry_after_s, None, "no header after the 200");
    assert_eq!(
        run.answer.stream_error,
        Some(StreamError {
            status: 429,
            retry_after_s: Some(90)
        }),
        "the error event carries the 429 and its Retry-After"
    );
}

#[test]
fn exhaustion_before_any_byte_stays_429_with_retry_after() {
    // Not streamed: each iteration's answer stays with the gateway until the loop ends.
    // Streamed but failing in iteration 1: nothing reached the client yet.
    for (request, later_only) in [
        (agentic(&pool(), 2, false), true),
        (agentic(&pool(), 2, true), false),
    ] {
        let pool = pool();
        let mut d = pool.world.gateway(Policy::reference());
        let run = if later_only {
            d.serve(request, served_then(|| rate_limited(Some("90"))))
        } else {
            d.serve(request, |_| rate_limited(Some("90")))
        };
        assert_eq!(run.answer.outcome, Outcome::ExhaustedTransient);
        assert_eq!(
            (run.answer.status, run.answer.retry_after_s),
            (429, Some(90))
        );
        assert_eq!(run.answer.stream_error, None);
    }
}

#[test]
fn any_failure_after_a_streamed_iteration_is_relayed_in_stream() {
    let pool = pool();
    let mut d = pool.world.gateway(Policy::reference());
    let run = d.serve(agentic(&pool, 3, true), served_then(server_error));
    assert_eq!(run.answer.outcome, Outcome::UpstreamFailed);
    assert_eq!((run.answer.status, run.answer.retry_after_s), (200, None));
    assert_eq!(
        run.answer.stream_error,
        Some(StreamError {
            status: 500,
            retry_after_s: None
        })
    );
    // A loop served to the end has no error event.
    let run = d.serve(agentic(&pool, 2, true), |_| ok());
    assert_eq!((run.answer.status, run.answer.stream_error), (200, None));
}

#[test]
fn passthrough_body_is_identical_on_every_attempt() {
    let pool = pool();
    let [k0, k1, k2] = pool.keys;
    let mut d = pool.world.gateway(Policy::reference());
    let passthrough = Request {
        kind: RequestKind::Passthrough,
        body_bytes: 1_234,
        body_digest: 0xfeed_beef,
        ..Request::chat(pool.project, MODEL)
    };
    let run = d.serve(passthrough, failing(&[k0, k1], server_error));
    assert_eq!(run.sent(), vec![k0, k1, k2]);
    for a in &run.attempts {
        assert_eq!((a.body_bytes, a.body_digest), (1_234, 0xfeed_beef));
        assert_eq!(a.kind, RequestKind::Passthrough);
    }
}

/// Alias `pool` over `m1` (provider `p`, upstream `up-1`) and `m2` (provider `q`,
/// upstream `up-2`); keys `p0` and `q0`.
pub(super) fn alias_world() -> (World, ProjectId, KeyId, KeyId) {
    let mut world = World::new();
    let us = world.region("us");
    let p = world.provider("p", &[us]);
    let q = world.provider("q", &[us]);
    let m1 = world.model("m1", &[(p, us, "up-1")]);
    let m2 = world.model("m2", &[(q, us, "up-2")]);
    world.alias("pool", &[m1, m2]);
    let p0 = world.key("p0", p, Source::Org);
    let q0 = world.key("q0", q, Source::Org);
    let project = world.project("proj", Mode::ApiKeys);
    (world, project, p0, q0)
}

#[test]
fn alias_with_every_candidate_cooling_waits_for_the_soonest_end_and_retries() {
    let (world, project, p0, q0) = alias_world();
    let mut d = world.gateway(Policy::reference());
    let id = d.submit(Request::chat(project, "pool"));
    let first = d.take_attempt();
    assert_eq!(first.credential, p0);
    d.respond(first.id, rate_limited(Some("20")));
    let second = d.take_attempt();
    assert_eq!(second.credential, q0);
    d.at(1_000);
    d.respond(second.id, rate_limited(Some("10")));

    assert_eq!(d.answer(id), None, "waiting, not failing");
    assert_eq!(
        d.gateway.poll_timeout(),
        Some((Instant(11_000), TimerReason::CooldownWait(id)))
    );
    assert!(d.take_events().contains(&Event::Waiting {
        request: id,
        until: Instant(11_000),
    }));
    d.at(11_000);
    d.fire_timers();
    let retry = d.take_attempt();
    assert_eq!(retry.credential, q0, "the soonest cooldown ended first");
    d.respond(retry.id, ok());
    let answer = d.answer(id).expect("answered after the retry");
    assert_eq!(answer.outcome, Outcome::Success);
    assert_eq!(answer.attempts, 3);
}

#[test]
fn no_wait_when_the_soonest_cooldown_ends_after_wait_max() {
    let (world, project, _, _) = alias_world();
    let mut d = world.gateway(Policy::reference());
    let run = d.chat(project, "pool", |_| rate_limited(Some("31")));
    assert_eq!(run.answer.outcome, Outcome::ExhaustedTransient);
    assert_eq!(run.answer.retry_after_s, Some(31));
}

#[test]
fn exhaustion_while_every_key_cools_is_429_with_the_soonest_end() {
    let pool = pool();
    let [k0, k1, k2] = pool.keys;
    let mut d = pool.world.gateway(Policy::reference());
    let run = d.chat(pool.project, MODEL, |a| match a.credential {
        k if k == k0 => rate_limited(Some("200")),
        k if k == k1 => rate_limited(Some("90")),
        _ => rate_limited(Some("150")),
    });
    assert_eq!(run.sent(), vec![k0, k1, k2]);
    assert_eq!(run.answer.outcome, Outcome::ExhaustedTransient);
    assert_eq!(run.answer.status, 429);
    assert_eq!(
        run.answer.retry_after_s,
        Some(90),
        "the soonest end, not the last hint"
    );

    // A later request finds every key cooling: no attempt, Retry-After rounded up.
    d.at(500);
    let run = d.chat(pool.project, MODEL, |_| ok());
    assert!(run.attempts.is_empty());
    assert_eq!(run.answer.outcome, Outcome::ExhaustedTransient);
    assert_eq!(
        (run.answer.status, run.answer.retry_after_s),
        (429, Some(90))
    );
    // 30 001 ms before the soonest end: over wait_max, answered at once.
    d.at(59_999);
    let run = d.chat(pool.project, MODEL, |_| ok());
    assert_eq!(
        (run.answer.outcome, run.answer.retry_after_s),
        (Outcome::ExhaustedTransient, Some(31))
    );
    // Exactly wait_max before it: the request waits and is served by k1.
    d.at(60_000);
    let run = d.chat(pool.project, MODEL, |_| ok());
    assert_eq!(run.sent(), vec![k1]);
    assert_eq!(run.answer.outcome, Outcome::Success);
    assert_eq!(d.now, Instant(90_000), "served when the cooldown ended");
}

#[test]
fn exhaustion_with_every_key_blacklisted_is_502() {
    let pool = pool();
    let mut d = pool.world.gateway(Policy::reference());
    let run = d.chat(pool.project, MODEL, |_| http(401, "invalid token"));
    assert_eq!(run.sent(), pool.keys.to_vec());
    assert_eq!(run.answer.outcome, Outcome::ExhaustedPermanent);
    assert_eq!((run.answer.status, run.answer.retry_after_s), (502, None));
    assert_eq!(
        run.answer.hint_key,
        Some(pool.keys[2]),
        "the last key tried"
    );

    let run = d.chat(pool.project, OTHER_MODEL, |_| ok());
    assert!(run.attempts.is_empty());
    assert_eq!(
        (run.answer.outcome, run.answer.status),
        (Outcome::ExhaustedPermanent, 502)
    );
}

#[test]
fn failures_that_block_nothing_return_the_last_upstream_error() {
    let pool = pool();
    let mut d = pool.world.gateway(Policy::reference());
    let run = d.chat(pool.project, MODEL, |_| http(503, "overloaded"));
    assert_eq!(run.sent(), pool.keys.to_vec());
    assert_eq!(
        (run.answer.outcome, run.answer.status),
        (Outcome::UpstreamFailed, 503)
    );
}

#[test]
fn attempt_budget_counts_distinct_provider_regions_and_alternate_keys_are_free() {
    let chain = chain();
    let [a0, a1] = chain.a;
    let [b0, c0, _] = chain.others;
    let mut d = chain.world.gateway(Policy::reference());
    let run = d.chat(chain.project, "m", |_| server_error());
    assert_eq!(
        run.sent(),
        vec![a0, a1, b0, c0],
        "d is over the budget of 3"
    );
    let charged: Vec<bool> = run.attempts.iter().map(|a| a.charged).collect();
    assert_eq!(charged, vec![true, false, true, true]);
    assert_eq!(
        (run.answer.outcome, run.answer.status),
        (Outcome::UpstreamFailed, 500)
    );
    let charges = events_of(&d.take_events(), |e| match e {
        Event::Charged { provider, .. } => Some(*provider),
        _ => None,
    });
    assert_eq!(charges, chain.providers[..3].to_vec());
}

#[test]
fn a_blocked_provider_costs_no_budget() {
    let chain = chain();
    let [a0, a1] = chain.a;
    let [b0, c0, d0] = chain.others;
    let mut d = chain.world.gateway(Policy::reference());
    // Both keys of `a` get blacklisted.
    d.chat(chain.project, "m", failing(&[a0, a1], || http(401, "no")));
    d.at(1_000);
    let run = d.chat(chain.project, "m", failing(&[b0, c0], server_error));
    assert_eq!(run.sent(), vec![b0, c0, d0]);
    assert_eq!(run.answer.outcome, Outcome::Success);
}

#[test]
fn explicit_provider_model_disables_cross_provider_fallback_but_keeps_alternate_keys() {
    let chain = chain();
    let [a0, a1] = chain.a;
    let [b0, _, _] = chain.others;
    let mut d = chain.world.gateway(Policy::reference());
    let run = d.chat(chain.project, "a/m", |_| server_error());
    assert_eq!(run.sent(), vec![a0, a1], "never leaves provider a");
    assert_eq!(run.answer.outcome, Outcome::UpstreamFailed);

    let run = d.chat(chain.project, "b/m", |_| ok());
    assert_eq!(run.sent(), vec![b0]);
    let run = d.chat(chain.project, "nope/m", |_| ok());
    assert_eq!(run.answer.outcome, Outcome::NoRoute);
}

#[test]
fn unknown_model_has_no_route() {
    let pool = pool();
    let mut d = pool.world.gateway(Policy::reference());
    let run = d.chat(pool.project, "no-such-model", |_| ok());
    assert!(run.attempts.is_empty());
    assert_eq!(
        (run.answer.outcome, run.answer.status),
        (Outcome::NoRoute, 404)
    );
}

#[test]
fn an_attempt_without_an_answer_times_out_and_fails_over() {
    let pool = pool();
    let [k0, k1, _] = pool.keys;
    let mut d = pool.world.gateway(Policy::reference());
    let id = d.submit(Request::chat(pool.project, MODEL));
    let first = d.take_attempt();
    assert_eq!(
        d.gateway.poll_timeout(),
        Some((Instant(60_000), TimerReason::AttemptDeadline(first.id)))
    );
    d.at(59_999);
    d.fire_timers();
    assert!(!d.has_pending(), "not due yet");
    d.at(60_000);
    d.fire_timers();
    let second = d.take_attempt();
    assert_eq!((first.credential, second.credential), (k0, k1));
    d.respond(first.id, ok());
    d.respond(second.id, ok());
    assert_eq!(d.answer(id).map(|a| a.hint_key), Some(Some(k1)));
    let events = d.take_events();
    assert!(events.contains(&Event::Classified {
        attempt: first.id,
        class: Class::Timeout,
    }));
    assert!(events.contains(&Event::StaleResponse { attempt: first.id }));
}

#[test]
fn a_cancelled_request_is_never_answered_and_its_late_answer_is_stale() {
    let pool = pool();
    let mut d = pool.world.gateway(Policy::reference());
    let id = d.submit(Request::chat(pool.project, MODEL));
    let attempt = d.take_attempt();
    d.gateway.cancel(d.now, id);
    assert_eq!(d.gateway.open_requests(), 0);
    assert_eq!(d.gateway.poll_timeout(), None, "the deadline went with it");
    d.respond(attempt.id, ok());
    assert_eq!(d.answer(id), None);
    assert!(d.take_events().contains(&Event::StaleResponse {
        attempt: attempt.id
    }));
}

/// Every action and event of a fixed script, rendered as text.
fn transcript(events_enabled: bool) -> (Vec<String>, Vec<String>) {
    let chain = chain();
    let [a0, _] = chain.a;
    let mut d = chain.world.gateway(Policy::reference());
    d.gateway.set_events_enabled(events_enabled);
    let mut answers = Vec::new();
    for i in 0..20u64 {
        // Waits for cooldowns may have moved the clock past the next arrival.
        let arrival = d.now.as_ms().max(i * 700);
        d.at(arrival);
        let run = d.chat(chain.project, "m", |a| match (a.credential, a.id.0 % 4) {
            (k, _) if k == a0 => rate_limited(Some("3")),
            (_, 0) => server_error(),
            (_, 1) => connect_error(),
            _ => ok(),
        });
        answers.push(format!("{:?} {:?}", run.sent(), run.answer));
    }
    let events = d.events.iter().map(|(t, e)| format!("{t} {e:?}")).collect();
    (answers, events)
}

#[test]
fn the_same_inputs_give_the_same_outputs_and_events_change_no_decision() {
    let (answers, events) = transcript(true);
    assert_eq!((answers.clone(), events.clone()), transcript(true));
    assert!(!events.is_empty());
    let (quiet_answers, quiet_events) = transcript(false);
    assert_eq!(quiet_answers, answers);
    assert!(quiet_events.is_empty());
}

#[test]
fn invalid_configurations_are_rejected_with_the_reason() {
    let pool = pool();
    let policy = |f: fn(&mut Policy)| {
        let mut p = Policy::reference();
        f(&mut p);
        p
    };
    let mut catalog = pool
        .world
        .gateway(Policy::reference())
        .gateway
        .catalog()
        .clone();
    for (bad, field) in [
        (policy(|p| p.attempts_max = 0), "attempts_max"),
        (policy(|p| p.scopes_max = 0), "scopes_max"),
        (
            policy(|p| p.attempt_timeout = Duration::ZERO),
            "attempt_timeout",
        ),
        (policy(|p| p.history_entries_max = 0), "history_entries_max"),
    ] {
        let err = Gateway::new(catalog.clone(), bad).expect_err(field);
        assert!(
            err.to_string().starts_with(&format!("policy.{field}: ")),
            "{err}"
        );
    }
    catalog.credentials[0].provider = ProviderId(9);
    let err = Gateway::new(catalog, Policy::reference()).expect_err("dangling provider");
    assert_eq!(
        err,
        ConfigError::Dangling {
            what: "provider",
            index: 9
        }
    );
    assert_eq!(err.to_string(), "provider 9 does not exist");
}

#[test]
#[should_panic(expected = "time went backwards")]
fn time_going_backwards_is_a_bug_of_the_embedding() {
    let pool = pool();
    let mut d = pool.world.gateway(Policy::reference());
    d.gateway
        .submit(Instant(10), Request::chat(pool.project, MODEL));
    d.gateway
        .submit(Instant(9), Request::chat(pool.project, MODEL));
}
