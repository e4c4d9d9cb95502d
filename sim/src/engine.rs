//! The discrete-event loop: arrivals, provider answers, fault edges and gateway timers,
//! always the earliest first, ties by insertion order. Single-threaded, bounded.

use crate::provider::{Cause, FakeProvider, Planned};
use crate::seed;
use crate::trace::{Arrival, Names, Record, Trace};
use crate::workload;
use crate::world::World;
use gatesim_core::{
    Action, AttemptId, ClientResponse, ConfigError, Gateway, Instant, KeyId, Policy, ProviderId,
    RegionId, Request, RequestId, Scope,
};
use std::cmp::Reverse;
use std::collections::{BTreeMap, BTreeSet, BinaryHeap};
use thiserror::Error;
use tracing::{debug, debug_span};

/// A run that could not complete.
#[derive(Debug, Error)]
pub enum EngineError {
    /// The world's configuration is unusable.
    #[error("invalid configuration: {0}")]
    Config(#[from] ConfigError),
    /// The step bound was hit: a livelock or a runaway retry loop.
    #[error(
        "no progress: {steps} steps at {at} with {open} requests open (steps_max {steps_max})"
    )]
    StepsExceeded {
        /// Steps taken.
        steps: u64,
        /// Bound.
        steps_max: u64,
        /// Sim time.
        at: Instant,
        /// Requests still open.
        open: usize,
    },
    /// Simulated time ran past its bound with requests still open.
    #[error("requests still open at {at} (sim_time_max): {open} open")]
    TimeExceeded {
        /// Sim time.
        at: Instant,
        /// Requests still open.
        open: usize,
    },
    /// The gateway asked to be woken in the past.
    #[error("gateway timer at {timer} is before now {now}: poll_timeout must move forward")]
    TimerInPast {
        /// Timer.
        timer: Instant,
        /// Now.
        now: Instant,
    },
}

/// How a run is carried out.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RunOptions {
    /// The seed.
    pub seed: u64,
    /// Record the trace (off for pure speed runs; metrics are kept either way).
    pub record: bool,
}

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
}

#[derive(Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Item {
    FaultEdge(usize, bool),
    Answer(u64),
    Arrival(usize),
}

/// Runs a world with a seed.
pub fn run(world: &World, options: RunOptions) -> Result<Run, EngineError> {
    Engine::new(world, options)?.run_to_end()
}

struct Engine<'w> {
    world: &'w World,
    options: RunOptions,
    gateway: Gateway,
    providers: BTreeMap<(ProviderId, RegionId), FakeProvider>,
    heap: BinaryHeap<Reverse<(Instant, u64, Item)>>,
    seq: u64,
    /// Heap items that are not fault edges (the run ends when none is left).
    live_items: usize,
    answer_seq: u64,
    answers: BTreeMap<u64, Planned>,
    /// Attempts in flight: dispatch deadline, planned cause.
    pending: BTreeMap<AttemptId, (Instant, Cause)>,
    arrivals: Vec<(Instant, Request)>,
    trace: Trace,
    names: Names,
    responses: Vec<(RequestId, Instant, ClientResponse)>,
    arrived_at: Vec<Instant>,
    attempts: u64,
    tracked: usize,
    tracked_max: usize,
    scopes_seen: BTreeSet<(KeyId, Scope)>,
    now: Instant,
}

impl<'w> Engine<'w> {
    fn new(world: &'w World, options: RunOptions) -> Result<Engine<'w>, EngineError> {
        let policy: Policy = world.policy.clone();
        let mut gateway = Gateway::new(world.catalog.clone(), policy)?;
        // Core events only ever reach the trace: without one, the gateway need not make them.
        gateway.set_events_enabled(options.record);
        let faults = world.faults.faults.clone();
        let cat = &world.catalog;
        let mut providers = BTreeMap::new();
        for (pi, p) in cat.providers.iter().enumerate() {
            for r in &p.regions {
                let label = format!("provider/{}/{}", p.name, cat.region_name(*r));
                let spec = world.providers.get(pi).cloned().unwrap_or_default();
                let owner = |k: KeyId| cat.credential(k).provider;
                let fp = FakeProvider::new(
                    ProviderId(pi as u32),
                    *r,
                    spec,
                    &faults,
                    &owner,
                    seed::stream(options.seed, &label),
                    cat.epoch_unix_s,
                );
                providers.insert((ProviderId(pi as u32), *r), fp);
            }
        }
        let arrivals = workload::resolve(&world.workload, options.seed);
        let mut engine = Engine {
            world,
            options,
            gateway,
            providers,
            heap: BinaryHeap::new(),
            seq: 0,
            live_items: 0,
            answer_seq: 0,
            answers: BTreeMap::new(),
            pending: BTreeMap::new(),
            trace: Trace::default(),
            names: Names::new(world),
            responses: Vec::with_capacity(arrivals.len()),
            arrived_at: Vec::with_capacity(arrivals.len()),
            arrivals,
            attempts: 0,
            tracked: 0,
            tracked_max: 0,
            scopes_seen: BTreeSet::new(),
            now: Instant::ZERO,
        };
        for (i, f) in world.faults.faults.iter().enumerate() {
            engine.schedule(f.at, Item::FaultEdge(i, true));
            if let Some(u) = f.until {
                engine.schedule(u, Item::FaultEdge(i, false));
            }
        }
        if let Some((at, _)) = engine.arrivals.first() {
            let at = *at;
            engine.schedule(at, Item::Arrival(0));
        }
        Ok(engine)
    }

    fn schedule(&mut self, at: Instant, item: Item) {
        self.seq += 1;
        if !matches!(item, Item::FaultEdge(..)) {
            self.live_items += 1;
        }
        self.heap.push(Reverse((at, self.seq, item)));
    }

    fn record(&mut self, record: Record) {
        if self.options.record {
            self.trace.push(self.now, record);
        }
    }

    fn run_to_end(mut self) -> Result<Run, EngineError> {
        let steps_max = 64 * self.arrivals.len() as u64 + 100_000;
        let sim_time_max =
            Instant::ZERO + self.world.duration + gatesim_core::Duration::from_secs(24 * 3600);
        let mut steps = 0u64;
        loop {
            let next_item = self.heap.peek().map(|Reverse((at, _, _))| *at);
            let next_timer = self.gateway.poll_timeout().map(|(at, _)| at);
            if self.gateway.open_requests() == 0 && self.live_items == 0 && next_timer.is_none() {
                break;
            }
            steps += 1;
            if steps > steps_max {
                return Err(EngineError::StepsExceeded {
                    steps,
                    steps_max,
                    at: self.now,
                    open: self.gateway.open_requests(),
                });
            }
            match (next_item, next_timer) {
                (Some(item_at), timer) if timer.is_none_or(|t| item_at <= t) => {
                    let Some(Reverse((at, _, item))) = self.heap.pop() else {
                        break;
                    };
                    if !matches!(item, Item::FaultEdge(..)) {
                        self.live_items -= 1;
                    }
                    self.now = at;
                    self.handle_item(item);
                }
                (_, Some(timer)) => {
                    if timer < self.now {
                        return Err(EngineError::TimerInPast {
                            timer,
                            now: self.now,
                        });
                    }
                    self.now = timer;
                    if let Some((_, gatesim_core::TimerReason::AttemptDeadline(attempt))) =
                        self.gateway.poll_timeout()
                    {
                        self.expire(attempt);
                    }
                    let _ = self.gateway.handle_timeout(self.now);
                }
                (None, None) => break,
                (Some(_), None) => unreachable!("covered by the first arm"),
            }
            if self.now > sim_time_max {
                return Err(EngineError::TimeExceeded {
                    at: self.now,
                    open: self.gateway.open_requests(),
                });
            }
            self.drain();
        }
        let final_state = self.final_state();
        Ok(Run {
            seed: self.options.seed,
            trace: self.trace,
            names: self.names,
            final_state,
            responses: self.responses,
            arrivals: self.arrived_at,
            attempts: self.attempts,
            steps,
            ended_at: self.now,
        })
    }

    fn handle_item(&mut self, item: Item) {
        match item {
            Item::FaultEdge(fault, started) => self.record(Record::FaultEdge { fault, started }),
            Item::Arrival(i) => {
                // Each arrival is submitted once: move its model name out instead of copying.
                let spec = &mut self.arrivals[i].1;
                let request = Request {
                    model: std::mem::take(&mut spec.model),
                    ..*spec
                };
                if i + 1 < self.arrivals.len() {
                    let at = self.arrivals[i + 1].0;
                    self.schedule(at, Item::Arrival(i + 1));
                }
                if self.options.record {
                    self.names.learn(&request.model);
                }
                let model = if self.options.record || tracing::enabled!(tracing::Level::DEBUG) {
                    request.model.clone()
                } else {
                    String::new()
                };
                let (kind, stream, byok, iterations, digest, project) = (
                    request.kind,
                    request.stream,
                    request.byok,
                    request.iterations,
                    request.body_digest,
                    request.project,
                );
                let id = self.gateway.submit(self.now, request);
                debug!(t_ms = self.now.as_ms(), request = id.0, model = %model, "arrival");
                self.arrived_at.push(self.now);
                if self.options.record {
                    let arrival = Arrival {
                        request: id,
                        project,
                        model,
                        kind,
                        stream,
                        byok,
                        iterations,
                        body_digest: digest,
                    };
                    // The arrival precedes what the gateway did with it.
                    self.trace.push(self.now, Record::Arrived(arrival));
                }
            }
            Item::Answer(key) => {
                let Some(planned) = self.answers.remove(&key) else {
                    return;
                };
                let live = self.pending.remove(&planned.attempt);
                if live.is_some() {
                    let status = match &planned.response {
                        gatesim_core::Response::Http(a) => a.status,
                        gatesim_core::Response::Transport(_) => 0,
                    };
                    self.record(Record::Answered {
                        attempt: planned.attempt,
                        status,
                        cause: planned.cause,
                    });
                }
                self.gateway
                    .handle_response(self.now, planned.attempt, planned.response);
            }
        }
    }

    /// An attempt whose deadline passed without an answer: record the ground truth of the
    /// timeout just before the gateway handles it.
    fn expire(&mut self, attempt: AttemptId) {
        if let Some((_, planned)) = self.pending.remove(&attempt) {
            let cause = if planned == Cause::OutageTimeout {
                Cause::OutageTimeout
            } else {
                Cause::TooSlow
            };
            self.record(Record::Answered {
                attempt,
                status: 0,
                cause,
            });
        }
    }

    /// Drains the gateway's outputs after a handler.
    fn drain(&mut self) {
        while let Some(event) = self.gateway.poll_event() {
            // A charge that opened an attempt is the `[budget]` mark of its dispatch line.
            if !matches!(
                event,
                gatesim_core::Event::Charged {
                    attempt: Some(_),
                    ..
                }
            ) {
                self.record(Record::Core(event));
            }
        }
        while let Some(action) = self.gateway.poll_action() {
            match action {
                Action::Dispatch(attempt) => {
                    self.attempts += 1;
                    let span = debug_span!(
                        "attempt",
                        t_ms = self.now.as_ms(),
                        request = attempt.request.0,
                        attempt = attempt.id.0
                    );
                    let _guard = span.enter();
                    let deadline = self.now + self.world.policy.attempt_timeout;
                    self.scopes_seen.insert((attempt.credential, attempt.scope));
                    let place = (attempt.provider, attempt.region);
                    let planned = match self.providers.get_mut(&place) {
                        Some(p) => {
                            p.handle_dispatch(self.now, &attempt);
                            p.poll_response()
                        }
                        None => None,
                    };
                    let planned = planned.unwrap_or(Planned {
                        attempt: attempt.id,
                        at: self.now,
                        response: gatesim_core::Response::Transport(
                            gatesim_core::TransportError::Connect,
                        ),
                        cause: Cause::OutageConnect,
                    });
                    self.pending.insert(attempt.id, (deadline, planned.cause));
                    self.record(Record::Dispatched(attempt));
                    let at = planned.at;
                    self.answer_seq += 1;
                    let key = self.answer_seq;
                    self.answers.insert(key, planned);
                    self.schedule(at, Item::Answer(key));
                }
                Action::Respond(request, response) => {
                    debug!(
                        t_ms = self.now.as_ms(),
                        request = request.0,
                        status = response.status,
                        outcome = response.outcome.name(),
                        "respond"
                    );
                    if self.options.record {
                        self.record(Record::Responded {
                            request,
                            response: response.clone(),
                        });
                    }
                    self.responses.push((request, self.now, response));
                }
            }
        }
        let tracked = self.gateway.tracked_entries();
        if tracked != self.tracked {
            self.tracked = tracked;
            self.tracked_max = self.tracked_max.max(tracked);
            self.record(Record::Tracked { entries: tracked });
        }
    }

    fn final_state(&self) -> FinalState {
        let n = self.world.catalog.credentials.len();
        let blacklisted = (0..n)
            .map(|k| {
                self.gateway
                    .is_blacklisted(KeyId(k as u32), Scope::UNSCOPED)
            })
            .collect();
        let key_uptime_bp = self
            .scopes_seen
            .iter()
            .map(|(k, s)| ((*k, *s), self.gateway.key_uptime_bp(*k, *s, self.now)))
            .collect();
        FinalState {
            blacklisted,
            key_uptime_bp,
            tracked_entries_max: self.tracked_max,
        }
    }
}
