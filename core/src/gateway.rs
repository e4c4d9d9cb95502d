//! The gateway state machine: the only public entry point of the engine.

use crate::catalog::{Catalog, Mode, Source};
use crate::classify::{classify, Class};
use crate::event::{Action, Attempt, Event, Request, RequestKind, TimerReason};
use crate::health::{Block, Health};
use crate::id::{fnv1a, AttemptId, KeyId, ModelId, ProviderId, RegionId, RequestId, Scope};
use crate::policy::{Policy, Regression};
use crate::response::{ClientResponse, HttpAnswer, Outcome, Response, StreamProgress};
use crate::routing::{filter_chain_into, Filters, Pair, Route};
use crate::stats::{AttemptRecord, Stats};
use crate::time::{Duration, Instant};
use std::cell::OnceCell;
use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::sync::Arc;
use config::validate;
pub use config::ConfigError;
use window::IdWindow;

mod config;
mod window;

/// A sans-IO LLM API gateway: routing, key pools, key health, retries and uptime.
///
/// # Contract
///
/// The gateway does no IO and reads no clock. Drive it like this:
///
/// 1. feed inputs: [`submit`](Gateway::submit) a client request,
///    [`handle_response`](Gateway::handle_response) with an upstream answer,
///    [`handle_timeout`](Gateway::handle_timeout) when the instant from
///    [`poll_timeout`](Gateway::poll_timeout) is reached;
/// 2. after every input, drain [`poll_action`](Gateway::poll_action) (dispatch attempts,
///    answer clients) and [`poll_event`](Gateway::poll_event) (facts for a trace).
///
/// `now` must never go backwards. Given the same inputs at the same instants, the outputs
/// are identical: there is no randomness and no hash-ordered iteration.
///
/// A clone is an independent gateway in the same state (benchmarks fork a warmed-up one).
#[derive(Clone, Debug)]
pub struct Gateway {
    catalog: Catalog,
    policy: Policy,
    /// Routes of each canonical model (empty for aliases).
    routes: Vec<Arc<[Route]>>,
    /// Pooled credentials per provider, in pool order.
    pools: Vec<Vec<KeyId>>,
    /// Per provider × region: the platform credential locked to that region (regional token).
    regional_token: BTreeMap<(ProviderId, RegionId), KeyId>,
    /// Endpoints of credentials, shared into attempts.
    endpoints: Vec<Option<Arc<str>>>,
    /// Redacted hints of credentials, formatted once.
    hints: Vec<Arc<str>>,
    health: Health,
    stats: Stats,
    requests: IdWindow<RequestId, Box<RequestState>>,
    /// Boxes of finished requests, for reuse.
    spare: Spare,
    /// Route sets built on first use: alias rotations and `provider/model` names (their
    /// set index is `routes.len()` plus their position here).
    derived: BTreeMap<SetKey, usize>,
    derived_routes: Vec<Arc<[Route]>>,
    /// Per route set (canonical models, then derived sets) and project mode: its
    /// candidate pairs before health, filled on first use (see [`pairs`](Gateway::pairs)).
    candidates: Vec<[OnceCell<Arc<[Pair]>>; 3]>,
    in_flight: IdWindow<AttemptId, InFlight>,
    /// `CooldownWait` timers.
    timers: BTreeSet<(Instant, TimerReason)>,
    /// Attempt deadlines, in (deadline, attempt) order by construction: every deadline is
    /// `now + attempt_timeout` and `now` never goes back. Answered attempts' deadlines are
    /// dropped lazily; the front is always an attempt still in flight (see
    /// [`prune_deadlines`](Gateway::prune_deadlines)). A queue instead of two tree
    /// operations per attempt.
    deadlines: VecDeque<(Instant, AttemptId)>,
    actions: VecDeque<Action>,
    events: Vec<Event>,
    events_read: usize,
    events_enabled: bool,
    alias_cursor: BTreeMap<ModelId, u32>,
    shared_cursor: u32,
    next_request: u64,
    next_attempt: u64,
    last_now: Instant,
    /// Buffers reused by every decision so that deciding does not allocate.
    scratch: Scratch,
}

/// Per-decision working buffers, emptied before each use.
#[derive(Clone, Debug, Default)]
struct Scratch {
    pairs: Vec<Pair>,
    /// The pairs as the filter chain sees them once the budget is spent.
    reachable: Vec<Pair>,
    /// Each route's mapping uptime, read on first use (`u32::MAX`: not read yet).
    uptimes: Vec<std::cell::Cell<u32>>,
    events: Vec<Event>,
    chosen: Vec<usize>,
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
    }
}

/// What the gateway keeps of an attempt in flight: what handling its answer needs, with
/// the route as an index into the request's routes (no shared strings to count or compare).
#[derive(Clone, Copy, Debug)]
struct InFlight {
    id: AttemptId,
    request: RequestId,
    iteration: u32,
    provider: ProviderId,
    region: RegionId,
    scope: Scope,
    route: usize,
    selected: KeyId,
    credential: KeyId,
    kind: RequestKind,
    deadline: Instant,
}

#[derive(Clone, Debug)]
struct RequestState {
    request: Request,
    mode: Mode,
    /// Shared with the gateway's route table for canonical models (no copy per request).
    routes: Arc<[Route]>,
    is_alias: bool,
    /// The shared route set these routes are (canonical model, alias rotation or
    /// `provider/model`; not for custom names): its candidates can come from the cache.
    route_set: Option<usize>,
    iteration: u32,
    walk: Walk,
    log: Vec<AttemptRecord>,
    attempts: u32,
    in_flight: Option<AttemptId>,
    waited: Duration,
    last_answer: Option<(Class, u16, Option<u64>)>,
    first_selected: Option<KeyId>,
    last_sent: Option<KeyId>,
    byok: Option<KeyId>,
    /// Instants of this request's `CooldownWait` timers (at most one in practice), so that
    /// finishing removes them directly instead of scanning every timer of the gateway.
    waits: Vec<Instant>,
}

/// The state of one walk over the candidates (one per agentic iteration and wait round).
#[derive(Clone, Debug, Default)]
struct Walk {
    /// (route index, credential) pairs already attempted: the same credential may still be
    /// tried on another route (another region, or a sibling upstream of an alias).
    tried: Vec<(usize, KeyId)>,
    used: Vec<(ProviderId, RegionId)>,
    charged: u32,
    rounds: u32,
    current_route: Option<usize>,
    pinned_region: Option<(ProviderId, RegionId)>,
}

/// A route set derived from the catalog on first use.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum SetKey {
    /// An alias whose members are tried starting from the given one.
    Alias(ModelId, usize),
    /// A model's routes on one provider only (`provider/model`).
    Only(ModelId, ProviderId),
}

enum Next {
    Dispatch(Pair),
    Wait(Instant),
    Finish(Outcome, u16, Option<u64>),
}

impl Gateway {
    /// A gateway over a catalog with a policy.
    pub fn new(catalog: Catalog, policy: Policy) -> Result<Gateway, ConfigError> {
        validate(&catalog, &policy)?;
        let routes = catalog
            .models
            .iter()
            .map(|m| {
                let scope = Scope::of(&m.name);
                m.served_by
                    .iter()
                    .map(|s| {
                        Route::new(s.provider, s.region, scope, Arc::from(s.upstream.as_str()))
                    })
                    .collect()
            })
            .collect();
        let pools = (0..catalog.providers.len())
            .map(|p| catalog.pool(ProviderId(p as u32)).collect())
            .collect();
        let mut regional_token = BTreeMap::new();
        for (i, c) in catalog.credentials.iter().enumerate() {
            if let (Source::Platform, Some(region)) = (c.source, c.region) {
                regional_token
                    .entry((c.provider, region))
                    .or_insert(KeyId(i as u32));
            }
        }
        let endpoints = catalog
            .credentials
            .iter()
            .map(|c| c.endpoint.as_deref().map(Arc::from))
            .collect();
        let hints = catalog
            .credentials
            .iter()
            .map(|c| Arc::from(c.hint()))
            .collect();
        let candidates = catalog.models.iter().map(|_| Default::default()).collect();
        Ok(Gateway {
            hints,
            catalog,
            policy,
            routes,
            pools,
            regional_token,
            endpoints,
            health: Health::default(),
            stats: Stats::default(),
            requests: IdWindow::default(),
            spare: Spare::default(),
            derived: BTreeMap::new(),
            derived_routes: Vec::new(),
            candidates,
            in_flight: IdWindow::default(),
            timers: BTreeSet::new(),
            deadlines: VecDeque::new(),
            actions: VecDeque::new(),
            events: Vec::new(),
            events_read: 0,
            events_enabled: true,
            alias_cursor: BTreeMap::new(),
            shared_cursor: 0,
            next_request: 0,
            next_attempt: 0,
            last_now: Instant::ZERO,
            scratch: Scratch::default(),
        })
    }

    // ---- getters ----

    /// The configuration.
    pub fn catalog(&self) -> &Catalog {
        &self.catalog
    }
    /// The policy.
    pub fn policy(&self) -> &Policy {
        &self.policy
    }
    /// Health state.
    pub fn health_state(&self) -> &Health {
        &self.health
    }
    /// Uptime statistics and provider scores.
    pub fn stats(&self) -> &Stats {
        &self.stats
    }
    /// Uptime of (credential, scope) in basis points; 0 for a blacklisted credential.
    pub fn key_uptime_bp(&self, key: KeyId, scope: Scope, now: Instant) -> u32 {
        if self.health.is_blacklisted(key, &[scope, Scope::UNSCOPED])
            && !self.policy.has(Regression::StaleUptimeForBlacklisted)
        {
            return 0;
        }
        self.health.entry(key, scope).map_or(10_000, |e| {
            e.history.uptime_bp(now, self.policy.history_window)
        })
    }
    /// Whether a credential is blacklisted (globally or for `scope`).
    pub fn is_blacklisted(&self, key: KeyId, scope: Scope) -> bool {
        self.health.is_blacklisted(key, &[scope, Scope::UNSCOPED])
    }
    /// Tracked health entries (bounded by `policy.scopes_max`).
    pub fn tracked_entries(&self) -> usize {
        self.health.tracked_entries()
    }
    /// Requests not yet answered.
    pub fn open_requests(&self) -> usize {
        self.requests.len()
    }

    /// Turns trace events off (benchmarks); decisions are unchanged.
    pub fn set_events_enabled(&mut self, enabled: bool) {
        self.events_enabled = enabled;
    }

    // ---- inputs ----

    /// Accepts a client request; its attempts and answer come out of `poll_action`.
    pub fn submit(&mut self, now: Instant, request: Request) -> RequestId {
        self.advance_clock(now);
        let id = RequestId(self.next_request);
        self.next_request += 1;
        let mode = self.catalog.project(request.project).mode;
        let (routes, is_alias, route_set) = self.resolve(&request);
        let byok = request.byok;
        // A finished request's box and buffers are reused: no allocation, and the window
        // moves a pointer rather than the whole state.
        let state = self.spare.place(RequestState {
            request,
            mode,
            routes,
            is_alias,
            route_set,
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
        });
        self.requests.insert(id, state);
        self.step(now, id);
        self.check_invariants();
        id
    }

    /// Handles an upstream answer to an attempt. Answers to attempts no longer in flight
    /// (timed out, cancelled) are recorded as stale and otherwise ignored.
    pub fn handle_response(&mut self, now: Instant, attempt: AttemptId, response: Response) {
        self.advance_clock(now);
        let Some(flight) = self.in_flight.remove(&attempt) else {
            self.emit(Event::StaleResponse { attempt });
            return;
        };
        self.prune_deadlines();
        self.on_answer(now, flight, &response);
        self.check_invariants();
    }

    /// Handles the earliest timer due at `now`, if any, and returns whether one was due.
    ///
    /// One timer per call, so that the outputs drained after each call belong to one
    /// decision and a trace stays in causal order: call again while
    /// [`poll_timeout`](Gateway::poll_timeout) is at or before `now`.
    pub fn handle_timeout(&mut self, now: Instant) -> bool {
        self.advance_clock(now);
        let Some((at, reason)) = self.poll_timeout() else {
            return false;
        };
        if at > now {
            return false;
        }
        match reason {
            TimerReason::AttemptDeadline(id) => {
                self.deadlines.pop_front();
                let flight = self.in_flight.remove(&id);
                self.prune_deadlines();
                if let Some(flight) = flight {
                    let timeout = Response::Transport(crate::response::TransportError::Timeout);
                    self.on_answer(now, flight, &timeout);
                }
            }
            TimerReason::CooldownWait(request) => {
                self.timers.remove(&(at, reason));
                if let Some(state) = self.requests.get_mut(&request) {
                    state.waits.retain(|w| *w != at);
                    state.walk.tried.clear();
                    state.walk.current_route = None;
                    self.step(now, request);
                }
            }
        }
        self.check_invariants();
        true
    }

    /// Cancels a request (client gone): its in-flight attempt's answer will be stale.
    pub fn cancel(&mut self, now: Instant, request: RequestId) {
        self.advance_clock(now);
        if let Some(state) = self.requests.remove(&request) {
            if let Some(a) = state.in_flight {
                self.in_flight.remove(&a);
                self.prune_deadlines();
            }
            for at in &state.waits {
                self.timers
                    .remove(&(*at, TimerReason::CooldownWait(request)));
            }
            self.spare.push(state);
        }
    }

    /// Clears a credential's blacklist and health (an operator action such as rotation).
    pub fn reinstate_credential(&mut self, now: Instant, key: KeyId) {
        self.advance_clock(now);
        self.health.reinstate(key);
    }

    // ---- outputs ----

    /// The next action: an attempt to dispatch or a client answer.
    #[must_use]
    pub fn poll_action(&mut self) -> Option<Action> {
        self.actions.pop_front()
    }

    /// The next instant the gateway must be woken with `handle_timeout`, and why.
    #[must_use]
    pub fn poll_timeout(&self) -> Option<(Instant, TimerReason)> {
        let deadline = self
            .deadlines
            .front()
            .map(|(at, id)| (*at, TimerReason::AttemptDeadline(*id)));
        match (deadline, self.timers.first().copied()) {
            (Some(d), Some(w)) => Some(d.min(w)),
            (d, w) => d.or(w),
        }
    }

    /// The next trace event.
    #[must_use]
    pub fn poll_event(&mut self) -> Option<Event> {
        if self.events_read < self.events.len() {
            let e = std::mem::replace(
                &mut self.events[self.events_read],
                Event::StaleResponse {
                    attempt: AttemptId(0),
                },
            );
            self.events_read += 1;
            if self.events_read == self.events.len() {
                self.events.clear();
                self.events_read = 0;
            }
            Some(e)
        } else {
            None
        }
    }

    // ---- internals ----

    /// Drops deadlines of attempts no longer in flight from the front of the queue, so
    /// that its front is the next deadline due.
    fn prune_deadlines(&mut self) {
        while let Some((_, id)) = self.deadlines.front() {
            if self.in_flight.contains_key(id) {
                break;
            }
            self.deadlines.pop_front();
        }
    }

    fn advance_clock(&mut self, now: Instant) {
        assert!(
            now >= self.last_now,
            "time went backwards: {now} < {}",
            self.last_now
        );
        self.last_now = now;
    }

    fn emit(&mut self, event: Event) {
        if self.events_enabled {
            self.events.push(event);
        }
    }

    fn cap(&self) -> Option<usize> {
        (!self.policy.has(Regression::UnboundedScopes)).then_some(self.policy.scopes_max as usize)
    }

    /// Routes for a request: canonical model, alias (rotated per request), explicit
    /// `provider/model`, or a custom name for providers that accept any model.
    fn resolve(&mut self, request: &Request) -> (Arc<[Route]>, bool, Option<usize>) {
        let name = &*request.model;
        if let Some(m) = self.catalog.model_by_name(name) {
            let model = self.catalog.model(m);
            if model.is_alias() {
                let members = model.alias_of.len();
                let cursor = self.alias_cursor.entry(m).or_insert(0);
                let start = *cursor as usize % members;
                *cursor = cursor.wrapping_add(1);
                let (routes, set) = self.derived_set(SetKey::Alias(m, start));
                return (routes, true, Some(set));
            }
            return (self.routes[m.index()].clone(), false, Some(m.index()));
        }
        if let Some((provider, model)) = name.split_once('/') {
            if let Some(p) = self.catalog.provider_by_name(provider) {
                if let Some(m) = self.catalog.model_by_name(model) {
                    let (routes, set) = self.derived_set(SetKey::Only(m, p));
                    return (routes, false, Some(set));
                }
                return (self.custom_routes(model, Some(p)), false, None);
            }
        }
        (self.custom_routes(name, None), false, None)
    }

    /// The routes of an alias rotation or a `provider/model` name, built once and shared
    /// like a canonical model's, with the index of their candidate cache.
    #[inline(never)]
    fn derived_set(&mut self, key: SetKey) -> (Arc<[Route]>, usize) {
        if let Some(&set) = self.derived.get(&key) {
            return (self.derived_routes[set].clone(), self.routes.len() + set);
        }
        let routes: Arc<[Route]> = match key {
            SetKey::Alias(m, start) => {
                let model = self.catalog.model(m);
                let alias_scope = Scope::of(&model.name);
                let members = &model.alias_of;
                let mut routes = Vec::new();
                for i in 0..members.len() {
                    let member = members[(start + i) % members.len()];
                    routes.extend(self.routes[member.index()].iter().cloned().map(|mut r| {
                        r.alias_scope = Some(alias_scope);
                        r
                    }));
                }
                routes.into()
            }
            SetKey::Only(m, p) => self.routes[m.index()]
                .iter()
                .filter(|r| r.provider == p)
                .cloned()
                .collect(),
        };
        let set = self.derived_routes.len();
        self.derived.insert(key, set);
        self.derived_routes.push(routes.clone());
        self.candidates.push(Default::default());
        (routes, self.routes.len() + set)
    }

    #[inline(never)]
    fn custom_routes(&self, name: &str, only: Option<ProviderId>) -> Arc<[Route]> {
        let upstream: Arc<str> = Arc::from(name);
        let scope = Scope::of(name);
        let mut routes = Vec::new();
        for (i, p) in self.catalog.providers.iter().enumerate() {
            let id = ProviderId(i as u32);
            if !p.accepts_any_model || only.is_some_and(|o| o != id) {
                continue;
            }
            for region in &p.regions {
                routes.push(Route::new(id, *region, scope, upstream.clone()));
            }
        }
        routes.into()
    }

    /// Health scopes read for a route.
    /// Health scopes read for a route in a region: the model scope (rate-limit cooldowns)
    /// and the model-in-region scope (consecutive errors).
    fn read_scopes(
        &self,
        route: &Route,
        region: RegionId,
        request: RequestId,
    ) -> ([Scope; 3], usize) {
        let scope = self.scope_for(route, request);
        let regional = if scope == route.scope && region == route.region {
            route.regional_scope()
        } else {
            scope.in_region(region)
        };
        if self.policy.has(Regression::UnscopedTransientHealth) {
            ([scope, regional, Scope::UNSCOPED], 3)
        } else {
            ([scope, regional, regional], 2)
        }
    }

    fn scope_for(&self, route: &Route, request: RequestId) -> Scope {
        if self.policy.has(Regression::RequestIdAsScope) {
            Scope(fnv1a(&request.0.to_le_bytes()) | 1)
        } else {
            route.scope
        }
    }

    fn suspension_scope(&self, route: &Route) -> Scope {
        match route.alias_scope {
            Some(alias) if self.policy.has(Regression::SuspendAliasNotUpstream) => alias,
            _ => route.upstream_scope(),
        }
    }

    /// The credential whose token is sent when `selected` goes to `region`: an unlocked
    /// platform key is replaced by the provider's regional platform token, if any.
    fn swap(&self, selected: KeyId, region: RegionId, mode: Mode) -> KeyId {
        let c = self.catalog.credential(selected);
        let swappable = c.source == Source::Platform
            || (c.source == Source::Org
                && mode == Mode::Hybrid
                && self.policy.has(Regression::HybridIgnoresOrgKeys));
        if c.region.is_none() && swappable {
            if let Some(token) = self.regional_token.get(&(c.provider, region)) {
                return *token;
            }
        }
        selected
    }

    /// Every candidate pair of a request, in route then pool order.
    ///
    /// Which pairs exist depends only on the routes, the project mode and the policy,
    /// except for BYOK requests and two knobs (a pinned region, a shared cursor). So for
    /// a shared route set (a canonical model, an alias rotation, a `provider/model` name)
    /// the pairs are worked out once per mode by the general path below and cached; each
    /// decision then only reads health and the walk for them. Custom model names, whose
    /// routes are built per request, take the general path every time.
    fn pairs(&self, now: Instant, id: RequestId, state: &RequestState, out: &mut Vec<Pair>) {
        let cacheable = state.byok.is_none()
            && !self.policy.has(Regression::RegionFromFirstKey)
            && !self.policy.has(Regression::SharedWalkerCursor);
        let Some(set) = state.route_set.filter(|_| cacheable) else {
            self.pairs_uncached(now, id, state, out, false);
            return;
        };
        let statics = self.candidates[set][mode_index(state.mode)].get_or_init(|| {
            let mut all = Vec::new();
            self.pairs_uncached(now, id, state, &mut all, true);
            all.into()
        });
        let mut current = None;
        let (mut scopes, mut n, mut suspension) = ([Scope::UNSCOPED; 3], 0, Scope::UNSCOPED);
        for p in statics.iter() {
            if current != Some(p.route) {
                current = Some(p.route);
                let route = &state.routes[p.route];
                suspension = self.suspension_scope(route);
                (scopes, n) = self.read_scopes(route, p.region, id);
            }
            let source = self.catalog.credential(p.selected).source;
            out.push(Pair {
                tried: state.walk.tried.contains(&(p.route, p.health_key)),
                block: self.candidate_block(
                    now,
                    state,
                    p.health_key,
                    source,
                    &scopes[..n],
                    suspension,
                ),
                ..*p
            });
        }
    }

    /// Why a candidate credential may not be used now, if it may not.
    fn candidate_block(
        &self,
        now: Instant,
        state: &RequestState,
        health_key: KeyId,
        source: Source,
        scopes: &[Scope],
        suspension: Scope,
    ) -> Option<Block> {
        if source == Source::Byok {
            None
        } else if state.request.kind == RequestKind::CountTokens {
            self.health
                .is_blacklisted(health_key, scopes)
                .then_some(Block::Blacklisted)
        } else {
            self.health.block(
                health_key,
                scopes,
                suspension,
                now,
                self.policy.has(Regression::CooldownNeverExpires),
            )
        }
    }

    /// [`pairs`](Gateway::pairs) worked out from the catalog; with `statics_only`, without
    /// reading health or the walk (every pair untried and unblocked), for the cache.
    #[inline(never)]
    fn pairs_uncached(
        &self,
        now: Instant,
        id: RequestId,
        state: &RequestState,
        out: &mut Vec<Pair>,
        statics_only: bool,
    ) {
        let byok_only = state.byok;
        for (ri, route) in state.routes.iter().enumerate() {
            let pinned = match state.walk.pinned_region {
                Some((p, r))
                    if p == route.provider && self.policy.has(Regression::RegionFromFirstKey) =>
                {
                    Some(r)
                }
                _ => None,
            };
            let region = pinned.unwrap_or(route.region);
            let pool: &[KeyId] = match &byok_only {
                Some(k) => std::slice::from_ref(k),
                None => &self.pools[route.provider.index()],
            };
            let rotate = if self.policy.has(Regression::SharedWalkerCursor) && !pool.is_empty() {
                self.shared_cursor as usize % pool.len()
            } else {
                0
            };

            let suspension = self.suspension_scope(route);
            // The same for every credential of the route.
            let (scopes, n) = self.read_scopes(route, region, id);
            for i in 0..pool.len() {
                let key = pool[(i + rotate) % pool.len()];
                let c = self.catalog.credential(key);
                if c.provider != route.provider {
                    continue;
                }
                if byok_only.is_none() && !state.mode.admits(c.source) {
                    continue;
                }
                if c.region.is_some_and(|r| r != region) && pinned.is_none() {
                    continue;
                }
                let sent = self.swap(key, region, state.mode);
                let health_key = if self.policy.has(Regression::AttributeToSelectedKey) {
                    key
                } else {
                    sent
                };
                if health_key != key && out.iter().any(|p: &Pair| p.route == ri && p.sent == sent) {
                    continue;
                }
                let (tried, block) = if statics_only {
                    (false, None)
                } else {
                    (
                        state.walk.tried.contains(&(ri, health_key)),
                        self.candidate_block(
                            now,
                            state,
                            health_key,
                            c.source,
                            &scopes[..n],
                            suspension,
                        ),
                    )
                };
                out.push(Pair {
                    route: ri,
                    region,
                    selected: key,
                    sent,
                    health_key,
                    block,
                    tried,
                    org: c.source == Source::Org,
                });
            }
        }
    }

    /// Decides a request's next step and carries it out.
    fn step(&mut self, now: Instant, id: RequestId) {
        if !self.requests.contains_key(&id) {
            return;
        }
        let next = self.decide(now, id);
        match next {
            Next::Dispatch(pair) => self.dispatch(now, id, pair),
            Next::Wait(until) => {
                let state = self
                    .requests
                    .get_mut(&id)
                    .expect("request present: looked up above");
                state.waited = state.waited + until.saturating_since(now).0.into();
                state.walk.rounds += 1;
                state.waits.push(until);
                self.timers.insert((until, TimerReason::CooldownWait(id)));
                self.emit(Event::Waiting { request: id, until });
            }
            Next::Finish(outcome, status, retry_after_s) => {
                self.finish(now, id, outcome, status, retry_after_s)
            }
        }
    }

    fn decide(&mut self, now: Instant, id: RequestId) -> Next {
        let mut scratch = std::mem::take(&mut self.scratch);
        scratch.pairs.clear();
        scratch.uptimes.clear();
        let next = self.decide_with(now, id, &mut scratch);
        self.scratch = scratch;
        next
    }

    fn decide_with(&mut self, now: Instant, id: RequestId, scratch: &mut Scratch) -> Next {
        let state = self
            .requests
            .get(&id)
            .expect("request present: deciding for it");
        if state.routes.is_empty() {
            return Next::Finish(Outcome::NoRoute, 404, None);
        }
        self.pairs(now, id, state, &mut scratch.pairs);
        let pairs = &scratch.pairs[..];
        let mut skipped = Vec::new();
        if self.events_enabled {
            for p in pairs.iter().filter(|p| !p.tried) {
                if let Some(block) = p.block {
                    let route = &state.routes[p.route];
                    skipped.push(Event::Skipped {
                        request: id,
                        provider: route.provider,
                        region: p.region,
                        credential: p.health_key,
                        scope: route.scope,
                        block,
                    });
                }
            }
        }
        let has = |k: Regression| self.policy.has(k);
        // Each route's uptime once, not once per candidate credential.
        // Each route's uptime once, not once per candidate credential, and only for routes
        // the uptime bar actually looks at (routes with an available candidate).
        scratch
            .uptimes
            .resize_with(state.routes.len(), || std::cell::Cell::new(u32::MAX));
        let uptimes = &scratch.uptimes[..];
        let uptime = |r: usize| {
            let known = uptimes[r].get();
            if known != u32::MAX {
                return known;
            }
            let route = &state.routes[r];
            let read = self.stats.mapping_uptime_bp(
                route.provider,
                route.region,
                route.scope,
                now,
                &self.policy,
            );
            uptimes[r].set(read);
            read
        };
        let provider_of = |r: usize| state.routes[r].provider;
        // Only the region-blind knob reads this list.
        let org_providers: Vec<ProviderId> = if has(Regression::KeyedAvailabilityIgnoresRegion) {
            pairs
                .iter()
                .filter(|p| p.org && p.block.is_none())
                .map(|p| state.routes[p.route].provider)
                .collect()
        } else {
            Vec::new()
        };
        let filters = Filters {
            mode: if state.byok.is_some() {
                Mode::ApiKeys
            } else {
                state.mode
            },
            has: &has,
            uptime_bp: &uptime,
            uptime_bar_bp: self.policy.uptime_bar_bp,
            provider_of: &provider_of,
            providers_with_org_keys: &org_providers,
        };
        // Once the attempt budget is spent, places it cannot open are out of reach: they
        // must not take part in the uptime bar or key preference, or they would hide
        // candidates on places already paid for (found by the key-pool property).
        let filter_input: &[Pair] = if state.walk.charged >= self.policy.attempts_max {
            scratch.reachable.clear();
            scratch.reachable.extend(pairs.iter().map(|p| {
                let mut q = *p;
                q.tried |= !state
                    .walk
                    .used
                    .contains(&(state.routes[p.route].provider, p.region));
                q
            }));
            &scratch.reachable
        } else {
            pairs
        };
        let chosen = &mut scratch.chosen;
        filter_chain_into(filter_input, &filters, chosen);
        // Alternate credentials on the current (provider, region) come first: they are free.
        let current = state.walk.current_route;
        let current_first = |i: &usize| (Some(pairs[*i].route) != current, pairs[*i].route);
        // Usually already in that order (pairs come in route order): skip the sort then;
        // the sort is stable, so skipping it changes nothing.
        if !chosen.is_sorted_by_key(current_first) {
            chosen.sort_by_key(current_first);
        }
        let place = |i: usize| (state.routes[pairs[i].route].provider, pairs[i].region);
        let mut charged = state.walk.charged;
        let mut charges = Vec::new();
        if has(Regression::SkipCostsBudget) {
            // The production bug: a fully blocked route costs budget before a healthy one runs.
            let first_new = chosen
                .iter()
                .copied()
                .find(|i| !state.walk.used.contains(&place(*i)));
            if let Some(first) = first_new {
                for r in 0..pairs[first].route {
                    let route_pairs: Vec<&Pair> =
                        pairs.iter().filter(|p| p.route == r && !p.tried).collect();
                    let here = (state.routes[r].provider, state.routes[r].region);
                    if !route_pairs.is_empty()
                        && route_pairs.iter().all(|p| p.block.is_some())
                        && !state.walk.used.contains(&here)
                        && !charges.contains(&here)
                    {
                        charges.push(here);
                        charged += 1;
                    }
                }
            }
        }
        let budget_left = charged < self.policy.attempts_max;
        let pick = chosen.iter().copied().find(|i| {
            let p = place(*i);
            budget_left || state.walk.used.contains(&p) || charges.contains(&p)
        });
        let pick = pick.map(|i| pairs[i]);
        let iteration = state.iteration;
        for e in skipped {
            self.emit(e);
        }
        let state = self
            .requests
            .get_mut(&id)
            .expect("request present: deciding for it");
        for (provider, region) in charges {
            state.walk.used.push((provider, region));
            state.walk.charged += 1;
            if self.events_enabled {
                self.events.push(Event::Charged {
                    request: id,
                    iteration,
                    provider,
                    region,
                    attempt: None,
                });
            }
        }
        if let Some(pair) = pick {
            return Next::Dispatch(pair);
        }
        let state = self
            .requests
            .get(&id)
            .expect("request present: deciding for it");
        self.no_candidate(now, state, pairs)
    }

    /// Nothing to dispatch: wait for the soonest cooldown, or answer the client.
    #[inline(never)]
    fn no_candidate(&self, now: Instant, state: &RequestState, pairs: &[Pair]) -> Next {
        let blocked_ends = pairs
            .iter()
            .filter_map(|p| p.block.and_then(Block::ends))
            .filter(|t| *t > now);
        let soonest = blocked_ends.min();
        let budget_spent = state.walk.charged >= self.policy.attempts_max
            && pairs.iter().any(|p| !p.tried && p.block.is_none());
        let wait_lookup = if state.is_alias && self.policy.has(Regression::CooldownWaitByAlias) {
            // The production bug: the wait is looked up under the alias, where nothing is cooling.
            None
        } else {
            soonest
        };
        if let (Some(until), false) = (wait_lookup, budget_spent) {
            let wait = until.saturating_since(now);
            let pure_cooling = pairs
                .iter()
                .any(|p| matches!(p.block, Some(Block::Cooling(_) | Block::Unhealthy(_))));
            if pure_cooling
                && state.byok.is_none()
                && state.walk.rounds < self.policy.wait_rounds_max
                && state.waited + wait <= self.policy.wait_max
            {
                return Next::Wait(until);
            }
        }
        // Typed exhaustion means every candidate is unavailable (blocked by earlier requests
        // or by this one's own attempts). When some candidate was usable and simply failed,
        // or the budget ran out, the client gets the last upstream error instead.
        let all_blocked = pairs.iter().all(|p| p.block.is_some());
        if budget_spent || !all_blocked {
            if let Some((_, status, retry_after)) = state.last_answer {
                return Next::Finish(Outcome::UpstreamFailed, status, retry_after);
            }
        }
        match soonest {
            Some(until) => {
                let retry_after = until.saturating_since(now).as_secs_ceil().max(1);
                let header = (!self.policy.has(Regression::ExhaustionWithoutRetryAfter))
                    .then_some(retry_after);
                Next::Finish(Outcome::ExhaustedTransient, 429, header)
            }
            None if pairs.iter().any(|p| p.block == Some(Block::Blacklisted)) => {
                Next::Finish(Outcome::ExhaustedPermanent, 502, None)
            }
            None => match state.last_answer {
                Some((_, status, retry_after)) => {
                    Next::Finish(Outcome::UpstreamFailed, status, retry_after)
                }
                None => Next::Finish(Outcome::NoRoute, 503, None),
            },
        }
    }

    fn dispatch(&mut self, now: Instant, id: RequestId, pair: Pair) {
        let attempt_id = AttemptId(self.next_attempt);
        self.next_attempt += 1;
        let events_enabled = self.events_enabled;
        let state = self
            .requests
            .get_mut(&id)
            .expect("request present: dispatching for it");
        let route = &state.routes[pair.route];
        let place = (route.provider, pair.region);
        let charged = !state.walk.used.contains(&place);
        if charged {
            state.walk.used.push(place);
            state.walk.charged += 1;
            if events_enabled {
                self.events.push(Event::Charged {
                    request: id,
                    iteration: state.iteration,
                    provider: place.0,
                    region: place.1,
                    attempt: Some(attempt_id),
                });
            }
        }
        state.walk.tried.push((pair.route, pair.health_key));
        state.walk.current_route = Some(pair.route);
        if state.walk.pinned_region.is_none() {
            state.walk.pinned_region = Some(place);
        }
        state.first_selected.get_or_insert(pair.selected);
        let replay_lost =
            state.attempts > 0 && self.policy.has(Regression::BodyConsumedOnFirstAttempt);
        let (body_bytes, body_digest) = if replay_lost {
            (0, 0)
        } else {
            (state.request.body_bytes, state.request.body_digest)
        };
        let swapped = pair.sent != pair.selected;
        let endpoint = if swapped && self.policy.has(Regression::DropEndpointOnRegionSwap) {
            None
        } else {
            self.endpoints[pair.sent.index()].clone()
        };
        let scope = route.scope;
        let attempt = Attempt {
            id: attempt_id,
            request: id,
            iteration: state.iteration,
            provider: route.provider,
            region: pair.region,
            scope,
            upstream: route.upstream.clone(),
            selected: pair.selected,
            credential: pair.sent,
            endpoint,
            kind: state.request.kind,
            stream: state.request.stream,
            body_bytes,
            body_digest,
            charged,
        };
        state.attempts += 1;
        state.in_flight = Some(attempt_id);
        state.last_sent = Some(if self.policy.has(Regression::AttributeToSelectedKey) {
            pair.selected
        } else {
            pair.sent
        });
        if self.policy.has(Regression::SharedWalkerCursor) {
            self.shared_cursor = self.shared_cursor.wrapping_add(1);
        }
        let deadline = now + self.policy.attempt_timeout;
        debug_assert!(
            self.deadlines.back().is_none_or(|(d, _)| *d <= deadline),
            "deadlines are queued in order"
        );
        self.deadlines.push_back((deadline, attempt_id));
        self.in_flight.insert(
            attempt_id,
            InFlight {
                id: attempt_id,
                request: id,
                iteration: attempt.iteration,
                provider: attempt.provider,
                region: attempt.region,
                scope: attempt.scope,
                route: pair.route,
                selected: attempt.selected,
                credential: attempt.credential,
                kind: attempt.kind,
                deadline,
            },
        );
        self.actions.push_back(Action::Dispatch(attempt));
    }

    fn on_answer(&mut self, now: Instant, attempt: InFlight, response: &Response) {
        let class = classify(response, &self.policy, self.catalog.epoch_unix_s, now);
        self.emit(Event::Classified {
            attempt: attempt.id,
            class,
        });
        let id = attempt.request;
        let Some(state) = self.requests.get(&id) else {
            return;
        };
        // The route the attempt was dispatched on (a request's routes never change).
        let routes = state.routes.clone();
        let route = &routes[attempt.route];
        let health_key = if self.policy.has(Regression::AttributeToSelectedKey) {
            attempt.selected
        } else {
            attempt.credential
        };
        let count_tokens = attempt.kind == RequestKind::CountTokens;
        self.record_health(now, &attempt, route, health_key, class, count_tokens);
        let (status, retry_after) = match response {
            // A stream that broke before its first byte is a 200 that delivered nothing:
            // like a transport failure, it is a gateway error to the client.
            Response::Http(HttpAnswer { status, .. }) if class != Class::Network => {
                (*status, client_retry_after(class))
            }
            Response::Http(_) | Response::Transport(_) => (502, None),
        };
        let state = self
            .requests
            .get_mut(&id)
            .expect("request present: checked above");
        state.in_flight = None;
        state.log.push(AttemptRecord {
            attempt: attempt.id,
            iteration: attempt.iteration,
            provider: attempt.provider,
            region: attempt.region,
            scope: attempt.scope,
            credential: health_key,
            class,
        });
        state.last_answer = Some((
            class,
            if class == Class::Success { 200 } else { status },
            retry_after,
        ));
        let stream_broke_early = matches!(
            response,
            Response::Http(HttpAnswer {
                stream: StreamProgress::BrokeBeforeFirstByte,
                ..
            })
        );
        match class {
            Class::Success => {
                if state.iteration < state.request.iterations {
                    state.iteration += 1;
                    let keep = self.policy.has(Regression::ReuseWalkerAcrossIterations);
                    // A fresh walk, in the old walk's buffers.
                    let mut tried = std::mem::take(&mut state.walk.tried);
                    let mut used = std::mem::take(&mut state.walk.used);
                    if !keep {
                        tried.clear();
                    }
                    used.clear();
                    state.walk = Walk {
                        tried,
                        used,
                        ..Walk::default()
                    };
                    self.step(now, id);
                } else {
                    self.finish(now, id, Outcome::Success, 200, None);
                }
            }
            Class::StreamInterrupted if !self.policy.has(Regression::FailoverMidStream) => {
                self.finish(now, id, Outcome::StreamInterrupted, 200, None);
            }
            Class::RequestInvalid if !self.policy.has(Regression::RetryRequestInvalid) => {
                self.finish(now, id, Outcome::RequestInvalid, status, None);
            }
            Class::Network
                if stream_broke_early && self.policy.has(Regression::StreamBootstrapTerminal) =>
            {
                self.finish(now, id, Outcome::UpstreamFailed, 502, None);
            }
            _ if state.byok.is_some() => {
                if self.policy.has(Regression::ByokFailsOver) {
                    // The production bug: a failed user key falls over to the org pool.
                    state.byok = None;
                    state.request.byok = None;
                    self.step(now, id);
                } else {
                    // BYOK: the upstream status and Retry-After go back unchanged.
                    let retry_after = match response {
                        Response::Http(a) => crate::classify::parse_retry_after(
                            a,
                            self.catalog.epoch_unix_s,
                            now,
                            Duration(u64::MAX),
                        )
                        .map(Duration::as_secs_ceil),
                        Response::Transport(_) => None,
                    };
                    self.finish(now, id, Outcome::UpstreamFailed, status, retry_after);
                }
            }
            _ => self.step(now, id),
        }
    }

    fn record_health(
        &mut self,
        now: Instant,
        attempt: &InFlight,
        route: &Route,
        key: KeyId,
        class: Class,
        count_tokens: bool,
    ) {
        if self.catalog.credential(key).source == Source::Byok {
            // A user's own key is not the pool's: it is never marked (aibridge's BYOK
            // resolver marks are no-ops), so its next request still makes its one attempt.
            return;
        }
        let cap = self.cap();
        let unscoped_writes = self.policy.has(Regression::UnscopedHealthWrites);
        let model_scope = if unscoped_writes {
            Scope::UNSCOPED
        } else {
            self.scope_for(route, attempt.request)
        };
        let transient_scope = if self.policy.has(Regression::UnscopedTransientHealth) {
            Scope::UNSCOPED
        } else {
            model_scope
        };
        // Consecutive errors are about the path in one region (see `Scope::in_region`).
        let errors_scope =
            if self.policy.has(Regression::UnscopedTransientHealth) || unscoped_writes {
                Scope::UNSCOPED
            } else if model_scope == route.scope && attempt.region == route.region {
                route.regional_scope()
            } else {
                model_scope.in_region(attempt.region)
            };
        let suspension_scope = if unscoped_writes {
            Scope::UNSCOPED
        } else {
            self.suspension_scope(route)
        };
        // A reused buffer: recording an outcome should not allocate.
        let mut events = std::mem::take(&mut self.scratch.events);
        events.clear();
        let policy = &self.policy;
        // An outcome in the (credential, scope) history.
        let outcome = |e: &mut crate::health::Entry, ok: bool| {
            e.history
                .push(now, ok, policy.history_window, policy.history_entries_max);
        };
        match class {
            Class::RequestInvalid => return,
            Class::Success if count_tokens => {
                if policy.has(Regression::CountSuccessResumes) {
                    for scope in [model_scope, errors_scope, suspension_scope] {
                        let ((), w) = self.health.write(now, key, scope, cap, |e| {
                            e.cooling_until = Instant::ZERO;
                            e.unhealthy_until = Instant::ZERO;
                            e.suspended_until = Instant::ZERO;
                            e.errors_consecutive = 0;
                        });
                        events.extend(evicted(w));
                        events.push(Event::Resumed {
                            credential: key,
                            scope,
                            attempt: attempt.id,
                        });
                    }
                }
            }
            Class::Auth => {
                if policy.has(Regression::ScopedAuthBlacklist) || unscoped_writes {
                    let ((), w) = self.health.write(now, key, model_scope, cap, |e| {
                        e.blacklisted = true;
                        outcome(e, false);
                    });
                    events.extend(evicted(w));
                    events.push(Event::Blacklisted {
                        credential: key,
                        scope: Some(model_scope),
                        attempt: attempt.id,
                    });
                } else {
                    self.health.blacklist(key);
                    let ((), w) = self.health.write(now, key, model_scope, cap, |e| {
                        outcome(e, false);
                    });
                    events.extend(evicted(w));
                    events.push(Event::Blacklisted {
                        credential: key,
                        scope: None,
                        attempt: attempt.id,
                    });
                }
            }
            Class::ModelUnsupported => {
                let (until, w) = self.health.write(now, key, suspension_scope, cap, |e| {
                    e.suspended_until = e.suspended_until.max(now + policy.suspension_for);
                    e.suspended_until
                });
                events.extend(evicted(w));
                events.push(Event::Suspended {
                    credential: key,
                    scope: suspension_scope,
                    until,
                    attempt: attempt.id,
                });
                let ((), w) = self.health.write(now, key, model_scope, cap, |e| {
                    outcome(e, false);
                });
                events.extend(evicted(w));
            }
            Class::RateLimited { retry_after } => {
                let hint = retry_after
                    .unwrap_or(policy.retry_after_default)
                    .min(policy.retry_after_cap);
                let (until, w) = self.health.write(now, key, transient_scope, cap, |e| {
                    let proposed = now + hint;
                    e.cooling_until = if policy.has(Regression::LastWriterCooldown) {
                        proposed
                    } else {
                        e.cooling_until.max(proposed)
                    };
                    outcome(e, false);
                    e.cooling_until
                });
                events.extend(evicted(w));
                events.push(Event::CooledDown {
                    credential: key,
                    scope: transient_scope,
                    until,
                    attempt: attempt.id,
                });
            }
            Class::Transient | Class::Network | Class::Timeout | Class::StreamInterrupted => {
                let ((), w) = self.health.write(now, key, model_scope, cap, |e| {
                    outcome(e, false);
                });
                events.extend(evicted(w));
                let (unhealthy, w) = self.health.write(now, key, errors_scope, cap, |e| {
                    e.errors_consecutive += 1;
                    if e.errors_consecutive >= policy.errors_consecutive_max {
                        e.errors_consecutive = 0;
                        e.unhealthy_until = e.unhealthy_until.max(now + policy.unhealthy_for);
                        Some(e.unhealthy_until)
                    } else {
                        None
                    }
                });
                events.extend(evicted(w));
                if let Some(until) = unhealthy {
                    events.push(Event::MarkedUnhealthy {
                        credential: key,
                        scope: errors_scope,
                        until,
                        attempt: attempt.id,
                    });
                }
            }
            Class::Success => {
                let ((), w) = self.health.write(now, key, model_scope, cap, |e| {
                    e.errors_consecutive = 0;
                    outcome(e, true);
                });
                events.extend(evicted(w));
                // A success resets the consecutive-error count of its region (no entry is
                // created when there is nothing to reset).
                if self
                    .health
                    .entry(key, errors_scope)
                    .is_some_and(|e| e.errors_consecutive > 0)
                {
                    let ((), w) = self.health.write(now, key, errors_scope, cap, |e| {
                        e.errors_consecutive = 0;
                    });
                    events.extend(evicted(w));
                }
                if route.alias_scope.is_some() && policy.has(Regression::SuspendAliasNotUpstream) {
                    // The production bug: a sibling upstream's success lifts the alias-wide suspension.
                    let (was, w) = self.health.write(now, key, suspension_scope, cap, |e| {
                        let was = e.suspended_until > now;
                        e.suspended_until = Instant::ZERO;
                        was
                    });
                    events.extend(evicted(w));
                    if was {
                        events.push(Event::Resumed {
                            credential: key,
                            scope: suspension_scope,
                            attempt: attempt.id,
                        });
                    }
                }
            }
        }
        for e in events.drain(..) {
            self.emit(e);
        }
        self.scratch.events = events;
    }

    fn finish(
        &mut self,
        now: Instant,
        id: RequestId,
        outcome: Outcome,
        status: u16,
        retry_after_s: Option<u64>,
    ) {
        let Some(state) = self.requests.remove(&id) else {
            return;
        };
        for at in &state.waits {
            self.timers.remove(&(*at, TimerReason::CooldownWait(id)));
        }
        let mut events = std::mem::take(&mut self.scratch.events);
        events.clear();
        self.stats
            .record_request(id, &state.log, now, &self.policy, &mut events);
        for e in events.drain(..) {
            self.emit(e);
        }
        self.scratch.events = events;
        let hint_key = if self.policy.has(Regression::HintFromFirstKey) {
            state.first_selected
        } else {
            state.last_sent
        };
        let response = ClientResponse {
            status,
            retry_after_s,
            outcome,
            hint_key,
            hint: hint_key.map(|k| self.hints[k.index()].clone()),
            attempts: state.attempts,
        };
        self.spare.push(state);
        self.actions.push_back(Action::Respond(id, response));
    }

    fn check_invariants(&self) {
        if cfg!(debug_assertions) {
            self.health.check_invariants(self.cap());
            for (id, flight) in self.in_flight.iter() {
                debug_assert!(
                    self.deadlines.contains(&(flight.deadline, AttemptId(id))),
                    "every in-flight attempt has a deadline"
                );
            }
            for state in self.requests.values() {
                debug_assert!(
                    state.walk.charged <= self.policy.attempts_max
                        || self.policy.has(Regression::SkipCostsBudget),
                    "attempt budget respected"
                );
            }
        }
    }
}

/// The index of a project mode in per-mode tables.
fn mode_index(mode: Mode) -> usize {
    match mode {
        Mode::ApiKeys => 0,
        Mode::Credits => 1,
        Mode::Hybrid => 2,
    }
}

/// A rate-limited answer passes the (capped) hint on; nothing else carries one.
fn client_retry_after(class: Class) -> Option<u64> {
    match class {
        Class::RateLimited {
            retry_after: Some(d),
        } => Some(d.as_secs_ceil()),
        _ => None,
    }
}

fn evicted(w: crate::health::Written) -> Option<Event> {
    w.evicted
        .map(|(credential, scope)| Event::Evicted { credential, scope })
}

impl From<u64> for Duration {
    fn from(ms: u64) -> Duration {
        Duration(ms)
    }
}

impl std::ops::Add for Duration {
    type Output = Duration;
    fn add(self, o: Duration) -> Duration {
        Duration(self.0.saturating_add(o.0))
    }
}

#[cfg(test)]
mod tests;
