//! Workloads: explicit request lists and seeded generators, resolved into a time-ordered
//! list of arrivals before the run starts.

use crate::seed;
use crate::world::{Arrivals, Generator, RequestSpec, Workload};
use gatesim_core::id::fnv1a;
use gatesim_core::{Instant, Request};
use rand::Rng;
use rand_chacha::ChaCha8Rng;

/// Arrivals at most per run (a limit on everything).
pub const ARRIVALS_MAX: usize = 5_000_000;

/// Every arrival of a workload, in time order (ties keep list order, explicit requests
/// first, then generators in order). Each generator draws from its own sub-stream.
pub fn resolve(workload: &Workload, root_seed: u64) -> Vec<(Instant, Request)> {
    let mut out: Vec<(Instant, Request)> = workload
        .requests
        .iter()
        .map(|r| (r.at, request(r, 0)))
        .collect();
    let mut custom = 0u64;
    for (i, g) in workload.generators.iter().enumerate() {
        let mut rng = seed::stream(root_seed, &format!("workload/{i}"));
        generate(g, &mut rng, &mut custom, &mut out);
    }
    out.truncate(ARRIVALS_MAX);
    out.sort_by_key(|(at, _)| *at);
    for (n, (_, r)) in out.iter_mut().enumerate() {
        r.body_digest = fnv1a(
            &[
                (n as u64).to_le_bytes(),
                u64::from(r.body_bytes).to_le_bytes(),
            ]
            .concat(),
        );
    }
    out
}

fn request(spec: &RequestSpec, _salt: u64) -> Request {
    Request {
        project: spec.project,
        model: spec.model.clone(),
        kind: spec.kind,
        stream: spec.stream,
        byok: spec.byok,
        iterations: spec.agentic_iterations.max(1),
        body_bytes: spec.body_bytes,
        body_digest: 0,
    }
}

fn generate(
    g: &Generator,
    rng: &mut ChaCha8Rng,
    custom: &mut u64,
    out: &mut Vec<(Instant, Request)>,
) {
    if g.rate_milli_per_s == 0 || g.mix.is_empty() {
        return;
    }
    let total_weight: u64 = g.mix.iter().map(|(w, _)| u64::from(*w)).sum();
    if total_weight == 0 {
        return;
    }
    let burst = match g.arrivals {
        Arrivals::Poisson => 1,
        Arrivals::Bursts { size } => size.max(1),
    };
    // Mean gap between arrivals (or bursts) in microseconds.
    let mean_gap_us = 1_000_000_000 * u64::from(burst) / g.rate_milli_per_s;
    let mut t_us = g.from.as_ms() * 1000;
    let end_us = g.until.as_ms() * 1000;
    loop {
        t_us += exponential_us(rng, mean_gap_us);
        if t_us >= end_us || out.len() >= ARRIVALS_MAX {
            return;
        }
        for _ in 0..burst {
            let mut pick = rng.random_range(0..total_weight);
            let spec = g
                .mix
                .iter()
                .find(|(w, _)| {
                    let hit = pick < u64::from(*w);
                    pick = pick.saturating_sub(u64::from(*w));
                    hit
                })
                .map_or(&g.mix[0].1, |(_, s)| s);
            let mut r = request(spec, 0);
            r.project = g.project;
            if g.custom_model_bp > 0 && rng.random_range(0..10_000) < g.custom_model_bp {
                *custom += 1;
                r.model = format!("custom-model-{custom}");
            }
            out.push((Instant(t_us / 1000), r));
        }
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
        let share_a = a.iter().filter(|(_, r)| r.model == "a").count() * 100 / a.len();
        assert!((70..80).contains(&share_a), "{share_a}% of model a");
        assert!(a.windows(2).all(|w| w[0].0 <= w[1].0));
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
