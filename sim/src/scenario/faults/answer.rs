//! `faults[i]` of kind `answer`: any status, body and headers, for a credential or a
//! provider (× region), optionally one model, with the meaning the answer really has.

use super::{quote, At};
use crate::provider::{readable_retry_after, readable_retry_after_ms};
use crate::scenario::ctx::Ctx;
use crate::world::{Answer, FaultKind, Means};
use gatesim_core::{KeyId, ProviderId, RegionId};
use std::collections::BTreeMap;

/// Most headers one answer sends.
const HEADERS_MAX: usize = 64;
/// Longest header name, in bytes.
const HEADER_NAME_MAX: usize = 256;
/// Longest header value, in bytes.
const HEADER_VALUE_MAX: usize = 4096;
/// Headers the fake provider writes itself to frame the answer.
const FRAMING: &[&str] = &["connection", "content-length", "transfer-encoding"];

/// Checks an `answer` fault.
pub(super) fn answer(f: &At<'_>, ctx: &mut Ctx) -> Option<FaultKind> {
    let raw = f.raw;
    let means = match f.required(ctx, "means", &raw.means) {
        Some(name) => {
            let options = Means::ALL.map(|m| (m.name(), m));
            ctx.choose(&f.field("means"), "meaning", name, &options)
        }
        None => None,
    };
    let status = status(f, ctx, means);
    let target = target(f, ctx);
    let model = match (&raw.model, target) {
        (Some(m), Some((_, provider, _))) => {
            model(f, ctx, provider, m);
            Some(m.clone())
        }
        (m, _) => m.clone(),
    };
    let headers = headers(f, ctx, means);
    let rate_bp = f.rate_bp(ctx, Some(1.0));
    let (credential, _, region) = target?;
    Some(FaultKind::Answer(Box::new(Answer {
        means: means?,
        credential,
        provider: f.raw.provider.as_ref().and(target.map(|t| t.1)),
        region,
        model,
        status: status?,
        body: raw.body.clone(),
        headers: headers?,
        rate_bp,
    })))
}

/// The status: an HTTP status, and one the meaning can have.
fn status(f: &At<'_>, ctx: &mut Ctx, means: Option<Means>) -> Option<u16> {
    let status = *f.required(ctx, "status", &f.raw.status)?;
    if !(100..=599).contains(&status) {
        ctx.err(
            f.field("status"),
            format!("{status} is not an HTTP status (100 to 599)"),
        );
        return None;
    }
    let means = means?;
    let (low, high) = means.statuses();
    if !(low..=high).contains(&status) {
        let allowed = if high < 500 { "4xx" } else { "4xx or 5xx" };
        ctx.err(
            f.field("status"),
            format!(
                "{status} is not a status an answer that means {} can have ({allowed}: \
                 every meaning is a failure)",
                means.name()
            ),
        );
        return None;
    }
    Some(status)
}

/// Whom the answer is for: the credential (if named), the provider that answers (named,
/// or the credential's) and the region (if named); at least a credential or a provider.
fn target(f: &At<'_>, ctx: &mut Ctx) -> Option<(Option<KeyId>, ProviderId, Option<RegionId>)> {
    let raw = f.raw;
    if raw.credential.is_none() && raw.provider.is_none() {
        ctx.err(
            f.field("credential"),
            "missing (an answer is for a credential, a provider or both: give credential or \
             provider)",
        );
        return None;
    }
    let credential = raw.credential.as_ref().map(|name| {
        f.names
            .credentials
            .resolve(ctx, &f.field("credential"), name)
            .map(KeyId)
    });
    let named = raw.provider.as_ref().map(|_| f.provider(ctx));
    let of_key = |k: KeyId| f.catalog.credentials.get(k.index());
    let provider = match (credential, named) {
        (Some(Some(k)), Some(Some(p))) => {
            if of_key(k).is_some_and(|c| c.provider != p) {
                ctx.err(
                    f.field("credential"),
                    format!(
                        "{} is not a credential of provider {}",
                        quote(raw.credential.as_deref().unwrap_or_default()),
                        quote(raw.provider.as_deref().unwrap_or_default())
                    ),
                );
            }
            Some(p)
        }
        (_, Some(p)) => p,
        (Some(k), None) => k.and_then(of_key).map(|c| c.provider),
        (None, None) => None,
    };
    let region = f.region(ctx, provider);
    let key = credential.flatten();
    let lock = key.and_then(of_key).and_then(|c| c.region);
    if let (Some(r), Some(l)) = (region, lock) {
        if r != l {
            let name = |r: RegionId| f.catalog.regions.get(r.index()).cloned();
            ctx.err(
                f.field("region"),
                format!(
                    "credential {} is locked to region {}: it is never sent to {}",
                    quote(raw.credential.as_deref().unwrap_or_default()),
                    quote(&name(l).unwrap_or_default()),
                    quote(&name(r).unwrap_or_default())
                ),
            );
        }
    }
    let unresolved = matches!(credential, Some(None));
    if unresolved {
        return None;
    }
    Some((key, provider?, region))
}

/// The model: a canonical model the provider serves, or one of its upstream names.
fn model(f: &At<'_>, ctx: &mut Ctx, provider: ProviderId, name: &str) {
    let path = f.field("model");
    ctx.text(&path, name);
    let Some(id) = f.catalog.model_by_name(name) else {
        f.upstream_of(ctx, "model", Some(provider), name);
        return;
    };
    let m = f.catalog.model(id);
    if m.is_alias() {
        ctx.err(
            path,
            format!(
                "{} is an alias (name a canonical or upstream model)",
                quote(name)
            ),
        );
    } else if !m.served_by.iter().any(|s| s.provider == provider) {
        let provider = f
            .catalog
            .providers
            .get(provider.index())
            .map_or("", |p| p.name.as_str());
        ctx.err(
            path,
            format!(
                "{} is not served by provider {} (no attempt for it reaches this answer)",
                quote(name),
                quote(provider)
            ),
        );
    }
}

/// The headers, each a valid HTTP field sent as written; for a rate limit, a retry hint
/// the checker can read.
fn headers(f: &At<'_>, ctx: &mut Ctx, means: Option<Means>) -> Option<BTreeMap<String, String>> {
    let Some(given) = &f.raw.headers else {
        return Some(BTreeMap::new());
    };
    if given.len() > HEADERS_MAX {
        ctx.err(
            f.field("headers"),
            format!("{} headers (at most {HEADERS_MAX})", given.len()),
        );
        return None;
    }
    let mut fine = true;
    let mut seen: Vec<&str> = Vec::new();
    for (name, value) in given {
        let path = format!("{}.headers[{}]", f.path, quote(name));
        let problem = name_problem(name, &seen)
            .or_else(|| value_problem(value))
            .or_else(|| hint_problem(name, value, means));
        if let Some(problem) = problem {
            ctx.err(path, problem);
            fine = false;
        }
        seen.push(name);
    }
    fine.then(|| given.clone())
}

/// What is wrong with a header name, given the names before it.
fn name_problem(name: &str, seen: &[&str]) -> Option<String> {
    // RFC 9110 `token`: visible ASCII but delimiters.
    let tchar = |b: u8| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b);
    if name.is_empty() || !name.bytes().all(tchar) {
        return Some(
            "not a header name (letters, digits and !#$%&'*+-.^_`|~, no spaces)".to_owned(),
        );
    }
    if name.len() > HEADER_NAME_MAX {
        return Some(format!(
            "a name of {} bytes (at most {HEADER_NAME_MAX})",
            name.len()
        ));
    }
    if let Some(first) = seen.iter().find(|s| s.eq_ignore_ascii_case(name)) {
        return Some(format!(
            "the same header as {} (header names ignore case)",
            quote(first)
        ));
    }
    FRAMING
        .iter()
        .any(|h| h.eq_ignore_ascii_case(name))
        .then(|| "set by the fake provider, which frames the answer: leave it out".to_owned())
}

/// What is wrong with a header value.
fn value_problem(value: &str) -> Option<String> {
    if value.len() > HEADER_VALUE_MAX {
        return Some(format!(
            "a value of {} bytes (at most {HEADER_VALUE_MAX})",
            value.len()
        ));
    }
    if !value
        .bytes()
        .all(|b| b == b' ' || b == b'\t' || b.is_ascii_graphic())
    {
        return Some(format!(
            "{} is not one line of visible ASCII (no CR, LF or other control characters)",
            quote(value)
        ));
    }
    (value.trim_matches([' ', '\t']) != value).then(|| {
        format!(
            "{} has leading or trailing whitespace (HTTP drops it: write the value without)",
            quote(value)
        )
    })
}

/// What is wrong with a retry hint a rate-limited answer sends: the checker cools the
/// credential for what it conveys, so it must say something a reader can read.
fn hint_problem(name: &str, value: &str, means: Option<Means>) -> Option<String> {
    if means != Some(Means::RateLimited) {
        return None;
    }
    let readable = if name.eq_ignore_ascii_case("retry-after") {
        readable_retry_after(value)
    } else if name.eq_ignore_ascii_case("retry-after-ms") {
        readable_retry_after_ms(value)
    } else {
        return None;
    };
    let form = if name.eq_ignore_ascii_case("retry-after") {
        "delta-seconds (\"30\") or an IMF-fixdate (\"Wed, 01 Jan 2026 00:00:30 GMT\")"
    } else {
        "milliseconds (\"1500\", \"1500.0\")"
    };
    (!readable).then(|| {
        format!(
            "{} is not {form}: the hint of a rate_limited answer must be readable, since \
             the credential is held to it",
            quote(value)
        )
    })
}
