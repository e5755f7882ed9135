//! `minbert export`: a model with a PEFT adapter, or a minbert checkpoint's encoder, written as
//! a merged Hugging Face checkpoint or as a PEFT adapter.

use std::path::PathBuf;

use anyhow::{Context, Result};
use clap::Args;
use minbert_task::export::ExportSource;

use crate::backend::DeviceArgs;
use crate::model_dir::ModelArgs;
use crate::out_dir::{OutDir, OverwriteArg};
use crate::scoring::checkpoint_base;

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
    let (chosen, model_dir) = match &args.checkpoint {
        Some(dir) => checkpoint_base(&args.model, dir).map(|c| (c.clone(), c.map(|c| c.dir)))?,
        None => (None, Some(args.model.resolve()?.dir)),
    };
    let mut known = vec![input];
    known.extend(model_dir.as_deref().map(|dir| ("the base model's directory", dir)));
    // Before loading anything: a refused output would waste it.
    out.check(&known)?;
    let device = args.device.device()?;
    let source = match (&args.checkpoint, model_dir) {
        (Some(dir), _) => ExportSource::from_checkpoint(dir, chosen.as_ref(), args.peft.is_some(), &device)?,
        (None, Some(model_dir)) => ExportSource::from_adapter(input.1, model_dir, &device)?,
        (None, None) => unreachable!("--adapter resolves the model"),
    };
    if let Some(warning) = source.warning() {
        eprintln!("warning: {warning}");
    }
    println!("{}", source.describe());
    let inputs = [input, ("the base model's directory", source.base_dir.as_path())];
    if args.merged.is_some() {
        out.replace(&inputs, |tmp| Ok(source.write_merged(tmp)?))?;
        println!("wrote a merged checkpoint to {}", path.display());
    } else {
        let saving = || format!("saving the adapter to {}", path.display());
        out.replace(&inputs, |tmp| source.write_peft(tmp).with_context(saving))?;
        println!("wrote the adapter (PEFT format) to {}", path.display());
    }
    Ok(())
}
