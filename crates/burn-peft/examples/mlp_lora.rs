//! LoRA on a Burn model that is not BERT: a two-layer MLP implements `AdaptableModel`, gets
//! adapters on both layers, trains a few AdamW steps with the base frozen, and saves the adapter
//! in PEFT's format.
//!
//! `cargo run --release -p burn-peft --example mlp_lora [OUT_DIR]`

#[path = "common/mlp.rs"]
mod mlp;

use std::path::PathBuf;

use burn::optim::{AdamWConfig, GradientsParams};
use burn::tensor::Device;
use burn_peft::{LoraConfig, PeftError, TargetModules, count_params, inject_adapter, save_adapter};
use mlp::{Mlp, task};

fn main() -> Result<(), PeftError> {
    let device = Device::flex().autodiff();
    let mut model = Mlp::new(16, 64, 4, &device);
    let (x, y) = task(16, 4, 256, &device);

    let config = LoraConfig::new(TargetModules::Names(vec!["hidden".into(), "output".into()]))
        .with_r(4)
        .with_lora_alpha(8.0);
    let adapted = inject_adapter(&mut model, &config)?;
    let count = count_params(&model);
    println!(
        "adapted {adapted:?}: {} of {} parameters trainable",
        count.trainable, count.total
    );

    let mut optim = AdamWConfig::new().init();
    for step in 0..=60 {
        let loss = model.mse(x.clone(), y.clone());
        if step % 10 == 0 {
            println!("step {step:>2}: mse {:.5}", loss.clone().into_scalar::<f32>());
        }
        let grads = GradientsParams::from_grads(loss.backward(), &model);
        model = optim.step(1e-2, model, grads);
    }

    let out = std::env::args()
        .nth(1)
        .map(PathBuf::from)
        .unwrap_or_else(|| std::env::temp_dir().join("burn-peft-mlp-adapter"));
    save_adapter(&model, &config, &out)?;
    println!("saved the adapter (PEFT format) to {}", out.display());
    Ok(())
}
