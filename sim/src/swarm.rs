//! Swarm testing: per seed, a random subset of the world's fault kinds, each with random
//! targets, windows and strengths. The resolved plan is an ordinary fault list, so it can
//! be printed, written back as a plain scenario and shrunk.

use crate::seed;
use crate::world::{Fault, FaultKind, OutageMode, RetryStyle, UnsupportedWording, World};
use gatesim_core::{Catalog, Duration, Instant, KeyId, ProviderId, RegionId};
use rand::Rng;
use rand_chacha::ChaCha8Rng;

/// The fault kinds a swarm world can name: every kind a scenario file can but `answer`.
pub const KINDS: &[&str] = crate::scenario::SWARM_KINDS;

/// The world a swarm seed resolves to: the fixed faults plus, for each swarm fault kind
/// drawn (with probability `weight` %), 1 to `count_max` faults of that kind. A world
/// without a swarm section is returned unchanged.
pub fn resolve(world: &World, root_seed: u64) -> World {
    let mut out = world.clone();
    if world.swarm.is_empty() {
        return out;
    }
    let mut rng = seed::stream(root_seed, "faults");
    for s in &world.swarm {
        if rng.random_range(0..100) >= s.weight.min(100) {
            continue;
        }
        let count = rng.random_range(1..=s.count_max.max(1));
        for _ in 0..count {
            if let Some(f) = draw(world, &s.kind, &mut rng) {
                out.faults.faults.push(f);
            }
        }
    }
    out.faults.faults.sort_by_key(|f| f.at);
    out.swarm.clear();
    out
}

fn pick<T: Copy>(rng: &mut ChaCha8Rng, items: &[T]) -> Option<T> {
    (!items.is_empty()).then(|| items[rng.random_range(0..items.len())])
}

fn draw(world: &World, kind: &str, rng: &mut ChaCha8Rng) -> Option<Fault> {
    let cat = &world.catalog;
    let total = world.duration.as_ms().max(60_000);
    let at = rng.random_range(0..total * 3 / 4);
    let len = rng.random_range(10_000..=(total / 2).max(10_001));
    let until = Some(Instant(at + len));
    let at = Instant(at);
    let targets = Targets::of(cat);
    let (keys, places) = (&targets.keys, &targets.places);
    let kind = match kind {
        "key_invalid" => FaultKind::KeyInvalid {
            credential: pick(rng, keys)?,
            status: if rng.random_bool(0.5) { 400 } else { 401 },
            body: None,
        },
        "key_revoked" => FaultKind::KeyRevoked {
            credential: pick(rng, keys)?,
            status: if rng.random_bool(0.5) { 401 } else { 403 },
        },
        "rate_limit" => rate_limit(cat, keys, rng)?,
        "model_unsupported" => {
            let credential = pick(rng, keys)?;
            let upstream = targets.upstream(cat.credential(credential).provider, rng)?;
            FaultKind::ModelUnsupported {
                credential,
                upstream,
                status: if rng.random_bool(0.5) { 400 } else { 422 },
                body: None,
                wording: UnsupportedWording::Style,
            }
        }
        "server_errors" => {
            let (provider, region) = pick(rng, places)?;
            let statuses = [500, 502, 503, 504];
            FaultKind::ServerErrors {
                provider,
                region: rng.random_bool(0.5).then_some(region),
                rate_bp: rng.random_range(1_000..=10_000),
                status: pick(rng, &statuses)?,
            }
        }
        "region_outage" => return region_outage(places, at, rng),
        "latency_spike" => {
            let (provider, region) = pick(rng, places)?;
            FaultKind::LatencySpike {
                provider,
                region: rng.random_bool(0.5).then_some(region),
                extra: Duration::from_ms(rng.random_range(100..5_000)),
            }
        }
        "stream_break" => stream_break(places, rng)?,
        "request_invalid" => FaultKind::RequestInvalid {
            rate_bp: rng.random_range(100..=500),
        },
        "model_withdrawn" => {
            let (provider, _) = pick(rng, places)?;
            FaultKind::ModelWithdrawn {
                provider,
                upstream: targets.upstream(provider, rng)?,
            }
        }
        _ => return None,
    };
    Some(Fault { at, until, kind })
}

/// What a swarm fault can target in a catalog.
struct Targets<'c> {
    cat: &'c Catalog,
    keys: Vec<KeyId>,
    places: Vec<(ProviderId, RegionId)>,
}

impl<'c> Targets<'c> {
    fn of(cat: &'c Catalog) -> Targets<'c> {
        Targets {
            cat,
            keys: (0..cat.credentials.len() as u32).map(KeyId).collect(),
            places: cat
                .providers
                .iter()
                .enumerate()
                .flat_map(|(i, p)| p.regions.iter().map(move |r| (ProviderId(i as u32), *r)))
                .collect(),
        }
    }

    /// One of the upstream models provider `p` serves.
    fn upstream(&self, p: ProviderId, rng: &mut ChaCha8Rng) -> Option<String> {
        let ups: Vec<&str> = self
            .cat
            .models
            .iter()
            .flat_map(|m| &m.served_by)
            .filter(|s| s.provider == p)
            .map(|s| s.upstream.as_str())
            .collect();
        pick(rng, &ups).map(str::to_string)
    }
}

/// A `rate_limit` fault: a credential (and maybe one model) with a small bucket.
fn rate_limit(cat: &Catalog, keys: &[KeyId], rng: &mut ChaCha8Rng) -> Option<FaultKind> {
    let styles = [
        RetryStyle::Seconds,
        RetryStyle::HttpDate,
        RetryStyle::Millis,
        RetryStyle::None,
    ];
    let models: Vec<&str> = cat
        .models
        .iter()
        .filter(|m| !m.is_alias())
        .map(|m| m.name.as_str())
        .collect();
    Some(FaultKind::RateLimit {
        credential: pick(rng, keys)?,
        model: if rng.random_bool(0.5) {
            pick(rng, &models).map(str::to_string)
        } else {
            None
        },
        capacity_per_min: rng.random_range(0..30),
        retry_after: if rng.random_bool(0.5) {
            Some(Duration::from_ms(rng.random_range(500..120_000)))
        } else {
            None
        },
        style: pick(rng, &styles)?,
    })
}

/// A `region_outage` fault starting `at`: its own window (30 s to 3 min), mostly
/// refused connections.
fn region_outage(
    places: &[(ProviderId, RegionId)],
    at: Instant,
    rng: &mut ChaCha8Rng,
) -> Option<Fault> {
    let (provider, region) = pick(rng, places)?;
    let mode = if rng.random_bool(0.7) {
        OutageMode::Connect
    } else {
        OutageMode::Timeout
    };
    Some(Fault {
        at,
        until: Some(at + Duration::from_ms(rng.random_range(30_000..180_000))),
        kind: FaultKind::RegionOutage {
            provider,
            region,
            mode,
        },
    })
}

/// A `stream_break` fault: streams of a place (or one of its regions) break, before or
/// after the first byte.
fn stream_break(places: &[(ProviderId, RegionId)], rng: &mut ChaCha8Rng) -> Option<FaultKind> {
    let (provider, region) = pick(rng, places)?;
    Some(FaultKind::StreamBreak {
        provider,
        region: rng.random_bool(0.5).then_some(region),
        credential: None,
        after_first_byte: rng.random_bool(0.5),
        rate_bp: rng.random_range(1_000..=10_000),
    })
}
