//! Checkpoint directories (`best/`, `last/`), as DESIGN.md lays them out:
//!
//! ```text
//! meta.json          base model (Hub id or relative path, sha256 of its weights), mode, tasks,
//!                    heads, pooling,
//!                    precision, scores, trainable params, minbert version
//! adapter/           PEFT adapter of encoder 0 (lora, dora); adapter-1/ for a second encoder
//! model.safetensors  encoder 0 in HF layout (full mode, or lora/dora with train_base: then the
//!                    base weights without the adapter); model-1.safetensors for a second encoder
//! heads.safetensors  task heads, PyTorch layout (`sst.out.weight` [out, in], ...)
//! optimizer.safetensors, state.json    last/ only: AdamW moments and the trainer's counters
//! ```
//!
//! A directory is written under a temporary name, fsynced and renamed into place, so a killed
//! run or a power loss leaves either the previous checkpoint or the new one, never half of one.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use burn::module::Param;
use burn::nn::Linear;
use burn::tensor::Device;
/// Trainable and total parameter counts, as `meta.json` and `summary.json` record them.
pub use burn_peft::ParamCount;
use burn_peft::{LoraConfig, load_adapter, save_adapter};
use minbert_data::CourseTask;
use minbert_hub::HubSettings;
use minbert_model::{BertConfig, BertModel, HfTensor, WeightMap, load_pretrained, read_safetensors, save_safetensors};
use serde::{Deserialize, Serialize};

use crate::TaskError;
use crate::files::{read_json, sha256_file, write_json};
use crate::fingerprint::{FileFingerprint, tokenizer_fingerprint};
use crate::metrics::Scores;
use crate::model::{Head, ModelSpec, MultitaskModel};
use crate::spec::{Mode, Precision};

pub const META_FILE: &str = "meta.json";
pub const HEADS_FILE: &str = "heads.safetensors";
pub const OPTIMIZER_FILE: &str = "optimizer.safetensors";
pub const STATE_FILE: &str = "state.json";

/// The base checkpoint a run started from, by name and by content.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BaseModel {
    /// A Hugging Face Hub id, or the model directory relative to the checkpoint directory
    /// (older checkpoints wrote an absolute `path`).
    #[serde(alias = "path")]
    pub name_or_path: String,
    /// The Hub snapshot (commit) it was taken from, for a Hub id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revision: Option<String>,
    /// Of its `model.safetensors`, lowercase hex.
    pub sha256: String,
    /// Of its `config.json` (absent in older checkpoints: then not checked).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub config_sha256: Option<String>,
    /// Its tokenizer file (absent in older checkpoints: then not checked).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tokenizer: Option<FileFingerprint>,
}

impl BaseModel {
    /// The base model in `dir`, recorded as `name_or_path` (and `revision`).
    pub fn of(dir: &Path, name_or_path: String, revision: Option<String>) -> Result<Self, TaskError> {
        Ok(Self {
            name_or_path,
            revision,
            sha256: sha256_file(&dir.join("model.safetensors"))?,
            config_sha256: Some(sha256_file(&dir.join("config.json"))?),
            tokenizer: Some(tokenizer_fingerprint(dir)?),
        })
    }

    /// The recorded name, with the revision where there is one.
    pub fn describe(&self) -> String {
        match &self.revision {
            Some(rev) => format!("{} (revision {rev})", self.name_or_path),
            None => self.name_or_path.clone(),
        }
    }

    /// Why the model in `dir` is not this one (`None`: it is): its config, its tokenizer and,
    /// where `weights` is set (the checkpoint uses the base weights), its weights.
    pub fn mismatch(&self, dir: &Path, weights: bool) -> Result<Option<String>, TaskError> {
        // Only what is recorded and used is hashed: a full-mode checkpoint never reads the
        // base's 90 MB of weights.
        if weights {
            let sha = sha256_file(&dir.join("model.safetensors"))?;
            if sha != self.sha256 {
                return Ok(Some(format!(
                    "its model.safetensors has sha256 {sha}, the recorded base's {}",
                    self.sha256
                )));
            }
        }
        if let Some(config) = &self.config_sha256 {
            let sha = sha256_file(&dir.join("config.json"))?;
            if sha != *config {
                return Ok(Some(format!(
                    "its config.json has sha256 {sha}, the recorded base's {config}"
                )));
            }
        }
        if let Some(tokenizer) = &self.tokenizer
            && let Some(change) = tokenizer.change(&tokenizer_fingerprint(dir)?)
        {
            return Ok(Some(format!(
                "its tokenizer differs from the recorded base's: {change}"
            )));
        }
        Ok(None)
    }
}

/// A base model given for a checkpoint instead of the recorded one, and where it came from
/// (`--model`, `MINBERT_MODEL`, a run's `model.path`), for messages.
#[derive(Debug, Clone)]
pub struct ChosenBase {
    pub dir: PathBuf,
    pub origin: String,
}

/// The precision a run asked for and the one its steps ran in.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PrecisionInfo {
    pub requested: Precision,
    pub compute: Precision,
    /// Why `compute` differs from `requested`, or what it means on this backend.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

/// `meta.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CheckpointMeta {
    pub minbert_version: String,
    pub base_model: BaseModel,
    pub mode: Mode,
    /// Whether the base encoder trained alongside the adapters (its weights are then saved).
    pub train_base: bool,
    pub tasks: Vec<CourseTask>,
    /// Pooling, encoders and each task's head, pair encoding and loss.
    pub model: ModelSpec,
    /// How its inputs were encoded, so it is scored on the same terms.
    pub data: DataSpec,
    pub precision: PrecisionInfo,
    /// Dev scores of this checkpoint (`null` before the first evaluation).
    pub scores: Option<Scores>,
    /// Optimizer steps and epochs done.
    pub step: usize,
    pub epoch: usize,
    pub params: ParamCount,
    /// New at every save, so that a reader can tell two saves apart (see
    /// [`load_checkpoint_with_base`]).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub checkpoint_id: String,
}

impl CheckpointMeta {
    /// Whether the checkpoint runs on its base model's weights (heads, lora, dora without
    /// `train_base`), rather than on weights of its own.
    pub fn uses_base_weights(&self) -> bool {
        self.mode != Mode::Full && !self.train_base
    }
}

/// The input side of a checkpoint: what [`CheckpointMeta::model`] does not say about how texts
/// become batches.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct DataSpec {
    /// Tokens per sequence (per pair with joint encoding), special tokens included.
    pub max_len: usize,
    /// The course's own text preprocessing (`data.course_preprocessing`).
    pub course_preprocessing: bool,
    /// The dev sample (`data.dev_subset`, 0: all of dev) that `scores` were computed on.
    pub dev_subset: usize,
}

/// What [`save_checkpoint`] writes besides the model.
pub struct CheckpointExtras<'a, S> {
    pub lora: Option<&'a LoraConfig>,
    /// `last/` only: optimizer tensors and the trainer's counters (`state.json`).
    pub resume: Option<(Vec<HfTensor>, &'a S)>,
}

impl<'a> CheckpointExtras<'a, ()> {
    /// The model alone (a `best/` or an exported checkpoint): nothing to resume from.
    pub fn model_only(lora: Option<&'a LoraConfig>) -> Self {
        Self { lora, resume: None }
    }
}

/// `adapter` / `model.safetensors` for encoder 0, `adapter-1` / `model-1.safetensors` for 1.
pub fn adapter_dir_name(encoder: usize) -> String {
    if encoder == 0 {
        "adapter".into()
    } else {
        format!("adapter-{encoder}")
    }
}

pub fn model_file_name(encoder: usize) -> String {
    if encoder == 0 {
        "model.safetensors".into()
    } else {
        format!("model-{encoder}.safetensors")
    }
}

/// The heads' weights under PyTorch names and layouts (`sst.out.weight` `[out, in]`).
pub fn head_tensors(model: &MultitaskModel) -> Vec<HfTensor> {
    let mut out = Vec::new();
    for task in CourseTask::ALL {
        let Some(head) = model.head(task) else { continue };
        for (name, linear) in [("dense", &head.dense), ("out", &head.out)] {
            if let Some(linear) = linear {
                let path = format!("{}.{name}", task.name());
                out.push(HfTensor::linear_weight(format!("{path}.weight"), linear.weight.val()));
                if let Some(bias) = &linear.bias {
                    out.push(HfTensor::new(format!("{path}.bias"), bias.val()));
                }
            }
        }
    }
    out
}

/// Sets the heads from `heads.safetensors`; every head layer must be there with its shape, and
/// nothing else.
fn load_heads(model: &mut MultitaskModel, path: &Path, device: &Device) -> Result<(), TaskError> {
    let mut tensors: BTreeMap<String, HfTensor> = read_safetensors(path)?
        .into_iter()
        .map(|t| (t.name.clone(), t))
        .collect();
    for task in CourseTask::ALL {
        let Some(head) = model.head_mut(task) else { continue };
        let Head { dense, out, .. } = head;
        for (name, linear) in [("dense", dense), ("out", out)] {
            let Some(linear) = linear else { continue };
            let key = format!("{}.{name}", task.name());
            set_linear(linear, &key, &mut tensors, path, device)?;
        }
    }
    if let Some(key) = tensors.keys().next() {
        return Err(TaskError::checkpoint(
            path,
            format!("\"{key}\" belongs to no head of the model described by {META_FILE}"),
        ));
    }
    Ok(())
}

fn set_linear(
    linear: &mut Linear,
    key: &str,
    tensors: &mut BTreeMap<String, HfTensor>,
    path: &Path,
    device: &Device,
) -> Result<(), TaskError> {
    let [d_in, d_out] = linear.weight.dims();
    let mut take = |name: String, shape: Vec<usize>| {
        let t = tensors
            .remove(&name)
            .ok_or_else(|| TaskError::checkpoint(path, format!("\"{name}\" is missing")))?;
        if t.shape != shape {
            return Err(TaskError::checkpoint(
                path,
                format!("\"{name}\" has shape {:?}, expected {shape:?}", t.shape),
            ));
        }
        Ok(t)
    };
    let weight = take(format!("{key}.weight"), vec![d_out, d_in])?;
    linear.weight = Param::from_tensor(weight.to_linear_weight(device));
    if linear.bias.is_some() {
        let bias = take(format!("{key}.bias"), vec![d_out])?;
        linear.bias = Some(Param::from_tensor(bias.to_tensor::<1>(device)));
    }
    Ok(())
}

/// The encoder's own weights in HF layout, adapters left out (not merged in).
fn base_tensors(encoder: &BertModel) -> Vec<HfTensor> {
    let mut bare = encoder.clone();
    for path in burn_peft::adapted_paths(&bare) {
        if let Some(layer) = burn_peft::AdaptableModel::adapted_linear_mut(&mut bare, &path) {
            layer.adapter = None;
        }
    }
    bare.to_hf_tensors()
}

/// Writes `model` as a checkpoint directory at `dir`, replacing it durably: after a crash at
/// any point `dir` holds the previous checkpoint or this one, complete (`durable_fs::replace_dir`).
pub fn save_checkpoint<S: Serialize>(
    dir: &Path,
    model: &MultitaskModel,
    meta: &CheckpointMeta,
    extras: CheckpointExtras<S>,
) -> Result<(), TaskError> {
    let meta = CheckpointMeta {
        checkpoint_id: new_checkpoint_id(),
        ..meta.clone()
    };
    durable_fs::replace_dir(dir, |tmp| write_checkpoint_files(tmp, model, &meta, &extras))
}

/// Unique per save: the time, the process and a per-call random key.
fn new_checkpoint_id() -> String {
    use std::hash::{BuildHasher, Hasher};
    let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    hasher.write_u128(nanos);
    hasher.write_u32(std::process::id());
    format!("{:016x}", hasher.finish())
}

fn write_checkpoint_files<S: Serialize>(
    tmp: &Path,
    model: &MultitaskModel,
    meta: &CheckpointMeta,
    extras: &CheckpointExtras<S>,
) -> Result<(), TaskError> {
    for (i, encoder) in model.encoders.iter().enumerate() {
        if meta.mode == Mode::Full || meta.train_base {
            let tensors = if meta.mode == Mode::Full {
                encoder.to_hf_tensors()
            } else {
                base_tensors(encoder)
            };
            save_safetensors(&tmp.join(model_file_name(i)), &tensors)?;
        }
        if meta.mode.has_adapters() {
            let lora = extras
                .lora
                .expect("lora and dora checkpoints come with their LoraConfig");
            save_adapter(encoder, lora, &tmp.join(adapter_dir_name(i)))?;
        }
    }
    save_safetensors(&tmp.join(HEADS_FILE), &head_tensors(model))?;
    if let Some((optimizer, state)) = &extras.resume {
        save_safetensors(&tmp.join(OPTIMIZER_FILE), optimizer)?;
        write_json(&tmp.join(STATE_FILE), state)?;
    }
    // Last: a reader that finds meta.json finds the rest (see `load_checkpoint_with_base`).
    write_json(&tmp.join(META_FILE), meta)
}

/// Makes a checkpoint directory whole after a crash: an interrupted swap is finished or undone
/// and the temporaries of unfinished saves are removed. Only its writer (the run's lock holder)
/// may call it.
pub fn recover_interrupted(dir: &Path) -> Result<durable_fs::Recovered, TaskError> {
    Ok(durable_fs::recover_dir(dir)?)
}

/// A multitask model rebuilt from a checkpoint directory, with its `meta.json`.
pub struct LoadedCheckpoint {
    pub model: MultitaskModel,
    pub meta: CheckpointMeta,
    pub bert_config: BertConfig,
    /// The base model directory the weights were combined with.
    pub base_model: PathBuf,
    /// The adapters' config (lora, dora).
    pub lora: Option<LoraConfig>,
}

/// The `meta.json` of the checkpoint directory `dir`.
pub fn read_meta(dir: &Path) -> Result<CheckpointMeta, TaskError> {
    let meta_path = dir.join(META_FILE);
    if !meta_path.is_file() {
        return Err(TaskError::checkpoint(
            dir,
            format!("not a checkpoint directory: no {META_FILE}"),
        ));
    }
    read_json(&meta_path)
}

/// Rebuilds the multitask model of `dir` (a `best/` or `last/`) on `device`, on the base model
/// recorded in `meta.json`.
pub fn load_checkpoint(dir: &Path, device: &Device) -> Result<LoadedCheckpoint, TaskError> {
    load_checkpoint_with_base(dir, None, device)
}

/// As [`load_checkpoint`], on the base model `base` (another copy, say) instead of the recorded
/// one; it must be the recorded model by content (config, tokenizer, and weights where they are
/// used). A checkpoint of a live run may be replaced while it is read: its files are read
/// between two reads of `meta.json` (whose `checkpoint_id` changes at every save), and read
/// again when those differ, so the model comes from one save.
pub fn load_checkpoint_with_base(
    dir: &Path,
    base: Option<&ChosenBase>,
    device: &Device,
) -> Result<LoadedCheckpoint, TaskError> {
    durable_fs::read_consistent(dir, META_FILE, || load_once(dir, base, device))
}

/// The base model directory of a checkpoint: `base` if given (checked by content), else the
/// recorded one.
fn base_dir(dir: &Path, meta: &CheckpointMeta, base: Option<&ChosenBase>) -> Result<PathBuf, TaskError> {
    let meta_path = dir.join(META_FILE);
    let recorded = meta.base_model.describe();
    let (path, origin) = match base {
        Some(chosen) => (chosen.dir.clone(), chosen.origin.clone()),
        None => {
            let resolved =
                minbert_hub::resolve(&meta.base_model.name_or_path, dir, &HubSettings::from_env()).map_err(|e| {
                    TaskError::checkpoint(
                        &meta_path,
                        format!("base_model: {e}; or pass --model with the base model it was trained on"),
                    )
                })?;
            (resolved.dir, format!("recorded in {META_FILE}"))
        }
    };
    if !path.join("config.json").is_file() {
        return Err(TaskError::checkpoint(
            &meta_path,
            format!(
                "base model {} ({origin}) is not here (no config.json); pass --model with the base model it was \
                 trained on ({recorded})",
                path.display()
            ),
        ));
    }
    if let Some(why) = meta.base_model.mismatch(&path, meta.uses_base_weights())? {
        return Err(TaskError::checkpoint(
            &meta_path,
            format!(
                "was trained on another base model than {} ({origin}): {why}; pass --model with the base model \
                 it was trained on ({recorded})",
                path.display()
            ),
        ));
    }
    Ok(path)
}

fn load_once(dir: &Path, base: Option<&ChosenBase>, device: &Device) -> Result<LoadedCheckpoint, TaskError> {
    let meta = read_meta(dir)?;
    let base = base_dir(dir, &meta, base)?;
    let uses_base_weights = meta.uses_base_weights();
    let bert_config = BertConfig::from_hf_file(&base.join("config.json"))?;
    if meta.data.max_len > bert_config.max_position_embeddings {
        return Err(TaskError::checkpoint(
            &dir.join(META_FILE),
            format!(
                "data.max_len is {}, but the base model has {} positions (max_position_embeddings)",
                meta.data.max_len, bert_config.max_position_embeddings
            ),
        ));
    }
    let mut encoders = Vec::with_capacity(meta.model.encoders);
    let mut lora = None;
    for i in 0..meta.model.encoders {
        let mut encoder = if uses_base_weights {
            load_pretrained(&base, device)?.1
        } else {
            let path = dir.join(model_file_name(i));
            if !path.is_file() {
                return Err(TaskError::checkpoint(
                    &path,
                    format!("is missing (mode {} saves the encoder)", meta.mode.name()),
                ));
            }
            let mut weights = WeightMap::from_safetensors(&path, "embeddings.word_embeddings.weight", device)?;
            let encoder = bert_config.init_with(&mut weights, device);
            weights.finish()?;
            encoder
        };
        if meta.mode.has_adapters() {
            let (config, _) = load_adapter(&mut encoder, &dir.join(adapter_dir_name(i)))?;
            lora = Some(config);
        }
        encoders.push(encoder);
    }
    let mut model = MultitaskModel::new(meta.model.clone(), encoders, device);
    load_heads(&mut model, &dir.join(HEADS_FILE), device)?;
    Ok(LoadedCheckpoint {
        model,
        meta,
        bert_config,
        base_model: base,
        lora,
    })
}
