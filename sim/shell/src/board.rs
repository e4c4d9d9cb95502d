//! The outage board: where each provider node's outage stands, as the fault injector set
//! it; the ground truth the trace recorder reads to name the cause of a timeout.

use crate::net::Place;
use gatesim_core::Instant;
use std::collections::BTreeMap;

/// Where each provider node's outage stands, as the injector set it.
#[derive(Debug, Default)]
pub(crate) struct Board {
    places: BTreeMap<Place, Spot>,
}

#[derive(Clone, Copy, Debug, Default)]
struct Spot {
    down: bool,
    last_up: Option<Instant>,
}

impl Board {
    /// Whether an outage hit `place` at any time from `since` until now.
    pub(crate) fn touched(&self, place: Place, since: Instant) -> bool {
        self.places
            .get(&place)
            .is_some_and(|s| s.down || s.last_up.is_some_and(|up| up >= since))
    }

    /// Marks `place` down or up at `now` (the last recovery is kept for [`touched`](Self::touched)).
    pub(crate) fn set(&mut self, place: Place, down: bool, now: Instant) {
        let spot = self.places.entry(place).or_default();
        debug_assert!(
            spot.last_up.is_none_or(|up| up <= now),
            "outage edges come in time order"
        );
        if spot.down && !down {
            spot.last_up = Some(now);
        }
        spot.down = down;
    }
}
