use super::*;
use crate::policy::Regressions;

/// The wall-clock second the scenario starts at.
const EPOCH: u64 = 1_700_000_000;

fn with(knob: Regression) -> Policy {
    Policy {
        regressions: Regressions::only(knob),
        ..Policy::reference()
    }
}

fn class_with(policy: &Policy, status: u16, body: &str) -> Class {
    classify(
        &Response::Http(HttpAnswer::new(status, body)),
        RequestKind::Chat,
        policy,
        EPOCH,
        Instant::ZERO,
    )
}

fn class(status: u16, body: &str) -> Class {
    class_with(&Policy::reference(), status, body)
}

/// Every invalid-credential shape the gateways met in production.
const INVALID_KEY_BODIES: &[&str] = &[
    r#"{"error":{"message":"Incorrect API key provided: sk-****abcd.","type":"invalid_request_error","code":"invalid_api_key"}}"#,
    r#"{"error":{"code":"invalid_api_key"}}"#,
    "Incorrect API key provided: sk-****abcd.",
    r#"{"error":{"code":400,"message":"API key not valid. Please pass a valid API key.","status":"INVALID_ARGUMENT"}}"#,
    "api key not found",
    "Please pass a valid API key",
];

/// The structured shapes of the `invalid-key-code` incident.
const INVALID_KEY_CODE_BODIES: &[&str] = &[
    r#"{"error":{"code":"invalid_api_key"}}"#,
    "Incorrect API key provided: sk-****abcd.",
];

const MODEL_SUPPORT_BODIES: &[&str] = &[
    r#"{"error":{"code":"model_not_supported"}}"#,
    "The model is not supported for this endpoint",
    "model not supported",
    "Unsupported model: foo",
    "Model unavailable",
    "The requested model is unavailable",
    "The model `gpt-5` does not exist or you do not have access to it.",
    "This model is not available for your plan",
    "Model not available for your account",
];

fn rate_limit(retry_after: Option<&str>, retry_after_ms: Option<&str>) -> HttpAnswer {
    HttpAnswer {
        retry_after: retry_after.map(str::to_string),
        retry_after_ms: retry_after_ms.map(str::to_string),
        ..HttpAnswer::new(429, "slow down")
    }
}

/// The parsed hint at `now_ms`, with the reference cap.
fn hint_at(now_ms: u64, retry_after: Option<&str>, retry_after_ms: Option<&str>) -> Option<u64> {
    let cap = Policy::reference().retry_after_cap;
    parse_retry_after(
        &rate_limit(retry_after, retry_after_ms),
        EPOCH,
        Instant(now_ms),
        cap,
    )
    .map(Duration::as_ms)
}

fn hint(retry_after: Option<&str>, retry_after_ms: Option<&str>) -> Option<u64> {
    hint_at(0, retry_after, retry_after_ms)
}

// ---- classes ----

#[test]
fn invalid_key_bodies_are_auth_on_any_4xx() {
    for body in INVALID_KEY_BODIES {
        for status in [400, 402, 404, 409, 413, 422] {
            assert_eq!(class(status, body), Class::Auth, "{status} {body}");
        }
    }
}

#[test]
fn invalid_key_bodies_match_case_insensitively() {
    for body in [
        r#"{"error":{"code":"INVALID_API_KEY"}}"#,
        "INCORRECT API KEY PROVIDED",
        "Api Key Not Valid. please pass a valid api key.",
        "API Key Not Found",
    ] {
        assert_eq!(class(400, body), Class::Auth, "{body}");
    }
}

#[test]
fn invalid_key_body_outside_4xx_is_not_auth() {
    assert_eq!(class(500, "API key not valid"), Class::Transient);
    assert_eq!(class(200, "API key not valid"), Class::Success);
}

#[test]
fn unauthorized_and_forbidden_are_auth_whatever_the_body() {
    for status in [401, 403] {
        assert_eq!(class(status, ""), Class::Auth);
        assert_eq!(class(status, "model not supported"), Class::Auth);
    }
}

#[test]
fn model_support_bodies_on_400_and_422_are_model_unsupported() {
    for body in MODEL_SUPPORT_BODIES {
        for status in [400, 422] {
            assert_eq!(
                class(status, body),
                Class::ModelUnsupported,
                "{status} {body}"
            );
        }
        assert_eq!(class(409, body), Class::RequestInvalid, "409 {body}");
        assert_eq!(class(404, body), Class::ModelUnsupported, "404 {body}");
    }
    assert_eq!(class(400, "MODEL_NOT_SUPPORTED"), Class::ModelUnsupported);
}

/// The model-not-available wordings of llmgateway's `getFinishReasonFromError` (and Azure's
/// DeploymentNotFound), with the statuses they come with.
const NOT_AVAILABLE_ANSWERS: &[(u16, &str)] = &[
    (400, "unknown model: gpt-5-nano"),
    (404, "unknown model: gpt-5-nano"),
    (422, r#"{"error":"Unknown model: gpt-5-nano"}"#),
    (
        404,
        r#"{"error":{"code":"DeploymentNotFound","message":"Could not find an existing deployment to match the model gpt-4o."}}"#,
    ),
    // llmgateway #2796: Azure's missing deployment answered with 400.
    (
        400,
        "We could not find an existing deployment to match the model gpt-4o.",
    ),
    (404, "Not Found"),
    (404, ""),
    (404, r#"{"error":{"message":"Resource not found"}}"#),
];

#[test]
fn model_not_available_wordings_are_model_unsupported() {
    for (status, body) in NOT_AVAILABLE_ANSWERS {
        assert_eq!(
            class(*status, body),
            Class::ModelUnsupported,
            "{status} {body}"
        );
    }
}

#[test]
fn a_bare_not_found_is_model_unsupported_only_on_404() {
    // On 400 the same words carry no model meaning: the request shape is what is wrong.
    assert_eq!(class(400, "Not Found"), Class::RequestInvalid);
    assert_eq!(class(422, "Not Found"), Class::RequestInvalid);
    assert_eq!(class(404, "Not Found"), Class::ModelUnsupported);
}

#[test]
fn request_scoped_404s_stay_request_invalid() {
    for body in [
        r#"{"error":{"code":"previous_response_not_found","message":"Previous response with id 'resp_1' not found."}}"#,
        "Item with id 'rs_1' not found. Items are not persisted when `store` is set to false.",
    ] {
        assert_eq!(class(404, body), Class::RequestInvalid, "{body}");
    }
}

#[test]
fn a_generic_404_is_model_unsupported_only_on_a_chat_route() {
    let policy = Policy::reference();
    let of = |kind, body: &str| {
        classify(
            &Response::Http(HttpAnswer::new(404, body)),
            kind,
            &policy,
            EPOCH,
            Instant::ZERO,
        )
    };
    for kind in [RequestKind::CountTokens, RequestKind::Passthrough] {
        // A passthrough path or a token-count route can itself be missing.
        assert_eq!(of(kind, "Not Found"), Class::Transient, "{kind:?}");
        // The wording names the model whatever the route.
        assert_eq!(
            of(kind, "unknown model: gpt-5-nano"),
            Class::ModelUnsupported,
            "{kind:?}"
        );
    }
    assert_eq!(of(RequestKind::Chat, "Not Found"), Class::ModelUnsupported);
}

#[test]
fn knob_model_not_available_unmatched_puts_back_request_invalid_and_transient() {
    let policy = with(Regression::ModelNotAvailableUnmatched);
    for (status, body) in NOT_AVAILABLE_ANSWERS {
        let old = if *status == 404 {
            Class::Transient
        } else {
            Class::RequestInvalid
        };
        assert_eq!(class_with(&policy, *status, body), old, "{status} {body}");
    }
    // CLIProxyAPI's phrases on 400/422 are still matched.
    for body in MODEL_SUPPORT_BODIES {
        assert_eq!(class_with(&policy, 400, body), Class::ModelUnsupported);
    }
}

#[test]
fn invalid_key_wording_on_404_is_auth_not_model_support() {
    assert_eq!(class(404, "API key not valid"), Class::Auth);
}

#[test]
fn other_400_409_413_422_are_request_invalid() {
    for status in [400, 409, 413, 422] {
        assert_eq!(
            class(status, r#"{"error":"bad field"}"#),
            Class::RequestInvalid
        );
        assert_eq!(class(status, ""), Class::RequestInvalid);
    }
}

#[test]
fn server_errors_are_transient() {
    for status in [500, 502, 503, 504, 529] {
        assert_eq!(
            class(status, "upstream error"),
            Class::Transient,
            "{status}"
        );
    }
}

#[test]
fn transport_failures_are_network_and_timeout() {
    let policy = Policy::reference();
    let of = |e| {
        classify(
            &Response::Transport(e),
            RequestKind::Chat,
            &policy,
            EPOCH,
            Instant::ZERO,
        )
    };
    assert_eq!(of(TransportError::Connect), Class::Network);
    assert_eq!(of(TransportError::Timeout), Class::Timeout);
}

#[test]
fn broken_streams_are_network_before_the_first_byte_and_interrupted_after() {
    let policy = Policy::reference();
    let of = |stream| {
        let answer = HttpAnswer {
            stream,
            ..HttpAnswer::ok()
        };
        classify(
            &Response::Http(answer),
            RequestKind::Chat,
            &policy,
            EPOCH,
            Instant::ZERO,
        )
    };
    assert_eq!(of(StreamProgress::Complete), Class::Success);
    assert_eq!(of(StreamProgress::BrokeBeforeFirstByte), Class::Network);
    assert_eq!(
        of(StreamProgress::BrokeAfterFirstByte),
        Class::StreamInterrupted
    );
}

#[test]
fn rate_limit_carries_the_capped_hint() {
    let policy = Policy::reference();
    let of = |answer| {
        classify(
            &Response::Http(answer),
            RequestKind::Chat,
            &policy,
            EPOCH,
            Instant::ZERO,
        )
    };
    assert_eq!(
        of(rate_limit(Some("7"), None)),
        Class::RateLimited {
            retry_after: Some(Duration::from_secs(7))
        }
    );
    assert_eq!(
        of(rate_limit(Some("1555200"), None)),
        Class::RateLimited {
            retry_after: Some(Duration::from_secs(3600))
        },
        "an 18-day hint is capped at 1 h"
    );
    assert_eq!(
        of(rate_limit(None, None)),
        Class::RateLimited { retry_after: None }
    );
    // A 429 is a rate limit even with an invalid-key body.
    assert!(matches!(
        class(429, "API key not valid"),
        Class::RateLimited { .. }
    ));
}

#[test]
fn only_success_and_request_invalid_are_not_upstream_failures() {
    assert!(!Class::Success.is_upstream_failure());
    assert!(!Class::RequestInvalid.is_upstream_failure());
    for c in [
        Class::Auth,
        Class::RateLimited { retry_after: None },
        Class::ModelUnsupported,
        Class::Transient,
        Class::Network,
        Class::Timeout,
        Class::StreamInterrupted,
    ] {
        assert!(c.is_upstream_failure(), "{c}");
    }
    let limited = Class::RateLimited {
        retry_after: Some(Duration::from_ms(1_500)),
    };
    assert_eq!(limited.to_string(), "rate_limited(retry 1500ms)");
    assert_eq!(Class::ModelUnsupported.to_string(), "model_unsupported");
}

// ---- Retry-After ----

#[test]
fn retry_after_ms_is_fractional_rounded_up_and_wins() {
    assert_eq!(hint(Some("10"), Some("1500.5")), Some(1_501));
    assert_eq!(hint(None, Some("1500")), Some(1_500));
    assert_eq!(hint(None, Some("1500.000")), Some(1_500));
    assert_eq!(hint(None, Some(" 0.25 ")), Some(1));
    assert_eq!(hint(None, Some(".5")), Some(1));
}

#[test]
fn unusable_retry_after_ms_falls_back_to_retry_after() {
    for bad in ["0", "0.0", "-5", "", "soon", "1e3", "1,5"] {
        assert_eq!(hint(Some("10"), Some(bad)), Some(10_000), "{bad:?}");
        assert_eq!(hint(None, Some(bad)), None, "{bad:?}");
    }
}

#[test]
fn retry_after_delta_seconds() {
    assert_eq!(hint(Some("10"), None), Some(10_000));
    assert_eq!(hint(Some(" 7 "), None), Some(7_000));
    assert_eq!(hint(Some("3600"), None), Some(3_600_000));
}

#[test]
fn zero_negative_and_garbage_retry_after_are_ignored() {
    for bad in [
        "0",
        "-5",
        "",
        "soon",
        "1e3",
        "1.5",
        "+5",
        "Sun, 99 Foo 2024 00:00:00 GMT",
    ] {
        assert_eq!(hint(Some(bad), None), None, "{bad:?}");
    }
}

#[test]
fn retry_after_http_date_is_relative_to_the_catalog_epoch() {
    let at = format_http_date(EPOCH + 65);
    assert_eq!(hint_at(5_000, Some(&at), None), Some(60_000));
    assert_eq!(hint_at(0, Some(&at), None), Some(65_000));
    assert_eq!(hint_at(64_500, Some(&at), None), Some(500));
}

#[test]
fn past_and_present_http_dates_are_ignored() {
    assert_eq!(
        hint_at(10_000, Some(&format_http_date(EPOCH + 5)), None),
        None
    );
    assert_eq!(
        hint_at(10_000, Some(&format_http_date(EPOCH + 10)), None),
        None
    );
    assert_eq!(hint(Some("Thu, 01 Jan 1970 00:00:00 GMT"), None), None);
}

#[test]
fn retry_after_is_capped() {
    let hour = 3_600_000;
    assert_eq!(hint(Some("1555200"), None), Some(hour), "18 days");
    assert_eq!(hint(None, Some("99999999999999999999999")), Some(hour));
    assert_eq!(hint(Some("99999999999999999999999"), None), Some(hour));
    let in_18_days = format_http_date(EPOCH + 18 * 86_400);
    assert_eq!(hint(Some(&in_18_days), None), Some(hour));
    let answer = rate_limit(Some("120"), None);
    let cap = Duration::from_secs(60);
    assert_eq!(
        parse_retry_after(&answer, EPOCH, Instant::ZERO, cap),
        Some(cap),
        "the cap is the policy's"
    );
}

#[test]
fn http_dates_format_and_parse_back() {
    assert_eq!(
        format_http_date(784_111_777),
        "Sun, 06 Nov 1994 08:49:37 GMT"
    );
    assert_eq!(format_http_date(0), "Thu, 01 Jan 1970 00:00:00 GMT");
    assert_eq!(
        format_http_date(951_782_400),
        "Tue, 29 Feb 2000 00:00:00 GMT"
    );
    for unix_s in [
        0,
        784_111_777,
        951_782_400,
        EPOCH,
        EPOCH + 86_399,
        4_102_444_800,
    ] {
        assert_eq!(parse_http_date(&format_http_date(unix_s)), Some(unix_s));
    }
    assert_eq!(parse_http_date("Sun, 06 Nov 1994 08:49:37 UTC"), None);
    assert_eq!(parse_http_date("Sun, 06 Nov 1994 08:49:37 GMT extra"), None);
    assert_eq!(parse_http_date("Sunday, 06-Nov-94 08:49:37 GMT"), None);
}

// ---- knobs ----

#[test]
fn knob_invalid_key_400_is_request_error_changes_only_400() {
    let policy = with(Regression::InvalidKey400IsRequestError);
    for body in INVALID_KEY_BODIES {
        assert_eq!(class(400, body), Class::Auth);
        assert_eq!(
            class_with(&policy, 400, body),
            Class::RequestInvalid,
            "{body}"
        );
        assert_eq!(class_with(&policy, 404, body), Class::Auth, "{body}");
    }
    assert_eq!(class_with(&policy, 401, ""), Class::Auth);
}

#[test]
fn knob_invalid_key_code_unmatched_drops_only_the_structured_shapes() {
    let policy = with(Regression::InvalidKeyCodeUnmatched);
    for body in INVALID_KEY_CODE_BODIES {
        assert_eq!(class(400, body), Class::Auth);
        assert_eq!(
            class_with(&policy, 400, body),
            Class::RequestInvalid,
            "{body}"
        );
        // Unmatched, a 404 on a chat route is a missing model.
        assert_eq!(
            class_with(&policy, 404, body),
            Class::ModelUnsupported,
            "{body}"
        );
    }
    for body in [
        "API key not valid. Please pass a valid API key.",
        "api key not found",
    ] {
        assert_eq!(class_with(&policy, 400, body), Class::Auth, "{body}");
    }
}

#[test]
fn knob_model_support_is_terminal_makes_model_errors_request_invalid() {
    let policy = with(Regression::ModelSupportIsTerminal);
    for body in MODEL_SUPPORT_BODIES {
        assert_eq!(class(422, body), Class::ModelUnsupported);
        assert_eq!(
            class_with(&policy, 422, body),
            Class::RequestInvalid,
            "{body}"
        );
        assert_eq!(
            class_with(&policy, 400, body),
            Class::RequestInvalid,
            "{body}"
        );
    }
    for (status, body) in NOT_AVAILABLE_ANSWERS {
        assert_eq!(
            class_with(&policy, *status, body),
            Class::RequestInvalid,
            "{status} {body}"
        );
    }
    assert_eq!(
        class_with(&policy, 400, "API key not valid"),
        Class::Auth,
        "invalid keys are still auth"
    );
}
