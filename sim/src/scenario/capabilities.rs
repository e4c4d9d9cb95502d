//! The capabilities of `policy.overrides`: how the gateway treats each kind of failure,
//! where the peers differ (`../shared/spec/peers.md`). Unlike the tunables they have no
//! promise of the same name: a contract judges what a gateway does, not how.

use super::ctx::Ctx;
use super::raw::RawOverrides;
use super::text::{format_duration, quote};
use gatesim_core::{
    AuthFailure, CooldownMerge, Duration, ExhaustionAnswer, Forbidden, InvalidKeyBodies,
    KeySelection, ModelSupport, Policy, RateLimitBackoff, RetryAfterForms, SameKeyRetries,
    UnhealthyRule,
};
use serde_json::{json, Map, Value};

const MODEL_SUPPORT: &[(&str, ModelSupport)] = &[
    ("fallback", ModelSupport::Fallback),
    ("terminal", ModelSupport::Terminal),
];
const COOLDOWN_MERGE: &[(&str, CooldownMerge)] = &[
    ("max", CooldownMerge::Max),
    ("overwrite", CooldownMerge::Overwrite),
    ("keep_first", CooldownMerge::KeepFirst),
];
const EXHAUSTION_ANSWER: &[(&str, ExhaustionAnswer)] = &[
    ("retry_after", ExhaustionAnswer::RetryAfter),
    ("bare_429", ExhaustionAnswer::Bare429),
    ("last_error", ExhaustionAnswer::LastError),
];
const KEY_SELECTION: &[(&str, KeySelection)] = &[
    ("primary_first", KeySelection::PrimaryFirst),
    ("round_robin", KeySelection::RoundRobin),
    ("shuffle", KeySelection::Shuffle),
    ("weighted", KeySelection::Weighted),
];
const FORBIDDEN: &[(&str, Forbidden)] = &[
    ("key_failure", Forbidden::KeyFailure),
    ("passed_on", Forbidden::PassedOn),
    ("next_key", Forbidden::NextKey),
];
const INVALID_KEY_BODIES: &[(&str, InvalidKeyBodies)] = &[
    ("any", InvalidKeyBodies::Any),
    ("wording", InvalidKeyBodies::Wording),
    ("none", InvalidKeyBodies::None),
];

/// The capability fields set in `o`, by name: the contract takes none of them.
pub(super) fn set_fields(o: &RawOverrides) -> Vec<&'static str> {
    let set = [
        ("auth_failure", o.auth_failure.is_some()),
        ("forbidden", o.forbidden.is_some()),
        ("invalid_key_bodies", o.invalid_key_bodies.is_some()),
        (
            "upstream_retry_after_passed_on",
            o.upstream_retry_after_passed_on.is_some(),
        ),
        (
            "stream_breaks_fail_over",
            o.stream_breaks_fail_over.is_some(),
        ),
        (
            "upstream_errors_fail_over",
            o.upstream_errors_fail_over.is_some(),
        ),
        ("unhealthy_rule", o.unhealthy_rule.is_some()),
        ("same_key_retries", o.same_key_retries.is_some()),
        (
            "retried_failures_mark_health",
            o.retried_failures_mark_health.is_some(),
        ),
        ("model_support", o.model_support.is_some()),
        ("cooldown_merge", o.cooldown_merge.is_some()),
        ("retry_after_forms", o.retry_after_forms.is_some()),
        ("rate_limit_backoff", o.rate_limit_backoff.is_some()),
        ("exhaustion_answer", o.exhaustion_answer.is_some()),
        ("key_selection", o.key_selection.is_some()),
    ];
    set.into_iter()
        .filter(|(_, s)| *s)
        .map(|(n, _)| n)
        .collect()
}

/// Applies the capability fields of `o` (at `section`) to `p`.
pub(super) fn apply(o: &RawOverrides, section: &str, ctx: &mut Ctx, p: &mut Policy) {
    let path = |name: &str| format!("{section}.{name}");
    let flags = [
        (
            o.upstream_retry_after_passed_on,
            &mut p.upstream_retry_after_passed_on,
        ),
        (o.stream_breaks_fail_over, &mut p.stream_breaks_fail_over),
        (
            o.upstream_errors_fail_over,
            &mut p.upstream_errors_fail_over,
        ),
        (
            o.retried_failures_mark_health,
            &mut p.retried_failures_mark_health,
        ),
    ];
    for (value, slot) in flags {
        set(value, slot);
    }
    named(o, section, ctx, p);
    if let Some(v) = &o.auth_failure {
        set(
            auth_failure(v, &path("auth_failure"), ctx),
            &mut p.auth_failure,
        );
    }
    if let Some(v) = &o.same_key_retries {
        if let Some(r) = same_key_retries(v, &path("same_key_retries"), ctx) {
            p.same_key_retries = Some(r);
        }
    }
    if let Some(v) = &o.unhealthy_rule {
        set(
            unhealthy_rule(v, &path("unhealthy_rule"), ctx),
            &mut p.unhealthy_rule,
        );
    }
    if let Some(forms) = &o.retry_after_forms {
        p.retry_after_forms = retry_after_forms(forms, &path("retry_after_forms"), ctx);
    }
    if let Some(v) = &o.rate_limit_backoff {
        set(
            rate_limit_backoff(v, &path("rate_limit_backoff"), ctx),
            &mut p.rate_limit_backoff,
        );
    }
}

/// The capabilities that are one of a fixed set of names.
fn named(o: &RawOverrides, section: &str, ctx: &mut Ctx, p: &mut Policy) {
    fn one<T: Copy>(
        ctx: &mut Ctx,
        (section, name, what): (&str, &str, &str),
        value: Option<&String>,
        table: &[(&str, T)],
        slot: &mut T,
    ) {
        if let Some(v) = value {
            set(
                ctx.choose(&format!("{section}.{name}"), what, v, table),
                slot,
            );
        }
    }
    let f = o.forbidden.as_ref();
    one(
        ctx,
        (section, "forbidden", "403 handling"),
        f,
        FORBIDDEN,
        &mut p.forbidden,
    );
    let v = o.invalid_key_bodies.as_ref();
    let at = (section, "invalid_key_bodies", "invalid-key bodies");
    one(ctx, at, v, INVALID_KEY_BODIES, &mut p.invalid_key_bodies);
    let v = o.model_support.as_ref();
    let at = (section, "model_support", "model-support handling");
    one(ctx, at, v, MODEL_SUPPORT, &mut p.model_support);
    let v = o.cooldown_merge.as_ref();
    let at = (section, "cooldown_merge", "cooldown merge");
    one(ctx, at, v, COOLDOWN_MERGE, &mut p.cooldown_merge);
    let v = o.exhaustion_answer.as_ref();
    let at = (section, "exhaustion_answer", "exhaustion answer");
    one(ctx, at, v, EXHAUSTION_ANSWER, &mut p.exhaustion_answer);
    let v = o.key_selection.as_ref();
    let at = (section, "key_selection", "key selection");
    one(ctx, at, v, KEY_SELECTION, &mut p.key_selection);
}

fn set<T>(value: Option<T>, slot: &mut T) {
    if let Some(v) = value {
        *slot = v;
    }
}

/// `"blacklist"`, `{"cooldown": D}` or `{"model_cooldown": D}`.
fn auth_failure(v: &Value, path: &str, ctx: &mut Ctx) -> Option<AuthFailure> {
    const SHAPES: &str = "\"blacklist\", {\"cooldown\": \"60s\"} or {\"model_cooldown\": \"30m\"}";
    match v {
        Value::String(s) if s == "blacklist" => Some(AuthFailure::Blacklist),
        Value::Object(o) if o.len() == 1 => {
            let (name, d) = o.iter().next()?;
            let rest = |ctx: &mut Ctx| positive(ctx, &format!("{path}.{name}"), Some(d), "60s");
            match name.as_str() {
                "cooldown" => rest(ctx).map(AuthFailure::Cooldown),
                "model_cooldown" => rest(ctx).map(AuthFailure::ModelCooldown),
                other => {
                    ctx.err(
                        path,
                        format!("unknown auth failure {} (known: {SHAPES})", quote(other)),
                    );
                    None
                }
            }
        }
        other => {
            ctx.err(path, format!("{} is not one of {SHAPES}", shown(other)));
            None
        }
    }
}

/// A subset of `retry-after-ms`, `seconds`, `http-date`, each at most once.
fn retry_after_forms(forms: &[String], path: &str, ctx: &mut Ctx) -> RetryAfterForms {
    let mut set = RetryAfterForms::NONE;
    for (i, form) in forms.iter().enumerate() {
        let at = format!("{path}[{i}]");
        let slot = match form.as_str() {
            "retry-after-ms" => &mut set.ms,
            "seconds" => &mut set.seconds,
            "http-date" => &mut set.http_date,
            other => {
                let known = RetryAfterForms::NAMES
                    .map(|n| format!("\"{n}\""))
                    .join(", ");
                ctx.err(
                    at,
                    format!("unknown Retry-After form {} (known: {known})", quote(other)),
                );
                continue;
            }
        };
        if *slot {
            ctx.err(at, format!("{} is listed twice", quote(form)));
        }
        *slot = true;
    }
    set
}

/// `"fixed"` or `{"exponential": {"base": D, "cap": D}}`.
fn rate_limit_backoff(v: &Value, path: &str, ctx: &mut Ctx) -> Option<RateLimitBackoff> {
    const SHAPES: &str =
        "\"fixed\", \"as_error\" or {\"exponential\": {\"base\": \"1s\", \"cap\": \"30m\"}}";
    let Some(Value::Object(params)) = (match v {
        Value::String(s) if s == "fixed" => return Some(RateLimitBackoff::Fixed),
        Value::String(s) if s == "as_error" => return Some(RateLimitBackoff::AsError),
        Value::Object(o) if o.len() == 1 && o.contains_key("exponential") => o.get("exponential"),
        other => {
            ctx.err(path, format!("{} is not one of {SHAPES}", shown(other)));
            return None;
        }
    }) else {
        ctx.err(
            format!("{path}.exponential"),
            "an object {\"base\": D, \"cap\": D}",
        );
        return None;
    };
    let at = format!("{path}.exponential");
    unknown_fields(ctx, &at, params, &["base", "cap"]);
    let mut get = |name: &str| positive(ctx, &format!("{at}.{name}"), params.get(name), "1s");
    let (base, cap) = (get("base")?, get("cap")?);
    if cap < base {
        ctx.err(format!("{at}.cap"), "shorter than base");
    }
    Some(RateLimitBackoff::Exponential { base, cap })
}

/// `"consecutive"` or `{"error_ratio": {"above_bp": N, "min_requests": N}}`.
fn unhealthy_rule(v: &Value, path: &str, ctx: &mut Ctx) -> Option<UnhealthyRule> {
    const SHAPES: &str =
        "\"consecutive\" or {\"error_ratio\": {\"above_bp\": 5000, \"min_requests\": 5}}";
    let params = match v {
        Value::String(s) if s == "consecutive" => return Some(UnhealthyRule::Consecutive),
        Value::Object(o) if o.len() == 1 && o.contains_key("error_ratio") => o.get("error_ratio"),
        other => {
            ctx.err(path, format!("{} is not one of {SHAPES}", shown(other)));
            return None;
        }
    };
    let at = format!("{path}.error_ratio");
    let Some(Value::Object(params)) = params else {
        ctx.err(at, "an object {\"above_bp\": N, \"min_requests\": N}");
        return None;
    };
    unknown_fields(ctx, &at, params, &["above_bp", "min_requests"]);
    let mut get = |name: &str, min: u64, max: u64| {
        let field = format!("{at}.{name}");
        match params.get(name).map(Value::as_u64) {
            Some(Some(n)) if (min..=max).contains(&n) => u32::try_from(n).ok(),
            Some(_) => {
                ctx.err(field, format!("an integer from {min} to {max}"));
                None
            }
            None => {
                ctx.err(field, "missing");
                None
            }
        }
    };
    let above_bp = get("above_bp", 0, 9_999);
    let min_requests = get("min_requests", 1, u64::from(u32::MAX));
    Some(UnhealthyRule::ErrorRatio {
        above_bp: above_bp?,
        min_requests: min_requests?,
    })
}

/// `{"max": N, "backoff": D}`: N from 1, D more than 0s.
fn same_key_retries(v: &Value, path: &str, ctx: &mut Ctx) -> Option<SameKeyRetries> {
    let Value::Object(params) = v else {
        ctx.err(
            path,
            format!(
                "{} is not an object {{\"max\": 2, \"backoff\": \"1s\"}}",
                shown(v)
            ),
        );
        return None;
    };
    unknown_fields(ctx, path, params, &["max", "backoff"]);
    let max = match params.get("max").map(Value::as_u64) {
        Some(Some(n)) if (1..=u64::from(u32::MAX)).contains(&n) => u32::try_from(n).ok(),
        Some(_) => {
            ctx.err(format!("{path}.max"), "an integer of at least 1");
            None
        }
        None => {
            ctx.err(format!("{path}.max"), "missing");
            None
        }
    };
    let backoff = positive(ctx, &format!("{path}.backoff"), params.get("backoff"), "1s");
    Some(SameKeyRetries {
        max: max?,
        backoff: backoff?,
    })
}

/// An error for each field of `params` not in `known`.
fn unknown_fields(ctx: &mut Ctx, at: &str, params: &Map<String, Value>, known: &[&str]) {
    for name in params.keys().filter(|k| !known.contains(&k.as_str())) {
        ctx.err(
            format!("{at}.{name}"),
            format!("unknown field (known: {})", known.join(", ")),
        );
    }
}

/// The duration at `field`, more than 0s; `example` shows the shape when it is not a string.
fn positive(ctx: &mut Ctx, field: &str, value: Option<&Value>, example: &str) -> Option<Duration> {
    match value {
        Some(Value::String(text)) => match ctx.duration(field, text) {
            Some(Duration::ZERO) => {
                ctx.err(field, "must be more than 0s");
                None
            }
            other => other,
        },
        Some(_) => {
            ctx.err(field, format!("a duration such as \"{example}\""));
            None
        }
        None => {
            ctx.err(field, "missing");
            None
        }
    }
}

/// A JSON value as a short quote for an error.
fn shown(v: &Value) -> String {
    match v {
        Value::String(s) => quote(s),
        other => other.to_string(),
    }
}

/// The capability fields of `p` that differ from the reference policy's, into `raw`.
pub(super) fn write(p: &Policy, raw: &mut RawOverrides) {
    let r = Policy::reference();
    let d = |d: Duration| Value::String(format_duration(d.as_ms()));
    if p.auth_failure != r.auth_failure {
        raw.auth_failure = Some(match p.auth_failure {
            AuthFailure::Blacklist => json!("blacklist"),
            AuthFailure::Cooldown(t) => json!({ "cooldown": d(t) }),
            AuthFailure::ModelCooldown(t) => json!({ "model_cooldown": d(t) }),
        });
    }
    raw.forbidden = name_of(p.forbidden, r.forbidden, FORBIDDEN);
    raw.invalid_key_bodies = name_of(
        p.invalid_key_bodies,
        r.invalid_key_bodies,
        INVALID_KEY_BODIES,
    );
    let changed = |v: bool, base: bool| (v != base).then_some(v);
    raw.upstream_retry_after_passed_on = changed(
        p.upstream_retry_after_passed_on,
        r.upstream_retry_after_passed_on,
    );
    raw.stream_breaks_fail_over = changed(p.stream_breaks_fail_over, r.stream_breaks_fail_over);
    raw.upstream_errors_fail_over =
        changed(p.upstream_errors_fail_over, r.upstream_errors_fail_over);
    raw.retried_failures_mark_health = changed(
        p.retried_failures_mark_health,
        r.retried_failures_mark_health,
    );
    raw.same_key_retries = p
        .same_key_retries
        .map(|r| json!({ "max": r.max, "backoff": d(r.backoff) }));
    raw.unhealthy_rule = match p.unhealthy_rule {
        UnhealthyRule::Consecutive => None,
        UnhealthyRule::ErrorRatio {
            above_bp,
            min_requests,
        } => Some(json!({ "error_ratio": { "above_bp": above_bp, "min_requests": min_requests } })),
    };
    raw.model_support = name_of(p.model_support, r.model_support, MODEL_SUPPORT);
    raw.cooldown_merge = name_of(p.cooldown_merge, r.cooldown_merge, COOLDOWN_MERGE);
    raw.exhaustion_answer = name_of(p.exhaustion_answer, r.exhaustion_answer, EXHAUSTION_ANSWER);
    raw.key_selection = name_of(p.key_selection, r.key_selection, KEY_SELECTION);
    if p.retry_after_forms != r.retry_after_forms {
        raw.retry_after_forms = Some(p.retry_after_forms.names().map(str::to_owned).collect());
    }
    raw.rate_limit_backoff = match p.rate_limit_backoff {
        RateLimitBackoff::Fixed => None,
        RateLimitBackoff::AsError => Some(json!("as_error")),
        RateLimitBackoff::Exponential { base, cap } => {
            let mut params = Map::new();
            params.insert("base".into(), d(base));
            params.insert("cap".into(), d(cap));
            Some(json!({ "exponential": params }))
        }
    };
}

fn name_of<T: PartialEq + Copy>(v: T, base: T, names: &[(&str, T)]) -> Option<String> {
    (v != base)
        .then(|| {
            names
                .iter()
                .find(|(_, x)| *x == v)
                .map(|(n, _)| (*n).to_owned())
        })
        .flatten()
}
