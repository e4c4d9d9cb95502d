//! Invariants: auth-blacklist-global, cooldown-respected, cooldown-monotonic,
//! scope-isolation, suspension-sticky, region-lock, endpoint-from-credential.
//!
//! What may be sent with a credential at all: not after an auth failure, not while
//! cooling or suspended, only to its region, only to its own endpoint; and what the
//! gateway may say about a credential's cooldowns.

use super::{cooldown_end, Ctx, Invariant};
use crate::engine::FinalState;
use gatesim_core::{Attempt, AttemptId, Block, Instant, KeyId, RegionId, RequestId, Scope};

/// An attempt was dispatched (`count_tokens`: token counts ignore cooldowns and
/// suspensions).
pub(super) fn dispatched(cx: &mut Ctx<'_, '_>, a: &Attempt, count_tokens: bool) {
    let t = cx.now;
    let cred = cx.world.catalog.credential(a.credential);
    let (r, id) = (Some(a.request), Some(a.id));
    let upstream_scope = Scope::of(&a.upstream);
    let model = &cx.ledger.model;
    if model.blacklisted(a.credential) {
        let detail = format!("{} sent after it failed authentication", cred.name);
        cx.fail(Invariant::AuthBlacklistGlobal, r, id, detail);
    }
    if !count_tokens {
        let cool = model.cooling_until(a.credential, a.scope, a.region);
        if cool > t {
            let detail = format!(
                "{} sent for {} before its cooldown ends at {cool}",
                cred.name, a.upstream
            );
            cx.fail(Invariant::CooldownRespected, r, id, detail);
        }
        let susp = model.suspended_until(a.credential, upstream_scope);
        if susp > t {
            let detail = format!(
                "{} sent for upstream {} while suspended until {susp}",
                cred.name, a.upstream
            );
            cx.fail(Invariant::SuspensionSticky, r, id, detail);
        }
    }
    if cred.provider != a.provider || cred.region.is_some_and(|lock| lock != a.region) {
        let catalog = &cx.world.catalog;
        let detail = format!(
            "{} (locked to {:?}) sent to region {}",
            cred.name,
            cred.region.map(|x| catalog.region_name(x).to_string()),
            catalog.regions[a.region.index()]
        );
        cx.fail(Invariant::RegionLock, r, id, detail);
    }
    if cred.endpoint.as_deref() != a.endpoint.as_deref() {
        let detail = format!(
            "{} sent to endpoint {:?}, its own is {:?}",
            cred.name, a.endpoint, cred.endpoint
        );
        cx.fail(Invariant::EndpointFromCredential, r, id, detail);
    }
}

/// The gateway passed a credential over for a request: a cooldown still in force must
/// come from a failure of that scope (an ended one is `recovers-after-cooldown`).
pub(super) fn skipped(
    cx: &mut Ctx<'_, '_>,
    request: RequestId,
    credential: KeyId,
    scope: Scope,
    region: RegionId,
    block: Block,
) {
    let Some(until) = cooldown_end(block) else {
        return;
    };
    let model = &cx.ledger.model;
    // A block that ended is `recovers-after-cooldown`'s: here, one nothing justified.
    if until > cx.now
        && model.block_end(credential, scope, region).is_none()
        && !model.blacklisted(credential)
    {
        let detail = format!(
            "{} passed over for {} as {block}: no failure of that scope says so",
            cx.key(credential),
            cx.world_scope(scope)
        );
        cx.fail(Invariant::ScopeIsolation, Some(request), None, detail);
    }
}

/// The gateway wrote a cooldown: its end may not move earlier while in force.
pub(super) fn cooled_down(
    cx: &mut Ctx<'_, '_>,
    credential: KeyId,
    scope: Scope,
    until: Instant,
    attempt: AttemptId,
) {
    let Some(prev) = cx.ledger.cooldown_seen.get(&(credential, scope)).copied() else {
        return;
    };
    if until < prev && prev > cx.now {
        let detail = format!(
            "{} cooldown moved earlier: {prev} -> {until}",
            cx.key(credential)
        );
        cx.fail(Invariant::CooldownMonotonic, None, Some(attempt), detail);
    }
}

/// Every credential that failed authentication is reported blacklisted at the end.
pub(super) fn final_state(cx: &mut Ctx<'_, '_>, state: &FinalState) {
    for (k, reported) in state.blacklisted.iter().enumerate() {
        let key = KeyId(k as u32);
        if cx.ledger.model.blacklisted(key) && !reported {
            let detail = format!(
                "{} failed authentication but is not reported blacklisted at the end",
                cx.key(key)
            );
            cx.fail(Invariant::AuthBlacklistGlobal, None, None, detail);
        }
    }
}
