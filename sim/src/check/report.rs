//! What the checker reports: the invariants by name, one violation, and the capped,
//! ordered list a pass collects.

use gatesim_core::{AttemptId, Instant, RequestId};
use std::fmt;

/// Every invariant of `docs/invariants.md`. The declaration order is the report order.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Invariant {
    /// `auth-blacklist-global`
    AuthBlacklistGlobal,
    /// `cooldown-respected`
    CooldownRespected,
    /// `cooldown-monotonic`
    CooldownMonotonic,
    /// `scope-isolation`
    ScopeIsolation,
    /// `suspension-sticky`
    SuspensionSticky,
    /// `no-hidden-failures`
    NoHiddenFailures,
    /// `provider-score-honest`
    ProviderScoreHonest,
    /// `attribution`
    Attribution,
    /// `region-lock`
    RegionLock,
    /// `endpoint-from-credential`
    EndpointFromCredential,
    /// `terminal-request-invalid`
    TerminalRequestInvalid,
    /// `byok-single-attempt`
    ByokSingleAttempt,
    /// `mode-respected`
    ModeRespected,
    /// `primary-first`
    PrimaryFirst,
    /// `attempt-budget`
    AttemptBudget,
    /// `body-replay`
    BodyReplay,
    /// `no-failover-after-first-byte`
    NoFailoverAfterFirstByte,
    /// `bounded-state`
    BoundedState,
    /// `blacklist-uptime-zero`
    BlacklistUptimeZero,
    /// `deterministic`
    Deterministic,
    /// `no-false-exhaustion`
    NoFalseExhaustion,
    /// `exhaustion-typed`
    ExhaustionTyped,
    /// `recovers-after-cooldown`
    RecoversAfterCooldown,
    /// `waits-for-cooldown`
    WaitsForCooldown,
}

impl Invariant {
    /// Every invariant, in report order (the order violations are sorted in).
    pub const ALL: [Invariant; 24] = [
        Invariant::AuthBlacklistGlobal,
        Invariant::CooldownRespected,
        Invariant::CooldownMonotonic,
        Invariant::ScopeIsolation,
        Invariant::SuspensionSticky,
        Invariant::NoHiddenFailures,
        Invariant::ProviderScoreHonest,
        Invariant::Attribution,
        Invariant::RegionLock,
        Invariant::EndpointFromCredential,
        Invariant::TerminalRequestInvalid,
        Invariant::ByokSingleAttempt,
        Invariant::ModeRespected,
        Invariant::PrimaryFirst,
        Invariant::AttemptBudget,
        Invariant::BodyReplay,
        Invariant::NoFailoverAfterFirstByte,
        Invariant::BoundedState,
        Invariant::BlacklistUptimeZero,
        Invariant::Deterministic,
        Invariant::NoFalseExhaustion,
        Invariant::ExhaustionTyped,
        Invariant::RecoversAfterCooldown,
        Invariant::WaitsForCooldown,
    ];

    /// The stable id printed in reports and named in the spec.
    pub fn name(self) -> &'static str {
        match self {
            Invariant::AuthBlacklistGlobal => "auth-blacklist-global",
            Invariant::CooldownRespected => "cooldown-respected",
            Invariant::CooldownMonotonic => "cooldown-monotonic",
            Invariant::ScopeIsolation => "scope-isolation",
            Invariant::SuspensionSticky => "suspension-sticky",
            Invariant::NoHiddenFailures => "no-hidden-failures",
            Invariant::ProviderScoreHonest => "provider-score-honest",
            Invariant::Attribution => "attribution",
            Invariant::RegionLock => "region-lock",
            Invariant::EndpointFromCredential => "endpoint-from-credential",
            Invariant::TerminalRequestInvalid => "terminal-request-invalid",
            Invariant::ByokSingleAttempt => "byok-single-attempt",
            Invariant::ModeRespected => "mode-respected",
            Invariant::PrimaryFirst => "primary-first",
            Invariant::AttemptBudget => "attempt-budget",
            Invariant::BodyReplay => "body-replay",
            Invariant::NoFailoverAfterFirstByte => "no-failover-after-first-byte",
            Invariant::BoundedState => "bounded-state",
            Invariant::BlacklistUptimeZero => "blacklist-uptime-zero",
            Invariant::Deterministic => "deterministic",
            Invariant::NoFalseExhaustion => "no-false-exhaustion",
            Invariant::ExhaustionTyped => "exhaustion-typed",
            Invariant::RecoversAfterCooldown => "recovers-after-cooldown",
            Invariant::WaitsForCooldown => "waits-for-cooldown",
        }
    }

    /// Whether the invariant is decidable from outside the gateway (black-box mode: the
    /// wire and the fake providers' ground truth only); `Err` says why not.
    pub fn outside(self) -> Result<(), &'static str> {
        match self {
            Invariant::AuthBlacklistGlobal
            | Invariant::CooldownRespected
            | Invariant::ScopeIsolation
            | Invariant::SuspensionSticky
            | Invariant::RegionLock
            | Invariant::EndpointFromCredential
            | Invariant::TerminalRequestInvalid
            | Invariant::ByokSingleAttempt
            | Invariant::ModeRespected
            | Invariant::PrimaryFirst
            | Invariant::AttemptBudget
            | Invariant::BodyReplay
            | Invariant::NoFailoverAfterFirstByte
            | Invariant::NoFalseExhaustion
            | Invariant::ExhaustionTyped
            | Invariant::RecoversAfterCooldown
            | Invariant::WaitsForCooldown => Ok(()),
            Invariant::CooldownMonotonic => Err(
                "judged on the cooldown ends the gateway reports; a shortened cooldown shows \
                 outside only when a send follows it (cooldown-respected)",
            ),
            Invariant::NoHiddenFailures => Err(
                "judged on the uptime figures the gateway reports, which the wire does not carry",
            ),
            Invariant::ProviderScoreHonest => Err(
                "judged on the provider scores the gateway reports, which the wire does not carry",
            ),
            Invariant::Attribution => Err(
                "judged on which credential the gateway's health marks name; outside, only the \
                 sends that follow a mark are seen (cooldown-respected, suspension-sticky)",
            ),
            Invariant::BoundedState => {
                Err("judged on the gateway's count of tracked health entries, internal state")
            }
            Invariant::BlacklistUptimeZero => {
                Err("judged on the uptime the gateway reports for a blacklisted credential")
            }
            Invariant::Deterministic => Err(
                "needs two runs with identical timing; a real gateway on the wall clock has none",
            ),
        }
    }

    /// Position in [`Invariant::ALL`].
    fn index(self) -> usize {
        self as usize
    }
}

// `ALL` lists the variants in declaration order, so `index` is a position in `ALL` and the
// derived `Ord` is the report order. Checked at compile time.
const _: () = {
    let mut i = 0;
    while i < Invariant::ALL.len() {
        assert!(
            Invariant::ALL[i] as usize == i,
            "Invariant::ALL is out of order"
        );
        i += 1;
    }
};

impl fmt::Display for Invariant {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// One broken invariant.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Violation {
    /// Which invariant.
    pub invariant: Invariant,
    /// Simulated time.
    pub at: Instant,
    /// The request concerned.
    pub request: Option<RequestId>,
    /// The attempt concerned.
    pub attempt: Option<AttemptId>,
    /// What happened, in a sentence.
    pub detail: String,
}

impl fmt::Display for Violation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} at {}", self.invariant, self.at)?;
        if let Some(r) = self.request {
            write!(f, " {r}")?;
        }
        if let Some(a) = self.attempt {
            write!(f, " {a}")?;
        }
        write!(f, ": {}", self.detail)
    }
}

/// Violations kept per invariant at most (the first ones are the useful ones).
const PER_INVARIANT_MAX: usize = 20;

/// The violations one pass found: every one counted, the first [`PER_INVARIANT_MAX`] of
/// each invariant kept.
#[derive(Debug, Default)]
pub(super) struct Report {
    /// Violations found so far, per invariant (kept or not).
    counts: [usize; Invariant::ALL.len()],
    /// Kept violations, in the order found.
    kept: Vec<Violation>,
}

impl Report {
    /// Records a violation of `invariant` at `at`.
    pub(super) fn fail(
        &mut self,
        invariant: Invariant,
        at: Instant,
        request: Option<RequestId>,
        attempt: Option<AttemptId>,
        detail: String,
    ) {
        let n = &mut self.counts[invariant.index()];
        *n += 1;
        if *n <= PER_INVARIANT_MAX {
            self.kept.push(Violation {
                invariant,
                at,
                request,
                attempt,
                detail,
            });
        }
        debug_assert!(
            self.kept.len() <= self.counts.iter().sum::<usize>()
                && self.kept.len() <= Invariant::ALL.len() * PER_INVARIANT_MAX,
            "kept violations are counted and capped"
        );
    }

    /// Whether `invariant` was violated at least once.
    pub(super) fn broken(&self, invariant: Invariant) -> bool {
        self.counts[invariant.index()] > 0
    }

    /// The kept violations in report order: by invariant, then time, then as found.
    pub(super) fn finish(mut self) -> Vec<Violation> {
        // Stable: violations of one invariant at one instant stay in trace order.
        self.kept.sort_by_key(|v| (v.invariant, v.at));
        debug_assert!(
            Invariant::ALL
                .iter()
                .all(|i| self.kept.iter().filter(|v| v.invariant == *i).count()
                    == self.counts[i.index()].min(PER_INVARIANT_MAX)),
            "every invariant keeps its first violations, up to the cap"
        );
        self.kept
    }
}
