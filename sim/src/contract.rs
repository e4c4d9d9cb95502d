//! The contract: what a gateway promises, declared by the scenario, and what the checker
//! reads of a world ([`Terms`]): the deployment, the providers, the fault plan, the
//! workload and the contract, never the policy under test.
//!
//! The policy is how one gateway (gatesim's core) is set; the contract is what any gateway
//! under test is held to. They are separate so that a mistake in the policy (a Retry-After
//! cap raised to 500 hours, say) is judged against the promise, not excused by itself.

use crate::world::{FaultPlan, ProviderSpec, Workload, World};
use gatesim_core::{Catalog, Duration, Policy};

/// The promises a gateway is held to. Each default is the reference promise, the one
/// gatesim's reference policy keeps; a scenario's `contract` section overrides them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Contract {
    /// Longest cooldown a Retry-After hint may impose: a hint above it is honoured only up
    /// to the cap (CLIProxyAPI #5770: a hint of 18 days). Default 1 h.
    pub retry_after_cap: Duration,
    /// Cooldown after a 429 without a usable hint. Default 60 s.
    pub retry_after_default: Duration,
    /// Consecutive transient errors on a (credential, model, region) path after which the
    /// path rests. Default 3.
    pub errors_consecutive_max: u32,
    /// How long such a path rests. Default 30 s.
    pub unhealthy_for: Duration,
    /// How long a (credential, upstream model) path rests after a model-support error.
    /// Default 12 h.
    pub suspension_for: Duration,
    /// Distinct providers × regions one upstream call may try. Default 3.
    pub attempts_max: u32,
    /// Longest wait for a cooldown when every candidate is cooling. Default 30 s.
    pub wait_max: Duration,
    /// Wait rounds one upstream call may take; 0 promises no waiting. Default 3.
    pub wait_rounds_max: u32,
    /// Window of mapping uptime. Default 5 min.
    pub history_window: Duration,
    /// Outcomes kept per uptime history. Default 1 000.
    pub history_entries_max: u32,
    /// Uptime below which a mapping is passed over when a healthier one is eligible, in
    /// basis points. Default 9 000 (90 %).
    pub uptime_bar_bp: u32,
    /// Most (credential, scope) health entries tracked at once. Default 4 096.
    pub scopes_max: u32,
    /// Time after which an attempt may be abandoned as a timeout. Default 60 s.
    pub attempt_timeout: Duration,
    /// How long after its justified cooldown ends a credential may still be passed over.
    /// Default 0 s: at once.
    pub recovery_within: Duration,
}

impl Default for Contract {
    fn default() -> Self {
        Contract::reference()
    }
}

impl Contract {
    /// The reference promises.
    pub const fn reference() -> Contract {
        Contract {
            retry_after_cap: Duration::from_secs(3600),
            retry_after_default: Duration::from_secs(60),
            errors_consecutive_max: 3,
            unhealthy_for: Duration::from_secs(30),
            suspension_for: Duration::from_secs(12 * 3600),
            attempts_max: 3,
            wait_max: Duration::from_secs(30),
            wait_rounds_max: 3,
            history_window: Duration::from_secs(300),
            history_entries_max: 1000,
            uptime_bar_bp: 9000,
            scopes_max: 4096,
            attempt_timeout: Duration::from_secs(60),
            recovery_within: Duration::ZERO,
        }
    }

    /// The contract a gateway set by `policy` keeps exactly: the promises that policy
    /// makes. For worlds built in code whose policy is tuned on purpose; a scenario file
    /// declares its contract instead.
    pub fn kept_by(policy: &Policy) -> Contract {
        Contract {
            retry_after_cap: policy.retry_after_cap,
            retry_after_default: policy.retry_after_default,
            errors_consecutive_max: policy.errors_consecutive_max,
            unhealthy_for: policy.unhealthy_for,
            suspension_for: policy.suspension_for,
            attempts_max: policy.attempts_max,
            wait_max: policy.wait_max,
            wait_rounds_max: policy.wait_rounds_max,
            history_window: policy.history_window,
            history_entries_max: policy.history_entries_max,
            uptime_bar_bp: policy.uptime_bar_bp,
            scopes_max: policy.scopes_max,
            attempt_timeout: policy.attempt_timeout,
            recovery_within: Duration::ZERO,
        }
    }
}

impl Contract {
    /// The policy that keeps exactly these promises, no knob on (the inverse of
    /// [`Contract::kept_by`]; `recovery_within` has no setting).
    pub fn promised_policy(&self) -> Policy {
        // Destructured without `..` so a new promise fails to compile here until mapped.
        let &Contract {
            retry_after_cap,
            retry_after_default,
            errors_consecutive_max,
            unhealthy_for,
            suspension_for,
            attempts_max,
            wait_max,
            wait_rounds_max,
            history_window,
            history_entries_max,
            uptime_bar_bp,
            scopes_max,
            attempt_timeout,
            recovery_within: _,
        } = self;
        Policy {
            retry_after_default,
            retry_after_cap,
            errors_consecutive_max,
            unhealthy_for,
            suspension_for,
            attempts_max,
            wait_max,
            wait_rounds_max,
            history_window,
            history_entries_max,
            uptime_bar_bp,
            scopes_max,
            attempt_timeout,
            // The capabilities of the reference: the rules the promises are made in.
            ..Policy::reference()
        }
    }
}

/// What the checker may read of a world: everything but the policy. The checker's entry
/// point takes this, so no invariant can measure a gateway by its own settings.
#[derive(Clone, Copy, Debug)]
pub struct Terms<'w> {
    /// Scenario id.
    pub id: &'w str,
    /// The deployment: providers, regions, models, credentials, projects.
    pub catalog: &'w Catalog,
    /// How each fake provider behaves and words its errors.
    pub providers: &'w [ProviderSpec],
    /// What goes wrong, and when.
    pub faults: &'w FaultPlan,
    /// What traffic runs.
    pub workload: &'w Workload,
    /// What the gateway promised.
    pub contract: &'w Contract,
}

impl World {
    /// The world as the checker may see it.
    pub fn terms(&self) -> Terms<'_> {
        Terms {
            id: &self.id,
            catalog: &self.catalog,
            providers: &self.providers,
            faults: &self.faults,
            workload: &self.workload,
            contract: &self.contract,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reference_promises_are_what_the_reference_policy_keeps() {
        assert_eq!(
            Contract::reference(),
            Contract::kept_by(&Policy::reference())
        );
        assert_eq!(Contract::reference().promised_policy(), Policy::reference());
    }
}
