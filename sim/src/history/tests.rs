//! History tests: what a harness writes reads back to the same history, the checker judges
//! it like the run it came from, and every malformed line is an error naming its field.

use super::*;
use crate::build::WorldBuilder;
use crate::runner::{judge, Judge};
use crate::world::{FaultKind, Style};
use gatesim_core::{Mode, Regression, Regressions, Source};

/// Two keys of one provider, the first invalid (answered 400), six requests.
fn world(knob: Option<Regression>) -> World {
    let mut b = WorldBuilder::new("invalid-key-400");
    let us = b.region("us-east");
    let g = b.provider("google-ai-studio", Style::Google, &[us]);
    b.model("gemini-2.5-flash", &[(g, us, "gemini-2.5-flash")]);
    let k0 = b.key("k0", g, Source::Org, None, None);
    b.key("k1", g, Source::Org, None, None);
    let p = b.project("p1", Mode::ApiKeys);
    let invalid = FaultKind::KeyInvalid {
        credential: k0,
        status: 400,
        body: None,
    };
    b.fault(0, None, invalid);
    for i in 0..6 {
        b.request(i * 1000, p, "gemini-2.5-flash");
    }
    let mut w = b.build();
    if let Some(k) = knob {
        w.policy.regressions = Regressions::only(k);
    }
    w
}

fn written(w: &World) -> String {
    let v = judge(w, 1, Judge::default()).expect("runs");
    write(w, &v.run, "reference")
}

fn names(violations: &[Violation]) -> Vec<&'static str> {
    let mut n: Vec<_> = violations.iter().map(|v| v.invariant.name()).collect();
    n.dedup();
    n
}

#[test]
fn a_written_history_reads_back_and_writes_the_same_text() {
    let w = world(None);
    let text = written(&w);
    let h = parse(&text).expect("parses");
    assert_eq!(h.header.scenario, "invalid-key-400");
    let run = to_run(&w, &h).expect("fits");
    assert_eq!(write(&w, &run, "reference"), text);
    assert_eq!(
        h.lines.len(),
        text.lines().count() - 1,
        "one line per record besides the header"
    );
}

#[test]
fn the_history_judges_like_the_run_it_came_from() {
    assert_eq!(
        names(
            &check(
                &world(None),
                &parse(&written(&world(None))).expect("parses")
            )
            .expect("fits")
        ),
        Vec::<&str>::new()
    );
    let bad = world(Some(Regression::InvalidKey400IsRequestError));
    let h = parse(&written(&bad)).expect("parses");
    let found = names(&check(&bad, &h).expect("fits"));
    assert!(found.contains(&"auth-blacklist-global"), "{found:?}");
}

#[test]
fn derived_fields_come_from_the_wire() {
    let w = world(None);
    let run = to_run(&w, &parse(&written(&w)).expect("parses")).expect("fits");
    let mut dispatched = run.trace.entries.iter().filter_map(|e| match &e.record {
        Record::Dispatched(a) => Some(a),
        _ => None,
    });
    let first = dispatched.next().expect("an attempt");
    assert_eq!(first.iteration, 1);
    assert_eq!(
        first.selected, first.credential,
        "no gateway-side selection outside"
    );
    assert!(first.charged, "the first attempt on a place opens it");
    assert_eq!(first.scope, Scope::of("gemini-2.5-flash"));
    let second = dispatched.next().expect("a retry");
    assert_eq!(second.request, first.request);
    assert!(
        !second.charged,
        "the same place is not charged twice in a walk"
    );
    assert!(run.final_state.blacklisted.is_empty(), "no gateway reports");
}

#[test]
fn a_client_answer_is_read_off_the_status() {
    let in_stream = |status| {
        Some(StreamError {
            status,
            retry_after_s: None,
        })
    };
    assert_eq!(outcome_from_wire(200, None), Outcome::Success);
    assert_eq!(outcome_from_wire(429, None), Outcome::ExhaustedTransient);
    assert_eq!(
        outcome_from_wire(200, in_stream(429)),
        Outcome::ExhaustedTransient
    );
    assert_eq!(outcome_from_wire(400, None), Outcome::RequestInvalid);
    assert_eq!(outcome_from_wire(502, None), Outcome::UpstreamFailed);
    assert_eq!(
        outcome_from_wire(200, in_stream(503)),
        Outcome::UpstreamFailed
    );
}

#[test]
fn string_tags_work_like_numbers() {
    let w = world(None);
    let text = written(&w)
        .replace("\"request\":0,", "\"request\":\"first\",")
        .replace("\"attempt\":0,", "\"attempt\":\"a-0\",");
    let h = parse(&text).expect("parses");
    assert!(check(&w, &h).expect("fits").is_empty());
}

const HEADER: &str = r#"{"type":"history","version":1,"scenario":"invalid-key-400"}"#;
const REQUEST: &str =
    r#"{"type":"request","t_ms":0,"request":0,"project":"p1","model":"gemini-2.5-flash"}"#;
const ATTEMPT: &str = r#"{"type":"attempt","t_ms":1,"attempt":0,"request":0,"provider":"google-ai-studio","region":"us-east","credential":"k1","upstream":"gemini-2.5-flash"}"#;

fn problem(lines: &[&str]) -> HistoryError {
    let text = lines.join("\n");
    match parse(&text) {
        Err(e) => e,
        Ok(h) => to_run(&world(None), &h).expect_err("rejected"),
    }
}

#[test]
fn a_minimal_history_with_defaults_fits() {
    let answer = r#"{"type":"answer","t_ms":5,"attempt":0,"status":200,"cause":"ok"}"#;
    let response = r#"{"type":"response","t_ms":6,"request":0,"status":200}"#;
    let h = parse(&[HEADER, REQUEST, ATTEMPT, answer, response].join("\n")).expect("parses");
    let run = to_run(&world(None), &h).expect("fits");
    assert_eq!(run.responses.len(), 1);
}

#[test]
// A table of cases, one per line before formatting: clearer whole than split.
#[allow(clippy::too_many_lines)]
fn malformed_histories_are_errors_naming_the_field() {
    let cases: &[(&[&str], usize, &str)] = &[
        (&[], 0, "no header"),
        (
            &[r#"{"type":"history","version":2,"scenario":"invalid-key-400"}"#],
            1,
            "version: 2",
        ),
        (
            &[r#"{"type":"trace","version":1,"scenario":"invalid-key-400"}"#],
            1,
            "type: expected",
        ),
        (
            &[r#"{"type":"history","version":1,"scenario":"other"}"#],
            1,
            "scenario:",
        ),
        (
            &[
                HEADER,
                r#"{"type":"request","t_ms":0,"request":0,"project":"p1","model":"m","colour":1}"#,
            ],
            2,
            "unknown field `colour`",
        ),
        (
            &[
                HEADER,
                r#"{"type":"request","t_ms":0,"request":0,"project":"nobody","model":"m"}"#,
            ],
            2,
            "project: no project",
        ),
        (&[HEADER, REQUEST, REQUEST], 3, "arrived twice"),
        (
            &[
                HEADER,
                r#"{"type":"request","t_ms":5,"request":0,"project":"p1","model":"m"}"#,
                r#"{"type":"request","t_ms":4,"request":1,"project":"p1","model":"m"}"#,
            ],
            3,
            "t_ms: 4 is earlier",
        ),
        (&[HEADER, ATTEMPT], 2, "has no request line"),
        (
            &[HEADER, REQUEST, &ATTEMPT.replace("k1", "sk-live")],
            3,
            "credential: no credential",
        ),
        (
            &[HEADER, REQUEST, &ATTEMPT.replace("us-east", "mars")],
            3,
            "region: no region",
        ),
        (&[HEADER, REQUEST, ATTEMPT, ATTEMPT], 4, "sent twice"),
        (
            &[
                HEADER,
                REQUEST,
                r#"{"type":"answer","t_ms":1,"attempt":9,"status":200,"cause":"ok"}"#,
            ],
            3,
            "has no attempt line",
        ),
        (
            &[
                HEADER,
                REQUEST,
                ATTEMPT,
                r#"{"type":"answer","t_ms":1,"attempt":0,"status":200,"cause":"fine"}"#,
            ],
            4,
            "cause: unknown cause",
        ),
        (
            &[
                HEADER,
                REQUEST,
                ATTEMPT,
                r#"{"type":"answer","t_ms":1,"attempt":0,"status":500,"cause":"server_error","hint_ms":5}"#,
            ],
            4,
            "hint_ms:",
        ),
        (
            &[
                HEADER,
                r#"{"type":"request","t_ms":0,"request":0,"project":"p1","model":"m","body_digest":"xyz"}"#,
            ],
            2,
            "body_digest:",
        ),
        (
            &[
                HEADER,
                r#"{"type":"request","t_ms":0,"request":0,"project":"p1","model":"m","request_kind":"embed"}"#,
            ],
            2,
            "request_kind:",
        ),
        (
            &[
                HEADER,
                REQUEST,
                r#"{"type":"response","t_ms":1,"request":0,"status":200}"#,
                r#"{"type":"response","t_ms":1,"request":0,"status":200}"#,
            ],
            4,
            "answered twice",
        ),
        (&[HEADER, "not json"], 2, "expected"),
    ];
    for (lines, line, wording) in cases {
        let e = problem(lines);
        assert_eq!(e.line, *line, "{lines:?}: {e}");
        assert!(e.to_string().contains(wording), "{lines:?}: {e}");
    }
}
