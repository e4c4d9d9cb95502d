//! Black-box mode: gatesim judging any gateway over real HTTP.
//!
//! - [`providers`]: the fake providers on loopback, answering from the fault plan on the
//!   wall clock in each style's wire format ([`wire`]), recording every attempt they get.
//! - [`serve`]: `gatesim serve`, gatesim's own core as an HTTP gateway.
//! - [`drive`]: `gatesim blackbox`, which starts a gateway from an [`adapter`] file, sends
//!   the workload in real time and judges the recorded history ([`record`]).
//!
//! The wall clock is read in one place, [`record::Clock`]; everything else takes time
//! from it.

pub mod adapter;
pub mod bench;
pub mod drive;
pub mod fidelity;
pub mod matrix;
pub mod providers;
pub mod record;
pub mod serve;
pub mod wire;
pub mod world_file;

/// The single-threaded runtime every black-box command runs on; `None` (the reason on
/// stderr, prefixed with `who`) when it cannot start.
pub(crate) fn runtime(who: &str) -> Option<tokio::runtime::Runtime> {
    match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(r) => Some(r),
        Err(e) => {
            eprintln!("{who}: cannot start the runtime: {e}");
            None
        }
    }
}
