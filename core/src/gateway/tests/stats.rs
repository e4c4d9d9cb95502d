//! Uptime statistics, provider scores, key uptime and the credential hint.

use super::routing::regional_world;
use super::*;

/// `Counted` events as (attempt, mapping, model, ok).
pub(super) fn counted(events: &[Event]) -> Vec<(AttemptId, bool, bool, bool)> {
    events_of(events, |e| match e {
        Event::Counted {
            attempt,
            mapping,
            model,
            ok,
        } => Some((*attempt, *mapping, *model, *ok)),
        _ => None,
    })
}

/// `ProviderScored` events as (provider, region, failed).
pub(super) fn scored(events: &[Event]) -> Vec<(ProviderId, RegionId, bool)> {
    events_of(events, |e| match e {
        Event::ProviderScored {
            provider,
            region,
            failed,
            ..
        } => Some((*provider, *region, *failed)),
        _ => None,
    })
}

#[test]
fn a_failure_recovered_on_the_same_provider_and_region_is_not_counted() {
    let pool = pool();
    let [k0, _, _] = pool.keys;
    let mut d = pool.world.gateway(Policy::reference());
    let run = d.chat(pool.project, MODEL, failing(&[k0], server_error));
    let [failed, recovered] = [run.attempts[0].id, run.attempts[1].id];
    let events = d.take_events();
    assert_eq!(
        counted(&events),
        vec![(failed, false, false, false), (recovered, true, true, true)]
    );
    assert_eq!(scored(&events), vec![(pool.provider, pool.region, false)]);
    assert!(events
        .iter()
        .any(|e| matches!(e, Event::ProviderScored { request, .. } if *request == run.id)));
    let stats = d.gateway.stats();
    let policy = d.gateway.policy();
    let scope = Scope::of(MODEL);
    assert_eq!(
        stats.mapping_uptime_bp(pool.provider, pool.region, scope, d.now, policy),
        10_000
    );
    assert_eq!(stats.model_uptime_bp(scope, d.now, policy), 10_000);
}

#[test]
fn a_failure_recovered_in_another_region_is_counted() {
    let (world, project, [us, eu], u0, _) = regional_world();
    let mut d = world.gateway(Policy::reference());
    let run = d.chat(project, "m", failing(&[u0], server_error));
    let [failed, recovered] = [run.attempts[0].id, run.attempts[1].id];
    let provider = run.attempts[0].provider;
    let events = d.take_events();
    assert_eq!(
        counted(&events),
        vec![(failed, true, true, false), (recovered, true, true, true)]
    );
    assert_eq!(
        scored(&events),
        vec![(provider, us, true), (provider, eu, false)]
    );
    let stats = d.gateway.stats();
    let policy = d.gateway.policy();
    let scope = Scope::of("m");
    assert_eq!(
        stats.mapping_uptime_bp(provider, us, scope, d.now, policy),
        0
    );
    assert_eq!(
        stats.mapping_uptime_bp(provider, eu, scope, d.now, policy),
        10_000
    );
    assert_eq!(stats.model_uptime_bp(scope, d.now, policy), 5_000);
}

#[test]
fn failures_without_a_successful_retry_are_all_counted() {
    let pool = pool();
    let mut d = pool.world.gateway(Policy::reference());
    let run = d.chat(pool.project, MODEL, |_| server_error());
    let events = d.take_events();
    let expected: Vec<_> = run
        .attempts
        .iter()
        .map(|a| (a.id, true, true, false))
        .collect();
    assert_eq!(counted(&events), expected);
    assert_eq!(scored(&events), vec![(pool.provider, pool.region, true)]);
    let score = d.gateway.stats().scores().next().map(|(_, s)| *s);
    assert_eq!(score.map(|s| (s.requests, s.failed)), Some((1, 1)));
}

#[test]
fn request_invalid_answers_never_count_as_downtime() {
    let pool = pool();
    let mut d = pool.world.gateway(Policy::reference());
    d.chat(pool.project, MODEL, |_| bad_request());
    let events = d.take_events();
    assert!(counted(&events).is_empty());
    assert_eq!(scored(&events), vec![(pool.provider, pool.region, false)]);
}

#[test]
fn provider_scores_accumulate_per_provider_and_region() {
    let pool = pool();
    let [k0, _, _] = pool.keys;
    let mut d = pool.world.gateway(Policy::reference());
    d.chat(pool.project, MODEL, |_| server_error());
    d.chat(pool.project, MODEL, failing(&[k0], server_error));
    d.chat(pool.project, MODEL, |_| ok());
    let scores: Vec<_> = d.gateway.stats().scores().map(|(k, s)| (*k, *s)).collect();
    assert_eq!(scores.len(), 1);
    assert_eq!(scores[0].0, (pool.provider, pool.region));
    assert_eq!((scores[0].1.requests, scores[0].1.failed), (3, 1));
}

#[test]
fn a_blacklisted_key_reports_zero_uptime_in_every_scope() {
    let pool = pool();
    let [k0, _, _] = pool.keys;
    let mut d = pool.world.gateway(Policy::reference());
    for _ in 0..3 {
        d.chat(pool.project, MODEL, |_| ok());
    }
    assert_eq!(d.gateway.key_uptime_bp(k0, Scope::of(MODEL), d.now), 10_000);
    d.chat(pool.project, OTHER_MODEL, failing(&[k0], invalid_key_400));
    for model in [MODEL, OTHER_MODEL, "never-seen"] {
        assert_eq!(
            d.gateway.key_uptime_bp(k0, Scope::of(model), d.now),
            0,
            "{model}"
        );
    }
}

#[test]
fn the_credential_hint_names_the_key_of_the_final_answer() {
    let pool = pool();
    let [k0, k1, k2] = pool.keys;
    let mut d = pool.world.gateway(Policy::reference());
    let run = d.chat(pool.project, MODEL, failing(&[k0], server_error));
    assert_eq!(run.answer.hint_key, Some(k1));
    let expected_hint = d.gateway.catalog().credential(k1).hint();
    assert_eq!(run.answer.hint.as_deref(), Some(expected_hint.as_str()));
    assert!(expected_hint.starts_with("k1…"));

    let run = d.chat(pool.project, MODEL, |_| http(503, "down"));
    assert_eq!(
        run.answer.hint_key,
        Some(k2),
        "all failed: the last key attempted"
    );
    let run = d.chat(pool.project, "no-such-model", |_| ok());
    assert_eq!((run.answer.hint_key, run.answer.hint), (None, None));
}
