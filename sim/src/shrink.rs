//! Shrinking: turn a failing run into a minimal scenario that fails the same invariant.
//!
//! The run's resolved world (swarm faults drawn, generated traffic written out as explicit
//! requests) is itself a plain scenario; shrinking then drops faults, drops requests
//! (delta debugging: halves, then smaller chunks, then one at a time) and narrows fault
//! windows, keeping every change after which the same invariant still fails.

use crate::runner::{judge, Judge};
use crate::swarm;
use crate::workload;
use crate::world::{RequestSpec, World};
use gatesim_core::Duration;

/// Runs at most per shrink (a limit on everything).
pub const TRIALS_MAX: usize = 4_000;

/// The outcome of shrinking.
#[derive(Debug)]
pub struct Shrunk {
    /// The world the seed resolved to, before shrinking (explicit faults and requests).
    pub resolved: World,
    /// The minimal world found.
    pub minimal: World,
    /// The invariant both fail.
    pub invariant: &'static str,
    /// Runs made.
    pub trials: usize,
}

/// The world a seed resolves to, as a plain scenario: swarm faults drawn, generators
/// replaced by the explicit requests they produced.
pub fn resolve(world: &World, seed: u64) -> World {
    let mut w = swarm::resolve(world, seed);
    let arrivals = workload::resolve(&w.workload, seed);
    w.workload.requests = arrivals
        .into_iter()
        .map(|(at, r)| RequestSpec {
            at,
            project: r.project,
            model: r.model.to_string(),
            stream: r.stream,
            byok: r.byok,
            kind: r.kind,
            agentic_iterations: r.iterations,
            body_bytes: r.body_bytes,
        })
        .collect();
    w.workload.generators.clear();
    w.expect.clear();
    w.seed = seed;
    w
}

/// Shrinks a failing (world, seed) to a minimal world failing the same invariant
/// (the first one that failed). `None` if the seed does not fail any invariant.
pub fn shrink(world: &World, seed: u64) -> Option<Shrunk> {
    let resolved = resolve(world, seed);
    let fails = |w: &World| -> Vec<&'static str> {
        judge(w, seed, Judge { determinism: false })
            .map(|v| v.failed_invariants())
            .unwrap_or_default()
    };
    let invariant = *fails(&resolved).first()?;
    let mut trials = 1;
    let mut still_fails = |w: &World| {
        trials += 1;
        trials <= TRIALS_MAX && fails(w).contains(&invariant)
    };
    let best = drop_faults(resolved.clone(), &mut still_fails);
    let best = drop_requests(best, &mut still_fails);
    let mut best = narrow_faults(best, &mut still_fails);
    best.duration = best
        .workload
        .requests
        .iter()
        .map(|r| r.at)
        .chain(best.faults.faults.iter().map(|f| f.until.unwrap_or(f.at)))
        .max()
        .map_or(Duration::from_secs(1), |t| {
            Duration::from_ms(t.as_ms().max(1))
        });
    best.id = format!("{}-seed{seed}-min", world.id);
    best.title = format!("{} (seed {seed}) shrunk: {invariant}", world.title);
    Some(Shrunk {
        resolved,
        minimal: best,
        invariant,
        trials,
    })
}

/// Drops faults one at a time while the world still fails.
fn drop_faults(mut best: World, still_fails: &mut impl FnMut(&World) -> bool) -> World {
    let mut i = 0;
    while i < best.faults.faults.len() {
        let mut candidate = best.clone();
        candidate.faults.faults.remove(i);
        if still_fails(&candidate) {
            best = candidate;
        } else {
            i += 1;
        }
    }
    best
}

/// Drops requests by delta debugging over chunks (halved when none can go) while the
/// world still fails; at least one request stays.
fn drop_requests(mut best: World, still_fails: &mut impl FnMut(&World) -> bool) -> World {
    let mut chunk = best.workload.requests.len().div_ceil(2).max(1);
    loop {
        let mut start = 0;
        let mut removed_any = false;
        while start < best.workload.requests.len() {
            let mut candidate = best.clone();
            let end = (start + chunk).min(candidate.workload.requests.len());
            candidate.workload.requests.drain(start..end);
            if !candidate.workload.requests.is_empty() && still_fails(&candidate) {
                best = candidate;
                removed_any = true;
            } else {
                start += chunk;
            }
        }
        if chunk == 1 && !removed_any {
            break;
        }
        if !removed_any {
            chunk = chunk.div_ceil(2);
        }
    }
    best
}

/// Narrows fault windows (an earlier end, else a later start, halving a window of 2 s or
/// more up to 8 times) while the world still fails.
fn narrow_faults(mut best: World, still_fails: &mut impl FnMut(&World) -> bool) -> World {
    for i in 0..best.faults.faults.len() {
        for _ in 0..8 {
            let f = &best.faults.faults[i];
            let Some(until) = f.until else { break };
            let span = until.saturating_since(f.at).as_ms();
            if span < 2_000 {
                break;
            }
            let mut later = best.clone();
            later.faults.faults[i].at = f.at + Duration::from_ms(span / 2);
            let mut earlier = best.clone();
            earlier.faults.faults[i].until = Some(f.at + Duration::from_ms(span / 2));
            if still_fails(&earlier) {
                best = earlier;
            } else if still_fails(&later) {
                best = later;
            } else {
                break;
            }
        }
    }
    best
}
