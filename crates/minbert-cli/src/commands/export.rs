//! `minbert export`: a model with a PEFT adapter, or a minbert checkpoint's encoder, written as
//! a merged Hugging Face checkpoint or as a PEFT adapter.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use burn::tensor::Device;
use clap::Args;
use minbert_model::{BertModel, load_pretrained, save_safetensors};
use minbert_task::checkpoint::{
    CheckpointMeta, ChosenBase, META_FILE, adapter_dir_name, load_checkpoint_with_base, read_meta,
};

use crate::adapter_dir::{self, LoadedAdapter};
use crate::backend::DeviceArgs;
use crate::model_dir::ModelArgs;
use crate::out_dir::{OutDir, OverwriteArg};
use crate::scoring::checkpoint_base;
use minbert_task::files::write_atomic;

/// The files of a checkpoint directory that `--merged` copies unchanged (those present).
const COPIED_FILES: &[&str] = &[
    "config.json",
    "tokenizer.json",
    "vocab.txt",
    "tokenizer_config.json",
    "special_tokens_map.json",
];

#[derive(Args, Debug)]
#[command(group = clap::ArgGroup::new("input").required(true).args(["adapter", "checkpoint"]))]
#[command(group = clap::ArgGroup::new("target").required(true).args(["merged", "peft"]))]
pub struct ExportArgs {
    /// PEFT adapter directory (adapter_config.json, adapter_model.safetensors), applied to
    /// --model. For a minbert checkpoint's adapter, pass --checkpoint instead.
    #[arg(long, value_name = "DIR")]
    pub adapter: Option<PathBuf>,
    /// A minbert checkpoint directory (a run's best/ or last/): its encoder 0 as trained, on
    /// the base model its meta.json records (or --model), with the trained base weights of
    /// train_base and full runs.
    #[arg(long, value_name = "DIR")]
    pub checkpoint: Option<PathBuf>,
    /// Write a Hugging Face checkpoint with the adapter merged into the weights
    /// (model.safetensors, with config.json and the tokenizer files copied from the base model).
    #[arg(long, value_name = "OUT")]
    pub merged: Option<PathBuf>,
    /// Write the adapter in PEFT's format (adapter_config.json, adapter_model.safetensors).
    #[arg(long, value_name = "OUT")]
    pub peft: Option<PathBuf>,
    #[command(flatten)]
    pub overwrite: OverwriteArg,
    #[command(flatten)]
    pub model: ModelArgs,
    #[command(flatten)]
    pub device: DeviceArgs,
}

/// The encoder to export, with the base model directory it was loaded on (config.json and
/// the tokenizer come from there) and its adapter, if it has one.
struct Source {
    encoder: BertModel,
    base_dir: PathBuf,
    adapter: Option<LoadedAdapter>,
}

pub fn run(args: ExportArgs) -> Result<()> {
    let (flag, path) = match (&args.merged, &args.peft) {
        (Some(path), _) => ("--merged", path),
        (None, Some(path)) => ("--peft", path),
        (None, None) => unreachable!("clap requires --merged or --peft"),
    };
    let out = OutDir::new(flag, path, args.overwrite);
    let input = match (&args.adapter, &args.checkpoint) {
        (Some(dir), _) => ("the input --adapter", dir.as_path()),
        (None, Some(dir)) => ("the input --checkpoint", dir.as_path()),
        (None, None) => unreachable!("clap requires --adapter or --checkpoint"),
    };
    // --adapter needs the model; --checkpoint has the one its meta.json records, unless given.
    let chosen = match &args.checkpoint {
        Some(dir) => checkpoint_base(&args.model, dir)?,
        None => None,
    };
    let model_dir = match &args.checkpoint {
        Some(_) => chosen.as_ref().map(|c| c.dir.clone()),
        None => Some(args.model.resolve()?.dir),
    };
    let mut known = vec![input];
    known.extend(model_dir.as_deref().map(|dir| ("the base model's directory", dir)));
    // Before loading anything: a refused output would waste it.
    out.check(&known)?;
    let device = args.device.device()?;
    let source = match (&args.checkpoint, model_dir) {
        (Some(dir), _) => from_checkpoint(dir, chosen.as_ref(), args.peft.is_some(), &device)?,
        (None, Some(model_dir)) => from_adapter(input.1, model_dir, &device)?,
        (None, None) => unreachable!("--adapter resolves the model"),
    };
    let inputs = [input, ("the base model's directory", source.base_dir.as_path())];
    if args.merged.is_some() {
        // `to_hf_tensors` merges every adapted layer (see `BertModel::to_hf_tensors`).
        out.replace(&inputs, |tmp| write_merged(tmp, &source))?;
        println!("wrote a merged checkpoint to {}", path.display());
    } else {
        let adapter = source.adapter.as_ref().expect("--peft sources have adapters (checked)");
        out.replace(&inputs, |tmp| {
            burn_peft::save_adapter(&source.encoder, &adapter.config, tmp)
                .with_context(|| format!("saving the adapter to {}", path.display()))
        })?;
        println!("wrote the adapter (PEFT format) to {}", path.display());
    }
    Ok(())
}

/// `--adapter DIR` on `--model`. The adapter of a train_base checkpoint is refused: on the
/// untouched base model it would silently drop the trained base weights.
fn from_adapter(dir: &Path, base_dir: PathBuf, device: &Device) -> Result<Source> {
    let parent = durable_fs::parent_folder(dir);
    if parent.join(META_FILE).is_file() && read_meta(parent)?.train_base {
        bail!(
            "--adapter {}: its checkpoint {} trained the base weights too (\"train_base\": true in {META_FILE}), \
             which the adapter alone leaves out; pass --checkpoint {} instead",
            dir.display(),
            parent.display(),
            parent.display()
        );
    }
    let (_, mut encoder) =
        load_pretrained(&base_dir, device).with_context(|| format!("loading model {}", base_dir.display()))?;
    let adapter = adapter_dir::apply(&mut encoder, dir)?;
    println!("adapter {}: {}", adapter.dir.display(), adapter.summary());
    Ok(Source {
        encoder,
        base_dir,
        adapter: Some(adapter),
    })
}

/// `--checkpoint DIR`: its encoder 0 as trained (base weights included where they trained),
/// on `base` or else the base model its meta.json records.
fn from_checkpoint(dir: &Path, base: Option<&ChosenBase>, peft: bool, device: &Device) -> Result<Source> {
    if peft {
        check_peft_exportable(dir, &read_meta(dir)?)?;
    }
    let loaded = load_checkpoint_with_base(dir, base, device)
        .with_context(|| format!("loading checkpoint {}", dir.display()))?;
    let meta = &loaded.meta;
    if meta.model.encoders > 1 {
        eprintln!(
            "warning: {} has {} encoders; exporting encoder 0 (its {META_FILE} says which tasks use each)",
            dir.display(),
            meta.model.encoders
        );
    }
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
    let adapter_summary = adapter.as_ref().map_or("no adapter".into(), LoadedAdapter::summary);
    println!(
        "checkpoint {}: mode {}, train_base {}, {adapter_summary}",
        dir.display(),
        meta.mode.name(),
        meta.train_base
    );
    Ok(Source {
        encoder,
        base_dir: loaded.base_model,
        adapter,
    })
}

/// A PEFT adapter is applied to the untouched base model, so it carries only checkpoints whose
/// encoder is that base model plus the adapter.
fn check_peft_exportable(dir: &Path, meta: &CheckpointMeta) -> Result<()> {
    let dir = dir.display();
    if !meta.mode.has_adapters() {
        bail!(
            "--peft: checkpoint {dir} has no adapter (mode {}); export it with --merged",
            meta.mode.name()
        );
    }
    if meta.train_base {
        bail!(
            "--peft: checkpoint {dir} trained the base weights too (\"train_base\": true in {META_FILE}); \
             a PEFT adapter alone cannot carry them: export it with --merged"
        );
    }
    Ok(())
}

/// `model.safetensors` with the adapters merged in, and the base model's config and tokenizer.
fn write_merged(tmp: &Path, source: &Source) -> Result<()> {
    let weights = tmp.join("model.safetensors");
    save_safetensors(&weights, &source.encoder.to_hf_tensors()).context("writing model.safetensors")?;
    for name in COPIED_FILES {
        let src = source.base_dir.join(name);
        if src.is_file() {
            let bytes = std::fs::read(&src).with_context(|| format!("cannot read {}", src.display()))?;
            write_atomic(&tmp.join(name), &bytes)?;
        }
    }
    Ok(())
}
