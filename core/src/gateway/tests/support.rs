//! A small world builder and a driver that plays the embedding: it dispatches, answers
//! attempts, fires timers and records every action and event with the simulated time.

use super::*;
use crate::catalog::{Credential, Mapping, Model, Project, Provider};
use crate::response::TransportError;

/// The wall-clock second the test scenarios start at (for HTTP-date hints).
pub(super) const EPOCH_UNIX_S: u64 = 1_700_000_000;

/// Builds a [`Catalog`] one entity at a time; every method returns the new id.
#[derive(Default)]
pub(super) struct World {
    catalog: Catalog,
}

impl World {
    pub(super) fn new() -> World {
        World {
            catalog: Catalog {
                epoch_unix_s: EPOCH_UNIX_S,
                ..Catalog::default()
            },
        }
    }

    pub(super) fn region(&mut self, name: &str) -> RegionId {
        self.catalog.regions.push(name.to_string());
        RegionId(self.catalog.regions.len() as u32 - 1)
    }

    pub(super) fn provider(&mut self, name: &str, regions: &[RegionId]) -> ProviderId {
        self.push_provider(name, regions, false)
    }

    /// A provider that accepts any model name (custom / passthrough models).
    pub(super) fn open_provider(&mut self, name: &str, regions: &[RegionId]) -> ProviderId {
        self.push_provider(name, regions, true)
    }

    fn push_provider(&mut self, name: &str, regions: &[RegionId], any: bool) -> ProviderId {
        self.catalog.providers.push(Provider {
            name: name.to_string(),
            regions: regions.to_vec(),
            accepts_any_model: any,
        });
        ProviderId(self.catalog.providers.len() as u32 - 1)
    }

    /// A canonical model served at (provider, region) under an upstream name.
    pub(super) fn model(&mut self, name: &str, served: &[(ProviderId, RegionId, &str)]) -> ModelId {
        let served_by = served
            .iter()
            .map(|(provider, region, upstream)| Mapping {
                provider: *provider,
                region: *region,
                upstream: upstream.to_string(),
            })
            .collect();
        self.push_model(name, served_by, Vec::new())
    }

    pub(super) fn alias(&mut self, name: &str, members: &[ModelId]) -> ModelId {
        self.push_model(name, Vec::new(), members.to_vec())
    }

    fn push_model(
        &mut self,
        name: &str,
        served_by: Vec<Mapping>,
        alias_of: Vec<ModelId>,
    ) -> ModelId {
        self.catalog.models.push(Model {
            name: name.to_string(),
            served_by,
            alias_of,
        });
        ModelId(self.catalog.models.len() as u32 - 1)
    }

    /// An unlocked credential with the provider's default endpoint.
    pub(super) fn key(&mut self, name: &str, provider: ProviderId, source: Source) -> KeyId {
        self.credential(name, provider, source, None, None)
    }

    /// A credential locked to one region.
    pub(super) fn locked_key(
        &mut self,
        name: &str,
        provider: ProviderId,
        source: Source,
        region: RegionId,
    ) -> KeyId {
        self.credential(name, provider, source, Some(region), None)
    }

    pub(super) fn credential(
        &mut self,
        name: &str,
        provider: ProviderId,
        source: Source,
        region: Option<RegionId>,
        endpoint: Option<&str>,
    ) -> KeyId {
        self.catalog.credentials.push(Credential {
            name: name.to_string(),
            provider,
            region,
            source,
            endpoint: endpoint.map(str::to_string),
            weight: 1,
        });
        KeyId(self.catalog.credentials.len() as u32 - 1)
    }

    /// Sets a credential's weight (`weighted` key selection).
    pub(super) fn weigh(&mut self, key: KeyId, weight: u32) {
        self.catalog.credentials[key.index()].weight = weight;
    }

    pub(super) fn project(&mut self, name: &str, mode: Mode) -> ProjectId {
        self.catalog.projects.push(Project {
            name: name.to_string(),
            mode,
        });
        ProjectId(self.catalog.projects.len() as u32 - 1)
    }

    /// The redacted hint of a credential.
    pub(super) fn hint(&self, key: KeyId) -> String {
        self.catalog.credential(key).hint()
    }

    pub(super) fn gateway(&self, policy: Policy) -> Driver {
        let gateway = Gateway::new(self.catalog.clone(), policy).expect("test catalog is valid");
        Driver {
            gateway,
            now: Instant::ZERO,
            pending: VecDeque::new(),
            dispatched: Vec::new(),
            answers: BTreeMap::new(),
            events: Vec::new(),
        }
    }
}

/// The reference policy with exactly one regression knob on.
pub(super) fn knob(knob: Regression) -> Policy {
    Policy {
        regressions: Regressions::only(knob),
        ..Policy::reference()
    }
}

/// A whole request as the client and the upstreams saw it.
#[derive(Debug)]
pub(super) struct Run {
    pub(super) id: RequestId,
    pub(super) attempts: Vec<Attempt>,
    pub(super) answer: ClientResponse,
}

impl Run {
    /// The credentials sent, in attempt order.
    pub(super) fn sent(&self) -> Vec<KeyId> {
        self.attempts.iter().map(|a| a.credential).collect()
    }
}

/// Drives a [`Gateway`] like an embedding would and keeps everything it said.
pub(super) struct Driver {
    pub(super) gateway: Gateway,
    pub(super) now: Instant,
    /// Dispatched attempts not yet answered, in dispatch order.
    pending: VecDeque<Attempt>,
    /// Every attempt ever dispatched.
    pub(super) dispatched: Vec<Attempt>,
    answers: BTreeMap<RequestId, ClientResponse>,
    /// Every event, with the instant it was drained at.
    pub(super) events: Vec<(Instant, Event)>,
}

/// Steps one `serve` may take before the test fails (a limit on everything).
const SERVE_STEPS_MAX: usize = 200;

impl Driver {
    /// Moves the clock to `ms` (never backwards).
    pub(super) fn at(&mut self, ms: u64) -> &mut Driver {
        assert!(Instant(ms) >= self.now, "test clock went backwards");
        self.now = Instant(ms);
        self
    }

    /// Submits without answering anything.
    pub(super) fn submit(&mut self, request: Request) -> RequestId {
        let id = self.gateway.submit(self.now, request);
        self.drain();
        id
    }

    /// The oldest dispatched attempt that has no answer yet.
    pub(super) fn take_attempt(&mut self) -> Attempt {
        self.pending
            .pop_front()
            .expect("an attempt is waiting for an answer")
    }

    /// Whether an attempt is waiting for an answer.
    pub(super) fn has_pending(&self) -> bool {
        !self.pending.is_empty()
    }

    /// Answers an attempt at the current instant.
    pub(super) fn respond(&mut self, attempt: AttemptId, response: Response) {
        self.gateway.handle_response(self.now, attempt, response);
        self.drain();
    }

    /// Fires the gateway's timers due at the current instant.
    pub(super) fn fire_timers(&mut self) {
        self.gateway.handle_timeout(self.now);
        self.drain();
    }

    /// The client answer of a request, if given.
    pub(super) fn answer(&self, id: RequestId) -> Option<&ClientResponse> {
        self.answers.get(&id)
    }

    /// Submits a request and answers every attempt it makes with `upstream`, firing
    /// timers as they fall due, until the client is answered.
    pub(super) fn serve(
        &mut self,
        request: Request,
        mut upstream: impl FnMut(&Attempt) -> Response,
    ) -> Run {
        let id = self.submit(request);
        let mut attempts = Vec::new();
        for _ in 0..SERVE_STEPS_MAX {
            if let Some(answer) = self.answers.get(&id) {
                assert!(self.pending.is_empty(), "no attempt outlives its request");
                return Run {
                    id,
                    attempts,
                    answer: answer.clone(),
                };
            }
            if let Some(attempt) = self.pending.pop_front() {
                let response = upstream(&attempt);
                attempts.push(attempt.clone());
                self.respond(attempt.id, response);
                continue;
            }
            let (at, _) = self
                .gateway
                .poll_timeout()
                .expect("an unanswered request with nothing in flight has a timer");
            self.at(at.as_ms().max(self.now.as_ms()));
            self.fire_timers();
        }
        panic!("request {id} not answered within {SERVE_STEPS_MAX} steps");
    }

    /// A plain chat request answered by `upstream`.
    pub(super) fn chat(
        &mut self,
        project: ProjectId,
        model: &str,
        upstream: impl FnMut(&Attempt) -> Response,
    ) -> Run {
        self.serve(Request::chat(project, model), upstream)
    }

    /// Events drained since the last call.
    pub(super) fn take_events(&mut self) -> Vec<Event> {
        std::mem::take(&mut self.events)
            .into_iter()
            .map(|(_, e)| e)
            .collect()
    }

    fn drain(&mut self) {
        while let Some(action) = self.gateway.poll_action() {
            match action {
                Action::Dispatch(attempt) => {
                    self.dispatched.push(attempt.clone());
                    self.pending.push_back(attempt);
                }
                Action::Respond(id, answer) => {
                    let earlier = self.answers.insert(id, answer);
                    assert!(earlier.is_none(), "{id} answered twice");
                }
            }
        }
        while let Some(event) = self.gateway.poll_event() {
            self.events.push((self.now, event));
        }
    }
}

// ---- upstream answers ----

pub(super) fn ok() -> Response {
    Response::Http(HttpAnswer::ok())
}

pub(super) fn http(status: u16, body: &str) -> Response {
    Response::Http(HttpAnswer::new(status, body))
}

pub(super) fn server_error() -> Response {
    http(500, "internal error")
}

/// A 429, with a `Retry-After` header when given.
pub(super) fn rate_limited(retry_after: Option<&str>) -> Response {
    Response::Http(HttpAnswer {
        retry_after: retry_after.map(str::to_string),
        ..HttpAnswer::new(429, "rate limited")
    })
}

/// Google's answer to a bad key: a 400.
pub(super) fn invalid_key_400() -> Response {
    http(
        400,
        r#"{"error":{"code":400,"message":"API key not valid. Please pass a valid API key."}}"#,
    )
}

/// OpenAI's structured answer to a bad key, under a 400.
pub(super) fn invalid_key_code_400() -> Response {
    http(
        400,
        r#"{"error":{"message":"bad key","type":"invalid_request_error","code":"invalid_api_key"}}"#,
    )
}

pub(super) fn model_unsupported() -> Response {
    http(400, r#"{"error":{"code":"model_not_supported"}}"#)
}

pub(super) fn bad_request() -> Response {
    http(400, r#"{"error":"messages: field required"}"#)
}

pub(super) fn connect_error() -> Response {
    Response::Transport(TransportError::Connect)
}

/// A 200 stream that broke before or after its first byte.
pub(super) fn broken_stream(after_first_byte: bool) -> Response {
    Response::Http(HttpAnswer {
        stream: if after_first_byte {
            StreamProgress::BrokeAfterFirstByte
        } else {
            StreamProgress::BrokeBeforeFirstByte
        },
        ..HttpAnswer::ok()
    })
}

/// An upstream where the listed credentials answer `failure` and every other one succeeds.
pub(super) fn failing(
    keys: &[KeyId],
    failure: impl Fn() -> Response,
) -> impl FnMut(&Attempt) -> Response {
    let keys = keys.to_vec();
    move |a: &Attempt| {
        if keys.contains(&a.credential) {
            failure()
        } else {
            ok()
        }
    }
}

// ---- common worlds ----

/// One provider `openai` in `us`, keys `k0`, `k1`, `k2` (org), model `gpt-4o` and a second
/// model `gpt-4o-mini`, project `p` in api-keys mode.
pub(super) struct Pool {
    pub(super) world: World,
    pub(super) provider: ProviderId,
    pub(super) region: RegionId,
    pub(super) keys: [KeyId; 3],
    pub(super) project: ProjectId,
}

pub(super) const MODEL: &str = "gpt-4o";
pub(super) const OTHER_MODEL: &str = "gpt-4o-mini";

pub(super) fn pool() -> Pool {
    let mut world = World::new();
    let region = world.region("us");
    let provider = world.provider("openai", &[region]);
    world.model(MODEL, &[(provider, region, "gpt-4o-2024-08-06")]);
    world.model(OTHER_MODEL, &[(provider, region, "gpt-4o-mini-2024-07-18")]);
    let keys = [
        world.key("k0", provider, Source::Org),
        world.key("k1", provider, Source::Org),
        world.key("k2", provider, Source::Org),
    ];
    let project = world.project("p", Mode::ApiKeys);
    Pool {
        world,
        provider,
        region,
        keys,
        project,
    }
}

/// Events of one kind, extracted with a pattern-matching closure.
pub(super) fn events_of<T>(events: &[Event], pick: impl Fn(&Event) -> Option<T>) -> Vec<T> {
    events.iter().filter_map(pick).collect()
}
