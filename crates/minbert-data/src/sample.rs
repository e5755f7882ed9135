//! Seeded random choices that must be the same on every machine and release: subsets of a
//! dataset, and the random streams the trainer draws its task order from.

use rand_chacha::ChaCha8Rng;
use rand_chacha::rand_core::{RngCore, SeedableRng};

use crate::{CourseTask, EncodedDataset};

/// A ChaCha8 generator for `(seed, purpose, stream)`: independent sequences for independent
/// decisions, the same on every machine.
pub fn rng(seed: u64, purpose: u64, stream: u64) -> ChaCha8Rng {
    let mut key = [0u8; 32];
    key[..8].copy_from_slice(&seed.to_le_bytes());
    key[8..16].copy_from_slice(&purpose.to_le_bytes());
    let mut rng = ChaCha8Rng::from_seed(key);
    rng.set_stream(stream);
    rng
}

/// Purposes of [`rng`] streams: the task order of an epoch, the train subset, the dev subset.
pub const TASK_ORDER: u64 = 1;
pub const TRAIN_SUBSET: u64 = 2;
pub const DEV_SUBSET: u64 = 3;

/// An unbiased integer in `0..n` (Lemire's method).
pub fn below(rng: &mut ChaCha8Rng, n: u64) -> u64 {
    let threshold = n.wrapping_neg() % n;
    loop {
        let product = u128::from(rng.next_u64()) * u128::from(n);
        if product as u64 >= threshold {
            return (product >> 64) as u64;
        }
    }
}

/// Cuts a dev set to the `n` examples the trainer scores with `data.dev_subset = n` (the same
/// sample whatever the run's seed, so runs with different seeds are scored alike, and a
/// checkpoint can be re-scored on exactly its dev subset).
pub fn dev_subset(set: &mut EncodedDataset, n: usize, task: CourseTask) {
    if n > 0 && n < set.len() {
        sample(set, n, 0, DEV_SUBSET, task);
    }
}

/// Keeps a seeded random sample of `n` examples, in file order.
pub fn sample(set: &mut EncodedDataset, n: usize, seed: u64, purpose: u64, task: CourseTask) {
    let mut rng = rng(seed, purpose, task as u64);
    // A partial Fisher-Yates: the first n positions end up a uniform sample.
    let mut order: Vec<usize> = (0..set.len()).collect();
    for i in 0..n {
        let j = i + below(&mut rng, (order.len() - i) as u64) as usize;
        order.swap(i, j);
    }
    let mut keep = order[..n].to_vec();
    keep.sort_unstable();
    let examples = std::mem::take(&mut set.examples);
    let mut examples: Vec<_> = examples.into_iter().map(Some).collect();
    set.examples = keep
        .into_iter()
        .map(|i| examples[i].take().expect("indices are distinct"))
        .collect();
}
