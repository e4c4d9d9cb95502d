//! Invariants: no-false-exhaustion, exhaustion-typed, recovers-after-cooldown,
//! waits-for-cooldown.
//!
//! Outcomes: a request succeeds when the fault plan says it surely could, waits when a
//! cooldown ends soon enough, fails typed when it must, and nothing stays blocked past
//! its end.

use super::ledger::Open;
use super::model::Pair;
use super::{cooldown_end, Ctx, Invariant};
use crate::provider::{request_draw, Cause};
use crate::trace::Arrival;
use crate::world::{FaultKind, Means};
use gatesim_core::{
    Block, ClientResponse, Duration, Instant, KeyId, Outcome, ProviderId, RegionId, RequestId,
    RequestKind, Scope,
};
use std::collections::BTreeSet;

/// How far past arrival the fault plan is read for a request that could not fail.
const HORIZON: Duration = Duration::from_secs(900);

/// A pair that, per the fault plan, cannot fail for this request, is eligible now,
/// and lies within the attempt budget whatever order the gateway tries things in; named
/// `credential provider`.
///
/// Faults count from one attempt timeout before arrival: an attempt dispatched during
/// a fault can still bring its consequence (a timeout, a 429) after the fault ended.
pub(super) fn surely_good(cx: &Ctx<'_, '_>, a: &Arrival) -> Option<String> {
    if a.byok.is_some() {
        return None;
    }
    let (world, model) = (cx.world, &cx.ledger.model);
    let t0 = cx.now;
    let horizon = t0 + HORIZON;
    // A request an answer fault makes invalid anywhere is left out whole: whether the
    // gateway meets that answer first depends on the order it tries things in.
    let invalid = world.faults.faults.iter().any(|f| {
        let rate_bp = match &f.kind {
            FaultKind::RequestInvalid { rate_bp } => *rate_bp,
            FaultKind::Answer(x) if x.means == Means::RequestInvalid => x.rate_bp,
            FaultKind::Answer(_)
            | FaultKind::KeyInvalid { .. }
            | FaultKind::KeyRevoked { .. }
            | FaultKind::RateLimit { .. }
            | FaultKind::ModelUnsupported { .. }
            | FaultKind::ServerErrors { .. }
            | FaultKind::RegionOutage { .. }
            | FaultKind::LatencySpike { .. }
            | FaultKind::StreamBreak { .. }
            | FaultKind::ModelWithdrawn { .. } => return false,
        };
        f.overlaps(t0, horizon) && request_draw(a.request) < u64::from(rate_bp)
    });
    if invalid {
        return None;
    }
    let mode = world.catalog.project(a.project).mode;
    let pairs = model.pairs(&a.model, mode, None);
    let reachable: BTreeSet<(ProviderId, RegionId)> = pairs
        .iter()
        .filter(|p| {
            !model.blacklisted(p.sent) && model.suspended_until(p.sent, p.upstream_scope) <= t0
        })
        .map(|p| (p.provider, p.region))
        .collect();
    if reachable.len() > world.contract.attempts_max as usize {
        return None;
    }
    let count_tokens = a.kind == RequestKind::CountTokens;
    let timeout = world.contract.attempt_timeout;
    pairs
        .iter()
        .find(|p| {
            model.eligible(p, t0, count_tokens)
                && model.fault_free(p, t0 - timeout, horizon, timeout)
        })
        .map(|p| format!("{} {}", cx.key(p.sent), cx.provider(p.provider)))
}

/// The gateway passed a credential over for a cooldown: that cooldown has not ended,
/// neither by the gateway's own word nor by the provider's answers and the contract.
pub(super) fn skipped(
    cx: &mut Ctx<'_, '_>,
    request: RequestId,
    credential: KeyId,
    scope: Scope,
    region: RegionId,
    block: Block,
) {
    let Some(until) = cooldown_end(block) else {
        return;
    };
    let (name, what) = (cx.key(credential), block.name());
    let detail = if until <= cx.now {
        format!("{name} passed over as {what} although that ended at {until}")
    } else {
        let model = &cx.ledger.model;
        let grace = cx.world.contract.recovery_within;
        match model.block_end(credential, scope, region) {
            Some(end) if !model.blacklisted(credential) && end + grace < cx.now => format!(
                "{name} passed over as {what} until {until}, but by the provider's answers \
                 and the contract its cooldown ended at {end}"
            ),
            _ => return,
        }
    };
    cx.fail(
        Invariant::RecoversAfterCooldown,
        Some(request),
        None,
        detail,
    );
}

/// The open request was answered: an exhaustion is typed and waited for as the
/// reference's blocks say, and no request that surely could succeed failed.
pub(super) fn responded(
    cx: &mut Ctx<'_, '_>,
    request: RequestId,
    open: &Open,
    response: &ClientResponse,
) {
    if response.outcome == Outcome::ExhaustedTransient {
        exhausted(cx, request, open, response);
        usable_left(cx, request, open);
    }
    // A request-invalid answer to a request the providers did not reject is a failure
    // too: `surely_good` is `None` for requests the fault plan makes invalid.
    let failed = !matches!(
        response.outcome,
        Outcome::Success | Outcome::StreamInterrupted
    );
    if failed && !open.first_byte_sent {
        if let Some(good) = &open.good_at_start {
            let detail = format!(
                "answered {} {} although {good} was eligible at arrival ({}) and could not fail",
                response.status,
                response.outcome.name(),
                open.arrived_at
            );
            cx.fail(Invariant::NoFalseExhaustion, Some(request), None, detail);
        }
    }
}

/// From outside, a 429 is either the gateway's transient exhaustion or the last upstream
/// 429 passed on when the attempt budget ran out; the wire does not say which. When no
/// candidate is blocked (so it cannot be an exhaustion) and the request's last attempt was
/// rate limited, it is read as the passed-on failure; otherwise as the exhaustion it
/// claims to be, and judged so.
pub(super) fn read_off_wire(
    cx: &Ctx<'_, '_>,
    open: &Open,
    response: &ClientResponse,
) -> ClientResponse {
    let mut read = response.clone();
    if response.outcome != Outcome::ExhaustedTransient {
        return read;
    }
    let arrival = &open.arrival;
    let mode = cx.world.catalog.project(arrival.project).mode;
    let blocked = cx
        .ledger
        .model
        .soonest_end(&arrival.model, mode, arrival.byok, cx.now)
        .is_some();
    let last_rate_limited = cx
        .ledger
        .answers(&open.attempts)
        .last()
        .is_some_and(|(_, cause)| matches!(cause, Cause::RateLimited { .. }));
    if !blocked && last_rate_limited {
        read.outcome = Outcome::UpstreamFailed;
    }
    read
}

/// A transient exhaustion: 429 with Retry-After the soonest block end (or, once an earlier
/// iteration streamed bytes, 200 with that 429 and Retry-After in an in-stream error), after
/// waiting when a cooldown (not only suspensions) ends within the max wait.
fn exhausted(cx: &mut Ctx<'_, '_>, request: RequestId, open: &Open, response: &ClientResponse) {
    let (t, r) = (cx.now, Some(request));
    let arrival = &open.arrival;
    let mode = cx.world.catalog.project(arrival.project).mode;
    let blocked_end = cx
        .ledger
        .model
        .soonest_end(&arrival.model, mode, arrival.byok, t);
    let Some((end, cooling)) = blocked_end else {
        let detail = "answered transient exhaustion but no candidate is cooling down".into();
        cx.fail(Invariant::ExhaustionTyped, r, None, detail);
        return;
    };
    let expected = end.saturating_since(t).as_secs_ceil().max(1);
    // On a wall clock the gateway saw the cooldown start and computed the Retry-After up
    // to `slack` off the history's times: either rounding of that window is exact.
    let expected_late = (end + cx.slack + cx.slack)
        .saturating_since(t)
        .as_secs_ceil()
        .max(1);
    let exact = |s: Option<u64>| s.is_some_and(|s| (expected..=expected_late).contains(&s));
    // An earlier iteration of a streamed agentic loop that was served already sent the
    // client a 200 and bytes: the exhaustion can only be an error event in that stream.
    let streamed = arrival.stream
        && cx
            .ledger
            .answers(&open.attempts)
            .any(|(_, cause)| cause == Cause::Ok);
    let typed = if streamed {
        response.status == 200
            && response.retry_after_s.is_none()
            && response
                .stream_error
                .is_some_and(|e| e.status == 429 && exact(e.retry_after_s))
    } else {
        response.status == 429 && exact(response.retry_after_s) && response.stream_error.is_none()
    };
    if !typed {
        let got = match response.stream_error {
            Some(e) => format!(
                "{} with an in-stream error {} retry-after {:?}",
                response.status, e.status, e.retry_after_s
            ),
            None => format!(
                "{} retry-after {:?}",
                response.status, response.retry_after_s
            ),
        };
        let want = if streamed {
            format!("200 with an in-stream error 429 retry-after {expected}s, bytes were streamed")
        } else {
            format!("429 retry-after {expected}s")
        };
        let detail =
            format!("exhaustion answered {got}, soonest cooldown ends at {end} (expected {want})");
        cx.fail(Invariant::ExhaustionTyped, r, None, detail);
    }
    let wait_max = cx.world.contract.wait_max;
    // A contract of no wait rounds promises no waiting at all.
    let may_wait = cx.world.contract.wait_rounds_max > 0;
    // Another round is due while the iteration has rounds left and the request's total
    // wait stays within `wait_max`.
    let rounds_left = open.wait_rounds < cx.world.contract.wait_rounds_max;
    let wait_left = Duration::from_ms(wait_max.as_ms().saturating_sub(open.waited_for.as_ms()));
    if cooling
        && may_wait
        && rounds_left
        && arrival.byok.is_none()
        && end.saturating_since(t) <= wait_left
    {
        let detail = format!("failed although every candidate was cooling and the soonest ends at {end}, within the max wait of {wait_max}");
        cx.fail(Invariant::WaitsForCooldown, r, None, detail);
    }
}

/// A transient exhaustion is answered only when, by the provider's answers and the
/// contract, no candidate the request could still reach is usable: one that its last walk
/// did not try, that is blocked by nothing, and whose provider × region fits the attempt
/// budget (or was opened already).
fn usable_left(cx: &mut Ctx<'_, '_>, request: RequestId, open: &Open) {
    let arrival = &open.arrival;
    if arrival.byok.is_some() || open.first_byte_sent {
        return;
    }
    let (model, t) = (&cx.ledger.model, cx.now);
    let mode = cx.world.catalog.project(arrival.project).mode;
    let places = open.places.get(&open.iteration);
    let opened = |p: &Pair| places.is_some_and(|s| s.contains(&(p.provider, p.region)));
    let budget_left = places.map_or(0, BTreeSet::len) < cx.world.contract.attempts_max as usize;
    let count_tokens = arrival.kind == RequestKind::CountTokens;
    let usable = model
        .pairs(&arrival.model, mode, None)
        .into_iter()
        .find(|p| {
            !open
                .walk_tried
                .contains(&(p.provider, p.region, p.scope, p.sent))
                && model.eligible(p, t, count_tokens)
                && (budget_left || opened(p))
        });
    if let Some(p) = usable {
        let detail = format!(
            "answered transient exhaustion while {} on {} was usable and untried",
            cx.key(p.sent),
            cx.place(p.provider, p.region)
        );
        cx.fail(Invariant::NoFalseExhaustion, Some(request), None, detail);
    }
}

/// A request waits for a cooldown: within the contract's rounds and total wait.
pub(super) fn waiting(cx: &mut Ctx<'_, '_>, request: RequestId, open: &Open, until: Instant) {
    let c = cx.world.contract;
    let rounds = open.wait_rounds + 1;
    let total = open.waited_for + until.saturating_since(cx.now);
    if rounds > c.wait_rounds_max {
        let detail = format!(
            "wait round {rounds} until {until}, but the contract allows {}",
            c.wait_rounds_max
        );
        cx.fail(Invariant::WaitsForCooldown, Some(request), None, detail);
    } else if total > c.wait_max {
        let detail = format!(
            "waits {total} in all (until {until}), longer than the contract's {}",
            c.wait_max
        );
        cx.fail(Invariant::WaitsForCooldown, Some(request), None, detail);
    }
}

/// At the end of the run every request that arrived was answered, unless its client went
/// away first.
pub(super) fn final_state(cx: &mut Ctx<'_, '_>, cancelled: &[RequestId]) {
    let unanswered: Vec<(RequestId, Instant)> = cx
        .ledger
        .requests
        .iter()
        .filter(|(id, _)| !cancelled.contains(id))
        .map(|(id, open)| (*id, open.arrived_at))
        .collect();
    for (request, arrived) in unanswered {
        let detail = format!("arrived at {arrived} and was never answered");
        cx.fail(Invariant::NoFalseExhaustion, Some(request), None, detail);
    }
}
