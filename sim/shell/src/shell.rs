//! The shared state of the gateway service: the core, the trace recorder that watches
//! it, and the routing of the core's actions to request tasks.
//!
//! Each input method feeds the core one input at the given simulated time, then drains
//! the core's events and actions: into the trace (as the engine records them) and to the
//! request tasks' mailboxes.

use crate::net::{Place, Upstream};
use crate::options::{ShellBug, ShellError, ShellStats};
use crate::board::Board;
use gatesim_core::{
    Action, AttemptId, ClientResponse, Duration, Event, Gateway, Instant, KeyId, Request,
    RequestId, Response, Scope, StreamProgress, TimerReason, TransportError,
};
use gatesim_sim::engine::{FinalState, Run};
use gatesim_sim::provider::Cause;
use gatesim_sim::trace::{Arrival, Names, Record, Trace};
use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Mutex, MutexGuard};
use tokio::sync::mpsc::{unbounded_channel, UnboundedReceiver, UnboundedSender};
use tracing::debug;

/// What the gateway tells a request task.
#[derive(Debug)]
pub(crate) enum Msg {
    /// Carry out this attempt (dropping any earlier call: the core has moved on from it).
    Dispatch(gatesim_core::Attempt),
    /// The answer for the client.
    Respond(ClientResponse),
}

/// A request task's mailbox.
pub(crate) type Inbox = UnboundedReceiver<Msg>;

/// An attempt whose answer the trace still expects.
#[derive(Debug)]
struct Flight {
    request: RequestId,
    place: Place,
    dispatched_at: Instant,
}

/// The shared state: the core, the trace being recorded, and the routing to request tasks.
pub(crate) struct Shell {
    gateway: Gateway,
    bug: Option<ShellBug>,
    credentials: usize,
    trace: Trace,
    names: Names,
    responses: Vec<(RequestId, Instant, ClientResponse)>,
    arrived_at: Vec<Instant>,
    attempts: u64,
    tracked: usize,
    tracked_max: usize,
    scopes_seen: BTreeSet<(KeyId, Scope)>,
    /// Attempts in flight that will get an `Answered` record (answer or deadline).
    pending: BTreeMap<AttemptId, Flight>,
    /// Open requests: their task's mailbox.
    inboxes: BTreeMap<RequestId, UnboundedSender<Msg>>,
    /// Instants a timer task sleeps until.
    pub armed: BTreeSet<Instant>,
    /// Ground truth of the network faults, for the causes of timeouts.
    pub board: Board,
    stats: ShellStats,
    steps: u64,
    steps_max: u64,
    last_now: Instant,
    failed: Option<ShellError>,
}

impl Shell {
    /// A shell around a gateway for a world's names, expecting `arrivals` requests.
    pub fn new(gateway: Gateway, names: Names, arrivals: usize, bug: Option<ShellBug>) -> Shell {
        Shell {
            credentials: gateway.catalog().credentials.len(),
            gateway,
            bug,
            trace: Trace::default(),
            names,
            responses: Vec::with_capacity(arrivals),
            arrived_at: Vec::with_capacity(arrivals),
            attempts: 0,
            tracked: 0,
            tracked_max: 0,
            scopes_seen: BTreeSet::new(),
            pending: BTreeMap::new(),
            inboxes: BTreeMap::new(),
            armed: BTreeSet::new(),
            board: Board::default(),
            stats: ShellStats::default(),
            steps: 0,
            steps_max: 64 * arrivals as u64 + 100_000,
            last_now: Instant::ZERO,
            failed: None,
        }
    }

    /// Records a fault edge (the injector calls this as it changes the network).
    pub fn fault_edge(&mut self, now: Instant, fault: usize, started: bool) {
        self.trace.push(now, Record::FaultEdge { fault, started });
    }

    /// Requests not yet answered or cancelled.
    pub fn open_requests(&self) -> usize {
        self.inboxes.len()
    }

    /// Stops the run with an error: every request task is let go.
    pub fn fail(&mut self, error: ShellError) {
        if self.failed.is_none() {
            self.failed = Some(error);
        }
        self.inboxes.clear();
    }

    /// The run as the engine would report it, and the shell's stats.
    pub fn finish(
        &mut self,
        seed: u64,
        net_messages: u64,
    ) -> Result<(Run, ShellStats), ShellError> {
        if let Some(error) = self.failed.take() {
            return Err(error);
        }
        let now = self.last_now;
        let final_state = FinalState {
            blacklisted: (0..self.credentials)
                .map(|k| {
                    self.gateway
                        .is_blacklisted(KeyId(k as u32), Scope::UNSCOPED)
                })
                .collect(),
            key_uptime_bp: self
                .scopes_seen
                .iter()
                .map(|(k, s)| ((*k, *s), self.gateway.key_uptime_bp(*k, *s, now)))
                .collect(),
            tracked_entries_max: self.tracked_max,
        };
        let mut stats = std::mem::take(&mut self.stats);
        stats.net_messages = net_messages;
        let run = Run {
            seed,
            trace: std::mem::take(&mut self.trace),
            names: std::mem::take(&mut self.names),
            final_state,
            responses: std::mem::take(&mut self.responses),
            arrivals: std::mem::take(&mut self.arrived_at),
            attempts: self.attempts,
            steps: self.steps,
            ended_at: now,
        };
        Ok((run, stats))
    }

    /// Counts one input; false (and the run failed) once the bound is passed.
    fn step(&mut self, now: Instant) -> bool {
        if self.failed.is_some() {
            return false;
        }
        self.last_now = now;
        self.steps += 1;
        if self.steps > self.steps_max {
            let open = self.gateway.open_requests();
            self.fail(ShellError::StepsExceeded {
                steps: self.steps,
                steps_max: self.steps_max,
                open,
            });
            return false;
        }
        true
    }

    pub(crate) fn submit(&mut self, now: Instant, request: Request) -> Option<(RequestId, Inbox)> {
        if !self.step(now) {
            return None;
        }
        self.names.learn(&request.model);
        let arrival = Arrival {
            request: RequestId(0),
            project: request.project,
            model: request.model.to_string(),
            kind: request.kind,
            stream: request.stream,
            byok: request.byok,
            iterations: request.iterations,
            body_digest: request.body_digest,
        };
        let id = self.gateway.submit(now, request);
        debug!(t_ms = now.as_ms(), request = id.0, model = %arrival.model, "arrival");
        self.arrived_at.push(now);
        // The arrival precedes what the gateway did with it.
        self.trace.push(
            now,
            Record::Arrived(Arrival {
                request: id,
                ..arrival
            }),
        );
        let (tx, rx) = unbounded_channel();
        self.inboxes.insert(id, tx);
        self.drain(now);
        Some((id, rx))
    }

    pub(crate) fn answer(&mut self, now: Instant, upstream: Upstream) {
        if !self.step(now) {
            return;
        }
        let Upstream {
            attempt,
            response,
            cause,
            sent_at,
        } = upstream;
        let mut target = attempt;
        match self.pending.remove(&attempt) {
            Some(flight) => {
                let status = match &response {
                    Response::Http(a) => a.status,
                    Response::Transport(_) => 0,
                };
                let cause = match sent_at {
                    Some(sent) => conveyed_on_arrival(cause, &response, sent, now),
                    None => cause,
                };
                self.trace.push(
                    now,
                    Record::Answered {
                        attempt,
                        status,
                        cause,
                    },
                );
                self.stats.connects_failed += u64::from(sent_at.is_none());
                if self.bug == Some(ShellBug::AnswersMatchedByPlace) {
                    // The bug: the newest attempt in flight to the same place takes it.
                    if let Some((newest, _)) = self
                        .pending
                        .iter()
                        .rev()
                        .find(|(_, f)| f.place == flight.place)
                    {
                        target = *newest;
                    }
                }
            }
            None => self.stats.stale_answers += 1,
        }
        let response = match response {
            Response::Http(a)
                if a.stream == StreamProgress::BrokeAfterFirstByte
                    && self.bug == Some(ShellBug::MidStreamBreakAsConnectError) =>
            {
                Response::Transport(TransportError::Connect)
            }
            other => other,
        };
        self.gateway.handle_response(now, target, response);
        self.drain(now);
    }

    /// Handles every gateway timer due at `now`, one per call as the core asks.
    pub(crate) fn timers_due(&mut self, now: Instant) {
        while let Some((at, reason)) = self.gateway.poll_timeout() {
            if at > now || !self.step(now) {
                return;
            }
            if let TimerReason::AttemptDeadline(attempt) = reason {
                self.expire(now, attempt);
            }
            let _ = self.gateway.handle_timeout(now);
            self.drain(now);
        }
    }

    /// An attempt whose deadline passed without an answer: record why, just before the
    /// gateway handles it. An outage on its node since dispatch is the cause, else the
    /// provider was too slow.
    fn expire(&mut self, now: Instant, attempt: AttemptId) {
        let Some(flight) = self.pending.remove(&attempt) else {
            return;
        };
        self.stats.attempt_timeouts += 1;
        let cause = if self.board.touched(flight.place, flight.dispatched_at) {
            Cause::OutageTimeout
        } else {
            Cause::TooSlow
        };
        self.trace.push(
            now,
            Record::Answered {
                attempt,
                status: 0,
                cause,
            },
        );
    }

    /// The client went away: cancel the request in the core, forget its attempts.
    pub(crate) fn cancel(&mut self, now: Instant, request: RequestId) {
        if self.failed.is_some() || self.inboxes.remove(&request).is_none() {
            // Already answered (the answer is in the gone client's mailbox).
            return;
        }
        if !self.step(now) {
            return;
        }
        debug!(
            t_ms = now.as_ms(),
            request = request.0,
            "client disconnected"
        );
        self.gateway.cancel(now, request);
        let before = self.pending.len();
        self.pending.retain(|_, f| f.request != request);
        self.stats.attempts_cancelled += (before - self.pending.len()) as u64;
        self.stats.disconnects += 1;
        self.drain(now);
    }

    /// Drains the core's outputs after an input: events to the trace, attempts and
    /// answers to the request tasks.
    fn drain(&mut self, now: Instant) {
        while let Some(event) = self.gateway.poll_event() {
            // A charge that opened an attempt is the `[budget]` mark of its dispatch line.
            if !matches!(
                event,
                Event::Charged {
                    attempt: Some(_),
                    ..
                }
            ) {
                self.trace.push(now, Record::Core(event));
            }
        }
        while let Some(action) = self.gateway.poll_action() {
            match action {
                Action::Dispatch(attempt) => {
                    self.attempts += 1;
                    self.scopes_seen.insert((attempt.credential, attempt.scope));
                    self.pending.insert(
                        attempt.id,
                        Flight {
                            request: attempt.request,
                            place: (attempt.provider, attempt.region),
                            dispatched_at: now,
                        },
                    );
                    self.trace.push(now, Record::Dispatched(attempt.clone()));
                    let request = attempt.request;
                    match self.inboxes.get(&request) {
                        Some(inbox) => {
                            // A closed mailbox is a client that is going away right now.
                            let _ = inbox.send(Msg::Dispatch(attempt));
                        }
                        None => debug_assert!(false, "attempt for a closed request {request}"),
                    }
                }
                Action::Respond(request, response) => {
                    debug!(
                        t_ms = now.as_ms(),
                        request = request.0,
                        status = response.status,
                        outcome = response.outcome.name(),
                        "respond"
                    );
                    self.trace.push(
                        now,
                        Record::Responded {
                            request,
                            response: response.clone(),
                        },
                    );
                    self.responses.push((request, now, response.clone()));
                    if let Some(inbox) = self.inboxes.remove(&request) {
                        let _ = inbox.send(Msg::Respond(response));
                    }
                }
            }
        }
        let tracked = self.gateway.tracked_entries();
        if tracked != self.tracked {
            self.tracked = tracked;
            self.tracked_max = self.tracked_max.max(tracked);
            self.trace.push(now, Record::Tracked { entries: tracked });
        }
        let stats = &mut self.stats;
        stats.requests_in_flight_max = stats.requests_in_flight_max.max(self.inboxes.len());
        stats.attempts_in_flight_max = stats.attempts_in_flight_max.max(self.pending.len());
    }

    /// The shell's own bookkeeping agrees with the core's (debug and test builds; a
    /// deliberately broken shell breaks it on purpose, so it is not checked there).
    pub(crate) fn check_invariants(&self) {
        if !cfg!(debug_assertions) || self.bug.is_some() || self.failed.is_some() {
            return;
        }
        assert_eq!(
            self.inboxes.len(),
            self.gateway.open_requests(),
            "a mailbox per open request"
        );
        for (attempt, flight) in &self.pending {
            assert!(
                self.inboxes.contains_key(&flight.request),
                "{attempt} in flight for {}, which is closed",
                flight.request
            );
        }
        assert!(
            self.pending.len() <= self.inboxes.len(),
            "at most one attempt in flight per request"
        );
        if let Some((at, _)) = self.gateway.poll_timeout() {
            assert!(
                self.armed.first().is_some_and(|armed| *armed <= at),
                "a timer task wakes the gateway by {at}"
            );
        }
    }

    /// The instant a new timer task must sleep until, if the core's next timer is earlier
    /// than every armed one (later ones re-arm when they wake).
    pub(crate) fn rearm(&mut self) -> Option<Instant> {
        if self.failed.is_some() {
            return None;
        }
        let (at, _) = self.gateway.poll_timeout()?;
        if self.armed.first().is_some_and(|armed| *armed <= at) {
            return None;
        }
        self.armed.insert(at);
        Some(at)
    }
}

/// Locks the shell state. madsim runs every task on one thread, so the lock is never
/// contended; it is poisoned only by a panic, which already ends the run.
pub(crate) fn lock(shell: &Mutex<Shell>) -> MutexGuard<'_, Shell> {
    shell
        .lock()
        .expect("shell state: a panic while locked has already ended the run")
}

/// The ground truth of an answer as it reaches the gateway: a fake provider states a rate
/// limit's hint relative to when it sent the answer, which is when it reaches the engine's
/// gateway. Over a network that is so for a delay (`Retry-After: 30`, `retry-after-ms`),
/// but an HTTP-date names an instant: what it conveys shrinks by the time in transit, and
/// a date already past conveys nothing.
fn conveyed_on_arrival(cause: Cause, response: &Response, sent: Instant, now: Instant) -> Cause {
    let Cause::RateLimited { hint: Some(hint) } = cause else {
        return cause;
    };
    let Response::Http(answer) = response else {
        return cause;
    };
    let dated = answer.retry_after_ms.is_none()
        && answer
            .retry_after
            .as_deref()
            .is_some_and(|v| !v.trim().bytes().all(|b| b.is_ascii_digit()));
    if !dated {
        return cause;
    }
    let transit = now.saturating_since(sent).as_ms();
    Cause::RateLimited {
        hint: hint
            .as_ms()
            .checked_sub(transit)
            .filter(|ms| *ms > 0)
            .map(Duration::from_ms),
    }
}
