//! The invariant checker: every invariant of `docs/invariants.md`, verified over a run's
//! trace and final state.
//!
//! It does not trust the gateway's classification or flags: it rebuilds, from the ground
//! truth each fake provider recorded (why it answered as it did) and from the fault plan,
//! which credentials may be sent for which scope at each instant, and judges every
//! decision the gateway made against that reference model.
//!
//! One pass over the trace. For each record, the pass first hands it to every invariant
//! family that judges that kind of record, with the ledger (`check/ledger.rs`, all the
//! checker accumulates) as it stood before the record, read-only, and the report
//! (`check/report.rs`) to write violations to; then it writes the record into the
//! ledger. The families, one file each under `check/`:
//!
//! - `credential`: what may be sent with a credential, and when;
//! - `walk`: how one request walks its candidates (mode, order, budget, when to stop);
//! - `uptime`: what the gateway counts in its uptime and provider scores;
//! - `liveness`: that requests succeed, wait or fail as the fault plan allows;
//! - `records`: that the gateway's own records name the right credential, stay bounded
//!   and repeat run for run.
//!
//! Every trace record and gateway event is matched by name (no wildcard arm), so a new
//! kind does not compile until the checker decides what, if anything, it judges there.
#![warn(clippy::wildcard_enum_match_arm)]

mod credential;
mod ledger;
mod liveness;
mod model;
mod records;
mod report;
mod uptime;
mod walk;

use crate::contract::Terms;
use crate::engine::Run;
use crate::trace::Record;
use gatesim_core::{
    AttemptId, Block, Duration, Event, Instant, ProviderId, RegionId, RequestId, RequestKind, Scope,
};
use ledger::Ledger;
use report::Report;

pub use records::check_determinism;
pub use report::{Invariant, Violation};

/// Checks every invariant (but `deterministic`, which needs two runs: see
/// [`check_determinism`]) on a finished run, by the world's [`Terms`]: its contract, fault
/// plan and providers, never the policy the gateway ran with.
pub fn check(world: Terms<'_>, run: &Run) -> Vec<Violation> {
    pass(world, run, None)
}

/// One pass over a run; `outside`: the run holds only what a black-box harness records,
/// on a clock this far from the gateway's (see [`check_outside_with`]).
fn pass(world: Terms<'_>, run: &Run, outside: Option<Duration>) -> Vec<Violation> {
    let mut pass = Pass {
        world,
        ledger: Ledger::new(world),
        report: Report::default(),
        evictions_applied: 0,
        outside,
    };
    let entries = &run.trace.entries;
    for (i, e) in entries.iter().enumerate() {
        if matches!(e.record, Record::Answered { .. }) {
            pass.evict_before_answer(&entries[i + 1..]);
        }
        pass.step(e.at, &e.record);
    }
    pass.final_state(run);
    pass.report.finish()
}

/// What a family sees while judging one record: the world, the record's time, the ledger
/// as it stood before the record, and the report.
struct Ctx<'a, 'w> {
    world: Terms<'w>,
    now: Instant,
    /// How far the record's time may be from the gateway's clock (0 in process).
    slack: Duration,
    ledger: &'a Ledger<'w>,
    out: &'a mut Report,
}

impl<'w> Ctx<'_, 'w> {
    /// Reports a violation at the record's time.
    fn fail(
        &mut self,
        invariant: Invariant,
        request: Option<RequestId>,
        attempt: Option<AttemptId>,
        detail: String,
    ) {
        debug_assert!(
            !detail.is_empty(),
            "{invariant}: a violation says what happened"
        );
        self.out.fail(invariant, self.now, request, attempt, detail);
    }

    /// Whether `invariant` was reported already in this pass.
    fn broken(&self, invariant: Invariant) -> bool {
        self.out.broken(invariant)
    }

    /// A credential's name.
    fn key(&self, k: gatesim_core::KeyId) -> &'w str {
        &self.world.catalog.credential(k).name
    }

    /// A provider's name.
    fn provider(&self, p: ProviderId) -> &'w str {
        &self.world.catalog.providers[p.index()].name
    }

    /// `provider/region`.
    fn place(&self, p: ProviderId, r: RegionId) -> String {
        format!("{}/{}", self.provider(p), self.world.catalog.region_name(r))
    }

    /// The model a scope stands for, by name when the catalog has it.
    fn world_scope(&self, s: Scope) -> String {
        self.world
            .catalog
            .models
            .iter()
            .find(|m| Scope::of(&m.name) == s)
            .map_or_else(|| s.to_string(), |m| m.name.clone())
    }
}

/// The end of a rate-limit cooldown or consecutive-error period; `None` for the blocks
/// that are not cooldowns (a blacklist, a suspension).
fn cooldown_end(block: Block) -> Option<Instant> {
    match block {
        Block::Cooling(until) | Block::Unhealthy(until) => Some(until),
        Block::Blacklisted | Block::Suspended(_) => None,
    }
}

/// The pass: the world, what it accumulated, what it found.
struct Pass<'w> {
    world: Terms<'w>,
    ledger: Ledger<'w>,
    report: Report,
    /// Evictions that follow the current answer and were applied before it.
    evictions_applied: usize,
    /// Judging a black-box history (no gateway reports, so wait rounds are inferred), on a
    /// clock this far from the gateway's; `None` in process.
    outside: Option<Duration>,
}

impl<'w> Pass<'w> {
    /// An eviction reached in the trace: applied now unless applied before its answer.
    fn evicted(&mut self, credential: gatesim_core::KeyId, scope: Scope) {
        if self.evictions_applied > 0 {
            self.evictions_applied -= 1;
        } else {
            self.ledger.evicted(credential, scope);
        }
    }

    /// The gateway evicts while it writes an answer's health, before it counts the answer
    /// in the new entry, yet reports the evictions after the answer: apply them first, so
    /// the answer's own count survives in the reference (swarm `standard` seed 1693).
    fn evict_before_answer(&mut self, after: &[crate::trace::Entry]) {
        debug_assert_eq!(
            self.evictions_applied, 0,
            "every applied eviction was reached"
        );
        let batch = after.iter().map_while(|e| match &e.record {
            Record::Core(ev) => Some(ev),
            Record::Arrived(_)
            | Record::Dispatched(_)
            | Record::Answered { .. }
            | Record::Responded { .. }
            | Record::FaultEdge { .. }
            | Record::Tracked { .. } => None,
        });
        for ev in batch {
            if let Event::Evicted { credential, scope } = ev {
                self.ledger.evicted(*credential, *scope);
                self.evictions_applied += 1;
            }
        }
    }

    /// The families' view at `now`.
    fn cx(&mut self, now: Instant) -> Ctx<'_, 'w> {
        Ctx {
            world: self.world,
            now,
            slack: self.outside.unwrap_or(Duration::ZERO),
            ledger: &self.ledger,
            out: &mut self.report,
        }
    }

    /// Judges one record, then writes it into the ledger.
    fn step(&mut self, now: Instant, record: &Record) {
        match record {
            Record::Arrived(a) => {
                let good = liveness::surely_good(&self.cx(now), a);
                self.ledger.arrive(a, now, good);
            }
            Record::Dispatched(a) => {
                self.quiet_wait(now, a.request);
                let mut cx = self.cx(now);
                let ledger = cx.ledger;
                match ledger.requests.get(&a.request) {
                    Some(open) => {
                        let count_tokens = open.arrival.kind == RequestKind::CountTokens;
                        credential::dispatched(&mut cx, a, count_tokens);
                        walk::dispatched(&mut cx, a, open);
                    }
                    None => {
                        credential::dispatched(&mut cx, a, false);
                        records::dispatched_unopened(&mut cx, a);
                    }
                }
                self.ledger.dispatch(a);
            }
            // Not judged itself: its cause is the ground truth the judgements rest on.
            Record::Answered {
                attempt,
                status,
                cause,
            } => self.ledger.answer(*attempt, *status, *cause, now),
            Record::Core(ev) => self.event(now, ev),
            Record::Responded { request, response } => {
                self.quiet_wait(now, *request);
                let outside = self.outside.is_some();
                let mut cx = self.cx(now);
                let ledger = cx.ledger;
                if let Some(open) = ledger.requests.get(request) {
                    let read = outside.then(|| liveness::read_off_wire(&cx, open, response));
                    let response = read.as_ref().unwrap_or(response);
                    uptime::responded(&mut cx, *request, open);
                    records::responded(&mut cx, *request, open, response);
                    walk::responded(&mut cx, *request, open, response);
                    liveness::responded(&mut cx, *request, open, response);
                }
                self.ledger.close(*request, now);
            }
            // The families read the whole fault plan from the world.
            Record::FaultEdge { .. } => {}
            Record::Tracked { entries } => records::tracked(&mut self.cx(now), *entries),
        }
    }

    /// Judges one gateway event, then writes it into the ledger.
    fn event(&mut self, now: Instant, ev: &Event) {
        match ev {
            Event::Skipped {
                request,
                provider: _,
                region,
                credential,
                scope,
                block,
            } => {
                let mut cx = self.cx(now);
                liveness::skipped(&mut cx, *request, *credential, *scope, *region, *block);
                credential::skipped(&mut cx, *request, *credential, *scope, *region, *block);
            }
            // The checker classifies answers itself, from ground truth.
            Event::Classified { .. } => {}
            Event::CooledDown {
                credential,
                scope,
                until,
                attempt,
            } => {
                let mut cx = self.cx(now);
                records::attributed(&mut cx, *credential, *attempt, "cooldown");
                credential::cooled_down(&mut cx, *credential, *scope, *until, *attempt);
                self.ledger.cooled_down(*credential, *scope, *until);
            }
            Event::MarkedUnhealthy {
                credential,
                attempt,
                ..
            } => records::attributed(&mut self.cx(now), *credential, *attempt, "unhealthy mark"),
            Event::Blacklisted {
                credential,
                attempt,
                ..
            } => records::attributed(&mut self.cx(now), *credential, *attempt, "blacklist"),
            Event::Suspended {
                credential,
                attempt,
                ..
            } => records::attributed(&mut self.cx(now), *credential, *attempt, "suspension"),
            // Whether a success may lift a block is the reference model's to say
            // (`suspension-sticky`, `cooldown-respected` judge the sends that follow).
            Event::Resumed { .. } => {}
            // `bounded-state` is judged on the entry counts (`Record::Tracked`).
            Event::Evicted { credential, scope } => self.evicted(*credential, *scope),
            Event::Waiting { request, until } => self.waiting(now, *request, *until),
            Event::Charged {
                request,
                attempt: None,
                provider,
                region,
                iteration: _,
            } => walk::charged_unopened(&mut self.cx(now), *request, *provider, *region),
            // A charge that opened an attempt is judged from the attempt's dispatch.
            Event::Charged {
                attempt: Some(_), ..
            } => {}
            Event::Counted {
                attempt,
                mapping,
                model,
                ok: _,
            } => self.ledger.counted(*attempt, *mapping, *model),
            Event::ProviderScored {
                request,
                provider,
                region,
                failed,
            } => uptime::provider_scored(&mut self.cx(now), *request, *provider, *region, *failed),
            // The attempt's `Record::Answered` carries what the checker needs.
            Event::StaleResponse { .. } => {}
        }
    }

    /// Outside, a wait round shows only as time passing between a request's arrival or
    /// latest answer and its next attempt or its answer (the engine and the shell dispatch
    /// the instant an answer arrives): written into the ledger as waiting until `now`.
    fn quiet_wait(&mut self, now: Instant, request: RequestId) {
        let Some(slack) = self.outside else {
            return;
        };
        self.ledger
            .quiet_wait(request, now, slack, self.world.contract.wait_rounds_max);
    }

    /// A request waits until `until`: judged, then written into the ledger.
    fn waiting(&mut self, now: Instant, request: RequestId, until: Instant) {
        let mut cx = self.cx(now);
        if let Some(open) = cx.ledger.requests.get(&request) {
            liveness::waiting(&mut cx, request, open, until);
        }
        self.ledger.waiting(request, now, until);
    }

    /// Judges the gateway's state at the end of the run, when its getters were read.
    fn final_state(&mut self, run: &Run) {
        let last = run.trace.entries.last().map_or(Instant::ZERO, |e| e.at);
        let now = run.ended_at.max(last);
        let mut cx = self.cx(now);
        credential::final_state(&mut cx, &run.final_state);
        uptime::final_state(&mut cx, &run.final_state);
        records::final_state(&mut cx, &run.final_state);
        liveness::final_state(&mut cx, &run.final_state.cancelled);
    }
}

#[cfg(test)]
mod tests;

/// Checks a run as a black-box harness sees it: only what crosses the wire (client
/// requests and answers, the attempts that reached a provider and the provider's
/// ground-truth answers) and the fault plan. The gateway's own reports (`Record::Core`,
/// `Record::Tracked`, its final getters) are dropped, and only the invariants
/// [`Invariant::outside`] names are judged: the rest are about those reports.
pub fn check_outside(world: Terms<'_>, run: &Run) -> Vec<Violation> {
    check_outside_with(world, run, Duration::ZERO)
}

/// [`check_outside`] for a history recorded on a wall clock, `slack` apart from the
/// gateway's own: a pause shorter than `slack` is latency, not a wait, and a Retry-After
/// the gateway computed up to `slack` earlier (rounded up to whole seconds) is exact.
pub fn check_outside_with(world: Terms<'_>, run: &Run, slack: Duration) -> Vec<Violation> {
    let view = outside_view(run);
    pass(world, &view, Some(slack))
        .into_iter()
        .filter(|v| v.invariant.outside().is_ok())
        .collect()
}

/// The part of a run a black-box harness records: every record that crosses the wire,
/// and of the final state only the requests whose client went away (the harness knows,
/// it was the client).
pub fn outside_view(run: &Run) -> Run {
    let entries = run
        .trace
        .entries
        .iter()
        .filter(|e| match &e.record {
            Record::Arrived(_)
            | Record::Dispatched(_)
            | Record::Answered { .. }
            | Record::Responded { .. }
            | Record::FaultEdge { .. } => true,
            Record::Core(_) | Record::Tracked { .. } => false,
        })
        .cloned()
        .collect();
    Run {
        seed: run.seed,
        trace: crate::trace::Trace { entries },
        names: run.names.clone(),
        final_state: crate::recorder::FinalState {
            cancelled: run.final_state.cancelled.clone(),
            ..crate::recorder::FinalState::default()
        },
        responses: run.responses.clone(),
        arrivals: run.arrivals.clone(),
        attempts: run.attempts,
        steps: run.steps,
        ended_at: run.ended_at,
    }
}
