//! The `gatesim` command: see `gatesim --help`.

fn main() -> std::process::ExitCode {
    gatesim_sim::cli::main()
}
