//! The scenario file as serde sees it: field names, nesting and JSON types, nothing more.
//!
//! Every struct denies unknown fields (a typo must be an error). Enumerations, durations,
//! fractions and references are kept as text and numbers here and checked by `validate`,
//! so that one file reports every problem at once instead of stopping at the first.
//! The same types serialise a `World` back (`write`): declaration order is field order,
//! and an absent optional field is left out (`skip_serializing_none` on every struct
//! with one, always above the `derive` it rewrites).

pub(super) use super::lenient::{missing_field, DurText, Item, Number, Seg};
use serde::{Deserialize, Serialize};
use serde_with::skip_serializing_none;
use std::collections::BTreeMap;

/// The whole file. Everything is optional here; what is required is checked in `validate`
/// so that a wrong value is reported once, not again as "missing".
#[skip_serializing_none]
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawScenario {
    /// Format version (1).
    #[serde(default)]
    pub version: Option<u64>,
    /// Scenario id.
    #[serde(default)]
    pub id: Option<String>,
    /// One-line title.
    #[serde(default)]
    pub title: Option<String>,
    /// Where the incident comes from.
    #[serde(default)]
    pub source: Option<String>,
    /// Default seed.
    #[serde(default)]
    pub seed: Option<u64>,
    /// Simulated time the workload spans.
    #[serde(default)]
    pub duration: Option<DurText>,
    /// Unix time of the scenario start.
    #[serde(default)]
    pub epoch_unix_s: Option<u64>,
    /// Region names.
    #[serde(default)]
    pub regions: Vec<Item<String>>,
    /// Providers.
    #[serde(default)]
    pub providers: Vec<Item<RawProvider>>,
    /// Models and aliases.
    #[serde(default)]
    pub models: Vec<Item<RawModel>>,
    /// Credentials in pool order.
    #[serde(default)]
    pub credentials: Vec<Item<RawCredential>>,
    /// Projects.
    #[serde(default)]
    pub projects: Vec<Item<RawProject>>,
    /// Policy.
    #[serde(default)]
    pub policy: Option<Item<RawPolicy>>,
    /// The promises the gateway is held to.
    #[serde(default)]
    pub contract: Option<Item<RawOverrides>>,
    /// Faults.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub faults: Vec<Item<RawFault>>,
    /// Traffic.
    #[serde(default)]
    pub workload: Option<Item<RawWorkload>>,
    /// Scenario-specific checks.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub expect: Vec<Item<RawExpect>>,
    /// Swarm fault kinds.
    #[serde(default)]
    pub swarm: Option<Item<RawSwarm>>,
}

/// `providers[i]`.
#[skip_serializing_none]
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawProvider {
    /// Provider id.
    pub id: String,
    /// Error wording style.
    #[serde(default)]
    pub style: Option<String>,
    /// Regions served.
    #[serde(default)]
    pub regions: Vec<String>,
    /// Latency distribution.
    #[serde(default)]
    pub latency: Option<RawLatency>,
    /// Accepts any model name.
    #[serde(default)]
    pub accepts_any_model: Option<bool>,
}

/// `providers[i].latency`.
#[skip_serializing_none]
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawLatency {
    /// Median.
    #[serde(default)]
    pub p50: Option<DurText>,
    /// 99th percentile.
    #[serde(default)]
    pub p99: Option<DurText>,
    /// Every answer exactly this late (not with p50 or p99).
    #[serde(default)]
    pub fixed: Option<DurText>,
}

/// `models[i]`: `served_by` or `alias_of`, exactly one.
#[skip_serializing_none]
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawModel {
    /// Model id.
    pub id: String,
    /// Mappings.
    #[serde(default)]
    pub served_by: Option<Vec<RawMapping>>,
    /// Alias members.
    #[serde(default)]
    pub alias_of: Option<Vec<String>>,
}

/// `models[i].served_by[j]`.
#[skip_serializing_none]
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawMapping {
    /// Provider id.
    pub provider: String,
    /// Region.
    pub region: String,
    /// Upstream model name (default: the model id).
    #[serde(default)]
    pub upstream: Option<String>,
}

/// `credentials[i]`.
#[skip_serializing_none]
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawCredential {
    /// Label.
    pub id: String,
    /// Provider id.
    pub provider: String,
    /// `org`, `platform` or `byok`.
    pub source: String,
    /// Region lock.
    #[serde(default)]
    pub region: Option<String>,
    /// Base URL.
    #[serde(default)]
    pub endpoint: Option<String>,
    /// Share of the pool under `weighted` key selection (default 1).
    #[serde(default)]
    pub weight: Option<u64>,
}

/// `projects[i]`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawProject {
    /// Project id.
    pub id: String,
    /// `api-keys`, `credits` or `hybrid`.
    pub mode: String,
}

/// `policy`.
#[skip_serializing_none]
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawPolicy {
    /// Preset name (`reference`, `llmgateway`, `cliproxyapi`, `aibridge`, `litellm`).
    #[serde(default)]
    pub preset: Option<String>,
    /// What the policy is: prose for the reader (the presets say where each rule comes from).
    #[serde(default)]
    pub about: Option<String>,
    /// Per-field overrides.
    #[serde(default)]
    pub overrides: Option<RawOverrides>,
    /// Regression knobs (names or incident ids).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub regressions: Vec<String>,
}

/// `policy.overrides` and `contract`: one optional field per tunable of
/// `gatesim_core::Policy`, the promise of the same name in `contract`, and
/// `recovery_within`, which only `contract` takes (a promise with no setting).
#[skip_serializing_none]
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[allow(missing_docs)] // each field is documented on `gatesim_core::Policy` and `Contract`
pub(super) struct RawOverrides {
    #[serde(default)]
    pub retry_after_default: Option<DurText>,
    #[serde(default)]
    pub retry_after_cap: Option<DurText>,
    #[serde(default)]
    pub errors_consecutive_max: Option<u32>,
    #[serde(default)]
    pub unhealthy_for: Option<DurText>,
    #[serde(default)]
    pub suspension_for: Option<DurText>,
    #[serde(default)]
    pub attempts_max: Option<u32>,
    #[serde(default)]
    pub wait_max: Option<DurText>,
    #[serde(default)]
    pub wait_rounds_max: Option<u32>,
    #[serde(default)]
    pub history_window: Option<DurText>,
    #[serde(default)]
    pub history_entries_max: Option<u32>,
    #[serde(default)]
    pub uptime_bar_bp: Option<u32>,
    #[serde(default)]
    pub scopes_max: Option<u32>,
    #[serde(default)]
    pub attempt_timeout: Option<DurText>,
    #[serde(default)]
    pub recovery_within: Option<DurText>,
    // The capabilities: settings of the gateway with no promise of the same name.
    /// `"blacklist"`, `{"cooldown": D}` or `{"model_cooldown": D}`.
    #[serde(default)]
    pub auth_failure: Option<serde_json::Value>,
    #[serde(default)]
    pub forbidden: Option<String>,
    #[serde(default)]
    pub invalid_key_bodies: Option<String>,
    #[serde(default)]
    pub upstream_retry_after_passed_on: Option<bool>,
    #[serde(default)]
    pub stream_breaks_fail_over: Option<bool>,
    #[serde(default)]
    pub upstream_errors_fail_over: Option<bool>,
    /// `"consecutive"` or `{"error_ratio": {"above_bp": N, "min_requests": N}}`.
    #[serde(default)]
    pub unhealthy_rule: Option<serde_json::Value>,
    #[serde(default)]
    pub retried_failures_mark_health: Option<bool>,
    /// `{"max": N, "backoff": D}`.
    #[serde(default)]
    pub same_key_retries: Option<serde_json::Value>,
    #[serde(default)]
    pub model_support: Option<String>,
    #[serde(default)]
    pub cooldown_merge: Option<String>,
    #[serde(default)]
    pub retry_after_forms: Option<Vec<String>>,
    /// `"fixed"`, `"as_error"` or `{"exponential": {"base": D, "cap": D}}`.
    #[serde(default)]
    pub rate_limit_backoff: Option<serde_json::Value>,
    #[serde(default)]
    pub exhaustion_answer: Option<String>,
    #[serde(default)]
    pub key_selection: Option<String>,
}

/// `faults[i]`: one flat object; which fields a kind takes is checked in `validate`, so a
/// field of another kind is reported as "not a field of <kind>".
#[skip_serializing_none]
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[allow(missing_docs)] // the fields are documented per kind in scenarios/README.md
pub(super) struct RawFault {
    pub at: DurText,
    #[serde(default)]
    pub until: Option<DurText>,
    pub kind: String,
    #[serde(default)]
    pub means: Option<String>,
    #[serde(default)]
    pub provider: Option<String>,
    #[serde(default)]
    pub region: Option<String>,
    #[serde(default)]
    pub credential: Option<String>,
    #[serde(default)]
    pub model: Option<String>,
    #[serde(default)]
    pub upstream: Option<String>,
    #[serde(default)]
    pub status: Option<u16>,
    #[serde(default)]
    pub body: Option<String>,
    #[serde(default)]
    pub headers: Option<BTreeMap<String, String>>,
    #[serde(default)]
    pub capacity_per_min: Option<u32>,
    #[serde(default)]
    pub retry_after: Option<DurText>,
    #[serde(default)]
    pub retry_after_style: Option<String>,
    #[serde(default)]
    pub rate: Option<Number>,
    #[serde(default)]
    pub mode: Option<String>,
    #[serde(default)]
    pub extra: Option<DurText>,
    #[serde(default)]
    pub after_first_byte: Option<bool>,
    #[serde(default)]
    pub wording: Option<String>,
}

impl RawFault {
    /// The kind-specific fields that are present, by name, in declaration order.
    pub(super) fn present(&self) -> Vec<&'static str> {
        let flags = [
            ("means", self.means.is_some()),
            ("provider", self.provider.is_some()),
            ("region", self.region.is_some()),
            ("credential", self.credential.is_some()),
            ("model", self.model.is_some()),
            ("upstream", self.upstream.is_some()),
            ("status", self.status.is_some()),
            ("body", self.body.is_some()),
            ("headers", self.headers.is_some()),
            ("capacity_per_min", self.capacity_per_min.is_some()),
            ("retry_after", self.retry_after.is_some()),
            ("retry_after_style", self.retry_after_style.is_some()),
            ("rate", self.rate.is_some()),
            ("mode", self.mode.is_some()),
            ("extra", self.extra.is_some()),
            ("after_first_byte", self.after_first_byte.is_some()),
            ("wording", self.wording.is_some()),
        ];
        flags
            .iter()
            .filter(|(_, on)| *on)
            .map(|(n, _)| *n)
            .collect()
    }
}

/// `workload`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawWorkload {
    /// Explicit requests, in time order.
    #[serde(default)]
    pub requests: Vec<Item<RawRequest>>,
    /// Seeded generators.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub generators: Vec<Item<RawGenerator>>,
}

/// `workload.requests[i]`.
#[skip_serializing_none]
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawRequest {
    /// Arrival time.
    pub at: DurText,
    /// Project id.
    pub project: String,
    /// Model as the client names it.
    pub model: String,
    /// Streamed.
    #[serde(default)]
    pub stream: Option<bool>,
    /// BYOK credential id.
    #[serde(default)]
    pub byok: Option<String>,
    /// `chat`, `count_tokens` or `passthrough`.
    #[serde(default)]
    pub kind: Option<String>,
    /// Upstream calls of an agentic loop.
    #[serde(default)]
    pub agentic_iterations: Option<u32>,
    /// Body size in bytes.
    #[serde(default)]
    pub body_bytes: Option<u32>,
}

/// `workload.generators[i]`.
#[skip_serializing_none]
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawGenerator {
    /// Start.
    pub from: DurText,
    /// End (exclusive).
    pub until: DurText,
    /// Mean arrivals per second.
    pub rate_per_s: Number,
    /// `poisson` or `bursts`.
    #[serde(default)]
    pub arrivals: Option<String>,
    /// Requests per burst.
    #[serde(default)]
    pub burst_size: Option<u32>,
    /// Project id.
    pub project: String,
    /// Weighted request templates.
    #[serde(default)]
    pub mix: Vec<Item<RawMix>>,
    /// Fraction of requests with a fresh custom model name.
    #[serde(default)]
    pub custom_model_fraction: Option<Number>,
}

/// `workload.generators[i].mix[j]`.
#[skip_serializing_none]
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawMix {
    /// Model as the client names it.
    pub model: String,
    /// Relative weight.
    #[serde(default)]
    pub weight: Option<u32>,
    /// Streamed.
    #[serde(default)]
    pub stream: Option<bool>,
    /// BYOK credential id.
    #[serde(default)]
    pub byok: Option<String>,
    /// `chat`, `count_tokens` or `passthrough`.
    #[serde(default)]
    pub kind: Option<String>,
    /// Upstream calls of an agentic loop.
    #[serde(default)]
    pub agentic_iterations: Option<u32>,
    /// Body size in bytes.
    #[serde(default)]
    pub body_bytes: Option<u32>,
}

/// `expect[i]`: one flat object of three shapes (request, credential, metric).
#[skip_serializing_none]
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[allow(missing_docs)] // the shapes are documented in scenarios/README.md
pub(super) struct RawExpect {
    #[serde(default)]
    pub request: Option<u64>,
    #[serde(default)]
    pub outcome: Option<String>,
    #[serde(default)]
    pub status: Option<u16>,
    #[serde(default)]
    pub served_by: Option<String>,
    #[serde(default)]
    pub attempts: Option<u32>,
    #[serde(default)]
    pub retry_after_s: Option<u64>,
    #[serde(default)]
    pub hint: Option<String>,
    #[serde(default)]
    pub attempt_order: Option<Vec<String>>,
    #[serde(default)]
    pub credential: Option<String>,
    #[serde(default)]
    pub state_at_end: Option<String>,
    #[serde(default)]
    pub cooled_until: Option<String>,
    #[serde(default)]
    pub model: Option<String>,
    #[serde(default)]
    pub metric: Option<String>,
    #[serde(default)]
    pub min: Option<u64>,
    #[serde(default)]
    pub max: Option<u64>,
}

/// `swarm`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawSwarm {
    /// Fault kinds a seed draws from.
    #[serde(default)]
    pub faults: Vec<Item<RawSwarmFault>>,
}

/// `swarm.faults[i]`.
#[skip_serializing_none]
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawSwarmFault {
    /// Fault kind name.
    pub kind: String,
    /// Relative weight of drawing this kind.
    #[serde(default)]
    pub weight: Option<u32>,
    /// Faults of this kind at most, when drawn.
    #[serde(default)]
    pub count_max: Option<u32>,
}
