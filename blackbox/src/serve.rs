//! `gatesim serve`: gatesim's own core inside a real HTTP gateway, the reference that
//! black-box mode drives first.
//!
//! An OpenAI-compatible `POST /v1/chat/completions` (JSON or an event stream) and
//! `GET /health`. Each client request is submitted to the sans-IO core; the core's
//! dispatches become HTTP calls to the upstreams the world file names (one pooled client,
//! connections reused), in each provider's wire format; its timers run on the wall clock,
//! mapped to core `Instant`s in milliseconds since the server started. Tokens come only
//! from the world file and are never printed.

use crate::record::Clock;
use crate::wire;
use crate::world_file::WorldFile;
use bytes::Bytes;
use gatesim_core::{
    fnv1a, Action, Attempt, AttemptId, ClientResponse, Gateway, HttpAnswer, KeyId, Outcome,
    ProjectId, ProviderId, RegionId, Regression, Request, RequestId, RequestKind, Response,
    StreamProgress, TimerReason, TransportError,
};
use gatesim_sim::world::Style;
use http_body_util::{combinators::BoxBody, BodyExt, Full};
use hyper::body::{Frame, Incoming};
use hyper_util::client::legacy::Client;
use hyper_util::rt::{TokioExecutor, TokioIo};
use std::collections::BTreeMap;
use std::convert::Infallible;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, MutexGuard};
use tokio::sync::{mpsc, oneshot, Notify};
use tokio::task::AbortHandle;

/// `gatesim serve` arguments.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The world file a black-box run writes (where the providers listen, the run's
    /// tokens, the projects' client keys): docs/blackbox.md.
    #[arg(long)]
    pub world: PathBuf,
    /// Put a production bug back (knob name or incident id), for self-tests; repeatable.
    #[arg(long = "regression")]
    pub regressions: Vec<String>,
    /// Serve under a peer's rules instead of the scenario's policy (`presets/NAME.json`):
    /// the engine half of `gatesim blackbox --fidelity`, over HTTP.
    #[arg(long)]
    pub preset: Option<String>,
}

type Body = BoxBody<Bytes, std::io::Error>;
type Upstreams = Client<hyper_util::client::legacy::connect::HttpConnector, Full<Bytes>>;

/// Where and how to reach one provider × region.
struct Place {
    style: Style,
    base_url: String,
}

/// What never changes while serving.
struct Config {
    /// By provider × region × credential endpoint (`None` = the default).
    places: BTreeMap<(ProviderId, RegionId, Option<String>), Place>,
    tokens: BTreeMap<KeyId, String>,
    clients: BTreeMap<String, ProjectId>,
}

/// The core and what routes its actions.
struct Core {
    gateway: Gateway,
    /// Open requests: where their answer goes, and the prompt their attempts relay.
    waiting: BTreeMap<RequestId, (oneshot::Sender<ClientResponse>, String)>,
    /// Attempts in flight: their upstream call, to drop when the core moves on.
    flights: BTreeMap<AttemptId, AbortHandle>,
    current: BTreeMap<RequestId, AttemptId>,
}

struct Server {
    clock: Clock,
    config: Config,
    core: Mutex<Core>,
    timer: Notify,
    client: Upstreams,
}

impl Server {
    fn lock(&self) -> MutexGuard<'_, Core> {
        self.core
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// Runs `gatesim serve` until SIGTERM or Ctrl-C; the exit status.
pub fn main(args: &Args) -> u8 {
    let Some(runtime) = crate::runtime("gatesim serve") else {
        return 2;
    };
    match runtime.block_on(serve(args)) {
        Ok(()) => 0,
        Err(e) => {
            eprintln!("gatesim serve: {e}");
            2
        }
    }
}

fn load(args: &Args) -> Result<(WorldFile, Gateway, Config), String> {
    let text = std::fs::read_to_string(&args.world)
        .map_err(|e| format!("cannot read {}: {e}", args.world.display()))?;
    let wf: WorldFile =
        serde_json::from_str(&text).map_err(|e| format!("{}: {e}", args.world.display()))?;
    let mut world = gatesim_sim::scenario::load(&wf.scenario).map_err(|errors| {
        let lines: Vec<String> = errors.iter().map(ToString::to_string).collect();
        format!("{}: {}", wf.scenario.display(), lines.join("; "))
    })?;
    if let Some(name) = &args.preset {
        world = gatesim_sim::presets::under(&world, name).ok_or_else(|| {
            let known: Vec<&str> = gatesim_sim::scenario::preset_names().collect();
            format!(
                "--preset: unknown preset {name:?} (known: {})",
                known.join(", ")
            )
        })?;
    }
    for k in &args.regressions {
        let knob = Regression::parse(k).ok_or_else(|| "--regression: unknown knob".to_string())?;
        world.policy.regressions = world.policy.regressions.with(knob);
    }
    let cat = &world.catalog;
    let mut places = BTreeMap::new();
    for u in &wf.upstreams {
        let p = cat
            .provider_by_name(&u.provider)
            .ok_or_else(|| format!("upstreams: no provider {:?} in the scenario", u.provider))?;
        let r = cat
            .region_by_name(&u.region)
            .ok_or_else(|| format!("upstreams: no region {:?} in the scenario", u.region))?;
        let style = Style::parse(&u.style)
            .ok_or_else(|| format!("upstreams: unknown style {:?}", u.style))?;
        places.insert(
            (p, r, u.endpoint.clone()),
            Place {
                style,
                base_url: u.base_url.clone(),
            },
        );
    }
    let mut tokens = BTreeMap::new();
    for c in &wf.credentials {
        let k = cat
            .credential_by_name(&c.id)
            .ok_or_else(|| format!("credentials: no credential {:?} in the scenario", c.id))?;
        tokens.insert(k, c.token.clone());
    }
    let mut clients = BTreeMap::new();
    for p in &wf.projects {
        let id = cat
            .project_by_name(&p.id)
            .ok_or_else(|| format!("projects: no project {:?} in the scenario", p.id))?;
        clients.insert(p.client_key.clone(), id);
    }
    let gateway = Gateway::new(world.catalog.clone(), world.policy.clone())
        .map_err(|e| format!("the scenario's policy: {e}"))?;
    Ok((
        wf,
        gateway,
        Config {
            places,
            tokens,
            clients,
        },
    ))
}

async fn serve(args: &Args) -> Result<(), String> {
    let (wf, gateway, config) = load(args)?;
    let listener = tokio::net::TcpListener::bind(&wf.listen)
        .await
        .map_err(|e| format!("cannot listen on {}: {e}", wf.listen))?;
    let client = Client::builder(TokioExecutor::new())
        .pool_idle_timeout(std::time::Duration::from_secs(30))
        .build_http();
    let server = Arc::new(Server {
        clock: Clock::start(),
        config,
        core: Mutex::new(Core {
            gateway,
            waiting: BTreeMap::new(),
            flights: BTreeMap::new(),
            current: BTreeMap::new(),
        }),
        timer: Notify::new(),
        client,
    });
    tokio::spawn(timers(server.clone()));
    eprintln!(
        "gatesim serve: listening on {} for {}",
        wf.listen, wf.scenario_id
    );
    let shutdown = shutdown_signal();
    tokio::pin!(shutdown);
    loop {
        tokio::select! {
            () = &mut shutdown => break,
            accepted = listener.accept() => {
                let Ok((stream, _)) = accepted else { continue };
                let _ = stream.set_nodelay(true);
                let server = server.clone();
                tokio::spawn(async move {
                    let service = hyper::service::service_fn(move |req| handle(server.clone(), req));
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
        }
    }
    // Graceful: answers already due get up to two seconds to go out.
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(2);
    while server.lock().gateway.open_requests() > 0 && tokio::time::Instant::now() < deadline {
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    eprintln!("gatesim serve: stopped");
    Ok(())
}

async fn shutdown_signal() {
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).ok();
    let term = async {
        match term.as_mut() {
            Some(t) => {
                t.recv().await;
            }
            None => std::future::pending().await,
        }
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        () = term => {}
    }
}

fn full(status: u16, headers: &[(&str, String)], body: String) -> hyper::Response<Body> {
    let mut b = hyper::Response::builder()
        .status(status)
        .header("content-type", "application/json");
    for (k, v) in headers {
        b = b.header(*k, v);
    }
    let body = Full::new(Bytes::from(body))
        .map_err(|never| match never {})
        .boxed();
    b.body(body)
        .unwrap_or_else(|_| hyper::Response::new(empty()))
}

fn empty() -> Body {
    Full::new(Bytes::new())
        .map_err(|never| match never {})
        .boxed()
}

fn error_body(message: &str, kind: &str, status: u16) -> String {
    serde_json::json!({"error": {"message": message, "type": kind, "code": status}}).to_string()
}

async fn handle(
    server: Arc<Server>,
    req: hyper::Request<Incoming>,
) -> Result<hyper::Response<Body>, Infallible> {
    let path = req.uri().path().to_string();
    if path == "/health" {
        return Ok(full(200, &[], r#"{"status":"ok"}"#.to_string()));
    }
    if path != "/v1/chat/completions" || req.method() != hyper::Method::POST {
        return Ok(full(404, &[], error_body("not found", "not_found", 404)));
    }
    let (request, prompt, model, stream) = match client_request(&server, req).await {
        Ok(r) => r,
        Err(refused) => return Ok(refused),
    };
    let (tx, rx) = oneshot::channel();
    let id = {
        let mut core = server.lock();
        let now = server.clock.now();
        let id = core.gateway.submit(now, request);
        core.waiting.insert(id, (tx, prompt));
        pump(&server, &mut core);
        id
    };
    // A client that goes away cancels its request in the core.
    let mut guard = Cancel {
        server: server.clone(),
        id,
        armed: true,
    };
    let answer = rx.await;
    guard.armed = false;
    let Ok(answer) = answer else {
        return Ok(full(
            500,
            &[],
            error_body("the core dropped the request", "internal", 500),
        ));
    };
    Ok(respond(&model, stream, &answer))
}

/// A client's request as the core takes it, with its prompt, model and stream flag; or
/// the answer that refuses it.
async fn client_request(
    server: &Server,
    req: hyper::Request<Incoming>,
) -> Result<(Request, String, String, bool), hyper::Response<Body>> {
    let key = req
        .headers()
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::to_string);
    let Some(project) = key.and_then(|k| server.config.clients.get(&k).copied()) else {
        return Err(full(
            401,
            &[],
            error_body("unknown client key", "unauthorized", 401),
        ));
    };
    let Ok(body) = req.into_body().collect().await.map(|b| b.to_bytes()) else {
        return Err(full(
            400,
            &[],
            error_body("unreadable body", "bad_request", 400),
        ));
    };
    let parsed: serde_json::Value = serde_json::from_slice(&body).unwrap_or_default();
    let Some(model) = parsed
        .get("model")
        .and_then(|m| m.as_str())
        .map(str::to_string)
    else {
        return Err(full(
            400,
            &[],
            error_body("model: missing", "bad_request", 400),
        ));
    };
    let stream = parsed
        .get("stream")
        .and_then(serde_json::Value::as_bool)
        .unwrap_or(false);
    let prompt = wire::receive(Style::OpenAi, "/v1/chat/completions", &|_| None, &body).prompt;
    let request = Request {
        project,
        model: Arc::from(model.as_str()),
        kind: RequestKind::Chat,
        stream,
        byok: None,
        iterations: 1,
        body_bytes: u32::try_from(prompt.len()).unwrap_or(u32::MAX),
        body_digest: fnv1a(prompt.as_bytes()),
    };
    Ok((request, prompt, model, stream))
}

struct Cancel {
    server: Arc<Server>,
    id: RequestId,
    armed: bool,
}

impl Drop for Cancel {
    fn drop(&mut self) {
        if self.armed {
            let mut core = self.server.lock();
            let now = self.server.clock.now();
            core.waiting.remove(&self.id);
            core.gateway.cancel(now, self.id);
            pump(&self.server, &mut core);
        }
    }
}

/// The client's answer on the wire.
fn respond(model: &str, stream: bool, a: &ClientResponse) -> hyper::Response<Body> {
    let mut headers = Vec::new();
    if let Some(s) = a.retry_after_s {
        headers.push(("retry-after", s.to_string()));
    }
    if a.status != 200 {
        let body = error_body(
            &format!("gateway: {}", a.outcome.name()),
            a.outcome.name(),
            a.status,
        );
        return full(a.status, &headers, body);
    }
    if !stream {
        return full(200, &headers, wire::success_body(Style::OpenAi, model, 0));
    }
    let events = wire::success_events(Style::OpenAi, model, 0);
    let (tx, rx) = mpsc::unbounded_channel::<Result<Frame<Bytes>, std::io::Error>>();
    match (a.outcome, a.stream_error) {
        (_, Some(e)) => {
            let error = serde_json::json!({"error": {"message": "gateway: failed in stream", "code": e.status, "retry_after_s": e.retry_after_s}});
            let _ = tx.send(Ok(Frame::data(Bytes::from(format!("data: {error}\n\n")))));
            let _ = tx.send(Ok(Frame::data(Bytes::from("data: [DONE]\n\n"))));
        }
        (Outcome::StreamInterrupted, None) => {
            // Bytes reached the client, then the upstream broke: so does this stream.
            if let Some(first) = events.first() {
                let _ = tx.send(Ok(Frame::data(Bytes::from(first.clone()))));
            }
            let broken = std::io::Error::other("upstream stream broke");
            let _ = tx.send(Err(broken));
        }
        _ => {
            for e in events {
                let _ = tx.send(Ok(Frame::data(Bytes::from(e))));
            }
        }
    }
    drop(tx);
    hyper::Response::builder()
        .status(200)
        .header("content-type", "text/event-stream")
        .header("cache-control", "no-cache")
        .body(Frames(rx).boxed())
        .unwrap_or_else(|_| hyper::Response::new(empty()))
}

/// An event stream's frames as they are queued; an error frame breaks the connection.
struct Frames(mpsc::UnboundedReceiver<Result<Frame<Bytes>, std::io::Error>>);

impl hyper::body::Body for Frames {
    type Data = Bytes;
    type Error = std::io::Error;
    fn poll_frame(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<Frame<Bytes>, std::io::Error>>> {
        self.0.poll_recv(cx)
    }
}

/// Carries out what the core asks after an input: dispatches, answers; then re-arms the
/// timer.
fn pump(server: &Arc<Server>, core: &mut Core) {
    while let Some(action) = core.gateway.poll_action() {
        match action {
            Action::Dispatch(a) => {
                if let Some(old) = core.current.insert(a.request, a.id) {
                    if let Some(h) = core.flights.remove(&old) {
                        h.abort();
                    }
                }
                let prompt = core
                    .waiting
                    .get(&a.request)
                    .map(|(_, p)| p.clone())
                    .unwrap_or_default();
                let id = a.id;
                let task = tokio::spawn(upstream(server.clone(), a, prompt));
                core.flights.insert(id, task.abort_handle());
            }
            Action::Respond(r, answer) => {
                core.current.remove(&r);
                if let Some((tx, _)) = core.waiting.remove(&r) {
                    let _ = tx.send(answer);
                }
            }
        }
    }
    while core.gateway.poll_event().is_some() {}
    server.timer.notify_one();
}

/// The core's timers on the wall clock.
async fn timers(server: Arc<Server>) {
    loop {
        let next = server.lock().gateway.poll_timeout();
        match next {
            None => server.timer.notified().await,
            Some((at, _)) => {
                tokio::select! {
                    () = tokio::time::sleep_until(server.clock.wall(at)) => {
                        let mut core = server.lock();
                        let now = server.clock.now();
                        if let Some((due, reason)) = core.gateway.poll_timeout() {
                            if due <= now {
                                if let TimerReason::AttemptDeadline(a) = reason {
                                    if let Some(h) = core.flights.remove(&a) {
                                        h.abort();
                                    }
                                }
                                core.gateway.handle_timeout(now);
                                pump(&server, &mut core);
                            }
                        }
                    }
                    () = server.timer.notified() => {}
                }
            }
        }
    }
}

/// One attempt upstream, its answer handed to the core.
async fn upstream(server: Arc<Server>, a: Attempt, prompt: String) {
    let response = call(&server, &a, &prompt).await;
    let mut core = server.lock();
    core.flights.remove(&a.id);
    let now = server.clock.now();
    core.gateway.handle_response(now, a.id, response);
    pump(&server, &mut core);
}

async fn call(server: &Server, a: &Attempt, prompt: &str) -> Response {
    let connect = Response::Transport(TransportError::Connect);
    let (Some(place), Some(token)) = (
        server.config.places.get(&(
            a.provider,
            a.region,
            a.endpoint.as_deref().map(str::to_string),
        )),
        server.config.tokens.get(&a.credential),
    ) else {
        return connect;
    };
    // An attempt whose body the core says differs from the request's (the body-replay
    // bug) carries only its tag, so the provider still tells whose it is.
    let sent = if a.body_digest == fnv1a(prompt.as_bytes()) {
        prompt.to_string()
    } else {
        wire::find_tag(prompt)
            .map(|t| format!("gatesim request {t}"))
            .unwrap_or_default()
    };
    let url = format!(
        "{}{}",
        place.base_url,
        wire::path(place.style, &a.upstream, a.stream)
    );
    let (name, value) = wire::auth_header(place.style, token);
    let body = wire::body(place.style, &a.upstream, &sent, a.stream);
    let Ok(req) = hyper::Request::post(url)
        .header("content-type", "application/json")
        .header(name, value)
        .header("anthropic-version", "2023-06-01")
        .body(Full::new(Bytes::from(body)))
    else {
        return connect;
    };
    let Ok(resp) = server.client.request(req).await else {
        return connect;
    };
    read_answer(resp, a.stream).await
}

/// An upstream answer as the core takes it: a body that breaks is a stream broken before
/// or after its first byte (a transport failure when not streamed).
async fn read_answer(resp: hyper::Response<Incoming>, streamed: bool) -> Response {
    let connect = Response::Transport(TransportError::Connect);
    let header = |h: &str| {
        resp.headers()
            .get(h)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string)
    };
    let status = resp.status().as_u16();
    let (retry_after, retry_after_ms) = (header("retry-after"), header("retry-after-ms"));
    let mut body = resp.into_body();
    let mut bytes = Vec::new();
    let mut broke = false;
    while let Some(frame) = body.frame().await {
        match frame {
            Ok(f) => {
                if let Some(d) = f.data_ref() {
                    bytes.extend_from_slice(d);
                }
            }
            Err(_) => {
                broke = true;
                break;
            }
        }
    }
    if broke && !streamed {
        return connect;
    }
    let stream = match (broke, bytes.is_empty()) {
        (false, _) => StreamProgress::Complete,
        (true, true) => StreamProgress::BrokeBeforeFirstByte,
        (true, false) => StreamProgress::BrokeAfterFirstByte,
    };
    Response::Http(HttpAnswer {
        status,
        retry_after,
        retry_after_ms,
        body: String::from_utf8_lossy(&bytes).into_owned(),
        stream,
    })
}
