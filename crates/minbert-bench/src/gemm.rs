//! `--mode gemm`: the backend's matrix product alone, on the products a step of
//! the benchmark's workload runs, so that the model's GFLOP/s can be set against what the
//! backend's GEMM reaches on the same shapes (and the comparison script's OpenBLAS on the FFN's).

use std::time::Instant;

use burn::tensor::{Device, Distribution, Tensor};
use minbert_model::BertConfig;
use serde::Serialize;

use crate::BenchError;

/// One `[m, k] · [k, n]` product of the workload.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct GemmShape {
    /// What the product is in the step (`ffn_up`, `adapter_a`, ...).
    pub name: &'static str,
    pub m: usize,
    pub k: usize,
    pub n: usize,
    /// The left operand is a transposed view (`xᵀ · dY`, a weight gradient).
    pub transposed_lhs: bool,
}

/// How fast the backend ran one shape.
#[derive(Clone, Debug, Serialize)]
pub struct GemmTiming {
    #[serde(flatten)]
    pub shape: GemmShape,
    /// GFLOP/s of the median and of the fastest product.
    pub gflops_median: f64,
    pub gflops_best: f64,
}

/// The products of a step on `rows` token rows (batch · seq): the FFN's two, a q/k/v/o
/// projection, the FFN's weight gradient and a rank-`rank` adapter's `x · A`.
pub fn workload_shapes(config: &BertConfig, rows: usize, rank: usize) -> Vec<GemmShape> {
    let (h, i) = (config.hidden_size, config.intermediate_size);
    let shape = |name, m, k, n, transposed_lhs| GemmShape {
        name,
        m,
        k,
        n,
        transposed_lhs,
    };
    vec![
        shape("ffn_up", rows, h, i, false),
        shape("ffn_down", rows, i, h, false),
        shape("projection", rows, h, h, false),
        shape("ffn_up_weight_grad", h, rows, i, true),
        shape("adapter_a", rows, h, rank, false),
    ]
}

/// Times `steps` products of `shape` after `warmup` untimed ones; GFLOP/s of the median and of
/// the fastest product.
pub fn time_gemm(shape: &GemmShape, device: &Device, warmup: usize, steps: usize) -> Result<GemmTiming, BenchError> {
    let dist = Distribution::Normal(0.0, 1.0);
    let lhs = if shape.transposed_lhs {
        Tensor::<2>::random([shape.k, shape.m], dist, device).transpose()
    } else {
        Tensor::<2>::random([shape.m, shape.k], dist, device)
    };
    let rhs = Tensor::<2>::random([shape.k, shape.n], dist, device);
    let flop = 2.0 * (shape.m * shape.k * shape.n) as f64;
    let mut rates = Vec::with_capacity(steps);
    for step in 0..warmup + steps {
        let t0 = Instant::now();
        let out = lhs.clone().matmul(rhs.clone());
        device.sync().map_err(|err| BenchError::DeviceFailed {
            what: format!("product {step} of {}", shape.name),
            message: format!("{err:?}"),
        })?;
        let seconds = t0.elapsed().as_secs_f64();
        drop(out);
        if step >= warmup {
            rates.push(flop / seconds / 1e9);
        }
    }
    rates.sort_by(f64::total_cmp);
    Ok(GemmTiming {
        shape: shape.clone(),
        gflops_median: rates[rates.len() / 2],
        gflops_best: rates[rates.len() - 1],
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_ffn_shape_is_the_reference_probes() {
        // The PyTorch reference's GEMM probe (docs/BENCHMARKS.md) times 2048 x 384 x 1536: batch 32 of seq 64.
        let shapes = workload_shapes(&BertConfig::new(30522, 384, 6, 12, 1536), 32 * 64, 8);
        assert_eq!((shapes[0].m, shapes[0].k, shapes[0].n), (2048, 384, 1536));
        assert_eq!(shapes[0].name, "ffn_up");
        assert!(shapes.iter().any(|s| s.transposed_lhs && s.k == 2048));
    }
}
