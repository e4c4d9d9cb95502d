//! The operations of the key-pool state machine and the upstream answers they carry,
//! as plain data, and how each answer is written on the wire.

use crate::plan::{ShapePlan, TargetPlan, INVALID_KEY_BODIES};
use gatesim_core::format_http_date;
use gatesim_core::{HttpAnswer, Instant, Response, StreamProgress, TransportError};
use proptest::sample::Index;

/// Operations per state-machine run at most (the step cap; the final drain has its own).
pub(crate) const OPS_MAX: usize = 200;

/// One input to the gateway.
#[derive(Clone, Debug)]
pub(crate) enum Op {
    /// A client request arrives now.
    Submit {
        /// Project (api-keys, credits or hybrid).
        project: Index,
        /// Model.
        target: TargetPlan,
        /// Shape.
        shape: ShapePlan,
    },
    /// An upstream answers one of the attempts in flight.
    Answer {
        /// Which attempt in flight (no-op when none is).
        attempt: Index,
        /// The answer.
        answer: AnswerPlan,
    },
    /// An answer arrives for an attempt that already timed out: it must change nothing.
    Stale {
        /// Which timed-out attempt (no-op when none did).
        attempt: Index,
        /// The answer.
        answer: AnswerPlan,
    },
    /// Time passes; due timers fire.
    Advance {
        /// How long, in ms.
        ms: u64,
        /// Fire every due timer at the end instant (a late wake-up) instead of at each
        /// timer's own instant.
        late: bool,
    },
}

/// An upstream answer.
#[derive(Clone, Debug)]
pub(crate) enum AnswerPlan {
    /// 200 (a complete stream for streamed attempts).
    Ok,
    /// A stream broke before its first byte (200 for unstreamed attempts).
    StreamBrokeBefore,
    /// A stream broke after bytes reached the client (200 for unstreamed attempts).
    StreamBrokeAfter,
    /// 429 with a retry hint in some form.
    RateLimited(RetryHint),
    /// 401 or 403.
    Unauthorized(u16),
    /// An invalid-key body on a 4xx status (`INVALID_KEY_BODIES`).
    InvalidKey {
        /// Which body.
        body: Index,
        /// 400 or 404.
        status: u16,
    },
    /// A 5xx.
    ServerError(u16),
    /// 400 or 422 with model-support wording.
    ModelUnsupported(u16),
    /// 400 about the request's shape.
    RequestInvalid,
    /// The connection failed.
    Connect,
    /// The transport gave up waiting.
    Timeout,
}

/// How a 429 carries its hint.
#[derive(Clone, Debug)]
pub(crate) enum RetryHint {
    /// No header.
    Absent,
    /// `Retry-After: <s>` (0 is invalid and ignored).
    Seconds(u64),
    /// `Retry-After: <HTTP-date>` this many seconds after now (rounded up to the second).
    HttpDate(u64),
    /// `retry-after-ms: <ms>` with or without a `.5` fraction.
    Millis(u64, bool),
    /// Both headers: `retry-after-ms` wins.
    Both {
        /// `retry-after-ms`.
        ms: u64,
        /// `Retry-After` seconds.
        secs: u64,
    },
    /// `Retry-After: soon`.
    Garbage,
}

/// What the naive model makes of an answer: the meaning the wording was chosen to have.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Meaning {
    /// Served.
    Success,
    /// The credential is invalid.
    Auth,
    /// Rate-limited with this hint in ms (`None`: no usable hint).
    RateLimited(Option<u64>),
    /// The credential cannot serve the upstream model.
    ModelUnsupported,
    /// The request is wrong.
    RequestInvalid,
    /// A transient failure of the path (5xx, transport, broken stream).
    Transient,
    /// A stream broke after bytes reached the client (transient for health, terminal
    /// for the request).
    Interrupted,
}

impl AnswerPlan {
    /// The answer on the wire at `now`, for an attempt that is streamed or not.
    pub(crate) fn response(&self, now: Instant, epoch_unix_s: u64, stream: bool) -> Response {
        let http = |status: u16, body: &str| Response::Http(HttpAnswer::new(status, body));
        match self {
            AnswerPlan::Ok => Response::Http(HttpAnswer::ok()),
            AnswerPlan::StreamBrokeBefore | AnswerPlan::StreamBrokeAfter if stream => {
                let progress = if matches!(self, AnswerPlan::StreamBrokeBefore) {
                    StreamProgress::BrokeBeforeFirstByte
                } else {
                    StreamProgress::BrokeAfterFirstByte
                };
                Response::Http(HttpAnswer {
                    stream: progress,
                    ..HttpAnswer::ok()
                })
            }
            AnswerPlan::StreamBrokeBefore | AnswerPlan::StreamBrokeAfter => {
                Response::Http(HttpAnswer::ok())
            }
            AnswerPlan::RateLimited(hint) => {
                let mut answer =
                    HttpAnswer::new(429, r#"{"error":{"code":"rate_limit_exceeded"}}"#);
                match hint {
                    RetryHint::Absent => {}
                    RetryHint::Seconds(s) => answer.retry_after = Some(s.to_string()),
                    RetryHint::HttpDate(s) => {
                        answer.retry_after =
                            Some(format_http_date(http_date_s(now, epoch_unix_s, *s)))
                    }
                    RetryHint::Millis(ms, half) => {
                        answer.retry_after_ms = Some(if *half {
                            format!("{ms}.5")
                        } else {
                            ms.to_string()
                        })
                    }
                    RetryHint::Both { ms, secs } => {
                        answer.retry_after_ms = Some(ms.to_string());
                        answer.retry_after = Some(secs.to_string());
                    }
                    RetryHint::Garbage => answer.retry_after = Some("soon".to_string()),
                }
                Response::Http(answer)
            }
            AnswerPlan::Unauthorized(status) => http(*status, r#"{"error":"unauthorized"}"#),
            AnswerPlan::InvalidKey { body, status } => {
                http(*status, body.get::<&str>(INVALID_KEY_BODIES))
            }
            AnswerPlan::ServerError(status) => http(*status, r#"{"error":"upstream overloaded"}"#),
            AnswerPlan::ModelUnsupported(400) => {
                http(400, r#"{"error":{"code":"model_not_supported"}}"#)
            }
            AnswerPlan::ModelUnsupported(status) => http(
                *status,
                "The model `x` does not exist or you do not have access to it.",
            ),
            AnswerPlan::RequestInvalid => http(400, r#"{"error":"messages: field required"}"#),
            AnswerPlan::Connect => Response::Transport(TransportError::Connect),
            AnswerPlan::Timeout => Response::Transport(TransportError::Timeout),
        }
    }

    /// What the answer means, written down from how it was worded (not from the core's
    /// classifier), at `now`.
    pub(crate) fn meaning(&self, now: Instant, epoch_unix_s: u64, stream: bool) -> Meaning {
        match self {
            AnswerPlan::Ok => Meaning::Success,
            AnswerPlan::StreamBrokeBefore if stream => Meaning::Transient,
            AnswerPlan::StreamBrokeAfter if stream => Meaning::Interrupted,
            AnswerPlan::StreamBrokeBefore | AnswerPlan::StreamBrokeAfter => Meaning::Success,
            AnswerPlan::RateLimited(hint) => Meaning::RateLimited(match hint {
                RetryHint::Absent | RetryHint::Garbage => None,
                RetryHint::Seconds(0) => None,
                RetryHint::Seconds(s) => Some(s.saturating_mul(1000)),
                RetryHint::HttpDate(s) => {
                    let now_unix_ms = epoch_unix_s * 1000 + now.as_ms();
                    Some(http_date_s(now, epoch_unix_s, *s) * 1000 - now_unix_ms)
                }
                RetryHint::Millis(0, false) => None,
                RetryHint::Millis(ms, half) => Some(ms + u64::from(*half)),
                RetryHint::Both { ms: 0, secs: 0 } => None,
                RetryHint::Both { ms: 0, secs } => Some(secs * 1000),
                RetryHint::Both { ms, .. } => Some(*ms),
            }),
            AnswerPlan::Unauthorized(_) | AnswerPlan::InvalidKey { .. } => Meaning::Auth,
            AnswerPlan::ServerError(_) | AnswerPlan::Connect | AnswerPlan::Timeout => {
                Meaning::Transient
            }
            AnswerPlan::ModelUnsupported(_) => Meaning::ModelUnsupported,
            AnswerPlan::RequestInvalid => Meaning::RequestInvalid,
        }
    }

    /// The status a BYOK client gets back for this answer (502 without an HTTP answer).
    pub(crate) fn client_status(&self, stream: bool) -> u16 {
        match self {
            AnswerPlan::Ok => 200,
            AnswerPlan::StreamBrokeBefore | AnswerPlan::StreamBrokeAfter if !stream => 200,
            AnswerPlan::StreamBrokeBefore => 502,
            AnswerPlan::StreamBrokeAfter => 200,
            AnswerPlan::RateLimited(_) => 429,
            AnswerPlan::Unauthorized(s)
            | AnswerPlan::InvalidKey { status: s, .. }
            | AnswerPlan::ServerError(s)
            | AnswerPlan::ModelUnsupported(s) => *s,
            AnswerPlan::RequestInvalid => 400,
            AnswerPlan::Connect | AnswerPlan::Timeout => 502,
        }
    }
}

/// The unix second an HTTP-date hint of `secs` from `now` names: rounded up, and at least
/// one second after the current one (an HTTP-date has whole seconds).
fn http_date_s(now: Instant, epoch_unix_s: u64, secs: u64) -> u64 {
    let now_unix_ms = epoch_unix_s * 1000 + now.as_ms();
    (now_unix_ms + secs.max(1) * 1000).div_ceil(1000)
}
