//! Reading a Hugging Face checkpoint into the model.
//!
//! Layout: PyTorch stores a `Linear` weight as `[out, in]` (`y = x W^T + b`); Burn's `Linear`
//! holds `[in, out]` (`y = x W + b`). The transposes live in one place, [`HfTensor`]
//! (`to_linear_weight` on load, `linear_weight` on save). Every other tensor keeps its shape.

use std::collections::{BTreeSet, HashMap};
use std::path::{Path, PathBuf};

use crate::hf_tensors::{HfTensor, decode_floats};
use burn::tensor::{Device, Tensor, TensorData};
use safetensors::SafeTensors;

use crate::error::ModelError;

/// Keys a BERT checkpoint may hold that are not part of `BertModel` and are skipped silently:
/// the position-id buffer, and the task heads of HF's `BertFor*` classes.
const IGNORED_PREFIXES: &[&str] = &["embeddings.position_ids", "cls.", "classifier.", "qa_outputs."];

struct RawTensor {
    dtype: safetensors::Dtype,
    shape: Vec<usize>,
    /// Byte range of the data inside `WeightMap::bytes`.
    start: usize,
    end: usize,
}

/// The tensors of one safetensors file, converted to f32 on demand and handed out by their HF
/// key. Problems are collected rather than returned one by one, so that [`finish`](Self::finish)
/// can list every missing, unexpected and misshapen key at once.
pub struct WeightMap {
    path: PathBuf,
    bytes: Vec<u8>,
    tensors: HashMap<String, RawTensor>,
    /// `"bert."` when the checkpoint was saved from a `BertFor*` model, else empty.
    prefix: String,
    used: BTreeSet<String>,
    missing: Vec<String>,
    misshapen: Vec<(String, Vec<usize>, Vec<usize>)>,
    bad_dtype: Option<(String, String)>,
    device: Device,
}

impl WeightMap {
    /// Reads `path`, a safetensors file; `probe_key` (an unprefixed key every valid checkpoint
    /// has) decides whether keys carry the `bert.` prefix.
    pub fn from_safetensors(path: &Path, probe_key: &str, device: &Device) -> Result<Self, ModelError> {
        let bytes = std::fs::read(path).map_err(|e| ModelError::io(path, e))?;
        let mut tensors = HashMap::new();
        {
            let st = SafeTensors::deserialize(&bytes).map_err(|e| ModelError::Safetensors {
                path: path.to_path_buf(),
                message: e.to_string(),
            })?;
            let base = bytes.as_ptr() as usize;
            for (name, view) in st.tensors() {
                let start = view.data().as_ptr() as usize - base;
                let raw = RawTensor {
                    dtype: view.dtype(),
                    shape: view.shape().to_vec(),
                    start,
                    end: start + view.data().len(),
                };
                tensors.insert(name, raw);
            }
        }
        let prefix = if !tensors.contains_key(probe_key) && tensors.contains_key(&format!("bert.{probe_key}")) {
            "bert.".to_string()
        } else {
            String::new()
        };
        Ok(Self {
            path: path.to_path_buf(),
            bytes,
            tensors,
            prefix,
            used: BTreeSet::new(),
            missing: Vec::new(),
            misshapen: Vec::new(),
            bad_dtype: None,
            device: device.clone(),
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Whether the checkpoint holds `key` (unprefixed HF name).
    pub fn contains(&self, key: &str) -> bool {
        self.resolve(key).is_some()
    }

    /// Finds the stored name of `key`: with the checkpoint's prefix, and with the old
    /// `LayerNorm.gamma` / `.beta` names that early BERT checkpoints use.
    fn resolve(&self, key: &str) -> Option<String> {
        let full = format!("{}{key}", self.prefix);
        if self.tensors.contains_key(&full) {
            return Some(full);
        }
        let legacy = if let Some(stem) = full.strip_suffix("LayerNorm.weight") {
            format!("{stem}LayerNorm.gamma")
        } else if let Some(stem) = full.strip_suffix("LayerNorm.bias") {
            format!("{stem}LayerNorm.beta")
        } else {
            return None;
        };
        self.tensors.contains_key(&legacy).then_some(legacy)
    }

    /// The tensor `key` as f32 with the given shape; zeros (and a recorded problem) when it is
    /// missing or misshapen.
    pub fn tensor<const D: usize>(&mut self, key: &str, shape: [usize; D]) -> Tensor<D> {
        match self.read(key, &shape) {
            Some(values) => Tensor::from_data(TensorData::new(values, shape), &self.device),
            None => Tensor::zeros(shape, &self.device),
        }
    }

    /// A PyTorch `Linear` weight stored `[out, in]`, returned in Burn's `[in, out]`.
    pub fn linear_weight(&mut self, key: &str, d_in: usize, d_out: usize) -> Tensor<2> {
        match self.read(key, &[d_out, d_in]) {
            Some(values) => HfTensor {
                name: key.to_string(),
                shape: vec![d_out, d_in],
                values,
            }
            .to_linear_weight(&self.device),
            None => Tensor::zeros([d_in, d_out], &self.device),
        }
    }

    fn read(&mut self, key: &str, shape: &[usize]) -> Option<Vec<f32>> {
        let Some(name) = self.resolve(key) else {
            self.missing.push(format!("{}{key}", self.prefix));
            return None;
        };
        self.used.insert(name.clone());
        let raw = &self.tensors[&name];
        if raw.shape != shape {
            self.misshapen.push((name, shape.to_vec(), raw.shape.clone()));
            return None;
        }
        let values = decode_floats(raw.dtype, &self.bytes[raw.start..raw.end]);
        if values.is_none() {
            let dtype = format!("{:?}", raw.dtype);
            self.bad_dtype.get_or_insert((name, dtype));
        }
        values
    }

    /// Succeeds when every requested key was present with the right shape and dtype and every
    /// stored key was used (or is one of the known non-encoder keys).
    pub fn finish(self) -> Result<(), ModelError> {
        if let Some((key, dtype)) = self.bad_dtype {
            return Err(ModelError::Dtype {
                path: self.path,
                key,
                dtype,
            });
        }
        let mut unexpected: Vec<String> = self
            .tensors
            .keys()
            .filter(|k| !self.used.contains(*k))
            .filter(|k| {
                let local = k.strip_prefix(&self.prefix).unwrap_or(k);
                // With a prefix, anything outside it belongs to another head of the checkpoint.
                k.starts_with(&self.prefix) && !IGNORED_PREFIXES.iter().any(|p| local.starts_with(p))
            })
            .cloned()
            .collect();
        unexpected.sort();
        if self.missing.is_empty() && unexpected.is_empty() && self.misshapen.is_empty() {
            Ok(())
        } else {
            Err(ModelError::Mismatch {
                path: self.path,
                missing: self.missing,
                unexpected,
                misshapen: self.misshapen,
            })
        }
    }
}
