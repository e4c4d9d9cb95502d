//! What the gateway hands out: actions to carry out and trace events, queued by the
//! handlers and drained by the polls.

use crate::event::{Action, Event};
use crate::id::AttemptId;
use std::collections::VecDeque;

/// The action queue and the event log of a gateway.
#[derive(Clone, Debug)]
pub(super) struct Outputs {
    actions: VecDeque<Action>,
    events: Vec<Event>,
    events_read: usize,
    events_enabled: bool,
    /// A buffer for parts that write several events at once, so that writing them does
    /// not allocate.
    batch: Vec<Event>,
}

impl Default for Outputs {
    fn default() -> Outputs {
        Outputs {
            actions: VecDeque::new(),
            events: Vec::new(),
            events_read: 0,
            events_enabled: true,
            batch: Vec::new(),
        }
    }
}

impl Outputs {
    /// Whether events are recorded (benchmarks turn them off).
    #[inline]
    pub(super) fn enabled(&self) -> bool {
        self.events_enabled
    }

    /// Turns event recording on or off; actions are unaffected.
    pub(super) fn set_enabled(&mut self, enabled: bool) {
        self.events_enabled = enabled;
    }

    /// Records an event, if events are on.
    #[inline]
    pub(super) fn emit(&mut self, event: Event) {
        if self.events_enabled {
            self.events.push(event);
        }
    }

    /// Records the events `write` puts in a reused buffer, in order.
    #[inline]
    pub(super) fn emit_batch(&mut self, write: impl FnOnce(&mut Vec<Event>)) {
        let mut batch = std::mem::take(&mut self.batch);
        batch.clear();
        write(&mut batch);
        for e in batch.drain(..) {
            self.emit(e);
        }
        self.batch = batch;
    }

    /// Queues an action.
    #[inline]
    pub(super) fn act(&mut self, action: Action) {
        self.actions.push_back(action);
    }

    /// The next action, oldest first.
    #[inline]
    pub(super) fn next_action(&mut self) -> Option<Action> {
        self.actions.pop_front()
    }

    /// The next event, oldest first; the log is emptied once all are read.
    #[inline]
    pub(super) fn next_event(&mut self) -> Option<Event> {
        if self.events_read < self.events.len() {
            let e = std::mem::replace(
                &mut self.events[self.events_read],
                Event::StaleResponse {
                    attempt: AttemptId(0),
                },
            );
            self.events_read += 1;
            if self.events_read == self.events.len() {
                self.events.clear();
                self.events_read = 0;
            }
            Some(e)
        } else {
            debug_assert!(self.events.is_empty(), "a fully read log is emptied");
            None
        }
    }
}
