//! Open requests: each one's state between its submission and its answer, and the reuse
//! of finished requests' allocations for new ones.

use super::keypool::Walk;
use super::routes::{Resolved, Route};
use super::window::IdWindow;
use crate::catalog::Mode;
use crate::event::{Attempt, Request};
use crate::id::{AttemptId, KeyId, RequestId};
use crate::policy::{Policy, Regression};
use crate::stats::AttemptRecord;
use crate::time::{Duration, Instant};
use std::sync::Arc;

/// What the client is told when the upstream's answer is passed on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct Upstream {
    /// The status the client gets.
    pub(super) status: u16,
    /// The Retry-After the client gets, in seconds.
    pub(super) retry_after_s: Option<u64>,
}

/// One open request.
#[derive(Clone, Debug)]
pub(super) struct RequestState {
    pub(super) request: Request,
    pub(super) mode: Mode,
    /// Shared with the gateway's route table for canonical models (no copy per request).
    pub(super) routes: Arc<[Route]>,
    pub(super) is_alias: bool,
    /// The shared route set these routes are (canonical model, alias rotation or
    /// `provider/model`; not for custom names): its candidates can come from the cache.
    pub(super) route_set: Option<usize>,
    pub(super) iteration: u32,
    pub(super) walk: Walk,
    pub(super) log: Vec<AttemptRecord>,
    pub(super) attempts: u32,
    pub(super) in_flight: Option<AttemptId>,
    pub(super) waited: Duration,
    /// The latest upstream answer, as the client would get it.
    pub(super) last_answer: Option<Upstream>,
    pub(super) first_selected: Option<KeyId>,
    pub(super) last_sent: Option<KeyId>,
    pub(super) byok: Option<KeyId>,
    /// Instants of this request's `CooldownWait` timers (at most one in practice), so that
    /// finishing removes them directly instead of scanning every timer of the gateway.
    pub(super) waits: Vec<Instant>,
    /// Same-key retries taken (`Policy::same_key_retries`).
    pub(super) same_key_retries: u32,
}

impl RequestState {
    /// A request just submitted, before its first decision.
    pub(super) fn new(request: Request, mode: Mode, resolved: Resolved) -> RequestState {
        let byok = request.byok;
        RequestState {
            request,
            mode,
            routes: resolved.routes,
            is_alias: resolved.is_alias,
            route_set: resolved.set,
            iteration: 1,
            walk: Walk::default(),
            log: Vec::new(),
            attempts: 0,
            in_flight: None,
            waited: Duration::ZERO,
            last_answer: None,
            first_selected: None,
            last_sent: None,
            byok,
            waits: Vec::new(),
            same_key_retries: 0,
        }
    }

    /// Records an attempt about to go out and returns it: the route, credentials and
    /// body it carries, and this request's attempt bookkeeping.
    pub(super) fn attempt(
        &mut self,
        policy: &Policy,
        ids: (AttemptId, RequestId),
        pick: &super::candidates::Candidate,
        endpoint: Option<Arc<str>>,
        charged: bool,
    ) -> Attempt {
        let (id, request) = ids;
        self.first_selected.get_or_insert(pick.selected);
        let replay_lost = self.attempts > 0 && policy.has(Regression::BodyConsumedOnFirstAttempt);
        let (body_bytes, body_digest) = if replay_lost {
            (0, 0)
        } else {
            (self.request.body_bytes, self.request.body_digest)
        };
        let route = &self.routes[pick.route];
        let attempt = Attempt {
            id,
            request,
            iteration: self.iteration,
            provider: route.provider,
            region: pick.region,
            scope: route.scope,
            upstream: route.upstream.clone(),
            selected: pick.selected,
            credential: pick.sent,
            endpoint,
            kind: self.request.kind,
            stream: self.request.stream,
            body_bytes,
            body_digest,
            charged,
        };
        self.attempts += 1;
        self.in_flight = Some(id);
        self.last_sent = Some(if policy.has(Regression::AttributeToSelectedKey) {
            pick.selected
        } else {
            pick.sent
        });
        attempt
    }

    /// Records the answer to the attempt in flight.
    pub(super) fn answered(&mut self, record: AttemptRecord, answer: Upstream) {
        debug_assert_eq!(
            self.in_flight,
            Some(record.attempt),
            "the answer is to the attempt in flight"
        );
        self.in_flight = None;
        self.log.push(record);
        self.last_answer = Some(answer);
    }
}

/// Open requests by id, and finished ones kept for reuse.
#[derive(Clone, Debug, Default)]
pub(super) struct Requests {
    open: IdWindow<RequestId, Box<RequestState>>,
    /// Boxes of finished requests, for reuse.
    spare: Spare,
    next: u64,
}

impl Requests {
    /// The id the next request will get.
    pub(super) fn next_id(&mut self) -> RequestId {
        let id = RequestId(self.next);
        self.next += 1;
        id
    }

    /// Opens a request under an id from [`next_id`](Self::next_id).
    pub(super) fn open(&mut self, id: RequestId, state: RequestState) {
        debug_assert!(id.0 < self.next, "ids come from next_id");
        // A finished request's box and buffers are reused: no allocation, and the window
        // moves a pointer rather than the whole state.
        let state = self.spare.place(state);
        self.open.insert(id, state);
    }

    /// Takes a request out of the open ones (answered or cancelled).
    pub(super) fn close(&mut self, id: RequestId) -> Option<Box<RequestState>> {
        self.open.remove(&id)
    }

    /// Keeps a closed request's allocations for a later one.
    pub(super) fn recycle(&mut self, state: Box<RequestState>) {
        self.spare.push(state);
    }

    #[inline]
    pub(super) fn get_mut(&mut self, id: RequestId) -> Option<&mut RequestState> {
        self.open.get_mut(&id).map(|b| &mut **b)
    }

    pub(super) fn len(&self) -> usize {
        self.open.len()
    }

    pub(super) fn values(&self) -> impl Iterator<Item = &RequestState> {
        self.open.values().map(|b| &**b)
    }
}

/// Finished requests' states, kept for their allocations (the box and the walk, log and
/// wait buffers), at most [`Spare::MAX`] of them. What they shared (routes, the model
/// name) is let go when they are put back. A clone of the gateway starts with none.
#[derive(Debug)]
struct Spare {
    // The boxes themselves are what is kept: the request window holds boxes.
    #[allow(clippy::vec_box)]
    boxes: Vec<Box<RequestState>>,
    no_routes: Arc<[Route]>,
    no_name: Arc<str>,
}

impl Default for Spare {
    fn default() -> Spare {
        Spare {
            boxes: Vec::new(),
            no_routes: Arc::from(Vec::new()),
            no_name: Arc::from(""),
        }
    }
}

impl Clone for Spare {
    fn clone(&self) -> Spare {
        Spare::default()
    }
}

impl Spare {
    /// More than this many open requests finishing at once are simply freed.
    const MAX: usize = 4096;

    /// A box for a new request's state: a finished request's if there is one, whose
    /// buffers the new state takes over (emptied), or a new box.
    fn place(&mut self, mut state: RequestState) -> Box<RequestState> {
        fn reuse<T>(fresh: &mut Vec<T>, old: &mut Vec<T>) {
            old.clear();
            std::mem::swap(fresh, old);
        }
        let Some(mut old) = self.boxes.pop() else {
            return Box::new(state);
        };
        reuse(&mut state.walk.tried, &mut old.walk.tried);
        reuse(&mut state.walk.used, &mut old.walk.used);
        reuse(&mut state.log, &mut old.log);
        reuse(&mut state.waits, &mut old.waits);
        *old = state;
        old
    }

    fn push(&mut self, mut state: Box<RequestState>) {
        if self.boxes.len() < Spare::MAX {
            state.routes = self.no_routes.clone();
            state.request.model = self.no_name.clone();
            self.boxes.push(state);
        }
        debug_assert!(self.boxes.len() <= Spare::MAX, "spare boxes bounded");
    }
}
