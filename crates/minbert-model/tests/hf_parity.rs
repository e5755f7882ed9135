//! Parity with PyTorch `transformers.BertModel` on the recorded fixture
//! (`tests/fixtures/hf-parity/base.safetensors`): every hidden state, the last hidden state
//! and the pooler output within 1e-4 on unpadded positions, on the CPU and on the GPU backend.

mod common;

use burn::module::Module;
use burn::tensor::{Device, Tensor};
use common::{EvalMode, Fixture, masked_max_diff, max_abs_diff, values};
use minbert_model::load_pretrained;
use minbert_testkit::{fixtures_dir, gpu_device, model_dir};

#[test]
fn base_model_matches_transformers() {
    base_model_matches_transformers_on(&Device::flex());
}

/// The same inputs through the wgpu backend (lavapipe in CI), within the same 1e-4.
#[test]
fn base_model_matches_transformers_on_the_gpu() {
    if let Some(device) = gpu_device() {
        base_model_matches_transformers_on(&device);
    }
}

fn base_model_matches_transformers_on(device: &Device) {
    let (_, model) = load_pretrained(&model_dir(), device).unwrap();
    let fixture = Fixture::read(&fixtures_dir().join("base.safetensors"));
    let (_, mask) = fixture.ints("attention_mask");
    let out = model.forward_with_hidden_states(fixture.input(device));

    assert_eq!(out.hidden_states.len(), 7);
    for (i, h) in out.hidden_states.into_iter().enumerate() {
        let (shape, expected) = fixture.floats(&format!("hidden_state_{i}"));
        assert_eq!(h.dims().to_vec(), shape);
        let diff = masked_max_diff(&values(h), &expected, &mask, 384);
        println!("hidden_state_{i}: max abs diff {diff:.2e}");
        assert!(diff <= 1e-4, "hidden_state_{i}: max abs diff {diff}");
    }
    let (_, expected) = fixture.floats("last_hidden_state");
    let diff = masked_max_diff(&values::<3>(out.last_hidden_state), &expected, &mask, 384);
    println!("last_hidden_state: max abs diff {diff:.2e}");
    assert!(diff <= 1e-4, "last_hidden_state: max abs diff {diff}");

    let (_, expected) = fixture.floats("pooler_output");
    let pooled: Tensor<2> = out.pooler_output.expect("all-MiniLM-L6-v2 has a pooler");
    let diff = max_abs_diff(&values(pooled), &expected);
    println!("pooler_output: max abs diff {diff:.2e}");
    assert!(diff <= 1e-4, "pooler_output: max abs diff {diff}");
}

/// Inference uses Burn's fused attention op with a boolean padding mask; a model on an autodiff
/// device (which may train, with attention dropout) uses matmul, the additive mask and softmax,
/// here in eval mode. Both meet transformers on the padded fixture, and they agree with each
/// other on every position, padding included.
#[test]
fn fused_attention_equals_the_op_by_op_path() {
    fused_attention_equals_the_op_by_op_path_on(&Device::flex());
}

/// The GPU backend's fused attention kernel against its own op-by-op path and transformers.
#[test]
fn fused_attention_equals_the_op_by_op_path_on_the_gpu() {
    if let Some(device) = gpu_device() {
        fused_attention_equals_the_op_by_op_path_on(&device);
    }
}

fn fused_attention_equals_the_op_by_op_path_on(device: &Device) {
    let fixture = Fixture::read(&fixtures_dir().join("base.safetensors"));
    let (_, mask) = fixture.ints("attention_mask");
    assert!(mask.contains(&0), "the fixture has padding, so the masks are exercised");
    let last_hidden = |device: &Device| {
        let (_, model) = load_pretrained(&model_dir(), device).unwrap();
        values::<3>(
            model
                .map(&mut EvalMode)
                .forward(fixture.input(device))
                .last_hidden_state,
        )
    };
    let fused = last_hidden(device);
    let op_by_op = last_hidden(&device.clone().autodiff());
    let (_, expected) = fixture.floats("last_hidden_state");
    for (name, got) in [("fused", &fused), ("op by op", &op_by_op)] {
        let diff = masked_max_diff(got, &expected, &mask, 384);
        assert!(diff <= 1e-4, "{name}: max abs diff to transformers {diff}");
    }
    let diff = max_abs_diff(&fused, &op_by_op);
    println!("fused vs op by op, all positions: max abs diff {diff:.2e}");
    assert!(diff <= 1e-4, "fused vs op by op: max abs diff {diff}");
}
