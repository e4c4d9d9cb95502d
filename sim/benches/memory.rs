//! Peak resident memory under a model-name flood: every request names a model never seen
//! before, so without the scope cap health state would grow with every request.
//!
//! Run with `cargo bench -p gatesim-sim --bench memory`. Each size runs in a child process
//! of this benchmark (so one run's peak cannot hide another's) and prints the child's
//! peak resident memory (`VmHWM`); flat means the 1 000 000-name peak is no higher than
//! the 100 000-name one beyond noise.

use gatesim_sim::bench::{flood_figure, memory_kib};
use std::process::Command;

const SIZES: [u64; 2] = [100_000, 1_000_000];

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if let Some(i) = args.iter().position(|a| a == "--flood-child") {
        let names = args
            .get(i + 1)
            .and_then(|n| n.parse().ok())
            .expect("--flood-child NAMES");
        child(names);
        return;
    }
    let exe = std::env::current_exe().expect("the benchmark binary has a path");
    println!("model-name flood (engine::run_streaming, scope cap 4096)");
    println!(
        "{:>10}  {:>14}  {:>14}  {:>12}",
        "names", "peak RSS MiB", "process MiB", "entries max"
    );
    for names in SIZES {
        let out = Command::new(&exe)
            .args(["--flood-child", &names.to_string()])
            .output()
            .expect("the benchmark can run itself");
        assert!(
            out.status.success(),
            "flood child failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        print!("{}", String::from_utf8_lossy(&out.stdout));
    }
}

/// Runs one flood and prints a table row: the run's peak (from a reset just before it)
/// and the whole process's peak.
fn child(names: u64) {
    let figure = flood_figure(names);
    let (process_peak, _) = memory_kib().unwrap_or((0, 0));
    let mib = |k: u64| k as f64 / 1024.0;
    println!(
        "{:>10}  {:>14.1}  {:>14.1}  {:>12}",
        names,
        figure.peak_rss_kib.map_or(f64::NAN, mib),
        mib(process_peak),
        figure.tracked_entries_max
    );
}
