//! Worlds for the shell tests, built in code: small catalogs under steady generated
//! traffic, so hundreds of requests are open at once.

use gatesim_core::{
    Duration, Instant, KeyId, Mode, ProjectId, ProviderId, RegionId, RequestKind, Source,
};
use gatesim_sim::build::WorldBuilder;
use gatesim_sim::world::{Arrivals, FaultKind, Generator, ProviderSpec, RequestSpec, Style, World};

/// The ids of the two-region world.
pub(crate) struct TwoRegions {
    pub builder: WorldBuilder,
    pub openai: ProviderId,
    pub us: RegionId,
    pub eu: RegionId,
    pub keys: Vec<KeyId>,
    pub project: ProjectId,
}

/// Two providers, two regions, three org keys for openai and one for anthropic, an
/// api-keys project; 10 s attempt timeout; no traffic yet.
pub(crate) fn two_regions(id: &str) -> TwoRegions {
    let mut b = WorldBuilder::new(id);
    let us = b.region("us-east");
    let eu = b.region("eu-west");
    let openai = b.provider("openai", Style::OpenAi, &[us, eu]);
    let anthropic = b.provider("anthropic", Style::Anthropic, &[us]);
    b.model(
        "gpt-4o",
        &[
            (openai, us, "gpt-4o-2024-08-06"),
            (openai, eu, "gpt-4o-2024-08-06"),
        ],
    );
    b.model("claude-sonnet-4", &[(anthropic, us, "claude-sonnet-4")]);
    let keys = vec![
        b.key("oa-0", openai, Source::Org, None, None),
        b.key("oa-1", openai, Source::Org, None, None),
        b.key("oa-2", openai, Source::Org, None, None),
        b.key("an-0", anthropic, Source::Org, None, None),
    ];
    let project = b.project("team", Mode::ApiKeys);
    let w = b.world_mut();
    w.providers[openai.index()] = ProviderSpec {
        style: Style::OpenAi,
        latency_p50: Duration::from_ms(300),
        latency_p99: Duration::from_ms(1500),
        latency_fixed: None,
    };
    w.providers[anthropic.index()] = ProviderSpec {
        style: Style::Anthropic,
        latency_p50: Duration::from_ms(500),
        latency_p99: Duration::from_ms(2000),
        latency_fixed: None,
    };
    // The gateway gives up on an attempt after 10 s, and promises as much.
    b.policy().attempt_timeout = Duration::from_secs(10);
    b.contract().attempt_timeout = Duration::from_secs(10);
    TwoRegions {
        builder: b,
        openai,
        us,
        eu,
        keys,
        project,
    }
}

/// A chat request template.
pub(crate) fn chat(project: ProjectId, model: &str) -> RequestSpec {
    RequestSpec {
        at: Instant::ZERO,
        project,
        model: model.to_string(),
        stream: false,
        byok: None,
        kind: RequestKind::Chat,
        agentic_iterations: 1,
        body_bytes: 256,
    }
}

/// Adds Poisson traffic of `rate_per_s` over `[0, duration_s)` with a weighted mix, and
/// sets the world's duration.
pub(crate) fn traffic(
    b: &mut WorldBuilder,
    project: ProjectId,
    rate_per_s: u64,
    duration_s: u64,
    mix: Vec<(u32, RequestSpec)>,
) {
    let w = b.world_mut();
    w.duration = Duration::from_secs(duration_s);
    w.workload.generators.push(Generator {
        from: Instant::ZERO,
        until: Instant(duration_s * 1000),
        rate_milli_per_s: rate_per_s * 1000,
        arrivals: Arrivals::Poisson,
        project,
        mix,
        custom_model_bp: 0,
    });
}

/// The outage world: steady traffic on both models; openai/us-east unreachable
/// (`connect`) over [5 s, 15 s), openai/eu-west hanging (`timeout`) over [20 s, 30 s).
pub(crate) fn outages(id: &str, rate_per_s: u64) -> World {
    let mut t = two_regions(id);
    let mix = vec![
        (6, chat(t.project, "gpt-4o")),
        (
            2,
            RequestSpec {
                stream: true,
                ..chat(t.project, "gpt-4o")
            },
        ),
        (2, chat(t.project, "claude-sonnet-4")),
    ];
    traffic(&mut t.builder, t.project, rate_per_s, 40, mix);
    t.builder.fault(
        5_000,
        Some(15_000),
        FaultKind::RegionOutage {
            provider: t.openai,
            region: t.us,
            mode: gatesim_sim::world::OutageMode::Connect,
        },
    );
    t.builder.fault(
        20_000,
        Some(30_000),
        FaultKind::RegionOutage {
            provider: t.openai,
            region: t.eu,
            mode: gatesim_sim::world::OutageMode::Timeout,
        },
    );
    t.builder.build()
}
