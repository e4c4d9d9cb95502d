//! The discrete-event loop: arrivals, provider answers, fault edges and gateway timers,
//! always the earliest first, ties by insertion order. Single-threaded, bounded.

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
use std::cmp::Reverse;
use std::collections::{BinaryHeap, VecDeque};
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

/// Where a pending item is kept.
#[derive(Clone, Copy, Debug)]
enum Source {
    Heap,
    Edge,
    Arrival,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Item {
    FaultEdge(usize, bool),
    Answer(usize),
    Arrival(usize),
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
    heap: BinaryHeap<Reverse<(Instant, u64, Item)>>,
    /// Fault edges, known up front: kept out of the heap (which they would only deepen),
    /// in (instant, sequence) order, merged with it by the same key.
    edges: Vec<(Instant, u64, Item)>,
    edges_done: usize,
    /// The one arrival scheduled at a time (the next is scheduled when it is handled),
    /// likewise kept out of the heap: it would be pushed near the top every time.
    arrival: Option<(Instant, u64, Item)>,
    seq: u64,
    /// Heap items (the run ends when none is left and nothing is open).
    live_items: usize,
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
            heap: BinaryHeap::new(),
            edges: Vec::new(),
            edges_done: 0,
            arrival: None,
            seq: 0,
            live_items: 0,
            answers: Vec::new(),
            answers_free: Vec::new(),
            pending: Window::new(),
            arrivals,
            next_arrival,
            on_response,
            recorder,
            now: Instant::ZERO,
        };
        for (i, f) in world.faults.faults.iter().enumerate() {
            engine.schedule(f.at, Item::FaultEdge(i, true));
            if let Some(u) = f.until {
                engine.schedule(u, Item::FaultEdge(i, false));
            }
        }
        engine.edges.sort_by_key(|(at, seq, _)| (*at, *seq));
        if let Some((at, _)) = engine.next_arrival {
            engine.schedule(at, Item::Arrival(0));
        }
        Ok(engine)
    }

    fn schedule(&mut self, at: Instant, item: Item) {
        self.seq += 1;
        if matches!(item, Item::FaultEdge(..)) {
            // Only scheduled while the engine is built, which sorts them afterwards.
            self.edges.push((at, self.seq, item));
            return;
        }
        self.live_items += 1;
        if matches!(item, Item::Arrival(_)) {
            debug_assert!(self.arrival.is_none(), "one arrival is scheduled at a time");
            self.arrival = Some((at, self.seq, item));
            return;
        }
        self.heap.push(Reverse((at, self.seq, item)));
    }

    /// The earliest pending item and where it is kept, by (instant, sequence): sequences
    /// are unique, so the order is the one a single heap of every item would give.
    fn earliest(&self) -> Option<(Instant, Source)> {
        let mut best = self
            .heap
            .peek()
            .map(|Reverse((at, seq, _))| ((*at, *seq), Source::Heap));
        if let Some((at, seq, _)) = self.edges.get(self.edges_done) {
            if best.is_none_or(|(key, _)| (*at, *seq) < key) {
                best = Some(((*at, *seq), Source::Edge));
            }
        }
        if let Some((at, seq, _)) = &self.arrival {
            if best.is_none_or(|(key, _)| (*at, *seq) < key) {
                best = Some(((*at, *seq), Source::Arrival));
            }
        }
        best.map(|((at, _), source)| (at, source))
    }

    /// Takes the pending item [`earliest`](Self::earliest) found.
    fn take_item(&mut self, source: Source) -> Option<(Instant, Item)> {
        match source {
            Source::Edge => {
                let (at, _, item) = *self.edges.get(self.edges_done)?;
                self.edges_done += 1;
                Some((at, item))
            }
            Source::Arrival => {
                let (at, _, item) = self.arrival.take()?;
                self.live_items -= 1;
                Some((at, item))
            }
            Source::Heap => {
                let Reverse((at, _, item)) = self.heap.pop()?;
                self.live_items -= 1;
                Some((at, item))
            }
        }
    }

    fn run_to_end(mut self) -> Result<Run, EngineError> {
        // The step bound: 64 per arrival plus 100 000. Arrivals are drawn as they come,
        // so the total is known only once the stream ends; the arrivals drawn so far bound
        // it from below, and only when the steps pass that is the exact total counted.
        // The error therefore comes at the same step, with the same bound, as if the total
        // had been known from the start.
        let bound = |arrivals: usize| 64 * arrivals as u64 + 100_000;
        let sim_time_max =
            Instant::ZERO + self.world.duration + gatesim_core::Duration::from_secs(24 * 3600);
        let mut steps = 0u64;
        loop {
            let next_item = self.earliest();
            let next_timer = self.gateway.poll_timeout().map(|(at, _)| at);
            if self.gateway.open_requests() == 0 && self.live_items == 0 && next_timer.is_none() {
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
                    let Some((at, item)) = self.take_item(source) else {
                        break;
                    };
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
                    self.schedule(at, Item::Arrival(i + 1));
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
                    });
                    self.pending.insert(attempt.id.0, planned.cause);
                    self.recorder.dispatched(self.now, attempt);
                    let at = planned.at;
                    let key = match self.answers_free.pop() {
                        Some(free) => {
                            self.answers[free] = Some(planned);
                            free
                        }
                        None => {
                            self.answers.push(Some(planned));
                            self.answers.len() - 1
                        }
                    };
                    self.schedule(at, Item::Answer(key));
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
