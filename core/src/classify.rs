//! Raw upstream answer → failure class, and Retry-After parsing.
//!
//! Classification reads status, headers and the error body: production providers answer a
//! bad key with HTTP 400 (Google) and a missing model with 400/404/422, so status alone
//! misleads.

use crate::event::RequestKind;
use crate::policy::{
    Forbidden, InvalidKeyBodies, ModelSupport, Policy, Regression, RetryAfterForms,
};
use crate::response::{HttpAnswer, Response, StreamProgress, TransportError};
use crate::time::{Duration, Instant};
use std::fmt;

/// What an upstream answer means for routing and health.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Class {
    /// The attempt succeeded.
    Success,
    /// The credential is not valid (401, 403, or an invalid-key body on any 4xx).
    Auth,
    /// Rate-limited (429); the hint is the parsed, capped Retry-After.
    RateLimited {
        /// Parsed Retry-After, if usable.
        retry_after: Option<Duration>,
    },
    /// The (credential, upstream model) cannot serve this model: fall back, suspend the path.
    ModelUnsupported,
    /// The request itself is wrong: terminal, passed to the client unchanged.
    RequestInvalid,
    /// A 5xx or other upstream fault.
    Transient,
    /// No connection.
    Network,
    /// No answer in time.
    Timeout,
    /// A stream broke after bytes reached the client.
    StreamInterrupted,
}

impl Class {
    /// Stable lowercase name.
    pub fn name(self) -> &'static str {
        match self {
            Class::Success => "success",
            Class::Auth => "auth",
            Class::RateLimited { .. } => "rate_limited",
            Class::ModelUnsupported => "model_unsupported",
            Class::RequestInvalid => "request_invalid",
            Class::Transient => "transient",
            Class::Network => "network",
            Class::Timeout => "timeout",
            Class::StreamInterrupted => "stream_interrupted",
        }
    }

    /// Whether this is an error of the upstream path (counted in health and uptime).
    /// Request-invalid answers are the client's fault and never count as downtime.
    pub fn is_upstream_failure(self) -> bool {
        !matches!(self, Class::Success | Class::RequestInvalid)
    }
}

impl fmt::Display for Class {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Class::RateLimited {
                retry_after: Some(d),
            } => write!(f, "rate_limited(retry {d})"),
            other => f.write_str(other.name()),
        }
    }
}

/// Body fragments (lowercase) that mark an invalid credential on any 4xx.
/// llmgateway `provider-auth-errors.ts`; OpenAI's structured code.
const INVALID_KEY_TEXT: &[&str] = &[
    "api key not valid",
    "api key not found",
    "please pass a valid api key",
    // Anthropic's shape; CLIProxyAPI treats `authentication_error` as a credential fault
    // whatever the status (DeepSeek answers it with 401, proxies with 400).
    "invalid x-api-key",
    "authentication_error",
];
/// The structured shapes the `invalid-key-code` incident found slipping past.
const INVALID_KEY_CODE: &[&str] = &["invalid_api_key", "incorrect api key provided"];

/// Body fragments (lowercase) that mark a model-support error on 400, 404 or 422 (CLIProxyAPI).
const MODEL_SUPPORT: &[&str] = &[
    "model_not_supported",
    "model is not supported",
    "model not supported",
    "unsupported model",
    "model unavailable",
    "requested model is unavailable",
    "does not exist or you do not have access",
    "not available for your plan",
    "not available for your account",
];

/// Body fragments (lowercase) of the model-not-available wordings that llmgateway's
/// `getFinishReasonFromError` sends to fallback: a model-support error on 400, 404 or 422.
const MODEL_NOT_AVAILABLE: &[&str] = &[
    // OpenAI-compatible servers (Ollama, vLLM, proxies).
    "unknown model",
    // Azure OpenAI's DeploymentNotFound: the deployment named for the model is not there.
    "could not find an existing deployment to match the model",
    "deploymentnotfound",
];

/// Body fragments (lowercase) of a 404 about something the request itself names (a stored
/// response or item), not the model: the request is wrong, wherever it is sent
/// (CLIProxyAPI's request-scoped 404s).
const REQUEST_SCOPED_NOT_FOUND: &[&str] = &["previous_response_not_found", "not persisted"];

/// Classifies an upstream answer to an attempt of a request of kind `kind`.
///
/// `epoch_unix_s` anchors HTTP-date `Retry-After` values: `now` is that many ms after it.
pub fn classify(
    response: &Response,
    kind: RequestKind,
    policy: &Policy,
    epoch_unix_s: u64,
    now: Instant,
) -> Class {
    let class = match response {
        Response::Transport(TransportError::Connect) => Class::Network,
        Response::Transport(TransportError::Timeout) => Class::Timeout,
        Response::Http(answer) => classify_http(answer, kind, policy, epoch_unix_s, now),
    };
    match class {
        // Passed on as it is, the key unmarked (aibridge).
        Class::Transient | Class::Network | Class::Timeout if !policy.upstream_errors_fail_over => {
            Class::RequestInvalid
        }
        class => class,
    }
}

fn classify_http(
    answer: &HttpAnswer,
    kind: RequestKind,
    policy: &Policy,
    epoch_unix_s: u64,
    now: Instant,
) -> Class {
    let status = answer.status;
    if (200..300).contains(&status) {
        return match answer.stream {
            StreamProgress::Complete => Class::Success,
            // Nothing reached the client yet: a connection-level failure, fallback-eligible.
            StreamProgress::BrokeBeforeFirstByte => Class::Network,
            StreamProgress::BrokeAfterFirstByte => Class::StreamInterrupted,
        };
    }
    if status == 429 {
        let retry_after = parse_retry_after_forms(
            answer,
            policy.retry_after_forms,
            (epoch_unix_s, now),
            policy.hint_cap(),
        );
        return Class::RateLimited { retry_after };
    }
    if status == 401 {
        return Class::Auth;
    }
    if status == 403 {
        // Not a key failure: the request's own answer, passed on (aibridge, LiteLLM).
        return match policy.forbidden {
            Forbidden::KeyFailure | Forbidden::NextKey => Class::Auth,
            Forbidden::PassedOn => Class::RequestInvalid,
        };
    }
    let body = answer.body.to_ascii_lowercase();
    if (400..500).contains(&status) && is_invalid_key_body(&body, policy) {
        if status == 400 && policy.has(Regression::InvalidKey400IsRequestError) {
            return Class::RequestInvalid;
        }
        return Class::Auth;
    }
    let unmatched = policy.has(Regression::ModelNotAvailableUnmatched);
    let model_support = MODEL_SUPPORT.iter().any(|p| body.contains(p))
        || (!unmatched && MODEL_NOT_AVAILABLE.iter().any(|p| body.contains(p)));
    if status == 400 || status == 422 {
        if model_support {
            return model_unsupported(policy);
        }
        return Class::RequestInvalid;
    }
    if status == 404 && !unmatched {
        if REQUEST_SCOPED_NOT_FOUND.iter().any(|p| body.contains(p)) {
            return Class::RequestInvalid;
        }
        // A chat completion names nothing but the model: a 404 for it, worded or bare
        // ("Not Found"), says the model or deployment is not there for this credential.
        // Other routes may name a missing path, so only the wording counts there.
        if model_support || kind == RequestKind::Chat {
            return model_unsupported(policy);
        }
    }
    if status == 409 || status == 413 {
        return Class::RequestInvalid;
    }
    Class::Transient
}

/// A model-support error: fallback-eligible, unless `ModelSupportIsTerminal` puts back
/// the bug of treating it as the request's fault.
fn model_unsupported(policy: &Policy) -> Class {
    if policy.has(Regression::ModelSupportIsTerminal)
        || policy.model_support == ModelSupport::Terminal
    {
        Class::RequestInvalid
    } else {
        Class::ModelUnsupported
    }
}

fn is_invalid_key_body(lower_body: &str, policy: &Policy) -> bool {
    if policy.invalid_key_bodies == InvalidKeyBodies::None {
        return false;
    }
    if INVALID_KEY_TEXT.iter().any(|p| lower_body.contains(p)) {
        return true;
    }
    policy.invalid_key_bodies == InvalidKeyBodies::Any
        && !policy.has(Regression::InvalidKeyCodeUnmatched)
        && INVALID_KEY_CODE.iter().any(|p| lower_body.contains(p))
}

/// Parses the retry hint of a 429: `retry-after-ms` (fractional ms) first, then
/// `Retry-After` as delta-seconds or an IMF-fixdate HTTP-date relative to the scenario's
/// wall-clock epoch. Zero, negative, past or garbage values are ignored; the result is
/// capped at `cap` so a bogus hint cannot lock a credential for days.
pub(crate) fn parse_retry_after(
    answer: &HttpAnswer,
    epoch_unix_s: u64,
    now: Instant,
    cap: Duration,
) -> Option<Duration> {
    parse_retry_after_forms(answer, RetryAfterForms::ALL, (epoch_unix_s, now), cap)
}

/// [`parse_retry_after`] reading only the forms in `forms`: an unread form is as good
/// as absent (aibridge's `ParseRetryAfter` reads no HTTP-date, llmgateway no hint at all).
pub(crate) fn parse_retry_after_forms(
    answer: &HttpAnswer,
    forms: RetryAfterForms,
    (epoch_unix_s, now): (u64, Instant),
    cap: Duration,
) -> Option<Duration> {
    let ms = answer
        .retry_after_ms
        .as_deref()
        .filter(|_| forms.ms)
        .and_then(parse_fractional_ms)
        .or_else(|| {
            let value = answer.retry_after.as_deref()?.trim();
            parse_delta_seconds(value)
                .filter(|_| forms.seconds)
                .or_else(|| {
                    let at_unix_s = parse_http_date(value).filter(|_| forms.http_date)?;
                    let now_unix_ms = epoch_unix_s.checked_mul(1000)?.checked_add(now.as_ms())?;
                    let at_unix_ms = at_unix_s.checked_mul(1000)?;
                    at_unix_ms.checked_sub(now_unix_ms).filter(|d| *d > 0)
                })
        })?;
    Some(Duration(ms.min(cap.as_ms())))
}

fn parse_fractional_ms(text: &str) -> Option<u64> {
    let text = text.trim();
    let (int, frac) = text.split_once('.').unwrap_or((text, ""));
    if int.is_empty() && frac.is_empty() {
        return None;
    }
    let digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
    if !digits(int) || !digits(frac) {
        return None;
    }
    // Saturate absurdly long values instead of failing: the cap applies after.
    let whole = if int.is_empty() {
        0
    } else {
        int.parse::<u64>().unwrap_or(u64::MAX)
    };
    let rounded_up = whole.saturating_add(u64::from(frac.bytes().any(|b| b != b'0')));
    (rounded_up > 0).then_some(rounded_up)
}

fn parse_delta_seconds(text: &str) -> Option<u64> {
    if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let secs = text.parse::<u64>().unwrap_or(u64::MAX);
    (secs > 0).then(|| secs.saturating_mul(1000))
}

/// Parses an IMF-fixdate (`Sun, 06 Nov 1994 08:49:37 GMT`) into unix seconds.
fn parse_http_date(text: &str) -> Option<u64> {
    let rest = text.split_once(", ")?.1;
    let mut parts = rest.split(' ');
    let day: u64 = parts.next()?.parse().ok()?;
    let month = match parts.next()? {
        "Jan" => 1,
        "Feb" => 2,
        "Mar" => 3,
        "Apr" => 4,
        "May" => 5,
        "Jun" => 6,
        "Jul" => 7,
        "Aug" => 8,
        "Sep" => 9,
        "Oct" => 10,
        "Nov" => 11,
        "Dec" => 12,
        _ => return None,
    };
    let year: u64 = parts.next()?.parse().ok()?;
    let mut hms = parts.next()?.split(':');
    let (h, m, s): (u64, u64, u64) = (
        hms.next()?.parse().ok()?,
        hms.next()?.parse().ok()?,
        hms.next()?.parse().ok()?,
    );
    if parts.next()? != "GMT" || parts.next().is_some() || hms.next().is_some() {
        return None;
    }
    let leap = year.is_multiple_of(4) && (!year.is_multiple_of(100) || year.is_multiple_of(400));
    let days_in_month = match month {
        2 if leap => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    };
    if !(1..=days_in_month).contains(&day) || year < 1970 || h > 23 || m > 59 || s > 60 {
        return None;
    }
    let days = days_from_civil(year, month, day);
    Some(days * 86_400 + h * 3600 + m * 60 + s)
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm).
fn days_from_civil(year: u64, month: u64, day: u64) -> u64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y / 400;
    let yoe = y - era * 400;
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// Formats unix seconds as an IMF-fixdate (used by fake providers for HTTP-date hints).
pub fn format_http_date(unix_s: u64) -> String {
    let days = unix_s / 86_400;
    let secs = unix_s % 86_400;
    // Inverse of days_from_civil.
    let z = days + 719_468;
    let era = z / 146_097;
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + u64::from(month <= 2);
    const WEEKDAYS: [&str; 7] = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"];
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    format!(
        "{}, {:02} {} {} {:02}:{:02}:{:02} GMT",
        WEEKDAYS[(days % 7) as usize],
        day,
        MONTHS[(month - 1) as usize],
        year,
        secs / 3600,
        secs % 3600 / 60,
        secs % 60
    )
}

#[cfg(test)]
mod tests;
