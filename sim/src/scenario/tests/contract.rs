//! The `contract` section: defaults, every promise read, field-path errors, and writing
//! it back.

use super::{errors, minimal, ok};
use crate::contract::Contract;
use crate::scenario::to_json;
use gatesim_core::Duration;

#[test]
fn no_contract_section_is_the_reference_promises() {
    assert_eq!(ok(&minimal("")).contract, Contract::reference());
}

#[test]
fn every_promise_is_read_and_written_back() {
    let w = ok(&minimal(
        r#", "contract": { "retry_after_cap": "2h", "retry_after_default": "5s",
              "errors_consecutive_max": 5, "unhealthy_for": "1m", "suspension_for": "1h",
              "attempts_max": 4, "wait_max": "10s", "wait_rounds_max": 0,
              "history_window": "1m", "history_entries_max": 50, "uptime_bar_bp": 8000,
              "scopes_max": 64, "attempt_timeout": "20s", "recovery_within": "2s" }"#,
    ));
    let c = &w.contract;
    assert_eq!(
        *c,
        Contract {
            retry_after_cap: Duration::from_secs(7200),
            retry_after_default: Duration::from_secs(5),
            errors_consecutive_max: 5,
            unhealthy_for: Duration::from_secs(60),
            suspension_for: Duration::from_secs(3600),
            attempts_max: 4,
            wait_max: Duration::from_secs(10),
            wait_rounds_max: 0,
            history_window: Duration::from_secs(60),
            history_entries_max: 50,
            uptime_bar_bp: 8000,
            scopes_max: 64,
            attempt_timeout: Duration::from_secs(20),
            recovery_within: Duration::from_secs(2),
        }
    );
    assert_eq!(
        w.policy,
        gatesim_core::Policy::reference(),
        "a contract sets no policy"
    );
    let text = to_json(&w);
    assert!(text.contains(r#""recovery_within": "2s""#), "{text}");
    assert_eq!(ok(&text).contract, w.contract, "written back as read");
    assert!(
        !to_json(&ok(&minimal(""))).contains("contract"),
        "the reference promises are not written out"
    );
}

#[test]
fn bad_promises_are_errors_naming_the_field() {
    let e = errors(&minimal(
        r#", "contract": { "retry_after_cap": "soon", "attempts_max": 0,
              "uptime_bar_bp": 10001, "history_window": "0s", "recovery_within": "-1s" }"#,
    ));
    let expected = [
        "contract.retry_after_cap:",
        "contract.history_window: must be more than 0s",
        "contract.attempts_max: 0 is out of range (1 to 4294967295)",
        "contract.uptime_bar_bp: 10001 is out of range (0 to 10000)",
        "contract.recovery_within:",
    ];
    assert_eq!(e.len(), expected.len(), "{e:?}");
    for want in expected {
        assert!(e.iter().any(|x| x.starts_with(want)), "{want} in {e:?}");
    }
    let e = errors(&minimal(r#", "contract": { "retry_after": "1h" }"#));
    assert!(
        e[0].starts_with("contract.retry_after: unknown field (expected one of: "),
        "{e:?}"
    );
}

#[test]
fn recovery_within_is_a_promise_not_a_policy_setting() {
    let e = errors(&minimal(
        r#", "policy": { "overrides": { "recovery_within": "1s" } }"#,
    ));
    assert_eq!(
        e,
        [
            r#"policy.overrides.recovery_within: a promise, not a setting of the policy: write it in "contract""#
        ]
    );
}
