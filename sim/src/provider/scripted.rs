//! Scripted answers (`answer` faults): which attempts one is for, the raw answer it sends
//! (status, body and headers as written) and its ground-truth cause, with the retry hint
//! a correct reader of its headers gets.

use super::{
    invalid_key_body, invalid_request_body, model_unsupported_body, rate_limit_body, request_draw,
    server_error_body, Cause, FakeProvider,
};
use crate::world::{Answer, FaultKind, Means, UnsupportedWording};
use gatesim_core::{Attempt, Duration, HttpAnswer, Instant, Response};
use rand::Rng;

/// A scripted answer as planned.
pub(super) struct Scripted {
    /// The answer, its Retry-After pair read off the headers.
    pub response: Response,
    /// What it really is.
    pub cause: Cause,
    /// Every header, as written.
    pub headers: Vec<(String, String)>,
}

impl FakeProvider {
    /// The first `answer` fault in force at `now` that is for this attempt and is drawn:
    /// the answer to send, why, and its headers as written. `at` is when the answer
    /// reaches the gateway (an HTTP-date hint is read then).
    pub(super) fn scripted(&mut self, now: Instant, at: Instant, a: &Attempt) -> Option<Scripted> {
        for f in &self.faults {
            let FaultKind::Answer(x) = &f.kind else {
                continue;
            };
            if !f.active(now)
                || !x.touches(self.provider, self.region, a.credential)
                || !x.for_model(a.scope, &a.upstream)
            {
                continue;
            }
            let drawn = match x.means {
                // The request's shape is what is wrong: the same requests at every provider
                // and on every attempt, as for `request_invalid` faults.
                Means::RequestInvalid => request_draw(a.request) < u64::from(x.rate_bp),
                // No draw for an answer to every attempt: a world without fractions keeps
                // its provider streams as they were.
                _ => x.rate_bp >= 10_000 || self.rng.random_range(0..10_000) < x.rate_bp,
            };
            if drawn {
                let epoch_unix_s = self.epoch_unix_s;
                return Some(answer(x, self.spec.style, a, epoch_unix_s, at));
            }
        }
        None
    }
}

/// The answer `x` makes to attempt `a`.
fn answer(
    x: &Answer,
    style: crate::world::Style,
    a: &Attempt,
    epoch_unix_s: u64,
    at: Instant,
) -> Scripted {
    let body = x.body.clone().unwrap_or_else(|| match x.means {
        Means::KeyInvalid => invalid_key_body(style, a),
        Means::RateLimited => rate_limit_body(),
        Means::ModelUnsupported => {
            model_unsupported_body(style, UnsupportedWording::Style, &a.upstream)
        }
        Means::RequestInvalid => invalid_request_body(style),
        Means::UpstreamError => server_error_body(),
    });
    let mut http = HttpAnswer::new(x.status, body);
    http.retry_after = x.header("retry-after").map(str::to_owned);
    http.retry_after_ms = x.header("retry-after-ms").map(str::to_owned);
    let cause = match x.means {
        Means::KeyInvalid => Cause::KeyInvalid,
        Means::RateLimited => Cause::RateLimited {
            hint: conveyed(&http, epoch_unix_s, at),
        },
        Means::ModelUnsupported => Cause::ModelUnsupported,
        Means::RequestInvalid => Cause::RequestInvalid,
        Means::UpstreamError => Cause::ServerError,
    };
    let headers = x
        .headers
        .iter()
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    Scripted {
        response: Response::Http(http),
        cause,
        headers,
    }
}

/// The retry hint a correct reader gets from an answer's headers when it arrives at `at`
/// (`epoch_unix_s` is the scenario start's wall clock): `retry-after-ms` first
/// (milliseconds, a fraction rounded up), else `Retry-After` as delta-seconds or as an
/// IMF-fixdate; zero, past and unreadable values convey nothing. Uncapped: the cap is the
/// gateway's promise, applied by the checker.
pub fn conveyed(http: &HttpAnswer, epoch_unix_s: u64, at: Instant) -> Option<Duration> {
    let ms = http
        .retry_after_ms
        .as_deref()
        .and_then(millis)
        .or_else(|| {
            let value = http.retry_after.as_deref()?;
            seconds(value).or_else(|| {
                let date_ms = imf_fixdate_unix_s(value)?.checked_mul(1000)?;
                let now_ms = epoch_unix_s.checked_mul(1000)?.checked_add(at.as_ms())?;
                date_ms.checked_sub(now_ms).filter(|d| *d > 0)
            })
        })?;
    Some(Duration::from_ms(ms))
}

/// Whether a `Retry-After` value is one a correct reader can read: delta-seconds (digits)
/// or an IMF-fixdate.
pub fn readable_retry_after(value: &str) -> bool {
    is_digits(value) || imf_fixdate_unix_s(value).is_some()
}

/// Whether a `retry-after-ms` value is one a correct reader can read: digits, optionally
/// with a fraction.
pub fn readable_retry_after_ms(value: &str) -> bool {
    let (whole, fraction) = value.split_once('.').unwrap_or((value, ""));
    !(whole.is_empty() && fraction.is_empty())
        && whole.bytes().all(|b| b.is_ascii_digit())
        && fraction.bytes().all(|b| b.is_ascii_digit())
}

fn is_digits(text: &str) -> bool {
    !text.is_empty() && text.bytes().all(|b| b.is_ascii_digit())
}

/// `retry-after-ms`: digits, optionally a fraction (`1500`, `1500.0`, `.5`), rounded up.
fn millis(text: &str) -> Option<u64> {
    if !readable_retry_after_ms(text) {
        return None;
    }
    let (whole, fraction) = text.split_once('.').unwrap_or((text, ""));
    let whole: u64 = if whole.is_empty() {
        0
    } else {
        whole.parse().unwrap_or(u64::MAX)
    };
    let ms = whole.saturating_add(u64::from(fraction.bytes().any(|b| b != b'0')));
    (ms > 0).then_some(ms)
}

/// `Retry-After` delta-seconds: digits only, in milliseconds.
fn seconds(text: &str) -> Option<u64> {
    if !is_digits(text) {
        return None;
    }
    let s: u64 = text.parse().unwrap_or(u64::MAX);
    (s > 0).then(|| s.saturating_mul(1000))
}

/// An IMF-fixdate (`Wed, 01 Jan 2026 00:00:30 GMT`, RFC 9110 §5.6.7) in unix seconds.
fn imf_fixdate_unix_s(text: &str) -> Option<u64> {
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let (_weekday, rest) = text.split_once(", ")?;
    let fields: Vec<&str> = rest.split(' ').collect();
    let [day, month, year, time, "GMT"] = fields.as_slice() else {
        return None;
    };
    let number = |s: &str, len: usize| -> Option<u64> {
        (s.len() == len && s.bytes().all(|b| b.is_ascii_digit()))
            .then(|| s.parse().ok())
            .flatten()
    };
    let month = MONTHS.iter().position(|m| m == month)? as u64 + 1;
    let (day, year) = (number(day, 2)?, number(year, 4)?);
    let hms: Vec<&str> = time.split(':').collect();
    let [h, m, s] = hms.as_slice() else {
        return None;
    };
    let (h, m, s) = (number(h, 2)?, number(m, 2)?, number(s, 2)?);
    let leap = year % 4 == 0 && (year % 100 != 0 || year % 400 == 0);
    let month_days = match month {
        2 if leap => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    };
    if year < 1970 || !(1..=month_days).contains(&day) || h > 23 || m > 59 || s > 60 {
        return None;
    }
    // Days since 1970-01-01: whole years, then whole months of this year.
    let leap_years = |y: u64| y / 4 - y / 100 + y / 400;
    let before = year - 1;
    let days_to_year = (year - 1970) * 365 + leap_years(before) - leap_years(1969);
    let cumulative = [0, 31, 59, 90, 120, 151, 181, 212, 243, 273, 304, 334];
    let month_index = usize::try_from(month - 1).ok()?;
    let days = days_to_year + cumulative[month_index] + u64::from(leap && month > 2) + day - 1;
    Some(days * 86_400 + h * 3600 + m * 60 + s)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::build::WorldBuilder;
    use crate::world::{Style, World};
    use gatesim_core::{format_http_date, AttemptId, KeyId, RequestId, RequestKind, Scope, Source};
    use std::collections::BTreeMap;
    use std::sync::Arc;

    /// OpenAI with keys k0 and k1 and model gpt-4o; the faults given.
    fn world(faults: &[(u64, Option<u64>, Answer)]) -> World {
        let mut b = WorldBuilder::new("scripted");
        let us = b.region("us");
        let p = b.provider("openai", Style::OpenAi, &[us]);
        b.model("gpt-4o", &[(p, us, "gpt-4o")]);
        b.key("k0", p, Source::Org, None, None);
        b.key("k1", p, Source::Org, None, None);
        for (at, until, answer) in faults {
            b.fault(*at, *until, FaultKind::Answer(Box::new(answer.clone())));
        }
        b.build()
    }

    fn answer(means: Means, credential: Option<u32>, status: u16) -> Answer {
        Answer {
            means,
            credential: credential.map(KeyId),
            provider: None,
            region: None,
            model: None,
            status,
            body: None,
            headers: BTreeMap::new(),
            rate_bp: 10_000,
        }
    }

    fn provider(w: &World) -> FakeProvider {
        let owner = |k: KeyId| w.catalog.credential(k).provider;
        FakeProvider::new(
            gatesim_core::ProviderId(0),
            gatesim_core::RegionId(0),
            w.providers[0].clone(),
            &w.faults.faults,
            &owner,
            crate::seed::stream(1, "provider/openai/us"),
            w.catalog.epoch_unix_s,
        )
    }

    /// What `fake` answers at `t_ms` to request `n` sent with key `k` for `model`.
    fn send(
        fake: &mut FakeProvider,
        t_ms: u64,
        n: u64,
        k: u32,
        model: &str,
    ) -> super::super::Planned {
        let a = Attempt {
            id: AttemptId(n),
            request: RequestId(n),
            iteration: 1,
            provider: gatesim_core::ProviderId(0),
            region: gatesim_core::RegionId(0),
            scope: Scope::of(model),
            upstream: Arc::from(model),
            selected: KeyId(k),
            credential: KeyId(k),
            endpoint: None,
            kind: RequestKind::Chat,
            stream: false,
            body_bytes: 64,
            body_digest: 0,
            charged: true,
        };
        fake.handle_dispatch(Instant(t_ms), &a);
        fake.poll_response().expect("an answer per attempt")
    }

    fn http(p: &super::super::Planned) -> &HttpAnswer {
        match &p.response {
            Response::Http(h) => h,
            Response::Transport(t) => panic!("no HTTP answer: {t:?}"),
        }
    }

    #[test]
    fn one_credential_answers_as_written_while_the_other_is_served() {
        let mut bad = answer(Means::KeyInvalid, Some(0), 403);
        bad.body = Some(r#"{"error":{"code":"key_disabled"}}"#.to_owned());
        bad.headers = BTreeMap::from([
            ("Retry-After".to_owned(), "5".to_owned()),
            ("x-ratelimit-reset".to_owned(), "7s".to_owned()),
        ]);
        let w = world(&[(10_000, Some(40_000), bad)]);
        let mut fake = provider(&w);

        let before = send(&mut fake, 5_000, 0, 0, "gpt-4o");
        assert_eq!((http(&before).status, before.cause), (200, Cause::Ok));

        let p = send(&mut fake, 10_000, 1, 0, "gpt-4o");
        let h = http(&p);
        assert_eq!((h.status, p.cause), (403, Cause::KeyInvalid));
        assert_eq!(h.body, r#"{"error":{"code":"key_disabled"}}"#);
        assert_eq!(
            (h.retry_after.as_deref(), h.retry_after_ms.as_deref()),
            (Some("5"), None),
            "the Retry-After pair reaches the core, whatever the case of its name"
        );
        assert_eq!(
            p.headers,
            [
                ("Retry-After".to_owned(), "5".to_owned()),
                ("x-ratelimit-reset".to_owned(), "7s".to_owned())
            ],
            "every header as written, for the wire"
        );

        let other = send(&mut fake, 10_000, 2, 1, "gpt-4o");
        assert_eq!((http(&other).status, other.cause), (200, Cause::Ok));
        assert!(other.headers.is_empty());

        let after = send(&mut fake, 40_000, 3, 0, "gpt-4o");
        assert_eq!(
            (http(&after).status, after.cause),
            (200, Cause::Ok),
            "until is exclusive"
        );
    }

    #[test]
    fn a_default_body_and_cause_for_every_meaning() {
        for (means, status, cause, body) in [
            (Means::KeyInvalid, 401, Cause::KeyInvalid, "invalid_api_key"),
            (
                Means::RateLimited,
                429,
                Cause::RateLimited { hint: None },
                "rate_limit_exceeded",
            ),
            (
                Means::ModelUnsupported,
                404,
                Cause::ModelUnsupported,
                "model_not_found",
            ),
            (
                Means::RequestInvalid,
                422,
                Cause::RequestInvalid,
                "'messages' must be",
            ),
            (
                Means::UpstreamError,
                529,
                Cause::ServerError,
                "server_error",
            ),
        ] {
            let w = world(&[(0, None, answer(means, Some(1), status))]);
            let p = send(&mut provider(&w), 0, 0, 1, "gpt-4o");
            assert_eq!((http(&p).status, p.cause), (status, cause), "{means:?}");
            assert!(http(&p).body.contains(body), "{means:?}: {}", http(&p).body);
        }
    }

    #[test]
    fn a_rate_limited_answer_conveys_its_headers_hint() {
        let mut limited = answer(Means::RateLimited, None, 429);
        limited.provider = Some(gatesim_core::ProviderId(0));
        limited.headers = BTreeMap::from([("retry-after-ms".to_owned(), "2500".to_owned())]);
        let w = world(&[(0, None, limited)]);
        let mut fake = provider(&w);
        for k in [0, 1] {
            let p = send(&mut fake, 1_000, u64::from(k), k, "gpt-4o");
            assert_eq!(http(&p).retry_after_ms.as_deref(), Some("2500"));
            assert_eq!(
                p.cause,
                Cause::RateLimited {
                    hint: Some(Duration::from_ms(2500))
                },
                "every credential of the provider"
            );
        }
    }

    #[test]
    fn the_model_and_the_fraction_narrow_an_answer() {
        let mut for_mini = answer(Means::UpstreamError, Some(0), 503);
        for_mini.model = Some("gpt-4o-mini".to_owned());
        let mut half = answer(Means::UpstreamError, Some(1), 503);
        half.rate_bp = 5_000;
        let w = world(&[(0, None, for_mini), (0, None, half)]);
        let mut fake = provider(&w);
        assert_eq!(send(&mut fake, 0, 0, 0, "gpt-4o").cause, Cause::Ok);
        assert_eq!(
            send(&mut fake, 0, 1, 0, "gpt-4o-mini").cause,
            Cause::ServerError
        );
        let failed = (0..400)
            .filter(|n| send(&mut fake, 0, 10 + n, 1, "gpt-4o").cause == Cause::ServerError)
            .count();
        assert!((150..250).contains(&failed), "about half of 400: {failed}");
    }

    fn hinted(retry_after: Option<&str>, retry_after_ms: Option<&str>) -> Option<u64> {
        let mut http = HttpAnswer::new(429, "");
        http.retry_after = retry_after.map(str::to_owned);
        http.retry_after_ms = retry_after_ms.map(str::to_owned);
        conveyed(&http, 1_767_225_600, Instant(10_000)).map(Duration::as_ms)
    }

    #[test]
    fn the_hint_is_what_a_correct_reader_gets() {
        assert_eq!(hinted(Some("5"), None), Some(5_000));
        assert_eq!(hinted(Some("5"), Some("1500.5")), Some(1_501), "ms first");
        assert_eq!(hinted(Some("5"), Some("soon")), Some(5_000), "then seconds");
        assert_eq!(hinted(Some("0"), None), None);
        assert_eq!(hinted(Some("1.5"), None), None, "delta-seconds are digits");
        assert_eq!(hinted(Some("soon"), None), None);
        assert_eq!(hinted(None, Some(".5")), Some(1));
        assert_eq!(hinted(None, Some("0.0")), None);
        assert_eq!(hinted(None, None), None);
        // 30 s after the answer arrives (10 s into the scenario).
        let date = format_http_date(1_767_225_600 + 40);
        assert_eq!(hinted(Some(&date), None), Some(30_000), "{date}");
        let past = format_http_date(1_767_225_600 + 5);
        assert_eq!(hinted(Some(&past), None), None, "{past}");
    }

    #[test]
    fn imf_fixdates_read_back_what_the_fakes_write() {
        for unix_s in [0, 951_782_400, 1_767_225_600, 4_102_444_799, 4_107_542_400] {
            let text = format_http_date(unix_s);
            assert_eq!(imf_fixdate_unix_s(&text), Some(unix_s), "{text}");
        }
        for bad in [
            "Wed, 1 Jan 2026 00:00:30 GMT",
            "Wed, 01 Jan 2026 00:00:30 UTC",
            "Wed, 30 Feb 2026 00:00:30 GMT",
            "Wed, 01 Foo 2026 00:00:30 GMT",
            "01 Jan 2026 00:00:30 GMT",
        ] {
            assert_eq!(imf_fixdate_unix_s(bad), None, "{bad}");
        }
    }
}
