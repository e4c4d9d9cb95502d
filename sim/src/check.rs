//! The invariant checker: every invariant of `spec/invariants.md`, verified over a run's
//! trace and final state.
//!
//! It does not trust the gateway's classification or flags: it rebuilds, from the ground
//! truth each fake provider recorded (why it answered as it did) and from the fault plan,
//! which credentials may be sent for which scope at each instant, and judges every
//! decision the gateway made against that reference model.

mod model;
mod report;

use crate::engine::Run;
use crate::provider::{request_draw, Cause};
use crate::trace::{Arrival, Record};
use crate::world::{FaultKind, World};
use gatesim_core::{
    Attempt, AttemptId, ClientResponse, Event, Instant, Mode, Outcome, ProviderId, RegionId,
    RequestId, RequestKind, Scope, Source,
};
use model::{Model, Pair};
use report::Report;
use std::collections::{BTreeMap, BTreeSet};

pub use report::{Invariant, Violation};

/// Checks every invariant (but `deterministic`, which needs two runs: see
/// [`check_determinism`]) on a finished run.
pub fn check(world: &World, run: &Run) -> Vec<Violation> {
    let mut c = Checker::new(world);
    for e in &run.trace.entries {
        c.now = e.at;
        c.step(&e.record);
    }
    c.final_state(run);
    c.out.finish()
}

/// Compares two runs of the same world and seed: their traces must be byte-identical.
pub fn check_determinism(first: &Run, second: &Run) -> Option<Violation> {
    // Equal records with equal names render to equal text, so the hashes (a full render of
    // each trace) are only needed when the records differ somewhere.
    if first.trace == second.trace && first.names == second.names {
        return None;
    }
    let (a, b) = (
        first.trace.hash(&first.names),
        second.trace.hash(&second.names),
    );
    if a == b && first.trace.entries.len() == second.trace.entries.len() {
        return None;
    }
    let diverge = first
        .trace
        .entries
        .iter()
        .zip(&second.trace.entries)
        .position(|(x, y)| x != y);
    let at = diverge.map_or(Instant::ZERO, |i| first.trace.entries[i].at);
    Some(Violation {
        invariant: Invariant::Deterministic,
        at,
        request: None,
        attempt: None,
        detail: format!("same world and seed gave different traces (hash {a:016x} vs {b:016x}, first difference at record {diverge:?})"),
    })
}

#[derive(Debug)]
struct RequestInfo {
    arrival: Arrival,
    arrived_at: Instant,
    attempts: Vec<AttemptId>,
    /// The next dispatch starts a fresh walk (new request, iteration or wait round).
    walk_start: bool,
    /// (provider, region, scope, credential) attempted in the current walk.
    walk_tried: Vec<(ProviderId, RegionId, Scope, gatesim_core::KeyId)>,
    iteration: u32,
    places: BTreeMap<u32, BTreeSet<(ProviderId, RegionId)>>,
    waited: bool,
    first_byte_sent: bool,
    first_outcome_invalid: Option<u16>,
    answered_any: bool,
    /// Surely-good eligible pairs when the request arrived, and whether all are within budget.
    good_at_start: Option<String>,
    counted: BTreeMap<AttemptId, (bool, bool)>,
}

struct Checker<'w> {
    world: &'w World,
    model: Model<'w>,
    requests: BTreeMap<RequestId, RequestInfo>,
    attempts: BTreeMap<AttemptId, (Attempt, Option<Cause>)>,
    cooldown_seen: BTreeMap<(gatesim_core::KeyId, Scope), Instant>,
    out: Report,
    now: Instant,
}

impl<'w> Checker<'w> {
    fn new(world: &'w World) -> Checker<'w> {
        Checker {
            world,
            model: Model::new(world),
            requests: BTreeMap::new(),
            attempts: BTreeMap::new(),
            cooldown_seen: BTreeMap::new(),
            out: Report::default(),
            now: Instant::ZERO,
        }
    }

    fn fail(
        &mut self,
        invariant: Invariant,
        request: Option<RequestId>,
        attempt: Option<AttemptId>,
        detail: String,
    ) {
        self.out.fail(invariant, self.now, request, attempt, detail);
    }

    fn key(&self, k: gatesim_core::KeyId) -> &str {
        &self.world.catalog.credential(k).name
    }

    fn step(&mut self, record: &Record) {
        match record {
            Record::Arrived(a) => self.arrived(a),
            Record::Dispatched(a) => self.dispatched(a),
            Record::Answered { attempt, cause, .. } => self.answered(*attempt, *cause),
            Record::Core(ev) => self.event(ev),
            Record::Responded { request, response } => self.responded(*request, response),
            Record::FaultEdge { .. } => {}
            Record::Tracked { entries } => {
                let cap = self.world.policy.scopes_max as usize;
                if *entries > cap {
                    self.fail(
                        Invariant::BoundedState,
                        None,
                        None,
                        format!("{entries} health entries tracked, over the cap of {cap}"),
                    );
                }
            }
        }
    }

    fn arrived(&mut self, a: &Arrival) {
        let good = self.surely_good(a);
        self.requests.insert(
            a.request,
            RequestInfo {
                arrival: a.clone(),
                arrived_at: self.now,
                attempts: Vec::new(),
                walk_start: true,
                walk_tried: Vec::new(),
                iteration: 1,
                places: BTreeMap::new(),
                waited: false,
                first_byte_sent: false,
                first_outcome_invalid: None,
                answered_any: false,
                good_at_start: good,
                counted: BTreeMap::new(),
            },
        );
    }

    /// A pair that, per the fault plan, cannot fail for this request, is eligible now,
    /// and lies within the attempt budget whatever order the gateway tries things in.
    ///
    /// Faults count from one attempt timeout before arrival: an attempt dispatched during
    /// a fault can still bring its consequence (a timeout, a 429) after the fault ended.
    fn surely_good(&self, a: &Arrival) -> Option<String> {
        if a.byok.is_some() {
            return None;
        }
        let t0 = self.now;
        let horizon = t0 + gatesim_core::Duration::from_secs(900);
        let faults = &self.world.faults.faults;
        let invalid = faults.iter().any(|f| match f.kind {
            FaultKind::RequestInvalid { rate_bp } => {
                f.overlaps(t0, horizon) && request_draw(a.request) < u64::from(rate_bp)
            }
            _ => false,
        });
        if invalid {
            return None;
        }
        let mode = self.world.catalog.project(a.project).mode;
        let pairs = self.model.pairs(&a.model, mode, None);
        let reachable: BTreeSet<(ProviderId, RegionId)> = pairs
            .iter()
            .filter(|p| {
                !self.model.blacklisted(p.sent)
                    && self.model.suspended_until(p.sent, p.upstream_scope) <= t0
            })
            .map(|p| (p.provider, p.region))
            .collect();
        if reachable.len() > self.world.policy.attempts_max as usize {
            return None;
        }
        let count_tokens = a.kind == RequestKind::CountTokens;
        let timeout = self.world.policy.attempt_timeout;
        pairs
            .iter()
            .find(|p| {
                self.model.eligible(p, t0, count_tokens)
                    && self
                        .model
                        .fault_free(p, a.stream, t0 - timeout, horizon, timeout)
            })
            .map(|p| {
                format!(
                    "{} {}",
                    self.key(p.sent),
                    self.world.catalog.providers[p.provider.index()].name
                )
            })
    }

    /// What may be sent with a credential at all: not after an auth failure, not while
    /// cooling or suspended, only to its region, only to its own endpoint.
    fn credential_checks(&mut self, a: &Attempt, count_tokens: bool) {
        let t = self.now;
        let cred = self.world.catalog.credential(a.credential).clone();
        let (r, id) = (Some(a.request), Some(a.id));
        let upstream_scope = Scope::of(&a.upstream);
        if self.model.blacklisted(a.credential) {
            self.fail(
                Invariant::AuthBlacklistGlobal,
                r,
                id,
                format!("{} sent after it failed authentication", cred.name),
            );
        }
        if !count_tokens {
            let cool = self.model.cooling_until(a.credential, a.scope, a.region);
            if cool > t {
                self.fail(
                    Invariant::CooldownRespected,
                    r,
                    id,
                    format!(
                        "{} sent for {} before its cooldown ends at {cool}",
                        cred.name, a.upstream
                    ),
                );
            }
            let susp = self.model.suspended_until(a.credential, upstream_scope);
            if susp > t {
                self.fail(
                    Invariant::SuspensionSticky,
                    r,
                    id,
                    format!(
                        "{} sent for upstream {} while suspended until {susp}",
                        cred.name, a.upstream
                    ),
                );
            }
        }
        if cred.provider != a.provider || cred.region.is_some_and(|lock| lock != a.region) {
            let region = &self.world.catalog.regions[a.region.index()];
            self.fail(
                Invariant::RegionLock,
                r,
                id,
                format!(
                    "{} (locked to {:?}) sent to region {region}",
                    cred.name,
                    cred.region
                        .map(|x| self.world.catalog.region_name(x).to_string())
                ),
            );
        }
        if cred.endpoint.as_deref() != a.endpoint.as_deref() {
            self.fail(
                Invariant::EndpointFromCredential,
                r,
                id,
                format!(
                    "{} sent to endpoint {:?}, its own is {:?}",
                    cred.name, a.endpoint, cred.endpoint
                ),
            );
        }
    }

    fn dispatched(&mut self, a: &Attempt) {
        let t = self.now;
        let Some(info) = self.requests.get(&a.request) else {
            self.credential_checks(a, false);
            let detail =
                "attempt for a request that is not open (never arrived or already answered)";
            self.fail(
                Invariant::Attribution,
                Some(a.request),
                Some(a.id),
                detail.into(),
            );
            return;
        };
        let arrival = info.arrival.clone();
        let count_tokens = arrival.kind == RequestKind::CountTokens;
        let cred = self.world.catalog.credential(a.credential).clone();
        let (r, id) = (Some(a.request), Some(a.id));
        let upstream_scope = Scope::of(&a.upstream);
        let mode = self.world.catalog.project(arrival.project).mode;
        let pair = Pair {
            provider: a.provider,
            region: a.region,
            scope: a.scope,
            upstream_scope,
            selected: a.selected,
            sent: a.credential,
        };
        self.credential_checks(a, count_tokens);
        if a.body_digest != arrival.body_digest {
            self.fail(
                Invariant::BodyReplay,
                r,
                id,
                format!(
                    "attempt body digest {:016x} differs from the request's {:016x}",
                    a.body_digest, arrival.body_digest
                ),
            );
        }
        self.check_mode(a, &arrival, mode, &pair);
        let info = self
            .requests
            .get(&a.request)
            .expect("request present: looked up above");
        // One attempt per upstream call: an agentic BYOK request makes one per iteration.
        let prior_this_iteration = info
            .attempts
            .iter()
            .filter_map(|x| self.attempts.get(x))
            .filter(|(b, _)| b.iteration == a.iteration)
            .count();
        let (walk_start, invalid_first, byte_sent) = (
            info.walk_start,
            info.first_outcome_invalid,
            info.first_byte_sent,
        );
        if let Some(byok) = arrival.byok {
            if prior_this_iteration > 0 || a.credential != byok {
                let detail = format!(
                    "BYOK request sent {} as attempt {} of iteration {}",
                    cred.name,
                    prior_this_iteration + 1,
                    a.iteration
                );
                self.fail(Invariant::ByokSingleAttempt, r, id, detail);
            }
        }
        if invalid_first.is_some() {
            self.fail(
                Invariant::TerminalRequestInvalid,
                r,
                id,
                "another attempt after a request-invalid answer".into(),
            );
        }
        if byte_sent {
            self.fail(
                Invariant::NoFailoverAfterFirstByte,
                r,
                id,
                "another attempt after the stream delivered bytes".into(),
            );
        }
        if walk_start && arrival.byok.is_none() && mode != Mode::Hybrid {
            if let Some(primary) = self.model.primary(&pair, mode) {
                if a.credential != primary
                    && self.model.eligible(
                        &Pair {
                            sent: primary,
                            ..pair
                        },
                        t,
                        count_tokens,
                    )
                {
                    self.fail(
                        Invariant::PrimaryFirst,
                        r,
                        id,
                        format!(
                            "walk started with {} while primary {} was eligible",
                            cred.name,
                            self.key(primary)
                        ),
                    );
                }
            }
        }
        let info = self
            .requests
            .get_mut(&a.request)
            .expect("request present: looked up above");
        if a.iteration != info.iteration {
            info.iteration = a.iteration;
        }
        info.walk_start = false;
        info.walk_tried
            .push((a.provider, a.region, a.scope, a.credential));
        info.attempts.push(a.id);
        let places = info.places.entry(a.iteration).or_default();
        places.insert((a.provider, a.region));
        let used = places.len();
        if used > self.world.policy.attempts_max as usize {
            self.fail(
                Invariant::AttemptBudget,
                r,
                id,
                format!(
                    "{used} providers×regions tried in iteration {}, budget {}",
                    a.iteration, self.world.policy.attempts_max
                ),
            );
        }
        self.attempts.insert(a.id, (a.clone(), None));
    }

    /// Project modes; in hybrid mode a platform key only when no org-keyed candidate is
    /// eligible, after the uptime bar.
    fn check_mode(&mut self, a: &Attempt, arrival: &Arrival, mode: Mode, sent: &Pair) {
        if arrival.byok.is_some() {
            return;
        }
        let source = self.world.catalog.credential(a.credential).source;
        let allowed = match mode {
            Mode::ApiKeys => source == Source::Org,
            Mode::Credits => source == Source::Platform,
            Mode::Hybrid => source != Source::Byok,
        };
        let (r, id) = (Some(a.request), Some(a.id));
        if !allowed {
            self.fail(
                Invariant::ModeRespected,
                r,
                id,
                format!(
                    "{} project sent {} credential {}",
                    mode.name(),
                    source.name(),
                    self.key(a.credential)
                ),
            );
            return;
        }
        if mode != Mode::Hybrid {
            return;
        }
        let info = &self.requests[&a.request];
        let tried = &info.walk_tried;
        let places = info.places.get(&a.iteration).cloned().unwrap_or_default();
        let budget_spent = places.len() >= self.world.policy.attempts_max as usize;
        let count_tokens = arrival.kind == RequestKind::CountTokens;
        let t = self.now;
        let available: Vec<Pair> = self
            .model
            .pairs(&arrival.model, mode, None)
            .into_iter()
            .filter(|p| {
                !tried.contains(&(p.provider, p.region, p.scope, p.sent))
                    && self.model.eligible(p, t, count_tokens)
                    // Once the budget is spent, places it cannot open are out of reach and
                    // take no part in the uptime bar or key preference (docs/decisions.md).
                    && (!budget_spent || places.contains(&(p.provider, p.region)))
            })
            .collect();
        let bar = self.world.policy.uptime_bar_bp;
        let above = |p: &Pair| self.model.mapping_uptime_bp(p, t) >= bar;
        let any_above = available.iter().any(above) || above(sent);
        let survivors: Vec<&Pair> = available
            .iter()
            .filter(|p| !any_above || above(p))
            .collect();
        let org_here = |p: &&Pair| {
            self.world.catalog.credential(p.sent).source == Source::Org
                && (!budget_spent || places.contains(&(p.provider, p.region)))
        };
        if source == Source::Platform {
            if let Some(org) = survivors.iter().copied().find(org_here) {
                let detail = format!(
                    "hybrid sent platform {} while org {} on {} was eligible",
                    self.key(a.credential),
                    self.key(org.sent),
                    self.world.catalog.providers[org.provider.index()].name
                );
                self.fail(Invariant::ModeRespected, r, id, detail);
            }
        } else if any_above && !above(sent) {
            let detail = format!("hybrid sent org {} to a provider below the uptime bar while a healthier candidate was eligible", self.key(a.credential));
            self.fail(Invariant::ModeRespected, r, id, detail);
        }
    }

    fn answered(&mut self, attempt: AttemptId, cause: Cause) {
        let Some((a, slot)) = self.attempts.get_mut(&attempt) else {
            return;
        };
        *slot = Some(cause);
        let a = a.clone();
        let count_tokens = a.kind == RequestKind::CountTokens;
        self.model.observe(&a, cause, self.now, count_tokens);
        let Some(info) = self.requests.get_mut(&a.request) else {
            return;
        };
        if !info.answered_any && cause == Cause::RequestInvalid {
            info.first_outcome_invalid = Some(400);
        }
        info.answered_any = true;
        if cause == Cause::StreamBreakAfter {
            info.first_byte_sent = true;
        }
        if cause == Cause::Ok && a.iteration >= info.iteration {
            // The next attempt, if any, starts the next iteration's fresh walk.
            info.walk_start = true;
            info.walk_tried.clear();
        }
    }

    fn event(&mut self, ev: &Event) {
        let t = self.now;
        match ev {
            Event::CooledDown {
                credential,
                scope,
                until,
                attempt,
            } => {
                self.attributed(*credential, *attempt, "cooldown");
                let key = (*credential, *scope);
                if let Some(prev) = self.cooldown_seen.get(&key).copied() {
                    if *until < prev && prev > t {
                        let detail = format!(
                            "{} cooldown moved earlier: {prev} -> {until}",
                            self.key(*credential)
                        );
                        self.fail(Invariant::CooldownMonotonic, None, Some(*attempt), detail);
                    }
                }
                let v = self.cooldown_seen.entry(key).or_insert(*until);
                *v = (*v).max(*until);
            }
            Event::MarkedUnhealthy {
                credential,
                attempt,
                ..
            } => self.attributed(*credential, *attempt, "unhealthy mark"),
            Event::Blacklisted {
                credential,
                attempt,
                ..
            } => self.attributed(*credential, *attempt, "blacklist"),
            Event::Suspended {
                credential,
                attempt,
                ..
            } => self.attributed(*credential, *attempt, "suspension"),
            Event::Skipped {
                request,
                credential,
                scope,
                region,
                block,
                ..
            } => {
                use gatesim_core::Block;
                if let Block::Cooling(until) | Block::Unhealthy(until) = block {
                    if *until <= t {
                        let detail = format!(
                            "{} passed over as {} although that ended at {until}",
                            self.key(*credential),
                            block.name()
                        );
                        self.fail(
                            Invariant::RecoversAfterCooldown,
                            Some(*request),
                            None,
                            detail,
                        );
                    } else if self.model.cooling_until(*credential, *scope, *region) <= t
                        && !self.model.blacklisted(*credential)
                    {
                        let detail = format!(
                            "{} passed over for {} as {block}: no failure of that scope says so",
                            self.key(*credential),
                            self.world_scope(*scope)
                        );
                        self.fail(Invariant::ScopeIsolation, Some(*request), None, detail);
                    }
                }
            }
            Event::Waiting { request, .. } => {
                if let Some(info) = self.requests.get_mut(request) {
                    info.waited = true;
                    info.walk_start = true;
                    info.walk_tried.clear();
                }
            }
            Event::Charged {
                request,
                attempt: None,
                provider,
                region,
                ..
            } => {
                let place = format!(
                    "{}/{}",
                    self.world.catalog.providers[provider.index()].name,
                    self.world.catalog.region_name(*region)
                );
                self.fail(
                    Invariant::AttemptBudget,
                    Some(*request),
                    None,
                    format!("budget charged for skipped candidate {place}"),
                );
            }
            Event::Counted {
                attempt,
                mapping,
                model,
                ..
            } => {
                if let Some((a, _)) = self.attempts.get(attempt) {
                    let r = a.request;
                    if let Some(info) = self.requests.get_mut(&r) {
                        info.counted.insert(*attempt, (*mapping, *model));
                    }
                }
            }
            Event::ProviderScored {
                request,
                provider,
                region,
                failed,
            } => self.provider_score(*request, *provider, *region, *failed),
            _ => {}
        }
    }

    fn world_scope(&self, s: Scope) -> String {
        self.world
            .catalog
            .models
            .iter()
            .find(|m| Scope::of(&m.name) == s)
            .map_or_else(|| s.to_string(), |m| m.name.clone())
    }

    fn attributed(&mut self, credential: gatesim_core::KeyId, attempt: AttemptId, what: &str) {
        let Some((a, _)) = self.attempts.get(&attempt) else {
            return;
        };
        if a.credential != credential {
            let detail = format!(
                "{what} recorded on {} but attempt sent {}",
                self.key(credential),
                self.key(a.credential)
            );
            let r = a.request;
            self.fail(Invariant::Attribution, Some(r), Some(attempt), detail);
        }
    }

    fn provider_score(
        &mut self,
        request: RequestId,
        provider: ProviderId,
        region: RegionId,
        failed: bool,
    ) {
        let Some(info) = self.requests.get(&request) else {
            return;
        };
        let causes: Vec<Cause> = info
            .attempts
            .iter()
            .filter_map(|id| self.attempts.get(id))
            .filter(|(a, _)| a.provider == provider && a.region == region)
            .filter_map(|(_, c)| *c)
            .collect();
        let succeeded = causes.contains(&Cause::Ok);
        let any_failed = causes
            .iter()
            .any(|c| *c != Cause::Ok && *c != Cause::RequestInvalid);
        let expected = !succeeded && any_failed;
        if failed != expected {
            let place = format!(
                "{}/{}",
                self.world.catalog.providers[provider.index()].name,
                self.world.catalog.region_name(region)
            );
            let detail = format!(
                "{place} scored {} but {}",
                if failed { "failed" } else { "ok" },
                if succeeded {
                    "an attempt there succeeded"
                } else {
                    "no attempt there succeeded"
                }
            );
            self.fail(Invariant::ProviderScoreHonest, Some(request), None, detail);
        }
    }

    fn responded(&mut self, request: RequestId, response: &ClientResponse) {
        let Some(info) = self.requests.remove(&request) else {
            return;
        };
        let t = self.now;
        let r = Some(request);
        let log: Vec<(Attempt, Cause)> = info
            .attempts
            .iter()
            .filter_map(|id| self.attempts.get(id))
            .filter_map(|(a, c)| c.map(|c| (a.clone(), c)))
            .collect();
        // Hidden failures, and the checker's own mapping histories (for the uptime bar).
        for (i, (a, cause)) in log.iter().enumerate() {
            if *cause == Cause::RequestInvalid {
                continue;
            }
            let ok = *cause == Cause::Ok;
            let recovered = log[i + 1..].iter().any(|(b, c)| {
                *c == Cause::Ok
                    && b.iteration == a.iteration
                    && b.provider == a.provider
                    && b.region == a.region
            });
            if !ok && !recovered {
                match info.counted.get(&a.id) {
                    Some((true, true)) => {}
                    other => {
                        let detail = format!("failed attempt on {} left out of uptime ({}) though nothing on that provider and region recovered it", self.key(a.credential), match other {
                            None => "not counted at all".to_string(),
                            Some((m, md)) => format!("mapping counted: {m}, model counted: {md}"),
                        });
                        self.fail(Invariant::NoHiddenFailures, r, Some(a.id), detail);
                    }
                }
            }
            if ok || !recovered {
                self.model.record_uptime(a, ok, t);
            }
        }
        if let Some(last) = log.last() {
            if response.hint_key != Some(last.0.credential) {
                let detail = format!(
                    "credential hint names {} but the final answer came from {}",
                    response.hint_key.map_or("nobody", |k| self.key(k)),
                    self.key(last.0.credential)
                );
                self.fail(Invariant::Attribution, r, Some(last.0.id), detail);
            }
        }
        if let Some(status) = info.first_outcome_invalid {
            if response.outcome != Outcome::RequestInvalid || response.status != status {
                let detail = format!(
                    "request-invalid answer not passed on: client got {} {}",
                    response.status,
                    response.outcome.name()
                );
                self.fail(Invariant::TerminalRequestInvalid, r, None, detail);
            }
        }
        let mode = self.world.catalog.project(info.arrival.project).mode;
        let blocked_end = self
            .model
            .soonest_end(&info.arrival.model, mode, info.arrival.byok, t);
        if response.outcome == Outcome::ExhaustedTransient {
            match blocked_end {
                Some((end, _)) => {
                    let expected = end.saturating_since(t).as_secs_ceil().max(1);
                    if response.status != 429 || response.retry_after_s != Some(expected) {
                        let detail = format!("exhaustion answered {} retry-after {:?}, soonest cooldown ends at {end} (expected 429 retry-after {expected}s)", response.status, response.retry_after_s);
                        self.fail(Invariant::ExhaustionTyped, r, None, detail);
                    }
                }
                None => self.fail(
                    Invariant::ExhaustionTyped,
                    r,
                    None,
                    "answered transient exhaustion but no candidate is cooling down".into(),
                ),
            }
            if let Some((end, true)) = blocked_end {
                if !info.waited
                    && info.arrival.byok.is_none()
                    && end.saturating_since(t) <= self.world.policy.wait_max
                {
                    let detail = format!("failed although every candidate was cooling and the soonest ends at {end}, within the max wait of {}", self.world.policy.wait_max);
                    self.fail(Invariant::WaitsForCooldown, r, None, detail);
                }
            }
        }
        // A request-invalid answer to a request the providers did not reject is a failure
        // too: `surely_good` is `None` for requests the fault plan makes invalid.
        let failed = !matches!(
            response.outcome,
            Outcome::Success | Outcome::StreamInterrupted
        );
        if failed && !info.first_byte_sent {
            if let Some(good) = &info.good_at_start {
                let detail = format!("answered {} {} although {good} was eligible at arrival ({}) and could not fail", response.status, response.outcome.name(), info.arrived_at);
                self.fail(Invariant::NoFalseExhaustion, r, None, detail);
            }
        }
    }

    fn final_state(&mut self, run: &Run) {
        let now = self.now;
        for (k, reported) in run.final_state.blacklisted.iter().enumerate() {
            let key = gatesim_core::KeyId(k as u32);
            if self.model.blacklisted(key) && !reported {
                let detail = format!(
                    "{} failed authentication but is not reported blacklisted at the end",
                    self.key(key)
                );
                self.fail(Invariant::AuthBlacklistGlobal, None, None, detail);
            }
        }
        for ((k, s), uptime) in &run.final_state.key_uptime_bp {
            if self.model.blacklisted(*k) && *uptime != 0 {
                let detail = format!(
                    "blacklisted {} reports uptime {}.{:02}% for {}",
                    self.key(*k),
                    uptime / 100,
                    uptime % 100,
                    self.world_scope(*s)
                );
                self.fail(Invariant::BlacklistUptimeZero, None, None, detail);
            }
        }
        if run.final_state.tracked_entries_max > self.world.policy.scopes_max as usize {
            let detail = format!(
                "up to {} health entries tracked, cap {}",
                run.final_state.tracked_entries_max, self.world.policy.scopes_max
            );
            self.now = now;
            if !self.out.broken(Invariant::BoundedState) {
                self.fail(Invariant::BoundedState, None, None, detail);
            }
        }
    }
}

#[cfg(test)]
mod tests;
