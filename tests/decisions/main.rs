//! Focused routing decisions, each a small world built in code: the invariants must hold
//! (validated first), then the rendered decision trace is compared with an inline
//! snapshot, one line per event.

use gatesim_core::{Mode, Source};
use gatesim_sim::build::WorldBuilder;
use gatesim_sim::runner::{judge, Judge};
use gatesim_sim::world::{FaultKind, OutageMode, RetryStyle, Style, UnsupportedWording};
use std::path::Path;

/// Runs a world and returns its trace text, after asserting every invariant held.
fn decisions(b: &WorldBuilder) -> String {
    let world = b.build();
    let v = judge(&world, 1, Judge::default()).expect("run completes");
    assert!(
        v.violations.is_empty(),
        "{}",
        gatesim_tests::failure_report(Path::new(&format!("{}.json", world.id)), &v)
    );
    v.run.trace.to_text(&v.run.names)
}

/// Hybrid project, the org key's provider rate-limited: after the rate-limit filter over
/// the full candidate set, the credits-backed provider serves (llmgateway #1963).
#[test]
fn hybrid_with_every_keyed_candidate_rate_limited_falls_back_to_credits() {
    let mut b = WorldBuilder::new("hybrid-keyed-rate-limited");
    let us = b.region("us-east");
    let studio = b.provider("google-ai-studio", Style::Google, &[us]);
    let vertex = b.provider("google-vertex", Style::Google, &[us]);
    b.model(
        "gemini-2.5-flash-lite",
        &[
            (studio, us, "gemini-2.5-flash-lite"),
            (vertex, us, "gemini-2.5-flash-lite"),
        ],
    );
    let org = b.key("org-studio", studio, Source::Org, None, None);
    b.key("env-vertex", vertex, Source::Platform, None, None);
    let p = b.project("acme", Mode::Hybrid);
    b.fault(
        0,
        Some(120_000),
        FaultKind::RateLimit {
            credential: org,
            model: None,
            capacity_per_min: 0,
            retry_after: Some(gatesim_core::Duration::from_secs(90)),
            style: RetryStyle::Seconds,
        },
    );
    b.request(0, p, "gemini-2.5-flash-lite");
    b.request(5_000, p, "gemini-2.5-flash-lite");
    insta::assert_snapshot!(decisions(&b), @"
    t+0.000s fault#0 starts rate_limit [t+0.000s..t+120.000s)
    t+0.000s req#0 arrives acme gemini-2.5-flash-lite chat
    t+0.000s req#0 attempt#0 -> google-ai-studio/us-east org-studio gemini-2.5-flash-lite [budget]
    t+0.344s attempt#0 <- 429 rate_limited(hint 90s)
    t+0.344s attempt#0 classified rate_limited(retry 90s)
    t+0.344s org-studio gemini-2.5-flash-lite cooling until t+90.344s
    t+0.344s req#0 attempt#1 -> google-vertex/us-east env-vertex gemini-2.5-flash-lite [budget]
    t+0.344s health entries=1
    t+0.668s attempt#1 <- 200 ok
    t+0.668s attempt#1 classified success
    t+0.668s attempt#0 uptime down mapping=yes model=yes
    t+0.668s attempt#1 uptime up mapping=yes model=yes
    t+0.668s req#0 score google-ai-studio/us-east failed
    t+0.668s req#0 score google-vertex/us-east ok
    t+0.668s req#0 => 200 success hint=env-vertex…a3bd attempts=2
    t+0.668s health entries=2
    t+5.000s req#1 arrives acme gemini-2.5-flash-lite chat
    t+5.000s req#1 skip org-studio google-ai-studio/us-east gemini-2.5-flash-lite: cooling until t+90.344s
    t+5.000s req#1 attempt#2 -> google-vertex/us-east env-vertex gemini-2.5-flash-lite [budget]
    t+6.289s attempt#2 <- 200 ok
    t+6.289s attempt#2 classified success
    t+6.289s attempt#2 uptime up mapping=yes model=yes
    t+6.289s req#1 score google-vertex/us-east ok
    t+6.289s req#1 => 200 success hint=env-vertex…a3bd attempts=1
    ");
}

/// A failure in one region recovered in another is still counted in both the mapping and
/// the model uptime (llmgateway #1977).
#[test]
fn cross_region_recovery_keeps_the_failure_in_uptime() {
    let mut b = WorldBuilder::new("cross-region-recovery");
    let sg = b.region("singapore");
    let bj = b.region("cn-beijing");
    let ali = b.provider("alibaba", Style::Generic, &[sg, bj]);
    b.model(
        "qwen3.5-plus",
        &[(ali, sg, "qwen3.5-plus"), (ali, bj, "qwen3.5-plus")],
    );
    b.key("env-ali", ali, Source::Platform, None, None);
    let p = b.project("acme", Mode::Credits);
    b.fault(
        0,
        Some(60_000),
        FaultKind::RegionOutage {
            provider: ali,
            region: sg,
            mode: OutageMode::Connect,
        },
    );
    b.request(1_000, p, "qwen3.5-plus");
    insta::assert_snapshot!(decisions(&b), @"
    t+0.000s fault#0 starts region_outage [t+0.000s..t+60.000s)
    t+1.000s req#0 arrives acme qwen3.5-plus chat
    t+1.000s req#0 attempt#0 -> alibaba/singapore env-ali qwen3.5-plus [budget]
    t+1.020s attempt#0 <- 0 outage_connect
    t+1.020s attempt#0 classified network
    t+1.020s req#0 attempt#1 -> alibaba/cn-beijing env-ali qwen3.5-plus [budget]
    t+1.020s health entries=2
    t+1.307s attempt#1 <- 200 ok
    t+1.307s attempt#1 classified success
    t+1.307s attempt#0 uptime down mapping=yes model=yes
    t+1.307s attempt#1 uptime up mapping=yes model=yes
    t+1.307s req#0 score alibaba/singapore failed
    t+1.307s req#0 score alibaba/cn-beijing ok
    t+1.307s req#0 => 200 success hint=env-ali…0f5d attempts=2
    ");
}

/// In a pooled alias, a model-support error suspends (key, concrete upstream) for 12 h; a
/// sibling's success does not lift it, so the next rotation skips it (CLIProxyAPI #2222).
#[test]
fn model_support_suspension_on_a_pooled_alias() {
    let mut b = WorldBuilder::new("alias-suspension");
    let us = b.region("us-east");
    let proxy = b.provider("openai-compat", Style::Generic, &[us]);
    let qwen = b.model("qwen3.5-plus", &[(proxy, us, "qwen3.5-plus")]);
    let glm = b.model("glm-5", &[(proxy, us, "glm-5")]);
    b.alias("pool", &[qwen, glm]);
    let k = b.key("auth-0", proxy, Source::Org, None, None);
    let p = b.project("acme", Mode::ApiKeys);
    b.fault(
        0,
        None,
        FaultKind::ModelUnsupported {
            credential: k,
            upstream: "glm-5".into(),
            status: 400,
            body: None,
            wording: UnsupportedWording::Style,
        },
    );
    for i in 0..4 {
        b.request(i * 1_000, p, "pool");
    }
    insta::assert_snapshot!(decisions(&b), @"
    t+0.000s fault#0 starts model_unsupported [t+0.000s..)
    t+0.000s req#0 arrives acme pool chat
    t+0.000s req#0 attempt#0 -> openai-compat/us-east auth-0 qwen3.5-plus [budget]
    t+1.000s req#1 arrives acme pool chat
    t+1.000s req#1 attempt#1 -> openai-compat/us-east auth-0 glm-5 [budget]
    t+1.538s attempt#0 <- 200 ok
    t+1.538s attempt#0 classified success
    t+1.538s attempt#0 uptime up mapping=yes model=yes
    t+1.538s req#0 score openai-compat/us-east ok
    t+1.538s req#0 => 200 success hint=auth-0…5642 attempts=1
    t+1.538s health entries=1
    t+2.000s req#2 arrives acme pool chat
    t+2.000s req#2 attempt#2 -> openai-compat/us-east auth-0 qwen3.5-plus [budget]
    t+2.324s attempt#1 <- 400 model_unsupported
    t+2.324s attempt#1 classified model_unsupported
    t+2.324s auth-0 glm-5 suspended until t+43202.324s
    t+2.324s req#1 attempt#3 -> openai-compat/us-east auth-0 qwen3.5-plus
    t+2.324s health entries=2
    t+2.539s attempt#2 <- 200 ok
    t+2.539s attempt#2 classified success
    t+2.539s attempt#2 uptime up mapping=yes model=yes
    t+2.539s req#2 score openai-compat/us-east ok
    t+2.539s req#2 => 200 success hint=auth-0…5642 attempts=1
    t+2.587s attempt#3 <- 200 ok
    t+2.587s attempt#3 classified success
    t+2.587s attempt#1 uptime down mapping=no model=no
    t+2.587s attempt#3 uptime up mapping=yes model=yes
    t+2.587s req#1 score openai-compat/us-east ok
    t+2.587s req#1 => 200 success hint=auth-0…5642 attempts=2
    t+3.000s req#3 arrives acme pool chat
    t+3.000s req#3 skip auth-0 openai-compat/us-east glm-5: suspended until t+43202.324s
    t+3.000s req#3 attempt#4 -> openai-compat/us-east auth-0 qwen3.5-plus [budget]
    t+3.205s attempt#4 <- 200 ok
    t+3.205s attempt#4 classified success
    t+3.205s attempt#4 uptime up mapping=yes model=yes
    t+3.205s req#3 score openai-compat/us-east ok
    t+3.205s req#3 => 200 success hint=auth-0…5642 attempts=1
    ");
}

/// Every key rate-limited with the soonest cooldown beyond the max wait: typed exhaustion,
/// 429 with Retry-After = the soonest end rounded up to whole seconds (aibridge keypool).
#[test]
fn exhaustion_is_typed_with_the_soonest_retry_after() {
    let mut b = WorldBuilder::new("typed-exhaustion");
    let us = b.region("us-east");
    let anthropic = b.provider("anthropic", Style::Anthropic, &[us]);
    b.model("claude-sonnet-4", &[(anthropic, us, "claude-sonnet-4")]);
    let k0 = b.key("k0", anthropic, Source::Org, None, None);
    let k1 = b.key("k1", anthropic, Source::Org, None, None);
    let p = b.project("acme", Mode::ApiKeys);
    for (k, secs) in [(k0, 45), (k1, 70)] {
        b.fault(
            0,
            Some(200_000),
            FaultKind::RateLimit {
                credential: k,
                model: None,
                capacity_per_min: 0,
                retry_after: Some(gatesim_core::Duration::from_secs(secs)),
                style: RetryStyle::Millis,
            },
        );
    }
    b.request(0, p, "claude-sonnet-4");
    b.request(2_000, p, "claude-sonnet-4");
    insta::assert_snapshot!(decisions(&b), @"
    t+0.000s fault#0 starts rate_limit [t+0.000s..t+200.000s)
    t+0.000s fault#1 starts rate_limit [t+0.000s..t+200.000s)
    t+0.000s req#0 arrives acme claude-sonnet-4 chat
    t+0.000s req#0 attempt#0 -> anthropic/us-east k0 claude-sonnet-4 [budget]
    t+0.338s attempt#0 <- 429 rate_limited(hint 45s)
    t+0.338s attempt#0 classified rate_limited(retry 45s)
    t+0.338s k0 claude-sonnet-4 cooling until t+45.338s
    t+0.338s req#0 attempt#1 -> anthropic/us-east k1 claude-sonnet-4
    t+0.338s health entries=1
    t+1.262s attempt#1 <- 429 rate_limited(hint 70s)
    t+1.262s attempt#1 classified rate_limited(retry 70s)
    t+1.262s k1 claude-sonnet-4 cooling until t+71.262s
    t+1.262s attempt#0 uptime down mapping=yes model=yes
    t+1.262s attempt#1 uptime down mapping=yes model=yes
    t+1.262s req#0 score anthropic/us-east failed
    t+1.262s req#0 => 429 exhausted_transient retry-after=45s hint=k1…24c1 attempts=2
    t+1.262s health entries=2
    t+2.000s req#1 arrives acme claude-sonnet-4 chat
    t+2.000s req#1 skip k0 anthropic/us-east claude-sonnet-4: cooling until t+45.338s
    t+2.000s req#1 skip k1 anthropic/us-east claude-sonnet-4: cooling until t+71.262s
    t+2.000s req#1 => 429 exhausted_transient retry-after=44s attempts=0
    ");
}
