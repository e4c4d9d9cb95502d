//! The checker's reference model: its own route resolution, health state rebuilt from
//! ground-truth causes, mapping uptime, and the fault-plan oracle for liveness.
//!
//! Deliberately naive and written independently of the core: it states what the
//! specification says, not how the gateway does it.

use crate::contract::Terms;
use crate::provider::Cause;
use crate::world::FaultKind;
use gatesim_core::{Attempt, Duration, Instant, KeyId, Mode, ProviderId, RegionId, Scope, Source};
use std::collections::{BTreeMap, BTreeSet, VecDeque};

/// A candidate attempt as the reference sees it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct Pair {
    pub provider: ProviderId,
    pub region: RegionId,
    pub scope: Scope,
    pub upstream_scope: Scope,
    pub selected: KeyId,
    pub sent: KeyId,
}

pub(super) struct Model<'w> {
    world: Terms<'w>,
    blacklist: BTreeSet<KeyId>,
    cooling: BTreeMap<(KeyId, Scope), Instant>,
    /// Consecutive errors are per (credential, model, region).
    unhealthy: BTreeMap<(KeyId, Scope, RegionId), Instant>,
    errors: BTreeMap<(KeyId, Scope, RegionId), u32>,
    suspended: BTreeMap<(KeyId, Scope), Instant>,
    mapping: BTreeMap<(ProviderId, RegionId, Scope), Outcomes>,
    /// Per model across every mapping.
    model: BTreeMap<Scope, Outcomes>,
    /// History writes so far: each history remembers its latest.
    writes: u64,
}

/// The history of `key`, created (forgetting the least recently written one at the cap)
/// if need be, stamped with write number `seq`.
fn write_history<K: Ord + Copy>(
    store: &mut BTreeMap<K, Outcomes>,
    key: K,
    cap: usize,
    seq: u64,
) -> &mut Outcomes {
    if !store.contains_key(&key) && store.len() >= cap {
        let oldest = store.iter().min_by_key(|(_, h)| h.written).map(|(k, _)| *k);
        if let Some(k) = oldest {
            store.remove(&k);
        }
    }
    let h = store.entry(key).or_default();
    h.written = seq;
    h
}

/// The checker's own uptime history, written from the contract's words rather than the
/// core's `History`: the last `history_entries_max` outcomes counted, of which those
/// younger than `history_window` make the uptime.
#[derive(Debug, Default)]
pub(super) struct Outcomes {
    /// (time, success) of each outcome counted, oldest first.
    kept: VecDeque<(Instant, bool)>,
    /// The number of the latest write, for forgetting the least recently written.
    written: u64,
}

impl Outcomes {
    fn push(&mut self, t: Instant, ok: bool, kept: u32) {
        self.kept.push_back((t, ok));
        while self.kept.len() > kept as usize {
            self.kept.pop_front();
        }
    }

    /// Successes per 10 000 outcomes in the window ending at `t` (rounded down); 10 000
    /// when none.
    pub(super) fn uptime_bp(&self, t: Instant, window: Duration) -> u32 {
        let recent = self
            .kept
            .iter()
            .rev()
            .take_while(|(at, _)| t.saturating_since(*at) < window);
        let (mut total, mut ok) = (0u64, 0u64);
        for (_, good) in recent {
            total += 1;
            ok += u64::from(*good);
        }
        (ok * 10_000)
            .checked_div(total)
            .map_or(10_000, |bp| bp as u32)
    }
}

struct Route {
    provider: ProviderId,
    region: RegionId,
    scope: Scope,
    upstream: String,
}

impl<'w> Model<'w> {
    pub(super) fn new(world: Terms<'w>) -> Model<'w> {
        Model {
            world,
            blacklist: BTreeSet::new(),
            cooling: BTreeMap::new(),
            unhealthy: BTreeMap::new(),
            errors: BTreeMap::new(),
            suspended: BTreeMap::new(),
            mapping: BTreeMap::new(),
            model: BTreeMap::new(),
            writes: 0,
        }
    }

    fn routes(&self, name: &str) -> Vec<Route> {
        let cat = &self.world.catalog;
        let of_model = |m: &gatesim_core::Model| -> Vec<Route> {
            m.served_by
                .iter()
                .map(|s| Route {
                    provider: s.provider,
                    region: s.region,
                    scope: Scope::of(&m.name),
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
                            scope: Scope::of(model),
                            upstream: model.to_string(),
                        });
                    }
                }
            }
            out
        };
        if let Some(m) = cat.models.iter().find(|m| m.name == name) {
            if m.alias_of.is_empty() {
                return of_model(m);
            }
            return m
                .alias_of
                .iter()
                .flat_map(|a| of_model(cat.model(*a)))
                .collect();
        }
        if let Some((p, model)) = name.split_once('/') {
            if let Some(pi) = cat.providers.iter().position(|x| x.name == p) {
                let pid = ProviderId(pi as u32);
                if let Some(m) = cat
                    .models
                    .iter()
                    .find(|m| m.name == model && m.alias_of.is_empty())
                {
                    return of_model(m)
                        .into_iter()
                        .filter(|r| r.provider == pid)
                        .collect();
                }
                return custom(model, Some(pid));
            }
        }
        custom(name, None)
    }

    /// The token actually sent for a credential in a region: an unlocked platform key is
    /// replaced by the provider's platform key locked to that region, if any.
    fn sent_for(&self, key: KeyId, region: RegionId) -> KeyId {
        let cat = &self.world.catalog;
        let c = cat.credential(key);
        if c.source == Source::Platform && c.region.is_none() {
            if let Some(i) = cat.credentials.iter().position(|o| {
                o.provider == c.provider && o.source == Source::Platform && o.region == Some(region)
            }) {
                return KeyId(i as u32);
            }
        }
        key
    }

    /// Every (route, credential) a request may use.
    pub(super) fn pairs(&self, model: &str, mode: Mode, byok: Option<KeyId>) -> Vec<Pair> {
        let cat = &self.world.catalog;
        let mut out = Vec::new();
        for r in self.routes(model) {
            for (i, c) in cat.credentials.iter().enumerate() {
                let key = KeyId(i as u32);
                let usable = match byok {
                    Some(b) => key == b,
                    None => c.source != Source::Byok && mode.admits(c.source),
                };
                if !usable || c.provider != r.provider || c.region.is_some_and(|l| l != r.region) {
                    continue;
                }
                out.push(Pair {
                    provider: r.provider,
                    region: r.region,
                    scope: r.scope,
                    upstream_scope: Scope::of(&r.upstream),
                    selected: key,
                    sent: self.sent_for(key, r.region),
                });
            }
        }
        debug_assert!(
            out.iter()
                .all(|p| cat.credential(p.sent).provider == p.provider
                    && cat.credential(p.selected).provider == p.provider),
            "a pair sends a credential of its own provider"
        );
        out
    }

    /// The token the first credential in pool order sends on this pair's route.
    pub(super) fn primary(&self, pair: &Pair, mode: Mode) -> Option<KeyId> {
        let cat = &self.world.catalog;
        cat.credentials
            .iter()
            .enumerate()
            .find(|(_, c)| {
                c.provider == pair.provider
                    && c.source != Source::Byok
                    && mode.admits(c.source)
                    && c.region.is_none_or(|l| l == pair.region)
            })
            .map(|(i, _)| self.sent_for(KeyId(i as u32), pair.region))
    }

    pub(super) fn blacklisted(&self, key: KeyId) -> bool {
        self.blacklist.contains(&key)
    }

    /// End of the rate-limit cooldown of (key, model) or the consecutive-error period of
    /// (key, model, region), whichever is later.
    pub(super) fn cooling_until(&self, key: KeyId, scope: Scope, region: RegionId) -> Instant {
        let c = self.cooling.get(&(key, scope)).copied().unwrap_or_default();
        let u = self
            .unhealthy
            .get(&(key, scope, region))
            .copied()
            .unwrap_or_default();
        c.max(u)
    }

    /// The end of the latest rate-limit cooldown of (key, model) or consecutive-error
    /// period of (key, model, region) the provider's answers justified, ended or not;
    /// `None` when no answer ever justified one.
    pub(super) fn block_end(&self, key: KeyId, scope: Scope, region: RegionId) -> Option<Instant> {
        let c = self.cooling.get(&(key, scope)).copied();
        let u = self.unhealthy.get(&(key, scope, region)).copied();
        c.max(u)
    }

    /// Drops every block of `key` the gateway keeps under `scope`: cooldowns and
    /// suspensions under the scope itself, consecutive errors under its regional scope.
    pub(super) fn forget(&mut self, key: KeyId, scope: Scope) {
        self.cooling.remove(&(key, scope));
        self.suspended.remove(&(key, scope));
        let regional = |k: &(KeyId, Scope, RegionId)| k.0 == key && k.1.in_region(k.2) == scope;
        self.unhealthy.retain(|k, _| !regional(k));
        self.errors.retain(|k, _| !regional(k));
    }

    pub(super) fn suspended_until(&self, key: KeyId, upstream_scope: Scope) -> Instant {
        self.suspended
            .get(&(key, upstream_scope))
            .copied()
            .unwrap_or_default()
    }

    /// Whether the reference allows sending this pair at `t`.
    pub(super) fn eligible(&self, p: &Pair, t: Instant, count_tokens: bool) -> bool {
        if self.blacklisted(p.sent) {
            return false;
        }
        count_tokens
            || (self.cooling_until(p.sent, p.scope, p.region) <= t
                && self.suspended_until(p.sent, p.upstream_scope) <= t)
    }

    /// The soonest end of a block among a request's pairs after `t`, and whether a
    /// rate-limit or error cooldown (not only a suspension) is among the blocks.
    pub(super) fn soonest_end(
        &self,
        model: &str,
        mode: Mode,
        byok: Option<KeyId>,
        t: Instant,
    ) -> Option<(Instant, bool)> {
        let mut soonest: Option<Instant> = None;
        let mut cooling = false;
        for p in self.pairs(model, mode, byok) {
            if self.blacklisted(p.sent) {
                continue;
            }
            // A pair is unusable until its latest block ends.
            let susp = self.suspended_until(p.sent, p.upstream_scope);
            let c = self.cooling_until(p.sent, p.scope, p.region);
            let end = susp.max(c);
            if end <= t {
                continue;
            }
            cooling |= c > susp;
            soonest = Some(soonest.map_or(end, |s| s.min(end)));
        }
        debug_assert!(soonest.is_none_or(|s| s > t), "only blocks still in force");
        soonest.map(|s| (s, cooling))
    }

    /// Updates health from a ground-truth cause.
    pub(super) fn observe(&mut self, a: &Attempt, cause: Cause, t: Instant, count_tokens: bool) {
        if self.world.catalog.credential(a.credential).source == Source::Byok {
            // A user's own key is outside pool health: never marked.
            return;
        }
        let promise = self.world.contract;
        let key = (a.credential, a.scope);
        let regional = (a.credential, a.scope, a.region);
        // Every cause by name, so a new one must be placed here; the arms agree with the
        // provider's own auth and transient classes.
        match cause {
            Cause::KeyInvalid | Cause::KeyRevoked => {
                debug_assert!(cause.is_auth(), "{cause} blacklists: an auth failure");
                self.blacklist.insert(a.credential);
            }
            Cause::RateLimited { hint } => {
                let d = hint
                    .unwrap_or(promise.retry_after_default)
                    .min(promise.retry_after_cap);
                let end = self.cooling.entry(key).or_default();
                *end = (*end).max(t + d);
            }
            Cause::ModelUnsupported => {
                let end = self
                    .suspended
                    .entry((a.credential, Scope::of(&a.upstream)))
                    .or_default();
                *end = (*end).max(t + promise.suspension_for);
            }
            Cause::ServerError
            | Cause::OutageConnect
            | Cause::OutageTimeout
            | Cause::TooSlow
            | Cause::StreamBreakBefore
            | Cause::StreamBreakAfter => {
                debug_assert!(cause.is_transient(), "{cause} counts as a transient error");
                let n = self.errors.entry(regional).or_default();
                *n += 1;
                if *n >= promise.errors_consecutive_max {
                    *n = 0;
                    let end = self.unhealthy.entry(regional).or_default();
                    *end = (*end).max(t + promise.unhealthy_for);
                }
                // A full run of consecutive errors marks the path and starts the count again.
                debug_assert!(*n < promise.errors_consecutive_max.max(1));
            }
            Cause::Ok if !count_tokens => {
                self.errors.remove(&regional);
            }
            Cause::Ok | Cause::RequestInvalid => {
                debug_assert!(
                    !cause.is_auth() && !cause.is_transient(),
                    "{cause} is harmless"
                );
            }
        }
    }

    /// Counts an outcome in its mapping's and its model's history.
    /// Counts an outcome in its mapping's and its model's history. A store of histories
    /// holds at most `scopes_max` of each kind: creating one more forgets the one written
    /// least recently, as the contract allows a bounded store to.
    pub(super) fn record_uptime(&mut self, a: &Attempt, ok: bool, t: Instant) {
        let kept = self.world.contract.history_entries_max;
        let cap = self.world.contract.scopes_max as usize;
        self.writes += 1;
        let seq = self.writes;
        write_history(&mut self.mapping, (a.provider, a.region, a.scope), cap, seq)
            .push(t, ok, kept);
        self.writes += 1;
        let seq = self.writes;
        write_history(&mut self.model, a.scope, cap, seq).push(t, ok, kept);
    }

    pub(super) fn mapping_uptime_bp(&self, pair: &Pair, t: Instant) -> u32 {
        let bp = self.mapping_uptime(pair.provider, pair.region, pair.scope, t);
        debug_assert!(bp <= 10_000, "uptime {bp} bp is a share");
        bp
    }

    /// Uptime of a mapping at `t`, by the checker's own count.
    pub(super) fn mapping_uptime(&self, p: ProviderId, r: RegionId, s: Scope, t: Instant) -> u32 {
        let window = self.world.contract.history_window;
        self.mapping
            .get(&(p, r, s))
            .map_or(10_000, |h| h.uptime_bp(t, window))
    }

    /// Uptime of a model across its mappings at `t`, by the checker's own count.
    pub(super) fn model_uptime(&self, s: Scope, t: Instant) -> u32 {
        let window = self.world.contract.history_window;
        self.model
            .get(&s)
            .map_or(10_000, |h| h.uptime_bp(t, window))
    }

    /// Whether no fault of the plan can make this pair fail during `[from, to]`.
    pub(super) fn fault_free(
        &self,
        p: &Pair,
        from: Instant,
        to: Instant,
        timeout: Duration,
    ) -> bool {
        let spec = self
            .world
            .providers
            .get(p.provider.index())
            .cloned()
            .unwrap_or_default();
        if spec.latency_max() >= timeout {
            return false;
        }
        let region_hit = |r: &Option<RegionId>| r.is_none_or(|r| r == p.region);
        !self
            .world
            .faults
            .faults
            .iter()
            .filter(|f| f.overlaps(from, to))
            .any(|f| match &f.kind {
                FaultKind::KeyInvalid { credential, .. }
                | FaultKind::KeyRevoked { credential, .. } => *credential == p.sent,
                // A 429 cools (key, model) on every route of the model, whichever upstream
                // name the limit is about: any rate limit on the key can touch the pair.
                FaultKind::RateLimit { credential, .. } => *credential == p.sent,
                FaultKind::ModelUnsupported {
                    credential,
                    upstream,
                    ..
                } => *credential == p.sent && Scope::of(upstream) == p.upstream_scope,
                FaultKind::ModelWithdrawn { provider, upstream } => {
                    *provider == p.provider && Scope::of(upstream) == p.upstream_scope
                }
                FaultKind::ServerErrors {
                    provider,
                    region,
                    rate_bp,
                    ..
                } => *provider == p.provider && region_hit(region) && *rate_bp > 0,
                FaultKind::RegionOutage {
                    provider, region, ..
                } => *provider == p.provider && *region == p.region,
                FaultKind::LatencySpike {
                    provider, region, ..
                } => *provider == p.provider && region_hit(region),
                // Even for a request that does not stream: a stream broken for another
                // request on the same place is a network failure that justly marks the
                // shared (credential, mapping) health unhealthy, so the pair can be
                // benched while this request waits (swarm `mixed` seeds 587 and 878).
                FaultKind::StreamBreak {
                    provider,
                    region,
                    credential,
                    ..
                } => {
                    *provider == p.provider
                        && region_hit(region)
                        && credential.is_none_or(|c| c == p.sent)
                }
                FaultKind::RequestInvalid { .. } => false,
                // Whatever the answer means and whichever model it is for: a blacklist
                // and a cooldown reach past the model, and a request-invalid answer is
                // judged by `surely_good` before any pair.
                FaultKind::Answer(x) => x.rate_bp > 0 && x.touches(p.provider, p.region, p.sent),
            })
    }
}
