//! What an upstream answered, as raw as the gateway sees it, and what the client gets.

use crate::id::KeyId;
use std::sync::Arc;

/// How far a streamed answer got.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum StreamProgress {
    /// Not a streamed answer (or a stream that completed normally).
    Complete,
    /// The stream broke before its first byte reached the client.
    BrokeBeforeFirstByte,
    /// The stream broke after bytes reached the client.
    BrokeAfterFirstByte,
}

/// An HTTP answer from an upstream provider.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HttpAnswer {
    /// Status code.
    pub status: u16,
    /// The raw `Retry-After` header, if any (delta-seconds or HTTP-date).
    pub retry_after: Option<String>,
    /// The raw `retry-after-ms` header, if any (fractional milliseconds).
    pub retry_after_ms: Option<String>,
    /// The body text (error bodies are inspected; success bodies are not).
    pub body: String,
    /// Stream progress for streamed answers.
    pub stream: StreamProgress,
}

impl HttpAnswer {
    /// A plain answer with a status and a body.
    pub fn new(status: u16, body: impl Into<String>) -> HttpAnswer {
        HttpAnswer {
            status,
            retry_after: None,
            retry_after_ms: None,
            body: body.into(),
            stream: StreamProgress::Complete,
        }
    }
    /// A 200 with an empty body.
    pub fn ok() -> HttpAnswer {
        HttpAnswer::new(200, "")
    }
}

/// A failure below HTTP.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum TransportError {
    /// The connection could not be made (outage, refused, DNS).
    Connect,
    /// No answer in time.
    Timeout,
}

/// What the gateway got back for an attempt.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Response {
    /// An HTTP answer.
    Http(HttpAnswer),
    /// No HTTP answer.
    Transport(TransportError),
}

/// Why a request's answer to the client is what it is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Outcome {
    /// An upstream answered successfully.
    Success,
    /// The stream broke after bytes reached the client; the error was relayed in-stream.
    StreamInterrupted,
    /// The request itself was rejected (request-invalid); the upstream error is passed on.
    RequestInvalid,
    /// Every candidate credential is cooling down: 429 with Retry-After.
    ExhaustedTransient,
    /// Every candidate credential failed authentication: 502.
    ExhaustedPermanent,
    /// Attempts failed and no candidate is left within the budget: the last error.
    UpstreamFailed,
    /// The model is unknown, or the project may use no credential that serves it.
    NoRoute,
}

impl Outcome {
    /// Stable lowercase name (trace, snapshots, scenario `expect`).
    pub fn name(self) -> &'static str {
        match self {
            Outcome::Success => "success",
            Outcome::StreamInterrupted => "stream_interrupted",
            Outcome::RequestInvalid => "request_invalid",
            Outcome::ExhaustedTransient => "exhausted_transient",
            Outcome::ExhaustedPermanent => "exhausted_permanent",
            Outcome::UpstreamFailed => "upstream_failed",
            Outcome::NoRoute => "no_route",
        }
    }
}

/// An error relayed as an event inside a stream whose HTTP 200 was already sent (an
/// earlier agentic iteration streamed bytes): what the error response would have said,
/// carried in the error payload since no status line or header can follow.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct StreamError {
    /// The status the error would have had as a response (429 for transient exhaustion).
    pub status: u16,
    /// The Retry-After in whole seconds, in the payload (there is no header to carry it).
    pub retry_after_s: Option<u64>,
}

/// The gateway's answer to its client.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ClientResponse {
    /// HTTP status sent to the client (200 when the failure is relayed in-stream).
    pub status: u16,
    /// `Retry-After` header in whole seconds, if sent (never with `stream_error`).
    pub retry_after_s: Option<u64>,
    /// The failure relayed in-stream under the 200 an earlier streamed iteration sent.
    pub stream_error: Option<StreamError>,
    /// Why.
    pub outcome: Outcome,
    /// The credential whose answer this is (success) or the last one attempted.
    pub hint_key: Option<KeyId>,
    /// The redacted hint of `hint_key` as stored for the request.
    pub hint: Option<Arc<str>>,
    /// Upstream attempts made.
    pub attempts: u32,
}
