//! Knob tests for routing: attribution, regions, endpoints, hybrid preference, budget,
//! cooldown waits and stream bootstrap.

use super::failover::{alias_world, chain};
use super::routing::{hybrid_world, regional_world, swap_world, EU_ENDPOINT, ORG_ENDPOINT};
use super::*;

pub(super) const TESTS: &[(Regression, fn())] = &[
    (
        Regression::AttributeToSelectedKey,
        attribute_to_selected_key,
    ),
    (Regression::RegionFromFirstKey, region_from_first_key),
    (
        Regression::DropEndpointOnRegionSwap,
        drop_endpoint_on_region_swap,
    ),
    (Regression::HybridIgnoresOrgKeys, hybrid_ignores_org_keys),
    (
        Regression::HybridNoKeyedPreference,
        hybrid_no_keyed_preference,
    ),
    (
        Regression::PreferKeysBeforeRateLimitFilter,
        prefer_keys_before_rate_limit_filter,
    ),
    (
        Regression::PreferKeysBeforeUptimeFilter,
        prefer_keys_before_uptime_filter,
    ),
    (
        Regression::KeyedAvailabilityIgnoresRegion,
        keyed_availability_ignores_region,
    ),
    (Regression::SkipCostsBudget, skip_costs_budget),
    (Regression::CooldownWaitByAlias, cooldown_wait_by_alias),
    (
        Regression::StreamBootstrapTerminal,
        stream_bootstrap_terminal,
    ),
];

#[test]
fn attribute_to_selected_key() {
    let scenario = |policy: Policy| {
        let s = swap_world();
        let mut d = s.world.gateway(policy);
        let run = d.chat(s.project, "m", |_| rate_limited(Some("120")));
        let cooled = events_of(&d.take_events(), |e| match e {
            Event::CooledDown { credential, .. } => Some(*credential),
            _ => None,
        });
        (run.sent(), cooled)
    };
    let s = swap_world();
    assert_eq!(scenario(Policy::reference()), (vec![s.t_eu], vec![s.t_eu]));
    assert_eq!(
        scenario(knob(Regression::AttributeToSelectedKey)),
        (vec![s.t_eu, s.t_eu], vec![s.p0, s.t_eu]),
        "the 429 was recorded on p0, so the throttled token was sent again"
    );
}

#[test]
fn region_from_first_key() {
    let scenario = |policy: Policy| {
        let (world, project, _, u0, _) = regional_world();
        let mut d = world.gateway(policy);
        let run = d.chat(project, "m", failing(&[u0], server_error));
        run.attempts
            .iter()
            .map(|a| (a.region, a.credential))
            .collect::<Vec<_>>()
    };
    let (_, _, [us, eu], u0, e0) = regional_world();
    assert_eq!(scenario(Policy::reference()), vec![(us, u0), (eu, e0)]);
    assert_eq!(
        scenario(knob(Regression::RegionFromFirstKey)),
        vec![(us, u0), (us, e0)],
        "the eu-locked key was sent to us"
    );
}

#[test]
fn drop_endpoint_on_region_swap() {
    let scenario = |policy: Policy| {
        let s = swap_world();
        let mut d = s.world.gateway(policy);
        let swapped = d.chat(s.project, "m", |_| ok()).attempts[0]
            .endpoint
            .clone();
        let own = d.chat(s.hybrid, "m", |_| ok()).attempts[0].endpoint.clone();
        (
            swapped.as_deref().map(str::to_string),
            own.as_deref().map(str::to_string),
        )
    };
    let eu = Some(EU_ENDPOINT.to_string());
    let org = Some(ORG_ENDPOINT.to_string());
    assert_eq!(scenario(Policy::reference()), (eu, org.clone()));
    assert_eq!(
        scenario(knob(Regression::DropEndpointOnRegionSwap)),
        (None, org),
        "only the swapped attempt loses its endpoint"
    );
}

#[test]
fn hybrid_ignores_org_keys() {
    let scenario = |policy: Policy| {
        let s = swap_world();
        let mut d = s.world.gateway(policy);
        let a = d.chat(s.hybrid, "m", |_| ok()).attempts[0].clone();
        (a.selected, a.credential)
    };
    let s = swap_world();
    assert_eq!(scenario(Policy::reference()), (s.o0, s.o0));
    assert_eq!(
        scenario(knob(Regression::HybridIgnoresOrgKeys)),
        (s.o0, s.t_eu),
        "the org key was swapped for the regional env token"
    );
}

#[test]
fn hybrid_no_keyed_preference() {
    let scenario = |policy: Policy| {
        let h = hybrid_world();
        let mut d = h.world.gateway(policy);
        d.chat(h.hybrid, "flash", |_| ok()).sent()
    };
    let h = hybrid_world();
    assert_eq!(scenario(Policy::reference()), vec![h.s0]);
    assert_eq!(
        scenario(knob(Regression::HybridNoKeyedPreference)),
        vec![h.v0]
    );
}

#[test]
fn prefer_keys_before_rate_limit_filter() {
    let scenario = |policy: Policy| {
        let h = hybrid_world();
        let mut d = h.world.gateway(policy);
        let throttled = failing(&[h.s0], || rate_limited(Some("60")));
        d.chat(h.hybrid, "flash", throttled);
        d.at(1_000);
        d.chat(
            h.hybrid,
            "flash",
            failing(&[h.s0], || rate_limited(Some("60"))),
        )
        .sent()
    };
    let h = hybrid_world();
    assert_eq!(scenario(Policy::reference()), vec![h.v0]);
    assert_eq!(
        scenario(knob(Regression::PreferKeysBeforeRateLimitFilter)),
        vec![h.s0, h.v0],
        "the rate-limited org key was hit again"
    );
}

#[test]
fn prefer_keys_before_uptime_filter() {
    let scenario = |policy: Policy| {
        let h = hybrid_world();
        let mut d = h.world.gateway(policy);
        // s0's mapping drops to 0 % uptime; v0's stays at 100 %.
        d.chat(h.hybrid, "flash", failing(&[h.s0], server_error));
        d.at(1_000);
        d.chat(h.hybrid, "flash", failing(&[h.s0], server_error))
            .sent()
    };
    let h = hybrid_world();
    assert_eq!(scenario(Policy::reference()), vec![h.v0]);
    assert_eq!(
        scenario(knob(Regression::PreferKeysBeforeUptimeFilter)),
        vec![h.s0, h.v0],
        "the degraded keyed provider blocked the healthy one"
    );
}

#[test]
fn keyed_availability_ignores_region() {
    // Provider g in eu and us; the org key is locked to us, the platform key is not.
    let mut world = World::new();
    let us = world.region("us");
    let eu = world.region("eu");
    let g = world.provider("g", &[eu, us]);
    world.model("m", &[(g, eu, "m-up"), (g, us, "m-up")]);
    let org = world.locked_key("org-us", g, Source::Org, us);
    let platform = world.key("platform", g, Source::Platform);
    let project = world.project("h", Mode::Hybrid);
    let scenario = |policy: Policy| {
        let mut d = world.gateway(policy);
        let a = d.chat(project, "m", |_| ok()).attempts[0].clone();
        (a.region, a.credential)
    };
    assert_eq!(scenario(Policy::reference()), (us, org));
    assert_eq!(
        scenario(knob(Regression::KeyedAvailabilityIgnoresRegion)),
        (eu, platform),
        "eu looked keyed because g has an org key in us"
    );
}

#[test]
fn skip_costs_budget() {
    let scenario = |policy: Policy| {
        let c = chain();
        let [a0, a1] = c.a;
        let [b0, c0, _] = c.others;
        let mut d = c.world.gateway(policy);
        d.chat(c.project, "m", failing(&[a0, a1], || http(401, "no")));
        d.at(1_000);
        let run = d.chat(c.project, "m", failing(&[b0, c0], server_error));
        (run.sent(), run.answer.outcome)
    };
    let c = chain();
    let [b0, c0, d0] = c.others;
    assert_eq!(
        scenario(Policy::reference()),
        (vec![b0, c0, d0], Outcome::Success)
    );
    assert_eq!(
        scenario(knob(Regression::SkipCostsBudget)),
        (vec![b0, c0], Outcome::UpstreamFailed),
        "the blacklisted provider ate a budget slot"
    );
}

#[test]
fn cooldown_wait_by_alias() {
    let scenario = |policy: Policy| {
        let (world, project, p0, q0) = alias_world();
        let mut d = world.gateway(policy);
        let mut throttled = vec![p0, q0];
        let run = d.chat(project, "pool", |a| {
            if let Some(i) = throttled.iter().position(|k| *k == a.credential) {
                throttled.remove(i);
                rate_limited(Some("10"))
            } else {
                ok()
            }
        });
        let waited = d
            .take_events()
            .iter()
            .any(|e| matches!(e, Event::Waiting { .. }));
        (run.answer.outcome, run.attempts.len(), waited)
    };
    assert_eq!(scenario(Policy::reference()), (Outcome::Success, 3, true));
    assert_eq!(
        scenario(knob(Regression::CooldownWaitByAlias)),
        (Outcome::ExhaustedTransient, 2, false),
        "failed instead of waiting 10 s"
    );
}

#[test]
fn stream_bootstrap_terminal() {
    let scenario = |policy: Policy| {
        let pool = pool();
        let [k0, _, _] = pool.keys;
        let mut d = pool.world.gateway(policy);
        let stream = Request {
            stream: true,
            ..Request::chat(pool.project, MODEL)
        };
        let run = d.serve(stream, failing(&[k0], || broken_stream(false)));
        (run.sent(), run.answer.outcome, run.answer.status)
    };
    let [k0, k1, _] = pool().keys;
    assert_eq!(
        scenario(Policy::reference()),
        (vec![k0, k1], Outcome::Success, 200)
    );
    assert_eq!(
        scenario(knob(Regression::StreamBootstrapTerminal)),
        (vec![k0], Outcome::UpstreamFailed, 502)
    );
}
