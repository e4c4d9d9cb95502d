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
    use gatesim_core::format_http_date;

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
