//! `gatesim sweep`: every scenario × seed (or one shard of the seeds) on worker threads,
//! a progress bar with an ETA on a terminal, then the failures with one replay line each.

use super::{load, replay_line_with_policy, scenario_files};
use crate::runner::{judge, Judge};
use crate::world::World;
use gatesim_core::Regression;
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;

struct Job<'a> {
    file: &'a Path,
    world: &'a World,
    seed: u64,
}

/// Which seeds of the range one sweep runs: those whose index in the range (seed minus
/// the range start) is `index - 1` modulo `count`. Round robin, not blocks, so every
/// shard gets a share of each part of the range.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct Shard {
    /// 1-based.
    pub(super) index: u64,
    /// Shards in all (1 = the whole range).
    pub(super) count: u64,
}

impl Shard {
    /// The whole range.
    pub(super) const ALL: Shard = Shard { index: 1, count: 1 };

    /// Parses `i/n` (1 ≤ i ≤ n).
    pub(super) fn parse(text: &str) -> Result<Shard, String> {
        let bad = || format!("{text:?} is not a shard: use I/N with 1 <= I <= N, e.g. 1/4");
        let (i, n) = text.split_once('/').ok_or_else(bad)?;
        let (index, count): (u64, u64) = (
            i.trim().parse().map_err(|_| bad())?,
            n.trim().parse().map_err(|_| bad())?,
        );
        if index == 0 || index > count {
            return Err(bad());
        }
        Ok(Shard { index, count })
    }

    /// The seeds of `seeds` this shard runs, in order.
    pub(super) fn seeds(self, seeds: Range<u64>) -> impl Iterator<Item = u64> {
        let start = seeds.start;
        seeds.filter(move |s| (s - start) % self.count == self.index - 1)
    }
}

impl std::fmt::Display for Shard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.index, self.count)
    }
}

/// One failing (scenario, seed) of a sweep.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) struct Failure {
    /// The scenario file.
    pub(super) file: PathBuf,
    /// Its id.
    pub(super) scenario: String,
    /// The seed.
    pub(super) seed: u64,
    /// What failed: invariant names, expectations, or an engine error.
    pub(super) failures: Vec<String>,
}

/// What a sweep (or a shard of one) found: what `--summary-json` writes and
/// `merge-sweeps` reads back.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) struct Summary {
    /// The path swept, as given.
    pub(super) path: String,
    /// The seed range of the whole sweep.
    pub(super) seeds: Range<u64>,
    /// The shard this summary covers.
    pub(super) shard: Shard,
    /// The `--policy` file, as given.
    pub(super) policy: Option<String>,
    /// Knobs on, by incident id.
    pub(super) knobs: Vec<String>,
    /// Scenario files swept.
    pub(super) scenarios: usize,
    /// Runs made.
    pub(super) runs: usize,
    /// The failing runs, in (file, seed) order.
    pub(super) failures: Vec<Failure>,
}

impl Summary {
    /// The report: a count line (naming the shard, if any), then one line per failure
    /// with its replay line. A merge of every shard renders as the unsharded sweep.
    pub(super) fn render(&self, knobs: &[Regression]) -> String {
        let seeds = self.seeds.end - self.seeds.start;
        let mut out = if self.shard == Shard::ALL {
            format!("{} scenarios × {seeds} seeds", self.scenarios)
        } else {
            format!(
                "shard {} (seed index mod {} = {}): {} scenarios × {} of {seeds} seeds",
                self.shard,
                self.shard.count,
                self.shard.index - 1,
                self.scenarios,
                self.shard.seeds(self.seeds.clone()).count()
            )
        };
        out.push_str(&format!(
            " = {} runs: {} failing\n",
            self.runs,
            self.failures.len()
        ));
        for f in &self.failures {
            out.push_str(&format!(
                "FAIL {} seed {}: {}\n",
                f.scenario,
                f.seed,
                f.failures.join("; ")
            ));
            out.push_str(&format!(
                "     replay: {}\n",
                replay_line_with_policy(
                    &f.file,
                    f.seed,
                    self.policy.as_deref().map(Path::new),
                    knobs
                )
            ));
        }
        out
    }

    /// The summary as one JSON object (`gatesim merge-sweeps` reads it back).
    pub(super) fn to_json(&self) -> serde_json::Value {
        let failures: Vec<serde_json::Value> = self
            .failures
            .iter()
            .map(|f| {
                serde_json::json!({
                    "file": f.file.display().to_string(),
                    "scenario": f.scenario,
                    "seed": f.seed,
                    "failures": f.failures,
                })
            })
            .collect();
        serde_json::json!({
            "v": SUMMARY_VERSION,
            "kind": "sweep",
            "path": self.path,
            "seeds": [self.seeds.start, self.seeds.end],
            "shard": [self.shard.index, self.shard.count],
            "policy": self.policy,
            "knobs": self.knobs,
            "scenarios": self.scenarios,
            "runs": self.runs,
            "failures": failures,
        })
    }
}

/// The `v` of a sweep summary file.
pub(super) const SUMMARY_VERSION: u64 = 1;

/// How a sweep runs, besides its path, seeds and jobs.
pub(super) struct Options<'a> {
    /// A policy file replacing each scenario's `policy` section.
    pub(super) policy: Option<&'a Path>,
    /// Knobs on.
    pub(super) knobs: &'a [Regression],
    /// The shard to run.
    pub(super) shard: Shard,
    /// Where to write the summary, if anywhere.
    pub(super) summary_json: Option<&'a Path>,
}

/// Runs the sweep (or one shard of it); returns the exit status.
pub(super) fn sweep(path: &Path, seeds: Range<u64>, jobs: usize, how: &Options<'_>) -> u8 {
    let Options {
        policy,
        knobs,
        shard,
        summary_json,
    } = *how;
    let files = match scenario_files(path) {
        Ok(f) => f,
        Err(e) => {
            eprintln!("gatesim: {e}");
            return 2;
        }
    };
    let worlds: Vec<(PathBuf, World)> = files
        .iter()
        .filter_map(|f| load(f, policy, knobs).map(|w| (f.clone(), w)))
        .collect();
    if worlds.len() < files.len() {
        return 2;
    }
    let work: Vec<Job> = worlds
        .iter()
        .flat_map(|(f, w)| {
            shard.seeds(seeds.clone()).map(move |seed| Job {
                file: f,
                world: w,
                seed,
            })
        })
        .collect();
    let results = run_all(&work, jobs);
    let summary = Summary {
        path: path.display().to_string(),
        seeds,
        shard,
        policy: policy.map(|p| p.display().to_string()),
        knobs: knobs.iter().map(|k| k.incident().to_string()).collect(),
        scenarios: worlds.len(),
        runs: work.len(),
        failures: results
            .into_iter()
            .map(|(i, failures)| Failure {
                file: work[i].file.to_path_buf(),
                scenario: work[i].world.id.clone(),
                seed: work[i].seed,
                failures,
            })
            .collect(),
    };
    print!("{}", summary.render(knobs));
    if let Some(out) = summary_json {
        let text = format!("{}\n", summary.to_json());
        if let Err(e) = std::fs::write(out, text) {
            eprintln!("gatesim: cannot write {}: {e}", out.display());
            return 2;
        }
    }
    u8::from(!summary.failures.is_empty())
}

/// Runs every job on `jobs` worker threads (a progress bar on a terminal): the failing
/// ones, by job index, in job order.
fn run_all(work: &[Job<'_>], jobs: usize) -> Vec<(usize, Vec<String>)> {
    let next = AtomicUsize::new(0);
    let results: Mutex<Vec<(usize, Vec<String>)>> = Mutex::new(Vec::new());
    let bar = super::progress::bar(work.len() as u64);
    bar.set_message("runs, 0 failing");
    std::thread::scope(|scope| {
        for _ in 0..jobs {
            scope.spawn(|| loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                let Some(job) = work.get(i) else { break };
                let failures = run_job(job);
                if !failures.is_empty() {
                    let mut results = results
                        .lock()
                        .expect("no worker panics while holding the lock");
                    results.push((i, failures));
                    bar.set_message(format!("runs, {} failing", results.len()));
                }
                bar.inc(1);
            });
        }
    });
    // The report on stdout repeats the counts: the bar leaves no line behind.
    bar.finish_and_clear();
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shards_partition_the_seed_range_round_robin() {
        for (range, count) in [(0..10, 3), (5..6, 1), (7..9, 4), (100..117, 17)] {
            let mut seen: Vec<u64> = Vec::new();
            for index in 1..=count {
                let shard = Shard { index, count };
                let seeds: Vec<u64> = shard.seeds(range.clone()).collect();
                assert!(seeds.windows(2).all(|w| w[1] - w[0] == count), "{seeds:?}");
                seen.extend(seeds);
            }
            seen.sort_unstable();
            assert_eq!(
                seen,
                range.clone().collect::<Vec<_>>(),
                "{range:?} / {count}"
            );
        }
        let shard = Shard::parse("2/3").expect("a shard");
        assert_eq!(shard.seeds(10..17).collect::<Vec<_>>(), [11, 14]);
        assert_eq!(Shard::parse(" 1 / 1 "), Ok(Shard::ALL));
        for bad in ["0/3", "4/3", "1/0", "1", "a/b", "-1/2", "1/2/3"] {
            let e = Shard::parse(bad).expect_err(bad);
            assert!(
                e.ends_with("is not a shard: use I/N with 1 <= I <= N, e.g. 1/4"),
                "{e}"
            );
        }
    }
}
