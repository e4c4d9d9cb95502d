//! Client disconnects: the request task's future is dropped, which cancels the request
//! in the core (`Gateway::cancel`) and drops its in-flight upstream call; answers of
//! cancelled attempts never reach the core or the trace.

use crate::support::{report, run_clean, seed};
use crate::worlds::{chat, traffic, two_regions};
use gatesim_core::{Duration, Event};
use gatesim_shell::ShellOptions;
use gatesim_sim::trace::Record;
use gatesim_sim::world::{FaultKind, RetryStyle};

#[test]
fn client_disconnects_cancel_in_flight_attempts() {
    let mut t = two_regions("client-disconnects");
    let mix = vec![
        (7, chat(t.project, "gpt-4o")),
        (3, chat(t.project, "claude-sonnet-4")),
    ];
    traffic(&mut t.builder, t.project, 60, 20, mix);
    // Every openai key rate-limited for a while: gpt-4o requests wait for the cooldown,
    // and impatient clients leave during the wait as well as during attempts.
    for key in &t.keys[..3] {
        t.builder.fault(
            5_000,
            Some(10_000),
            FaultKind::RateLimit {
                credential: *key,
                model: None,
                capacity_per_min: 0,
                retry_after: Some(Duration::from_secs(2)),
                style: RetryStyle::Seconds,
            },
        );
    }
    let world = t.builder.build();
    let options = ShellOptions {
        disconnect_bp: 3_000,
        patience: Duration::from_ms(350),
        ..ShellOptions::new(seed(21))
    };
    // `run_clean` also checks the bookkeeping: an answer for every request but the
    // cancelled ones, one `Answered` per attempt of an answered request.
    let shell = run_clean(&world, &options);
    let stats = &shell.stats;
    let check = |ok: bool, what: &str| assert!(ok, "{}\n{stats:?}", report(&world, &options, what));
    check(stats.disconnects > 100, "clients disconnected");
    check(
        stats.attempts_cancelled > 50,
        "in-flight attempts were cancelled with them",
    );
    check(stats.requests_in_flight_max >= 20, "requests overlapped");
    let stale = shell
        .run
        .trace
        .entries
        .iter()
        .filter(|e| matches!(e.record, Record::Core(Event::StaleResponse { .. })))
        .count();
    check(stale == 0, "a dropped upstream call never answers the core");
    let waited = shell
        .run
        .trace
        .entries
        .iter()
        .any(|e| matches!(e.record, Record::Core(Event::Waiting { .. })));
    check(waited, "requests waited for the cooldown");
}
