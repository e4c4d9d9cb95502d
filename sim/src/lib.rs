//! gatesim-sim: a deterministic discrete-event simulator around the sans-IO gateway core.
//!
//! A [`World`](world::World) (from a scenario file) and a seed give a [`Trace`](trace::Trace)
//! of every decision; the [`check`] module verifies the invariants of `docs/invariants.md`
//! on it, independently of the core's own bookkeeping.

#![warn(unreachable_pub)]

pub mod bench;
pub mod build;
pub mod check;
pub mod cli;
pub mod contract;
pub mod engine;
pub mod history;
pub mod matrix;
pub mod metrics;
pub mod presets;
pub mod provider;
pub mod recorder;
pub mod runner;
pub mod scenario;
pub mod seed;
pub mod shrink;
pub mod snapshot;
pub mod swarm;
pub mod timeline;
pub mod trace;
pub mod workload;
pub mod world;
