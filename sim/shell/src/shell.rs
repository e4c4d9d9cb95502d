//! The shared state of the gateway service: the core, the engine's trace recorder that
//! watches it, and the routing of the core's actions to request tasks; and the lock
//! every task takes it through.
//!
//! Each input method feeds the core one input at the given simulated time, then drains
//! the core's events and actions: into the [`Recorder`] (the engine's, so the traces
//! agree) and to the request tasks' mailboxes.

use crate::board::Board;
use crate::net::{Place, Upstream};
use crate::options::{ShellBug, ShellError, ShellStats};
use gatesim_core::{
    Action, AttemptId, ClientResponse, Duration, Gateway, Instant, Request, RequestId, Response,
    StreamProgress, TimerReason, TransportError,
};
use gatesim_sim::engine::Run;
use gatesim_sim::provider::Cause;
use gatesim_sim::recorder::{Keep, Recorder};
use gatesim_sim::trace::Names;
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
    /// The trace and the run's outputs, recorded as the engine records them.
    recorder: Recorder,
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
    pub(crate) fn new(
        gateway: Gateway,
        names: Names,
        arrivals: usize,
        bug: Option<ShellBug>,
    ) -> Shell {
        let keep = Keep {
            trace: true,
            outputs: true,
        };
        Shell {
            gateway,
            bug,
            recorder: Recorder::new(names, keep, arrivals),
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
    pub(crate) fn fault_edge(&mut self, now: Instant, fault: usize, started: bool) {
        self.recorder.fault_edge(now, fault, started);
    }

    /// Requests not yet answered or cancelled.
    pub(crate) fn open_requests(&self) -> usize {
        self.inboxes.len()
    }

    /// Stops the run with an error: every request task is let go.
    pub(crate) fn fail(&mut self, error: ShellError) {
        if self.failed.is_none() {
            self.failed = Some(error);
        }
        self.inboxes.clear();
    }

    /// The run as the engine would report it, and the shell's stats.
    pub(crate) fn finish(
        &mut self,
        seed: u64,
        net_messages: u64,
    ) -> Result<(Run, ShellStats), ShellError> {
        if let Some(error) = self.failed.take() {
            return Err(error);
        }
        let recorder = std::mem::take(&mut self.recorder);
        let run = recorder.finish(&self.gateway, seed, self.steps, self.last_now);
        let mut stats = std::mem::take(&mut self.stats);
        stats.net_messages = net_messages;
        Ok((run, stats))
    }

    /// Counts one input; false (and the run failed) once the bound is passed.
    fn step(&mut self, now: Instant) -> bool {
        if self.failed.is_some() {
            return false;
        }
        debug_assert!(now >= self.last_now, "inputs come in time order");
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
        let arrival = self.recorder.arriving(&request);
        let id = self.gateway.submit(now, request);
        self.recorder.arrived(now, id, arrival);
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
                debug_assert!(
                    flight.dispatched_at <= now,
                    "{attempt} answered before sent"
                );
                let cause = match sent_at {
                    Some(sent) => conveyed_on_arrival(cause, &response, sent, now),
                    None => cause,
                };
                self.recorder.answered(now, attempt, &response, cause);
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
        self.recorder.timed_out(now, attempt, cause);
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
        self.recorder.cancelled(request);
        let before = self.pending.len();
        self.pending.retain(|_, f| f.request != request);
        self.stats.attempts_cancelled += (before - self.pending.len()) as u64;
        self.stats.disconnects += 1;
        self.drain(now);
    }

    /// Drains the core's outputs after an input: events to the trace, attempts and
    /// answers to the request tasks.
    fn drain(&mut self, now: Instant) {
        self.recorder.events(now, &mut self.gateway);
        while let Some(action) = self.gateway.poll_action() {
            match action {
                Action::Dispatch(attempt) => {
                    let earlier = self.pending.insert(
                        attempt.id,
                        Flight {
                            request: attempt.request,
                            place: (attempt.provider, attempt.region),
                            dispatched_at: now,
                        },
                    );
                    debug_assert!(earlier.is_none(), "{} dispatched twice", attempt.id);
                    self.recorder.dispatched(now, attempt.clone());
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
                    self.recorder.responded(now, request, &response);
                    self.recorder.keep_response(now, request, response.clone());
                    if let Some(inbox) = self.inboxes.remove(&request) {
                        let _ = inbox.send(Msg::Respond(response));
                    }
                }
            }
        }
        self.recorder.tracked(now, self.gateway.tracked_entries());
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
        let fresh = self.armed.insert(at);
        debug_assert!(fresh, "no timer task is armed for {at} yet");
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
