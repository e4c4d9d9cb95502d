//! Plans: the plain data the strategies draw, and the deterministic construction of a
//! world (with `WorldBuilder`) from a plan.
//!
//! A plan refers to other parts of the world by [`Index`] (resolved modulo the length of
//! whatever list it points into), never by a raw id, so every drawn plan builds a valid
//! world and shrinking one part never invalidates another.

use gatesim_core::{Duration, RequestKind};
use gatesim_sim::world::{
    Arrivals, FaultKind, Generator, RequestSpec, RetryStyle, Style, SwarmFault, World,
};
use proptest::sample::Index;

mod topology;

pub(crate) use topology::{build_topology, Topology};

/// Simulated time a generated world spans: ten minutes.
pub(crate) const DURATION_MS: u64 = 600_000;

/// Providers, regions, credentials, models and an alias pool.
#[derive(Clone, Debug)]
pub(crate) struct TopologyPlan {
    /// Regions in the world (1 to 3).
    pub regions: usize,
    /// Providers with their own credentials.
    pub providers: Vec<ProviderPlan>,
    /// Canonical models.
    pub models: Vec<ModelPlan>,
    /// Members of the alias pool `pool` (no alias when empty).
    pub alias: Vec<Index>,
    /// BYOK credentials, by provider.
    pub byok: Vec<Index>,
}

/// One provider.
#[derive(Clone, Debug)]
pub(crate) struct ProviderPlan {
    /// Error wording.
    pub style: Style,
    /// Regions served, as a bit mask over the world's regions (region 0 when empty).
    pub region_mask: u8,
    /// Accepts custom model names.
    pub accepts_any_model: bool,
    /// Pooled credentials in pool order (the first is the primary).
    pub keys: Vec<KeyPlan>,
}

/// One pooled credential.
#[derive(Clone, Debug)]
pub(crate) struct KeyPlan {
    /// A platform key (else an org key).
    pub platform: bool,
    /// Locked to one of the provider's regions.
    pub lock: Option<Index>,
    /// Has its own endpoint.
    pub endpoint: bool,
}

/// One canonical model.
#[derive(Clone, Debug)]
pub(crate) struct ModelPlan {
    /// Where it is served (duplicate provider × region pairs are dropped).
    pub served: Vec<MappingPlan>,
}

/// One place a model is served.
#[derive(Clone, Debug)]
pub(crate) struct MappingPlan {
    /// Provider.
    pub provider: Index,
    /// Region, among the provider's.
    pub region: Index,
    /// How the upstream model is named there.
    pub upstream: UpstreamName,
}

/// How an upstream model is named.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum UpstreamName {
    /// Like the canonical model.
    Same,
    /// A different name per region (`m0-r1`).
    PerRegion,
    /// One name shared by several models (`shared-up`).
    Shared,
}

/// What a request names as its model.
#[derive(Clone, Debug)]
pub(crate) enum TargetPlan {
    /// A canonical model.
    Model(Index),
    /// The alias pool (a canonical model when there is none).
    Alias,
    /// `provider/model` for one of the model's mappings.
    Pinned(Index, Index),
    /// A custom name (a canonical model when no provider accepts any model).
    Custom(u8),
}

/// The shape of a request apart from its arrival, project and model.
#[derive(Clone, Debug)]
pub(crate) struct ShapePlan {
    /// Chat, token count or passthrough.
    pub kind: RequestKind,
    /// Streamed.
    pub stream: bool,
    /// With one of the BYOK credentials (ignored when there is none).
    pub byok: Option<Index>,
    /// Agentic iterations (1 to 3).
    pub iterations: u32,
    /// Body size.
    pub body_bytes: u32,
}

/// One explicit request.
#[derive(Clone, Debug)]
pub(crate) struct RequestPlan {
    /// Arrival, in ms.
    pub at_ms: u64,
    /// Project (api-keys, credits or hybrid).
    pub project: Index,
    /// Model.
    pub target: TargetPlan,
    /// Shape.
    pub shape: ShapePlan,
}

/// One fault of the plan.
#[derive(Clone, Debug)]
pub(crate) struct FaultPlan {
    /// Start, in ms.
    pub at_ms: u64,
    /// Length in ms (`None`: to the end of the run).
    pub len_ms: Option<u64>,
    /// What goes wrong.
    pub kind: FaultKindPlan,
}

/// Which model a rate limit is about.
#[derive(Clone, Debug)]
pub(crate) enum RateModel {
    /// Every model.
    Any,
    /// A canonical model.
    Canonical(Index),
    /// An upstream name of the credential's provider.
    Upstream(Index),
}

/// Every [`FaultKind`], with references as indices.
#[derive(Clone, Debug)]
pub(crate) enum FaultKindPlan {
    /// `key_invalid`.
    KeyInvalid {
        /// Credential (any, BYOK included).
        key: Index,
        /// A 4xx status.
        status: u16,
        /// A body override in a recognised invalid-key wording.
        body: Option<Index>,
    },
    /// `key_revoked`.
    KeyRevoked {
        /// Credential.
        key: Index,
        /// 401 or 403.
        status: u16,
    },
    /// `rate_limit`.
    RateLimit {
        /// Credential.
        key: Index,
        /// Model.
        model: RateModel,
        /// Bucket size per minute.
        capacity_per_min: u32,
        /// Fixed hint, in ms.
        retry_after_ms: Option<u64>,
        /// How the hint is written.
        style: RetryStyle,
    },
    /// `model_unsupported`.
    ModelUnsupported {
        /// Credential.
        key: Index,
        /// Upstream of the credential's provider.
        upstream: Index,
        /// 400 or 422.
        status: u16,
    },
    /// `server_errors`.
    ServerErrors {
        /// Provider.
        provider: Index,
        /// Region among the provider's (`None`: all).
        region: Option<Index>,
        /// Fraction in basis points.
        rate_bp: u32,
        /// 5xx status.
        status: u16,
    },
    /// `region_outage`.
    RegionOutage {
        /// Provider.
        provider: Index,
        /// Region among the provider's.
        region: Index,
        /// Hangs until the attempt timeout (else connections fail at once).
        timeout: bool,
    },
    /// `latency_spike`.
    LatencySpike {
        /// Provider.
        provider: Index,
        /// Region among the provider's (`None`: all).
        region: Option<Index>,
        /// Added latency in ms.
        extra_ms: u64,
    },
    /// `stream_break`.
    StreamBreak {
        /// Provider.
        provider: Index,
        /// Region among the provider's (`None`: all).
        region: Option<Index>,
        /// Only this credential of the provider.
        key: Option<Index>,
        /// After bytes reached the client.
        after_first_byte: bool,
        /// Fraction in basis points.
        rate_bp: u32,
    },
    /// `request_invalid`.
    RequestInvalid {
        /// Fraction in basis points.
        rate_bp: u32,
    },
    /// `model_withdrawn`.
    ModelWithdrawn {
        /// Provider.
        provider: Index,
        /// Upstream of the provider.
        upstream: Index,
    },
}

/// A whole world: topology, explicit requests and faults, and the seed to run it with.
#[derive(Clone, Debug)]
pub(crate) struct WorldPlan {
    /// Seed of the run (also written as the world's own seed).
    pub seed: u64,
    /// Topology.
    pub topology: TopologyPlan,
    /// Explicit requests (sorted by arrival when built).
    pub requests: Vec<RequestPlan>,
    /// Faults.
    pub faults: Vec<FaultPlan>,
}

/// A seeded generator and swarm faults on top of a world, for the determinism property.
#[derive(Clone, Debug)]
pub(crate) struct TrafficPlan {
    /// The world.
    pub world: WorldPlan,
    /// Generator rate, requests per second in thousandths.
    pub rate_milli_per_s: u64,
    /// Generator span in ms, from 0.
    pub span_ms: u64,
    /// Bursts of this size (else Poisson arrivals).
    pub burst: Option<u32>,
    /// Generator project.
    pub project: Index,
    /// Weighted request templates.
    pub mix: Vec<(u32, TargetPlan, ShapePlan)>,
    /// Fault kinds a seed may draw (swarm), each with weight 50 %.
    pub swarm_kinds: Vec<Index>,
}

/// Invalid-key bodies the classifier must recognise (Google, OpenAI, generic wording).
pub(crate) const INVALID_KEY_BODIES: &[&str] = &[
    r#"{"error":{"code":400,"message":"API key not valid. Please pass a valid API key.","status":"INVALID_ARGUMENT"}}"#,
    r#"{"error":{"message":"Incorrect API key provided.","type":"invalid_request_error","code":"invalid_api_key"}}"#,
    r#"{"error":{"message":"API key not found"}}"#,
];

impl WorldPlan {
    /// The topology with the requests and faults added (no generator).
    fn topology_with_traffic(&self, id: &str) -> Topology {
        let mut topo = build_topology(&self.topology, id);
        let mut requests: Vec<RequestSpec> = self
            .requests
            .iter()
            .map(|r| topo.request(r.at_ms.min(DURATION_MS), &r.project, &r.target, &r.shape))
            .collect();
        // Scenario files list requests in time order; the sort is stable.
        requests.sort_by_key(|r| r.at);
        let faults: Vec<(u64, Option<u64>, FaultKind)> = self
            .faults
            .iter()
            .filter_map(|f| {
                let kind = topo.fault_kind(&f.kind)?;
                let until = f.len_ms.map(|len| f.at_ms + len.max(1));
                Some((f.at_ms, until, kind))
            })
            .collect();
        for (at, until, kind) in faults {
            topo.builder.fault(at, until, kind);
        }
        let w = topo.builder.world_mut();
        w.seed = self.seed;
        w.duration = Duration::from_ms(DURATION_MS);
        w.workload.requests = requests;
        topo
    }

    /// The world this plan describes.
    pub(crate) fn build(&self) -> World {
        self.topology_with_traffic("property-world").builder.build()
    }
}

impl TrafficPlan {
    /// The world with a generator (and swarm faults) on top of its explicit traffic.
    pub(crate) fn build(&self) -> World {
        let mut topo = self.world.topology_with_traffic("property-traffic");
        let project = *self.project.get(&topo.projects);
        let mix: Vec<(u32, RequestSpec)> = self
            .mix
            .iter()
            .map(|(w, target, shape)| {
                let mut spec = topo.request(0, &self.project, target, shape);
                spec.project = project;
                (*w, spec)
            })
            .collect();
        let span = self.span_ms.clamp(1_000, DURATION_MS);
        let custom_model_bp = if topo.any_model.is_empty() { 0 } else { 1_000 };
        let mut kinds: Vec<&str> = self
            .swarm_kinds
            .iter()
            .map(|i| *i.get(gatesim_sim::swarm::KINDS))
            .collect();
        kinds.sort_unstable();
        kinds.dedup();
        let w = topo.builder.world_mut();
        w.workload.generators.push(Generator {
            from: gatesim_core::Instant::ZERO,
            until: gatesim_core::Instant(span),
            rate_milli_per_s: self.rate_milli_per_s.max(1),
            arrivals: match self.burst {
                Some(size) => Arrivals::Bursts { size },
                None => Arrivals::Poisson,
            },
            project,
            mix,
            custom_model_bp,
        });
        w.swarm = kinds
            .into_iter()
            .map(|kind| SwarmFault {
                kind: kind.to_string(),
                weight: 50,
                count_max: 2,
            })
            .collect();
        topo.builder.build()
    }
}
