//! Every strategy of the properties, as plain functions returning strategies of plans.
//!
//! Sizes stay small on purpose (≤ 60 requests, ≤ 10 minutes per world): a case is a whole
//! simulation, and many small cases find more than a few big ones.

use crate::keypool::Case;
use crate::ops::{AnswerPlan, Op, RetryHint, OPS_MAX};
use crate::plan::{
    FaultKindPlan, FaultPlan, KeyPlan, MappingPlan, ModelPlan, ProviderPlan, RateModel,
    RequestPlan, ShapePlan, TargetPlan, TopologyPlan, TrafficPlan, UpstreamName, WorldPlan,
    DURATION_MS,
};
use gatesim_core::RequestKind;
use gatesim_sim::world::{RetryStyle, Style, World};
use proptest::collection::vec;
use proptest::prelude::*;
use proptest::sample::Index;

/// Explicit requests per world at most.
pub(crate) const REQUESTS_MAX: usize = 60;
/// Faults per world at most.
pub(crate) const FAULTS_MAX: usize = 8;

/// How big a topology may be.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Sizes {
    /// Regions at most (≤ 3: the region mask is 3 bits).
    pub regions_max: usize,
    /// Providers at most.
    pub providers_max: usize,
    /// Pooled credentials per provider at most.
    pub keys_max: usize,
    /// Canonical models at most.
    pub models_max: usize,
}

/// The sizes of simulated worlds: 1-4 providers, 1-3 regions, 1-6 credentials each.
pub(crate) const WORLD_SIZES: Sizes = Sizes {
    regions_max: 3,
    providers_max: 4,
    keys_max: 6,
    models_max: 3,
};

/// The sizes of key-pool state machine topologies: small, so that operations collide.
pub(crate) const KEYPOOL_SIZES: Sizes = Sizes {
    regions_max: 2,
    providers_max: 2,
    keys_max: 4,
    models_max: 2,
};

/// A provider error style.
pub(crate) fn style() -> impl Strategy<Value = Style> {
    prop_oneof![
        Just(Style::OpenAi),
        Just(Style::Google),
        Just(Style::Anthropic),
        Just(Style::Generic),
    ]
}

/// A pooled credential: org or platform, sometimes region-locked, sometimes with its own
/// endpoint.
pub(crate) fn key_plan() -> impl Strategy<Value = KeyPlan> {
    (
        any::<bool>(),
        proptest::option::weighted(0.3, any::<Index>()),
        proptest::bool::weighted(0.3),
    )
        .prop_map(|(platform, lock, endpoint)| KeyPlan {
            platform,
            lock,
            endpoint,
        })
}

/// A provider with 1 to `keys_max` credentials.
pub(crate) fn provider_plan(keys_max: usize) -> impl Strategy<Value = ProviderPlan> {
    (
        style(),
        0u8..8,
        proptest::bool::weighted(0.25),
        vec(key_plan(), 1..=keys_max),
    )
        .prop_map(
            |(style, region_mask, accepts_any_model, keys)| ProviderPlan {
                style,
                region_mask,
                accepts_any_model,
                keys,
            },
        )
}

/// How an upstream model is named.
pub(crate) fn upstream_name() -> impl Strategy<Value = UpstreamName> {
    prop_oneof![
        4 => Just(UpstreamName::Same),
        2 => Just(UpstreamName::PerRegion),
        1 => Just(UpstreamName::Shared),
    ]
}

/// A canonical model served at 1 to 4 places.
pub(crate) fn model_plan() -> impl Strategy<Value = ModelPlan> {
    vec(
        (any::<Index>(), any::<Index>(), upstream_name()).prop_map(
            |(provider, region, upstream)| MappingPlan {
                provider,
                region,
                upstream,
            },
        ),
        1..=4,
    )
    .prop_map(|served| ModelPlan { served })
}

/// A topology within `sizes`, with an alias pool half the time and up to two BYOK keys.
pub(crate) fn topology(sizes: Sizes) -> impl Strategy<Value = TopologyPlan> {
    (
        1..=sizes.regions_max.min(3),
        vec(provider_plan(sizes.keys_max), 1..=sizes.providers_max),
        vec(model_plan(), 1..=sizes.models_max),
        prop_oneof![Just(Vec::new()), vec(any::<Index>(), 1..=3)],
        vec(any::<Index>(), 0..=2),
    )
        .prop_map(|(regions, providers, models, alias, byok)| TopologyPlan {
            regions,
            providers,
            models,
            alias,
            byok,
        })
}

/// What a request names: mostly canonical models, then the alias, pinned and custom names.
pub(crate) fn target() -> impl Strategy<Value = TargetPlan> {
    prop_oneof![
        6 => any::<Index>().prop_map(TargetPlan::Model),
        2 => Just(TargetPlan::Alias),
        1 => (any::<Index>(), any::<Index>()).prop_map(|(m, s)| TargetPlan::Pinned(m, s)),
        1 => (0u8..8).prop_map(TargetPlan::Custom),
    ]
}

/// A request's shape: chat mostly; token counts, passthrough bodies, streams, agentic
/// loops and BYOK keys now and then.
pub(crate) fn shape() -> impl Strategy<Value = ShapePlan> {
    (
        prop_oneof![
            7 => Just(RequestKind::Chat),
            2 => Just(RequestKind::CountTokens),
            1 => Just(RequestKind::Passthrough),
        ],
        proptest::bool::weighted(0.2),
        proptest::option::weighted(0.1, any::<Index>()),
        prop_oneof![8 => Just(1u32), 2 => 2u32..=3],
        0u32..16_384,
    )
        .prop_map(|(kind, stream, byok, iterations, body_bytes)| ShapePlan {
            kind,
            stream,
            byok,
            iterations,
            body_bytes,
        })
}

/// An instant of a world: mostly in its first two minutes, where traffic and faults meet.
pub(crate) fn instant_ms() -> impl Strategy<Value = u64> {
    prop_oneof![3 => 0u64..=120_000, 1 => 0u64..=DURATION_MS]
}

/// One explicit request.
pub(crate) fn request() -> impl Strategy<Value = RequestPlan> {
    (instant_ms(), any::<Index>(), target(), shape()).prop_map(|(at_ms, project, target, shape)| {
        RequestPlan {
            at_ms,
            project,
            target,
            shape,
        }
    })
}

/// A fraction in basis points: often all, else anything.
pub(crate) fn rate_bp() -> impl Strategy<Value = u32> {
    prop_oneof![Just(10_000u32), 0u32..=10_000]
}

/// How a 429 writes its hint in a fault plan.
pub(crate) fn retry_style() -> impl Strategy<Value = RetryStyle> {
    prop_oneof![
        Just(RetryStyle::Seconds),
        Just(RetryStyle::HttpDate),
        Just(RetryStyle::Millis),
        Just(RetryStyle::None),
    ]
}

/// Which model a rate limit is about.
pub(crate) fn rate_model() -> impl Strategy<Value = RateModel> {
    prop_oneof![
        2 => Just(RateModel::Any),
        1 => any::<Index>().prop_map(RateModel::Canonical),
        1 => any::<Index>().prop_map(RateModel::Upstream),
    ]
}

/// A fixed Retry-After of a rate-limit fault: sub-second to over the 1 h cap.
pub(crate) fn fault_retry_after_ms() -> impl Strategy<Value = Option<u64>> {
    proptest::option::weighted(
        0.6,
        prop_oneof![
            Just(500u64),
            Just(1_000),
            Just(5_000),
            Just(30_000),
            Just(90_000),
            Just(7_200_000),
            100u64..=120_000,
        ],
    )
}

/// Every fault kind, with random targets and strengths (each kind equally likely).
pub(crate) fn fault_kind() -> impl Strategy<Value = FaultKindPlan> {
    prop_oneof![4 => credential_fault_kind(), 6 => place_fault_kind()]
}

/// The fault kinds about one credential: invalid, revoked, rate-limited, model-unsupported.
pub(crate) fn credential_fault_kind() -> impl Strategy<Value = FaultKindPlan> {
    let index = any::<Index>;
    prop_oneof![
        (
            index(),
            prop_oneof![Just(400u16), Just(401), Just(403), Just(404), Just(422)],
            proptest::option::weighted(0.3, index())
        )
            .prop_map(|(key, status, body)| FaultKindPlan::KeyInvalid {
                key,
                status,
                body
            }),
        (index(), prop_oneof![Just(401u16), Just(403)])
            .prop_map(|(key, status)| FaultKindPlan::KeyRevoked { key, status }),
        (
            index(),
            rate_model(),
            0u32..=6,
            fault_retry_after_ms(),
            retry_style()
        )
            .prop_map(|(key, model, capacity_per_min, retry_after_ms, style)| {
                FaultKindPlan::RateLimit {
                    key,
                    model,
                    capacity_per_min,
                    retry_after_ms,
                    style,
                }
            }),
        (index(), index(), prop_oneof![Just(400u16), Just(422)]).prop_map(
            |(key, upstream, status)| FaultKindPlan::ModelUnsupported {
                key,
                upstream,
                status
            }
        ),
    ]
}

/// The fault kinds about a provider × region or about requests: server errors, outages,
/// latency spikes, broken streams, invalid requests, withdrawn models.
pub(crate) fn place_fault_kind() -> impl Strategy<Value = FaultKindPlan> {
    let index = any::<Index>;
    let region = || proptest::option::weighted(0.5, any::<Index>());
    prop_oneof![
        (
            index(),
            region(),
            rate_bp(),
            prop_oneof![Just(500u16), Just(502), Just(503), Just(504)]
        )
            .prop_map(
                |(provider, region, rate_bp, status)| FaultKindPlan::ServerErrors {
                    provider,
                    region,
                    rate_bp,
                    status,
                }
            ),
        (index(), index(), any::<bool>()).prop_map(|(provider, region, timeout)| {
            FaultKindPlan::RegionOutage {
                provider,
                region,
                timeout,
            }
        }),
        (
            index(),
            region(),
            prop_oneof![100u64..=5_000, 55_000u64..=90_000]
        )
            .prop_map(|(provider, region, extra_ms)| FaultKindPlan::LatencySpike {
                provider,
                region,
                extra_ms
            }),
        (
            index(),
            region(),
            proptest::option::weighted(0.3, index()),
            any::<bool>(),
            rate_bp()
        )
            .prop_map(|(provider, region, key, after_first_byte, rate_bp)| {
                FaultKindPlan::StreamBreak {
                    provider,
                    region,
                    key,
                    after_first_byte,
                    rate_bp,
                }
            }),
        prop_oneof![0u32..=3_000, Just(10_000)]
            .prop_map(|rate_bp| FaultKindPlan::RequestInvalid { rate_bp }),
        (index(), index())
            .prop_map(|(provider, upstream)| FaultKindPlan::ModelWithdrawn { provider, upstream }),
    ]
}

/// One fault with a random window (open-ended one time in five).
pub(crate) fn fault() -> impl Strategy<Value = FaultPlan> {
    (
        instant_ms(),
        proptest::option::weighted(0.8, 1_000u64..=300_000),
        fault_kind(),
    )
        .prop_map(|(at_ms, len_ms, kind)| FaultPlan {
            at_ms,
            len_ms,
            kind,
        })
}

/// A whole world plan: topology, up to 60 requests, up to 8 faults, a seed.
pub(crate) fn world_plan() -> impl Strategy<Value = WorldPlan> {
    (
        any::<u64>(),
        topology(WORLD_SIZES),
        vec(request(), 0..=REQUESTS_MAX),
        vec(fault(), 0..=FAULTS_MAX),
    )
        .prop_map(|(seed, topology, requests, faults)| WorldPlan {
            seed,
            topology,
            requests,
            faults,
        })
}

/// A built world.
pub(crate) fn world() -> impl Strategy<Value = World> {
    world_plan().prop_map(|plan| plan.build())
}

/// A world with a seeded generator (≈ 10 to 60 arrivals) and swarm fault kinds, for the
/// determinism property: different seeds give different traffic and faults.
pub(crate) fn traffic_world() -> impl Strategy<Value = World> {
    (
        world_plan(),
        500u64..=1_000,
        20_000u64..=60_000,
        proptest::option::weighted(0.3, 2u32..=4),
        any::<Index>(),
        vec((1u32..=5, target(), shape()), 1..=4),
        vec(any::<Index>(), 0..=4),
    )
        .prop_map(
            |(mut world, rate_milli_per_s, span_ms, burst, project, mix, swarm_kinds)| {
                world.requests.truncate(10);
                TrafficPlan {
                    world,
                    rate_milli_per_s,
                    span_ms,
                    burst,
                    project,
                    mix,
                    swarm_kinds,
                }
                .build()
            },
        )
}

/// A 429's hint in every form a provider writes it, usable or not.
pub(crate) fn retry_hint() -> impl Strategy<Value = RetryHint> {
    prop_oneof![
        2 => Just(RetryHint::Absent),
        3 => prop_oneof![0u64..=120, Just(1_555_200)].prop_map(RetryHint::Seconds),
        2 => (1u64..=120).prop_map(RetryHint::HttpDate),
        2 => (0u64..=120_000, any::<bool>()).prop_map(|(ms, half)| RetryHint::Millis(ms, half)),
        1 => (0u64..=90_000, 0u64..=90).prop_map(|(ms, secs)| RetryHint::Both { ms, secs }),
        1 => Just(RetryHint::Garbage),
    ]
}

/// An upstream answer: 200 mostly, then every failure the classifier distinguishes.
pub(crate) fn answer() -> impl Strategy<Value = AnswerPlan> {
    prop_oneof![
        8 => Just(AnswerPlan::Ok),
        1 => Just(AnswerPlan::StreamBrokeBefore),
        1 => Just(AnswerPlan::StreamBrokeAfter),
        4 => retry_hint().prop_map(AnswerPlan::RateLimited),
        1 => prop_oneof![Just(401u16), Just(403)].prop_map(AnswerPlan::Unauthorized),
        1 => (any::<Index>(), prop_oneof![Just(400u16), Just(404)])
            .prop_map(|(body, status)| AnswerPlan::InvalidKey { body, status }),
        3 => prop_oneof![Just(500u16), Just(502), Just(503), Just(504)].prop_map(AnswerPlan::ServerError),
        1 => prop_oneof![Just(400u16), Just(422)].prop_map(AnswerPlan::ModelUnsupported),
        1 => Just(AnswerPlan::RequestInvalid),
        2 => Just(AnswerPlan::Connect),
        1 => Just(AnswerPlan::Timeout),
    ]
}

/// How far time moves: mostly seconds, sometimes past the attempt timeout, rarely hours
/// (past every cooldown, now and then past a 12 h suspension).
pub(crate) fn advance_ms() -> impl Strategy<Value = u64> {
    prop_oneof![
        6 => 0u64..=5_000,
        3 => 5_000u64..=90_000,
        1 => 3_600_000u64..=50_000_000,
    ]
}

/// One state-machine operation.
pub(crate) fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        3 => (any::<Index>(), target(), shape())
            .prop_map(|(project, target, shape)| Op::Submit { project, target, shape }),
        5 => (any::<Index>(), answer()).prop_map(|(attempt, answer)| Op::Answer { attempt, answer }),
        1 => (any::<Index>(), answer()).prop_map(|(attempt, answer)| Op::Stale { attempt, answer }),
        3 => (advance_ms(), proptest::bool::weighted(0.3)).prop_map(|(ms, late)| Op::Advance { ms, late }),
    ]
}

/// A key-pool state machine case: a small topology and up to 120 operations (the step
/// cap [`OPS_MAX`] bounds what shrinking or a persisted case can bring).
pub(crate) fn keypool_case() -> impl Strategy<Value = Case> {
    (topology(KEYPOOL_SIZES), vec(op(), 1..=OPS_MAX.min(120)))
        .prop_map(|(topology, ops)| Case { topology, ops })
}
