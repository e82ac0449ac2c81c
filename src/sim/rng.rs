//! The simulator's random source. `--seed` promises the same run again, on
//! any platform and after a `rand` upgrade, so the generator must be one
//! whose output is fixed by its specification: ChaCha8 (rand's `SmallRng` is
//! documented as neither portable nor stable across versions).

pub type SimRng = rand_chacha::ChaCha8Rng;

#[cfg(test)]
mod tests {
    use rand::{RngCore, SeedableRng};

    use super::SimRng;

    #[test]
    fn a_seed_gives_the_same_draws_everywhere() {
        // Fixed by ChaCha8 and rand_core's seed expansion; a change here means
        // every recorded `--seed` run would play differently.
        let mut rng = SimRng::seed_from_u64(1);
        let draws: Vec<u64> = (0..3).map(|_| rng.next_u64()).collect();
        assert_eq!(draws, GOLDEN);
    }

    const GOLDEN: [u64; 3] = [
        7_424_550_030_962_593_201,
        1_482_817_706_323_250_795,
        11_004_592_982_271_133_285,
    ];
}
