//! A built topology: the catalog so far (in a `WorldBuilder`) and what resolving
//! requests and faults against it needs.

use super::{
    FaultKindPlan, KeyPlan, ModelPlan, ProviderPlan, RateModel, ShapePlan, TargetPlan,
    TopologyPlan, UpstreamName, INVALID_KEY_BODIES,
};
use gatesim_core::{Duration, KeyId, Mode, ModelId, ProjectId, ProviderId, RegionId, Source};
use gatesim_sim::build::WorldBuilder;
use gatesim_sim::world::{FaultKind, OutageMode, RequestSpec, Style, UnsupportedWording};
use proptest::sample::Index;

/// A built topology and what resolving requests and faults against it needs.
#[derive(Clone, Debug)]
pub(crate) struct Topology {
    /// The builder holding the catalog so far.
    pub builder: WorldBuilder,
    /// Provider ids with their names.
    pub providers: Vec<(ProviderId, String)>,
    /// Error style of each provider.
    pub styles: Vec<Style>,
    /// Regions served, per provider.
    pub regions_of: Vec<Vec<RegionId>>,
    /// Every credential of each provider (pooled and BYOK), per provider.
    pub keys_of: Vec<Vec<KeyId>>,
    /// Every credential.
    pub keys: Vec<KeyId>,
    /// BYOK credentials.
    pub byok: Vec<KeyId>,
    /// Canonical model names with their mappings (provider, upstream).
    pub models: Vec<(String, Vec<(ProviderId, String)>)>,
    /// The alias name, if there is one.
    pub alias: Option<String>,
    /// Providers that accept any model name.
    pub any_model: Vec<ProviderId>,
    /// The api-keys, credits and hybrid projects.
    pub projects: [ProjectId; 3],
}

/// Builds the topology: regions `r0..`, providers `p0..` with keys `p0-k0..`, models
/// `m0..`, alias `pool`, BYOK keys `user-0..`, and the three projects.
pub(crate) fn build_topology(plan: &TopologyPlan, id: &str) -> Topology {
    let mut t = Topology {
        builder: WorldBuilder::new(id),
        providers: Vec::new(),
        styles: Vec::new(),
        regions_of: Vec::new(),
        keys_of: Vec::new(),
        keys: Vec::new(),
        byok: Vec::new(),
        models: Vec::new(),
        alias: None,
        any_model: Vec::new(),
        projects: [ProjectId(0); 3],
    };
    let regions: Vec<RegionId> = (0..plan.regions.max(1))
        .map(|i| t.builder.region(&format!("r{i}")))
        .collect();
    for (pi, p) in plan.providers.iter().enumerate() {
        t.add_provider(pi, p, &regions);
    }
    for (pi, p) in plan.providers.iter().enumerate() {
        t.add_keys(pi, &p.keys);
    }
    let model_ids: Vec<ModelId> = plan
        .models
        .iter()
        .enumerate()
        .map(|(mi, m)| t.add_model(mi, m))
        .collect();
    if !plan.alias.is_empty() {
        let mut members: Vec<ModelId> = Vec::new();
        for i in &plan.alias {
            let m = *i.get(&model_ids);
            if !members.contains(&m) {
                members.push(m);
            }
        }
        t.builder.alias("pool", &members);
        t.alias = Some("pool".to_string());
    }
    for (i, p) in plan.byok.iter().enumerate() {
        let pi = p.index(t.providers.len());
        let id = t.builder.key(
            &format!("user-{i}"),
            t.providers[pi].0,
            Source::Byok,
            None,
            None,
        );
        t.keys_of[pi].push(id);
        t.keys.push(id);
        t.byok.push(id);
    }
    t.projects = [
        t.builder.project("team-api-keys", Mode::ApiKeys),
        t.builder.project("team-credits", Mode::Credits),
        t.builder.project("team-hybrid", Mode::Hybrid),
    ];
    t
}

impl Topology {
    /// Adds provider `p{pi}` in the regions of its mask (region 0 when none).
    fn add_provider(&mut self, pi: usize, p: &ProviderPlan, regions: &[RegionId]) {
        let mut served: Vec<RegionId> = regions
            .iter()
            .enumerate()
            .filter(|(i, _)| p.region_mask & (1 << i) != 0)
            .map(|(_, r)| *r)
            .collect();
        if served.is_empty() {
            served.push(regions[0]);
        }
        let name = format!("p{pi}");
        let id = self.builder.provider(&name, p.style, &served);
        if p.accepts_any_model {
            self.builder.accepts_any_model(id);
            self.any_model.push(id);
        }
        self.providers.push((id, name));
        self.styles.push(p.style);
        self.regions_of.push(served);
        self.keys_of.push(Vec::new());
    }

    /// Adds the pooled credentials `p{pi}-k0..` of provider `pi`, in pool order.
    fn add_keys(&mut self, pi: usize, keys: &[KeyPlan]) {
        let (provider, name) = self.providers[pi].clone();
        for (ki, k) in keys.iter().enumerate() {
            let key_name = format!("{name}-k{ki}");
            let source = if k.platform {
                Source::Platform
            } else {
                Source::Org
            };
            let lock = k.lock.map(|i| *i.get(&self.regions_of[pi]));
            let endpoint = k.endpoint.then(|| format!("https://{key_name}.example/v1"));
            let id = self
                .builder
                .key(&key_name, provider, source, lock, endpoint.as_deref());
            self.keys_of[pi].push(id);
            self.keys.push(id);
        }
    }

    /// Adds model `m{mi}` at its places (a repeated provider × region is dropped).
    fn add_model(&mut self, mi: usize, m: &ModelPlan) -> ModelId {
        let name = format!("m{mi}");
        let mut served: Vec<(ProviderId, RegionId, String)> = Vec::new();
        for s in &m.served {
            let pi = s.provider.index(self.providers.len());
            let region = *s.region.get(&self.regions_of[pi]);
            let provider = self.providers[pi].0;
            if served
                .iter()
                .any(|(p, r, _)| *p == provider && *r == region)
            {
                continue;
            }
            let upstream = match s.upstream {
                UpstreamName::Same => name.clone(),
                UpstreamName::PerRegion => format!("{name}-r{}", region.0),
                UpstreamName::Shared => "shared-up".to_string(),
            };
            served.push((provider, region, upstream));
        }
        let refs: Vec<(ProviderId, RegionId, &str)> = served
            .iter()
            .map(|(p, r, u)| (*p, *r, u.as_str()))
            .collect();
        let id = self.builder.model(&name, &refs);
        let mappings = served.into_iter().map(|(p, _, u)| (p, u)).collect();
        self.models.push((name, mappings));
        id
    }
}

impl Topology {
    /// The model name a target resolves to.
    pub(crate) fn model_name(&self, target: &TargetPlan) -> String {
        let canonical = |i: &Index| self.models[i.index(self.models.len())].0.clone();
        match target {
            TargetPlan::Model(i) => canonical(i),
            TargetPlan::Alias => match &self.alias {
                Some(a) => a.clone(),
                None => self.models[0].0.clone(),
            },
            TargetPlan::Pinned(m, mapping) => {
                let (name, mappings) = &self.models[m.index(self.models.len())];
                let (p, _) = mapping.get(mappings);
                format!("{}/{name}", self.providers[p.index()].1)
            }
            TargetPlan::Custom(n) if !self.any_model.is_empty() => {
                // Every fourth custom name is pinned to a provider that accepts any model.
                if n % 4 == 3 {
                    let p = self.any_model[usize::from(*n) % self.any_model.len()];
                    format!("{}/custom-{n}", self.providers[p.index()].1)
                } else {
                    format!("custom-{n}")
                }
            }
            TargetPlan::Custom(n) => self.models[usize::from(*n) % self.models.len()].0.clone(),
        }
    }

    /// The request spec a plan describes.
    pub(crate) fn request(
        &self,
        at_ms: u64,
        project: &Index,
        target: &TargetPlan,
        shape: &ShapePlan,
    ) -> RequestSpec {
        let byok = match (shape.byok, self.byok.is_empty()) {
            (Some(i), false) => Some(*i.get(&self.byok)),
            _ => None,
        };
        RequestSpec {
            at: gatesim_core::Instant(at_ms),
            project: *project.get(&self.projects),
            model: self.model_name(target),
            stream: shape.stream,
            byok,
            kind: shape.kind,
            agentic_iterations: shape.iterations.max(1),
            body_bytes: shape.body_bytes,
        }
    }

    /// The upstream names a provider serves, sorted and unique.
    fn upstreams_of(&self, provider: ProviderId) -> Vec<String> {
        let mut out: Vec<String> = self
            .models
            .iter()
            .flat_map(|(_, m)| m.iter())
            .filter(|(p, _)| *p == provider)
            .map(|(_, u)| u.clone())
            .collect();
        out.sort();
        out.dedup();
        if out.is_empty() && self.any_model.contains(&provider) {
            out.push("custom-0".to_string());
        }
        out
    }

    /// The provider a credential belongs to.
    fn provider_of(&self, key: KeyId) -> ProviderId {
        let pi = self
            .keys_of
            .iter()
            .position(|ks| ks.contains(&key))
            .expect("every credential belongs to a provider");
        self.providers[pi].0
    }

    /// A fault kind resolved against the topology; `None` when it names nothing that
    /// exists (an upstream of a provider that serves none).
    pub(crate) fn fault_kind(&self, plan: &FaultKindPlan) -> Option<FaultKind> {
        match plan {
            FaultKindPlan::KeyInvalid { .. }
            | FaultKindPlan::KeyRevoked { .. }
            | FaultKindPlan::RateLimit { .. }
            | FaultKindPlan::ModelUnsupported { .. } => self.credential_fault(plan),
            _ => self.place_fault(plan),
        }
    }

    /// A fault about one credential.
    fn credential_fault(&self, plan: &FaultKindPlan) -> Option<FaultKind> {
        Some(match plan {
            FaultKindPlan::KeyInvalid { key, status, body } => {
                let credential = *key.get(&self.keys);

                FaultKind::KeyInvalid {
                    credential,
                    status: *status,
                    body: body.map(|i| i.get(INVALID_KEY_BODIES).to_string()),
                }
            }
            FaultKindPlan::KeyRevoked { key, status } => FaultKind::KeyRevoked {
                credential: *key.get(&self.keys),
                status: *status,
            },
            FaultKindPlan::RateLimit {
                key,
                model,
                capacity_per_min,
                retry_after_ms,
                style,
            } => {
                let credential = *key.get(&self.keys);
                let provider = self.provider_of(credential);
                let ups = self.upstreams_of(provider);
                let model = match model {
                    RateModel::Any => None,
                    RateModel::Canonical(i) => Some(i.get(&self.models).0.clone()),
                    RateModel::Upstream(i) if !ups.is_empty() => Some(i.get(&ups).clone()),
                    RateModel::Upstream(_) => None,
                };
                FaultKind::RateLimit {
                    credential,
                    model,
                    capacity_per_min: *capacity_per_min,
                    retry_after: retry_after_ms.map(Duration::from_ms),
                    style: *style,
                }
            }
            FaultKindPlan::ModelUnsupported {
                key,
                upstream,
                status,
            } => {
                let credential = *key.get(&self.keys);
                let ups = self.upstreams_of(self.provider_of(credential));
                if ups.is_empty() {
                    return None;
                }
                FaultKind::ModelUnsupported {
                    credential,
                    upstream: upstream.get(&ups).clone(),
                    status: *status,
                    body: None,
                    wording: UnsupportedWording::Style,
                }
            }
            // Not a credential fault.
            _ => return None,
        })
    }

    /// A fault about a provider (and region), or about requests.
    // One arm per place-fault kind, each a flat field copy: splitting it would scatter a table.
    #[allow(clippy::too_many_lines)]
    fn place_fault(&self, plan: &FaultKindPlan) -> Option<FaultKind> {
        let provider = |i: &Index| i.index(self.providers.len());
        let region = |pi: usize, i: &Option<Index>| i.map(|i| *i.get(&self.regions_of[pi]));
        Some(match plan {
            FaultKindPlan::ServerErrors {
                provider: p,
                region: r,
                rate_bp,
                status,
            } => {
                let pi = provider(p);
                FaultKind::ServerErrors {
                    provider: self.providers[pi].0,
                    region: region(pi, r),
                    rate_bp: *rate_bp,
                    status: *status,
                }
            }
            FaultKindPlan::RegionOutage {
                provider: p,
                region: r,
                timeout,
            } => {
                let pi = provider(p);
                FaultKind::RegionOutage {
                    provider: self.providers[pi].0,
                    region: *r.get(&self.regions_of[pi]),
                    mode: if *timeout {
                        OutageMode::Timeout
                    } else {
                        OutageMode::Connect
                    },
                }
            }
            FaultKindPlan::LatencySpike {
                provider: p,
                region: r,
                extra_ms,
            } => {
                let pi = provider(p);
                FaultKind::LatencySpike {
                    provider: self.providers[pi].0,
                    region: region(pi, r),
                    extra: Duration::from_ms(*extra_ms),
                }
            }
            FaultKindPlan::StreamBreak {
                provider: p,
                region: r,
                key,
                after_first_byte,
                rate_bp,
            } => {
                let pi = provider(p);
                FaultKind::StreamBreak {
                    provider: self.providers[pi].0,
                    region: region(pi, r),
                    credential: key.map(|k| *k.get(&self.keys_of[pi])),
                    after_first_byte: *after_first_byte,
                    rate_bp: *rate_bp,
                }
            }
            FaultKindPlan::RequestInvalid { rate_bp } => {
                FaultKind::RequestInvalid { rate_bp: *rate_bp }
            }
            FaultKindPlan::ModelWithdrawn {
                provider: p,
                upstream,
            } => {
                let (id, _) = self.providers[provider(p)];
                let ups = self.upstreams_of(id);
                if ups.is_empty() {
                    return None;
                }
                FaultKind::ModelWithdrawn {
                    provider: id,
                    upstream: upstream.get(&ups).clone(),
                }
            }
            // Credential faults.
            _ => return None,
        })
    }
}
