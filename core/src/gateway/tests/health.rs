//! Key health: blacklist, cooldowns, unhealthy marks, suspensions and the scope cap.

use super::*;

fn cooling_until(d: &Driver, key: KeyId, model: &str) -> Instant {
    d.gateway
        .cooldown_until(key, Scope::of(model))
        .expect("the key has a health entry for the model")
}

#[test]
fn invalid_key_400_rotates_to_next_key_and_blacklists_it_for_every_model() {
    let pool = pool();
    let [k0, k1, _] = pool.keys;
    let mut d = pool.world.gateway(Policy::reference());

    let run = d.chat(pool.project, MODEL, failing(&[k0], invalid_key_400));
    assert_eq!(run.sent(), vec![k0, k1], "rotates within the request");
    assert_eq!(run.answer.status, 200);
    assert_eq!(run.answer.outcome, Outcome::Success);
    assert!(
        !run.attempts[1].charged,
        "an alternate key of the same provider is free"
    );
    let events = d.take_events();
    assert!(events.contains(&Event::Blacklisted {
        credential: k0,
        scope: None,
        attempt: run.attempts[0].id,
    }));

    // Later requests, for this model and any other, never send k0 again.
    d.at(3_600_000);
    for model in [MODEL, OTHER_MODEL] {
        let run = d.chat(pool.project, model, |_| ok());
        assert_eq!(run.sent(), vec![k1], "{model}");
        assert!(d.gateway.is_blacklisted(k0, Scope::of(model)));
    }
    let skipped = events_of(&d.take_events(), |e| match e {
        Event::Skipped {
            credential, block, ..
        } => Some((*credential, *block)),
        _ => None,
    });
    assert_eq!(skipped, vec![(k0, Block::Blacklisted); 2]);
}

#[test]
fn unauthorized_and_forbidden_blacklist_the_key() {
    for status in [401, 403] {
        let pool = pool();
        let [k0, k1, k2] = pool.keys;
        let mut d = pool.world.gateway(Policy::reference());
        let run = d.chat(pool.project, MODEL, failing(&[k0], || http(status, "nope")));
        assert_eq!(run.sent(), vec![k0, k1], "{status}");
        let run = d.chat(pool.project, OTHER_MODEL, |_| ok());
        assert_eq!(run.sent(), vec![k1], "{status}");
        assert!(!d.gateway.is_blacklisted(k2, Scope::of(MODEL)));
    }
}

#[test]
fn rate_limit_cools_the_key_until_retry_after() {
    let pool = pool();
    let [k0, k1, _] = pool.keys;
    let mut d = pool.world.gateway(Policy::reference());

    let run = d.chat(
        pool.project,
        MODEL,
        failing(&[k0], || rate_limited(Some("10"))),
    );
    assert_eq!(run.sent(), vec![k0, k1]);
    assert!(d.take_events().contains(&Event::CooledDown {
        credential: k0,
        scope: Scope::of(MODEL),
        until: Instant(10_000),
        attempt: run.attempts[0].id,
    }));
    d.at(9_999);
    assert_eq!(d.chat(pool.project, MODEL, |_| ok()).sent(), vec![k1]);
    // The cooldown is per (key, model): the other model still gets the primary.
    assert_eq!(d.chat(pool.project, OTHER_MODEL, |_| ok()).sent(), vec![k0]);
}

#[test]
fn rate_limit_without_usable_retry_after_cools_for_60s() {
    for header in [None, Some("soon"), Some("0")] {
        let pool = pool();
        let [k0, k1, _] = pool.keys;
        let mut d = pool.world.gateway(Policy::reference());
        d.at(5_000);
        d.chat(pool.project, MODEL, failing(&[k0], || rate_limited(header)));
        assert_eq!(cooling_until(&d, k0, MODEL), Instant(65_000), "{header:?}");
        d.at(64_999);
        assert_eq!(d.chat(pool.project, MODEL, |_| ok()).sent(), vec![k1]);
        d.at(65_000);
        assert_eq!(d.chat(pool.project, MODEL, |_| ok()).sent(), vec![k0]);
    }
}

#[test]
fn shorter_second_rate_limit_never_shrinks_the_cooldown() {
    let pool = pool();
    let [k0, k1, _] = pool.keys;
    let mut d = pool.world.gateway(Policy::reference());
    // Two concurrent requests both start on the primary.
    let first = d.submit(Request::chat(pool.project, MODEL));
    let second = d.submit(Request::chat(pool.project, MODEL));
    let a = d.take_attempt();
    let b = d.take_attempt();
    assert_eq!((a.request, a.credential), (first, k0));
    assert_eq!((b.request, b.credential), (second, k0));

    d.respond(a.id, rate_limited(Some("60")));
    d.at(1_000);
    d.respond(b.id, rate_limited(Some("5")));
    assert_eq!(cooling_until(&d, k0, MODEL), Instant(60_000));
    let ends = events_of(&d.take_events(), |e| match e {
        Event::CooledDown { until, .. } => Some(*until),
        _ => None,
    });
    assert_eq!(
        ends,
        vec![Instant(60_000); 2],
        "the merged end is reported both times"
    );

    // Both requests fell over to k1; at t=10 s k0 is still cooling.
    while d.has_pending() {
        let next = d.take_attempt();
        assert_eq!(next.credential, k1);
        d.respond(next.id, ok());
    }
    d.at(10_000);
    assert_eq!(d.chat(pool.project, MODEL, |_| ok()).sent(), vec![k1]);
}

#[test]
fn cooldown_ends_exactly_at_its_end_instant_and_the_primary_is_preferred_again() {
    let pool = pool();
    let [k0, k1, _] = pool.keys;
    let mut d = pool.world.gateway(Policy::reference());
    d.chat(
        pool.project,
        MODEL,
        failing(&[k0], || rate_limited(Some("30"))),
    );
    assert_eq!(cooling_until(&d, k0, MODEL), Instant(30_000));

    d.at(29_999);
    assert_eq!(d.chat(pool.project, MODEL, |_| ok()).sent(), vec![k1]);
    d.at(30_000);
    let run = d.chat(pool.project, MODEL, |_| ok());
    assert_eq!(
        run.sent(),
        vec![k0],
        "valid again with no action at the end instant"
    );
    assert_eq!(run.answer.hint_key, Some(k0));
}

#[test]
fn three_consecutive_server_errors_make_the_key_unhealthy_for_30s() {
    let pool = pool();
    let [k0, k1, _] = pool.keys;
    let mut d = pool.world.gateway(Policy::reference());
    for i in 0..3u64 {
        d.at(i * 1_000);
        let run = d.chat(pool.project, MODEL, failing(&[k0], server_error));
        assert_eq!(run.sent(), vec![k0, k1], "error #{}", i + 1);
    }
    // Which scope value carries the mark is the health module's business; that it is
    // this model's (and not the other one's) is checked by routing below.
    let marks = events_of(&d.take_events(), |e| match e {
        Event::MarkedUnhealthy {
            credential, until, ..
        } => Some((*credential, *until)),
        _ => None,
    });
    assert_eq!(
        marks,
        vec![(k0, Instant(32_000))],
        "only the third error marks"
    );

    d.at(31_999);
    assert_eq!(d.chat(pool.project, MODEL, |_| ok()).sent(), vec![k1]);
    assert_eq!(
        d.chat(pool.project, OTHER_MODEL, |_| ok()).sent(),
        vec![k0],
        "unhealthy for this model only"
    );
    d.at(32_000);
    assert_eq!(d.chat(pool.project, MODEL, |_| ok()).sent(), vec![k0]);
}

#[test]
fn a_success_resets_the_consecutive_error_count() {
    let pool = pool();
    let [k0, k1, _] = pool.keys;
    let mut d = pool.world.gateway(Policy::reference());
    // k0: error, error, success, error, error: never three in a row.
    let script = [false, false, true, false, false];
    for (i, k0_ok) in script.into_iter().enumerate() {
        d.at(i as u64 * 1_000);
        let run = d.chat(pool.project, MODEL, |a| {
            if a.credential == k0 && !k0_ok {
                server_error()
            } else {
                ok()
            }
        });
        assert_eq!(run.sent()[0], k0, "request {i} starts at the primary");
    }
    assert!(!d
        .take_events()
        .iter()
        .any(|e| matches!(e, Event::MarkedUnhealthy { .. })));
    let run = d.chat(pool.project, MODEL, failing(&[k0], server_error));
    assert_eq!(run.sent(), vec![k0, k1]);
    assert!(d
        .take_events()
        .iter()
        .any(|e| matches!(e, Event::MarkedUnhealthy { credential, .. } if *credential == k0)));
}

#[test]
fn model_unsupported_suspends_the_key_and_upstream_for_12h_and_falls_over() {
    let pool = pool();
    let [k0, k1, _] = pool.keys;
    let mut d = pool.world.gateway(Policy::reference());
    let run = d.chat(pool.project, MODEL, failing(&[k0], model_unsupported));
    assert_eq!(run.sent(), vec![k0, k1]);
    assert_eq!(run.answer.outcome, Outcome::Success);
    let twelve_hours = 12 * 3_600_000;
    assert!(d.take_events().contains(&Event::Suspended {
        credential: k0,
        scope: Scope::of("gpt-4o-2024-08-06"),
        until: Instant(twelve_hours),
        attempt: run.attempts[0].id,
    }));

    d.at(1_000);
    assert_eq!(d.chat(pool.project, MODEL, |_| ok()).sent(), vec![k1]);
    assert_eq!(
        d.chat(pool.project, OTHER_MODEL, |_| ok()).sent(),
        vec![k0],
        "another upstream model is not suspended"
    );
    d.at(twelve_hours - 1);
    assert_eq!(d.chat(pool.project, MODEL, |_| ok()).sent(), vec![k1]);
    d.at(twelve_hours);
    assert_eq!(d.chat(pool.project, MODEL, |_| ok()).sent(), vec![k0]);
}

#[test]
fn count_tokens_success_never_clears_cooldowns_or_suspensions() {
    let pool = pool();
    let [k0, k1, k2] = pool.keys;
    let mut d = pool.world.gateway(Policy::reference());
    // k0 cools for gpt-4o; k1 gets suspended for gpt-4o's upstream.
    let run = d.chat(pool.project, MODEL, |a| match a.credential {
        k if k == k0 => rate_limited(Some("60")),
        k if k == k1 => model_unsupported(),
        _ => ok(),
    });
    assert_eq!(run.sent(), vec![k0, k1, k2]);

    d.at(1_000);
    let count = Request {
        kind: RequestKind::CountTokens,
        ..Request::chat(pool.project, MODEL)
    };
    let run = d.serve(count, |_| ok());
    assert_eq!(run.answer.outcome, Outcome::Success);
    assert_eq!(run.sent(), vec![k0], "a local token count spends no quota");
    assert!(!d
        .take_events()
        .iter()
        .any(|e| matches!(e, Event::Resumed { .. })));
    assert_eq!(cooling_until(&d, k0, MODEL), Instant(60_000));

    d.at(2_000);
    assert_eq!(d.chat(pool.project, MODEL, |_| ok()).sent(), vec![k2]);
}

#[test]
fn count_tokens_failures_still_count() {
    let pool = pool();
    let [k0, k1, _] = pool.keys;
    let mut d = pool.world.gateway(Policy::reference());
    let count = Request {
        kind: RequestKind::CountTokens,
        ..Request::chat(pool.project, MODEL)
    };
    let run = d.serve(count, failing(&[k0], || http(401, "unauthorized")));
    assert_eq!(run.sent(), vec![k0, k1]);
    assert!(d.gateway.is_blacklisted(k0, Scope::of(OTHER_MODEL)));
}

/// A provider that accepts any model name, keys `c0` (to be blacklisted) and `c1`.
fn open_world() -> (World, ProjectId, KeyId, KeyId) {
    let mut world = World::new();
    let region = world.region("us");
    let provider = world.open_provider("custom", &[region]);
    let c0 = world.key("c0", provider, Source::Org);
    let c1 = world.key("c1", provider, Source::Org);
    let project = world.project("p", Mode::ApiKeys);
    (world, project, c0, c1)
}

#[test]
fn flood_of_custom_model_names_stays_under_the_scope_cap_and_keeps_the_blacklist() {
    let (world, project, c0, c1) = open_world();
    let policy = Policy::reference();
    let cap = policy.scopes_max as usize;
    let mut d = world.gateway(policy);
    let run = d.chat(project, "bad-key-model", failing(&[c0], || http(401, "no")));
    assert_eq!(run.sent(), vec![c0, c1]);

    for i in 0..10_000u64 {
        d.at(i);
        let run = d.chat(project, &format!("custom-{i}"), |_| ok());
        assert_eq!(run.sent(), vec![c1], "request {i}");
        assert!(d.gateway.tracked_entries() <= cap);
        if i % 1_000 == 0 {
            d.take_events();
        }
    }
    assert_eq!(d.gateway.tracked_entries(), cap, "the cap was reached");
    assert!(d.gateway.stats().tracked_entries() <= 2 * cap);
    assert!(d.gateway.is_blacklisted(c0, Scope::of("bad-key-model")));
    assert!(d.gateway.is_blacklisted(c0, Scope::of("custom-9999")));
}

#[test]
fn scope_cap_never_evicts_a_scoped_blacklist() {
    // With the blacklist stored on a scope entry (the scoped-blacklist knob) it must be
    // pinned against eviction.
    let (world, project, c0, c1) = open_world();
    let policy = Policy {
        scopes_max: 16,
        ..knob(Regression::ScopedAuthBlacklist)
    };
    let mut d = world.gateway(policy);
    d.chat(project, "bad-key-model", failing(&[c0], || http(401, "no")));
    for i in 0..1_000u64 {
        d.at(i);
        d.chat(project, &format!("custom-{i}"), |_| ok());
        assert!(d.gateway.tracked_entries() <= 16);
    }
    assert!(d
        .take_events()
        .iter()
        .any(|e| matches!(e, Event::Evicted { .. })));
    assert!(d.gateway.is_blacklisted(c0, Scope::of("bad-key-model")));
    let run = d.chat(project, "bad-key-model", |_| ok());
    assert_eq!(run.sent(), vec![c1]);
}

#[test]
fn reinstating_a_credential_clears_its_blacklist() {
    let pool = pool();
    let [k0, k1, _] = pool.keys;
    let mut d = pool.world.gateway(Policy::reference());
    d.chat(pool.project, MODEL, failing(&[k0], invalid_key_400));
    assert_eq!(d.chat(pool.project, MODEL, |_| ok()).sent(), vec![k1]);
    d.at(1_000);
    d.gateway.reinstate_credential(d.now, k0);
    assert!(!d.gateway.is_blacklisted(k0, Scope::of(MODEL)));
    assert_eq!(d.chat(pool.project, MODEL, |_| ok()).sent(), vec![k0]);
}

#[test]
fn health_is_written_to_the_scope_of_the_attempt_even_when_alias_members_share_an_upstream() {
    // Two canonical models served by the same upstream model of one provider.
    let mut world = World::new();
    let us = world.region("us");
    let p = world.provider("p", &[us]);
    let latest = world.model("gpt-4o-latest", &[(p, us, "gpt-4o-2024-08-06")]);
    let pinned = world.model("gpt-4o", &[(p, us, "gpt-4o-2024-08-06")]);
    world.alias("gpt-4o-pool", &[latest, pinned]);
    world.key("k0", p, Source::Org);
    let project = world.project("proj", Mode::ApiKeys);
    let mut d = world.gateway(Policy::reference());

    let run = d.chat(project, "gpt-4o-pool", |_| rate_limited(Some("120")));
    let scopes: Vec<Scope> = run.attempts.iter().map(|a| a.scope).collect();
    assert_eq!(
        scopes,
        vec![Scope::of("gpt-4o-latest"), Scope::of("gpt-4o")]
    );
    let cooled = events_of(&d.take_events(), |e| match e {
        Event::CooledDown { scope, .. } => Some(*scope),
        _ => None,
    });
    assert_eq!(cooled, scopes, "each 429 lands on its own attempt's scope");
    d.at(1_000);
    let run = d.chat(project, "gpt-4o", |_| ok());
    assert!(
        run.attempts.is_empty(),
        "k0 is cooling for gpt-4o: {:?}",
        run.sent()
    );
    assert_eq!(run.answer.outcome, Outcome::ExhaustedTransient);
}

#[test]
fn rate_limit_hints_in_every_form_set_the_cooldown_end() {
    let in_65_s = crate::classify::format_http_date(EPOCH_UNIX_S + 65);
    let cases: [(Option<&str>, Option<&str>, u64); 4] = [
        (Some("10"), Some("1500.5"), 5_000 + 1_501),
        (Some(in_65_s.as_str()), None, 65_000),
        (Some("1555200"), None, 5_000 + 3_600_000),
        (Some("-5"), Some("1e3"), 5_000 + 60_000),
    ];
    for (retry_after, retry_after_ms, until) in cases {
        let pool = pool();
        let [k0, _, _] = pool.keys;
        let mut d = pool.world.gateway(Policy::reference());
        d.at(5_000);
        let answer = Response::Http(HttpAnswer {
            retry_after: retry_after.map(str::to_string),
            retry_after_ms: retry_after_ms.map(str::to_string),
            ..HttpAnswer::new(429, "slow down")
        });
        d.chat(pool.project, MODEL, failing(&[k0], move || answer.clone()));
        assert_eq!(
            cooling_until(&d, k0, MODEL),
            Instant(until),
            "{retry_after:?} {retry_after_ms:?}"
        );
    }
}

#[test]
fn model_unsupported_in_an_alias_falls_over_to_a_sibling_upstream_with_the_same_key() {
    let mut world = World::new();
    let us = world.region("us");
    let p = world.provider("p", &[us]);
    let m1 = world.model("m1", &[(p, us, "up-1")]);
    let m2 = world.model("m2", &[(p, us, "up-2")]);
    world.alias("pool", &[m1, m2]);
    let k0 = world.key("k0", p, Source::Org);
    let project = world.project("proj", Mode::ApiKeys);
    let mut d = world.gateway(Policy::reference());
    let upstream = |a: &Attempt| {
        if a.upstream.as_ref() == "up-1" {
            model_unsupported()
        } else {
            ok()
        }
    };
    let run = d.chat(project, "pool", upstream);
    let tried: Vec<(KeyId, String)> = run
        .attempts
        .iter()
        .map(|a| (a.credential, a.upstream.to_string()))
        .collect();
    assert_eq!(tried, vec![(k0, "up-1".into()), (k0, "up-2".into())]);
    assert_eq!(run.answer.outcome, Outcome::Success);
    // The next request starting on m1 skips the suspended path without an attempt.
    let run = d.chat(project, "pool", upstream);
    let run = if run.attempts[0].upstream.as_ref() == "up-2" {
        d.chat(project, "pool", upstream)
    } else {
        run
    };
    assert_eq!(run.attempts.len(), 1);
    assert_eq!(run.attempts[0].upstream.as_ref(), "up-2");
}
