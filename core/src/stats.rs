//! Uptime statistics: per-request attempt logs folded into mapping and model histories
//! with the recovered-retry rule, and provider scores.

use crate::bounded::BoundedMap;
use crate::classify::Class;
use crate::event::Event;
use crate::health::History;
use crate::id::{AttemptId, KeyId, ProviderId, RegionId, RequestId, Scope};
use crate::policy::{Policy, Regression};
use crate::time::Instant;
use std::collections::BTreeMap;

/// One finished attempt of a request, as the statistics see it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AttemptRecord {
    /// Attempt.
    pub attempt: AttemptId,
    /// Agentic iteration.
    pub iteration: u32,
    /// Provider.
    pub provider: ProviderId,
    /// Region.
    pub region: RegionId,
    /// Model scope.
    pub scope: Scope,
    /// Credential sent.
    pub credential: KeyId,
    /// Classified outcome.
    pub class: Class,
}

/// Provider-level score of a (provider, region).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Score {
    /// Requests that attempted it.
    pub requests: u64,
    /// Requests where it was recorded as failed.
    pub failed: u64,
}

/// Uptime histories and provider scores.
#[derive(Clone, Debug, Default)]
pub struct Stats {
    mapping: BoundedMap<(ProviderId, RegionId, Scope), History>,
    model: BoundedMap<Scope, History>,
    scores: BTreeMap<(ProviderId, RegionId), Score>,
}

impl Stats {
    /// Uptime of a (provider, region, model) mapping, in basis points (10 000 with no data).
    pub fn mapping_uptime_bp(
        &self,
        provider: ProviderId,
        region: RegionId,
        scope: Scope,
        now: Instant,
        policy: &Policy,
    ) -> u32 {
        self.mapping
            .get(&(provider, region, scope))
            .map_or(10_000, |h| h.uptime_bp(now, policy.history_window))
    }

    /// Uptime of a model across every mapping, in basis points.
    pub fn model_uptime_bp(&self, scope: Scope, now: Instant, policy: &Policy) -> u32 {
        self.model
            .get(&scope)
            .map_or(10_000, |h| h.uptime_bp(now, policy.history_window))
    }

    /// Provider scores, in (provider, region) order.
    pub fn scores(&self) -> impl Iterator<Item = (&(ProviderId, RegionId), &Score)> {
        self.scores.iter()
    }

    /// Tracked histories (mapping + model).
    pub fn tracked_entries(&self) -> usize {
        self.mapping.len() + self.model.len()
    }

    /// Folds a finished request's attempts into the histories and scores.
    ///
    /// A failed attempt is left out only if a later attempt of the same request and
    /// iteration on the same provider and region succeeded; client errors
    /// (request-invalid) never count. Pushes `Counted` and `ProviderScored` events.
    pub fn record_request(
        &mut self,
        request: RequestId,
        log: &[AttemptRecord],
        now: Instant,
        policy: &Policy,
        events: &mut Vec<Event>,
    ) {
        let cap = (!policy.has(Regression::UnboundedScopes)).then_some(policy.scopes_max as usize);
        for (i, a) in log.iter().enumerate() {
            if !a.class.is_upstream_failure() && a.class != Class::Success {
                continue;
            }
            let ok = a.class == Class::Success;
            let later = &log[i + 1..];
            let same_place = |b: &&AttemptRecord| {
                b.iteration == a.iteration && b.provider == a.provider && b.region == a.region
            };
            let recovered_here = later
                .iter()
                .filter(same_place)
                .any(|b| b.class == Class::Success);
            let (mapping, model) = if ok {
                (true, true)
            } else {
                let mapping_excluded = if policy.has(Regression::ExcludeUnsuccessfulRetries) {
                    later.iter().any(|b| same_place(&b))
                } else {
                    recovered_here
                };
                let model_excluded = if policy.has(Regression::ModelHistoryIgnoresRegion) {
                    later
                        .iter()
                        .any(|b| b.iteration == a.iteration && b.class == Class::Success)
                } else {
                    mapping_excluded
                };
                (!mapping_excluded, !model_excluded)
            };
            if mapping {
                let (h, _) = self.mapping.write(
                    (a.provider, a.region, a.scope),
                    cap,
                    History::default,
                    |_| true,
                    |_| false,
                );
                h.push(now, ok, policy.history_window, policy.history_entries_max);
            }
            if model {
                let (h, _) = self
                    .model
                    .write(a.scope, cap, History::default, |_| true, |_| false);
                h.push(now, ok, policy.history_window, policy.history_entries_max);
            }
            events.push(Event::Counted {
                attempt: a.attempt,
                mapping,
                model,
                ok,
            });
        }
        self.score(request, log, policy, events);
    }

    fn score(
        &mut self,
        request: RequestId,
        log: &[AttemptRecord],
        policy: &Policy,
        events: &mut Vec<Event>,
    ) {
        // Distinct places in order; a request rarely visits more than a few, so they are
        // sorted on the stack (a heap vector only for very long logs).
        let mut inline = [(ProviderId(0), RegionId(0)); 8];
        let mut heap = Vec::new();
        let places: &mut [(ProviderId, RegionId)] = if log.len() <= inline.len() {
            for (slot, a) in inline.iter_mut().zip(log) {
                *slot = (a.provider, a.region);
            }
            &mut inline[..log.len()]
        } else {
            heap.extend(log.iter().map(|a| (a.provider, a.region)));
            &mut heap
        };
        places.sort_unstable();
        let mut previous = None;
        for &(provider, region) in places.iter() {
            if previous == Some((provider, region)) {
                continue;
            }
            previous = Some((provider, region));
            let here = || {
                log.iter()
                    .filter(|a| a.provider == provider && a.region == region)
            };
            let failed = if policy.has(Regression::ProviderFailedOnKeyRetry) {
                here().any(|a| a.class.is_upstream_failure())
            } else {
                !here().any(|a| a.class == Class::Success)
                    && here().any(|a| a.class.is_upstream_failure())
            };
            let score = self.scores.entry((provider, region)).or_default();
            score.requests += 1;
            score.failed += u64::from(failed);
            events.push(Event::ProviderScored {
                request,
                provider,
                region,
                failed,
            });
        }
    }
}
