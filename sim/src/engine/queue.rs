//! The engine's pending items in time order: fault edges, provider answers and the next
//! arrival, earliest first, ties by the order they were scheduled in.
//!
//! The order is the one a single `BinaryHeap` of every item keyed by (instant, sequence)
//! would give; only the storage differs, so that the heap holds only answers: fault edges
//! are known up front (a sorted list read once), and one arrival is scheduled at a time
//! (it would be pushed near the top of the heap every time).

use crate::world::Fault;
use gatesim_core::Instant;
use std::cmp::Reverse;
use std::collections::BinaryHeap;

/// A pending item.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(super) enum Item {
    /// Fault `.0` of the plan starts (`.1`) or ends.
    FaultEdge(usize, bool),
    /// The planned answer in slot `.0`.
    Answer(usize),
    /// Arrival number `.0` of the workload.
    Arrival(usize),
}

/// Where a pending item is kept.
#[derive(Clone, Copy, Debug)]
pub(super) enum Source {
    Heap,
    Edge,
    Arrival,
}

/// The pending items.
#[derive(Debug)]
pub(super) struct Queue {
    /// Answers.
    heap: BinaryHeap<Reverse<(Instant, u64, Item)>>,
    /// Fault edges in (instant, sequence) order; those before `edges_done` are taken.
    edges: Vec<(Instant, u64, Item)>,
    edges_done: usize,
    /// The one arrival scheduled at a time (the next is scheduled when it is handled).
    arrival: Option<(Instant, u64, Item)>,
    /// The sequence of the latest item scheduled.
    seq: u64,
    /// Items in the heap and the arrival slot: the run ends when none is left and nothing
    /// is open (fault edges alone do not keep it going).
    live: usize,
}

impl Queue {
    /// A queue holding the plan's fault edges (each start, then its end), in plan order.
    pub(super) fn new(faults: &[Fault]) -> Queue {
        let mut edges = Vec::with_capacity(2 * faults.len());
        let mut seq = 0;
        for (i, f) in faults.iter().enumerate() {
            seq += 1;
            edges.push((f.at, seq, Item::FaultEdge(i, true)));
            if let Some(until) = f.until {
                seq += 1;
                edges.push((until, seq, Item::FaultEdge(i, false)));
            }
        }
        edges.sort_by_key(|(at, seq, _)| (*at, *seq));
        Queue {
            heap: BinaryHeap::new(),
            edges,
            edges_done: 0,
            arrival: None,
            seq,
            live: 0,
        }
    }

    /// Schedules an answer or the next arrival (fault edges are all known to [`new`](Self::new)).
    #[inline]
    pub(super) fn schedule(&mut self, at: Instant, item: Item) {
        debug_assert!(
            !matches!(item, Item::FaultEdge(..)),
            "fault edges are scheduled up front"
        );
        self.seq += 1;
        self.live += 1;
        if matches!(item, Item::Arrival(_)) {
            debug_assert!(self.arrival.is_none(), "one arrival is scheduled at a time");
            self.arrival = Some((at, self.seq, item));
            return;
        }
        self.heap.push(Reverse((at, self.seq, item)));
    }

    /// Whether an answer or an arrival is still pending.
    #[inline]
    pub(super) fn has_live(&self) -> bool {
        self.live > 0
    }

    /// The earliest pending item and where it is kept, by (instant, sequence): sequences
    /// are unique, so the order is the one a single heap of every item would give.
    #[inline]
    pub(super) fn earliest(&self) -> Option<(Instant, Source)> {
        let mut best = self
            .heap
            .peek()
            .map(|Reverse((at, seq, _))| ((*at, *seq), Source::Heap));
        if let Some((at, seq, _)) = self.edges.get(self.edges_done) {
            if best.is_none_or(|(key, _)| (*at, *seq) < key) {
                best = Some(((*at, *seq), Source::Edge));
            }
        }
        if let Some((at, seq, _)) = &self.arrival {
            if best.is_none_or(|(key, _)| (*at, *seq) < key) {
                best = Some(((*at, *seq), Source::Arrival));
            }
        }
        best.map(|((at, _), source)| (at, source))
    }

    /// Takes the pending item [`earliest`](Self::earliest) found.
    #[inline]
    pub(super) fn take(&mut self, source: Source) -> Option<(Instant, Item)> {
        match source {
            Source::Edge => {
                let (at, _, item) = *self.edges.get(self.edges_done)?;
                self.edges_done += 1;
                Some((at, item))
            }
            Source::Arrival => {
                let (at, _, item) = self.arrival.take()?;
                self.live -= 1;
                Some((at, item))
            }
            Source::Heap => {
                let Reverse((at, _, item)) = self.heap.pop()?;
                self.live -= 1;
                Some((at, item))
            }
        }
    }
}
