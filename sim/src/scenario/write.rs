//! A `World` back to a version-1 scenario file: pretty JSON, fields in schema order,
//! durations in the largest exact unit, defaults left out where the reader restores them.

use super::capabilities;
use super::raw::{
    DurText, Item, Number, RawCredential, RawExpect, RawFault, RawGenerator, RawLatency,
    RawMapping, RawMix, RawModel, RawOverrides, RawPolicy, RawProject, RawProvider, RawRequest,
    RawScenario, RawSwarm, RawSwarmFault, RawWorkload,
};
use super::text::{bp_fraction, format_duration};
use super::{EPOCH_UNIX_S_DEFAULT, VERSION};
use crate::contract::Contract;
use crate::world::{
    Answer, Arrivals, CredentialState, Expectation, Fault, FaultKind, Generator, OutageMode,
    ProviderSpec, RequestSpec, RetryStyle, UnsupportedWording, World,
};
use gatesim_core::{
    Catalog, Duration, Instant, KeyId, Policy, ProjectId, ProviderId, RegionId, RequestKind,
};

/// Writes `world` as a version-1 scenario file (pretty JSON with a final newline).
///
/// `parse(&to_json(&w)) == Ok(w)` for every world `parse` produced. Ids that point
/// outside the catalog (only possible in hand-built worlds) are written as `#<index>`.
pub fn to_json(world: &World) -> String {
    let raw = scenario(world);
    let mut text = serde_json::to_string_pretty(&raw)
        .unwrap_or_else(|e| format!("{{\"error\": \"cannot serialise scenario: {e}\"}}"));
    text.push('\n');
    text
}

fn scenario(w: &World) -> RawScenario {
    let c = &w.catalog;
    let epoch = (c.epoch_unix_s != EPOCH_UNIX_S_DEFAULT).then_some(c.epoch_unix_s);
    let specs = |i: usize| w.providers.get(i).cloned().unwrap_or_default();
    RawScenario {
        version: Some(VERSION),
        id: Some(w.id.clone()),
        title: Some(w.title.clone()),
        source: Some(w.source.clone()),
        seed: Some(w.seed),
        duration: Some(dur(w.duration)),
        epoch_unix_s: epoch,
        regions: items(&c.regions, Clone::clone),
        providers: c
            .providers
            .iter()
            .enumerate()
            .map(|(i, p)| Item::ok(provider(c, p, &specs(i))))
            .collect(),
        models: items(&c.models, |m| model(c, m)),
        credentials: items(&c.credentials, |k| credential(c, k)),
        projects: items(&c.projects, |p| RawProject {
            id: p.name.clone(),
            mode: p.mode.name().to_owned(),
        }),
        policy: Some(Item::ok(policy(&w.policy))),
        contract: contract(&w.contract).map(Item::ok),
        faults: items(&w.faults.faults, |f| fault(c, f)),
        workload: Some(Item::ok(RawWorkload {
            requests: items(&w.workload.requests, |r| request(c, r)),
            generators: items(&w.workload.generators, |g| generator(c, g)),
        })),
        expect: items(&w.expect, |e| expect(c, e)),
        swarm: (!w.swarm.is_empty()).then(|| {
            Item::ok(RawSwarm {
                faults: items(&w.swarm, |f| RawSwarmFault {
                    kind: f.kind.clone(),
                    weight: Some(f.weight),
                    count_max: Some(f.count_max),
                }),
            })
        }),
    }
}

fn items<T, U>(list: &[T], write: impl Fn(&T) -> U) -> Vec<Item<U>> {
    list.iter().map(|x| Item::ok(write(x))).collect()
}

fn dur(d: Duration) -> DurText {
    DurText(format_duration(d.as_ms()))
}

fn time(t: Instant) -> DurText {
    DurText(format_duration(t.as_ms()))
}

fn name_or_index(names: Option<&str>, index: usize) -> String {
    names.map_or_else(|| format!("#{index}"), str::to_owned)
}

fn region(c: &Catalog, r: RegionId) -> String {
    name_or_index(c.regions.get(r.index()).map(String::as_str), r.index())
}

fn provider_name(c: &Catalog, p: ProviderId) -> String {
    name_or_index(
        c.providers.get(p.index()).map(|x| x.name.as_str()),
        p.index(),
    )
}

fn key(c: &Catalog, k: KeyId) -> String {
    name_or_index(
        c.credentials.get(k.index()).map(|x| x.name.as_str()),
        k.index(),
    )
}

fn project(c: &Catalog, p: ProjectId) -> String {
    name_or_index(
        c.projects.get(p.index()).map(|x| x.name.as_str()),
        p.index(),
    )
}

fn provider(c: &Catalog, p: &gatesim_core::Provider, spec: &ProviderSpec) -> RawProvider {
    let default = ProviderSpec::default();
    let latency = match spec.latency_fixed {
        Some(fixed) => Some(RawLatency {
            p50: None,
            p99: None,
            fixed: Some(dur(fixed)),
        }),
        None => (spec.latency_p50 != default.latency_p50
            || spec.latency_p99 != default.latency_p99)
            .then(|| RawLatency {
                p50: Some(dur(spec.latency_p50)),
                p99: Some(dur(spec.latency_p99)),
                fixed: None,
            }),
    };
    RawProvider {
        id: p.name.clone(),
        style: Some(spec.style.name().to_owned()),
        regions: p.regions.iter().map(|r| region(c, *r)).collect(),
        latency,
        accepts_any_model: p.accepts_any_model.then_some(true),
    }
}

fn model(c: &Catalog, m: &gatesim_core::Model) -> RawModel {
    if m.is_alias() {
        let members = m
            .alias_of
            .iter()
            .map(|a| name_or_index(c.models.get(a.index()).map(|x| x.name.as_str()), a.index()))
            .collect();
        return RawModel {
            id: m.name.clone(),
            served_by: None,
            alias_of: Some(members),
        };
    }
    let served_by = m
        .served_by
        .iter()
        .map(|s| RawMapping {
            provider: provider_name(c, s.provider),
            region: region(c, s.region),
            upstream: (s.upstream != m.name).then(|| s.upstream.clone()),
        })
        .collect();
    RawModel {
        id: m.name.clone(),
        served_by: Some(served_by),
        alias_of: None,
    }
}

fn credential(c: &Catalog, k: &gatesim_core::Credential) -> RawCredential {
    RawCredential {
        id: k.name.clone(),
        provider: provider_name(c, k.provider),
        source: k.source.name().to_owned(),
        region: k.region.map(|r| region(c, r)),
        endpoint: k.endpoint.clone(),
        weight: (k.weight != 1).then_some(u64::from(k.weight)),
    }
}

fn policy(p: &Policy) -> RawPolicy {
    let mut overrides = tunables(p);
    capabilities::write(p, &mut overrides);
    RawPolicy {
        preset: Some("reference".to_owned()),
        about: None,
        overrides: (overrides != RawOverrides::default()).then_some(overrides),
        regressions: p.regressions.iter().map(|k| k.name().to_owned()).collect(),
    }
}

/// The `contract` section, when it promises anything but the reference.
fn contract(c: &Contract) -> Option<RawOverrides> {
    let mut raw = tunables(&c.promised_policy());
    raw.recovery_within = (c.recovery_within != Duration::ZERO).then(|| dur(c.recovery_within));
    (raw != RawOverrides::default()).then_some(raw)
}

/// The tunables of `p` that differ from the reference policy's.
fn tunables(p: &Policy) -> RawOverrides {
    let r = Policy::reference();
    // Destructured without `..` so a new Policy field fails to compile here until written.
    let Policy {
        retry_after_default,
        retry_after_cap,
        errors_consecutive_max,
        unhealthy_for,
        suspension_for,
        attempts_max,
        wait_max,
        wait_rounds_max,
        history_window,
        history_entries_max,
        uptime_bar_bp,
        scopes_max,
        attempt_timeout,
        // Written by `capabilities::write`.
        auth_failure: _,
        forbidden: _,
        invalid_key_bodies: _,
        upstream_retry_after_passed_on: _,
        stream_breaks_fail_over: _,
        upstream_errors_fail_over: _,
        unhealthy_rule: _,
        retried_failures_mark_health: _,
        same_key_retries: _,
        model_support: _,
        cooldown_merge: _,
        retry_after_forms: _,
        rate_limit_backoff: _,
        exhaustion_answer: _,
        key_selection: _,
        regressions: _,
    } = p;
    let d = |v: &Duration, base: Duration| (*v != base).then(|| dur(*v));
    let n = |v: &u32, base: u32| (*v != base).then_some(*v);
    RawOverrides {
        retry_after_default: d(retry_after_default, r.retry_after_default),
        retry_after_cap: d(retry_after_cap, r.retry_after_cap),
        errors_consecutive_max: n(errors_consecutive_max, r.errors_consecutive_max),
        unhealthy_for: d(unhealthy_for, r.unhealthy_for),
        suspension_for: d(suspension_for, r.suspension_for),
        attempts_max: n(attempts_max, r.attempts_max),
        wait_max: d(wait_max, r.wait_max),
        wait_rounds_max: n(wait_rounds_max, r.wait_rounds_max),
        history_window: d(history_window, r.history_window),
        history_entries_max: n(history_entries_max, r.history_entries_max),
        uptime_bar_bp: n(uptime_bar_bp, r.uptime_bar_bp),
        scopes_max: n(scopes_max, r.scopes_max),
        attempt_timeout: d(attempt_timeout, r.attempt_timeout),
        recovery_within: None,
        ..RawOverrides::default()
    }
}

fn blank_fault(f: &Fault) -> RawFault {
    RawFault {
        at: time(f.at),
        until: f.until.map(time),
        kind: f.kind.name().to_owned(),
        means: None,
        provider: None,
        region: None,
        credential: None,
        model: None,
        upstream: None,
        status: None,
        body: None,
        headers: None,
        capacity_per_min: None,
        retry_after: None,
        retry_after_style: None,
        rate: None,
        mode: None,
        extra: None,
        after_first_byte: None,
        wording: None,
    }
}

fn rate(bp: u32) -> Option<Number> {
    Some(Number(bp_fraction(bp)))
}

fn fault(c: &Catalog, f: &Fault) -> RawFault {
    let mut raw = blank_fault(f);
    match &f.kind {
        FaultKind::KeyInvalid {
            credential,
            status,
            body,
        } => {
            raw.credential = Some(key(c, *credential));
            raw.status = Some(*status);
            raw.body = body.clone();
        }
        FaultKind::KeyRevoked { credential, status } => {
            raw.credential = Some(key(c, *credential));
            raw.status = Some(*status);
        }
        FaultKind::RateLimit {
            credential,
            model,
            capacity_per_min,
            retry_after,
            style,
        } => {
            raw.credential = Some(key(c, *credential));
            raw.model = model.clone();
            raw.capacity_per_min = Some(*capacity_per_min);
            raw.retry_after = retry_after.map(dur);
            raw.retry_after_style =
                (*style != RetryStyle::Seconds).then(|| style.name().to_owned());
        }
        FaultKind::ModelUnsupported {
            credential,
            upstream,
            status,
            body,
            wording,
        } => {
            raw.credential = Some(key(c, *credential));
            raw.upstream = Some(upstream.clone());
            raw.status = Some(*status);
            raw.body = body.clone();
            raw.wording =
                (*wording != UnsupportedWording::Style).then(|| wording.name().to_owned());
        }
        FaultKind::RequestInvalid { rate_bp } => raw.rate = rate(*rate_bp),
        FaultKind::Answer(x) => answer(c, x, &mut raw),
        other => provider_fault(c, other, &mut raw),
    }
    raw
}

/// The fields of the faults about a provider (and optionally a region).
fn provider_fault(c: &Catalog, kind: &FaultKind, raw: &mut RawFault) {
    let place = |p: &ProviderId, r: &Option<RegionId>| {
        (Some(provider_name(c, *p)), r.map(|r| region(c, r)))
    };
    match kind {
        FaultKind::ServerErrors {
            provider,
            region: r,
            rate_bp,
            status,
        } => {
            (raw.provider, raw.region) = place(provider, r);
            raw.rate = rate(*rate_bp);
            raw.status = Some(*status);
        }
        FaultKind::RegionOutage {
            provider,
            region: r,
            mode,
        } => {
            (raw.provider, raw.region) = place(provider, &Some(*r));
            let mode = match mode {
                OutageMode::Connect => "connect",
                OutageMode::Timeout => "timeout",
            };
            raw.mode = Some(mode.to_owned());
        }
        FaultKind::LatencySpike {
            provider,
            region: r,
            extra,
        } => {
            (raw.provider, raw.region) = place(provider, r);
            raw.extra = Some(dur(*extra));
        }
        FaultKind::StreamBreak {
            provider,
            region: r,
            credential,
            after_first_byte,
            rate_bp,
        } => {
            (raw.provider, raw.region) = place(provider, r);
            raw.credential = credential.map(|k| key(c, k));
            raw.after_first_byte = Some(*after_first_byte);
            raw.rate = rate(*rate_bp);
        }
        FaultKind::ModelWithdrawn { provider, upstream } => {
            raw.provider = Some(provider_name(c, *provider));
            raw.upstream = Some(upstream.clone());
        }
        FaultKind::KeyInvalid { .. }
        | FaultKind::KeyRevoked { .. }
        | FaultKind::RateLimit { .. }
        | FaultKind::ModelUnsupported { .. }
        | FaultKind::RequestInvalid { .. }
        | FaultKind::Answer(_) => {}
    }
}

/// An `answer` fault's fields, as the reader took them: every restriction it was given,
/// the headers verbatim, the rate only when it is not every answer.
fn answer(c: &Catalog, x: &Answer, raw: &mut RawFault) {
    raw.means = Some(x.means.name().to_owned());
    raw.credential = x.credential.map(|k| key(c, k));
    raw.provider = x.provider.map(|p| provider_name(c, p));
    raw.region = x.region.map(|r| region(c, r));
    raw.model = x.model.clone();
    raw.status = Some(x.status);
    raw.body = x.body.clone();
    raw.headers = (!x.headers.is_empty()).then(|| x.headers.clone());
    raw.rate = (x.rate_bp != 10_000).then(|| Number(bp_fraction(x.rate_bp)));
}

/// The optional request fields, `None` where the reader's default applies.
struct ShapeOut {
    stream: Option<bool>,
    byok: Option<String>,
    kind: Option<String>,
    agentic_iterations: Option<u32>,
    body_bytes: Option<u32>,
}

fn shape(c: &Catalog, r: &RequestSpec) -> ShapeOut {
    ShapeOut {
        stream: r.stream.then_some(true),
        byok: r.byok.map(|k| key(c, k)),
        kind: (r.kind != RequestKind::Chat).then(|| r.kind.name().to_owned()),
        agentic_iterations: (r.agentic_iterations != 1).then_some(r.agentic_iterations),
        body_bytes: (r.body_bytes != 0).then_some(r.body_bytes),
    }
}

fn request(c: &Catalog, r: &RequestSpec) -> RawRequest {
    let s = shape(c, r);
    RawRequest {
        at: time(r.at),
        project: project(c, r.project),
        model: r.model.clone(),
        stream: s.stream,
        byok: s.byok,
        kind: s.kind,
        agentic_iterations: s.agentic_iterations,
        body_bytes: s.body_bytes,
    }
}

fn generator(c: &Catalog, g: &Generator) -> RawGenerator {
    let (arrivals, burst_size) = match g.arrivals {
        Arrivals::Poisson => (None, None),
        Arrivals::Bursts { size } => (Some("bursts".to_owned()), Some(size)),
    };
    RawGenerator {
        from: time(g.from),
        until: time(g.until),
        rate_per_s: Number(g.rate_milli_per_s as f64 / 1000.0),
        arrivals,
        burst_size,
        project: project(c, g.project),
        mix: g
            .mix
            .iter()
            .map(|(weight, r)| {
                let s = shape(c, r);
                Item::ok(RawMix {
                    model: r.model.clone(),
                    weight: (*weight != 1).then_some(*weight),
                    stream: s.stream,
                    byok: s.byok,
                    kind: s.kind,
                    agentic_iterations: s.agentic_iterations,
                    body_bytes: s.body_bytes,
                })
            })
            .collect(),
        custom_model_fraction: (g.custom_model_bp != 0)
            .then(|| Number(bp_fraction(g.custom_model_bp))),
    }
}

fn expect(c: &Catalog, e: &Expectation) -> RawExpect {
    match e {
        Expectation::Request {
            index,
            outcome,
            status,
            served_by,
            attempts,
            retry_after_s,
            hint,
            attempt_order,
        } => RawExpect {
            request: Some(*index),
            outcome: outcome.map(|o| o.name().to_owned()),
            status: *status,
            served_by: served_by.map(|k| key(c, k)),
            attempts: *attempts,
            retry_after_s: *retry_after_s,
            hint: hint.map(|k| key(c, k)),
            attempt_order: attempt_order
                .as_ref()
                .map(|keys| keys.iter().map(|k| key(c, *k)).collect()),
            ..RawExpect::default()
        },
        Expectation::CredentialState { credential, state } => RawExpect {
            credential: Some(key(c, *credential)),
            state_at_end: Some(
                match state {
                    CredentialState::Blacklisted => "blacklisted",
                    CredentialState::Usable => "usable",
                }
                .to_owned(),
            ),
            ..RawExpect::default()
        },
        Expectation::Cooldown {
            credential,
            model,
            until,
        } => RawExpect {
            credential: Some(key(c, *credential)),
            cooled_until: Some(super::text::format_duration(until.as_ms())),
            model: model.clone(),
            ..RawExpect::default()
        },
        Expectation::Metric { name, min, max } => RawExpect {
            metric: Some(name.clone()),
            min: *min,
            max: *max,
            ..RawExpect::default()
        },
    }
}
