//! The contract is the judge: the checker reads a scenario's contract, fault plan and the
//! providers' ground truth, never the policy the gateway ran with. Here the incident
//! library runs under deliberately wrong policies, and the verdict must follow what the
//! gateway did, not what it was told.

use gatesim_core::{Duration, Policy};
use gatesim_sim::check::check;
use gatesim_sim::engine::{run, RunOptions};
use gatesim_sim::runner::{judge, Judge};
use gatesim_sim::world::World;
use gatesim_tests::{incident_ids, incident_path, load};
use std::fmt::Write as _;

/// Mistakes in a policy, each one tunable that breaks a promise of the reference contract.
type Mistake = (&'static str, fn(&mut Policy));

const MISTAKES: &[Mistake] = &[
    ("retry_after_cap 500h", |p| {
        p.retry_after_cap = Duration::from_secs(500 * 3600);
    }),
    ("retry_after_cap 1m", |p| {
        p.retry_after_cap = Duration::from_secs(60);
    }),
    ("errors_consecutive_max 10", |p| {
        p.errors_consecutive_max = 10
    }),
    ("unhealthy_for 1h", |p| {
        p.unhealthy_for = Duration::from_secs(3600);
    }),
    ("suspension_for 1s", |p| {
        p.suspension_for = Duration::from_secs(1);
    }),
    ("attempts_max 1", |p| p.attempts_max = 1),
    ("wait_rounds_max 0", |p| p.wait_rounds_max = 0),
    ("uptime_bar_bp 0", |p| p.uptime_bar_bp = 0),
    // Wrong, but no incident has the traffic to show it: the verdicts must not move.
    ("history_entries_max 5000", |p| p.history_entries_max = 5000),
];

/// The invariants a world breaks, joined; `-` when all hold.
fn broken(world: &World) -> String {
    let v = judge(world, world.seed, Judge { determinism: false }).expect("run completes");
    let ids = v.failed_invariants();
    if ids.is_empty() {
        "-".to_owned()
    } else {
        ids.join(", ")
    }
}

/// Every incident under every mistake (its own policy with one tunable changed):
/// which invariants the run breaks. The table is a snapshot; read it as "this mistake in
/// the settings shows in this incident's behaviour as a broken promise".
#[test]
fn verdicts_follow_behaviour_under_wrong_policies() {
    let mut table = String::new();
    for (name, mistake) in MISTAKES {
        let _ = writeln!(table, "{name}:");
        for id in incident_ids() {
            let mut world = load(&incident_path(&id));
            mistake(&mut world.policy);
            let verdict = broken(&world);
            if verdict != "-" {
                let _ = writeln!(table, "  {id}: {verdict}");
            }
        }
    }
    insta::assert_snapshot!(table);
}

/// A run judged under two worlds that differ only in policy gets the same verdict: the
/// checker has no way to read the policy (its entry point takes `World::terms`).
#[test]
fn the_same_run_gets_the_same_verdict_whatever_the_policy_says() {
    for id in ["retry-after-cap", "alias-cooldown-wait", "keypool-states"] {
        let world = load(&incident_path(id));
        let r = run(
            &world,
            RunOptions {
                seed: world.seed,
                record: true,
            },
        )
        .expect("run completes");
        for (name, mistake) in MISTAKES {
            let mut other = world.clone();
            mistake(&mut other.policy);
            assert_eq!(
                check(world.terms(), &r),
                check(other.terms(), &r),
                "{id} under {name}"
            );
        }
    }
}

/// The #5770 world with its cap raised to 500 hours in the policy fails on invariants
/// alone (no `expect`); a contract that promises 500 hours accepts the same behaviour.
#[test]
fn an_uncapped_retry_after_breaks_the_contract_unless_the_contract_allows_it() {
    let mut world = load(&incident_path("retry-after-cap"));
    world.expect.clear();
    world.policy.retry_after_cap = Duration::from_secs(500 * 3600);
    let v = judge(&world, world.seed, Judge::default()).expect("run completes");
    assert_eq!(
        v.failed_invariants(),
        [
            "no-false-exhaustion",
            "exhaustion-typed",
            "recovers-after-cooldown"
        ]
    );
    world.contract.retry_after_cap = world.policy.retry_after_cap;
    let v = judge(&world, world.seed, Judge::default()).expect("run completes");
    assert!(v.violations.is_empty(), "{:?}", v.violations);
}

/// A gateway that never waits is judged by `waits-for-cooldown` only when it promised
/// to wait: a contract of 0 wait rounds accepts the immediate 429.
#[test]
fn no_wait_rounds_promised_means_no_wait_expected() {
    let mut world = load(&incident_path("alias-cooldown-wait"));
    world.expect.clear();
    world.policy.wait_rounds_max = 0;
    let v = judge(&world, world.seed, Judge::default()).expect("run completes");
    assert_eq!(v.failed_invariants(), ["waits-for-cooldown"]);
    world.contract.wait_rounds_max = 0;
    let v = judge(&world, world.seed, Judge::default()).expect("run completes");
    assert!(v.violations.is_empty(), "{:?}", v.violations);
}

/// Findings F17a and F17b: a tiny scope cap in the policy broke the reference promises
/// (and failed), but a gateway that promises the same tiny cap keeps its promise: the
/// mixed swarm world and region-lock-consistency hold with `scopes_max` 10 and 1 on both
/// sides.
#[test]
fn a_tiny_scope_cap_holds_when_the_contract_promises_it() {
    let mut mixed = load(std::path::Path::new("scenarios/swarm/mixed.json"));
    mixed.policy.scopes_max = 10;
    mixed.contract.scopes_max = 10;
    for seed in 0..8 {
        let v = judge(&mixed, seed, Judge { determinism: false }).expect("run completes");
        assert!(v.violations.is_empty(), "seed {seed}: {:?}", v.violations);
    }
    let mut lock = load(&incident_path("region-lock-consistency"));
    lock.policy.scopes_max = 1;
    let v = judge(&lock, lock.seed, Judge { determinism: false }).expect("run completes");
    assert_eq!(
        v.failed_invariants(),
        ["bounded-state"],
        "a cap of 1 forgets uptime the reference promises to keep"
    );
    lock.contract.scopes_max = 1;
    lock.expect.clear();
    let v = judge(&lock, lock.seed, Judge { determinism: false }).expect("run completes");
    assert!(v.violations.is_empty(), "{:?}", v.violations);
}
