//! The scenario loader never panics or hangs on a malformed file: mutated incident files
//! (see `gatesim_tests::loader_fuzz`), 2 000 per `cargo test`; the `fuzz_loader` example
//! runs more.

use gatesim_tests::loader_fuzz::{incident_texts, load, load_with, mutated_case, Outcome};
use proptest::prelude::*;
use std::sync::OnceLock;
use std::time::Duration;

fn texts() -> &'static [String] {
    static TEXTS: OnceLock<Vec<String>> = OnceLock::new();
    TEXTS.get_or_init(incident_texts)
}

proptest! {
    #![proptest_config(crate::config(2_000, 0x6c6f_6164, regressions_file!("loader_fuzz")))]

    #[test]
    fn the_loader_answers_every_malformed_file_with_ok_or_err(seed in any::<u64>()) {
        let case = mutated_case(texts(), seed);
        match load(case.clone()) {
            Outcome::Loaded | Outcome::Refused(_) => {}
            bad => prop_assert!(
                false,
                "{bad:?} on seed {seed}: {}",
                String::from_utf8_lossy(&case[..case.len().min(2_000)])
            ),
        }
    }
}

/// The mutations are real: most cases are refused, some still load, and the same seed
/// gives the same file.
#[test]
fn mutated_cases_are_mostly_refused_and_replayable() {
    let texts = texts();
    assert_eq!(mutated_case(texts, 42), mutated_case(texts, 42));
    let outcomes: Vec<Outcome> = (0..200).map(|s| load(mutated_case(texts, s))).collect();
    let refused = outcomes
        .iter()
        .filter(|o| matches!(o, Outcome::Refused(_)))
        .count();
    let loaded = outcomes.iter().filter(|o| **o == Outcome::Loaded).count();
    assert!(refused > 100, "{refused} of 200 refused");
    assert!(
        loaded > 0,
        "no mutated file loads: the mutations may be trivial"
    );
    assert_eq!(refused + loaded, 200, "{outcomes:?}");
}

/// The harness itself can fail: a panic and a hang are reported as such.
#[test]
fn a_panic_and_a_hang_are_caught_and_reported() {
    fn panics(text: &str) -> Outcome {
        panic!("boom on {} bytes", text.len())
    }
    fn hangs(_: &str) -> Outcome {
        std::thread::sleep(Duration::from_secs(5));
        Outcome::Loaded
    }
    // The panic message (and a backtrace, when asked for) is printed first: time for it.
    assert_eq!(
        load_with(b"{}".to_vec(), panics, Duration::from_secs(30)),
        Outcome::Panicked("boom on 2 bytes".to_string())
    );
    let short = Duration::from_millis(100);
    assert_eq!(load_with(Vec::new(), hangs, short), Outcome::Hung);
}
