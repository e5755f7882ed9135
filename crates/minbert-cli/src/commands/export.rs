//! `minbert export`: a model with a PEFT adapter, written as a merged Hugging Face checkpoint or
//! as a PEFT adapter again.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use clap::Args;
use minbert_model::{load_pretrained, save_safetensors};

use crate::adapter_dir;
use crate::backend::DeviceArgs;
use crate::model_dir::ModelArgs;
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
#[command(group = clap::ArgGroup::new("target").required(true).args(["merged", "peft"]))]
pub struct ExportArgs {
    /// PEFT adapter directory (adapter_config.json, adapter_model.safetensors).
    #[arg(long, value_name = "DIR")]
    pub adapter: PathBuf,
    /// Write a Hugging Face checkpoint with the adapter merged into the weights
    /// (model.safetensors, with config.json and the tokenizer files copied from --model).
    #[arg(long, value_name = "OUT")]
    pub merged: Option<PathBuf>,
    /// Write the adapter in PEFT's format (adapter_config.json, adapter_model.safetensors).
    #[arg(long, value_name = "OUT")]
    pub peft: Option<PathBuf>,
    #[command(flatten)]
    pub model: ModelArgs,
    #[command(flatten)]
    pub device: DeviceArgs,
}

pub fn run(args: ExportArgs) -> Result<()> {
    let dir = args.model.resolve()?.dir;
    let device = args.device.device()?;
    let (_, mut model) = load_pretrained(&dir, &device).with_context(|| format!("loading model {}", dir.display()))?;
    let adapter = adapter_dir::apply(&mut model, &args.adapter)?;
    println!("adapter {}: {}", adapter.dir.display(), adapter.summary());

    if let Some(out) = &args.merged {
        if same_dir(out, &dir) {
            bail!(
                "--merged {} is the base model's directory; choose another",
                out.display()
            );
        }
        std::fs::create_dir_all(out).with_context(|| format!("cannot create folder {}", out.display()))?;
        // `to_hf_tensors` merges every adapted layer (see `BertModel::to_hf_tensors`).
        let weights = out.join("model.safetensors");
        save_safetensors(&weights, &model.to_hf_tensors()).with_context(|| format!("writing {}", weights.display()))?;
        for name in COPIED_FILES {
            let src = dir.join(name);
            if src.is_file() {
                let bytes = std::fs::read(&src).with_context(|| format!("cannot read {}", src.display()))?;
                write_atomic(&out.join(name), &bytes)?;
            }
        }
        println!("wrote a merged checkpoint to {}", out.display());
    }
    if let Some(out) = &args.peft {
        burn_peft::save_adapter(&model, &adapter.config, out)
            .with_context(|| format!("saving the adapter to {}", out.display()))?;
        println!("wrote the adapter (PEFT format) to {}", out.display());
    }
    Ok(())
}

fn same_dir(a: &Path, b: &Path) -> bool {
    matches!((a.canonicalize(), b.canonicalize()), (Ok(a), Ok(b)) if a == b)
}
