//! Invariants: attribution, bounded-state, deterministic.
//!
//! The gateway's own records: they name the credential whose token was sent, belong to
//! an open request, stay within the entry cap, and are the same for the same world and
//! seed.

use super::ledger::Open;
use super::{Ctx, Invariant, Violation};
use crate::engine::{FinalState, Run};
use gatesim_core::{Attempt, AttemptId, ClientResponse, Instant, KeyId, RequestId};

/// Compares two runs of the same world and seed: their traces must be byte-identical.
pub fn check_determinism(first: &Run, second: &Run) -> Option<Violation> {
    // Equal records with equal names render to equal text, so the hashes (a full render of
    // each trace) are only needed when the records differ somewhere.
    if first.trace == second.trace && first.names == second.names {
        return None;
    }
    let (a, b) = (
        first.trace.hash(&first.names),
        second.trace.hash(&second.names),
    );
    if a == b && first.trace.entries.len() == second.trace.entries.len() {
        return None;
    }
    let diverge = first
        .trace
        .entries
        .iter()
        .zip(&second.trace.entries)
        .position(|(x, y)| x != y);
    let at = diverge.map_or(Instant::ZERO, |i| first.trace.entries[i].at);
    Some(Violation {
        invariant: Invariant::Deterministic,
        at,
        request: None,
        attempt: None,
        detail: format!("same world and seed gave different traces (hash {a:016x} vs {b:016x}, first difference at record {diverge:?})"),
    })
}

/// An attempt was dispatched for a request that is not open.
pub(super) fn dispatched_unopened(cx: &mut Ctx<'_, '_>, a: &Attempt) {
    let detail = "attempt for a request that is not open (never arrived or already answered)";
    cx.fail(
        Invariant::Attribution,
        Some(a.request),
        Some(a.id),
        detail.into(),
    );
}

/// The gateway recorded `what` on `credential` because of `attempt`: the attempt sent it.
pub(super) fn attributed(cx: &mut Ctx<'_, '_>, credential: KeyId, attempt: AttemptId, what: &str) {
    if cx.world.catalog.credential(credential).source == gatesim_core::Source::Byok {
        // A user's own key is not the pool's to mark (aibridge's BYOK marks are no-ops).
        let detail = format!(
            "{what} recorded on {}, a user's own key",
            cx.key(credential)
        );
        let request = cx.ledger.attempts.get(&attempt).map(|(a, _)| a.request);
        cx.fail(Invariant::Attribution, request, Some(attempt), detail);
    }
    let Some((a, _)) = cx.ledger.attempts.get(&attempt) else {
        return;
    };
    if a.credential != credential {
        let detail = format!(
            "{what} recorded on {} but attempt sent {}",
            cx.key(credential),
            cx.key(a.credential)
        );
        cx.fail(
            Invariant::Attribution,
            Some(a.request),
            Some(attempt),
            detail,
        );
    }
}

/// The open request was answered: the credential hint names the last answered attempt's.
pub(super) fn responded(
    cx: &mut Ctx<'_, '_>,
    request: RequestId,
    open: &Open,
    response: &ClientResponse,
) {
    let Some((last, _)) = cx.ledger.answers(&open.attempts).last() else {
        return;
    };
    if response.hint_key != Some(last.credential) {
        let detail = format!(
            "credential hint names {} but the final answer came from {}",
            response.hint_key.map_or("nobody", |k| cx.key(k)),
            cx.key(last.credential)
        );
        cx.fail(Invariant::Attribution, Some(request), Some(last.id), detail);
    }
}

/// The gateway tracks `entries` health entries.
pub(super) fn tracked(cx: &mut Ctx<'_, '_>, entries: usize) {
    let cap = cx.world.contract.scopes_max as usize;
    if entries > cap {
        let detail = format!("{entries} health entries tracked, over the cap of {cap}");
        cx.fail(Invariant::BoundedState, None, None, detail);
    }
}

/// The most entries the gateway reports having tracked stays within the cap (reported
/// only when no single count in the trace was over it already).
pub(super) fn final_state(cx: &mut Ctx<'_, '_>, state: &FinalState) {
    let cap = cx.world.contract.scopes_max;
    // The count is a claim too: every (credential, model) a pool credential served keeps
    // its own uptime entry, so the gateway tracked at least that many, up to the cap.
    let floor = cx.ledger.served.len().min(cap as usize);
    if state.tracked_entries_max < floor {
        let detail = format!(
            "reports at most {} health entries, but {floor} (credential, model) pairs served requests and each keeps its uptime",
            state.tracked_entries_max
        );
        cx.fail(Invariant::BoundedState, None, None, detail);
    }
    if state.tracked_entries_max > cap as usize && !cx.broken(Invariant::BoundedState) {
        let detail = format!(
            "up to {} health entries tracked, cap {cap}",
            state.tracked_entries_max
        );
        cx.fail(Invariant::BoundedState, None, None, detail);
    }
}
