//! What a timeline shows, read off a verdict's trace: lanes, state bands, fault windows,
//! attempts and client answers, in trace order and in simulated milliseconds.

// Every record and event kind is named: a new kind must be decided about.
#![warn(clippy::wildcard_enum_match_arm)]

use crate::check::Violation;
use crate::provider::Cause;
use crate::runner::Verdict;
use crate::trace::Record;
use crate::world::{Fault, FaultKind, World};
use gatesim_core::{AttemptId, Event, Instant, KeyId, Outcome, Scope};
use std::collections::BTreeMap;

/// A credential state band's kind, from the gateway's own health events.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum BandKind {
    /// `CooledDown { until }`: rate-limit cooldown.
    Cooling,
    /// `MarkedUnhealthy { until }`: consecutive errors.
    Unhealthy,
    /// `Suspended { until }`: the (credential, upstream model) path is suspended.
    Suspended,
    /// `Blacklisted`: to the end of the run.
    Blacklisted,
}

impl BandKind {
    /// Every kind, top stripe first.
    pub const ALL: [BandKind; 4] = [
        BandKind::Blacklisted,
        BandKind::Suspended,
        BandKind::Unhealthy,
        BandKind::Cooling,
    ];
    /// Stable lowercase name (CSS class suffix, legend).
    pub fn name(self) -> &'static str {
        match self {
            BandKind::Cooling => "cooling",
            BandKind::Unhealthy => "unhealthy",
            BandKind::Suspended => "suspended",
            BandKind::Blacklisted => "blacklisted",
        }
    }
    /// Which stripe of the lane it is drawn in (0 = top).
    pub fn stripe(self) -> u64 {
        match self {
            BandKind::Blacklisted => 0,
            BandKind::Suspended => 1,
            BandKind::Unhealthy => 2,
            BandKind::Cooling => 3,
        }
    }
}

/// An attempt's colour: the ground-truth cause of its answer, grouped, in order of
/// severity (a bin of ticks shows its worst).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum TickKind {
    /// Served.
    Ok,
    /// No answer recorded (still in flight when the run ended, or cancelled).
    NoAnswer,
    /// The request shape is rejected everywhere.
    RequestInvalid,
    /// 429.
    RateLimited,
    /// The credential cannot serve the upstream model.
    ModelUnsupported,
    /// A stream broke, before or after its first byte.
    StreamBreak,
    /// A 5xx.
    ServerError,
    /// Connection failed (regional outage).
    Unreachable,
    /// No answer in time: a hanging outage or an answer slower than the attempt timeout.
    Timeout,
    /// Invalid or revoked credential.
    Auth,
}

impl TickKind {
    /// Every kind, in legend order.
    pub const ALL: [TickKind; 10] = [
        TickKind::Ok,
        TickKind::RateLimited,
        TickKind::Auth,
        TickKind::ServerError,
        TickKind::Timeout,
        TickKind::Unreachable,
        TickKind::StreamBreak,
        TickKind::ModelUnsupported,
        TickKind::RequestInvalid,
        TickKind::NoAnswer,
    ];
    /// The kind of a ground-truth cause.
    pub fn of(cause: Cause) -> TickKind {
        match cause {
            Cause::Ok => TickKind::Ok,
            Cause::KeyInvalid | Cause::KeyRevoked => TickKind::Auth,
            Cause::RateLimited { .. } => TickKind::RateLimited,
            Cause::ModelUnsupported => TickKind::ModelUnsupported,
            Cause::RequestInvalid => TickKind::RequestInvalid,
            Cause::ServerError => TickKind::ServerError,
            Cause::OutageConnect => TickKind::Unreachable,
            Cause::OutageTimeout | Cause::TooSlow => TickKind::Timeout,
            Cause::StreamBreakBefore | Cause::StreamBreakAfter => TickKind::StreamBreak,
        }
    }
    /// Stable lowercase name (CSS class suffix).
    pub fn name(self) -> &'static str {
        match self {
            TickKind::Ok => "ok",
            TickKind::NoAnswer => "no-answer",
            TickKind::RequestInvalid => "request-invalid",
            TickKind::RateLimited => "rate-limited",
            TickKind::ModelUnsupported => "model-unsupported",
            TickKind::StreamBreak => "stream-break",
            TickKind::ServerError => "server-error",
            TickKind::Unreachable => "unreachable",
            TickKind::Timeout => "timeout",
            TickKind::Auth => "auth",
        }
    }
    /// What the legend says.
    pub fn label(self) -> &'static str {
        match self {
            TickKind::Ok => "ok",
            TickKind::NoAnswer => "no answer",
            TickKind::RequestInvalid => "request invalid",
            TickKind::RateLimited => "rate limited (429)",
            TickKind::ModelUnsupported => "model unsupported",
            TickKind::StreamBreak => "stream break",
            TickKind::ServerError => "server error (5xx)",
            TickKind::Unreachable => "unreachable",
            TickKind::Timeout => "timeout",
            TickKind::Auth => "auth (invalid/revoked key)",
        }
    }
}

/// One credential's lane.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) struct Lane {
    /// The credential's label.
    pub(super) name: String,
    /// Its provider, with the region lock if any (`anthropic`, `openai/eu-west`).
    pub(super) place: String,
}

/// A state band on a lane, `[from, to)` in ms.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) struct Band {
    pub(super) lane: usize,
    pub(super) kind: BandKind,
    pub(super) from_ms: u64,
    pub(super) to_ms: u64,
    /// The scope's model name (`*` = every scope).
    pub(super) scope: String,
}

/// An attempt: dispatched at `from_ms`, answered at `to_ms`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) struct Tick {
    pub(super) lane: usize,
    pub(super) attempt: AttemptId,
    pub(super) from_ms: u64,
    pub(super) to_ms: u64,
    pub(super) kind: TickKind,
    /// `429 rate_limited(hint 30s)`, or `no answer`.
    pub(super) answer: String,
    pub(super) upstream: String,
}

/// A client answer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) struct Mark {
    pub(super) at_ms: u64,
    pub(super) outcome: Outcome,
    pub(super) text: String,
}

/// A fault window over the lanes it targets.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) struct FaultBox {
    pub(super) index: usize,
    pub(super) from_ms: u64,
    /// Exclusive end, clipped to the end of the picture.
    pub(super) to_ms: u64,
    /// The targeted lanes, ascending; empty = the client lane (a request fault).
    pub(super) lanes: Vec<usize>,
    /// `rate_limit k0`, `region_outage openai/us-east`.
    pub(super) label: String,
}

/// Everything drawn.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) struct Model {
    pub(super) lanes: Vec<Lane>,
    /// The right edge of the picture: the last record that is not a stale answer or
    /// the end of the workload, whichever is later (at least 1 ms).
    pub(super) end_ms: u64,
    pub(super) bands: Vec<Band>,
    pub(super) ticks: Vec<Tick>,
    pub(super) marks: Vec<Mark>,
    pub(super) faults: Vec<FaultBox>,
    /// When the run ended (its last record, stale answers included).
    pub(super) ended_ms: u64,
    /// The earliest violation (ties: report order).
    pub(super) first_violation: Option<Violation>,
}

impl Model {
    /// Reads the verdict's trace.
    pub(super) fn of(v: &Verdict) -> Model {
        let w = &v.world;
        // Stale answers of hanging attempts can come long after the last decision; they
        // change nothing, so they do not stretch the picture.
        let last_ms = v
            .run
            .trace
            .entries
            .iter()
            .rev()
            .find(|e| {
                !matches!(
                    e.record,
                    Record::Core(Event::StaleResponse { .. }) | Record::Tracked { .. }
                )
            })
            .map_or(0, |e| e.at.as_ms());
        let end_ms = last_ms.max(w.duration.as_ms()).max(1);
        let mut m = Model {
            lanes: lanes(w),
            end_ms,
            bands: Vec::new(),
            ticks: Vec::new(),
            marks: Vec::new(),
            faults: faults(w, end_ms),
            first_violation: v.violations.iter().min_by_key(|x| x.at).cloned(),
            ended_ms: v.run.ended_at.as_ms(),
        };
        m.read_trace(v);
        m
    }

    fn read_trace(&mut self, v: &Verdict) {
        let names = &v.run.names;
        let mut flights: BTreeMap<AttemptId, usize> = BTreeMap::new();
        let mut open = Open::default();
        for e in &v.run.trace.entries {
            let at = e.at.as_ms();
            match &e.record {
                Record::Dispatched(a) => {
                    flights.insert(a.id, self.ticks.len());
                    self.ticks.push(Tick {
                        lane: a.credential.index(),
                        attempt: a.id,
                        from_ms: at,
                        to_ms: at,
                        kind: TickKind::NoAnswer,
                        answer: "no answer".to_string(),
                        upstream: a.upstream.to_string(),
                    });
                }
                Record::Answered {
                    attempt,
                    status,
                    cause,
                } => {
                    if let Some(t) = flights.get(attempt).and_then(|i| self.ticks.get_mut(*i)) {
                        t.to_ms = at;
                        t.kind = TickKind::of(*cause);
                        t.answer = format!("{status} {cause}");
                    }
                }
                Record::Core(ev) => open.handle(ev, at, names, self.end_ms, &mut self.bands),
                Record::Responded { request, response } => self.marks.push(Mark {
                    at_ms: at,
                    outcome: response.outcome,
                    text: format!(
                        "{request} => {} {} after {} attempt{}",
                        response.status,
                        response.outcome.name(),
                        response.attempts,
                        if response.attempts == 1 { "" } else { "s" }
                    ),
                }),
                Record::Arrived(_) | Record::FaultEdge { .. } | Record::Tracked { .. } => {}
            }
        }
        open.close_all(self.end_ms, &mut self.bands);
        self.bands.sort_by(|a, b| {
            (a.lane, a.kind.stripe(), a.from_ms, a.to_ms).cmp(&(
                b.lane,
                b.kind.stripe(),
                b.from_ms,
                b.to_ms,
            ))
        });
    }
}

/// Bands still open, by (credential, scope, kind); `None` scope = a global blacklisting.
#[derive(Debug, Default)]
struct Open {
    bands: BTreeMap<(KeyId, Option<Scope>, BandKind), Band>,
}

impl Open {
    fn handle(
        &mut self,
        ev: &Event,
        at: u64,
        names: &crate::trace::Names,
        end_ms: u64,
        out: &mut Vec<Band>,
    ) {
        let timed = |kind, credential: &KeyId, scope: &Scope, until: &Instant| {
            (kind, *credential, Some(*scope), until.as_ms().min(end_ms))
        };
        let (kind, credential, scope, until) = match ev {
            Event::CooledDown {
                credential,
                scope,
                until,
                ..
            } => timed(BandKind::Cooling, credential, scope, until),
            Event::MarkedUnhealthy {
                credential,
                scope,
                until,
                ..
            } => timed(BandKind::Unhealthy, credential, scope, until),
            Event::Suspended {
                credential,
                scope,
                until,
                ..
            } => timed(BandKind::Suspended, credential, scope, until),
            Event::Blacklisted {
                credential, scope, ..
            } => (BandKind::Blacklisted, *credential, *scope, end_ms),
            // A success lifts every timed mark of the record; an eviction drops the
            // record, a scoped blacklisting included.
            Event::Resumed {
                credential, scope, ..
            } => {
                self.cut(*credential, Some(*scope), at, false, out);
                return;
            }
            Event::Evicted { credential, scope } => {
                self.cut(*credential, Some(*scope), at, true, out);
                return;
            }
            Event::Skipped { .. }
            | Event::Classified { .. }
            | Event::Waiting { .. }
            | Event::Charged { .. }
            | Event::Counted { .. }
            | Event::ProviderScored { .. }
            | Event::StaleResponse { .. } => return,
        };
        let key = (credential, scope, kind);
        if kind == BandKind::Blacklisted && self.bands.contains_key(&key) {
            return;
        }
        // A new write replaces the record's end (the event carries the effective end
        // after merging): the old band stops here.
        if let Some(mut old) = self.bands.remove(&key) {
            old.to_ms = old.to_ms.min(at);
            push(out, old);
        }
        let band = Band {
            lane: credential.index(),
            kind,
            from_ms: at,
            to_ms: until.max(at),
            scope: scope.map_or_else(|| "*".to_string(), |s| names.scope(s)),
        };
        self.bands.insert(key, band);
    }

    fn cut(
        &mut self,
        credential: KeyId,
        scope: Option<Scope>,
        at: u64,
        blacklist_too: bool,
        out: &mut Vec<Band>,
    ) {
        for kind in BandKind::ALL {
            if kind == BandKind::Blacklisted && !blacklist_too {
                continue;
            }
            if let Some(mut b) = self.bands.remove(&(credential, scope, kind)) {
                b.to_ms = b.to_ms.min(at);
                push(out, b);
            }
        }
    }

    fn close_all(self, end_ms: u64, out: &mut Vec<Band>) {
        for (_, mut b) in self.bands {
            b.to_ms = b.to_ms.min(end_ms);
            push(out, b);
        }
    }
}

/// Keeps a band that covers any time.
fn push(out: &mut Vec<Band>, b: Band) {
    if b.to_ms > b.from_ms {
        out.push(b);
    }
}

fn lanes(w: &World) -> Vec<Lane> {
    let c = &w.catalog;
    c.credentials
        .iter()
        .map(|k| {
            let provider = c.provider(k.provider).name.clone();
            let place = match k.region.and_then(|r| c.regions.get(r.index())) {
                Some(r) => format!("{provider}/{r}"),
                None => provider,
            };
            Lane {
                name: k.name.clone(),
                place,
            }
        })
        .collect()
}

fn faults(w: &World, end_ms: u64) -> Vec<FaultBox> {
    w.faults
        .faults
        .iter()
        .enumerate()
        .filter(|(_, f)| f.at.as_ms() < end_ms)
        .map(|(index, f)| {
            let (lanes, target) = targets(w, f);
            FaultBox {
                index,
                from_ms: f.at.as_ms(),
                to_ms: f.until.map_or(end_ms, |u| u.as_ms().min(end_ms)),
                lanes,
                label: format!("{} {target}", f.kind.label()),
            }
        })
        .collect()
}

/// The lanes a fault touches and how its target is named.
fn targets(w: &World, f: &Fault) -> (Vec<usize>, String) {
    let c = &w.catalog;
    let key = |k: KeyId| (vec![k.index()], c.credential(k).name.clone());
    // A provider (or provider × region) fault touches every credential of the provider
    // that may be sent there: the region-locked ones only in their own region.
    let place = |p: gatesim_core::ProviderId, r: Option<gatesim_core::RegionId>| {
        let lanes = c
            .credentials
            .iter()
            .enumerate()
            .filter(|(_, k)| {
                k.provider == p && (r.is_none() || k.region.is_none() || k.region == r)
            })
            .map(|(i, _)| i)
            .collect();
        let provider = &c.provider(p).name;
        let name = match r.and_then(|r| c.regions.get(r.index())) {
            Some(r) => format!("{provider}/{r}"),
            None => provider.clone(),
        };
        (lanes, name)
    };
    match &f.kind {
        FaultKind::KeyInvalid { credential, .. }
        | FaultKind::KeyRevoked { credential, .. }
        | FaultKind::RateLimit { credential, .. }
        | FaultKind::ModelUnsupported { credential, .. } => key(*credential),
        FaultKind::ServerErrors {
            provider, region, ..
        }
        | FaultKind::LatencySpike {
            provider, region, ..
        } => place(*provider, *region),
        FaultKind::RegionOutage {
            provider, region, ..
        } => place(*provider, Some(*region)),
        FaultKind::StreamBreak {
            provider,
            region,
            credential,
            ..
        } => match credential {
            Some(k) => key(*k),
            None => place(*provider, *region),
        },
        FaultKind::ModelWithdrawn { provider, upstream } => {
            let (lanes, name) = place(*provider, None);
            (lanes, format!("{name} {upstream}"))
        }
        FaultKind::RequestInvalid { .. } => (Vec::new(), "requests".to_string()),
        FaultKind::Answer(x) => {
            let (lanes, name) = match (x.credential, x.provider) {
                (Some(k), _) => key(k),
                (None, Some(p)) => place(p, x.region),
                (None, None) => (Vec::new(), String::new()),
            };
            match &x.model {
                Some(m) => (lanes, format!("{name} {m}")),
                None => (lanes, name),
            }
        }
    }
}
