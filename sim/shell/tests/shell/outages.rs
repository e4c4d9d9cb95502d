//! Regional outages as network faults: the region's provider node clogged (or killed and
//! restarted) while hundreds of requests are open; the failures they cause carry the
//! outage causes the checker's oracle expects, and every invariant holds.

use crate::support::{report, run_clean, seed};
use crate::worlds::outages;
use gatesim_core::{AttemptId, Instant};
use gatesim_shell::{OutageStyle, ShellOptions, ShellRun};
use gatesim_sim::provider::Cause;
use gatesim_sim::trace::Record;
use gatesim_sim::world::{FaultKind, World};
use std::collections::BTreeMap;

#[test]
fn regional_outage_as_clogged_nodes() {
    let world = outages("outage-clogged", 60);
    let options = ShellOptions::new(seed(11));
    let shell = run_clean(&world, &options);
    let causes = outage_causes(&world, &options, &shell);
    let check = |ok: bool, what: &str| assert!(ok, "{}", report(&world, &options, what));
    // Three consecutive errors make a key unhealthy in that region: each of the three
    // openai keys meets the refused connections at least that often before failing over.
    check(
        causes.connect >= 9,
        "the connect outage refused connections",
    );
    check(
        causes.timeout > 20,
        "the timeout outage hung attempts to their deadline",
    );
    check(shell.stats.connects_failed >= 9, "connections refused");
    check(
        shell.stats.requests_in_flight_max >= 200,
        &format!(
            "hundreds of requests open at once (saw {})",
            shell.stats.requests_in_flight_max
        ),
    );
}

#[test]
fn regional_outage_as_killed_and_restarted_nodes() {
    let world = outages("outage-killed", 40);
    let options = ShellOptions {
        outage_style: OutageStyle::KillRestart,
        ..ShellOptions::new(seed(12))
    };
    let shell = run_clean(&world, &options);
    let causes = outage_causes(&world, &options, &shell);
    let check = |ok: bool, what: &str| assert!(ok, "{}", report(&world, &options, what));
    check(
        causes.connect > 20,
        "the killed node refused or reset connections",
    );
    check(
        causes.served_after_restart > 20,
        "the restarted node serves again",
    );
}

#[derive(Debug, Default)]
struct OutageCauses {
    connect: usize,
    timeout: usize,
    served_after_restart: usize,
}

/// Counts the outage causes in the trace, and fails the test if one of them is not
/// explained by an outage of its node overlapping the attempt: the fake providers never
/// see the outages in the shell, so these causes can only come from the network.
fn outage_causes(world: &World, options: &ShellOptions, shell: &ShellRun) -> OutageCauses {
    let windows: Vec<_> = world
        .faults
        .faults
        .iter()
        .filter_map(|f| match f.kind {
            FaultKind::RegionOutage {
                provider, region, ..
            } => Some(((provider, region), f.at, f.until)),
            _ => None,
        })
        .collect();
    let mut sent: BTreeMap<
        AttemptId,
        ((gatesim_core::ProviderId, gatesim_core::RegionId), Instant),
    > = BTreeMap::new();
    let mut out = OutageCauses::default();
    for e in &shell.run.trace.entries {
        match &e.record {
            Record::Dispatched(a) => {
                sent.insert(a.id, ((a.provider, a.region), e.at));
            }
            Record::Answered { attempt, cause, .. } => {
                let (place, at) = sent[attempt];
                let explained = windows.iter().any(|(p, from, until)| {
                    *p == place && *from <= e.at && until.is_none_or(|u| u >= at)
                });
                match cause {
                    Cause::OutageConnect | Cause::OutageTimeout => {
                        assert!(
                            explained,
                            "{}",
                            report(
                                world,
                                options,
                                &format!(
                                    "{attempt} failed with {cause} outside any outage of its node"
                                )
                            )
                        );
                        if *cause == Cause::OutageConnect {
                            out.connect += 1;
                        } else {
                            out.timeout += 1;
                        }
                    }
                    Cause::Ok
                        if windows
                            .iter()
                            .any(|(p, _, until)| *p == place && until.is_some_and(|u| at > u)) =>
                    {
                        out.served_after_restart += 1;
                    }
                    _ => {}
                }
            }
            _ => {}
        }
    }
    out
}
