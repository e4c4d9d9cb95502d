//! The discrete-event loop: arrivals, provider answers, fault edges and gateway timers,
//! always the earliest first, ties by insertion order. Single-threaded, bounded.
//!
//! The pending items wait in `engine/queue.rs`; the [`Recorder`] turns what happens into
//! the trace and the [`Run`].

mod queue;

use crate::provider::{Cause, FakeProvider, Planned};
use crate::recorder::{Keep, Recorder};
use crate::seed;
use crate::trace::Names;
use crate::workload;
use crate::world::World;
use gatesim_core::{
    Action, AttemptId, ClientResponse, ConfigError, Gateway, Instant, KeyId, Policy, ProviderId,
    Request, RequestId,
};
use queue::{Item, Queue};
use std::collections::VecDeque;
use thiserror::Error;
use tracing::debug_span;

pub use crate::recorder::{FinalState, Run};

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

/// Runs a world with a seed.
pub fn run(world: &World, options: RunOptions) -> Result<Run, EngineError> {
    Engine::new(world, options, None)?.run_to_end()
}

/// Runs a world with a seed, without a trace and without keeping per-request outputs:
/// `on_response` sees each client answer as it is made, and the returned run's
/// `responses`, `arrivals` and `final_state.key_uptime_bp` are empty. Memory stays
/// bounded by the requests in flight and the gateway's caps however long the run (soak
/// runs, the model-name flood benchmark); everything else is as [`run`] with
/// `record: false`.
pub fn run_streaming(
    world: &World,
    seed: u64,
    on_response: &mut dyn FnMut(RequestId, Instant, &ClientResponse),
) -> Result<Run, EngineError> {
    let options = RunOptions {
        seed,
        record: false,
    };
    Engine::new(world, options, Some(on_response))?.run_to_end()
}

/// Where a streaming run hands each client answer.
type ResponseSink<'a> = dyn FnMut(RequestId, Instant, &ClientResponse) + 'a;

/// The most upstream calls one request of the world's workload makes (at least 1).
fn iterations_max(world: &World) -> u64 {
    let w = &world.workload;
    let mixes = w
        .generators
        .iter()
        .flat_map(|g| g.mix.iter().map(|(_, r)| r));
    w.requests
        .iter()
        .chain(mixes)
        .map(|r| u64::from(r.agentic_iterations))
        .max()
        .unwrap_or(1)
        .max(1)
}

/// Values keyed by consecutive ids (attempts are dispatched in id order), held in a
/// window from the oldest live id: O(1) insert and remove without a tree.
#[derive(Debug)]
struct Window<T> {
    base: u64,
    slots: VecDeque<Option<T>>,
}

impl<T> Window<T> {
    fn new() -> Window<T> {
        Window {
            base: 0,
            slots: VecDeque::new(),
        }
    }
    fn insert(&mut self, id: u64, value: T) {
        if self.slots.is_empty() {
            self.base = id;
        }
        assert!(id >= self.base, "window ids only grow");
        let at = (id - self.base) as usize;
        while self.slots.len() <= at {
            self.slots.push_back(None);
        }
        self.slots[at] = Some(value);
    }
    fn remove(&mut self, id: u64) -> Option<T> {
        let at = usize::try_from(id.checked_sub(self.base)?).ok()?;
        let value = self.slots.get_mut(at)?.take();
        while let Some(None) = self.slots.front() {
            self.slots.pop_front();
            self.base += 1;
        }
        value
    }
}

struct Engine<'w> {
    world: &'w World,
    options: RunOptions,
    gateway: Gateway,
    /// Fake providers by place, at `provider × regions + region` (a lookup per attempt).
    providers: Vec<Option<FakeProvider>>,
    regions: usize,
    /// Fault edges, answers and the next arrival, earliest first.
    queue: Queue,
    /// Planned answers not yet delivered, by slot (freed slots are reused, so a slow
    /// answer far in the future does not hold a growing window open).
    answers: Vec<Option<Planned>>,
    answers_free: Vec<usize>,
    /// Attempts in flight, by attempt id: the cause planned for them.
    pending: Window<Cause>,
    arrivals: workload::Stream<'w>,
    /// The next arrival, already drawn from the stream and scheduled.
    next_arrival: Option<(Instant, Request)>,
    /// Streaming runs hand answers here instead of keeping them.
    on_response: Option<&'w mut ResponseSink<'w>>,
    recorder: Recorder,
    now: Instant,
}

impl<'w> Engine<'w> {
    fn new(
        world: &'w World,
        options: RunOptions,
        on_response: Option<&'w mut ResponseSink<'w>>,
    ) -> Result<Engine<'w>, EngineError> {
        let policy: Policy = world.policy.clone();
        let mut gateway = Gateway::new(world.catalog.clone(), policy)?;
        // Core events only ever reach the trace: without one, the gateway need not make them.
        gateway.set_events_enabled(options.record);
        let faults = world.faults.faults.clone();
        let cat = &world.catalog;
        let regions = cat.regions.len();
        let mut providers: Vec<Option<FakeProvider>> = Vec::new();
        providers.resize_with(cat.providers.len() * regions, || None);
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
                providers[pi * regions + r.index()] = Some(fp);
            }
        }
        let mut arrivals = workload::Stream::new(&world.workload, options.seed);
        let next_arrival = arrivals.next();
        let keep = Keep {
            trace: options.record,
            outputs: on_response.is_none(),
        };
        // A capacity hint only (the exact total is not counted up front).
        let recorder = Recorder::new(Names::new(world), keep, arrivals.size_hint().0);
        let mut engine = Engine {
            world,
            options,
            gateway,
            providers,
            regions,
            queue: Queue::new(&world.faults.faults),
            answers: Vec::new(),
            answers_free: Vec::new(),
            pending: Window::new(),
            arrivals,
            next_arrival,
            on_response,
            recorder,
            now: Instant::ZERO,
        };
        if let Some((at, _)) = engine.next_arrival {
            engine.queue.schedule(at, Item::Arrival(0));
        }
        Ok(engine)
    }

    fn run_to_end(mut self) -> Result<Run, EngineError> {
        // The step bound: 64 per arrival (more for agentic ones) plus 100 000. Arrivals are drawn as they come,
        // so the total is known only once the stream ends; the arrivals drawn so far bound
        // it from below, and only when the steps pass that is the exact total counted.
        // The error therefore comes at the same step, with the same bound, as if the total
        // had been known from the start.
        //
        // An agentic request makes up to `agentic_iterations` upstream calls, each with its
        // own attempts, so past 4 the steps per arrival grow with the largest count in the
        // world (16 each); otherwise a long agentic workload reads as a livelock.
        let per_arrival = (16 * iterations_max(self.world)).max(64);
        let bound = |arrivals: usize| per_arrival * arrivals as u64 + 100_000;
        let sim_time_max =
            Instant::ZERO + self.world.duration + gatesim_core::Duration::from_secs(24 * 3600);
        let mut steps = 0u64;
        loop {
            let next_item = self.queue.earliest();
            let next_timer = self.gateway.poll_timeout().map(|(at, _)| at);
            if self.gateway.open_requests() == 0 && !self.queue.has_live() && next_timer.is_none() {
                break;
            }
            steps += 1;
            if steps > bound(self.arrivals.yielded()) && steps > bound(self.arrivals.total()) {
                let steps_max = bound(self.arrivals.total());
                return Err(EngineError::StepsExceeded {
                    steps,
                    steps_max,
                    at: self.now,
                    open: self.gateway.open_requests(),
                });
            }
            match (next_item, next_timer) {
                (Some((item_at, source)), timer) if timer.is_none_or(|t| item_at <= t) => {
                    let Some((at, item)) = self.queue.take(source) else {
                        break;
                    };
                    debug_assert!(at >= self.now, "items are taken in time order");
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
        Ok(self
            .recorder
            .finish(&self.gateway, self.options.seed, steps, self.now))
    }

    fn handle_item(&mut self, item: Item) {
        match item {
            Item::FaultEdge(fault, started) => self.recorder.fault_edge(self.now, fault, started),
            Item::Arrival(i) => {
                let (_, request) = self
                    .next_arrival
                    .take()
                    .expect("an arrival item is scheduled only for a drawn arrival");
                self.next_arrival = self.arrivals.next();
                if let Some((at, _)) = self.next_arrival {
                    self.queue.schedule(at, Item::Arrival(i + 1));
                }
                let arrival = self.recorder.arriving(&request);
                let id = self.gateway.submit(self.now, request);
                self.recorder.arrived(self.now, id, arrival);
            }
            Item::Answer(key) => {
                let Some(planned) = self.answers.get_mut(key).and_then(Option::take) else {
                    return;
                };
                self.answers_free.push(key);
                let live = self.pending.remove(planned.attempt.0);
                if live.is_some() {
                    self.recorder.answered(
                        self.now,
                        planned.attempt,
                        &planned.response,
                        planned.cause,
                    );
                }
                self.gateway
                    .handle_response(self.now, planned.attempt, planned.response);
            }
        }
    }

    /// An attempt whose deadline passed without an answer: record the ground truth of the
    /// timeout just before the gateway handles it.
    fn expire(&mut self, attempt: AttemptId) {
        if let Some(planned) = self.pending.remove(attempt.0) {
            let cause = if planned == Cause::OutageTimeout {
                Cause::OutageTimeout
            } else {
                Cause::TooSlow
            };
            self.recorder.timed_out(self.now, attempt, cause);
        }
    }

    /// Drains the gateway's outputs after a handler.
    fn drain(&mut self) {
        self.recorder.events(self.now, &mut self.gateway);
        while let Some(action) = self.gateway.poll_action() {
            match action {
                Action::Dispatch(attempt) => {
                    let span = debug_span!(
                        "attempt",
                        t_ms = self.now.as_ms(),
                        request = attempt.request.0,
                        attempt = attempt.id.0
                    );
                    let _guard = span.enter();
                    let place = (attempt.provider, attempt.region);
                    let at = place.0.index() * self.regions + place.1.index();
                    let planned = match self.providers.get_mut(at).and_then(Option::as_mut) {
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
                        headers: Vec::new(),
                    });
                    debug_assert!(
                        planned.attempt == attempt.id && planned.at >= self.now,
                        "a provider answers the attempt it was given, not before it was sent"
                    );
                    self.pending.insert(attempt.id.0, planned.cause);
                    self.recorder.dispatched(self.now, attempt);
                    let at = planned.at;
                    let key = match self.answers_free.pop() {
                        Some(free) => {
                            debug_assert!(self.answers[free].is_none(), "a free slot is empty");
                            self.answers[free] = Some(planned);
                            free
                        }
                        None => {
                            self.answers.push(Some(planned));
                            self.answers.len() - 1
                        }
                    };
                    self.queue.schedule(at, Item::Answer(key));
                }
                Action::Respond(request, response) => {
                    self.recorder.responded(self.now, request, &response);
                    match self.on_response.as_mut() {
                        Some(sink) => sink(request, self.now, &response),
                        None => self.recorder.keep_response(self.now, request, response),
                    }
                }
            }
        }
        self.recorder
            .tracked(self.now, self.gateway.tracked_entries());
    }
}
