//! Invariants: no-hidden-failures, provider-score-honest, blacklist-uptime-zero.
//!
//! What the gateway counts: every failure in uptime unless the same place recovered it,
//! provider scores that match what happened there, no uptime for a dead credential.

use super::ledger::{recovered, Open};
use super::{Ctx, Invariant};
use crate::engine::FinalState;
use crate::provider::Cause;
use gatesim_core::{ProviderId, RegionId, RequestId};

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
