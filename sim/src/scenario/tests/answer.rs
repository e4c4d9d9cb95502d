//! `answer` faults: what loads, what is refused and where, and the write-back as written.

use super::{errors, ok};
use crate::scenario::{parse, to_json};
use crate::world::{FaultKind, Means};
use gatesim_core::{KeyId, ProviderId, RegionId};

/// Two providers (`openai` in two regions, `google` in one), a region-locked key, an
/// alias, and `faults` spliced in.
fn world(faults: &str) -> String {
    format!(
        r#"{{ "version": 1, "id": "answers", "regions": ["us", "eu"],
  "providers": [ {{ "id": "openai", "style": "openai", "regions": ["us", "eu"] }},
                 {{ "id": "google", "style": "google", "regions": ["us"] }} ],
  "models": [ {{ "id": "gpt-4o", "served_by": [ {{ "provider": "openai", "region": "us", "upstream": "gpt-4o-2024" }},
                                               {{ "provider": "openai", "region": "eu", "upstream": "gpt-4o-2024" }} ] }},
              {{ "id": "gemini", "served_by": [ {{ "provider": "google", "region": "us" }} ] }},
              {{ "id": "pool", "alias_of": ["gpt-4o", "gemini"] }} ],
  "credentials": [ {{ "id": "k0", "provider": "openai", "source": "org" }},
                   {{ "id": "k1", "provider": "openai", "source": "org" }},
                   {{ "id": "eu-key", "provider": "openai", "source": "org", "region": "eu" }},
                   {{ "id": "g0", "provider": "google", "source": "org" }} ],
  "projects": [ {{ "id": "p1", "mode": "api-keys" }} ],
  "faults": [ {faults} ] }}"#
    )
}

/// `world` with one fault: `fields` after `"at": "0s", "kind": "answer"`.
fn one(fields: &str) -> String {
    world(&format!(r#"{{ "at": "0s", "kind": "answer", {fields} }}"#))
}

/// The single error of an answer with `fields`.
fn error(fields: &str) -> String {
    let e = errors(&one(fields));
    assert_eq!(e.len(), 1, "{e:?}");
    e[0].clone()
}

#[test]
fn an_answer_takes_only_what_it_names() {
    let w = ok(&one(
        r#""means": "key_invalid", "credential": "k0", "status": 403"#,
    ));
    let FaultKind::Answer(a) = &w.faults.faults[0].kind else {
        panic!("not an answer: {:?}", w.faults.faults[0].kind);
    };
    assert_eq!(
        (a.means, a.credential, a.provider, a.region, a.status),
        (Means::KeyInvalid, Some(KeyId(0)), None, None, 403)
    );
    assert_eq!(
        (a.model.as_deref(), a.body.as_deref(), a.rate_bp),
        (None, None, 10_000),
        "every answer, the style's body"
    );
    assert!(a.headers.is_empty());

    let w = ok(&one(
        r#""means": "upstream_error", "provider": "openai", "region": "eu", "status": 529"#,
    ));
    let FaultKind::Answer(a) = &w.faults.faults[0].kind else {
        panic!("not an answer");
    };
    assert_eq!(
        (a.credential, a.provider, a.region),
        (None, Some(ProviderId(0)), Some(RegionId(1)))
    );
}

#[test]
fn an_answer_is_written_back_as_written() {
    let faults = [
        r#""means": "key_invalid", "credential": "k0", "status": 403"#,
        r#""means": "rate_limited", "credential": "k1", "provider": "openai", "region": "us",
           "model": "gpt-4o", "status": 429, "body": "{\"error\":\"slow down\"}",
           "headers": { "Retry-After": "Wed, 01 Jan 2026 00:00:30 GMT", "retry-after-ms": "1500.5",
                        "x-ratelimit-reset-requests": "2s" }, "rate": 0.25"#,
        r#""means": "model_unsupported", "provider": "openai", "model": "gpt-4o-2024", "status": 404"#,
        r#""means": "request_invalid", "provider": "google", "status": 422, "rate": 0.1"#,
        r#""means": "upstream_error", "credential": "g0", "status": 400, "body": "temporary routing error""#,
    ];
    let list: Vec<String> = faults
        .iter()
        .map(|f| format!(r#"{{ "at": "1s", "until": "2m", "kind": "answer", {f} }}"#))
        .collect();
    let w = ok(&world(&list.join(",\n")));
    let text = to_json(&w);
    assert_eq!(parse(&text).as_ref(), Ok(&w), "{text}");
    assert_eq!(to_json(&ok(&text)), text, "writing is stable");
    for written in [
        r#""means": "rate_limited""#,
        r#""Retry-After": "Wed, 01 Jan 2026 00:00:30 GMT""#,
        r#""retry-after-ms": "1500.5""#,
        r#""model": "gpt-4o""#,
        r#""model": "gpt-4o-2024""#,
        r#""rate": 0.25"#,
        r#""body": "temporary routing error""#,
    ] {
        assert!(text.contains(written), "{written} in:\n{text}");
    }
    // Only what was given: the first answer names its credential and nothing else.
    let first = text
        .split(r#""kind": "answer""#)
        .nth(1)
        .expect("an answer is written");
    let first = &first[..first.find('}').expect("the fault ends")];
    for absent in ["provider", "region", "model", "rate", "headers", "body"] {
        assert!(!first.contains(absent), "{absent} in {first}");
    }
}

#[test]
fn the_meaning_and_status_are_required_and_checked() {
    assert_eq!(
        error(r#""credential": "k0", "status": 403"#),
        "faults[0].means: missing (answer needs it)"
    );
    assert_eq!(
        error(r#""means": "key_expired", "credential": "k0", "status": 403"#),
        "faults[0].means: unknown meaning \"key_expired\" (known: key_invalid, rate_limited, \
         model_unsupported, request_invalid, upstream_error)"
    );
    assert_eq!(
        error(r#""means": "key_invalid", "credential": "k0""#),
        "faults[0].status: missing (answer needs it)"
    );
    assert_eq!(
        error(r#""means": "key_invalid", "credential": "k0", "status": 600"#),
        "faults[0].status: 600 is not an HTTP status (100 to 599)"
    );
    assert_eq!(
        error(r#""means": "rate_limited", "credential": "k0", "status": 200"#),
        "faults[0].status: 200 is not a status an answer that means rate_limited can have \
         (4xx or 5xx: every meaning is a failure)"
    );
    assert_eq!(
        error(r#""means": "key_invalid", "credential": "k0", "status": 503"#),
        "faults[0].status: 503 is not a status an answer that means key_invalid can have \
         (4xx: every meaning is a failure)"
    );
    assert_eq!(
        error(r#""means": "upstream_error", "credential": "k0", "status": 503, "rate": 1.5"#),
        "faults[0].rate: 1.5 is not a fraction (use a number from 0 to 1)"
    );
}

#[test]
fn whom_an_answer_is_for_is_checked() {
    let status = r#""means": "key_invalid", "status": 401"#;
    assert_eq!(
        error(status),
        "faults[0].credential: missing (an answer is for a credential, a provider or both: \
         give credential or provider)"
    );
    assert_eq!(
        error(&format!(
            r#"{status}, "credential": "k0", "provider": "google""#
        )),
        "faults[0].credential: \"k0\" is not a credential of provider \"google\""
    );
    assert_eq!(
        error(&format!(r#"{status}, "credential": "k9""#)),
        "faults[0].credential: unknown credential \"k9\" (known: k0, k1, eu-key, g0)"
    );
    assert_eq!(
        error(&format!(
            r#"{status}, "provider": "google", "region": "eu""#
        )),
        "faults[0].region: provider \"google\" is not in region \"eu\" (its regions: us)"
    );
    assert_eq!(
        error(&format!(
            r#"{status}, "credential": "eu-key", "region": "us""#
        )),
        "faults[0].region: credential \"eu-key\" is locked to region \"eu\": it is never sent \
         to \"us\""
    );
    ok(&one(&format!(
        r#"{status}, "credential": "eu-key", "region": "eu""#
    )));
}

#[test]
fn the_model_is_one_the_provider_serves() {
    let head = r#""means": "model_unsupported", "credential": "k0", "status": 400"#;
    ok(&one(&format!(r#"{head}, "model": "gpt-4o""#)));
    ok(&one(&format!(r#"{head}, "model": "gpt-4o-2024""#)));
    assert_eq!(
        error(&format!(r#"{head}, "model": "pool""#)),
        "faults[0].model: \"pool\" is an alias (name a canonical or upstream model)"
    );
    assert_eq!(
        error(&format!(r#"{head}, "model": "gemini""#)),
        "faults[0].model: \"gemini\" is not served by provider \"openai\" (no attempt for it \
         reaches this answer)"
    );
    assert_eq!(
        error(&format!(r#"{head}, "model": "gpt-5""#)),
        "faults[0].model: provider \"openai\" serves no upstream model \"gpt-5\" (its upstreams: \
         gpt-4o-2024)"
    );
}

#[test]
fn headers_are_valid_http_fields_named_at_their_path() {
    let with = |headers: &str| {
        error(&format!(
            r#""means": "upstream_error", "credential": "k0", "status": 503, "headers": {{ {headers} }}"#
        ))
    };
    assert_eq!(
        with(r#""retry after": "5""#),
        "faults[0].headers[\"retry after\"]: not a header name (letters, digits and \
         !#$%&'*+-.^_`|~, no spaces)"
    );
    assert_eq!(
        with(r#""x-note": "a\r\nx-forged: 1""#),
        "faults[0].headers[\"x-note\"]: \"a\\r\\nx-forged: 1\" is not one line of visible ASCII \
         (no CR, LF or other control characters)"
    );
    assert_eq!(
        with(r#""x-note": "café""#),
        "faults[0].headers[\"x-note\"]: \"café\" is not one line of visible ASCII (no CR, LF or \
         other control characters)"
    );
    assert_eq!(
        with(r#""x-note": " 5""#),
        "faults[0].headers[\"x-note\"]: \" 5\" has leading or trailing whitespace (HTTP drops \
         it: write the value without)"
    );
    assert_eq!(
        with(r#""Retry-After": "5", "retry-after": "6""#),
        "faults[0].headers[\"retry-after\"]: the same header as \"Retry-After\" (header names \
         ignore case)"
    );
    assert_eq!(
        with(r#""Content-Length": "5""#),
        "faults[0].headers[\"Content-Length\"]: set by the fake provider, which frames the \
         answer: leave it out"
    );
    let e = with(r#""retry-after": 5"#);
    assert!(
        e.starts_with("faults[0].headers.retry-after: invalid type: integer `5`"),
        "{e}"
    );
    let many: Vec<String> = (0..65).map(|i| format!(r#""x-h{i}": "v""#)).collect();
    assert_eq!(
        with(&many.join(", ")),
        "faults[0].headers: 65 headers (at most 64)"
    );
    // Any valid field goes, content-type too (it replaces the default).
    ok(&one(
        r#""means": "upstream_error", "credential": "k0", "status": 503,
           "headers": { "content-type": "text/html", "www-authenticate": "Bearer error=\"invalid_token\"", "retry-after": "soon" }"#,
    ));
}

#[test]
fn a_rate_limited_answer_sends_a_hint_a_reader_can_read() {
    let with = |name: &str, value: &str| {
        errors(&one(&format!(
            r#""means": "rate_limited", "credential": "k0", "status": 429, "headers": {{ "{name}": "{value}" }}"#
        )))
    };
    for (name, value) in [
        ("retry-after", "30"),
        ("retry-after", "0"),
        ("Retry-After", "Wed, 01 Jan 2026 00:00:30 GMT"),
        ("retry-after-ms", "1500"),
        ("retry-after-ms", "1500.25"),
    ] {
        let e = parse(&one(&format!(
            r#""means": "rate_limited", "credential": "k0", "status": 429, "headers": {{ "{name}": "{value}" }}"#
        )));
        assert!(e.is_ok(), "{name}: {value}: {e:?}");
    }
    assert_eq!(
        with("retry-after", "soon"),
        [
            "faults[0].headers[\"retry-after\"]: \"soon\" is not delta-seconds (\"30\") or an \
          IMF-fixdate (\"Wed, 01 Jan 2026 00:00:30 GMT\"): the hint of a rate_limited answer \
          must be readable, since the credential is held to it"
        ]
    );
    assert_eq!(
        with("retry-after", "Wed, 1 Jan 2026 00:00:30 GMT"),
        [
            "faults[0].headers[\"retry-after\"]: \"Wed, 1 Jan 2026 00:00:30 GMT\" is not \
          delta-seconds (\"30\") or an IMF-fixdate (\"Wed, 01 Jan 2026 00:00:30 GMT\"): the hint \
          of a rate_limited answer must be readable, since the credential is held to it"
        ]
    );
    assert_eq!(
        with("retry-after-ms", "1.5e3"),
        [
            "faults[0].headers[\"retry-after-ms\"]: \"1.5e3\" is not milliseconds (\"1500\", \
          \"1500.0\"): the hint of a rate_limited answer must be readable, since the credential \
          is held to it"
        ]
    );
}

#[test]
fn answer_fields_belong_to_answers_and_answers_are_not_drawn() {
    assert!(
        error(r#""means": "key_invalid", "credential": "k0", "status": 401, "capacity_per_min": 3"#)
            .starts_with("faults[0].capacity_per_min: not a field of answer (its fields: at, until, means, credential, provider, region, model, status, body, headers, rate)")
    );
    let e = errors(&world(
        r#"{ "at": "0s", "kind": "key_invalid", "credential": "k0", "means": "key_invalid", "headers": {} }"#,
    ));
    assert!(
        e[0].starts_with("faults[0].means: not a field of key_invalid"),
        "{e:?}"
    );
    assert!(
        e[1].starts_with("faults[0].headers: not a field of key_invalid"),
        "{e:?}"
    );
    let swarm = world("").replace(
        r#""faults": [  ]"#,
        r#""swarm": { "faults": [ { "kind": "rate_limit" }, { "kind": "answer" } ] }"#,
    );
    assert_eq!(
        errors(&swarm),
        [
            "swarm.faults[1].kind: answer is not drawn (its status, body and meaning are written \
          by hand: list the answer under faults)"
        ]
    );
}
