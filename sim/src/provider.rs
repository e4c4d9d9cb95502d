//! Fake upstream providers, sans-IO and seeded: one per provider × region.
//!
//! A provider answers each dispatched attempt from the fault plan and its own seeded
//! stream, in the wording real providers use, and records the ground-truth [`Cause`] of
//! the answer. The invariant checker trusts causes, never the gateway's classification.

mod scripted;

use crate::world::{
    Fault, FaultKind, OutageMode, ProviderSpec, RetryStyle, Style, UnsupportedWording,
};
use gatesim_core::fnv1a;
use gatesim_core::format_http_date;
use gatesim_core::{
    Attempt, Duration, HttpAnswer, Instant, KeyId, ProviderId, RegionId, RequestId, RequestKind,
    Response, Scope, StreamProgress, TransportError,
};
use rand::Rng;
use rand_chacha::ChaCha8Rng;
pub use scripted::{conveyed, readable_retry_after, readable_retry_after_ms};
use std::collections::{BTreeMap, VecDeque};
use std::fmt;

/// Why a provider answered the way it did.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Cause {
    /// Served.
    Ok,
    /// The credential is invalid (any status, invalid-key wording).
    KeyInvalid,
    /// The credential was revoked (401/403).
    KeyRevoked,
    /// Over the rate limit; `hint` is what the Retry-After header conveys, if any.
    RateLimited {
        /// The conveyed hint.
        hint: Option<Duration>,
    },
    /// The credential cannot serve the upstream model.
    ModelUnsupported,
    /// The request shape is rejected by every provider.
    RequestInvalid,
    /// A transient fault of the provider: a 5xx, or an answer that means `upstream_error`.
    ServerError,
    /// Unreachable: connection failed.
    OutageConnect,
    /// Unreachable: no answer (the gateway times out).
    OutageTimeout,
    /// Answer slower than the gateway's attempt timeout.
    TooSlow,
    /// A stream broke before its first byte.
    StreamBreakBefore,
    /// A stream broke after bytes reached the client.
    StreamBreakAfter,
}

impl Cause {
    /// Stable lowercase name.
    pub fn name(self) -> &'static str {
        match self {
            Cause::Ok => "ok",
            Cause::KeyInvalid => "key_invalid",
            Cause::KeyRevoked => "key_revoked",
            Cause::RateLimited { .. } => "rate_limited",
            Cause::ModelUnsupported => "model_unsupported",
            Cause::RequestInvalid => "request_invalid",
            Cause::ServerError => "server_error",
            Cause::OutageConnect => "outage_connect",
            Cause::OutageTimeout => "outage_timeout",
            Cause::TooSlow => "too_slow",
            Cause::StreamBreakBefore => "stream_break_before",
            Cause::StreamBreakAfter => "stream_break_after",
        }
    }
    /// An auth failure of the credential.
    pub fn is_auth(self) -> bool {
        matches!(self, Cause::KeyInvalid | Cause::KeyRevoked)
    }
    /// A failure that counts against the path's health (transient, consecutive-error kind).
    pub fn is_transient(self) -> bool {
        matches!(
            self,
            Cause::ServerError
                | Cause::OutageConnect
                | Cause::OutageTimeout
                | Cause::TooSlow
                | Cause::StreamBreakBefore
                | Cause::StreamBreakAfter
        )
    }
}

impl fmt::Display for Cause {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Cause::RateLimited { hint: Some(h) } => write!(f, "rate_limited(hint {h})"),
            other => f.write_str(other.name()),
        }
    }
}

/// An answer the provider will deliver.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Planned {
    /// The attempt answered.
    pub attempt: gatesim_core::AttemptId,
    /// When the answer reaches the gateway.
    pub at: Instant,
    /// The raw answer.
    pub response: Response,
    /// Why.
    pub cause: Cause,
    /// The headers an `answer` fault scripts, as written: over HTTP they are sent
    /// verbatim; in process the gateway reads only the Retry-After pair, which
    /// `response` carries (empty for every other answer).
    pub headers: Vec<(String, String)>,
}

#[derive(Clone, Copy, Debug, Default)]
struct Bucket {
    milli_tokens: u64,
    refilled_at: Instant,
    primed: bool,
}

/// A fake provider for one provider × region.
#[derive(Debug)]
pub struct FakeProvider {
    provider: ProviderId,
    region: RegionId,
    spec: ProviderSpec,
    faults: Vec<Fault>,
    rng: ChaCha8Rng,
    buckets: BTreeMap<(usize, KeyId, Scope), Bucket>,
    epoch_unix_s: u64,
    ready: VecDeque<Planned>,
}

impl FakeProvider {
    /// A provider that answers from `faults` (only the ones about it are kept).
    pub fn new(
        provider: ProviderId,
        region: RegionId,
        spec: ProviderSpec,
        faults: &[Fault],
        credential_provider: &dyn Fn(KeyId) -> ProviderId,
        rng: ChaCha8Rng,
        epoch_unix_s: u64,
    ) -> FakeProvider {
        let mine = |f: &Fault| match &f.kind {
            FaultKind::KeyInvalid { credential, .. }
            | FaultKind::KeyRevoked { credential, .. }
            | FaultKind::RateLimit { credential, .. }
            | FaultKind::ModelUnsupported { credential, .. } => {
                credential_provider(*credential) == provider
            }
            FaultKind::ServerErrors {
                provider: p,
                region: r,
                ..
            }
            | FaultKind::LatencySpike {
                provider: p,
                region: r,
                ..
            }
            | FaultKind::StreamBreak {
                provider: p,
                region: r,
                ..
            } => *p == provider && r.is_none_or(|r| r == region),
            FaultKind::RegionOutage {
                provider: p,
                region: r,
                ..
            } => *p == provider && *r == region,
            FaultKind::ModelWithdrawn { provider: p, .. } => *p == provider,
            FaultKind::RequestInvalid { .. } => true,
            FaultKind::Answer(x) => {
                let of = x.provider.or_else(|| x.credential.map(credential_provider));
                of == Some(provider) && x.region.is_none_or(|r| r == region)
            }
        };
        FakeProvider {
            provider,
            region,
            spec,
            faults: faults.iter().filter(|f| mine(f)).cloned().collect(),
            rng,
            buckets: BTreeMap::new(),
            epoch_unix_s,
            ready: VecDeque::new(),
        }
    }

    /// The provider × region it serves.
    pub fn place(&self) -> (ProviderId, RegionId) {
        (self.provider, self.region)
    }

    /// Receives an attempt at `now`; its answer comes out of [`poll_response`](Self::poll_response).
    pub fn handle_dispatch(&mut self, now: Instant, attempt: &Attempt) {
        let planned = self.answer(now, attempt);
        self.ready.push_back(planned);
    }

    /// The next planned answer (with the instant it reaches the gateway).
    #[must_use]
    pub fn poll_response(&mut self) -> Option<Planned> {
        self.ready.pop_front()
    }

    /// The earliest delivery among planned answers not yet polled.
    #[must_use]
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.ready.iter().map(|p| p.at).min()
    }

    fn active(&self, now: Instant) -> impl Iterator<Item = (usize, &Fault)> {
        self.faults
            .iter()
            .enumerate()
            .filter(move |(_, f)| f.active(now))
    }

    fn answer(&mut self, now: Instant, a: &Attempt) -> Planned {
        let latency = self.latency(now);
        let at = now + latency;
        let plan = |response, cause| Planned {
            attempt: a.id,
            at,
            response,
            cause,
            headers: Vec::new(),
        };
        let style = self.spec.style;
        let Standing {
            outage,
            auth,
            invalid_request,
            unsupported,
        } = self.standing(now, a);
        if let Some(mode) = outage {
            return unreachable(a, now, mode);
        }
        // A scripted answer comes before every other fault but an outage: it is what the
        // scenario says this provider answers.
        if let Some(s) = self.scripted(now, at, a) {
            return Planned {
                headers: s.headers,
                ..plan(s.response, s.cause)
            };
        }
        if let Some((status, body, cause)) = auth {
            return plan(Response::Http(HttpAnswer::new(status, body)), cause);
        }
        if invalid_request {
            return plan(
                Response::Http(HttpAnswer::new(400, invalid_request_body(style))),
                Cause::RequestInvalid,
            );
        }
        if a.kind == RequestKind::CountTokens {
            // Token counting spends no rate-limited quota and checks no model support.
            return plan(Response::Http(HttpAnswer::ok()), Cause::Ok);
        }
        if let Some((status, body, wording)) = unsupported {
            let body = body.unwrap_or_else(|| model_unsupported_body(style, wording, &a.upstream));
            return plan(
                Response::Http(HttpAnswer::new(status, body)),
                Cause::ModelUnsupported,
            );
        }
        if let Some(hint) = self.rate_limited(now, at, a) {
            let (answer, conveyed) = self.rate_limit_answer(at, hint);
            return plan(
                Response::Http(answer),
                Cause::RateLimited { hint: conveyed },
            );
        }
        if let Some((response, cause)) = self.drawn_failure(now, a) {
            return plan(response, cause);
        }
        plan(Response::Http(HttpAnswer::ok()), Cause::Ok)
    }

    /// What the active faults say about an attempt before any draw: outage, auth
    /// failure, invalid request, unsupported model.
    fn standing(&self, now: Instant, a: &Attempt) -> Standing {
        let key = a.credential;
        let style = self.spec.style;
        let mut outage = None;
        let mut auth = None;
        let mut invalid_request = false;
        let mut unsupported = None;
        for (_, f) in self.active(now) {
            match &f.kind {
                FaultKind::RegionOutage { mode, .. } => outage = Some(*mode),
                FaultKind::KeyRevoked { credential, status } if *credential == key => {
                    auth.get_or_insert((*status, revoked_body(style), Cause::KeyRevoked));
                }
                FaultKind::KeyInvalid {
                    credential,
                    status,
                    body,
                } if *credential == key => {
                    let body = body.clone().unwrap_or_else(|| invalid_key_body(style, a));
                    auth.get_or_insert((*status, body, Cause::KeyInvalid));
                }
                FaultKind::RequestInvalid { rate_bp } => {
                    invalid_request |= request_draw(a.request) < u64::from(*rate_bp);
                }
                FaultKind::ModelUnsupported {
                    credential,
                    upstream,
                    status,
                    body,
                    wording,
                } if *credential == key && **upstream == *a.upstream => {
                    unsupported.get_or_insert((*status, body.clone(), *wording));
                }
                FaultKind::ModelWithdrawn { upstream, .. } if **upstream == *a.upstream => {
                    unsupported.get_or_insert((400, None, UnsupportedWording::Style));
                }
                _ => {}
            }
        }
        Standing {
            outage,
            auth,
            invalid_request,
            unsupported,
        }
    }

    /// A failure left to chance (server errors, broken streams), drawn from the
    /// provider's stream in that order.
    fn drawn_failure(&mut self, now: Instant, a: &Attempt) -> Option<(Response, Cause)> {
        let key = a.credential;
        let server_error = self.active(now).find_map(|(_, f)| match f.kind {
            FaultKind::ServerErrors {
                rate_bp, status, ..
            } => Some((rate_bp, status)),
            _ => None,
        });
        if let Some((rate_bp, status)) = server_error {
            if self.rng.random_range(0..10_000) < rate_bp {
                return Some((
                    Response::Http(HttpAnswer::new(status, server_error_body())),
                    Cause::ServerError,
                ));
            }
        }
        if a.stream {
            let broken = self.active(now).find_map(|(_, f)| match f.kind {
                FaultKind::StreamBreak {
                    credential,
                    after_first_byte,
                    rate_bp,
                    ..
                } if credential.is_none_or(|c| c == key) => Some((after_first_byte, rate_bp)),
                _ => None,
            });
            if let Some((after, rate_bp)) = broken {
                if self.rng.random_range(0..10_000) < rate_bp {
                    let mut answer = HttpAnswer::ok();
                    answer.stream = if after {
                        StreamProgress::BrokeAfterFirstByte
                    } else {
                        StreamProgress::BrokeBeforeFirstByte
                    };
                    let cause = if after {
                        Cause::StreamBreakAfter
                    } else {
                        Cause::StreamBreakBefore
                    };
                    return Some((Response::Http(answer), cause));
                }
            }
        }
        None
    }

    /// Whether the attempt is over a token bucket; the hint to send if so.
    fn rate_limited(
        &mut self,
        now: Instant,
        at: Instant,
        a: &Attempt,
    ) -> Option<(Option<Duration>, RetryStyle)> {
        let mut limited = None;
        for (i, f) in self.faults.iter().enumerate() {
            if !f.active(now) {
                continue;
            }
            let FaultKind::RateLimit {
                credential,
                model,
                capacity_per_min,
                retry_after,
                style,
            } = &f.kind
            else {
                continue;
            };
            if *credential != a.credential {
                continue;
            }
            if model
                .as_deref()
                .is_some_and(|m| Scope::of(m) != a.scope && *m != *a.upstream)
            {
                continue;
            }
            let bucket = self.buckets.entry((i, a.credential, a.scope)).or_default();
            let capacity = u64::from(*capacity_per_min) * 1000;
            if !bucket.primed {
                *bucket = Bucket {
                    milli_tokens: capacity,
                    refilled_at: now,
                    primed: true,
                };
            }
            // Refill: capacity per minute, continuously.
            let elapsed = now.saturating_since(bucket.refilled_at).as_ms();
            bucket.milli_tokens = (bucket.milli_tokens + elapsed * capacity / 60_000).min(capacity);
            bucket.refilled_at = now;
            if bucket.milli_tokens >= 1000 {
                bucket.milli_tokens -= 1000;
                continue;
            }
            // Without a fixed hint: the time until the bucket holds a token again, or, for a
            // zero-capacity bucket, until the fault ends.
            let refill = ((1000 - bucket.milli_tokens) * 60_000).checked_div(capacity);
            let hint = retry_after.or_else(|| match refill {
                Some(ms) => Some(Duration::from_ms(ms + 1)),
                None => f
                    .until
                    .map(|u| u.saturating_since(at))
                    .filter(|d| d.as_ms() > 0),
            });
            limited.get_or_insert((hint, *style));
        }
        limited
    }

    /// The 429 answer in the fault's style, and the hint its headers convey to a correct parser.
    fn rate_limit_answer(
        &self,
        at: Instant,
        (hint, style): (Option<Duration>, RetryStyle),
    ) -> (HttpAnswer, Option<Duration>) {
        let mut answer = HttpAnswer::new(429, rate_limit_body());
        let Some(hint) = hint else {
            return (answer, None);
        };
        let conveyed = match style {
            RetryStyle::None => None,
            RetryStyle::Seconds => {
                let secs = hint.as_secs_ceil().max(1);
                answer.retry_after = Some(secs.to_string());
                Some(Duration::from_secs(secs))
            }
            RetryStyle::Millis => {
                answer.retry_after_ms = Some(format!("{}.0", hint.as_ms().max(1)));
                Some(Duration::from_ms(hint.as_ms().max(1)))
            }
            RetryStyle::HttpDate => {
                let now_ms = self.epoch_unix_s * 1000 + at.as_ms();
                let date_s = (now_ms + hint.as_ms())
                    .div_ceil(1000)
                    .max(now_ms / 1000 + 1);
                answer.retry_after = Some(format_http_date(date_s));
                Some(Duration::from_ms(date_s * 1000 - now_ms))
            }
        };
        (answer, conveyed)
    }

    /// Latency: the fixed latency, or half the answers under p50, 49 % between p50 and
    /// p99, 1 % above p99; plus every latency spike in force.
    fn latency(&mut self, now: Instant) -> Duration {
        let base = match self.spec.latency_fixed {
            Some(fixed) => fixed.as_ms(),
            None => self.latency_draw(),
        };
        let extra: u64 = self
            .active(now)
            .filter_map(|(_, f)| match f.kind {
                FaultKind::LatencySpike { extra, .. } => Some(extra.as_ms()),
                _ => None,
            })
            .sum();
        Duration::from_ms(base + extra)
    }

    /// A latency around p50 and p99 (no fixed latency): half the answers under p50,
    /// 49 % between p50 and p99, 1 % above p99.
    fn latency_draw(&mut self) -> u64 {
        let p50 = self.spec.latency_p50.as_ms().max(1);
        let p99 = self.spec.latency_p99.as_ms().max(p50);
        let roll = self.rng.random_range(0..100u32);
        match roll {
            0..50 => self.rng.random_range(p50 / 2..=p50),
            50..99 => self.rng.random_range(p50..=p99),
            _ => self.rng.random_range(p99..=p99 * 2),
        }
    }
}

/// The answer of a provider × region in an outage: a refused connection, or none in time.
fn unreachable(a: &Attempt, now: Instant, mode: OutageMode) -> Planned {
    let (after, error, cause) = match mode {
        OutageMode::Connect => (
            Duration::from_ms(20),
            TransportError::Connect,
            Cause::OutageConnect,
        ),
        // Never answers in time: the gateway's attempt timer fires first.
        OutageMode::Timeout => (
            Duration::from_secs(3600),
            TransportError::Timeout,
            Cause::OutageTimeout,
        ),
    };
    Planned {
        attempt: a.id,
        at: now + after,
        response: Response::Transport(error),
        cause,
        headers: Vec::new(),
    }
}

/// Whether a request is drawn malformed by a `request_invalid` fault: the same for every
/// provider and attempt, since the request shape is what is wrong.
pub fn request_draw(request: RequestId) -> u64 {
    fnv1a(&request.0.to_le_bytes()) % 10_000
}

fn invalid_key_body(style: Style, a: &Attempt) -> String {
    match style {
        Style::Google => r#"{"error":{"code":400,"message":"API key not valid. Please pass a valid API key.","status":"INVALID_ARGUMENT"}}"#.to_string(),
        Style::OpenAi => format!(
            r#"{{"error":{{"message":"Incorrect API key provided: {}. You can find your API key at https://platform.openai.com/account/api-keys.","type":"invalid_request_error","param":null,"code":"invalid_api_key"}}}}"#,
            redacted(a.credential)
        ),
        Style::Anthropic => r#"{"type":"error","error":{"type":"authentication_error","message":"invalid x-api-key"}}"#.to_string(),
        Style::Generic => r#"{"error":{"message":"Invalid API-key provided.","type":"invalid_request_error","code":"invalid_api_key"}}"#.to_string(),
    }
}

fn redacted(key: KeyId) -> String {
    format!("sk-…{:04x}", fnv1a(&key.0.to_le_bytes()) & 0xffff)
}

/// What the active faults say about one attempt before anything is drawn.
struct Standing {
    outage: Option<OutageMode>,
    /// Status, body and cause of an auth failure (the first fault that says so).
    auth: Option<(u16, String, Cause)>,
    invalid_request: bool,
    /// Status, body and wording of a model-support failure (`None` body: the wording).
    unsupported: Option<(u16, Option<String>, UnsupportedWording)>,
}

fn revoked_body(style: Style) -> String {
    match style {
        Style::Anthropic => r#"{"type":"error","error":{"type":"permission_error","message":"Your API key has been disabled."}}"#.to_string(),
        _ => r#"{"error":{"message":"This API key has been revoked.","type":"authentication_error"}}"#.to_string(),
    }
}

/// A model-support error body: one of the production model-not-available wordings, or
/// the style's own.
fn model_unsupported_body(style: Style, wording: UnsupportedWording, upstream: &str) -> String {
    match wording {
        UnsupportedWording::Style => {}
        // llmgateway's pattern, as OpenAI-compatible servers (Ollama, vLLM) word it.
        UnsupportedWording::UnknownModel => return format!("unknown model: {upstream}"),
        UnsupportedWording::AzureDeployment => {
            return format!(
                r#"{{"error":{{"code":"DeploymentNotFound","message":"We could not find an existing deployment to match the model {upstream}. If you created the deployment within the last 5 minutes, please wait a moment and try again."}}}}"#
            )
        }
        UnsupportedWording::NotFound => return "Not Found".to_owned(),
    }
    match style {
        Style::OpenAi => format!(
            r#"{{"error":{{"message":"The model `{upstream}` does not exist or you do not have access to it.","type":"invalid_request_error","code":"model_not_found"}}}}"#
        ),
        Style::Google => format!(
            r#"{{"error":{{"code":400,"message":"The requested model is not supported: models/{upstream}","status":"INVALID_ARGUMENT"}}}}"#
        ),
        Style::Anthropic => format!(
            r#"{{"type":"error","error":{{"type":"invalid_request_error","message":"model_not_supported: {upstream}"}}}}"#
        ),
        Style::Generic => format!(
            r#"{{"error":{{"code":"model_not_supported","message":"Model {upstream}: model not supported for this account"}}}}"#
        ),
    }
}

fn invalid_request_body(style: Style) -> String {
    match style {
        Style::Google => r#"{"error":{"code":400,"message":"Invalid JSON payload received. Unknown name \"mesages\": Cannot find field.","status":"INVALID_ARGUMENT"}}"#.to_string(),
        _ => r#"{"error":{"message":"'messages' must be a non-empty array.","type":"invalid_request_error","param":"messages","code":null}}"#.to_string(),
    }
}

fn rate_limit_body() -> String {
    r#"{"error":{"message":"Rate limit reached for requests. Please try again later.","type":"requests","code":"rate_limit_exceeded"}}"#.to_string()
}

fn server_error_body() -> String {
    r#"{"error":{"message":"The server had an error while processing your request. Sorry about that!","type":"server_error"}}"#.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use gatesim_core::{classify, Class, Policy};

    /// Every wording the fake providers can send, with every status it may come with, is
    /// what the reference gateway classifies as a model-support error: the scenario's
    /// ground truth (`Cause::ModelUnsupported`) and the wording agree.
    #[test]
    fn every_model_unsupported_wording_reads_as_model_support() {
        let policy = Policy::reference();
        let styles = [
            Style::OpenAi,
            Style::Google,
            Style::Anthropic,
            Style::Generic,
        ];
        for style in styles {
            for wording in UnsupportedWording::ALL {
                let body = model_unsupported_body(style, wording, "gpt-4o");
                for status in wording.statuses() {
                    let answer = Response::Http(HttpAnswer::new(*status, body.clone()));
                    let class = classify(&answer, RequestKind::Chat, &policy, 0, Instant::ZERO);
                    assert_eq!(
                        class,
                        Class::ModelUnsupported,
                        "{style:?} {} {status}: {body}",
                        wording.name()
                    );
                }
            }
        }
    }

    #[test]
    fn wordings_name_the_upstream_where_real_providers_do() {
        let body = |w| model_unsupported_body(Style::OpenAi, w, "gpt-4o");
        assert_eq!(
            body(UnsupportedWording::UnknownModel),
            "unknown model: gpt-4o"
        );
        assert!(body(UnsupportedWording::AzureDeployment)
            .contains("could not find an existing deployment to match the model gpt-4o"));
        assert!(body(UnsupportedWording::AzureDeployment).contains("DeploymentNotFound"));
        assert_eq!(body(UnsupportedWording::NotFound), "Not Found");
    }
}
