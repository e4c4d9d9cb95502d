//! `workload` (requests and generators), `duration`, `expect` and `swarm`.

use super::ctx::{Ctx, Names};
use super::raw::{RawGenerator, RawScenario};
use super::text::{format_duration, fraction_bp, known_list, quote};
use crate::workload::ARRIVALS_MAX;
use crate::world::{Arrivals, FaultPlan, Generator, RequestSpec, Workload};
use gatesim_core::{Catalog, Duration, Instant, KeyId, ProjectId, RequestKind, Source};

/// Requests one generator may produce at most (rate × span): a limit on everything, the
/// same as the engine's arrivals limit per run.
const GENERATED_MAX: u128 = ARRIVALS_MAX as u128;

/// Upstream calls one agentic request makes at most: the engine's step budget grows
/// with it, so it is bounded.
const AGENTIC_ITERATIONS_MAX: u32 = 100;

/// The request fields explicit requests and mix entries share.
struct Shape<'a> {
    model: &'a str,
    stream: Option<bool>,
    byok: Option<&'a str>,
    kind: Option<&'a str>,
    agentic_iterations: Option<u32>,
    body_bytes: Option<u32>,
}

/// Checks the workload and settles the duration (explicit, or the end of the last
/// request, generator or fault).
pub(super) fn workload(
    raw: &RawScenario,
    ctx: &mut Ctx,
    names: &Names,
    catalog: &Catalog,
    faults: &FaultPlan,
) -> (Workload, Duration) {
    let mut out = Workload::default();
    let mut request_at: Vec<(String, Instant)> = Vec::new();
    let mut generator_until: Vec<(String, Instant)> = Vec::new();
    if let Some(w) = raw
        .workload
        .as_ref()
        .and_then(|item| ctx.item("workload", item))
    {
        for (i, item) in w.requests.iter().enumerate() {
            let path = format!("workload.requests[{i}]");
            let Some(r) = ctx.item(&path, item) else {
                continue;
            };
            let at = ctx
                .duration(&format!("{path}.at"), &r.at.0)
                .map(|d| Instant(d.as_ms()));
            let project = names
                .projects
                .resolve(ctx, &format!("{path}.project"), &r.project)
                .map(ProjectId);
            let shape = Shape {
                model: &r.model,
                stream: r.stream,
                byok: r.byok.as_deref(),
                kind: r.kind.as_deref(),
                agentic_iterations: r.agentic_iterations,
                body_bytes: r.body_bytes,
            };
            let spec = spec(ctx, names, catalog, &path, &shape);
            if let Some(at) = at {
                if let Some((prev_path, prev)) = request_at.last().filter(|(_, p)| *p > at) {
                    ctx.err(
                        format!("{path}.at"),
                        format!(
                            "before {prev_path}.at ({} < {}): list requests in time order",
                            format_duration(at.as_ms()),
                            format_duration(prev.as_ms())
                        ),
                    );
                }
                request_at.push((path.clone(), at));
            }
            out.requests.push(RequestSpec {
                at: at.unwrap_or_default(),
                project: project.unwrap_or(ProjectId(u32::MAX)),
                ..spec
            });
        }
        for (i, item) in w.generators.iter().enumerate() {
            let path = format!("workload.generators[{i}]");
            let Some(g) = ctx.item(&path, item) else {
                continue;
            };
            if let Some(gen) = generator(g, &path, ctx, names, catalog) {
                generator_until.push((format!("{path}.until"), gen.until));
                out.generators.push(gen);
            }
        }
    }
    arrivals_total(ctx, &out);
    let duration = duration(raw, ctx, &request_at, &generator_until, faults);
    (out, duration)
}

fn duration(
    raw: &RawScenario,
    ctx: &mut Ctx,
    request_at: &[(String, Instant)],
    generator_until: &[(String, Instant)],
    faults: &FaultPlan,
) -> Duration {
    let Some(text) = &raw.duration else {
        let last = request_at
            .iter()
            .chain(generator_until)
            .map(|(_, t)| *t)
            .chain(faults.faults.iter().map(|f| f.until.unwrap_or(f.at)))
            .max()
            .unwrap_or_default();
        return Duration::from_ms(last.as_ms());
    };
    let Some(d) = ctx.duration("duration", &text.0) else {
        return Duration::ZERO;
    };
    let requests = request_at.iter().map(|(p, t)| (format!("{p}.at"), *t));
    for (path, t) in requests.chain(generator_until.iter().cloned()) {
        if t.as_ms() > d.as_ms() {
            ctx.err(
                path,
                format!(
                    "after the scenario's duration ({} > {})",
                    format_duration(t.as_ms()),
                    format_duration(d.as_ms())
                ),
            );
        }
    }
    d
}

/// A request template (at = 0, project unset: the caller fills both).
fn spec(ctx: &mut Ctx, names: &Names, catalog: &Catalog, path: &str, s: &Shape<'_>) -> RequestSpec {
    model(ctx, names, catalog, &format!("{path}.model"), s.model);
    let kinds = [
        RequestKind::Chat,
        RequestKind::CountTokens,
        RequestKind::Passthrough,
    ]
    .map(|k| (k.name(), k));
    let kind = match s.kind {
        Some(k) => ctx.choose(&format!("{path}.kind"), "request kind", k, &kinds),
        None => None,
    };
    let byok = s.byok.and_then(|name| {
        let bp = format!("{path}.byok");
        let key = names.credentials.resolve(ctx, &bp, name)?;
        let c = catalog.credentials.get(key as usize)?;
        if c.source != Source::Byok {
            ctx.err(
                bp,
                format!(
                    "credential {} has source \"{}\" (a BYOK request names a credential with source \"byok\")",
                    quote(name),
                    c.source.name()
                ),
            );
        }
        Some(KeyId(key))
    });
    let iterations = s.agentic_iterations.unwrap_or(1);
    if iterations == 0 {
        ctx.err(
            format!("{path}.agentic_iterations"),
            "0 (at least 1 upstream call)",
        );
    } else if iterations > AGENTIC_ITERATIONS_MAX {
        ctx.err(
            format!("{path}.agentic_iterations"),
            format!("{iterations} is too many (at most {AGENTIC_ITERATIONS_MAX})"),
        );
    }
    RequestSpec {
        at: Instant::ZERO,
        project: ProjectId(0),
        model: s.model.to_owned(),
        stream: s.stream.unwrap_or(false),
        byok,
        kind: kind.unwrap_or(RequestKind::Chat),
        agentic_iterations: iterations,
        body_bytes: s.body_bytes.unwrap_or(0),
    }
}

/// A model as a client names it: canonical, alias, `provider/model`, or any name when
/// some provider accepts any model.
fn model(ctx: &mut Ctx, names: &Names, catalog: &Catalog, path: &str, name: &str) {
    if name.chars().any(char::is_control) {
        ctx.text(path, name);
        return;
    }
    if catalog.model_by_name(name).is_some() || !names.models.complete || !names.providers.complete
    {
        return;
    }
    if let Some((prefix, rest)) = name.split_once('/') {
        if let Some(p) = catalog.provider_by_name(prefix) {
            let provider = catalog.provider(p);
            match catalog.model_by_name(rest).map(|m| catalog.model(m)) {
                Some(m) if m.is_alias() => ctx.err(
                    path,
                    format!(
                        "{} is an alias: an alias cannot be pinned to a provider",
                        quote(rest)
                    ),
                ),
                Some(m) if !m.served_by.iter().any(|s| s.provider == p) => ctx.err(
                    path,
                    format!(
                        "model {} is not served by provider {}",
                        quote(rest),
                        quote(prefix)
                    ),
                ),
                Some(_) => {}
                None if provider.accepts_any_model => {}
                None => ctx.err(
                    path,
                    format!(
                        "unknown model {} (provider {} does not accept any model; known: {})",
                        quote(rest),
                        quote(prefix),
                        known_list(names.models.names())
                    ),
                ),
            }
            return;
        }
    }
    if !catalog.providers.iter().any(|p| p.accepts_any_model) {
        ctx.err(
            path,
            format!(
                "unknown model {} (known: {}; custom names need a provider with accepts_any_model)",
                quote(name),
                known_list(names.models.names())
            ),
        );
    }
}

fn generator(
    g: &RawGenerator,
    path: &str,
    ctx: &mut Ctx,
    names: &Names,
    catalog: &Catalog,
) -> Option<Generator> {
    let from = ctx
        .duration(&format!("{path}.from"), &g.from.0)
        .map(|d| Instant(d.as_ms()));
    let until = ctx
        .duration(&format!("{path}.until"), &g.until.0)
        .map(|d| Instant(d.as_ms()));
    if let (Some(f), Some(u)) = (from, until) {
        if u <= f {
            ctx.err(
                format!("{path}.until"),
                format!(
                    "not after {path}.from ({} <= {}): a generator runs for some time",
                    format_duration(u.as_ms()),
                    format_duration(f.as_ms())
                ),
            );
        }
    }
    let rate_milli = rate_milli(g, path, ctx, from.zip(until));
    let arrivals = arrivals(g, path, ctx);
    let project = names
        .projects
        .resolve(ctx, &format!("{path}.project"), &g.project)
        .map(ProjectId);
    let custom_model_bp = custom_model_bp(g, path, ctx, names, catalog);
    let mix = mix(
        g,
        path,
        ctx,
        names,
        catalog,
        from.unwrap_or_default(),
        project.unwrap_or(ProjectId(u32::MAX)),
    );
    Some(Generator {
        from: from?,
        until: until?,
        rate_milli_per_s: rate_milli,
        arrivals: arrivals?,
        project: project?,
        mix,
        custom_model_bp,
    })
}

/// `rate_per_s` in thousandths, with the per-generator volume limit checked over `span`.
fn rate_milli(
    g: &RawGenerator,
    path: &str,
    ctx: &mut Ctx,
    span: Option<(Instant, Instant)>,
) -> u64 {
    let rate = g.rate_per_s.0;
    let rounded = (rate * 1000.0).round();
    if !(rounded >= 1.0 && rounded <= u64::MAX as f64) {
        ctx.err(
            format!("{path}.rate_per_s"),
            format!("{rate} is not a rate (more than 0, at least 0.001 per second)"),
        );
    }
    // Saturating float-to-int conversion: out-of-range rates were reported above.
    let rate_milli = rounded.max(0.0) as u64;
    if let Some((from, until)) = span {
        let span_ms = until.as_ms().saturating_sub(from.as_ms());
        let expected = u128::from(rate_milli) * u128::from(span_ms) / 1_000_000;
        if expected > GENERATED_MAX {
            ctx.err(
                format!("{path}.rate_per_s"),
                format!("would generate about {expected} requests (at most {GENERATED_MAX} per generator)"),
            );
        }
    }
    rate_milli
}

/// The run stops drawing arrivals at [`ARRIVALS_MAX`]: a workload that asks for more is
/// an error here, not a silently shorter run.
fn arrivals_total(ctx: &mut Ctx, w: &Workload) {
    let generated: u128 = w
        .generators
        .iter()
        .map(|g| {
            let span_ms = g.until.as_ms().saturating_sub(g.from.as_ms());
            u128::from(g.rate_milli_per_s) * u128::from(span_ms) / 1_000_000
        })
        .sum();
    let expected = generated + w.requests.len() as u128;
    if expected > ARRIVALS_MAX as u128 {
        ctx.err(
            "workload",
            format!("would make about {expected} requests in all (at most {ARRIVALS_MAX} per run)"),
        );
    }
}

/// `custom_model_fraction` in basis points; custom names need a provider that takes them.
fn custom_model_bp(
    g: &RawGenerator,
    path: &str,
    ctx: &mut Ctx,
    names: &Names,
    catalog: &Catalog,
) -> u32 {
    let field = format!("{path}.custom_model_fraction");
    let Some(x) = g.custom_model_fraction else {
        return 0;
    };
    let bp = fraction_bp(x.0).unwrap_or_else(|problem| {
        ctx.err(&field, problem);
        0
    });
    let any_model = catalog.providers.iter().any(|p| p.accepts_any_model);
    if bp > 0 && !any_model && names.providers.complete {
        ctx.err(
            field,
            "custom model names need a provider with accepts_any_model",
        );
    }
    bp
}

fn arrivals(g: &RawGenerator, path: &str, ctx: &mut Ctx) -> Option<Arrivals> {
    let kinds = [("poisson", false), ("bursts", true)];
    let bursts = match &g.arrivals {
        Some(a) => ctx.choose(&format!("{path}.arrivals"), "arrival process", a, &kinds)?,
        None => false,
    };
    match (bursts, g.burst_size) {
        (false, Some(_)) => {
            ctx.err(
                format!("{path}.burst_size"),
                "only with arrivals \"bursts\"",
            );
            None
        }
        (false, None) => Some(Arrivals::Poisson),
        (true, size) => {
            let size = size.unwrap_or(5);
            if size == 0 {
                ctx.err(
                    format!("{path}.burst_size"),
                    "0 (a burst has at least 1 request)",
                );
            }
            Some(Arrivals::Bursts { size })
        }
    }
}

fn mix(
    g: &RawGenerator,
    path: &str,
    ctx: &mut Ctx,
    names: &Names,
    catalog: &Catalog,
    from: Instant,
    project: ProjectId,
) -> Vec<(u32, RequestSpec)> {
    let mix_path = format!("{path}.mix");
    if g.mix.is_empty() && !ctx.has_error_at(&mix_path) {
        ctx.err(&mix_path, "empty (list at least one request template)");
    }
    let mut out = Vec::new();
    for (j, item) in g.mix.iter().enumerate() {
        let mp = format!("{mix_path}[{j}]");
        let Some(m) = ctx.item(&mp, item) else {
            continue;
        };
        let shape = Shape {
            model: &m.model,
            stream: m.stream,
            byok: m.byok.as_deref(),
            kind: m.kind.as_deref(),
            agentic_iterations: m.agentic_iterations,
            body_bytes: m.body_bytes,
        };
        let spec = spec(ctx, names, catalog, &mp, &shape);
        out.push((
            m.weight.unwrap_or(1),
            RequestSpec {
                at: from,
                project,
                ..spec
            },
        ));
    }
    let total: u64 = out.iter().map(|(w, _)| u64::from(*w)).sum();
    if !out.is_empty() && total == 0 {
        ctx.err(
            &mix_path,
            "every weight is 0 (at least one entry must have weight 1 or more)",
        );
    }
    out
}
