//! The `gatesim` command line: run, snapshot, sweep, merge-sweeps, diff, shrink, timeline,
//! check, knobs, matrix, bench.
//!
//! Exit status: 0 when everything held, 1 when an invariant or expectation failed,
//! 2 when the input itself is wrong (unreadable or invalid scenario, bad arguments).

mod diff;
mod history;
mod knobs;
mod merge;
mod progress;
mod report;
mod snapshot;
mod sweep;
mod timeline;

use crate::runner::{judge, Judge};
use crate::scenario::{self, ScenarioError};
use crate::world::World;
use clap::{Parser, Subcommand, ValueEnum};
use gatesim_core::Regression;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

/// gatesim: deterministic simulation of an LLM API gateway's routing, key health and key
/// pools. Every run checks every invariant; a failure prints the command that replays it.
#[derive(Debug, Parser)]
#[command(name = "gatesim", version, about, long_about = None)]
pub struct Cli {
    #[command(subcommand)]
    command: Command,
}

/// The simulator's commands, for a binary that adds its own beside them (black-box mode
/// adds `serve` and `blackbox`): flatten it into that binary's subcommand enum.
#[derive(Debug)]
pub struct SimCommand(Command);

impl clap::FromArgMatches for SimCommand {
    fn from_arg_matches(matches: &clap::ArgMatches) -> Result<Self, clap::Error> {
        Command::from_arg_matches(matches).map(SimCommand)
    }
    fn update_from_arg_matches(&mut self, matches: &clap::ArgMatches) -> Result<(), clap::Error> {
        self.0.update_from_arg_matches(matches)
    }
}

impl Subcommand for SimCommand {
    fn augment_subcommands(cmd: clap::Command) -> clap::Command {
        Command::augment_subcommands(cmd)
    }
    fn augment_subcommands_for_update(cmd: clap::Command) -> clap::Command {
        Command::augment_subcommands_for_update(cmd)
    }
    fn has_subcommand(name: &str) -> bool {
        Command::has_subcommand(name)
    }
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run scenario files (a file or a directory of them) and check every invariant.
    Run {
        /// A scenario file, or a directory of them (each runs with its own seed).
        path: PathBuf,
        /// Seed (default: the scenario's own `seed`).
        #[arg(long)]
        seed: Option<u64>,
        /// The decision trace: text (one line per event), json (JSON lines only on
        /// stdout, ending with a verdict record; the human verdict goes to stderr) or
        /// none. Default: text for a file, none for a directory.
        #[arg(long, value_enum)]
        trace: Option<TraceFormat>,
        /// Only the verdict and metrics: no trace, whatever `--trace` says.
        #[arg(long, short)]
        quiet: bool,
        /// A policy file replacing the scenario's `policy` section (same shape).
        #[arg(long)]
        policy: Option<PathBuf>,
        /// Put a production bug back (knob name or incident id); repeatable.
        #[arg(long = "regression", value_parser = KnobParser)]
        regressions: Vec<Regression>,
        /// Also write the run's history (what a black-box harness records, JSON lines:
        /// docs/history.md) to FILE; a single scenario file only.
        #[arg(long, value_name = "FILE")]
        history: Option<PathBuf>,
    },
    /// Judge a recorded history (JSON lines, docs/history.md) against its scenario with
    /// the invariants decidable from outside: what a harness of your own recorded, or
    /// `run --history`. Exit status 0 when every invariant holds, 1 when one is
    /// violated, 2 for a history or scenario that cannot be read.
    CheckHistory {
        /// The history file.
        file: PathBuf,
        /// The scenario it was recorded under.
        #[arg(long)]
        scenario: PathBuf,
    },
    /// Run scenario files and compare each decision trace with its snapshot,
    /// `snapshots/<id>.snap` beside the file (insta's format).
    ///
    /// Without --accept, a missing or different snapshot gets `<id>.snap.new` beside it
    /// and a decision diff, and the exit status is 1. With --accept, the snapshots of
    /// the runs that pass are written.
    Snapshot(snapshot::Args),
    /// Run every scenario × seed; swarm files draw new faults per seed.
    Sweep {
        /// A scenario file or a directory.
        path: PathBuf,
        /// Seeds as A..B (B excluded), e.g. 0..1000.
        #[arg(long, value_parser = parse_range)]
        seeds: std::ops::Range<u64>,
        /// Worker threads (1 to 256).
        #[arg(long, default_value_t = 2, value_parser = parse_jobs)]
        jobs: usize,
        /// A policy file replacing each scenario's `policy` section (same shape).
        #[arg(long)]
        policy: Option<PathBuf>,
        /// Put a production bug back; repeatable.
        #[arg(long = "regression", value_parser = KnobParser)]
        regressions: Vec<Regression>,
        /// Run only shard I of N: the seeds whose index in the range is I-1 modulo N
        /// (round robin), e.g. 2/4.
        #[arg(long, value_parser = sweep::Shard::parse)]
        shard: Option<sweep::Shard>,
        /// Also write the result as JSON to FILE, for `gatesim merge-sweeps`.
        #[arg(long, value_name = "FILE")]
        summary_json: Option<PathBuf>,
    },
    /// Merge the `--summary-json` files of every shard of one sweep: the report is the
    /// one the unsharded sweep prints, and so is the exit status.
    MergeSweeps {
        /// One summary file per shard, in any order.
        #[arg(required = true)]
        files: Vec<PathBuf>,
    },
    /// Run one world under two policies and show the first decision that differs.
    Diff {
        /// The scenario file.
        path: PathBuf,
        /// Seed (default: the scenario's own).
        #[arg(long)]
        seed: Option<u64>,
        /// Policy files: two of them, or one (against the scenario's own policy).
        #[arg(long)]
        policy: Vec<PathBuf>,
        /// Compare the scenario's policy with this knob on.
        #[arg(long = "regression", value_parser = KnobParser)]
        regressions: Vec<Regression>,
    },
    /// Write a failing run as a scenario file and shrink it to a minimal one.
    Shrink {
        /// The scenario file.
        path: PathBuf,
        /// The failing seed.
        #[arg(long)]
        seed: u64,
        /// A policy file replacing the scenario's `policy` section (same shape); the
        /// minimal scenario carries it as its own `policy`.
        #[arg(long)]
        policy: Option<PathBuf>,
        /// Put a production bug back; repeatable.
        #[arg(long = "regression", value_parser = KnobParser)]
        regressions: Vec<Regression>,
        /// Where to write the minimal scenario (default: next to the input, `<id>-seed<N>-min.json`).
        #[arg(long)]
        out: Option<PathBuf>,
    },
    /// Draw one run as a self-contained HTML page: a lane per credential over simulated
    /// time, state bands, fault windows, attempts by cause, client answers, the first
    /// violation. Exit status as for `run`.
    Timeline {
        /// The scenario file.
        path: PathBuf,
        /// Seed (default: the scenario's own `seed`).
        #[arg(long)]
        seed: Option<u64>,
        /// A policy file replacing the scenario's `policy` section (same shape).
        #[arg(long)]
        policy: Option<PathBuf>,
        /// Put a production bug back (knob name or incident id); repeatable.
        #[arg(long = "regression", value_parser = KnobParser)]
        regressions: Vec<Regression>,
        /// Where to write the page, e.g. run.html.
        #[arg(long)]
        out: PathBuf,
    },
    /// Validate scenario files and print every problem found.
    Check {
        /// A scenario file or a directory.
        path: PathBuf,
    },
    /// Measure the headline performance figures (decision cost, engine speed, 1 h of
    /// traffic, library × 1,000 seeds, memory under a model-name flood) in one table.
    Bench {
        /// Fewer repetitions: a rough table in a few seconds.
        #[arg(long)]
        quick: bool,
    },
    /// List every regression knob: the bug it puts back and the incident file that
    /// reproduces it.
    Knobs {
        /// The incident directory.
        #[arg(long, default_value = "scenarios/incidents")]
        incidents: PathBuf,
        /// A JSON array of {name, incident, summary, file} instead of the table.
        #[arg(long)]
        json: bool,
    },
    /// The detection matrix: which invariants catch each regression knob.
    Matrix {
        /// The incident directory.
        #[arg(long, default_value = "scenarios/incidents")]
        incidents: PathBuf,
        /// The swarm world to sweep.
        #[arg(long, default_value = "scenarios/swarm/standard.json")]
        swarm: PathBuf,
        /// Swarm seeds per knob at most.
        #[arg(long, default_value_t = 20)]
        seeds: u64,
        /// Instead: every incident under every preset (presets/*.json), and the
        /// invariants each peer's rules break, as a Markdown table.
        #[arg(long)]
        presets: bool,
    },
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
enum TraceFormat {
    Text,
    Json,
    None,
}

/// Parses the arguments and runs the command.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    prepare();
    ExitCode::from(run_command(SimCommand(cli.command)))
}

/// What every `gatesim` process sets up first: logs to stderr when `RUST_LOG` asks, and a
/// quiet exit when the reader of stdout goes away.
pub fn prepare() {
    init_logging();
    exit_quietly_on_broken_pipe();
}

/// Runs one command; the exit status.
// One arm per command, a flat dispatch table: clearer whole than split.
#[allow(clippy::too_many_lines)]
pub fn run_command(command: SimCommand) -> u8 {
    match command.0 {
        Command::Run {
            path,
            seed,
            trace,
            quiet,
            policy,
            regressions,
            history,
        } => {
            let how = RunHow {
                // `-q` drops the trace whatever `--trace` says.
                trace: if quiet {
                    Some(TraceFormat::None)
                } else {
                    trace
                },
                policy: policy.as_deref(),
                knobs: &regressions,
                history: history.as_deref(),
            };
            run(&path, seed, &how)
        }
        Command::CheckHistory { file, scenario } => history::check_history(&file, &scenario),
        Command::Snapshot(args) => snapshot::snapshot(args),
        Command::Sweep {
            path,
            seeds,
            jobs,
            policy,
            regressions,
            shard,
            summary_json,
        } => sweep::sweep(
            &path,
            seeds,
            jobs,
            &sweep::Options {
                policy: policy.as_deref(),
                knobs: &regressions,
                shard: shard.unwrap_or(sweep::Shard::ALL),
                summary_json: summary_json.as_deref(),
            },
        ),
        Command::MergeSweeps { files } => merge::merge_sweeps(&files),
        Command::Diff {
            path,
            seed,
            policy,
            regressions,
        } => diff::diff(&path, seed, &policy, &regressions),
        Command::Shrink {
            path,
            seed,
            policy,
            regressions,
            out,
        } => shrink(&path, seed, policy.as_deref(), &regressions, out),
        Command::Timeline {
            path,
            seed,
            policy,
            regressions,
            out,
        } => timeline::timeline(&path, seed, policy.as_deref(), &regressions, &out),
        Command::Check { path } => check(&path),
        Command::Matrix {
            incidents,
            swarm,
            seeds,
            presets: false,
        } => matrix(&incidents, &swarm, seeds),
        Command::Matrix {
            incidents,
            presets: true,
            ..
        } => preset_matrix(&incidents),
        Command::Knobs { incidents, json } => knobs::knobs(&incidents, json),
        Command::Bench { quick } => {
            print!("{}", crate::bench::headline(quick));
            0
        }
    }
}

/// Human logs go to stderr only when `RUST_LOG` asks (e.g. `RUST_LOG=gatesim_sim=debug`),
/// with simulated time as a field of every event and never the wall clock. The trace is
/// separate structured data and never scraped from logs.
fn init_logging() {
    if std::env::var_os("RUST_LOG").is_some() {
        let filter = tracing_subscriber::EnvFilter::from_default_env();
        tracing_subscriber::fmt()
            .with_env_filter(filter)
            .without_time()
            .with_writer(std::io::stderr)
            .init();
    }
}

fn parse_knob(text: &str) -> Result<Regression, String> {
    Regression::parse(text).ok_or_else(|| {
        let names: Vec<&str> = Regression::ALL.iter().map(|k| k.incident()).collect();
        format!(
            "unknown regression {:?}: use a knob name or an incident id ({})",
            scenario::redact(text),
            names.join(", ")
        )
    })
}

/// `--regression` values, with errors that never echo the value raw: clap's own
/// message quotes it whole, and a mistyped knob may be a pasted API key.
#[derive(Clone, Debug)]
struct KnobParser;

impl clap::builder::TypedValueParser for KnobParser {
    type Value = Regression;

    fn parse_ref(
        &self,
        cmd: &clap::Command,
        _arg: Option<&clap::Arg>,
        value: &std::ffi::OsStr,
    ) -> Result<Regression, clap::Error> {
        parse_knob(&value.to_string_lossy()).map_err(|e| {
            let kind = clap::error::ErrorKind::ValueValidation;
            clap::Error::raw(kind, format!("--regression: {e}\n")).with_cmd(cmd)
        })
    }
}

fn parse_range(text: &str) -> Result<std::ops::Range<u64>, String> {
    let (a, b) = text
        .split_once("..")
        .ok_or_else(|| format!("{text:?} is not a range: use A..B, e.g. 0..1000"))?;
    let a: u64 = a
        .trim()
        .parse()
        .map_err(|_| format!("{a:?} is not a seed"))?;
    let b: u64 = b
        .trim()
        .parse()
        .map_err(|_| format!("{b:?} is not a seed"))?;
    if b <= a {
        return Err(format!(
            "empty range {a}..{b}: the end is excluded, so use {a}..{}",
            a.saturating_add(1)
        ));
    }
    if b - a > SEEDS_MAX {
        return Err(format!(
            "{} seeds is too many (at most {SEEDS_MAX} per sweep; split the range)",
            b - a
        ));
    }
    Ok(a..b)
}

/// Most seeds one sweep runs: every (file, seed) pair is queued up front.
const SEEDS_MAX: u64 = 10_000_000;

/// Most worker threads a sweep starts.
const JOBS_MAX: usize = 256;

fn parse_jobs(text: &str) -> Result<usize, String> {
    match text.trim().parse::<usize>() {
        Ok(n) if (1..=JOBS_MAX).contains(&n) => Ok(n),
        _ => Err(format!(
            "{text:?} is not a number of jobs (use 1 to {JOBS_MAX})"
        )),
    }
}

/// A reader that stops early (`gatesim run ... | head`) closes stdout; printing then
/// fails, and `print!` panics. That is no error of ours: exit quietly instead.
fn exit_quietly_on_broken_pipe() {
    let default = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        let message = info
            .payload()
            .downcast_ref::<String>()
            .map_or("", String::as_str);
        if message.starts_with("failed printing to stdout") && message.contains("Broken pipe") {
            std::process::exit(0);
        }
        default(info);
    }));
}

/// Scenario files named by a path: the file, or the `.json` files of a directory in name
/// order, without its policy files ([`is_policy_file`]).
pub fn scenario_files(path: &Path) -> Result<Vec<PathBuf>, String> {
    if path.is_dir() {
        let mut files: Vec<PathBuf> = std::fs::read_dir(path)
            .map_err(|e| format!("cannot read {}: {e}", path.display()))?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|x| x == "json"))
            .collect();
        let json = files.len();
        files.retain(|p| !is_policy_file(p));
        files.sort();
        if files.is_empty() {
            let skipped = match json {
                0 => String::new(),
                n => format!(
                    " ({n} policy file{} skipped)",
                    if n == 1 { "" } else { "s" }
                ),
            };
            return Err(format!(
                "{} holds no .json scenario files{skipped}",
                path.display()
            ));
        }
        Ok(files)
    } else if path.exists() {
        Ok(vec![path.to_path_buf()])
    } else {
        Err(format!("{} does not exist", path.display()))
    }
}

/// Whether a file in a scenario directory is a policy file kept beside the scenarios for
/// `--policy`, by its name alone: it ends in `.policy.json`. Directory runs skip them.
pub fn is_policy_file(path: &Path) -> bool {
    path.file_name()
        .and_then(|n| n.to_str())
        .is_some_and(|n| n.ends_with(POLICY_SUFFIX))
}

/// The name ending of a policy file (`strict.policy.json`).
pub const POLICY_SUFFIX: &str = ".policy.json";

/// Loads a scenario, with a policy file spliced in and knobs added; errors printed.
fn load(path: &Path, policy: Option<&Path>, knobs: &[Regression]) -> Option<World> {
    match load_world(path, policy, knobs) {
        Ok(w) => Some(w),
        Err(errors) => {
            print_errors(path, &errors);
            None
        }
    }
}

/// Loads a scenario as `run` does: a policy file spliced in, knobs added.
pub(crate) fn load_world(
    path: &Path,
    policy: Option<&Path>,
    knobs: &[Regression],
) -> Result<World, Vec<ScenarioError>> {
    let mut w = match policy {
        None => scenario::load(path),
        Some(p) => with_policy(path, p),
    }?;
    for k in knobs {
        w.policy.regressions = w.policy.regressions.with(*k);
    }
    Ok(w)
}

fn with_policy(path: &Path, policy: &Path) -> Result<World, Vec<ScenarioError>> {
    let read = |p: &Path| {
        std::fs::read_to_string(p).map_err(|e| {
            vec![ScenarioError::Io {
                problem: format!("cannot read {}: {e}", p.display()),
            }]
        })
    };
    let (text, policy_text) = (read(path)?, read(policy)?);
    let syntax = |p: &Path, e: ScenarioError| {
        vec![ScenarioError::Io {
            problem: format!("{}: {e}", p.display()),
        }]
    };
    let mut value = scenario::read_json(&text).map_err(|e| syntax(path, e))?;
    let policy_value = scenario::read_json(&policy_text).map_err(|e| syntax(policy, e))?;
    if let Some(obj) = value.as_object_mut() {
        obj.insert("policy".to_string(), policy_value);
    }
    scenario::parse(&value.to_string())
}

fn print_errors(path: &Path, errors: &[ScenarioError]) {
    eprintln!(
        "{}: {} problem{}",
        path.display(),
        errors.len(),
        if errors.len() == 1 { "" } else { "s" }
    );
    for e in errors {
        eprintln!("  {e}");
    }
}

/// The command that replays exactly one run.
pub fn replay_line(path: &Path, seed: u64, knobs: &[Regression]) -> String {
    replay_line_with_policy(path, seed, None, knobs)
}

/// The command that replays exactly one run made with `--policy`, if it was.
pub fn replay_line_with_policy(
    path: &Path,
    seed: u64,
    policy: Option<&Path>,
    knobs: &[Regression],
) -> String {
    let mut line = format!("cargo gatesim run {} --seed {seed}", path.display());
    if let Some(p) = policy {
        line.push_str(&format!(" --policy {}", p.display()));
    }
    for k in knobs {
        line.push_str(&format!(" --regression {}", k.incident()));
    }
    line
}

/// How `run` runs: its options besides the path and seed.
struct RunHow<'a> {
    trace: Option<TraceFormat>,
    policy: Option<&'a Path>,
    knobs: &'a [Regression],
    history: Option<&'a Path>,
}

fn run(path: &Path, seed: Option<u64>, how: &RunHow<'_>) -> u8 {
    let RunHow {
        trace,
        policy,
        knobs,
        history,
    } = *how;
    let files = match scenario_files(path) {
        Ok(f) => f,
        Err(e) => {
            eprintln!("gatesim: {e}");
            return 2;
        }
    };
    if path.is_dir() && history.is_some() {
        eprintln!("gatesim: --history takes one scenario file, not a directory");
        return 2;
    }
    if path.is_dir() {
        let format = trace.unwrap_or(TraceFormat::None);
        return report::library(&files, seed, format, policy, knobs);
    }
    let format = trace.unwrap_or(TraceFormat::Text);
    let Some(world) = load(&files[0], policy, knobs) else {
        return 2;
    };
    let seed = seed.unwrap_or(world.seed);
    match judge(&world, seed, Judge::default()) {
        Ok(v) => {
            if let Some(out) = history {
                let text = crate::history::write(&world, &v.run, "reference");
                if let Err(e) = std::fs::write(out, text) {
                    eprintln!("gatesim: cannot write {}: {e}", out.display());
                    return 2;
                }
            }
            report::run_output(&files[0], &v, format, policy, knobs);
            u8::from(!v.passed())
        }
        Err(e) => {
            if format == TraceFormat::Json {
                let record = report::error_json(&files[0], &world.id, seed, &e.to_string());
                println!("{record}");
            }
            eprintln!("gatesim: {}: seed {seed}: {e}", files[0].display());
            1
        }
    }
}

/// Shrinks a failing run. The minimal scenario carries the policy it ran with (the
/// `--policy` file and the knobs) as its own `policy` section, so its replay line needs
/// neither: a `--policy` there would replace that section and drop the knobs.
fn shrink(
    path: &Path,
    seed: u64,
    policy: Option<&Path>,
    knobs: &[Regression],
    out: Option<PathBuf>,
) -> u8 {
    let Some(world) = load(path, policy, knobs) else {
        return 2;
    };
    let Some(s) = crate::shrink::shrink(&world, seed) else {
        println!(
            "seed {seed} of {} violates no invariant: nothing to shrink",
            path.display()
        );
        return 0;
    };
    let out = out.unwrap_or_else(|| path.with_file_name(format!("{}.json", s.minimal.id)));
    let text = scenario::to_json(&s.minimal);
    if let Err(e) = std::fs::write(&out, text) {
        eprintln!("gatesim: cannot write {}: {e}", out.display());
        return 2;
    }
    let (f0, r0) = (
        s.resolved.faults.faults.len(),
        s.resolved.workload.requests.len(),
    );
    let (f1, r1) = (
        s.minimal.faults.faults.len(),
        s.minimal.workload.requests.len(),
    );
    println!("{} fails at seed {seed}: {}", path.display(), s.invariant);
    println!(
        "shrunk in {} runs: {f0} faults, {r0} requests -> {f1} faults, {r1} requests",
        s.trials
    );
    println!("wrote {}", out.display());
    println!("replay: {}", replay_line(&out, seed, &[]));
    1
}

fn check(path: &Path) -> u8 {
    let files = match scenario_files(path) {
        Ok(f) => f,
        Err(e) => {
            eprintln!("gatesim: {e}");
            return 2;
        }
    };
    let mut bad = 0;
    for f in &files {
        match scenario::load(f) {
            Ok(w) => println!("ok    {} ({})", f.display(), w.id),
            Err(errors) => {
                bad += 1;
                print_errors(f, &errors);
            }
        }
    }
    println!(
        "{} files: {} valid, {bad} with problems",
        files.len(),
        files.len() - bad
    );
    if bad == 0 {
        0
    } else {
        2
    }
}

fn preset_matrix(incidents: &Path) -> u8 {
    let files = match scenario_files(incidents) {
        Ok(f) => f,
        Err(e) => {
            eprintln!("error: {e}");
            return 2;
        }
    };
    let Some(worlds) = files
        .iter()
        .map(|f| load(f, None, &[]))
        .collect::<Option<Vec<World>>>()
    else {
        return 2;
    };
    let presets = crate::scenario::preset_names().count();
    let bar = progress::bar((worlds.len() * presets) as u64);
    bar.set_message("presets");
    let m = crate::presets::build(&worlds, &|| bar.inc(1));
    bar.finish_and_clear();
    print!("{}", m.render());
    if m.has_errors() {
        2
    } else {
        0
    }
}

fn matrix(incidents: &Path, swarm: &Path, seeds: u64) -> u8 {
    let Some(swarm_world) = load(swarm, None, &[]) else {
        return 2;
    };
    let incident_of = |id: &str| -> Option<World> {
        let p = incidents.join(format!("{id}.json"));
        p.exists().then(|| load(&p, None, &[])).flatten()
    };
    let bar = progress::bar(crate::matrix::steps());
    bar.set_message("knobs");
    let m = crate::matrix::build_with_progress(&incident_of, &swarm_world, seeds, &|| bar.inc(1));
    bar.finish_and_clear();
    print!("{}", m.render());
    u8::from(!m.complete())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn f08_a_sweep_has_at_most_ten_million_seeds() {
        let e = parse_range("0..18446744073709551615").expect_err("too many seeds");
        assert_eq!(
            e,
            "18446744073709551615 seeds is too many (at most 10000000 per sweep; split the range)"
        );
        assert_eq!(parse_range("5..10000005"), Ok(5..10_000_005));
        let e = parse_range("18446744073709551615..1").expect_err("empty");
        assert!(
            e.contains("use 18446744073709551615..18446744073709551615"),
            "{e}"
        );
    }

    #[test]
    fn f09_a_sweep_has_1_to_256_jobs() {
        for bad in ["0", "257", "18446744073709551615", "x"] {
            let e = parse_jobs(bad).expect_err("out of range");
            assert!(e.ends_with("is not a number of jobs (use 1 to 256)"), "{e}");
        }
        assert_eq!(parse_jobs("256"), Ok(256));
    }

    #[test]
    fn f15b_a_mistyped_knob_is_not_echoed_when_it_looks_like_a_key() {
        let key = "sk-proj-Ab3dE5gH7jK9mN1pQ3sT5vW7yZ9bC1dE3fG5hJ7k";
        let args = ["gatesim", "run", "x.json", "--regression", key];
        let e = Cli::try_parse_from(args)
            .expect_err("not a knob")
            .to_string();
        assert!(e.contains("unknown regression \"sk-…\""), "{e}");
        assert!(!e.contains("Ab3dE5"), "echoed: {e}");
    }

    #[test]
    fn a_replay_line_keeps_the_policy() {
        let line = replay_line_with_policy(
            Path::new("s.json"),
            7,
            Some(Path::new("p.json")),
            &[Regression::ALL[0]],
        );
        assert_eq!(
            line,
            format!(
                "cargo gatesim run s.json --seed 7 --policy p.json --regression {}",
                Regression::ALL[0].incident()
            )
        );
        assert_eq!(
            replay_line(Path::new("s.json"), 7, &[]),
            "cargo gatesim run s.json --seed 7"
        );
    }

    #[test]
    fn f06_a_policy_file_with_a_duplicate_key_is_refused() {
        let dir = std::env::temp_dir().join(format!("gatesim-f06-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("temp dir");
        let scenario = dir.join("s.json");
        let policy = dir.join("p.json");
        let text = std::fs::read_to_string("../scenarios/incidents/invalid-key-400.json")
            .expect("the incident library");
        std::fs::write(
            &scenario,
            text.replacen("\"seed\"", "\"seed\": 8, \"seed\"", 1),
        )
        .expect("write");
        std::fs::write(&policy, r#"{ "preset": "reference" }"#).expect("write");
        let e = with_policy(&scenario, &policy).expect_err("duplicate seed");
        assert!(e[0].to_string().contains("duplicate key \"seed\""), "{e:?}");
        std::fs::write(&policy, r#"{ "preset": "reference", "preset": "naive" }"#).expect("write");
        std::fs::write(&scenario, text).expect("write");
        let e = with_policy(&scenario, &policy).expect_err("duplicate preset");
        assert!(e[0].to_string().contains("p.json: line 1"), "{e:?}");
        std::fs::remove_dir_all(&dir).expect("clean up");
    }
}
