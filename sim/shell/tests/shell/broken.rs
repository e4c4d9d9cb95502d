//! Deliberately broken shells, and regression knobs run through the shell: the
//! invariant checker reports each, while the same world through the real shell is clean.

use crate::support::{broken_invariants, report, run_clean, seed};
use crate::worlds::{chat, traffic, two_regions};
use gatesim_core::{Regression, Regressions};
use gatesim_shell::{run, ShellBug, ShellOptions};
use gatesim_sim::world::RequestSpec;
use gatesim_sim::world::{FaultKind, World};

/// Streams on openai break after their first byte a third of the time.
fn breaking_streams() -> World {
    let mut t = two_regions("streams-break");
    let mix = vec![
        (
            6,
            RequestSpec {
                stream: true,
                ..chat(t.project, "gpt-4o")
            },
        ),
        (4, chat(t.project, "gpt-4o")),
    ];
    traffic(&mut t.builder, t.project, 40, 15, mix);
    t.builder.fault(
        0,
        None,
        FaultKind::StreamBreak {
            provider: t.openai,
            region: None,
            credential: None,
            after_first_byte: true,
            rate_bp: 3_000,
        },
    );
    t.builder.build()
}

/// The first openai key is invalid from the start.
fn invalid_primary() -> World {
    let mut t = two_regions("invalid-primary");
    let mix = vec![(1, chat(t.project, "gpt-4o"))];
    traffic(&mut t.builder, t.project, 60, 15, mix);
    t.builder.fault(
        0,
        None,
        FaultKind::KeyInvalid {
            credential: t.keys[0],
            status: 401,
            body: None,
        },
    );
    t.builder.build()
}

/// Runs `world` through the real shell (clean) and with `broken` options, which must
/// break one of `invariants` at least.
fn caught(world: &World, broken: ShellOptions, invariants: &[&str]) {
    run_clean(world, &ShellOptions::new(broken.seed));
    let shell = run(world, &broken).expect("the broken shell still completes its run");
    let found = broken_invariants(world, &shell);
    assert!(
        invariants.iter().any(|i| found.contains(i)),
        "{}",
        report(
            world,
            &broken,
            &format!("expected one of {invariants:?} to be reported, got {found:?}")
        )
    );
}

#[test]
fn shell_retrying_after_first_byte_is_caught() {
    let options = ShellOptions {
        bug: Some(ShellBug::MidStreamBreakAsConnectError),
        ..ShellOptions::new(seed(41))
    };
    caught(
        &breaking_streams(),
        options,
        &["no-failover-after-first-byte"],
    );
}

#[test]
fn shell_matching_answers_by_place_is_caught() {
    let options = ShellOptions {
        bug: Some(ShellBug::AnswersMatchedByPlace),
        ..ShellOptions::new(seed(42))
    };
    // A 401 meant for one attempt lands on another: the gateway's health and scores stop
    // matching what the providers answered.
    caught(
        &invalid_primary(),
        options,
        &[
            "auth-blacklist-global",
            "attribution",
            "provider-score-honest",
            "cooldown-respected",
        ],
    );
}

#[test]
fn regression_knobs_are_caught_through_the_shell() {
    for (world, knob, invariant) in [
        (
            invalid_primary(),
            Regression::SharedWalkerCursor,
            "primary-first",
        ),
        (
            breaking_streams(),
            Regression::FailoverMidStream,
            "no-failover-after-first-byte",
        ),
    ] {
        let mut knobbed = world.clone();
        knobbed.policy.regressions = Regressions::only(knob);
        let options = ShellOptions::new(seed(43));
        run_clean(&world, &options);
        let shell = run(&knobbed, &options).expect("the knobbed run completes");
        let found = broken_invariants(&knobbed, &shell);
        assert!(
            found.contains(invariant),
            "{}",
            report(
                &knobbed,
                &options,
                &format!("{knob} should break `{invariant}`, got {found:?}")
            )
        );
    }
}
