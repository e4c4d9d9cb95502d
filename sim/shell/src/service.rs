//! The gateway service handle: one shared core state behind a lock, fed by request
//! tasks, timer tasks and the fault injector.
//!
//! Every input to the core goes through [`Service::with`]: lock, feed one input at the
//! current simulated time (the shell drains the core's outputs), then arm a timer task if
//! `poll_timeout` now asks for an earlier wake-up than any armed one, and unlock. The lock
//! is never held across an `.await`.

use crate::clock::Clock;
use crate::net::{Net, Upstream};
use crate::shell::{lock, Inbox, Shell};
use gatesim_core::{Instant, Request, RequestId};
use std::sync::{Arc, Mutex};

/// A handle to the gateway service, cloned into every task of the gateway node.
#[derive(Clone)]
pub(crate) struct Service {
    shell: Arc<Mutex<Shell>>,
    clock: Clock,
    net: Arc<Net>,
}

impl Service {
    /// The service over a shared shell state and the gateway's side of the network.
    pub(crate) fn new(shell: Arc<Mutex<Shell>>, clock: Clock, net: Net) -> Service {
        Service {
            shell,
            clock,
            net: Arc::new(net),
        }
    }

    /// The gateway's side of the network.
    pub(crate) fn net(&self) -> Arc<Net> {
        self.net.clone()
    }

    /// Admits a client request: its id and the mailbox its task reads, or `None` once the
    /// run has failed.
    pub(crate) fn submit(&self, request: Request) -> Option<(RequestId, Inbox)> {
        self.with(|shell, now| shell.submit(now, request))
    }

    /// Feeds an upstream answer to the core.
    pub(crate) fn answer(&self, upstream: Upstream) {
        self.with(|shell, now| shell.answer(now, upstream));
    }

    /// Cancels a request whose client disconnected. A no-op outside the runtime (a
    /// runtime being torn down drops its tasks).
    pub(crate) fn cancel(&self, request: RequestId) {
        if self.clock.try_now().is_some() {
            self.with(|shell, now| shell.cancel(now, request));
        }
    }

    /// Runs one input on the locked shell, then arms a timer task if needed.
    fn with<R>(&self, input: impl FnOnce(&mut Shell, Instant) -> R) -> R {
        let (out, arm) = {
            let mut shell = lock(&self.shell);
            let out = input(&mut shell, self.clock.now());
            let arm = shell.rearm();
            shell.check_invariants();
            (out, arm)
        };
        if let Some(at) = arm {
            self.arm(at);
        }
        out
    }

    /// Spawns a timer task that wakes the gateway at `at`.
    fn arm(&self, at: Instant) {
        let service = self.clone();
        madsim::task::spawn(async move {
            service.clock.sleep_until(at).await;
            service.fire(at);
        });
    }

    /// A timer task woke: handle what is due, re-arm for the next timer.
    fn fire(&self, armed: Instant) {
        let arm = {
            let mut shell = lock(&self.shell);
            shell.armed.remove(&armed);
            shell.timers_due(self.clock.now());
            let arm = shell.rearm();
            shell.check_invariants();
            arm
        };
        if let Some(at) = arm {
            self.arm(at);
        }
    }
}
