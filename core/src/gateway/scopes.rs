//! Which health records a route reads and which an answer on it writes, side by side, so
//! that a write lands where the next decision looks (unless a scope regression knob is on).

use super::routes::Route;
use crate::id::{fnv1a, RegionId, RequestId, Scope};
use crate::policy::{Policy, Regression};

/// The health scopes a candidate on `route` in `region` is blocked by: the model scope
/// (rate-limit cooldowns) and the model-in-region scope (consecutive errors), as an array
/// and the number of scopes in use.
#[inline]
pub(super) fn reads(
    policy: &Policy,
    route: &Route,
    region: RegionId,
    request: RequestId,
) -> ([Scope; 3], usize) {
    let scope = model(policy, route, request);
    let regional = regional(route, region, scope);
    if policy.has(Regression::UnscopedTransientHealth) {
        ([scope, regional, Scope::UNSCOPED], 3)
    } else {
        ([scope, regional, regional], 2)
    }
}

/// The scope a model-support suspension is read from and written to.
#[inline]
pub(super) fn suspension(policy: &Policy, route: &Route) -> Scope {
    match route.alias_scope {
        Some(alias) if policy.has(Regression::SuspendAliasNotUpstream) => alias,
        _ => route.upstream_scope(),
    }
}

/// Where an answer on a route is recorded.
#[derive(Clone, Copy, Debug)]
pub(super) struct Writes {
    /// Outcome history, auth marks and success resets.
    pub(super) model: Scope,
    /// Rate-limit cooldowns.
    pub(super) transient: Scope,
    /// Consecutive errors: the path in one region (see `Scope::in_region`).
    pub(super) errors: Scope,
    /// Model-support suspensions.
    pub(super) suspension: Scope,
}

/// The scopes an answer to an attempt on `route` in `region` writes.
///
/// Debug builds check that every one of them is among those [`reads`] and [`suspension`]
/// give for the same candidate, so that a mark is seen by the next decision, unless
/// `UnscopedHealthWrites` (writes that miss the reads on purpose) is on.
#[inline]
pub(super) fn writes(
    policy: &Policy,
    route: &Route,
    region: RegionId,
    request: RequestId,
) -> Writes {
    let unscoped_writes = policy.has(Regression::UnscopedHealthWrites);
    let unscoped_transient = policy.has(Regression::UnscopedTransientHealth);
    let model = if unscoped_writes {
        Scope::UNSCOPED
    } else {
        self::model(policy, route, request)
    };
    let writes = Writes {
        model,
        transient: if unscoped_transient {
            Scope::UNSCOPED
        } else {
            model
        },
        errors: if unscoped_transient || unscoped_writes {
            Scope::UNSCOPED
        } else {
            regional(route, region, model)
        },
        suspension: if unscoped_writes {
            Scope::UNSCOPED
        } else {
            suspension(policy, route)
        },
    };
    debug_assert!(
        unscoped_writes || agree(policy, route, region, request, &writes),
        "health writes land where decisions read: {writes:?}"
    );
    writes
}

/// Whether every scope in `writes` is read for the same candidate.
fn agree(
    policy: &Policy,
    route: &Route,
    region: RegionId,
    request: RequestId,
    writes: &Writes,
) -> bool {
    let (scopes, n) = reads(policy, route, region, request);
    let read = &scopes[..n];
    read.contains(&writes.model)
        && read.contains(&writes.transient)
        && read.contains(&writes.errors)
        && suspension(policy, route) == writes.suspension
}

/// The model health scope of a route (per request under `RequestIdAsScope`).
#[inline]
fn model(policy: &Policy, route: &Route, request: RequestId) -> Scope {
    if policy.has(Regression::RequestIdAsScope) {
        Scope(fnv1a(&request.0.to_le_bytes()) | 1)
    } else {
        route.scope
    }
}

/// `scope` narrowed to `region`, from the route's precomputed scope when they are its own.
#[inline]
fn regional(route: &Route, region: RegionId, scope: Scope) -> Scope {
    if scope == route.scope && region == route.region {
        route.regional_scope()
    } else {
        scope.in_region(region)
    }
}
