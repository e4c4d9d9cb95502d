//! Replays every incident file: first the invariants and the file's own expectations must
//! hold, then the decision trace is compared with its snapshot (`snapshots/<id>.snap`), so
//! a policy change shows up as a reviewable diff, decision by decision.

use gatesim_sim::runner::{judge, Judge};
use gatesim_tests::{failure_report, incident_ids, incident_path, load};

fn replay(id: &str) {
    let path = incident_path(id);
    let world = load(&path);
    let verdict = judge(&world, world.seed, Judge::default())
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    // Validate first, snapshot second: a snapshot is never the only thing between a bug
    // and a green run.
    assert!(verdict.passed(), "{}", failure_report(&path, &verdict));
    let trace = verdict.run.trace.to_text(&verdict.run.names);
    insta::with_settings!({ snapshot_path => "snapshots", prepend_module_to_snapshot => false, omit_expression => true }, {
        insta::assert_snapshot!(id.to_string(), trace);
    });
}

macro_rules! incidents {
    ($($name:ident => $id:literal,)*) => {
        $(
            #[test]
            fn $name() {
                replay($id);
            }
        )*

        /// Every incident file has a test here, and every test has a file.
        #[test]
        fn every_incident_file_is_replayed() {
            let listed: Vec<&str> = vec![$($id),*];
            assert_eq!(incident_ids(), listed, "add or remove the incident in tests/replay/main.rs");
        }
    };
}

incidents! {
    agentic_fresh_walker => "agentic-fresh-walker",
    agentic_stream_exhaustion => "agentic-stream-exhaustion",
    alias_cooldown_wait => "alias-cooldown-wait",
    auth_blacklist_global => "auth-blacklist-global",
    blacklisted_uptime_zero => "blacklisted-uptime-zero",
    blocked_pool_budget => "blocked-pool-budget",
    byok_endpoint_kept => "byok-endpoint-kept",
    byok_single_attempt => "byok-single-attempt",
    count_tokens_no_resume => "count-tokens-no-resume",
    credential_hint_actual => "credential-hint-actual",
    cross_region_hides_failure => "cross-region-hides-failure",
    exhaustion_retry_after => "exhaustion-retry-after",
    health_scope_per_model => "health-scope-per-model",
    hybrid_prefers_keyed_provider => "hybrid-prefers-keyed-provider",
    hybrid_prefers_org_key => "hybrid-prefers-org-key",
    hybrid_rate_limit_fallback => "hybrid-rate-limit-fallback",
    hybrid_region_aware_keys => "hybrid-region-aware-keys",
    hybrid_uptime_fallback => "hybrid-uptime-fallback",
    invalid_key_400 => "invalid-key-400",
    invalid_key_code => "invalid-key-code",
    keypool_states => "keypool-states",
    longer_cooldown_wins => "longer-cooldown-wins",
    mid_stream_no_failover => "mid-stream-no-failover",
    model_not_available_wordings => "model-not-available-wordings",
    model_support_400 => "model-support-400",
    passthrough_body_replay => "passthrough-body-replay",
    per_request_scope => "per-request-scope",
    provider_score_recovered_key => "provider-score-recovered-key",
    recool_keeps_longer => "recool-keeps-longer",
    region_lock_consistency => "region-lock-consistency",
    region_token_attribution => "region-token-attribution",
    request_invalid_terminal => "request-invalid-terminal",
    retry_after_cap => "retry-after-cap",
    retry_exclusion_needs_success => "retry-exclusion-needs-success",
    scope_cardinality => "scope-cardinality",
    scope_read_write_mismatch => "scope-read-write-mismatch",
    stream_bootstrap_rotation => "stream-bootstrap-rotation",
    suspend_concrete_upstream => "suspend-concrete-upstream",
    walker_primary_first => "walker-primary-first",
}
