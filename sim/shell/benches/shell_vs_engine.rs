//! Wall time of the same worlds through the engine and through the shell
//! (`cargo bench -p gatesim-shell`): the ratio the README quotes.

#[cfg(madsim)]
fn main() {
    use gatesim_shell::ShellOptions;
    use gatesim_sim::build::standard_swarm;
    use gatesim_sim::engine::{self, RunOptions};
    use gatesim_sim::swarm;

    // Wall time of the benchmark itself, read outside any simulation: the best of three,
    // so that other load on the machine counts as little as possible.
    #[allow(clippy::disallowed_methods)]
    fn timed<T>(mut f: impl FnMut() -> T) -> (T, f64) {
        let mut best = f64::MAX;
        let mut out = None;
        for _ in 0..3 {
            let start = std::time::Instant::now();
            out = Some(f());
            best = best.min(start.elapsed().as_secs_f64());
        }
        (out.expect("three runs"), best)
    }

    println!("world                     requests  engine ms  shell ms  shell/engine");
    let (mut engine_total, mut shell_total, mut requests_total) = (0.0, 0.0, 0);
    for (rate, secs) in [(10, 100), (40, 60), (200, 20)] {
        let (mut engine_s, mut shell_s, mut requests) = (0.0, 0.0, 0);
        for seed in 1..=3u64 {
            let world = swarm::resolve(&standard_swarm(rate, secs), seed);
            let (run, t) = timed(|| engine::run(&world, RunOptions { seed, record: true }));
            let run = run.expect("the engine runs the swarm");
            engine_s += t;
            requests += run.arrivals.len();
            let (shell, t) = timed(|| gatesim_shell::run(&world, &ShellOptions::new(seed)));
            shell.expect("the shell runs the swarm");
            shell_s += t;
        }
        println!(
            "standard-swarm {rate:>3}/s×{secs:>3}s {requests:>9} {:>10.1} {:>9.1} {:>12.1}",
            engine_s * 1000.0,
            shell_s * 1000.0,
            shell_s / engine_s
        );
        (engine_total, shell_total) = (engine_total + engine_s, shell_total + shell_s);
        requests_total += requests;
    }
    println!(
        "all                       {requests_total:>9} {:>10.1} {:>9.1} {:>12.1}   ({:.0} vs {:.0} requests/s)",
        engine_total * 1000.0,
        shell_total * 1000.0,
        shell_total / engine_total,
        requests_total as f64 / engine_total,
        requests_total as f64 / shell_total
    );
}

#[cfg(not(madsim))]
fn main() {
    eprintln!("the shell benchmark needs `--cfg madsim` (set in .cargo/config.toml; RUSTFLAGS replaces it)");
    std::process::exit(1);
}
