//! `gatesim check-history`: judging a recorded history (`docs/history.md`) against its
//! scenario, whoever recorded it, with the invariants decidable from outside.

use super::load;
use crate::history;
use std::path::Path;

/// Reads `file`, judges it against `scenario`; the exit status as for `run`.
pub(super) fn check_history(file: &Path, scenario: &Path) -> u8 {
    let Some(world) = load(scenario, None, &[]) else {
        return 2;
    };
    let text = match std::fs::read_to_string(file) {
        Ok(t) => t,
        Err(e) => {
            eprintln!("gatesim: cannot read {}: {e}", file.display());
            return 2;
        }
    };
    let judged = history::parse(&text).and_then(|h| history::check(&world, &h).map(|v| (h, v)));
    match judged {
        Ok((h, violations)) => {
            print!("{}", history::verdict(&world, &h, &violations));
            u8::from(!violations.is_empty())
        }
        Err(e) => {
            eprintln!("gatesim: {}: {e}", file.display());
            2
        }
    }
}
