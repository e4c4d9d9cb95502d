//! Core benchmarks: one routing decision, classifying an answer, recording an outcome.
//!
//! Run with `cargo bench -p gatesim-core`. Every timed closure works on a fresh clone of a
//! warmed-up gateway (built outside the timing), so a sample measures exactly one call.

use divan::{black_box, Bencher};
use gatesim_core::{
    Action, Gateway, HttpAnswer, Instant, Policy, ProjectId, Request, RequestKind, Response,
    StreamProgress, TransportError,
};

fn main() {
    divan::main();
}

mod decision_catalog;
use decision_catalog::decision_catalog as catalog;

/// A gateway that has served one successful request per model (health entries and uptime
/// histories exist), with nothing open.
fn warm(keys: usize, models: usize) -> Gateway {
    let mut gw = Gateway::new(catalog(keys, models), Policy::reference()).expect("valid catalog");
    for m in 0..models {
        let now = Instant(m as u64);
        gw.submit(now, Request::chat(ProjectId(0), format!("model-{m}")));
        while let Some(action) = gw.poll_action() {
            if let Action::Dispatch(a) = action {
                gw.handle_response(now, a.id, Response::Http(HttpAnswer::ok()));
            }
        }
        while gw.poll_event().is_some() {}
    }
    gw
}

const NOW: Instant = Instant(60_000);

/// One routing decision: `submit` of a request whose first attempt is dispatched
/// (candidate selection over every route × credential, filters, walk), then the
/// `Dispatch` polled out. Credentials per provider × models in the catalog.
#[divan::bench(consts = [1, 8, 64, 1024], args = [1, 10, 100], sample_size = 64)]
fn decision<const KEYS: usize>(bencher: Bencher, models: usize) {
    let gw = warm(KEYS, models);
    let mut n = 0usize;
    bencher
        .with_inputs(|| {
            n += 1;
            let model = format!("model-{}", n % models);
            (gw.clone(), Some(Request::chat(ProjectId(0), model)))
        })
        .bench_local_refs(|(gw, request)| {
            let request = request.take().expect("one request per input");
            gw.submit(NOW, request);
            let action = gw.poll_action();
            debug_assert!(matches!(action, Some(Action::Dispatch(_))));
            action
        });
}

fn answer(name: &str) -> Response {
    let http = |status: u16, body: &str| HttpAnswer::new(status, body);
    match name {
        "ok_200" => Response::Http(HttpAnswer::ok()),
        "stream_broke" => Response::Http(HttpAnswer {
            stream: StreamProgress::BrokeAfterFirstByte,
            ..HttpAnswer::ok()
        }),
        "429_seconds" => Response::Http(HttpAnswer {
            retry_after: Some("30".to_string()),
            ..http(
                429,
                r#"{"error":{"message":"Rate limit reached for requests","type":"requests","code":"rate_limit_exceeded"}}"#,
            )
        }),
        "429_http_date" => Response::Http(HttpAnswer {
            retry_after: Some("Thu, 01 Jan 2026 00:01:30 GMT".to_string()),
            ..http(
                429,
                r#"{"error":{"message":"Rate limit reached for requests","type":"requests","code":"rate_limit_exceeded"}}"#,
            )
        }),
        "400_google_invalid_key" => Response::Http(http(
            400,
            r#"{"error":{"code":400,"message":"API key not valid. Please pass a valid API key.","status":"INVALID_ARGUMENT","details":[{"@type":"type.googleapis.com/google.rpc.ErrorInfo","reason":"API_KEY_INVALID","domain":"googleapis.com"}]}}"#,
        )),
        "401_openai_invalid_key" => Response::Http(http(
            401,
            r#"{"error":{"message":"Incorrect API key provided: sk-abc***. You can find your API key at https://platform.openai.com/account/api-keys.","type":"invalid_request_error","param":null,"code":"invalid_api_key"}}"#,
        )),
        "400_model_unsupported" => Response::Http(http(
            400,
            r#"{"error":{"message":"The requested model 'gpt-4o-2024-08-06' is not supported with this API key: model_not_supported","type":"invalid_request_error","param":"model","code":"model_not_supported"}}"#,
        )),
        "400_request_invalid" => Response::Http(http(
            400,
            r#"{"error":{"message":"Invalid 'messages[2].content': string too long. Expected a string with maximum length 1048576.","type":"invalid_request_error","param":"messages","code":null}}"#,
        )),
        "503_server_error" => Response::Http(http(
            503,
            r#"{"error":{"message":"The server had an error while processing your request. Sorry about that!","type":"server_error"}}"#,
        )),
        "connect_error" => Response::Transport(TransportError::Connect),
        other => unreachable!("unknown answer {other}"),
    }
}

const ANSWERS: &[&str] = &[
    "ok_200",
    "stream_broke",
    "429_seconds",
    "429_http_date",
    "400_google_invalid_key",
    "401_openai_invalid_key",
    "400_model_unsupported",
    "400_request_invalid",
    "503_server_error",
    "connect_error",
];

/// `classify::classify` on realistic provider answers (status, headers, error bodies).
#[divan::bench(args = ANSWERS)]
fn classify(bencher: Bencher, name: &str) {
    let response = answer(name);
    let policy = Policy::reference();
    bencher.bench_local(|| {
        gatesim_core::classify(
            black_box(&response),
            RequestKind::Chat,
            &policy,
            1_767_225_600,
            NOW,
        )
    });
}

/// Recording an outcome: `handle_response` for the in-flight first attempt of a request
/// (classify, health and uptime writes, the next step: answer the client or fail over),
/// 8 credentials per provider, 10 models.
#[divan::bench(args = ["ok_200", "429_seconds", "503_server_error", "401_openai_invalid_key"], sample_size = 64)]
fn record_outcome(bencher: Bencher, name: &str) {
    let mut gw = warm(8, 10);
    gw.submit(NOW, Request::chat(ProjectId(0), "model-3"));
    let Some(Action::Dispatch(attempt)) = gw.poll_action() else {
        unreachable!("the warm gateway dispatches at once")
    };
    let response = answer(name);
    bencher
        .with_inputs(|| (gw.clone(), Some(response.clone())))
        .bench_local_refs(|(gw, response)| {
            let response = response.take().expect("one answer per input");
            gw.handle_response(NOW, black_box(attempt.id), response);
            gw.poll_action()
        });
}
