//! The fake providers over real HTTP: one listener per provider × region on 127.0.0.1,
//! each answering from the scenario's fault plan on the wall clock, in its style's wire
//! format, through the same sans-IO fakes the simulator uses (`gatesim_sim::provider`).
//!
//! The server is a small HTTP/1.1 loop of its own rather than a framework's: a fake must
//! break a stream after its first byte, drop a connection without a word, hang until the
//! gateway gives up, and notice when it does; those are the faults.

use crate::record::Log;
use crate::wire;
use gatesim_core::{
    fnv1a, Attempt, AttemptId, Instant, KeyId, ProviderId, RegionId, RequestId, RequestKind,
    Response, StreamProgress,
};
use gatesim_sim::history::{self, Line, Tag};
use gatesim_sim::provider::{Cause, FakeProvider};
use gatesim_sim::world::{Style, World};
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;

/// Longest a request head may be.
const HEAD_MAX: usize = 64 * 1024;
/// Largest request body read.
const BODY_MAX: usize = 8 * 1024 * 1024;
/// Longest a fake hangs on an attempt the gateway never gives up on.
const HANG_MAX: std::time::Duration = std::time::Duration::from_secs(60);

/// One listener: where a provider × region is served.
#[derive(Clone, Debug)]
pub struct Place {
    /// Provider.
    pub provider: ProviderId,
    /// Region.
    pub region: RegionId,
    /// The credential endpoint (base URL) it stands for; `None` = the provider's default.
    pub endpoint: Option<String>,
    /// Its wire format.
    pub style: Style,
    /// Where it listens.
    pub addr: SocketAddr,
}

/// The running fake providers of one run.
#[derive(Debug)]
pub struct Providers {
    /// Every listener.
    pub places: Vec<Place>,
    tasks: Vec<JoinHandle<()>>,
}

impl Drop for Providers {
    fn drop(&mut self) {
        for t in &self.tasks {
            t.abort();
        }
    }
}

/// What every connection of one place shares.
struct Shared {
    world: Arc<World>,
    place: (ProviderId, RegionId),
    endpoint: Option<String>,
    style: Style,
    /// One fake per provider × region, whichever endpoint an attempt came through.
    fake: Arc<Mutex<FakeProvider>>,
    tokens: Arc<BTreeMap<String, KeyId>>,
    log: Arc<Log>,
}

/// Binds one listener per provider × region and starts serving; `tokens` maps the run's
/// fake tokens to credentials.
pub async fn start(
    world: Arc<World>,
    seed: u64,
    tokens: Arc<BTreeMap<String, KeyId>>,
    log: Arc<Log>,
) -> std::io::Result<Providers> {
    let cat = &world.catalog;
    let owner = |k: KeyId| cat.credential(k).provider;
    let mut places = Vec::new();
    let mut tasks = Vec::new();
    for (pi, p) in cat.providers.iter().enumerate() {
        let provider = ProviderId(pi as u32);
        let spec = world.providers[pi].clone();
        for &region in &p.regions {
            let label = format!("provider/{}/{}", p.name, cat.region_name(region));
            let fake = FakeProvider::new(
                provider,
                region,
                spec.clone(),
                &world.faults.faults,
                &owner,
                gatesim_sim::seed::stream(seed, &label),
                cat.epoch_unix_s,
            );
            let fake = Arc::new(Mutex::new(fake));
            // The default endpoint, and one listener per credential endpoint of this
            // provider that may be sent here.
            let mut endpoints: Vec<Option<String>> = vec![None];
            for c in &cat.credentials {
                let here = c.provider == provider && c.region.is_none_or(|r| r == region);
                if let (true, Some(e)) = (here, &c.endpoint) {
                    if !endpoints.contains(&Some(e.clone())) {
                        endpoints.push(Some(e.clone()));
                    }
                }
            }
            for endpoint in endpoints {
                let listener = TcpListener::bind("127.0.0.1:0").await?;
                let addr = listener.local_addr()?;
                places.push(Place {
                    provider,
                    region,
                    endpoint: endpoint.clone(),
                    style: spec.style,
                    addr,
                });
                let shared = Arc::new(Shared {
                    world: world.clone(),
                    place: (provider, region),
                    endpoint,
                    style: spec.style,
                    fake: fake.clone(),
                    tokens: tokens.clone(),
                    log: log.clone(),
                });
                tasks.push(tokio::spawn(accept(listener, shared)));
            }
        }
    }
    Ok(Providers { places, tasks })
}

async fn accept(listener: TcpListener, shared: Arc<Shared>) {
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            continue;
        };
        let _ = stream.set_nodelay(true);
        tokio::spawn(connection(stream, shared.clone()));
    }
}

/// One parsed request.
struct Request {
    method: String,
    target: String,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

/// Reads one request; `None` when the peer closed or sent something that is no request.
async fn read_request(stream: &mut TcpStream, buf: &mut Vec<u8>) -> Option<Request> {
    let head_end = loop {
        if let Some(i) = find(buf, b"\r\n\r\n") {
            break i;
        }
        if buf.len() > HEAD_MAX {
            return None;
        }
        let mut chunk = [0u8; 8192];
        let n = stream.read(&mut chunk).await.ok()?;
        if n == 0 {
            return None;
        }
        buf.extend_from_slice(&chunk[..n]);
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).into_owned();
    let mut lines = head.split("\r\n");
    let request_line = lines.next()?;
    let mut parts = request_line.split(' ');
    let method = parts.next()?.to_string();
    let target = parts.next()?.to_string();
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_string()))
        .collect();
    let length: usize = headers
        .iter()
        .find(|(k, _)| k == "content-length")
        .and_then(|(_, v)| v.parse().ok())
        .unwrap_or(0);
    if length > BODY_MAX {
        return None;
    }
    let body_start = head_end + 4;
    while buf.len() < body_start + length {
        let mut chunk = [0u8; 8192];
        let n = stream.read(&mut chunk).await.ok()?;
        if n == 0 {
            return None;
        }
        buf.extend_from_slice(&chunk[..n]);
    }
    let body = buf[body_start..body_start + length].to_vec();
    buf.drain(..body_start + length);
    Some(Request {
        method,
        target,
        headers,
        body,
    })
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

/// An attempt's planned answer.
struct Due {
    /// When it is due, in scenario time.
    at: Instant,
    /// The attempt's number in the history.
    attempt: u64,
    response: Response,
    cause: Cause,
    /// The upstream model asked for.
    model: String,
    /// Streamed.
    stream: bool,
    /// Headers an `answer` fault scripts, sent verbatim instead of the Retry-After pair.
    headers: Vec<(String, String)>,
}

/// What to do with one request.
enum Plan {
    /// Answer an attempt as the fake planned.
    Answer(Due),
    /// Answer now, outside the history (a model list, or a request the harness cannot
    /// attribute).
    Direct { status: u16, body: String },
}

async fn connection(mut stream: TcpStream, shared: Arc<Shared>) {
    let mut buf = Vec::new();
    while let Some(req) = read_request(&mut stream, &mut buf).await {
        let plan = plan(&shared, &req);
        let keep = match plan {
            Plan::Direct { status, body } => {
                write_plain(&mut stream, status, &[], &body).await.is_ok()
            }
            Plan::Answer(due) => deliver(&mut stream, &mut buf, &shared, due).await,
        };
        if !keep {
            return;
        }
    }
}

/// Whose attempt this is: the credential its token maps to and the request its prompt
/// names; a refusal (outside the history) when either is missing.
fn attribute(shared: &Shared, got: &wire::Received) -> Result<(KeyId, u64), (u16, String)> {
    let (provider, region) = shared.place;
    let cat = &shared.world.catalog;
    let here = format!(
        "{}/{}",
        cat.provider(provider).name,
        cat.region_name(region)
    );
    let Some(credential) = got
        .token
        .as_ref()
        .and_then(|t| shared.tokens.get(t))
        .copied()
    else {
        shared.log.problem(format!(
            "{here}: an attempt carried no token of this run (answered 401, not in the history)"
        ));
        let body = r#"{"error":{"message":"gatesim: unknown token","code":"invalid_api_key"}}"#;
        return Err((401, body.to_string()));
    };
    let Some(tag) = wire::find_tag(&got.prompt) else {
        shared.log.problem(format!(
            "{here}: an attempt carried no `gatesim request N` tag (answered 400, not in the history)"
        ));
        let body = r#"{"error":{"message":"gatesim: no request tag in the prompt"}}"#;
        return Err((400, body.to_string()));
    };
    Ok((credential, tag))
}

/// The provider's model list, for a gateway that asks at startup (LiteLLM does, per
/// OpenAI-style deployment); no attempt, not in the history.
fn model_list(shared: &Shared) -> String {
    let (provider, region) = shared.place;
    let cat = &shared.world.catalog;
    let mut models: Vec<&str> = cat
        .models
        .iter()
        .flat_map(|m| m.served_by.iter())
        .filter(|s| s.provider == provider && s.region == region)
        .map(|s| s.upstream.as_str())
        .collect();
    models.sort_unstable();
    models.dedup();
    let v = match shared.style {
        Style::Google => serde_json::json!({
            "models": models.iter().map(|m| serde_json::json!({"name": format!("models/{m}")})).collect::<Vec<_>>(),
        }),
        Style::Anthropic => serde_json::json!({
            "data": models.iter().map(|m| serde_json::json!({"id": m, "type": "model"})).collect::<Vec<_>>(),
        }),
        Style::OpenAi | Style::Generic => serde_json::json!({
            "object": "list",
            "data": models.iter().map(|m| serde_json::json!({"id": m, "object": "model", "owned_by": "gatesim"})).collect::<Vec<_>>(),
        }),
    };
    v.to_string()
}

/// Reads the attempt, records it, and asks the fake what to answer.
fn plan(shared: &Shared, req: &Request) -> Plan {
    let path = req.target.split('?').next().unwrap_or_default();
    if req.method == "GET" && path.ends_with("/models") {
        return Plan::Direct {
            status: 200,
            body: model_list(shared),
        };
    }
    let header = |name: &str| {
        req.headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
    };
    let got = wire::receive(shared.style, &req.target, &header, &req.body);
    let (provider, region) = shared.place;
    let (credential, tag) = match attribute(shared, &got) {
        Ok(who) => who,
        Err((status, body)) => return Plan::Direct { status, body },
    };
    let upstream = got.model.clone().unwrap_or_default();
    let requested = shared.log.model_of(tag).unwrap_or_else(|| upstream.clone());
    let attempt_no = shared.log.next_attempt();
    let attempt = Attempt {
        id: AttemptId(attempt_no),
        request: RequestId(tag),
        iteration: 1,
        provider,
        region,
        scope: history::derive_scope(&shared.world, &requested, provider, region, &upstream),
        upstream: Arc::from(upstream.as_str()),
        selected: credential,
        credential,
        endpoint: shared.endpoint.as_deref().map(Arc::from),
        kind: RequestKind::Chat,
        stream: got.stream,
        body_bytes: u32::try_from(req.body.len()).unwrap_or(u32::MAX),
        body_digest: fnv1a(got.prompt.as_bytes()),
        charged: true,
    };
    // The fake decides under its lock at the time the attempt is recorded, so that fault
    // windows and the history agree on when it arrived.
    let mut fake = shared
        .fake
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    let mut planned = None;
    let now = shared.log.push(|t_ms| {
        let now = Instant(t_ms);
        fake.handle_dispatch(now, &attempt);
        planned = fake.poll_response();
        attempt_line(t_ms, &shared.world, &attempt)
    });
    drop(fake);
    let Some(p) = planned else {
        return Plan::Direct {
            status: 500,
            body: "gatesim: the fake planned no answer".to_string(),
        };
    };
    Plan::Answer(Due {
        at: p.at.max(now),
        attempt: attempt_no,
        response: p.response,
        cause: p.cause,
        model: upstream,
        stream: got.stream,
        headers: p.headers,
    })
}

/// The history line of an attempt as it arrived.
fn attempt_line(t_ms: u64, world: &World, a: &Attempt) -> Line {
    let cat = &world.catalog;
    Line::Attempt {
        t_ms,
        attempt: Tag::Number(a.id.0),
        request: Tag::Number(a.request.0),
        provider: cat.provider(a.provider).name.clone(),
        region: cat.region_name(a.region).to_string(),
        credential: cat.credential(a.credential).name.clone(),
        upstream: a.upstream.to_string(),
        endpoint: a.endpoint.as_deref().map(str::to_string),
        request_kind: "chat".to_string(),
        stream: a.stream,
        body_bytes: a.body_bytes,
        body_digest: Some(format!("{:016x}", a.body_digest)),
    }
}

/// Records the answer to `attempt` with `status` and `cause` at the time now.
fn answered(log: &Log, attempt: u64, status: u16, cause: Cause) {
    answered_stream(log, attempt, status, cause, None);
}

/// [`answered`] for a streamed answer that sends `bytes` of events.
fn answered_stream(log: &Log, attempt: u64, status: u16, cause: Cause, bytes: Option<u64>) {
    log.push(|t_ms| Line::Answer {
        t_ms,
        attempt: Tag::Number(attempt),
        status,
        cause: cause.name().to_string(),
        hint_ms: match cause {
            Cause::RateLimited { hint } => hint.map(gatesim_core::Duration::as_ms),
            _ => None,
        },
        stream_bytes: bytes,
    });
}

/// Waits until scenario time `at`; false when the gateway closed the connection first.
async fn wait_open(stream: &mut TcpStream, buf: &mut Vec<u8>, until: tokio::time::Instant) -> bool {
    let sleep = tokio::time::sleep_until(until);
    tokio::pin!(sleep);
    loop {
        let mut chunk = [0u8; 4096];
        tokio::select! {
            () = &mut sleep => return true,
            read = stream.read(&mut chunk) => match read {
                Ok(0) | Err(_) => return false,
                Ok(n) => buf.extend_from_slice(&chunk[..n]),
            },
        }
    }
}

/// Delivers a planned answer; whether the connection stays usable.
async fn deliver(stream: &mut TcpStream, buf: &mut Vec<u8>, shared: &Shared, due: Due) -> bool {
    let Due {
        at,
        attempt,
        response,
        cause,
        model,
        stream: streamed,
        headers: scripted,
    } = due;
    let log = &shared.log;
    let clock = log.clock();
    match response {
        Response::Transport(gatesim_core::TransportError::Connect) => {
            answered(log, attempt, 0, cause);
            false
        }
        Response::Transport(gatesim_core::TransportError::Timeout) => {
            let until = tokio::time::Instant::now() + HANG_MAX;
            let _ = wait_open(stream, buf, until).await;
            answered(log, attempt, 0, cause);
            false
        }
        Response::Http(answer) => {
            if !wait_open(stream, buf, clock.wall(at)).await {
                // The gateway gave up before the answer was due: too slow, whatever
                // the answer would have been.
                answered(log, attempt, 0, Cause::TooSlow);
                return false;
            }
            // A scripted answer's headers are all sent as written (its Retry-After pair
            // among them); the fakes' own answers send only their hint.
            let mut headers = scripted;
            if headers.is_empty() {
                if let Some(v) = &answer.retry_after {
                    headers.push(("retry-after".to_string(), v.clone()));
                }
                if let Some(v) = &answer.retry_after_ms {
                    headers.push(("retry-after-ms".to_string(), v.clone()));
                }
            }
            if answer.status != 200 || !streamed {
                answered(log, attempt, answer.status, cause);
            }
            if answer.status != 200 {
                return write_plain(stream, answer.status, &headers, &answer.body)
                    .await
                    .is_ok();
            }
            if !streamed {
                let body = wire::success_body(shared.style, &model, attempt);
                return write_plain(stream, 200, &headers, &body).await.is_ok();
            }
            let events = wire::success_events(shared.style, &model, attempt);
            let sent = match answer.stream {
                StreamProgress::Complete => events.len(),
                StreamProgress::BrokeAfterFirstByte => 1,
                StreamProgress::BrokeBeforeFirstByte => 0,
            };
            let complete = sent == events.len();
            let bytes = events[..sent].iter().map(|e| e.len() as u64).sum();
            answered_stream(log, attempt, 200, cause, Some(bytes));
            let ok = write_events(stream, &events[..sent], complete)
                .await
                .is_ok();
            ok && complete
        }
    }
}

fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        400 => "Bad Request",
        401 => "Unauthorized",
        402 => "Payment Required",
        403 => "Forbidden",
        404 => "Not Found",
        408 => "Request Timeout",
        409 => "Conflict",
        413 => "Content Too Large",
        422 => "Unprocessable Content",
        429 => "Too Many Requests",
        500 => "Internal Server Error",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        504 => "Gateway Timeout",
        _ => "Status",
    }
}

/// A complete answer with a body; `headers` come after the framing, and a
/// `content-type` among them replaces the default JSON one.
async fn write_plain(
    stream: &mut TcpStream,
    status: u16,
    headers: &[(String, String)],
    body: &str,
) -> std::io::Result<()> {
    let mut out = format!("HTTP/1.1 {status} {}\r\n", reason(status));
    if !headers
        .iter()
        .any(|(k, _)| k.eq_ignore_ascii_case("content-type"))
    {
        out.push_str("content-type: application/json\r\n");
    }
    out.push_str(&format!("content-length: {}\r\n", body.len()));
    for (k, v) in headers {
        out.push_str(&format!("{k}: {v}\r\n"));
    }
    out.push_str("\r\n");
    out.push_str(body);
    stream.write_all(out.as_bytes()).await?;
    stream.flush().await
}

/// A 200 event stream, chunked: `events` then, if `complete`, the end; otherwise the
/// connection is dropped after them, a stream broken before or after its first byte.
async fn write_events(
    stream: &mut TcpStream,
    events: &[String],
    complete: bool,
) -> std::io::Result<()> {
    let head = "HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ncache-control: no-cache\r\ntransfer-encoding: chunked\r\n\r\n";
    stream.write_all(head.as_bytes()).await?;
    stream.flush().await?;
    for e in events {
        let chunk = format!("{:x}\r\n{e}\r\n", e.len());
        stream.write_all(chunk.as_bytes()).await?;
        stream.flush().await?;
    }
    if complete {
        stream.write_all(b"0\r\n\r\n").await?;
        stream.flush().await?;
    } else {
        // Reset rather than a clean close: the reader must see the stream break.
        let _ = stream.shutdown().await;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// k0 answers a scripted 403 with headers of every kind; k1 is served.
    const SCENARIO: &str = r#"{ "version": 1, "id": "wire-answer", "regions": ["us"],
      "providers": [ { "id": "openai", "style": "openai", "regions": ["us"], "latency": { "fixed": "1ms" } } ],
      "models": [ { "id": "gpt-4o", "served_by": [ { "provider": "openai", "region": "us" } ] } ],
      "credentials": [ { "id": "k0", "provider": "openai", "source": "org" },
                       { "id": "k1", "provider": "openai", "source": "org" } ],
      "projects": [ { "id": "p1", "mode": "api-keys" } ],
      "faults": [ { "at": "0s", "kind": "answer", "means": "key_invalid", "credential": "k0",
                    "status": 403, "body": "key disabled",
                    "headers": { "Retry-After": "5", "x-ratelimit-reset": "7s",
                                 "content-type": "text/plain",
                                 "www-authenticate": "Bearer error=\"invalid_token\"" } } ] }"#;

    /// One request to `addr` with `token`: the answer's head and body.
    async fn exchange(addr: SocketAddr, token: &str, tag: u64) -> (String, String) {
        let body = wire::body(Style::OpenAi, "gpt-4o", &wire::prompt(tag), false);
        let request = format!(
            "POST /v1/chat/completions HTTP/1.1\r\nhost: fake\r\nauthorization: Bearer {token}\r\n\
             content-type: application/json\r\ncontent-length: {}\r\n\r\n{body}",
            body.len()
        );
        let mut stream = TcpStream::connect(addr).await.expect("the fake listens");
        stream
            .write_all(request.as_bytes())
            .await
            .expect("request sent");
        let mut buf = Vec::new();
        loop {
            let mut chunk = [0u8; 4096];
            let n = stream.read(&mut chunk).await.expect("an answer");
            assert!(n > 0, "closed early: {}", String::from_utf8_lossy(&buf));
            buf.extend_from_slice(&chunk[..n]);
            let text = String::from_utf8_lossy(&buf).into_owned();
            let Some((head, body)) = text.split_once("\r\n\r\n") else {
                continue;
            };
            let length: usize = head
                .lines()
                .find_map(|l| l.strip_prefix("content-length: "))
                .and_then(|v| v.parse().ok())
                .expect("a length");
            if body.len() >= length {
                return (head.to_string(), body.to_string());
            }
        }
    }

    #[tokio::test]
    async fn a_scripted_answer_sends_every_header_as_written() {
        let world = Arc::new(gatesim_sim::scenario::parse(SCENARIO).expect("the scenario loads"));
        let tokens = Arc::new(BTreeMap::from([
            ("tok-0".to_string(), KeyId(0)),
            ("tok-1".to_string(), KeyId(1)),
        ]));
        let log = Arc::new(Log::new());
        log.start();
        let providers = start(world, 1, tokens, log.clone())
            .await
            .expect("the fakes start");
        let addr = providers.places[0].addr;

        let (head, body) = exchange(addr, "tok-0", 0).await;
        let lines: Vec<&str> = head.lines().collect();
        assert_eq!(lines[0], "HTTP/1.1 403 Forbidden", "{head}");
        for header in [
            "Retry-After: 5",
            "x-ratelimit-reset: 7s",
            "content-type: text/plain",
            "www-authenticate: Bearer error=\"invalid_token\"",
            "content-length: 12",
        ] {
            assert!(lines.contains(&header), "{header} in:\n{head}");
        }
        assert_eq!(
            lines
                .iter()
                .filter(|l| l.to_ascii_lowercase().starts_with("content-type:"))
                .count(),
            1,
            "the scripted content-type replaces the default: {head}"
        );
        assert_eq!(body, "key disabled");

        let (head, _) = exchange(addr, "tok-1", 1).await;
        assert!(head.starts_with("HTTP/1.1 200 OK"), "{head}");
        assert!(!head.to_ascii_lowercase().contains("retry-after"), "{head}");
        let history = log.to_text("wire-answer", "test");
        assert!(
            history.contains(r#""status":403"#) && history.contains(r#""cause":"key_invalid""#),
            "{history}"
        );
    }
}
