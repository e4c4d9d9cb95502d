//! gatesim-shell: the sans-IO gateway core embedded in an async service on madsim, with
//! fake providers answering over madsim's simulated network.
//!
//! The discrete-event engine (`gatesim_sim::engine`) is the fast path for sweeps and
//! properties. The shell is where the core runs the way a production gateway runs it: a
//! task per client request, one shared core state, timers driven by
//! [`Gateway::poll_timeout`](gatesim_core::Gateway::poll_timeout), in-flight attempts
//! cancelled when their client disconnects, and one madsim node per provider × region
//! (each with its own IP) serving the same sans-IO
//! [`FakeProvider`](gatesim_sim::provider::FakeProvider) the engine uses. A regional
//! outage is the region's nodes clogged (or killed and restarted) on the network, not a
//! flag. The shell records the engine's [`Trace`](gatesim_sim::trace::Trace) with the
//! engine's [`Recorder`](gatesim_sim::recorder::Recorder) and builds an engine
//! [`Run`](gatesim_sim::engine::Run), so `gatesim_sim::check::check` judges it.
//!
//! Everything here needs `--cfg madsim` (set for the workspace in `.cargo/config.toml`);
//! without it this crate is empty and its test target fails with the fix.
//!
//! ```text
//!  clients ──(task per request)──▶ gateway node 10.0.0.1 ──connect──▶ provider nodes
//!                                   Arc<Mutex<Shell>>                  10.1.<p>.<r>:8000+
//!                                   (Gateway + trace)                  FakeProvider each
//!  supervisor: fault edges, clog / unclog / kill / restart provider nodes
//! ```

#[cfg(madsim)]
mod board;
#[cfg(madsim)]
mod client;
#[cfg(madsim)]
mod clock;
#[cfg(madsim)]
mod net;
#[cfg(madsim)]
mod options;
#[cfg(madsim)]
mod outage;
#[cfg(madsim)]
mod run;
#[cfg(madsim)]
mod service;
#[cfg(madsim)]
mod shell;

#[cfg(madsim)]
pub use options::{OutageStyle, ShellBug, ShellError, ShellOptions, ShellRun, ShellStats};
#[cfg(madsim)]
pub use run::{judge, run, run_in_sim, ShellVerdict};

/// Whether this build has `--cfg madsim` (without it the shell is compiled out).
pub const MADSIM_CFG: bool = cfg!(madsim);
