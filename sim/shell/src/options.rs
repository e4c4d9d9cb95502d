//! How a shell run is set up, what it returns, and how it can fail.

use gatesim_core::{ConfigError, Duration, Instant};
use gatesim_sim::engine::Run;
use thiserror::Error;

/// How a regional outage is put on the simulated network.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum OutageStyle {
    /// Clog the region's provider node: a `connect` outage clogs it both ways (new
    /// connections are refused, open ones hang), a `timeout` outage clogs its outgoing
    /// side (requests arrive, answers never leave until it ends).
    #[default]
    Clog,
    /// Kill a `connect` outage's node at its start (open connections are reset, new ones
    /// refused) and restart it at its end; `timeout` outages still clog the outgoing side.
    KillRestart,
}

/// A deliberate embedding bug, to show that the invariants catch a broken shell.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ShellBug {
    /// A stream that broke after its first byte is reported to the core as a connection
    /// error ("the socket died"), so the core fails over after bytes reached the client.
    MidStreamBreakAsConnectError,
    /// Answers are matched to attempts by provider × region instead of attempt id: with
    /// several attempts in flight to one place, an answer goes to the newest of them.
    AnswersMatchedByPlace,
}

/// Options of one shell run.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ShellOptions {
    /// The root seed: madsim's runtime seed and the world's seeded streams (workload,
    /// fake providers, client disconnects), as `RunOptions::seed` is for the engine.
    pub seed: u64,
    /// Listening endpoints per provider node; connections are spread over them by
    /// attempt id (one endpoint accepts at most one connection per simulated ms).
    pub endpoints_per_node: u16,
    /// Clients that disconnect before their answer if it takes longer than `patience`,
    /// in basis points of all requests (drawn from the seeded stream `shell/clients`).
    pub disconnect_bp: u32,
    /// How long a disconnecting client waits for its answer.
    pub patience: Duration,
    /// How outages are put on the network.
    pub outage_style: OutageStyle,
    /// A deliberate embedding bug (tests of the checker), `None` for the real shell.
    pub bug: Option<ShellBug>,
}

impl ShellOptions {
    /// The plain shell with a seed: 8 endpoints per node, no disconnects, clogged outages.
    pub fn new(seed: u64) -> ShellOptions {
        ShellOptions {
            seed,
            endpoints_per_node: 8,
            disconnect_bp: 0,
            patience: Duration::from_secs(2),
            outage_style: OutageStyle::Clog,
            bug: None,
        }
    }
}

/// What a shell run saw besides the trace: how concurrent it was and what the network did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ShellStats {
    /// Most client requests open at once.
    pub requests_in_flight_max: usize,
    /// Most upstream attempts in flight at once.
    pub attempts_in_flight_max: usize,
    /// Attempts whose connection was refused or reset (outage).
    pub connects_failed: u64,
    /// Attempts whose gateway deadline passed first.
    pub attempt_timeouts: u64,
    /// Clients that disconnected before their answer (requests cancelled in the core).
    pub disconnects: u64,
    /// In-flight attempts dropped by those cancellations.
    pub attempts_cancelled: u64,
    /// Answers that reached the gateway after their attempt had timed out.
    pub stale_answers: u64,
    /// Messages madsim's network carried.
    pub net_messages: u64,
}

/// A finished shell run: the engine-shaped [`Run`] the checker reads, and the shell's stats.
#[derive(Debug)]
pub struct ShellRun {
    /// Trace, responses and final state, as the engine produces them.
    pub run: Run,
    /// Concurrency and network figures.
    pub stats: ShellStats,
}

/// A shell run that could not complete.
#[derive(Debug, Error)]
pub enum ShellError {
    /// The world's configuration is unusable.
    #[error("invalid configuration: {0}")]
    Config(#[from] ConfigError),
    /// The world does not fit the shell's address plan.
    #[error("world too large for the shell: {0}")]
    TooLarge(&'static str),
    /// The input bound was hit: a livelock or a runaway retry loop.
    #[error(
        "no progress: {steps} gateway inputs with {open} requests open (steps_max {steps_max})"
    )]
    StepsExceeded {
        /// Inputs fed to the gateway.
        steps: u64,
        /// Bound.
        steps_max: u64,
        /// Requests still open.
        open: usize,
    },
    /// Simulated time ran past its bound with requests still open.
    #[error("requests still open at {at} (sim_time_max): {open} open")]
    TimeExceeded {
        /// Sim time.
        at: Instant,
        /// Requests still open.
        open: usize,
    },
    /// A provider node did not start listening in time.
    #[error("provider nodes not listening {waited_ms} ms after start ({ready} of {nodes})")]
    ProvidersNotReady {
        /// Simulated wait.
        waited_ms: u64,
        /// Nodes listening.
        ready: usize,
        /// Nodes.
        nodes: usize,
    },
}
