//! The checker's only mutable state besides the violations it reports: what the pass has
//! accumulated from the trace so far.
//!
//! The families judge each record against the ledger as it stood before the record (they
//! get it read-only); the pass then writes the record into the ledger. Nothing here
//! judges anything.

use super::model::Model;
use crate::contract::Terms;
use crate::provider::Cause;
use crate::trace::Arrival;
use gatesim_core::{
    Attempt, AttemptId, Duration, Instant, KeyId, ProviderId, RegionId, RequestId, Scope,
};
use std::collections::{BTreeMap, BTreeSet};

/// What the pass knows of one open request (arrived, not yet answered).
#[derive(Debug)]
pub(super) struct Open {
    pub arrival: Arrival,
    pub arrived_at: Instant,
    /// Its attempts, in dispatch order.
    pub attempts: Vec<AttemptId>,
    /// The next dispatch starts a fresh walk (new request, iteration or wait round).
    pub walk_start: bool,
    /// (provider, region, scope, credential) attempted in the current walk.
    pub walk_tried: Vec<(ProviderId, RegionId, Scope, KeyId)>,
    pub iteration: u32,
    /// Places (provider × region) opened, per iteration.
    pub places: BTreeMap<u32, BTreeSet<(ProviderId, RegionId)>>,
    pub waited: bool,
    /// Wait rounds taken in the current iteration, and the time the request waited in all.
    pub wait_rounds: u32,
    pub waited_for: gatesim_core::Duration,
    pub first_byte_sent: bool,
    /// When it arrived or its latest attempt was answered, while no later attempt is out: a black-box
    /// harness sees a wait round only as this quiet time (`check_outside`).
    pub quiet_since: Option<Instant>,
    pub first_outcome_invalid: Option<u16>,
    pub answered_any: bool,
    /// A surely-good eligible pair at arrival (see `liveness::surely_good`), named.
    pub good_at_start: Option<String>,
    /// Per attempt: counted in the mapping history, counted in the model history.
    pub counted: BTreeMap<AttemptId, (bool, bool)>,
}

impl Open {
    /// The ledger's own consistency for one request (debug builds).
    fn consistent(&self, attempts: &BTreeMap<AttemptId, (Attempt, Option<Cause>)>) -> bool {
        // A fresh walk has tried nothing; a walk under way has tried what it dispatched.
        self.walk_start == self.walk_tried.is_empty()
            && self.first_outcome_invalid.is_none_or(|_| self.answered_any)
            && (!self.first_byte_sent || self.answered_any)
            && self.places.values().map(BTreeSet::len).sum::<usize>() <= self.attempts.len()
            && (self.attempts.is_empty() || self.places.contains_key(&self.iteration))
            && self.attempts.iter().all(|id| attempts.contains_key(id))
    }
}

/// Everything the pass accumulates.
pub(super) struct Ledger<'w> {
    /// Reference health and mapping uptime, rebuilt from ground truth.
    pub model: Model<'w>,
    /// Open requests.
    pub requests: BTreeMap<RequestId, Open>,
    /// Every dispatched attempt of an open request, with its ground-truth cause once answered.
    pub attempts: BTreeMap<AttemptId, (Attempt, Option<Cause>)>,
    /// The latest cooldown end the gateway reported per (credential, scope).
    pub cooldown_seen: BTreeMap<(KeyId, Scope), Instant>,
    /// Provider scores by the checker's own count: (requests, failed) per place.
    pub scores: BTreeMap<(ProviderId, RegionId), (u64, u64)>,
    /// (credential, model) pairs a pool credential served a chat for: each keeps its own
    /// uptime, so the gateway tracks at least this many entries (up to the cap).
    pub served: BTreeSet<(KeyId, Scope)>,
}

impl<'w> Ledger<'w> {
    pub(super) fn new(world: Terms<'w>) -> Ledger<'w> {
        Ledger {
            model: Model::new(world),
            requests: BTreeMap::new(),
            attempts: BTreeMap::new(),
            cooldown_seen: BTreeMap::new(),
            scores: BTreeMap::new(),
            served: BTreeSet::new(),
        }
    }

    /// A request arrived at `now`.
    pub(super) fn arrive(&mut self, a: &Arrival, now: Instant, good_at_start: Option<String>) {
        self.requests.insert(
            a.request,
            Open {
                arrival: a.clone(),
                arrived_at: now,
                attempts: Vec::new(),
                walk_start: true,
                walk_tried: Vec::new(),
                iteration: 1,
                places: BTreeMap::new(),
                waited: false,
                wait_rounds: 0,
                waited_for: gatesim_core::Duration::ZERO,
                quiet_since: Some(now),
                first_byte_sent: false,
                first_outcome_invalid: None,
                answered_any: false,
                good_at_start,
                counted: BTreeMap::new(),
            },
        );
    }

    /// An attempt was dispatched (ignored when its request is not open).
    pub(super) fn dispatch(&mut self, a: &Attempt) {
        let Some(info) = self.requests.get_mut(&a.request) else {
            return;
        };
        if a.iteration != info.iteration {
            info.iteration = a.iteration;
        }
        info.walk_start = false;
        info.walk_tried
            .push((a.provider, a.region, a.scope, a.credential));
        info.attempts.push(a.id);
        info.places
            .entry(a.iteration)
            .or_default()
            .insert((a.provider, a.region));
        self.attempts.insert(a.id, (a.clone(), None));
        debug_assert!(info.consistent(&self.attempts), "ledger after dispatch");
    }

    /// An attempt was answered at `now` with `status`, for the reason `cause`.
    pub(super) fn answer(&mut self, attempt: AttemptId, status: u16, cause: Cause, now: Instant) {
        let Some((a, slot)) = self.attempts.get_mut(&attempt) else {
            return;
        };
        *slot = Some(cause);
        let count_tokens = a.kind == gatesim_core::RequestKind::CountTokens;
        self.model.observe(a, cause, now, count_tokens);
        let Some(info) = self.requests.get_mut(&a.request) else {
            return;
        };
        if !info.answered_any && cause == Cause::RequestInvalid {
            // The status as answered: a scripted request-invalid answer may be any 4xx.
            info.first_outcome_invalid = Some(status);
        }
        info.answered_any = true;
        info.quiet_since = Some(now);
        if cause == Cause::StreamBreakAfter {
            info.first_byte_sent = true;
        }
        if cause == Cause::Ok && a.iteration >= info.iteration {
            // The next attempt, if any, starts the next iteration's fresh walk, with wait
            // rounds of its own (the total wait is the request's).
            info.walk_start = true;
            info.walk_tried.clear();
            info.wait_rounds = 0;
        }
        debug_assert!(info.consistent(&self.attempts), "ledger after answer");
    }

    /// The gateway reported a cooldown end: remember the latest.
    pub(super) fn cooled_down(&mut self, credential: KeyId, scope: Scope, until: Instant) {
        let v = self
            .cooldown_seen
            .entry((credential, scope))
            .or_insert(until);
        *v = (*v).max(until);
    }

    /// The gateway evicted a health entry to stay within `scopes_max`: the bound is part of
    /// what it promises, so what it forgot is forgotten here too. Evictions happen only at
    /// the cap (`bounded-state` judges the counts), and under a cap full of live blocks the
    /// oldest unpinned entry goes (swarm `standard` seed 348: a 12-hour suspension evicted
    /// after its fault had ended, then the credential sent again, harmlessly).
    pub(super) fn evicted(&mut self, credential: KeyId, scope: Scope) {
        self.cooldown_seen.remove(&(credential, scope));
        self.model.forget(credential, scope);
    }

    /// A request waits from `now` until `until` for a cooldown: its next dispatch starts
    /// a fresh walk.
    pub(super) fn waiting(&mut self, request: RequestId, now: Instant, until: Instant) {
        if let Some(info) = self.requests.get_mut(&request) {
            info.waited = true;
            info.wait_rounds += 1;
            info.waited_for = info.waited_for + until.saturating_since(now);
            info.walk_start = true;
            info.walk_tried.clear();
            debug_assert!(info.consistent(&self.attempts), "ledger after waiting");
        }
    }

    /// Outside, the quiet time since the request arrived or its latest answer, ended at
    /// `now`, is a wait. Rounds that end with no attempt (every candidate still cooling)
    /// leave no trace on the wire: one quiet period may hide any number of them, so it
    /// counts as all `rounds_max` the contract allows. Outside, `waits-for-cooldown` can
    /// then fault only a request that failed without waiting at all.
    pub(super) fn quiet_wait(
        &mut self,
        request: RequestId,
        now: Instant,
        slack: Duration,
        rounds_max: u32,
    ) {
        let Some(info) = self.requests.get_mut(&request) else {
            return;
        };
        // On a wall clock a pause up to `slack` is the gateway's own latency.
        let Some(since) = info
            .quiet_since
            .take()
            .filter(|&since| now.saturating_since(since) > slack)
        else {
            return;
        };
        self.waiting(request, since, now);
        if let Some(info) = self.requests.get_mut(&request) {
            info.wait_rounds = info.wait_rounds.max(rounds_max);
        }
    }

    /// The gateway counted (or left out) an attempt in uptime history.
    pub(super) fn counted(&mut self, attempt: AttemptId, mapping: bool, model: bool) {
        if let Some((a, _)) = self.attempts.get(&attempt) {
            if let Some(info) = self.requests.get_mut(&a.request) {
                info.counted.insert(attempt, (mapping, model));
            }
        }
    }

    /// A request was answered at `now`: it closes, and its attempts enter the checker's own
    /// mapping histories (a failure only when nothing recovered it: `no-hidden-failures`).
    pub(super) fn close(&mut self, request: RequestId, now: Instant) {
        let Some(info) = self.requests.remove(&request) else {
            return;
        };
        debug_assert!(info.consistent(&self.attempts), "ledger at close");
        self.score(&info);
        for (i, id) in info.attempts.iter().enumerate() {
            let Some((a, Some(cause))) = self.attempts.get(id) else {
                continue;
            };
            if *cause == Cause::RequestInvalid {
                continue;
            }
            let ok = *cause == Cause::Ok;
            if ok || !recovered(&self.attempts, &info.attempts[i + 1..], a) {
                self.model.record_uptime(a, ok, now);
            }
        }
    }

    /// Scores every place a closed request's answered attempts visited: failed when none
    /// there succeeded and one failed (a request-invalid answer is neither); and notes
    /// the (credential, model) pairs it was served by.
    fn score(&mut self, info: &Open) {
        let mut places: BTreeMap<(ProviderId, RegionId), (bool, bool)> = BTreeMap::new();
        let mut served = Vec::new();
        for (a, cause) in self.answers(&info.attempts) {
            let (ok, failed) = places.entry((a.provider, a.region)).or_default();
            *ok |= cause == Cause::Ok;
            *failed |= cause != Cause::Ok && cause != Cause::RequestInvalid;
            let pool = info.arrival.byok.is_none();
            let chat = a.kind != gatesim_core::RequestKind::CountTokens;
            if cause == Cause::Ok && pool && chat {
                served.push((a.credential, a.scope));
            }
        }
        self.served.extend(served);
        for (place, (ok, failed)) in places {
            let s = self.scores.entry(place).or_default();
            s.0 += 1;
            s.1 += u64::from(!ok && failed);
        }
    }

    /// A request's answered attempts in dispatch order, with their ground-truth causes.
    pub(super) fn answers<'a>(
        &'a self,
        ids: &'a [AttemptId],
    ) -> impl Iterator<Item = (&'a Attempt, Cause)> + 'a {
        ids.iter()
            .filter_map(|id| self.attempts.get(id))
            .filter_map(|(a, c)| c.map(|c| (a, c)))
    }
}

/// Whether one of the `later` attempts of the same request succeeded in the same iteration
/// on the same provider and region as `a`: then `a` failing is not a failure of that place.
pub(super) fn recovered(
    attempts: &BTreeMap<AttemptId, (Attempt, Option<Cause>)>,
    later: &[AttemptId],
    a: &Attempt,
) -> bool {
    later
        .iter()
        .filter_map(|id| attempts.get(id))
        .any(|(b, c)| {
            *c == Some(Cause::Ok)
                && b.iteration == a.iteration
                && b.provider == a.provider
                && b.region == a.region
        })
}
