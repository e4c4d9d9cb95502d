//! `gatesim sweep`: every scenario × seed on worker threads, a progress line on a
//! terminal, then the failures with one replay line each.

use super::{load, replay_line, scenario_files};
use crate::runner::{judge, Judge};
use crate::world::World;
use gatesim_core::Regression;
use std::io::{IsTerminal, Write};
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;

struct Job<'a> {
    file: &'a Path,
    world: &'a World,
    seed: u64,
}

/// Runs the sweep; returns the exit status.
pub(super) fn sweep(path: &Path, seeds: Range<u64>, jobs: usize, knobs: &[Regression]) -> u8 {
    let files = match scenario_files(path) {
        Ok(f) => f,
        Err(e) => {
            eprintln!("gatesim: {e}");
            return 2;
        }
    };
    let worlds: Vec<(PathBuf, World)> = files
        .iter()
        .filter_map(|f| load(f, None, knobs).map(|w| (f.clone(), w)))
        .collect();
    if worlds.len() < files.len() {
        return 2;
    }
    let work: Vec<Job> = worlds
        .iter()
        .flat_map(|(f, w)| {
            seeds.clone().map(move |seed| Job {
                file: f,
                world: w,
                seed,
            })
        })
        .collect();
    let results = run_all(&work, jobs);
    println!(
        "{} scenarios × {} seeds = {} runs: {} failing",
        worlds.len(),
        seeds.end - seeds.start,
        work.len(),
        results.len()
    );
    for (i, failures) in &results {
        let job = &work[*i];
        println!(
            "FAIL {} seed {}: {}",
            job.world.id,
            job.seed,
            failures.join("; ")
        );
        println!("     replay: {}", replay_line(job.file, job.seed, knobs));
    }
    u8::from(!results.is_empty())
}

/// Runs every job on `jobs` worker threads (a progress line on a terminal): the failing
/// ones, by job index, in job order.
fn run_all(work: &[Job<'_>], jobs: usize) -> Vec<(usize, Vec<String>)> {
    let next = AtomicUsize::new(0);
    let done = AtomicUsize::new(0);
    let results: Mutex<Vec<(usize, Vec<String>)>> = Mutex::new(Vec::new());
    let progress = std::io::stderr().is_terminal();
    std::thread::scope(|scope| {
        for _ in 0..jobs {
            scope.spawn(|| loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                let Some(job) = work.get(i) else { break };
                let failures = run_job(job);
                if !failures.is_empty() {
                    results
                        .lock()
                        .expect("no worker panics while holding the lock")
                        .push((i, failures));
                }
                let n = done.fetch_add(1, Ordering::Relaxed) + 1;
                if progress && (n.is_multiple_of(16) || n == work.len()) {
                    let failed = results.lock().map(|r| r.len()).unwrap_or(0);
                    eprint!("\r{n}/{} runs, {failed} failing", work.len());
                    let _ = std::io::stderr().flush();
                }
            });
        }
    });
    if progress {
        eprintln!();
    }
    let mut results = results.into_inner().unwrap_or_default();
    results.sort_by_key(|(i, _)| *i);
    results
}

fn run_job(job: &Job<'_>) -> Vec<String> {
    match judge(job.world, job.seed, Judge::default()) {
        Ok(v) => {
            let mut out: Vec<String> = v
                .failed_invariants()
                .iter()
                .map(|s| (*s).to_string())
                .collect();
            if !v.failed_expectations.is_empty()
                && job.world.swarm.is_empty()
                && job.seed == job.world.seed
            {
                // Expectations pin one seed's story: they are judged on the scenario's own seed.
                out.push(format!(
                    "{} expectations",
                    v.world.expect.len() - v.expectations_met()
                ));
            }
            out
        }
        Err(e) => vec![format!("engine error: {e}")],
    }
}
