//! The run recorder: what the gateway was given and what it did, turned into trace
//! records and the run's tallies. The engine and the madsim shell both record through it,
//! so their traces agree byte for byte.
//!
//! The driver calls one method per fact, at the simulated time it happened and in the
//! order it happened: [`arriving`](Recorder::arriving) and [`arrived`](Recorder::arrived)
//! around `Gateway::submit`, [`answered`](Recorder::answered) or
//! [`timed_out`](Recorder::timed_out) before the gateway handles the answer, and after
//! every input [`events`](Recorder::events), then [`dispatched`](Recorder::dispatched) and
//! [`responded`](Recorder::responded) per action, then [`tracked`](Recorder::tracked).
//! [`finish`](Recorder::finish) reads the gateway's final state and gives the [`Run`].
//!
//! With the trace off, nothing is allocated per record: only the tallies are kept.

// Every record and event kind is named in each match: a new kind must be decided about.
#![warn(clippy::wildcard_enum_match_arm)]

use crate::provider::Cause;
use crate::trace::{Arrival, Names, Record, Trace};
use gatesim_core::{
    Attempt, AttemptId, ClientResponse, Event, Gateway, Instant, KeyId, ProviderId, RegionId,
    Request, RequestId, Response, Scope,
};
use std::collections::BTreeMap;
use tracing::debug;

/// What a run produced.
#[derive(Debug)]
pub struct Run {
    /// The seed it ran with.
    pub seed: u64,
    /// Every record.
    pub trace: Trace,
    /// Names for rendering the trace.
    pub names: Names,
    /// Final state the checker needs.
    pub final_state: FinalState,
    /// Client answers in request order.
    pub responses: Vec<(RequestId, Instant, ClientResponse)>,
    /// Arrival time of each request.
    pub arrivals: Vec<Instant>,
    /// Attempts dispatched.
    pub attempts: u64,
    /// Events processed.
    pub steps: u64,
    /// Simulated time at the end.
    pub ended_at: Instant,
}

/// The gateway's state when the run ended, as reported by its getters.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct FinalState {
    /// Per credential: blacklisted?
    pub blacklisted: Vec<bool>,
    /// Per (credential, scope) seen in attempts: reported uptime in basis points.
    pub key_uptime_bp: BTreeMap<(KeyId, Scope), u32>,
    /// Highest number of tracked health entries seen.
    pub tracked_entries_max: usize,
    /// Per (provider, region, model) seen in attempts: reported mapping uptime.
    pub mapping_uptime_bp: BTreeMap<(ProviderId, RegionId, Scope), u32>,
    /// Per model seen in attempts: reported model uptime.
    pub model_uptime_bp: BTreeMap<Scope, u32>,
    /// Reported provider scores: (requests, failed) per provider × region.
    pub provider_scores: BTreeMap<(ProviderId, RegionId), (u64, u64)>,
    /// Requests whose client went away before the answer (cancelled in the core).
    pub cancelled: Vec<RequestId>,
}

/// What a recorder keeps besides its tallies (attempts, the highest tracked-entry count).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Keep {
    /// The trace (off for pure speed runs).
    pub trace: bool,
    /// Per-request outputs: client answers, arrival times, and the (credential, scope)
    /// pairs whose final uptime is reported (off for streaming runs, whose memory stays
    /// bounded however long they go on).
    pub outputs: bool,
}

/// Records one run: the trace, the per-request outputs and the tallies of a [`Run`].
#[derive(Debug, Default)]
pub struct Recorder {
    keep: Keep,
    trace: Trace,
    names: Names,
    responses: Vec<(RequestId, Instant, ClientResponse)>,
    arrived_at: Vec<Instant>,
    attempts: u64,
    tracked: usize,
    tracked_max: usize,
    /// (credential, scope) of every attempt, duplicates included: sorted and deduplicated
    /// once at the end (cheaper than a set insert per attempt).
    scopes_seen: Vec<(KeyId, Scope)>,
    mappings_seen: Vec<(ProviderId, RegionId, Scope)>,
    cancelled: Vec<RequestId>,
    /// The latest time recorded: facts come in time order.
    now: Instant,
}

impl Recorder {
    /// A recorder rendering with `names`, keeping what `keep` says; `requests_hint` sizes
    /// the per-request outputs (a capacity hint only).
    pub fn new(names: Names, keep: Keep, requests_hint: usize) -> Recorder {
        let kept = if keep.outputs { requests_hint } else { 0 };
        Recorder {
            keep,
            names,
            responses: Vec::with_capacity(kept),
            arrived_at: Vec::with_capacity(kept),
            ..Recorder::default()
        }
    }

    /// A fault of the plan started or ended.
    pub fn fault_edge(&mut self, now: Instant, fault: usize, started: bool) {
        self.push(now, || Record::FaultEdge { fault, started });
    }

    /// A request about to be submitted: what its arrival record will say. Call before
    /// `Gateway::submit` (which takes the request), then [`arrived`](Self::arrived).
    pub fn arriving(&mut self, request: &Request) -> Arrival {
        if self.keep.trace {
            self.names.learn(&request.model);
        }
        // The model is named in the trace and in debug logs only: no copy otherwise.
        let model = if self.keep.trace || tracing::enabled!(tracing::Level::DEBUG) {
            request.model.to_string()
        } else {
            String::new()
        };
        Arrival {
            request: RequestId(0),
            project: request.project,
            model,
            kind: request.kind,
            stream: request.stream,
            byok: request.byok,
            iterations: request.iterations,
            body_digest: request.body_digest,
        }
    }

    /// The gateway took the request [`arriving`](Self::arriving) described, as `id`.
    pub fn arrived(&mut self, now: Instant, id: RequestId, arrival: Arrival) {
        debug!(t_ms = now.as_ms(), request = id.0, model = %arrival.model, "arrival");
        if self.keep.outputs {
            self.arrived_at.push(now);
        }
        // The arrival precedes what the gateway did with it.
        self.push(now, || {
            Record::Arrived(Arrival {
                request: id,
                ..arrival
            })
        });
    }

    /// An upstream answer for an attempt in flight, just before the gateway handles it;
    /// `cause` is the ground truth of why the provider answered so.
    pub fn answered(
        &mut self,
        now: Instant,
        attempt: AttemptId,
        response: &Response,
        cause: Cause,
    ) {
        self.push(now, || Record::Answered {
            attempt,
            status: match response {
                Response::Http(answer) => answer.status,
                Response::Transport(_) => 0,
            },
            cause,
        });
    }

    /// An attempt whose deadline passed without an answer, just before the gateway
    /// handles the timeout; `cause` says why no answer came.
    pub fn timed_out(&mut self, now: Instant, attempt: AttemptId, cause: Cause) {
        debug_assert!(
            matches!(cause, Cause::OutageTimeout | Cause::TooSlow),
            "a deadline passes for an outage or a slow provider, not {cause}"
        );
        self.push(now, || Record::Answered {
            attempt,
            status: 0,
            cause,
        });
    }

    /// Drains the gateway's events into the trace (call after every input, before its
    /// actions).
    pub fn events(&mut self, now: Instant, gateway: &mut Gateway) {
        while let Some(event) = gateway.poll_event() {
            // A charge that opened an attempt is the `[budget]` mark of its dispatch line.
            if !matches!(
                event,
                Event::Charged {
                    attempt: Some(_),
                    ..
                }
            ) {
                self.push(now, || Record::Core(event));
            }
        }
    }

    /// The client of `request` went away and the request was cancelled in the core: it
    /// gets no answer, and the checker does not wait for one.
    pub fn cancelled(&mut self, request: RequestId) {
        self.cancelled.push(request);
    }

    /// The gateway dispatched an attempt.
    pub fn dispatched(&mut self, now: Instant, attempt: Attempt) {
        self.attempts += 1;
        if self.keep.outputs {
            self.scopes_seen.push((attempt.credential, attempt.scope));
            self.mappings_seen
                .push((attempt.provider, attempt.region, attempt.scope));
        }
        self.push(now, || Record::Dispatched(attempt));
    }

    /// The gateway answered its client (keep the answer with
    /// [`keep_response`](Self::keep_response), or hand it on).
    pub fn responded(&mut self, now: Instant, request: RequestId, response: &ClientResponse) {
        debug!(
            t_ms = now.as_ms(),
            request = request.0,
            status = response.status,
            outcome = response.outcome.name(),
            "respond"
        );
        self.push(now, || Record::Responded {
            request,
            response: response.clone(),
        });
    }

    /// Keeps a client answer for the run's `responses`.
    pub fn keep_response(&mut self, now: Instant, request: RequestId, response: ClientResponse) {
        debug_assert!(self.keep.outputs, "answers are kept only when outputs are");
        self.responses.push((request, now, response));
    }

    /// The gateway's tracked health entries after an input (recorded when they changed).
    pub fn tracked(&mut self, now: Instant, entries: usize) {
        if entries != self.tracked {
            self.tracked = entries;
            self.tracked_max = self.tracked_max.max(entries);
            self.push(now, || Record::Tracked { entries });
        }
    }

    /// The run: the gateway's final state as its getters report it at `now`, and every
    /// record and tally.
    pub fn finish(mut self, gateway: &Gateway, seed: u64, steps: u64, now: Instant) -> Run {
        debug_assert!(now >= self.now, "the run ends after its last record");
        let credentials = gateway.catalog().credentials.len();
        let blacklisted = (0..credentials)
            .map(|k| gateway.is_blacklisted(KeyId(k as u32), Scope::UNSCOPED))
            .collect();
        self.scopes_seen.sort_unstable();
        self.scopes_seen.dedup();
        let key_uptime_bp = self
            .scopes_seen
            .iter()
            .map(|(k, s)| ((*k, *s), gateway.key_uptime_bp(*k, *s, now)))
            .collect();
        let (mapping_uptime_bp, model_uptime_bp) = self.uptimes(gateway, now);
        let provider_scores = gateway
            .stats()
            .scores()
            .map(|(place, s)| (*place, (s.requests, s.failed)))
            .collect();
        debug_assert!(
            self.keep.outputs || (self.responses.is_empty() && self.arrived_at.is_empty()),
            "a streaming run keeps no per-request outputs"
        );
        Run {
            seed,
            trace: self.trace,
            names: self.names,
            final_state: FinalState {
                blacklisted,
                key_uptime_bp,
                tracked_entries_max: self.tracked_max,
                mapping_uptime_bp,
                model_uptime_bp,
                provider_scores,
                cancelled: std::mem::take(&mut self.cancelled),
            },
            responses: self.responses,
            arrivals: self.arrived_at,
            attempts: self.attempts,
            steps,
            ended_at: now,
        }
    }

    /// The mapping and model uptimes the gateway reports at `now`, for every mapping and
    /// model seen in attempts.
    #[allow(clippy::type_complexity)] // two maps, named by the caller
    fn uptimes(
        &mut self,
        gateway: &Gateway,
        now: Instant,
    ) -> (
        BTreeMap<(ProviderId, RegionId, Scope), u32>,
        BTreeMap<Scope, u32>,
    ) {
        let (stats, policy) = (gateway.stats(), gateway.policy());
        self.mappings_seen.sort_unstable();
        self.mappings_seen.dedup();
        let mappings = self
            .mappings_seen
            .iter()
            .map(|&(p, r, s)| ((p, r, s), stats.mapping_uptime_bp(p, r, s, now, policy)))
            .collect();
        let models = self
            .mappings_seen
            .iter()
            .map(|&(_, _, s)| (s, stats.model_uptime_bp(s, now, policy)))
            .collect();
        (mappings, models)
    }

    /// Appends a record when the trace is kept; `record` is built only then.
    #[inline]
    fn push(&mut self, now: Instant, record: impl FnOnce() -> Record) {
        if self.keep.trace {
            debug_assert!(
                now >= self.now,
                "records come in time order ({now} after {})",
                self.now
            );
            self.now = now;
            self.trace.push(now, record());
        }
    }
}
