//! Every tunable of the engine with its documented default, and the regression knobs.

use crate::time::Duration;
use std::fmt;

/// Every tunable of the routing, health and retry logic.
///
/// Defaults come from production gateways (llmgateway, CLIProxyAPI, Coder AI Bridge, LiteLLM); each field says which.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Policy {
    /// Cooldown after a 429 without a usable Retry-After (aibridge, CLIProxyAPI: 60 s).
    pub retry_after_default: Duration,
    /// Upper bound on any Retry-After hint, so a bogus hint (CLIProxyAPI #5770: 18 days)
    /// cannot lock a credential for days. Default 1 h.
    pub retry_after_cap: Duration,
    /// Consecutive transient errors that make a (credential, scope) unhealthy (llmgateway: 3).
    pub errors_consecutive_max: u32,
    /// How long a (credential, scope) stays unhealthy after that (llmgateway: 30 s).
    pub unhealthy_for: Duration,
    /// Suspension of (credential, upstream model) after a model-support error (CLIProxyAPI: 12 h).
    pub suspension_for: Duration,
    /// Distinct (provider, region) mappings one upstream call may try (llmgateway: 1 + 2 retries).
    pub attempts_max: u32,
    /// Longest wait for a cooldown to end when every candidate is cooling (CLIProxyAPI: 30 s).
    pub wait_max: Duration,
    /// Wait rounds one upstream call may take (a limit on everything).
    pub wait_rounds_max: u32,
    /// Window of the uptime history (llmgateway: 5 min).
    pub history_window: Duration,
    /// Entries kept per history (llmgateway: 1000).
    pub history_entries_max: u32,
    /// Uptime below which a mapping is passed over when a healthier one exists,
    /// in basis points (llmgateway `lowUptimeFallbackThreshold`: 90 %).
    pub uptime_bar_bp: u32,
    /// Tracked (credential, scope) health entries at most; idle ones are evicted.
    pub scopes_max: u32,
    /// Time after which an upstream attempt is abandoned as a timeout.
    pub attempt_timeout: Duration,
    /// What a failed authentication does to the credential (llmgateway: a permanent,
    /// global blacklist; aibridge since coder#27419: a 60 s cooldown; CLIProxyAPI: the
    /// (credential, model) rests 30 min; LiteLLM: the deployment rests 5 s).
    pub auth_failure: AuthFailure,
    /// What a 403 is: a failed authentication, passed on, or a reason to try the next
    /// key without recording anything.
    pub forbidden: Forbidden,
    /// Which 4xx bodies naming an invalid key are a failed authentication whatever their
    /// status: every wording and structured code (llmgateway `provider-auth-errors.ts`), the
    /// wordings only (LiteLLM maps Gemini's "API key not valid" but not OpenAI's
    /// `invalid_api_key` code under a 400), or none: only the status counts (aibridge
    /// `MarkKeyOnStatus`, CLIProxyAPI).
    pub invalid_key_bodies: InvalidKeyBodies,
    /// Whether a provider's Retry-After reaches the client when its 429 is passed on
    /// (LiteLLM renames it `llm_provider-retry-after`, #21553).
    pub upstream_retry_after_passed_on: bool,
    /// Whether a stream that broke fails over (before its first byte) and counts against
    /// its key; `false`: it ends the request and is never recorded (LiteLLM #29808, F7).
    pub stream_breaks_fail_over: bool,
    /// Whether a 5xx, a transport failure or a timeout fails over to the next candidate and
    /// counts against the key (llmgateway, CLIProxyAPI, LiteLLM), or is passed on as it is,
    /// the key unmarked (aibridge: only 429 and 401 are key failures).
    pub upstream_errors_fail_over: bool,
    /// When transient errors rest a path: after `errors_consecutive_max` in a row
    /// (llmgateway), or when over a share of its recent outcomes failed (LiteLLM).
    pub unhealthy_rule: UnhealthyRule,
    /// Whether a failure on a retried attempt (one after an earlier attempt of the same
    /// request failed) is recorded in health. `false` is LiteLLM's behaviour: only a
    /// request's first failed attempt reaches its cooldown logic (#32574).
    pub retried_failures_mark_health: bool,
    /// Same-key retries with doubling backoff when a request's only candidate failed with
    /// a 5xx, a transport failure or a timeout (llmgateway, for single-key providers: at
    /// most 2, after 1 s then 2 s); `None`: never.
    pub same_key_retries: Option<SameKeyRetries>,
    /// Whether a model-support error falls back to the next candidate and suspends the
    /// path (CLIProxyAPI, llmgateway) or ends the request (LiteLLM `NotFoundError`).
    pub model_support: ModelSupport,
    /// How a new cooldown meets one in force (aibridge, CLIProxyAPI: the later end wins;
    /// LiteLLM #40130: the new one overwrites).
    pub cooldown_merge: CooldownMerge,
    /// Which Retry-After forms a 429's hint is read from.
    pub retry_after_forms: RetryAfterForms,
    /// The cooldown of a 429 without a usable hint.
    pub rate_limit_backoff: RateLimitBackoff,
    /// What the client gets when every candidate is cooling.
    pub exhaustion_answer: ExhaustionAnswer,
    /// The order a request walks a provider's pool in.
    pub key_selection: KeySelection,
    /// Regression knobs: production bugs put back on purpose. All off by default.
    pub regressions: Regressions,
}

impl Default for Policy {
    fn default() -> Self {
        Policy::reference()
    }
}

impl Policy {
    /// The reference policy: the correct behaviour of every incident in the catalogue.
    pub fn reference() -> Policy {
        Policy {
            retry_after_default: Duration::from_secs(60),
            retry_after_cap: Duration::from_secs(3600),
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
            auth_failure: AuthFailure::Blacklist,
            forbidden: Forbidden::KeyFailure,
            invalid_key_bodies: InvalidKeyBodies::Any,
            upstream_retry_after_passed_on: true,
            stream_breaks_fail_over: true,
            upstream_errors_fail_over: true,
            unhealthy_rule: UnhealthyRule::Consecutive,
            same_key_retries: None,
            retried_failures_mark_health: true,
            model_support: ModelSupport::Fallback,
            cooldown_merge: CooldownMerge::Max,
            retry_after_forms: RetryAfterForms::ALL,
            rate_limit_backoff: RateLimitBackoff::Fixed,
            exhaustion_answer: ExhaustionAnswer::RetryAfter,
            key_selection: KeySelection::PrimaryFirst,
            regressions: Regressions::NONE,
        }
    }

    /// Whether a regression knob is on.
    pub fn has(&self, knob: Regression) -> bool {
        self.regressions.contains(knob)
    }

    /// How a new cooldown meets one in force: the setting, unless `LastWriterCooldown`
    /// or `FirstWriterCooldown` puts a production bug back.
    pub fn merge(&self) -> CooldownMerge {
        if self.has(Regression::LastWriterCooldown) {
            CooldownMerge::Overwrite
        } else if self.has(Regression::FirstWriterCooldown) {
            CooldownMerge::KeepFirst
        } else {
            self.cooldown_merge
        }
    }

    /// Whether walks rotate through the pool (`round_robin`, or `SharedWalkerCursor`).
    pub fn rotates(&self) -> bool {
        self.key_selection == KeySelection::RoundRobin || self.has(Regression::SharedWalkerCursor)
    }

    /// The longest cooldown a Retry-After hint may impose: `retry_after_cap`, unless
    /// `UncappedRetryAfter` is on.
    pub fn hint_cap(&self) -> Duration {
        if self.has(Regression::UncappedRetryAfter) {
            Duration(u64::MAX)
        } else {
            self.retry_after_cap
        }
    }
}

/// What a failed authentication does to the credential.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AuthFailure {
    /// Blacklisted for every model until the gateway restarts (llmgateway).
    Blacklist,
    /// The whole credential rests this long (aibridge after coder#27419: 60 s).
    Cooldown(Duration),
    /// Only the (credential, model) rests this long (CLIProxyAPI: 30 min; LiteLLM: a
    /// deployment, 5 s).
    ModelCooldown(Duration),
}

/// When transient errors rest a (credential, model, region) path for `unhealthy_for`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum UnhealthyRule {
    /// After `errors_consecutive_max` transient errors in a row (llmgateway: 3).
    Consecutive,
    /// When, after a transient error, more than `above_bp` of the (credential, model)'s
    /// outcomes within `history_window` failed and there are at least `min_requests` of
    /// them (LiteLLM: over 50 % of at least 5 requests in the minute, PR #17464).
    ErrorRatio {
        /// The failed share, in basis points, to exceed.
        above_bp: u32,
        /// Outcomes in the window at least.
        min_requests: u32,
    },
}

/// What a 403 is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Forbidden {
    /// A failed authentication (llmgateway, CLIProxyAPI).
    KeyFailure,
    /// The request's own answer, passed on: no failover, the key unmarked (aibridge
    /// since coder#27419).
    PassedOn,
    /// The request moves on to the next key, and nothing is recorded, so later requests
    /// send the key again (LiteLLM: "retry skips deployments that already answered 403").
    NextKey,
}

/// Which invalid-key bodies make a 4xx a failed authentication.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum InvalidKeyBodies {
    /// Every wording and structured code.
    Any,
    /// The wordings ("API key not valid", "API key not found", ...), not the structured
    /// `invalid_api_key` code nor "Incorrect API key provided".
    Wording,
    /// None: only 401 (and 403, when it counts) are.
    None,
}

/// Same-key retries: how many, and the first backoff (doubling after each).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SameKeyRetries {
    /// Retries per request at most.
    pub max: u32,
    /// The wait before the first; each next one waits twice as long.
    pub backoff: Duration,
}

/// What a model-support error does.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ModelSupport {
    /// Fall back to the next candidate and suspend the (credential, upstream model) path.
    Fallback,
    /// End the request with the provider's answer, as a request error.
    Terminal,
}

/// How a new cooldown meets one in force.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CooldownMerge {
    /// The later end wins (aibridge `applyCooldown`, CLIProxyAPI).
    Max,
    /// The new end replaces the old, even when earlier (LiteLLM #40130).
    Overwrite,
    /// A cooldown in force is kept, even when the new one is longer.
    KeepFirst,
}

/// The Retry-After forms a gateway reads, as a set.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RetryAfterForms {
    /// `retry-after-ms` (fractional milliseconds).
    pub ms: bool,
    /// `Retry-After` as delta-seconds.
    pub seconds: bool,
    /// `Retry-After` as an HTTP-date.
    pub http_date: bool,
}

impl RetryAfterForms {
    /// Every form.
    pub const ALL: RetryAfterForms = RetryAfterForms {
        ms: true,
        seconds: true,
        http_date: true,
    };
    /// None: the hint is never read (llmgateway's key health).
    pub const NONE: RetryAfterForms = RetryAfterForms {
        ms: false,
        seconds: false,
        http_date: false,
    };
    /// The names of the forms, as written in scenario files.
    pub const NAMES: [&'static str; 3] = ["retry-after-ms", "seconds", "http-date"];

    /// The names of the forms in the set, in [`NAMES`](Self::NAMES) order.
    pub fn names(self) -> impl Iterator<Item = &'static str> {
        Self::NAMES
            .into_iter()
            .zip([self.ms, self.seconds, self.http_date])
            .filter_map(|(name, on)| on.then_some(name))
    }
}

/// The cooldown of a 429 without a usable hint.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RateLimitBackoff {
    /// Always `retry_after_default` (aibridge: 60 s; LiteLLM: 5 s).
    Fixed,
    /// No cooldown: a 429 is one more consecutive error, like a 5xx (llmgateway: 3 in a
    /// row rest the key 30 s; the hint is never read).
    AsError,
    /// `base · 2^(level − 1)` up to `cap`; the level rises once per cooldown window (a
    /// 429 while one is in force reuses it) and a success resets it (CLIProxyAPI: 1 s
    /// to 30 min).
    Exponential {
        /// The first cooldown.
        base: Duration,
        /// The longest.
        cap: Duration,
    },
}

/// What the client gets when every candidate is cooling.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ExhaustionAnswer {
    /// 429 with a Retry-After for the soonest end (aibridge, CLIProxyAPI `model_cooldown`).
    RetryAfter,
    /// 429 without a Retry-After (LiteLLM before PR #30098).
    Bare429,
    /// The last upstream answer, when there was one (llmgateway).
    LastError,
}

/// The order a request walks a provider's pool in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KeySelection {
    /// Every walk starts at the first credential (aibridge's walker, llmgateway; also
    /// CLIProxyAPI's `fill-first`).
    PrimaryFirst,
    /// Each attempt moves a cursor shared by all requests (CLIProxyAPI's default).
    RoundRobin,
    /// Each walk starts at a credential chosen by a hash of the request and its attempt
    /// count, standing in for a random pick (LiteLLM's simple-shuffle): spread like one,
    /// and the same on every run. When the pool's weights differ, each credential is
    /// drawn with its weight's share (LiteLLM's weighted pick).
    Shuffle,
    /// Smooth weighted round-robin over each credential's `weight` (CLIProxyAPI's
    /// `weighted-round-robin`, nginx's algorithm): a walk starts at the credential with the
    /// most credit among those it may use; each attempt gives every usable credential of
    /// the pool its weight in credit and takes the pool's usable total from the one sent.
    /// Weights 3 and 1 send `k0 k0 k1 k0` and repeat; a cooling credential earns nothing
    /// meanwhile, so it is not flooded when it returns.
    Weighted,
}

macro_rules! regressions {
    ($($(#[doc = $doc:literal])* $knob:ident = $incident:literal,)*) => {
        /// A production bug that can be put back on purpose, named after its incident.
        ///
        /// Each knob restores exactly the behaviour described by its incident file (`scenarios/incidents/<id>.json`) for
        /// the incident id it carries; the detection matrix proves the invariants catch it.
        #[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
        pub enum Regression {
            $($(#[doc = $doc])* $knob,)*
        }

        impl Regression {
            /// Every knob, in catalogue order.
            pub const ALL: &'static [Regression] = &[$(Regression::$knob,)*];

            /// The knob's name as written in scenario files and on the command line.
            pub fn name(self) -> &'static str {
                match self { $(Regression::$knob => stringify!($knob),)* }
            }

            /// The incident id (`scenarios/incidents/<id>.json`) whose bug this knob puts back.
            pub fn incident(self) -> &'static str {
                match self { $(Regression::$knob => $incident,)* }
            }

            /// One line stating the bug the knob puts back: its doc comment, so the
            /// documentation and `gatesim knobs` cannot drift apart.
            pub fn summary(self) -> &'static str {
                match self { $(Regression::$knob => concat!($($doc),*).trim_ascii(),)* }
            }
        }
    };
}

regressions! {
    /// A 400 with an invalid-key body is a bad request (no rotation, no blacklist).
    InvalidKey400IsRequestError = "invalid-key-400",
    /// Structured `invalid_api_key` codes and "Incorrect API key provided" are not matched.
    InvalidKeyCodeUnmatched = "invalid-key-code",
    /// Model-support 400/422 errors are terminal request failures.
    ModelSupportIsTerminal = "model-support-400",
    /// "unknown model", Azure's missing deployment and a bare 404 are not model-support
    /// errors: the 400s are terminal, the 404s transient.
    ModelNotAvailableUnmatched = "model-not-available-wordings",
    /// Request-invalid errors are retried across keys and providers.
    RetryRequestInvalid = "request-invalid-terminal",
    /// Transient health is recorded and read per credential, not per (credential, model).
    UnscopedTransientHealth = "health-scope-per-model",
    /// The auth blacklist is recorded per (credential, model) only.
    ScopedAuthBlacklist = "auth-blacklist-global",
    /// A blacklisted credential keeps reporting its old uptime.
    StaleUptimeForBlacklisted = "blacklisted-uptime-zero",
    /// Health reads are scoped but every write goes to the unscoped record.
    UnscopedHealthWrites = "scope-read-write-mismatch",
    /// The request id is used as the health scope.
    RequestIdAsScope = "per-request-scope",
    /// No cap on tracked health scopes.
    UnboundedScopes = "scope-cardinality",
    /// Health is recorded on the selected key, not the regional token actually sent.
    AttributeToSelectedKey = "region-token-attribution",
    /// The region is pinned from the first key and reused with other keys after failover.
    RegionFromFirstKey = "region-lock-consistency",
    /// A regional token swap drops the credential's own endpoint.
    DropEndpointOnRegionSwap = "byok-endpoint-kept",
    /// Hybrid mode swaps org keys for regional platform tokens.
    HybridIgnoresOrgKeys = "hybrid-prefers-org-key",
    /// Hybrid mode does not prefer providers with org keys.
    HybridNoKeyedPreference = "hybrid-prefers-keyed-provider",
    /// Key preference runs before the rate-limit filter.
    PreferKeysBeforeRateLimitFilter = "hybrid-rate-limit-fallback",
    /// Key preference runs before the uptime filter.
    PreferKeysBeforeUptimeFilter = "hybrid-uptime-fallback",
    /// Keyed availability is per provider, ignoring region locks.
    KeyedAvailabilityIgnoresRegion = "hybrid-region-aware-keys",
    /// A failed attempt is left out of uptime when any same-provider retry exists.
    ExcludeUnsuccessfulRetries = "retry-exclusion-needs-success",
    /// Model-level uptime leaves out failures recovered in another region.
    ModelHistoryIgnoresRegion = "cross-region-hides-failure",
    /// A provider is scored failed although another of its keys recovered the request.
    ProviderFailedOnKeyRetry = "provider-score-recovered-key",
    /// Suspensions are recorded under the alias and lifted by a sibling's success.
    SuspendAliasNotUpstream = "suspend-concrete-upstream",
    /// Skipping a blocked candidate consumes attempt budget.
    SkipCostsBudget = "blocked-pool-budget",
    /// A successful token count clears cooldowns and suspensions.
    CountSuccessResumes = "count-tokens-no-resume",
    /// The cooldown wait is looked up by alias and finds nothing to wait for.
    CooldownWaitByAlias = "alias-cooldown-wait",
    /// A stream that fails before its first byte ends the request.
    StreamBootstrapTerminal = "stream-bootstrap-rotation",
    /// A cooldown never expires by itself.
    CooldownNeverExpires = "keypool-states",
    /// Concurrent walks share one cursor.
    SharedWalkerCursor = "walker-primary-first",
    /// The last cooldown written wins, even when it is shorter.
    LastWriterCooldown = "longer-cooldown-wins",
    /// Transient exhaustion is answered without Retry-After.
    ExhaustionWithoutRetryAfter = "exhaustion-retry-after",
    /// A failed BYOK attempt fails over to the organisation's pool.
    ByokFailsOver = "byok-single-attempt",
    /// An agentic iteration continues the previous iteration's walk.
    ReuseWalkerAcrossIterations = "agentic-fresh-walker",
    /// Retries of a passthrough request send an empty body.
    BodyConsumedOnFirstAttempt = "passthrough-body-replay",
    /// The credential hint names the first key selected, not the one that answered.
    HintFromFirstKey = "credential-hint-actual",
    /// A stream that broke after its first byte is retried on another key.
    FailoverMidStream = "mid-stream-no-failover",
    /// A Retry-After hint is honoured however long it is: no cap.
    UncappedRetryAfter = "retry-after-cap",
    /// A cooldown in force is kept when a later 429 asks for longer.
    FirstWriterCooldown = "recool-keeps-longer",
    /// A failure after an earlier agentic iteration streamed bytes is answered with its own
    /// HTTP status (429 with a Retry-After header on exhaustion), not in-stream under the 200.
    ExhaustionStatusAfterStream = "agentic-stream-exhaustion",
}

impl Regression {
    /// Parses a knob name (`InvalidKey400IsRequestError`) or its incident id (`invalid-key-400`).
    pub fn parse(text: &str) -> Option<Regression> {
        Regression::ALL
            .iter()
            .copied()
            .find(|k| k.name().eq_ignore_ascii_case(text) || k.incident() == text)
    }
}

impl fmt::Display for Regression {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A set of regression knobs (a bit set; iteration is in catalogue order).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct Regressions(u64);

impl Regressions {
    /// No knob on: the reference behaviour.
    pub const NONE: Regressions = Regressions(0);

    /// Just one knob.
    pub fn only(knob: Regression) -> Regressions {
        Regressions::NONE.with(knob)
    }
    /// This set plus `knob`.
    pub fn with(self, knob: Regression) -> Regressions {
        Regressions(self.0 | 1 << knob as u32)
    }
    /// Whether `knob` is on.
    pub fn contains(self, knob: Regression) -> bool {
        self.0 & (1 << knob as u32) != 0
    }
    /// Whether no knob is on.
    pub fn is_empty(self) -> bool {
        self.0 == 0
    }
    /// The knobs that are on, in catalogue order.
    pub fn iter(self) -> impl Iterator<Item = Regression> {
        Regression::ALL
            .iter()
            .copied()
            .filter(move |k| self.contains(*k))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn knobs_cover_catalogue_and_parse_both_names() {
        assert!(Regression::ALL.len() <= 64, "Regressions is a u64 bit set");
        for knob in Regression::ALL {
            assert_eq!(Regression::parse(knob.name()), Some(*knob));
            assert_eq!(Regression::parse(knob.incident()), Some(*knob));
        }
        let mut ids: Vec<_> = Regression::ALL.iter().map(|k| k.incident()).collect();
        ids.sort_unstable();
        ids.dedup();
        assert_eq!(ids.len(), Regression::ALL.len(), "one knob per incident");
        assert_eq!(Regression::parse("nope"), None);
    }

    #[test]
    fn every_knob_states_its_bug_in_one_line() {
        for knob in Regression::ALL {
            let s = knob.summary();
            assert!(s.len() > 10 && s.ends_with('.'), "{knob}: {s:?}");
            assert!(!s.contains('\n') && !s.starts_with(' '), "{knob}: {s:?}");
        }
        assert_eq!(
            Regression::InvalidKey400IsRequestError.summary(),
            "A 400 with an invalid-key body is a bad request (no rotation, no blacklist)."
        );
    }

    #[test]
    fn set_operations() {
        let set = Regressions::only(Regression::SkipCostsBudget).with(Regression::ByokFailsOver);
        assert!(set.contains(Regression::SkipCostsBudget));
        assert!(!set.contains(Regression::HintFromFirstKey));
        assert_eq!(set.iter().count(), 2);
        assert!(Regressions::NONE.is_empty());
    }
}
