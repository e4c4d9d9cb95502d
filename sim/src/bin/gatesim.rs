//! The `gatesim` command (arrives with the CLI).

fn main() {}
