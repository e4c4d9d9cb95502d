//! A deliberately naive model of the key pool and key health: plain maps of which
//! credential may be sent for which (model, region) at time t, written from the
//! specification (`docs/invariants.md`, `docs/decisions.md`) and not from the core.
//!
//! - an auth failure blacklists the credential forever, for every model;
//! - a 429 cools (credential, model) until the latest `t + retry-after` seen (60 s
//!   without a usable hint, at most 1 h);
//! - 3 consecutive transient errors of (credential, model, region) make it unhealthy for
//!   30 s (a success there resets the count);
//! - a model-support error suspends (credential, upstream model) for 12 h;
//! - BYOK credentials are never marked; token counts ignore everything but the blacklist,
//!   and their successes record nothing.

use crate::ops::Meaning;
use gatesim_core::{Catalog, Instant, KeyId, Mode, ProviderId, RegionId, Source};
use std::collections::{BTreeMap, BTreeSet};

/// Cooldown after a 429 without a usable hint.
pub(crate) const RETRY_AFTER_DEFAULT_MS: u64 = 60_000;
/// Longest cooldown any hint can cause.
pub(crate) const RETRY_AFTER_CAP_MS: u64 = 3_600_000;
/// Consecutive transient errors that make a path unhealthy.
pub(crate) const ERRORS_CONSECUTIVE_MAX: u32 = 3;
/// How long a path stays unhealthy.
pub(crate) const UNHEALTHY_MS: u64 = 30_000;
/// How long a model-support error suspends (credential, upstream model).
pub(crate) const SUSPENSION_MS: u64 = 12 * 3_600_000;
/// Distinct provider × region places one upstream call may try.
pub(crate) const ATTEMPTS_MAX: usize = 3;
/// Longest a request waits for a cooldown instead of failing.
pub(crate) const WAIT_MAX_MS: u64 = 30_000;

/// One place a request can be served: provider × region → upstream, for a model.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Route {
    /// Provider.
    pub provider: ProviderId,
    /// Region.
    pub region: RegionId,
    /// The canonical (or custom) model name: the health scope.
    pub model: String,
    /// The upstream model sent.
    pub upstream: String,
}

/// A candidate: a route and the credential whose token would be sent there.
#[derive(Clone, Debug)]
pub(crate) struct Candidate {
    /// Route.
    pub route: Route,
    /// The credential sent.
    pub sent: KeyId,
}

/// When a candidate may be sent.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Availability {
    /// Now.
    Now,
    /// From this instant; `cooling` when a cooldown or unhealthy period (not only a
    /// suspension) is what blocks it.
    At {
        /// First instant it may be sent.
        from: Instant,
        /// Blocked by a cooldown or an unhealthy period, not a suspension.
        cooling: bool,
    },
    /// Never (blacklisted).
    Never,
}

/// What one answer changed in the model, to compare with the gateway's events.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct Effect {
    /// The credential was blacklisted.
    pub blacklisted: bool,
    /// The (credential, model) cooldown end after the answer.
    pub cooled_until: Option<Instant>,
    /// The (credential, model, region) became unhealthy until this instant.
    pub unhealthy_until: Option<Instant>,
    /// The (credential, upstream) suspension end after the answer.
    pub suspended_until: Option<Instant>,
}

/// The model.
#[derive(Clone, Debug)]
pub(crate) struct Naive {
    catalog: Catalog,
    blacklist: BTreeSet<KeyId>,
    cooling: BTreeMap<(KeyId, String), Instant>,
    errors: BTreeMap<(KeyId, String, RegionId), u32>,
    unhealthy: BTreeMap<(KeyId, String, RegionId), Instant>,
    suspended: BTreeMap<(KeyId, String), Instant>,
}

impl Naive {
    /// A model of a gateway with this catalog and nothing recorded yet.
    pub(crate) fn new(catalog: &Catalog) -> Naive {
        Naive {
            catalog: catalog.clone(),
            blacklist: BTreeSet::new(),
            cooling: BTreeMap::new(),
            errors: BTreeMap::new(),
            unhealthy: BTreeMap::new(),
            suspended: BTreeMap::new(),
        }
    }

    /// Every route a model name resolves to: a canonical model's mappings, an alias's
    /// members' mappings, `provider/model`, or a custom name on providers that accept any.
    pub(crate) fn routes(&self, name: &str) -> Vec<Route> {
        let cat = &self.catalog;
        let mappings = |m: &gatesim_core::Model, only: Option<ProviderId>| -> Vec<Route> {
            m.served_by
                .iter()
                .filter(|s| only.is_none_or(|p| p == s.provider))
                .map(|s| Route {
                    provider: s.provider,
                    region: s.region,
                    model: m.name.clone(),
                    upstream: s.upstream.clone(),
                })
                .collect()
        };
        let custom = |model: &str, only: Option<ProviderId>| -> Vec<Route> {
            let mut out = Vec::new();
            for (i, p) in cat.providers.iter().enumerate() {
                let id = ProviderId(i as u32);
                if p.accepts_any_model && only.is_none_or(|o| o == id) {
                    for r in &p.regions {
                        out.push(Route {
                            provider: id,
                            region: *r,
                            model: model.to_string(),
                            upstream: model.to_string(),
                        });
                    }
                }
            }
            out
        };
        if let Some(m) = cat.models.iter().find(|m| m.name == name) {
            return if m.alias_of.is_empty() {
                mappings(m, None)
            } else {
                m.alias_of
                    .iter()
                    .flat_map(|a| mappings(cat.model(*a), None))
                    .collect()
            };
        }
        if let Some((p, model)) = name.split_once('/') {
            if let Some(pi) = cat.providers.iter().position(|x| x.name == p) {
                let pid = ProviderId(pi as u32);
                return match cat.models.iter().find(|m| m.name == model) {
                    Some(m) if m.alias_of.is_empty() => mappings(m, Some(pid)),
                    Some(_) => Vec::new(),
                    None => custom(model, Some(pid)),
                };
            }
        }
        custom(name, None)
    }

    /// The token sent when `key` goes to `region`: an unlocked platform key is replaced
    /// by its provider's first platform key locked to that region, if any.
    pub(crate) fn sent_for(&self, key: KeyId, region: RegionId) -> KeyId {
        let c = self.catalog.credential(key);
        if c.source != Source::Platform || c.region.is_some() {
            return key;
        }
        self.catalog
            .credentials
            .iter()
            .position(|o| {
                o.provider == c.provider && o.source == Source::Platform && o.region == Some(region)
            })
            .map_or(key, |i| KeyId(i as u32))
    }

    /// Every candidate of a request: each route with each credential the project's mode
    /// (or the request's BYOK key) admits and whose region lock fits.
    pub(crate) fn candidates(
        &self,
        model: &str,
        mode: Mode,
        byok: Option<KeyId>,
    ) -> Vec<Candidate> {
        let mut out = Vec::new();
        for route in self.routes(model) {
            for (i, c) in self.catalog.credentials.iter().enumerate() {
                let key = KeyId(i as u32);
                let usable = match byok {
                    Some(b) => key == b,
                    None => c.source != Source::Byok && admits(mode, c.source),
                };
                if !usable || c.provider != route.provider {
                    continue;
                }
                if c.region.is_some_and(|lock| lock != route.region) {
                    continue;
                }
                out.push(Candidate {
                    sent: self.sent_for(key, route.region),
                    route: route.clone(),
                });
            }
        }
        out
    }

    /// The token the first credential in pool order (the primary) sends to
    /// (provider, region) for a project of `mode`.
    pub(crate) fn primary(
        &self,
        provider: ProviderId,
        region: RegionId,
        mode: Mode,
    ) -> Option<KeyId> {
        let first = self.catalog.credentials.iter().position(|c| {
            c.provider == provider
                && c.source != Source::Byok
                && admits(mode, c.source)
                && c.region.is_none_or(|lock| lock == region)
        })?;
        Some(self.sent_for(KeyId(first as u32), region))
    }

    /// Whether a credential failed authentication.
    pub(crate) fn blacklisted(&self, key: KeyId) -> bool {
        self.blacklist.contains(&key)
    }

    /// The (credential, model) cooldown end.
    pub(crate) fn cooling_until(&self, key: KeyId, model: &str) -> Instant {
        let k = (key, model.to_string());
        self.cooling.get(&k).copied().unwrap_or_default()
    }

    /// The (credential, model, region) unhealthy end.
    pub(crate) fn unhealthy_until(&self, key: KeyId, model: &str, region: RegionId) -> Instant {
        let k = (key, model.to_string(), region);
        self.unhealthy.get(&k).copied().unwrap_or_default()
    }

    /// The (credential, upstream) suspension end.
    pub(crate) fn suspended_until(&self, key: KeyId, upstream: &str) -> Instant {
        let k = (key, upstream.to_string());
        self.suspended.get(&k).copied().unwrap_or_default()
    }

    /// Whether any suspension of `key` ends exactly at `until`.
    pub(crate) fn has_suspension_ending(&self, key: KeyId, until: Instant) -> bool {
        self.suspended
            .iter()
            .any(|((k, _), end)| *k == key && *end == until)
    }

    /// When `sent` may be sent on `route` (token counts: only the blacklist counts).
    pub(crate) fn availability(
        &self,
        sent: KeyId,
        route: &Route,
        now: Instant,
        count_tokens: bool,
    ) -> Availability {
        if self.blacklisted(sent) {
            return Availability::Never;
        }
        if count_tokens || self.catalog.credential(sent).source == Source::Byok {
            return Availability::Now;
        }
        let cooling = self
            .cooling_until(sent, &route.model)
            .max(self.unhealthy_until(sent, &route.model, route.region));
        let suspended = self.suspended_until(sent, &route.upstream);
        let from = cooling.max(suspended);
        if from <= now {
            Availability::Now
        } else {
            Availability::At {
                from,
                cooling: cooling > now && suspended <= now,
            }
        }
    }

    /// Records what an answer to an attempt sending `sent` on `route` means, at `now`.
    pub(crate) fn observe(
        &mut self,
        sent: KeyId,
        route: &Route,
        meaning: Meaning,
        now: Instant,
        count_tokens: bool,
    ) -> Effect {
        let mut effect = Effect::default();
        if self.catalog.credential(sent).source == Source::Byok {
            return effect;
        }
        let path = (sent, route.model.clone(), route.region);
        match meaning {
            Meaning::Success if count_tokens => {}
            Meaning::Success => {
                self.errors.remove(&path);
            }
            Meaning::Auth => {
                self.blacklist.insert(sent);
                effect.blacklisted = true;
            }
            Meaning::RateLimited(hint) => {
                let hint = hint
                    .unwrap_or(RETRY_AFTER_DEFAULT_MS)
                    .min(RETRY_AFTER_CAP_MS);
                let end = self.cooling.entry((sent, route.model.clone())).or_default();
                *end = (*end).max(Instant(now.as_ms() + hint));
                effect.cooled_until = Some(*end);
            }
            Meaning::ModelUnsupported => {
                let end = self
                    .suspended
                    .entry((sent, route.upstream.clone()))
                    .or_default();
                *end = (*end).max(Instant(now.as_ms() + SUSPENSION_MS));
                effect.suspended_until = Some(*end);
            }
            Meaning::RequestInvalid => {}
            Meaning::Transient | Meaning::Interrupted => {
                let errors = self.errors.entry(path.clone()).or_default();
                *errors += 1;
                if *errors >= ERRORS_CONSECUTIVE_MAX {
                    *errors = 0;
                    let end = self.unhealthy.entry(path).or_default();
                    *end = (*end).max(Instant(now.as_ms() + UNHEALTHY_MS));
                    effect.unhealthy_until = Some(*end);
                }
            }
        }
        effect
    }
}

/// Whether a project mode may use a pooled credential of `source`.
fn admits(mode: Mode, source: Source) -> bool {
    match mode {
        Mode::ApiKeys => source == Source::Org,
        Mode::Credits => source == Source::Platform,
        Mode::Hybrid => source != Source::Byok,
    }
}
