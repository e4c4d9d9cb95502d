//! The core's millisecond `Instant`s on madsim's simulated clock.

use gatesim_core::Instant;
use madsim::time::TimeHandle;

/// Maps simulated madsim time to core time: `Instant(0)` is `origin`, milliseconds
/// floored, so core time never goes backwards.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Clock {
    origin: std::time::Instant,
}

impl Clock {
    /// A clock whose `Instant(0)` lies `delay` after the current simulated time.
    pub(crate) fn starting_in(delay: std::time::Duration) -> Clock {
        Clock {
            origin: TimeHandle::current().now_instant() + delay,
        }
    }

    /// Core time now. Panics outside a madsim runtime.
    pub(crate) fn now(&self) -> Instant {
        self.of(TimeHandle::current().now_instant())
    }

    /// Core time now, or `None` outside a madsim runtime (a runtime being dropped).
    pub(crate) fn try_now(&self) -> Option<Instant> {
        TimeHandle::try_current().map(|h| self.of(h.now_instant()))
    }

    /// The simulated instant of a core instant.
    pub(crate) fn at(&self, t: Instant) -> std::time::Instant {
        self.origin + std::time::Duration::from_millis(t.as_ms())
    }

    /// Sleeps until core time `t`, not at all if it has come (a madsim sleep lasts at
    /// least 1 ms, so sleeping for a past instant would drift).
    pub(crate) async fn sleep_until(&self, t: Instant) {
        let target = self.at(t);
        if TimeHandle::current().now_instant() < target {
            madsim::time::sleep_until(target).await;
        }
    }

    fn of(&self, t: std::time::Instant) -> Instant {
        let ms = t.saturating_duration_since(self.origin).as_millis();
        Instant(u64::try_from(ms).expect("simulated runs last less than 584 million years"))
    }
}
