//! The gateway state machine, the engine's front door: inputs, commands and polls over
//! the parts in `gateway/`, which never see the gateway itself.
//!
//! Each part owns its state or takes what it needs as arguments:
//!
//! | part | holds |
//! |---|---|
//! | `config` | [`ConfigError`] and the catalog and policy checks |
//! | `routes` | model name → route set (canonical, alias rotation, `provider/model`, custom) |
//! | `candidates` | pools, regional tokens, the per-mode candidate cache |
//! | `scopes` | which health records a route reads and which it writes |
//! | `keypool` | the walk: primary first, never revisits, budget and charges, the pick |
//! | `retry` | the next [`Decision`](retry::Decision) after an answer or when nothing is left |
//! | `health_writes` | what each answer class writes into key health |
//! | `request` | open requests' state and the reuse of finished ones |
//! | `flights` | attempts in flight, deadlines and waits: the timer table |
//! | `outputs` | the action queue and the event log |

use crate::catalog::Catalog;
use crate::classify::classify;
use crate::event::{Action, Event, Request, TimerReason};
use crate::health::Health;
use crate::id::{KeyId, RequestId, Scope};
use crate::policy::{Forbidden, KeySelection, Policy, Regression};
use crate::response::{
    ClientResponse, HttpAnswer, Response, StreamError, StreamProgress, TransportError,
};
use crate::stats::{AttemptRecord, Stats};
use crate::time::Instant;
use candidates::{Candidate, Candidates, Lookup};
use flights::{Flights, InFlight};
use outputs::Outputs;
use request::{RequestState, Requests};
use retry::{After, Answer, Decision, Scratch};
use routes::Routes;

pub use config::ConfigError;

pub(crate) mod candidates;
mod config;
mod flights;
mod health_writes;
mod keypool;
mod outputs;
mod request;
mod retry;
pub(crate) mod routes;
mod scopes;
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
    routes: Routes,
    candidates: Candidates,
    health: Health,
    stats: Stats,
    requests: Requests,
    flights: Flights,
    out: Outputs,
    /// Buffers reused by every decision so that deciding does not allocate.
    scratch: Scratch,
    last_now: Instant,
}

impl Gateway {
    /// A gateway over a catalog with a policy.
    pub fn new(catalog: Catalog, policy: Policy) -> Result<Gateway, ConfigError> {
        config::validate(&catalog, &policy)?;
        let routes = Routes::new(&catalog);
        let candidates = Candidates::new(&catalog, routes.sets());
        Ok(Gateway {
            catalog,
            policy,
            routes,
            candidates,
            health: Health::default(),
            stats: Stats::default(),
            requests: Requests::default(),
            flights: Flights::default(),
            out: Outputs::default(),
            scratch: Scratch::default(),
            last_now: Instant::ZERO,
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
    /// The rate-limit cooldown end recorded for (credential, scope), if that pair is
    /// tracked (an end at or before `now` means the cooldown is over).
    pub fn cooldown_until(&self, key: KeyId, scope: Scope) -> Option<Instant> {
        self.health.entry(key, scope).map(|e| e.cooling_until)
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
        self.out.set_enabled(enabled);
    }

    // ---- inputs ----

    /// Accepts a client request; its attempts and answer come out of `poll_action`.
    pub fn submit(&mut self, now: Instant, request: Request) -> RequestId {
        self.advance_clock(now);
        let id = self.requests.next_id();
        let mode = self.catalog.project(request.project).mode;
        let resolved = self.routes.resolve(&self.catalog, &request.model);
        self.candidates.cover(self.routes.sets());
        self.requests
            .open(id, RequestState::new(request, mode, resolved));
        self.step(now, id);
        self.check_invariants();
        id
    }

    /// Handles an upstream answer to an attempt. Answers to attempts no longer in flight
    /// (timed out, cancelled) are recorded as stale and otherwise ignored.
    pub fn handle_response(
        &mut self,
        now: Instant,
        attempt: crate::id::AttemptId,
        response: Response,
    ) {
        self.advance_clock(now);
        let Some(flight) = self.flights.land(attempt) else {
            self.out.emit(Event::StaleResponse { attempt });
            return;
        };
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
                if let Some(flight) = self.flights.expire_first(id) {
                    let timeout = Response::Transport(TransportError::Timeout);
                    self.on_answer(now, flight, &timeout);
                }
            }
            TimerReason::CooldownWait(request) => {
                self.flights.end_wait(at, request);
                if let Some(state) = self.requests.get_mut(request) {
                    state.waits.retain(|w| *w != at);
                    state.walk.next_round();
                    self.step(now, request);
                }
            }
        }
        self.check_invariants();
        true
    }

    // ---- commands ----

    /// Cancels a request (client gone): its in-flight attempt's answer will be stale.
    pub fn cancel(&mut self, now: Instant, request: RequestId) {
        self.advance_clock(now);
        if let Some(state) = self.requests.close(request) {
            if let Some(a) = state.in_flight {
                self.flights.cancel(a);
            }
            for at in &state.waits {
                self.flights.end_wait(*at, request);
            }
            self.requests.recycle(state);
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
        self.out.next_action()
    }

    /// The next instant the gateway must be woken with `handle_timeout`, and why.
    #[must_use]
    pub fn poll_timeout(&self) -> Option<(Instant, TimerReason)> {
        self.flights.first()
    }

    /// The next trace event.
    #[must_use]
    pub fn poll_event(&mut self) -> Option<Event> {
        self.out.next_event()
    }

    // ---- internals ----

    fn advance_clock(&mut self, now: Instant) {
        assert!(
            now >= self.last_now,
            "time went backwards: {now} < {}",
            self.last_now
        );
        self.last_now = now;
    }

    /// Decides a request's next step and carries it out.
    fn step(&mut self, now: Instant, id: RequestId) {
        let Some(state) = self.requests.get_mut(id) else {
            return;
        };
        let at = Lookup {
            catalog: &self.catalog,
            policy: &self.policy,
            health: &self.health,
        };
        let table = (&self.candidates, &self.stats);
        let decision = retry::decide(at, table, now, id, state, &mut self.scratch, &mut self.out);
        match decision {
            Decision::Dispatch(pick) => self.dispatch(now, id, pick),
            Decision::Wait(until) => {
                state.waited = state.waited + until.saturating_since(now);
                state.walk.rounds += 1;
                state.waits.push(until);
                self.flights.wait(until, id);
                self.out.emit(Event::Waiting { request: id, until });
            }
            Decision::Finish(answer) => self.finish(now, id, answer),
        }
    }

    /// Sends an attempt to the picked candidate.
    fn dispatch(&mut self, now: Instant, id: RequestId, pick: Candidate) {
        let attempt_id = self.flights.next_id();
        let state = self
            .requests
            .get_mut(id)
            .expect("request present: dispatching for it");
        let route = &state.routes[pick.route];
        let place = (route.provider, pick.region);
        let charged = state.walk.enter(pick.route, pick.health_key, place);
        if charged && self.out.enabled() {
            self.out.emit(Event::Charged {
                request: id,
                iteration: state.iteration,
                provider: place.0,
                region: place.1,
                attempt: Some(attempt_id),
            });
        }
        let swapped = pick.sent != pick.selected;
        let endpoint = if swapped && self.policy.has(Regression::DropEndpointOnRegionSwap) {
            None
        } else {
            self.candidates.endpoint(pick.sent)
        };
        let attempt = state.attempt(&self.policy, (attempt_id, id), &pick, endpoint, charged);
        if self.policy.rotates() {
            self.candidates.advance_shared_cursor();
        }
        if self.policy.key_selection == KeySelection::Weighted {
            let usable = self
                .scratch
                .listed()
                .iter()
                .filter(|c| c.route == pick.route && c.block.is_none() && !c.tried);
            self.candidates
                .weigh(usable.map(|c| c.selected), pick.selected);
        }
        let deadline = now + self.policy.attempt_timeout;
        self.flights
            .start(InFlight::of(&attempt, pick.route, deadline));
        self.out.act(Action::Dispatch(attempt));
    }

    /// Classifies an attempt's answer, records it in health and the request's log, and
    /// carries on with the request.
    fn on_answer(&mut self, now: Instant, flight: InFlight, response: &Response) {
        let epoch = self.catalog.epoch_unix_s;
        let class = classify(response, flight.kind, &self.policy, epoch, now);
        self.out.emit(Event::Classified {
            attempt: flight.id,
            class,
        });
        let id = flight.request;
        let Some(state) = self.requests.get_mut(id) else {
            return;
        };
        // The route the attempt was dispatched on (a request's routes never change).
        let route = &state.routes[flight.route];
        let parts = (&self.catalog, &self.policy);
        // LiteLLM (#32574): a failure after an earlier one of the same request is not recorded.
        let retried_failure = !self.policy.retried_failures_mark_health
            && class.is_upstream_failure()
            && state.log.iter().any(|r| r.class.is_upstream_failure());
        // LiteLLM (#29808): a broken stream never counts against its key.
        let unrecorded = retried_failure
            || (!self.policy.stream_breaks_fail_over && broke(response))
            || (self.policy.forbidden == Forbidden::NextKey && status(response) == Some(403));
        if !unrecorded {
            health_writes::record(
                &mut self.health,
                parts,
                &mut self.out,
                now,
                &flight,
                route,
                class,
            );
        }
        let mut upstream = retry::upstream_answer(class, response);
        if !self.policy.upstream_retry_after_passed_on {
            upstream.retry_after_s = None;
        }
        let record = AttemptRecord {
            attempt: flight.id,
            iteration: flight.iteration,
            provider: flight.provider,
            region: flight.region,
            scope: flight.scope,
            credential: flight.health_key(&self.policy),
            class,
        };
        state.answered(record, upstream);
        let epoch = self.catalog.epoch_unix_s;
        match retry::after_answer(&self.policy, epoch, now, state, class, upstream, response) {
            After::Decide => self.step(now, id),
            After::Finish(answer) => self.finish(now, id, answer),
        }
    }

    /// Answers the client and folds the request's attempts into the statistics.
    fn finish(&mut self, now: Instant, id: RequestId, answer: Answer) {
        let Some(state) = self.requests.close(id) else {
            return;
        };
        for at in &state.waits {
            self.flights.end_wait(*at, id);
        }
        let (stats, policy) = (&mut self.stats, &self.policy);
        self.out
            .emit_batch(|events| stats.record_request(id, &state.log, now, policy, events));
        let hint_key = if self.policy.has(Regression::HintFromFirstKey) {
            state.first_selected
        } else {
            state.last_sent
        };
        // An earlier iteration of a streamed agentic loop already sent the 200 and bytes:
        // a later failure can only be an error event in that stream.
        let committed = state.request.stream && state.iteration > 1;
        let in_stream = committed
            && answer.status != 200
            && !self.policy.has(Regression::ExhaustionStatusAfterStream);
        let (status, retry_after_s, stream_error) = if in_stream {
            let error = StreamError {
                status: answer.status,
                retry_after_s: answer.retry_after_s,
            };
            (200, None, Some(error))
        } else {
            (answer.status, answer.retry_after_s, None)
        };
        let response = ClientResponse {
            status,
            retry_after_s,
            stream_error,
            outcome: answer.outcome,
            hint_key,
            hint: hint_key.map(|k| self.candidates.hint(k)),
            attempts: state.attempts,
        };
        self.requests.recycle(state);
        self.out.act(Action::Respond(id, response));
    }

    /// Debug-build consistency checks of every part, after every handler.
    fn check_invariants(&self) {
        if cfg!(debug_assertions) {
            self.health
                .check_invariants(health_writes::cap(&self.policy));
            self.flights.check_invariants();
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

#[cfg(test)]
mod tests;

/// Whether an answer is a 200 whose stream broke, before or after its first byte.
fn broke(response: &Response) -> bool {
    matches!(
        response,
        Response::Http(HttpAnswer {
            stream: StreamProgress::BrokeBeforeFirstByte | StreamProgress::BrokeAfterFirstByte,
            ..
        })
    )
}

/// The HTTP status of an answer, if it had one.
fn status(response: &Response) -> Option<u16> {
    match response {
        Response::Http(a) => Some(a.status),
        Response::Transport(_) => None,
    }
}
