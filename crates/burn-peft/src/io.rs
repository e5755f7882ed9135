//! PEFT adapter directories (`adapter_config.json` + `adapter_model.safetensors`), and the
//! safetensors reading and writing they need (private: this crate reads and writes adapter files,
//! not models).
//!
//! Layouts, in this one place: PyTorch stores a `Linear` weight `[out, in]` and Burn `[in, out]`.
//! An adapter's factors are linear weights too: PEFT's `lora_A.weight` `[r, in]` is Burn's
//! `lora_a` `[in, r]`, `lora_B.weight` `[out, r]` is `lora_b` `[r, out]`; DoRA's
//! `lora_magnitude_vector` `[out]` keeps its shape.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use burn::tensor::{DType, Device, Tensor, TensorData};
use nalgebra::DMatrix;
use safetensors::{Dtype, SafeTensors};
use serde_json::Value;

use crate::config::LoraConfig;
use crate::error::PeftError;
use crate::init::{from_matrix, to_matrix};
use crate::layer::with_value;
use crate::model::{AdaptableModel, adapted_paths, inject_adapter, layer, layer_mut};

/// The config file of a PEFT adapter directory.
pub const ADAPTER_CONFIG_FILE: &str = "adapter_config.json";
/// The tensors file of a PEFT adapter directory.
pub const ADAPTER_WEIGHTS_FILE: &str = "adapter_model.safetensors";

/// PEFT saves adapter tensors under the wrapped model's names: `base_model.model.<module path>`.
pub(crate) const KEY_PREFIX: &str = "base_model.model.";

/// One tensor of an adapter file: name, shape and f32 values in PyTorch layout.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct FileTensor {
    pub name: String,
    pub shape: Vec<usize>,
    pub values: Vec<f32>,
}

impl FileTensor {
    /// A matrix, stored as it is.
    pub fn matrix(name: String, m: &DMatrix<f32>) -> Self {
        Self {
            name,
            shape: vec![m.nrows(), m.ncols()],
            values: m.transpose().iter().copied().collect(),
        }
    }

    /// A Burn `[in, out]` linear weight, stored as PyTorch's `[out, in]`.
    fn linear_weight(name: String, weight: Tensor<2>) -> Self {
        Self::matrix(name, &to_matrix(&weight).transpose())
    }

    /// A 1-D tensor.
    fn vector(name: String, tensor: Tensor<1>) -> Self {
        let n = tensor.dims()[0];
        Self::matrix(name, &to_matrix(&tensor.reshape([1, n]))).with_shape(vec![n])
    }

    fn with_shape(mut self, shape: Vec<usize>) -> Self {
        self.shape = shape;
        self
    }

    /// A two-dimensional tensor as a matrix of the same shape.
    pub fn to_matrix(&self) -> DMatrix<f32> {
        DMatrix::from_row_slice(self.shape[0], self.shape[1], &self.values)
    }

    /// A PyTorch `[out, in]` linear weight as Burn's `[in, out]`.
    fn to_linear_weight(&self, device: &Device) -> Tensor<2> {
        from_matrix(&self.to_matrix().transpose(), device)
    }

    fn to_tensor<const D: usize>(&self, device: &Device) -> Tensor<D> {
        Tensor::from_data(TensorData::new(self.values.clone(), self.shape.clone()), device)
    }
}

/// Writes f32 tensors to a safetensors file with the `format: pt` metadata PEFT writes.
pub(crate) fn write_tensors(path: &Path, tensors: &[FileTensor]) -> Result<(), PeftError> {
    let error = |e: safetensors::SafeTensorError| PeftError::Safetensors {
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
    write_atomic(path, &safetensors::serialize(views, metadata).map_err(error)?)
}

/// Every tensor of a safetensors file as f32 (PEFT saves adapters in the model's float type),
/// sorted by name. A tensor that is not a float is an error naming it.
pub(crate) fn read_tensors(path: &Path) -> Result<Vec<FileTensor>, PeftError> {
    let bytes = std::fs::read(path).map_err(|e| PeftError::io(path, e))?;
    let st = SafeTensors::deserialize(&bytes).map_err(|e| PeftError::Safetensors {
        path: path.to_path_buf(),
        message: e.to_string(),
    })?;
    let mut tensors = Vec::new();
    for (name, view) in st.tensors() {
        let dtype = match view.dtype() {
            Dtype::F32 => DType::F32,
            Dtype::F64 => DType::F64,
            Dtype::F16 => DType::F16,
            Dtype::BF16 => DType::BF16,
            other => {
                return Err(PeftError::Tensor {
                    path: path.to_path_buf(),
                    key: name,
                    message: format!("has dtype {other:?}, expected a float type (F32, F16, BF16, F64)"),
                });
            }
        };
        let data = TensorData::from_bytes_vec(view.data().to_vec(), view.shape().to_vec(), dtype);
        tensors.push(FileTensor {
            name,
            shape: view.shape().to_vec(),
            values: data.convert::<f32>().try_into_vec::<f32>().expect("converted to f32"),
        });
    }
    tensors.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(tensors)
}

/// Writes durably: a reader, or the next start after a crash, sees the old file or the new one.
fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), PeftError> {
    Ok(durable_fs::write_file(path, bytes)?)
}

/// Reads a PEFT `adapter_config.json`; see [`LoraConfig::from_peft`].
pub fn read_adapter_config(path: &Path) -> Result<LoraConfig, PeftError> {
    let text = std::fs::read_to_string(path).map_err(|e| PeftError::io(path, e))?;
    let json = |message: String| PeftError::Json {
        path: path.to_path_buf(),
        message,
    };
    match serde_json::from_str::<Value>(&text).map_err(|e| json(format!("not valid JSON: {e}")))? {
        Value::Object(map) => LoraConfig::from_peft(&map).map_err(|e| e.in_file(path)),
        _ => Err(json("expected a JSON object".into())),
    }
}

/// Writes `config` as PEFT's `adapter_config.json` (sorted keys, two-space indent, as PEFT).
pub fn write_adapter_config(path: &Path, config: &LoraConfig) -> Result<(), PeftError> {
    let mut text = serde_json::to_string_pretty(&Value::Object(config.to_peft())).expect("JSON values serialize");
    text.push('\n');
    write_atomic(path, text.as_bytes())
}

/// The adapters of `model` under PEFT's key names and layouts, in model order.
fn adapter_tensors<M: AdaptableModel>(model: &M) -> Vec<FileTensor> {
    let mut tensors = Vec::new();
    for path in adapted_paths(model) {
        let adapter = model
            .adapted_linear(&path)
            .and_then(|l| l.adapter.as_ref())
            .expect("an adapted path");
        tensors.push(FileTensor::linear_weight(
            format!("{KEY_PREFIX}{path}.lora_A.weight"),
            adapter.lora_a.val(),
        ));
        tensors.push(FileTensor::linear_weight(
            format!("{KEY_PREFIX}{path}.lora_B.weight"),
            adapter.lora_b.val(),
        ));
        if let Some(magnitude) = &adapter.magnitude {
            tensors.push(FileTensor::vector(
                format!("{KEY_PREFIX}{path}.lora_magnitude_vector"),
                magnitude.val(),
            ));
        }
        if let Some(bias) = &adapter.bias {
            tensors.push(FileTensor::vector(
                format!("{KEY_PREFIX}{path}.lora_B.bias"),
                bias.val(),
            ));
        }
    }
    tensors
}

/// Saves the model's adapters as a PEFT adapter directory that PEFT's
/// `PeftModel.from_pretrained` loads. Never writes base weights. `config` must be the one the
/// adapters were made with: it must select exactly the adapted layers, with their rank, scaling
/// and kind (LoRA or DoRA).
pub fn save_adapter<M: AdaptableModel>(model: &M, config: &LoraConfig, dir: &Path) -> Result<(), PeftError> {
    let adapted = adapted_paths(model);
    let selected = config.select_targets(&model.linear_paths())?;
    if adapted != selected {
        return Err(PeftError::Model(format!(
            "the config's target_modules select {} layers ({}), but the model has adapters on {} ({})",
            selected.len(),
            selected.join(", "),
            adapted.len(),
            adapted.join(", ")
        )));
    }
    for path in &adapted {
        let adapter = layer(model, path)?.adapter.as_ref().expect("an adapted path");
        let config = config.for_module(path);
        if adapter.rank() != config.r
            || adapter.is_dora() != config.use_dora
            || adapter.scaling != config.scaling()
            || adapter.bias.is_some() != config.lora_bias
        {
            return Err(PeftError::Model(format!(
                "{path}: the adapter (r {}, scaling {}, {}) is not the config's (r {}, scaling {}, {})",
                adapter.rank(),
                adapter.scaling,
                if adapter.is_dora() { "DoRA" } else { "LoRA" },
                config.r,
                config.scaling(),
                if config.use_dora { "DoRA" } else { "LoRA" },
            )));
        }
    }
    std::fs::create_dir_all(dir).map_err(|e| PeftError::io(dir, e))?;
    write_tensors(&dir.join(ADAPTER_WEIGHTS_FILE), &adapter_tensors(model))?;
    write_adapter_config(&dir.join(ADAPTER_CONFIG_FILE), config)
}

/// Loads a PEFT adapter directory onto `model`: attaches adapters as its `adapter_config.json`
/// says (freezing everything else), then sets them from `adapter_model.safetensors`. Returns
/// the config and the adapted paths. A tensor that is missing, misshapen or for no adapted
/// module is an error naming the file and key; on any error the model is unchanged.
pub fn load_adapter<M: AdaptableModel + burn::module::Module>(
    model: &mut M,
    dir: &Path,
) -> Result<(LoraConfig, Vec<String>), PeftError> {
    let config_path = dir.join(ADAPTER_CONFIG_FILE);
    let weights_path = dir.join(ADAPTER_WEIGHTS_FILE);
    let config = read_adapter_config(&config_path)?;
    let mut file: BTreeMap<String, FileTensor> = read_tensors(&weights_path)?
        .into_iter()
        .map(|t| (t.name.clone(), t))
        .collect();
    let mut adapted = model.clone();
    let paths = inject_adapter(&mut adapted, &config)?;
    let mut take = |key: String, shape: &[usize]| -> Result<FileTensor, PeftError> {
        let error = |message: String| PeftError::Tensor {
            path: weights_path.clone(),
            key: key.clone(),
            message,
        };
        let tensor = file
            .remove(&key)
            .ok_or_else(|| error(format!("is missing ({ADAPTER_CONFIG_FILE} adapts this module)")))?;
        if tensor.shape != shape {
            return Err(error(format!(
                "has shape {:?}, expected {shape:?} (the r {ADAPTER_CONFIG_FILE} gives this module)",
                tensor.shape
            )));
        }
        Ok(tensor)
    };
    for path in &paths {
        let layer = layer_mut(&mut adapted, path)?;
        let [d_in, d_out] = layer.dims();
        let device = layer.base.weight.val().device();
        let adapter = layer.adapter.as_mut().expect("inject_adapter attached one");
        let r = config.for_module(path).r;
        let a = take(format!("{KEY_PREFIX}{path}.lora_A.weight"), &[r, d_in])?;
        adapter.lora_a = with_value(adapter.lora_a.clone(), a.to_linear_weight(&device));
        let b = take(format!("{KEY_PREFIX}{path}.lora_B.weight"), &[d_out, r])?;
        adapter.lora_b = with_value(adapter.lora_b.clone(), b.to_linear_weight(&device));
        if let Some(magnitude) = adapter.magnitude.take() {
            let m = take(format!("{KEY_PREFIX}{path}.lora_magnitude_vector"), &[d_out])?;
            adapter.magnitude = Some(with_value(magnitude, m.to_tensor(&device)));
        }
        if let Some(bias) = adapter.bias.take() {
            let b = take(format!("{KEY_PREFIX}{path}.lora_B.bias"), &[d_out])?;
            adapter.bias = Some(with_value(bias, b.to_tensor(&device)));
        }
    }
    if let Some(key) = file.keys().next() {
        return Err(PeftError::Tensor {
            path: weights_path,
            key: key.clone(),
            message: format!(
                "belongs to none of the {} modules {ADAPTER_CONFIG_FILE} adapts (with {} each)",
                paths.len(),
                if config.use_dora {
                    "lora_A.weight, lora_B.weight, lora_magnitude_vector"
                } else {
                    "lora_A.weight, lora_B.weight"
                }
            ),
        });
    }
    *model = adapted;
    Ok((config, paths))
}

/// An adapter directory loaded onto a model: where it came from, its config and the module
/// paths it adapts.
#[derive(Debug, Clone)]
pub struct LoadedAdapter {
    /// The adapter directory.
    pub dir: PathBuf,
    /// Its `adapter_config.json`.
    pub config: LoraConfig,
    /// The module paths it adapts.
    pub paths: Vec<String>,
}

impl LoadedAdapter {
    /// [`load_adapter`] of `dir` onto `model`.
    pub fn load<M: AdaptableModel + burn::module::Module>(model: &mut M, dir: &Path) -> Result<Self, PeftError> {
        let (config, paths) = load_adapter(model, dir)?;
        Ok(Self {
            dir: dir.to_path_buf(),
            config,
            paths,
        })
    }

    /// One line: kind, rank, alpha, scaling, the per-module patterns, dropout, module count.
    pub fn summary(&self) -> String {
        let c = &self.config;
        let kind = match (c.use_dora, c.use_rslora) {
            (true, true) => "DoRA (rsLoRA scaling)",
            (true, false) => "DoRA",
            (false, true) => "rsLoRA",
            (false, false) => "LoRA",
        };
        // r and alpha are the defaults of the layers no pattern matches.
        let mut patterns = String::new();
        if !c.rank_pattern.is_empty() {
            patterns += &format!(" (rank_pattern {:?})", c.rank_pattern);
        }
        if !c.alpha_pattern.is_empty() {
            patterns += &format!(" (alpha_pattern {:?})", c.alpha_pattern);
        }
        format!(
            "{kind}, r {}, alpha {}, scaling {}{patterns}, dropout {}, {} modules",
            c.r,
            c.lora_alpha,
            c.scaling(),
            c.lora_dropout,
            self.paths.len()
        )
    }

    /// The directory, the config's main keys with the scaling they give, and the modules, as
    /// `minbert info --json` writes them.
    pub fn to_json(&self) -> serde_json::Value {
        let c = &self.config;
        serde_json::json!({
            "dir": self.dir.display().to_string(),
            "r": c.r,
            "lora_alpha": c.lora_alpha,
            "lora_dropout": c.lora_dropout,
            "use_dora": c.use_dora,
            "use_rslora": c.use_rslora,
            "scaling": c.scaling(),
            "rank_pattern": c.rank_pattern,
            "alpha_pattern": c.alpha_pattern,
            "modules": self.paths,
        })
    }
}
