//! DoRA on a model built from burn-nn's own `TransformerEncoder`, with no change to its code:
//! `get_peft_model` finds its `nn::Linear` layers by path, the adapter trains a few AdamW steps
//! with the base frozen, is saved in PEFT's format, and loads into a fresh copy of the model,
//! which then gives the same outputs.
//!
//! `cargo run --release -p burn-peft --example transformer_dora [OUT_DIR]`

#[path = "common/classifier.rs"]
mod classifier;

use std::path::PathBuf;

use burn::module::Module;
use burn::optim::{AdamWConfig, GradientsParams};
use burn::tensor::Device;
use burn_peft::{LoraConfig, PeftError, PeftModel, TargetModules, get_peft_model};
use classifier::{ClassifierConfig, task};

fn main() -> Result<(), PeftError> {
    let device = Device::flex().autodiff();
    let config = ClassifierConfig::new();
    let model = config.init(&device);
    // The base weights, as a pretrained checkpoint would hold them.
    let base_record = model.clone().into_record();
    let (x, labels) = task(&config, 64, &device);

    // The attention projections and the feed-forward layers, by the names burn-nn gives them.
    let targets = ["query", "value", "linear_inner", "linear_outer"];
    let lora = LoraConfig::new(TargetModules::Names(targets.map(String::from).to_vec()))
        .with_r(4)
        .with_lora_alpha(8.0)
        .with_use_dora(true);
    let mut peft = get_peft_model(model, lora)?;
    let count = peft.param_count();
    println!(
        "DoRA on {} layers: {} of {} parameters trainable",
        peft.targets("default")?.len(),
        count.trainable,
        count.total
    );

    let mut optimizer = AdamWConfig::new().init();
    for step in 0..=40 {
        let loss = peft.model().loss(x.clone(), labels.clone());
        if step % 10 == 0 {
            println!("step {step:>2}: cross-entropy {:.4}", loss.clone().into_scalar::<f32>());
        }
        let grads = GradientsParams::from_grads(loss.backward(), peft.model());
        peft.update(|model| optimizer.step(1e-2, model, grads));
    }

    let out = std::env::args()
        .nth(1)
        .map(PathBuf::from)
        .unwrap_or_else(|| std::env::temp_dir().join("burn-peft-transformer-dora"));
    peft.save_pretrained(&out)?;
    println!("saved the adapter (PEFT format) to {}", out.display());

    // A fresh model with the same base weights, the adapter loaded from the files.
    let fresh = config.init(&device).load_record(base_record);
    let reloaded = PeftModel::from_pretrained(fresh, &out)?;
    let before = peft.model().forward(x.clone());
    let after = reloaded.model().forward(x);
    let diff = (before - after).abs().max().into_scalar::<f32>();
    println!("reloaded: largest output difference {diff:e}");
    Ok(())
}
