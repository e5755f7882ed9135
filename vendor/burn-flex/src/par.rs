//! Element-wise maps split across rayon's threads (minbert patch; see vendor/README.md).
//!
//! Upstream burn-flex 0.22.1 runs unary and binary element-wise ops and random tensors as
//! single-threaded scalar loops. In minbert's training profile GELU's `erf` and `exp` and the
//! dropout masks took a third of the CPU time on one core while the matmuls used all of them.
//! Each element's result does not depend on how the slice is split, so these maps give the
//! same numbers as the serial loops.

use alloc::vec::Vec;

/// Elements per task: big enough that splitting costs nothing next to the work, small
/// enough that every core of a small CPU gets some of a BERT-sized activation.
pub(crate) const CHUNK: usize = 1 << 14;

/// `dst[i] = op(dst[i])`.
pub(crate) fn map_inplace<E, Op>(dst: &mut [E], op: Op)
where
    E: Copy + Send + Sync,
    Op: Fn(E) -> E + Sync,
{
    #[cfg(feature = "rayon")]
    if dst.len() > CHUNK {
        use rayon::prelude::*;
        dst.par_chunks_mut(CHUNK).for_each(|chunk| {
            for x in chunk.iter_mut() {
                *x = op(*x);
            }
        });
        return;
    }
    for x in dst.iter_mut() {
        *x = op(*x);
    }
}

/// `op(src[i])` collected.
pub(crate) fn map<E, Op>(src: &[E], op: Op) -> Vec<E>
where
    E: Copy + Send + Sync,
    Op: Fn(E) -> E + Sync,
{
    #[cfg(feature = "rayon")]
    if src.len() > CHUNK {
        use rayon::prelude::*;
        return src.par_iter().with_min_len(CHUNK).map(|&x| op(x)).collect();
    }
    src.iter().map(|&x| op(x)).collect()
}

/// `dst[i] = op(dst[i], rhs[i])`.
pub(crate) fn zip_inplace<E, Op>(dst: &mut [E], rhs: &[E], op: Op)
where
    E: Copy + Send + Sync,
    Op: Fn(E, E) -> E + Sync,
{
    #[cfg(feature = "rayon")]
    if dst.len() > CHUNK {
        use rayon::prelude::*;
        dst.par_chunks_mut(CHUNK)
            .zip(rhs.par_chunks(CHUNK))
            .for_each(|(d, r)| {
                for (l, &r) in d.iter_mut().zip(r) {
                    *l = op(*l, r);
                }
            });
        return;
    }
    for (l, &r) in dst.iter_mut().zip(rhs) {
        *l = op(*l, r);
    }
}

/// `op(lhs[i], rhs[i])` collected.
pub(crate) fn zip_map<E, Op>(lhs: &[E], rhs: &[E], op: Op) -> Vec<E>
where
    E: Copy + Send + Sync,
    Op: Fn(E, E) -> E + Sync,
{
    #[cfg(feature = "rayon")]
    if lhs.len() > CHUNK {
        use rayon::prelude::*;
        return lhs
            .par_iter()
            .zip(rhs.par_iter())
            .with_min_len(CHUNK)
            .map(|(&a, &b)| op(a, b))
            .collect();
    }
    lhs.iter().zip(rhs).map(|(&a, &b)| op(a, b)).collect()
}

/// `n` f32 samples of `distribution`. Large tensors are drawn in chunks, each from its own
/// generator seeded by one draw of `rng`, so the values depend on the seed and `n` only,
/// not on the number of threads. One sampler per chunk, not one per element as
/// `TensorData::random` builds.
pub(crate) fn random_f32(
    n: usize,
    distribution: burn_std::Distribution,
    rng: &mut crate::backend::FlexRng,
) -> Vec<f32> {
    use burn_std::rand::{RngExt, SeedableRng};
    if let burn_std::Distribution::Bernoulli(p) = distribution {
        return bernoulli_f32(n, p, rng.random());
    }
    let sample = |len: usize, rng: &mut crate::backend::FlexRng| -> Vec<f32> {
        let mut sampler = distribution.sampler::<_, f32>(rng);
        (0..len).map(|_| sampler.sample()).collect()
    };
    if n <= CHUNK {
        return sample(n, rng);
    }
    let base: u64 = rng.random();
    let chunk_rng = |i: usize| crate::backend::FlexRng::seed_from_u64(chunk_seed(base, i));
    let chunks = n.div_ceil(CHUNK);
    let len = |i: usize| CHUNK.min(n - i * CHUNK);
    #[cfg(feature = "rayon")]
    {
        use rayon::prelude::*;
        (0..chunks)
            .into_par_iter()
            .flat_map_iter(|i| sample(len(i), &mut chunk_rng(i)))
            .collect()
    }
    #[cfg(not(feature = "rayon"))]
    {
        (0..chunks)
            .flat_map(|i| sample(len(i), &mut chunk_rng(i)))
            .collect()
    }
}

/// The seed of chunk `i` of a tensor whose chunks are drawn from `base`.
fn chunk_seed(base: u64, i: usize) -> u64 {
    base ^ (i as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15)
}

/// `n` Bernoulli(`p`) draws as 0.0 / 1.0: dropout's masks. Each element compares 32 random
/// bits with `p * 2^32` (two elements per 64-bit draw), each chunk from its own Xoshiro256++
/// seeded from `seed` and the chunk's index. Through the generic sampler every element cost
/// a 64-bit ChaCha12 draw and a call: 12% of a LoRA training step's CPU time.
pub(crate) fn bernoulli_f32(n: usize, p: f64, seed: u64) -> Vec<f32> {
    use rand::rngs::Xoshiro256PlusPlus;
    use rand::{Rng, SeedableRng};
    // `p` in [0, 1] (rand's Bernoulli checks that for the other dtypes): 2^32 is "always".
    let threshold = (p.clamp(0.0, 1.0) * 4_294_967_296.0) as u64;
    let fill = |i: usize, out: &mut [f32]| {
        let mut rng = Xoshiro256PlusPlus::seed_from_u64(chunk_seed(seed, i));
        for pair in out.chunks_mut(2) {
            let bits = rng.next_u64();
            for (k, x) in pair.iter_mut().enumerate() {
                *x = if (bits >> (32 * k)) & 0xFFFF_FFFF < threshold { 1.0 } else { 0.0 };
            }
        }
    };
    let mut out = alloc::vec![0.0f32; n];
    #[cfg(feature = "rayon")]
    {
        use rayon::prelude::*;
        out.par_chunks_mut(CHUNK).enumerate().for_each(|(i, chunk)| fill(i, chunk));
    }
    #[cfg(not(feature = "rayon"))]
    for (i, chunk) in out.chunks_mut(CHUNK).enumerate() {
        fill(i, chunk);
    }
    out
}
