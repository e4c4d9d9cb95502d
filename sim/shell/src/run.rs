//! Running a world through the shell: the supervisor that builds the nodes, starts the
//! gateway and injects the faults, and the entry points (`run`, `run_in_sim`, `judge`).

use crate::client::client;
use crate::clock::Clock;
use crate::net::{provider_ip, Net, Place, ProviderServer, GATEWAY_IP};
use crate::options::{ShellError, ShellOptions, ShellRun};
use crate::outage::inject;
use crate::service::Service;
use crate::shell::{lock, Shell};
use gatesim_core::{Gateway, Instant, KeyId, ProviderId, Request};
use gatesim_sim::check;
use gatesim_sim::metrics::Summary;
use gatesim_sim::provider::FakeProvider;
use gatesim_sim::runner::{expectations, Judge, Verdict};
use gatesim_sim::seed;
use gatesim_sim::swarm;
use gatesim_sim::trace::Names;
use gatesim_sim::workload;
use gatesim_sim::world::{FaultKind, World};
use madsim::net::NetSim;
use madsim::runtime::{Handle, Runtime};
use madsim::task::NodeId;
use rand::Rng;
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

/// Simulated time the provider nodes get to start listening before `t+0`: binding an
/// endpoint takes madsim at least 1 ms, and a node binds its endpoints one by one.
fn setup_time(endpoints_per_node: u16) -> std::time::Duration {
    std::time::Duration::from_millis(100 + 2 * u64::from(endpoints_per_node))
}

/// Runs a world through the shell in a fresh madsim runtime seeded with `options.seed`,
/// on a thread of its own (madsim's hash and OS randomness are deterministic only for
/// the first runtime on a thread). The world is run as given: resolve a swarm world first
/// (`gatesim_sim::swarm::resolve`), as for `gatesim_sim::engine::run`.
///
/// A panic inside the simulation is re-raised after printing the
/// `MADSIM_TEST_SEED=<seed>` line that reproduces it.
pub fn run(world: &World, options: &ShellOptions) -> Result<ShellRun, ShellError> {
    let seed = options.seed;
    let (world, options) = (world.clone(), options.clone());
    let thread = std::thread::Builder::new()
        .name(format!("gatesim-shell-{seed}"))
        .spawn(move || {
            let mut runtime = Runtime::with_seed_and_config(seed, madsim::Config::default());
            runtime.set_time_limit(sim_time_max(&world) + std::time::Duration::from_secs(3600));
            runtime.block_on(run_in_sim(&world, &options))
        })
        .expect("the OS lets the test spawn a thread for the madsim runtime");
    match thread.join() {
        Ok(result) => result,
        Err(panic) => {
            eprintln!(
                "note: run with `MADSIM_TEST_SEED={seed}` environment variable to reproduce this error"
            );
            std::panic::resume_unwind(panic)
        }
    }
}

/// Runs a world through the shell inside the current madsim runtime (a `#[madsim::test]`
/// body, `Runtime::block_on`), once per runtime (the nodes' IPs are fixed);
/// `options.seed` seeds the world's streams, the runtime keeps its own seed.
pub async fn run_in_sim(world: &World, options: &ShellOptions) -> Result<ShellRun, ShellError> {
    let handle = Handle::current();
    let setup = setup_time(options.endpoints_per_node);
    let clock = Clock::starting_in(setup);
    let gateway = Gateway::new(world.catalog.clone(), world.policy.clone())?;
    let arrivals = workload::resolve(&world.workload, options.seed);
    let shell = Arc::new(Mutex::new(Shell::new(
        gateway,
        Names::new(world),
        arrivals.len(),
        options.bug,
    )));

    let (places, nodes, ready) = start_providers(world, options, clock)?;
    clock.sleep_until(Instant::ZERO).await;
    let listening = ready.load(Ordering::SeqCst);
    if listening < nodes.len() {
        return Err(ShellError::ProvidersNotReady {
            waited_ms: setup.as_millis() as u64,
            ready: listening,
            nodes: nodes.len(),
        });
    }

    let gateway_node = handle.create_node().name("gateway").ip(GATEWAY_IP).build();
    let main = gateway_node.spawn(gateway_main(
        shell.clone(),
        clock,
        arrivals,
        places,
        options.clone(),
    ));
    let injector = madsim::task::spawn(inject(
        shell.clone(),
        clock,
        world.faults.faults.clone(),
        nodes,
        options.outage_style,
    ));
    let finished = madsim::time::timeout(sim_time_max(world), main).await;
    injector.abort();
    let mut shell = lock(&shell);
    if finished.is_err() {
        let open = shell.open_requests();
        shell.fail(ShellError::TimeExceeded {
            at: clock.now(),
            open,
        });
    }
    let net_messages = NetSim::current().stat().msg_count;
    let (run, stats) = shell.finish(options.seed, net_messages)?;
    Ok(ShellRun { run, stats })
}

/// A shell run judged like `gatesim_sim::runner::judge` judges an engine run.
#[derive(Debug)]
pub struct ShellVerdict {
    /// The verdict: world as run, run, summary, violations, expectations, trace hash.
    pub verdict: Verdict,
    /// The shell's concurrency and network figures.
    pub stats: crate::options::ShellStats,
}

/// Resolves a world's swarm faults for `options.seed`, runs it through the shell, checks
/// every invariant (determinism too when `how.determinism`: a second run must give a
/// byte-identical trace) and the scenario's expectations.
pub fn judge(
    world: &World,
    options: &ShellOptions,
    how: Judge,
) -> Result<ShellVerdict, ShellError> {
    let world = swarm::resolve(world, options.seed);
    let ShellRun { run, stats } = run(&world, options)?;
    let mut violations = check::check(world.terms(), &run);
    if how.determinism {
        let again = self::run(&world, options)?;
        violations.extend(check::check_determinism(&run, &again.run));
    }
    let summary = Summary::of(&world, &run);
    let failed_expectations = expectations(&world, &run, &summary);
    let trace_hash = run.trace.hash(&run.names);
    Ok(ShellVerdict {
        verdict: Verdict {
            world,
            seed: options.seed,
            run,
            summary,
            violations,
            failed_expectations,
            trace_hash,
        },
        stats,
    })
}

/// Where the provider nodes listen, their madsim ids, and the count of listening ones.
type Providers = (
    BTreeMap<Place, std::net::IpAddr>,
    BTreeMap<Place, NodeId>,
    Arc<AtomicUsize>,
);

/// Creates one node per provider × region, each fronting its own fake provider, seeded
/// with the engine's stream label. Outages are the network's business here, so the fake
/// providers do not see them.
fn start_providers(
    world: &World,
    options: &ShellOptions,
    clock: Clock,
) -> Result<Providers, ShellError> {
    let handle = Handle::current();
    let faults: Vec<_> = world
        .faults
        .faults
        .iter()
        .filter(|f| !matches!(f.kind, FaultKind::RegionOutage { .. }))
        .cloned()
        .collect();
    let ready = Arc::new(AtomicUsize::new(0));
    let cat = &world.catalog;
    let mut places = BTreeMap::new();
    let mut nodes = BTreeMap::new();
    for (pi, p) in cat.providers.iter().enumerate() {
        for r in &p.regions {
            let place = (ProviderId(pi as u32), *r);
            let label = format!("provider/{}/{}", p.name, cat.region_name(*r));
            let owner = |k: KeyId| cat.credential(k).provider;
            let fake = FakeProvider::new(
                place.0,
                place.1,
                world.providers.get(pi).cloned().unwrap_or_default(),
                &faults,
                &owner,
                seed::stream(options.seed, &label),
                cat.epoch_unix_s,
            );
            let ip = provider_ip(place)?;
            let server = ProviderServer {
                fake: Arc::new(Mutex::new(fake)),
                ip,
                endpoints: options.endpoints_per_node,
                clock,
                ready: ready.clone(),
            };
            let node = handle
                .create_node()
                .name(label)
                .ip(ip)
                .init(move || server.clone().serve())
                .build();
            places.insert(place, ip);
            nodes.insert(place, node.id());
        }
    }
    Ok((places, nodes, ready))
}

/// How long after `t+0` a run may go on: the workload plus a day, as the engine allows.
fn sim_time_max(world: &World) -> std::time::Duration {
    std::time::Duration::from_millis(world.duration.as_ms())
        + std::time::Duration::from_secs(24 * 3600)
}

/// The gateway node's main task: bind, then admit each client request at its arrival
/// time (in arrival order, so request ids follow the workload as in the engine) and
/// give it a task of its own; wait for every client.
async fn gateway_main(
    shell: Arc<Mutex<Shell>>,
    clock: Clock,
    arrivals: Vec<(Instant, Request)>,
    places: BTreeMap<Place, std::net::IpAddr>,
    options: ShellOptions,
) {
    let net = Net::bind(places, options.endpoints_per_node).await;
    let service = Service::new(shell, clock, net);
    let mut rng = seed::stream(options.seed, "shell/clients");
    let mut clients = Vec::with_capacity(arrivals.len());
    for (at, request) in arrivals {
        let leaves = rng.random_range(0..10_000u32) < options.disconnect_bp;
        clock.sleep_until(at).await;
        let Some((id, inbox)) = service.submit(request) else {
            break;
        };
        let patience = leaves.then_some(options.patience);
        clients.push(madsim::task::spawn(client(
            service.clone(),
            id,
            inbox,
            patience,
        )));
    }
    for c in clients {
        let _ = c.await;
    }
}
