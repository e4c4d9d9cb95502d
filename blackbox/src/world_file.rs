//! The world file: what the driver tells a gateway about one black-box run (where each
//! fake provider listens, the run's fake tokens, the projects' client keys, the models and
//! the contract's numbers), as JSON. `gatesim serve` reads it directly; an adapter's
//! `render` command turns it into another gateway's own configuration.
//!
//! It holds the run's tokens: the driver writes it owner-only into the run's directory,
//! never prints it, and removes it when the run ends. The tokens are fake, per run, and
//! never shaped like a real provider's key.

use serde::{Deserialize, Serialize};
use std::path::PathBuf;

/// One black-box run as a gateway needs to know it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WorldFile {
    /// The scenario file (absolute).
    pub scenario: PathBuf,
    /// The scenario's id.
    pub scenario_id: String,
    /// Where the gateway must listen (`127.0.0.1:PORT`).
    pub listen: String,
    /// The port of `listen`.
    pub port: u16,
    /// The gateway's client endpoint base (`http://127.0.0.1:PORT`).
    pub base_url: String,
    /// One per provider × region.
    pub upstreams: Vec<Upstream>,
    /// Every credential with its run token.
    pub credentials: Vec<Credential>,
    /// Every project with its client key.
    pub projects: Vec<Project>,
    /// Every canonical model and where it is served.
    pub models: Vec<Model>,
    /// Every alias pool and the canonical models it spreads over.
    pub aliases: Vec<Alias>,
    /// The scenario's contract, durations in milliseconds.
    pub contract: Contract,
    /// A per-run admin key for gateways that need one (LiteLLM's master key).
    pub admin_key: String,
}

/// A fake provider listener.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Upstream {
    /// Provider label.
    pub provider: String,
    /// Region label.
    pub region: String,
    /// The credential endpoint this listener stands for (a credential's `endpoint` in the
    /// scenario); absent = the provider's default endpoint.
    pub endpoint: Option<String>,
    /// Wire format: `openai`, `anthropic`, `google`, `generic`.
    pub style: String,
    /// `http://127.0.0.1:PORT`.
    pub base_url: String,
}

/// A credential.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Credential {
    /// Label.
    pub id: String,
    /// Provider label.
    pub provider: String,
    /// Region lock, if any.
    pub region: Option<String>,
    /// The credential's own endpoint (base URL label in the scenario), if any: its
    /// attempts go to the listener of `upstreams` with the same `endpoint`.
    pub endpoint: Option<String>,
    /// The run's fake token.
    pub token: String,
    /// Its `weight` in the scenario (1 when the scenario sets none): adapters whose
    /// gateway weighs credentials pass it on.
    #[serde(default = "one")]
    pub weight: u32,
}

/// A credential's weight when the world file names none.
fn one() -> u32 {
    1
}

/// A project (tenant).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Project {
    /// Label.
    pub id: String,
    /// The key its client sends.
    pub client_key: String,
}

/// A canonical model.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Model {
    /// The name clients use.
    pub id: String,
    /// Where it is served.
    pub served_by: Vec<Serving>,
}

/// An alias pool.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Alias {
    /// The name clients use.
    pub id: String,
    /// The canonical models it spreads over, in rotation order.
    pub members: Vec<String>,
}

/// One place a model is served.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Serving {
    /// Provider label.
    pub provider: String,
    /// Region label.
    pub region: String,
    /// The upstream model name.
    pub upstream: String,
}

/// The contract's numbers, for adapters that set a gateway's own knobs from them.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Contract {
    /// Attempts per request across providers × regions.
    pub attempts_max: u32,
    /// Consecutive errors before a credential is unhealthy.
    pub errors_consecutive_max: u32,
    /// How long unhealthy lasts.
    pub unhealthy_for_ms: u64,
    /// Cooldown for a 429 without a hint.
    pub retry_after_default_ms: u64,
    /// The longest Retry-After honoured.
    pub retry_after_cap_ms: u64,
    /// How long a model-support suspension lasts.
    pub suspension_for_ms: u64,
    /// Per-attempt timeout.
    pub attempt_timeout_ms: u64,
    /// Longest wait for a cooldown inside one request.
    pub wait_max_ms: u64,
}
