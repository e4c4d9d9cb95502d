//! The filter chain that narrows a request's candidates to those the next attempt may
//! go to: availability, rate limits, uptime bar, then key preference.

use crate::catalog::Mode;
use crate::gateway::candidates::Candidate;
use crate::health::Block;
use crate::id::ProviderId;
use crate::policy::Regression;

/// The filter chain's inputs besides the candidates.
pub(crate) struct Filters<'a> {
    /// The project's mode (BYOK requests count as api-keys).
    pub(crate) mode: Mode,
    /// Is a regression knob on?
    pub(crate) has: &'a dyn Fn(Regression) -> bool,
    /// Mapping uptime in basis points of a route.
    pub(crate) uptime_bp: &'a dyn Fn(usize) -> u32,
    /// The uptime bar in basis points.
    pub(crate) uptime_bar_bp: u32,
    /// Providers of the routes, by route index.
    pub(crate) provider_of: &'a dyn Fn(usize) -> ProviderId,
    /// Providers that have an available org credential anywhere (for the region-blind knob).
    pub(crate) providers_with_org_keys: &'a [ProviderId],
}

/// Applies availability, rate-limit, uptime and hybrid key-preference filters in the
/// order the reference policy prescribes (or the order a regression knob puts back), and
/// returns the surviving candidate indices in routing order.
#[cfg(test)]
fn filter_chain(pairs: &[Candidate], f: &Filters<'_>) -> Vec<usize> {
    let mut out = Vec::new();
    filter_chain_into(pairs, f, &mut out);
    out
}

/// [`filter_chain`] into a caller's buffer (cleared first), so that a decision need not
/// allocate; each filter narrows the one set in place.
pub(crate) fn filter_chain_into(pairs: &[Candidate], f: &Filters<'_>, out: &mut Vec<usize>) {
    out.clear();
    out.extend((0..pairs.len()).filter(|i| !pairs[*i].tried));
    let untried = std::mem::take(out);
    *out = filter_untried(pairs, f, untried);
}

fn filter_untried(pairs: &[Candidate], f: &Filters<'_>, untried: Vec<usize>) -> Vec<usize> {
    let available = |set: &[usize]| -> Vec<usize> {
        set.iter()
            .copied()
            .filter(|i| pairs[*i].block.is_none())
            .collect()
    };
    let hybrid = f.mode == Mode::Hybrid && !(f.has)(Regression::HybridNoKeyedPreference);
    if hybrid && (f.has)(Regression::PreferKeysBeforeRateLimitFilter) {
        // The production bug: prefer keyed candidates over the full set, then filter rate
        // limits; when every keyed one is rate-limited, keep hitting them.
        let keyed = prefer_keyed(pairs, untried, f);
        let avail = available(&keyed);
        let set = if avail.is_empty() {
            keyed
                .into_iter()
                .filter(|i| matches!(pairs[*i].block, Some(Block::Cooling(_))))
                .collect()
        } else {
            avail
        };
        return uptime_filter(pairs, set, f);
    }
    let mut avail = untried;
    avail.retain(|i| pairs[*i].block.is_none());
    if hybrid && (f.has)(Regression::PreferKeysBeforeUptimeFilter) {
        let keyed = prefer_keyed(pairs, avail, f);
        return uptime_filter(pairs, keyed, f);
    }
    let healthy = uptime_filter(pairs, avail, f);
    if hybrid {
        prefer_keyed(pairs, healthy, f)
    } else {
        healthy
    }
}

/// Drops routes below the uptime bar when some route in the set is at or above it.
fn uptime_filter(pairs: &[Candidate], set: Vec<usize>, f: &Filters<'_>) -> Vec<usize> {
    let above = |i: &usize| (f.uptime_bp)(pairs[*i].route) >= f.uptime_bar_bp;
    let mut set = set;
    if set.iter().any(above) {
        set.retain(above);
    }
    set
}

/// Hybrid mode: keep org-keyed candidates when there is any.
fn prefer_keyed(pairs: &[Candidate], set: Vec<usize>, f: &Filters<'_>) -> Vec<usize> {
    if (f.has)(Regression::KeyedAvailabilityIgnoresRegion) {
        // The production bug: keyed availability flattened to provider ids.
        let keyed = |i: &usize| {
            f.providers_with_org_keys
                .contains(&(f.provider_of)(pairs[*i].route))
        };
        if set.iter().any(keyed) {
            return set.into_iter().filter(keyed).collect();
        }
        return set;
    }
    let mut set = set;
    if set.iter().any(|i| pairs[*i].org) {
        set.retain(|i| pairs[*i].org);
    }
    set
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::id::{KeyId, RegionId};
    use crate::time::Instant;

    fn candidate(route: usize, key: u32, org: bool, block: Option<Block>) -> Candidate {
        Candidate {
            route,
            region: RegionId(0),
            selected: KeyId(key),
            sent: KeyId(key),
            health_key: KeyId(key),
            block,
            tried: false,
            org,
        }
    }

    fn run(
        pairs: &[Candidate],
        mode: Mode,
        knob: Option<Regression>,
        uptimes: &[u32],
    ) -> Vec<usize> {
        let has = move |k: Regression| Some(k) == knob;
        let uptime = |r: usize| uptimes[r];
        let provider_of = |r: usize| ProviderId(r as u32);
        let keyed = [ProviderId(0)];
        let f = Filters {
            mode,
            has: &has,
            uptime_bp: &uptime,
            uptime_bar_bp: 9000,
            provider_of: &provider_of,
            providers_with_org_keys: &keyed,
        };
        filter_chain(pairs, &f)
    }

    const COOL: Option<Block> = Some(Block::Cooling(Instant(60_000)));

    #[test]
    fn hybrid_with_all_keyed_rate_limited_falls_back_to_credits() {
        // Route 0: org key rate-limited; route 1: platform key healthy.
        let pairs = [candidate(0, 0, true, COOL), candidate(1, 1, false, None)];
        assert_eq!(run(&pairs, Mode::Hybrid, None, &[10_000, 10_000]), vec![1]);
        // The bug: keyed preference first leaves only the rate-limited org key.
        let bug = run(
            &pairs,
            Mode::Hybrid,
            Some(Regression::PreferKeysBeforeRateLimitFilter),
            &[10_000, 10_000],
        );
        assert_eq!(bug, vec![0], "keeps hitting the 429ing keyed provider");
    }

    #[test]
    fn hybrid_prefers_org_keys_when_available() {
        let pairs = [candidate(0, 0, false, None), candidate(1, 1, true, None)];
        assert_eq!(run(&pairs, Mode::Hybrid, None, &[10_000, 10_000]), vec![1]);
        assert_eq!(
            run(
                &pairs,
                Mode::Hybrid,
                Some(Regression::HybridNoKeyedPreference),
                &[10_000, 10_000]
            ),
            vec![0, 1]
        );
        assert_eq!(
            run(&pairs, Mode::Credits, None, &[10_000, 10_000]),
            vec![0, 1],
            "no preference outside hybrid"
        );
    }

    #[test]
    fn uptime_bar_before_key_preference() {
        // Org route 0 is degraded (50 %), platform route 1 healthy.
        let pairs = [candidate(0, 0, true, None), candidate(1, 1, false, None)];
        assert_eq!(run(&pairs, Mode::Hybrid, None, &[5_000, 10_000]), vec![1]);
        assert_eq!(
            run(
                &pairs,
                Mode::Hybrid,
                Some(Regression::PreferKeysBeforeUptimeFilter),
                &[5_000, 10_000]
            ),
            vec![0]
        );
        // When every route is below the bar, none is dropped.
        assert_eq!(
            run(&pairs, Mode::Credits, None, &[5_000, 4_000]),
            vec![0, 1]
        );
    }

    #[test]
    fn region_blind_keyed_availability() {
        // Route 0 (provider 0, keyed elsewhere) has only a platform key here; route 1 has an org key.
        let pairs = [candidate(0, 0, false, None), candidate(1, 1, true, None)];
        assert_eq!(run(&pairs, Mode::Hybrid, None, &[10_000, 10_000]), vec![1]);
        assert_eq!(
            run(
                &pairs,
                Mode::Hybrid,
                Some(Regression::KeyedAvailabilityIgnoresRegion),
                &[10_000, 10_000]
            ),
            vec![0]
        );
    }

    #[test]
    fn tried_and_blocked_pairs_are_never_candidates() {
        let mut pairs = [
            candidate(0, 0, false, None),
            candidate(0, 1, false, Some(Block::Blacklisted)),
        ];
        pairs[0].tried = true;
        assert!(run(&pairs, Mode::ApiKeys, None, &[10_000]).is_empty());
    }
}
