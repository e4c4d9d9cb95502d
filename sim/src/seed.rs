//! One root seed → labelled ChaCha8 sub-streams, so adding a provider or a request does
//! not reshuffle the others.

use gatesim_core::fnv1a;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

/// Derives the sub-stream for `label` (e.g. `workload`, `provider/openai/us-east`).
pub fn stream(root: u64, label: &str) -> ChaCha8Rng {
    let mut seed = [0u8; 32];
    seed[..8].copy_from_slice(&root.to_le_bytes());
    seed[8..16].copy_from_slice(&fnv1a(label.as_bytes()).to_le_bytes());
    // A second, differently salted hash so labels sharing an FNV value still differ.
    let mut salted = Vec::with_capacity(label.len() + 8);
    salted.extend_from_slice(b"gatesim/");
    salted.extend_from_slice(label.as_bytes());
    seed[16..24].copy_from_slice(&fnv1a(&salted).to_le_bytes());
    seed[24..32].copy_from_slice(&(label.len() as u64).to_le_bytes());
    ChaCha8Rng::from_seed(seed)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::RngCore;

    #[test]
    fn streams_are_reproducible_and_independent() {
        let a1 = stream(7, "workload").next_u64();
        let a2 = stream(7, "workload").next_u64();
        let b = stream(7, "faults").next_u64();
        let c = stream(8, "workload").next_u64();
        assert_eq!(a1, a2);
        assert_ne!(a1, b);
        assert_ne!(a1, c);
    }
}
