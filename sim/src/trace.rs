//! The trace: every arrival, decision, attempt, answer, state change and client answer,
//! with simulated time. One stable text line per record for snapshots (no secrets,
//! sim-relative times), JSON lines for machines, and a hash for the determinism check.

// Every record and event kind is named in each match: a new kind must be decided about.
#![warn(clippy::wildcard_enum_match_arm)]

use crate::provider::Cause;
use crate::world::{Fault, World};
use gatesim_core::fnv1a;
use gatesim_core::{
    Attempt, AttemptId, ClientResponse, Event, Instant, KeyId, ProjectId, ProviderId, RegionId,
    RequestId, RequestKind, Scope,
};
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
    providers: Vec<String>,
    regions: Vec<String>,
    credentials: Vec<String>,
    projects: Vec<String>,
    faults: Vec<String>,
    scopes: BTreeMap<Scope, String>,
}

impl Names {
    /// Names of a world.
    pub fn new(world: &World) -> Names {
        let c = &world.catalog;
        let mut names = Names {
            providers: c.providers.iter().map(|p| p.name.clone()).collect(),
            regions: c.regions.clone(),
            credentials: c.credentials.iter().map(|k| k.name.clone()).collect(),
            projects: c.projects.iter().map(|p| p.name.clone()).collect(),
            faults: world.faults.faults.iter().map(describe_fault).collect(),
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

    /// One record as a JSON object.
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
        let mut v = serde_json::json!({ "t_ms": e.at.as_ms(), "kind": kind, "text": line.split_once(' ').map_or("", |(_, t)| t) });
        match &e.record {
            Record::Dispatched(a) => {
                v["request"] = a.request.0.into();
                v["attempt"] = a.id.0.into();
                v["provider"] = self.place(a.provider, a.region).into();
                v["credential"] = self.key(a.credential).into();
                v["upstream"] = a.upstream.to_string().into();
            }
            Record::Answered {
                attempt,
                status,
                cause,
            } => {
                v["attempt"] = attempt.0.into();
                v["status"] = (*status).into();
                v["cause"] = cause.name().into();
            }
            Record::Responded { request, response } => {
                v["request"] = request.0.into();
                v["status"] = response.status.into();
                v["outcome"] = response.outcome.name().into();
                if let Some(e) = &response.stream_error {
                    v["stream_error"] = serde_json::json!({
                        "status": e.status,
                        "retry_after_s": e.retry_after_s,
                    });
                }
            }
            // Structured fields for these kinds are issue-15 work; they carry `text` only.
            Record::Arrived(_)
            | Record::Core(_)
            | Record::FaultEdge { .. }
            | Record::Tracked { .. } => {}
        }
        v
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
    format!("{} {window}", f.kind.name())
}
