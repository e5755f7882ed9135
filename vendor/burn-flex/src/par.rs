//! Element-wise maps split across rayon's threads (minbert patch; see vendor/README.md).
//!
//! Upstream burn-flex 0.22.1 runs unary and binary element-wise ops and random tensors as
//! single-threaded scalar loops. In minbert's training profile GELU's `erf` and `exp` and the
//! dropout masks took a third of the CPU time on one core while the matmuls used all of them.
//! Each element's result does not depend on how the slice is split, so these maps give the
//! same numbers as the serial loops.

use alloc::vec::Vec;
use core::mem::MaybeUninit;

/// Elements per task: big enough that splitting costs nothing next to the work, small
/// enough that every core of a small CPU gets some of a BERT-sized activation.
pub(crate) const CHUNK: usize = 1 << 14;

/// `dst[i] = op(dst[i])`.
pub(crate) fn map_inplace<E, Op>(dst: &mut [E], op: Op)
where
    E: Copy + Send + Sync,
    Op: Unary<E>,
{
    split_mut(dst, |d, _| run(MapInplace { dst: d, op: &op }));
}

/// `op(src[i])` collected.
pub(crate) fn map<E, Op>(src: &[E], op: Op) -> Vec<E>
where
    E: Copy + Send + Sync,
    Op: Unary<E>,
{
    let mut out = Vec::with_capacity(src.len());
    split_mut(&mut out.spare_capacity_mut()[..src.len()], |d, start| {
        let src = &src[start..start + d.len()];
        run(Map { dst: d, src, op: &op })
    });
    // SAFETY: every element up to `src.len()` was written above.
    unsafe { out.set_len(src.len()) };
    out
}

/// `dst[i] = op(dst[i], rhs[i])`.
pub(crate) fn zip_inplace<E, Op>(dst: &mut [E], rhs: &[E], op: Op)
where
    E: Copy + Send + Sync,
    Op: Binary<E>,
{
    split_mut(dst, |d, start| {
        let rhs = &rhs[start..start + d.len()];
        run(ZipInplace { dst: d, rhs, op: &op })
    });
}

/// `op(lhs[i], rhs[i])` collected.
pub(crate) fn zip_map<E, Op>(lhs: &[E], rhs: &[E], op: Op) -> Vec<E>
where
    E: Copy + Send + Sync,
    Op: Binary<E>,
{
    let n = lhs.len().min(rhs.len());
    let mut out = Vec::with_capacity(n);
    split_mut(&mut out.spare_capacity_mut()[..n], |d, start| {
        let end = start + d.len();
        run(ZipMap { dst: d, lhs: &lhs[start..end], rhs: &rhs[start..end], op: &op })
    });
    // SAFETY: every element up to `n` was written above.
    unsafe { out.set_len(n) };
    out
}

/// Calls `f(chunk, offset)` on the `CHUNK`-element pieces of `dst`, across rayon's threads
/// when there is more than one piece.
fn split_mut<T: Send>(dst: &mut [T], f: impl Fn(&mut [T], usize) + Sync) {
    #[cfg(feature = "rayon")]
    if dst.len() > CHUNK {
        use rayon::prelude::*;
        dst.par_chunks_mut(CHUNK).enumerate().for_each(|(i, d)| f(d, i * CHUNK));
        return;
    }
    for (i, d) in dst.chunks_mut(CHUNK).enumerate() {
        f(d, i * CHUNK);
    }
}

/// An element-wise op for the maps above. Closures are ops; so are kernels that implement it
/// with an `#[inline(always)]` `apply`. LLVM inlines a closure into its loop by its cost
/// model, which leaves out a large body called from more than one place (GELU's derivative
/// with its `exp`): the loop then calls it once per element and does not vectorize. A
/// kernel's body is always inlined.
pub(crate) trait Unary<E>: Sync {
    fn apply(&self, x: E) -> E;
}

/// A binary [`Unary`].
pub(crate) trait Binary<E>: Sync {
    fn apply(&self, a: E, b: E) -> E;
}

impl<E, F: Fn(E) -> E + Sync> Unary<E> for F {
    #[inline(always)]
    fn apply(&self, x: E) -> E {
        self(x)
    }
}

impl<E, F: Fn(E, E) -> E + Sync> Binary<E> for F {
    #[inline(always)]
    fn apply(&self, a: E, b: E) -> E {
        self(a, b)
    }
}

/// `K` with its operands swapped: `apply(a, b) = K.apply(b, a)`, for in-place loops whose
/// destination holds the kernel's second operand.
pub(crate) struct Swapped<K>(pub K);

impl<E, K: Binary<E>> Binary<E> for Swapped<K> {
    #[inline(always)]
    fn apply(&self, a: E, b: E) -> E {
        self.0.apply(b, a)
    }
}

/// One element loop. The loops are generic over the op, so each op gets its own copy, which
/// [`run`] compiles for the CPU's vector width.
trait Loop {
    fn run(self);
}

/// Runs `l` built for AVX2 and FMA when the CPU has them (checked once, then cached by std).
/// The target's baseline, SSE2, works on 4 lanes: GELU's rational erf and its other
/// branch-free ops then vectorize 8 wide. Each lane does the same IEEE operations (Rust
/// does not contract `a * b + c` into an FMA), so the results are the same bits.
#[inline(always)]
fn run<L: Loop>(l: L) {
    #[cfg(all(feature = "std", target_arch = "x86_64"))]
    if std::is_x86_feature_detected!("avx2") && std::is_x86_feature_detected!("fma") {
        // SAFETY: the CPU has the features `run_avx2` is compiled for.
        unsafe { run_avx2(l) };
        return;
    }
    l.run()
}

#[cfg(all(feature = "std", target_arch = "x86_64"))]
#[target_feature(enable = "avx2,fma")]
unsafe fn run_avx2<L: Loop>(l: L) {
    l.run()
}

struct MapInplace<'a, E, Op> {
    dst: &'a mut [E],
    op: &'a Op,
}

impl<E: Copy, Op: Unary<E>> Loop for MapInplace<'_, E, Op> {
    #[inline(always)]
    fn run(self) {
        for x in self.dst.iter_mut() {
            *x = self.op.apply(*x);
        }
    }
}

struct Map<'a, E, Op> {
    dst: &'a mut [MaybeUninit<E>],
    src: &'a [E],
    op: &'a Op,
}

impl<E: Copy, Op: Unary<E>> Loop for Map<'_, E, Op> {
    #[inline(always)]
    fn run(self) {
        for (d, &x) in self.dst.iter_mut().zip(self.src) {
            d.write(self.op.apply(x));
        }
    }
}

struct ZipInplace<'a, E, Op> {
    dst: &'a mut [E],
    rhs: &'a [E],
    op: &'a Op,
}

impl<E: Copy, Op: Binary<E>> Loop for ZipInplace<'_, E, Op> {
    #[inline(always)]
    fn run(self) {
        for (l, &r) in self.dst.iter_mut().zip(self.rhs) {
            *l = self.op.apply(*l, r);
        }
    }
}

struct ZipMap<'a, E, Op> {
    dst: &'a mut [MaybeUninit<E>],
    lhs: &'a [E],
    rhs: &'a [E],
    op: &'a Op,
}

impl<E: Copy, Op: Binary<E>> Loop for ZipMap<'_, E, Op> {
    #[inline(always)]
    fn run(self) {
        for ((d, &a), &b) in self.dst.iter_mut().zip(self.lhs).zip(self.rhs) {
            d.write(self.op.apply(a, b));
        }
    }
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
    split_mut(&mut out, |chunk, start| fill(start / CHUNK, chunk));
    out
}
