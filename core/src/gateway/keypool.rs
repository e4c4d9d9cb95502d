//! The walk over a request's candidates: the primary credential first, never the same
//! candidate twice, the attempt budget and what is charged to it, and the pick.

use super::candidates::Candidate;
use super::routes::Route;
use crate::id::{KeyId, ProviderId, RegionId};
use crate::policy::{Policy, Regression};

/// A (provider, region): what the attempt budget counts.
pub(super) type Place = (ProviderId, RegionId);

/// The state of one walk over the candidates (one per agentic iteration and wait round).
#[derive(Clone, Debug, Default)]
pub(super) struct Walk {
    /// (route index, credential) pairs already attempted: the same credential may still be
    /// tried on another route (another region, or a sibling upstream of an alias).
    pub(super) tried: Vec<(usize, KeyId)>,
    /// Places charged to the budget in this walk.
    pub(super) used: Vec<Place>,
    pub(super) charged: u32,
    pub(super) rounds: u32,
    pub(super) current_route: Option<usize>,
    pub(super) pinned_region: Option<Place>,
}

impl Walk {
    /// Whether the attempt budget is spent: places not yet paid for are out of reach.
    #[inline]
    pub(super) fn budget_spent(&self, policy: &Policy) -> bool {
        self.charged >= policy.attempts_max
    }

    /// Charges `place` to the budget.
    #[inline]
    pub(super) fn charge(&mut self, place: Place) {
        debug_assert!(
            !self.used.contains(&place),
            "a place is charged once per walk"
        );
        self.used.push(place);
        self.charged += 1;
    }

    /// Records an attempt on candidate (`route`, `health_key`) at `place` and returns
    /// whether it was charged (the first attempt on that place in this walk).
    #[inline]
    pub(super) fn enter(&mut self, route: usize, health_key: KeyId, place: Place) -> bool {
        debug_assert!(
            !self.tried.contains(&(route, health_key)),
            "a walk never revisits"
        );
        let charged = !self.used.contains(&place);
        if charged {
            self.charge(place);
        }
        self.tried.push((route, health_key));
        self.current_route = Some(route);
        if self.pinned_region.is_none() {
            self.pinned_region = Some(place);
        }
        charged
    }

    /// A new wait round: every candidate may be tried again, from the top.
    pub(super) fn next_round(&mut self) {
        self.tried.clear();
        self.current_route = None;
    }

    /// A fresh walk for the next agentic iteration, in the old walk's buffers; with
    /// `keep_tried` (a regression knob) the tried candidates stay excluded.
    pub(super) fn next_iteration(&mut self, keep_tried: bool) {
        let mut tried = std::mem::take(&mut self.tried);
        let mut used = std::mem::take(&mut self.used);
        if !keep_tried {
            tried.clear();
        }
        used.clear();
        *self = Walk {
            tried,
            used,
            ..Walk::default()
        };
    }
}

/// The next attempt among the filtered candidates `chosen` (indices into `candidates`),
/// and the places charged without an attempt on the way (only with `SkipCostsBudget`).
///
/// Alternate credentials on the current route come first (they are free); then routes in
/// order. A place not yet charged is only picked while the budget lasts.
#[inline]
pub(super) fn pick(
    policy: &Policy,
    walk: &Walk,
    routes: &[Route],
    candidates: &[Candidate],
    chosen: &mut [usize],
) -> (Option<Candidate>, Vec<Place>) {
    let current = walk.current_route;
    let current_first = |i: &usize| {
        let route = candidates[*i].route;
        (Some(route) != current, route)
    };
    // Usually already in that order (candidates come in route order): skip the sort then;
    // the sort is stable, so skipping it changes nothing.
    if !chosen.is_sorted_by_key(current_first) {
        chosen.sort_by_key(current_first);
    }
    let place = |i: usize| (routes[candidates[i].route].provider, candidates[i].region);
    let mut charges = Vec::new();
    if policy.has(Regression::SkipCostsBudget) {
        skipped_charges(walk, routes, candidates, chosen, &mut charges);
    }
    let budget_left = walk.charged + (charges.len() as u32) < policy.attempts_max;
    let pick = chosen.iter().copied().find(|i| {
        let p = place(*i);
        budget_left || walk.used.contains(&p) || charges.contains(&p)
    });
    let pick = pick.map(|i| candidates[i]);
    debug_assert!(
        pick.is_none_or(|c| !c.tried && !walk.tried.contains(&(c.route, c.health_key))),
        "the pick is never a candidate already tried"
    );
    debug_assert!(
        pick.is_none_or(
            |c| c.block.is_none() || policy.has(Regression::PreferKeysBeforeRateLimitFilter)
        ),
        "the pick is never blocked (unless rate limits are filtered after key preference)"
    );
    (pick, charges)
}

/// The production bug behind `SkipCostsBudget`: every fully blocked route before the
/// first new place the pick could go to costs budget, though nothing was sent there.
#[cold]
fn skipped_charges(
    walk: &Walk,
    routes: &[Route],
    candidates: &[Candidate],
    chosen: &[usize],
    charges: &mut Vec<Place>,
) {
    let place = |i: usize| (routes[candidates[i].route].provider, candidates[i].region);
    let first_new = chosen
        .iter()
        .copied()
        .find(|i| !walk.used.contains(&place(*i)));
    let Some(first) = first_new else {
        return;
    };
    for (r, route) in routes.iter().enumerate().take(candidates[first].route) {
        let here_candidates: Vec<&Candidate> = candidates
            .iter()
            .filter(|c| c.route == r && !c.tried)
            .collect();
        let here = (route.provider, route.region);
        if !here_candidates.is_empty()
            && here_candidates.iter().all(|c| c.block.is_some())
            && !walk.used.contains(&here)
            && !charges.contains(&here)
        {
            charges.push(here);
        }
    }
}
