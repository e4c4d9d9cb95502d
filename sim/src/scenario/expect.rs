//! `expect` (scenario-specific checks: request, credential and metric entries) and
//! `swarm` (the fault kinds a swarm world draws from).

use super::ctx::{Ctx, Names};
use super::faults::SWARM_KINDS;
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
        ("retry_after_s", e.retry_after_s.is_some()),
        ("hint", e.hint.is_some()),
        ("attempt_order", e.attempt_order.is_some()),
        ("state_at_end", e.state_at_end.is_some()),
        ("cooled_until", e.cooled_until.is_some()),
        ("model", e.model.is_some()),
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

/// The fields of a request expectation besides `request`: each pins one thing.
const REQUEST_PINS: [&str; 7] = [
    "outcome",
    "status",
    "served_by",
    "attempts",
    "retry_after_s",
    "hint",
    "attempt_order",
];

/// Most entries in one `attempt_order` (a request's attempts are bounded by the policy;
/// a longer list can never be met).
const ATTEMPT_ORDER_MAX: usize = 1_000;

fn request_expectation(
    e: &RawExpect,
    path: &str,
    ctx: &mut Ctx,
    names: &Names,
    workload: &Workload,
) -> Option<Expectation> {
    foreign(e, path, ctx, "request", &REQUEST_PINS);
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
    let pins = [
        e.outcome.is_some(),
        e.status.is_some(),
        e.served_by.is_some(),
        e.attempts.is_some(),
        e.retry_after_s.is_some(),
        e.hint.is_some(),
        e.attempt_order.is_some(),
    ];
    if !pins.contains(&true) {
        ctx.err(
            path,
            format!("checks nothing (give {})", REQUEST_PINS.join(", ")),
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
    let credential = |ctx: &mut Ctx, field: &str, name: &str| {
        let at = format!("{path}.{field}");
        names.credentials.resolve(ctx, &at, name).map(KeyId)
    };
    // Every reference is resolved (and every unknown one reported) before any is given up on.
    let served_by = (e.served_by.as_ref()).map(|name| credential(ctx, "served_by", name));
    let hint = (e.hint.as_ref()).map(|name| credential(ctx, "hint", name));
    let attempt_order =
        (e.attempt_order.as_ref()).map(|list| attempt_order(list, path, ctx, &credential));
    Some(Expectation::Request {
        index,
        outcome,
        status: e.status,
        served_by: resolved(served_by)?,
        attempts: e.attempts,
        retry_after_s: e.retry_after_s,
        hint: resolved(hint)?,
        attempt_order: resolved(attempt_order)?,
    })
}

/// An optional field's resolution: `Some(None)` when it is not given, `None` when it is
/// given and did not resolve.
fn resolved<T>(field: Option<Option<T>>) -> Option<Option<T>> {
    field.map_or(Some(None), |v| v.map(Some))
}

/// `expect[i].attempt_order`: credential ids, each resolved (every unknown one reported).
fn attempt_order(
    list: &[String],
    path: &str,
    ctx: &mut Ctx,
    credential: &dyn Fn(&mut Ctx, &str, &str) -> Option<KeyId>,
) -> Option<Vec<KeyId>> {
    if list.is_empty() {
        ctx.err(
            format!("{path}.attempt_order"),
            "empty (a request makes at least one attempt, unless it has no route: pin attempts: 0)",
        );
        return None;
    }
    if list.len() > ATTEMPT_ORDER_MAX {
        ctx.err(
            format!("{path}.attempt_order"),
            format!(
                "{} entries is too many (at most {ATTEMPT_ORDER_MAX})",
                list.len()
            ),
        );
        return None;
    }
    let keys: Vec<Option<KeyId>> = list
        .iter()
        .enumerate()
        .map(|(j, name)| credential(ctx, &format!("attempt_order[{j}]"), name))
        .collect();
    keys.into_iter().collect()
}

fn credential_expectation(
    e: &RawExpect,
    path: &str,
    ctx: &mut Ctx,
    names: &Names,
) -> Option<Expectation> {
    foreign(
        e,
        path,
        ctx,
        "credential",
        &["state_at_end", "cooled_until", "model"],
    );
    let name = e.credential.as_ref()?;
    let key = names
        .credentials
        .resolve(ctx, &format!("{path}.credential"), name);
    if let Some(until) = &e.cooled_until {
        return cooldown_expectation(e, path, ctx, names, key, until);
    }
    if e.model.is_some() {
        ctx.err(
            format!("{path}.model"),
            "only with cooled_until (the state at the end is the credential's, in every model)",
        );
    }
    let Some(state) = &e.state_at_end else {
        ctx.err(
            format!("{path}.state_at_end"),
            "missing (blacklisted or usable; or pin cooled_until)",
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

/// `{"credential": "k0", "cooled_until": "2m0.1s", "model": "m"}`: the last cooldown the
/// gateway wrote for the credential (in that model's scope, or any) ends then.
fn cooldown_expectation(
    e: &RawExpect,
    path: &str,
    ctx: &mut Ctx,
    names: &Names,
    key: Option<u32>,
    until: &str,
) -> Option<Expectation> {
    if e.state_at_end.is_some() {
        ctx.err(
            format!("{path}.cooled_until"),
            "with state_at_end (give one per entry)",
        );
    }
    let until = ctx.duration(&format!("{path}.cooled_until"), until);
    let model = match &e.model {
        Some(m) => {
            names.models.resolve(ctx, &format!("{path}.model"), m)?;
            Some(m.clone())
        }
        None => None,
    };
    Some(Expectation::Cooldown {
        credential: KeyId(key?),
        model,
        until: gatesim_core::Instant::ZERO + until?,
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
        if f.kind == "answer" {
            ctx.err(
                format!("{path}.kind"),
                "answer is not drawn (its status, body and meaning are written by hand: \
                 list the answer under faults)",
            );
        } else if !SWARM_KINDS.contains(&f.kind.as_str()) {
            ctx.err(
                format!("{path}.kind"),
                format!(
                    "unknown fault kind {} (known: {})",
                    quote(&f.kind),
                    known_list(SWARM_KINDS.iter().copied())
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
