use std::path::PathBuf;

use anyhow::{Context, Result};
use burn_peft::{AdaptableModel, LoadedAdapter};
use clap::Args;
use minbert_model::{BaseParams, load_pretrained};
use serde_json::json;

use crate::adapter_dir::AdapterArgs;
use crate::backend::{DeviceArgs, compiled_backends, wgpu_adapter_descriptions};
use crate::model_dir::ModelArgs;
use minbert_task::files::write_json;

#[derive(Args, Debug)]
pub struct InfoArgs {
    /// Also write the architecture and counts to this JSON file.
    #[arg(long, value_name = "FILE")]
    pub json: Option<PathBuf>,
    #[command(flatten)]
    pub model: ModelArgs,
    /// With an adapter, the trainable parameters are the adapter's (the base is frozen).
    #[command(flatten)]
    pub adapter: AdapterArgs,
    #[command(flatten)]
    pub device: DeviceArgs,
}

pub fn run(args: InfoArgs) -> Result<()> {
    let dir = args.model.resolve()?.dir;
    let compute = args.device.open()?;
    // On an autodiff device, since only there do parameters show whether they train.
    let (config, mut model) = load_pretrained(&dir, &compute.device.autodiff())
        .with_context(|| format!("loading model {}", dir.display()))?;
    let base = BaseParams::of(&model);
    let adapter = args.adapter.apply(&mut model)?;
    let params = base.with_total(&model);

    println!("model        {}", dir.display());
    let lines = [config.describe(), params.describe(adapter.is_some())].concat();
    lines.iter().for_each(|line| println!("{line}"));
    println!("backends     {}", compiled_backends().join(", "));
    println!("device       {}", compute.description);
    if let Some(gpus) = wgpu_adapter_descriptions() {
        if gpus.is_empty() {
            println!("gpus         none found by wgpu (no Vulkan, Metal or DX12 driver)");
        }
        gpus.iter()
            .enumerate()
            .for_each(|(i, gpu)| println!("gpu          wgpu:{i} = {gpu}"));
    }
    if let Some(adapter) = &adapter {
        println!("adapter      {}: {}", adapter.dir.display(), adapter.summary());
        adapter.paths.iter().for_each(|path| println!("  {path}"));
    }

    if let Some(path) = &args.json {
        let value = json!({
            "model": dir.display().to_string(),
            "config": config.to_json(),
            "params": params,
            "device": compute.description,
            "linear_layers": model.linear_paths(),
            "adapter": adapter.as_ref().map(LoadedAdapter::to_json),
        });
        write_json(path, &value).with_context(|| format!("writing {}", path.display()))?;
    }
    Ok(())
}
