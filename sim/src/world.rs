//! A validated simulation world: the gateway's catalog and policy, the fault plan, the
//! workload and the scenario's own expectations.

use crate::contract::Contract;
use gatesim_core::{
    Catalog, Duration, Instant, KeyId, Outcome, Policy, ProjectId, ProviderId, RegionId,
    RequestKind, Scope,
};
use std::collections::BTreeMap;

/// Everything one run needs besides the seed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct World {
    /// Scenario id (file stem for incidents).
    pub id: String,
    /// One-line title.
    pub title: String,
    /// Where the incident comes from (`llmgateway #1977`).
    pub source: String,
    /// The default seed of the scenario.
    pub seed: u64,
    /// Simulated time the workload spans; the run ends when every request is answered.
    pub duration: Duration,
    /// Providers, regions, models, credentials, projects.
    pub catalog: Catalog,
    /// Per provider: latency and error-wording style (indexed by `ProviderId`).
    pub providers: Vec<ProviderSpec>,
    /// The gateway's policy (regression knobs included): how gatesim's core is set.
    pub policy: Policy,
    /// What the gateway promises: the checker judges by this, never by `policy`.
    pub contract: Contract,
    /// What goes wrong.
    pub faults: FaultPlan,
    /// What traffic runs.
    pub workload: Workload,
    /// Scenario-specific checks on top of the invariants.
    pub expect: Vec<Expectation>,
    /// For swarm worlds: the fault kinds a seed draws from (empty for plain scenarios).
    pub swarm: Vec<SwarmFault>,
}

/// How a fake provider behaves when nothing goes wrong, and how it words errors.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProviderSpec {
    /// Error wording.
    pub style: Style,
    /// Median latency.
    pub latency_p50: Duration,
    /// 99th percentile latency.
    pub latency_p99: Duration,
    /// Every answer exactly this late (before latency spikes), instead of the draw
    /// around p50 and p99; p50 and p99 are then this too.
    pub latency_fixed: Option<Duration>,
}

impl ProviderSpec {
    /// The longest latency an answer can have before latency spikes: the fixed latency,
    /// or twice p99 (the top of the draw).
    pub fn latency_max(&self) -> Duration {
        match self.latency_fixed {
            Some(fixed) => fixed,
            None => Duration::from_ms(self.latency_p99.as_ms().saturating_mul(2)),
        }
    }
}

impl Default for ProviderSpec {
    fn default() -> Self {
        ProviderSpec {
            style: Style::OpenAi,
            latency_p50: Duration::from_ms(400),
            latency_p99: Duration::from_ms(2000),
            latency_fixed: None,
        }
    }
}

/// The error wording a fake provider uses.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Style {
    /// OpenAI: `{"error":{"code":"invalid_api_key",...}}`, "Incorrect API key provided".
    OpenAi,
    /// Google AI Studio / Vertex: 400 "API key not valid. Please pass a valid API key."
    Google,
    /// Anthropic: `{"type":"error","error":{"type":"authentication_error",...}}`.
    Anthropic,
    /// Alibaba DashScope / other OpenAI-compatible upstreams.
    Generic,
}

impl Style {
    /// The name used in scenario files.
    pub fn name(self) -> &'static str {
        match self {
            Style::OpenAi => "openai",
            Style::Google => "google",
            Style::Anthropic => "anthropic",
            Style::Generic => "generic",
        }
    }
    /// Parses a scenario-file style name.
    pub fn parse(text: &str) -> Option<Style> {
        [
            Style::OpenAi,
            Style::Google,
            Style::Anthropic,
            Style::Generic,
        ]
        .into_iter()
        .find(|s| s.name() == text)
    }
}

/// How a `model_unsupported` fault words its error: the provider style's own
/// model-support wording, or one of the model-not-available wordings gateways met in
/// production (llmgateway `getFinishReasonFromError`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum UnsupportedWording {
    /// The provider style's model-support wording (400 or 422).
    Style,
    /// `unknown model: <upstream>` (400, 404 or 422).
    UnknownModel,
    /// Azure OpenAI's `DeploymentNotFound`, "could not find an existing deployment to
    /// match the model" (404; 400 as in llmgateway #2796).
    AzureDeployment,
    /// A bare `Not Found` body (404).
    NotFound,
}

impl UnsupportedWording {
    /// Every wording, in documentation order.
    pub const ALL: [UnsupportedWording; 4] = [
        UnsupportedWording::Style,
        UnsupportedWording::UnknownModel,
        UnsupportedWording::AzureDeployment,
        UnsupportedWording::NotFound,
    ];
    /// The name used in scenario files.
    pub fn name(self) -> &'static str {
        match self {
            UnsupportedWording::Style => "style",
            UnsupportedWording::UnknownModel => "unknown_model",
            UnsupportedWording::AzureDeployment => "azure_deployment",
            UnsupportedWording::NotFound => "not_found",
        }
    }
    /// The status sent when the fault names none.
    pub fn default_status(self) -> u16 {
        match self {
            UnsupportedWording::Style | UnsupportedWording::UnknownModel => 400,
            UnsupportedWording::AzureDeployment | UnsupportedWording::NotFound => 404,
        }
    }
    /// The statuses real upstreams send this wording with.
    pub fn statuses(self) -> &'static [u16] {
        match self {
            UnsupportedWording::Style => &[400, 422],
            UnsupportedWording::UnknownModel => &[400, 404, 422],
            UnsupportedWording::AzureDeployment => &[400, 404],
            UnsupportedWording::NotFound => &[404],
        }
    }
}

/// How a 429 carries its retry hint.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum RetryStyle {
    /// `Retry-After: 30`.
    Seconds,
    /// `Retry-After: Wed, 01 Jan 2026 00:00:30 GMT`.
    HttpDate,
    /// `retry-after-ms: 30000`.
    Millis,
    /// No hint at all.
    None,
}

impl RetryStyle {
    /// The name used in scenario files.
    pub fn name(self) -> &'static str {
        match self {
            RetryStyle::Seconds => "seconds",
            RetryStyle::HttpDate => "http_date",
            RetryStyle::Millis => "ms",
            RetryStyle::None => "none",
        }
    }
    /// Parses a scenario-file name.
    pub fn parse(text: &str) -> Option<RetryStyle> {
        [
            RetryStyle::Seconds,
            RetryStyle::HttpDate,
            RetryStyle::Millis,
            RetryStyle::None,
        ]
        .into_iter()
        .find(|s| s.name() == text)
    }
}

/// How a regional outage shows.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum OutageMode {
    /// Connections fail at once.
    Connect,
    /// Connections hang until the gateway's attempt timeout.
    Timeout,
}

/// One fault: active from `at` until `until` (forever when `None`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Fault {
    /// Start.
    pub at: Instant,
    /// End (exclusive), `None` = to the end of the run.
    pub until: Option<Instant>,
    /// What goes wrong.
    pub kind: FaultKind,
}

impl Fault {
    /// Whether active at `t`.
    pub fn active(&self, t: Instant) -> bool {
        t >= self.at && self.until.is_none_or(|u| t < u)
    }
    /// Whether active at any time in `[from, to]`.
    pub fn overlaps(&self, from: Instant, to: Instant) -> bool {
        self.at <= to && self.until.is_none_or(|u| u > from)
    }
}

/// The kinds of fault a world can have.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum FaultKind {
    /// The credential is invalid: every answer is `status` with `body` (provider-styled
    /// invalid-key wording when `body` is `None`).
    KeyInvalid {
        /// Credential.
        credential: KeyId,
        /// Status (400 for Google-style, 401 for OpenAI-style).
        status: u16,
        /// Body override.
        body: Option<String>,
    },
    /// The credential was revoked: 401 or 403.
    KeyRevoked {
        /// Credential.
        credential: KeyId,
        /// 401 or 403.
        status: u16,
    },
    /// A token bucket per (credential, model): over capacity answers 429 with a hint.
    RateLimit {
        /// Credential.
        credential: KeyId,
        /// Model (canonical or upstream name); `None` = every model.
        model: Option<String>,
        /// Requests per minute the bucket admits (0 = every request is limited).
        capacity_per_min: u32,
        /// The hint sent; `None` = time until the bucket has a token again.
        retry_after: Option<Duration>,
        /// How the hint is written.
        style: RetryStyle,
    },
    /// The credential cannot serve this upstream model: 400/404/422 with model-support
    /// wording.
    ModelUnsupported {
        /// Credential.
        credential: KeyId,
        /// Upstream model name.
        upstream: String,
        /// One of the wording's statuses ([`UnsupportedWording::statuses`]).
        status: u16,
        /// Body override.
        body: Option<String>,
        /// The wording of the body when there is no override.
        wording: UnsupportedWording,
    },
    /// A fraction of answers are 5xx.
    ServerErrors {
        /// Provider.
        provider: ProviderId,
        /// Region (`None` = all).
        region: Option<RegionId>,
        /// Fraction in basis points (10 000 = every answer).
        rate_bp: u32,
        /// Status, e.g. 500, 502, 503.
        status: u16,
    },
    /// A provider × region is unreachable.
    RegionOutage {
        /// Provider.
        provider: ProviderId,
        /// Region.
        region: RegionId,
        /// How it fails.
        mode: OutageMode,
    },
    /// Added latency.
    LatencySpike {
        /// Provider.
        provider: ProviderId,
        /// Region (`None` = all).
        region: Option<RegionId>,
        /// Added to every answer's latency.
        extra: Duration,
    },
    /// Streams break.
    StreamBreak {
        /// Provider.
        provider: ProviderId,
        /// Region (`None` = all).
        region: Option<RegionId>,
        /// Only streams sent with this credential (`None` = all).
        credential: Option<KeyId>,
        /// Break after bytes reached the client (else before the first byte).
        after_first_byte: bool,
        /// Fraction of streams, in basis points.
        rate_bp: u32,
    },
    /// A fraction of requests have a shape every provider rejects (400).
    RequestInvalid {
        /// Fraction of requests, in basis points.
        rate_bp: u32,
    },
    /// A provider withdrew an upstream model: model-support errors for every credential.
    ModelWithdrawn {
        /// Provider.
        provider: ProviderId,
        /// Upstream model name.
        upstream: String,
    },
    /// Any answer, written out (status, body, headers), with the meaning it really has.
    Answer(Box<Answer>),
}

impl FaultKind {
    /// The name used in scenario files.
    pub fn name(&self) -> &'static str {
        match self {
            FaultKind::KeyInvalid { .. } => "key_invalid",
            FaultKind::KeyRevoked { .. } => "key_revoked",
            FaultKind::RateLimit { .. } => "rate_limit",
            FaultKind::ModelUnsupported { .. } => "model_unsupported",
            FaultKind::ServerErrors { .. } => "server_errors",
            FaultKind::RegionOutage { .. } => "region_outage",
            FaultKind::LatencySpike { .. } => "latency_spike",
            FaultKind::StreamBreak { .. } => "stream_break",
            FaultKind::RequestInvalid { .. } => "request_invalid",
            FaultKind::ModelWithdrawn { .. } => "model_withdrawn",
            FaultKind::Answer(_) => "answer",
        }
    }

    /// The name, and for an answer its meaning and status (`answer means=key_invalid
    /// status=403`): how traces and timelines label a fault.
    pub fn label(&self) -> String {
        match self {
            FaultKind::Answer(a) => {
                format!("answer means={} status={}", a.means.name(), a.status)
            }
            other => other.name().to_owned(),
        }
    }
}

/// What an `answer` fault's answer really is, whatever its status and body say: the
/// ground truth the checker judges the gateway by.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Means {
    /// The credential is bad: a gateway stops using it, for every model.
    KeyInvalid,
    /// The credential is over its limit; the hint is what the answer's `retry-after-ms`
    /// or `Retry-After` header conveys, if anything.
    RateLimited,
    /// This credential cannot serve this upstream model: a gateway suspends the path and
    /// moves on.
    ModelUnsupported,
    /// The request itself is wrong: a gateway passes the answer on and tries no further.
    RequestInvalid,
    /// A transient fault of the provider: it counts toward the path's consecutive errors.
    UpstreamError,
}

impl Means {
    /// Every meaning, in documentation order.
    pub const ALL: [Means; 5] = [
        Means::KeyInvalid,
        Means::RateLimited,
        Means::ModelUnsupported,
        Means::RequestInvalid,
        Means::UpstreamError,
    ];
    /// The name used in scenario files.
    pub fn name(self) -> &'static str {
        match self {
            Means::KeyInvalid => "key_invalid",
            Means::RateLimited => "rate_limited",
            Means::ModelUnsupported => "model_unsupported",
            Means::RequestInvalid => "request_invalid",
            Means::UpstreamError => "upstream_error",
        }
    }
    /// The lowest and highest status an answer with this meaning may have: every meaning
    /// is a failure, and a bad key, an unsupported model or a bad request is a 4xx (the
    /// client side of the exchange), while a limit or an upstream fault may be either.
    pub fn statuses(self) -> (u16, u16) {
        match self {
            Means::KeyInvalid | Means::ModelUnsupported | Means::RequestInvalid => (400, 499),
            Means::RateLimited | Means::UpstreamError => (400, 599),
        }
    }
}

/// An answer an `answer` fault makes the fake provider send, as written, to the attempts
/// it is for, with its ground-truth meaning.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Answer {
    /// What the answer really is.
    pub means: Means,
    /// Only attempts sent with this credential (`None` = every credential of `provider`).
    pub credential: Option<KeyId>,
    /// Only attempts to this provider (`None` = the credential's).
    pub provider: Option<ProviderId>,
    /// Only attempts to this region (`None` = every region).
    pub region: Option<RegionId>,
    /// Only attempts for this model, canonical or upstream name (`None` = every model).
    pub model: Option<String>,
    /// Status, 400 to 599 ([`Means::statuses`]).
    pub status: u16,
    /// Body as sent; `None` = the provider style's wording for the meaning.
    pub body: Option<String>,
    /// Headers sent as written, in name order (names compared without case when read).
    pub headers: BTreeMap<String, String>,
    /// Fraction of matching attempts answered so, in basis points (10 000 = every one);
    /// for `request_invalid`, of requests (the same ones at every provider).
    pub rate_bp: u32,
}

impl Answer {
    /// Whether the answer is for attempts sent with `sent` to `provider` × `region`,
    /// whatever their model and the draw.
    pub fn touches(&self, provider: ProviderId, region: RegionId, sent: KeyId) -> bool {
        self.credential.is_none_or(|c| c == sent)
            && self.provider.is_none_or(|p| p == provider)
            && self.region.is_none_or(|r| r == region)
    }
    /// Whether the answer is for attempts of the model whose health scope is `scope` and
    /// whose upstream name is `upstream`.
    pub fn for_model(&self, scope: Scope, upstream: &str) -> bool {
        self.model
            .as_deref()
            .is_none_or(|m| Scope::of(m) == scope || m == upstream)
    }
    /// The value of header `name` (any case), if the answer sends it.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// The faults of a run, in time order of their start.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct FaultPlan {
    /// Faults.
    pub faults: Vec<Fault>,
}

/// A fault kind a swarm world may draw, with the range of its strength.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SwarmFault {
    /// Fault kind name (`rate_limit`, `region_outage`, ...).
    pub kind: String,
    /// Chance, in percent, that a seed draws this kind at all (100 or more: always).
    pub weight: u32,
    /// How many faults of this kind at most, when drawn.
    pub count_max: u32,
}

/// The traffic of a run.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Workload {
    /// Explicit requests.
    pub requests: Vec<RequestSpec>,
    /// Seeded generators.
    pub generators: Vec<Generator>,
}

/// One request: when it arrives and what it asks.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RequestSpec {
    /// Arrival time.
    pub at: Instant,
    /// Project.
    pub project: ProjectId,
    /// Model as the client names it.
    pub model: String,
    /// Streamed.
    pub stream: bool,
    /// BYOK credential.
    pub byok: Option<KeyId>,
    /// Kind.
    pub kind: RequestKind,
    /// Agentic iterations (≥ 1).
    pub agentic_iterations: u32,
    /// Body size.
    pub body_bytes: u32,
}

/// A seeded arrival process.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Generator {
    /// Start.
    pub from: Instant,
    /// End (exclusive).
    pub until: Instant,
    /// Mean arrivals per second, in thousandths (5 req/s = 5000).
    pub rate_milli_per_s: u64,
    /// Arrival process.
    pub arrivals: Arrivals,
    /// Project.
    pub project: ProjectId,
    /// Weighted request templates (`at` ignored).
    pub mix: Vec<(u32, RequestSpec)>,
    /// Draw a fresh custom model name for this fraction of requests (basis points):
    /// the model-name flood that tests the scope cap.
    pub custom_model_bp: u32,
}

/// How arrivals are spaced.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Arrivals {
    /// Exponential inter-arrival times.
    Poisson,
    /// Groups of `size` requests arriving together.
    Bursts {
        /// Requests per burst.
        size: u32,
    },
}

/// A scenario-specific check on top of the invariants.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Expectation {
    /// Request `index` (submission order) ends as pinned: outcome, status, credential,
    /// attempts, Retry-After, hint, attempt order (each optional).
    Request {
        /// Index in submission order.
        index: u64,
        /// Outcome.
        outcome: Option<Outcome>,
        /// Client status.
        status: Option<u16>,
        /// The credential that served it.
        served_by: Option<KeyId>,
        /// Attempts made.
        attempts: Option<u32>,
        /// The client's Retry-After in whole seconds: the header, or the in-stream
        /// error's when the failure is relayed under a 200.
        retry_after_s: Option<u64>,
        /// The credential whose redacted hint the answer carries.
        hint: Option<KeyId>,
        /// The credentials the request's attempts sent, in order.
        attempt_order: Option<Vec<KeyId>>,
    },
    /// A credential's state when the run ends.
    CredentialState {
        /// Credential.
        credential: KeyId,
        /// State.
        state: CredentialState,
    },
    /// The last rate-limit cooldown the gateway wrote for a credential (for one model, or
    /// any) ends at this time.
    Cooldown {
        /// Credential.
        credential: KeyId,
        /// The model (canonical or custom name) whose health scope it is; `None` = any.
        model: Option<String>,
        /// The end it reported, merged with what was there.
        until: Instant,
    },
    /// A metric of the summary is within bounds.
    Metric {
        /// Metric name (see `metrics::Summary::get`).
        name: String,
        /// Lower bound.
        min: Option<u64>,
        /// Upper bound.
        max: Option<u64>,
    },
}

/// A credential's state at the end of a run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CredentialState {
    /// Blacklisted.
    Blacklisted,
    /// Not blacklisted.
    Usable,
}
