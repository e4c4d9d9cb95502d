//! Workloads: explicit request lists and seeded generators, resolved into a time-ordered
//! list of arrivals before the run starts.

use crate::seed;
use crate::world::{Arrivals, Generator, RequestSpec, Workload};
use gatesim_core::fnv1a;
use gatesim_core::{Instant, Request};
use rand::Rng;
use rand_chacha::ChaCha8Rng;
use std::sync::Arc;

/// Arrivals at most per run (a limit on everything).
pub const ARRIVALS_MAX: usize = 5_000_000;

/// Every arrival of a workload, in time order (ties keep list order, explicit requests
/// first, then generators in order). Each generator draws from its own sub-stream.
pub fn resolve(workload: &Workload, root_seed: u64) -> Vec<(Instant, Request)> {
    let mut stream = Stream::new(workload, root_seed);
    let mut all = Vec::with_capacity(stream.total());
    all.extend(stream);
    all
}

/// The arrivals of [`resolve`], in the same order, generated as they are consumed: a run
/// holds one pending burst per generator instead of every request of the workload.
///
/// Generators are merged by time (ties: explicit requests first, then generators in
/// order), which is the order a stable sort of their concatenation gives because each
/// generator's times never decrease. A counting pass over each generator's sub-stream
/// but the last first fixes what a whole list would need up front: the share of
/// [`ARRIVALS_MAX`] each later generator gets, and where its custom model names start
/// numbering. The last generator needs neither, so it is counted only if the total is
/// asked for ([`total`](Stream::total); the engine asks only if a run nears its step
/// bound): most runs draw each arrival once.
#[derive(Debug)]
pub struct Stream<'w> {
    explicit: std::iter::Peekable<std::vec::IntoIter<(Instant, Request)>>,
    generators: Vec<GenState<'w>>,
    /// Arrivals yielded so far (the body digest's position).
    yielded: u64,
    /// Arrivals counted so far: the explicit ones and every generator's but the last's
    /// until [`total`](Stream::total) counts that one too.
    counted: usize,
    /// The last generator as it was built (its definition, sub-stream, share and first
    /// custom number), while it is not counted.
    uncounted: Option<(&'w Generator, ChaCha8Rng, usize, u64)>,
}

impl<'w> Stream<'w> {
    /// The arrivals of `workload` for `root_seed`.
    pub fn new(workload: &'w Workload, root_seed: u64) -> Stream<'w> {
        let mut explicit: Vec<(Instant, Request)> = workload
            .requests
            .iter()
            .take(ARRIVALS_MAX)
            .map(|r| (r.at, request(r, Arc::from(r.model.as_str()))))
            .collect();
        explicit.sort_by_key(|(at, _)| *at);
        let mut total = explicit.len();
        let mut custom = 0u64;
        let mut generators = Vec::with_capacity(workload.generators.len());
        let mut uncounted = None;
        let last = workload.generators.len().checked_sub(1);
        for (i, g) in workload.generators.iter().enumerate() {
            let rng = seed::stream(root_seed, &format!("workload/{i}"));
            let limit = ARRIVALS_MAX - total;
            if Some(i) == last {
                // Drawing up to its whole share stops where a count would have: at the
                // generator's end or at the share, whichever comes first.
                uncounted = Some((g, rng.clone(), limit, custom));
                generators.push(GenState::new(g, rng, limit, custom));
                break;
            }
            let mut counter = GenState::new(g, rng.clone(), limit, custom);
            let (count, customs) = counter.count();
            generators.push(GenState::new(g, rng, count, custom));
            total += count;
            custom += customs;
        }
        Stream {
            explicit: explicit.into_iter().peekable(),
            generators,
            yielded: 0,
            counted: total,
            uncounted,
        }
    }

    /// Every arrival of the stream, yielded or not. The first call may count the last
    /// generator's arrivals (a pass over its sub-stream).
    pub fn total(&mut self) -> usize {
        if let Some((g, rng, limit, custom)) = self.uncounted.take() {
            self.counted += GenState::new(g, rng, limit, custom).count().0;
        }
        self.counted
    }

    /// Arrivals yielded so far.
    pub fn yielded(&self) -> usize {
        self.yielded as usize
    }

    /// Arrivals not yet yielded (see [`total`](Stream::total)).
    pub fn remaining(&mut self) -> usize {
        self.total() - self.yielded()
    }
}

impl Iterator for Stream<'_> {
    type Item = (Instant, Request);

    fn next(&mut self) -> Option<(Instant, Request)> {
        // The earliest head; on a tie the first source (explicit, then generator order).
        let mut best: Option<(Instant, usize)> = self.explicit.peek().map(|(at, _)| (*at, 0));
        for (i, g) in self.generators.iter_mut().enumerate() {
            if let Some(at) = g.peek_at() {
                if best.is_none_or(|(b, _)| at < b) {
                    best = Some((at, i + 1));
                }
            }
        }
        let (_, source) = best?;
        let (at, mut r) = if source == 0 {
            self.explicit.next()?
        } else {
            self.generators[source - 1].pop()?
        };
        // Position then size, little-endian, on the stack (no allocation per arrival).
        let mut bytes = [0u8; 16];
        bytes[..8].copy_from_slice(&self.yielded.to_le_bytes());
        bytes[8..].copy_from_slice(&u64::from(r.body_bytes).to_le_bytes());
        r.body_digest = fnv1a(&bytes);
        self.yielded += 1;
        Some((at, r))
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        let left = self.counted.saturating_sub(self.yielded());
        match self.uncounted {
            Some(_) => (left, Some(ARRIVALS_MAX.saturating_sub(self.yielded()))),
            None => (left, Some(left)),
        }
    }
}

/// One generator's position in its sub-stream.
#[derive(Debug)]
struct GenState<'w> {
    g: &'w Generator,
    rng: ChaCha8Rng,
    t_us: u64,
    /// Arrivals it may still yield (its share of the cap).
    left: usize,
    /// The last custom model number handed out.
    custom: u64,
    burst: std::collections::VecDeque<(Instant, Request)>,
    done: bool,
    /// Each template's model name, shared by every request drawn from it.
    models: Vec<Arc<str>>,
    /// Sum of the mix weights.
    total_weight: u64,
}

impl<'w> GenState<'w> {
    fn new(g: &'w Generator, rng: ChaCha8Rng, left: usize, custom: u64) -> GenState<'w> {
        let usable = g.rate_milli_per_s > 0 && g.mix.iter().any(|(w, _)| *w > 0);
        GenState {
            g,
            rng,
            t_us: g.from.as_ms() * 1000,
            left,
            custom,
            burst: std::collections::VecDeque::new(),
            done: !usable,
            models: g
                .mix
                .iter()
                .map(|(_, spec)| Arc::from(spec.model.as_str()))
                .collect(),
            total_weight: g.mix.iter().map(|(w, _)| u64::from(*w)).sum(),
        }
    }

    fn burst_size(&self) -> u32 {
        match self.g.arrivals {
            Arrivals::Poisson => 1,
            Arrivals::Bursts { size } => size.max(1),
        }
    }

    /// Draws the next burst's time and, per request, its template and custom-name draw,
    /// passing each to `each`; `false` when the generator has ended.
    fn draw_burst(&mut self, mut each: impl FnMut(&mut Self, u64, usize, bool)) -> bool {
        if self.done || self.left == 0 {
            self.done = true;
            return false;
        }
        let g = self.g;
        let burst = self.burst_size();
        let total_weight = self.total_weight;
        // Mean gap between arrivals (or bursts) in microseconds.
        let mean_gap_us = 1_000_000_000 * u64::from(burst) / g.rate_milli_per_s;
        self.t_us += exponential_us(&mut self.rng, mean_gap_us);
        if self.t_us >= g.until.as_ms() * 1000 {
            self.done = true;
            return false;
        }
        for _ in 0..burst {
            let mut pick = self.rng.random_range(0..total_weight);
            let spec = g
                .mix
                .iter()
                .position(|(w, _)| {
                    let hit = pick < u64::from(*w);
                    pick = pick.saturating_sub(u64::from(*w));
                    hit
                })
                .unwrap_or(0);
            let custom =
                g.custom_model_bp > 0 && self.rng.random_range(0..10_000) < g.custom_model_bp;
            let t_us = self.t_us;
            each(self, t_us, spec, custom);
        }
        true
    }

    /// Arrivals and custom names the generator yields within its share (counting pass).
    fn count(&mut self) -> (usize, u64) {
        let (mut count, mut customs) = (0usize, 0u64);
        let limit = self.left;
        while self.draw_burst(|_, _, _, custom| {
            if count < limit {
                count += 1;
                customs += u64::from(custom);
            }
        }) {
            if count >= limit {
                break;
            }
        }
        (count, customs)
    }

    fn fill(&mut self) {
        while self.burst.is_empty() {
            let drew = self.draw_burst(|s, t_us, spec, custom| {
                if s.left == 0 {
                    return;
                }
                s.left -= 1;
                let model = if custom {
                    s.custom += 1;
                    Arc::from(format!("custom-model-{}", s.custom))
                } else {
                    s.models[spec].clone()
                };
                let mut r = request(&s.g.mix[spec].1, model);
                r.project = s.g.project;
                s.burst.push_back((Instant(t_us / 1000), r));
            });
            if !drew {
                return;
            }
        }
    }

    fn peek_at(&mut self) -> Option<Instant> {
        self.fill();
        self.burst.front().map(|(at, _)| *at)
    }

    fn pop(&mut self) -> Option<(Instant, Request)> {
        self.fill();
        self.burst.pop_front()
    }
}

fn request(spec: &RequestSpec, model: Arc<str>) -> Request {
    Request {
        project: spec.project,
        model,
        kind: spec.kind,
        stream: spec.stream,
        byok: spec.byok,
        iterations: spec.agentic_iterations.max(1),
        body_bytes: spec.body_bytes,
        body_digest: 0,
    }
}

/// An exponential draw with the given mean, in integer microseconds (inverse CDF on a
/// 32-bit uniform). The logarithm uses only IEEE-754 `+`, `*` and `/`, which are exact
/// and identical on every platform (no libm `ln`, whose last bit varies).
fn exponential_us(rng: &mut ChaCha8Rng, mean_us: u64) -> u64 {
    let u: u32 = rng.random_range(1..=u32::MAX);
    // -ln(u / 2^32) in 1/2^16 fixed point, via log2 with an integer approximation.
    let neg_ln_fp = neg_ln_fixed(u);
    ((u128::from(mean_us) * u128::from(neg_ln_fp)) >> 16) as u64
}

/// -ln(u / 2^32) in 16.16 fixed point for u in 1..=2^32-1.
fn neg_ln_fixed(u: u32) -> u64 {
    // log2(u) = floor part + fraction from the normalised mantissa (linear-corrected).
    let lz = u.leading_zeros();
    let int_part = 31 - lz; // floor(log2 u)
    let mantissa = (u64::from(u) << lz) & 0x7fff_ffff; // bits after the leading one, 31 bits
    let x = mantissa as f64 / f64::from(1u32 << 31); // in [0, 1)
                                                     // log2(1 + x) ≈ x + 0.3466 x (1 - x): max error < 0.01, enough for arrival gaps.
    let frac = x + 0.346_607 * x * (1.0 - x);
    let log2_u = f64::from(int_part) + frac;
    let neg_log2 = 32.0 - log2_u;
    (neg_log2 * std::f64::consts::LN_2 * 65_536.0) as u64
}

#[cfg(test)]
mod tests {
    use super::*;
    use gatesim_core::{ProjectId, RequestKind};

    fn spec(model: &str) -> RequestSpec {
        RequestSpec {
            at: Instant(0),
            project: ProjectId(0),
            model: model.into(),
            stream: false,
            byok: None,
            kind: RequestKind::Chat,
            agentic_iterations: 1,
            body_bytes: 10,
        }
    }

    #[test]
    fn poisson_rate_is_about_right_and_reproducible() {
        let g = Generator {
            from: Instant(0),
            until: Instant(100_000),
            rate_milli_per_s: 50_000,
            arrivals: Arrivals::Poisson,
            project: ProjectId(0),
            mix: vec![(3, spec("a")), (1, spec("b"))],
            custom_model_bp: 0,
        };
        let w = Workload {
            requests: vec![],
            generators: vec![g],
        };
        let a = resolve(&w, 1);
        assert_eq!(a, resolve(&w, 1), "same seed, same arrivals");
        assert_ne!(a, resolve(&w, 2));
        // 50/s over 100 s: 5000 expected.
        assert!((4500..5500).contains(&a.len()), "{} arrivals", a.len());
        let share_a = a.iter().filter(|(_, r)| &*r.model == "a").count() * 100 / a.len();
        assert!((70..80).contains(&share_a), "{share_a}% of model a");
        assert!(a.windows(2).all(|w| w[0].0 <= w[1].0));
    }

    #[test]
    fn the_total_is_counted_on_demand_and_matches_the_stream() {
        // Two generators (the first is counted up front, the last only on demand), custom
        // names in both, and explicit requests.
        let g = |rate_milli_per_s, custom_model_bp| Generator {
            from: Instant(0),
            until: Instant(20_000),
            rate_milli_per_s,
            arrivals: Arrivals::Poisson,
            project: ProjectId(0),
            mix: vec![(1, spec("a"))],
            custom_model_bp,
        };
        let w = Workload {
            requests: vec![spec("x"), spec("y")],
            generators: vec![g(30_000, 2_000), g(70_000, 5_000)],
        };
        for seed in 0..4 {
            let all = resolve(&w, seed);
            let mut stream = Stream::new(&w, seed);
            let (low, high) = stream.size_hint();
            assert!(low <= all.len() && high.is_some_and(|h| all.len() <= h));
            // Asked for midway, the total counts what is still to come as well.
            let first: Vec<_> = stream.by_ref().take(100).collect();
            assert_eq!(stream.yielded(), 100);
            assert_eq!(stream.total(), all.len());
            assert_eq!(stream.remaining(), all.len() - 100);
            let rest: Vec<_> = stream.collect();
            assert_eq!(
                [first, rest].concat(),
                all,
                "counting changes nothing drawn"
            );
        }
    }

    #[test]
    fn neg_ln_is_close() {
        // -ln(0.5) = 0.6931
        let v = neg_ln_fixed(1 << 31) as f64 / 65_536.0;
        assert!((v - std::f64::consts::LN_2).abs() < 0.01, "{v}");
        let v = neg_ln_fixed(u32::MAX) as f64 / 65_536.0;
        assert!(v < 0.01, "{v}");
    }
}
