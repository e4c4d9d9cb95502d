//! `gatesim check-history`: judging a recorded history (`docs/history.md`) against its
//! scenario, whoever recorded it, with the invariants decidable from outside.

use super::load;
use crate::check::{Invariant, Violation};
use crate::history::{self, History};
use crate::world::World;
use std::fmt::Write as _;
use std::path::Path;

/// Reads `file`, judges it against `scenario`; the exit status as for `run`.
pub(super) fn check_history(file: &Path, scenario: &Path) -> u8 {
    let Some(world) = load(scenario, None, &[]) else {
        return 2;
    };
    let text = match std::fs::read_to_string(file) {
        Ok(t) => t,
        Err(e) => {
            eprintln!("gatesim: cannot read {}: {e}", file.display());
            return 2;
        }
    };
    let judged = history::parse(&text).and_then(|h| history::check(&world, &h).map(|v| (h, v)));
    match judged {
        Ok((h, violations)) => {
            print!("{}", verdict(&world, &h, &violations));
            u8::from(!violations.is_empty())
        }
        Err(e) => {
            eprintln!("gatesim: {}: {e}", file.display());
            2
        }
    }
}

/// A history's verdict as text: what was recorded, the invariants judged, the result.
pub(crate) fn verdict(world: &World, h: &History, violations: &[Violation]) -> String {
    let mut out = String::new();
    let count = |f: fn(&history::Line) -> bool| h.lines.iter().filter(|(_, l)| f(l)).count();
    let requests = count(|l| matches!(l, history::Line::Request { .. }));
    let answered = count(|l| matches!(l, history::Line::Response { .. }));
    let attempts = count(|l| matches!(l, history::Line::Attempt { .. }));
    let gateway = h.header.gateway.as_deref().unwrap_or("a gateway");
    let _ = writeln!(
        out,
        "== {} (history of {gateway}): {}",
        world.id, world.title
    );
    let _ = writeln!(
        out,
        "   {requests} requests, {answered} answered, {attempts} attempts upstream"
    );
    let judged: Vec<Invariant> = Invariant::ALL
        .iter()
        .copied()
        .filter(|i| i.outside().is_ok())
        .collect();
    let _ = writeln!(
        out,
        "   judged from outside: {} of {} invariants (the rest need the gateway's own reports: docs/history.md)",
        judged.len(),
        Invariant::ALL.len()
    );
    if violations.is_empty() {
        let _ = writeln!(out, "-- invariants: all {} hold", judged.len());
    } else {
        let mut failed: Vec<&str> = violations.iter().map(|v| v.invariant.name()).collect();
        failed.sort_unstable();
        failed.dedup();
        let _ = writeln!(
            out,
            "-- invariants: {} violated ({} violations): {}",
            failed.len(),
            violations.len(),
            failed.join(", ")
        );
        for v in violations {
            let _ = writeln!(out, "   {v}");
        }
        // Requests are numbered in arrival order; name the harness's own tags where
        // they differ.
        let tags = h.request_tags();
        let mut named: Vec<u64> = violations
            .iter()
            .filter_map(|v| v.request)
            .map(|r| r.0)
            .collect();
        named.sort_unstable();
        named.dedup();
        for r in named {
            let tag = usize::try_from(r).ok().and_then(|i| tags.get(i));
            if let Some(tag) = tag.filter(|t| **t != &history::Tag::Number(r)) {
                let _ = writeln!(out, "   req#{r} is the history's request {tag}");
            }
        }
    }
    let _ = writeln!(
        out,
        "{}",
        if violations.is_empty() {
            "PASS"
        } else {
            "FAIL"
        }
    );
    out
}
