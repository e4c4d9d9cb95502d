//! Routing: project modes and hybrid preference, region locks, regional token swaps and
//! endpoints.

use super::*;

/// Model `flash` served by `vertex` (platform key `v0`) then `studio` (org key `s0`),
/// both in `us`; one project per mode.
pub(super) struct Hybrid {
    pub(super) world: World,
    pub(super) v0: KeyId,
    pub(super) s0: KeyId,
    pub(super) hybrid: ProjectId,
    pub(super) credits: ProjectId,
    pub(super) api_keys: ProjectId,
}

pub(super) fn hybrid_world() -> Hybrid {
    let mut world = World::new();
    let us = world.region("us");
    let vertex = world.provider("google-vertex", &[us]);
    let studio = world.provider("google-ai-studio", &[us]);
    world.model(
        "flash",
        &[(vertex, us, "gemini-flash"), (studio, us, "gemini-flash")],
    );
    let v0 = world.key("v0", vertex, Source::Platform);
    let s0 = world.key("s0", studio, Source::Org);
    Hybrid {
        hybrid: world.project("h", Mode::Hybrid),
        credits: world.project("c", Mode::Credits),
        api_keys: world.project("a", Mode::ApiKeys),
        world,
        v0,
        s0,
    }
}

#[test]
fn hybrid_prefers_the_provider_with_an_org_key() {
    let h = hybrid_world();
    let mut d = h.world.gateway(Policy::reference());
    assert_eq!(d.chat(h.hybrid, "flash", |_| ok()).sent(), vec![h.s0]);
    assert_eq!(d.chat(h.credits, "flash", |_| ok()).sent(), vec![h.v0]);
    assert_eq!(d.chat(h.api_keys, "flash", |_| ok()).sent(), vec![h.s0]);
}

#[test]
fn project_modes_never_send_a_credential_of_the_other_source() {
    let h = hybrid_world();
    let mut d = h.world.gateway(Policy::reference());
    let run = d.chat(h.api_keys, "flash", |_| server_error());
    assert_eq!(
        run.sent(),
        vec![h.s0],
        "api-keys never falls back to credits"
    );
    let run = d.chat(h.credits, "flash", |_| server_error());
    assert_eq!(run.sent(), vec![h.v0], "credits never sends an org key");
    let run = d.chat(h.hybrid, "flash", failing(&[h.s0], server_error));
    assert_eq!(run.sent(), vec![h.s0, h.v0], "hybrid may use both");
}

#[test]
fn hybrid_with_every_keyed_candidate_rate_limited_falls_back_to_credits() {
    let h = hybrid_world();
    let mut d = h.world.gateway(Policy::reference());
    let run = d.chat(
        h.hybrid,
        "flash",
        failing(&[h.s0], || rate_limited(Some("60"))),
    );
    assert_eq!(run.sent(), vec![h.s0, h.v0]);
    d.at(1_000);
    let run = d.chat(h.hybrid, "flash", |_| ok());
    assert_eq!(run.sent(), vec![h.v0], "the cooling org key is not retried");
    // Once the cooldown is over and the 429 has left the uptime window, the org key again.
    d.at(300_000);
    assert_eq!(d.chat(h.hybrid, "flash", |_| ok()).sent(), vec![h.s0]);
}

/// Provider `g` in `us` and `eu` serving `m` in both; org keys `u0` (locked to `us`) and
/// `e0` (locked to `eu`).
pub(super) fn regional_world() -> (World, ProjectId, [RegionId; 2], KeyId, KeyId) {
    let mut world = World::new();
    let us = world.region("us");
    let eu = world.region("eu");
    let g = world.provider("g", &[us, eu]);
    world.model("m", &[(g, us, "m-up"), (g, eu, "m-up")]);
    let u0 = world.locked_key("u0", g, Source::Org, us);
    let e0 = world.locked_key("e0", g, Source::Org, eu);
    let project = world.project("p", Mode::ApiKeys);
    (world, project, [us, eu], u0, e0)
}

#[test]
fn a_region_locked_key_is_only_sent_to_its_region() {
    let (world, project, [us, eu], u0, e0) = regional_world();
    let mut d = world.gateway(Policy::reference());
    let run = d.chat(project, "m", failing(&[u0], server_error));
    let placed: Vec<(RegionId, KeyId)> = run
        .attempts
        .iter()
        .map(|a| (a.region, a.credential))
        .collect();
    assert_eq!(placed, vec![(us, u0), (eu, e0)]);
    assert!(
        run.attempts[1].charged,
        "another region is another budget slot"
    );

    // Whatever the order (us now has 0 % uptime), each key only goes to its region.
    let run = d.chat(project, "m", |_| server_error());
    let mut placed: Vec<(RegionId, KeyId)> = run
        .attempts
        .iter()
        .map(|a| (a.region, a.credential))
        .collect();
    placed.sort_unstable();
    assert_eq!(placed, vec![(us, u0), (eu, e0)]);
}

#[test]
fn an_unlocked_key_fails_over_to_another_region_of_its_provider() {
    // A regional outage: the same key still works in the other region.
    let mut world = World::new();
    let us = world.region("us");
    let eu = world.region("eu");
    let g = world.provider("g", &[us, eu]);
    world.model("m", &[(g, us, "m-up"), (g, eu, "m-up")]);
    let k0 = world.key("k0", g, Source::Org);
    let project = world.project("p", Mode::ApiKeys);
    let mut d = world.gateway(Policy::reference());
    let run = d.chat(project, "m", |a| {
        if a.region == us {
            connect_error()
        } else {
            ok()
        }
    });
    let placed: Vec<(RegionId, KeyId)> = run
        .attempts
        .iter()
        .map(|a| (a.region, a.credential))
        .collect();
    assert_eq!(placed, vec![(us, k0), (eu, k0)]);
    assert_eq!(run.answer.outcome, Outcome::Success);
}

/// Credits project; provider `v` in `eu` serving `m`; platform key `p0` (unlocked, global
/// endpoint) first in the pool, then regional token `t_eu` (locked to `eu`, own endpoint).
pub(super) struct Swap {
    pub(super) world: World,
    pub(super) project: ProjectId,
    pub(super) hybrid: ProjectId,
    pub(super) p0: KeyId,
    pub(super) t_eu: KeyId,
    pub(super) o0: KeyId,
}

pub(super) const GLOBAL_ENDPOINT: &str = "https://global.example";
pub(super) const EU_ENDPOINT: &str = "https://eu.example";
pub(super) const ORG_ENDPOINT: &str = "https://org-deployment.example";

pub(super) fn swap_world() -> Swap {
    let mut world = World::new();
    let eu = world.region("eu");
    let v = world.provider("v", &[eu]);
    world.model("m", &[(v, eu, "m-up")]);
    let o0 = world.credential("o0", v, Source::Org, None, Some(ORG_ENDPOINT));
    let p0 = world.credential("p0", v, Source::Platform, None, Some(GLOBAL_ENDPOINT));
    let t_eu = world.credential("t_eu", v, Source::Platform, Some(eu), Some(EU_ENDPOINT));
    Swap {
        project: world.project("c", Mode::Credits),
        hybrid: world.project("h", Mode::Hybrid),
        world,
        p0,
        t_eu,
        o0,
    }
}

#[test]
fn regional_token_swap_attributes_health_to_the_credential_sent() {
    let s = swap_world();
    let mut d = s.world.gateway(Policy::reference());
    let run = d.chat(s.project, "m", |_| rate_limited(Some("120")));
    let first = &run.attempts[0];
    assert_eq!((first.selected, first.credential), (s.p0, s.t_eu));
    assert_eq!(run.attempts.len(), 1, "the token is not sent twice");
    assert_eq!(run.answer.hint_key, Some(s.t_eu));
    let scope = Scope::of("m");
    let cooled = events_of(&d.take_events(), |e| match e {
        Event::CooledDown { credential, .. } => Some(*credential),
        _ => None,
    });
    assert_eq!(cooled, vec![s.t_eu]);
    assert_eq!(
        d.gateway.cooldown_until(s.t_eu, scope),
        Some(Instant(120_000))
    );
    assert_eq!(
        d.gateway.cooldown_until(s.p0, scope),
        None,
        "the selected key is untouched"
    );
}

#[test]
fn the_endpoint_comes_from_the_credential_sent() {
    let s = swap_world();
    let mut d = s.world.gateway(Policy::reference());
    let run = d.chat(s.project, "m", |_| ok());
    assert_eq!(run.attempts[0].credential, s.t_eu);
    assert_eq!(run.attempts[0].endpoint.as_deref(), Some(EU_ENDPOINT));
    // Hybrid sends the org key itself, with its own deployment endpoint.
    let run = d.chat(s.hybrid, "m", |_| ok());
    let a = &run.attempts[0];
    assert_eq!((a.selected, a.credential), (s.o0, s.o0));
    assert_eq!(a.endpoint.as_deref(), Some(ORG_ENDPOINT));
}

#[test]
fn a_key_without_an_endpoint_uses_the_provider_default() {
    let pool = pool();
    let mut d = pool.world.gateway(Policy::reference());
    let run = d.chat(pool.project, MODEL, |_| ok());
    assert_eq!(run.attempts[0].endpoint, None);
    assert_eq!(run.attempts[0].upstream.as_ref(), "gpt-4o-2024-08-06");
    assert_eq!(run.attempts[0].scope, Scope::of(MODEL));
}
