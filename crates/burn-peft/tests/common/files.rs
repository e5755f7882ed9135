//! Plain f32 safetensors files for the tests: fixtures to read, adapter files to break.
#![allow(dead_code)]

use std::path::Path;

use burn::tensor::{Device, Tensor, TensorData};
use safetensors::{Dtype, SafeTensors};

/// One tensor as a file stores it (PyTorch layout).
#[derive(Debug, Clone, PartialEq)]
pub struct Stored {
    pub name: String,
    pub shape: Vec<usize>,
    pub values: Vec<f32>,
}

impl Stored {
    pub fn to_tensor<const D: usize>(&self, device: &Device) -> Tensor<D> {
        Tensor::from_data(TensorData::new(self.values.clone(), self.shape.clone()), device)
    }

    /// A PyTorch `[out, in]` linear weight as Burn's `[in, out]`.
    pub fn to_linear_weight(&self, device: &Device) -> Tensor<2> {
        self.to_tensor::<2>(device).transpose()
    }
}

/// Every tensor of an f32 safetensors file, sorted by name.
pub fn read(path: &Path) -> Vec<Stored> {
    let bytes = std::fs::read(path).unwrap();
    let st = SafeTensors::deserialize(&bytes).unwrap();
    let mut out: Vec<Stored> = st
        .tensors()
        .into_iter()
        .map(|(name, view)| {
            assert_eq!(view.dtype(), Dtype::F32, "{name}");
            Stored {
                name,
                shape: view.shape().to_vec(),
                values: view
                    .data()
                    .chunks_exact(4)
                    .map(|b| f32::from_le_bytes(b.try_into().unwrap()))
                    .collect(),
            }
        })
        .collect();
    out.sort_by(|a, b| a.name.cmp(&b.name));
    out
}

pub fn write(path: &Path, tensors: &[Stored]) {
    let bytes: Vec<Vec<u8>> = tensors
        .iter()
        .map(|t| t.values.iter().flat_map(|v| v.to_le_bytes()).collect())
        .collect();
    let views: Vec<_> = tensors
        .iter()
        .zip(&bytes)
        .map(|(t, b)| {
            (
                t.name.as_str(),
                safetensors::tensor::TensorView::new(Dtype::F32, t.shape.clone(), b).unwrap(),
            )
        })
        .collect();
    std::fs::write(path, safetensors::serialize(views, None).unwrap()).unwrap();
}
