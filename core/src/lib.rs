//! gatesim-core: a sans-IO engine for the part of an LLM API gateway that decides which
//! provider, region, credential and upstream model to try for each request, what to do
//! when an attempt fails, and how key health and uptime are recorded.
//!
//! No clock, no IO, no async, no randomness, no hash-ordered iteration: time is passed
//! into every call as an [`Instant`] and outputs are polled. See [`Gateway`] for the
//! driving contract.

#![warn(unreachable_pub)]

mod bounded;
mod catalog;
mod classify;
mod event;
mod gateway;
mod health;
mod id;
mod policy;
mod response;
mod routing;
mod stats;
mod time;

pub use catalog::{Catalog, Credential, Mapping, Mode, Model, Project, Provider, Source};
pub use classify::{classify, format_http_date, Class};
pub use event::{Action, Attempt, Event, Request, RequestKind, TimerReason};
pub use gateway::{ConfigError, Gateway};
pub use health::{Block, History};
pub use id::{fnv1a, AttemptId, KeyId, ModelId, ProjectId, ProviderId, RegionId, RequestId, Scope};
pub use policy::{
    AuthFailure, CooldownMerge, ExhaustionAnswer, Forbidden, InvalidKeyBodies, KeySelection,
    ModelSupport, Policy, RateLimitBackoff, Regression, Regressions, RetryAfterForms,
    SameKeyRetries, UnhealthyRule,
};
pub use response::{
    ClientResponse, HttpAnswer, Outcome, Response, StreamError, StreamProgress, TransportError,
};
pub use stats::{Score, Stats};
pub use time::{Duration, Instant};
