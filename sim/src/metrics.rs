//! The metrics summary of a run.

use crate::engine::Run;
use crate::provider::Cause;
use crate::trace::Record;
use crate::world::{FaultKind, World};
use gatesim_core::{AttemptId, Instant, KeyId, Outcome, Scope};
use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

/// Headline figures of a run.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Summary {
    /// Requests answered.
    pub requests: u64,
    /// Answered successfully.
    pub successes: u64,
    /// Client-visible failures by outcome name.
    pub errors: BTreeMap<&'static str, u64>,
    /// Upstream attempts.
    pub attempts: u64,
    /// Attempts sent with a credential already known dead (auth) or cooling for that scope.
    pub wasted_attempts: u64,
    /// Median client latency (arrival → answer), ms.
    pub latency_p50_ms: u64,
    /// 99th percentile client latency, ms.
    pub latency_p99_ms: u64,
    /// Longest time from a regional outage's start to the first request it hit being
    /// served elsewhere, ms (0 without outages).
    pub failover_ms_max: u64,
}

impl Summary {
    /// Client-visible errors in total.
    pub fn client_errors(&self) -> u64 {
        self.errors.values().sum()
    }

    /// A metric by name (for scenario `expect` entries).
    pub fn get(&self, name: &str) -> Option<u64> {
        Some(match name {
            "requests" => self.requests,
            "successes" => self.successes,
            "client_errors" => self.client_errors(),
            "attempts" => self.attempts,
            "wasted_attempts" => self.wasted_attempts,
            "latency_p50_ms" => self.latency_p50_ms,
            "latency_p99_ms" => self.latency_p99_ms,
            "failover_ms_max" => self.failover_ms_max,
            other => {
                let outcome = other.strip_prefix("outcome_")?;
                self.errors
                    .get(outcome)
                    .copied()
                    .unwrap_or(if outcome == "success" {
                        self.successes
                    } else {
                        0
                    })
            }
        })
    }

    /// Every metric name `get` knows.
    pub const NAMES: &'static [&'static str] = &[
        "requests",
        "successes",
        "client_errors",
        "attempts",
        "wasted_attempts",
        "latency_p50_ms",
        "latency_p99_ms",
        "failover_ms_max",
        "outcome_<name>",
    ];

    /// Summarises a run.
    pub fn of(world: &World, run: &Run) -> Summary {
        let mut s = Summary {
            requests: run.responses.len() as u64,
            attempts: run.attempts,
            ..Summary::default()
        };
        let mut latencies = Vec::with_capacity(run.responses.len());
        for (id, at, r) in &run.responses {
            if r.outcome == Outcome::Success {
                s.successes += 1;
            } else {
                *s.errors.entry(r.outcome.name()).or_default() += 1;
            }
            if let Some(arrived) = run.arrivals.get(id.0 as usize) {
                latencies.push(at.saturating_since(*arrived).as_ms());
            }
        }
        latencies.sort_unstable();
        let pct = |p: usize| {
            latencies
                .get((latencies.len() * p / 100).min(latencies.len().saturating_sub(1)))
                .copied()
                .unwrap_or(0)
        };
        s.latency_p50_ms = pct(50);
        s.latency_p99_ms = pct(99);
        s.wasted_attempts = wasted(world, run);
        s.failover_ms_max = failover(world, run);
        s
    }
}

fn wasted(world: &World, run: &Run) -> u64 {
    let mut dead: BTreeSet<KeyId> = BTreeSet::new();
    let mut cooling: BTreeMap<(KeyId, Scope), Instant> = BTreeMap::new();
    let mut sent: BTreeMap<AttemptId, (KeyId, Scope)> = BTreeMap::new();
    let mut n = 0;
    for e in &run.trace.entries {
        match &e.record {
            Record::Dispatched(a) => {
                let key = (a.credential, a.scope);
                if dead.contains(&a.credential) || cooling.get(&key).is_some_and(|end| *end > e.at)
                {
                    n += 1;
                }
                sent.insert(a.id, key);
            }
            Record::Answered { attempt, cause, .. } => {
                let Some(&(k, scope)) = sent.get(attempt) else {
                    continue;
                };
                match cause {
                    c if c.is_auth() => {
                        dead.insert(k);
                    }
                    Cause::RateLimited { hint } => {
                        let d = hint
                            .unwrap_or(world.policy.retry_after_default)
                            .min(world.policy.retry_after_cap);
                        let end = cooling.entry((k, scope)).or_default();
                        *end = (*end).max(e.at + d);
                    }
                    _ => {}
                }
            }
            // Only dispatches and answers bear on wasted attempts.
            Record::Arrived(_)
            | Record::Core(_)
            | Record::Responded { .. }
            | Record::FaultEdge { .. }
            | Record::Tracked { .. } => {}
        }
    }
    n
}

fn failover(world: &World, run: &Run) -> u64 {
    let mut worst = 0;
    for f in &world.faults.faults {
        let FaultKind::RegionOutage {
            provider, region, ..
        } = f.kind
        else {
            continue;
        };
        // First request with an attempt on the outaged place after the start...
        let mut hit = None;
        let mut requests_hit = BTreeSet::new();
        for e in run.trace.entries.iter().filter(|e| e.at >= f.at) {
            match &e.record {
                Record::Dispatched(a) if a.provider == provider && a.region == region => {
                    requests_hit.insert(a.request);
                    hit.get_or_insert(e.at);
                }
                // ...served by someone else.
                Record::Responded { request, response }
                    if requests_hit.contains(request) && response.outcome == Outcome::Success =>
                {
                    worst = worst.max(e.at.saturating_since(f.at).as_ms());
                    break;
                }
                Record::Dispatched(_)
                | Record::Responded { .. }
                | Record::Arrived(_)
                | Record::Answered { .. }
                | Record::Core(_)
                | Record::FaultEdge { .. }
                | Record::Tracked { .. } => {}
            }
        }
    }
    worst
}

impl fmt::Display for Summary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "requests {}  successes {}  client errors {}",
            self.requests,
            self.successes,
            self.client_errors()
        )?;
        if !self.errors.is_empty() {
            let parts: Vec<String> = self
                .errors
                .iter()
                .map(|(k, v)| format!("{k} {v}"))
                .collect();
            write!(f, " ({})", parts.join(", "))?;
        }
        write!(
            f,
            "\nattempts {}  wasted on dead or cooling keys {}  latency p50 {} ms  p99 {} ms  failover after outage {} ms",
            self.attempts, self.wasted_attempts, self.latency_p50_ms, self.latency_p99_ms, self.failover_ms_max
        )
    }
}
