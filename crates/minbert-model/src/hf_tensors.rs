//! Hugging Face safetensors files as minbert reads and writes them: [`HfTensor`] (name, shape,
//! f32 values in PyTorch layout), [`read_safetensors`] and [`save_safetensors`]. Model weights,
//! checkpoints' heads and optimizer state all go through here.
//!
//! Layouts, in this one place: PyTorch stores a `Linear` weight `[out, in]` (`y = x W^T + b`)
//! and Burn `[in, out]` (`y = x W + b`). [`HfTensor::linear_weight`] transposes Burn to PyTorch
//! and [`HfTensor::to_linear_weight`] back; every other tensor keeps its shape.

use std::path::Path;

use burn::tensor::{Device, Tensor, TensorData};
use safetensors::{Dtype, SafeTensors};

use crate::error::ModelError;

/// One tensor of a Hugging Face file: name, shape and f32 values in PyTorch layout.
#[derive(Debug, Clone, PartialEq)]
pub struct HfTensor {
    pub name: String,
    pub shape: Vec<usize>,
    pub values: Vec<f32>,
}

impl HfTensor {
    /// Any float tensor, shape kept.
    pub fn new<const D: usize>(name: impl Into<String>, tensor: Tensor<D>) -> Self {
        let shape = tensor.dims().to_vec();
        let values = tensor
            .into_data()
            .try_into_vec_as::<f32>()
            .expect("a float tensor converts to f32");
        Self {
            name: name.into(),
            shape,
            values,
        }
    }

    /// A Burn `[in, out]` linear weight, stored as PyTorch's `[out, in]`.
    pub fn linear_weight(name: impl Into<String>, weight: Tensor<2>) -> Self {
        let [d_in, d_out] = weight.dims();
        let mut t = Self::new(name, weight);
        t.values = transpose(&t.values, d_in, d_out);
        t.shape = vec![d_out, d_in];
        t
    }

    /// The tensor as it is stored. `D` must be `shape.len()`.
    pub fn to_tensor<const D: usize>(&self, device: &Device) -> Tensor<D> {
        Tensor::from_data(TensorData::new(self.values.clone(), self.shape.clone()), device)
    }

    /// A PyTorch `[out, in]` linear weight as Burn's `[in, out]`. The shape must have two dims.
    pub fn to_linear_weight(&self, device: &Device) -> Tensor<2> {
        let [d_out, d_in] = [self.shape[0], self.shape[1]];
        Tensor::from_data(
            TensorData::new(transpose(&self.values, d_out, d_in), [d_in, d_out]),
            device,
        )
    }
}

/// `[rows, cols]` row-major to `[cols, rows]` row-major.
fn transpose(values: &[f32], rows: usize, cols: usize) -> Vec<f32> {
    let mut out = vec![0.0; values.len()];
    for r in 0..rows {
        for c in 0..cols {
            out[c * rows + r] = values[r * cols + c];
        }
    }
    out
}

/// The values of a float tensor's raw little-endian bytes as f32; `None` for other dtypes.
pub(crate) fn decode_floats(dtype: Dtype, data: &[u8]) -> Option<Vec<f32>> {
    Some(match dtype {
        Dtype::F32 => data
            .chunks_exact(4)
            .map(|b| f32::from_le_bytes(b.try_into().unwrap()))
            .collect(),
        Dtype::F64 => data
            .chunks_exact(8)
            .map(|b| f64::from_le_bytes(b.try_into().unwrap()) as f32)
            .collect(),
        Dtype::F16 => data
            .chunks_exact(2)
            .map(|b| burn::tensor::f16::from_le_bytes([b[0], b[1]]).to_f32())
            .collect(),
        Dtype::BF16 => data
            .chunks_exact(2)
            .map(|b| burn::tensor::bf16::from_le_bytes([b[0], b[1]]).to_f32())
            .collect(),
        _ => return None,
    })
}

/// Writes tensors to a safetensors file (f32, with the `format: pt` metadata Hugging Face
/// writes), through a temporary file renamed into place, so a reader never sees half a file.
pub fn save_safetensors(path: &Path, tensors: &[HfTensor]) -> Result<(), ModelError> {
    let error = |e: safetensors::SafeTensorError| ModelError::Safetensors {
        path: path.to_path_buf(),
        message: e.to_string(),
    };
    let bytes: Vec<Vec<u8>> = tensors
        .iter()
        .map(|t| t.values.iter().flat_map(|v| v.to_le_bytes()).collect())
        .collect();
    let views = tensors
        .iter()
        .zip(&bytes)
        .map(|(t, b)| {
            safetensors::tensor::TensorView::new(Dtype::F32, t.shape.clone(), b).map(|v| (t.name.as_str(), v))
        })
        .collect::<Result<Vec<_>, _>>()
        .map_err(error)?;
    let metadata = Some([("format".to_string(), "pt".to_string())].into());
    let serialized = safetensors::serialize(views, metadata).map_err(error)?;
    Ok(durable_fs::write_file(path, &serialized)?)
}

/// Every tensor of a safetensors file, as f32 in the file's (PyTorch) layout, sorted by name. A
/// tensor that is not a float is an error naming it.
pub fn read_safetensors(path: &Path) -> Result<Vec<HfTensor>, ModelError> {
    let bytes = std::fs::read(path).map_err(|e| ModelError::io(path, e))?;
    let st = SafeTensors::deserialize(&bytes).map_err(|e| ModelError::Safetensors {
        path: path.to_path_buf(),
        message: e.to_string(),
    })?;
    let mut tensors: Vec<HfTensor> = st
        .tensors()
        .into_iter()
        .map(|(name, view)| match decode_floats(view.dtype(), view.data()) {
            Some(values) => Ok(HfTensor {
                name,
                shape: view.shape().to_vec(),
                values,
            }),
            None => Err(ModelError::Dtype {
                path: path.to_path_buf(),
                key: name,
                dtype: format!("{:?}", view.dtype()),
            }),
        })
        .collect::<Result<_, _>>()?;
    tensors.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(tensors)
}
