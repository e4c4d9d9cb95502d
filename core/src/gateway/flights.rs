//! Attempts in flight, their deadlines and the cooldown waits: the gateway's timer table.

use super::window::IdWindow;
use crate::event::{Attempt, RequestKind, TimerReason};
use crate::id::{AttemptId, KeyId, ProviderId, RegionId, RequestId, Scope};
use crate::policy::{Policy, Regression};
use crate::time::Instant;
use std::collections::{BTreeSet, VecDeque};

/// What the gateway keeps of an attempt in flight: what handling its answer needs, with
/// the route as an index into the request's routes (no shared strings to count or compare).
#[derive(Clone, Copy, Debug)]
pub(super) struct InFlight {
    pub(super) id: AttemptId,
    pub(super) request: RequestId,
    pub(super) iteration: u32,
    pub(super) provider: ProviderId,
    pub(super) region: RegionId,
    pub(super) scope: Scope,
    pub(super) route: usize,
    pub(super) selected: KeyId,
    pub(super) credential: KeyId,
    pub(super) kind: RequestKind,
    pub(super) deadline: Instant,
}

impl InFlight {
    /// The record of `attempt`, dispatched on route index `route`, due by `deadline`.
    #[inline]
    pub(super) fn of(attempt: &Attempt, route: usize, deadline: Instant) -> InFlight {
        InFlight {
            id: attempt.id,
            request: attempt.request,
            iteration: attempt.iteration,
            provider: attempt.provider,
            region: attempt.region,
            scope: attempt.scope,
            route,
            selected: attempt.selected,
            credential: attempt.credential,
            kind: attempt.kind,
            deadline,
        }
    }

    /// The credential the answer is attributed to in health and stats: the one sent,
    /// unless `AttributeToSelectedKey` puts back the bug of blaming the one selected.
    #[inline]
    pub(super) fn health_key(&self, policy: &Policy) -> KeyId {
        if policy.has(Regression::AttributeToSelectedKey) {
            self.selected
        } else {
            self.credential
        }
    }
}

/// Attempts in flight with their deadlines, and the requests waiting for a cooldown.
#[derive(Clone, Debug, Default)]
pub(super) struct Flights {
    attempts: IdWindow<AttemptId, InFlight>,
    /// Attempt deadlines, in (deadline, attempt) order by construction: every deadline is
    /// `now + attempt_timeout` and `now` never goes back. Answered attempts' deadlines are
    /// dropped lazily; the front is always an attempt still in flight (see
    /// [`prune`](Flights::prune)). A queue instead of two tree operations per attempt.
    deadlines: VecDeque<(Instant, AttemptId)>,
    /// `CooldownWait` timers.
    waits: BTreeSet<(Instant, TimerReason)>,
    next: u64,
}

impl Flights {
    /// The id the next attempt will get.
    #[inline]
    pub(super) fn next_id(&mut self) -> AttemptId {
        let id = AttemptId(self.next);
        self.next += 1;
        id
    }

    /// Puts an attempt in flight until its answer or its deadline.
    #[inline]
    pub(super) fn start(&mut self, flight: InFlight) {
        debug_assert!(
            self.deadlines
                .back()
                .is_none_or(|(d, _)| *d <= flight.deadline),
            "deadlines are queued in order"
        );
        self.deadlines.push_back((flight.deadline, flight.id));
        self.attempts.insert(flight.id, flight);
    }

    /// Takes an answered (or cancelled) attempt out of flight; `None` if it is not in
    /// flight any more (timed out or cancelled before).
    #[inline]
    pub(super) fn land(&mut self, id: AttemptId) -> Option<InFlight> {
        let flight = self.attempts.remove(&id)?;
        self.prune();
        Some(flight)
    }

    /// Takes out the attempt whose deadline is first in the queue (it is due).
    pub(super) fn expire_first(&mut self, id: AttemptId) -> Option<InFlight> {
        debug_assert_eq!(
            self.deadlines.front().map(|d| d.1),
            Some(id),
            "the first deadline expires"
        );
        self.deadlines.pop_front();
        let flight = self.attempts.remove(&id);
        self.prune();
        flight
    }

    /// Cancels an attempt: its answer, if one comes, will be stale.
    pub(super) fn cancel(&mut self, id: AttemptId) {
        self.attempts.remove(&id);
        self.prune();
    }

    /// Sets a `CooldownWait` timer for `request` at `until`.
    pub(super) fn wait(&mut self, until: Instant, request: RequestId) {
        self.waits
            .insert((until, TimerReason::CooldownWait(request)));
    }

    /// Clears the `CooldownWait` timer of `request` at `at`.
    #[inline]
    pub(super) fn end_wait(&mut self, at: Instant, request: RequestId) {
        self.waits.remove(&(at, TimerReason::CooldownWait(request)));
    }

    /// The earliest timer: the first attempt deadline or cooldown wait.
    #[inline]
    pub(super) fn first(&self) -> Option<(Instant, TimerReason)> {
        let deadline = self
            .deadlines
            .front()
            .map(|(at, id)| (*at, TimerReason::AttemptDeadline(*id)));
        match (deadline, self.waits.first().copied()) {
            (Some(d), Some(w)) => Some(d.min(w)),
            (d, w) => d.or(w),
        }
    }

    /// Drops deadlines of attempts no longer in flight from the front of the queue, so
    /// that its front is the next deadline due.
    #[inline]
    fn prune(&mut self) {
        while let Some((_, id)) = self.deadlines.front() {
            if self.attempts.contains_key(id) {
                break;
            }
            self.deadlines.pop_front();
        }
    }

    /// Debug-build consistency checks: every attempt in flight has its deadline queued, the
    /// queue is in order and its front is in flight, and only cooldown waits are waits.
    pub(super) fn check_invariants(&self) {
        if cfg!(debug_assertions) {
            for (id, flight) in self.attempts.iter() {
                debug_assert!(
                    self.deadlines.contains(&(flight.deadline, AttemptId(id))),
                    "every in-flight attempt has a deadline"
                );
            }
            debug_assert!(
                self.deadlines.iter().is_sorted(),
                "deadlines are queued in order"
            );
            debug_assert!(
                self.deadlines
                    .front()
                    .is_none_or(|(_, id)| self.attempts.contains_key(id)),
                "the first deadline is an attempt in flight"
            );
            debug_assert!(
                self.waits
                    .iter()
                    .all(|(_, r)| matches!(r, TimerReason::CooldownWait(_))),
                "waits are cooldown waits"
            );
        }
    }
}
