//! `policy`: the preset, per-field overrides of `gatesim_core::Policy`, and regression knobs;
//! and `contract`, the promises of the same names.

use super::capabilities;
use super::ctx::Ctx;
use super::raw::{DurText, RawOverrides, RawPolicy};
use super::text::{closest, known_list, quote};
use crate::contract::Contract;
use gatesim_core::{Duration, Policy, Regression, Regressions};

/// The policy presets, by name: the files of `presets/`, each a policy section a user can
/// read, copy and pass as `--policy` (the reference first, then the peers of
/// `../shared/spec/peers.md`).
pub const PRESETS: &[(&str, &str)] = &[
    ("reference", include_str!("../../../presets/reference.json")),
    (
        "llmgateway",
        include_str!("../../../presets/llmgateway.json"),
    ),
    (
        "cliproxyapi",
        include_str!("../../../presets/cliproxyapi.json"),
    ),
    ("aibridge", include_str!("../../../presets/aibridge.json")),
    ("litellm", include_str!("../../../presets/litellm.json")),
];

/// The names of the presets, reference first.
pub fn preset_names() -> impl Iterator<Item = &'static str> {
    PRESETS.iter().map(|(name, _)| *name)
}

/// The policy a preset describes, or `None` for an unknown name.
///
/// # Panics
/// Never for the shipped presets: a test loads each and asserts no error.
pub fn preset(name: &str) -> Option<Policy> {
    let (_, text) = PRESETS.iter().find(|(n, _)| *n == name)?;
    let mut ctx = Ctx::default();
    let policy = preset_policy(name, text, &mut ctx);
    debug_assert!(ctx.errors.is_empty(), "preset {name}: {:?}", ctx.errors);
    Some(policy)
}

/// Reads a preset file: a policy section with no preset of its own and no knobs.
fn preset_policy(name: &str, text: &str, ctx: &mut Ctx) -> Policy {
    let section = format!("presets/{name}.json: overrides");
    let raw: RawPolicy = match serde_json::from_str(text) {
        Ok(raw) => raw,
        Err(e) => {
            ctx.err(format!("presets/{name}.json"), e.to_string());
            return Policy::reference();
        }
    };
    if raw.preset.is_some() || !raw.regressions.is_empty() {
        ctx.err(
            format!("presets/{name}.json"),
            "a preset names no other preset and puts back no bug",
        );
    }
    let mut policy = Policy::reference();
    if let Some(o) = &raw.overrides {
        overrides(o, &section, ctx, &mut policy);
        capabilities::apply(o, &section, ctx, &mut policy);
    }
    policy
}

/// Checks `policy` and returns the policy it describes: its preset's rules (the
/// reference when none is named), then its overrides, then its knobs.
pub(super) fn policy(raw: &RawPolicy, ctx: &mut Ctx) -> Policy {
    let mut policy = Policy::reference();
    if let Some(name) = &raw.preset {
        match preset(name) {
            Some(p) => policy = p,
            None => {
                let known = known_list(preset_names());
                ctx.err(
                    "policy.preset",
                    format!("unknown preset {} (known: {known})", quote(name)),
                );
            }
        }
    }
    if let Some(o) = &raw.overrides {
        overrides(o, "policy.overrides", ctx, &mut policy);
        capabilities::apply(o, "policy.overrides", ctx, &mut policy);
        if o.recovery_within.is_some() {
            ctx.err(
                "policy.overrides.recovery_within",
                "a promise, not a setting of the policy: write it in \"contract\"",
            );
        }
    }
    policy.regressions = regressions(&raw.regressions, ctx);
    policy
}

/// Checks `contract`: the promises of the same names as the policy's tunables, each
/// within the same range, and `recovery_within`.
pub(super) fn contract(raw: &RawOverrides, ctx: &mut Ctx) -> Contract {
    let mut promised = Policy::reference();
    overrides(raw, "contract", ctx, &mut promised);
    for name in capabilities::set_fields(raw) {
        ctx.err(
            format!("contract.{name}"),
            "a setting of the gateway, not a promise: write it in \"policy.overrides\" \
             (the contract judges what a gateway does, whatever its rules)",
        );
    }
    let mut contract = Contract::kept_by(&promised);
    if let Some(t) = &raw.recovery_within {
        if let Some(d) = ctx.duration("contract.recovery_within", &t.0) {
            contract.recovery_within = d;
        }
    }
    contract
}

/// Applies `policy.overrides` or `contract` (`section`): durations as strings, counts as
/// integers, with their ranges.
fn overrides(o: &RawOverrides, section: &str, ctx: &mut Ctx, p: &mut Policy) {
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
        let path = format!("{section}.{name}");
        if let Some(d) = ctx.duration(&path, &t.0) {
            if positive && d == Duration::ZERO {
                ctx.err(path, "must be more than 0s");
            }
            *slot = d;
        }
    }
    count_overrides(o, section, ctx, p);
}

/// The count fields of `policy.overrides` or `contract`, each within its range.
fn count_overrides(o: &RawOverrides, section: &str, ctx: &mut Ctx, p: &mut Policy) {
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
                format!("{section}.{name}"),
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
