//! What an upstream answer writes into key health: one function per answer class, each
//! writing the scopes [`scopes::writes`] names and emitting what it changed.

use super::flights::InFlight;
use super::outputs::Outputs;
use super::routes::Route;
use super::scopes::{self, Writes};
use crate::catalog::{Catalog, Source};
use crate::classify::Class;
use crate::event::{Event, RequestKind};
use crate::health::{Entry, Health, Written};
use crate::id::{AttemptId, KeyId, Scope};
use crate::policy::{
    AuthFailure, CooldownMerge, Policy, RateLimitBackoff, Regression, UnhealthyRule,
};
use crate::time::{Duration, Instant};

/// The bound on tracked health entries, unless `UnboundedScopes` lifts it.
#[inline]
pub(super) fn cap(policy: &Policy) -> Option<usize> {
    (!policy.has(Regression::UnboundedScopes)).then_some(policy.scopes_max as usize)
}

/// Records the answer of class `class` to `flight` (on `route`) against the credential it
/// is attributed to.
///
/// A user's own key is not the pool's: it is never marked (aibridge's BYOK resolver marks
/// are no-ops), so its next request still makes its one attempt. A request-invalid answer
/// says nothing about the key.
#[inline]
pub(super) fn record(
    health: &mut Health,
    (catalog, policy): (&Catalog, &Policy),
    out: &mut Outputs,
    now: Instant,
    flight: &InFlight,
    route: &Route,
    class: Class,
) {
    let key = flight.health_key(policy);
    if catalog.credential(key).source == Source::Byok || class == Class::RequestInvalid {
        return;
    }
    let mut w = Writer {
        health,
        policy,
        out,
        now,
        key,
        attempt: flight.id,
        cap: cap(policy),
        at: scopes::writes(policy, route, flight.region, flight.request),
    };
    match class {
        Class::RequestInvalid => {}
        Class::Success if flight.kind == RequestKind::CountTokens => {
            if policy.has(Regression::CountSuccessResumes) {
                w.count_tokens_success();
            }
        }
        Class::Auth => w.auth(),
        Class::ModelUnsupported => w.model_unsupported(),
        Class::RateLimited { .. } if policy.rate_limit_backoff == RateLimitBackoff::AsError => {
            w.transient();
        }
        Class::RateLimited { retry_after } => w.rate_limited(retry_after),
        Class::Transient | Class::Network | Class::Timeout | Class::StreamInterrupted => {
            w.transient();
        }
        Class::Success => w.success(route.alias_scope.is_some()),
    }
}

/// One answer's writes: the health table, the scopes and the event log.
struct Writer<'a> {
    health: &'a mut Health,
    policy: &'a Policy,
    out: &'a mut Outputs,
    now: Instant,
    key: KeyId,
    attempt: AttemptId,
    cap: Option<usize>,
    at: Writes,
}

impl Writer<'_> {
    /// Changes the entry of (key, `scope`) and records an eviction it caused.
    #[inline]
    fn write<R>(&mut self, scope: Scope, change: impl FnOnce(&mut Entry) -> R) -> R {
        let (result, w) = self
            .health
            .write(self.now, self.key, scope, self.cap, change);
        self.evicted(w);
        result
    }

    #[inline]
    fn evicted(&mut self, w: Written) {
        if let Some((credential, scope)) = w.evicted {
            self.out.emit(Event::Evicted { credential, scope });
        }
    }

    /// An outcome in the (credential, scope) history.
    #[inline]
    fn outcome(policy: &Policy, now: Instant, e: &mut Entry, ok: bool) {
        e.history
            .push(now, ok, policy.history_window, policy.history_entries_max);
    }

    /// `CountSuccessResumes`: a token count's success lifts every mark on the path.
    #[cold]
    fn count_tokens_success(&mut self) {
        for scope in [self.at.model, self.at.errors, self.at.suspension] {
            self.write(scope, |e| {
                e.cooling_until = Instant::ZERO;
                e.unhealthy_until = Instant::ZERO;
                e.suspended_until = Instant::ZERO;
                e.errors_consecutive = 0;
            });
            self.out.emit(Event::Resumed {
                credential: self.key,
                scope,
                attempt: self.attempt,
            });
        }
    }

    /// Failed authentication, by the policy's `auth_failure`: a blacklist for every scope
    /// (or, with a knob, for the model scope only), or a rest of the credential or of its
    /// (credential, model).
    fn auth(&mut self) {
        match self.policy.auth_failure {
            AuthFailure::Blacklist => self.blacklist(),
            AuthFailure::Cooldown(d) => {
                let until = self.health.rest(self.key, self.now + d);
                let (policy, now) = (self.policy, self.now);
                self.write(self.at.model, |e| Self::outcome(policy, now, e, false));
                self.out.emit(Event::CooledDown {
                    credential: self.key,
                    scope: Scope::UNSCOPED,
                    until,
                    attempt: self.attempt,
                });
            }
            AuthFailure::ModelCooldown(d) => self.cool(Some(d), false),
        }
    }

    /// The blacklist of [`auth`](Self::auth).
    fn blacklist(&mut self) {
        let (policy, now, model) = (self.policy, self.now, self.at.model);
        let scoped = policy.has(Regression::ScopedAuthBlacklist)
            || policy.has(Regression::UnscopedHealthWrites);
        if !scoped {
            self.health.blacklist(self.key);
        }
        self.write(model, |e| {
            e.blacklisted |= scoped;
            Self::outcome(policy, now, e, false);
        });
        debug_assert!(
            scoped || self.health.is_blacklisted(self.key, &[]),
            "an auth failure blacklists the key everywhere"
        );
        self.out.emit(Event::Blacklisted {
            credential: self.key,
            scope: scoped.then_some(model),
            attempt: self.attempt,
        });
    }

    /// The model is not served with this key: the (key, upstream model) path is suspended.
    fn model_unsupported(&mut self) {
        let (policy, now, scope) = (self.policy, self.now, self.at.suspension);
        let until = self.write(scope, |e| {
            let before = e.suspended_until;
            e.suspended_until = e.suspended_until.max(now + policy.suspension_for);
            debug_assert!(e.suspended_until >= before, "a suspension never shrinks");
            e.suspended_until
        });
        self.out.emit(Event::Suspended {
            credential: self.key,
            scope,
            until,
            attempt: self.attempt,
        });
        self.write(self.at.model, |e| Self::outcome(policy, now, e, false));
    }

    /// Rate-limited: the key cools down for the (capped) hint, or without one by the
    /// policy's `rate_limit_backoff`.
    fn rate_limited(&mut self, retry_after: Option<Duration>) {
        self.cool(retry_after, true);
    }

    /// Cools (key, transient scope) for `hint` (capped), or by the backoff when there is
    /// none, merging with a cooldown in force by [`Policy::merge`]: the later end wins
    /// unless `overwrite` or `keep_first` (or their knobs) say otherwise. `escalates`: a
    /// missing hint may raise the backoff level (a 429's, not an auth rest's).
    fn cool(&mut self, hint: Option<Duration>, escalates: bool) {
        let (policy, now, scope) = (self.policy, self.now, self.at.transient);
        let merge = policy.merge();
        let until = self.write(scope, |e| {
            let before = e.cooling_until;
            let in_force = e.cooling_until > now;
            let hint = match (hint, policy.rate_limit_backoff) {
                (Some(h), _) => h,
                (None, RateLimitBackoff::Exponential { base, cap }) if escalates => {
                    // Once per window: a 429 inside an open cooldown reuses its level.
                    if !in_force || e.backoff_level == 0 {
                        e.backoff_level = e.backoff_level.saturating_add(1);
                    }
                    base.doubled(u32::from(e.backoff_level - 1)).min(cap)
                }
                (None, _) => policy.retry_after_default,
            }
            .min(policy.hint_cap());
            let proposed = now + hint;
            e.cooling_until = match merge {
                CooldownMerge::Overwrite => proposed,
                CooldownMerge::KeepFirst if in_force => e.cooling_until,
                CooldownMerge::KeepFirst | CooldownMerge::Max => e.cooling_until.max(proposed),
            };
            debug_assert!(
                merge == CooldownMerge::Overwrite || e.cooling_until >= before,
                "a cooldown never shrinks"
            );
            Self::outcome(policy, now, e, false);
            e.cooling_until
        });
        self.out.emit(Event::CooledDown {
            credential: self.key,
            scope,
            until,
            attempt: self.attempt,
        });
    }

    /// A transient failure: a failed outcome, and one more consecutive error on the path
    /// in its region, which turns unhealthy at the threshold.
    fn transient(&mut self) {
        let (policy, now, scope) = (self.policy, self.now, self.at.errors);
        let counts = self.write(self.at.model, |e| {
            Self::outcome(policy, now, e, false);
            e.history.counts(now, policy.history_window)
        });
        let over = match policy.unhealthy_rule {
            UnhealthyRule::Consecutive => None,
            UnhealthyRule::ErrorRatio {
                above_bp,
                min_requests,
            } => {
                let (total, ok) = counts;
                let failed = u64::from(total - ok) * 10_000;
                Some(total >= min_requests && failed > u64::from(above_bp) * u64::from(total))
            }
        };
        let unhealthy = self.write(scope, |e| {
            e.errors_consecutive += 1;
            if over.unwrap_or(e.errors_consecutive >= policy.errors_consecutive_max) {
                let before = e.unhealthy_until;
                e.errors_consecutive = 0;
                e.unhealthy_until = e.unhealthy_until.max(now + policy.unhealthy_for);
                debug_assert!(
                    e.unhealthy_until >= before,
                    "an unhealthy mark never shrinks"
                );
                Some(e.unhealthy_until)
            } else {
                None
            }
        });
        if let Some(until) = unhealthy {
            self.out.emit(Event::MarkedUnhealthy {
                credential: self.key,
                scope,
                until,
                attempt: self.attempt,
            });
        }
    }

    /// A success: a good outcome, and the consecutive-error count of its region reset.
    fn success(&mut self, via_alias: bool) {
        let (policy, now, errors) = (self.policy, self.now, self.at.errors);
        self.write(self.at.model, |e| {
            e.errors_consecutive = 0;
            e.backoff_level = 0;
            Self::outcome(policy, now, e, true);
        });
        // No entry is created when there is nothing to reset.
        if self
            .health
            .entry(self.key, errors)
            .is_some_and(|e| e.errors_consecutive > 0)
        {
            self.write(errors, |e| e.errors_consecutive = 0);
        }
        if via_alias && policy.has(Regression::SuspendAliasNotUpstream) {
            self.lift_alias_suspension();
        }
    }

    /// The production bug behind `SuspendAliasNotUpstream`: a sibling upstream's success
    /// lifts the alias-wide suspension.
    #[cold]
    fn lift_alias_suspension(&mut self) {
        let (now, scope) = (self.now, self.at.suspension);
        let was = self.write(scope, |e| {
            let was = e.suspended_until > now;
            e.suspended_until = Instant::ZERO;
            was
        });
        if was {
            self.out.emit(Event::Resumed {
                credential: self.key,
                scope,
                attempt: self.attempt,
            });
        }
    }
}
