//! The key-pool state machine property: the sans-IO `Gateway`, driven directly by random
//! operation sequences, against the [`naive`](crate::naive) model.
//!
//! Every dispatch must send a credential the naive model allows for that (model, region,
//! upstream) at that instant; every health event must say what the model recorded; every
//! client answer must follow from the request's last upstream answer or, for typed
//! exhaustion, from the model's view of every candidate.

use crate::naive::{Effect, Naive, Route};
use crate::ops::{AnswerPlan, Meaning, Op, OPS_MAX};
use crate::plan::{build_topology, ShapePlan, TargetPlan, Topology, TopologyPlan};
use crate::strategies;
use gatesim_core::fnv1a;
use gatesim_core::{
    Action, Attempt, AttemptId, Gateway, Instant, KeyId, Mode, Policy, ProviderId, RegionId,
    Request, RequestId, RequestKind, TimerReason,
};
use proptest::sample::Index;
use proptest::test_runner::{TestCaseError, TestError, TestRunner};
use std::collections::BTreeMap;
use std::fmt::Write as _;

mod events;
mod outputs;

/// Cases per `cargo test` run (`PROPTEST_CASES` overrides).
const CASES: u32 = 1024;
/// Outputs drained after one input at most.
const OUTPUTS_MAX: usize = 1_000;
/// Timers fired by one `Advance` at most.
const TIMERS_MAX: usize = 1_000;
/// Steps of the final drain at most (answer everything in flight, fire every timer).
const DRAIN_STEPS_MAX: usize = 2_000;
/// The reference policy's attempt timeout.
const ATTEMPT_TIMEOUT_MS: u64 = 60_000;

/// A topology and the operations to drive its gateway with.
#[derive(Clone, Debug)]
pub(crate) struct Case {
    /// Providers, regions, credentials, models.
    pub topology: TopologyPlan,
    /// At most [`OPS_MAX`] operations.
    pub ops: Vec<Op>,
}

#[test]
fn gateway_agrees_with_a_naive_key_pool_model() {
    let config = crate::config(CASES, 0x6b65_7970_6f6f_6c00, regressions_file!("keypool"));
    let mut runner = TestRunner::new(config);
    let result = runner.run(&strategies::keypool_case(), |case| {
        run(&case).map(|_| ()).map_err(TestCaseError::fail)
    });
    match result {
        Ok(()) => {}
        Err(TestError::Fail(reason, case)) => {
            let log = run(&case).err().unwrap_or_else(|| reason.to_string());
            panic!(
                "the gateway disagrees with the naive key-pool model (shrunk case):\n{log}\n\
                 minimal case: {case:#?}"
            );
        }
        Err(TestError::Abort(why)) => panic!("key-pool property aborted: {why}"),
    }
}

/// Runs a case; `Err` is the first disagreement with the operation log that led to it.
pub(crate) fn run(case: &Case) -> Result<Driver, String> {
    assert!(
        case.ops.len() <= OPS_MAX,
        "step cap: at most {OPS_MAX} operations"
    );
    let topo = build_topology(&case.topology, "keypool");
    let mut d = Driver::new(topo);
    let outcome = case
        .ops
        .iter()
        .try_for_each(|op| d.op(op))
        .and_then(|()| d.drain_to_end());
    match outcome {
        Ok(()) => Ok(d),
        Err(problem) => {
            let start = d.log.len().saturating_sub(40);
            let mut out = format!("{problem}\n-- last operations and outputs:\n");
            for line in &d.log[start..] {
                let _ = writeln!(out, "  {line}");
            }
            Err(out)
        }
    }
}

/// What the driver knows of one request.
#[derive(Debug)]
struct RequestInfo {
    request: Request,
    mode: Mode,
    attempts: u32,
    in_flight: Option<AttemptId>,
    /// The last upstream answer and its meaning.
    last: Option<(AnswerPlan, Meaning)>,
    successes: u32,
    waited: bool,
    responded: bool,
    /// A request-invalid answer or a stream broken after its first byte: no more attempts.
    terminal: bool,
    /// The next dispatch starts a fresh walk (a new request, iteration or wait round).
    walk_start: bool,
    /// The credential of the last attempt.
    last_sent: Option<KeyId>,
    /// (route, credential sent) pairs attempted in the current walk.
    walk_tried: Vec<(Route, KeyId)>,
    /// Provider × region places charged to the current iteration's attempt budget.
    places: Vec<(ProviderId, RegionId)>,
}

/// An attempt in flight and the route it is on.
#[derive(Debug)]
struct Flight {
    attempt: Attempt,
    route: Route,
    dispatched_at: Instant,
}

/// The input a drain follows, for checking the events it produced.
struct Input {
    /// The attempt answered (or timed out), its route and what the answer changed.
    answered: Option<(Attempt, Route, Meaning, Effect)>,
    /// An answer to an attempt no longer in flight.
    stale: Option<AttemptId>,
}

/// Drives a gateway and checks it against the naive model.
pub(crate) struct Driver {
    gateway: Gateway,
    naive: Naive,
    topo: Topology,
    epoch_unix_s: u64,
    now: Instant,
    requests: BTreeMap<RequestId, RequestInfo>,
    in_flight: BTreeMap<AttemptId, Flight>,
    timed_out: Vec<AttemptId>,
    next_attempt: u64,
    log: Vec<String>,
}

impl Driver {
    fn new(topo: Topology) -> Driver {
        let catalog = topo.builder.build().catalog;
        let gateway = Gateway::new(catalog.clone(), Policy::reference())
            .expect("a built topology is a valid configuration");
        Driver {
            gateway,
            naive: Naive::new(&catalog),
            epoch_unix_s: catalog.epoch_unix_s,
            topo,
            now: Instant::ZERO,
            requests: BTreeMap::new(),
            in_flight: BTreeMap::new(),
            timed_out: Vec::new(),
            next_attempt: 0,
            log: Vec::new(),
        }
    }

    fn note(&mut self, line: String) {
        self.log.push(format!("{} {line}", self.now));
    }

    fn key(&self, k: KeyId) -> &str {
        &self.gateway.catalog().credential(k).name
    }

    /// One operation of a case, then the check that no timer was left behind.
    fn op(&mut self, op: &Op) -> Result<(), String> {
        self.apply(op)?;
        match op {
            Op::Advance { .. } => Ok(()),
            _ => self.timers_ahead(),
        }
    }

    /// Feeds one operation to the gateway and checks everything it produced.
    fn apply(&mut self, op: &Op) -> Result<(), String> {
        match op {
            Op::Submit {
                project,
                target,
                shape,
            } => self.submit(project, target, shape),
            Op::Answer { attempt, answer } => {
                let ids: Vec<AttemptId> = self.in_flight.keys().copied().collect();
                if ids.is_empty() {
                    return Ok(());
                }
                self.answer(*attempt.get(&ids), answer)
            }
            Op::Stale { attempt, answer } => {
                if self.timed_out.is_empty() {
                    return Ok(());
                }
                let id = *attempt.get(&self.timed_out);
                self.note(format!("stale answer to {id}: {answer:?}"));
                let response = answer.response(self.now, self.epoch_unix_s, true);
                self.gateway.handle_response(self.now, id, response);
                self.drain(&Input {
                    answered: None,
                    stale: Some(id),
                })
            }
            Op::Advance { ms, late } => self.advance(self.now.as_ms() + ms, *late),
        }
    }

    /// A client request arrives now.
    fn submit(
        &mut self,
        project: &Index,
        target: &TargetPlan,
        shape: &ShapePlan,
    ) -> Result<(), String> {
        let spec = self.topo.request(self.now.as_ms(), project, target, shape);
        let id = RequestId(self.requests.len() as u64);
        let request = Request {
            project: spec.project,
            model: spec.model.into(),
            kind: spec.kind,
            stream: spec.stream,
            byok: spec.byok,
            iterations: spec.agentic_iterations,
            body_bytes: spec.body_bytes,
            body_digest: fnv1a(&id.0.to_le_bytes()),
        };
        let mode = self.gateway.catalog().project(request.project).mode;
        self.note(format!(
            "submit {id} {} {} {}{}{} x{}",
            mode.name(),
            request.model,
            request.kind.name(),
            if request.stream { " stream" } else { "" },
            request
                .byok
                .map_or(String::new(), |k| format!(" byok {}", self.key(k))),
            request.iterations
        ));
        let info = RequestInfo {
            request: request.clone(),
            mode,
            attempts: 0,
            in_flight: None,
            last: None,
            successes: 0,
            waited: false,
            responded: false,
            terminal: false,
            walk_start: true,
            last_sent: None,
            walk_tried: Vec::new(),
            places: Vec::new(),
        };
        self.requests.insert(id, info);
        let got = self.gateway.submit(self.now, request);
        if got != id {
            return Err(format!("submit returned {got}, expected {id}"));
        }
        self.drain(&Input {
            answered: None,
            stale: None,
        })
    }

    /// An upstream answer to an attempt in flight.
    fn answer(&mut self, id: AttemptId, answer: &AnswerPlan) -> Result<(), String> {
        let flight = self
            .in_flight
            .remove(&id)
            .expect("answering an attempt in flight");
        let a = &flight.attempt;
        let count_tokens = a.kind == RequestKind::CountTokens;
        let meaning = answer.meaning(self.now, self.epoch_unix_s, a.stream);
        let effect =
            self.naive
                .observe(a.credential, &flight.route, meaning, self.now, count_tokens);
        self.note(format!(
            "answer {id} ({}): {answer:?} = {meaning:?}",
            self.key(a.credential)
        ));
        self.settle(a.request, answer.clone(), meaning);
        let response = answer.response(self.now, self.epoch_unix_s, a.stream);
        self.gateway.handle_response(self.now, id, response);
        self.drain(&Input {
            answered: Some((flight.attempt, flight.route, meaning, effect)),
            stale: None,
        })
    }

    /// Records a request's answer to its attempt in flight.
    fn settle(&mut self, request: RequestId, answer: AnswerPlan, meaning: Meaning) {
        let info = self
            .requests
            .get_mut(&request)
            .expect("an attempt's request is known");
        info.in_flight = None;
        info.successes += u32::from(meaning == Meaning::Success);
        if meaning == Meaning::Success {
            // The next iteration, if any, starts a fresh walk with a fresh budget.
            info.walk_start = true;
            info.walk_tried.clear();
            info.places.clear();
        }
        info.terminal |= matches!(meaning, Meaning::RequestInvalid | Meaning::Interrupted);
        info.last = Some((answer, meaning));
    }

    /// Moves time to `target_ms`, firing every timer due on the way.
    fn advance(&mut self, target_ms: u64, late: bool) -> Result<(), String> {
        let target = Instant(target_ms);
        let start = self.now;
        for _ in 0..TIMERS_MAX {
            let Some((at, reason)) = self.gateway.poll_timeout() else {
                self.now = target;
                return Ok(());
            };
            if at > target {
                self.now = target;
                return Ok(());
            }
            // Late wake-ups leave timers due in the past of `now`, never before the step.
            if at < start {
                return Err(format!(
                    "timer {reason:?} at {at} was due before this step began at {start}"
                ));
            }
            self.now = if late { target } else { at.max(self.now) };
            self.fire(at, reason)?;
        }
        Err(format!("more than {TIMERS_MAX} timers due before {target}"))
    }

    /// Handles the due timer `(at, reason)` at `now`.
    fn fire(&mut self, at: Instant, reason: TimerReason) -> Result<(), String> {
        let input = match reason {
            TimerReason::AttemptDeadline(id) => {
                let Some(flight) = self.in_flight.remove(&id) else {
                    return Err(format!("deadline timer for {id}, which is not in flight"));
                };
                let deadline = flight.dispatched_at.as_ms() + ATTEMPT_TIMEOUT_MS;
                if at.as_ms() != deadline {
                    return Err(format!(
                        "deadline of {id} at {at}, dispatched at {} (timeout 60 s)",
                        flight.dispatched_at
                    ));
                }
                let a = &flight.attempt;
                let count_tokens = a.kind == RequestKind::CountTokens;
                let effect = self.naive.observe(
                    a.credential,
                    &flight.route,
                    Meaning::Transient,
                    self.now,
                    count_tokens,
                );
                self.note(format!("deadline of {id} ({})", self.key(a.credential)));
                self.settle(a.request, AnswerPlan::Timeout, Meaning::Transient);
                self.timed_out.push(id);
                Input {
                    answered: Some((flight.attempt, flight.route, Meaning::Transient, effect)),
                    stale: None,
                }
            }
            TimerReason::CooldownWait(request) => {
                let ok = self
                    .requests
                    .get(&request)
                    .is_some_and(|r| !r.responded && r.in_flight.is_none());
                if !ok {
                    return Err(format!("wait timer for {request}, which is not waiting"));
                }
                self.note(format!("wait of {request} over"));
                if let Some(info) = self.requests.get_mut(&request) {
                    // A wait round walks the candidates again, within the same budget.
                    info.walk_tried.clear();
                }
                Input {
                    answered: None,
                    stale: None,
                }
            }
        };
        if !self.gateway.handle_timeout(self.now) {
            return Err(format!(
                "handle_timeout({}) handled no timer although {at} was due",
                self.now
            ));
        }
        self.drain(&input)
    }

    /// Answers everything in flight with 200 and fires every timer until the gateway is idle;
    /// then every request must have been answered.
    fn drain_to_end(&mut self) -> Result<(), String> {
        for _ in 0..DRAIN_STEPS_MAX {
            if let Some(id) = self.in_flight.keys().next().copied() {
                self.answer(id, &AnswerPlan::Ok)?;
            } else if let Some((at, _)) = self.gateway.poll_timeout() {
                self.advance(at.as_ms(), false)?;
            } else {
                let open: Vec<RequestId> = self
                    .requests
                    .iter()
                    .filter(|(_, r)| !r.responded)
                    .map(|(id, _)| *id)
                    .collect();
                if !open.is_empty() || self.gateway.open_requests() != 0 {
                    return Err(format!(
                        "gateway idle with requests never answered: {open:?} ({} open in the gateway)",
                        self.gateway.open_requests()
                    ));
                }
                return Ok(());
            }
        }
        Err(format!("not idle after {DRAIN_STEPS_MAX} drain steps"))
    }

    /// Drains every output after an input and checks each.
    fn drain(&mut self, input: &Input) -> Result<(), String> {
        let mut events = Vec::new();
        while let Some(e) = self.gateway.poll_event() {
            events.push(e);
            if events.len() > OUTPUTS_MAX {
                return Err(format!("more than {OUTPUTS_MAX} events after one input"));
            }
        }
        self.check_events(input, &events)?;
        let mut actions = 0;
        while let Some(action) = self.gateway.poll_action() {
            actions += 1;
            if actions > OUTPUTS_MAX {
                return Err(format!("more than {OUTPUTS_MAX} actions after one input"));
            }
            if input.stale.is_some() {
                return Err(format!("a stale answer caused {action:?}"));
            }
            match action {
                Action::Dispatch(a) => self.dispatched(a)?,
                Action::Respond(id, r) => self.responded(id, &r)?,
            }
        }
        Ok(())
    }

    /// After an input that is not a time step, every timer lies ahead: deadlines and
    /// waits are set in the future, and time steps fire everything due.
    fn timers_ahead(&self) -> Result<(), String> {
        match self.gateway.poll_timeout() {
            Some((at, reason)) if at <= self.now => Err(format!(
                "timer {reason:?} at {at} is not in the future (now {})",
                self.now
            )),
            _ => Ok(()),
        }
    }
}
