//! Floating-point operations of one benchmark step, counted from the model's shapes, so that a
//! step time becomes an effective GFLOP/s comparable with the machine's best GEMM.
//!
//! Only the matrix products are counted (2 per multiply-add); element-wise work, softmax and
//! LayerNorm are not, as is usual for transformer FLOP counts. The backward pass of a product
//! costs one product of the same size per operand that needs a gradient: the input gradient of
//! every layer (also where nothing below needs it, as in the first layer of a frozen model: the
//! count is what the step computes in a plain backward pass), the weight gradient of trained
//! layers, and both operands of attention's two products.

use burn_peft::AdaptableModel;
use minbert_model::{BertConfig, BertModel};

/// What the benchmark step does.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum StepKind {
    /// Forward only.
    Infer,
    /// Forward and backward, every weight trained.
    Full,
    /// Forward and backward, base frozen, adapters and head trained.
    Adapters {
        /// DoRA, which also forms each adapted weight once a step.
        dora: bool,
    },
}

/// One linear layer of the step.
#[derive(Copy, Clone, Debug, PartialEq)]
pub struct LinearShape {
    /// The weight's input and output widths.
    pub in_features: usize,
    pub out_features: usize,
    /// Rows it multiplies per example: every token, or one for the pooler and the head.
    pub rows_per_example: usize,
    /// The adapter's rank, when one is attached.
    pub rank: Option<usize>,
}

/// FLOPs per example of the forward pass and of the whole step.
#[derive(Copy, Clone, Debug, PartialEq)]
pub struct StepFlops {
    /// Forward pass; forward, backward and the adapters' weight products.
    pub forward: f64,
    pub step: f64,
}

/// The benchmark model's linear layers, with the head (`hidden → classes` on the pooler) for
/// training steps.
pub fn bert_linears(bert: &BertModel, seq: usize, head: Option<(usize, usize)>) -> Vec<LinearShape> {
    let mut layers: Vec<LinearShape> = bert
        .linear_paths()
        .iter()
        .filter_map(|path| {
            let layer = bert.adapted_linear(path)?;
            let [in_features, out_features] = layer.base.weight.shape().dims();
            Some(LinearShape {
                in_features,
                out_features,
                rows_per_example: if path.starts_with("pooler.") { 1 } else { seq },
                rank: layer.adapter.as_ref().map(|a| a.lora_a.shape().dims::<2>()[1]),
            })
        })
        .collect();
    layers.extend(head.map(|(in_features, out_features)| LinearShape {
        in_features,
        out_features,
        rows_per_example: 1,
        rank: None,
    }));
    layers
}

/// Counts the step's FLOPs per example; `batch` spreads DoRA's per-step weight products.
pub fn step_flops(config: &BertConfig, seq: usize, batch: usize, layers: &[LinearShape], kind: StepKind) -> StepFlops {
    // Scores `Q Kᵀ` and context `P V`: 2 · seq² · hidden each, per layer.
    let attention = (config.num_hidden_layers * 4 * seq * seq * config.hidden_size) as f64;
    let mut forward = attention;
    let mut backward = 2.0 * attention;
    for layer in layers {
        let base = 2.0 * (layer.rows_per_example * layer.in_features * layer.out_features) as f64;
        forward += base;
        backward += match kind {
            StepKind::Full => 2.0 * base,
            _ => base,
        };
        if let Some(r) = layer.rank {
            let adapter = 2.0 * (layer.rows_per_example * r * (layer.in_features + layer.out_features)) as f64;
            forward += adapter;
            backward += 2.0 * adapter;
        }
    }
    if kind == (StepKind::Adapters { dora: true }) {
        // DoRA forms `W + s·A·B` once a step and back-propagates through it: three products
        // of `in × r × out`.
        let weights: usize = layers
            .iter()
            .filter_map(|l| l.rank.map(|r| l.in_features * r * l.out_features))
            .sum();
        backward += 3.0 * 2.0 * weights as f64 / batch as f64;
    }
    match kind {
        StepKind::Infer => StepFlops { forward, step: forward },
        _ => StepFlops {
            forward,
            step: forward + backward,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// all-MiniLM-L6-v2's shapes: 6 layers of hidden 384, FFN 1536, with a pooler.
    fn minilm() -> BertConfig {
        BertConfig::new(30522, 384, 6, 12, 1536)
    }

    fn minilm_linears(seq: usize, rank: Option<usize>) -> Vec<LinearShape> {
        let (h, i) = (384, 1536);
        let shape = |in_features, out_features, rank| LinearShape {
            in_features,
            out_features,
            rows_per_example: seq,
            rank,
        };
        let mut layers = Vec::new();
        for _ in 0..6 {
            layers.extend([
                shape(h, h, rank),
                shape(h, h, rank),
                shape(h, h, rank),
                shape(h, h, rank),
            ]);
            layers.extend([shape(h, i, None), shape(i, h, None)]);
        }
        layers.push(LinearShape {
            rows_per_example: 1,
            ..shape(h, h, None)
        });
        layers
    }

    #[test]
    fn minilm_forward_is_1_397_gflop_per_example_at_seq_64() {
        let flops = step_flops(&minilm(), 64, 32, &minilm_linears(64, None), StepKind::Infer);
        // Per token and layer: q, k, v, o (8·384²), the FFN (4·384·1536), attention (4·64·384);
        // then the pooler on one token.
        let expected = 6 * 64 * (8 * 384 * 384 + 4 * 384 * 1536 + 4 * 64 * 384) + 2 * 384 * 384;
        assert_eq!(flops.forward, expected as f64);
        assert!((flops.forward / 1e9 - 1.397).abs() < 1e-3);
        assert_eq!(flops.step, flops.forward);
    }

    #[test]
    fn full_fine_tuning_costs_three_forwards() {
        let flops = step_flops(&minilm(), 64, 32, &minilm_linears(64, None), StepKind::Full);
        assert!((flops.step / flops.forward - 3.0).abs() < 1e-12);
    }

    #[test]
    fn adapters_cost_a_little_over_two_forwards_and_grow_with_rank() {
        let config = minilm();
        let lora = |r| {
            let layers = minilm_linears(64, Some(r));
            step_flops(&config, 64, 32, &layers, StepKind::Adapters { dora: false })
        };
        let plain = step_flops(&config, 64, 32, &minilm_linears(64, None), StepKind::Infer).forward;
        let r8 = lora(8);
        assert!(r8.step / plain > 2.05 && r8.step / plain < 2.1, "{}", r8.step / plain);
        assert!(lora(16).step > r8.step);
        // The adapters' forward: 24 layers of 384 → 8 → 384 on 64 tokens.
        assert_eq!(r8.forward - plain, 24.0 * 2.0 * 64.0 * 8.0 * 768.0);
    }

    #[test]
    fn dora_adds_its_weight_products_spread_over_the_batch() {
        let config = minilm();
        let layers = minilm_linears(64, Some(8));
        let lora = step_flops(&config, 64, 32, &layers, StepKind::Adapters { dora: false });
        let dora = step_flops(&config, 64, 32, &layers, StepKind::Adapters { dora: true });
        assert_eq!(dora.step - lora.step, 24.0 * 6.0 * (384 * 8 * 384) as f64 / 32.0);
        assert_eq!(dora.forward, lora.forward);
    }
}
