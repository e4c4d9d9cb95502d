//! A builder for worlds in code: tests, benchmarks and property strategies use it where a
//! scenario file would be noise.

use crate::contract::Contract;
use crate::world::{Fault, FaultKind, ProviderSpec, RequestSpec, Style, World};
use gatesim_core::{
    Catalog, Credential, Duration, Instant, KeyId, Mapping, Mode, Model, ModelId, Policy, Project,
    ProjectId, Provider, ProviderId, RegionId, RequestKind, Source,
};

/// Builds a [`World`] step by step.
#[derive(Clone, Debug)]
pub struct WorldBuilder {
    world: World,
}

impl WorldBuilder {
    /// An empty world with the reference policy.
    pub fn new(id: &str) -> WorldBuilder {
        WorldBuilder {
            world: World {
                id: id.to_string(),
                title: id.to_string(),
                source: "built in code".to_string(),
                seed: 0,
                duration: Duration::from_secs(600),
                catalog: Catalog {
                    epoch_unix_s: 1_767_225_600,
                    ..Catalog::default()
                },
                providers: Vec::new(),
                policy: Policy::reference(),
                contract: Contract::reference(),
                faults: Default::default(),
                workload: Default::default(),
                expect: Vec::new(),
                swarm: Vec::new(),
            },
        }
    }

    /// Adds a region.
    pub fn region(&mut self, name: &str) -> RegionId {
        self.world.catalog.regions.push(name.to_string());
        RegionId(self.world.catalog.regions.len() as u32 - 1)
    }

    /// Adds a provider.
    pub fn provider(&mut self, name: &str, style: Style, regions: &[RegionId]) -> ProviderId {
        self.world.catalog.providers.push(Provider {
            name: name.to_string(),
            regions: regions.to_vec(),
            accepts_any_model: false,
        });
        self.world.providers.push(ProviderSpec {
            style,
            ..ProviderSpec::default()
        });
        ProviderId(self.world.catalog.providers.len() as u32 - 1)
    }

    /// Lets a provider accept any model name.
    pub fn accepts_any_model(&mut self, p: ProviderId) -> &mut Self {
        self.world.catalog.providers[p.index()].accepts_any_model = true;
        self
    }

    /// Adds a canonical model served at `(provider, region, upstream)` places.
    pub fn model(&mut self, name: &str, served_by: &[(ProviderId, RegionId, &str)]) -> ModelId {
        let served_by = served_by
            .iter()
            .map(|(p, r, u)| Mapping {
                provider: *p,
                region: *r,
                upstream: u.to_string(),
            })
            .collect();
        self.world.catalog.models.push(Model {
            name: name.to_string(),
            served_by,
            alias_of: Vec::new(),
        });
        ModelId(self.world.catalog.models.len() as u32 - 1)
    }

    /// Adds an alias pool over canonical models.
    pub fn alias(&mut self, name: &str, members: &[ModelId]) -> ModelId {
        self.world.catalog.models.push(Model {
            name: name.to_string(),
            served_by: Vec::new(),
            alias_of: members.to_vec(),
        });
        ModelId(self.world.catalog.models.len() as u32 - 1)
    }

    /// Adds a credential.
    pub fn key(
        &mut self,
        name: &str,
        provider: ProviderId,
        source: Source,
        region: Option<RegionId>,
        endpoint: Option<&str>,
    ) -> KeyId {
        self.world.catalog.credentials.push(Credential {
            name: name.to_string(),
            provider,
            region,
            source,
            endpoint: endpoint.map(str::to_string),
            weight: 1,
        });
        KeyId(self.world.catalog.credentials.len() as u32 - 1)
    }

    /// Adds a project.
    pub fn project(&mut self, name: &str, mode: Mode) -> ProjectId {
        self.world.catalog.projects.push(Project {
            name: name.to_string(),
            mode,
        });
        ProjectId(self.world.catalog.projects.len() as u32 - 1)
    }

    /// Adds a fault.
    pub fn fault(&mut self, at_ms: u64, until_ms: Option<u64>, kind: FaultKind) -> &mut Self {
        self.world.faults.faults.push(Fault {
            at: Instant(at_ms),
            until: until_ms.map(Instant),
            kind,
        });
        self
    }

    /// Adds a chat request and returns it for tweaking.
    pub fn request(&mut self, at_ms: u64, project: ProjectId, model: &str) -> &mut RequestSpec {
        self.world.workload.requests.push(RequestSpec {
            at: Instant(at_ms),
            project,
            model: model.to_string(),
            stream: false,
            byok: None,
            kind: RequestKind::Chat,
            agentic_iterations: 1,
            body_bytes: 64,
        });
        self.world
            .workload
            .requests
            .last_mut()
            .expect("pushed above")
    }

    /// The policy, for tweaking. The contract stays the reference's: a tuned policy that
    /// should also be judged by its own promises says so with [`Self::contract`].
    pub fn policy(&mut self) -> &mut Policy {
        &mut self.world.policy
    }

    /// The contract the checker holds the gateway to, for tweaking.
    pub fn contract(&mut self) -> &mut Contract {
        &mut self.world.contract
    }

    /// The world under construction, for anything else.
    pub fn world_mut(&mut self) -> &mut World {
        &mut self.world
    }

    /// The world.
    pub fn build(&self) -> World {
        let mut w = self.world.clone();
        w.faults.faults.sort_by_key(|f| f.at);
        w
    }
}

/// The standard swarm world: three providers (one accepting any model), three regions,
/// org, platform, region-locked and BYOK credentials, an alias pool, projects in every
/// mode, and a generator mixing models, aliases, custom names, streams, agentic loops,
/// token counts, passthrough and BYOK requests; every fault kind may be drawn.
///
/// `rate_per_s` and `duration_s` set the traffic (the swarm sweep uses 10 req/s × 1000 s).
pub fn standard_swarm(rate_per_s: u64, duration_s: u64) -> World {
    use crate::world::{Arrivals, Generator, SwarmFault};
    let mut b = WorldBuilder::new("standard-swarm");
    let StandardIds {
        api,
        credits,
        hybrid,
        user,
    } = standard_catalog(&mut b);
    let mix = standard_mix(api, user);
    let until = Instant(duration_s * 1000);
    let per_project = rate_per_s * 1000 / 3;
    let w = b.world_mut();
    w.duration = Duration::from_secs(duration_s);
    for (project, custom_bp) in [(api, 0), (credits, 1_500), (hybrid, 0)] {
        w.workload.generators.push(Generator {
            from: Instant(0),
            until,
            rate_milli_per_s: per_project.max(1),
            arrivals: if project == hybrid {
                Arrivals::Bursts { size: 4 }
            } else {
                Arrivals::Poisson
            },
            project,
            mix: mix
                .iter()
                .map(|(w, r)| {
                    (
                        *w,
                        RequestSpec {
                            project,
                            ..r.clone()
                        },
                    )
                })
                .collect(),
            custom_model_bp: custom_bp,
        });
    }
    w.swarm = crate::swarm::KINDS
        .iter()
        .map(|k| SwarmFault {
            kind: (*k).to_string(),
            weight: 50,
            count_max: 3,
        })
        .collect();
    w.policy.scopes_max = 256;
    w.contract.scopes_max = 256;
    b.build()
}

/// The ids of the standard swarm's catalog its traffic names.
struct StandardIds {
    api: ProjectId,
    credits: ProjectId,
    hybrid: ProjectId,
    /// The BYOK key.
    user: KeyId,
}

/// The standard swarm's regions, providers, models, credentials and projects.
fn standard_catalog(b: &mut WorldBuilder) -> StandardIds {
    let us = b.region("us-east");
    let eu = b.region("eu-west");
    let sg = b.region("singapore");
    let openai = b.provider("openai", Style::OpenAi, &[us, eu]);
    let google = b.provider("google-ai-studio", Style::Google, &[us, sg]);
    let router = b.provider("open-router", Style::Generic, &[us]);
    b.accepts_any_model(router);
    let gpt = b.model(
        "gpt-4o",
        &[
            (openai, us, "gpt-4o-2024-08-06"),
            (openai, eu, "gpt-4o-2024-08-06"),
            (router, us, "openai/gpt-4o"),
        ],
    );
    let gem = b.model(
        "gemini-2.5-flash",
        &[
            (google, us, "gemini-2.5-flash"),
            (google, sg, "gemini-2.5-flash"),
            (router, us, "google/gemini-2.5-flash"),
        ],
    );
    b.model(
        "gpt-4o-mini",
        &[(openai, us, "gpt-4o-mini"), (openai, eu, "gpt-4o-mini")],
    );
    b.alias("fast-pool", &[gpt, gem]);
    b.key(
        "oa-0",
        openai,
        Source::Org,
        None,
        Some("https://oai.proxy.example/v1"),
    );
    b.key("oa-1", openai, Source::Org, None, None);
    b.key("oa-eu", openai, Source::Org, Some(eu), None);
    b.key("oa-env", openai, Source::Platform, None, None);
    b.key("g-0", google, Source::Org, None, None);
    b.key("g-env", google, Source::Platform, None, None);
    b.key(
        "g-env-sg",
        google,
        Source::Platform,
        Some(sg),
        Some("https://sg.googleapis.example"),
    );
    b.key("or-env", router, Source::Platform, None, None);
    let user = b.key("user-key", openai, Source::Byok, None, None);
    let api = b.project("acme-api-keys", Mode::ApiKeys);
    let credits = b.project("acme-credits", Mode::Credits);
    let hybrid = b.project("acme-hybrid", Mode::Hybrid);
    StandardIds {
        api,
        credits,
        hybrid,
        user,
    }
}

/// The standard swarm's request mix, for project `api` (`user` is the BYOK key).
fn standard_mix(api: ProjectId, user: KeyId) -> Vec<(u32, RequestSpec)> {
    let template = |model: &str| RequestSpec {
        at: Instant(0),
        project: api,
        model: model.to_string(),
        stream: false,
        byok: None,
        kind: RequestKind::Chat,
        agentic_iterations: 1,
        body_bytes: 512,
    };
    vec![
        (30, template("gpt-4o")),
        (20, template("gemini-2.5-flash")),
        (10, template("gpt-4o-mini")),
        (10, template("fast-pool")),
        (5, template("openai/gpt-4o")),
        (
            8,
            RequestSpec {
                stream: true,
                ..template("gpt-4o")
            },
        ),
        (
            4,
            RequestSpec {
                agentic_iterations: 3,
                ..template("gemini-2.5-flash")
            },
        ),
        (
            4,
            RequestSpec {
                kind: RequestKind::CountTokens,
                ..template("gpt-4o")
            },
        ),
        (
            4,
            RequestSpec {
                kind: RequestKind::Passthrough,
                body_bytes: 4096,
                ..template("gpt-4o-mini")
            },
        ),
        (
            3,
            RequestSpec {
                byok: Some(user),
                ..template("gpt-4o")
            },
        ),
    ]
}
