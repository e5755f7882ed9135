//! Parity with PyTorch `transformers.BertModel` on the recorded fixture
//! (`../shared/fixtures/hf-parity/base.safetensors`): every hidden state, the last hidden state
//! and the pooler output within 1e-4 on unpadded positions.

use std::path::PathBuf;

use burn::tensor::{Device, Int, Tensor, TensorData};
use minbert_model::{BertInput, load_pretrained};
use safetensors::{Dtype, SafeTensors};

fn shared() -> PathBuf {
    std::env::var_os("MINBERT_SHARED")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared"))
}

struct Fixture {
    bytes: Vec<u8>,
}

impl Fixture {
    fn read(path: PathBuf) -> Self {
        Self { bytes: std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display())) }
    }

    fn get(&self, key: &str) -> (Vec<usize>, Dtype, Vec<u8>) {
        let st = SafeTensors::deserialize(&self.bytes).unwrap();
        let v = st.tensor(key).unwrap_or_else(|_| panic!("fixture has no {key}"));
        (v.shape().to_vec(), v.dtype(), v.data().to_vec())
    }

    fn ints(&self, key: &str) -> (Vec<usize>, Vec<i64>) {
        let (shape, dtype, data) = self.get(key);
        assert_eq!(dtype, Dtype::I64);
        (shape, data.chunks_exact(8).map(|b| i64::from_le_bytes(b.try_into().unwrap())).collect())
    }

    fn floats(&self, key: &str) -> (Vec<usize>, Vec<f32>) {
        let (shape, dtype, data) = self.get(key);
        assert_eq!(dtype, Dtype::F32);
        (shape, data.chunks_exact(4).map(|b| f32::from_le_bytes(b.try_into().unwrap())).collect())
    }
}

/// Max |got - expected| over rows whose attention mask is 1 (`row_len` values per token).
fn masked_max_diff(got: &[f32], expected: &[f32], mask: &[i64], row_len: usize) -> f32 {
    assert_eq!(got.len(), expected.len());
    assert_eq!(got.len(), mask.len() * row_len);
    let mut max = 0.0f32;
    for (t, &m) in mask.iter().enumerate() {
        if m == 1 {
            for i in t * row_len..(t + 1) * row_len {
                max = max.max((got[i] - expected[i]).abs());
            }
        }
    }
    max
}

#[test]
fn base_model_matches_transformers() {
    let device = Device::flex();
    let (_, model) = load_pretrained(&shared().join("models/all-MiniLM-L6-v2"), &device).unwrap();
    let fixture = Fixture::read(shared().join("fixtures/hf-parity/base.safetensors"));
    let ints = |key| {
        let (shape, values) = fixture.ints(key);
        Tensor::<2, Int>::from_data(TensorData::new(values, [shape[0], shape[1]]), &device)
    };
    let (_, mask) = fixture.ints("attention_mask");
    let input = BertInput {
        input_ids: ints("input_ids"),
        attention_mask: ints("attention_mask"),
        token_type_ids: ints("token_type_ids"),
    };
    let out = model.forward_with_hidden_states(input);
    let values = |t: Tensor<3>| t.into_data().try_into_vec::<f32>().unwrap();

    assert_eq!(out.hidden_states.len(), 7);
    for (i, h) in out.hidden_states.into_iter().enumerate() {
        let (shape, expected) = fixture.floats(&format!("hidden_state_{i}"));
        assert_eq!(h.dims().to_vec(), shape);
        let diff = masked_max_diff(&values(h), &expected, &mask, 384);
        println!("hidden_state_{i}: max abs diff {diff:.2e}");
        assert!(diff <= 1e-4, "hidden_state_{i}: max abs diff {diff}");
    }
    let (_, expected) = fixture.floats("last_hidden_state");
    let diff = masked_max_diff(&values(out.last_hidden_state), &expected, &mask, 384);
    println!("last_hidden_state: max abs diff {diff:.2e}");
    assert!(diff <= 1e-4, "last_hidden_state: max abs diff {diff}");

    let (_, expected) = fixture.floats("pooler_output");
    let pooled = out.pooler_output.expect("all-MiniLM-L6-v2 has a pooler").into_data().try_into_vec::<f32>().unwrap();
    let diff = pooled.iter().zip(&expected).map(|(a, b)| (a - b).abs()).fold(0.0f32, f32::max);
    println!("pooler_output: max abs diff {diff:.2e}");
    assert!(diff <= 1e-4, "pooler_output: max abs diff {diff}");
}
