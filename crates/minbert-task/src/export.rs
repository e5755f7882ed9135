//! Exporting an encoder: a base model with a PEFT adapter, or a checkpoint's encoder 0 as
//! trained, written as a merged Hugging Face checkpoint or as a PEFT adapter.

use std::path::{Path, PathBuf};

use burn::tensor::Device;
use burn_peft::LoadedAdapter;
use minbert_model::{BertModel, load_pretrained, save_safetensors};

use crate::TaskError;
use crate::checkpoint::{
    CheckpointMeta, ChosenBase, META_FILE, adapter_dir_name, load_checkpoint_with_base, read_meta,
};
use crate::files::write_atomic;

/// The files of the base model directory that a merged export copies unchanged (those present).
pub const COPIED_FILES: &[&str] = &[
    "config.json",
    "tokenizer.json",
    "vocab.txt",
    "tokenizer_config.json",
    "special_tokens_map.json",
];

/// The encoder to export, with the base model directory it was loaded on (config.json and the
/// tokenizer come from there) and its adapter, if it has one.
pub struct ExportSource {
    /// The encoder, adapters attached and not merged.
    pub encoder: BertModel,
    /// The base model directory.
    pub base_dir: PathBuf,
    /// Its adapter; `None` for a checkpoint without one.
    pub adapter: Option<LoadedAdapter>,
    /// Where the encoder came from.
    pub origin: ExportOrigin,
}

/// Where an exported encoder came from.
pub enum ExportOrigin {
    /// A PEFT adapter directory on a base model.
    Adapter,
    /// A minbert checkpoint's directory, with its meta.json.
    Checkpoint { dir: PathBuf, meta: Box<CheckpointMeta> },
}

impl ExportSource {
    /// The PEFT adapter in `dir` on the base model in `base_dir`. The adapter of a train_base
    /// checkpoint is refused: on the untouched base model it would silently drop the trained
    /// base weights.
    pub fn from_adapter(dir: &Path, base_dir: PathBuf, device: &Device) -> Result<Self, TaskError> {
        let parent = durable_fs::parent_folder(dir);
        if parent.join(META_FILE).is_file() && read_meta(parent)?.train_base {
            let (dir, parent) = (dir.display(), parent.display());
            return Err(TaskError::Export(format!(
                "--adapter {dir}: its checkpoint {parent} trained the base weights too (\"train_base\": true in \
                 {META_FILE}), which the adapter alone leaves out; pass --checkpoint {parent} instead"
            )));
        }
        let (_, mut encoder) = load_pretrained(&base_dir, device)
            .map_err(|e| TaskError::step(format!("loading model {}", base_dir.display()), e))?;
        let adapter = LoadedAdapter::load(&mut encoder, dir)
            .map_err(|e| TaskError::step(format!("loading adapter {}", dir.display()), e))?;
        Ok(Self {
            encoder,
            base_dir,
            adapter: Some(adapter),
            origin: ExportOrigin::Adapter,
        })
    }

    /// The checkpoint in `dir`: its encoder 0 as trained (base weights included where they
    /// trained), on `base` or else the base model its meta.json records.
    /// With `peft`, a checkpoint whose encoder is not the base model plus an adapter is refused.
    pub fn from_checkpoint(
        dir: &Path,
        base: Option<&ChosenBase>,
        peft: bool,
        device: &Device,
    ) -> Result<Self, TaskError> {
        if peft {
            check_peft_exportable(dir, &read_meta(dir)?)?;
        }
        let loaded = load_checkpoint_with_base(dir, base, device)
            .map_err(|e| TaskError::step(format!("loading checkpoint {}", dir.display()), e))?;
        let encoder = loaded
            .model
            .encoders
            .into_iter()
            .next()
            .expect("a checkpoint has an encoder");
        let adapter = loaded.lora.map(|config| LoadedAdapter {
            dir: dir.join(adapter_dir_name(0)),
            paths: burn_peft::adapted_paths(&encoder),
            config,
        });
        Ok(Self {
            encoder,
            base_dir: loaded.base_model,
            adapter,
            origin: ExportOrigin::Checkpoint {
                dir: dir.to_path_buf(),
                meta: Box::new(loaded.meta),
            },
        })
    }

    /// What was loaded, in a line: the adapter's kind, rank and modules, and for a checkpoint
    /// its mode and whether the base weights trained.
    pub fn describe(&self) -> String {
        let adapter = self.adapter.as_ref();
        match &self.origin {
            ExportOrigin::Adapter => {
                let adapter = adapter.expect("an adapter export has its adapter");
                format!("adapter {}: {}", adapter.dir.display(), adapter.summary())
            }
            ExportOrigin::Checkpoint { dir, meta } => format!(
                "checkpoint {}: mode {}, train_base {}, {}",
                dir.display(),
                meta.mode.name(),
                meta.train_base,
                adapter.map_or("no adapter".into(), LoadedAdapter::summary)
            ),
        }
    }

    /// A warning for a checkpoint with several encoders, of which only encoder 0 is exported.
    pub fn warning(&self) -> Option<String> {
        let ExportOrigin::Checkpoint { dir, meta } = &self.origin else {
            return None;
        };
        (meta.model.encoders > 1).then(|| {
            format!(
                "{} has {} encoders; exporting encoder 0 (its {META_FILE} says which tasks use each)",
                dir.display(),
                meta.model.encoders
            )
        })
    }

    /// Writes into `dir` `model.safetensors` with the adapters merged into the weights (see
    /// `BertModel::to_hf_tensors`), and the base model's config and tokenizer files.
    pub fn write_merged(&self, dir: &Path) -> Result<(), TaskError> {
        save_safetensors(&dir.join("model.safetensors"), &self.encoder.to_hf_tensors())
            .map_err(|e| TaskError::step("writing model.safetensors".into(), e))?;
        for name in COPIED_FILES {
            let src = self.base_dir.join(name);
            if src.is_file() {
                let bytes = std::fs::read(&src).map_err(|source| TaskError::Read {
                    path: src.clone(),
                    source,
                })?;
                write_atomic(&dir.join(name), &bytes)?;
            }
        }
        Ok(())
    }

    /// Writes the adapter into `dir` in PEFT's format; a source without one is an error.
    pub fn write_peft(&self, dir: &Path) -> Result<(), TaskError> {
        let adapter = self
            .adapter
            .as_ref()
            .ok_or_else(|| TaskError::Export("--peft: the source has no adapter".into()))?;
        Ok(burn_peft::save_adapter(&self.encoder, &adapter.config, dir)?)
    }
}

/// A PEFT adapter is applied to the untouched base model, so it carries only checkpoints whose
/// encoder is that base model plus the adapter.
fn check_peft_exportable(dir: &Path, meta: &CheckpointMeta) -> Result<(), TaskError> {
    let dir = dir.display();
    if !meta.mode.has_adapters() {
        return Err(TaskError::Export(format!(
            "--peft: checkpoint {dir} has no adapter (mode {}); export it with --merged",
            meta.mode.name()
        )));
    }
    if meta.train_base {
        return Err(TaskError::Export(format!(
            "--peft: checkpoint {dir} trained the base weights too (\"train_base\": true in {META_FILE}); \
             a PEFT adapter alone cannot carry them: export it with --merged"
        )));
    }
    Ok(())
}
