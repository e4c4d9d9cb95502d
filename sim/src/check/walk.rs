//! Invariants: terminal-request-invalid, byok-single-attempt, mode-respected,
//! primary-first, attempt-budget, body-replay, no-failover-after-first-byte.
//!
//! How one request walks its candidates: which credentials its project's mode allows and
//! prefers, which comes first, how many places it may open, what every attempt sends, and
//! when the walk must stop.

use super::ledger::Open;
use super::model::Pair;
use super::{Ctx, Invariant};
use crate::provider::Cause;
use gatesim_core::{
    Attempt, ClientResponse, Mode, Outcome, ProviderId, RegionId, RequestId, RequestKind, Scope,
    Source,
};
use std::collections::BTreeSet;

/// An attempt of the open request `open` was dispatched.
pub(super) fn dispatched(cx: &mut Ctx<'_, '_>, a: &Attempt, open: &Open) {
    let arrival = &open.arrival;
    let (r, id) = (Some(a.request), Some(a.id));
    let mode = cx.world.catalog.project(arrival.project).mode;
    let pair = Pair {
        provider: a.provider,
        region: a.region,
        scope: a.scope,
        upstream_scope: Scope::of(&a.upstream),
        selected: a.selected,
        sent: a.credential,
    };
    if a.body_digest != arrival.body_digest {
        let detail = format!(
            "attempt body digest {:016x} differs from the request's {:016x}",
            a.body_digest, arrival.body_digest
        );
        cx.fail(Invariant::BodyReplay, r, id, detail);
    }
    if arrival.byok.is_none() {
        mode_respected(cx, a, open, mode, &pair);
    }
    byok_single_attempt(cx, a, open);
    if open.first_outcome_invalid.is_some() {
        let detail = "another attempt after a request-invalid answer".into();
        cx.fail(Invariant::TerminalRequestInvalid, r, id, detail);
    }
    if open.first_byte_sent {
        let detail = "another attempt after the stream delivered bytes".into();
        cx.fail(Invariant::NoFailoverAfterFirstByte, r, id, detail);
    }
    let served = cx
        .ledger
        .answers(&open.attempts)
        .filter(|(_, cause)| *cause == Cause::Ok)
        .count();
    if served >= arrival.iterations.max(1) as usize {
        let detail = format!(
            "another attempt after all {} iterations of the request were served",
            arrival.iterations.max(1)
        );
        cx.fail(Invariant::AttemptBudget, r, id, detail);
    }
    if open.walk_start && arrival.byok.is_none() && mode != Mode::Hybrid {
        primary_first(cx, a, open, mode, &pair);
    }
    // The places of this iteration once this attempt's is added.
    let here = open.places.get(&a.iteration);
    let used = here.map_or(0, BTreeSet::len)
        + usize::from(!here.is_some_and(|p| p.contains(&(a.provider, a.region))));
    let budget = cx.world.contract.attempts_max;
    if used > budget as usize {
        let detail = format!(
            "{used} providers×regions tried in iteration {}, budget {budget}",
            a.iteration
        );
        cx.fail(Invariant::AttemptBudget, r, id, detail);
    }
}

/// The gateway charged a place to a request's budget without opening an attempt there.
pub(super) fn charged_unopened(
    cx: &mut Ctx<'_, '_>,
    request: RequestId,
    provider: ProviderId,
    region: RegionId,
) {
    let detail = format!(
        "budget charged for skipped candidate {}",
        cx.place(provider, region)
    );
    cx.fail(Invariant::AttemptBudget, Some(request), None, detail);
}

/// The open request was answered: a request-invalid first answer is passed on as is.
pub(super) fn responded(
    cx: &mut Ctx<'_, '_>,
    request: RequestId,
    open: &Open,
    response: &ClientResponse,
) {
    let Some(status) = open.first_outcome_invalid else {
        return;
    };
    if response.outcome != Outcome::RequestInvalid || response.status != status {
        let detail = format!(
            "request-invalid answer not passed on: client got {} {}",
            response.status,
            response.outcome.name()
        );
        cx.fail(
            Invariant::TerminalRequestInvalid,
            Some(request),
            None,
            detail,
        );
    }
}

/// One attempt per upstream call: an agentic BYOK request makes one per iteration.
fn byok_single_attempt(cx: &mut Ctx<'_, '_>, a: &Attempt, open: &Open) {
    let Some(byok) = open.arrival.byok else {
        return;
    };
    let prior_this_iteration = open
        .attempts
        .iter()
        .filter_map(|x| cx.ledger.attempts.get(x))
        .filter(|(b, _)| b.iteration == a.iteration)
        .count();
    if prior_this_iteration > 0 || a.credential != byok {
        let detail = format!(
            "BYOK request sent {} as attempt {} of iteration {}",
            cx.key(a.credential),
            prior_this_iteration + 1,
            a.iteration
        );
        cx.fail(
            Invariant::ByokSingleAttempt,
            Some(a.request),
            Some(a.id),
            detail,
        );
    }
}

/// A fresh walk starts with the route's primary credential when it is eligible.
fn primary_first(cx: &mut Ctx<'_, '_>, a: &Attempt, open: &Open, mode: Mode, pair: &Pair) {
    let model = &cx.ledger.model;
    let Some(primary) = model.primary(pair, mode) else {
        return;
    };
    let count_tokens = open.arrival.kind == RequestKind::CountTokens;
    let primary_pair = Pair {
        sent: primary,
        ..*pair
    };
    if a.credential != primary && model.eligible(&primary_pair, cx.now, count_tokens) {
        let detail = format!(
            "walk started with {} while primary {} was eligible",
            cx.key(a.credential),
            cx.key(primary)
        );
        cx.fail(Invariant::PrimaryFirst, Some(a.request), Some(a.id), detail);
    }
}

/// Project modes (not for BYOK requests); in hybrid mode see [`hybrid_preference`].
fn mode_respected(cx: &mut Ctx<'_, '_>, a: &Attempt, open: &Open, mode: Mode, sent: &Pair) {
    let source = cx.world.catalog.credential(a.credential).source;
    let allowed = match mode {
        Mode::ApiKeys => source == Source::Org,
        Mode::Credits => source == Source::Platform,
        Mode::Hybrid => source != Source::Byok,
    };
    if !allowed {
        let detail = format!(
            "{} project sent {} credential {}",
            mode.name(),
            source.name(),
            cx.key(a.credential)
        );
        cx.fail(
            Invariant::ModeRespected,
            Some(a.request),
            Some(a.id),
            detail,
        );
    } else if mode == Mode::Hybrid {
        hybrid_preference(cx, a, open, source, sent);
    }
}

/// In hybrid mode a platform key only when no org-keyed candidate is eligible, after the
/// uptime bar; an org key below the bar only when no healthier candidate is eligible.
fn hybrid_preference(cx: &mut Ctx<'_, '_>, a: &Attempt, open: &Open, source: Source, sent: &Pair) {
    let (model, world, t) = (&cx.ledger.model, cx.world, cx.now);
    let places = open.places.get(&a.iteration);
    let opened = |p: &Pair| places.is_some_and(|s| s.contains(&(p.provider, p.region)));
    let budget_spent = places.map_or(0, BTreeSet::len) >= world.contract.attempts_max as usize;
    let count_tokens = open.arrival.kind == RequestKind::CountTokens;
    let available: Vec<Pair> = model
        .pairs(&open.arrival.model, Mode::Hybrid, None)
        .into_iter()
        .filter(|p| {
            !open.walk_tried.contains(&(p.provider, p.region, p.scope, p.sent))
                && model.eligible(p, t, count_tokens)
                // Once the budget is spent, places it cannot open are out of reach and
                // take no part in the uptime bar or key preference (docs/decisions.md).
                && (!budget_spent || opened(p))
        })
        .collect();
    let bar = world.contract.uptime_bar_bp;
    let above = |p: &Pair| model.mapping_uptime_bp(p, t) >= bar;
    let any_above = available.iter().any(above) || above(sent);
    let org_here = |p: &&Pair| {
        world.catalog.credential(p.sent).source == Source::Org && (!budget_spent || opened(p))
    };
    let (r, id) = (Some(a.request), Some(a.id));
    if source == Source::Platform {
        let mut survivors = available.iter().filter(|p| !any_above || above(p));
        if let Some(org) = survivors.find(org_here) {
            let detail = format!(
                "hybrid sent platform {} while org {} on {} was eligible",
                cx.key(a.credential),
                cx.key(org.sent),
                cx.provider(org.provider)
            );
            cx.fail(Invariant::ModeRespected, r, id, detail);
        }
    } else if any_above && !above(sent) {
        let detail = format!("hybrid sent org {} to a provider below the uptime bar while a healthier candidate was eligible", cx.key(a.credential));
        cx.fail(Invariant::ModeRespected, r, id, detail);
    }
}
