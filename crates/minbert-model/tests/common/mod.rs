//! Reading the recorded fixtures of `tests/fixtures/hf-parity` (see its README).

#![allow(dead_code)] // each test binary uses its own part

use std::path::Path;

use burn::module::{Flag, ModuleMapper, Param};
use burn::tensor::{Device, Int, Tensor, TensorData};
use minbert_model::BertInput;
use safetensors::{Dtype, SafeTensors};

pub struct Fixture {
    bytes: Vec<u8>,
}

impl Fixture {
    pub fn read(path: &Path) -> Self {
        Self {
            bytes: std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display())),
        }
    }

    pub fn keys(&self) -> Vec<String> {
        SafeTensors::deserialize(&self.bytes)
            .unwrap()
            .names()
            .into_iter()
            .map(|k| k.to_string())
            .collect()
    }

    fn get(&self, key: &str) -> (Vec<usize>, Dtype, Vec<u8>) {
        let st = SafeTensors::deserialize(&self.bytes).unwrap();
        let v = st.tensor(key).unwrap_or_else(|_| panic!("fixture has no {key}"));
        (v.shape().to_vec(), v.dtype(), v.data().to_vec())
    }

    pub fn ints(&self, key: &str) -> (Vec<usize>, Vec<i64>) {
        let (shape, dtype, data) = self.get(key);
        assert_eq!(dtype, Dtype::I64);
        (
            shape,
            data.chunks_exact(8)
                .map(|b| i64::from_le_bytes(b.try_into().unwrap()))
                .collect(),
        )
    }

    pub fn floats(&self, key: &str) -> (Vec<usize>, Vec<f32>) {
        let (shape, dtype, data) = self.get(key);
        assert_eq!(dtype, Dtype::F32);
        (
            shape,
            data.chunks_exact(4)
                .map(|b| f32::from_le_bytes(b.try_into().unwrap()))
                .collect(),
        )
    }

    /// The batch of `base.safetensors` on `device`.
    pub fn input(&self, device: &Device) -> BertInput {
        let ints = |key| {
            let (shape, values) = self.ints(key);
            Tensor::<2, Int>::from_data(TensorData::new(values, [shape[0], shape[1]]), device)
        };
        BertInput {
            input_ids: ints("input_ids"),
            attention_mask: ints("attention_mask"),
            token_type_ids: ints("token_type_ids"),
        }
    }
}

pub fn values<const D: usize>(t: Tensor<D>) -> Vec<f32> {
    t.into_data().try_into_vec::<f32>().unwrap()
}

pub fn max_abs_diff(got: &[f32], expected: &[f32]) -> f32 {
    assert_eq!(got.len(), expected.len());
    got.iter().zip(expected).map(|(a, b)| (a - b).abs()).fold(0.0, f32::max)
}

/// Max |got - expected| over rows whose attention mask is 1 (`row_len` values per token).
pub fn masked_max_diff(got: &[f32], expected: &[f32], mask: &[i64], row_len: usize) -> f32 {
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

/// PyTorch's `model.eval()` on an autodiff device: dropout off, gradients still tracked.
pub struct EvalMode;

impl ModuleMapper for EvalMode {
    fn map_flag(&mut self, flag: Param<Flag>) -> Param<Flag> {
        flag.with_value(false)
    }
}
