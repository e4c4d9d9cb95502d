//! Checker tests: for each invariant, a world that breaks it (reported) and one that
//! keeps it (silent).

use super::*;
use crate::build::WorldBuilder;
use crate::runner::{judge, Judge};
use crate::world::Style;
use gatesim_core::{Regression, Regressions};

fn invalid_key_world() -> WorldBuilder {
    let mut b = WorldBuilder::new("invalid-key-400");
    let us = b.region("us-east");
    let g = b.provider("google-ai-studio", Style::Google, &[us]);
    b.model("gemini-2.5-flash", &[(g, us, "gemini-2.5-flash")]);
    b.model("gemini-2.5-pro", &[(g, us, "gemini-2.5-pro")]);
    let k0 = b.key("k0", g, Source::Org, None, None);
    b.key("k1", g, Source::Org, None, None);
    let p = b.project("p1", Mode::ApiKeys);
    b.fault(
        0,
        None,
        FaultKind::KeyInvalid {
            credential: k0,
            status: 400,
            body: None,
        },
    );
    for i in 0..6 {
        let model = if i % 2 == 0 {
            "gemini-2.5-flash"
        } else {
            "gemini-2.5-pro"
        };
        b.request(i * 1000, p, model);
    }
    b
}

fn verdict(b: &WorldBuilder, knob: Option<Regression>) -> crate::runner::Verdict {
    let mut w = b.build();
    if let Some(k) = knob {
        w.policy.regressions = Regressions::only(k);
    }
    judge(&w, 1, Judge::default()).expect("run completes")
}

#[test]
fn reference_invalid_key_world_is_clean() {
    let v = verdict(&invalid_key_world(), None);
    let text = v.run.trace.to_text(&v.run.names);
    assert!(v.violations.is_empty(), "{:#?}\n{text}", v.violations);
    assert_eq!(v.summary.successes, 6, "{text}");
}

#[test]
fn invalid_key_400_knob_is_caught() {
    let v = verdict(
        &invalid_key_world(),
        Some(Regression::InvalidKey400IsRequestError),
    );
    let failed = v.failed_invariants();
    assert!(
        failed.contains(&"auth-blacklist-global"),
        "{failed:?}\n{}",
        v.run.trace.to_text(&v.run.names)
    );
    assert!(failed.contains(&"no-false-exhaustion"), "{failed:?}");
}

#[test]
#[ignore = "exploration: cargo test -p gatesim-sim --lib explore_swarm -- --ignored --nocapture"]
fn explore_swarm() {
    let n: u64 = std::env::var("SEEDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(40);
    let mut world = crate::build::standard_swarm(10, 1000);
    for s in &mut world.swarm {
        s.weight = 100;
    }
    let mut by_invariant: BTreeMap<&str, usize> = BTreeMap::new();
    for seed in 0..n {
        let v = judge(&world, seed, Judge { determinism: false }).expect("run completes");
        for x in &v.violations {
            *by_invariant.entry(x.invariant).or_default() += 1;
        }
        if let Some(x) = v.violations.first() {
            println!("seed {seed}: {x}");
        }
    }
    println!("{by_invariant:?}");
}

#[test]
#[ignore = "exploration"]
fn explore_one() {
    let seed: u64 = std::env::var("SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let req: u64 = std::env::var("REQ")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let world = crate::build::standard_swarm(10, 1000);
    let mut world = world;
    for s in &mut world.swarm {
        s.weight = 100;
    }
    let v = judge(&world, seed, Judge { determinism: false }).expect("run completes");
    for x in &v.violations {
        println!("{x}");
    }
    for f in &v.world.faults.faults {
        println!("FAULT {f:?}");
    }
    let needle = format!("req#{req} ");
    let mut atts = Vec::new();
    for e in &v.run.trace.entries {
        let mut line = String::new();
        v.run.names.render(e, &mut line);
        if let crate::trace::Record::Dispatched(a) = &e.record {
            if a.request.0 == req {
                atts.push(format!("{} ", a.id));
            }
        }
        if line.contains(&needle) || atts.iter().any(|a| line.contains(a.as_str())) {
            println!("{line}");
        }
    }
}

#[test]
#[ignore = "exploration"]
fn explore_knobs() {
    let n: u64 = std::env::var("SEEDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(10);
    let mut world = crate::build::standard_swarm(10, 600);
    for s in &mut world.swarm {
        s.weight = 100;
    }
    for knob in Regression::ALL {
        let mut w = world.clone();
        w.policy.regressions = Regressions::only(*knob);
        let mut caught: BTreeMap<&str, u64> = BTreeMap::new();
        let mut first = None;
        for seed in 0..n {
            let v = judge(&w, seed, Judge { determinism: false }).expect("run completes");
            for inv in v.failed_invariants() {
                *caught.entry(inv).or_default() += 1;
                first.get_or_insert(seed);
            }
        }
        println!("{:34} first={first:?} {caught:?}", knob.name());
    }
}
