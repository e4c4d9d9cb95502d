//! The black-box library (`scenarios/blackbox/README.md`): real-time recasts of the
//! incident library for a harness that drives a real gateway on the wall clock. Every file
//! must hold in process and through its history (the path a black-box harness takes),
//! last seconds and keep to the features black-box mode serves; and each knob the README
//! table lists for a file is caught from outside by that file, and no other knob is.

use gatesim_core::{Duration, Regression, Regressions, RequestKind};
use gatesim_sim::history;
use gatesim_sim::runner::{judge, Judge};
use gatesim_sim::world::World;
use gatesim_tests::{failure_report, load, root};
use std::path::PathBuf;

/// The longest a black-box scenario may last.
const DURATION_MAX: Duration = Duration::from_secs(15);
/// The whole library, run one file after another in wall-clock time.
const LIBRARY_MAX: Duration = Duration::from_secs(180);
/// The slowest p99 latency a black-box provider may have.
const P99_MAX: Duration = Duration::from_ms(150);

/// Knobs caught from outside, per file (the README table), measured with `gatesim run
/// --regression KNOB --history H` and `gatesim check-history H`: a line starting with a
/// file id, then knob names (its incident's own first); a line starting with spaces
/// continues the one above.
const CATCHES: &str = "
bb-alias-cooldown-wait: CooldownWaitByAlias UnscopedHealthWrites RequestIdAsScope
    BodyConsumedOnFirstAttempt
bb-auth-blacklist-global: ScopedAuthBlacklist UnscopedHealthWrites SharedWalkerCursor
    BodyConsumedOnFirstAttempt
bb-blocked-pool-budget: SkipCostsBudget ExhaustionWithoutRetryAfter
bb-byok-endpoint-kept: DropEndpointOnRegionSwap AttributeToSelectedKey
    BodyConsumedOnFirstAttempt
bb-exhaustion-retry-after: ExhaustionWithoutRetryAfter UnscopedHealthWrites
    RequestIdAsScope BodyConsumedOnFirstAttempt
bb-health-scope-per-model: UnscopedTransientHealth UnscopedHealthWrites
    RequestIdAsScope CooldownNeverExpires SharedWalkerCursor
    BodyConsumedOnFirstAttempt
bb-hybrid-prefers-keyed-provider: HybridNoKeyedPreference
bb-hybrid-prefers-org-key: HybridIgnoresOrgKeys
bb-hybrid-rate-limit-fallback: PreferKeysBeforeRateLimitFilter
    PreferKeysBeforeUptimeFilter CooldownNeverExpires BodyConsumedOnFirstAttempt
bb-hybrid-region-aware-keys: KeyedAvailabilityIgnoresRegion HybridNoKeyedPreference
bb-hybrid-uptime-fallback: PreferKeysBeforeUptimeFilter
    PreferKeysBeforeRateLimitFilter BodyConsumedOnFirstAttempt
bb-invalid-key-400: InvalidKey400IsRequestError UnscopedHealthWrites
    BodyConsumedOnFirstAttempt
bb-invalid-key-code: InvalidKeyCodeUnmatched InvalidKey400IsRequestError
    UnscopedHealthWrites BodyConsumedOnFirstAttempt
bb-keypool-states: CooldownNeverExpires UnscopedHealthWrites RequestIdAsScope
    SharedWalkerCursor BodyConsumedOnFirstAttempt
bb-longer-cooldown-wins: LastWriterCooldown UnscopedHealthWrites RequestIdAsScope
    CooldownNeverExpires SharedWalkerCursor BodyConsumedOnFirstAttempt
bb-mid-stream-no-failover: FailoverMidStream UnscopedHealthWrites RequestIdAsScope
    CooldownNeverExpires SharedWalkerCursor
bb-model-not-available-wordings: ModelNotAvailableUnmatched ModelSupportIsTerminal
    UnscopedHealthWrites BodyConsumedOnFirstAttempt
bb-model-support-400: ModelSupportIsTerminal UnscopedHealthWrites SharedWalkerCursor
    BodyConsumedOnFirstAttempt
bb-per-request-scope: RequestIdAsScope UnscopedHealthWrites CooldownNeverExpires
    SharedWalkerCursor BodyConsumedOnFirstAttempt
bb-recool-keeps-longer: FirstWriterCooldown UnscopedHealthWrites RequestIdAsScope
    CooldownNeverExpires SharedWalkerCursor BodyConsumedOnFirstAttempt
bb-region-lock-consistency: RegionFromFirstKey BodyConsumedOnFirstAttempt
bb-region-token-attribution: AttributeToSelectedKey RegionFromFirstKey
    BodyConsumedOnFirstAttempt
bb-request-invalid-terminal: RetryRequestInvalid SharedWalkerCursor
bb-retry-after-cap: UncappedRetryAfter UnscopedHealthWrites RequestIdAsScope
    SharedWalkerCursor ExhaustionWithoutRetryAfter BodyConsumedOnFirstAttempt
bb-scope-read-write-mismatch: UnscopedHealthWrites RequestIdAsScope
    CooldownNeverExpires BodyConsumedOnFirstAttempt
bb-stream-bootstrap-rotation: StreamBootstrapTerminal UnscopedHealthWrites
    RequestIdAsScope CooldownNeverExpires BodyConsumedOnFirstAttempt
bb-suspend-concrete-upstream: SuspendAliasNotUpstream ModelSupportIsTerminal
    UnscopedHealthWrites BodyConsumedOnFirstAttempt
bb-walker-primary-first: SharedWalkerCursor UnscopedHealthWrites RequestIdAsScope
    CooldownNeverExpires BodyConsumedOnFirstAttempt
";

/// `CATCHES` read: file id and its knobs, in table order.
fn catches() -> Vec<(String, Vec<Regression>)> {
    let mut rows: Vec<(String, Vec<Regression>)> = Vec::new();
    for line in CATCHES.lines().filter(|l| !l.trim().is_empty()) {
        let rest = if line.starts_with(' ') {
            line
        } else {
            let (id, rest) = line.split_once(':').expect("id: knobs");
            rows.push((id.to_string(), Vec::new()));
            rest
        };
        let knobs = &mut rows.last_mut().expect("a row").1;
        for name in rest.split_whitespace() {
            knobs.push(Regression::parse(name).unwrap_or_else(|| panic!("unknown knob {name}")));
        }
    }
    rows
}

/// The library's files (relative paths), in name order.
fn files() -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(root().join("scenarios/blackbox"))
        .expect("scenarios/blackbox exists")
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .map(|p| PathBuf::from("scenarios/blackbox").join(p.file_name().expect("a file name")))
        .collect();
    files.sort();
    files
}

/// The invariants that fire when the run is judged through its history, from outside.
fn outside(w: &World) -> Vec<&'static str> {
    history::broken_outside(w, w.seed, "reference")
        .expect("runs, and the written history parses and fits its scenario")
}

/// What black-box mode serves: plain chats (streamed or not), no BYOK, no agentic
/// loops, no generators; fast providers; the policy tuned as the contract promises.
fn assert_black_box_features(w: &World) {
    let id = &w.id;
    assert!(
        w.workload.generators.is_empty(),
        "{id}: explicit requests only"
    );
    assert!(w.swarm.is_empty(), "{id}: no swarm");
    for (i, r) in w.workload.requests.iter().enumerate() {
        assert_eq!(r.kind, RequestKind::Chat, "{id}: request {i} is not a chat");
        assert!(r.byok.is_none(), "{id}: request {i} is BYOK");
        assert_eq!(r.agentic_iterations, 1, "{id}: request {i} is agentic");
    }
    for (i, p) in w.providers.iter().enumerate() {
        assert!(p.latency_p99 <= P99_MAX, "{id}: provider {i} p99 too slow");
    }
    let (p, c) = (&w.policy, &w.contract);
    let agree = p.retry_after_cap == c.retry_after_cap
        && p.retry_after_default == c.retry_after_default
        && p.errors_consecutive_max == c.errors_consecutive_max
        && p.unhealthy_for == c.unhealthy_for
        && p.suspension_for == c.suspension_for
        && p.attempts_max == c.attempts_max
        && p.wait_max == c.wait_max
        && p.wait_rounds_max == c.wait_rounds_max
        && p.history_window == c.history_window
        && p.history_entries_max == c.history_entries_max
        && p.uptime_bar_bp == c.uptime_bar_bp
        && p.scopes_max == c.scopes_max
        && p.attempt_timeout == c.attempt_timeout;
    assert!(agree, "{id}: policy.overrides and contract disagree");
}

#[test]
fn every_file_holds_inside_and_outside_and_lasts_seconds() {
    let files = files();
    assert!(files.len() >= 12, "at least 12 black-box scenarios");
    let mut total = 0;
    for path in &files {
        let w = load(path);
        let stem = path.file_stem().expect("a stem").to_string_lossy();
        assert_eq!(w.id, stem, "{}: id is the file stem", path.display());
        assert!(w.id.starts_with("bb-"), "{}: id starts with bb-", w.id);
        assert!(
            w.duration <= DURATION_MAX,
            "{}: lasts {}, at most {}",
            w.id,
            w.duration,
            DURATION_MAX
        );
        total += w.duration.as_ms();
        assert_black_box_features(&w);
        assert!(w.policy.regressions.is_empty(), "{}: no knob on", w.id);
        let v = judge(&w, w.seed, Judge::default()).expect("runs");
        assert!(v.passed(), "{}", failure_report(path, &v));
        assert_eq!(outside(&w), Vec::<&str>::new(), "{} from outside", w.id);
    }
    assert!(
        total <= LIBRARY_MAX.as_ms(),
        "the library lasts {total} ms, at most {LIBRARY_MAX}"
    );
}

#[test]
fn the_listed_knobs_are_caught_from_outside_and_no_others() {
    let files = files();
    let table = catches();
    let listed: Vec<&str> = table.iter().map(|(id, _)| id.as_str()).collect();
    let ids: Vec<String> = files
        .iter()
        .map(|p| {
            p.file_stem()
                .expect("a stem")
                .to_string_lossy()
                .into_owned()
        })
        .collect();
    assert_eq!(listed, ids, "CATCHES lists every file, in name order");
    let mut wrong = Vec::new();
    for (path, (id, knobs)) in files.iter().zip(&table) {
        let base = load(path);
        for knob in Regression::ALL {
            let mut w = base.clone();
            w.policy.regressions = Regressions::only(*knob);
            let caught = outside(&w);
            if caught.is_empty() == knobs.contains(knob) {
                wrong.push(format!("{id} {knob}: caught by {caught:?}"));
            }
        }
    }
    assert!(
        wrong.is_empty(),
        "the catches differ from CATCHES (update it and scenarios/blackbox/README.md):\n  {}",
        wrong.join("\n  ")
    );
}
