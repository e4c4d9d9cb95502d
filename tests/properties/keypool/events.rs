//! Checks on the gateway's events after each input: classification, health records
//! (what the naive model recorded, attributed to the attempt just answered), waits and
//! skipped candidates.

use super::{Driver, Input};
use crate::naive::{Effect, Route, RETRY_AFTER_CAP_MS, WAIT_MAX_MS};
use crate::ops::Meaning;
use gatesim_core::{
    Attempt, AttemptId, Block, Class, Event, Instant, KeyId, ProviderId, RegionId, RequestId,
    RequestKind, Scope,
};

impl Driver {
    /// Checks the events one input produced; the health records must add up to what the
    /// naive model recorded for the answer.
    pub(super) fn check_events(&mut self, input: &Input, events: &[Event]) -> Result<(), String> {
        let mut seen = Effect::default();
        let mut classified = 0;
        for e in events {
            match e {
                Event::Classified { attempt, class } => {
                    let Some((a, _, meaning, _)) = &input.answered else {
                        return Err(format!("{attempt} classified {class} with no answer"));
                    };
                    if *attempt != a.id || !class_fits(*class, *meaning) {
                        return Err(format!(
                            "{attempt} classified {class}, the answer meant {meaning:?}"
                        ));
                    }
                    classified += 1;
                }
                Event::CooledDown { .. }
                | Event::MarkedUnhealthy { .. }
                | Event::Blacklisted { .. }
                | Event::Suspended { .. } => self.health_event(input, e, &mut seen)?,
                Event::Resumed { .. } | Event::Evicted { .. } => {
                    return Err(format!("unexpected under the reference policy: {e:?}"));
                }
                Event::Waiting { request, until } => self.waiting(*request, *until)?,
                Event::Skipped {
                    request,
                    provider,
                    region,
                    credential,
                    scope,
                    block,
                } => self.skipped(*request, (*provider, *region), *credential, *scope, *block)?,
                Event::StaleResponse { attempt } => {
                    if input.stale != Some(*attempt) {
                        return Err(format!(
                            "{attempt} reported stale although it was in flight"
                        ));
                    }
                }
                Event::Charged { .. } | Event::Counted { .. } | Event::ProviderScored { .. } => {}
            }
        }
        if let Some((a, ..)) = &input.answered {
            if classified != 1 {
                return Err(format!("{} classified {classified} times", a.id));
            }
        }
        let expected = input
            .answered
            .as_ref()
            .map(|(_, _, _, effect)| effect.clone())
            .unwrap_or_default();
        if seen != expected {
            let attempt = input.answered.as_ref().map(|(a, ..)| a.id);
            return Err(format!(
                "after {attempt:?} the gateway recorded {seen:?}, the naive model {expected:?}"
            ));
        }
        Ok(())
    }

    /// A health record: about the credential sent in the attempt just answered, for the
    /// scope the specification names; its end goes into `seen`.
    fn health_event(&self, input: &Input, e: &Event, seen: &mut Effect) -> Result<(), String> {
        match e {
            Event::CooledDown {
                credential,
                scope,
                until,
                attempt,
            } => {
                let (a, route) = answered(input, *attempt, "cooldown")?;
                if *credential != a.credential || *scope != Scope::of(&route.model) {
                    return Err(format!(
                        "cooldown of {} for {scope} after {attempt}, which sent {} for {}",
                        self.key(*credential),
                        self.key(a.credential),
                        route.model
                    ));
                }
                seen.cooled_until = Some(*until);
            }
            Event::MarkedUnhealthy {
                credential,
                scope,
                until,
                attempt,
            } => {
                let (a, route) = answered(input, *attempt, "unhealthy mark")?;
                let path = Scope::of(&route.model).in_region(route.region);
                if *credential != a.credential || *scope != path {
                    return Err(format!("unhealthy mark of {} for {scope} after {attempt}, which sent {} for {} in {}", self.key(*credential), self.key(a.credential), route.model, route.region));
                }
                seen.unhealthy_until = Some(*until);
            }
            Event::Blacklisted {
                credential,
                scope,
                attempt,
            } => {
                let (a, _) = answered(input, *attempt, "blacklist")?;
                if *credential != a.credential || scope.is_some() {
                    return Err(format!(
                        "blacklist of {} (scope {scope:?}) after {attempt}, which sent {}",
                        self.key(*credential),
                        self.key(a.credential)
                    ));
                }
                seen.blacklisted = true;
            }
            Event::Suspended {
                credential,
                scope,
                until,
                attempt,
            } => {
                let (a, route) = answered(input, *attempt, "suspension")?;
                if *credential != a.credential || *scope != Scope::of(&route.upstream) {
                    return Err(format!("suspension of {} for {scope} after {attempt}, which sent {} for upstream {}", self.key(*credential), self.key(a.credential), route.upstream));
                }
                seen.suspended_until = Some(*until);
            }
            // Not a health record.
            _ => {}
        }
        Ok(())
    }

    /// A wait: until the soonest candidate is free again, at most 30 s ahead.
    fn waiting(&mut self, request: RequestId, until: Instant) -> Result<(), String> {
        let now = self.now;
        let info = self
            .requests
            .get_mut(&request)
            .ok_or_else(|| format!("{request} waits but was never submitted"))?;
        info.waited = true;
        info.walk_start = true;
        let count_tokens = info.request.kind == RequestKind::CountTokens;
        let candidates = self
            .naive
            .candidates(&info.request.model, info.mode, info.request.byok);
        let soonest = self.soonest(&candidates, now, count_tokens);
        self.note(format!("{request} waits until {until}"));
        let right_end = soonest == Some(until);
        if until <= now || until.as_ms() - now.as_ms() > WAIT_MAX_MS || !right_end {
            return Err(format!("{request} waits until {until}; the soonest candidate is free at {soonest:?} (wait at most 30 s)"));
        }
        Ok(())
    }

    /// A candidate passed over must be blocked in the naive model for that very reason.
    fn skipped(
        &self,
        request: RequestId,
        (provider, region): (ProviderId, RegionId),
        key: KeyId,
        scope: Scope,
        block: Block,
    ) -> Result<(), String> {
        let info = &self.requests[&request];
        let route = self
            .naive
            .routes(&info.request.model)
            .into_iter()
            .find(|r| r.provider == provider && r.region == region && Scope::of(&r.model) == scope)
            .ok_or_else(|| {
                format!(
                    "{request} skipped {} on a route it does not have",
                    self.key(key)
                )
            })?;
        let now = self.now;
        let fits = match block {
            Block::Blacklisted => self.naive.blacklisted(key),
            Block::Cooling(t) => t > now && self.naive.cooling_until(key, &route.model) == t,
            Block::Unhealthy(t) => {
                t > now && self.naive.unhealthy_until(key, &route.model, region) == t
            }
            Block::Suspended(t) => t > now && self.naive.has_suspension_ending(key, t),
        };
        if !fits {
            return Err(format!("{request} skipped {} for {} in {region} as {block}, which the naive model does not have", self.key(key), route.model));
        }
        Ok(())
    }
}

/// The attempt and route of the input, if `attempt` is the one answered.
fn answered<'i>(
    input: &'i Input,
    attempt: AttemptId,
    what: &str,
) -> Result<(&'i Attempt, &'i Route), String> {
    match &input.answered {
        Some((a, route, _, _)) if a.id == attempt => Ok((a, route)),
        _ => Err(format!(
            "{what} attributed to {attempt}, which was not just answered"
        )),
    }
}

/// Whether the core's class is what the answer's wording means.
fn class_fits(class: Class, meaning: Meaning) -> bool {
    match (meaning, class) {
        (Meaning::Success, Class::Success)
        | (Meaning::Auth, Class::Auth)
        | (Meaning::ModelUnsupported, Class::ModelUnsupported)
        | (Meaning::RequestInvalid, Class::RequestInvalid)
        | (Meaning::Interrupted, Class::StreamInterrupted)
        | (Meaning::Transient, Class::Transient | Class::Network | Class::Timeout) => true,
        (Meaning::RateLimited(hint), Class::RateLimited { retry_after }) => {
            retry_after.map(|d| d.as_ms()) == hint.map(|ms| ms.min(RETRY_AFTER_CAP_MS))
        }
        _ => false,
    }
}
