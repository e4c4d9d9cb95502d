//! `policy`: the preset, per-field overrides of `gatesim_core::Policy`, and regression knobs.

use super::ctx::Ctx;
use super::raw::{DurText, RawOverrides, RawPolicy};
use super::text::{closest, known_list, quote};
use gatesim_core::{Duration, Policy, Regression, Regressions};

/// The policy presets: only the reference policy so far.
const PRESETS: &[&str] = &["reference"];

/// Checks `policy` and returns the policy it describes.
pub(super) fn policy(raw: &RawPolicy, ctx: &mut Ctx) -> Policy {
    if let Some(preset) = &raw.preset {
        if !PRESETS.contains(&preset.as_str()) {
            let known = known_list(PRESETS.iter().copied());
            ctx.err(
                "policy.preset",
                format!("unknown preset {} (known: {known})", quote(preset)),
            );
        }
    }
    let mut policy = Policy::reference();
    if let Some(o) = &raw.overrides {
        overrides(o, ctx, &mut policy);
    }
    policy.regressions = regressions(&raw.regressions, ctx);
    policy
}

/// Applies `policy.overrides`: durations as strings, counts as integers, with their ranges.
fn overrides(o: &RawOverrides, ctx: &mut Ctx, p: &mut Policy) {
    // (field, text, slot, must be positive)
    let durations: [(&str, &Option<DurText>, &mut Duration, bool); 7] = [
        (
            "retry_after_default",
            &o.retry_after_default,
            &mut p.retry_after_default,
            false,
        ),
        (
            "retry_after_cap",
            &o.retry_after_cap,
            &mut p.retry_after_cap,
            false,
        ),
        (
            "unhealthy_for",
            &o.unhealthy_for,
            &mut p.unhealthy_for,
            false,
        ),
        (
            "suspension_for",
            &o.suspension_for,
            &mut p.suspension_for,
            false,
        ),
        ("wait_max", &o.wait_max, &mut p.wait_max, false),
        (
            "history_window",
            &o.history_window,
            &mut p.history_window,
            true,
        ),
        (
            "attempt_timeout",
            &o.attempt_timeout,
            &mut p.attempt_timeout,
            true,
        ),
    ];
    for (name, text, slot, positive) in durations {
        let Some(t) = text else { continue };
        let path = format!("policy.overrides.{name}");
        if let Some(d) = ctx.duration(&path, &t.0) {
            if positive && d == Duration::ZERO {
                ctx.err(path, "must be more than 0s");
            }
            *slot = d;
        }
    }
    count_overrides(o, ctx, p);
}

/// The count fields of `policy.overrides`, each within its range.
fn count_overrides(o: &RawOverrides, ctx: &mut Ctx, p: &mut Policy) {
    // (field, value, slot, min, max)
    let counts: [(&str, Option<u32>, &mut u32, u32, u32); 6] = [
        (
            "errors_consecutive_max",
            o.errors_consecutive_max,
            &mut p.errors_consecutive_max,
            1,
            u32::MAX,
        ),
        (
            "attempts_max",
            o.attempts_max,
            &mut p.attempts_max,
            1,
            u32::MAX,
        ),
        (
            "wait_rounds_max",
            o.wait_rounds_max,
            &mut p.wait_rounds_max,
            0,
            u32::MAX,
        ),
        (
            "history_entries_max",
            o.history_entries_max,
            &mut p.history_entries_max,
            1,
            u32::MAX,
        ),
        (
            "uptime_bar_bp",
            o.uptime_bar_bp,
            &mut p.uptime_bar_bp,
            0,
            10_000,
        ),
        ("scopes_max", o.scopes_max, &mut p.scopes_max, 1, u32::MAX),
    ];
    for (name, value, slot, min, max) in counts {
        let Some(v) = value else { continue };
        if v < min || v > max {
            ctx.err(
                format!("policy.overrides.{name}"),
                format!("{v} is out of range ({min} to {max})"),
            );
        }
        *slot = v;
    }
}

/// `policy.regressions`: knob names or incident ids, each at most once.
fn regressions(list: &[String], ctx: &mut Ctx) -> Regressions {
    let mut set = Regressions::NONE;
    for (i, name) in list.iter().enumerate() {
        let path = format!("policy.regressions[{i}]");
        match Regression::parse(name) {
            Some(knob) if set.contains(knob) => {
                ctx.err(path, format!("{} is listed twice", knob.name()));
            }
            Some(knob) => set = set.with(knob),
            None => {
                let candidates = Regression::ALL
                    .iter()
                    .flat_map(|k| [k.name(), k.incident()]);
                let hint = match closest(name, candidates) {
                    Some(c) => format!(" (did you mean {}?)", quote(c)),
                    None => {
                        " (a knob name such as \"InvalidKey400IsRequestError\" or an incident id \
                              such as \"invalid-key-400\")"
                            .to_owned()
                    }
                };
                ctx.err(path, format!("unknown regression {}{hint}", quote(name)));
            }
        }
    }
    set
}
