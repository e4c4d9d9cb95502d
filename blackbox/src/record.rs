//! The wall clock of a black-box run and the history being recorded on it.
//!
//! Black-box mode is the one part of gatesim that runs on the wall clock: a real gateway
//! keeps real time. Scenario time `t+0` is the moment the driver starts; every record
//! takes its time from [`Clock`] under the history's lock, so file order is time order.

use gatesim_core::Instant;
use gatesim_sim::history::{Header, Line, HISTORY_VERSION};
use std::collections::BTreeMap;
use std::sync::{Mutex, MutexGuard, OnceLock};

/// How far a black-box history's times may be from the gateway's own clock: the judge
/// reads a pause this short as latency, not a wait (loopback round trips take a few ms).
pub const SLACK_MS: u64 = 50;

/// Scenario time on the wall clock.
#[derive(Clone, Copy, Debug)]
pub struct Clock {
    start: tokio::time::Instant,
}

impl Clock {
    /// Scenario time starts now.
    pub fn start() -> Clock {
        Clock {
            start: tokio::time::Instant::now(),
        }
    }

    /// Scenario time now, in whole milliseconds.
    pub fn now(&self) -> Instant {
        Instant(
            self.start
                .elapsed()
                .as_millis()
                .try_into()
                .unwrap_or(u64::MAX),
        )
    }

    /// The wall-clock moment of scenario time `t`.
    pub fn wall(&self, t: Instant) -> tokio::time::Instant {
        self.start + std::time::Duration::from_millis(t.as_ms())
    }
}

/// The history of one run, recorded by the driver (requests, responses) and the fake
/// providers (attempts, answers).
#[derive(Debug, Default)]
pub struct Log {
    /// Set when the driver starts scenario time; anything recorded earlier (a gateway's
    /// own startup calls) would start it then.
    clock: OnceLock<Clock>,
    inner: Mutex<Inner>,
}

#[derive(Debug, Default)]
struct Inner {
    lines: Vec<Line>,
    next_attempt: u64,
    /// The model each request named, by tag: the fake providers derive health scopes.
    models: BTreeMap<u64, String>,
    /// What went wrong in the harness itself (an unknown token, a body with no tag).
    problems: Vec<String>,
}

impl Log {
    /// An empty history; scenario time starts at [`start`](Self::start).
    pub fn new() -> Log {
        Log::default()
    }

    /// Scenario time starts now.
    pub fn start(&self) {
        let _ = self.clock.set(Clock::start());
    }

    /// The run's clock.
    pub fn clock(&self) -> Clock {
        *self.clock.get_or_init(Clock::start)
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        // A panicking recorder leaves lines that are still well formed: keep going.
        self.inner
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Appends the line `make` builds from the time now; returns that time.
    pub fn push(&self, make: impl FnOnce(u64) -> Line) -> Instant {
        let clock = self.clock();
        let mut inner = self.lock();
        let now = clock.now();
        inner.lines.push(make(now.as_ms()));
        now
    }

    /// Remembers the model request `tag` named.
    pub fn named(&self, tag: u64, model: &str) {
        self.lock().models.insert(tag, model.to_string());
    }

    /// The model request `tag` named, if the driver sent it.
    pub fn model_of(&self, tag: u64) -> Option<String> {
        self.lock().models.get(&tag).cloned()
    }

    /// A fresh attempt number.
    pub fn next_attempt(&self) -> u64 {
        let mut inner = self.lock();
        inner.next_attempt += 1;
        inner.next_attempt - 1
    }

    /// Notes a harness problem (never with a token in it).
    pub fn problem(&self, what: String) {
        let mut inner = self.lock();
        if inner.problems.len() < 100 && !inner.problems.contains(&what) {
            inner.problems.push(what);
        }
    }

    /// Harness problems so far.
    pub fn problems(&self) -> Vec<String> {
        self.lock().problems.clone()
    }

    /// The history as JSON lines, with its header.
    pub fn to_text(&self, scenario: &str, gateway: &str) -> String {
        let header = Header {
            kind: "history".to_string(),
            version: HISTORY_VERSION,
            scenario: scenario.to_string(),
            seed: None,
            gateway: Some(gateway.to_string()),
            slack_ms: Some(SLACK_MS),
        };
        gatesim_sim::history::render(&header, &self.lock().lines)
    }
}
