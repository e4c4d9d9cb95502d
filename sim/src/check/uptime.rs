//! Invariants: no-hidden-failures, provider-score-honest, blacklist-uptime-zero.
//!
//! What the gateway counts: every failure in uptime unless the same place recovered it,
//! provider scores that match what happened there, no uptime for a dead credential.

use super::ledger::{recovered, Open};
use super::{Ctx, Invariant};
use crate::engine::FinalState;
use crate::provider::Cause;
use gatesim_core::{ProviderId, RegionId, RequestId};
use std::collections::BTreeSet;

/// The open request was answered: each failed attempt nothing recovered was counted in
/// both its mapping and its model history.
pub(super) fn responded(cx: &mut Ctx<'_, '_>, request: RequestId, open: &Open) {
    let attempts = &cx.ledger.attempts;
    for (i, id) in open.attempts.iter().enumerate() {
        let Some((a, Some(cause))) = attempts.get(id) else {
            continue;
        };
        if matches!(cause, Cause::Ok | Cause::RequestInvalid)
            || recovered(attempts, &open.attempts[i + 1..], a)
        {
            continue;
        }
        let counted = open.counted.get(&a.id).copied();
        if counted != Some((true, true)) {
            let how = match counted {
                None => "not counted at all".to_string(),
                Some((m, md)) => format!("mapping counted: {m}, model counted: {md}"),
            };
            let detail = format!("failed attempt on {} left out of uptime ({how}) though nothing on that provider and region recovered it", cx.key(a.credential));
            cx.fail(
                Invariant::NoHiddenFailures,
                Some(request),
                Some(a.id),
                detail,
            );
        }
    }
}

/// The gateway scored a request's provider × region: failed iff no attempt there
/// succeeded and one failed (a request-invalid answer is neither).
pub(super) fn provider_scored(
    cx: &mut Ctx<'_, '_>,
    request: RequestId,
    provider: ProviderId,
    region: RegionId,
    failed: bool,
) {
    let Some(open) = cx.ledger.requests.get(&request) else {
        return;
    };
    let (mut succeeded, mut any_failed) = (false, false);
    for (a, cause) in cx.ledger.answers(&open.attempts) {
        if a.provider == provider && a.region == region {
            succeeded |= cause == Cause::Ok;
            any_failed |= cause != Cause::Ok && cause != Cause::RequestInvalid;
        }
    }
    let expected = !succeeded && any_failed;
    if failed != expected {
        let detail = format!(
            "{} scored {} but {}",
            cx.place(provider, region),
            if failed { "failed" } else { "ok" },
            if succeeded {
                "an attempt there succeeded"
            } else {
                "no attempt there succeeded"
            }
        );
        cx.fail(Invariant::ProviderScoreHonest, Some(request), None, detail);
    }
}

/// Every credential that failed authentication reports uptime 0 in every scope.
pub(super) fn final_state(cx: &mut Ctx<'_, '_>, state: &FinalState) {
    scores(cx, state);
    uptimes(cx, state);
    for ((k, s), uptime) in &state.key_uptime_bp {
        if cx.ledger.model.blacklisted(*k) && *uptime != 0 {
            let detail = format!(
                "blacklisted {} reports uptime {}.{:02}% for {}",
                cx.key(*k),
                uptime / 100,
                uptime % 100,
                cx.world_scope(*s)
            );
            cx.fail(Invariant::BlacklistUptimeZero, None, None, detail);
        }
    }
}

/// The provider scores the gateway reports are the checker's own count of every request's
/// verdict per place.
fn scores(cx: &mut Ctx<'_, '_>, state: &FinalState) {
    let mine = &cx.ledger.scores;
    let places: BTreeSet<&(ProviderId, RegionId)> =
        mine.keys().chain(state.provider_scores.keys()).collect();
    for place in places {
        let expected = mine.get(place).copied().unwrap_or_default();
        let reported = state
            .provider_scores
            .get(place)
            .copied()
            .unwrap_or_default();
        if expected != reported {
            let detail = format!(
                "{} reports {} requests, {} failed; the history shows {}, {} failed",
                cx.place(place.0, place.1),
                reported.0,
                reported.1,
                expected.0,
                expected.1
            );
            cx.fail(Invariant::ProviderScoreHonest, None, None, detail);
        }
    }
}

/// The mapping and model uptimes the gateway reports at the end are the checker's own,
/// counted from the history by the contract's window and size (and, past the cap, with the
/// least recently written history forgotten).
fn uptimes(cx: &mut Ctx<'_, '_>, state: &FinalState) {
    let model = &cx.ledger.model;
    let t = cx.now;
    let mut wrong = Vec::new();
    for (&(p, r, s), &reported) in &state.mapping_uptime_bp {
        let expected = model.mapping_uptime(p, r, s, t);
        if reported != expected {
            let what = format!("{} {}", cx.place(p, r), cx.world_scope(s));
            wrong.push((what, reported, expected));
        }
    }
    for (&s, &reported) in &state.model_uptime_bp {
        let expected = model.model_uptime(s, t);
        if reported != expected {
            wrong.push((format!("model {}", cx.world_scope(s)), reported, expected));
        }
    }
    for (what, reported, expected) in wrong {
        let detail = format!(
            "{what} reports uptime {} at the end; the history shows {}",
            pct(reported),
            pct(expected)
        );
        cx.fail(Invariant::NoHiddenFailures, None, None, detail);
    }
}

/// Basis points as a percentage with two decimals.
fn pct(bp: u32) -> String {
    format!("{}.{:02}%", bp / 100, bp % 100)
}
