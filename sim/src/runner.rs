//! One verdict per (world, seed): run, check every invariant (determinism included by
//! running twice), evaluate the scenario's expectations, summarise.

use crate::check::{self, Violation};
use crate::engine::{self, EngineError, Run, RunOptions};
use crate::metrics::Summary;
use crate::swarm;
use crate::trace::Record;
use crate::world::{CredentialState, Expectation, World};
use gatesim_core::{ClientResponse, KeyId, RequestId};

/// What one run of one world with one seed showed.
#[derive(Debug)]
pub struct Verdict {
    /// The world as run (swarm faults resolved for this seed).
    pub world: World,
    /// The seed.
    pub seed: u64,
    /// The run.
    pub run: Run,
    /// Headline figures.
    pub summary: Summary,
    /// Broken invariants.
    pub violations: Vec<Violation>,
    /// Failed scenario expectations, one sentence each.
    pub failed_expectations: Vec<String>,
    /// Hash of the trace text.
    pub trace_hash: u64,
}

impl Verdict {
    /// Whether every invariant held and every expectation was met.
    pub fn passed(&self) -> bool {
        self.violations.is_empty() && self.failed_expectations.is_empty()
    }
    /// How many of the world's expectations were met. One expectation can fail in
    /// several ways (outcome and served-by), each its own sentence, so the failed ones
    /// are counted by their `expect[i]` index, never by sentences.
    pub fn expectations_met(&self) -> usize {
        let mut failed: Vec<&str> = self
            .failed_expectations
            .iter()
            .filter_map(|e| e.split_once(':').map(|(index, _)| index))
            .collect();
        failed.dedup();
        self.world.expect.len().saturating_sub(failed.len())
    }

    /// The invariants that failed, deduplicated, in report order.
    pub fn failed_invariants(&self) -> Vec<&'static str> {
        let mut ids: Vec<&'static str> =
            self.violations.iter().map(|v| v.invariant.name()).collect();
        ids.dedup();
        ids
    }
}

/// How to judge.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Judge {
    /// Run a second time and compare traces (the `deterministic` invariant).
    pub determinism: bool,
}

impl Default for Judge {
    fn default() -> Self {
        Judge { determinism: true }
    }
}

/// Runs and judges a world with a seed.
pub fn judge(world: &World, seed: u64, how: Judge) -> Result<Verdict, EngineError> {
    let world = swarm::resolve(world, seed);
    let run = engine::run(&world, RunOptions { seed, record: true })?;
    let mut violations = check::check(world.terms(), &run);
    if how.determinism {
        let again = engine::run(&world, RunOptions { seed, record: true })?;
        violations.extend(check::check_determinism(&run, &again));
    }
    let summary = Summary::of(&world, &run);
    let failed_expectations = expectations(&world, &run, &summary);
    let trace_hash = run.trace.hash(&run.names);
    Ok(Verdict {
        world,
        seed,
        run,
        summary,
        violations,
        failed_expectations,
        trace_hash,
    })
}

/// Why a `cooled_until` expectation is unmet, if it is: the last cooldown the gateway wrote
/// for `credential` (in `model`'s scope, or any) must end at `until`.
fn cooldown_unmet(
    i: usize,
    world: &World,
    run: &Run,
    credential: gatesim_core::KeyId,
    model: Option<&str>,
    until: gatesim_core::Instant,
) -> Option<String> {
    let scope = model.map(gatesim_core::Scope::of);
    let last = run
        .trace
        .entries
        .iter()
        .rev()
        .find_map(|e| match &e.record {
            crate::trace::Record::Core(gatesim_core::Event::CooledDown {
                credential: k,
                scope: s,
                until,
                ..
            }) if *k == credential && scope.is_none_or(|want| want == *s) => Some(*until),
            _ => None,
        });
    let who = world.catalog.credential(credential).name.as_str();
    let of = model.map_or(String::new(), |m| format!(" for {m}"));
    match last {
        Some(got) if got == until => None,
        Some(got) => Some(format!(
            "expect[{i}]: {who}'s last cooldown{of} ends at {got}, expected {until}"
        )),
        None => Some(format!(
            "expect[{i}]: {who} was never cooled down{of}, expected a cooldown ending at {until}"
        )),
    }
}

/// The scenario's own expectations that the run did not meet.
pub fn expectations(world: &World, run: &Run, summary: &Summary) -> Vec<String> {
    let mut failed = Vec::new();
    let cat = &world.catalog;
    for (i, e) in world.expect.iter().enumerate() {
        match e {
            Expectation::Request { .. } => request_expectation(i, e, world, run, &mut failed),
            Expectation::CredentialState { credential, state } => {
                let blacklisted = run
                    .final_state
                    .blacklisted
                    .get(credential.index())
                    .copied()
                    .unwrap_or(false);
                let want = *state == CredentialState::Blacklisted;
                if blacklisted != want {
                    failed.push(format!(
                        "expect[{i}]: credential {} is {} at the end, expected {}",
                        cat.credential(*credential).name,
                        if blacklisted { "blacklisted" } else { "usable" },
                        if want { "blacklisted" } else { "usable" }
                    ));
                }
            }
            Expectation::Cooldown {
                credential,
                model,
                until,
            } => failed.extend(cooldown_unmet(
                i,
                world,
                run,
                *credential,
                model.as_deref(),
                *until,
            )),
            Expectation::Metric { name, min, max } => match summary.get(name) {
                None => failed.push(format!(
                    "expect[{i}]: unknown metric {name:?} (known: {})",
                    Summary::NAMES.join(", ")
                )),
                Some(v) => {
                    if min.is_some_and(|m| v < m) || max.is_some_and(|m| v > m) {
                        failed.push(format!(
                            "expect[{i}]: metric {name} = {v}, expected within [{}, {}]",
                            min.map_or("-".into(), |m| m.to_string()),
                            max.map_or("-".into(), |m| m.to_string())
                        ));
                    }
                }
            },
        }
    }
    failed
}

/// The failures of one `Expectation::Request` (`expect[i]`); other kinds are not its
/// business.
fn request_expectation(
    i: usize,
    e: &Expectation,
    world: &World,
    run: &Run,
    failed: &mut Vec<String>,
) {
    let Expectation::Request {
        index,
        outcome,
        status,
        served_by,
        attempts,
        retry_after_s,
        hint,
        attempt_order,
    } = e
    else {
        return;
    };
    let cat = &world.catalog;
    let Some((_, _, r)) = run
        .responses
        .iter()
        .find(|(id, _, _)| *id == RequestId(*index))
    else {
        failed.push(format!("expect[{i}]: request {index} was never answered"));
        return;
    };
    let mut fail = |what: String| failed.push(format!("expect[{i}]: request {index} {what}"));
    if let Some(o) = outcome.filter(|o| r.outcome != *o) {
        fail(format!("ended {}, expected {}", r.outcome.name(), o.name()));
    }
    if let Some(s) = status.filter(|s| r.status != *s) {
        fail(format!("got status {}, expected {s}", r.status));
    }
    if let Some(k) = served_by {
        if r.hint_key != Some(*k) || r.outcome != gatesim_core::Outcome::Success {
            let by = r
                .hint_key
                .map_or("nobody".to_string(), |h| cat.credential(h).name.clone());
            fail(format!(
                "answered by {by} ({}), expected success by {}",
                r.outcome.name(),
                cat.credential(*k).name
            ));
        }
    }
    if let Some(n) = attempts.filter(|n| r.attempts != *n) {
        fail(format!("made {} attempts, expected {n}", r.attempts));
    }
    if let Some(want) = retry_after_s {
        let got = r
            .retry_after_s
            .or(r.stream_error.and_then(|e| e.retry_after_s));
        if got != Some(*want) {
            let got = got.map_or("no Retry-After".to_string(), |s| format!("Retry-After {s}"));
            fail(format!("got {got}, expected Retry-After {want}"));
        }
    }
    for what in credential_pins(
        world,
        run,
        RequestId(*index),
        r,
        *hint,
        attempt_order.as_deref(),
    ) {
        fail(what);
    }
}

/// What a request's answer got wrong about credentials: whose hint it carries
/// (`hint`), and whose tokens its attempts sent (`attempt_order`).
fn credential_pins(
    world: &World,
    run: &Run,
    id: RequestId,
    r: &ClientResponse,
    hint: Option<KeyId>,
    attempt_order: Option<&[KeyId]>,
) -> Vec<String> {
    let cat = &world.catalog;
    let mut out = Vec::new();
    if let Some(k) = hint {
        let want = cat.credential(k).hint();
        if r.hint.as_deref() != Some(want.as_str()) {
            out.push(format!(
                "carries {}, expected the hint of {}",
                hint_owner(world, r.hint.as_deref()),
                cat.credential(k).name
            ));
        }
    }
    if let Some(want) = attempt_order {
        let got = attempt_credentials(run, id);
        if got != want {
            let names = |keys: &[KeyId]| -> String {
                let names: Vec<&str> = keys
                    .iter()
                    .map(|k| cat.credential(*k).name.as_str())
                    .collect();
                format!("[{}]", names.join(", "))
            };
            out.push(format!(
                "sent attempts with {}, expected {}",
                names(&got),
                names(want)
            ));
        }
    }
    out
}

/// Whose redacted hint `hint` is, in words: a credential label, never the hint itself.
fn hint_owner(world: &World, hint: Option<&str>) -> String {
    let Some(hint) = hint else {
        return "no hint".to_string();
    };
    world
        .catalog
        .credentials
        .iter()
        .find(|c| c.hint() == hint)
        .map_or("a hint of no credential".to_string(), |c| {
            format!("the hint of {}", c.name)
        })
}

/// The credentials whose tokens the attempts of request `id` sent, in dispatch order.
fn attempt_credentials(run: &Run, id: RequestId) -> Vec<KeyId> {
    run.trace
        .entries
        .iter()
        .filter_map(|e| match &e.record {
            Record::Dispatched(a) if a.request == id => Some(a.credential),
            _ => None,
        })
        .collect()
}
