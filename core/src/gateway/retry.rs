//! What a request does next: dispatch a candidate, wait for a cooldown, or finish with an
//! answer; decided after every upstream answer and whenever nothing is left to try.

use super::candidates::{Candidate, Candidates, Lookup};
use super::keypool;
use super::outputs::Outputs;
use super::request::{RequestState, Upstream};
use crate::catalog::Mode;
use crate::classify::{parse_retry_after, Class};
use crate::event::Event;
use crate::health::Block;
use crate::id::{ProviderId, RequestId};
use crate::policy::{ExhaustionAnswer, Policy, Regression, SameKeyRetries};
use crate::response::{HttpAnswer, Outcome, Response, StreamProgress};
use crate::routing::{filter_chain_into, Filters};
use crate::stats::Stats;
use crate::time::{Duration, Instant};
use std::cell::Cell;

/// The client answer a request finishes with.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct Answer {
    pub(super) outcome: Outcome,
    pub(super) status: u16,
    pub(super) retry_after_s: Option<u64>,
}

impl Answer {
    const fn new(outcome: Outcome, status: u16, retry_after_s: Option<u64>) -> Answer {
        Answer {
            outcome,
            status,
            retry_after_s,
        }
    }

    /// The last upstream answer passed on as the request's failure.
    fn upstream(last: Upstream) -> Answer {
        Answer::new(Outcome::UpstreamFailed, last.status, last.retry_after_s)
    }
}

/// A request's next step.
#[derive(Clone, Copy, Debug)]
pub(super) enum Decision {
    /// Send an attempt to this candidate.
    Dispatch(Candidate),
    /// Wait for a cooldown ending at this instant, then decide again.
    Wait(Instant),
    /// Answer the client.
    Finish(Answer),
}

/// What an upstream answer leaves a request to do.
pub(super) enum After {
    /// Decide again (a retry, the next agentic iteration, or a BYOK fall-over).
    Decide,
    /// Answer the client.
    Finish(Answer),
}

/// Per-decision working buffers, emptied before each use so that deciding does not
/// allocate.
#[derive(Clone, Debug, Default)]
pub(super) struct Scratch {
    candidates: Vec<Candidate>,
    /// The candidates as the filter chain sees them once the budget is spent.
    reachable: Vec<Candidate>,
    /// Each route's mapping uptime, read on first use (`u32::MAX`: not read yet).
    uptimes: Vec<Cell<u32>>,
    chosen: Vec<usize>,
}

impl Scratch {
    /// The candidates the last decision listed (health and the walk read).
    pub(super) fn listed(&self) -> &[Candidate] {
        &self.candidates
    }
}

/// Decides a request's next step: lists its candidates, filters them, picks one within
/// the budget, and when none is left, waits or finishes (see [`no_candidate`]).
#[inline]
pub(super) fn decide(
    at: Lookup<'_>,
    table: (&Candidates, &Stats),
    now: Instant,
    id: RequestId,
    state: &mut RequestState,
    scratch: &mut Scratch,
    out: &mut Outputs,
) -> Decision {
    if state.routes.is_empty() {
        return Decision::Finish(Answer::new(Outcome::NoRoute, 404, None));
    }
    let (candidates, stats) = table;
    let Scratch {
        candidates: listed,
        reachable,
        uptimes,
        chosen,
    } = scratch;
    listed.clear();
    uptimes.clear();
    candidates.list(at, now, id, state, listed);
    if out.enabled() {
        emit_skipped(out, id, state, listed);
    }
    filter(
        at.policy,
        stats,
        now,
        state,
        listed,
        (uptimes, reachable, chosen),
    );
    let (pick, charges) = keypool::pick(at.policy, &state.walk, &state.routes, listed, chosen);
    for (provider, region) in charges {
        state.walk.charge((provider, region));
        if out.enabled() {
            out.emit(Event::Charged {
                request: id,
                iteration: state.iteration,
                provider,
                region,
                attempt: None,
            });
        }
    }
    debug_assert!(
        state.walk.charged <= at.policy.attempts_max || at.policy.has(Regression::SkipCostsBudget),
        "charges stay within the attempt budget"
    );
    match pick {
        Some(c) => Decision::Dispatch(c),
        None => match same_key_retry(at.policy, now, state, listed) {
            Some(until) => {
                state.same_key_retries += 1;
                Decision::Wait(until)
            }
            None => no_candidate(at.policy, now, state, listed),
        },
    }
}

/// A `Skipped` event for every untried candidate that is blocked.
fn emit_skipped(out: &mut Outputs, id: RequestId, state: &RequestState, listed: &[Candidate]) {
    for c in listed.iter().filter(|c| !c.tried) {
        if let Some(block) = c.block {
            let route = &state.routes[c.route];
            out.emit(Event::Skipped {
                request: id,
                provider: route.provider,
                region: c.region,
                credential: c.health_key,
                scope: route.scope,
                block,
            });
        }
    }
}

/// Runs the filter chain over the listed candidates into `scratch.chosen`.
#[inline]
fn filter(
    policy: &Policy,
    stats: &Stats,
    now: Instant,
    state: &RequestState,
    listed: &[Candidate],
    (uptimes, reachable, chosen): (&mut Vec<Cell<u32>>, &mut Vec<Candidate>, &mut Vec<usize>),
) {
    let has = |k: Regression| policy.has(k);
    // Each route's uptime once, not once per candidate credential, and only for routes
    // the uptime bar actually looks at (routes with an available candidate).
    uptimes.resize_with(state.routes.len(), || Cell::new(u32::MAX));
    let uptimes = &uptimes[..];
    let uptime = |r: usize| {
        let known = uptimes[r].get();
        if known != u32::MAX {
            return known;
        }
        let route = &state.routes[r];
        let read = stats.mapping_uptime_bp(route.provider, route.region, route.scope, now, policy);
        uptimes[r].set(read);
        read
    };
    let provider_of = |r: usize| state.routes[r].provider;
    // Only the region-blind knob reads this list.
    let org_providers: Vec<ProviderId> = if has(Regression::KeyedAvailabilityIgnoresRegion) {
        listed
            .iter()
            .filter(|c| c.org && c.block.is_none())
            .map(|c| state.routes[c.route].provider)
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
        uptime_bar_bp: policy.uptime_bar_bp,
        provider_of: &provider_of,
        providers_with_org_keys: &org_providers,
    };
    // Once the attempt budget is spent, places it cannot open are out of reach: they
    // must not take part in the uptime bar or key preference, or they would hide
    // candidates on places already paid for (found by the key-pool property).
    let filter_input: &[Candidate] = if state.walk.budget_spent(policy) {
        reachable.clear();
        reachable.extend(listed.iter().map(|c| {
            let mut reach = *c;
            reach.tried |= !state
                .walk
                .used
                .contains(&(state.routes[c.route].provider, c.region));
            reach
        }));
        &reachable[..]
    } else {
        listed
    };
    filter_chain_into(filter_input, &filters, chosen);
}

/// When a request's only candidate just failed transiently, the end of the backoff before
/// sending it again (llmgateway's same-key retry for single-key providers: 1 s, 2 s, 4 s,
/// never for a 4xx nor a user's own key), if the policy grants another.
fn same_key_retry(
    policy: &Policy,
    now: Instant,
    state: &RequestState,
    candidates: &[Candidate],
) -> Option<Instant> {
    let SameKeyRetries { max, backoff } = policy.same_key_retries?;
    let only = match candidates {
        [only] => only,
        _ => return None,
    };
    let transient = state
        .log
        .last()
        .is_some_and(|r| matches!(r.class, Class::Transient | Class::Network | Class::Timeout));
    let again = state.same_key_retries < max
        && state.byok.is_none()
        && transient
        && only.tried
        && only.block.is_none();
    again.then(|| now + backoff.doubled(state.same_key_retries))
}

/// Nothing to dispatch: wait for the soonest cooldown, or answer the client.
#[inline(never)]
fn no_candidate(
    policy: &Policy,
    now: Instant,
    state: &RequestState,
    candidates: &[Candidate],
) -> Decision {
    let soonest = candidates
        .iter()
        .filter_map(|c| c.block.and_then(Block::ends))
        .filter(|t| *t > now)
        .min();
    let budget_spent =
        state.walk.budget_spent(policy) && candidates.iter().any(|c| !c.tried && c.block.is_none());
    let wait_lookup = if state.is_alias && policy.has(Regression::CooldownWaitByAlias) {
        // The production bug: the wait is looked up under the alias, where nothing is cooling.
        None
    } else {
        soonest
    };
    if let (Some(until), false) = (wait_lookup, budget_spent) {
        let wait = until.saturating_since(now);
        let pure_cooling = candidates
            .iter()
            .any(|c| matches!(c.block, Some(Block::Cooling(_) | Block::Unhealthy(_))));
        if pure_cooling
            && state.byok.is_none()
            && state.walk.rounds < policy.wait_rounds_max
            && state.waited + wait <= policy.wait_max
        {
            debug_assert!(until > now, "a wait ends after now");
            return Decision::Wait(until);
        }
    }
    // Typed exhaustion means every candidate is unavailable (blocked by earlier requests
    // or by this one's own attempts). When some candidate was usable and simply failed,
    // or the budget ran out, the client gets the last upstream error instead.
    let all_blocked = candidates.iter().all(|c| c.block.is_some());
    if budget_spent || !all_blocked {
        if let Some(last) = state.last_answer {
            return Decision::Finish(Answer::upstream(last));
        }
    }
    Decision::Finish(exhausted(
        policy,
        now,
        soonest,
        candidates,
        state.last_answer,
    ))
}

/// The answer when every candidate is blocked: transient exhaustion with a Retry-After
/// for the soonest end, permanent exhaustion when only blacklists remain, else the last
/// upstream answer or no route.
fn exhausted(
    policy: &Policy,
    now: Instant,
    soonest: Option<Instant>,
    candidates: &[Candidate],
    last: Option<Upstream>,
) -> Answer {
    match soonest {
        Some(until) => {
            if let (ExhaustionAnswer::LastError, Some(last)) = (policy.exhaustion_answer, last) {
                return Answer::upstream(last);
            }
            let retry_after = until.saturating_since(now).as_secs_ceil().max(1);
            let bare = policy.has(Regression::ExhaustionWithoutRetryAfter)
                || policy.exhaustion_answer == ExhaustionAnswer::Bare429;
            let header = (!bare).then_some(retry_after);
            debug_assert!(
                bare || header.is_some_and(|s| s >= 1),
                "an exhaustion answer carries a Retry-After of at least 1 s"
            );
            Answer::new(Outcome::ExhaustedTransient, 429, header)
        }
        None if candidates
            .iter()
            .any(|c| c.block == Some(Block::Blacklisted)) =>
        {
            Answer::new(Outcome::ExhaustedPermanent, 502, None)
        }
        None => match last {
            Some(last) => Answer::upstream(last),
            None => Answer::new(Outcome::NoRoute, 503, None),
        },
    }
}

/// What the client would get from this upstream answer: its status and Retry-After, or a
/// gateway error for a transport failure or a stream that broke before its first byte.
#[inline]
pub(super) fn upstream_answer(class: Class, response: &Response) -> Upstream {
    let (status, retry_after_s) = match response {
        // A stream that broke before its first byte is a 200 that delivered nothing:
        // like a transport failure, it is a gateway error to the client.
        Response::Http(HttpAnswer { status, stream, .. })
            if class != Class::Network && *stream != StreamProgress::BrokeBeforeFirstByte =>
        {
            (*status, client_retry_after(class))
        }
        Response::Http(_) | Response::Transport(_) => (502, None),
    };
    Upstream {
        status: if class == Class::Success { 200 } else { status },
        retry_after_s,
    }
}

/// After an upstream answer of class `class` (which the client would get as `upstream`):
/// the next agentic iteration, a retry, or the answer the request finishes with.
#[inline]
pub(super) fn after_answer(
    policy: &Policy,
    epoch_unix_s: u64,
    now: Instant,
    state: &mut RequestState,
    class: Class,
    upstream: Upstream,
    response: &Response,
) -> After {
    let stream_broke_early = matches!(
        response,
        Response::Http(HttpAnswer {
            stream: StreamProgress::BrokeBeforeFirstByte,
            ..
        })
    );
    let finish = |outcome, status| After::Finish(Answer::new(outcome, status, None));
    match class {
        Class::Success if state.iteration < state.request.iterations => {
            state.iteration += 1;
            let keep = policy.has(Regression::ReuseWalkerAcrossIterations);
            state.walk.next_iteration(keep);
            After::Decide
        }
        Class::Success => finish(Outcome::Success, 200),
        Class::StreamInterrupted if !policy.has(Regression::FailoverMidStream) => {
            finish(Outcome::StreamInterrupted, 200)
        }
        Class::RequestInvalid if !policy.has(Regression::RetryRequestInvalid) => {
            finish(Outcome::RequestInvalid, upstream.status)
        }
        Class::Network
            if stream_broke_early
                && (policy.has(Regression::StreamBootstrapTerminal)
                    || !policy.stream_breaks_fail_over) =>
        {
            finish(Outcome::UpstreamFailed, 502)
        }
        _ if state.byok.is_some() => {
            byok_failed(policy, epoch_unix_s, now, state, upstream, response)
        }
        _ => After::Decide,
    }
}

/// A user's own key failed: the upstream status and Retry-After go back unchanged (or,
/// with `ByokFailsOver`, the request falls over to the org pool).
#[cold]
fn byok_failed(
    policy: &Policy,
    epoch_unix_s: u64,
    now: Instant,
    state: &mut RequestState,
    upstream: Upstream,
    response: &Response,
) -> After {
    if policy.has(Regression::ByokFailsOver) {
        // The production bug: a failed user key falls over to the org pool.
        state.byok = None;
        state.request.byok = None;
        return After::Decide;
    }
    let retry_after = match response {
        Response::Http(a) => {
            parse_retry_after(a, epoch_unix_s, now, Duration(u64::MAX)).map(Duration::as_secs_ceil)
        }
        Response::Transport(_) => None,
    };
    After::Finish(Answer::new(
        Outcome::UpstreamFailed,
        upstream.status,
        retry_after,
    ))
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
