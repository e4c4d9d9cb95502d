//! `expect` (scenario-specific checks: request, credential and metric entries) and
//! `swarm` (the fault kinds a swarm world draws from).

use super::ctx::{Ctx, Names};
use super::faults::FAULT_KINDS;
use super::raw::{Item, RawExpect, RawSwarm};
use super::text::{closest, known_list, quote};
use crate::metrics::Summary;
use crate::world::{CredentialState, Expectation, SwarmFault, Workload};
use gatesim_core::{KeyId, Outcome};

/// Most faults of one kind a swarm draws into one world (each is a fault to simulate).
const SWARM_COUNT_MAX: u32 = 100;

const OUTCOMES: [Outcome; 7] = [
    Outcome::Success,
    Outcome::StreamInterrupted,
    Outcome::RequestInvalid,
    Outcome::ExhaustedTransient,
    Outcome::ExhaustedPermanent,
    Outcome::UpstreamFailed,
    Outcome::NoRoute,
];

/// Checks `expect`: request, credential and metric entries.
pub(super) fn expect(
    list: &[Item<RawExpect>],
    ctx: &mut Ctx,
    names: &Names,
    workload: &Workload,
) -> Vec<Expectation> {
    let mut out = Vec::new();
    for (i, item) in list.iter().enumerate() {
        let path = format!("expect[{i}]");
        let Some(e) = ctx.item(&path, item) else {
            continue;
        };
        let shapes = [
            ("request", e.request.is_some()),
            ("credential", e.credential.is_some()),
            ("metric", e.metric.is_some()),
        ];
        let given: Vec<&str> = shapes
            .iter()
            .filter(|(_, on)| *on)
            .map(|(n, _)| *n)
            .collect();
        let entry = match given.as_slice() {
            ["request"] => request_expectation(e, &path, ctx, names, workload),
            ["credential"] => credential_expectation(e, &path, ctx, names),
            ["metric"] => metric_expectation(e, &path, ctx),
            [] => {
                ctx.err(&path, "needs one of request, credential or metric");
                None
            }
            _ => {
                ctx.err(
                    &path,
                    format!("has {} (give exactly one)", given.join(" and ")),
                );
                None
            }
        };
        out.extend(entry);
    }
    out
}

/// Reports the fields of other entry shapes present in `e`.
fn foreign(e: &RawExpect, path: &str, ctx: &mut Ctx, shape: &str, allowed: &[&str]) {
    let present = [
        ("outcome", e.outcome.is_some()),
        ("status", e.status.is_some()),
        ("served_by", e.served_by.is_some()),
        ("attempts", e.attempts.is_some()),
        ("state_at_end", e.state_at_end.is_some()),
        ("min", e.min.is_some()),
        ("max", e.max.is_some()),
    ];
    for (name, _) in present.iter().filter(|(n, on)| *on && !allowed.contains(n)) {
        ctx.err(
            format!("{path}.{name}"),
            format!(
                "not a field of a {shape} expectation (its fields: {shape}, {})",
                allowed.join(", ")
            ),
        );
    }
}

fn request_expectation(
    e: &RawExpect,
    path: &str,
    ctx: &mut Ctx,
    names: &Names,
    workload: &Workload,
) -> Option<Expectation> {
    foreign(
        e,
        path,
        ctx,
        "request",
        &["outcome", "status", "served_by", "attempts"],
    );
    let index = e.request?;
    let count = workload.requests.len() as u64;
    // With generators, indices count generated requests too (submission order).
    if index >= count && workload.generators.is_empty() && !ctx.has_error_at("workload") {
        ctx.err(
            format!("{path}.request"),
            format!(
                "{index} is not a request index (workload.requests has {count}: 0 to {})",
                count.saturating_sub(1)
            ),
        );
    }
    if e.outcome.is_none() && e.status.is_none() && e.served_by.is_none() && e.attempts.is_none() {
        ctx.err(
            path,
            "checks nothing (give outcome, status, served_by or attempts)",
        );
    }
    let options = OUTCOMES.map(|o| (o.name(), o));
    let outcome = match &e.outcome {
        Some(o) => Some(ctx.choose(&format!("{path}.outcome"), "outcome", o, &options)?),
        None => None,
    };
    if let Some(s) = e.status.filter(|s| !(100..600).contains(s)) {
        ctx.err(
            format!("{path}.status"),
            format!("{s} is not an HTTP status"),
        );
    }
    let served_by = match &e.served_by {
        Some(name) => Some(KeyId(names.credentials.resolve(
            ctx,
            &format!("{path}.served_by"),
            name,
        )?)),
        None => None,
    };
    Some(Expectation::Request {
        index,
        outcome,
        status: e.status,
        served_by,
        attempts: e.attempts,
    })
}

fn credential_expectation(
    e: &RawExpect,
    path: &str,
    ctx: &mut Ctx,
    names: &Names,
) -> Option<Expectation> {
    foreign(e, path, ctx, "credential", &["state_at_end"]);
    let name = e.credential.as_ref()?;
    let key = names
        .credentials
        .resolve(ctx, &format!("{path}.credential"), name);
    let Some(state) = &e.state_at_end else {
        ctx.err(
            format!("{path}.state_at_end"),
            "missing (blacklisted or usable)",
        );
        return None;
    };
    let states = [
        ("blacklisted", CredentialState::Blacklisted),
        ("usable", CredentialState::Usable),
    ];
    let state = ctx.choose(
        &format!("{path}.state_at_end"),
        "credential state",
        state,
        &states,
    )?;
    Some(Expectation::CredentialState {
        credential: KeyId(key?),
        state,
    })
}

fn metric_expectation(e: &RawExpect, path: &str, ctx: &mut Ctx) -> Option<Expectation> {
    foreign(e, path, ctx, "metric", &["min", "max"]);
    let name = e.metric.as_ref()?;
    if name.is_empty() {
        ctx.err(
            format!("{path}.metric"),
            "empty (a metric name of the run summary)",
        );
    } else if !known_metric(name) {
        let hint = closest(name, Summary::NAMES.iter().copied())
            .map(|c| format!("did you mean {}? ", quote(c)))
            .unwrap_or_default();
        ctx.err(
            format!("{path}.metric"),
            format!(
                "unknown metric {} ({hint}known: {})",
                quote(name),
                known_list(Summary::NAMES.iter().copied())
            ),
        );
    }
    match (e.min, e.max) {
        (None, None) => ctx.err(path, "checks nothing (give min, max or both)"),
        (Some(lo), Some(hi)) if lo > hi => {
            ctx.err(format!("{path}.max"), format!("below min ({hi} < {lo})"));
        }
        _ => {}
    }
    Some(Expectation::Metric {
        name: name.clone(),
        min: e.min,
        max: e.max,
    })
}

/// Whether `Summary::get` knows `name`: a fixed name, or `outcome_` and an outcome's.
fn known_metric(name: &str) -> bool {
    match name.strip_prefix("outcome_") {
        Some(outcome) => OUTCOMES.iter().any(|o| o.name() == outcome),
        None => Summary::NAMES.contains(&name) && !name.contains('<'),
    }
}

/// Checks `swarm`: fault kinds with weights.
pub(super) fn swarm(item: &Item<RawSwarm>, ctx: &mut Ctx) -> Vec<SwarmFault> {
    let Some(s) = ctx.item("swarm", item) else {
        return Vec::new();
    };
    if s.faults.is_empty() && !ctx.has_error_at("swarm.faults") {
        ctx.err(
            "swarm.faults",
            "empty (list fault kinds, or leave the swarm section out)",
        );
    }
    let mut out: Vec<SwarmFault> = Vec::new();
    for (i, item) in s.faults.iter().enumerate() {
        let path = format!("swarm.faults[{i}]");
        let Some(f) = ctx.item(&path, item) else {
            continue;
        };
        if !FAULT_KINDS.contains(&f.kind.as_str()) {
            ctx.err(
                format!("{path}.kind"),
                format!(
                    "unknown fault kind {} (known: {})",
                    quote(&f.kind),
                    known_list(FAULT_KINDS.iter().copied())
                ),
            );
        } else if out.iter().any(|o| o.kind == f.kind) {
            ctx.err(
                format!("{path}.kind"),
                format!("{} listed twice", quote(&f.kind)),
            );
        }
        let count_max = f.count_max.unwrap_or(1);
        if count_max == 0 {
            ctx.err(
                format!("{path}.count_max"),
                "0 (at least 1; leave the kind out instead)",
            );
        } else if count_max > SWARM_COUNT_MAX {
            ctx.err(
                format!("{path}.count_max"),
                format!("{count_max} is too many (at most {SWARM_COUNT_MAX})"),
            );
        }
        out.push(SwarmFault {
            kind: f.kind.clone(),
            weight: f.weight.unwrap_or(1),
            count_max,
        });
    }
    if !out.is_empty() && out.iter().all(|f| f.weight == 0) {
        ctx.err("swarm.faults", "every weight is 0");
    }
    out
}
