//! `gatesim diff`: one world, one seed, two policies: the first decision that differs,
//! with context, and the metric deltas.

use super::load;
use crate::metrics::Summary;
use crate::runner::{judge, Judge, Verdict};
use gatesim_core::Regression;
use std::path::{Path, PathBuf};

/// Runs the diff; returns the exit status (0 identical, 1 different, 2 bad input).
pub(super) fn diff(
    path: &Path,
    seed: Option<u64>,
    policies: &[PathBuf],
    knobs: &[Regression],
) -> u8 {
    let (a, b, label_a, label_b) = match (policies, knobs) {
        ([pa, pb], []) => (
            load(path, Some(pa), &[]),
            load(path, Some(pb), &[]),
            pa.display().to_string(),
            pb.display().to_string(),
        ),
        ([pb], []) => (
            load(path, None, &[]),
            load(path, Some(pb), &[]),
            "scenario policy".to_string(),
            pb.display().to_string(),
        ),
        ([], ks) if !ks.is_empty() => {
            let names: Vec<&str> = ks.iter().map(|k| k.name()).collect();
            (
                load(path, None, &[]),
                load(path, None, ks),
                "scenario policy".to_string(),
                format!("+ {}", names.join(", ")),
            )
        }
        _ => {
            eprintln!(
                "gatesim diff: give two --policy files, one --policy file, or --regression KNOB"
            );
            return 2;
        }
    };
    let (Some(a), Some(b)) = (a, b) else { return 2 };
    let seed = seed.unwrap_or(a.seed);
    let (va, vb) = match (
        judge(&a, seed, Judge::default()),
        judge(&b, seed, Judge::default()),
    ) {
        (Ok(va), Ok(vb)) => (va, vb),
        (Err(e), _) | (_, Err(e)) => {
            eprintln!("gatesim: {e}");
            return 2;
        }
    };
    println!("A: {label_a}\nB: {label_b}\nworld {} seed {seed}", a.id);
    let identical = first_divergence(&va, &vb);
    metric_deltas(&va, &vb);
    u8::from(!identical)
}

fn lines(v: &Verdict) -> Vec<String> {
    v.run
        .trace
        .to_text(&v.run.names)
        .lines()
        .map(str::to_string)
        .collect()
}

/// Prints the first differing trace line with three lines of shared context.
fn first_divergence(a: &Verdict, b: &Verdict) -> bool {
    let (la, lb) = (lines(a), lines(b));
    let Some(i) = la
        .iter()
        .zip(&lb)
        .position(|(x, y)| x != y)
        .or((la.len() != lb.len()).then(|| la.len().min(lb.len())))
    else {
        println!("\nidentical traces ({} lines)", la.len());
        return true;
    };
    println!("\nfirst divergent decision at trace line {}:", i + 1);
    for l in &la[i.saturating_sub(3)..i] {
        println!("  {l}");
    }
    for l in la.iter().skip(i).take(3) {
        println!("A {l}");
    }
    for l in lb.iter().skip(i).take(3) {
        println!("B {l}");
    }
    false
}

fn metric_deltas(a: &Verdict, b: &Verdict) {
    println!("\n{:<20} {:>10} {:>10} {:>10}", "metric", "A", "B", "B-A");
    // Every headline metric; per-outcome counts are in the summaries themselves.
    for name in Summary::NAMES.iter().filter(|n| !n.contains('<')) {
        let (x, y) = (
            a.summary.get(name).unwrap_or(0),
            b.summary.get(name).unwrap_or(0),
        );
        println!("{name:<20} {x:>10} {y:>10} {:>+10}", y as i64 - x as i64);
    }
    let inv = |v: &Verdict| {
        if v.violations.is_empty() {
            "all hold".to_string()
        } else {
            v.failed_invariants().join(", ")
        }
    };
    println!("{:<20} {:>10} | {}", "invariants A", "", inv(a));
    println!("{:<20} {:>10} | {}", "invariants B", "", inv(b));
}
