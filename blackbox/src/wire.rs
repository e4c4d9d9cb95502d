//! The providers' wire formats: how a request to each style looks (for `gatesim serve`, a
//! client of the fake providers) and how it is read back (for the fake providers), and
//! the success bodies and event streams the fake providers send.
//!
//! Error bodies are the in-process fakes' own (`gatesim_sim::provider`): the same wording
//! crosses the wire. A request carries its tag in the prompt text, `gatesim request N`,
//! because every gateway relays the prompt unchanged, whatever it does to the envelope.

use gatesim_sim::world::Style;
use serde_json::{json, Value};

/// The prompt text a request carries: its tag, readable after any format translation.
pub fn prompt(tag: u64) -> String {
    format!("gatesim request {tag}: answer with ok")
}

/// The request tag in a body that carries a [`prompt`].
pub fn find_tag(body: &str) -> Option<u64> {
    let at = body.find("gatesim request ")? + "gatesim request ".len();
    let digits: String = body[at..]
        .chars()
        .take_while(char::is_ascii_digit)
        .collect();
    digits.parse().ok()
}

/// The path of a request to `model` in `style`.
pub fn path(style: Style, model: &str, stream: bool) -> String {
    match style {
        Style::OpenAi | Style::Generic => "/v1/chat/completions".to_string(),
        Style::Anthropic => "/v1/messages".to_string(),
        Style::Google if stream => format!("/v1beta/models/{model}:streamGenerateContent?alt=sse"),
        Style::Google => format!("/v1beta/models/{model}:generateContent"),
    }
}

/// The header that carries a credential's token in `style`, and its value.
pub fn auth_header(style: Style, token: &str) -> (&'static str, String) {
    match style {
        Style::OpenAi | Style::Generic => ("authorization", format!("Bearer {token}")),
        Style::Anthropic => ("x-api-key", token.to_string()),
        Style::Google => ("x-goog-api-key", token.to_string()),
    }
}

/// A request body for `model` in `style`.
pub fn body(style: Style, model: &str, prompt: &str, stream: bool) -> String {
    let v = match style {
        Style::OpenAi | Style::Generic => json!({
            "model": model,
            "messages": [{"role": "user", "content": prompt}],
            "stream": stream,
        }),
        Style::Anthropic => json!({
            "model": model,
            "max_tokens": 16,
            "messages": [{"role": "user", "content": prompt}],
            "stream": stream,
        }),
        Style::Google => json!({
            "contents": [{"role": "user", "parts": [{"text": prompt}]}],
        }),
    };
    v.to_string()
}

/// What a fake provider reads off a request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Received {
    /// The token, from the style's header (or Google's `key` query parameter).
    pub token: Option<String>,
    /// The upstream model asked for.
    pub model: Option<String>,
    /// Streamed.
    pub stream: bool,
    /// The prompt text (every text part, joined), for the tag and the body digest.
    pub prompt: String,
}

/// Reads a request the way a provider of `style` would.
pub fn receive(
    style: Style,
    path_and_query: &str,
    header: &dyn Fn(&str) -> Option<String>,
    body: &[u8],
) -> Received {
    let parsed: Value = serde_json::from_slice(body).unwrap_or(Value::Null);
    let (path, query) = path_and_query
        .split_once('?')
        .unwrap_or((path_and_query, ""));
    let token = match style {
        Style::OpenAi | Style::Generic => {
            header("authorization").and_then(|v| v.strip_prefix("Bearer ").map(str::to_string))
        }
        Style::Anthropic => header("x-api-key"),
        Style::Google => header("x-goog-api-key").or_else(|| {
            query
                .split('&')
                .find_map(|kv| kv.strip_prefix("key=").map(str::to_string))
        }),
    };
    let (model, stream) = match style {
        Style::Google => {
            let model = path
                .strip_prefix("/v1beta/models/")
                .or_else(|| path.strip_prefix("/v1/models/"))
                .and_then(|rest| rest.split_once(':'))
                .map(|(m, _)| m.to_string());
            (model, path.ends_with(":streamGenerateContent"))
        }
        Style::OpenAi | Style::Generic | Style::Anthropic => (
            parsed
                .get("model")
                .and_then(Value::as_str)
                .map(str::to_string),
            parsed
                .get("stream")
                .and_then(Value::as_bool)
                .unwrap_or(false),
        ),
    };
    let mut prompt = String::new();
    collect_text(&parsed, &mut prompt);
    if prompt.is_empty() {
        prompt = String::from_utf8_lossy(body).into_owned();
    }
    Received {
        token,
        model,
        stream,
        prompt,
    }
}

/// Every string under a `content` or `text` key, in order.
fn collect_text(v: &Value, out: &mut String) {
    match v {
        Value::Object(map) => {
            for (k, v) in map {
                match (k.as_str(), v) {
                    ("content" | "text", Value::String(s)) => {
                        if !out.is_empty() {
                            out.push('\n');
                        }
                        out.push_str(s);
                    }
                    _ => collect_text(v, out),
                }
            }
        }
        Value::Array(items) => items.iter().for_each(|i| collect_text(i, out)),
        Value::Null | Value::Bool(_) | Value::Number(_) | Value::String(_) => {}
    }
}

/// A served answer's body in `style`.
pub fn success_body(style: Style, model: &str, id: u64) -> String {
    let v = match style {
        Style::OpenAi | Style::Generic => json!({
            "id": format!("chatcmpl-gatesim-{id}"),
            "object": "chat.completion",
            "created": 0,
            "model": model,
            "choices": [{
                "index": 0,
                "message": {"role": "assistant", "content": "ok"},
                "finish_reason": "stop",
            }],
            "usage": {"prompt_tokens": 8, "completion_tokens": 1, "total_tokens": 9},
        }),
        Style::Anthropic => json!({
            "id": format!("msg_gatesim_{id}"),
            "type": "message",
            "role": "assistant",
            "model": model,
            "content": [{"type": "text", "text": "ok"}],
            "stop_reason": "end_turn",
            "stop_sequence": null,
            "usage": {"input_tokens": 8, "output_tokens": 1},
        }),
        Style::Google => json!({
            "candidates": [{
                "content": {"role": "model", "parts": [{"text": "ok"}]},
                "finishReason": "STOP",
                "index": 0,
            }],
            "usageMetadata": {"promptTokenCount": 8, "candidatesTokenCount": 1, "totalTokenCount": 9},
            "modelVersion": model,
        }),
    };
    v.to_string()
}

/// A served answer as server-sent events in `style`: the first event is the first byte a
/// broken stream still delivers.
pub fn success_events(style: Style, model: &str, id: u64) -> Vec<String> {
    let data = |v: Value| format!("data: {v}\n\n");
    let event = |name: &str, v: Value| format!("event: {name}\ndata: {v}\n\n");
    match style {
        Style::OpenAi | Style::Generic => {
            let chunk = |delta: Value, finish: Value| {
                data(json!({
                    "id": format!("chatcmpl-gatesim-{id}"),
                    "object": "chat.completion.chunk",
                    "created": 0,
                    "model": model,
                    "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
                }))
            };
            vec![
                chunk(json!({"role": "assistant", "content": "o"}), Value::Null),
                chunk(json!({"content": "k"}), Value::Null),
                chunk(json!({}), json!("stop")),
                "data: [DONE]\n\n".to_string(),
            ]
        }
        Style::Anthropic => vec![
            event(
                "message_start",
                json!({"type": "message_start", "message": {
                    "id": format!("msg_gatesim_{id}"), "type": "message", "role": "assistant",
                    "model": model, "content": [], "stop_reason": null, "stop_sequence": null,
                    "usage": {"input_tokens": 8, "output_tokens": 0}}}),
            ),
            event(
                "content_block_start",
                json!({"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}}),
            ),
            event(
                "content_block_delta",
                json!({"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": "ok"}}),
            ),
            event(
                "content_block_stop",
                json!({"type": "content_block_stop", "index": 0}),
            ),
            event(
                "message_delta",
                json!({"type": "message_delta", "delta": {"stop_reason": "end_turn", "stop_sequence": null}, "usage": {"output_tokens": 1}}),
            ),
            event("message_stop", json!({"type": "message_stop"})),
        ],
        Style::Google => {
            let chunk = |text: &str, finish: Option<&str>| {
                let mut candidate =
                    json!({"content": {"role": "model", "parts": [{"text": text}]}, "index": 0});
                if let Some(f) = finish {
                    candidate["finishReason"] = json!(f);
                }
                format!(
                    "data: {}\r\n\r\n",
                    json!({"candidates": [candidate], "modelVersion": model})
                )
            };
            vec![chunk("o", None), chunk("k", Some("STOP"))]
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_request_reads_back_in_every_style() {
        for style in [
            Style::OpenAi,
            Style::Anthropic,
            Style::Google,
            Style::Generic,
        ] {
            for stream in [false, true] {
                let b = body(style, "m-1", &prompt(42), stream);
                let (name, value) = auth_header(style, "tok");
                let header = |h: &str| (h == name).then(|| value.clone());
                let r = receive(style, &path(style, "m-1", stream), &header, b.as_bytes());
                assert_eq!(r.token.as_deref(), Some("tok"), "{style:?}");
                assert_eq!(r.model.as_deref(), Some("m-1"), "{style:?}");
                assert_eq!(r.stream, stream, "{style:?}");
                assert_eq!(find_tag(&r.prompt), Some(42), "{style:?}");
            }
        }
    }

    #[test]
    fn google_takes_the_key_from_the_query_too() {
        let none = |_: &str| None;
        let r = receive(
            Style::Google,
            "/v1beta/models/gemini-2.5-flash:generateContent?key=abc",
            &none,
            b"{}",
        );
        assert_eq!(r.token.as_deref(), Some("abc"));
        assert_eq!(r.model.as_deref(), Some("gemini-2.5-flash"));
    }

    #[test]
    fn a_tag_survives_translation_and_nothing_else_is_one() {
        assert_eq!(
            find_tag("[system]\ngatesim request 7: answer with ok"),
            Some(7)
        );
        assert_eq!(find_tag("gatesim request x"), None);
        assert_eq!(find_tag("hello"), None);
    }

    #[test]
    fn success_bodies_and_events_are_json() {
        for style in [Style::OpenAi, Style::Anthropic, Style::Google] {
            let v: Value = serde_json::from_str(&success_body(style, "m", 1)).expect("json");
            assert!(v.is_object());
            for e in success_events(style, "m", 1) {
                let data = e
                    .lines()
                    .find_map(|l| l.strip_prefix("data: "))
                    .expect("data");
                assert!(
                    data == "[DONE]" || serde_json::from_str::<Value>(data).is_ok(),
                    "{e}"
                );
            }
        }
    }
}
