//! The capabilities of `policy.overrides`: how the gateway treats each kind of failure,
//! where the peers differ (`../shared/spec/peers.md`). Unlike the tunables they have no
//! promise of the same name: a contract judges what a gateway does, not how.

use super::ctx::Ctx;
use super::raw::RawOverrides;
use super::text::{format_duration, quote};
use gatesim_core::{
    AuthFailure, CooldownMerge, Duration, ExhaustionAnswer, KeySelection, ModelSupport, Policy,
    RateLimitBackoff, RetryAfterForms,
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
];

/// The capability fields set in `o`, by name: the contract takes none of them.
pub(super) fn set_fields(o: &RawOverrides) -> Vec<&'static str> {
    let set = [
        ("auth_failure", o.auth_failure.is_some()),
        (
            "forbidden_is_key_failure",
            o.forbidden_is_key_failure.is_some(),
        ),
        (
            "invalid_key_body_is_key_failure",
            o.invalid_key_body_is_key_failure.is_some(),
        ),
        (
            "upstream_errors_fail_over",
            o.upstream_errors_fail_over.is_some(),
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
    if let Some(v) = &o.auth_failure {
        if let Some(a) = auth_failure(v, &path("auth_failure"), ctx) {
            p.auth_failure = a;
        }
    }
    if let Some(b) = o.forbidden_is_key_failure {
        p.forbidden_is_key_failure = b;
    }
    if let Some(b) = o.invalid_key_body_is_key_failure {
        p.invalid_key_body_is_key_failure = b;
    }
    if let Some(b) = o.upstream_errors_fail_over {
        p.upstream_errors_fail_over = b;
    }
    let named = [
        (&o.model_support, "model_support", "model-support handling"),
        (&o.cooldown_merge, "cooldown_merge", "cooldown merge"),
        (
            &o.exhaustion_answer,
            "exhaustion_answer",
            "exhaustion answer",
        ),
        (&o.key_selection, "key_selection", "key selection"),
    ];
    for (value, name, what) in named {
        let Some(value) = value else { continue };
        let at = path(name);
        match name {
            "model_support" => set(
                ctx.choose(&at, what, value, MODEL_SUPPORT),
                &mut p.model_support,
            ),
            "cooldown_merge" => set(
                ctx.choose(&at, what, value, COOLDOWN_MERGE),
                &mut p.cooldown_merge,
            ),
            "exhaustion_answer" => set(
                ctx.choose(&at, what, value, EXHAUSTION_ANSWER),
                &mut p.exhaustion_answer,
            ),
            _ => set(
                ctx.choose(&at, what, value, KEY_SELECTION),
                &mut p.key_selection,
            ),
        }
    }
    if let Some(forms) = &o.retry_after_forms {
        p.retry_after_forms = retry_after_forms(forms, &path("retry_after_forms"), ctx);
    }
    if let Some(v) = &o.rate_limit_backoff {
        if let Some(b) = rate_limit_backoff(v, &path("rate_limit_backoff"), ctx) {
            p.rate_limit_backoff = b;
        }
    }
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
            let rest = |ctx: &mut Ctx| {
                let at = format!("{path}.{name}");
                let Value::String(text) = d else {
                    ctx.err(at, "a duration such as \"60s\"");
                    return None;
                };
                match ctx.duration(&at, text) {
                    Some(Duration::ZERO) => {
                        ctx.err(at, "must be more than 0s");
                        None
                    }
                    other => other,
                }
            };
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
    for name in params.keys().filter(|k| *k != "base" && *k != "cap") {
        ctx.err(format!("{at}.{name}"), "unknown field (known: base, cap)");
    }
    let mut get = |name: &str| {
        let field = format!("{at}.{name}");
        match params.get(name) {
            Some(Value::String(text)) => match ctx.duration(&field, text) {
                Some(Duration::ZERO) => {
                    ctx.err(field, "must be more than 0s");
                    None
                }
                other => other,
            },
            Some(_) => {
                ctx.err(field, "a duration such as \"1s\"");
                None
            }
            None => {
                ctx.err(field, "missing");
                None
            }
        }
    };
    let (base, cap) = (get("base")?, get("cap")?);
    if cap < base {
        ctx.err(format!("{at}.cap"), "shorter than base");
    }
    Some(RateLimitBackoff::Exponential { base, cap })
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
    raw.forbidden_is_key_failure = (p.forbidden_is_key_failure != r.forbidden_is_key_failure)
        .then_some(p.forbidden_is_key_failure);
    raw.invalid_key_body_is_key_failure = (p.invalid_key_body_is_key_failure
        != r.invalid_key_body_is_key_failure)
        .then_some(p.invalid_key_body_is_key_failure);
    raw.upstream_errors_fail_over = (p.upstream_errors_fail_over != r.upstream_errors_fail_over)
        .then_some(p.upstream_errors_fail_over);
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
