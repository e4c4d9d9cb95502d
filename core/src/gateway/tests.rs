//! Gateway tests: small catalogs driven through submit / poll_action / handle_response /
//! handle_timeout / poll_event, asserting on attempts, client answers and events.
//!
//! `knobs_*` hold one test per regression knob (the knob on versus the reference on the
//! same inputs); [`every_knob_has_a_test`] keeps that list equal to `Regression::ALL`.

use super::*;
use crate::catalog::{Mode, Source};
use crate::classify::Class;
use crate::event::{Attempt, RequestKind};
use crate::health::Block;
use crate::id::{AttemptId, ModelId, ProjectId, ProviderId, RegionId};
use crate::policy::Regressions;
use crate::response::{HttpAnswer, Outcome, StreamError, StreamProgress};
use crate::time::Duration;
use std::collections::{BTreeMap, VecDeque};
use support::*;

mod capabilities;
mod failover;
mod health;
mod knobs_classify_health;
mod knobs_pool_stats;
mod knobs_routing;
mod routing;
mod stats;
mod support;

/// Every knob test, by the knob it turns on.
fn knob_tests() -> Vec<(Regression, fn())> {
    [
        knobs_classify_health::TESTS,
        knobs_routing::TESTS,
        knobs_pool_stats::TESTS,
    ]
    .concat()
}

#[test]
fn every_knob_has_a_test() {
    let mut covered: Vec<Regression> = knob_tests().iter().map(|(k, _)| *k).collect();
    covered.sort_unstable();
    let before = covered.len();
    covered.dedup();
    assert_eq!(covered.len(), before, "one test per knob, no duplicates");
    let mut all = Regression::ALL.to_vec();
    all.sort_unstable();
    assert_eq!(covered, all, "the knob tests cover exactly Regression::ALL");
    assert_eq!(all.len(), 39);
}
