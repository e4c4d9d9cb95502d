//! Simulated time: milliseconds since the scenario's start, always passed in.

use std::fmt;
use std::ops::{Add, Sub};

/// A point in simulated time, in milliseconds since the scenario's epoch.
///
/// The core never reads a clock: every handler takes `now: Instant`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Instant(pub u64);

/// A span of simulated time in milliseconds.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Duration(pub u64);

impl Instant {
    /// The scenario start.
    pub const ZERO: Instant = Instant(0);
    /// Milliseconds since the scenario start.
    pub fn as_ms(self) -> u64 {
        self.0
    }
    /// Time from `earlier` to `self`, zero if `earlier` is later.
    pub fn saturating_since(self, earlier: Instant) -> Duration {
        Duration(self.0.saturating_sub(earlier.0))
    }
}

impl Duration {
    /// No time.
    pub const ZERO: Duration = Duration(0);
    /// A duration of `ms` milliseconds.
    pub const fn from_ms(ms: u64) -> Duration {
        Duration(ms)
    }
    /// A duration of `s` seconds.
    pub const fn from_secs(s: u64) -> Duration {
        Duration(s * 1000)
    }
    /// Milliseconds.
    pub fn as_ms(self) -> u64 {
        self.0
    }
    /// Whole seconds, rounded up (what a client `Retry-After` carries).
    pub fn as_secs_ceil(self) -> u64 {
        self.0.div_ceil(1000)
    }
    /// Doubled `n` times, saturating (a backoff after `n` steps).
    pub fn doubled(self, n: u32) -> Duration {
        Duration(self.0.saturating_mul(1 << n.min(62)))
    }
}

impl Add<Duration> for Instant {
    type Output = Instant;
    fn add(self, d: Duration) -> Instant {
        Instant(self.0.saturating_add(d.0))
    }
}

impl Sub<Duration> for Instant {
    type Output = Instant;
    fn sub(self, d: Duration) -> Instant {
        Instant(self.0.saturating_sub(d.0))
    }
}

impl fmt::Display for Instant {
    /// `t+12.345s`. Written digit by digit: every trace line starts with one, and a padded
    /// `write!` field was the costliest part of rendering a trace.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut buf = [0u8; 28];
        let mut at = buf.len() - 1;
        buf[at] = b's';
        let ms = self.0 % 1000;
        for digit in [ms % 10, ms / 10 % 10, ms / 100] {
            at -= 1;
            buf[at] = b'0' + digit as u8;
        }
        at -= 1;
        buf[at] = b'.';
        let mut secs = self.0 / 1000;
        loop {
            at -= 1;
            buf[at] = b'0' + (secs % 10) as u8;
            secs /= 10;
            if secs == 0 {
                break;
            }
        }
        at -= 2;
        buf[at..at + 2].copy_from_slice(b"t+");
        f.write_str(std::str::from_utf8(&buf[at..]).expect("ASCII digits"))
    }
}

impl fmt::Display for Duration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0.is_multiple_of(1000) {
            write!(f, "{}s", self.0 / 1000)
        } else {
            write!(f, "{}ms", self.0)
        }
    }
}

impl From<u64> for Duration {
    fn from(ms: u64) -> Duration {
        Duration(ms)
    }
}

impl std::ops::Add for Duration {
    type Output = Duration;
    fn add(self, o: Duration) -> Duration {
        Duration(self.0.saturating_add(o.0))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_and_rounding() {
        assert_eq!(Instant(12_345).to_string(), "t+12.345s");
        assert_eq!(Instant(0).to_string(), "t+0.000s");
        for ms in [7, 1_000, 60_010, 3_600_000, u64::MAX] {
            let padded = format!("t+{}.{:03}s", ms / 1000, ms % 1000);
            assert_eq!(Instant(ms).to_string(), padded, "hand-rolled digits");
        }
        assert_eq!(Duration(500).as_secs_ceil(), 1);
        assert_eq!(Duration(1000).as_secs_ceil(), 1);
        assert_eq!(Duration(1001).as_secs_ceil(), 2);
        assert_eq!(Duration(0).as_secs_ceil(), 0);
        assert_eq!(Instant(5).saturating_since(Instant(9)), Duration::ZERO);
        assert_eq!(Duration(30_000).to_string(), "30s");
        assert_eq!(Duration(250).to_string(), "250ms");
    }
}
