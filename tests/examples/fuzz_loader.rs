//! A long run of the scenario-loader fuzzer: `N` mutated incident files (default
//! 100 000), each loaded on a worker thread; prints how many loaded, were refused,
//! panicked or hung, with the seed of each panic or hang (replay one with
//! `gatesim_tests::loader_fuzz::mutated_case(&texts, seed)`).
//!
//! ```sh
//! cargo run -p gatesim-tests --profile test --example fuzz_loader -- 100000 [FIRST_SEED]
//! ```

use gatesim_tests::loader_fuzz::{incident_texts, load, mutated_case, report, Outcome};
use std::process::ExitCode;

fn main() -> ExitCode {
    let mut args = std::env::args().skip(1);
    let cases: u64 = args.next().and_then(|a| a.parse().ok()).unwrap_or(100_000);
    let first: u64 = args.next().and_then(|a| a.parse().ok()).unwrap_or(0);
    // Panics are counted, not printed as they happen.
    std::panic::set_hook(Box::new(|_| {}));
    let texts = incident_texts();
    let mut outcomes = Vec::new();
    for seed in first..first.saturating_add(cases) {
        let outcome = load(mutated_case(&texts, seed));
        outcomes.push((seed, outcome));
    }
    print!("{}", report(cases, &outcomes));
    let bad = outcomes
        .iter()
        .any(|(_, o)| matches!(o, Outcome::Panicked(_) | Outcome::Hung));
    ExitCode::from(u8::from(bad))
}
