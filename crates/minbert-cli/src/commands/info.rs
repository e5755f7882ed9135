use std::path::PathBuf;

use anyhow::{Context, Result};
use burn::module::Module;
use burn_peft::{AdaptableModel, count_params};
use clap::Args;
use minbert_model::load_pretrained;
use serde_json::json;

use crate::adapter_dir::AdapterArgs;
use crate::backend::{DeviceArgs, compiled_backends};
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
    let device = compute.device;
    // On an autodiff device, since only there do parameters show whether they train.
    let (config, mut model) =
        load_pretrained(&dir, &device.autodiff()).with_context(|| format!("loading model {}", dir.display()))?;
    // The base model's parts, counted before an adapter adds to them.
    let embeddings = model.embeddings.num_params();
    let per_layer = model.encoder.layer.first().map_or(0, |l| l.num_params());
    let encoder = model.encoder.num_params();
    let pooler = model.pooler.as_ref().map_or(0, |p| p.num_params());
    let adapter = args.adapter.apply(&mut model)?;
    // Without an adapter every parameter trains (full fine-tuning).
    let count = count_params(&model);
    let (total, trainable) = (count.total, count.trainable);
    let adapter_params = total - embeddings - encoder - pooler;

    println!("model        {}", dir.display());
    println!("layers       {}", config.num_hidden_layers);
    println!(
        "hidden       {} ({} heads of {})",
        config.hidden_size,
        config.num_attention_heads,
        config.head_size()
    );
    println!(
        "ffn          {} ({})",
        config.intermediate_size,
        config.hidden_act.hf_name()
    );
    println!(
        "vocab        {} tokens, {} positions, {} token types",
        config.vocab_size, config.max_position_embeddings, config.type_vocab_size
    );
    println!("layer norm   eps {:e}", config.layer_norm_eps);
    println!(
        "dropout      hidden {}, attention {}",
        config.hidden_dropout_prob, config.attention_probs_dropout_prob
    );
    println!("parameters");
    println!("  embeddings {embeddings:>12}");
    println!("  encoder    {encoder:>12}  ({per_layer} per layer)");
    println!(
        "  pooler     {pooler:>12}{}",
        if model.pooler.is_none() {
            "  (none in this checkpoint)"
        } else {
            ""
        }
    );
    if adapter.is_some() {
        println!("  adapter    {adapter_params:>12}");
    }
    println!("  total      {total:>12}");
    println!("  trainable  {trainable:>12}");
    println!("backends     {}", compiled_backends().join(", "));
    println!("device       {}", compute.description);
    print_gpu_adapters();
    if let Some(adapter) = &adapter {
        println!("adapter      {}: {}", adapter.dir.display(), adapter.summary());
        for path in &adapter.paths {
            println!("  {path}");
        }
    }

    if let Some(path) = &args.json {
        let value = json!({
            "model": dir.display().to_string(),
            "config": {
                "num_hidden_layers": config.num_hidden_layers,
                "hidden_size": config.hidden_size,
                "num_attention_heads": config.num_attention_heads,
                "intermediate_size": config.intermediate_size,
                "hidden_act": config.hidden_act.hf_name(),
                "vocab_size": config.vocab_size,
                "max_position_embeddings": config.max_position_embeddings,
                "type_vocab_size": config.type_vocab_size,
                "layer_norm_eps": config.layer_norm_eps,
                "hidden_dropout_prob": config.hidden_dropout_prob,
                "attention_probs_dropout_prob": config.attention_probs_dropout_prob,
            },
            "params": {
                "embeddings": embeddings, "encoder": encoder, "per_layer": per_layer,
                "pooler": pooler, "adapter": adapter_params, "total": total, "trainable": trainable,
            },
            "device": compute.description,
            "linear_layers": model.linear_paths(),
            "adapter": adapter.as_ref().map(|a| json!({
                "dir": a.dir.display().to_string(),
                "r": a.config.r,
                "lora_alpha": a.config.lora_alpha,
                "lora_dropout": a.config.lora_dropout,
                "use_dora": a.config.use_dora,
                "use_rslora": a.config.use_rslora,
                "scaling": a.config.scaling(),
                "modules": a.paths,
            })),
        });
        write_json(path, &value).with_context(|| format!("writing {}", path.display()))?;
    }
    Ok(())
}

/// Every wgpu adapter, numbered as `--device wgpu:N` takes them.
fn print_gpu_adapters() {
    #[cfg(feature = "wgpu")]
    {
        let adapters = minbert_device::gpu::adapters(minbert_device::gpu::Api::Any);
        if adapters.is_empty() {
            println!("gpus         none found by wgpu (no Vulkan, Metal or DX12 driver)");
        }
        for (i, adapter) in adapters.iter().enumerate() {
            println!("gpu          wgpu:{i} = {}", adapter.describe());
        }
    }
}
