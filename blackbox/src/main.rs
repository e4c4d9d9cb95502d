//! The `gatesim` command: see `gatesim --help`.

use clap::{Parser, Subcommand};
use std::process::ExitCode;

/// gatesim: deterministic simulation of an LLM API gateway's routing, key health and key
/// pools, and black-box testing of real gateways over HTTP. Every run checks every
/// invariant; a failure prints the command that replays it.
#[derive(Debug, Parser)]
#[command(name = "gatesim", version, about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Top,
}

#[derive(Debug, Subcommand)]
enum Top {
    #[command(flatten)]
    Sim(gatesim_sim::cli::SimCommand),
    /// Serve gatesim's own core as an HTTP gateway (OpenAI-compatible), in front of the
    /// providers a config file names: the reference gateway black-box mode drives.
    Serve(gatesim_blackbox::serve::Args),
    /// Drive a real gateway over HTTP through a scenario (a file or a directory): fake
    /// providers on loopback, the gateway started from an adapter file, the recorded
    /// history judged with the invariants decidable from outside. Exit status as for `run`.
    Blackbox(gatesim_blackbox::drive::Args),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    gatesim_sim::cli::prepare();
    let code = match cli.command {
        Top::Sim(command) => gatesim_sim::cli::run_command(command),
        Top::Serve(args) => gatesim_blackbox::serve::main(&args),
        Top::Blackbox(args) => gatesim_blackbox::drive::main(&args),
    };
    ExitCode::from(code)
}
