//! Seeds, running a world through the shell, and failure reports that say how to
//! reproduce: the `MADSIM_TEST_SEED=` line, the scenario id and the scenario itself.

use gatesim_core::AttemptId;
use gatesim_shell::{run, ShellOptions, ShellRun};
use gatesim_sim::check::{self, Violation};
use gatesim_sim::scenario;
use gatesim_sim::trace::Record;
use gatesim_sim::world::World;
use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;

/// The test's fixed seed, unless `MADSIM_TEST_SEED` asks for another (to reproduce a
/// failure). madsim would otherwise seed from the wall clock; the shell never does.
pub(crate) fn seed(fixed: u64) -> u64 {
    match std::env::var("MADSIM_TEST_SEED") {
        Ok(text) => text
            .parse()
            .expect("MADSIM_TEST_SEED must be an unsigned integer"),
        Err(_) => fixed,
    }
}

/// The test's fixed seeds, or just `MADSIM_TEST_SEED` when it is set.
pub(crate) fn seeds(fixed: &[u64]) -> Vec<u64> {
    if std::env::var_os("MADSIM_TEST_SEED").is_some() {
        vec![seed(0)]
    } else {
        fixed.to_vec()
    }
}

/// Whether `MADSIM_TEST_CHECK_DETERMINISM` asks every run to be made twice and compared.
pub(crate) fn check_determinism_requested() -> bool {
    std::env::var_os("MADSIM_TEST_CHECK_DETERMINISM").is_some()
}

/// Runs a world through the shell and returns the run with every broken invariant and
/// shell-bookkeeping problem; a run that cannot complete fails the test with the report.
pub(crate) fn judge(world: &World, options: &ShellOptions) -> (ShellRun, Vec<String>) {
    let shell = match run(world, options) {
        Ok(shell) => shell,
        Err(e) => panic!(
            "{}",
            report(world, options, &format!("the run failed: {e}"))
        ),
    };
    let mut problems: Vec<String> = check::check(world.terms(), &shell.run)
        .iter()
        .map(Violation::to_string)
        .collect();
    problems.extend(bookkeeping(&shell));
    if check_determinism_requested() {
        let again = run(world, options).expect("the second run of a determinism check");
        problems.extend(
            check::check_determinism(&shell.run, &again.run)
                .iter()
                .map(Violation::to_string),
        );
    }
    (shell, problems)
}

/// Runs a world through the shell; every invariant must hold.
pub(crate) fn run_clean(world: &World, options: &ShellOptions) -> ShellRun {
    let (shell, problems) = judge(world, options);
    if !problems.is_empty() {
        let mut what = format!("{} problems:", problems.len());
        for p in problems.iter().take(20) {
            let _ = write!(what, "\n  {p}");
        }
        panic!("{}", report(world, options, &what));
    }
    shell
}

/// The invariant ids `check` reports for a run.
pub(crate) fn broken_invariants(world: &World, shell: &ShellRun) -> BTreeSet<&'static str> {
    check::check(world.terms(), &shell.run)
        .iter()
        .map(|v| v.invariant.name())
        .collect()
}

/// A failure report: what went wrong, the seed line that reproduces it, the scenario.
pub(crate) fn report(world: &World, options: &ShellOptions, what: &str) -> String {
    let test = std::thread::current()
        .name()
        .unwrap_or("<test>")
        .to_string();
    let dir = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("shell-failures");
    let path = dir.join(format!("{}-seed{}.json", world.id, options.seed));
    let written = std::fs::create_dir_all(&dir)
        .and_then(|()| std::fs::write(&path, scenario::to_json(world)))
        .map_or_else(
            |e| format!("(could not write it: {e})"),
            |()| path.display().to_string(),
        );
    format!(
        "shell run of scenario `{}` ({}): {what}\n\
         reproduce: MADSIM_TEST_SEED={} cargo test -p gatesim-shell --test shell -- {test} --exact\n\
         scenario (faults resolved for this seed): {written}\n\
         options: {options:?}",
        world.id, world.title, options.seed
    )
}

/// Shell bookkeeping the checker does not look at: every attempt of an answered request
/// has exactly one `Answered` record (its answer or its deadline), attempts of cancelled
/// requests at most one, and each request is answered at most once.
pub(crate) fn bookkeeping(shell: &ShellRun) -> Vec<String> {
    let mut answered: BTreeMap<AttemptId, u32> = BTreeMap::new();
    let mut of_request = BTreeMap::new();
    let mut responded = BTreeMap::new();
    for e in &shell.run.trace.entries {
        match &e.record {
            Record::Dispatched(a) => {
                of_request.insert(a.id, a.request);
            }
            Record::Answered { attempt, .. } => *answered.entry(*attempt).or_default() += 1,
            Record::Responded { request, .. } => *responded.entry(*request).or_insert(0u32) += 1,
            _ => {}
        }
    }
    let mut problems = Vec::new();
    for (attempt, request) in &of_request {
        let n = answered.get(attempt).copied().unwrap_or(0);
        let expected = if responded.contains_key(request) {
            n == 1
        } else {
            n <= 1
        };
        if !expected {
            problems.push(format!("{attempt} of {request}: {n} Answered records"));
        }
    }
    for (request, n) in responded {
        if n > 1 {
            problems.push(format!("{request} answered {n} times"));
        }
    }
    let open = shell.run.arrivals.len() - shell.run.responses.len();
    if open as u64 != shell.stats.disconnects {
        problems.push(format!(
            "{open} requests without an answer but {} disconnects",
            shell.stats.disconnects
        ));
    }
    problems
}
