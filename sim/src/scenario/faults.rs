//! `faults[i]`: one flat object per fault, checked against the fields its kind takes.

use super::catalog::region_names;
use super::ctx::{Ctx, Names};
use super::raw::{Item, RawFault};
use super::text::{format_duration, fraction_bp, known_list, quote};
use crate::world::{Fault, FaultKind, FaultPlan, OutageMode, RetryStyle, UnsupportedWording};
use gatesim_core::{Catalog, Instant, KeyId, ProviderId, RegionId};

mod answer;

/// Every fault kind with the kind-specific fields it takes (besides `at`, `until`, `kind`).
const KINDS: &[(&str, &[&str])] = &[
    ("key_invalid", &["credential", "status", "body"]),
    ("key_revoked", &["credential", "status"]),
    (
        "rate_limit",
        &[
            "credential",
            "model",
            "capacity_per_min",
            "retry_after",
            "retry_after_style",
        ],
    ),
    (
        "model_unsupported",
        &[
            "credential",
            "upstream",
            "model",
            "status",
            "body",
            "wording",
        ],
    ),
    ("server_errors", &["provider", "region", "rate", "status"]),
    ("region_outage", &["provider", "region", "mode"]),
    ("latency_spike", &["provider", "region", "extra"]),
    (
        "stream_break",
        &[
            "provider",
            "region",
            "credential",
            "after_first_byte",
            "rate",
        ],
    ),
    ("request_invalid", &["rate"]),
    ("model_withdrawn", &["provider", "upstream"]),
    (
        "answer",
        &[
            "means",
            "credential",
            "provider",
            "region",
            "model",
            "status",
            "body",
            "headers",
            "rate",
        ],
    ),
];

/// The fault kind names of scenario files, in documentation order (`answer` last: see
/// [`SWARM_KINDS`]).
pub const FAULT_KINDS: &[&str] = &[
    "key_invalid",
    "key_revoked",
    "rate_limit",
    "model_unsupported",
    "server_errors",
    "region_outage",
    "latency_spike",
    "stream_break",
    "request_invalid",
    "model_withdrawn",
    "answer",
];

/// The fault kinds a swarm world may draw: every kind but `answer` (the last), whose
/// status, body and meaning only a person can write.
pub const SWARM_KINDS: &[&str] = match FAULT_KINDS.split_last() {
    Some((last, drawn)) if matches!(last.as_bytes(), b"answer") => drawn,
    _ => panic!("FAULT_KINDS ends with answer"),
};

/// Checks `faults` and returns the plan, sorted by start time (stable).
pub(super) fn faults(
    list: &[Item<RawFault>],
    ctx: &mut Ctx,
    names: &Names,
    catalog: &Catalog,
) -> FaultPlan {
    let mut out = Vec::new();
    for (i, item) in list.iter().enumerate() {
        let path = format!("faults[{i}]");
        if let Some(raw) = ctx.item(&path, item) {
            if let Some(fault) = fault(raw, &path, ctx, names, catalog) {
                out.push(fault);
            }
        }
    }
    out.sort_by_key(|f| f.at);
    FaultPlan { faults: out }
}

/// What one fault's checks share.
struct At<'a> {
    path: &'a str,
    raw: &'a RawFault,
    names: &'a Names,
    catalog: &'a Catalog,
}

impl At<'_> {
    fn field(&self, name: &str) -> String {
        format!("{}.{name}", self.path)
    }
    fn required<'v, T>(&self, ctx: &mut Ctx, name: &str, value: &'v Option<T>) -> Option<&'v T> {
        if value.is_none() {
            ctx.err(
                self.field(name),
                format!("missing ({} needs it)", self.raw.kind),
            );
        }
        value.as_ref()
    }
    fn credential(&self, ctx: &mut Ctx) -> Option<KeyId> {
        let name = self.required(ctx, "credential", &self.raw.credential)?;
        self.names
            .credentials
            .resolve(ctx, &self.field("credential"), name)
            .map(KeyId)
    }
    fn provider(&self, ctx: &mut Ctx) -> Option<ProviderId> {
        let name = self.required(ctx, "provider", &self.raw.provider)?;
        self.names
            .providers
            .resolve(ctx, &self.field("provider"), name)
            .map(ProviderId)
    }
    /// The optional region, which must be one of the provider's.
    fn region(&self, ctx: &mut Ctx, provider: Option<ProviderId>) -> Option<RegionId> {
        let name = self.raw.region.as_ref()?;
        let id = RegionId(
            self.names
                .regions
                .resolve(ctx, &self.field("region"), name)?,
        );
        let prov = provider.and_then(|p| self.catalog.providers.get(p.index()));
        if let Some(prov) = prov.filter(|p| !p.regions.contains(&id)) {
            ctx.err(
                self.field("region"),
                format!(
                    "provider {} is not in region {} (its regions: {})",
                    quote(&prov.name),
                    quote(name),
                    region_names(self.catalog, &prov.regions)
                ),
            );
        }
        Some(id)
    }
    fn status(&self, ctx: &mut Ctx, default: u16, ok: fn(u16) -> bool, allowed: &str) -> u16 {
        let status = self.raw.status.unwrap_or(default);
        if !ok(status) {
            ctx.err(
                self.field("status"),
                format!(
                    "{status} is not a status {} answers with ({allowed})",
                    self.raw.kind
                ),
            );
        }
        status
    }
    fn rate_bp(&self, ctx: &mut Ctx, default: Option<f64>) -> u32 {
        let rate = match (self.raw.rate, default) {
            (Some(r), _) => r.0,
            (None, Some(d)) => d,
            (None, None) => {
                ctx.err(
                    self.field("rate"),
                    format!(
                        "missing ({} needs it: a fraction from 0 to 1)",
                        self.raw.kind
                    ),
                );
                return 0;
            }
        };
        fraction_bp(rate).unwrap_or_else(|problem| {
            ctx.err(self.field("rate"), problem);
            0
        })
    }
    /// An upstream model name the provider serves (any name if it accepts any model).
    fn upstream_of(&self, ctx: &mut Ctx, field: &str, provider: Option<ProviderId>, name: &str) {
        let Some(prov) = provider.and_then(|p| self.catalog.providers.get(p.index())) else {
            return;
        };
        let served = upstreams(self.catalog, provider);
        if !prov.accepts_any_model
            && !served.iter().any(|u| u == name)
            && self.names.models.complete
        {
            ctx.err(
                self.field(field),
                format!(
                    "provider {} serves no upstream model {} (its upstreams: {})",
                    quote(&prov.name),
                    quote(name),
                    known_list(served.iter().map(String::as_str))
                ),
            );
        }
    }
}

/// The upstream model names a provider serves, sorted and unique.
fn upstreams(catalog: &Catalog, provider: Option<ProviderId>) -> Vec<String> {
    let mut out: Vec<String> = catalog
        .models
        .iter()
        .flat_map(|m| &m.served_by)
        .filter(|s| Some(s.provider) == provider)
        .map(|s| s.upstream.clone())
        .collect();
    out.sort();
    out.dedup();
    out
}

fn fault(
    raw: &RawFault,
    path: &str,
    ctx: &mut Ctx,
    names: &Names,
    catalog: &Catalog,
) -> Option<Fault> {
    let at = ctx
        .duration(&format!("{path}.at"), &raw.at.0)
        .map(|d| Instant(d.as_ms()));
    let until = match &raw.until {
        Some(t) => ctx
            .duration(&format!("{path}.until"), &t.0)
            .map(|d| Some(Instant(d.as_ms()))),
        None => Some(None),
    };
    if let (Some(a), Some(Some(u))) = (at, until) {
        if u <= a {
            let relation = if u < a { "before" } else { "equal to" };
            ctx.err(
                format!("{path}.until"),
                format!(
                    "{relation} {path}.at ({} {} {}): a fault ends after it starts",
                    format_duration(u.as_ms()),
                    if u < a { "<" } else { "=" },
                    format_duration(a.as_ms())
                ),
            );
        }
    }
    let Some((_, fields)) = KINDS.iter().find(|(k, _)| *k == raw.kind) else {
        ctx.err(
            format!("{path}.kind"),
            format!(
                "unknown fault kind {} (known: {})",
                quote(&raw.kind),
                known_list(FAULT_KINDS.iter().copied())
            ),
        );
        return None;
    };
    for field in raw.present() {
        if !fields.contains(&field) {
            ctx.err(
                format!("{path}.{field}"),
                format!(
                    "not a field of {} (its fields: at, until, {})",
                    raw.kind,
                    fields.join(", ")
                ),
            );
        }
    }
    let here = At {
        path,
        raw,
        names,
        catalog,
    };
    let kind = kind(&here, ctx)?;
    Some(Fault {
        at: at?,
        until: until?,
        kind,
    })
}

fn kind(f: &At<'_>, ctx: &mut Ctx) -> Option<FaultKind> {
    let raw = f.raw;
    Some(match raw.kind.as_str() {
        "key_invalid" => {
            let status = f.status(ctx, 400, |s| (400..500).contains(&s), "4xx");
            FaultKind::KeyInvalid {
                credential: f.credential(ctx)?,
                status,
                body: raw.body.clone(),
            }
        }
        "key_revoked" => {
            let status = f.status(ctx, 401, |s| s == 401 || s == 403, "401 or 403");
            FaultKind::KeyRevoked {
                credential: f.credential(ctx)?,
                status,
            }
        }
        "rate_limit" => rate_limit(f, ctx)?,
        "model_unsupported" => model_unsupported(f, ctx)?,
        "server_errors" => server_errors(f, ctx)?,
        "region_outage" => region_outage(f, ctx)?,
        "latency_spike" => {
            let provider = f.provider(ctx);
            let region = f.region(ctx, provider);
            let extra = f.required(ctx, "extra", &raw.extra)?;
            FaultKind::LatencySpike {
                provider: provider?,
                region,
                extra: ctx.latency(&f.field("extra"), &extra.0)?,
            }
        }
        "stream_break" => stream_break(f, ctx)?,
        "answer" => answer::answer(f, ctx)?,
        "request_invalid" => FaultKind::RequestInvalid {
            rate_bp: f.rate_bp(ctx, Some(1.0)),
        },
        "model_withdrawn" => {
            let provider = f.provider(ctx);
            let upstream = f.required(ctx, "upstream", &raw.upstream)?;
            f.upstream_of(ctx, "upstream", provider, upstream);
            FaultKind::ModelWithdrawn {
                provider: provider?,
                upstream: upstream.clone(),
            }
        }
        _ => return None,
    })
}

fn server_errors(f: &At<'_>, ctx: &mut Ctx) -> Option<FaultKind> {
    let provider = f.provider(ctx);
    let region = f.region(ctx, provider);
    let rate_bp = f.rate_bp(ctx, None);
    let status = f.status(ctx, 503, |s| (500..600).contains(&s), "5xx");
    Some(FaultKind::ServerErrors {
        provider: provider?,
        region,
        rate_bp,
        status,
    })
}

fn region_outage(f: &At<'_>, ctx: &mut Ctx) -> Option<FaultKind> {
    let provider = f.provider(ctx);
    f.required(ctx, "region", &f.raw.region);
    let region = f.region(ctx, provider);
    let modes = [
        ("connect", OutageMode::Connect),
        ("timeout", OutageMode::Timeout),
    ];
    let mode = match &f.raw.mode {
        Some(m) => ctx.choose(&f.field("mode"), "outage mode", m, &modes)?,
        None => OutageMode::Connect,
    };
    Some(FaultKind::RegionOutage {
        provider: provider?,
        region: region?,
        mode,
    })
}

fn rate_limit(f: &At<'_>, ctx: &mut Ctx) -> Option<FaultKind> {
    let raw = f.raw;
    let credential = f.credential(ctx);
    let retry_after = match &raw.retry_after {
        Some(t) => Some(ctx.duration(&f.field("retry_after"), &t.0)?),
        None => None,
    };
    let styles = [
        RetryStyle::Seconds,
        RetryStyle::HttpDate,
        RetryStyle::Millis,
        RetryStyle::None,
    ]
    .map(|s| (s.name(), s));
    let style = match &raw.retry_after_style {
        Some(s) => ctx.choose(
            &f.field("retry_after_style"),
            "retry_after_style",
            s,
            &styles,
        )?,
        None => RetryStyle::Seconds,
    };
    if let (Some(model), Some(key)) = (&raw.model, credential) {
        let provider = f.catalog.credentials.get(key.index()).map(|c| c.provider);
        let canonical = f.catalog.model_by_name(model).map(|m| f.catalog.model(m));
        match canonical {
            Some(m) if m.is_alias() => ctx.err(
                f.field("model"),
                format!(
                    "{} is an alias (name a canonical or upstream model)",
                    quote(model)
                ),
            ),
            Some(_) => {}
            None => f.upstream_of(ctx, "model", provider, model),
        }
    }
    Some(FaultKind::RateLimit {
        credential: credential?,
        model: raw.model.clone(),
        capacity_per_min: raw.capacity_per_min.unwrap_or(0),
        retry_after,
        style,
    })
}

fn model_unsupported(f: &At<'_>, ctx: &mut Ctx) -> Option<FaultKind> {
    let raw = f.raw;
    let credential = f.credential(ctx);
    let wordings = UnsupportedWording::ALL.map(|w| (w.name(), w));
    let wording = match &raw.wording {
        Some(w) => ctx.choose(&f.field("wording"), "wording", w, &wordings)?,
        None => UnsupportedWording::Style,
    };
    if raw.wording.is_some() && raw.body.is_some() {
        ctx.err(
            f.field("wording"),
            "given with body (the body replaces the wording: give one)",
        );
    }
    let status = model_unsupported_status(f, ctx, wording);
    let provider = credential
        .and_then(|k| f.catalog.credentials.get(k.index()))
        .map(|c| c.provider);
    let upstream = match (&raw.upstream, &raw.model) {
        (Some(_), Some(_)) => {
            ctx.err(f.path, "has both upstream and model (give one)");
            return None;
        }
        (None, None) => {
            ctx.err(
                f.field("upstream"),
                "missing (model_unsupported needs upstream, or model)",
            );
            return None;
        }
        (Some(u), None) => {
            f.upstream_of(ctx, "upstream", provider, u);
            u.clone()
        }
        (None, Some(m)) => upstream_for_model(f, ctx, provider, m)?,
    };
    Some(FaultKind::ModelUnsupported {
        credential: credential?,
        upstream,
        status,
        body: raw.body.clone(),
        wording,
    })
}

/// The status of a `model_unsupported` fault: one its wording is sent with.
fn model_unsupported_status(f: &At<'_>, ctx: &mut Ctx, wording: UnsupportedWording) -> u16 {
    let allowed = wording.statuses();
    let status = f.raw.status.unwrap_or(wording.default_status());
    if !allowed.contains(&status) {
        let list: Vec<String> = allowed.iter().map(u16::to_string).collect();
        let how = match f.raw.wording {
            Some(_) => format!("with wording {}", quote(wording.name())),
            None => "with the provider's own wording".to_owned(),
        };
        ctx.err(
            f.field("status"),
            format!(
                "{status} is not a status model_unsupported answers {how} ({})",
                or_list(&list)
            ),
        );
    }
    status
}

/// `400`, `400 or 422`, `400, 404 or 422`.
fn or_list(items: &[String]) -> String {
    match items.split_last() {
        None => String::new(),
        Some((last, [])) => last.clone(),
        Some((last, rest)) => format!("{} or {last}", rest.join(", ")),
    }
}

/// The upstream name a canonical model has at the credential's provider.
fn upstream_for_model(
    f: &At<'_>,
    ctx: &mut Ctx,
    provider: Option<ProviderId>,
    model: &str,
) -> Option<String> {
    let path = f.field("model");
    let id = f.names.models.resolve(ctx, &path, model)?;
    let m = f.catalog.models.get(id as usize)?;
    let provider = provider?;
    let mut found: Vec<&str> = m
        .served_by
        .iter()
        .filter(|s| s.provider == provider)
        .map(|s| s.upstream.as_str())
        .collect();
    found.sort_unstable();
    found.dedup();
    match found.as_slice() {
        [one] => Some((*one).to_owned()),
        [] => {
            let name = f
                .catalog
                .providers
                .get(provider.index())
                .map_or("", |p| p.name.as_str());
            ctx.err(
                path,
                format!(
                    "{} is not served by the credential's provider {}",
                    quote(model),
                    quote(name)
                ),
            );
            None
        }
        many => {
            ctx.err(
                path,
                format!(
                    "{} has several upstreams there ({}): name one with upstream",
                    quote(model),
                    many.join(", ")
                ),
            );
            None
        }
    }
}

fn stream_break(f: &At<'_>, ctx: &mut Ctx) -> Option<FaultKind> {
    let raw = f.raw;
    let provider = f.provider(ctx);
    let region = f.region(ctx, provider);
    let credential = match &raw.credential {
        Some(name) => {
            let key = f
                .names
                .credentials
                .resolve(ctx, &f.field("credential"), name)
                .map(KeyId);
            let of = key
                .and_then(|k| f.catalog.credentials.get(k.index()))
                .map(|c| c.provider);
            if let (Some(p), Some(of)) = (provider, of) {
                if p != of {
                    ctx.err(
                        f.field("credential"),
                        format!(
                            "{} is not a credential of this fault's provider",
                            quote(name)
                        ),
                    );
                }
            }
            key
        }
        None => None,
    };
    let rate_bp = f.rate_bp(ctx, Some(1.0));
    Some(FaultKind::StreamBreak {
        provider: provider?,
        region,
        credential,
        after_first_byte: raw.after_first_byte.unwrap_or(false),
        rate_bp,
    })
}
