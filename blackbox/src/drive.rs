//! `gatesim blackbox`: drives a real gateway through a scenario over real HTTP and judges
//! the recorded history.
//!
//! Per scenario: the fake providers start on loopback; the world file is written; the
//! adapter renders the gateway's configuration and starts it; once its health URL answers,
//! scenario time starts and the workload is sent in real time; every process started is
//! stopped (also on failure and Ctrl-C); the history is judged with the invariants
//! decidable from outside (`gatesim_sim::history`), the verdict printed as `run` prints
//! one, with the same exit statuses.

use crate::adapter::{self, Adapter};
use crate::providers;
use crate::record::Log;
use crate::wire;
use crate::world_file::{self, WorldFile};
use bytes::Bytes;
use gatesim_core::{fnv1a, KeyId, RequestKind};
use gatesim_sim::history::{self, InStream, Line, Tag};
use gatesim_sim::world::World;
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use rand::Rng;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

/// `gatesim blackbox` arguments.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// A scenario file, or a directory of them (run one after another).
    pub path: PathBuf,
    /// The gateway: an adapter name (`adapters/NAME.toml`) or a path to one.
    #[arg(long, default_value = "reference")]
    pub gateway: String,
    /// Seed for the fake providers' draws and the workload's generators (default: the
    /// scenario's own).
    #[arg(long)]
    pub seed: Option<u64>,
    /// Put a production bug back in a gateway that has knobs (gatesim's own); repeatable.
    #[arg(long = "regression")]
    pub regressions: Vec<String>,
    /// Write the recorded history here: a file for one scenario, a directory (one
    /// `<id>.jsonl` each) for a directory of them.
    #[arg(long, value_name = "PATH")]
    pub history: Option<PathBuf>,
    /// Only the verdict line per scenario.
    #[arg(long, short)]
    pub quiet: bool,
    /// Runs at once (each with its own fake providers, ports and gateway process).
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u16).range(1..=64))]
    pub jobs: u16,
    /// The black-box detection matrix (a gateway with knobs only): every knob that the
    /// directory's scenarios catch from outside in process is run over HTTP on the first
    /// file that catches it, after a clean run of every file; exit 1 unless every one is
    /// caught over HTTP and every clean run passes.
    #[arg(long)]
    pub matrix: bool,
    /// Fidelity of a preset: run the directory through the gateway (`--repeat` times) and
    /// in the engine under this preset (`presets/NAME.json`), both judged from outside,
    /// and compare per invariant; exit 1 if any disagrees (docs/presets.md).
    #[arg(long, value_name = "PRESET")]
    pub fidelity: Option<String>,
    /// Run each scenario this many times (a gateway that routes at random answers
    /// differently each time: a verdict is a sample); `--history DIR` keeps
    /// `<id>.<N>.jsonl` each.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..=1000))]
    pub repeat: u32,
    /// Measure instead of judging: the added latency of each `--gateway` (a comma-
    /// separated list) over calling the scenario's first fake provider directly, at
    /// `--rate` for `--seconds`, and each one's closed-loop throughput (docs/blackbox.md).
    #[arg(long)]
    pub bench: bool,
    /// Requests per second of the benchmark's open loop.
    #[arg(long, default_value_t = 1000, value_parser = clap::value_parser!(u32).range(1..=20_000))]
    pub rate: u32,
    /// Seconds of the benchmark's open loop.
    #[arg(long, default_value_t = 5, value_parser = clap::value_parser!(u32).range(1..=600))]
    pub seconds: u32,
}

/// Runs `gatesim blackbox`; the exit status.
pub fn main(args: &Args) -> u8 {
    if args.bench {
        return bench_main(args);
    }
    let adapter = match adapter::load(&args.gateway) {
        Ok(a) => a,
        Err(e) => {
            eprintln!("gatesim blackbox: {e}");
            return 2;
        }
    };
    if let Some(p) = &args.fidelity {
        if gatesim_sim::scenario::preset(p).is_none() {
            let known: Vec<&str> = gatesim_sim::scenario::preset_names().collect();
            eprintln!(
                "gatesim blackbox: --fidelity: unknown preset \"{p}\" (known: {})",
                known.join(", ")
            );
            return 2;
        }
        if args.matrix || args.bench {
            eprintln!("gatesim blackbox: --fidelity takes neither --matrix nor --bench");
            return 2;
        }
    }
    for k in &args.regressions {
        if gatesim_core::Regression::parse(k).is_none() {
            eprintln!("gatesim blackbox: --regression: unknown knob (gatesim knobs lists them)");
            return 2;
        }
    }
    if (args.matrix || !args.regressions.is_empty()) && adapter.regression_args.is_empty() {
        eprintln!(
            "gatesim blackbox: --regression and --matrix: the {} adapter has no knobs (only gatesim's own gateway does)",
            adapter.name
        );
        return 2;
    }
    let files = match gatesim_sim::cli::scenario_files(&args.path) {
        Ok(f) => f,
        Err(e) => {
            eprintln!("gatesim blackbox: {e}");
            return 2;
        }
    };
    let Some(runtime) = crate::runtime("gatesim blackbox") else {
        return 2;
    };
    runtime.block_on(async {
        tokio::select! {
            code = drive_all(args, &adapter, &files) => code,
            _ = tokio::signal::ctrl_c() => {
                // Dropping the run's future kills every process it started.
                eprintln!("gatesim blackbox: interrupted; every process it started is stopped");
                130
            }
        }
    })
}

fn bench_main(args: &Args) -> u8 {
    let mut adapters = Vec::new();
    for name in args.gateway.split(',').filter(|n| !n.is_empty()) {
        match adapter::load(name) {
            Ok(a) => adapters.push(Arc::new(a)),
            Err(e) => {
                eprintln!("gatesim blackbox --bench: {e}");
                return 2;
            }
        }
    }
    let (units, invalid) = units(std::slice::from_ref(&args.path), args.seed, &[]);
    let (Some(unit), 0) = (units.into_iter().next(), invalid) else {
        return 2;
    };
    let Some(runtime) = crate::runtime("gatesim blackbox") else {
        return 2;
    };
    runtime.block_on(crate::bench::bench(
        &unit.file,
        unit.world,
        unit.seed,
        &adapters,
        args.rate,
        args.seconds,
    ))
}

/// One black-box run to make: a scenario, through the adapter, with these knobs.
#[derive(Clone, Debug)]
pub struct Unit {
    /// The scenario file.
    pub file: PathBuf,
    /// Its world.
    pub world: Arc<World>,
    /// The seed.
    pub seed: u64,
    /// Knobs for a gateway that has them.
    pub knobs: Vec<String>,
    /// Which repetition this is (`--repeat`), if the scenario is repeated.
    pub rep: Option<u32>,
}

/// Loads the scenario files as black-box units; the ones that cannot run are reported
/// and counted.
pub fn units(files: &[PathBuf], seed: Option<u64>, knobs: &[String]) -> (Vec<Unit>, usize) {
    let mut units = Vec::new();
    let mut invalid = 0;
    for f in files {
        let world = match gatesim_sim::scenario::load(f) {
            Ok(w) => w,
            Err(errors) => {
                eprintln!("{}: {} problems", f.display(), errors.len());
                for e in &errors {
                    eprintln!("  {e}");
                }
                invalid += 1;
                continue;
            }
        };
        if let Err(e) = supported(&world) {
            eprintln!("{}: not a black-box scenario: {e}", f.display());
            invalid += 1;
            continue;
        }
        if world.duration.as_ms() > 60_000 {
            eprintln!(
                "{}: note: this scenario spans {} of real time in black-box mode (scenarios/blackbox/ holds the incidents recast in seconds)",
                f.display(),
                world.duration
            );
        }
        units.push(Unit {
            file: f.clone(),
            seed: seed.unwrap_or(world.seed),
            world: Arc::new(world),
            knobs: knobs.to_vec(),
            rep: None,
        });
    }
    (units, invalid)
}

/// Runs `units` through `adapter`, up to `jobs` at once (each has its own providers,
/// ports and gateway process); the results in the units' order.
pub async fn run_units(
    units: &[Unit],
    adapter: &Arc<Adapter>,
    jobs: usize,
) -> Vec<Result<Outcome, String>> {
    run_units_each(units, adapter, jobs, |_, _| {}).await
}

/// [`run_units`], handing each result to `each` as soon as it and every earlier one are
/// in (so a directory's rows appear as they finish, in file order).
pub async fn run_units_each(
    units: &[Unit],
    adapter: &Arc<Adapter>,
    jobs: usize,
    mut each: impl FnMut(&Unit, &Result<Outcome, String>),
) -> Vec<Result<Outcome, String>> {
    let permits = Arc::new(tokio::sync::Semaphore::new(jobs.max(1)));
    let mut tasks = Vec::new();
    for u in units {
        let (u, adapter, permits) = (u.clone(), adapter.clone(), permits.clone());
        tasks.push(tokio::spawn(async move {
            let _permit = permits.acquire_owned().await;
            run_one(&u, &adapter).await
        }));
    }
    let mut out = Vec::new();
    for (u, t) in units.iter().zip(tasks) {
        let r = t
            .await
            .unwrap_or_else(|e| Err(format!("the run panicked: {e}")));
        each(u, &r);
        out.push(r);
    }
    out
}

/// `--matrix` and `--fidelity`, which judge the units their own way; `None` for a plain run.
async fn other_mode(
    args: &Args,
    units: &[Unit],
    adapter: &Arc<Adapter>,
    invalid: usize,
) -> Option<u8> {
    if args.matrix {
        return Some(crate::matrix::matrix(units, adapter, args.jobs, invalid).await);
    }
    let preset = args.fidelity.as_deref()?;
    let jobs = (args.jobs, args.repeat);
    let code =
        crate::fidelity::fidelity(units, adapter, jobs, preset, args.history.as_deref()).await;
    Some(if invalid > 0 { 2 } else { code })
}

async fn drive_all(args: &Args, adapter: &Adapter, files: &[PathBuf]) -> u8 {
    let many = files.len() > 1 || args.path.is_dir() || args.repeat > 1;
    let (mut units, mut invalid) = units(files, args.seed, &args.regressions);
    let adapter = Arc::new(adapter.clone());
    if let Some(code) = other_mode(args, &units, &adapter, invalid).await {
        return code;
    }
    if args.repeat > 1 {
        units = units
            .into_iter()
            .flat_map(|u| {
                (1..=args.repeat).map(move |r| Unit {
                    rep: Some(r),
                    ..u.clone()
                })
            })
            .collect();
    }
    let (mut passed, mut failed) = (0, 0);
    let mut replays = Vec::new();
    run_units_each(&units, &adapter, usize::from(args.jobs), |u, result| {
        let outcome = match result {
            Ok(o) => o,
            Err(e) => {
                eprintln!("{}: {e}", u.file.display());
                invalid += 1;
                return;
            }
        };
        let history_out = args.history.as_ref().map(|h| match (many, u.rep) {
            (true, Some(r)) => h.join(format!("{}.{r}.jsonl", u.world.id)),
            (true, None) => h.join(format!("{}.jsonl", u.world.id)),
            (false, _) => h.clone(),
        });
        if let Some(out) = &history_out {
            if let Some(dir) = out.parent() {
                let _ = std::fs::create_dir_all(dir);
            }
            if let Err(e) = std::fs::write(out, &outcome.history) {
                eprintln!("gatesim blackbox: cannot write {}: {e}", out.display());
            }
        }
        if args.quiet || many {
            println!("{}", outcome.row);
            for p in &outcome.problems {
                println!("   harness: {p}");
            }
        } else {
            print!("{}", outcome.verdict);
        }
        if outcome.violations == 0 {
            passed += 1;
        } else {
            failed += 1;
            replays.push(replay_line(&u.file, args, history_out.as_deref()));
        }
    })
    .await;
    if many {
        println!("\n{passed} passed, {failed} failed, {invalid} could not run");
    }
    for r in &replays {
        println!("replay: {r}");
    }
    if invalid > 0 {
        2
    } else {
        u8::from(failed > 0)
    }
}

fn replay_line(f: &Path, args: &Args, history: Option<&Path>) -> String {
    let mut line = format!(
        "cargo gatesim blackbox {} --gateway {}",
        f.display(),
        args.gateway
    );
    for k in &args.regressions {
        line.push_str(&format!(" --regression {k}"));
    }
    if let Some(h) = history {
        line.push_str(&format!(
            "   # or judge the recorded history again: cargo gatesim check-history {} --scenario {}",
            h.display(),
            f.display()
        ));
    }
    line
}

/// What black-box mode cannot drive yet, as an error naming the field.
pub fn supported(world: &World) -> Result<(), String> {
    if !world.swarm.is_empty() {
        return Err(
            "swarm: a swarm world draws its faults per seed over simulated hours; black-box mode drives plain scenarios (scenarios/blackbox/)".to_string(),
        );
    }
    let templates = world
        .workload
        .generators
        .iter()
        .flat_map(|g| g.mix.iter().map(|(_, r)| r));
    for (i, r) in world.workload.requests.iter().chain(templates).enumerate() {
        if r.byok.is_some() {
            return Err(format!(
                "workload request {i}: byok: a client's own key is not driven over HTTP yet"
            ));
        }
        if r.agentic_iterations > 1 {
            return Err(format!(
                "workload request {i}: agentic_iterations: a client-driven agentic loop is not driven over HTTP yet"
            ));
        }
        if r.kind != RequestKind::Chat {
            return Err(format!(
                "workload request {i}: kind: only chat requests are driven over HTTP ({} is not)",
                r.kind.name()
            ));
        }
    }
    Ok(())
}

/// One scenario's result.
#[derive(Clone, Debug)]
pub struct Outcome {
    /// The recorded history (JSON lines).
    pub history: String,
    /// The verdict as text.
    pub verdict: String,
    /// The verdict as one table row.
    pub row: String,
    /// How many violations.
    pub violations: usize,
    /// The invariants violated, sorted, once each.
    pub failed: Vec<&'static str>,
    /// What went wrong in the harness itself (attempts it could not attribute).
    pub problems: Vec<String>,
}

/// A gateway's process group, stopped when dropped.
pub struct Gateway {
    child: Option<tokio::process::Child>,
}

impl Gateway {
    /// SIGTERM to the group, then SIGKILL after a grace period.
    pub async fn stop(&mut self) {
        let Some(mut child) = self.child.take() else {
            return;
        };
        if let Some(pid) = child.id() {
            signal_group(pid, "TERM");
            let grace = tokio::time::timeout(Duration::from_secs(5), child.wait()).await;
            if grace.is_err() {
                signal_group(pid, "KILL");
            }
        }
        let _ = child.kill().await;
    }
}

impl Drop for Gateway {
    fn drop(&mut self) {
        if let Some(child) = &mut self.child {
            if let Some(pid) = child.id() {
                signal_group(pid, "KILL");
            }
            let _ = child.start_kill();
        }
    }
}

/// Signals a whole process group (the gateway and whatever it started).
fn signal_group(pid: u32, signal: &str) {
    let _ = std::process::Command::new("kill")
        .arg(format!("-{signal}"))
        .arg("--")
        .arg(format!("-{pid}"))
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status();
}

/// A free loopback port (bound, read, released).
fn free_port() -> std::io::Result<u16> {
    let l = std::net::TcpListener::bind("127.0.0.1:0")?;
    Ok(l.local_addr()?.port())
}

/// A clearly fake token: never shaped like a provider's real key.
fn fake_token(rng: &mut rand_chacha::ChaCha8Rng, what: &str, label: &str) -> String {
    let n: u64 = rng.random();
    format!("gatesim-fake-{what}-{label}-{n:016x}")
}

/// A run's fake providers, tokens and keys, before any gateway.
pub struct Stage {
    /// The history being recorded.
    pub log: Arc<Log>,
    /// The running fake providers.
    pub fakes: providers::Providers,
    /// Every credential with its run token.
    pub credentials: Vec<world_file::Credential>,
    /// Every project with its client key.
    pub projects: Vec<world_file::Project>,
    /// The run's admin key.
    pub admin_key: String,
}

/// Starts the fake providers of `world` with fresh tokens.
pub async fn stage(world: &Arc<World>, seed: u64) -> Result<Stage, String> {
    let cat = &world.catalog;
    // Tokens and keys are per run: the seed and this process, never a provider's shape.
    let mut rng =
        gatesim_sim::seed::stream(seed ^ u64::from(std::process::id()), "blackbox/secrets");
    let mut tokens = BTreeMap::new();
    let mut credentials = Vec::new();
    for (i, c) in cat.credentials.iter().enumerate() {
        let token = fake_token(&mut rng, "token", &c.name);
        tokens.insert(token.clone(), KeyId(i as u32));
        credentials.push(world_file::Credential {
            id: c.name.clone(),
            provider: cat.provider(c.provider).name.clone(),
            region: c.region.map(|r| cat.region_name(r).to_string()),
            endpoint: c.endpoint.clone(),
            token,
            weight: c.weight,
        });
    }
    let projects: Vec<world_file::Project> = cat
        .projects
        .iter()
        .map(|p| world_file::Project {
            id: p.name.clone(),
            client_key: fake_token(&mut rng, "client", &p.name),
        })
        .collect();
    let admin_key = format!("sk-gatesim-admin-{:016x}", rng.random::<u64>());
    let log = Arc::new(Log::new());
    let fakes = providers::start(world.clone(), seed, Arc::new(tokens), log.clone())
        .await
        .map_err(|e| format!("cannot start the fake providers: {e}"))?;
    Ok(Stage {
        log,
        fakes,
        credentials,
        projects,
        admin_key,
    })
}

/// The world file of a run whose gateway listens on `port`.
fn world_file(file: &Path, world: &World, stage: &Stage, port: u16) -> Result<WorldFile, String> {
    let cat = &world.catalog;
    let (fakes, credentials, admin_key) =
        (&stage.fakes, stage.credentials.clone(), &stage.admin_key);
    let projects = &stage.projects;
    let base_url = format!("http://127.0.0.1:{port}");
    let c = &world.contract;
    Ok(WorldFile {
        scenario: std::fs::canonicalize(file).map_err(|e| format!("{}: {e}", file.display()))?,
        scenario_id: world.id.clone(),
        listen: format!("127.0.0.1:{port}"),
        port,
        base_url: base_url.clone(),
        upstreams: fakes
            .places
            .iter()
            .map(|p| world_file::Upstream {
                provider: cat.provider(p.provider).name.clone(),
                region: cat.region_name(p.region).to_string(),
                endpoint: p.endpoint.clone(),
                style: p.style.name().to_string(),
                base_url: format!("http://{}", p.addr),
            })
            .collect(),
        credentials,
        projects: projects.clone(),
        models: cat
            .models
            .iter()
            .filter(|m| !m.is_alias())
            .map(|m| world_file::Model {
                id: m.name.clone(),
                served_by: m
                    .served_by
                    .iter()
                    .map(|s| world_file::Serving {
                        provider: cat.provider(s.provider).name.clone(),
                        region: cat.region_name(s.region).to_string(),
                        upstream: s.upstream.clone(),
                    })
                    .collect(),
            })
            .collect(),
        aliases: cat
            .models
            .iter()
            .filter(|m| m.is_alias())
            .map(|m| world_file::Alias {
                id: m.name.clone(),
                members: m
                    .alias_of
                    .iter()
                    .map(|a| cat.model(*a).name.clone())
                    .collect(),
            })
            .collect(),
        contract: world_file::Contract {
            attempts_max: c.attempts_max,
            errors_consecutive_max: c.errors_consecutive_max,
            unhealthy_for_ms: c.unhealthy_for.as_ms(),
            retry_after_default_ms: c.retry_after_default.as_ms(),
            retry_after_cap_ms: c.retry_after_cap.as_ms(),
            suspension_for_ms: c.suspension_for.as_ms(),
            attempt_timeout_ms: c.attempt_timeout.as_ms(),
            wait_max_ms: c.wait_max.as_ms(),
        },
        admin_key: admin_key.clone(),
    })
}

/// Renders the gateway's config (if the adapter says how) and starts it in its own
/// process group, its output to the run's `gateway.log`.
fn start_gateway(
    adapter: &Adapter,
    vars: &BTreeMap<&'static str, String>,
    knobs: &[String],
    dir: &Path,
) -> Result<Gateway, String> {
    let envs: Vec<(String, String)> = adapter
        .env
        .iter()
        .map(|(k, v)| adapter::fill(v, vars).map(|v| (k.clone(), v)))
        .collect::<Result<_, _>>()?;
    if !adapter.render.is_empty() {
        let argv: Vec<String> = adapter
            .render
            .iter()
            .map(|a| adapter::fill(a, vars))
            .collect::<Result<_, _>>()?;
        let log = dir.join("render.log");
        let out = std::fs::File::create(&log).map_err(|e| format!("{}: {e}", log.display()))?;
        let err = out
            .try_clone()
            .map_err(|e| format!("{}: {e}", log.display()))?;
        let status = std::process::Command::new(&argv[0])
            .args(&argv[1..])
            .envs(envs.iter().cloned())
            .stdout(out)
            .stderr(err)
            .status()
            .map_err(|e| format!("render: cannot run {}: {e}", argv[0]))?;
        if !status.success() {
            return Err(format!(
                "render: {} failed ({status}; its output: {})",
                argv[0],
                log.display()
            ));
        }
    }
    let mut argv: Vec<String> = adapter
        .start
        .iter()
        .map(|a| adapter::fill(a, vars))
        .collect::<Result<_, _>>()?;
    for k in knobs {
        let mut with_knob = vars.clone();
        with_knob.insert("knob", k.clone());
        for a in &adapter.regression_args {
            argv.push(adapter::fill(a, &with_knob)?);
        }
    }
    let log_path = dir.join("gateway.log");
    let out =
        std::fs::File::create(&log_path).map_err(|e| format!("{}: {e}", log_path.display()))?;
    let err = out
        .try_clone()
        .map_err(|e| format!("{}: {e}", log_path.display()))?;
    let child = tokio::process::Command::new(&argv[0])
        .args(&argv[1..])
        .envs(envs.iter().cloned())
        .stdin(std::process::Stdio::null())
        .stdout(out)
        .stderr(err)
        .process_group(0)
        .kill_on_drop(true)
        .spawn()
        .map_err(|e| format!("cannot start {}: {e}", argv[0]))?;
    Ok(Gateway { child: Some(child) })
}

/// The run's directory, `target/blackbox/<adapter>/<scenario>[+knob...][.N]`, created.
fn run_dir(
    adapter: &Adapter,
    world: &World,
    knobs: &[String],
    rep: Option<u32>,
) -> Result<PathBuf, String> {
    let mut run_name = world.id.clone();
    for k in knobs {
        run_name.push('+');
        run_name.push_str(k);
    }
    if let Some(r) = rep {
        run_name.push_str(&format!(".{r}"));
    }
    let dir = Path::new("target/blackbox")
        .join(&adapter.name)
        .join(run_name);
    std::fs::create_dir_all(&dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    let dir = std::fs::canonicalize(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    Ok(dir)
}

/// A gateway started and ready, with what reaches it.
pub struct Launched {
    /// The process group (stopped when dropped).
    pub gateway: Gateway,
    /// The placeholders filled for this run.
    pub vars: BTreeMap<&'static str, String>,
    /// A pooled client.
    pub client: Client<hyper_util::client::legacy::connect::HttpConnector, Full<Bytes>>,
    /// The world file, removed when dropped.
    secrets: Secrets,
}

/// Writes the world file, renders the gateway's config, starts it and waits until it is
/// ready; `run_name` names the run's directory.
pub async fn launch(
    file: &Path,
    world: &World,
    stage: &Stage,
    adapter: &Adapter,
    knobs: &[String],
    rep: Option<u32>,
) -> Result<Launched, String> {
    let port = free_port().map_err(|e| format!("no free port: {e}"))?;
    let base_url = format!("http://127.0.0.1:{port}");
    let admin_key = &stage.admin_key;
    let wf = world_file(file, world, stage, port)?;
    let dir = run_dir(adapter, world, knobs, rep)?;
    let world_path = dir.join("world.json");
    write_private(
        &world_path,
        &serde_json::to_string_pretty(&wf).unwrap_or_default(),
    )
    .map_err(|e| format!("cannot write {}: {e}", world_path.display()))?;
    let secrets = Secrets(world_path.clone());
    let mut vars: BTreeMap<&str, String> = BTreeMap::new();
    let exe = std::env::current_exe().map_err(|e| format!("cannot find gatesim itself: {e}"))?;
    vars.insert("gatesim", exe.display().to_string());
    let root = std::env::current_dir().map_err(|e| format!("no working directory: {e}"))?;
    vars.insert("root", root.display().to_string());
    vars.insert("world", world_path.display().to_string());
    vars.insert("dir", dir.display().to_string());
    vars.insert(
        "adapters",
        std::fs::canonicalize(&adapter.dir)
            .unwrap_or_default()
            .display()
            .to_string(),
    );
    vars.insert("port", port.to_string());
    vars.insert("base_url", base_url.clone());
    vars.insert("admin_key", admin_key.clone());
    let mut gateway = start_gateway(adapter, &vars, knobs, &dir)?;
    let client: Client<_, Full<Bytes>> = Client::builder(TokioExecutor::new())
        .pool_idle_timeout(Duration::from_secs(30))
        .build_http();
    let health_url = adapter::fill(&adapter.health.url, &vars)?;
    let health_headers: Vec<(String, String)> = adapter
        .health
        .headers
        .iter()
        .map(|(k, v)| adapter::fill(v, &vars).map(|v| (k.clone(), v)))
        .collect::<Result<_, _>>()?;
    let ready = wait_ready(
        &client,
        &health_url,
        &health_headers,
        adapter.health.timeout_s,
        &mut gateway,
    )
    .await;
    if let Err(e) = ready {
        gateway.stop().await;
        drop(secrets);
        return Err(format!(
            "{e} (the gateway's output: {})",
            dir.join("gateway.log").display()
        ));
    }
    Ok(Launched {
        gateway,
        vars,
        client,
        secrets,
    })
}

#[allow(clippy::too_many_lines)] // one run from start to verdict, in order
async fn run_one(unit: &Unit, adapter: &Adapter) -> Result<Outcome, String> {
    let (file, world, seed, knobs) = (&unit.file, unit.world.clone(), unit.seed, &unit.knobs);
    let stage = stage(&world, seed).await?;
    let Launched {
        mut gateway,
        vars,
        client,
        secrets,
    } = launch(file, &world, &stage, adapter, knobs, unit.rep).await?;
    let Stage {
        log,
        fakes,
        projects,
        ..
    } = stage;
    let c = &world.contract;
    let arrivals = gatesim_sim::workload::resolve(&world.workload, seed);
    let client_url = adapter::fill(&adapter.client.url, &vars)?;
    log.start();
    let clock = log.clock();
    let mut tasks = Vec::new();
    for (tag, (at, request)) in arrivals.into_iter().enumerate() {
        let tag = tag as u64;
        let project = &projects[request.project.index()];
        let mut with_key = vars.clone();
        with_key.insert("client_key", project.client_key.clone());
        let headers: Vec<(String, String)> = adapter
            .client
            .headers
            .iter()
            .map(|(k, v)| adapter::fill(v, &with_key).map(|v| (k.clone(), v)))
            .collect::<Result<_, _>>()?;
        let call = ClientCall {
            tag,
            project: project.id.clone(),
            model: request.model.to_string(),
            stream: request.stream,
            url: client_url.clone(),
            headers,
        };
        log.named(tag, &call.model);
        let (client, log) = (client.clone(), log.clone());
        tasks.push(tokio::spawn(async move {
            tokio::time::sleep_until(clock.wall(at)).await;
            call.go(&client, &log).await;
        }));
    }
    // Every request gets the scenario's span plus a generous margin to be answered.
    let margin = Duration::from_millis(
        world.duration.as_ms()
            + 4 * c.wait_max.as_ms()
            + 4 * u64::from(c.attempts_max) * c.attempt_timeout.as_ms(),
    ) + Duration::from_secs(20);
    let all = join_all(tasks);
    let timed_out = tokio::time::timeout_at(clock.wall(gatesim_core::Instant::ZERO) + margin, all)
        .await
        .is_err();
    gateway.stop().await;
    drop(fakes);
    drop(secrets);
    let text = log.to_text(&world.id, &adapter.name);
    let h = history::parse(&text).map_err(|e| format!("the recorded history: {e}"))?;
    let violations =
        history::check(&world, &h).map_err(|e| format!("the recorded history: {e}"))?;
    let mut verdict = String::new();
    verdict.push_str(&format!(
        "\n== black box: {} through {}{} (seed {seed})\n",
        file.display(),
        adapter.name,
        if knobs.is_empty() {
            String::new()
        } else {
            format!(" with {}", knobs.join(", "))
        }
    ));
    if timed_out {
        verdict.push_str("   some requests were still unanswered when the run gave up on them\n");
    }
    for p in log.problems() {
        verdict.push_str(&format!("   harness: {p}\n"));
    }
    verdict.push_str(&history::verdict(&world, &h, &violations));
    let mut failed: Vec<&'static str> = violations.iter().map(|v| v.invariant.name()).collect();
    failed.sort_unstable();
    failed.dedup();
    let requests = h.request_tags().len();
    let row = format!(
        "{:<36} {:<14} {:>8} {:<40} {}",
        world.id,
        adapter.name,
        requests,
        if failed.is_empty() {
            "all hold".to_string()
        } else {
            failed.join(", ")
        },
        if violations.is_empty() {
            "PASS"
        } else {
            "FAIL"
        }
    );
    Ok(Outcome {
        history: text,
        verdict,
        row,
        violations: violations.len(),
        failed: failed.clone(),
        problems: log.problems(),
    })
}

/// Removes the world file (it holds the run's tokens) when the run ends, however it ends.
struct Secrets(PathBuf);

impl Drop for Secrets {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

fn write_private(path: &Path, text: &str) -> std::io::Result<()> {
    use std::io::Write as _;
    use std::os::unix::fs::OpenOptionsExt as _;
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)?;
    f.write_all(text.as_bytes())
}

async fn join_all(tasks: Vec<tokio::task::JoinHandle<()>>) {
    for t in tasks {
        let _ = t.await;
    }
}

async fn wait_ready(
    client: &Client<hyper_util::client::legacy::connect::HttpConnector, Full<Bytes>>,
    url: &str,
    headers: &[(String, String)],
    timeout_s: u64,
    gateway: &mut Gateway,
) -> Result<(), String> {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(timeout_s);
    loop {
        if let Some(child) = gateway.child.as_mut() {
            if let Ok(Some(status)) = child.try_wait() {
                return Err(format!("the gateway exited before it was ready ({status})"));
            }
        }
        let mut req = hyper::Request::get(url);
        for (k, v) in headers {
            req = req.header(k, v);
        }
        if let Ok(req) = req.body(Full::new(Bytes::new())) {
            if let Ok(Ok(resp)) =
                tokio::time::timeout(Duration::from_secs(2), client.request(req)).await
            {
                if resp.status().is_success() {
                    return Ok(());
                }
            }
        }
        if tokio::time::Instant::now() > deadline {
            return Err(format!(
                "the gateway was not ready within {timeout_s} s ({url})"
            ));
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// One client request.
struct ClientCall {
    tag: u64,
    project: String,
    model: String,
    stream: bool,
    url: String,
    headers: Vec<(String, String)>,
}

impl ClientCall {
    async fn go(
        self,
        client: &Client<hyper_util::client::legacy::connect::HttpConnector, Full<Bytes>>,
        log: &Log,
    ) {
        let prompt = wire::prompt(self.tag);
        let body = serde_json::json!({
            "model": self.model,
            "messages": [{"role": "user", "content": prompt}],
            "stream": self.stream,
        })
        .to_string();
        let mut req = hyper::Request::post(&self.url).header("content-type", "application/json");
        for (k, v) in &self.headers {
            req = req.header(k, v);
        }
        log.push(|t_ms| Line::Request {
            t_ms,
            request: Tag::Number(self.tag),
            project: self.project.clone(),
            model: self.model.clone(),
            request_kind: "chat".to_string(),
            stream: self.stream,
            byok: None,
            iterations: 1,
            body_digest: Some(format!("{:016x}", fnv1a(prompt.as_bytes()))),
        });
        let answer = match req.body(Full::new(Bytes::from(body))) {
            Ok(req) => client.request(req).await.ok(),
            Err(_) => None,
        };
        let Some(resp) = answer else {
            // The gateway refused the connection: the client got no answer at all.
            log.push(|t_ms| Line::Response {
                t_ms,
                request: Tag::Number(self.tag),
                status: 0,
                retry_after_s: None,
                stream_error: None,
            });
            return;
        };
        let status = resp.status().as_u16();
        let retry_after_s = resp
            .headers()
            .get("retry-after")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u64>().ok());
        let mut body = resp.into_body();
        let mut bytes = Vec::new();
        while let Some(frame) = body.frame().await {
            match frame {
                Ok(f) => {
                    if let Some(d) = f.data_ref() {
                        bytes.extend_from_slice(d);
                    }
                }
                Err(_) => break,
            }
        }
        let stream_error = if status == 200 && self.stream {
            in_stream_error(&String::from_utf8_lossy(&bytes))
        } else {
            None
        };
        log.push(|t_ms| Line::Response {
            t_ms,
            request: Tag::Number(self.tag),
            status,
            retry_after_s,
            stream_error,
        });
    }
}

/// An error event in a 200 stream: `data: {"error": {"code": 429, "retry_after_s": 3}}`
/// (gatesim serve's), or OpenAI-style `{"error": {"code": "429"}}`.
fn in_stream_error(body: &str) -> Option<InStream> {
    for line in body.lines() {
        let Some(data) = line.strip_prefix("data: ") else {
            continue;
        };
        let Ok(v) = serde_json::from_str::<serde_json::Value>(data) else {
            continue;
        };
        let Some(e) = v.get("error") else { continue };
        let code = e.get("code").and_then(|c| {
            c.as_u64()
                .or_else(|| c.as_str().and_then(|s| s.parse().ok()))
        });
        let status = code.and_then(|c| u16::try_from(c).ok()).unwrap_or(500);
        let retry_after_s = e.get("retry_after_s").and_then(serde_json::Value::as_u64);
        return Some(InStream {
            status,
            retry_after_s,
        });
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_error_in_a_stream_is_read() {
        let body =
            "data: {\"choices\":[]}\n\ndata: {\"error\":{\"code\":429,\"retry_after_s\":3}}\n\n";
        assert_eq!(
            in_stream_error(body),
            Some(InStream {
                status: 429,
                retry_after_s: Some(3)
            })
        );
        assert_eq!(in_stream_error("data: [DONE]\n\n"), None);
    }

    #[test]
    fn tokens_are_fake_and_distinct() {
        let mut rng = gatesim_sim::seed::stream(1, "t");
        let a = fake_token(&mut rng, "token", "k0");
        let b = fake_token(&mut rng, "token", "k0");
        assert_ne!(a, b);
        assert!(a.starts_with("gatesim-fake-token-k0-"));
        assert!(gatesim_sim::scenario::redact(&a) == a || !a.starts_with("sk-"));
    }
}
