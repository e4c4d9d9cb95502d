//! What goes in and out of the gateway: requests, attempts, actions, timers and events.

use crate::classify::Class;
use crate::health::Block;
use crate::id::{AttemptId, KeyId, ProjectId, ProviderId, RegionId, RequestId, Scope};
use crate::response::ClientResponse;
use crate::time::Instant;
use std::sync::Arc;

/// What a request asks the upstream to do.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum RequestKind {
    /// A chat completion.
    Chat,
    /// A token count: served without spending the rate-limited quota, and its success
    /// proves nothing about upstream usability.
    CountTokens,
    /// A passthrough request whose body is replayed byte-identical on every attempt.
    Passthrough,
}

impl RequestKind {
    /// The name used in scenario files.
    pub fn name(self) -> &'static str {
        match self {
            RequestKind::Chat => "chat",
            RequestKind::CountTokens => "count_tokens",
            RequestKind::Passthrough => "passthrough",
        }
    }
}

/// A client request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Request {
    /// The project it belongs to.
    pub project: ProjectId,
    /// The model as the client named it: canonical, alias, `provider/model`, or custom.
    /// Shared, so that a workload hands out the same name without copying it.
    pub model: Arc<str>,
    /// What it asks.
    pub kind: RequestKind,
    /// Whether the answer is streamed.
    pub stream: bool,
    /// A user-supplied credential: exactly one attempt, never the pool.
    pub byok: Option<KeyId>,
    /// Upstream calls of an agentic loop (tool-call continuations); at least 1.
    pub iterations: u32,
    /// Body size in bytes.
    pub body_bytes: u32,
    /// Digest of the body bytes (what the body-replay invariant compares).
    pub body_digest: u64,
}

impl Request {
    /// A plain chat request.
    pub fn chat(project: ProjectId, model: impl Into<Arc<str>>) -> Request {
        Request {
            project,
            model: model.into(),
            kind: RequestKind::Chat,
            stream: false,
            byok: None,
            iterations: 1,
            body_bytes: 0,
            body_digest: 0,
        }
    }
}

/// One upstream attempt the embedding must carry out.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Attempt {
    /// Its id.
    pub id: AttemptId,
    /// The request it serves.
    pub request: RequestId,
    /// The agentic iteration (1-based).
    pub iteration: u32,
    /// Provider.
    pub provider: ProviderId,
    /// Region.
    pub region: RegionId,
    /// The health scope (canonical model, or a custom model name).
    pub scope: Scope,
    /// The concrete upstream model sent.
    pub upstream: Arc<str>,
    /// The credential routing selected.
    pub selected: KeyId,
    /// The credential whose token is sent (differs from `selected` after a regional swap).
    pub credential: KeyId,
    /// The endpoint (base URL) used; `None` = the provider's default.
    pub endpoint: Option<Arc<str>>,
    /// What is asked.
    pub kind: RequestKind,
    /// Whether streamed.
    pub stream: bool,
    /// Body bytes sent.
    pub body_bytes: u32,
    /// Digest of the body bytes sent.
    pub body_digest: u64,
    /// Whether this attempt opened a new (provider, region) and so used attempt budget.
    pub charged: bool,
}

/// An output of the gateway.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Action {
    /// Send this attempt upstream; answer with `handle_response`.
    Dispatch(Attempt),
    /// Answer the client.
    Respond(RequestId, ClientResponse),
}

/// Why the gateway wants to be woken.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum TimerReason {
    /// An attempt's deadline (timeout).
    AttemptDeadline(AttemptId),
    /// A request waiting for the soonest cooldown to end.
    CooldownWait(RequestId),
}

/// A past-tense fact for the trace.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Event {
    /// A candidate credential was passed over for a request.
    Skipped {
        /// Request.
        request: RequestId,
        /// Provider of the candidate.
        provider: ProviderId,
        /// Region of the candidate.
        region: RegionId,
        /// The credential that would have been sent.
        credential: KeyId,
        /// The health scope the candidate was read for.
        scope: Scope,
        /// Why.
        block: Block,
    },
    /// An attempt's answer was classified.
    Classified {
        /// Attempt.
        attempt: AttemptId,
        /// The class.
        class: Class,
    },
    /// A rate-limit cooldown was written (the effective end after merging).
    CooledDown {
        /// Credential whose record changed.
        credential: KeyId,
        /// Scope of the record.
        scope: Scope,
        /// Effective end.
        until: Instant,
        /// The attempt whose answer caused it.
        attempt: AttemptId,
    },
    /// Consecutive errors made a (credential, scope) unhealthy.
    MarkedUnhealthy {
        /// Credential.
        credential: KeyId,
        /// Scope.
        scope: Scope,
        /// End.
        until: Instant,
        /// Cause.
        attempt: AttemptId,
    },
    /// A credential was blacklisted (`scope: None` = every scope).
    Blacklisted {
        /// Credential.
        credential: KeyId,
        /// Scope, when recorded on one scope only.
        scope: Option<Scope>,
        /// Cause.
        attempt: AttemptId,
    },
    /// A (credential, upstream model) path was suspended.
    Suspended {
        /// Credential.
        credential: KeyId,
        /// Suspension scope (the concrete upstream model).
        scope: Scope,
        /// End.
        until: Instant,
        /// Cause.
        attempt: AttemptId,
    },
    /// A success cleared cooldowns or suspensions of a record.
    Resumed {
        /// Credential.
        credential: KeyId,
        /// Scope.
        scope: Scope,
        /// Cause.
        attempt: AttemptId,
    },
    /// A health entry was evicted to respect the scope cap: the oldest idle one, or, when
    /// every entry holds a live block, the oldest that is not a blacklisting.
    Evicted {
        /// Credential.
        credential: KeyId,
        /// Scope.
        scope: Scope,
    },
    /// A request waits for a cooldown to end.
    Waiting {
        /// Request.
        request: RequestId,
        /// Until.
        until: Instant,
    },
    /// A (provider, region) was charged to a request's attempt budget.
    Charged {
        /// Request.
        request: RequestId,
        /// Iteration.
        iteration: u32,
        /// Provider.
        provider: ProviderId,
        /// Region.
        region: RegionId,
        /// The attempt it opened, `None` when charged without one.
        attempt: Option<AttemptId>,
    },
    /// An attempt was counted in (or left out of) uptime history.
    Counted {
        /// Attempt.
        attempt: AttemptId,
        /// Counted in the (provider, region, model) mapping history.
        mapping: bool,
        /// Counted in the model history.
        model: bool,
        /// Counted as up.
        ok: bool,
    },
    /// A request's provider-level score.
    ProviderScored {
        /// Request.
        request: RequestId,
        /// Provider.
        provider: ProviderId,
        /// Region.
        region: RegionId,
        /// Recorded as failed.
        failed: bool,
    },
    /// An answer arrived for an attempt no longer in flight (timed out or cancelled).
    StaleResponse {
        /// Attempt.
        attempt: AttemptId,
    },
}
