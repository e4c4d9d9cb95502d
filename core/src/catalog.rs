//! The world the gateway routes in: providers, regions, models, mappings, aliases,
//! credentials and projects.

use crate::id::{KeyId, ModelId, ProjectId, ProviderId, RegionId, Scope};

/// A provider: one upstream API, available in some regions.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Provider {
    /// Name, e.g. `google-ai-studio`.
    pub name: String,
    /// Regions it serves.
    pub regions: Vec<RegionId>,
    /// Whether it accepts any model name a client sends (custom / passthrough models).
    /// Such names become health scopes: the scope cap keeps them bounded.
    pub accepts_any_model: bool,
}

/// Where one canonical model is served: provider × region → upstream model name.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Mapping {
    /// The provider.
    pub provider: ProviderId,
    /// The region.
    pub region: RegionId,
    /// The concrete upstream model name sent to the provider.
    pub upstream: String,
}

/// A canonical model, or an alias pool over canonical models.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Model {
    /// Name clients use, e.g. `gemini-2.5-flash`.
    pub name: String,
    /// Where it is served (empty for an alias).
    pub served_by: Vec<Mapping>,
    /// For an alias pool: the canonical models it spreads over (rotated per request).
    pub alias_of: Vec<ModelId>,
}

impl Model {
    /// Whether this is an alias pool.
    pub fn is_alias(&self) -> bool {
        !self.alias_of.is_empty()
    }
}

/// Who owns a credential, which decides the project modes that may use it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Source {
    /// The organisation's own provider key (used by `api-keys` and `hybrid`).
    Org,
    /// The gateway's own env-backed key (used by `credits` and `hybrid`).
    Platform,
    /// A key a user supplies with the request: one attempt, never pooled.
    Byok,
}

impl Source {
    /// The name used in scenario files.
    pub fn name(self) -> &'static str {
        match self {
            Source::Org => "org",
            Source::Platform => "platform",
            Source::Byok => "byok",
        }
    }
}

/// A credential. The core holds no secret: only an id, a label and a redacted hint.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Credential {
    /// Label, e.g. `k0` (never a secret).
    pub name: String,
    /// The provider it authenticates against.
    pub provider: ProviderId,
    /// A region lock: the credential is only ever sent to this region.
    pub region: Option<RegionId>,
    /// Owner.
    pub source: Source,
    /// Base URL / deployment options from the credential's own configuration
    /// (`None` = the provider's default endpoint).
    pub endpoint: Option<String>,
    /// Its share of the pool under `weighted` and `shuffle` key selection, 1 to
    /// [`WEIGHT_MAX`](Credential::WEIGHT_MAX) (CLIProxyAPI's default and bound); read by
    /// no other selection.
    pub weight: u32,
}

impl Credential {
    /// The largest weight (CLIProxyAPI's bound).
    pub const WEIGHT_MAX: u32 = 1_000_000;

    /// The redacted hint recorded for a request (`k0…3f9a`): enough to tell keys apart,
    /// nothing that authenticates.
    pub fn hint(&self) -> String {
        let tag = crate::id::fnv1a(self.name.as_bytes()) & 0xffff;
        format!("{}…{:04x}", self.name, tag)
    }
}

/// Which credentials a project may use.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Mode {
    /// Only the organisation's own keys.
    ApiKeys,
    /// Only the gateway's platform keys.
    Credits,
    /// Both; org keys preferred.
    Hybrid,
}

impl Mode {
    /// The name used in scenario files.
    pub fn name(self) -> &'static str {
        match self {
            Mode::ApiKeys => "api-keys",
            Mode::Credits => "credits",
            Mode::Hybrid => "hybrid",
        }
    }
    /// Whether a pooled credential of `source` may be used in this mode.
    pub fn admits(self, source: Source) -> bool {
        matches!(
            (self, source),
            (Mode::ApiKeys, Source::Org)
                | (Mode::Credits, Source::Platform)
                | (Mode::Hybrid, Source::Org | Source::Platform)
        )
    }
}

/// A project (tenant).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Project {
    /// Name, e.g. `p1`.
    pub name: String,
    /// Its mode.
    pub mode: Mode,
}

/// Everything the gateway is configured with, apart from the policy.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Catalog {
    /// Region names, indexed by `RegionId`.
    pub regions: Vec<String>,
    /// Providers, indexed by `ProviderId`.
    pub providers: Vec<Provider>,
    /// Models and aliases, indexed by `ModelId`.
    pub models: Vec<Model>,
    /// Credentials in pool order (per provider, the first is the primary), indexed by `KeyId`.
    pub credentials: Vec<Credential>,
    /// Projects, indexed by `ProjectId`.
    pub projects: Vec<Project>,
    /// Unix time of the scenario start, for `Retry-After` given as an HTTP-date.
    pub epoch_unix_s: u64,
}

impl Catalog {
    /// The provider.
    pub fn provider(&self, id: ProviderId) -> &Provider {
        &self.providers[id.index()]
    }
    /// The credential.
    pub fn credential(&self, id: KeyId) -> &Credential {
        &self.credentials[id.index()]
    }
    /// The model.
    pub fn model(&self, id: ModelId) -> &Model {
        &self.models[id.index()]
    }
    /// The project.
    pub fn project(&self, id: ProjectId) -> &Project {
        &self.projects[id.index()]
    }
    /// A region's name.
    pub fn region_name(&self, id: RegionId) -> &str {
        &self.regions[id.index()]
    }
    /// Looks a model up by name.
    pub fn model_by_name(&self, name: &str) -> Option<ModelId> {
        self.models
            .iter()
            .position(|m| m.name == name)
            .map(|i| ModelId(i as u32))
    }
    /// Looks a provider up by name.
    pub fn provider_by_name(&self, name: &str) -> Option<ProviderId> {
        self.providers
            .iter()
            .position(|p| p.name == name)
            .map(|i| ProviderId(i as u32))
    }
    /// Looks a credential up by name.
    pub fn credential_by_name(&self, name: &str) -> Option<KeyId> {
        self.credentials
            .iter()
            .position(|c| c.name == name)
            .map(|i| KeyId(i as u32))
    }
    /// Looks a region up by name.
    pub fn region_by_name(&self, name: &str) -> Option<RegionId> {
        self.regions
            .iter()
            .position(|r| r == name)
            .map(|i| RegionId(i as u32))
    }
    /// Looks a project up by name.
    pub fn project_by_name(&self, name: &str) -> Option<ProjectId> {
        self.projects
            .iter()
            .position(|p| p.name == name)
            .map(|i| ProjectId(i as u32))
    }
    /// The pooled credentials of a provider, in pool order (primary first).
    pub fn pool(&self, provider: ProviderId) -> impl Iterator<Item = KeyId> + '_ {
        self.credentials
            .iter()
            .enumerate()
            .filter(move |(_, c)| c.provider == provider && c.source != Source::Byok)
            .map(|(i, _)| KeyId(i as u32))
    }
    /// The health scope of a canonical model.
    pub fn scope_of(&self, model: ModelId) -> Scope {
        Scope::of(&self.model(model).name)
    }
}
