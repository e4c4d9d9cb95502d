//! Headline performance figures (`gatesim bench`) and the worlds the benchmarks share:
//! the cost of one routing decision, engine requests per wall-second, the wall time of an
//! hour of simulated traffic, an incident-library seed sweep, and peak memory under a
//! flood of model names.
//!
//! The budget these figures answer to is in `DESIGN.md` ("Performance budget"); how to
//! reproduce them is in `docs/performance.md`.

// This is the one module of the simulator that reads the wall clock: measuring wall time
// is its purpose. Its timings are only ever printed; none reaches a trace, a decision, a
// verdict or a seed.
#![allow(clippy::disallowed_methods)]

use crate::build::standard_swarm;
use crate::engine::{self, RunOptions};
use crate::runner::{judge, Judge};
use crate::scenario;
use crate::swarm;
use crate::world::{Arrivals, Generator, RequestSpec, Style, World};
use gatesim_core::{
    Action, Duration, Gateway, HttpAnswer, Instant, Mode, Policy, ProjectId, Request, RequestKind,
    Response, Source,
};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant as Wall;

/// The standard swarm world with every fault kind drawn for every seed (swarm weights 100).
pub fn swarm_world(rate_per_s: u64, duration_s: u64) -> World {
    let mut world = standard_swarm(rate_per_s, duration_s);
    for kind in &mut world.swarm {
        kind.weight = 100;
    }
    world
}

/// Requests per simulated second in [`flood_world`].
pub const FLOOD_RATE_PER_S: u64 = 10_000;

/// A world whose every request names a model never seen before: one provider that accepts
/// any model, one org credential, and a generator with `custom_model_bp` 10 000 running
/// long enough for `names` requests (at [`FLOOD_RATE_PER_S`]). Health and uptime state
/// must stay within `policy.scopes_max` (the reference 4 096) however large `names` is.
pub fn flood_world(names: u64) -> World {
    let mut b = crate::build::WorldBuilder::new("model-name-flood");
    let region = b.region("us-east");
    let provider = b.provider("open-router", Style::Generic, &[region]);
    b.accepts_any_model(provider);
    b.key("or-0", provider, Source::Org, None, None);
    let project = b.project("acme", Mode::ApiKeys);
    let duration_ms = names * 1000 / FLOOD_RATE_PER_S;
    let w = b.world_mut();
    w.duration = Duration::from_ms(duration_ms);
    w.workload.generators.push(Generator {
        from: Instant::ZERO,
        until: Instant(duration_ms),
        rate_milli_per_s: FLOOD_RATE_PER_S * 1000,
        arrivals: Arrivals::Poisson,
        project,
        mix: vec![(
            1,
            RequestSpec {
                at: Instant::ZERO,
                project,
                model: "named-per-request".to_string(),
                stream: false,
                byok: None,
                kind: RequestKind::Chat,
                agentic_iterations: 1,
                body_bytes: 256,
            },
        )],
        custom_model_bp: 10_000,
    });
    b.build()
}

#[path = "../../core/benches/decision_catalog.rs"]
mod decision_catalog;
/// Two providers in one region, each serving every model, `keys` org credentials each, one
/// api-keys project: the shape of `gatesim-core`'s `decision` benchmark (one shared file).
pub use decision_catalog::decision_catalog;

/// Median wall nanoseconds of one routing decision (`submit` until its first attempt is
/// dispatched) on [`decision_catalog`], in a warm, steady state: batches of 64 submits are
/// timed, then answered (untimed) so the gateway never fills up.
pub fn decision_ns(keys: usize, models: usize, batches: usize) -> f64 {
    const BATCH: usize = 64;
    let mut gw =
        Gateway::new(decision_catalog(keys, models), Policy::reference()).expect("valid catalog");
    gw.set_events_enabled(false);
    let requests: Vec<String> = (0..models).map(|m| format!("model-{m}")).collect();
    let mut per_decision = Vec::with_capacity(batches);
    let mut attempts = Vec::with_capacity(BATCH);
    for batch in 0..batches + 4 {
        let now = Instant(batch as u64 * 10);
        let batch_requests: Vec<Request> = (0..BATCH)
            .map(|i| Request::chat(ProjectId(0), requests[(batch * BATCH + i) % models].clone()))
            .collect();
        let started = Wall::now();
        for request in batch_requests {
            gw.submit(now, request);
            if let Some(Action::Dispatch(a)) = gw.poll_action() {
                attempts.push(a.id);
            }
        }
        let elapsed = started.elapsed();
        for id in attempts.drain(..) {
            gw.handle_response(now, id, Response::Http(HttpAnswer::ok()));
        }
        while gw.poll_action().is_some() {}
        if batch >= 4 {
            // The first batches warm caches and health entries up.
            per_decision.push(elapsed.as_nanos() as f64 / BATCH as f64);
        }
    }
    median(&mut per_decision)
}

/// What one engine measurement gave.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct EngineFigure {
    /// Requests simulated.
    pub requests: u64,
    /// Simulated traffic covered (the worlds' durations), in seconds.
    pub simulated_s: f64,
    /// Wall time taken, in seconds.
    pub wall_s: f64,
}

impl EngineFigure {
    /// Simulated requests per wall-second.
    pub fn requests_per_s(&self) -> f64 {
        self.requests as f64 / self.wall_s
    }
    /// Simulated seconds per wall-second.
    pub fn sim_to_wall(&self) -> f64 {
        self.simulated_s / self.wall_s
    }
}

/// Runs [`swarm_world`] at `rate_per_s` for `duration_s` with each seed (faults drawn
/// outside the timing) and sums requests, simulated and wall time.
pub fn engine_figure(
    rate_per_s: u64,
    duration_s: u64,
    seeds: &[u64],
    record: bool,
) -> EngineFigure {
    let base = swarm_world(rate_per_s, duration_s);
    let mut figure = EngineFigure {
        requests: 0,
        simulated_s: 0.0,
        wall_s: 0.0,
    };
    for &seed in seeds {
        let world = swarm::resolve(&base, seed);
        let started = Wall::now();
        let run = engine::run(&world, RunOptions { seed, record }).expect("the swarm world runs");
        figure.wall_s += started.elapsed().as_secs_f64();
        figure.requests += run.arrivals.len() as u64;
        // The traffic span, not the last event: a hung connection's stale answer can land
        // up to an hour after the last request was answered.
        figure.simulated_s += world.duration.as_ms() as f64 / 1000.0;
    }
    figure
}

/// What a seed sweep over a directory of scenarios gave.
#[derive(Clone, Debug, PartialEq)]
pub struct SweepFigure {
    /// Scenario files loaded.
    pub scenarios: usize,
    /// Seeds per scenario.
    pub seeds: u64,
    /// Judged runs that failed an invariant or could not run (expectations aside).
    pub failing: usize,
    /// Wall time, in seconds.
    pub wall_s: f64,
}

/// Judges every `*.json` scenario of `dir` with seeds `0..seeds` on `jobs` threads, as
/// `gatesim sweep` does (each judgement runs twice for the determinism check).
pub fn sweep_figure(dir: &Path, seeds: u64, jobs: usize) -> Result<SweepFigure, String> {
    let files = crate::cli::scenario_files(dir)?;
    let mut worlds = Vec::with_capacity(files.len());
    for f in &files {
        let world = scenario::load(f).map_err(|errors| {
            let first = errors.first().map(ToString::to_string).unwrap_or_default();
            format!("{}: {first}", f.display())
        })?;
        worlds.push(world);
    }
    let jobs_total = worlds.len() * seeds as usize;
    let next = AtomicUsize::new(0);
    let failing = AtomicUsize::new(0);
    let started = Wall::now();
    std::thread::scope(|scope| {
        for _ in 0..jobs.max(1) {
            scope.spawn(|| loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= jobs_total {
                    break;
                }
                let world = &worlds[i / seeds as usize];
                let seed = (i % seeds as usize) as u64;
                let failed =
                    !judge(world, seed, Judge::default()).is_ok_and(|v| v.violations.is_empty());
                if failed {
                    failing.fetch_add(1, Ordering::Relaxed);
                }
            });
        }
    });
    Ok(SweepFigure {
        scenarios: worlds.len(),
        seeds,
        failing: failing.into_inner(),
        wall_s: started.elapsed().as_secs_f64(),
    })
}

/// What the model-name flood did to memory.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FloodFigure {
    /// Distinct model names (= requests).
    pub names: u64,
    /// Peak resident memory of the process during the run, KiB (`None` off Linux).
    pub peak_rss_kib: Option<u64>,
    /// Highest number of health entries the gateway tracked.
    pub tracked_entries_max: usize,
    /// The scope cap of the world's policy.
    pub scopes_max: u32,
}

/// Runs [`flood_world`] with [`engine::run_streaming`] (no per-request output is kept, so
/// what memory remains is the gateway's) and reports the peak resident memory, measured
/// from a peak reset just before the run.
pub fn flood_figure(names: u64) -> FloodFigure {
    let world = flood_world(names);
    let reset = reset_peak_memory();
    let mut answered = 0u64;
    let run = engine::run_streaming(&world, 1, &mut |_, _, _| answered += 1)
        .expect("the flood world runs");
    debug_assert_eq!(
        answered,
        names.min(answered),
        "one answer per request at most"
    );
    FloodFigure {
        names,
        peak_rss_kib: if reset {
            memory_kib().map(|(peak, _)| peak)
        } else {
            None
        },
        tracked_entries_max: run.final_state.tracked_entries_max,
        scopes_max: world.policy.scopes_max,
    }
}

/// Peak and current resident memory of this process, KiB (`VmHWM`, `VmRSS` of
/// `/proc/self/status`); `None` where that file does not exist.
pub fn memory_kib() -> Option<(u64, u64)> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let field = |name: &str| -> Option<u64> {
        let line = status.lines().find(|l| l.starts_with(name))?;
        line[name.len()..]
            .trim()
            .trim_end_matches("kB")
            .trim()
            .parse()
            .ok()
    };
    Some((field("VmHWM:")?, field("VmRSS:")?))
}

/// Resets the process's peak resident memory to its current size (Linux `clear_refs`);
/// `false` where that is not possible.
pub fn reset_peak_memory() -> bool {
    std::fs::write("/proc/self/clear_refs", "5").is_ok()
}

/// The directory of incident scenarios: `scenarios/incidents` under the working
/// directory, else the one of this source tree.
pub fn incidents_dir() -> PathBuf {
    let here = PathBuf::from("scenarios/incidents");
    if here.is_dir() {
        return here;
    }
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../scenarios/incidents")
}

/// Measures the headline figures and renders them as one table with the budget of each.
///
/// `quick` shortens every measurement (a smaller engine run, 50 seeds per incident instead
/// of 1 000 with the sweep time scaled up, 100 000 names only) for a smoke check; the
/// figures in `docs/performance.md` come from the full run. Takes about a minute in full
/// on the reference machine, a few seconds quick.
pub fn headline(quick: bool) -> String {
    let mut rows: Vec<[String; 3]> = Vec::new();
    // Memory first, while the heap is still small (a later peak would hide it).
    let flood_sizes: &[u64] = if quick {
        &[100_000]
    } else {
        &[100_000, 1_000_000]
    };
    let floods: Vec<FloodFigure> = flood_sizes.iter().map(|n| flood_figure(*n)).collect();
    let decision = decision_ns(8, 10, if quick { 200 } else { 2_000 });
    rows.push([
        "decision, 8 credentials/provider, 10 models".into(),
        format!("{decision:.0} ns"),
        "well under 1 µs".into(),
    ]);
    rows.extend(engine_rows(quick));
    rows.push(sweep_row(quick));
    rows.extend(floods.iter().map(flood_row));
    let mut out = render(&rows);
    out.push_str(
        "\nMemory rows are measured in this process (peak reset before each run), so a later \
         row also counts heap an earlier run left behind; `cargo bench -p gatesim-sim --bench \
         memory` runs each size in its own process.\n",
    );
    out
}

/// The engine's rows of the headline table: requests/s with the trace off and on, and an
/// hour of simulated traffic.
fn engine_rows(quick: bool) -> Vec<[String; 3]> {
    let mut rows = Vec::new();
    let (duration_s, seeds): (u64, &[u64]) = if quick {
        (120, &[0])
    } else {
        (600, &[0, 1, 2])
    };
    for record in [false, true] {
        let f = engine_figure(100, duration_s, seeds, record);
        rows.push([
            format!(
                "engine, swarm world, trace {}",
                if record { "recorded" } else { "off" }
            ),
            format!("{:.0} requests/s", f.requests_per_s()),
            if record {
                "none (the budget is for trace off)".into()
            } else {
                "≥ 1 000 000 requests/s per core".into()
            },
        ]);
    }
    let hour = engine_figure(100, 3600, &[0], false);
    rows.push([
        "1 h simulated at 100 req/s, trace off".into(),
        format!(
            "{:.2} s wall ({:.0}× real time)",
            hour.wall_s,
            hour.sim_to_wall()
        ),
        "well under 1 s".into(),
    ]);
    rows
}

/// The incident-sweep row of the headline table.
fn sweep_row(quick: bool) -> [String; 3] {
    let seeds_per_incident = if quick { 50 } else { 1_000 };
    let sweep = match sweep_figure(&incidents_dir(), seeds_per_incident, 2) {
        Ok(s) => {
            let scale = 1_000.0 / s.seeds as f64;
            format!(
                "{:.1} s{} ({} scenarios, {} failing runs)",
                s.wall_s * scale,
                if quick { " (50 seeds, scaled)" } else { "" },
                s.scenarios,
                s.failing
            )
        }
        Err(e) => format!("not measured: {e}"),
    };
    [
        "incident library × 1 000 seeds, 2 jobs".into(),
        sweep,
        "under 60 s".into(),
    ]
}

/// A model-name flood's row of the headline table.
fn flood_row(f: &FloodFigure) -> [String; 3] {
    [
        format!("model-name flood, {} names", f.names),
        format!(
            "peak RSS {}, health entries ≤ {} (cap {})",
            f.peak_rss_kib.map_or("n/a".to_string(), |k| format!(
                "{:.1} MiB",
                k as f64 / 1024.0
            )),
            f.tracked_entries_max,
            f.scopes_max
        ),
        "flat in the number of names".into(),
    ]
}

fn render(rows: &[[String; 3]]) -> String {
    let header = ["figure", "measured", "budget"];
    let mut widths = header.map(|h| h.chars().count());
    for row in rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let mut out = String::new();
    let line = |out: &mut String, cells: [&str; 3]| {
        for (i, (cell, w)) in cells.iter().zip(widths).enumerate() {
            let pad = w - cell.chars().count();
            let sep = if i + 1 < cells.len() { "  " } else { "" };
            let _ = write!(out, "{cell}{}{sep}", " ".repeat(pad));
        }
        let trimmed = out.trim_end().len();
        out.truncate(trimmed);
        out.push('\n');
    };
    line(&mut out, header);
    let rule = widths.map(|w| "-".repeat(w));
    line(&mut out, [&rule[0], &rule[1], &rule[2]]);
    for row in rows {
        line(&mut out, [&row[0], &row[1], &row[2]]);
    }
    out
}

fn median(values: &mut [f64]) -> f64 {
    values.sort_by(f64::total_cmp);
    values.get(values.len() / 2).copied().unwrap_or(f64::NAN)
}
