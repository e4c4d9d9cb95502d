//! Checks on the gateway's actions: every dispatch against the naive model (blacklist,
//! cooldowns, unhealthy periods, suspensions, modes, region locks, endpoints, bodies,
//! primary first), every client answer against the request's last upstream answer, the
//! attempt budget and, for typed exhaustion, every candidate.

use super::{Driver, Flight};
use crate::naive::{Availability, Candidate, Route, ATTEMPTS_MAX, RETRY_AFTER_CAP_MS, WAIT_MAX_MS};
use crate::ops::Meaning;
use gatesim_core::{
    Attempt, AttemptId, ClientResponse, Instant, Mode, Outcome, RequestId, RequestKind, Scope,
    Source,
};

impl Driver {
    /// Checks a dispatch and records it as in flight.
    pub(super) fn dispatched(&mut self, a: Attempt) -> Result<(), String> {
        let cat = self.gateway.catalog();
        self.note(format!(
            "dispatch {} {} -> {}/{} {} ({}) {}",
            a.id,
            a.request,
            cat.provider(a.provider).name,
            cat.region_name(a.region),
            cat.credential(a.credential).name,
            cat.credential(a.selected).name,
            a.upstream
        ));
        if a.id != AttemptId(self.next_attempt) {
            return Err(format!(
                "attempt id {} out of order (expected attempt#{})",
                a.id, self.next_attempt
            ));
        }
        self.next_attempt += 1;
        let info = self
            .requests
            .get(&a.request)
            .ok_or_else(|| format!("{} for unknown {}", a.id, a.request))?;
        if info.responded || info.in_flight.is_some() || info.terminal {
            return Err(format!("{} for {} which is answered, has an attempt in flight, or ended (request-invalid / stream broken after bytes)", a.id, a.request));
        }
        let route = self.route_of(&a)?;
        self.check_credential(&a)?;
        self.check_health(&a, &route)?;
        self.check_shape(&a)?;
        self.check_primary(&a, &route)?;
        let info = self.requests.get_mut(&a.request).expect("checked above");
        info.walk_start = false;
        info.last_sent = Some(a.credential);
        info.walk_tried.push((route.clone(), a.credential));
        if !info.places.contains(&(a.provider, a.region)) {
            info.places.push((a.provider, a.region));
        }
        info.attempts += 1;
        info.in_flight = Some(a.id);
        let dispatched_at = self.now;
        self.in_flight.insert(
            a.id,
            Flight {
                attempt: a,
                route,
                dispatched_at,
            },
        );
        Ok(())
    }

    /// The request's route the attempt is on: provider, region, upstream and scope agree.
    fn route_of(&self, a: &Attempt) -> Result<Route, String> {
        let model = &self.requests[&a.request].request.model;
        self.naive
            .routes(model)
            .into_iter()
            .find(|r| {
                r.provider == a.provider
                    && r.region == a.region
                    && *r.upstream == *a.upstream
                    && Scope::of(&r.model) == a.scope
            })
            .ok_or_else(|| format!("{} goes where {model} is not served", a.id))
    }

    /// The credential fits the provider, its region lock, its endpoint, the project's
    /// mode (or the request's BYOK key) and the regional token swap.
    fn check_credential(&self, a: &Attempt) -> Result<(), String> {
        let info = &self.requests[&a.request];
        let cat = self.gateway.catalog();
        let cred = cat.credential(a.credential);
        if cred.provider != a.provider || cred.region.is_some_and(|lock| lock != a.region) {
            return Err(format!(
                "{} sends {} outside its provider or region lock",
                a.id, cred.name
            ));
        }
        if cred.endpoint.as_deref() != a.endpoint.as_deref() {
            return Err(format!(
                "{} uses endpoint {:?}, {} has {:?}",
                a.id, a.endpoint, cred.name, cred.endpoint
            ));
        }
        match info.request.byok {
            // One attempt per upstream call: an agentic BYOK request makes one per iteration.
            Some(b) if a.credential != b || info.attempts > info.successes => Err(format!(
                "BYOK {} sends {} as attempt {} in iteration {}",
                a.request,
                cred.name,
                info.attempts + 1,
                info.successes + 1
            )),
            Some(_) => Ok(()),
            None => {
                let selected = cat.credential(a.selected);
                let admitted = |s: Source| match info.mode {
                    Mode::ApiKeys => s == Source::Org,
                    Mode::Credits => s == Source::Platform,
                    Mode::Hybrid => s != Source::Byok,
                };
                if !admitted(cred.source) || !admitted(selected.source) {
                    return Err(format!(
                        "{} project sends {} ({})",
                        info.mode.name(),
                        cred.name,
                        cred.source.name()
                    ));
                }
                if self.naive.sent_for(a.selected, a.region) != a.credential {
                    return Err(format!(
                        "{} selected {} but sends {}",
                        a.id, selected.name, cred.name
                    ));
                }
                Ok(())
            }
        }
    }

    /// The naive model allows sending the credential on this route now.
    fn check_health(&self, a: &Attempt, route: &Route) -> Result<(), String> {
        let count_tokens = a.kind == RequestKind::CountTokens;
        let name = &self.gateway.catalog().credential(a.credential).name;
        match self
            .naive
            .availability(a.credential, route, self.now, count_tokens)
        {
            Availability::Now => Ok(()),
            Availability::Never => Err(format!(
                "{} sends {name}, blacklisted after an auth failure",
                a.id
            )),
            Availability::At { from, .. } => Err(format!(
                "{} sends {name} for {} in {} (upstream {}) before {from}: cooldown ends {}, unhealthy ends {}, suspension ends {}",
                a.id,
                route.model,
                self.gateway.catalog().region_name(route.region),
                route.upstream,
                self.naive.cooling_until(a.credential, &route.model),
                self.naive.unhealthy_until(a.credential, &route.model, route.region),
                self.naive.suspended_until(a.credential, &route.upstream)
            )),
        }
    }

    /// Every attempt sends the request's own body, kind and stream flag, in the iteration
    /// the request is in.
    fn check_shape(&self, a: &Attempt) -> Result<(), String> {
        let info = &self.requests[&a.request];
        let r = &info.request;
        if a.body_digest != r.body_digest || a.body_bytes != r.body_bytes {
            return Err(format!("{} sends a different body", a.id));
        }
        if a.kind != r.kind || a.stream != r.stream || a.iteration != info.successes + 1 {
            return Err(format!(
                "{} has kind/stream/iteration {:?}/{}/{}, the request {:?}/{}/{}",
                a.id,
                a.kind,
                a.stream,
                a.iteration,
                r.kind,
                r.stream,
                info.successes + 1
            ));
        }
        Ok(())
    }

    /// A fresh walk (new request, iteration or wait round) starts with the route's
    /// primary credential when it is free (hybrid's key preference aside).
    fn check_primary(&self, a: &Attempt, route: &Route) -> Result<(), String> {
        let info = &self.requests[&a.request];
        if !info.walk_start || info.request.byok.is_some() || info.mode == Mode::Hybrid {
            return Ok(());
        }
        let count_tokens = a.kind == RequestKind::CountTokens;
        let primary = self.naive.primary(a.provider, a.region, info.mode);
        match primary.filter(|p| *p != a.credential) {
            Some(p)
                if self.naive.availability(p, route, self.now, count_tokens)
                    == Availability::Now =>
            {
                let cat = self.gateway.catalog();
                Err(format!(
                    "{} starts a walk with {} while the primary {} is free",
                    a.id,
                    cat.credential(a.credential).name,
                    cat.credential(p).name
                ))
            }
            _ => Ok(()),
        }
    }

    /// Checks a client answer against the request's history and the naive model.
    pub(super) fn responded(&mut self, id: RequestId, r: &ClientResponse) -> Result<(), String> {
        self.note(format!(
            "respond {id} {} {} retry {:?} after {} attempts",
            r.status,
            r.outcome.name(),
            r.retry_after_s,
            r.attempts
        ));
        let now = self.now;
        let info = self
            .requests
            .get_mut(&id)
            .ok_or_else(|| format!("answer to unknown {id}"))?;
        if info.responded || info.in_flight.is_some() {
            return Err(format!("{id} answered twice or with an attempt in flight"));
        }
        info.responded = true;
        if r.hint_key != info.last_sent {
            return Err(format!(
                "{id} names {:?} as its credential, the last attempt sent {:?}",
                r.hint_key, info.last_sent
            ));
        }
        if r.attempts != info.attempts {
            return Err(format!(
                "{id} reports {} attempts, {} were dispatched",
                r.attempts, info.attempts
            ));
        }
        let info = &self.requests[&id];
        let r = &in_stream_view(id, r, info.request.stream && info.successes > 0)?;
        let last = info.last.clone();
        let expect = |ok: bool, what: &str| -> Result<(), String> {
            if ok {
                Ok(())
            } else {
                Err(format!(
                    "{id} answered {} {} (retry {:?}) but {what}; last upstream answer {last:?}",
                    r.status,
                    r.outcome.name(),
                    r.retry_after_s
                ))
            }
        };
        match r.outcome {
            Outcome::Success => expect(
                r.status == 200
                    && matches!(last, Some((_, Meaning::Success)))
                    && info.successes == info.request.iterations,
                "not every iteration succeeded",
            ),
            Outcome::StreamInterrupted => expect(
                r.status == 200 && matches!(last, Some((_, Meaning::Interrupted))),
                "no stream broke after its first byte",
            ),
            Outcome::RequestInvalid => expect(
                r.status == 400 && matches!(last, Some((_, Meaning::RequestInvalid))),
                "the last answer was not request-invalid",
            ),
            Outcome::UpstreamFailed => self.upstream_failed(id, r, now),
            Outcome::ExhaustedTransient | Outcome::ExhaustedPermanent | Outcome::NoRoute => {
                self.exhausted(id, r, now)
            }
        }
    }

    /// The last upstream error is passed on: its status (502 without an HTTP answer) and,
    /// for a 429, its hint in whole seconds (capped, but uncapped for BYOK).
    fn upstream_failed(
        &self,
        id: RequestId,
        r: &ClientResponse,
        now: Instant,
    ) -> Result<(), String> {
        let info = &self.requests[&id];
        let byok = info.request.byok.is_some();
        let Some((answer, meaning)) = &info.last else {
            return Err(format!(
                "{id} answered {} upstream_failed but no upstream ever answered",
                r.status
            ));
        };
        let retry_after = match meaning {
            Meaning::RateLimited(hint) if byok => hint.map(|ms| ms.div_ceil(1000)),
            Meaning::RateLimited(hint) => hint.map(|ms| ms.min(RETRY_AFTER_CAP_MS).div_ceil(1000)),
            _ => None,
        };
        if r.status != answer.client_status(info.request.stream) || r.retry_after_s != retry_after {
            return Err(format!(
                "{id} answered {} upstream_failed (retry {:?}) but the last upstream answer was {answer:?} ({meaning:?})",
                r.status, r.retry_after_s
            ));
        }
        if byok {
            return Ok(());
        }
        self.gave_up(id, now)
    }

    /// A request fails with the last upstream error only when no candidate it has not
    /// tried in this walk is free within the attempt budget.
    fn gave_up(&self, id: RequestId, now: Instant) -> Result<(), String> {
        let info = &self.requests[&id];
        let count_tokens = info.request.kind == RequestKind::CountTokens;
        let budget_left = info.places.len() < ATTEMPTS_MAX;
        let untried_free: Vec<Candidate> = self
            .naive
            .candidates(&info.request.model, info.mode, None)
            .into_iter()
            .filter(|c| {
                !info
                    .walk_tried
                    .iter()
                    .any(|(route, sent)| *route == c.route && *sent == c.sent)
                    && self.naive.availability(c.sent, &c.route, now, count_tokens)
                        == Availability::Now
            })
            .collect();
        let affordable = |c: &&Candidate| {
            budget_left || info.places.contains(&(c.route.provider, c.route.region))
        };
        let free: Vec<&Candidate> = untried_free.iter().filter(affordable).collect();
        if free.is_empty() {
            return Ok(());
        }

        let free: Vec<String> = free
            .iter()
            .map(|c| format!("{}@{}/{}", self.key(c.sent), c.route.model, c.route.region))
            .collect();
        Err(format!(
            "{id} gave up with the last upstream error while {} were free within the budget (places used: {:?})",
            free.join(", "),
            info.places
        ))
    }

    /// Typed exhaustion and no-route answers follow from the naive model's candidates.
    fn exhausted(&self, id: RequestId, r: &ClientResponse, now: Instant) -> Result<(), String> {
        let info = &self.requests[&id];
        let count_tokens = info.request.kind == RequestKind::CountTokens;
        let candidates = self
            .naive
            .candidates(&info.request.model, info.mode, info.request.byok);
        let avail: Vec<Availability> = candidates
            .iter()
            .map(|c| self.naive.availability(c.sent, &c.route, now, count_tokens))
            .collect();
        let fail = |what: String| -> Result<(), String> {
            let list: Vec<String> = candidates
                .iter()
                .zip(&avail)
                .map(|(c, a)| {
                    format!(
                        "{}@{}/{}={a:?}",
                        self.key(c.sent),
                        c.route.model,
                        c.route.region
                    )
                })
                .collect();
            Err(format!(
                "{id} answered {} {} (retry {:?}): {what}; candidates: {}",
                r.status,
                r.outcome.name(),
                r.retry_after_s,
                list.join(", ")
            ))
        };
        match r.outcome {
            Outcome::NoRoute if !candidates.is_empty() || info.attempts > 0 => {
                fail("it has candidates".into())
            }
            Outcome::ExhaustedPermanent
                if r.status != 502
                    || avail.is_empty()
                    || avail.iter().any(|a| *a != Availability::Never) =>
            {
                fail("not every candidate is blacklisted".into())
            }
            Outcome::ExhaustedTransient => {
                if avail.contains(&Availability::Now) {
                    return fail("a candidate is free".into());
                }
                let soonest = self.soonest(&candidates, now, count_tokens);
                let Some(soonest) = soonest else {
                    return fail("no candidate is cooling".into());
                };
                let wait_ms = soonest.as_ms() - now.as_ms();
                let retry_after = wait_ms.div_ceil(1000).max(1);
                let right = r.retry_after_s == Some(retry_after);
                if r.status != 429 || !right {
                    return fail(format!("expected 429 with Retry-After {retry_after}"));
                }
                let cooling = avail
                    .iter()
                    .any(|a| matches!(a, Availability::At { cooling: true, .. }));
                if !info.waited && cooling && wait_ms <= WAIT_MAX_MS {
                    return fail(format!(
                        "it never waited although a cooldown ends in {wait_ms} ms"
                    ));
                }
                Ok(())
            }
            _ => Ok(()),
        }
    }

    /// The soonest end of the candidates' blocks: when one is free again.
    pub(super) fn soonest(
        &self,
        candidates: &[Candidate],
        now: Instant,
        count_tokens: bool,
    ) -> Option<Instant> {
        candidates
            .iter()
            .filter_map(
                |c| match self.naive.availability(c.sent, &c.route, now, count_tokens) {
                    Availability::At { from, .. } => Some(from),
                    _ => None,
                },
            )
            .min()
    }
}

/// Once an earlier iteration of a streamed request was served, the client holds a 200 and
/// bytes: a failure must come as an in-stream error (status 200, no Retry-After header)
/// carrying the status and Retry-After the answer would have had. Returns the answer as
/// it would have been sent without the stream, for the checks that follow; before any
/// byte, an in-stream error is wrong.
fn in_stream_view(
    id: RequestId,
    r: &ClientResponse,
    committed: bool,
) -> Result<ClientResponse, String> {
    let failed = !matches!(r.outcome, Outcome::Success | Outcome::StreamInterrupted);
    match (committed && failed, r.stream_error) {
        (false, None) => Ok(r.clone()),
        (true, Some(e)) if r.status == 200 && r.retry_after_s.is_none() => Ok(ClientResponse {
            status: e.status,
            retry_after_s: e.retry_after_s,
            stream_error: None,
            ..r.clone()
        }),
        (true, _) => Err(format!(
            "{id} answered {} {} (retry {:?}, stream error {:?}) after an earlier iteration streamed bytes: expected 200 with an in-stream error",
            r.status,
            r.outcome.name(),
            r.retry_after_s,
            r.stream_error
        )),
        (false, Some(e)) => Err(format!(
            "{id} answered {} {} with an in-stream error {e:?} although no iteration streamed bytes",
            r.status,
            r.outcome.name()
        )),
    }
}
