//! Histories: what a black-box harness records of a run, as JSON lines, and the run the
//! checker judges rebuilt from them.
//!
//! A history holds only what crosses the wire: the client's requests and the answers it
//! got, and the attempts the fake providers received with the answers they gave and why
//! (ground truth). Nothing the gateway reports about itself is in it. The fields a trace's
//! attempts carry from inside the gateway (agentic iteration, health scope, the credential
//! routing selected, whether the attempt was charged to the budget) and the kind of each
//! client answer are derived here from the wire alone; fault edges come from the
//! scenario's fault plan, which the harness drove. The format is documented in
//! `docs/history.md`; `gatesim run --history FILE` writes one, `gatesim check-history`
//! judges one, whoever recorded it.

use crate::check::{self, Invariant, Violation};
use crate::provider::Cause;
use crate::recorder::{FinalState, Run};
use crate::trace::{Arrival, Names, Record, Trace};
use crate::world::World;
use gatesim_core::{
    Attempt, AttemptId, ClientResponse, Duration, Instant, Outcome, ProviderId, RegionId,
    RequestId, RequestKind, Scope, StreamError,
};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::Arc;

/// The history format's version: the `version` of the header line.
pub const HISTORY_VERSION: u32 = 1;

/// A history that cannot be read or does not fit its scenario: the line and what is wrong.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("history line {line}: {message}")]
pub struct HistoryError {
    /// 1-based line number (0: the history as a whole).
    pub line: usize,
    /// What is wrong, naming the field.
    pub message: String,
}

/// A line naming a request no earlier line sent.
fn unknown_request(line: usize, request: &Tag) -> HistoryError {
    err(
        line,
        format!("request: {request:?} has no request line before it"),
    )
}

fn err(line: usize, message: impl Into<String>) -> HistoryError {
    HistoryError {
        line,
        message: message.into(),
    }
}

/// A request or attempt tag: whatever the harness numbered it with.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Tag {
    /// A number.
    Number(u64),
    /// A string.
    Text(String),
}

/// The first line: which scenario this is a history of.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Header {
    /// Always `"history"`.
    #[serde(rename = "type")]
    pub kind: String,
    /// [`HISTORY_VERSION`].
    pub version: u32,
    /// The scenario id the history was recorded under.
    pub scenario: String,
    /// The seed, for in-process runs (a wall-clock run has none that replays it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seed: Option<u64>,
    /// Which gateway was driven (free text).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gateway: Option<String>,
    /// For a history recorded on a wall clock: how far its times may be from the
    /// gateway's own (a pause this short is latency, not a wait; a Retry-After computed
    /// this much earlier is exact). Absent: 0, exact times.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub slack_ms: Option<u64>,
}

/// A client answer's in-stream error (the 200 was already sent).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InStream {
    /// The status the error carries.
    pub status: u16,
    /// The Retry-After it carries, in whole seconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retry_after_s: Option<u64>,
}

/// One recorded fact, with the milliseconds since the run started.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum Line {
    /// A client request left the client.
    Request {
        /// Milliseconds since the start.
        t_ms: u64,
        /// The harness's tag for it.
        request: Tag,
        /// Project (tenant) label.
        project: String,
        /// The model as the client named it.
        model: String,
        /// `chat`, `count_tokens` or `passthrough`.
        #[serde(default = "chat")]
        request_kind: String,
        /// Streamed.
        #[serde(default)]
        stream: bool,
        /// The user's own credential label, for BYOK requests.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        byok: Option<String>,
        /// Agentic iterations the client drives (1 = a plain request).
        #[serde(default = "one")]
        iterations: u32,
        /// Digest of the body as hex (any digest, the same function for attempts).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        body_digest: Option<String>,
    },
    /// A fake provider received an attempt.
    Attempt {
        /// Milliseconds since the start.
        t_ms: u64,
        /// The harness's tag for it.
        attempt: Tag,
        /// The request it serves (the tag the harness put in the body).
        request: Tag,
        /// Provider label.
        provider: String,
        /// Region label.
        region: String,
        /// The credential label the received token maps to.
        credential: String,
        /// The upstream model asked for.
        upstream: String,
        /// The endpoint (base URL label) it arrived at; absent = the provider's default.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        endpoint: Option<String>,
        /// `chat`, `count_tokens` or `passthrough`.
        #[serde(default = "chat")]
        request_kind: String,
        /// Streamed.
        #[serde(default)]
        stream: bool,
        /// Body bytes received.
        #[serde(default)]
        body_bytes: u32,
        /// Digest of the body received, as hex.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        body_digest: Option<String>,
    },
    /// The fake provider answered an attempt (or the gateway gave up on it).
    Answer {
        /// Milliseconds since the start.
        t_ms: u64,
        /// The attempt's tag.
        attempt: Tag,
        /// HTTP status (0 when no HTTP answer).
        status: u16,
        /// Ground truth: why the provider answered so (`ok`, `rate_limited`, ...).
        cause: String,
        /// For `rate_limited`: the wait the answer's Retry-After conveys.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        hint_ms: Option<u64>,
        /// For a streamed answer: the bytes of the event stream the provider sent before
        /// it ended or broke. Recorded for reading; not judged (the cause says whether the
        /// stream broke, and before or after its first byte).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        stream_bytes: Option<u64>,
    },
    /// The client got its answer.
    Response {
        /// Milliseconds since the start.
        t_ms: u64,
        /// The request's tag.
        request: Tag,
        /// HTTP status.
        status: u16,
        /// The Retry-After header, in whole seconds.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        retry_after_s: Option<u64>,
        /// An error relayed inside a stream whose 200 was already sent.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        stream_error: Option<InStream>,
    },
    /// The client went away before its answer.
    Cancel {
        /// Milliseconds since the start.
        t_ms: u64,
        /// The request's tag.
        request: Tag,
    },
}

fn chat() -> String {
    "chat".to_string()
}

fn one() -> u32 {
    1
}

impl Line {
    fn t_ms(&self) -> u64 {
        match self {
            Line::Request { t_ms, .. }
            | Line::Attempt { t_ms, .. }
            | Line::Answer { t_ms, .. }
            | Line::Response { t_ms, .. }
            | Line::Cancel { t_ms, .. } => *t_ms,
        }
    }
}

/// A parsed history.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct History {
    /// The header.
    pub header: Header,
    /// The records, in file order (time order), with their line numbers.
    pub lines: Vec<(usize, Line)>,
}

impl History {
    /// The harness's request tags in arrival order: request `req#N` of a verdict is
    /// the tag at index N.
    pub fn request_tags(&self) -> Vec<&Tag> {
        self.lines
            .iter()
            .filter_map(|(_, l)| match l {
                Line::Request { request, .. } => Some(request),
                Line::Attempt { .. }
                | Line::Answer { .. }
                | Line::Response { .. }
                | Line::Cancel { .. } => None,
            })
            .collect()
    }
}

impl std::fmt::Display for Tag {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Tag::Number(n) => write!(f, "{n}"),
            Tag::Text(t) => write!(f, "{t:?}"),
        }
    }
}

/// Reads a history from JSON lines (blank lines are allowed).
pub fn parse(text: &str) -> Result<History, HistoryError> {
    let mut header = None;
    let mut lines = Vec::new();
    let mut last_t = 0;
    for (i, raw) in text.lines().enumerate() {
        let n = i + 1;
        if raw.trim().is_empty() {
            continue;
        }
        if header.is_none() {
            let h: Header = serde_json::from_str(raw)
                .map_err(|e| err(n, format!("the header line does not parse: {e}")))?;
            if h.kind != "history" {
                return Err(err(
                    n,
                    format!("type: expected \"history\", got {:?}", h.kind),
                ));
            }
            if h.version != HISTORY_VERSION {
                return Err(err(
                    n,
                    format!(
                        "version: {} is not supported (this gatesim reads version {HISTORY_VERSION})",
                        h.version
                    ),
                ));
            }
            header = Some(h);
            continue;
        }
        let line: Line = serde_json::from_str(raw).map_err(|e| err(n, e.to_string()))?;
        let t = line.t_ms();
        if t < last_t {
            return Err(err(
                n,
                format!("t_ms: {t} is earlier than the line before ({last_t}); records come in time order"),
            ));
        }
        last_t = t;
        lines.push((n, line));
    }
    let header = header.ok_or_else(|| err(0, "empty: no header line"))?;
    Ok(History { header, lines })
}

/// The history of an in-process run: the outside records of its trace, with none of the
/// fields the gateway decides (the trace must have been recorded).
pub fn write(world: &World, run: &Run, gateway: &str) -> String {
    let header = Header {
        kind: "history".to_string(),
        version: HISTORY_VERSION,
        scenario: world.id.clone(),
        seed: Some(run.seed),
        gateway: Some(gateway.to_string()),
        slack_ms: None,
    };
    let crossed = run
        .trace
        .entries
        .iter()
        .filter_map(|e| line_of(e, &run.names, &world.catalog));
    let cancels = run.final_state.cancelled.iter().map(|r| Line::Cancel {
        t_ms: run.ended_at.as_ms(),
        request: Tag::Number(r.0),
    });
    render(&header, crossed.chain(cancels))
}

/// A history as JSON lines: the header, then each line.
pub fn render(
    header: &Header,
    lines: impl IntoIterator<Item = impl std::borrow::Borrow<Line>>,
) -> String {
    let mut out = String::new();
    push_json(&mut out, header);
    for line in lines {
        push_json(&mut out, line.borrow());
    }
    out
}

/// A run judged as its history would be: written as a harness would record it, read back
/// (every gateway-side field derived from the wire again) and judged from outside.
pub fn check_written(
    world: &World,
    run: &Run,
    gateway: &str,
) -> Result<Vec<Violation>, HistoryError> {
    let h = parse(&write(world, run, gateway))?;
    check(world, &h)
}

/// The invariants `world` breaks at `seed` judged from outside, through the history a
/// harness would write for `gateway` ([`check_written`]): named, sorted, each once.
pub fn broken_outside(
    world: &World,
    seed: u64,
    gateway: &str,
) -> Result<Vec<&'static str>, String> {
    let run = crate::engine::run(world, crate::engine::RunOptions { seed, record: true })
        .map_err(|e| e.to_string())?;
    let mut names: Vec<&'static str> = check_written(world, &run, gateway)
        .map_err(|e| e.to_string())?
        .iter()
        .map(|v| v.invariant.name())
        .collect();
    names.sort_unstable();
    names.dedup();
    Ok(names)
}

/// The history line of a trace record, if it crossed the wire (fault edges are the plan's,
/// so a history leaves them out).
fn line_of(e: &crate::trace::Entry, names: &Names, cat: &gatesim_core::Catalog) -> Option<Line> {
    let digest = |d: u64| Some(format!("{d:016x}"));
    let t_ms = e.at.as_ms();
    let line = match &e.record {
        Record::Arrived(a) => Line::Request {
            t_ms,
            request: Tag::Number(a.request.0),
            project: cat.project(a.project).name.clone(),
            model: a.model.clone(),
            request_kind: a.kind.name().to_string(),
            stream: a.stream,
            byok: a.byok.map(|k| names.key(k).to_string()),
            iterations: a.iterations,
            body_digest: digest(a.body_digest),
        },
        Record::Dispatched(a) => Line::Attempt {
            t_ms,
            attempt: Tag::Number(a.id.0),
            request: Tag::Number(a.request.0),
            provider: cat.provider(a.provider).name.clone(),
            region: cat.region_name(a.region).to_string(),
            credential: names.key(a.credential).to_string(),
            upstream: a.upstream.to_string(),
            endpoint: a.endpoint.as_deref().map(str::to_string),
            request_kind: a.kind.name().to_string(),
            stream: a.stream,
            body_bytes: a.body_bytes,
            body_digest: digest(a.body_digest),
        },
        Record::Answered {
            attempt,
            status,
            cause,
        } => Line::Answer {
            t_ms,
            attempt: Tag::Number(attempt.0),
            status: *status,
            cause: cause.name().to_string(),
            hint_ms: match cause {
                Cause::RateLimited { hint } => hint.map(Duration::as_ms),
                _ => None,
            },
            stream_bytes: None,
        },
        Record::Responded { request, response } => Line::Response {
            t_ms,
            request: Tag::Number(request.0),
            status: response.status,
            retry_after_s: response.retry_after_s,
            stream_error: response.stream_error.map(|e| InStream {
                status: e.status,
                retry_after_s: e.retry_after_s,
            }),
        },
        Record::Core(_) | Record::Tracked { .. } | Record::FaultEdge { .. } => return None,
    };
    Some(line)
}

fn push_json<T: Serialize>(out: &mut String, value: &T) {
    // Serializing these plain structs cannot fail (no maps with non-string keys).
    if let Ok(text) = serde_json::to_string(value) {
        out.push_str(&text);
    }
    out.push('\n');
}

/// Judges a history against its scenario with the invariants decidable from outside.
pub fn check(world: &World, history: &History) -> Result<Vec<Violation>, HistoryError> {
    let run = to_run(world, history)?;
    let slack = Duration::from_ms(history.header.slack_ms.unwrap_or(0));
    Ok(check::check_outside_with(world.terms(), &run, slack))
}

/// A history's verdict as text: what was recorded, the invariants judged, the result.
pub fn verdict(world: &World, h: &History, violations: &[Violation]) -> String {
    let mut out = String::new();
    let count = |f: fn(&Line) -> bool| h.lines.iter().filter(|(_, l)| f(l)).count();
    let requests = count(|l| matches!(l, Line::Request { .. }));
    let answered = count(|l| matches!(l, Line::Response { .. }));
    let attempts = count(|l| matches!(l, Line::Attempt { .. }));
    let gateway = h.header.gateway.as_deref().unwrap_or("a gateway");
    let _ = writeln!(
        out,
        "== {} (history of {gateway}): {}",
        world.id, world.title
    );
    let _ = writeln!(
        out,
        "   {requests} requests, {answered} answered, {attempts} attempts upstream"
    );
    let judged: Vec<Invariant> = Invariant::ALL
        .iter()
        .copied()
        .filter(|i| i.outside().is_ok())
        .collect();
    let _ = writeln!(
        out,
        "   judged from outside: {} of {} invariants (the rest need the gateway's own reports: docs/history.md)",
        judged.len(),
        Invariant::ALL.len()
    );
    if violations.is_empty() {
        let _ = writeln!(out, "-- invariants: all {} hold", judged.len());
    } else {
        let mut failed: Vec<&str> = violations.iter().map(|v| v.invariant.name()).collect();
        failed.sort_unstable();
        failed.dedup();
        let _ = writeln!(
            out,
            "-- invariants: {} violated ({} violations): {}",
            failed.len(),
            violations.len(),
            failed.join(", ")
        );
        for v in violations {
            let _ = writeln!(out, "   {v}");
        }
        // Requests are numbered in arrival order; name the harness's own tags where
        // they differ.
        let tags = h.request_tags();
        let mut named: Vec<u64> = violations
            .iter()
            .filter_map(|v| v.request)
            .map(|r| r.0)
            .collect();
        named.sort_unstable();
        named.dedup();
        for r in named {
            let tag = usize::try_from(r).ok().and_then(|i| tags.get(i));
            if let Some(tag) = tag.filter(|t| **t != &Tag::Number(r)) {
                let _ = writeln!(out, "   req#{r} is the history's request {tag}");
            }
        }
    }
    let _ = writeln!(
        out,
        "{}",
        if violations.is_empty() {
            "PASS"
        } else {
            "FAIL"
        }
    );
    out
}

fn parse_kind(line: usize, field: &str, text: &str) -> Result<RequestKind, HistoryError> {
    match text {
        "chat" => Ok(RequestKind::Chat),
        "count_tokens" => Ok(RequestKind::CountTokens),
        "passthrough" => Ok(RequestKind::Passthrough),
        other => Err(err(
            line,
            format!("{field}: unknown request kind {other:?} (chat, count_tokens, passthrough)"),
        )),
    }
}

fn parse_digest(line: usize, field: &str, text: Option<&str>) -> Result<u64, HistoryError> {
    let Some(text) = text else { return Ok(0) };
    if text.is_empty() || text.len() > 16 {
        return Err(err(
            line,
            format!("{field}: {text:?} is not 1 to 16 hex digits"),
        ));
    }
    u64::from_str_radix(text, 16).map_err(|_| err(line, format!("{field}: {text:?} is not hex")))
}

fn parse_cause(line: usize, text: &str, hint_ms: Option<u64>) -> Result<Cause, HistoryError> {
    let cause = match text {
        "ok" => Cause::Ok,
        "key_invalid" => Cause::KeyInvalid,
        "key_revoked" => Cause::KeyRevoked,
        "rate_limited" => Cause::RateLimited {
            hint: hint_ms.map(Duration::from_ms),
        },
        "model_unsupported" => Cause::ModelUnsupported,
        "request_invalid" => Cause::RequestInvalid,
        "server_error" => Cause::ServerError,
        "outage_connect" => Cause::OutageConnect,
        "outage_timeout" => Cause::OutageTimeout,
        "too_slow" => Cause::TooSlow,
        "stream_break_before" => Cause::StreamBreakBefore,
        "stream_break_after" => Cause::StreamBreakAfter,
        other => {
            return Err(err(
                line,
                format!(
                    "cause: unknown cause {other:?} (ok, key_invalid, key_revoked, rate_limited, \
                     model_unsupported, request_invalid, server_error, outage_connect, \
                     outage_timeout, too_slow, stream_break_before, stream_break_after)"
                ),
            ))
        }
    };
    if hint_ms.is_some() && !matches!(cause, Cause::RateLimited { .. }) {
        return Err(err(
            line,
            "hint_ms: only a rate_limited answer conveys a hint",
        ));
    }
    Ok(cause)
}

/// What a client answer is, read off the wire: the status the failure carries (the
/// in-stream error's under a 200 already sent). 429 is a transient exhaustion, another 4xx
/// a rejected request passed on, 200 a success (a stream that broke after its first byte
/// shows as a 200 too; the checker treats both as served), anything else a failure.
pub fn outcome_from_wire(status: u16, stream_error: Option<StreamError>) -> Outcome {
    let status = stream_error.map_or(status, |e| e.status);
    match status {
        200..=299 => Outcome::Success,
        429 => Outcome::ExhaustedTransient,
        400..=499 => Outcome::RequestInvalid,
        _ => Outcome::UpstreamFailed,
    }
}

/// A request as the rebuilder tracks it.
struct Seen {
    id: RequestId,
    model: String,
    iteration: u32,
    places: Vec<(ProviderId, RegionId)>,
    attempts: u32,
    answered: bool,
}

/// The scope an attempt's health is kept under, from what the provider received: the
/// canonical model that the requested name resolves to and that this provider, region and
/// upstream serve; a custom name otherwise.
pub fn derive_scope(
    world: &World,
    requested: &str,
    provider: ProviderId,
    region: RegionId,
    upstream: &str,
) -> Scope {
    let cat = &world.catalog;
    let serves = |m: &gatesim_core::Model| {
        m.served_by
            .iter()
            .any(|s| s.provider == provider && s.region == region && s.upstream == upstream)
    };
    let name = requested
        .split_once('/')
        .filter(|(p, _)| cat.provider_by_name(p).is_some())
        .map_or(requested, |(_, m)| m);
    if let Some(m) = cat.model_by_name(name) {
        let model = cat.model(m);
        if serves(model) {
            return Scope::of(&model.name);
        }
        for member in &model.alias_of {
            let member = cat.model(*member);
            if serves(member) {
                return Scope::of(&member.name);
            }
        }
    }
    cat.models
        .iter()
        .find(|m| !m.is_alias() && serves(m))
        .map_or_else(|| Scope::of(upstream), |m| Scope::of(&m.name))
}

/// The run a history stands for, as the outside checker reads runs: every field derived
/// from the wire, fault edges from the plan, no gateway reports.
// One arm per record kind, each resolving its labels: clearer whole than split.
#[allow(clippy::too_many_lines)]
pub fn to_run(world: &World, history: &History) -> Result<Run, HistoryError> {
    if history.header.scenario != world.id {
        return Err(err(
            1,
            format!(
                "scenario: the history is of {:?}, not of {:?}",
                history.header.scenario, world.id
            ),
        ));
    }
    let cat = &world.catalog;
    let mut names = Names::new(world);
    let mut requests: BTreeMap<Tag, Seen> = BTreeMap::new();
    let mut attempts: BTreeMap<Tag, (AttemptId, Tag, bool)> = BTreeMap::new();
    let mut records: Vec<(Instant, Record)> = Vec::new();
    let mut responses = Vec::new();
    let mut arrivals = Vec::new();
    let mut cancelled = Vec::new();
    let mut ended = 0;
    let label = |line: usize, field: &str, what: &str, found: Option<u32>, name: &str| {
        found.ok_or_else(|| err(line, format!("{field}: no {what} {name:?} in the scenario")))
    };
    for (n, line) in &history.lines {
        let n = *n;
        let at = Instant(line.t_ms());
        ended = ended.max(line.t_ms());
        match line {
            Line::Request {
                request,
                project,
                model,
                request_kind,
                stream,
                byok,
                iterations,
                body_digest,
                ..
            } => {
                if requests.contains_key(request) {
                    return Err(err(n, format!("request: {request:?} arrived twice")));
                }
                let project = cat.project_by_name(project).ok_or_else(|| {
                    err(
                        n,
                        format!("project: no project {project:?} in the scenario"),
                    )
                })?;
                let byok = match byok {
                    Some(b) => Some(cat.credential_by_name(b).ok_or_else(|| {
                        err(n, format!("byok: no credential {b:?} in the scenario"))
                    })?),
                    None => None,
                };
                if *iterations == 0 {
                    return Err(err(n, "iterations: at least 1"));
                }
                let id = RequestId(requests.len() as u64);
                names.learn(model);
                requests.insert(
                    request.clone(),
                    Seen {
                        id,
                        model: model.clone(),
                        iteration: 1,
                        places: Vec::new(),
                        attempts: 0,
                        answered: false,
                    },
                );
                arrivals.push(at);
                records.push((
                    at,
                    Record::Arrived(Arrival {
                        request: id,
                        project,
                        model: model.clone(),
                        kind: parse_kind(n, "request_kind", request_kind)?,
                        stream: *stream,
                        byok,
                        iterations: *iterations,
                        body_digest: parse_digest(n, "body_digest", body_digest.as_deref())?,
                    }),
                ));
            }
            Line::Attempt {
                attempt,
                request,
                provider,
                region,
                credential,
                upstream,
                endpoint,
                request_kind,
                stream,
                body_bytes,
                body_digest,
                ..
            } => {
                let seen = requests
                    .get_mut(request)
                    .ok_or_else(|| unknown_request(n, request))?;
                if seen.answered {
                    return Err(err(n, format!("request: {request:?} was already answered")));
                }
                if attempts.contains_key(attempt) {
                    return Err(err(n, format!("attempt: {attempt:?} was sent twice")));
                }
                let p = ProviderId(label(
                    n,
                    "provider",
                    "provider",
                    cat.provider_by_name(provider).map(|p| p.0),
                    provider,
                )?);
                let r = RegionId(label(
                    n,
                    "region",
                    "region",
                    cat.region_by_name(region).map(|r| r.0),
                    region,
                )?);
                let k = cat.credential_by_name(credential).ok_or_else(|| {
                    err(
                        n,
                        format!("credential: no credential {credential:?} in the scenario"),
                    )
                })?;
                let charged = !seen.places.contains(&(p, r));
                if charged {
                    seen.places.push((p, r));
                }
                seen.attempts += 1;
                let id = AttemptId(attempts.len() as u64);
                attempts.insert(attempt.clone(), (id, request.clone(), false));
                names.learn(upstream);
                records.push((
                    at,
                    Record::Dispatched(Attempt {
                        id,
                        request: seen.id,
                        iteration: seen.iteration,
                        provider: p,
                        region: r,
                        scope: derive_scope(world, &seen.model, p, r, upstream),
                        upstream: Arc::from(upstream.as_str()),
                        selected: k,
                        credential: k,
                        endpoint: endpoint.as_deref().map(Arc::from),
                        kind: parse_kind(n, "request_kind", request_kind)?,
                        stream: *stream,
                        body_bytes: *body_bytes,
                        body_digest: parse_digest(n, "body_digest", body_digest.as_deref())?,
                        charged,
                    }),
                ));
            }
            Line::Answer {
                attempt,
                status,
                cause,
                hint_ms,
                ..
            } => {
                let (id, request, answered) = attempts.get_mut(attempt).ok_or_else(|| {
                    err(
                        n,
                        format!("attempt: {attempt:?} has no attempt line before it"),
                    )
                })?;
                if *answered {
                    return Err(err(n, format!("attempt: {attempt:?} was answered twice")));
                }
                *answered = true;
                let cause = parse_cause(n, cause, *hint_ms)?;
                // A served answer ends an agentic iteration: the next attempt is the next
                // call of the loop, on a fresh walk.
                if cause == Cause::Ok {
                    if let Some(seen) = requests.get_mut(request) {
                        seen.iteration += 1;
                        seen.places.clear();
                    }
                }
                records.push((
                    at,
                    Record::Answered {
                        attempt: *id,
                        status: *status,
                        cause,
                    },
                ));
            }
            Line::Response {
                request,
                status,
                retry_after_s,
                stream_error,
                ..
            } => {
                let seen = requests
                    .get_mut(request)
                    .ok_or_else(|| unknown_request(n, request))?;
                if seen.answered {
                    return Err(err(n, format!("request: {request:?} was answered twice")));
                }
                seen.answered = true;
                let stream_error = stream_error.map(|e| StreamError {
                    status: e.status,
                    retry_after_s: e.retry_after_s,
                });
                let response = ClientResponse {
                    status: *status,
                    retry_after_s: *retry_after_s,
                    stream_error,
                    outcome: outcome_from_wire(*status, stream_error),
                    hint_key: None,
                    hint: None,
                    attempts: seen.attempts,
                };
                responses.push((seen.id, at, response.clone()));
                records.push((
                    at,
                    Record::Responded {
                        request: seen.id,
                        response,
                    },
                ));
            }
            Line::Cancel { request, .. } => {
                let seen = requests
                    .get(request)
                    .ok_or_else(|| unknown_request(n, request))?;
                cancelled.push(seen.id);
            }
        }
    }
    let ended_at = Instant(ended);
    let mut trace = Trace::default();
    let mut edges = fault_edges(world, ended_at).into_iter().peekable();
    for (at, record) in records {
        // A fault edge at the same millisecond as a record comes first, as in the engine,
        // whose fault edges are queued before everything else.
        while let Some((edge_at, fault, started)) = edges.next_if(|(t, _, _)| *t <= at) {
            trace.push(edge_at, Record::FaultEdge { fault, started });
        }
        trace.push(at, record);
    }
    for (edge_at, fault, started) in edges {
        trace.push(edge_at, Record::FaultEdge { fault, started });
    }
    let attempts_count = attempts.len() as u64;
    Ok(Run {
        seed: history.header.seed.unwrap_or(world.seed),
        trace,
        names,
        final_state: FinalState {
            cancelled,
            ..FinalState::default()
        },
        responses,
        arrivals,
        attempts: attempts_count,
        steps: history.lines.len() as u64,
        ended_at,
    })
}

/// The plan's fault edges up to `end`, in the engine's order: by time, then plan order
/// with each start before its end.
fn fault_edges(world: &World, end: Instant) -> Vec<(Instant, usize, bool)> {
    let mut edges = Vec::new();
    for (i, f) in world.faults.faults.iter().enumerate() {
        edges.push((f.at, 2 * i, i, true));
        if let Some(until) = f.until {
            edges.push((until, 2 * i + 1, i, false));
        }
    }
    edges.sort_unstable();
    edges
        .into_iter()
        .filter(|(at, ..)| *at <= end)
        .map(|(at, _, i, started)| (at, i, started))
        .collect()
}

#[cfg(test)]
mod tests;
