//! Candidate attempts of a request: each route's pooled credentials admitted by the
//! project's mode, the regional token swap, and the per-mode cache of what health does not
//! change.

use super::request::RequestState;
use super::scopes;
use crate::catalog::{Catalog, Mode, Source};
use crate::event::RequestKind;
use crate::health::{Block, Health};
use crate::id::{KeyId, ProviderId, RegionId, RequestId, Scope};
use crate::policy::{KeySelection, Policy, Regression};
use crate::time::Instant;
use std::cell::OnceCell;
use std::collections::BTreeMap;
use std::sync::Arc;

/// A candidate attempt: a route and a credential.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Candidate {
    /// Index into the request's routes.
    pub(crate) route: usize,
    /// Region the attempt goes to.
    pub(crate) region: RegionId,
    /// The credential routing picks.
    pub(crate) selected: KeyId,
    /// The credential whose token is sent (a regional swap may differ).
    pub(crate) sent: KeyId,
    /// The credential health is read from and written to.
    pub(crate) health_key: KeyId,
    /// Why it may not be used now.
    pub(crate) block: Option<Block>,
    /// Already tried in this walk.
    pub(crate) tried: bool,
    /// The selected credential is the organisation's own.
    pub(crate) org: bool,
}

/// What listing candidates reads besides the request: the configuration and key health.
#[derive(Clone, Copy)]
pub(super) struct Lookup<'a> {
    pub(super) catalog: &'a Catalog,
    pub(super) policy: &'a Policy,
    pub(super) health: &'a Health,
}

/// The credential tables of a gateway and its per-route-set candidate cache.
#[derive(Clone, Debug)]
pub(super) struct Candidates {
    /// Pooled credentials per provider, in pool order.
    pools: Vec<Vec<KeyId>>,
    /// Per provider × region: the platform credential locked to that region (regional token).
    regional_token: BTreeMap<(ProviderId, RegionId), KeyId>,
    /// Endpoints of credentials, shared into attempts.
    endpoints: Vec<Option<Arc<str>>>,
    /// Redacted hints of credentials, formatted once.
    hints: Vec<Arc<str>>,
    /// Per route set (canonical models, then derived sets) and project mode: its
    /// candidates before health, filled on first use (see [`list`](Candidates::list)).
    cache: Vec<[OnceCell<Arc<[Candidate]>>; 3]>,
    /// Pool rotation shared by every request (only `round_robin` selection or `SharedWalkerCursor` moves it).
    shared_cursor: u32,
    /// Per credential: its weight, for `weighted` selection.
    weights: Vec<i64>,
    /// Per credential: its smooth weighted round-robin credit (only `weighted` moves it).
    credit: Vec<i64>,
}

impl Candidates {
    /// The tables of a catalog, with an empty cache for each of `sets` route sets.
    pub(super) fn new(catalog: &Catalog, sets: usize) -> Candidates {
        let pools = (0..catalog.providers.len())
            .map(|p| catalog.pool(ProviderId(p as u32)).collect())
            .collect();
        let mut regional_token = BTreeMap::new();
        for (i, c) in catalog.credentials.iter().enumerate() {
            if let (Source::Platform, Some(region)) = (c.source, c.region) {
                regional_token
                    .entry((c.provider, region))
                    .or_insert(KeyId(i as u32));
            }
        }
        let endpoints = catalog
            .credentials
            .iter()
            .map(|c| c.endpoint.as_deref().map(Arc::from))
            .collect();
        let hints = catalog
            .credentials
            .iter()
            .map(|c| Arc::from(c.hint()))
            .collect();
        Candidates {
            pools,
            regional_token,
            endpoints,
            hints,
            cache: (0..sets).map(|_| Default::default()).collect(),
            shared_cursor: 0,
            weights: catalog
                .credentials
                .iter()
                .map(|c| i64::from(c.weight))
                .collect(),
            credit: vec![0; catalog.credentials.len()],
        }
    }

    /// Makes room in the cache for route sets derived since (`sets` in all).
    #[inline]
    pub(super) fn cover(&mut self, sets: usize) {
        if self.cache.len() < sets {
            self.cache.resize_with(sets, Default::default);
        }
        debug_assert_eq!(self.cache.len(), sets, "one cache slot per route set");
    }

    /// The endpoint an attempt with `key`'s token goes to, if the credential names one.
    #[inline]
    pub(super) fn endpoint(&self, key: KeyId) -> Option<Arc<str>> {
        self.endpoints[key.index()].clone()
    }

    /// The redacted hint of a credential.
    #[inline]
    pub(super) fn hint(&self, key: KeyId) -> Arc<str> {
        self.hints[key.index()].clone()
    }

    /// Moves the shared pool rotation (`round_robin` or `SharedWalkerCursor` only).
    pub(super) fn advance_shared_cursor(&mut self) {
        self.shared_cursor = self.shared_cursor.wrapping_add(1);
    }

    /// Books an attempt sent with `sent` under `weighted` selection: each of `usable` (the
    /// pool's credentials the walk could have picked, `sent` among them) earns its weight,
    /// and `sent` pays their total.
    pub(super) fn weigh(&mut self, usable: impl Iterator<Item = KeyId>, sent: KeyId) {
        let mut total = 0;
        for k in usable {
            self.credit[k.index()] += self.weights[k.index()];
            total += self.weights[k.index()];
        }
        self.credit[sent.index()] -= total;
    }

    /// The pool position `shuffle` starts at for `draw`: uniform, or, when the weights
    /// differ, each credential with its weight's share (LiteLLM's weighted pick when a
    /// deployment sets `weight`).
    fn drawn(&self, pool: &[KeyId], draw: u64) -> usize {
        let total: i64 = pool.iter().map(|k| self.weights[k.index()]).sum();
        if total == pool.len() as i64 {
            return (draw % pool.len() as u64) as usize;
        }
        let mut left = (draw % total as u64) as i64;
        let i = pool.iter().position(|k| {
            left -= self.weights[k.index()];
            left < 0
        });
        debug_assert!(i.is_some(), "a draw below the total falls on a credential");
        i.unwrap_or(0)
    }

    /// A pool in the order `weighted` selection walks it: the most credit (with its
    /// weight) first, pool order among equals.
    fn by_credit(&self, pool: &[KeyId]) -> Vec<KeyId> {
        let mut order = pool.to_vec();
        order.sort_by_key(|k| std::cmp::Reverse(self.credit[k.index()] + self.weights[k.index()]));
        order
    }

    /// Every candidate of a request, in route then pool order, into `out`.
    ///
    /// Which candidates exist depends only on the routes, the project mode and the policy,
    /// except for BYOK requests and two knobs (a pinned region, a shared cursor). So for
    /// a shared route set (a canonical model, an alias rotation, a `provider/model` name)
    /// they are worked out once per mode by the general path below and cached; each
    /// decision then only reads health and the walk for them. Custom model names, whose
    /// routes are built per request, take the general path every time.
    pub(super) fn list(
        &self,
        at: Lookup<'_>,
        now: Instant,
        id: RequestId,
        state: &RequestState,
        out: &mut Vec<Candidate>,
    ) {
        let cacheable = state.byok.is_none()
            && !at.policy.has(Regression::RegionFromFirstKey)
            && !at.policy.rotates()
            && !matches!(
                at.policy.key_selection,
                KeySelection::Shuffle | KeySelection::Weighted
            );
        let Some(set) = state.route_set.filter(|_| cacheable) else {
            self.list_uncached(at, now, id, state, out, false);
            return;
        };
        let statics = self.cache[set][mode_index(state.mode)].get_or_init(|| {
            let mut all = Vec::new();
            self.list_uncached(at, now, id, state, &mut all, true);
            all.into()
        });
        let mut current = None;
        let (mut reads, mut n, mut suspension) = ([Scope::UNSCOPED; 3], 0, Scope::UNSCOPED);
        for c in statics.iter() {
            if current != Some(c.route) {
                current = Some(c.route);
                let route = &state.routes[c.route];
                suspension = scopes::suspension(at.policy, route);
                (reads, n) = scopes::reads(at.policy, route, c.region, id);
            }
            let source = at.catalog.credential(c.selected).source;
            debug_assert!(
                c.block.is_none() && !c.tried,
                "the cache holds statics only"
            );
            out.push(Candidate {
                tried: state.walk.tried.contains(&(c.route, c.health_key)),
                block: block(
                    at,
                    now,
                    state,
                    c.health_key,
                    source,
                    (&reads[..n], suspension),
                ),
                ..*c
            });
        }
    }

    /// [`list`](Candidates::list) worked out from the catalog; with `statics_only`, without
    /// reading health or the walk (every candidate untried and unblocked), for the cache.
    #[inline(never)]
    fn list_uncached(
        &self,
        at: Lookup<'_>,
        now: Instant,
        id: RequestId,
        state: &RequestState,
        out: &mut Vec<Candidate>,
        statics_only: bool,
    ) {
        let byok_only = state.byok;
        for (ri, route) in state.routes.iter().enumerate() {
            let pinned = match state.walk.pinned_region {
                Some((p, r))
                    if p == route.provider && at.policy.has(Regression::RegionFromFirstKey) =>
                {
                    Some(r)
                }
                _ => None,
            };
            let region = pinned.unwrap_or(route.region);
            let by_credit;
            let pool: &[KeyId] = match &byok_only {
                Some(k) => std::slice::from_ref(k),
                None if at.policy.key_selection == KeySelection::Weighted => {
                    by_credit = self.by_credit(&self.pools[route.provider.index()]);
                    &by_credit
                }
                None => &self.pools[route.provider.index()],
            };
            let rotate = match at.policy.key_selection {
                _ if pool.is_empty() => 0,
                KeySelection::Shuffle => {
                    let draw = mix(id.0.rotate_left(32) ^ u64::from(state.attempts));
                    self.drawn(pool, draw)
                }
                _ if at.policy.rotates() => self.shared_cursor as usize % pool.len(),
                _ => 0,
            };
            // The same for every credential of the route.
            let suspension = scopes::suspension(at.policy, route);
            let (reads, n) = scopes::reads(at.policy, route, region, id);
            let place = Place {
                route: ri,
                provider: route.provider,
                region,
                pinned: pinned.is_some(),
                scopes: (&reads[..n], suspension),
                statics_only,
            };
            for i in 0..pool.len() {
                let key = pool[(i + rotate) % pool.len()];
                if let Some(c) = self.admit(at, now, state, &place, key, out) {
                    out.push(c);
                }
            }
        }
    }

    /// The candidate of credential `key` on one route, if the route may use it and it is
    /// not a second sighting of a regional token already listed there.
    #[inline]
    fn admit(
        &self,
        at: Lookup<'_>,
        now: Instant,
        state: &RequestState,
        place: &Place<'_>,
        key: KeyId,
        out: &[Candidate],
    ) -> Option<Candidate> {
        let c = at.catalog.credential(key);
        if c.provider != place.provider {
            return None;
        }
        if state.byok.is_none() && !state.mode.admits(c.source) {
            return None;
        }
        if c.region.is_some_and(|r| r != place.region) && !place.pinned {
            return None;
        }
        let sent = self.swap(at, key, place.region, state.mode);
        debug_assert_eq!(
            at.catalog.credential(sent).provider,
            place.provider,
            "a regional token belongs to the provider it stands in for"
        );
        let health_key = if at.policy.has(Regression::AttributeToSelectedKey) {
            key
        } else {
            sent
        };
        if health_key != key && out.iter().any(|p| p.route == place.route && p.sent == sent) {
            return None;
        }
        let (tried, block) = if place.statics_only {
            (false, None)
        } else {
            (
                state.walk.tried.contains(&(place.route, health_key)),
                block(at, now, state, health_key, c.source, place.scopes),
            )
        };
        Some(Candidate {
            route: place.route,
            region: place.region,
            selected: key,
            sent,
            health_key,
            block,
            tried,
            org: c.source == Source::Org,
        })
    }

    /// The credential whose token is sent when `selected` goes to `region`: an unlocked
    /// platform key is replaced by the provider's regional platform token, if any.
    #[inline]
    fn swap(&self, at: Lookup<'_>, selected: KeyId, region: RegionId, mode: Mode) -> KeyId {
        let c = at.catalog.credential(selected);
        let swappable = c.source == Source::Platform
            || (c.source == Source::Org
                && mode == Mode::Hybrid
                && at.policy.has(Regression::HybridIgnoresOrgKeys));
        if c.region.is_none() && swappable {
            if let Some(token) = self.regional_token.get(&(c.provider, region)) {
                return *token;
            }
        }
        selected
    }
}

/// One route as the listing loop sees it: the same for every credential of its pool.
struct Place<'a> {
    route: usize,
    provider: ProviderId,
    region: RegionId,
    /// The region comes from the walk's first key (`RegionFromFirstKey`), not the route.
    pinned: bool,
    /// Health scopes read, and the suspension scope.
    scopes: (&'a [Scope], Scope),
    /// Listing for the cache: health and the walk are not read.
    statics_only: bool,
}

/// Why a candidate credential may not be used now, if it may not.
#[inline]
fn block(
    at: Lookup<'_>,
    now: Instant,
    state: &RequestState,
    health_key: KeyId,
    source: Source,
    (reads, suspension): (&[Scope], Scope),
) -> Option<Block> {
    if source == Source::Byok {
        None
    } else if state.request.kind == RequestKind::CountTokens {
        at.health
            .is_blacklisted(health_key, reads)
            .then_some(Block::Blacklisted)
    } else {
        at.health.block(
            health_key,
            reads,
            suspension,
            now,
            at.policy.has(Regression::CooldownNeverExpires),
        )
    }
}

/// The index of a project mode in per-mode tables.
fn mode_index(mode: Mode) -> usize {
    match mode {
        Mode::ApiKeys => 0,
        Mode::Credits => 1,
        Mode::Hybrid => 2,
    }
}

/// SplitMix64's finaliser: every input bit moves every output bit, so consecutive request
/// ids spread over a pool like independent draws (`KeySelection::Shuffle`).
fn mix(mut x: u64) -> u64 {
    x = (x ^ (x >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    x ^ (x >> 31)
}
