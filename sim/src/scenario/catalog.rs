//! The world's entities: regions, providers, models and aliases, credentials, projects.
//! Each is declared once (duplicate ids are errors) and referenced by id.

use super::ctx::{Ctx, Index, Names};
use super::raw::{Item, RawCredential, RawLatency, RawMapping, RawModel, RawProvider, RawScenario};
use super::text::{format_duration, known_list, quote};
use crate::world::{ProviderSpec, Style};
use gatesim_core::{
    Catalog, Credential, Mapping, Mode, Model, ModelId, Project, Provider, ProviderId, RegionId,
    Source,
};

/// Marks a list incomplete when an element could not be read.
fn element<'a, T>(
    ctx: &mut Ctx,
    index: &mut Index,
    path: &str,
    item: &'a Item<T>,
) -> Option<&'a T> {
    let value = ctx.item(path, item);
    if value.is_none() {
        index.complete = false;
    }
    value
}

fn nonempty_list<T>(ctx: &mut Ctx, path: &str, list: &[T], what: &str) {
    if list.is_empty() && !ctx.has_error_at(path) {
        ctx.err(path, format!("empty (declare at least one {what})"));
    }
}

/// Checks `regions` and declares them.
pub(super) fn regions(raw: &RawScenario, ctx: &mut Ctx, names: &mut Names, catalog: &mut Catalog) {
    nonempty_list(ctx, "regions", &raw.regions, "region");
    for (i, item) in raw.regions.iter().enumerate() {
        let path = format!("regions[{i}]");
        if let Some(name) = element(ctx, &mut names.regions, &path, item) {
            ctx.id(&path, name);
            if names.regions.add(ctx, &path, name) {
                catalog.regions.push(name.clone());
            }
        }
    }
}

/// Checks `providers` and declares them.
pub(super) fn providers(
    raw: &RawScenario,
    ctx: &mut Ctx,
    names: &mut Names,
    catalog: &mut Catalog,
) -> Vec<ProviderSpec> {
    nonempty_list(ctx, "providers", &raw.providers, "provider");
    let mut specs = Vec::new();
    for (i, item) in raw.providers.iter().enumerate() {
        let path = format!("providers[{i}]");
        let Some(p) = element(ctx, &mut names.providers, &path, item) else {
            continue;
        };
        let (provider, spec) = provider(p, &path, ctx, names);
        if names.providers.add(ctx, &format!("{path}.id"), &p.id) {
            catalog.providers.push(provider);
            specs.push(spec);
        }
    }
    specs
}

fn provider(p: &RawProvider, path: &str, ctx: &mut Ctx, names: &Names) -> (Provider, ProviderSpec) {
    ctx.id(&format!("{path}.id"), &p.id);
    if p.id.contains('/') {
        ctx.err(
            format!("{path}.id"),
            format!(
                "{} contains '/' (reserved for \"provider/model\" names)",
                quote(&p.id)
            ),
        );
    }
    let mut spec = ProviderSpec::default();
    if let Some(style) = &p.style {
        let options = [
            Style::OpenAi,
            Style::Google,
            Style::Anthropic,
            Style::Generic,
        ]
        .map(|s| (s.name(), s));
        if let Some(s) = ctx.choose(&format!("{path}.style"), "style", style, &options) {
            spec.style = s;
        }
    }
    if let Some(latency) = &p.latency {
        latency_spec(latency, path, ctx, &mut spec);
    }
    let regions_path = format!("{path}.regions");
    if p.regions.is_empty() && !ctx.has_error_at(&regions_path) {
        ctx.err(
            &regions_path,
            "empty (a provider serves at least one region)",
        );
    }
    let mut regions = Vec::new();
    for (j, r) in p.regions.iter().enumerate() {
        let rp = format!("{regions_path}[{j}]");
        if let Some(id) = names.regions.resolve(ctx, &rp, r) {
            if regions.contains(&RegionId(id)) {
                ctx.err(rp, format!("region {} listed twice", quote(r)));
            } else {
                regions.push(RegionId(id));
            }
        }
    }
    let provider = Provider {
        name: p.id.clone(),
        regions,
        accepts_any_model: p.accepts_any_model.unwrap_or(false),
    };
    (provider, spec)
}

/// Checks `models` and declares them.
pub(super) fn models(raw: &RawScenario, ctx: &mut Ctx, names: &mut Names, catalog: &mut Catalog) {
    nonempty_list(ctx, "models", &raw.models, "model");
    // Names first: an alias may pool models declared after it.
    let mut declared: Vec<(String, &RawModel)> = Vec::new();
    for (i, item) in raw.models.iter().enumerate() {
        let path = format!("models[{i}]");
        let Some(m) = element(ctx, &mut names.models, &path, item) else {
            continue;
        };
        ctx.id(&format!("{path}.id"), &m.id);
        if names.models.add(ctx, &format!("{path}.id"), &m.id) {
            declared.push((path, m));
        }
    }
    for (path, m) in &declared {
        let served_by = match &m.served_by {
            Some(list) => mappings(m, list, path, ctx, names, catalog),
            None => Vec::new(),
        };
        catalog.models.push(Model {
            name: m.id.clone(),
            served_by,
            alias_of: Vec::new(),
        });
    }
    // Aliases second: whether a member is itself an alias needs every model's shape.
    for (k, (path, m)) in declared.iter().enumerate() {
        match (&m.served_by, &m.alias_of) {
            (Some(_), Some(_)) => {
                ctx.err(path, "has both served_by and alias_of (give exactly one)")
            }
            (None, None) => ctx.err(
                path,
                "needs served_by (where it is served) or alias_of (the models it pools)",
            ),
            (Some(list), None) if list.is_empty() => ctx.err(
                format!("{path}.served_by"),
                "empty (list where the model is served)",
            ),
            (None, Some(members)) => {
                let alias_of = aliases(m, members, path, ctx, names, &declared);
                if let Some(model) = catalog.models.get_mut(k) {
                    model.alias_of = alias_of;
                }
            }
            (Some(_), None) => {}
        }
    }
}

fn mappings(
    m: &RawModel,
    list: &[RawMapping],
    path: &str,
    ctx: &mut Ctx,
    names: &Names,
    catalog: &Catalog,
) -> Vec<Mapping> {
    let mut out: Vec<Mapping> = Vec::new();
    for (j, s) in list.iter().enumerate() {
        let sp = format!("{path}.served_by[{j}]");
        let provider = names
            .providers
            .resolve(ctx, &format!("{sp}.provider"), &s.provider);
        let region = names
            .regions
            .resolve(ctx, &format!("{sp}.region"), &s.region);
        let upstream = s.upstream.clone().unwrap_or_else(|| m.id.clone());
        if upstream.is_empty() {
            ctx.err(
                format!("{sp}.upstream"),
                "empty (the model name sent upstream)",
            );
        }
        let (Some(p), Some(r)) = (provider, region) else {
            continue;
        };
        if let Some(prov) = catalog.providers.get(p as usize) {
            if !prov.regions.contains(&RegionId(r)) {
                ctx.err(
                    format!("{sp}.region"),
                    format!(
                        "provider {} is not in region {} (its regions: {})",
                        quote(&s.provider),
                        quote(&s.region),
                        region_names(catalog, &prov.regions)
                    ),
                );
            }
        }
        let mapping = Mapping {
            provider: ProviderId(p),
            region: RegionId(r),
            upstream,
        };
        if out
            .iter()
            .any(|o| o.provider == mapping.provider && o.region == mapping.region)
        {
            ctx.err(
                sp,
                format!(
                    "{} / {} listed twice for this model",
                    quote(&s.provider),
                    quote(&s.region)
                ),
            );
        } else {
            out.push(mapping);
        }
    }
    out
}

fn aliases(
    m: &RawModel,
    members: &[String],
    path: &str,
    ctx: &mut Ctx,
    names: &Names,
    declared: &[(String, &RawModel)],
) -> Vec<ModelId> {
    if members.is_empty() {
        ctx.err(
            format!("{path}.alias_of"),
            "empty (list the models the alias pools)",
        );
    }
    let mut out = Vec::new();
    for (j, member) in members.iter().enumerate() {
        let mp = format!("{path}.alias_of[{j}]");
        let Some(id) = names.models.resolve(ctx, &mp, member) else {
            continue;
        };
        let target = declared.get(id as usize).map(|(_, raw)| *raw);
        if member == &m.id {
            ctx.err(mp, "an alias cannot pool itself");
        } else if target.is_some_and(|t| t.alias_of.is_some()) {
            ctx.err(
                mp,
                format!(
                    "{} is an alias (an alias pools non-alias models)",
                    quote(member)
                ),
            );
        } else if out.contains(&ModelId(id)) {
            ctx.err(mp, format!("{} listed twice", quote(member)));
        } else {
            out.push(ModelId(id));
        }
    }
    out
}

/// `a, b` names of regions.
pub(super) fn region_names(catalog: &Catalog, regions: &[RegionId]) -> String {
    known_list(
        regions
            .iter()
            .filter_map(|r| catalog.regions.get(r.index()).map(String::as_str)),
    )
}

/// Checks `credentials` and declares them.
pub(super) fn credentials(
    raw: &RawScenario,
    ctx: &mut Ctx,
    names: &mut Names,
    catalog: &mut Catalog,
) {
    for (i, item) in raw.credentials.iter().enumerate() {
        let path = format!("credentials[{i}]");
        let Some(c) = element(ctx, &mut names.credentials, &path, item) else {
            continue;
        };
        let credential = credential(c, &path, ctx, names, catalog);
        if names.credentials.add(ctx, &format!("{path}.id"), &c.id) {
            catalog.credentials.push(credential);
        }
    }
}

fn credential(
    c: &RawCredential,
    path: &str,
    ctx: &mut Ctx,
    names: &Names,
    catalog: &Catalog,
) -> Credential {
    ctx.id(&format!("{path}.id"), &c.id);
    let provider = names
        .providers
        .resolve(ctx, &format!("{path}.provider"), &c.provider);
    let sources = [Source::Org, Source::Platform, Source::Byok].map(|s| (s.name(), s));
    let source = ctx.choose(&format!("{path}.source"), "source", &c.source, &sources);
    let mut region = None;
    if let Some(r) = &c.region {
        let rp = format!("{path}.region");
        region = names.regions.resolve(ctx, &rp, r).map(RegionId);
        let prov = provider.and_then(|p| catalog.providers.get(p as usize));
        if let (Some(rid), Some(prov)) = (region, prov) {
            if !prov.regions.contains(&rid) {
                ctx.err(
                    rp,
                    format!(
                        "provider {} is not in region {} (its regions: {})",
                        quote(&c.provider),
                        quote(r),
                        region_names(catalog, &prov.regions)
                    ),
                );
            }
        }
    }
    if let Some(e) = &c.endpoint {
        if !(e.starts_with("https://") || e.starts_with("http://")) {
            ctx.err(
                format!("{path}.endpoint"),
                format!("{} is not a base URL (http:// or https://)", quote(e)),
            );
        }
    }
    let weight = match c.weight {
        None => 1,
        Some(w) if (1..=u64::from(Credential::WEIGHT_MAX)).contains(&w) => w as u32,
        Some(w) => {
            ctx.err(
                format!("{path}.weight"),
                format!(
                    "{w} is not a weight: 1 to {} (leave a credential that should get no traffic out of the pool)",
                    Credential::WEIGHT_MAX
                ),
            );
            1
        }
    };
    Credential {
        name: c.id.clone(),
        provider: ProviderId(provider.unwrap_or(u32::MAX)),
        region,
        source: source.unwrap_or(Source::Org),
        endpoint: c.endpoint.clone(),
        weight,
    }
}

/// Checks `projects` and declares them.
pub(super) fn projects(raw: &RawScenario, ctx: &mut Ctx, names: &mut Names, catalog: &mut Catalog) {
    let modes = [Mode::ApiKeys, Mode::Credits, Mode::Hybrid].map(|m| (m.name(), m));
    for (i, item) in raw.projects.iter().enumerate() {
        let path = format!("projects[{i}]");
        let Some(p) = element(ctx, &mut names.projects, &path, item) else {
            continue;
        };
        ctx.id(&format!("{path}.id"), &p.id);
        let mode = ctx.choose(&format!("{path}.mode"), "mode", &p.mode, &modes);
        if names.projects.add(ctx, &format!("{path}.id"), &p.id) {
            catalog.projects.push(Project {
                name: p.id.clone(),
                mode: mode.unwrap_or(Mode::ApiKeys),
            });
        }
    }
}

fn latency_spec(latency: &RawLatency, path: &str, ctx: &mut Ctx, spec: &mut ProviderSpec) {
    if let Some(t) = &latency.fixed {
        let field = format!("{path}.latency.fixed");
        if latency.p50.is_some() || latency.p99.is_some() {
            ctx.err(
                &field,
                "not with p50 or p99 (a fixed latency has no spread: give one or the other)",
            );
        }
        if let Some(fixed) = ctx.latency(&field, &t.0) {
            (spec.latency_p50, spec.latency_p99) = (fixed, fixed);
            spec.latency_fixed = Some(fixed);
        }
        return;
    }
    if let Some(t) = &latency.p50 {
        let field = format!("{path}.latency.p50");
        spec.latency_p50 = ctx.latency(&field, &t.0).unwrap_or(spec.latency_p50);
    }
    if let Some(t) = &latency.p99 {
        let field = format!("{path}.latency.p99");
        spec.latency_p99 = ctx.latency(&field, &t.0).unwrap_or(spec.latency_p99);
    }
    if spec.latency_p99 < spec.latency_p50 {
        ctx.err(
            format!("{path}.latency.p99"),
            format!(
                "below p50 ({} < {})",
                format_duration(spec.latency_p99.as_ms()),
                format_duration(spec.latency_p50.as_ms())
            ),
        );
    }
}
