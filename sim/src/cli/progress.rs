//! Progress bars with an ETA for long commands (`sweep`, `matrix`): on stderr, and only
//! when stderr is a terminal, so CI logs and pipes see nothing.
//!
//! indicatif reads the wall clock for the elapsed time and the ETA. That clock reaches
//! only the bar on a terminal, never stdout, a trace, a verdict or a file.

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use std::io::IsTerminal;

/// A bar over `steps` steps on stderr if it is a terminal; otherwise a hidden bar that
/// draws nothing (every call on it is still valid).
pub(super) fn bar(steps: u64) -> ProgressBar {
    if !std::io::stderr().is_terminal() {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::with_draw_target(Some(steps), ProgressDrawTarget::stderr());
    let style = ProgressStyle::with_template(
        "{bar:30} {pos}/{len} {msg} ({elapsed_precise} elapsed, about {eta} left)",
    )
    .expect("the template names only indicatif's own keys");
    bar.set_style(style.progress_chars("=> "));
    bar
}
