//! [`AdapterWeights`]: one adapter's tensors as a PEFT adapter directory holds them, detached
//! from any model: what [`PeftModel`](crate::PeftModel) saves and loads, and what weighted merges
//! ([`add_weighted_adapter`](crate::add_weighted_adapter)) combine.

use std::collections::BTreeMap;
use std::path::Path;

use nalgebra::DMatrix;

use crate::config::LoraConfig;
use crate::error::PeftError;
use crate::io::{
    ADAPTER_CONFIG_FILE, ADAPTER_WEIGHTS_FILE, FileTensor, KEY_PREFIX, read_adapter_config, read_tensors,
    write_adapter_config, write_tensors,
};

/// The kind of layer an adapter sits on: PEFT names (and starts) the factors of each apart.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum LayerKind {
    /// A `burn::nn::Linear`: `in` and `out` its features.
    #[default]
    Linear,
    /// A `burn::nn::Embedding`: `in` the vocabulary, `out` the embedding size.
    Embedding,
}

impl LayerKind {
    /// The file names of A and B after the module's: `lora_A.weight` and `lora_B.weight`, or
    /// `lora_embedding_A` and `lora_embedding_B`.
    pub fn factor_names(self) -> [&'static str; 2] {
        match self {
            Self::Linear => ["lora_A.weight", "lora_B.weight"],
            Self::Embedding => ["lora_embedding_A", "lora_embedding_B"],
        }
    }
}

/// One module's adapter tensors in PEFT's layout.
#[derive(Debug, Clone, PartialEq)]
pub struct ModuleFactors {
    /// `lora_A.weight` (`lora_embedding_A`), `[r, in]`.
    pub lora_a: DMatrix<f32>,
    /// `lora_B.weight` (`lora_embedding_B`), `[out, r]`.
    pub lora_b: DMatrix<f32>,
    /// DoRA's `lora_magnitude_vector`, `[out]`.
    pub magnitude: Option<Vec<f32>>,
    /// `lora_bias`'s `lora_B.bias`, `[out]`.
    pub bias: Option<Vec<f32>>,
    /// The layer they adapt.
    pub kind: LayerKind,
}

impl ModuleFactors {
    /// The rank `r`.
    pub fn rank(&self) -> usize {
        self.lora_a.nrows()
    }

    /// PEFT's `get_delta_weight` for LoRA: `s B A`, `[out, in]`.
    pub fn delta_weight(&self, scaling: f64) -> DMatrix<f32> {
        (&self.lora_b * &self.lora_a) * scaling as f32
    }
}

/// The tensor names of adapter files after `<module>.`: which factor (A, B, magnitude) each is,
/// and of which kind of layer.
const FILE_SUFFIXES: [(&str, usize, LayerKind); 6] = [
    ("lora_A.weight", 0, LayerKind::Linear),
    ("lora_B.weight", 1, LayerKind::Linear),
    ("lora_embedding_A", 0, LayerKind::Embedding),
    ("lora_embedding_B", 1, LayerKind::Embedding),
    ("lora_magnitude_vector", 2, LayerKind::Linear),
    ("lora_B.bias", 3, LayerKind::Linear),
];

/// DoRA's magnitude or `lora_bias`'s bias: present exactly when the config's `flag` is `on`,
/// one value per output (`rows` of B, named `b_name`).
fn check_per_output(values: &Option<Vec<f32>>, rows: usize, flag: &str, on: bool, b_name: &str) -> Result<(), String> {
    match (values, on) {
        (None, true) => Err(format!("is missing ({flag} is true)")),
        (Some(_), false) => Err(format!("is present but {flag} is false")),
        (Some(v), true) if v.len() != rows => Err(format!("has {} values, expected {rows} ({b_name}'s rows)", v.len())),
        _ => Ok(()),
    }
}

/// An adapter: its config and its tensors per module, keyed by PEFT module name.
#[derive(Debug, Clone, PartialEq)]
pub struct AdapterWeights {
    /// The adapter's `adapter_config.json`.
    pub config: LoraConfig,
    /// Tensors per module, keyed by PEFT module name (`encoder.layer.0.attention.self.query`).
    pub modules: BTreeMap<String, ModuleFactors>,
}

impl AdapterWeights {
    /// Reads a PEFT adapter directory (`adapter_config.json` and `adapter_model.safetensors`).
    /// Every module must have `lora_A.weight` and `lora_B.weight` of rank `r`, and DoRA's
    /// magnitude when the config says DoRA; a tensor that is missing, misshapen or of no module is
    /// an error naming the file and the key.
    pub fn read(dir: &Path) -> Result<Self, PeftError> {
        let config = read_adapter_config(&dir.join(ADAPTER_CONFIG_FILE))?;
        let path = dir.join(ADAPTER_WEIGHTS_FILE);
        let error = |key: &str, message: String| PeftError::Tensor {
            path: path.clone(),
            key: key.to_string(),
            message,
        };
        let mut parts: BTreeMap<String, ([Option<FileTensor>; 4], LayerKind)> = BTreeMap::new();
        for tensor in read_tensors(&path)? {
            let (module, slot, kind) = FILE_SUFFIXES
                .iter()
                .find_map(|&(suffix, slot, kind)| {
                    let module = tensor.name.strip_prefix(KEY_PREFIX)?.strip_suffix(suffix)?.strip_suffix('.')?;
                    Some((module.to_string(), slot, kind))
                })
                .ok_or_else(|| {
                    error(
                        &tensor.name,
                        format!("is not a LoRA tensor (expected {KEY_PREFIX}<module>.lora_A.weight, .lora_B.weight, .lora_B.bias, .lora_embedding_A, .lora_embedding_B or .lora_magnitude_vector)"),
                    )
                })?;
            let entry = parts.entry(module).or_default();
            // The magnitude and the bias do not say the kind; A and B do.
            if slot < 2 {
                entry.1 = kind;
            }
            entry.0[slot] = Some(tensor);
        }
        let mut modules = BTreeMap::new();
        for (module, ([a, b, m, bias], kind)) in parts {
            let key = |suffix: &str| format!("{KEY_PREFIX}{module}.{suffix}");
            let [a_name, b_name] = kind.factor_names();
            let matrix = |t: Option<FileTensor>, suffix: &str| -> Result<DMatrix<f32>, PeftError> {
                let t = t.ok_or_else(|| error(&key(suffix), "is missing".into()))?;
                match t.shape[..] {
                    [_, _] => Ok(t.to_matrix()),
                    _ => Err(error(
                        &t.name,
                        format!("has shape {:?}, expected two dimensions", t.shape),
                    )),
                }
            };
            let factors = ModuleFactors {
                lora_a: matrix(a, a_name)?,
                lora_b: matrix(b, b_name)?,
                magnitude: m.map(|t| t.values),
                bias: bias.map(|t| t.values),
                kind,
            };
            let rows = factors.lora_b.nrows();
            check_per_output(&factors.bias, rows, "lora_bias", config.lora_bias, b_name)
                .map_err(|message| error(&key("lora_B.bias"), message))?;
            let r = config.for_module(&module).r;
            if factors.lora_a.nrows() != r || factors.lora_b.ncols() != r {
                return Err(error(
                    &key(a_name),
                    format!(
                        "and {b_name} have shapes [{}, {}] and [{}, {}], expected rank r = {r} ({ADAPTER_CONFIG_FILE})",
                        factors.lora_a.nrows(),
                        factors.lora_a.ncols(),
                        factors.lora_b.nrows(),
                        factors.lora_b.ncols()
                    ),
                ));
            }
            check_per_output(&factors.magnitude, rows, "use_dora", config.use_dora, b_name)
                .map_err(|message| error(&key("lora_magnitude_vector"), message))?;
            modules.insert(module, factors);
        }
        Ok(Self { config, modules })
    }

    /// Writes a PEFT adapter directory that PEFT's `PeftModel.from_pretrained` loads.
    pub fn write(&self, dir: &Path) -> Result<(), PeftError> {
        std::fs::create_dir_all(dir).map_err(|e| PeftError::io(dir, e))?;
        let mut tensors = Vec::new();
        for (module, factors) in &self.modules {
            let [a_name, b_name] = factors.kind.factor_names();
            tensors.push(FileTensor::matrix(
                format!("{KEY_PREFIX}{module}.{a_name}"),
                &factors.lora_a,
            ));
            tensors.push(FileTensor::matrix(
                format!("{KEY_PREFIX}{module}.{b_name}"),
                &factors.lora_b,
            ));
            if let Some(b) = &factors.bias {
                tensors.push(FileTensor {
                    name: format!("{KEY_PREFIX}{module}.lora_B.bias"),
                    shape: vec![b.len()],
                    values: b.clone(),
                });
            }
            if let Some(m) = &factors.magnitude {
                tensors.push(FileTensor {
                    name: format!("{KEY_PREFIX}{module}.lora_magnitude_vector"),
                    shape: vec![m.len()],
                    values: m.clone(),
                });
            }
        }
        write_tensors(&dir.join(ADAPTER_WEIGHTS_FILE), &tensors)?;
        write_adapter_config(&dir.join(ADAPTER_CONFIG_FILE), &self.config)
    }
}
