//! The trace: every arrival, decision, attempt, answer, state change and client answer,
//! with simulated time. One stable text line per record for snapshots (no secrets,
//! sim-relative times), JSON lines for machines, and a hash for the determinism check.

// Every record and event kind is named in each match: a new kind must be decided about.
#![warn(clippy::wildcard_enum_match_arm)]

use crate::provider::Cause;
use crate::world::{Fault, FaultKind, World};
use gatesim_core::fnv1a;
use gatesim_core::{
    Attempt, AttemptId, ClientResponse, Event, Instant, KeyId, ProjectId, ProviderId, RegionId,
    RequestId, RequestKind, Scope,
};
use serde_json::json;
use std::collections::BTreeMap;
use std::fmt::Write as _;

/// A request as it arrived.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Arrival {
    /// Id the gateway gave it.
    pub request: RequestId,
    /// Project.
    pub project: ProjectId,
    /// Model as named.
    pub model: String,
    /// Kind.
    pub kind: RequestKind,
    /// Streamed.
    pub stream: bool,
    /// BYOK credential.
    pub byok: Option<KeyId>,
    /// Agentic iterations.
    pub iterations: u32,
    /// Body digest.
    pub body_digest: u64,
}

/// One trace record.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Record {
    /// A client request arrived.
    Arrived(Arrival),
    /// The gateway dispatched an attempt.
    Dispatched(Attempt),
    /// The upstream answered (or the gateway timed out waiting); `cause` is ground truth.
    Answered {
        /// Attempt.
        attempt: AttemptId,
        /// HTTP status (0 when no HTTP answer).
        status: u16,
        /// Why the provider answered so.
        cause: Cause,
    },
    /// A fact the gateway reported.
    Core(Event),
    /// The gateway answered its client.
    Responded {
        /// Request.
        request: RequestId,
        /// The answer.
        response: ClientResponse,
    },
    /// A fault started or ended.
    FaultEdge {
        /// Index in the fault plan.
        fault: usize,
        /// Started (else ended).
        started: bool,
    },
    /// The number of tracked health entries changed.
    Tracked {
        /// Entries.
        entries: usize,
    },
}

/// A record with its simulated time.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Entry {
    /// When.
    pub at: Instant,
    /// What.
    pub record: Record,
}

/// Every record of a run, in order.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Trace {
    /// The records.
    pub entries: Vec<Entry>,
}

impl Trace {
    /// Appends a record.
    pub fn push(&mut self, at: Instant, record: Record) {
        self.entries.push(Entry { at, record });
    }

    /// FNV-1a over the rendered text lines: equal hashes ⇔ byte-identical traces.
    pub fn hash(&self, names: &Names) -> u64 {
        // FNV-1a folds byte by byte, so hashing line by line equals hashing the whole text
        // without holding it.
        let mut line = String::new();
        let mut hash = fnv1a(&[]);
        for e in &self.entries {
            line.clear();
            names.render(e, &mut line);
            line.push('\n');
            hash = fnv1a_continue(hash, line.as_bytes());
        }
        hash
    }

    /// The trace as text, one line per record.
    pub fn to_text(&self, names: &Names) -> String {
        let mut out = String::new();
        for e in &self.entries {
            names.render(e, &mut out);
            out.push('\n');
        }
        out
    }

    /// The trace as JSON lines.
    pub fn to_json_lines(&self, names: &Names) -> String {
        let mut out = String::new();
        for e in &self.entries {
            out.push_str(&names.json(e).to_string());
            out.push('\n');
        }
        out
    }
}

/// Continues an FNV-1a hash (as [`fnv1a`] computes it) over more bytes.
fn fnv1a_continue(mut hash: u64, bytes: &[u8]) -> u64 {
    for b in bytes {
        hash ^= u64::from(*b);
        hash = hash.wrapping_mul(0x0000_0100_0000_01b3);
    }
    hash
}

/// Names for rendering ids: from the world's catalog, plus model names seen in requests.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Names {
    scenario: String,
    providers: Vec<String>,
    regions: Vec<String>,
    credentials: Vec<String>,
    projects: Vec<String>,
    faults: Vec<String>,
    fault_fields: Vec<FaultFields>,
    scopes: BTreeMap<Scope, String>,
}

impl Names {
    /// Names of a world.
    pub fn new(world: &World) -> Names {
        let c = &world.catalog;
        let mut names = Names {
            scenario: world.id.clone(),
            providers: c.providers.iter().map(|p| p.name.clone()).collect(),
            regions: c.regions.clone(),
            credentials: c.credentials.iter().map(|k| k.name.clone()).collect(),
            projects: c.projects.iter().map(|p| p.name.clone()).collect(),
            faults: world.faults.faults.iter().map(describe_fault).collect(),
            fault_fields: world
                .faults
                .faults
                .iter()
                .map(|f| FaultFields::new(f, world))
                .collect(),
            scopes: BTreeMap::new(),
        };
        for m in &c.models {
            names.learn(&m.name);
            for s in &m.served_by {
                names.learn(&s.upstream);
            }
        }
        names
    }

    /// Remembers a model name so its scope renders readably (the recorder learns every
    /// model a request names).
    pub(crate) fn learn(&mut self, model: &str) {
        let scope = Scope::of(model);
        self.scopes
            .entry(scope)
            .or_insert_with(|| model.to_string());
        if let Some((_, m)) = model.split_once('/') {
            self.learn(m);
        }
    }

    /// A credential's label.
    pub fn key(&self, k: KeyId) -> &str {
        self.credentials.get(k.index()).map_or("?", String::as_str)
    }
    /// `provider/region`.
    pub fn place(&self, p: ProviderId, r: RegionId) -> String {
        format!(
            "{}/{}",
            self.providers.get(p.index()).map_or("?", String::as_str),
            self.regions.get(r.index()).map_or("?", String::as_str)
        )
    }
    /// A scope's model name.
    pub fn scope(&self, s: Scope) -> String {
        if s == Scope::UNSCOPED {
            return "*".to_string();
        }
        self.scopes
            .get(&s)
            .cloned()
            .unwrap_or_else(|| s.to_string())
    }

    /// Renders one record as a text line (without newline).
    pub fn render(&self, e: &Entry, out: &mut String) {
        let _ = write!(out, "{} ", e.at);
        let _ = match &e.record {
            Record::Arrived(a) => self.render_arrival(a, out),
            Record::Dispatched(a) => self.render_dispatch(a, out),
            Record::Answered {
                attempt,
                status,
                cause,
            } => write!(out, "{attempt} <- {status} {cause}"),
            Record::Core(ev) => self.render_event(ev, out),
            Record::Responded { request, response } => {
                let _ = write!(
                    out,
                    "{request} => {} {}",
                    response.status,
                    response.outcome.name()
                );
                if let Some(s) = response.retry_after_s {
                    let _ = write!(out, " retry-after={s}s");
                }
                if let Some(e) = &response.stream_error {
                    let _ = write!(out, " stream-error({}", e.status);
                    if let Some(s) = e.retry_after_s {
                        let _ = write!(out, " retry-after={s}s");
                    }
                    let _ = write!(out, ")");
                }
                if let Some(h) = &response.hint {
                    let _ = write!(out, " hint={h}");
                }
                write!(out, " attempts={}", response.attempts)
            }
            Record::FaultEdge { fault, started } => {
                write!(
                    out,
                    "fault#{fault} {} {}",
                    if *started { "starts" } else { "ends" },
                    self.faults.get(*fault).map_or("?", String::as_str)
                )
            }
            Record::Tracked { entries } => write!(out, "health entries={entries}"),
        };
    }

    fn render_arrival(&self, a: &Arrival, out: &mut String) -> std::fmt::Result {
        let _ = write!(
            out,
            "{} arrives {} {} {}",
            a.request,
            self.projects
                .get(a.project.index())
                .map_or("?", String::as_str),
            a.model,
            a.kind.name()
        );
        if a.stream {
            out.push_str(" stream");
        }
        if let Some(k) = a.byok {
            let _ = write!(out, " byok={}", self.key(k));
        }
        if a.iterations > 1 {
            let _ = write!(out, " iterations={}", a.iterations);
        }
        Ok(())
    }

    fn render_dispatch(&self, a: &Attempt, out: &mut String) -> std::fmt::Result {
        let _ = write!(
            out,
            "{} {} -> {} {} {}",
            a.request,
            a.id,
            self.place(a.provider, a.region),
            self.key(a.credential),
            a.upstream
        );
        if a.selected != a.credential {
            let _ = write!(out, " (selected {})", self.key(a.selected));
        }
        if let Some(ep) = &a.endpoint {
            let _ = write!(out, " endpoint={ep}");
        }
        if a.iteration > 1 {
            let _ = write!(out, " iteration={}", a.iteration);
        }
        if a.charged {
            out.push_str(" [budget]");
        }
        Ok(())
    }

    // One arm per core event, a flat table of line formats: clearer whole than split.
    #[allow(clippy::too_many_lines)]
    fn render_event(&self, ev: &Event, out: &mut String) -> std::fmt::Result {
        match ev {
            Event::Skipped {
                request,
                provider,
                region,
                credential,
                scope,
                block,
            } => {
                write!(
                    out,
                    "{request} skip {} {} {}: {block}",
                    self.key(*credential),
                    self.place(*provider, *region),
                    self.scope(*scope)
                )
            }
            Event::Classified { attempt, class } => write!(out, "{attempt} classified {class}"),
            Event::CooledDown {
                credential,
                scope,
                until,
                ..
            } => write!(
                out,
                "{} {} cooling until {until}",
                self.key(*credential),
                self.scope(*scope)
            ),
            Event::MarkedUnhealthy {
                credential,
                scope,
                until,
                ..
            } => write!(
                out,
                "{} {} unhealthy until {until}",
                self.key(*credential),
                self.scope(*scope)
            ),
            Event::Blacklisted {
                credential, scope, ..
            } => match scope {
                Some(s) => write!(
                    out,
                    "{} blacklisted for {}",
                    self.key(*credential),
                    self.scope(*s)
                ),
                None => write!(out, "{} blacklisted", self.key(*credential)),
            },
            Event::Suspended {
                credential,
                scope,
                until,
                ..
            } => write!(
                out,
                "{} {} suspended until {until}",
                self.key(*credential),
                self.scope(*scope)
            ),
            Event::Resumed {
                credential, scope, ..
            } => write!(
                out,
                "{} {} resumed",
                self.key(*credential),
                self.scope(*scope)
            ),
            Event::Evicted { credential, scope } => write!(
                out,
                "{} {} evicted",
                self.key(*credential),
                self.scope(*scope)
            ),
            Event::Waiting { request, until } => write!(out, "{request} waits until {until}"),
            Event::Charged {
                request,
                provider,
                region,
                attempt,
                ..
            } => match attempt {
                Some(_) => Ok(()),
                None => write!(
                    out,
                    "{request} budget charged for skipped {}",
                    self.place(*provider, *region)
                ),
            },
            Event::Counted {
                attempt,
                mapping,
                model,
                ok,
            } => {
                write!(
                    out,
                    "{attempt} uptime {} mapping={} model={}",
                    if *ok { "up" } else { "down" },
                    yes(*mapping),
                    yes(*model)
                )
            }
            Event::ProviderScored {
                request,
                provider,
                region,
                failed,
            } => {
                write!(
                    out,
                    "{request} score {} {}",
                    self.place(*provider, *region),
                    if *failed { "failed" } else { "ok" }
                )
            }
            Event::StaleResponse { attempt } => write!(out, "{attempt} stale answer ignored"),
        }
    }

    /// One record as a JSON object (`docs/trace-schema.md`): the schema version `v`,
    /// `t_ms`, `kind`, the text line without its time, and the record's own fields.
    pub fn json(&self, e: &Entry) -> serde_json::Value {
        let mut line = String::new();
        self.render(e, &mut line);
        let kind = match &e.record {
            Record::Arrived(_) => "arrived",
            Record::Dispatched(_) => "dispatched",
            Record::Answered { .. } => "answered",
            Record::Core(_) => "event",
            Record::Responded { .. } => "responded",
            Record::FaultEdge { .. } => "fault",
            Record::Tracked { .. } => "tracked",
        };
        let text = line.split_once(' ').map_or("", |(_, t)| t);
        let mut v = json!({
            "v": TRACE_SCHEMA_VERSION,
            "scenario": self.scenario,
            "t_ms": e.at.as_ms(),
            "kind": kind,
            "text": text,
        });
        let fields = match &e.record {
            Record::Arrived(a) => self.json_arrival(a),
            Record::Dispatched(a) => self.json_dispatch(a),
            Record::Answered {
                attempt,
                status,
                cause,
            } => json!({ "attempt": attempt.0, "status": status, "cause": cause.name() }),
            Record::Core(ev) => self.json_event(ev),
            Record::Responded { request, response } => json!({
                "request": request.0,
                "status": response.status,
                "outcome": response.outcome.name(),
                "retry_after_s": response.retry_after_s,
                "credential": response.hint_key.map(|k| self.key(k)),
                "hint": response.hint.as_deref(),
                "attempts": response.attempts,
                "stream_error": response.stream_error.map(|e| json!({
                    "status": e.status,
                    "retry_after_s": e.retry_after_s,
                })),
            }),
            Record::FaultEdge { fault, started } => {
                let f = self.fault_fields.get(*fault);
                json!({
                    "fault": fault,
                    "started": started,
                    "fault_kind": f.map(|f| f.kind),
                    "at_ms": f.map(|f| f.at_ms),
                    "until_ms": f.and_then(|f| f.until_ms),
                    "credential": f.and_then(|f| f.credential.as_deref()),
                    "provider": f.and_then(|f| f.provider.as_deref()),
                    "region": f.and_then(|f| f.region.as_deref()),
                })
            }
            Record::Tracked { entries } => json!({ "entries": entries }),
        };
        if let (Some(obj), serde_json::Value::Object(extra)) = (v.as_object_mut(), fields) {
            obj.extend(extra);
        }
        v
    }

    fn provider(&self, p: ProviderId) -> &str {
        self.providers.get(p.index()).map_or("?", String::as_str)
    }

    fn region(&self, r: RegionId) -> &str {
        self.regions.get(r.index()).map_or("?", String::as_str)
    }

    fn json_arrival(&self, a: &Arrival) -> serde_json::Value {
        json!({
            "request": a.request.0,
            "project": self.projects.get(a.project.index()).map_or("?", String::as_str),
            "model": a.model,
            "request_kind": a.kind.name(),
            "stream": a.stream,
            "byok": a.byok.map(|k| self.key(k)),
            "iterations": a.iterations,
            // A string: JSON readers (jq) lose integers above 2^53.
            "body_digest": format!("{:016x}", a.body_digest),
        })
    }

    fn json_dispatch(&self, a: &Attempt) -> serde_json::Value {
        json!({
            "request": a.request.0,
            "attempt": a.id.0,
            "iteration": a.iteration,
            "provider": self.provider(a.provider),
            "region": self.region(a.region),
            "credential": self.key(a.credential),
            "selected": self.key(a.selected),
            "scope": self.scope(a.scope),
            "upstream": &*a.upstream,
            "endpoint": a.endpoint.as_deref(),
            "request_kind": a.kind.name(),
            "stream": a.stream,
            "body_bytes": a.body_bytes,
            "charged": a.charged,
        })
    }

    /// A core event's fields, `event` naming which one.
    // One arm per core event, a flat table like `render_event`: clearer whole than split.
    #[allow(clippy::too_many_lines)]
    fn json_event(&self, ev: &Event) -> serde_json::Value {
        match ev {
            Event::Skipped {
                request,
                provider,
                region,
                credential,
                scope,
                block,
            } => json!({ "event": "skipped", "request": request.0,
                "provider": self.provider(*provider), "region": self.region(*region),
                "credential": self.key(*credential), "scope": self.scope(*scope),
                "block": block.name() }),
            Event::Classified { attempt, class } => {
                json!({ "event": "classified", "attempt": attempt.0, "class": class.name() })
            }
            Event::CooledDown {
                credential,
                scope,
                until,
                attempt,
            } => self.json_health(
                "cooled_down",
                *credential,
                Some(*scope),
                Some(*until),
                *attempt,
            ),
            Event::MarkedUnhealthy {
                credential,
                scope,
                until,
                attempt,
            } => self.json_health(
                "marked_unhealthy",
                *credential,
                Some(*scope),
                Some(*until),
                *attempt,
            ),
            Event::Blacklisted {
                credential,
                scope,
                attempt,
            } => self.json_health("blacklisted", *credential, *scope, None, *attempt),
            Event::Suspended {
                credential,
                scope,
                until,
                attempt,
            } => self.json_health(
                "suspended",
                *credential,
                Some(*scope),
                Some(*until),
                *attempt,
            ),
            Event::Resumed {
                credential,
                scope,
                attempt,
            } => self.json_health("resumed", *credential, Some(*scope), None, *attempt),
            Event::Evicted { credential, scope } => json!({ "event": "evicted",
                "credential": self.key(*credential), "scope": self.scope(*scope) }),
            Event::Waiting { request, until } => {
                json!({ "event": "waiting", "request": request.0, "until_ms": until.as_ms() })
            }
            Event::Charged {
                request,
                iteration,
                provider,
                region,
                attempt,
            } => json!({ "event": "charged", "request": request.0, "iteration": iteration,
                "provider": self.provider(*provider), "region": self.region(*region),
                "attempt": attempt.map(|a| a.0) }),
            Event::Counted {
                attempt,
                mapping,
                model,
                ok,
            } => json!({ "event": "counted", "attempt": attempt.0, "mapping": mapping,
                "model": model, "ok": ok }),
            Event::ProviderScored {
                request,
                provider,
                region,
                failed,
            } => json!({ "event": "provider_scored", "request": request.0,
                "provider": self.provider(*provider), "region": self.region(*region),
                "failed": failed }),
            Event::StaleResponse { attempt } => {
                json!({ "event": "stale_response", "attempt": attempt.0 })
            }
        }
    }

    /// A health write: `scope` null = every scope (a global blacklist), `until_ms` null =
    /// no end of its own.
    fn json_health(
        &self,
        event: &str,
        credential: KeyId,
        scope: Option<Scope>,
        until: Option<Instant>,
        attempt: AttemptId,
    ) -> serde_json::Value {
        json!({
            "event": event,
            "credential": self.key(credential),
            "scope": scope.map(|s| self.scope(s)),
            "until_ms": until.map(Instant::as_ms),
            "attempt": attempt.0,
        })
    }
}

/// The `v` of every JSON trace record: bumped when a field changes meaning or goes away
/// (`docs/trace-schema.md`).
pub const TRACE_SCHEMA_VERSION: u32 = 1;

/// A fault's fields for JSON records, names resolved.
#[derive(Clone, Debug, PartialEq, Eq)]
struct FaultFields {
    kind: &'static str,
    at_ms: u64,
    until_ms: Option<u64>,
    credential: Option<String>,
    provider: Option<String>,
    region: Option<String>,
}

impl FaultFields {
    fn new(f: &Fault, world: &World) -> FaultFields {
        let c = &world.catalog;
        let key = |k: &KeyId| c.credentials.get(k.index()).map(|x| x.name.clone());
        let provider = |p: &ProviderId| c.providers.get(p.index()).map(|x| x.name.clone());
        let region = |r: &RegionId| c.regions.get(r.index()).cloned();
        let (credential, p, r) = match &f.kind {
            FaultKind::KeyInvalid { credential, .. }
            | FaultKind::KeyRevoked { credential, .. }
            | FaultKind::RateLimit { credential, .. }
            | FaultKind::ModelUnsupported { credential, .. } => (key(credential), None, None),
            FaultKind::ServerErrors {
                provider: p,
                region: r,
                ..
            }
            | FaultKind::LatencySpike {
                provider: p,
                region: r,
                ..
            } => (None, provider(p), r.as_ref().and_then(region)),
            FaultKind::RegionOutage {
                provider: p,
                region: r,
                ..
            } => (None, provider(p), region(r)),
            FaultKind::StreamBreak {
                provider: p,
                region: r,
                credential,
                ..
            } => (
                credential.as_ref().and_then(key),
                provider(p),
                r.as_ref().and_then(region),
            ),
            FaultKind::RequestInvalid { .. } => (None, None, None),
            FaultKind::ModelWithdrawn { provider: p, .. } => (None, provider(p), None),
            FaultKind::Answer(x) => (
                x.credential.as_ref().and_then(key),
                x.provider.as_ref().and_then(provider),
                x.region.as_ref().and_then(region),
            ),
        };
        FaultFields {
            kind: f.kind.name(),
            at_ms: f.at.as_ms(),
            until_ms: f.until.map(Instant::as_ms),
            credential,
            provider: p,
            region: r,
        }
    }
}

fn yes(b: bool) -> &'static str {
    if b {
        "yes"
    } else {
        "no"
    }
}

/// A one-line description of a fault (for trace lines and reports).
pub fn describe_fault(f: &Fault) -> String {
    let window = match f.until {
        Some(u) => format!("[{}..{})", f.at, u),
        None => format!("[{}..)", f.at),
    };
    format!("{} {window}", f.kind.label())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(ev: Event) -> serde_json::Value {
        Names::default().json(&Entry {
            at: Instant(1500),
            record: Record::Core(ev),
        })
    }

    /// The events the incident library never produces still carry their fields (the
    /// others are checked on real traces in `tests/cli.rs`).
    #[test]
    fn rare_events_have_structured_json_fields() {
        let v = record(Event::Resumed {
            credential: KeyId(0),
            scope: Scope::UNSCOPED,
            attempt: AttemptId(4),
        });
        assert_eq!(
            (&v["v"], &v["t_ms"], &v["event"], &v["credential"]),
            (&json!(1), &json!(1500), &json!("resumed"), &json!("?"))
        );
        assert_eq!((&v["scope"], &v["attempt"]), (&json!("*"), &json!(4)));
        let v = record(Event::Charged {
            request: RequestId(2),
            iteration: 1,
            provider: ProviderId(0),
            region: RegionId(0),
            attempt: None,
        });
        assert_eq!((&v["event"], &v["request"]), (&json!("charged"), &json!(2)));
        assert!(v["attempt"].is_null() && v["provider"] == "?", "{v}");
        let v = record(Event::StaleResponse {
            attempt: AttemptId(9),
        });
        assert_eq!(
            (&v["event"], &v["attempt"], &v["text"]),
            (
                &json!("stale_response"),
                &json!(9),
                &json!("attempt#9 stale answer ignored")
            )
        );
    }
}
